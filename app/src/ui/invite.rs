//! Invite links: an admin's control in a group's header, and the `/invite/{code}` page where
//! anyone with the link (signed in, or after signing in right there) joins.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_params_map};

use super::auth::AuthForm;
use super::use_client;
use crate::client::{Auth, browser};
use crate::protocol::{CreateInviteRequest, Invite, RoomId};

/// The link people open: this origin's `/invite/{code}` (the server's `url` may name another
/// host when it runs behind a proxy).
fn link(invite: &Invite) -> String {
    format!("{}/invite/{}", browser::origin(), invite.code)
}

fn members(count: u64) -> String {
    if count == 1 {
        "1 member".into()
    } else {
        format!("{count} members")
    }
}

/// `Invite link` reveals the current link with Copy and Revoke, and limits for a new one.
#[component]
pub fn InviteControl(room_id: RoomId) -> AnyView {
    let client = use_client();
    let open = RwSignal::new(false);
    let invite = RwSignal::new(None::<Invite>);
    let note = RwSignal::new(None::<String>);
    let expires = RwSignal::new(String::new());
    let max_uses = RwSignal::new(String::new());
    let room = StoredValue::new(room_id);
    let create = move || {
        let request = CreateInviteRequest {
            expires_in_secs: expires.get_untracked().parse().ok(),
            max_uses: max_uses.get_untracked().trim().parse().ok(),
        };
        spawn_local(async move {
            match client.create_invite(&room.get_value(), request).await {
                Ok(created) => {
                    invite.set(Some(created));
                    note.set(None);
                }
                Err(e) => note.set(Some(e.message())),
            }
        });
    };
    let toggle = move |_| {
        let now_open = !open.get_untracked();
        open.set(now_open);
        if now_open && invite.with_untracked(Option::is_none) {
            create();
        }
    };
    let copy = move |_| {
        let Some(url) = invite.with_untracked(|i| i.as_ref().map(link)) else {
            return;
        };
        spawn_local(async move {
            let copied = browser::copy_text(&url).await;
            note.set(Some(
                if copied {
                    "Link copied."
                } else {
                    "Copy the link by hand."
                }
                .into(),
            ));
        });
    };
    let revoke = move |_| {
        let Some(code) = invite.with_untracked(|i| i.as_ref().map(|i| i.code.clone())) else {
            return;
        };
        spawn_local(async move {
            match client.revoke_invite(&code).await {
                Ok(()) => {
                    invite.set(None);
                    note.set(Some("Link revoked: it no longer works.".into()));
                }
                Err(e) => note.set(Some(e.message())),
            }
        });
    };
    view! {
        <div class="invite">
            <button type="button" aria-expanded=move || open.get().to_string() on:click=toggle>
                "Invite link"
            </button>
            <Show when=move || open.get()>
                <div class="invite-panel card">
                    <Show when=move || invite.with(Option::is_some)>
                        <label>
                            "Invite link"
                            <input
                                readonly
                                prop:value=move || invite.with(|i| i.as_ref().map(link).unwrap_or_default())
                                on:focus=move |ev| {
                                    use leptos::wasm_bindgen::JsCast;
                                    if let Some(input) = ev.target().and_then(|t| t.dyn_into::<leptos::web_sys::HtmlInputElement>().ok()) {
                                        input.select();
                                    }
                                }
                            />
                        </label>
                        <p class="hint">
                            {move || invite.with(|i| i.as_ref().map(|i| {
                                let uses = match i.max_uses {
                                    Some(max) => format!("{} of {max} uses", i.uses),
                                    None => "unlimited uses".into(),
                                };
                                match &i.expires_at {
                                    Some(at) => format!("{uses}, expires {}", browser::local_time(at.as_millis()).0),
                                    None => format!("{uses}, never expires"),
                                }
                            }))}
                        </p>
                        <div class="row">
                            <button type="button" on:click=copy>"Copy"</button>
                            <button type="button" class="danger" on:click=revoke>"Revoke"</button>
                        </div>
                    </Show>
                    <fieldset>
                        <legend>"A new link"</legend>
                        <label>
                            "Expires"
                            <select on:change=move |ev| expires.set(event_target_value(&ev))>
                                <option value="">"Never"</option>
                                <option value="3600">"In an hour"</option>
                                <option value="86400">"In a day"</option>
                                <option value="604800">"In a week"</option>
                            </select>
                        </label>
                        <label>
                            "Max uses"
                            <input
                                type="number"
                                min="1"
                                max="10000"
                                placeholder="No limit"
                                prop:value=max_uses
                                on:input=move |ev| max_uses.set(event_target_value(&ev))
                            />
                        </label>
                        <button type="button" on:click=move |_| create()>"New link"</button>
                    </fieldset>
                    <p class="hint" role="status">{move || note.get()}</p>
                </div>
            </Show>
        </div>
    }
    .into_any()
}

/// `/invite/{code}`: the room it leads to and a Join button; visitors sign in here first.
#[component]
pub fn InvitePage() -> AnyView {
    let client = use_client();
    let params = use_params_map();
    let code = move || params.with(|p| p.get("code")).unwrap_or_default();
    let preview = LocalResource::new(move || {
        let code = code();
        async move { client.invite_preview(&code).await }
    });
    let error = RwSignal::new(None::<String>);
    let navigate = StoredValue::new_local(use_navigate());
    let join = move |_| {
        let code = code();
        let navigate = navigate.get_value();
        spawn_local(async move {
            match client.accept_invite(&code).await {
                Ok(id) => navigate(&format!("/rooms/{id}"), NavigateOptions::default()),
                Err(e) => error.set(Some(e.message())),
            }
        });
    };
    let signed_in = move || matches!(client.auth.get(), Auth::SignedIn(_));
    view! {
        <main class="centered invite-page">
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || preview.get().map(|answer| match answer {
                    Ok(preview) => {
                        let name = preview.room.name.clone().unwrap_or_else(|| "a group".into());
                        view! {
                            <section class="card">
                                <p class="hint">"You are invited to join"</p>
                                <h1>{name}</h1>
                                <p class="hint">{members(preview.room.member_count)}</p>
                                <Show
                                    when=signed_in
                                    fallback=|| view! {
                                        <p>"Sign in or create an account to join."</p>
                                    }
                                >
                                    <button type="button" class="primary" on:click=join>"Join"</button>
                                </Show>
                                <p class="error" role="alert">{move || error.get()}</p>
                            </section>
                        }.into_any()
                    }
                    Err(e) => view! {
                        <section class="card">
                            <h1>"This invite does not work"</h1>
                            <p>{e.message()}</p>
                            <a href="/">"Go to Confab"</a>
                        </section>
                    }.into_any(),
                })}
            </Suspense>
            <Show when=move || !signed_in()>
                <AuthForm heading="Sign in to join"/>
            </Show>
        </main>
    }
    .into_any()
}
