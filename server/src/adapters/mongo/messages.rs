//! Messages, and how a room's messages are numbered.
//!
//! The sequencing argument. A room's `last_seq` lives on its room document. `append` runs one
//! multi-document transaction that (1) returns the sender's message if this `client_id` was
//! already used, else (2) bumps the room's `last_seq` with `$inc` and (3) inserts the message
//! with the new value. Taking the number and storing the message commit together or not at
//! all, so a failure in between (a crash, a lost connection, a duplicate key) rolls the bump
//! back and can never leave a gap. Two concurrent appends to one room both write the room
//! document: the server lets one transaction hold that write and fails the other with a write
//! conflict (`TransientTransactionError`); the driver's `and_run` then retries the loser from
//! the start on a fresh snapshot, where it reads the winner's `last_seq`. So each committed
//! value of `last_seq` is taken by exactly one message: no gaps, no repeats, and the unique
//! `(room_id, seq)` index would refuse a repeat even if this reasoning were wrong. The commit
//! is acknowledged by a majority (the client's write concern) before `append` returns.
//!
//! Idempotency. The unique `(sender_id, client_id)` index holds the "once for all time" rule.
//! A retry that arrives after the first send committed finds it in step (1). Concurrent
//! retries all pass step (1) and then conflict on the room document; the winner commits, and a
//! loser either finds the winner in step (1) when retried, or (had the snapshot missed it)
//! hits the duplicate key on insert, which aborts its bump; `append` then reads the stored
//! message and returns it as `Existing`.
//!
//! Changes. An `edit`, `delete` or `reaction` reads its target inside the same transaction
//! and writes it back changed (`ports::store::apply_change`), so two nodes changing one
//! message at once conflict on the target document and the loser is retried on the
//! winner's result: nothing is lost, and the change and its effect commit together.
//!
//! Search. The stand-in server of the tests (SecantusDB) has no `$text` operator and no
//! text indexes, so the store does not use them: each live text body or caption keeps its
//! words (`ports::store::search_words`) in `words`, a multikey index finds them, and a
//! query asks for every word, the last as a prefix. It is the same matching as the
//! embedded store's FTS5 table, on any MongoDB; what it lacks beside `$text` is stemming
//! and relevance ranking (hits come newest first, as the API asks).

use std::time::Duration;

