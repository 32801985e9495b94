//! Sending and reading messages: sequencing and idempotency live in the store's `append`;
//! here are the rules around it (who may send what) and what follows a send.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use protocol::{
    HistoryQuery, MediaId, Message, MessageId, MessageKind, MessagePage, ReceiptEvent,
    ReceiptRequest, ReplyPreview, RoomId, SendMessageRequest, SyncRequest, SyncResponse, Timestamp,
    UserId,
};

use super::Chat;
use crate::domain::{ClientId, Emoji, MessageBody, mentioned_usernames, new_id};
use crate::error::{Error, Result};
use crate::ports::store::{Appended, ChangeRefusal, Content, Cursor, MessageRecord, NewMessage};

/// History page size when the client names none, and the most it may ask for.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;
/// `sync`: the most rooms one call may name, and messages per room in the answer (the client
/// asks again from the last `seq` while `has_more`).
const MAX_SYNC_ROOMS: usize = 500;
const SYNC_PAGE: u32 = 100;
/// The longest a message waits for another node to deliver the one before it: far above a
/// healthy node's store-to-broadcast time, short enough that a dead node's gap costs little.
const TURN_WAIT: Duration = Duration::from_millis(250);

/// A send's parts, checked by the rules of its kind (API.md, v1 and v1.1) before anything
/// is looked up; the media of an image or voice message comes after (`Chat::content`).
enum Draft {
    Text(MessageBody),
    Image(Option<MessageBody>),
    Voice,
    Edit(MessageId, MessageBody),
    Delete(MessageId),
    Reaction(MessageId, Emoji),
}

fn draft(request: &SendMessageRequest) -> Result<Draft> {
    let kind = request.kind;
    if request.media_id.is_some() && !matches!(kind, MessageKind::Image | MessageKind::Voice) {
        return Err(Error::BadRequest(
            "only an image or voice message carries a media_id".into(),
        ));
    }
    let target = match (kind.is_change(), &request.relates_to, &request.reply_to) {
        (true, Some(_), Some(_)) => {
            return Err(Error::BadRequest(
                "an edit, delete or reaction is not a reply".into(),
            ));
        }
        (false, Some(_), _) => {
            return Err(Error::BadRequest(
                "relates_to is only for an edit, delete or reaction".into(),
            ));
        }
        (_, target, _) => target.clone(),
    };
    let body = request.body.as_deref();
    let blank = body.is_none_or(|b| b.trim().is_empty());
    Ok(match (kind, target) {
        (MessageKind::Edit | MessageKind::Delete | MessageKind::Reaction, None) => {
            return Err(Error::BadRequest(
                "an edit, delete or reaction needs relates_to".into(),
            ));
        }
        (MessageKind::Text, _) => {
            Draft::Text(MessageBody::parse(body.ok_or_else(|| {
                Error::BadRequest("a text message needs a body".into())
            })?)?)
        }
        (MessageKind::Edit, Some(target)) => Draft::Edit(
            target,
            MessageBody::parse(body.ok_or_else(|| {
                Error::BadRequest("an edit needs the new text as its body".into())
            })?)?,
        ),
        // A caption is optional.
        (MessageKind::Image, _) if blank => Draft::Image(None),
        (MessageKind::Image, _) => {
            Draft::Image(Some(MessageBody::parse(body.unwrap_or_default())?))
        }
        (MessageKind::Voice, _) if !blank => {
            return Err(Error::BadRequest("a voice message has no body".into()));
        }
        (MessageKind::Delete, _) if !blank => {
            return Err(Error::BadRequest("a delete has no body".into()));
        }
        (MessageKind::Voice, _) => Draft::Voice,
        (MessageKind::Delete, Some(target)) => Draft::Delete(target),
        (MessageKind::Reaction, Some(target)) => {
            Draft::Reaction(target, Emoji::parse(body.unwrap_or_default())?)
        }
        (MessageKind::System, _) => {
            return Err(Error::BadRequest(
                "system messages are written by the server".into(),
            ));
        }
    })
}

