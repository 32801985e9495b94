//! The wire types of Confab's public API, v1 and v1.1 (`shared/API.md`).
//!
//! Field names and shapes here *are* the contract: every client (the web app, the React Native
//! app, bots, tests) depends on them. Add fields freely; never rename or repurpose one.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Socket.IO event names, both directions.
pub mod events {
    pub const MESSAGE_SEND: &str = "message:send";
    pub const MESSAGE_NEW: &str = "message:new";
    pub const RECEIPT: &str = "receipt";
    pub const TYPING: &str = "typing";
    pub const SYNC: &str = "sync";
    pub const FOCUS: &str = "focus";
    pub const PRESENCE: &str = "presence";
    pub const ROOM_UPDATE: &str = "room:update";
    pub const NOTIFICATION: &str = "notification";
    pub const ROOM_HEAD: &str = "room:head";
    pub const ROOM_LEFT: &str = "room:left";
}

/// REST paths, under [`paths::API`] (`/api/v1`), as the router serves them and the OpenAPI
/// document lists them: `{name}` is a path parameter, which [`paths::fill`] fills in. The
/// server's router and the web client use these; the tests keep writing paths out, so that a
/// changed constant shows as a broken contract rather than passing unnoticed.
pub mod paths {
    pub const API: &str = "/api/v1";

    pub const REGISTER: &str = "/auth/register";
    pub const LOGIN: &str = "/auth/login";
    pub const LOGOUT: &str = "/auth/logout";
    pub const ME: &str = "/me";
    pub const MY_BLOCKS: &str = "/me/blocks";
    pub const MY_SESSIONS: &str = "/me/sessions";
    pub const MY_SESSION: &str = "/me/sessions/{id}";
    pub const MY_PASSWORD: &str = "/me/password";
    pub const USERS: &str = "/users";
    pub const USER_AVATAR: &str = "/users/{id}/avatar/{token}";
    pub const USER_BLOCK: &str = "/users/{id}/block";
    pub const SEARCH: &str = "/search";
    pub const ROOMS: &str = "/rooms";
    pub const DIRECT_ROOMS: &str = "/rooms/direct";
    pub const ROOM: &str = "/rooms/{id}";
    pub const ROOM_AVATAR: &str = "/rooms/{id}/avatar/{token}";
    pub const ROOM_MEMBERS: &str = "/rooms/{id}/members";
    pub const ROOM_MEMBERSHIP: &str = "/rooms/{id}/members/me";
    pub const ROOM_MEMBER: &str = "/rooms/{id}/members/{user_id}";
    pub const ROOM_MESSAGES: &str = "/rooms/{id}/messages";
    pub const ROOM_INVITES: &str = "/rooms/{id}/invites";
    pub const INVITE: &str = "/invites/{code}";
    pub const INVITE_ACCEPT: &str = "/invites/{code}/accept";
    pub const VAPID_PUBLIC_KEY: &str = "/push/vapid-public-key";
    pub const PUSH_SUBSCRIPTIONS: &str = "/push/subscriptions";
    pub const PUSH_SUBSCRIPTION: &str = "/push/subscriptions/{id}";
    pub const MEDIA: &str = "/media";
    pub const MEDIA_ITEM: &str = "/media/{id}";
    pub const MEDIA_THUMBNAIL: &str = "/media/{id}/thumbnail";
    pub const MEDIA_COMPLETE: &str = "/media/{id}/complete";
    /// The embedded store's upload URL; `{key}` is the rest of the path.
    pub const UPLOAD: &str = "/uploads/{key}";
    pub const OPENAPI: &str = "/openapi.json";
    pub const ASYNCAPI: &str = "/asyncapi.json";

    /// Every path above but [`API`], for the check that the router serves exactly these.
    pub const ALL: [&str; 33] = [
        REGISTER,
        LOGIN,
        LOGOUT,
        ME,
        MY_BLOCKS,
        MY_SESSIONS,
        MY_SESSION,
        MY_PASSWORD,
        USERS,
        USER_AVATAR,
        USER_BLOCK,
        SEARCH,
        ROOMS,
        DIRECT_ROOMS,
        ROOM,
        ROOM_AVATAR,
        ROOM_MEMBERS,
        ROOM_MEMBERSHIP,
        ROOM_MEMBER,
        ROOM_MESSAGES,
        ROOM_INVITES,
        INVITE,
        INVITE_ACCEPT,
        VAPID_PUBLIC_KEY,
        PUSH_SUBSCRIPTIONS,
        PUSH_SUBSCRIPTION,
        MEDIA,
        MEDIA_ITEM,
        MEDIA_THUMBNAIL,
        MEDIA_COMPLETE,
        UPLOAD,
        OPENAPI,
        ASYNCAPI,
    ];

