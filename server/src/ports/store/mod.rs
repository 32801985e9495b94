//! Durable state. Every method is one atomic step: a caller never sees half of a write.

use async_trait::async_trait;
use protocol::{
    MediaId, MediaKind, MessageId, MessageKind, Reaction, ReceiptKind, Role, RoomId, RoomKind,
    Timestamp, User, UserId,
};

use super::PortResult;
use crate::domain::{ClientId, Emoji, MessageBody};

/// Users and their sessions.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Conflict when the username is taken.
    async fn create_user(&self, user: &User, password_hash: &str) -> PortResult<()>;
    /// The user and their password hash, by (lower-case) username.
    async fn credentials(&self, username: &str) -> PortResult<Option<(User, String)>>;
    async fn user(&self, id: &UserId) -> PortResult<Option<User>>;
    /// Users by id, in no particular order; unknown ids are skipped.
    async fn users(&self, ids: &[UserId]) -> PortResult<Vec<User>>;
    /// Users whose username or display name starts with `prefix` (case-insensitive),
    /// by username.
    async fn search_users(&self, prefix: &str, limit: u32) -> PortResult<Vec<User>>;
    async fn create_session(
        &self,
        token_hash: &str,
        user: &UserId,
        expires_at: Timestamp,
    ) -> PortResult<()>;
    /// The session's user, if the session exists and has not expired at `now`.
    async fn session_user(&self, token_hash: &str, now: Timestamp) -> PortResult<Option<UserId>>;
    async fn delete_session(&self, token_hash: &str) -> PortResult<()>;
    /// Records that the session was used at `seen_at`, and (when given) from which client.
    async fn touch_session(
        &self,
        token_hash: &str,
        seen_at: Timestamp,
        user_agent: Option<&str>,
    ) -> PortResult<()>;
    /// The user's sessions that are live at `now`, newest first.
    async fn sessions_of(&self, user: &UserId, now: Timestamp) -> PortResult<Vec<SessionRecord>>;
    /// Ends every session of `user` but `keep`, and says which (by token hash).
    async fn end_sessions(&self, user: &UserId, keep: Option<&str>) -> PortResult<Vec<String>>;
    async fn set_password_hash(&self, user: &UserId, password_hash: &str) -> PortResult<()>;
    /// A new display name (found by user search from now on).
    async fn set_display_name(&self, user: &UserId, display_name: &str) -> PortResult<()>;
    /// Sets (or, `None`, clears) the user's `avatar_url` as stored (a path on this API; the
    /// view makes it absolute), answering the one it replaced, so its object can go.
    async fn set_avatar(&self, user: &UserId, avatar: Option<&str>) -> PortResult<Option<String>>;
    /// Deletes the account at `now`, at once: every session ends (their token hashes are
    /// returned), the username is freed (the row keeps [`deleted_username`]), the name
    /// becomes [`DELETED_USER_NAME`], no password opens it and user search skips it. The
    /// row stays, so the messages it sent keep a sender.
    async fn delete_user(&self, user: &UserId, now: Timestamp) -> PortResult<Vec<String>>;
    /// `blocker` blocks `blocked`: true when it was not blocked before.
    async fn block(&self, blocker: &UserId, blocked: &UserId, at: Timestamp) -> PortResult<bool>;
    /// True when it was blocked.
    async fn unblock(&self, blocker: &UserId, blocked: &UserId) -> PortResult<bool>;
    /// Who `blocker` has blocked, most recent first.
    async fn blocked_by(&self, blocker: &UserId) -> PortResult<Vec<UserId>>;
    /// Those of `among` who have blocked `user`.
    async fn blockers_of(&self, user: &UserId, among: &[UserId]) -> PortResult<Vec<UserId>>;
    /// Keeps a device's push subscription. Its `address` (the Web Push endpoint or the Expo
    /// token) names one device: if the same user has it already, that one is kept, moved to
    /// `record.session` with the new keys, and its id answered with `false`; if another user
    /// had it, theirs goes. Otherwise `record` is stored and its id answered with `true`.
    async fn save_push_subscription(
        &self,
        record: &PushSubscriptionRecord,
    ) -> PortResult<(String, bool)>;
    /// Deletes one of `user`'s subscriptions: true when there was one.
    async fn delete_push_subscription(&self, user: &UserId, id: &str) -> PortResult<bool>;
    /// The subscriptions of `users` whose session is live at `now`, by user in their order,
    /// each user's oldest first. A session's subscriptions end with it: every method above
    /// that ends sessions deletes theirs, and one whose session expired is never answered.
    async fn push_subscriptions(
        &self,
        users: &[UserId],
        now: Timestamp,
    ) -> PortResult<Vec<PushSubscriptionRecord>>;
    /// The deployment's secret named `name`: the one stored, or else `candidate`, stored now.
    /// Every node that asks gets the same value, however many ask at once (the VAPID key
    /// that every push subscription was made with).
    async fn keep_server_secret(&self, name: &str, candidate: &str) -> PortResult<String>;
}

