//! The browser's side of a session: what the signed-in user sees, kept in Leptos signals, and
//! how it stays in step with the server.
//!
//! - [`model`]: pure rules (merging without duplicates, statuses, room order), unit-tested.
//! - `actions`: what the user does besides messaging (rooms, members, invites, the account),
//!   the components' one way to reach the server; each answer lands in the state here.
//! - `api`: typed REST calls, private to the client.
//! - [`realtime`]: the Socket.IO session: incoming events, the outbox, `sync`, receipts,
//!   typing and focus.
//! - [`media`]: photo and voice messages on their way out: prepared, kept in IndexedDB,
//!   uploaded with retries, then sent through the outbox.
//! - [`browser`]: the only module that touches browser APIs (inert on the server).

mod actions;
mod api;
pub mod browser;
pub mod case;
pub mod media;
pub mod model;
mod realtime;

use std::collections::{HashMap, HashSet};

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::protocol::{
    MessageId, PushSubscriptionRequest, Room, RoomId, User, UserId, WebPushKeys,
};
pub use api::ApiError;
use media::Transfer;
use model::{Pending, RoomLog};

/// Whether we know who is signed in yet.
#[derive(Clone, Debug, PartialEq)]
pub enum Auth {
    /// Asking the server (the first moments after hydration).
    Unknown,
    SignedOut,
    SignedIn(User),
}

/// A short in-app notice about another room.
#[derive(Clone, Debug, PartialEq)]
pub struct Toast {
    pub id: u64,
    pub room_id: RoomId,
    pub text: String,
}

/// Everything the UI reads, as signals; `Copy`, so components take it from context freely.
#[derive(Clone, Copy)]
pub struct Client {
    pub auth: RwSignal<Auth>,
    pub rooms: RwSignal<Vec<Room>>,
    /// The room list has come from the server at least once since sign-in.
    pub rooms_fetched: RwSignal<bool>,
    pub logs: RwSignal<HashMap<RoomId, RoomLog>>,
    pub outbox: RwSignal<Vec<Pending>>,
    /// Previews and upload progress of the outbox's media messages, by `client_id`.
    pub transfers: RwSignal<HashMap<String, Transfer>>,
    /// The Socket.IO connection is up.
    pub connected: RwSignal<bool>,
    /// The browser believes it has a network.
    pub network: RwSignal<bool>,
    pub typing: RwSignal<HashMap<RoomId, Vec<UserId>>>,
    pub presence: RwSignal<HashMap<UserId, bool>>,
    pub toasts: RwSignal<Vec<Toast>>,
    /// The room on screen, if any.
    pub focus: RwSignal<Option<RoomId>>,
    /// A message to bring into view when its room opens (a search hit), with its `seq`.
    pub jump: RwSignal<Option<(RoomId, MessageId, u64)>>,
    /// The tab is visible.
    pub visible: RwSignal<bool>,
    /// Highest `seq` already reported per room, so each receipt goes out once.
    read_sent: StoredValue<HashMap<RoomId, u64>>,
    delivered_sent: StoredValue<HashMap<RoomId, u64>>,
    /// A flush of the outbox is running (it sends one message at a time, in order).
    flushing: StoredValue<bool>,
    /// Media messages whose upload is running, so none runs twice.
    uploading: StoredValue<HashSet<String>>,
    next_toast: StoredValue<u64>,
    /// Room changes applied one by one (a `room:update`, a room left, a room an action
    /// returned), counted so a room list fetched meanwhile is known to be possibly older.
    room_changes: StoredValue<u64>,
}

const USER_KEY: &str = "confab.user";

/// How many times a room list is fetched while room changes keep arriving during the fetch.
const ROOM_LIST_TRIES: u32 = 3;

fn rooms_key(user: &UserId) -> String {
    format!("confab.rooms.{user}")
}

fn outbox_key(user: &UserId) -> String {
    format!("confab.outbox.{user}")
}

impl Client {
    pub fn new() -> Self {
        Self {
            auth: RwSignal::new(Auth::Unknown),
            rooms: RwSignal::new(Vec::new()),
            rooms_fetched: RwSignal::new(false),
            logs: RwSignal::new(HashMap::new()),
            outbox: RwSignal::new(Vec::new()),
            transfers: RwSignal::new(HashMap::new()),
            connected: RwSignal::new(false),
            network: RwSignal::new(true),
            typing: RwSignal::new(HashMap::new()),
            presence: RwSignal::new(HashMap::new()),
            toasts: RwSignal::new(Vec::new()),
            focus: RwSignal::new(None),
            jump: RwSignal::new(None),
            visible: RwSignal::new(true),
            read_sent: StoredValue::new(HashMap::new()),
            delivered_sent: StoredValue::new(HashMap::new()),
            flushing: StoredValue::new(false),
            uploading: StoredValue::new(HashSet::new()),
            next_toast: StoredValue::new(0),
            room_changes: StoredValue::new(0),
        }
    }