    /// `template` with each `{name}` replaced, in order, by the next of `values`,
    /// percent-encoded; a `{name}` without a value is left as it is.
    pub fn fill(template: &str, values: &[&str]) -> String {
        let mut out = String::with_capacity(template.len() + 32);
        let mut values = values.iter();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|c| open + c) else {
                break;
            };
            out.push_str(&rest[..open]);
            match values.next() {
                Some(value) => out.push_str(&encode(value)),
                None => out.push_str(&rest[open..=close]),
            }
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Percent-encodes everything but unreserved characters (RFC 3986).
    pub fn encode(text: &str) -> String {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut out = String::with_capacity(text.len());
        for byte in text.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(char::from(byte));
                }
                _ => {
                    out.push('%');
                    out.push(char::from(HEX[usize::from(byte >> 4)]));
                    out.push(char::from(HEX[usize::from(byte & 0x0F)]));
                }
            }
        }
        out
    }
}

/// A point in time, carried as milliseconds since the Unix epoch and written on the wire as
/// RFC 3339 in UTC with millisecond precision (`2026-11-28T06:12:13.123Z`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time, truncated to whole milliseconds.
    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis())
    }

    pub fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// This instant plus `secs` seconds, saturating instead of overflowing.
    pub fn plus_secs(self, secs: u64) -> Self {
        let add = i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000);
        Self(self.0.saturating_add(add))
    }

    fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or_default()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "schema")]
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("RFC 3339 in UTC with millisecond precision."))
            .examples(["2026-11-28T06:12:13.123Z"])
            .into()
    }
}

#[cfg(feature = "schema")]
impl utoipa::ToSchema for Timestamp {}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| Self(t.timestamp_millis()))
            .map_err(serde::de::Error::custom)
    }
}

macro_rules! opaque_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }
    )*};
}

opaque_id!(
    /// A user's id: opaque to clients, sortable by creation time on the server.
    UserId,
    /// A room's id.
    RoomId,
    /// A message's id.
    MessageId,
    /// An uploaded media object's id.
    MediaId,
);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    /// Owners and admins manage a room: add people, create and revoke invites.
    pub fn can_manage(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Member {
    pub user: User,
    pub role: Role,
    pub joined_at: Timestamp,
    pub last_delivered_seq: u64,
    pub last_read_seq: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    Group,
    Direct,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Room {
    pub id: RoomId,
    pub kind: RoomKind,
    pub name: Option<String>,
    pub created_at: Timestamp,
    pub last_seq: u64,
    pub last_message: Option<Message>,
    pub unread_count: u64,
    pub members: Vec<Member>,
    /// v1.1: what the group is about.
    #[serde(default)]
    pub topic: Option<String>,
    /// v1.1: the group's picture, a 256 px square JPEG (members only).
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// v1.1: the caller gets no `message` notifications from this room (mentions still).
    #[serde(default)]
    pub muted: bool,
    /// Extension: how many members the room has. `members` lists the first 100, oldest
    /// first, and the caller always; `GET /rooms/{id}/members` pages through all of them.
    #[serde(default)]
    pub member_count: u64,
}

/// Extension: `GET /rooms/{id}/members?offset=&limit=`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MemberPage {
    pub members: Vec<Member>,
    pub total: u64,
}

/// The query of `GET /rooms/{id}/members`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(
    feature = "schema",
    derive(utoipa::ToSchema, utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields = nullable))]
pub struct MemberPageQuery {
    /// How many members to skip (oldest first).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub offset: u32,
    /// At most this many (default 100).
    #[serde(default = "MemberPageQuery::default_limit")]
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub limit: u32,
}

impl MemberPageQuery {
    fn default_limit() -> u32 {
        100
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    #[default]
    Text,
    Image,
    Voice,
    System,
    /// v1.1: replaces the body (or caption) of the message it `relates_to`.
    Edit,
    /// v1.1: withdraws the message it `relates_to` (or one's own reaction).
    Delete,
    /// v1.1: one emoji on the message it `relates_to`.
    Reaction,
}

impl MessageKind {
    /// What people write and read as a message of its own (as opposed to a change of one,
    /// or the server's account of the room): counted as unread and notified.
    pub fn is_content(self) -> bool {
        matches!(
            self,
            MessageKind::Text | MessageKind::Image | MessageKind::Voice
        )
    }