/// The display name of a deleted account.
pub const DELETED_USER_NAME: &str = "Deleted user";

/// The username a deleted account keeps: unique, and no username anyone can register
/// (those are letters, digits and `_`).
pub fn deleted_username(user: &UserId) -> String {
    format!("deleted:{user}")
}

/// Whether `user` is a deleted account (see [`deleted_username`]).
pub fn is_deleted(user: &User) -> bool {
    user.username.starts_with("deleted:")
}

/// Where a push service reaches one device of a user (API.md v1.1 "Push notifications").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushSubscriptionRecord {
    pub id: String,
    pub user_id: UserId,
    /// The hash of the session's token that registered it: it ends with that session.
    pub session: String,
    pub target: PushTarget,
    pub created_at: Timestamp,
}

/// A push service and the device's address there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushTarget {
    /// Web Push (RFC 8030): the endpoint, and the keys that encrypt payloads for it (RFC
    /// 8291), base64url as the browser gave them.
    WebPush {
        endpoint: String,
        p256dh: String,
        auth: String,
    },
    /// An Expo push token (`ExponentPushToken[…]`), for React Native apps.
    Expo { token: String },
}

impl PushTarget {
    /// The stored kind's name.
    pub fn kind(&self) -> &'static str {
        match self {
            PushTarget::WebPush { .. } => "webpush",
            PushTarget::Expo { .. } => "expo",
        }
    }

    /// What names the device: the endpoint or the token.
    pub fn address(&self) -> &str {
        match self {
            PushTarget::WebPush { endpoint, .. } => endpoint,
            PushTarget::Expo { token } => token,
        }
    }

    /// The Web Push keys, `None` for Expo.
    pub fn keys(&self) -> Option<(&str, &str)> {
        match self {
            PushTarget::WebPush { p256dh, auth, .. } => Some((p256dh, auth)),
            PushTarget::Expo { .. } => None,
        }
    }

    /// Rebuilds a target from its stored columns; `None` for an unknown kind.
    pub fn from_parts(
        kind: &str,
        address: String,
        p256dh: Option<String>,
        auth: Option<String>,
    ) -> Option<PushTarget> {
        match kind {
            "webpush" => Some(PushTarget::WebPush {
                endpoint: address,
                p256dh: p256dh?,
                auth: auth?,
            }),
            "expo" => Some(PushTarget::Expo { token: address }),
            _ => None,
        }
    }
}

/// A session as its user's session list shows it. Sessions made before these facts were
/// recorded have no `created_at` (nor a client).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub token_hash: String,
    pub created_at: Option<Timestamp>,
    pub last_seen_at: Option<Timestamp>,
    pub user_agent: Option<String>,
    pub expires_at: Timestamp,
}

/// A room as stored: the `Room` of the API without the per-reader and joined parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomRecord {
    pub id: RoomId,
    pub kind: RoomKind,
    pub name: Option<String>,
    pub created_at: Timestamp,
    pub last_seq: u64,
    /// When the room last had a message (or was created): the room list's order.
    pub last_activity_at: Timestamp,
    pub topic: Option<String>,
    /// The group's picture, as a path on this API (see `AccountStore::set_avatar`).
    pub avatar: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub role: Role,
    pub joined_at: Timestamp,
    pub last_delivered_seq: u64,
    pub last_read_seq: u64,
    /// No `message` notifications from this room (mentions still come).
    pub muted: bool,
}

/// A room to create, with its first members.
#[derive(Clone, Debug)]
pub struct NewRoom {
    pub id: RoomId,
    pub kind: RoomKind,
    pub name: Option<String>,
    pub created_at: Timestamp,
    pub members: Vec<(UserId, Role)>,
}

impl NewRoom {
    /// The pair's key ([`direct_key`]) when this is a direct room of two; none for a group.
    pub fn direct_key(&self) -> Option<String> {
        match (self.kind, self.members.as_slice()) {
            (RoomKind::Direct, [(a, _), (b, _)]) => Some(direct_key(a, b)),
            _ => None,
        }
    }
}