use async_trait::async_trait;
use futures_util::{FutureExt, TryStreamExt};
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;
use mongodb::{ClientSession, Collection};
use protocol::{MessageId, MessageKind, Reaction, RoomId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use super::{MongoStore, is_duplicate_key, store_error, to_i64, to_u64};
use crate::ports::store::{
    Appended, ChangeRefusal, Content, Cursor, MediaFacts, MessageRecord, MessageStore, NewMessage,
    SearchFrom, SearchTerms, SideEffect, apply_change, search_words, searchable_text,
};

/// The longest an `append` may take, its wait for the room's turn and the driver's own
/// transaction retries included; past it the send answers `unavailable` (the driver's
/// default of retrying a transaction for 120 s held sends, and their rooms, that long).
const APPEND_DEADLINE: Duration = Duration::from_secs(5);

/// Aborts an `append` transaction whose media cannot be given to the room.
#[derive(Debug)]
struct MediaUnavailable;

/// Aborts an `append` transaction whose change its target cannot take.
#[derive(Debug)]
struct Refused(ChangeRefusal);
use crate::ports::{Conflict, PortError, PortResult};

/// A document of `messages`.
#[derive(Serialize, Deserialize)]
struct MessageDoc {
    #[serde(rename = "_id")]
    id: String,
    room_id: String,
    seq: i64,
    sender_id: String,
    client_id: String,
    kind: MessageKind,
    body: Option<String>,
    media: Option<MediaFacts>,
    reply_to: Option<String>,
    created_at: i64,
    #[serde(default)]
    relates_to: Option<String>,
    #[serde(default)]
    edited_at: Option<i64>,
    #[serde(default)]
    deleted_at: Option<i64>,
    #[serde(default)]
    reactions: Vec<Reaction>,
    #[serde(default)]
    mentions: Vec<String>,
    /// What search finds the message by: the words of its live body or caption.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    words: Vec<String>,
    /// Set while the message's `MessageStored` event is owed to the bus (the outbox);
    /// removed once the bus has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_event: Option<bool>,
}

impl MessageDoc {
    fn new(message: &NewMessage, seq: i64) -> Self {
        let mut doc = Self {
            id: message.id.0.clone(),
            room_id: message.room_id.0.clone(),
            seq,
            sender_id: message.sender_id.0.clone(),
            client_id: message.client_id.as_str().to_owned(),
            kind: message.content.kind(),
            body: message.content.body().map(str::to_owned),
            media: message.content.media().cloned(),
            reply_to: message.reply_to.as_ref().map(|id| id.0.clone()),
            created_at: message.created_at.as_millis(),
            relates_to: message.content.target().map(|id| id.0.clone()),
            edited_at: None,
            deleted_at: None,
            reactions: Vec::new(),
            mentions: message.mentions.iter().map(|id| id.0.clone()).collect(),
            words: Vec::new(),
            pending_event: Some(true),
        };
        doc.words = doc.search_words();
        doc
    }

    fn search_words(&self) -> Vec<String> {
        let shown = match self.kind {
            MessageKind::Text | MessageKind::Image if self.deleted_at.is_none() => {
                self.body.as_deref()
            }
            _ => None,
        };
        shown.map(search_words).unwrap_or_default()
    }

    fn into_record(self) -> MessageRecord {
        MessageRecord {
            id: MessageId(self.id),
            room_id: RoomId(self.room_id),
            seq: to_u64(self.seq),
            sender_id: UserId(self.sender_id),
            client_id: self.client_id,
            kind: self.kind,
            body: self.body,
            media: self.media,
            reply_to: self.reply_to.map(MessageId),
            created_at: Timestamp::from_millis(self.created_at),
            relates_to: self.relates_to.map(MessageId),
            edited_at: self.edited_at.map(Timestamp::from_millis),
            deleted_at: self.deleted_at.map(Timestamp::from_millis),
            reactions: self.reactions,
            mentions: self.mentions.into_iter().map(UserId).collect(),
        }
    }
}

/// What a change writes back to its target: every field a change may touch.
fn rewritten(target: &MessageRecord) -> mongodb::error::Result<Document> {
    let words = searchable_text(target)
        .map(search_words)
        .unwrap_or_default();
    let media = match &target.media {
        Some(media) => mongodb::bson::to_bson(media)?,
        None => Bson::Null,
    };
    let reactions = mongodb::bson::to_bson(&target.reactions)?;
    let mentions: Vec<&str> = target.mentions.iter().map(UserId::as_str).collect();
    Ok(doc! { "$set": {
        "body": target.body.as_deref(),
        "media": media,
        "reactions": reactions,
        "mentions": mentions,
        "words": words,
        "edited_at": target.edited_at.map(Timestamp::as_millis),
        "deleted_at": target.deleted_at.map(Timestamp::as_millis),
    } })
}

/// The unique key of a send: what a retry repeats.
fn send_key(message: &NewMessage) -> Document {
    doc! { "sender_id": message.sender_id.as_str(), "client_id": message.client_id.as_str() }
}

/// Messages stored before they kept their media's facts hold a copy of the API's `Media`,
/// URLs included, made with the `CONFAB_PUBLIC_URL` of the day: rewritten as facts. Only
/// such a copy has `media.url`, so running it again (every node does, at start) finds
/// nothing to do; a marker in `migrations` spares the scan once it has finished.
pub(super) async fn migrate_media_copies(store: &MongoStore) -> mongodb::error::Result<()> {
    const DONE: &str = "media_facts";
    let migrations = store.collection::<Document>("migrations");
    if migrations.find_one(doc! { "_id": DONE }).await?.is_some() {
        return Ok(());
    }
    let raw = store.collection::<Document>("messages");
    let mut copies = raw
        .find(doc! { "media.url": { "$exists": true } })
        .projection(doc! { "media": 1 })
        .await?;
    let mut count = 0_u64;
    while let Some(mut found) = copies.try_next().await? {
        let (Some(id), Some(Bson::Document(copy))) = (found.remove("_id"), found.remove("media"))
        else {
            continue;
        };
        let facts: MediaFacts = match mongodb::bson::from_document(copy) {
            Ok(facts) => facts,
            Err(err) => {
                // Left as it is (reads report it); one bad document must not stop a node.
                tracing::error!(message_id = %id, error = %err, "a stored media copy is unreadable");
                continue;
            }
        };
        // Only while it is still a copy: a delete on another node since the read above
        // emptied `media`, and must not get it back (nor be counted as rewritten).
        count += raw
            .update_one(
                doc! { "_id": id, "media.url": { "$exists": true } },
                doc! { "$set": { "media": mongodb::bson::to_bson(&facts)? } },
            )
            .await?
            .modified_count;
    }
    if count > 0 {
        tracing::info!(messages = count, "stored media copies rewritten as facts");
    }
    match migrations.insert_one(doc! { "_id": DONE }).await {
        Err(err) if !is_duplicate_key(&err) => Err(err),
        _ => Ok(()),
    }
}

impl MongoStore {
    fn messages(&self) -> Collection<MessageDoc> {
        self.collection("messages")
    }

    /// One attempt at `append`, inside the session's transaction; `None` when the room does
    /// not exist. The module comment has the ordering argument.
    async fn append_in(
        &self,
        session: &mut ClientSession,
        message: &NewMessage,
    ) -> mongodb::error::Result<Option<Appended>> {
        // No look-up of an earlier attempt first: the unique `(sender_id, client_id)` index
        // refuses a repeat's insert, which aborts the transaction (and its `last_seq` bump),
        // and `append` then answers with the stored message. A first send, by far the common
        // case, costs a round trip less.
        let messages = self.messages();
        let created_at = message.created_at.as_millis();
        let rooms = self.rooms_collection();
        let room = rooms
            .find_one_and_update(
                doc! { "_id": message.room_id.as_str() },
                doc! {
                    "$inc": { "last_seq": 1_i64 },
                    "$max": { "last_activity_at": created_at },
                },
            )
            .return_document(ReturnDocument::After)
            .session(&mut *session)
            .await?;
        let Some(room) = room else {
            return Ok(None);
        };
        if let Some(media) = message.content.media() {
            // The media goes to this room with the message, or the transaction (and the
            // bump above) is aborted.
            let claimed = self
                .collection::<Document>("media")
                .update_one(
                    doc! {
                        "_id": media.id.as_str(),
                        "ready": true,
                        "room_id": { "$in": [Bson::Null, message.room_id.as_str()] },
                    },
                    doc! { "$set": { "room_id": message.room_id.as_str() } },
                )
                .session(&mut *session)
                .await?;
            if claimed.matched_count == 0 {
                return Err(mongodb::error::Error::custom(MediaUnavailable));
            }
        }
        if message.content.target().is_some() {
            self.apply_in(session, message).await?;
        }
        let stored = MessageDoc::new(message, room.last_seq);
        messages.insert_one(&stored).session(&mut *session).await?;
        Ok(Some(Appended::Created(stored.into_record())))
    }

    /// Applies the change `message` to its target inside the append's transaction (the
    /// module comment says why that is safe under concurrency); a refusal aborts it.
    async fn apply_in(
        &self,
        session: &mut ClientSession,
        message: &NewMessage,
    ) -> mongodb::error::Result<()> {
        let refuse = |why| mongodb::error::Error::custom(Refused(why));
        let messages = self.messages();
        let Some(target_id) = message.content.target() else {
            return Err(refuse(ChangeRefusal::NoTarget));
        };
        let Some(target) = messages
            .find_one(doc! { "_id": target_id.as_str() })
            .session(&mut *session)
            .await?
        else {
            return Err(refuse(ChangeRefusal::NoTarget));
        };
        let mut target = target.into_record();
        let withdrawn =
            matches!(message.content, Content::Delete { .. }) && target.kind.is_content();
        let effect = apply_change(&mut target, message).map_err(refuse)?;
        messages
            .update_one(doc! { "_id": target.id.as_str() }, rewritten(&target)?)
            .session(&mut *session)
            .await?;
        if withdrawn {
            // The text of its edits goes with it.
            messages
                .update_many(
                    doc! { "relates_to": target.id.as_str(), "kind": "edit" },
                    doc! { "$set": { "body": Bson::Null } },
                )
                .session(&mut *session)
                .await?;
        }
        match effect {
            SideEffect::None => {}
            SideEffect::ReleaseMedia(media) => {
                let still_shown = messages
                    .count_documents(doc! {
                        "room_id": target.room_id.as_str(),
                        "_id": { "$ne": target.id.as_str() },
                        "deleted_at": Bson::Null,
                        "media.id": media.as_str(),
                    })
                    .session(&mut *session)
                    .await?;
                if still_shown == 0 {
                    // No message's any more: the media collector takes it (and its bytes).
                    self.collection::<Document>("media")
                        .update_one(
                            doc! { "_id": media.as_str() },
                            doc! { "$set": { "room_id": Bson::Null, "ready": false } },
                        )
                        .session(&mut *session)
                        .await?;
                }
            }
            SideEffect::RemoveReaction {
                target: on,
                emoji,
                user,
            } => {
                let reacted = messages
                    .find_one(doc! { "_id": on.as_str() })
                    .session(&mut *session)
                    .await?;
                if let Some(reacted) = reacted {
                    let mut reacted = reacted.into_record();
                    if reacted.remove_reaction(&emoji, &user) {
                        messages
                            .update_one(doc! { "_id": on.as_str() }, rewritten(&reacted)?)
                            .session(&mut *session)
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn append_once(&self, message: &NewMessage) -> PortResult<Appended> {
        let mut session = self.client.start_session().await.map_err(store_error)?;
        let appended = session
            .start_transaction()
            .and_run((self, message), |session, (store, message)| {
                let (store, message) = (*store, *message);
                async move { store.append_in(session, message).await }.boxed()
            })
            .await;
        match appended {
            Ok(Some(appended)) => Ok(appended),
            Ok(None) => Err(PortError::Other(anyhow::anyhow!(
                "append to a missing room"
            ))),
            Err(err) if err.get_custom::<MediaUnavailable>().is_some() => {
                Err(PortError::Conflict(Conflict::MediaUnavailable))
            }
            // A retried change finds its first attempt's effect (a reaction already there,
            // a target already deleted): the first attempt is the answer.
            Err(err) if err.get_custom::<Refused>().is_some() => {
                match self.stored_send(message).await? {
                    Some(first) => Ok(Appended::Existing(first)),
                    None => match err.get_custom::<Refused>() {
                        Some(Refused(why)) => Err(PortError::ChangeRefused(*why)),
                        None => Err(store_error(err)),
                    },
                }
            }
            // This send was stored before (a retry), or a concurrent retry of it won the
            // race: the unique index refused the insert, and the first one is the answer.
            Err(err) if is_duplicate_key(&err) => match self.stored_send(message).await? {
                Some(first) => Ok(Appended::Existing(first)),
                None => Err(store_error(err)),
            },
            Err(err) => Err(store_error(err)),
        }
    }

    /// The message stored for this send, if any.
    async fn stored_send(&self, message: &NewMessage) -> PortResult<Option<MessageRecord>> {
        let found = self
            .messages()
            .find_one(send_key(message))
            .await
            .map_err(store_error)?;
        Ok(found.map(MessageDoc::into_record))
    }
}

#[async_trait]
impl MessageStore for MongoStore {
    async fn append(&self, message: &NewMessage) -> PortResult<Appended> {
        // One transaction per room at a time from this node: concurrent sends to one room
        // would otherwise conflict on its `last_seq` and retry each other, which under load
        // turned into minutes of retries. Only other nodes' sends can conflict now.
        let lock = self.room_lock(&message.room_id);
        let appended = tokio::time::timeout(APPEND_DEADLINE, async {
            let _turn = lock.lock().await;
            self.append_once(message).await
        })
        .await;
        appended.unwrap_or(Err(PortError::Unavailable("mongodb")))
    }

    async fn page(
        &self,
        room: &RoomId,
        cursor: Cursor,
        limit: u32,
    ) -> PortResult<(Vec<MessageRecord>, bool)> {
        // Each page is one range scan of the `(room_id, seq)` index, walked away from the
        // cursor; one extra message tells whether more lie beyond the page.
        let (filter, order) = match cursor {
            Cursor::Latest => (doc! { "room_id": room.as_str() }, -1),
            Cursor::Before(seq) => (
                doc! { "room_id": room.as_str(), "seq": { "$lt": to_i64(seq) } },
                -1,
            ),
            Cursor::After(seq) => (
                doc! { "room_id": room.as_str(), "seq": { "$gt": to_i64(seq) } },
                1,
            ),
        };
        let mut messages: Vec<MessageRecord> = self
            .messages()
            .find(filter)
            .sort(doc! { "seq": order })
            .limit(i64::from(limit) + 1)
            .await
            .map_err(store_error)?
            .map_ok(MessageDoc::into_record)
            .try_collect()
            .await
            .map_err(store_error)?;
        let has_more = messages.len() > limit as usize;
        messages.truncate(limit as usize);
        if order < 0 {
            messages.reverse();
        }
        Ok((messages, has_more))
    }

    async fn message(&self, id: &MessageId) -> PortResult<Option<MessageRecord>> {
        let found = self
            .messages()
            .find_one(doc! { "_id": id.as_str() })
            .await
            .map_err(store_error)?;
        Ok(found.map(MessageDoc::into_record))
    }

    async fn messages(&self, ids: &[MessageId]) -> PortResult<Vec<MessageRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = ids.iter().map(MessageId::as_str).collect();
        self.messages()
            .find(doc! { "_id": { "$in": ids } })
            .await
            .map_err(store_error)?
            .map_ok(MessageDoc::into_record)
            .try_collect()
            .await
            .map_err(store_error)
    }

    async fn search(
        &self,
        rooms: &[RoomId],
        terms: &SearchTerms,
        from: &SearchFrom,
        limit: u32,
    ) -> PortResult<(Vec<MessageRecord>, bool)> {
        if rooms.is_empty() {
            return Ok((Vec::new(), false));
        }
        let rooms: Vec<&str> = rooms.iter().map(RoomId::as_str).collect();
        // Words are letters and digits only (`search_words`): nothing in the prefix is a
        // regular-expression operator.
        let mut all: Vec<Document> = terms.words.iter().map(|w| doc! { "words": w }).collect();
        all.push(doc! { "words": { "$regex": format!("^{}", terms.prefix) } });
        let mut filter = doc! {
            "room_id": { "$in": rooms },
            "deleted_at": Bson::Null,
            "$and": all,
        };
        let order = match from {
            SearchFrom::Newest => doc! { "_id": -1 },
            SearchFrom::BeforeSeq(seq) => {
                filter.insert("seq", doc! { "$lt": to_i64(*seq) });
                doc! { "seq": -1 }
            }
            SearchFrom::BeforeId(id) => {
                filter.insert("_id", doc! { "$lt": id.as_str() });
                doc! { "_id": -1 }
            }
        };
        let mut messages: Vec<MessageRecord> = self
            .messages()
            .find(filter)
            .sort(order)
            .limit(i64::from(limit) + 1)
            .await
            .map_err(store_error)?
            .map_ok(MessageDoc::into_record)
            .try_collect()
            .await
            .map_err(store_error)?;
        let has_more = messages.len() > limit as usize;
        messages.truncate(limit as usize);
        Ok((messages, has_more))
    }

    async fn count_unread(
        &self,
        room: &RoomId,
        reader: &UserId,
        after_seq: u64,
        up_to_seq: u64,
    ) -> PortResult<u64> {
        self.messages()
            .count_documents(doc! {
                "room_id": room.as_str(),
                "seq": { "$gt": to_i64(after_seq), "$lte": to_i64(up_to_seq) },
                "sender_id": { "$ne": reader.as_str() },
                "kind": { "$in": ["text", "image", "voice"] },
            })
            .await
            .map_err(store_error)
    }

    async fn unpublished(
        &self,
        stored_by: Timestamp,
        limit: u32,
    ) -> PortResult<Vec<MessageRecord>> {
        self.messages()
            .find(doc! {
                "pending_event": true,
                "created_at": { "$lte": stored_by.as_millis() },
            })
            .sort(doc! { "created_at": 1 })
            .limit(i64::from(limit))
            .await
            .map_err(store_error)?
            .map_ok(MessageDoc::into_record)
            .try_collect()
            .await
            .map_err(store_error)
    }

    async fn mark_published(&self, ids: &[MessageId]) -> PortResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = ids.iter().map(|id| id.0.as_str()).collect();
        // In a transaction of its own: a message that an edit or a reaction is rewriting
        // meanwhile then conflicts at once, and the outbox marks it next round. A plain
        // multi-document update would wait for that transaction instead, and the
        // MongoDB-wire stand-in (SecantusDB 0.7) holds the collection while it waits, so
        // the transaction's next write, and then the whole server, waits forever.
        let mut session = self.client.start_session().await.map_err(store_error)?;
        session.start_transaction().await.map_err(store_error)?;
        let marked = self
            .messages()
            .update_many(
                doc! { "_id": { "$in": ids } },
                doc! { "$unset": { "pending_event": "" } },
            )
            .session(&mut session)
            .await;
        match marked {
            Ok(_) => session.commit_transaction().await.map_err(store_error),
            Err(err) => {
                let _ = session.abort_transaction().await;
                Err(store_error(err))
            }
        }
    }
}
