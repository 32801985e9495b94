// Generated from the Rust wire types (protocol/src/lib.rs) by
// protocol/tests/typescript.rs. Do not edit: change the Rust types and run
// `CONFAB_BLESS=1 cargo test -p protocol --features ts --test typescript`.

/**
 * A point in time, carried as milliseconds since the Unix epoch and written on the wire as
 * RFC 3339 in UTC with millisecond precision (`2026-11-28T06:12:13.123Z`).
 */
export type Timestamp = string;

/**
 * A user's id: opaque to clients, sortable by creation time on the server.
 */
export type UserId = string;

/**
 * A room's id.
 */
export type RoomId = string;

/**
 * A message's id.
 */
export type MessageId = string;

/**
 * An uploaded media object's id.
 */
export type MediaId = string;

export type User = { id: UserId, username: string, display_name: string, avatar_url: string | null, created_at: Timestamp, };

export type Role = "owner" | "admin" | "member";

export type Member = { user: User, role: Role, joined_at: Timestamp, last_delivered_seq: number, last_read_seq: number, };

export type RoomKind = "group" | "direct";

export type Room = { id: RoomId, kind: RoomKind, name: string | null, created_at: Timestamp, last_seq: number, last_message: Message | null, unread_count: number, members: Array<Member>, 
/**
 * v1.1: what the group is about.
 */
topic: string | null, 
/**
 * v1.1: the group's picture, a 256 px square JPEG (members only).
 */
avatar_url: string | null, 
/**
 * v1.1: the caller gets no `message` notifications from this room (mentions still).
 */
muted: boolean, 
/**
 * Extension: how many members the room has. `members` lists the first 100, oldest
 * first, and the caller always; `GET /rooms/{id}/members` pages through all of them.
 */
member_count: number, };

/**
 * Extension: `GET /rooms/{id}/members?offset=&limit=`.
 */
export type MemberPage = { members: Array<Member>, total: number, };

export type MessageKind = "text" | "image" | "voice" | "system" | "edit" | "delete" | "reaction";

export type MediaKind = "image" | "voice";

export type Media = { id: MediaId, kind: MediaKind, content_type: string, bytes: number, width: number | null, height: number | null, duration_ms: number | null, url: string, thumbnail_url: string | null, placeholder: string | null, };

/**
 * A message of a room's stream: content (`text`, `image`, `voice`), the server's account of
 * the room (`system`), or a change of another message (`edit`, `delete`, `reaction`).
 */
export type Message = { id: MessageId, room_id: RoomId, seq: number, sender_id: UserId, client_id: string, kind: MessageKind, body: string | null, media: Media | null, reply_to: MessageId | null, created_at: Timestamp, 
/**
 * v1.1: the message an `edit`, `delete` or `reaction` changes.
 */
relates_to: MessageId | null, 
/**
 * v1.1: when the body was last replaced by an `edit`.
 */
edited_at: Timestamp | null, 
/**
 * v1.1: when the message was withdrawn; `body`, `media` and `reactions` are empty then.
 */
deleted_at: Timestamp | null, 
/**
 * v1.1: the reactions on this message, in order of each emoji's first use.
 */
reactions: Array<Reaction>, 
/**
 * v1.1: the members named as `@username` in `body`, found by the server.
 */
mentions: Array<UserId>, 
/**
 * An extension: enough of the message `reply_to` names to quote it; `null` without a
 * `reply_to`, or once the original is deleted.
 */
reply_preview: ReplyPreview | null, };

/**
 * v1.1: one emoji on a message and who put it there, in order.
 */
export type Reaction = { emoji: string, user_ids: Array<UserId>, };

/**
 * An extension: a quote of the message a reply answers. `body` is cut to
 * [`REPLY_PREVIEW_CHARS`] characters (with `…` when cut).
 */
export type ReplyPreview = { id: MessageId, 
/**
 * Where the original sits in the room, so a client can load back to it.
 */
seq: number, sender_id: UserId, kind: MessageKind, body: string | null, };

export type Invite = { code: string, room_id: RoomId, url: string, created_by: UserId, created_at: Timestamp, expires_at: Timestamp | null, max_uses: number | null, uses: number, };

