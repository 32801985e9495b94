//! Sign in or create an account: two modes of one form (tabs), since both need a username
//! and password; only a new account asks for a display name.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::use_client;
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
    let creating = RwSignal::new(false);
    let switch = move |to: bool| {
        creating.set(to);
        error.set(None);
    };

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
                client
                    .register(RegisterRequest {
                        username: name,
                        password: pass,
                        display_name: (!display.is_empty()).then_some(display),
                    })
                    .await
            } else {
                client
                    .login(LoginRequest {
                        username: name,
                        password: pass,
                    })
                    .await
            };
            busy.set(false);
            if let Err(e) = answer {
                error.set(Some(e.message()));
            }
        });
    };

    view! {
        <form
            class="auth card"
            on:submit=move |ev| {
                ev.prevent_default();
                submit(creating.get_untracked());
            }
        >
            <h1>{heading}</h1>
            <div class="modes" role="tablist" aria-label="Sign in or create an account">
                <button type="button" role="tab" aria-selected=move || (!creating.get()).to_string()
                    class:selected=move || !creating.get() on:click=move |_| switch(false)>
                    "Sign in"
                </button>
                <button type="button" role="tab" aria-selected=move || creating.get().to_string()
                    class:selected=move || creating.get() on:click=move |_| switch(true)>
                    "Create account"
                </button>
            </div>
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
                    autocomplete=move || if creating.get() { "new-password" } else { "current-password" }
                    required
                />
            </label>
            <label hidden=move || !creating.get()>
                "Display name"
                <input
                    node_ref=display_name
                    name="display_name"
                    autocomplete="name"
                    aria-describedby="display-name-hint"
                />
            </label>
            <p id="display-name-hint" class="hint" hidden=move || !creating.get()>
                "How others see you (you can leave it empty). Passwords have at least 8 characters."
            </p>
            <p class="error" role="alert">
                {move || error.get()}
            </p>
            <div class="row">
                <button type="submit" class="primary" disabled=move || busy.get()>
                    {move || if creating.get() { "Create account" } else { "Sign in" }}
                </button>
            </div>
        </form>
    }
    .into_any()
}