/// What a client hears when the store refuses a change.
impl From<ChangeRefusal> for Error {
    fn from(refusal: ChangeRefusal) -> Self {
        match refusal {
            ChangeRefusal::NoTarget => {
                Error::BadRequest("relates_to must be a message of this room".into())
            }
            ChangeRefusal::NotAllowed => Error::Forbidden(
                "only its sender may edit a message or take back a reaction, and only its sender or an owner or admin may delete it",
            ),
            ChangeRefusal::NotChangeable => Error::BadRequest(
                "that message cannot take this change: it is deleted, is itself an edit, delete or reaction, or (for an edit) is not a text or caption"
                    .into(),
            ),
            ChangeRefusal::DuplicateReaction => {
                Error::Conflict("you already reacted to this message with this emoji")
            }
        }
    }
}

/// The cache version holding the highest `seq` of a room handed to live delivery.
fn stream_position_key(room: &RoomId) -> String {
    crate::domain::key("delivered:", &room.0)
}

impl Chat {
    /// Sends a message. A repeat of `(sender, client_id)` returns the first message and
    /// `false`; nothing new is stored or delivered then. When this returns, the message is
    /// durable.
    ///
    /// The send runs on a task of its own: a caller that goes away (an HTTP client hanging
    /// up) cannot cut it off between storing the message and handing it to live delivery.
    pub async fn send(
        self: &Arc<Self>,
        sender: &UserId,
        room: &RoomId,
        request: SendMessageRequest,
    ) -> Result<(Message, bool)> {
        self.send_then(sender, room, request, |_| {}).await
    }

