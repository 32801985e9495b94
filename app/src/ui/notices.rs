//! What tells the user how things stand: the connection banner, toasts about other rooms and
//! the unread count in the document title.

use leptos::prelude::*;
use leptos_meta::Title;

use super::use_client;
use crate::client::{Auth, model};

/// `Confab`, or `(3) Confab` with unread messages.
#[component]
pub fn DocumentTitle() -> impl IntoView {
    let client = use_client();
    let text = move || match client.rooms.with(|r| model::total_unread(r)) {
        0 => "Confab".to_owned(),
        n => format!("({n}) Confab"),
    };
    view! { <Title text=text/> }
}

/// Shown while the browser is offline or the live connection is down.
#[component]
pub fn Banner() -> impl IntoView {
    let client = use_client();
    let message = move || {
        if !matches!(client.auth.get(), Auth::SignedIn(_)) {
            return None;
        }
        let waiting = client
            .outbox
            .with(|o| o.iter().filter(|p| p.failed.is_none()).count());
        let queued = match waiting {
            0 => String::new(),
            1 => " 1 message waits to be sent.".into(),
            n => format!(" {n} messages wait to be sent."),
        };
        if !client.network.get() {
            Some(format!("You are offline.{queued}"))
        } else if !client.connected.get() {
            Some(format!("Connecting…{queued}"))
        } else {
            None
        }
    };
    view! {
        <div class="banner" role="status" class:shown=move || message().is_some()>
            {message}
        </div>
    }
}

/// In-app notices about messages in rooms not on screen; each opens its room.
#[component]
pub fn Toasts() -> impl IntoView {
    let client = use_client();
    view! {
        <div class="toasts" aria-live="polite">
            <For
                each=move || client.toasts.get()
                key=|t| t.id
                children=move |toast| view! {
                    <a class="toast card" href=format!("/rooms/{}", toast.room_id)>{toast.text}</a>
                }
            />
        </div>
    }
}