/// Rooms, their members and the members' read markers.
#[async_trait]
pub trait RoomStore: Send + Sync {
    /// Creates the room and its members. For a direct room, Conflict when the pair already
    /// has one (there is at most one direct room per pair, even under concurrent requests).
    async fn create_room(&self, room: &NewRoom) -> PortResult<()>;
    async fn room(&self, id: &RoomId) -> PortResult<Option<RoomRecord>>;
    /// The direct room of two users, if they have one.
    async fn direct_room(&self, a: &UserId, b: &UserId) -> PortResult<Option<RoomRecord>>;
    /// The rooms a user belongs to, most recent activity first.
    async fn rooms_of(&self, user: &UserId) -> PortResult<Vec<RoomRecord>>;
    /// Members of a room, oldest first.
    async fn members(&self, room: &RoomId) -> PortResult<Vec<MemberRecord>>;
    /// [`RoomStore::members`] for work that may miss the newest marker moves of the last
    /// fraction of a second (the unread counters): a store may answer it without first
    /// making its newest writes visible to reads, as the embedded store must for `members`.
    async fn members_relaxed(&self, room: &RoomId) -> PortResult<Vec<MemberRecord>> {
        self.members(room).await
    }
    async fn member(&self, room: &RoomId, user: &UserId) -> PortResult<Option<MemberRecord>>;
    /// Adds a member; false when they already were one (nothing changes then).
    async fn add_member(
        &self,
        room: &RoomId,
        user: &UserId,
        role: Role,
        joined_at: Timestamp,
    ) -> PortResult<bool>;
    /// Removes a member; false when they were not one.
    async fn remove_member(&self, room: &RoomId, user: &UserId) -> PortResult<bool>;
    async fn set_role(&self, room: &RoomId, user: &UserId, role: Role) -> PortResult<()>;
    /// Sets what is given: a new name, and a topic (`Some(None)` clears it).
    async fn update_room(
        &self,
        room: &RoomId,
        name: Option<&str>,
        topic: Option<Option<&str>>,
    ) -> PortResult<()>;
    async fn set_muted(&self, room: &RoomId, user: &UserId, muted: bool) -> PortResult<()>;
    /// Sets (or clears) the room's picture, answering the one it replaced.
    async fn set_room_avatar(
        &self,
        room: &RoomId,
        avatar: Option<&str>,
    ) -> PortResult<Option<String>>;
    /// Moves a member's delivered or read marker forward to `seq` (never back; read also
    /// moves delivered). True when the asked marker moved.
    async fn advance_marker(
        &self,
        room: &RoomId,
        user: &UserId,
        kind: ReceiptKind,
        seq: u64,
    ) -> PortResult<bool>;
    /// Everyone who shares at least one room with `user`, `user` excluded.
    async fn contacts_of(&self, user: &UserId) -> PortResult<Vec<UserId>>;
}

/// An invite as stored. The code itself is never stored, only its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteRecord {
    pub code_hash: String,
    pub room_id: RoomId,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub max_uses: Option<u32>,
    pub uses: u32,
    pub revoked: bool,
}

impl InviteRecord {
    /// Whether the invite can still be used at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        !self.revoked
            && self.expires_at.is_none_or(|at| now < at)
            && self.max_uses.is_none_or(|max| self.uses < max)
    }
}

#[async_trait]
pub trait InviteStore: Send + Sync {
    async fn create_invite(&self, invite: &InviteRecord) -> PortResult<()>;
    async fn invite(&self, code_hash: &str) -> PortResult<Option<InviteRecord>>;
    /// Counts one use if the invite is live at `now`, atomically, so `max_uses` holds under
    /// concurrent accepts. `None` when it is unknown or dead.
    async fn redeem(&self, code_hash: &str, now: Timestamp) -> PortResult<Option<InviteRecord>>;
    async fn revoke(&self, code_hash: &str) -> PortResult<()>;
}

/// What a message keeps of its media: the facts the server checked when the upload
/// completed, which never change. No URL is stored: the core builds the API's `Media` from
/// these on every read (`Chat::media_view`), so links follow `CONFAB_PUBLIC_URL`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(from = "StoredFacts")]
pub struct MediaFacts {
    pub id: MediaId,
    pub kind: MediaKind,
    pub content_type: String,
    pub bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub placeholder: Option<String>,
    pub has_thumbnail: bool,
}