    /// A change of another message: `edit`, `delete` or `reaction`.
    pub fn is_change(self) -> bool {
        matches!(
            self,
            MessageKind::Edit | MessageKind::Delete | MessageKind::Reaction
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Voice,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Media {
    pub id: MediaId,
    pub kind: MediaKind,
    pub content_type: String,
    pub bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub url: String,
    pub thumbnail_url: Option<String>,
    pub placeholder: Option<String>,
}

/// A message of a room's stream: content (`text`, `image`, `voice`), the server's account of
/// the room (`system`), or a change of another message (`edit`, `delete`, `reaction`).
// `Default` is for building test messages with `..Default::default()`; a real message
// always comes from the store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Message {
    pub id: MessageId,
    pub room_id: RoomId,
    pub seq: u64,
    pub sender_id: UserId,
    pub client_id: String,
    pub kind: MessageKind,
    pub body: Option<String>,
    pub media: Option<Media>,
    pub reply_to: Option<MessageId>,
    pub created_at: Timestamp,
    /// v1.1: the message an `edit`, `delete` or `reaction` changes.
    #[serde(default)]
    pub relates_to: Option<MessageId>,
    /// v1.1: when the body was last replaced by an `edit`.
    #[serde(default)]
    pub edited_at: Option<Timestamp>,
    /// v1.1: when the message was withdrawn; `body`, `media` and `reactions` are empty then.
    #[serde(default)]
    pub deleted_at: Option<Timestamp>,
    /// v1.1: the reactions on this message, in order of each emoji's first use.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// v1.1: the members named as `@username` in `body`, found by the server.
    #[serde(default)]
    pub mentions: Vec<UserId>,
    /// An extension: enough of the message `reply_to` names to quote it; `null` without a
    /// `reply_to`, or once the original is deleted.
    #[serde(default)]
    pub reply_preview: Option<ReplyPreview>,
}

impl Message {
    /// Applies a change message (`edit`, `delete` or `reaction` whose `relates_to` is this
    /// message's id) to this message as the server does, so a client that folds the stream
    /// in `seq` order shows what history shows. The `delete` of a reaction only marks the
    /// reaction message here: the folder then takes the emoji off the reaction's own target
    /// with [`Message::remove_reaction`].
    pub fn apply(&mut self, change: &Message) {
        match change.kind {
            MessageKind::Edit if self.deleted_at.is_none() => {
                self.body = change.body.clone();
                self.mentions = change.mentions.clone();
                self.edited_at = Some(change.created_at);
            }
            MessageKind::Delete => {
                if self.kind == MessageKind::Reaction {
                    self.deleted_at = Some(change.created_at);
                    return;
                }
                self.body = None;
                self.media = None;
                self.reactions.clear();
                self.mentions.clear();
                self.reply_preview = None;
                self.deleted_at = Some(change.created_at);
            }
            MessageKind::Reaction if self.deleted_at.is_none() => {
                if let Some(emoji) = change.body.as_deref() {
                    self.add_reaction(emoji, &change.sender_id);
                }
            }
            _ => {}
        }
    }

    /// Adds `user`'s `emoji`; false when it was there already.
    pub fn add_reaction(&mut self, emoji: &str, user: &UserId) -> bool {
        Reaction::add(&mut self.reactions, emoji, user)
    }

    /// Takes `user`'s `emoji` away (an emoji nobody uses any more goes); false when it
    /// was not there.
    pub fn remove_reaction(&mut self, emoji: &str, user: &UserId) -> bool {
        Reaction::remove(&mut self.reactions, emoji, user)
    }
}

/// v1.1: one emoji on a message and who put it there, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Reaction {
    pub emoji: String,
    pub user_ids: Vec<UserId>,
}

impl Reaction {
    /// Adds `user`'s `emoji` to a message's `reactions`; false when it was there already.
    pub fn add(reactions: &mut Vec<Reaction>, emoji: &str, user: &UserId) -> bool {
        match reactions.iter_mut().find(|r| r.emoji == emoji) {
            Some(reaction) if reaction.user_ids.contains(user) => false,
            Some(reaction) => {
                reaction.user_ids.push(user.clone());
                true
            }
            None => {
                reactions.push(Reaction {
                    emoji: emoji.to_owned(),
                    user_ids: vec![user.clone()],
                });
                true
            }
        }
    }