    /// The signed-in user's id, untracked.
    pub fn me(&self) -> Option<UserId> {
        self.auth.with_untracked(|a| match a {
            Auth::SignedIn(user) => Some(user.id.clone()),
            _ => None,
        })
    }

    /// Runs once in the browser after hydration: who is signed in, then the live session.
    pub fn start(self) {
        self.visible.set(browser::is_visible());
        self.network.set(browser::is_online());
        browser::on_visibility_change(move |visible| {
            self.visible.set(visible);
            self.send_focus();
            if let Some(room) = self.focus.get_untracked() {
                self.mark_read_if_looking(&room);
            }
        });
        browser::on_online_change(move |online| self.network_changed(online));
        browser::register_service_worker();
        spawn_local(async move {
            match api::me().await {
                Ok(user) => self.signed_in(user),
                Err(e) if e.is_unauthorized() => self.auth.set(Auth::SignedOut),
                // Offline start: the last known user and rooms, from this device.
                Err(_) => match browser::storage_get(USER_KEY)
                    .and_then(|text| serde_json::from_str::<User>(&text).ok())
                {
                    Some(user) => self.signed_in(user),
                    None => self.auth.set(Auth::SignedOut),
                },
            }
        });
    }

    /// After sign-in, registration or a confirmed session: restore this device's state for
    /// the user, fetch the rooms and go live.
    fn signed_in(self, user: User) {
        self.remember_user(&user);
        let cached_rooms = browser::storage_get(&rooms_key(&user.id))
            .and_then(|text| serde_json::from_str::<Vec<Room>>(&text).ok())
            .unwrap_or_default();
        let outbox = browser::storage_get(&outbox_key(&user.id))
            .and_then(|text| serde_json::from_str::<Vec<Pending>>(&text).ok())
            .unwrap_or_default();
        self.rooms.set(cached_rooms);
        self.outbox.set(outbox);
        self.auth.set(Auth::SignedIn(user));
        self.restore_media_outbox();
        self.refresh_rooms();
        self.open_socket();
        self.enable_push();
    }

    /// Keeps the signed-in user on this device, so the app starts offline as them.
    fn remember_user(self, user: &User) {
        if let Ok(text) = serde_json::to_string(user) {
            browser::storage_set(USER_KEY, &text);
        }
    }

    /// Registers this browser with the server for push, so its user hears of messages while
    /// no page of the app is open: only when they allowed notifications, and again at each
    /// sign-in, since a subscription ends with the session that registered it.
    pub fn enable_push(self) {
        if browser::notification_permission() != "granted" {
            return;
        }
        spawn_local(async move {
            #[derive(serde::Deserialize)]
            struct Subscription {
                endpoint: String,
                keys: WebPushKeys,
            }
            let Ok(key) = api::vapid_public_key().await else {
                return;
            };
            let Some(subscription) = browser::push_subscription(&key)
                .await
                .and_then(|json| serde_json::from_str::<Subscription>(&json).ok())
            else {
                return;
            };
            let request = PushSubscriptionRequest::Webpush {
                endpoint: subscription.endpoint,
                keys: subscription.keys,
            };
            if let Err(err) = api::register_push(&request).await {
                leptos::logging::warn!("push not registered: {}", err.message());
            }
        });
    }

    /// Signs out here and on the server, and forgets this device's copy of the session.
    pub fn sign_out(self) {
        browser::socket_close();
        if let Some(me) = self.me() {
            browser::storage_remove(&rooms_key(&me));
        }
        browser::storage_remove(USER_KEY);
        spawn_local(async move {
            let _ = api::logout().await;
        });
        self.rooms.set(Vec::new());
        self.logs.set(HashMap::new());
        let unsent: Vec<String> = self
            .outbox
            .with_untracked(|o| o.iter().map(|p| p.client_id.clone()).collect());
        for client_id in unsent {
            self.forget_upload(&client_id);
        }
        self.outbox.set(Vec::new());
        self.connected.set(false);
        self.auth.set(Auth::SignedOut);
    }

