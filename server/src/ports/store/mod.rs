//! Durable state. Every method is one atomic step: a caller never sees half of a write.

use async_trait::async_trait;
use protocol::{MediaId, MediaKind, ReceiptKind, Role, RoomId, RoomKind, Timestamp, User, UserId};

use super::PortResult;

mod messages;

pub use messages::{
    Appended, ChangeRefusal, Content, Cursor, JournaledMessage, MediaFacts, MessageRecord,
    MessageStore, NewMessage, SearchFrom, SearchTerms, SideEffect, apply_change, search_words,
    searchable_text,
};

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
