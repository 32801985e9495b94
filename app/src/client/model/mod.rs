//! Pure chat state rules, free of any browser API so they are unit-tested natively: merging
//! messages without duplicates, room ordering and unread counts, and the status of one's own
//! messages from the members' receipt markers.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::client::case;
use crate::protocol::{
    CreatedMedia, MediaKind, Message, MessageId, MessageKind, ReceiptEvent, ReceiptKind,
    ReplyPreview, Room, RoomId, RoomKind, User, UserId,
};

/// What the client holds of one room's history: messages by `seq`, so a message that arrives
/// twice (ack, `message:new`, `sync`, history page) is stored once.
///
/// Edits, deletions and reactions are messages of the stream too (API.md v1.1), folded into
/// the messages they change. Each change sets a value (a body, a reaction of one person, a
/// deletion that nothing undoes), so replaying, in `seq` order, every change from some point
/// on gives the right state whatever part of them a message already showed: a page from the
/// server shows its messages as they are now, and a change that fills a gap arrives after
/// later ones. So whenever changes arrive, every held change from the earliest of them on
/// is applied again, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoomLog {
    pub messages: BTreeMap<u64, Message>,
    /// Older messages exist on the server before the first one held here.
    pub has_more_before: bool,
    /// The newest page has been fetched at least once.
    pub loaded: bool,
    /// The `seq` of each held message, by id (changes name their target by id).
    by_id: HashMap<MessageId, u64>,
}

impl RoomLog {
    /// Adds messages, ignoring any already held, and folds in the changes among them;
    /// answers whether anything was new.
    pub fn merge(&mut self, messages: impl IntoIterator<Item = Message>) -> bool {
        let mut changed = false;
        let mut replay_from: Option<u64> = None;
        for message in messages {
            if let std::collections::btree_map::Entry::Vacant(slot) =
                self.messages.entry(message.seq)
            {
                if message.kind.is_change() {
                    replay_from = Some(replay_from.map_or(message.seq, |s| s.min(message.seq)));
                }
                self.by_id.insert(message.id.clone(), message.seq);
                slot.insert(message);
                changed = true;
            }
        }
        if let Some(from) = replay_from {
            let changes: Vec<Message> = self
                .messages
                .range(from..)
                .map(|(_, m)| m)
                .filter(|m| m.kind.is_change())
                .cloned()
                .collect();
            for change in &changes {
                self.fold(change);
            }
        }
        changed
    }

    /// A held message by id.
    pub fn get(&self, id: &MessageId) -> Option<&Message> {
        self.messages.get(self.by_id.get(id)?)
    }

    fn get_mut(&mut self, id: &MessageId) -> Option<&mut Message> {
        let seq = *self.by_id.get(id)?;
        self.messages.get_mut(&seq)
    }

    /// Applies one change to its target, if the target is held; replies held here then
    /// quote the target as it is now (edited, or gone).
    fn fold(&mut self, change: &Message) {
        let Some(target_id) = &change.relates_to else {
            return;
        };
        if change.kind == MessageKind::Reaction && change.deleted_at.is_some() {
            // Taken back later: its delete, after it in the stream, would remove it again.
            return;
        }
        let Some(target) = self.get_mut(target_id) else {
            return;
        };
        target.apply(change);
        let taken_back = (change.kind == MessageKind::Delete
            && target.kind == MessageKind::Reaction)
            .then(|| {
                (
                    target.relates_to.clone(),
                    target.body.clone(),
                    target.sender_id.clone(),
                )
            });
        let requote = matches!(change.kind, MessageKind::Edit | MessageKind::Delete)
            .then(|| ReplyPreview::of(target));
        if let Some(preview) = requote {
            for reply in self.messages.values_mut() {
                if reply.reply_to.as_ref() == Some(target_id) {
                    reply.reply_preview.clone_from(&preview);
                }
            }
        }
        if let Some((Some(on), Some(emoji), user)) = taken_back
            && let Some(reacted) = self.get_mut(&on)
        {
            reacted.remove_reaction(&emoji, &user);
        }
    }

