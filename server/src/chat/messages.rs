//! Sending and reading messages: sequencing and idempotency live in the store's `append`;
//! here are the rules around it (who may send what) and what follows a send.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use protocol::{
    HistoryQuery, Message, MessageId, MessageKind, MessagePage, ReceiptEvent, ReceiptRequest,
    ReplyPreview, RoomId, SendMessageRequest, SyncRequest, SyncResponse, Timestamp, UserId,
};

use super::Chat;
use crate::domain::{ClientId, Emoji, MessageBody, mentioned_usernames, new_id};
use crate::error::{Error, Result};
use crate::ports::store::{Appended, ChangeRefusal, Cursor, NewMessage};

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

/// The body of a send as stored, by the rules of its kind (API.md, v1 and v1.1).
fn checked_body(request: &SendMessageRequest) -> Result<Option<String>> {
    let kind = request.kind;
    if request.media_id.is_some() && !matches!(kind, MessageKind::Image | MessageKind::Voice) {
        return Err(Error::BadRequest(
            "only an image or voice message carries a media_id".into(),
        ));
    }
    match (kind.is_change(), &request.relates_to, &request.reply_to) {
        (true, None, _) => {
            return Err(Error::BadRequest(
                "an edit, delete or reaction needs relates_to".into(),
            ));
        }
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
        _ => {}
    }
    let blank = request.body.as_deref().is_none_or(|b| b.trim().is_empty());
    Ok(match kind {
        MessageKind::Text | MessageKind::Edit => {
            let body = request.body.as_deref().ok_or_else(|| {
                Error::BadRequest(if kind == MessageKind::Edit {
                    "an edit needs the new text as its body".into()
                } else {
                    "a text message needs a body".into()
                })
            })?;
            Some(MessageBody::parse(body)?.into_string())
        }
        // A caption is optional.
        MessageKind::Image if blank => None,
        MessageKind::Image => {
            Some(MessageBody::parse(request.body.as_deref().unwrap_or_default())?.into_string())
        }
        MessageKind::Voice | MessageKind::Delete if !blank => {
            return Err(Error::BadRequest(if kind == MessageKind::Voice {
                "a voice message has no body".into()
            } else {
                "a delete has no body".into()
            }));
        }
        MessageKind::Voice | MessageKind::Delete => None,
        MessageKind::Reaction => {
            Some(Emoji::parse(request.body.as_deref().unwrap_or_default())?.into_string())
        }
        MessageKind::System => {
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
        let body = checked_body(&request)?;
        self.check_member(sender, room).await?;
        let reply_preview = match &request.reply_to {
            Some(reply_to) => self.check_reply_target(room, reply_to).await?,
            None => None,
        };
        let media = match (request.kind, &request.media_id) {
            (MessageKind::Image | MessageKind::Voice, Some(id)) => Some(
                self.media_for_message(sender, room, request.kind, id)
                    .await?,
            ),
            (MessageKind::Image | MessageKind::Voice, None) => {
                return Err(Error::BadRequest(
                    "an image or voice message needs a media_id".into(),
                ));
            }
            _ => None,
        };
        // Only a delete may take someone else's message, and only an owner's or admin's.
        let moderator = request.kind == MessageKind::Delete
            && self.membership(sender, room).await?.1.role.can_manage();
        let mentions = match (request.kind, &body) {
            (MessageKind::Text | MessageKind::Image | MessageKind::Edit, Some(body)) => {
                self.mentioned_members(room, body).await?
            }
            _ => Vec::new(),
        };
        let new = NewMessage {
            id: MessageId(new_id()),
            room_id: room.clone(),
            sender_id: sender.clone(),
            client_id: client_id.as_str().to_owned(),
            kind: request.kind,
            body,
            media,
            reply_to: request.reply_to,
            created_at: Timestamp::now(),
            relates_to: request.relates_to,
            mentions,
            moderator,
        };
        // The ticket is taken before the store assigns `seq`: see `delivery`.
        let ticket = self.delivery.ticket(room);
        let outcome = match self.ports.messages.append(&new).await {
            Ok(Appended::Created(mut message)) => {
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
            Ok(Appended::Existing(message)) if message.room_id != *room => Err(Error::Conflict(
                "this client_id was already used for a message in another room",
            )),
            Ok(Appended::Existing(message)) => {
                let message = self.quoted(vec![message]).await?.remove(0);
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
            client_id: uuid::Uuid::new_v4().hyphenated().to_string(),
            kind: MessageKind::System,
            body: Some(body),
            media: None,
            reply_to: None,
            created_at: Timestamp::now(),
            relates_to: None,
            mentions: Vec::new(),
            moderator: false,
        };
        let ticket = self.delivery.ticket(room);
        match self.ports.messages.append(&new).await {
            Ok(Appended::Created(message)) => {
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

    /// The quote of the message a reply answers, which must be a message of this room (not
    /// a change of one); `None` when it is deleted.
    async fn check_reply_target(
        &self,
        room: &RoomId,
        reply_to: &MessageId,
    ) -> Result<Option<ReplyPreview>> {
        match self.ports.messages.message(reply_to).await? {
            Some(target) if target.room_id == *room && !target.kind.is_change() => {
                Ok(ReplyPreview::of(&target))
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
        let mut originals = self.ports.messages.messages(&wanted).await?;
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
                let (messages, has_more) = self.ports.messages.page(room, cursor, limit).await?;
                (self.quoted(messages).await?, has_more)
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
            let (messages, has_more) = self
                .ports
                .messages
                .page(&room, Cursor::After(after_seq), SYNC_PAGE)
                .await?;
            let messages = self.quoted(messages).await?;
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