    /// Takes `user`'s `emoji` off a message's `reactions` (an emoji nobody uses any more
    /// goes); false when it was not there.
    pub fn remove(reactions: &mut Vec<Reaction>, emoji: &str, user: &UserId) -> bool {
        let Some(at) = reactions.iter().position(|r| r.emoji == emoji) else {
            return false;
        };
        let reaction = &mut reactions[at];
        let before = reaction.user_ids.len();
        reaction.user_ids.retain(|u| u != user);
        let removed = reaction.user_ids.len() != before;
        if reaction.user_ids.is_empty() {
            reactions.remove(at);
        }
        removed
    }
}

/// An extension: a quote of the message a reply answers. `body` is cut to
/// [`REPLY_PREVIEW_CHARS`] characters (with `…` when cut).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReplyPreview {
    pub id: MessageId,
    /// Where the original sits in the room, so a client can load back to it.
    pub seq: u64,
    pub sender_id: UserId,
    pub kind: MessageKind,
    pub body: Option<String>,
}

/// The most characters of the original a [`ReplyPreview`] carries.
pub const REPLY_PREVIEW_CHARS: usize = 200;

impl ReplyPreview {
    /// The preview of `original`; `None` once it is deleted.
    pub fn of(original: &Message) -> Option<Self> {
        if original.deleted_at.is_some() {
            return None;
        }
        let body = original.body.as_deref().map(|body| {
            let mut cut: String = body.chars().take(REPLY_PREVIEW_CHARS).collect();
            if body.chars().nth(REPLY_PREVIEW_CHARS).is_some() {
                cut.push('…');
            }
            cut
        });
        Some(Self {
            id: original.id.clone(),
            seq: original.seq,
            sender_id: original.sender_id.clone(),
            kind: original.kind,
            body,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Invite {
    pub code: String,
    pub room_id: RoomId,
    pub url: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub max_uses: Option<u32>,
    pub uses: u32,
}

// ---- REST bodies -------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields = nullable))]
pub struct RegisterRequest {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// v1.1: `PATCH /rooms/{id}`. `topic: null` clears the topic; a field left out stays.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields = nullable))]
pub struct UpdateRoomRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub topic: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "ts", ts(as = "Option<MediaId>"))]
    pub avatar_media_id: Option<Option<MediaId>>,
}

/// A field that is there (even as `null`) is `Some`; one left out stays `None` (the
/// `#[serde(default)]` beside it).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// v1.1: `PATCH /rooms/{id}/members/{user_id}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SetRoleRequest {
    pub role: Role,
}

/// v1.1: `PATCH /rooms/{id}/members/me`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MuteRequest {
    pub muted: bool,
}

/// v1.1: why a room is gone from a member's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum LeftReason {
    Left,
    Removed,
}

/// v1.1: `room:left`, to every device of a member who left or was removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RoomLeftEvent {
    pub room_id: RoomId,
    pub reason: LeftReason,
}

/// v1.1: one of my sessions, as `GET /me/sessions` lists them. `current` is the one asking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionInfo {
    pub id: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub user_agent: Option<String>,
    pub current: bool,
}

/// v1.1: `POST /push/subscriptions`: where a push service reaches this device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PushSubscriptionRequest {
    /// A browser's or installed PWA's `PushSubscription`, as `toJSON()` gives it.
    Webpush { endpoint: String, keys: WebPushKeys },
    /// An Expo push token (`ExponentPushToken[…]`).
    Expo { token: String },
}

/// The keys of a Web Push subscription, base64url.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct WebPushKeys {
    pub p256dh: String,
    pub auth: String,
}

/// v1.1: the answer to `POST /push/subscriptions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PushSubscriptionCreated {
    pub id: String,
}

/// v1.1: the answer to `GET /push/vapid-public-key`: the application server key browsers
/// subscribe with (an uncompressed P-256 point, base64url).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct VapidPublicKey {
    pub key: String,
}

/// v1.1: `PATCH /me`. A field left out stays as it is.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields = nullable))]
pub struct UpdateMeRequest {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "ts", ts(as = "Option<MediaId>"))]
    pub avatar_media_id: Option<Option<MediaId>>,
}

/// v1.1: `DELETE /me`, the account's password confirming it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeleteAccountRequest {
    pub password: String,
}