/// `MediaFacts` as stored, now or before: messages stored before the facts kept a copy of
/// the API's `Media`, URLs included (both stores migrate them at start, and a journal
/// written by an older version may still hold one). Unknown fields, the URLs among them,
/// are ignored.
#[derive(serde::Deserialize)]
struct StoredFacts {
    id: MediaId,
    kind: MediaKind,
    content_type: String,
    bytes: u64,
    width: Option<u32>,
    height: Option<u32>,
    duration_ms: Option<u64>,
    placeholder: Option<String>,
    has_thumbnail: Option<bool>,
    #[serde(default)]
    thumbnail_url: Option<String>,
}

impl From<StoredFacts> for MediaFacts {
    fn from(stored: StoredFacts) -> Self {
        Self {
            has_thumbnail: stored
                .has_thumbnail
                .unwrap_or(stored.thumbnail_url.is_some()),
            id: stored.id,
            kind: stored.kind,
            content_type: stored.content_type,
            bytes: stored.bytes,
            width: stored.width,
            height: stored.height,
            duration_ms: stored.duration_ms,
            placeholder: stored.placeholder,
        }
    }
}

impl MediaRecord {
    /// What a message that uses this media keeps of it.
    pub fn facts(&self) -> MediaFacts {
        MediaFacts {
            id: self.id.clone(),
            kind: self.kind,
            content_type: self.content_type.clone(),
            bytes: self.bytes,
            width: self.width,
            height: self.height,
            duration_ms: self.duration_ms,
            placeholder: self.placeholder.clone(),
            has_thumbnail: self.has_thumbnail,
        }
    }
}

/// A message as the store keeps it: the API's `Message` with its media as [`MediaFacts`]
/// and without the reply preview, which the core builds on read (`Chat::message_view`),
/// as it builds rooms from [`RoomRecord`]s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageRecord {
    pub id: MessageId,
    pub room_id: RoomId,
    pub seq: u64,
    pub sender_id: UserId,
    pub client_id: String,
    pub kind: MessageKind,
    pub body: Option<String>,
    pub media: Option<MediaFacts>,
    pub reply_to: Option<MessageId>,
    pub created_at: Timestamp,
    pub relates_to: Option<MessageId>,
    pub edited_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    pub reactions: Vec<Reaction>,
    pub mentions: Vec<UserId>,
}

impl MessageRecord {
    /// Takes `user`'s `emoji` off this message; false when it was not there.
    pub fn remove_reaction(&mut self, emoji: &str, user: &UserId) -> bool {
        Reaction::remove(&mut self.reactions, emoji, user)
    }
}

/// What a new message says, checked by the core by the rules of its kind (API.md v1 and
/// v1.1): each kind carries exactly its parts, so the stores need not check them again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    Text(MessageBody),
    Image {
        media: MediaFacts,
        caption: Option<MessageBody>,
    },
    Voice(MediaFacts),
    /// The server's account of the room, in its own words.
    System(String),
    /// The new text of `target`.
    Edit {
        target: MessageId,
        body: MessageBody,
    },
    Delete {
        target: MessageId,
    },
    Reaction {
        target: MessageId,
        emoji: Emoji,
    },
}

impl Content {
    pub fn kind(&self) -> MessageKind {
        match self {
            Content::Text(_) => MessageKind::Text,
            Content::Image { .. } => MessageKind::Image,
            Content::Voice(_) => MessageKind::Voice,
            Content::System(_) => MessageKind::System,
            Content::Edit { .. } => MessageKind::Edit,
            Content::Delete { .. } => MessageKind::Delete,
            Content::Reaction { .. } => MessageKind::Reaction,
        }
    }

    /// The message's `body` as stored: a text, caption, edit or system text, or an emoji.
    pub fn body(&self) -> Option<&str> {
        match self {
            Content::Text(body) | Content::Edit { body, .. } => Some(body.as_str()),
            Content::Image { caption, .. } => caption.as_ref().map(MessageBody::as_str),
            Content::System(text) => Some(text),
            Content::Reaction { emoji, .. } => Some(emoji.as_str()),
            Content::Voice(_) | Content::Delete { .. } => None,
        }
    }

    /// The media of an image or voice message.
    pub fn media(&self) -> Option<&MediaFacts> {
        match self {
            Content::Image { media, .. } | Content::Voice(media) => Some(media),
            _ => None,
        }
    }