    /// Fetches the room list (after sign-in and each reconnect: markers and previews may
    /// have moved while away).
    pub fn refresh_rooms(self) {
        spawn_local(async move {
            // A list read before a change this device has already shown (a rename that
            // came over the socket while the list was on its way) would undo it: such a
            // list is fetched again, and taken as it is only after a few tries.
            for attempt in 1..=ROOM_LIST_TRIES {
                let changes = self.room_changes.get_value();
                match api::rooms().await {
                    Ok(rooms)
                        if attempt == ROOM_LIST_TRIES
                            || self.room_changes.get_value() == changes =>
                    {
                        return self.set_rooms(rooms);
                    }
                    Ok(_) => {}
                    Err(e) if e.is_unauthorized() => return self.auth.set(Auth::SignedOut),
                    Err(_) => return,
                }
            }
        });
    }

    /// Counts a room change applied on its own (see `room_changes`).
    pub(super) fn room_changed(self) {
        self.room_changes.update_value(|n| *n += 1);
    }

    fn set_rooms(self, mut rooms: Vec<Room>) {
        // Unread counts the server has not seen cleared yet stay cleared for the open room.
        if let Some(focus) = self.focus.get_untracked()
            && self.visible.get_untracked()
            && let Some(room) = rooms.iter_mut().find(|r| r.id == focus)
        {
            room.unread_count = 0;
        }
        model::sort_rooms(&mut rooms);
        self.rooms.set(rooms);
        self.rooms_fetched.set(true);
        self.save_rooms();
    }

    /// Keeps the room list on this device, so the app starts offline with it.
    fn save_rooms(self) {
        if let Some(me) = self.me() {
            let text = self
                .rooms
                .with_untracked(|rooms| serde_json::to_string(rooms).unwrap_or_default());
            browser::storage_set(&rooms_key(&me), &text);
        }
    }

    /// Keeps the text messages still to send; media ones, with their bytes, are kept in
    /// IndexedDB by [`media`].
    fn save_outbox(self) {
        if let Some(me) = self.me() {
            let text = self.outbox.with_untracked(|o| {
                let texts: Vec<&Pending> = o.iter().filter(|p| p.media.is_none()).collect();
                serde_json::to_string(&texts).unwrap_or_default()
            });
            browser::storage_set(&outbox_key(&me), &text);
        }
    }

    /// Adds a room the user just created or joined (or its new state), and shows it.
    fn add_room(self, room: Room) {
        self.room_changed();
        self.rooms.update(|rooms| model::upsert_room(rooms, room));
        self.save_rooms();
    }

    pub fn room(&self, id: &RoomId) -> Option<Room> {
        self.rooms
            .with(|rooms| rooms.iter().find(|r| &r.id == id).cloned())
    }

    /// Loads the newest page of a room the first time it is opened.
    pub fn open_room(self, room: RoomId) {
        let loaded = self
            .logs
            .with_untracked(|logs| logs.get(&room).is_some_and(|l| l.loaded));
        if !loaded {
            spawn_local(async move {
                if let Ok(page) = api::history(&room, None).await {
                    self.logs.update(|logs| {
                        let log = logs.entry(room.clone()).or_default();
                        if !log.loaded {
                            log.has_more_before = page.has_more;
                        }
                        log.loaded = true;
                        log.merge(page.messages);
                    });
                    self.after_messages(&room);
                }
            });
        }
        self.send_focus();
    }

    /// Loads the page before the oldest message held (infinite scroll back).
    pub fn load_older(self, room: RoomId) {
        let Some(first) = self
            .logs
            .with_untracked(|logs| logs.get(&room).filter(|l| l.has_more_before)?.first_seq())
        else {
            return;
        };
        spawn_local(async move {
            if let Ok(page) = api::history(&room, Some(first)).await {
                self.logs.update(|logs| {
                    let log = logs.entry(room.clone()).or_default();
                    log.has_more_before = page.has_more;
                    log.merge(page.messages);
                });
            }
        });
    }

    /// Shows a toast for a few seconds.
    pub fn toast(self, room_id: RoomId, text: String) {
        let id = self.next_toast.get_value();
        self.next_toast.set_value(id + 1);
        self.toasts.update(|t| t.push(Toast { id, room_id, text }));
        set_timeout(
            move || self.toasts.update(|t| t.retain(|toast| toast.id != id)),
            std::time::Duration::from_secs(6),
        );
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}
