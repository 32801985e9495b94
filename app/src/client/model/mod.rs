//! Pure chat state rules, free of any browser API so they are unit-tested natively: merging
//! messages without duplicates, room ordering and unread counts, and the status of one's own
//! messages from the members' receipt markers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::protocol::{
    CreatedMedia, MediaKind, Message, MessageKind, ReceiptEvent, ReceiptKind, Room, RoomId,
    RoomKind, User, UserId,
};

/// What the client holds of one room's history: messages by `seq`, so a message that arrives
/// twice (ack, `message:new`, `sync`, history page) is stored once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoomLog {
    pub messages: BTreeMap<u64, Message>,
    /// Older messages exist on the server before the first one held here.
    pub has_more_before: bool,
    /// The newest page has been fetched at least once.
    pub loaded: bool,
}

impl RoomLog {
    /// Adds messages, ignoring any already held; answers whether anything was new.
    pub fn merge(&mut self, messages: impl IntoIterator<Item = Message>) -> bool {
        let mut changed = false;
        for message in messages {
            if let std::collections::btree_map::Entry::Vacant(slot) =
                self.messages.entry(message.seq)
            {
                slot.insert(message);
                changed = true;
            }
        }
        changed
    }

    pub fn first_seq(&self) -> Option<u64> {
        self.messages.keys().next().copied()
    }

    pub fn last_seq(&self) -> u64 {
        self.messages.keys().next_back().copied().unwrap_or(0)
    }

    /// Whether a message with this sender-chosen id is already held (an ack that raced
    /// `message:new`).
    pub fn has_client_id(&self, sender: &UserId, client_id: &str) -> bool {
        self.messages
            .values()
            .rev()
            .take(200)
            .any(|m| &m.sender_id == sender && m.client_id == client_id)
    }
}

/// A message typed here that the server has not acknowledged yet. Kept across reloads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub room_id: RoomId,
    pub client_id: String,
    pub body: String,
    /// Set when the server refused it for good (too long, no longer a member), or an upload
    /// ran out of retries: not retried until the user says so.
    #[serde(default)]
    pub failed: Option<String>,
    /// A photo or voice message's upload (its bytes are kept apart: IndexedDB and memory).
    #[serde(default)]
    pub media: Option<PendingMedia>,
}

impl Pending {
    /// Whether it can be sent now: text at once, media once the server holds its bytes.
    pub fn ready(&self) -> bool {
        self.failed.is_none() && self.media.as_ref().is_none_or(|m| m.completed)
    }
}

/// Where the upload of a pending photo or voice message has got to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMedia {
    pub kind: MediaKind,
    pub content_type: String,
    /// Zero until the photo has been shrunk.
    pub bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    /// The media created on the server and where to upload it; made again when the upload
    /// URL has expired.
    pub created: Option<CreatedMedia>,
    /// The server has checked the stored bytes: the message can be sent.
    pub completed: bool,
    /// When it was put in the outbox (milliseconds since the epoch), to restore the order.
    #[serde(default)]
    pub queued_at: i64,
    /// The server lost the media before the send (it collects media unused for an hour),
    /// and the kept bytes went up again; that is tried once.
    #[serde(default)]
    pub uploaded_again: bool,
}

impl PendingMedia {
    /// Whether the upload URL still works for a while (a slow upload must not outlive it).
    pub fn upload_usable(&self, now_millis: i64) -> bool {
        self.created
            .as_ref()
            .is_some_and(|c| c.expires_at.as_millis() > now_millis + 60_000)
    }
}

/// Where one of your own messages has got to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Sending,
    Sent,
    Delivered,
    Read,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Sending => "Sending",
            Status::Sent => "Sent",
            Status::Delivered => "Delivered",
            Status::Read => "Read",
        }
    }

    pub fn glyph(self) -> &'static str {
        match self {
            Status::Sending => "◷",
            Status::Sent => "✓",
            Status::Delivered | Status::Read => "✓✓",
        }
    }
}

/// The status of `me`'s stored message `seq`: read or delivered as soon as any other member's
/// marker has reached it.
pub fn status_of(room: &Room, me: &UserId, seq: u64) -> Status {
    let others = || room.members.iter().filter(|m| &m.user.id != me);
    if others().any(|m| m.last_read_seq >= seq) {
        Status::Read
    } else if others().any(|m| m.last_delivered_seq >= seq) {
        Status::Delivered
    } else {
        Status::Sent
    }
}