export type InviteRoom = { id: RoomId, name: string | null, member_count: number, };

export type InvitePreview = { room: InviteRoom, expires_at: Timestamp | null, max_uses: number | null, uses: number, };

/**
 * v1.1: one of my sessions, as `GET /me/sessions` lists them. `current` is the one asking.
 */
export type SessionInfo = { id: string, created_at: Timestamp, last_seen_at: Timestamp, user_agent: string | null, current: boolean, };

export type RegisterRequest = { username: string, password: string, display_name?: string | null, };

export type LoginRequest = { username: string, password: string, };

export type AuthResponse = { user: User, token: string, };

/**
 * v1.1: `PATCH /me`. A field left out stays as it is.
 */
export type UpdateMeRequest = { display_name?: string | null, avatar_media_id?: MediaId | null, };

/**
 * v1.1: `POST /me/password`.
 */
export type ChangePasswordRequest = { current_password: string, new_password: string, };

/**
 * v1.1: `DELETE /me`, the account's password confirming it.
 */
export type DeleteAccountRequest = { password: string, };

export type CreateGroupRequest = { name: string, member_ids?: Array<UserId>, };

export type CreateDirectRequest = { user_id: UserId, };

export type AddMemberRequest = { user_id: UserId, };

/**
 * v1.1: `PATCH /rooms/{id}`. `topic: null` clears the topic; a field left out stays.
 */
export type UpdateRoomRequest = { name?: string | null, topic?: string | null, avatar_media_id?: MediaId | null, };

/**
 * v1.1: `PATCH /rooms/{id}/members/{user_id}`.
 */
export type SetRoleRequest = { role: Role, };

/**
 * v1.1: `PATCH /rooms/{id}/members/me`.
 */
export type MuteRequest = { muted: boolean, };

/**
 * The query of `GET /rooms/{id}/members`.
 */
export type MemberPageQuery = { 
/**
 * How many members to skip (oldest first).
 */
offset?: number | null, 
/**
 * At most this many (default 100).
 */
limit?: number | null, };

/**
 * Query of `GET /rooms/{id}/messages`: at most one cursor; none gives the newest page.
 */
export type HistoryQuery = { 
/**
 * Messages with a smaller `seq` (the page just before).
 */
before_seq?: number | null, 
/**
 * Messages with a larger `seq` (the page just after).
 */
after_seq?: number | null, 
/**
 * At most this many (default 50, at most 200).
 */
limit?: number | null, };

export type MessagePage = { messages: Array<Message>, has_more: boolean, };

/**
 * The body of a send, over REST (`POST /rooms/{id}/messages`).
 */
export type SendMessageRequest = { client_id: string, kind: MessageKind, body?: string | null, media_id?: MediaId | null, reply_to?: MessageId | null, 
/**
 * v1.1: the message an `edit`, `delete` or `reaction` changes.
 */
relates_to?: MessageId | null, };

/**
 * v1.1: `GET /search`. `before_seq` pages within `room_id`; across rooms, `before_id`
 * (an extension) pages: the id of the last hit of the previous page.
 */
export type SearchQuery = { q: string, room_id?: RoomId | null, before_seq?: number | null, before_id?: MessageId | null, limit?: number | null, };

/**
 * `POST /media`: what the client is about to upload. The server checks the stored bytes
 * against this on `complete`.
 */
export type CreateMediaRequest = { kind: MediaKind, content_type: string, bytes: number, width?: number | null, height?: number | null, duration_ms?: number | null, };

/**
 * How to upload the bytes: a `PUT` of the raw body to `url` with every header in
 * `headers`.
 */
export type UploadInstructions = { method: string, url: string, headers: { [key in string]: string }, };

/**
 * The answer to `POST /media`: the media (not usable until `complete`), where to upload,
 * and until when the upload URL works.
 */
export type CreatedMedia = { media: Media, upload: UploadInstructions, expires_at: Timestamp, };

export type CreateInviteRequest = { expires_in_secs?: number | null, max_uses?: number | null, };