    /// The message an `edit`, `delete` or `reaction` changes (its `relates_to`).
    pub fn target(&self) -> Option<&MessageId> {
        match self {
            Content::Edit { target, .. }
            | Content::Delete { target }
            | Content::Reaction { target, .. } => Some(target),
            _ => None,
        }
    }
}

/// A message to append; the store gives it its `seq`. (Serialised by the embedded store's
/// journal, which replays appends after a crash, as [`JournaledMessage`].)
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "JournaledMessage", try_from = "JournaledMessage")]
pub struct NewMessage {
    pub id: MessageId,
    pub room_id: RoomId,
    pub sender_id: UserId,
    pub client_id: ClientId,
    /// An image or voice message's media: `append` gives the media to the message's room
    /// in the same step, or refuses with
    /// [`Conflict::MediaUnavailable`](super::Conflict::MediaUnavailable). An `edit`,
    /// `delete` or `reaction`: `append` applies the change to its target in the same
    /// transaction, by [`apply_change`]'s rules, or refuses the message.
    pub content: Content,
    pub reply_to: Option<MessageId>,
    pub created_at: Timestamp,
    /// The members the body names, found by the core.
    pub mentions: Vec<UserId>,
    /// The sender is an owner or admin of the room: their `delete` may take anyone's
    /// message.
    pub moderator: bool,
}

impl NewMessage {
    /// The message as `append` stores it, numbered `seq`.
    pub fn stored_as(&self, seq: u64) -> MessageRecord {
        MessageRecord {
            id: self.id.clone(),
            room_id: self.room_id.clone(),
            seq,
            sender_id: self.sender_id.clone(),
            client_id: self.client_id.as_str().to_owned(),
            kind: self.content.kind(),
            body: self.content.body().map(str::to_owned),
            media: self.content.media().cloned(),
            reply_to: self.reply_to.clone(),
            created_at: self.created_at,
            relates_to: self.content.target().cloned(),
            edited_at: None,
            deleted_at: None,
            reactions: Vec::new(),
            mentions: self.mentions.clone(),
        }
    }
}

/// A [`NewMessage`] as the journal keeps it: flat, as the API writes a message, and as
/// versions before [`Content`] wrote it, so a journal left by a crash replays after an
/// upgrade. Reading one parses its parts again, by the same rules as the core.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct JournaledMessage {
    id: MessageId,
    room_id: RoomId,
    sender_id: UserId,
    client_id: String,
    kind: MessageKind,
    body: Option<String>,
    media: Option<MediaFacts>,
    reply_to: Option<MessageId>,
    created_at: Timestamp,
    relates_to: Option<MessageId>,
    mentions: Vec<UserId>,
    moderator: bool,
}

impl From<NewMessage> for JournaledMessage {
    fn from(message: NewMessage) -> Self {
        Self {
            kind: message.content.kind(),
            body: message.content.body().map(str::to_owned),
            media: message.content.media().cloned(),
            relates_to: message.content.target().cloned(),
            id: message.id,
            room_id: message.room_id,
            sender_id: message.sender_id,
            client_id: message.client_id.as_str().to_owned(),
            reply_to: message.reply_to,
            created_at: message.created_at,
            mentions: message.mentions,
            moderator: message.moderator,
        }
    }
}

impl TryFrom<JournaledMessage> for NewMessage {
    type Error = String;

    fn try_from(stored: JournaledMessage) -> Result<Self, String> {
        let kind = stored.kind;
        let unreadable = |why: &dyn std::fmt::Display| format!("a journaled {kind:?}: {why}");
        let body = || stored.body.clone().ok_or_else(|| unreadable(&"no body"));
        let text = |raw: String| MessageBody::parse(&raw).map_err(|e| unreadable(&e));
        let target = || {
            stored
                .relates_to
                .clone()
                .ok_or_else(|| unreadable(&"no target"))
        };
        let media = || stored.media.clone().ok_or_else(|| unreadable(&"no media"));
        let content = match kind {
            MessageKind::Text => Content::Text(text(body()?)?),
            MessageKind::Image => Content::Image {
                media: media()?,
                caption: stored.body.clone().map(text).transpose()?,
            },
            MessageKind::Voice => Content::Voice(media()?),
            MessageKind::System => Content::System(body()?),
            MessageKind::Edit => Content::Edit {
                target: target()?,
                body: text(body()?)?,
            },
            MessageKind::Delete => Content::Delete { target: target()? },
            MessageKind::Reaction => Content::Reaction {
                target: target()?,
                emoji: Emoji::parse(&body()?).map_err(|e| unreadable(&e))?,
            },
        };
        Ok(Self {
            client_id: ClientId::parse(&stored.client_id).map_err(|e| unreadable(&e))?,
            content,
            id: stored.id,
            room_id: stored.room_id,
            sender_id: stored.sender_id,
            reply_to: stored.reply_to,
            created_at: stored.created_at,
            mentions: stored.mentions,
            moderator: stored.moderator,
        })
    }
}