/// v1.1: `POST /me/password`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AuthResponse {
    pub user: User,
    pub token: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CreateGroupRequest {
    pub name: String,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<UserId>>", optional))]
    pub member_ids: Vec<UserId>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CreateDirectRequest {
    pub user_id: UserId,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AddMemberRequest {
    pub user_id: UserId,
}

/// Query of `GET /rooms/{id}/messages`: at most one cursor; none gives the newest page.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(
    feature = "schema",
    derive(utoipa::ToSchema, utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields = nullable))]
pub struct HistoryQuery {
    /// Messages with a smaller `seq` (the page just before).
    pub before_seq: Option<u64>,
    /// Messages with a larger `seq` (the page just after).
    pub after_seq: Option<u64>,
    /// At most this many (default 50, at most 200).
    pub limit: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub has_more: bool,
}

/// The body of a send, over REST (`POST /rooms/{id}/messages`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields = nullable))]
pub struct SendMessageRequest {
    pub client_id: String,
    pub kind: MessageKind,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub media_id: Option<MediaId>,
    #[serde(default)]
    pub reply_to: Option<MessageId>,
    /// v1.1: the message an `edit`, `delete` or `reaction` changes.
    #[serde(default)]
    pub relates_to: Option<MessageId>,
}

/// v1.1: `GET /search`. `before_seq` pages within `room_id`; across rooms, `before_id`
/// (an extension) pages: the id of the last hit of the previous page.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(
    feature = "schema",
    derive(utoipa::ToSchema, utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields = nullable))]
pub struct SearchQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub room_id: Option<RoomId>,
    #[serde(default)]
    pub before_seq: Option<u64>,
    #[serde(default)]
    pub before_id: Option<MessageId>,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `POST /media`: what the client is about to upload. The server checks the stored bytes
/// against this on `complete`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields = nullable))]
pub struct CreateMediaRequest {
    pub kind: MediaKind,
    pub content_type: String,
    pub bytes: u64,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
}

/// How to upload the bytes: a `PUT` of the raw body to `url` with every header in
/// `headers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UploadInstructions {
    pub method: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
}

/// The answer to `POST /media`: the media (not usable until `complete`), where to upload,
/// and until when the upload URL works.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CreatedMedia {
    pub media: Media,
    pub upload: UploadInstructions,
    pub expires_at: Timestamp,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields = nullable))]