/**
 * v1.1: `POST /push/subscriptions`: where a push service reaches this device.
 */
export type PushSubscriptionRequest = { "kind": "webpush", endpoint: string, keys: WebPushKeys, } | { "kind": "expo", token: string, };

/**
 * The keys of a Web Push subscription, base64url.
 */
export type WebPushKeys = { p256dh: string, auth: string, };

/**
 * v1.1: the answer to `POST /push/subscriptions`.
 */
export type PushSubscriptionCreated = { id: string, };

/**
 * v1.1: the answer to `GET /push/vapid-public-key`: the application server key browsers
 * subscribe with (an uncompressed P-256 point, base64url).
 */
export type VapidPublicKey = { key: string, };

export type Health = { status: string, };

/**
 * `message:send`: the REST send body plus the room.
 */
export type SocketSend = { room_id: RoomId, client_id: string, kind: MessageKind, body?: string | null, media_id?: MediaId | null, reply_to?: MessageId | null, 
/**
 * v1.1: the message an `edit`, `delete` or `reaction` changes.
 */
relates_to?: MessageId | null, };

export type ReceiptKind = "delivered" | "read";

/**
 * `receipt` from a client: everything up to `seq` is delivered or read.
 */
export type ReceiptRequest = { room_id: RoomId, kind: ReceiptKind, seq: number, };

/**
 * `receipt` to clients: a member's marker moved forward.
 */
export type ReceiptEvent = { room_id: RoomId, user_id: UserId, kind: ReceiptKind, seq: number, };

export type TypingRequest = { room_id: RoomId, active: boolean, };

export type TypingEvent = { room_id: RoomId, user_id: UserId, active: boolean, };

/**
 * `room:head` (an extension of API.md): where a room's stream ended a moment ago. A device
 * that has seen less calls `sync`; one that has seen as much ignores it.
 */
export type RoomHeadEvent = { room_id: RoomId, seq: number, };

export type SyncRequest = { rooms: { [key in RoomId]: number }, };

export type SyncResponse = { rooms: { [key in RoomId]: MessagePage }, };

export type FocusRequest = { room_id?: RoomId | null, };

export type PresenceEvent = { user_id: UserId, online: boolean, last_seen_at: Timestamp | null, };

export type NotificationKind = "message" | "mention" | "invite_accepted" | "added_to_room";

export type NotificationEvent = { kind: NotificationKind, room_id: RoomId, message: Message | null, text: string, };

/**
 * v1.1: why a room is gone from a member's list.
 */
export type LeftReason = "left" | "removed";

/**
 * v1.1: `room:left`, to every device of a member who left or was removed.
 */
export type RoomLeftEvent = { room_id: RoomId, reason: LeftReason, };

/**
 * The acknowledgement of `receipt`, `typing` and `focus`: `{ok: true}`.
 */
export type OkAck = { 
/**
 * Always `true`.
 */
ok: true, };

/**
 * The acknowledgement of `message:send`: the message as stored, once it is durable (the
 * first one stored, for a repeat of a `client_id`).
 */
export type SendAck = { 
/**
 * Always `true`.
 */
ok: true, message: Message, };

/**
 * The acknowledgement of `sync`: for each room asked about, the messages after its
 * `after_seq` (a page at most; `has_more` asks for another `sync`).
 */
export type SyncAck = { 
/**
 * Always `true`.
 */
ok: true, rooms: { [key in RoomId]: MessagePage }, };

/**
 * The acknowledgement of any event that failed: nothing was done.
 */
export type ErrorAck = { 
/**
 * Always `false`.
 */
ok: false, error: ErrorDetail, };

/**
 * The `code` of every error body and failed ack.
 */
export type ErrorCode = "bad_request" | "unauthorized" | "forbidden" | "not_found" | "conflict" | "gone" | "payload_too_large" | "unsupported_media_type" | "rate_limited" | "unavailable" | "internal";

export type ErrorDetail = { code: ErrorCode, message: string, };

/**
 * `{"error": {"code", "message"}}`: every failed REST answer, and `data` of a refused
 * Socket.IO handshake.
 */
export type ErrorBody = { error: ErrorDetail, };