    /// `user`'s live reaction with `emoji` on `target`: the message to delete to take it back.
    pub fn own_reaction(&self, target: &MessageId, user: &UserId, emoji: &str) -> Option<&Message> {
        self.messages.values().rev().find(|m| {
            m.kind == MessageKind::Reaction
                && m.deleted_at.is_none()
                && m.relates_to.as_ref() == Some(target)
                && &m.sender_id == user
                && m.body.as_deref() == Some(emoji)
        })
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
    /// The message this one answers.
    #[serde(default)]
    pub reply_to: Option<MessageId>,
    /// An edit, delete or reaction (its `body` is the new text or the emoji): sent through
    /// the outbox like a message, so it is retried with its `client_id` too, but never
    /// shown as a message of its own.
    #[serde(default)]
    pub change: Option<PendingChange>,
}

/// What a pending change does, and to which message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChange {
    pub kind: MessageKind,
    pub relates_to: MessageId,
}

impl Pending {
    /// A text to send to `room_id` with this `client_id`: nothing failed, no media, no reply,
    /// not a change (set those with struct update syntax).
    pub fn text(room_id: RoomId, client_id: String, body: String) -> Self {
        Self {
            room_id,
            client_id,
            body,
            failed: None,
            media: None,
            reply_to: None,
            change: None,
        }
    }

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

/// The picture a room shows in the list: the group's, or for a direct room the other
/// person's.
pub fn room_picture(room: &Room, me: &UserId) -> Option<String> {
    match room.kind {
        RoomKind::Group => room.avatar_url.clone(),
        RoomKind::Direct => peer(room, me)?.avatar_url.clone(),
    }
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
    if &message.sender_id != me && !looking && message.kind.is_content() {
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
    if message.deleted_at.is_some() {
        return "Message deleted".to_owned();
    }
    let label = match message.kind {
        MessageKind::Image => "Photo",
        MessageKind::Voice => "Voice message",
        MessageKind::Text | MessageKind::System => return body.unwrap_or_default(),
        MessageKind::Edit => return format!("Edited: {}", body.unwrap_or_default()),
        MessageKind::Delete => return "Deleted a message".to_owned(),
        MessageKind::Reaction => return format!("Reacted {}", body.unwrap_or_default()),
    };
    match body {
        Some(caption) => format!("{label}: {caption}"),
        None => label.to_owned(),
    }
}

/// A piece of a message's text as the log shows it: plain text, a link (http and https
/// only), or a mention of a member. Nothing else in a body is ever markup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Text(String),
    Link(String),
    Mention(String),
}

/// Cuts `body` into [`Segment`]s; `usernames` are the room's members (lower case), so only
/// a real member's `@name` is highlighted.
pub fn segments(body: &str, usernames: &[String]) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let mut text = String::new();
    let mut rest = body;
    while !rest.is_empty() {
        let at_word_start = text
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let link_len = (rest.starts_with("https://") || rest.starts_with("http://"))
            .then(|| link_length(rest))
            .filter(|&n| n > rest.find("://").unwrap_or(0) + 3);
        let mention_len = (at_word_start && rest.starts_with('@'))
            .then(|| mention_length(&rest[1..], usernames))
            .flatten();
        let (segment, len) = match (link_len, mention_len) {
            (Some(n), _) if at_word_start => (Segment::Link(rest[..n].to_owned()), n),
            (_, Some(n)) => (Segment::Mention(rest[..n + 1].to_owned()), n + 1),
            _ => {
                let c = rest.chars().next().unwrap_or_default();
                text.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            }
        };
        if !text.is_empty() {
            out.push(Segment::Text(std::mem::take(&mut text)));
        }
        out.push(segment);
        rest = &rest[len..];
    }
    if !text.is_empty() {
        out.push(Segment::Text(text));
    }
    out
}

/// A link runs to the next space or angle bracket or quote, without the punctuation that
/// ends a sentence.
fn link_length(text: &str) -> usize {
    let end = text
        .find(|c: char| c.is_whitespace() || "<>\"'".contains(c))
        .unwrap_or(text.len());
    text[..end]
        .trim_end_matches(['.', ',', ';', ':', '!', '?', ')'])
        .len()
}

