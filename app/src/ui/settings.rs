//! `/settings`: the account's display name, its password, the places it is signed in (each
//! can be signed out from here; its devices are disconnected at once), the people it has
//! blocked, and deleting it.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::auth::AuthForm;
use super::picture::PicturePicker;
use super::use_client;
use crate::client::{Auth, browser};
use crate::protocol::{ChangePasswordRequest, SessionInfo, UpdateMeRequest, User};

#[component]
pub fn SettingsPage() -> AnyView {
    let client = use_client();
    view! {
        <Show
            when=move || matches!(client.auth.get(), Auth::SignedIn(_))
            fallback=|| view! { <main class="centered"><AuthForm heading="Sign in to Confab"/></main> }
        >
            <main class="settings">
                <header class="bar">
                    <a href="/" class="back" aria-label="Back to rooms">"‹"</a>
                    <h1>"Settings"</h1>
                </header>
                <ProfileForm/>
                <PasswordForm/>
                <Sessions/>
                <BlockedPeople/>
                <DeleteAccount/>
            </main>
        </Show>
    }
    .into_any()
}

/// The name and picture others see.
#[component]
fn ProfileForm() -> AnyView {
    let client = use_client();
    let name: NodeRef<html::Input> = NodeRef::new();
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let current = move || match client.auth.get() {
        Auth::SignedIn(user) => user.display_name,
        _ => String::new(),
    };
    let picture = Signal::derive(move || match client.auth.get() {
        Auth::SignedIn(user) => user.avatar_url,
        _ => None,
    });
    let set_picture = Callback::new(move |media: Option<crate::protocol::MediaId>| {
        let request = UpdateMeRequest {
            display_name: None,
            avatar_media_id: Some(media.clone()),
        };
        spawn_local(async move {
            outcome.set(Some(match client.update_me(request).await {
                Ok(()) => Ok(if media.is_some() {
                    "Your new picture is saved.".into()
                } else {
                    "Your picture is removed.".into()
                }),
                Err(e) => Err(e.message()),
            }));
        });
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let display_name = name.get().map(|i| i.value()).unwrap_or_default();
        let request = UpdateMeRequest {
            display_name: Some(display_name),
            avatar_media_id: None,
        };
        spawn_local(async move {
            outcome.set(Some(match client.update_me(request).await {
                Ok(()) => Ok("Saved. Everyone in your rooms sees the new name.".into()),
                Err(e) => Err(e.message()),
            }));
        });
    };
    view! {
        <form class="card" on:submit=submit>
            <h2>"Profile"</h2>
            <PicturePicker current=picture name=Signal::derive(current) label="Change picture" set=set_picture/>
            <label>
                "Display name"
                <input node_ref=name autocomplete="name" maxlength="64" required prop:value=current/>
            </label>
            {move || outcome.get().map(|o| match o {
                Ok(text) => view! { <p class="hint" role="status">{text}</p> }.into_any(),
                Err(text) => view! { <p class="error" role="alert">{text}</p> }.into_any(),
            })}
            <button type="submit" class="primary">"Save"</button>
        </form>
    }
    .into_any()
}

#[component]
fn PasswordForm() -> AnyView {
    let client = use_client();
    let current: NodeRef<html::Input> = NodeRef::new();
    let new: NodeRef<html::Input> = NodeRef::new();
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let busy = RwSignal::new(false);
    let value = |input: NodeRef<html::Input>| input.get().map(|i| i.value()).unwrap_or_default();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = ChangePasswordRequest {
            current_password: value(current),
            new_password: value(new),
        };
        busy.set(true);
        spawn_local(async move {
            let answer = client.change_password(request).await;
            busy.set(false);
            outcome.set(Some(match answer {
                Ok(()) => {
                    for input in [current, new] {
                        if let Some(input) = input.get_untracked() {
                            input.set_value("");
                        }
                    }
                    Ok("Password changed. Every other session has been signed out.".into())
                }
                Err(e) => Err(e.message()),
            }));
        });
    };
    view! {
        <form class="card" on:submit=submit>
            <h2>"Password"</h2>
            <label>
                "Current password"
                <input node_ref=current type="password" autocomplete="current-password" required/>
            </label>
            <label>
                "New password"
                <input node_ref=new type="password" autocomplete="new-password" minlength="8" required/>
            </label>
            {move || outcome.get().map(|o| match o {
                Ok(text) => view! { <p class="hint" role="status">{text}</p> }.into_any(),
                Err(text) => view! { <p class="error" role="alert">{text}</p> }.into_any(),
            })}
            <button type="submit" class="primary" disabled=move || busy.get()>"Change password"</button>
        </form>
    }
    .into_any()
}