/// Why `append` refused an `edit`, `delete` or `reaction` (nothing is stored then).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeRefusal {
    /// `relates_to` names no message of this room.
    NoTarget,
    /// The sender may not change this message (not theirs, not a moderator's delete).
    NotAllowed,
    /// The target cannot take this change: it is a change itself, already deleted, or of a
    /// kind this change does not apply to.
    NotChangeable,
    /// The sender already put this emoji on the target.
    DuplicateReaction,
}

/// What else a change does, beyond rewriting its target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SideEffect {
    None,
    /// A deleted message's media: no longer any message's, so collected after the grace
    /// period (unless another live message of the room still shows it).
    ReleaseMedia(MediaId),
    /// A deleted reaction: take `emoji` of `user` off the message it was on.
    RemoveReaction {
        target: MessageId,
        emoji: String,
        user: UserId,
    },
}

/// The rules of API.md v1.1 for a change message, applied to its current `target`: both
/// stores call this inside the transaction that appends `change`, with the target read in
/// that transaction, and write the target back as it leaves here.
pub fn apply_change(
    target: &mut MessageRecord,
    change: &NewMessage,
) -> Result<SideEffect, ChangeRefusal> {
    if target.room_id != change.room_id {
        return Err(ChangeRefusal::NoTarget);
    }
    if target.deleted_at.is_some() {
        return Err(ChangeRefusal::NotChangeable);
    }
    let own = target.sender_id == change.sender_id;
    match &change.content {
        Content::Edit { body, .. } => {
            if !matches!(target.kind, MessageKind::Text | MessageKind::Image) {
                return Err(ChangeRefusal::NotChangeable);
            }
            if !own {
                return Err(ChangeRefusal::NotAllowed);
            }
            target.body = Some(body.as_str().to_owned());
            target.mentions = change.mentions.clone();
            target.edited_at = Some(change.created_at);
            Ok(SideEffect::None)
        }
        Content::Delete { .. } if target.kind == MessageKind::Reaction => {
            if !own {
                return Err(ChangeRefusal::NotAllowed);
            }
            target.deleted_at = Some(change.created_at);
            Ok(match (&target.relates_to, &target.body) {
                (Some(on), Some(emoji)) => SideEffect::RemoveReaction {
                    target: on.clone(),
                    emoji: emoji.clone(),
                    user: target.sender_id.clone(),
                },
                _ => SideEffect::None,
            })
        }
        Content::Delete { .. } => {
            if !target.kind.is_content() {
                return Err(ChangeRefusal::NotChangeable);
            }
            if !own && !change.moderator {
                return Err(ChangeRefusal::NotAllowed);
            }
            let media = target.media.take().map(|m| m.id);
            target.body = None;
            target.reactions.clear();
            target.mentions.clear();
            target.deleted_at = Some(change.created_at);
            Ok(media.map_or(SideEffect::None, SideEffect::ReleaseMedia))
        }
        Content::Reaction { emoji, .. } => {
            if !target.kind.is_content() {
                return Err(ChangeRefusal::NotChangeable);
            }
            if !Reaction::add(&mut target.reactions, emoji.as_str(), &change.sender_id) {
                return Err(ChangeRefusal::DuplicateReaction);
            }
            Ok(SideEffect::None)
        }
        Content::Text(_) | Content::Image { .. } | Content::Voice(_) | Content::System(_) => {
            Err(ChangeRefusal::NotChangeable)
        }
    }
}

/// The words of a text as search sees them: lower case, split at everything that is not a
/// letter or digit, each once. Both stores index and query with exactly this, so they find
/// the same things.
pub fn search_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_lowercase();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    words
}

/// What a message is found by: the body of a live text message, or an image's caption.
pub fn searchable_text(message: &MessageRecord) -> Option<&str> {
    match message.kind {
        MessageKind::Text | MessageKind::Image if message.deleted_at.is_none() => {
            message.body.as_deref()
        }
        _ => None,
    }
}

/// A search: every word must be in the message; the last one may be the start of a word
/// (so a query typed as you go finds as it grows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchTerms {
    /// Whole words, from [`search_words`].
    pub words: Vec<String>,
    /// The last word of the query, matched as a prefix.
    pub prefix: String,
}

