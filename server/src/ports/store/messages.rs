//! Messages as the stores keep them: what a new message says ([`Content`]), what a stored
//! one holds ([`MessageRecord`], its media as [`MediaFacts`]), the rules of a change
//! ([`apply_change`]) and search, which both stores share, and the [`MessageStore`] port.

use async_trait::async_trait;
use protocol::{MediaId, MediaKind, MessageId, MessageKind, Reaction, RoomId, Timestamp, UserId};

use super::MediaRecord;
use crate::domain::{ClientId, Emoji, MessageBody};
use crate::ports::PortResult;

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
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "JournaledMessage")]
pub struct NewMessage {
    pub id: MessageId,
    pub room_id: RoomId,
    pub sender_id: UserId,
    pub client_id: ClientId,
    /// An image or voice message's media: `append` gives the media to the message's room
    /// in the same step, or refuses with
    /// [`Conflict::MediaUnavailable`](crate::ports::Conflict::MediaUnavailable). An `edit`,
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
/// upgrade.
#[derive(serde::Deserialize)]
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

/// [`JournaledMessage`]'s fields, borrowed from the send: no intermediate copy to write it.
#[derive(serde::Serialize)]
struct JournaledView<'a> {
    id: &'a MessageId,
    room_id: &'a RoomId,
    sender_id: &'a UserId,
    client_id: &'a str,
    kind: MessageKind,
    body: Option<&'a str>,
    media: Option<&'a MediaFacts>,
    reply_to: Option<&'a MessageId>,
    created_at: Timestamp,
    relates_to: Option<&'a MessageId>,
    mentions: &'a [UserId],
    moderator: bool,
}

impl serde::Serialize for NewMessage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        JournaledView {
            id: &self.id,
            room_id: &self.room_id,
            sender_id: &self.sender_id,
            client_id: self.client_id.as_str(),
            kind: self.content.kind(),
            body: self.content.body(),
            media: self.content.media(),
            reply_to: self.reply_to.as_ref(),
            created_at: self.created_at,
            relates_to: self.content.target(),
            mentions: &self.mentions,
            moderator: self.moderator,
        }
        .serialize(serializer)
    }
}

impl TryFrom<JournaledMessage> for NewMessage {
    type Error = String;

    /// Only the shape is checked: a part the kind needs must be there. The values were
    /// checked when the send was taken, and are not checked again (see
    /// `MessageBody::checked_before`).
    fn try_from(stored: JournaledMessage) -> Result<Self, String> {
        let kind = stored.kind;
        let missing = |part: &str| format!("a journaled {kind:?} without its {part}");
        let body = || stored.body.clone().ok_or_else(|| missing("body"));
        let target = || stored.relates_to.clone().ok_or_else(|| missing("target"));
        let media = || stored.media.clone().ok_or_else(|| missing("media"));
        let content = match kind {
            MessageKind::Text => Content::Text(MessageBody::checked_before(body()?)),
            MessageKind::Image => Content::Image {
                media: media()?,
                caption: stored.body.clone().map(MessageBody::checked_before),
            },
            MessageKind::Voice => Content::Voice(media()?),
            MessageKind::System => Content::System(body()?),
            MessageKind::Edit => Content::Edit {
                target: target()?,
                body: MessageBody::checked_before(body()?),
            },
            MessageKind::Delete => Content::Delete { target: target()? },
            MessageKind::Reaction => Content::Reaction {
                target: target()?,
                emoji: Emoji::checked_before(body()?),
            },
        };
        Ok(Self {
            client_id: ClientId::checked_before(stored.client_id),
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
        let no_target = old.replace(r#""kind":"image","body""#, r#""kind":"delete","body""#);
        assert!(serde_json::from_str::<NewMessage>(&no_target).is_err());
        // An acknowledged send replays even if a rule has since become stricter.
        let long = "x".repeat(5000);
        let text = old.replace(
            r#""kind":"image","body":"look""#,
            &format!(r#""kind":"text","body":"{long}""#),
        );
        let read: NewMessage = serde_json::from_str(&text).expect("replays as it was taken");
        assert_eq!(read.content.body(), Some(long.as_str()));
    }
}