pub struct CreateInviteRequest {
    #[serde(default)]
    pub expires_in_secs: Option<u64>,
    #[serde(default)]
    pub max_uses: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct InviteRoom {
    pub id: RoomId,
    pub name: Option<String>,
    pub member_count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct InvitePreview {
    pub room: InviteRoom,
    pub expires_at: Option<Timestamp>,
    pub max_uses: Option<u32>,
    pub uses: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Health {
    pub status: String,
}

// ---- Socket.IO payloads ------------------------------------------------------------------

/// `message:send`: the REST send body plus the room.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SocketSend {
    pub room_id: RoomId,
    #[serde(flatten)]
    pub message: SendMessageRequest,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ReceiptKind {
    Delivered,
    Read,
}

/// `receipt` from a client: everything up to `seq` is delivered or read.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReceiptRequest {
    pub room_id: RoomId,
    pub kind: ReceiptKind,
    pub seq: u64,
}

/// `receipt` to clients: a member's marker moved forward.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReceiptEvent {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub kind: ReceiptKind,
    pub seq: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TypingRequest {
    pub room_id: RoomId,
    pub active: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TypingEvent {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub active: bool,
}

/// `room:head` (an extension of API.md): where a room's stream ended a moment ago. A device
/// that has seen less calls `sync`; one that has seen as much ignores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RoomHeadEvent {
    pub room_id: RoomId,
    pub seq: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncRequest {
    pub rooms: BTreeMap<RoomId, u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncResponse {
    pub rooms: BTreeMap<RoomId, MessagePage>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields = nullable))]
pub struct FocusRequest {
    #[serde(default)]
    pub room_id: Option<RoomId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PresenceEvent {
    pub user_id: UserId,
    pub online: bool,
    pub last_seen_at: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    Message,
    Mention,
    InviteAccepted,
    AddedToRoom,
}

impl NotificationKind {
    /// The wire name (as serde writes it), for logs and metric labels.
    pub fn as_label(self) -> &'static str {
        match self {
            NotificationKind::Message => "message",
            NotificationKind::Mention => "mention",
            NotificationKind::InviteAccepted => "invite_accepted",
            NotificationKind::AddedToRoom => "added_to_room",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct NotificationEvent {
    pub kind: NotificationKind,
    pub room_id: RoomId,
    pub message: Option<Message>,
    pub text: String,
}

// ---- Socket.IO acknowledgements -------------------------------------------------------------
//
// Every client-to-server event gets exactly one acknowledgement: one of these on success,
// or an [`ErrorAck`]. The server writes them from borrowed parts; these owned types are what
// clients (and the contract documents) read.

/// The acknowledgement of `receipt`, `typing` and `focus`: `{ok: true}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OkAck {
    /// Always `true`.
    #[cfg_attr(feature = "ts", ts(type = "true"))]
    pub ok: bool,
}

/// The acknowledgement of `message:send`: the message as stored, once it is durable (the
/// first one stored, for a repeat of a `client_id`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SendAck {
    /// Always `true`.
    #[cfg_attr(feature = "ts", ts(type = "true"))]
    pub ok: bool,
    pub message: Message,
}

/// The acknowledgement of `sync`: for each room asked about, the messages after its
/// `after_seq` (a page at most; `has_more` asks for another `sync`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncAck {
    /// Always `true`.
    #[cfg_attr(feature = "ts", ts(type = "true"))]
    pub ok: bool,
    pub rooms: BTreeMap<RoomId, MessagePage>,
}

/// The acknowledgement of any event that failed: nothing was done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ErrorAck {
    /// Always `false`.
    #[cfg_attr(feature = "ts", ts(type = "false"))]
    pub ok: bool,
    pub error: ErrorDetail,
}

// ---- Errors ------------------------------------------------------------------------------

/// The `code` of every error body and failed ack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    Gone,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// The code as it is written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Gone => "gone",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::Gone => 410,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RateLimited => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

/// `{"error": {"code", "message"}}`: every failed REST answer, and `data` of a refused
/// Socket.IO handshake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}

#[cfg(feature = "schema")]
pub mod asyncapi;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_filled_in_order_and_percent_encoded() {
        assert_eq!(
            paths::fill(paths::ROOM_MEMBER, &["r1", "u 2"]),
            "/rooms/r1/members/u%202"
        );
        assert_eq!(paths::fill(paths::ROOM, &[]), "/rooms/{id}");
        assert_eq!(paths::fill(paths::ME, &["unused"]), "/me");
        assert_eq!(paths::encode("a b&c/é"), "a%20b%26c%2F%C3%A9");
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        let t = Timestamp::from_millis(1_795_846_333_123);
        let json = serde_json::to_string(&t).expect("serialises");
        assert_eq!(json, "\"2026-11-28T06:12:13.123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).expect("parses"), t);
    }

    #[test]
    fn a_socket_send_carries_the_rest_fields_flat() {
        let send: SocketSend =
            serde_json::from_str(r#"{"room_id":"r1","client_id":"c","kind":"text","body":"hi"}"#)
                .expect("parses");
        assert_eq!(send.room_id.as_str(), "r1");
        assert_eq!(send.message.body.as_deref(), Some("hi"));
        assert_eq!(send.message.kind, MessageKind::Text);
    }

    #[test]
    fn a_room_update_tells_a_cleared_topic_from_one_left_alone() {
        let cleared: UpdateRoomRequest = serde_json::from_str(r#"{"topic":null}"#).expect("parses");
        assert_eq!(cleared.topic, Some(None));
        let untouched: UpdateRoomRequest = serde_json::from_str(r#"{"name":"x"}"#).expect("parses");
        assert_eq!(untouched.topic, None);
        assert_eq!(untouched.name.as_deref(), Some("x"));
    }

    #[test]
    fn error_bodies_use_snake_case_codes() {
        let body = ErrorBody::new(ErrorCode::PayloadTooLarge, "too big");
        let json = serde_json::to_value(&body).expect("serialises");
        assert_eq!(json["error"]["code"], "payload_too_large");
    }

    #[test]
    fn an_error_codes_name_is_what_it_serialises_to() {
        use ErrorCode::*;
        for code in [
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            Gone,
            PayloadTooLarge,
            UnsupportedMediaType,
            RateLimited,
            Unavailable,
            Internal,
        ] {
            assert_eq!(
                serde_json::to_value(code).expect("serialises"),
                code.as_str()
            );
        }
    }

    #[test]
    fn notification_kind_labels_are_the_wire_names() {
        use NotificationKind::*;
        for kind in [Message, Mention, InviteAccepted, AddedToRoom] {
            assert_eq!(
                serde_json::to_value(kind).expect("serialises"),
                kind.as_label()
            );
        }
    }
}