/// Where a page of search hits starts: hits are newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchFrom {
    Newest,
    /// In one room: hits with a lower `seq`.
    BeforeSeq(u64),
    /// Hits with a lower id (ids sort by creation time).
    BeforeId(MessageId),
}

/// What `append` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Stored now, with the next `seq` of its room.
    Created(MessageRecord),
    /// The sender had already used this `client_id`: the message stored then.
    Existing(MessageRecord),
}

impl Appended {
    pub fn record(&self) -> &MessageRecord {
        match self {
            Appended::Created(m) | Appended::Existing(m) => m,
        }
    }

    pub fn into_record(self) -> MessageRecord {
        match self {
            Appended::Created(m) | Appended::Existing(m) => m,
        }
    }
}

/// Which part of a room's history to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// The newest messages.
    Latest,
    /// The messages just before `seq` (older ones).
    Before(u64),
    /// The messages just after `seq` (newer ones).
    After(u64),
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Appends a message with its room's next `seq` and makes it durable before returning.
    /// `(sender_id, client_id)` is unique for all time: a repeat returns the first message
    /// and stores nothing. Sequence numbers have no gaps and no repeats under concurrency.
    /// A message with media gives that media to its room in the same transaction, or is
    /// refused with `Conflict(MediaUnavailable)` when the media is missing, not ready or
    /// another room's. An `edit`, `delete` or `reaction` changes its `relates_to` target in
    /// the same transaction by [`apply_change`], or is refused with
    /// [`PortError::ChangeRefused`]; deleting a message also empties the bodies of its
    /// edits and drops it from search.
    async fn append(&self, message: &NewMessage) -> PortResult<Appended>;
    /// Up to `limit` messages in ascending `seq`, and whether more lie beyond the page in the
    /// cursor's direction (older for `Latest` and `Before`, newer for `After`).
    async fn page(
        &self,
        room: &RoomId,
        cursor: Cursor,
        limit: u32,
    ) -> PortResult<(Vec<MessageRecord>, bool)>;
    async fn message(&self, id: &MessageId) -> PortResult<Option<MessageRecord>>;
    /// Messages by id, in no particular order; unknown ids are skipped.
    async fn messages(&self, ids: &[MessageId]) -> PortResult<Vec<MessageRecord>>;
    /// Live text messages and captions of `rooms` holding every word of `terms` (see
    /// [`SearchTerms`]), newest first from `from`, at most `limit`, and whether more match.
    async fn search(
        &self,
        rooms: &[RoomId],
        terms: &SearchTerms,
        from: &SearchFrom,
        limit: u32,
    ) -> PortResult<(Vec<MessageRecord>, bool)>;
    /// `text`, `image` and `voice` messages of others than `reader` with `after_seq < seq <= up_to_seq`. The upper
    /// bound makes a count a fact that never changes, so it can be cached and extended.
    async fn count_unread(
        &self,
        room: &RoomId,
        reader: &UserId,
        after_seq: u64,
        up_to_seq: u64,
    ) -> PortResult<u64>;
    /// The outbox: every message `append` creates is also recorded, in the same
    /// transaction, as owing its `MessageStored` event to the bus, until
    /// [`MessageStore::mark_published`] says the bus has it. These are up to `limit` of
    /// those stored at or before `stored_by`, oldest first.
    async fn unpublished(&self, stored_by: Timestamp, limit: u32)
    -> PortResult<Vec<MessageRecord>>;
    /// The bus has the events of these messages: they leave the outbox.
    async fn mark_published(&self, ids: &[MessageId]) -> PortResult<()>;
}

/// An uploaded media object: what the uploader declared, what the server found when it
/// checked the stored bytes, and the room of the message that holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaRecord {
    pub id: MediaId,
    pub uploader: UserId,
    pub kind: MediaKind,
    pub content_type: String,
    /// The declared size; `complete` refuses stored bytes of any other size.
    pub bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub placeholder: Option<String>,
    pub has_thumbnail: bool,
    /// The stored bytes passed the checks: a message may use it.
    pub ready: bool,
    /// Set when a message first uses it; the media then belongs to that room for good.
    pub room_id: Option<RoomId>,
    pub created_at: Timestamp,
}

/// What `complete` found in the stored bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedMedia {
    /// The stored size (metadata removal may shrink an image).
    pub bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub placeholder: Option<String>,
    pub has_thumbnail: bool,
}