#[component]
fn Sessions() -> AnyView {
    let client = use_client();
    let sessions = RwSignal::new(None::<Result<Vec<SessionInfo>, String>>);
    let load = move || {
        spawn_local(async move {
            sessions.set(Some(client.sessions().await.map_err(|e| e.message())));
        });
    };
    Effect::new(move |_| load());
    let end = move |session: SessionInfo| {
        spawn_local(async move {
            // Ending this device's own session signs out, and this page goes with it.
            match client.end_session(&session).await {
                Ok(()) if !session.current => load(),
                Ok(()) => {}
                Err(e) => sessions.set(Some(Err(e.message()))),
            }
        });
    };
    view! {
        <section class="card" aria-labelledby="sessions-title">
            <h2 id="sessions-title">"Where you're signed in"</h2>
            {move || loaded(sessions.get(), |list| view! {
                    <ul class="sessions" aria-label="Sessions">
                        {list.into_iter().map(|session| {
                            let (day, time) = browser::local_time(session.last_seen_at.as_millis());
                            let what = session.user_agent.clone().unwrap_or_else(|| "Unknown client".into());
                            let current = session.current;
                            let label = if current { "Sign out here" } else { "Sign out" };
                            let this = session.clone();
                            view! {
                                <li>
                                    <span class="session-what">{what}</span>
                                    <span class="hint">
                                        {if current { "This device · ".to_owned() } else { String::new() }}
                                        "Last active "{day}" "{time}
                                    </span>
                                    <button type="button" on:click=move |_| end(this.clone())>{label}</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any())}
        </section>
    }
    .into_any()
}

/// A list being loaded, the reason it could not be, or what `show` makes of it.
fn loaded<T>(state: Option<Result<T, String>>, show: impl FnOnce(T) -> AnyView) -> AnyView {
    match state {
        None => view! { <p class="hint">"Loading…"</p> }.into_any(),
        Some(Err(why)) => view! { <p class="error" role="alert">{why}</p> }.into_any(),
        Some(Ok(value)) => show(value),
    }
}

/// Whom the account has blocked, each with Unblock. (Blocking is done from a direct room.)
#[component]
fn BlockedPeople() -> AnyView {
    let client = use_client();
    let blocked = RwSignal::new(None::<Result<Vec<User>, String>>);
    let load = move || {
        spawn_local(async move {
            blocked.set(Some(client.blocked_users().await.map_err(|e| e.message())));
        });
    };
    Effect::new(move |_| load());
    let unblock = move |user: User| {
        spawn_local(async move {
            match client.set_blocked(&user.id, false).await {
                Ok(()) => load(),
                Err(e) => blocked.set(Some(Err(e.message()))),
            }
        });
    };
    view! {
        <section class="card" aria-labelledby="blocked-title">
            <h2 id="blocked-title">"Blocked people"</h2>
            {move || loaded(blocked.get(), |list| if list.is_empty() {
                view! {
                    <p class="hint">"Nobody. Block someone from your direct conversation with them."</p>
                }.into_any()
            } else {
                view! {
                    <ul class="sessions" aria-label="Blocked people">
                        {list.into_iter().map(|user| {
                            let name = user.display_name.clone();
                            let handle = format!("@{}", user.username);
                            view! {
                                <li>
                                    <span class="session-what">{name}</span>
                                    <span class="hint">{handle}</span>
                                    <button type="button" on:click=move |_| unblock(user.clone())>"Unblock"</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            })}
        </section>
    }
    .into_any()
}

/// Deleting the account: a warning that says what goes and what stays, and the password.
#[component]
fn DeleteAccount() -> AnyView {
    let client = use_client();
    let password: NodeRef<html::Input> = NodeRef::new();
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let typed = password.get().map(|i| i.value()).unwrap_or_default();
        busy.set(true);
        spawn_local(async move {
            // Signed out (and this form gone) when it worked.
            if let Err(e) = client.delete_account(typed).await {
                busy.set(false);
                error.set(Some(e.message()));
            }
        });
    };
    view! {
        <form class="card danger-zone" on:submit=submit aria-labelledby="delete-title">
            <h2 id="delete-title">"Delete account"</h2>
            <p class="warning">
                "This cannot be undone. You leave every group (an owner's groups pass to an admin \
                 or the longest-standing member), every device is signed out, and your photos \
                 and voice messages that were never sent are deleted. Messages you sent stay, \
                 shown as from “Deleted user”, and your username becomes free for anyone."
            </p>
            <label>
                "Your password"
                <input node_ref=password type="password" autocomplete="current-password" required/>
            </label>
            {move || error.get().map(|text| view! { <p class="error" role="alert">{text}</p> })}
            <button type="submit" class="danger" disabled=move || busy.get()>"Delete my account"</button>
        </form>
    }
    .into_any()
}