/// The length of a member's username at the start of `text`, if one is named there.
fn mention_length(text: &str, usernames: &[String]) -> Option<usize> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || "_.-".contains(c)))
        .unwrap_or(text.len());
    let name = text[..end].trim_end_matches(['.', '-']);
    usernames
        .iter()
        .any(|u| u.eq_ignore_ascii_case(name))
        .then_some(name.len())
}

/// The words of a search as the server splits them: lower case, cut at everything that is
/// not a letter or digit.
pub fn search_words(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(case::lower)
        .collect()
}

/// `text` cut into pieces, each marked when it is a word that starts with one of `words`
/// (the search's words), so a hit shows why it matched.
pub fn highlight(text: &str, words: &[String]) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    let mut push = |piece: &str, hit: bool| match out.last_mut() {
        Some((last, was)) if *was == hit => last.push_str(piece),
        _ => out.push((piece.to_owned(), hit)),
    };
    let mut word_start: Option<usize> = None;
    let flush = |from: usize, to: usize, push: &mut dyn FnMut(&str, bool)| {
        let word = &text[from..to];
        let lower = case::lower(word);
        push(word, words.iter().any(|w| lower.starts_with(w.as_str())));
    };
    for (at, c) in text.char_indices() {
        if c.is_alphanumeric() {
            word_start.get_or_insert(at);
            continue;
        }
        if let Some(from) = word_start.take() {
            flush(from, at, &mut push);
        }
        push(&text[at..at + c.len_utf8()], false);
    }
    if let Some(from) = word_start {
        flush(from, text.len(), &mut push);
    }
    out
}

/// The start of a member's name being typed at the end of `text` (`hi @al` gives `al`), if
/// the text ends in an `@` that starts a word and at most 32 name characters.
pub fn mention_query(text: &str) -> Option<&str> {
    let at = text.rfind('@')?;
    let name = &text[at + 1..];
    let starts_word = text[..at]
        .chars()
        .next_back()
        .is_none_or(char::is_whitespace);
    let name_like = name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    (starts_word && name_like).then_some(name)
}

/// Members of `room` (not `me`) whose username or display name starts with `prefix`, as
/// `(username, display name)`, at most six, in the room's order.
pub fn mention_candidates(room: &Room, me: Option<&UserId>, prefix: &str) -> Vec<(String, String)> {
    let prefix = case::lower(prefix);
    room.members
        .iter()
        .map(|m| &m.user)
        .filter(|u| Some(&u.id) != me)
        .filter(|u| {
            u.username.starts_with(&prefix) || case::lower(&u.display_name).starts_with(&prefix)
        })
        .take(6)
        .map(|u| (u.username.clone(), u.display_name.clone()))
        .collect()
}

/// Replaces the `@name` being typed at the end of `text` with the whole `@username `.
pub fn complete_mention(text: &mut String, username: &str) {
    if mention_query(text).is_some()
        && let Some(at) = text.rfind('@')
    {
        text.truncate(at);
        text.push('@');
        text.push_str(username);
        text.push(' ');
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

/// Days since 1970-01-01 of a `YYYY-MM-DD` day (the proleptic Gregorian calendar).
fn day_number(day: &str) -> Option<i64> {
    let mut parts = day.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

/// What a day separator says: "Today", "Yesterday", the weekday within the last week, else
/// the date (`28 Nov 2026`). Both days are the user's local `YYYY-MM-DD`.
pub fn day_label(day: &str, today: &str) -> String {
    const WEEKDAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (Some(n), Some(now)) = (day_number(day), day_number(today)) else {
        return day.to_owned();
    };
    match now - n {
        0 => "Today".to_owned(),
        1 => "Yesterday".to_owned(),
        2..=6 => WEEKDAYS[n.rem_euclid(7) as usize].to_owned(),
        _ => {
            let month = day
                .get(5..7)
                .and_then(|m| m.parse::<usize>().ok())
                .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
                .copied()
                .unwrap_or_default();
            let date = day.get(8..10).unwrap_or_default().trim_start_matches('0');
            format!("{date} {month} {}", day.get(..4).unwrap_or_default())
        }
    }
}

pub fn day(ts: &str) -> &str {
    ts.get(..10).unwrap_or("")
}

#[cfg(test)]
mod tests;