/// Display names of the other members who have read up to `seq`.
pub fn readers(room: &Room, me: &UserId, seq: u64) -> Vec<String> {
    room.members
        .iter()
        .filter(|m| &m.user.id != me && m.last_read_seq >= seq)
        .map(|m| m.user.display_name.clone())
        .collect()
}

/// The other member of a direct room.
pub fn peer<'a>(room: &'a Room, me: &UserId) -> Option<&'a User> {
    room.members.iter().map(|m| &m.user).find(|u| &u.id != me)
}

/// What a room is called in the list: its name, or for a direct room the other person.
pub fn room_title(room: &Room, me: &UserId) -> String {
    match (&room.name, room.kind) {
        (Some(name), _) if !name.is_empty() => name.clone(),
        (_, RoomKind::Direct) => peer(room, me)
            .map(|u| u.display_name.clone())
            .unwrap_or_else(|| "Direct message".into()),
        _ => "Unnamed group".into(),
    }
}

/// Most recent activity first, as the server orders them.
pub fn sort_rooms(rooms: &mut [Room]) {
    rooms.sort_by_key(|r| {
        std::cmp::Reverse(
            r.last_message
                .as_ref()
                .map_or(r.created_at, |m| m.created_at),
        )
    });
}

/// Inserts or replaces a room (from `room:update` or a REST answer) and keeps the order.
pub fn upsert_room(rooms: &mut Vec<Room>, room: Room) {
    match rooms.iter_mut().find(|r| r.id == room.id) {
        Some(slot) => *slot = room,
        None => rooms.push(room),
    }
    sort_rooms(rooms);
}

/// Applies a new message to the room list: preview, last seq, unread count (unless the user
/// is looking at the room, or it is their own).
pub fn apply_message(rooms: &mut [Room], message: &Message, me: &UserId, looking: bool) {
    let Some(room) = rooms.iter_mut().find(|r| r.id == message.room_id) else {
        return;
    };
    if message.seq <= room.last_seq && room.last_message.is_some() {
        return;
    }
    room.last_seq = message.seq;
    room.last_message = Some(message.clone());
    if &message.sender_id != me && !looking {
        room.unread_count += 1;
    }
    sort_rooms(rooms);
}

/// Moves a member's delivered or read marker forward (`read` implies delivered).
pub fn apply_receipt(rooms: &mut [Room], receipt: &ReceiptEvent) {
    let Some(room) = rooms.iter_mut().find(|r| r.id == receipt.room_id) else {
        return;
    };
    if let Some(member) = room
        .members
        .iter_mut()
        .find(|m| m.user.id == receipt.user_id)
    {
        member.last_delivered_seq = member.last_delivered_seq.max(receipt.seq);
        if receipt.kind == ReceiptKind::Read {
            member.last_read_seq = member.last_read_seq.max(receipt.seq);
        }
    }
}

/// Marks a room read by `me` up to `seq`.
pub fn mark_read(rooms: &mut [Room], room_id: &RoomId, me: &UserId, seq: u64) {
    if let Some(room) = rooms.iter_mut().find(|r| &r.id == room_id) {
        room.unread_count = 0;
        if let Some(member) = room.members.iter_mut().find(|m| &m.user.id == me) {
            member.last_read_seq = member.last_read_seq.max(seq);
            member.last_delivered_seq = member.last_delivered_seq.max(seq);
        }
    }
}

/// A message in a line of the room list: its text, or what kind of media it holds (with the
/// caption, if any).
pub fn preview_text(message: &Message) -> String {
    let body = message.body.clone().filter(|b| !b.trim().is_empty());
    let label = match message.kind {
        MessageKind::Image => "Photo",
        MessageKind::Voice => "Voice message",
        MessageKind::Text | MessageKind::System => return body.unwrap_or_default(),
    };
    match body {
        Some(caption) => format!("{label}: {caption}"),
        None => label.to_owned(),
    }
}

/// The sum of unread counts, for the document title.
pub fn total_unread(rooms: &[Room]) -> u64 {
    rooms.iter().map(|r| r.unread_count).sum()
}

/// `HH:MM` in UTC of an RFC 3339 timestamp, and the day part for separators.
pub fn clock(ts: &str) -> &str {
    ts.get(11..16).unwrap_or("")
}

pub fn day(ts: &str) -> &str {
    ts.get(..10).unwrap_or("")
}

#[cfg(test)]
mod tests;
