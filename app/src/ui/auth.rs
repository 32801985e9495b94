//! Sign in or create an account, in one form: both need a username and password; a new
//! account may also give a display name.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::use_client;
use crate::client::api;
use crate::protocol::{LoginRequest, RegisterRequest};

/// The sign-in form. After success the session starts and whatever page is open (the room
/// list, or an invite) renders for the signed-in user, so the visitor stays where they were.
#[component]
pub fn AuthForm(#[prop(into)] heading: String) -> AnyView {
    let client = use_client();
    let username: NodeRef<html::Input> = NodeRef::new();
    let password: NodeRef<html::Input> = NodeRef::new();
    let display_name: NodeRef<html::Input> = NodeRef::new();
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    let value = |input: NodeRef<html::Input>| input.get().map(|i| i.value()).unwrap_or_default();
    let submit = move |register: bool| {
        let name = value(username).trim().to_owned();
        let pass = value(password);
        let display = value(display_name).trim().to_owned();
        if name.is_empty() || pass.is_empty() {
            error.set(Some("Enter a username and a password.".into()));
            return;
        }
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let answer = if register {
                api::register(&RegisterRequest {
                    username: name,
                    password: pass,
                    display_name: (!display.is_empty()).then_some(display),
                })
                .await
            } else {
                api::login(&LoginRequest {
                    username: name,
                    password: pass,
                })
                .await
            };
            busy.set(false);
            match answer {
                Ok(auth) => client.signed_in(auth.user),
                Err(e) => error.set(Some(e.message())),
            }
        });
    };

    view! {
        <form
            class="auth card"
            on:submit=move |ev| {
                ev.prevent_default();
                submit(false);
            }
        >
            <h1>{heading}</h1>
            <label>
                "Username"
                <input
                    node_ref=username
                    name="username"
                    autocomplete="username"
                    autocapitalize="none"
                    required
                />
            </label>
            <label>
                "Password"
                <input
                    node_ref=password
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                />
            </label>
            <label>
                "Display name"
                <input
                    node_ref=display_name
                    name="display_name"
                    autocomplete="name"
                    aria-describedby="display-name-hint"
                />
            </label>
            <p id="display-name-hint" class="hint">
                "Display name is for a new account. Passwords have at least 8 characters."
            </p>
            <p class="error" role="alert">
                {move || error.get()}
            </p>
            <div class="row">
                <button type="submit" class="primary" disabled=move || busy.get()>
                    "Sign in"
                </button>
                <button type="button" disabled=move || busy.get() on:click=move |_| submit(true)>
                    "Create account"
                </button>
            </div>
        </form>
    }
    .into_any()
}