/// Records of uploaded media. The bytes live in `ports::MediaStorage`. A media record is
/// given to a room by `MessageStore::append`, with the message that uses it.
#[async_trait]
pub trait MediaRecordStore: Send + Sync {
    /// Conflict when the id exists.
    async fn create_media(&self, record: &MediaRecord) -> PortResult<()>;
    async fn media(&self, id: &MediaId) -> PortResult<Option<MediaRecord>>;
    /// Marks pending media ready with what the checks found. False when it no longer
    /// exists or is ready already (another check finished first).
    async fn complete_media(&self, id: &MediaId, checked: &CheckedMedia) -> PortResult<bool>;
    /// Deletes the record when no message uses it, atomically: true when deleted.
    async fn delete_unused_media(&self, id: &MediaId) -> PortResult<bool>;
    /// Media no message uses, created before `created_before`, oldest first.
    async fn unused_media(
        &self,
        created_before: Timestamp,
        limit: u32,
    ) -> PortResult<Vec<MediaRecord>>;
    /// Media of `uploader` that no message uses, oldest first.
    async fn unused_media_of(&self, uploader: &UserId, limit: u32) -> PortResult<Vec<MediaRecord>>;
}

/// The key of a direct room's pair of users, the same whichever of the two asks: every store
/// indexes it as unique, so there is at most one direct room per pair.
pub fn direct_key(a: &UserId, b: &UserId) -> String {
    if a <= b {
        format!("{a}:{b}")
    } else {
        format!("{b}:{a}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_message(content: Content) -> NewMessage {
        NewMessage {
            id: MessageId("m1".into()),
            room_id: RoomId("r1".into()),
            sender_id: UserId("u1".into()),
            client_id: ClientId::random(),
            content,
            reply_to: None,
            created_at: Timestamp::from_millis(1),
            mentions: vec![UserId("u2".into())],
            moderator: true,
        }
    }

    fn photo() -> MediaFacts {
        MediaFacts {
            id: MediaId("md1".into()),
            kind: MediaKind::Image,
            content_type: "image/webp".into(),
            bytes: 5120,
            width: Some(640),
            height: Some(480),
            duration_ms: None,
            placeholder: None,
            has_thumbnail: true,
        }
    }

    /// Every kind of message reads back from the journal as it was written.
    #[test]
    fn a_journaled_message_reads_back_the_same() {
        let body = || MessageBody::parse("hello @bob").expect("a body");
        let target = || MessageId("m0".into());
        for content in [
            Content::Text(body()),
            Content::Image {
                media: photo(),
                caption: Some(body()),
            },
            Content::Image {
                media: photo(),
                caption: None,
            },
            Content::Voice(photo()),
            Content::System("Amy named the group".into()),
            Content::Edit {
                target: target(),
                body: body(),
            },
            Content::Delete { target: target() },
            Content::Reaction {
                target: target(),
                emoji: Emoji::parse("👍").expect("an emoji"),
            },
        ] {
            let written = new_message(content);
            let record = serde_json::to_vec(&written).expect("serialises");
            let read: NewMessage = serde_json::from_slice(&record).expect("reads back");
            assert_eq!(read, written);
        }
    }

    /// A journal written before `Content` and `MediaFacts` (flat, with the media's API view
    /// and its URLs) replays after an upgrade; one that breaks the rules does not.
    #[test]
    fn an_older_journal_record_still_reads() {
        let old = r#"{"id":"m1","room_id":"r1","sender_id":"u1",
            "client_id":"0b6f2a3e-4f7b-4c1e-9d2a-7c3e5f6a8b9c","kind":"image","body":"look",
            "media":{"id":"md1","kind":"image","content_type":"image/webp","bytes":5120,
                "width":640,"height":480,"duration_ms":null,
                "url":"http://old.example/api/v1/media/md1",
                "thumbnail_url":"http://old.example/api/v1/media/md1/thumbnail",
                "placeholder":null},
            "reply_to":null,"created_at":"1970-01-01T00:00:00.001Z","relates_to":null,
            "mentions":[],"moderator":false}"#;
        let read: NewMessage = serde_json::from_str(old).expect("an older record reads");
        assert_eq!(
            read.content,
            Content::Image {
                media: photo(),
                caption: Some(MessageBody::parse("look").expect("a body")),
            }
        );
        let no_target = old.replace(r#""kind":"image""#, r#""kind":"delete""#);
        assert!(serde_json::from_str::<NewMessage>(&no_target).is_err());
    }
}
