//! The web client's components. The server renders the document and a neutral "Loading…"
//! body for every route; after hydration the client asks who is signed in and renders the
//! rest. Every route's server HTML is therefore the same, which lets the service worker
//! start the app offline from one cached shell.
//!
//! - [`auth`]: the sign-in / create-account form.
//! - [`rooms`]: the room list and the layout around a conversation.
//! - [`dialogs`]: new group and new direct message.
//! - [`chat`]: a conversation: history, statuses, typing, composer.
//! - [`media`]: photos and voice messages in a conversation, the photo viewer, and the
//!   composer's photo and microphone buttons.
//! - [`invite`]: invite links (admins) and the `/invite/{code}` page.
//! - [`notices`]: connection banner, toasts and the document title.
//! - [`picture`]: pictures of people and groups, shown and picked.
//! - [`settings`]: the password and the sessions of the account.

mod auth;
mod chat;
mod details;
mod dialogs;
mod invite;
mod media;
mod notices;
mod picture;
mod rooms;
mod settings;

use leptos::prelude::*;
#[cfg(feature = "ssr")]
use leptos_meta::MetaTags;
use leptos_meta::{Stylesheet, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use crate::client::{Auth, Client};

/// The HTML document around the app, rendered on the server.
#[cfg(feature = "ssr")]
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="theme-color" content="#3454d1"/>
                <meta name="description" content="Confab: chat that keeps up with you."/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <link rel="manifest" href="/manifest.webmanifest"/>
                <link rel="apple-touch-icon" href="/icons/icon-192.png"/>
                // The realtime connection: a WebSocket-only Socket.IO client (see the README).
                <script src="/realtime.js" defer></script>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The root component: the session state, then the routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let client = Client::new();
    provide_context(client);
    // Effects run only in the browser: this is where the session starts.
    Effect::new(move |_| client.start());
    view! {
        <Stylesheet id="confab" href="/pkg/confab.css"/>
        <notices::DocumentTitle/>
        <Router>
            <Routes fallback=|| view! { <p class="centered">"Page not found."</p> }>
                <Route path=path!("") view=|| view! { <Gate><rooms::Home/></Gate> }/>
                <Route path=path!("/rooms/:id") view=|| view! { <Gate><rooms::Home/></Gate> }/>
                <Route path=path!("/settings") view=|| view! { <Gate><settings::SettingsPage/></Gate> }/>
                <Route
                    path=path!("/invite/:code")
                    view=|| view! { <Gate><invite::InvitePage/></Gate> }
                />
            </Routes>
        </Router>
        <notices::Banner/>
        <notices::Toasts/>
    }
}

/// The client from context.
pub(crate) fn use_client() -> Client {
    expect_context::<Client>()
}

/// Shows its children once the client knows whether someone is signed in; until then (and
/// always on the server) the same neutral placeholder.
#[component]
fn Gate(children: ChildrenFn) -> impl IntoView {
    let client = use_client();
    view! {
        <Show
            when=move || client.auth.with(|a| *a != Auth::Unknown)
            fallback=|| {
                view! {
                    <div class="centered splash">
                        <h1>"Confab"</h1>
                        <p class="loading">"Loading…"</p>
                    </div>
                }
            }
        >
            {children()}
        </Show>
    }
}