    /// [`Chat::send`], calling `stored` with the message as soon as it is durable (the new
    /// one, or the one a repeat finds), before live delivery: a socket acknowledges there,
    /// so its ack and its own `message:new` leave together.
    pub async fn send_then(
        self: &Arc<Self>,
        sender: &UserId,
        room: &RoomId,
        request: SendMessageRequest,
        stored: impl FnOnce(&Message) + Send + 'static,
    ) -> Result<(Message, bool)> {
        let (chat, sender, room) = (Arc::clone(self), sender.clone(), room.clone());
        let send = self
            .inflight
            .track_future(async move { chat.send_tracked(&sender, &room, request, stored).await });
        tokio::spawn(send)
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("send task failed: {e}")))?
    }

    async fn send_tracked(
        &self,
        sender: &UserId,
        room: &RoomId,
        request: SendMessageRequest,
        stored: impl FnOnce(&Message),
    ) -> Result<(Message, bool)> {
        let received = std::time::Instant::now();
        let limits = &self.settings.limits;
        let key = crate::domain::key("send:user:", &sender.0);
        self.rate_limit("send", &key, limits.sends_per_user, limits.send_window)
            .await?;
        let client_id = ClientId::parse(&request.client_id)?;
        let draft = draft(&request)?;
        self.check_member(sender, room).await?;
        let reply_preview = match &request.reply_to {
            Some(reply_to) => self.check_reply_target(room, reply_to).await?,
            None => None,
        };
        let content = self
            .content(sender, draft, request.media_id.as_ref())
            .await?;
        // Only a delete may take someone else's message, and only an owner's or admin's.
        let moderator = matches!(content, Content::Delete { .. })
            && self.membership(sender, room).await?.1.role.can_manage();
        let mentions = match &content {
            Content::Text(body)
            | Content::Image {
                caption: Some(body),
                ..
            }
            | Content::Edit { body, .. } => self.mentioned_members(room, body.as_str()).await?,
            _ => Vec::new(),
        };
        let new = NewMessage {
            id: MessageId(new_id()),
            room_id: room.clone(),
            sender_id: sender.clone(),
            client_id,
            content,
            reply_to: request.reply_to,
            created_at: Timestamp::now(),
            mentions,
            moderator,
        };
        // The ticket is taken before the store assigns `seq`: see `delivery`.
        let ticket = self.delivery.ticket(room);
        let outcome = match self.ports.messages.append(&new).await {
            Ok(Appended::Created(record)) => {
                let mut message = self.message_view(record);
                crate::metrics::HOT
                    .durable
                    .observe(crate::metrics::seconds(received.elapsed()));
                message.reply_preview = reply_preview;
                stored(&message);
                ticket.stored(message.clone());
                self.deliver_ready(room).await;
                self.publish_stored(&message);
                return Ok((message, true));
            }
            Ok(Appended::Existing(record)) if record.room_id != *room => Err(Error::Conflict(
                "this client_id was already used for a message in another room",
            )),
            Ok(Appended::Existing(record)) => {
                let message = self
                    .quoted(vec![self.message_view(record)])
                    .await?
                    .remove(0);
                stored(&message);
                self.deliver_if_missed(&message).await;
                Ok((message, false))
            }
            Err(err) => Err(err.into()),
        };
        // Nothing new to deliver, but messages may have waited on this ticket.
        drop(ticket);
        self.deliver_ready(room).await;
        outcome
    }

    /// A `system` message from `actor` saying what changed in the room, stored and
    /// delivered like any message, in the room's order. The change it reports has
    /// happened already: a failure here is logged, and the change stands.
    pub(crate) async fn system_message(&self, room: &RoomId, actor: &UserId, body: String) {
        let new = NewMessage {
            id: MessageId(new_id()),
            room_id: room.clone(),
            sender_id: actor.clone(),
            client_id: ClientId::random(),
            content: Content::System(body),
            reply_to: None,
            created_at: Timestamp::now(),
            mentions: Vec::new(),
            moderator: false,
        };
        let ticket = self.delivery.ticket(room);
        match self.ports.messages.append(&new).await {
            Ok(Appended::Created(record)) => {
                let message = self.message_view(record);
                ticket.stored(message.clone());
                self.deliver_ready(room).await;
                self.publish_stored(&message);
                return;
            }
            Ok(Appended::Existing(_)) => {}
            Err(err) => tracing::warn!(error = %err, room_id = %room, "system message not stored"),
        }
        drop(ticket);
        self.deliver_ready(room).await;
    }

    /// Hands this node's stored messages of `room` to live delivery, in `seq` order, as far
    /// as they may go (see `delivery`); another task may be doing it already.
    async fn deliver_ready(&self, room: &RoomId) {
        let mut continuing = false;
        while let Some(batch) = self.delivery.take_ready(room, continuing) {
            if batch.is_empty() {
                // Held back for a send of ours still in flight? Not if the message before
                // the first one held has been delivered already, by this node or another.
                match self.delivery.held_back(room) {
                    Some(held) if self.stream_position(room).await.unwrap_or(0) + 1 >= held => {
                        self.delivery.release_through(room, held);
                        continuing = false;
                        continue;
                    }
                    _ => break,
                }
            }
            continuing = true;
            for (message, follows_ours) in &batch {
                if !follows_ours {
                    self.wait_for_turn(message).await;
                }
                self.deliver_live(message).await;
                self.passed_turn(message).await;
            }
        }
    }

    /// The highest `seq` of `room` handed to live delivery by any node (0: never recorded).
    async fn stream_position(&self, room: &RoomId) -> Result<u64> {
        Ok(self.ports.cache.version(&stream_position_key(room)).await?)
    }

    /// Whether the room's stream position says `message` never reached live delivery;
    /// `None` when the cache cannot say.
    async fn never_delivered(&self, message: &Message) -> Option<bool> {
        let delivered = self.stream_position(&message.room_id).await.ok()?;
        Some(delivered < message.seq)
    }

    /// Waits, at most `TURN_WAIT`, until the message before `message` has been handed to
    /// live delivery by whichever node stored it, so the broadcasts of one room leave in
    /// `seq` order from every node (the Redis adapter then keeps that order). Only a
    /// message that does not follow one of this node's own waits at all. A position never
    /// recorded (a fresh cache, one node) or a cache that cannot answer means no wait: a
    /// client heals any order it then sees with `sync`.
    async fn wait_for_turn(&self, message: &Message) {
        let deadline = tokio::time::Instant::now() + TURN_WAIT;
        let mut pause = Duration::from_micros(200);
        loop {
            match self.stream_position(&message.room_id).await {
                Ok(delivered) if delivered == 0 || delivered + 1 >= message.seq => return,
                Err(_) => return,
                Ok(_) => {}
            }
            if tokio::time::Instant::now() + pause > deadline {
                tracing::debug!(room_id = %message.room_id, seq = message.seq, "turn not reached");
                return;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }

    /// A retried send that finds its message stored: if the room's stream position says it
    /// never reached live delivery (the node that stored it died before broadcasting), or
    /// cannot say, it is delivered and published now, so online members get it without
    /// waiting for a later message to reveal the gap. Clients de-duplicate by `id` and the
    /// notification worker by its claim, so a repeat costs a frame, never a second message.
    async fn deliver_if_missed(&self, message: &Message) {
        if self.never_delivered(message).await.unwrap_or(true) {
            self.redeliver(message).await;
            self.publish_stored(message);
        }
    }

    /// Live delivery of an owed message whose room's stream position is known and below it:
    /// the node that stored it died before broadcasting. The outbox drain calls this, so
    /// connected members get such a message without waiting for a later one to reveal the
    /// gap. A position that cannot be read is no reason to deliver again (the drain runs
    /// every few seconds, and a cache that is down would make each round repeat them all).
    pub(crate) async fn repair_live_delivery(&self, message: &Message) {
        if self.never_delivered(message).await.unwrap_or(false) {
            tracing::info!(room_id = %message.room_id, seq = message.seq, "delivering a message its node never broadcast");
            self.redeliver(message).await;
        }
    }

    /// Live delivery of a message outside the room's order (see the two callers above).
    async fn redeliver(&self, message: &Message) {
        self.deliver_live(message).await;
        self.passed_turn(message).await;
    }

    /// Records that `message` has been handed to live delivery.
    async fn passed_turn(&self, message: &Message) {
        let key = stream_position_key(&message.room_id);
        if let Err(err) = self.ports.cache.raise(&key, message.seq).await {
            tracing::debug!(error = %err, "stream position not recorded");
        }
    }

    /// Live delivery of a stored message, and the typing indicator stops. Best effort: a
    /// failure is logged and healed by clients' `sync`.
    async fn deliver_live(&self, message: &Message) {
        match self.member_ids(&message.room_id).await {
            Ok(members) => {
                self.fanout.message_new(&members, message).await;
                self.typing_stopped_by_send(&message.room_id, &message.sender_id, &members)
                    .await;
            }
            Err(err) => tracing::warn!(error = %err, "no live delivery for a stored message"),
        }
    }

    /// The draft's content: an image or voice message gets the media it names, which must
    /// be the sender's, of its kind and completed.
    async fn content(
        &self,
        sender: &UserId,
        draft: Draft,
        media_id: Option<&MediaId>,
    ) -> Result<Content> {
        let media = |kind| async move {
            let id = media_id.ok_or_else(|| {
                Error::BadRequest("an image or voice message needs a media_id".into())
            })?;
            self.media_for_message(sender, kind, id).await
        };
        Ok(match draft {
            Draft::Text(body) => Content::Text(body),
            Draft::Image(caption) => Content::Image {
                media: media(MessageKind::Image).await?,
                caption,
            },
            Draft::Voice => Content::Voice(media(MessageKind::Voice).await?),
            Draft::Edit(target, body) => Content::Edit { target, body },
            Draft::Delete(target) => Content::Delete { target },
            Draft::Reaction(target, emoji) => Content::Reaction { target, emoji },
        })
    }

    /// The quote of the message a reply answers, which must be a message of this room (not
    /// a change of one); `None` when it is deleted.
    async fn check_reply_target(
        &self,
        room: &RoomId,
        reply_to: &MessageId,
    ) -> Result<Option<ReplyPreview>> {
        match self.ports.messages.message(reply_to).await? {
            Some(target) if target.room_id == *room && !target.kind.is_change() => {
                Ok(ReplyPreview::of(&self.message_view(target)))
            }
            _ => Err(Error::BadRequest(
                "reply_to must be a message of this room".into(),
            )),
        }
    }

    /// The members `body` names as `@username`, in the order named.
    async fn mentioned_members(&self, room: &RoomId, body: &str) -> Result<Vec<UserId>> {
        let names = mentioned_usernames(body);
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let members = self.member_users(room).await?;
        Ok(names
            .iter()
            .filter_map(|name| members.iter().find(|u| u.username == *name))
            .map(|u| u.id.clone())
            .collect())
    }

    /// The API's `Message` of a stored one: the `Media` built from its facts now, so its
    /// URLs are this deployment's (`quoted` adds the reply preview).
    pub(crate) fn message_view(&self, record: MessageRecord) -> Message {
        Message {
            media: record.media.as_ref().map(|facts| self.media_view(facts)),
            id: record.id,
            room_id: record.room_id,
            seq: record.seq,
            sender_id: record.sender_id,
            client_id: record.client_id,
            kind: record.kind,
            body: record.body,
            reply_to: record.reply_to,
            created_at: record.created_at,
            relates_to: record.relates_to,
            edited_at: record.edited_at,
            deleted_at: record.deleted_at,
            reactions: record.reactions,
            mentions: record.mentions,
            reply_preview: None,
        }
    }

    pub(crate) fn views(&self, records: Vec<MessageRecord>) -> Vec<Message> {
        records
            .into_iter()
            .map(|record| self.message_view(record))
            .collect()
    }

    /// Fills in `reply_preview` for every reply among `messages`, from the originals as they
    /// are now: those in `messages` themselves, the rest in one store read.
    pub(crate) async fn quoted(&self, mut messages: Vec<Message>) -> Result<Vec<Message>> {
        let mut wanted: Vec<MessageId> = messages
            .iter()
            .filter_map(|m| m.reply_to.clone())
            .filter(|id| !messages.iter().any(|m| m.id == *id))
            .collect();
        if wanted.is_empty() && messages.iter().all(|m| m.reply_to.is_none()) {
            return Ok(messages);
        }
        wanted.sort();
        wanted.dedup();
        let mut originals = self.views(self.ports.messages.messages(&wanted).await?);
        originals.extend(
            messages
                .iter()
                .filter(|m| messages.iter().any(|r| r.reply_to.as_ref() == Some(&m.id)))
                .cloned(),
        );
        for message in &mut messages {
            message.reply_preview = match (&message.reply_to, message.deleted_at) {
                (Some(id), None) => originals
                    .iter()
                    .find(|o| o.id == *id)
                    .and_then(ReplyPreview::of),
                _ => None,
            };
        }
        Ok(messages)
    }

    /// A page of a room's history, ascending `seq`.
    pub async fn history(
        &self,
        user: &UserId,
        room: &RoomId,
        query: HistoryQuery,
    ) -> Result<MessagePage> {
        let cursor = match (query.before_seq, query.after_seq) {
            (Some(_), Some(_)) => {
                return Err(Error::BadRequest(
                    "give before_seq or after_seq, not both".into(),
                ));
            }
            (Some(before), None) => Cursor::Before(before),
            (None, Some(after)) => Cursor::After(after),
            (None, None) => Cursor::Latest,
        };
        let limit = match query.limit {
            None => DEFAULT_PAGE,
            Some(0) => return Err(Error::BadRequest("limit must be at least 1".into())),
            Some(limit) => limit.min(MAX_PAGE),
        };
        let (record, _) = self.membership(user, room).await?;
        let (messages, has_more) = match cursor {
            Cursor::Latest => self.latest_page(room, record.last_seq, limit).await?,
            _ => {
                let (records, has_more) = self.ports.messages.page(room, cursor, limit).await?;
                (self.quoted(self.views(records)).await?, has_more)
            }
        };
        Ok(MessagePage { messages, has_more })
    }

    /// Everything after the client's last `seq`, for each room it names. Rooms the caller is
    /// not (or no longer) a member of are left out of the answer.
    pub async fn sync(&self, user: &UserId, request: SyncRequest) -> Result<SyncResponse> {
        self.limit("sync", user, self.settings.limits.syncs_per_user)
            .await?;
        if request.rooms.len() > MAX_SYNC_ROOMS {
            return Err(Error::PayloadTooLarge(format!(
                "sync names at most {MAX_SYNC_ROOMS} rooms"
            )));
        }
        let mut rooms = BTreeMap::new();
        for (room, after_seq) in request.rooms {
            if self.ports.rooms.member(&room, user).await?.is_none() {
                continue;
            }
            let (records, has_more) = self
                .ports
                .messages
                .page(&room, Cursor::After(after_seq), SYNC_PAGE)
                .await?;
            let messages = self.quoted(self.views(records)).await?;
            rooms.insert(room, MessagePage { messages, has_more });
        }
        Ok(SyncResponse { rooms })
    }

    /// Moves the caller's delivered or read marker forward and tells the room.
    pub async fn receipt(&self, user: &UserId, request: ReceiptRequest) -> Result<()> {
        let (record, _) = self.membership(user, &request.room_id).await?;
        if request.seq > record.last_seq {
            return Err(Error::BadRequest(format!(
                "seq {} is beyond the room's last message ({})",
                request.seq, record.last_seq
            )));
        }
        let moved = self
            .ports
            .rooms
            .advance_marker(&request.room_id, user, request.kind, request.seq)
            .await?;
        if moved {
            let members = self.member_ids(&request.room_id).await?;
            let event = ReceiptEvent {
                room_id: request.room_id,
                user_id: user.clone(),
                kind: request.kind,
                seq: request.seq,
            };
            self.fanout.receipt(&members, &event).await;
        }
        Ok(())
    }
}
