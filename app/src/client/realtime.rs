//! The live session over Socket.IO: events in, and out the outbox, `sync`, receipts, typing
//! and focus. Every path that can see a message (ack, `message:new`, `sync`, history) goes
//! through [`RoomLog::merge`](super::model::RoomLog::merge), so nothing is shown twice.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{Auth, Client, browser, model};
use crate::protocol::{
    ErrorBody, ErrorCode, ErrorDetail, FocusRequest, LeftReason, MediaKind, Message, MessageId,
    MessageKind, NotificationEvent, PresenceEvent, ReceiptEvent, ReceiptKind, ReceiptRequest, Room,
    RoomId, RoomLeftEvent, SendMessageRequest, SocketSend, SyncRequest, SyncResponse, TypingEvent,
    TypingRequest, events,
};

/// An acknowledgement: `{ok: true, ...fields}` or `{ok: false, error}`.
#[derive(Deserialize)]
struct Ack<T> {
    ok: bool,
    #[serde(default)]
    error: Option<ErrorDetail>,
    #[serde(flatten)]
    value: Option<T>,
}

#[derive(Deserialize)]
struct SentAck {
    message: Message,
}

/// What went wrong with an emit: lost (retry later) or refused (with the server's reason).
enum EmitError {
    Lost,
    Refused(ErrorDetail),
}

async fn emit<T: DeserializeOwned>(
    event: &str,
    payload: &impl serde::Serialize,
) -> Result<T, EmitError> {
    let payload = serde_json::to_string(payload).map_err(|_| EmitError::Lost)?;
    let answer = browser::socket_emit(event, payload)
        .await
        .map_err(|_| EmitError::Lost)?;
    let ack: Ack<T> = serde_json::from_str(&answer).map_err(|_| EmitError::Lost)?;
    match (ack.ok, ack.value, ack.error) {
        (true, Some(value), _) => Ok(value),
        (_, _, Some(error)) => Err(EmitError::Refused(error)),
        _ => Err(EmitError::Lost),
    }
}

/// Errors a retry cannot fix: the message is marked failed instead of waiting forever.
fn is_final(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::BadRequest
            | ErrorCode::PayloadTooLarge
            | ErrorCode::Forbidden
            | ErrorCode::NotFound
            | ErrorCode::Conflict
    )
}

/// The send of a pending message: its text, or its media (with the text as a caption).
fn send_request(pending: &model::Pending) -> SendMessageRequest {
    let caption = Some(pending.body.clone()).filter(|b| !b.trim().is_empty());
    let (kind, body, media_id) = match &pending.media {
        None => (MessageKind::Text, Some(pending.body.clone()), None),
        Some(media) => (
            match media.kind {
                MediaKind::Image => MessageKind::Image,
                MediaKind::Voice => MessageKind::Voice,
            },
            caption,
            media.created.as_ref().map(|c| c.media.id.clone()),
        ),
    };
    if let Some(change) = &pending.change {
        return SendMessageRequest {
            client_id: pending.client_id.clone(),
            kind: change.kind,
            body: (!pending.body.is_empty()).then(|| pending.body.clone()),
            media_id: None,
            reply_to: None,
            relates_to: Some(change.relates_to.clone()),
        };
    }
    SendMessageRequest {
        client_id: pending.client_id.clone(),
        kind,
        body,
        media_id,
        reply_to: pending.reply_to.clone(),
        relates_to: None,
    }
}

fn parse<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_str(text).ok()
}

impl Client {
    pub(super) fn open_socket(self) {
        browser::socket_open(move |event, payload| self.on_event(event, &payload));
    }

    fn on_event(self, event: &str, payload: &str) {
        match event {
            "connect" => {
                self.connected.set(true);
                self.send_focus();
                self.refresh_rooms();
                self.sync();
                self.flush_outbox();
            }
            "disconnect" => {
                self.connected.set(false);
                // The server closed this device's session (signed out elsewhere, a new
                // password): the client does not reconnect by itself after that. Signed out
                // for good, or a server going away (then connect again).
                if payload.contains("io server disconnect") {
                    spawn_local(async move {
                        match super::api::me().await {
                            Err(e) if e.is_unauthorized() => self.sign_out(),
                            _ => browser::socket_reopen(),
                        }
                    });
                }
            }
            "connect_error" => {
                self.connected.set(false);
                if let Some(body) = parse::<ErrorBody>(payload)
                    && body.error.code == ErrorCode::Unauthorized
                {
                    browser::socket_close();
                    self.auth.set(Auth::SignedOut);
                }
            }
            events::MESSAGE_NEW => {
                if let Some(message) = parse::<Message>(payload) {
                    self.receive(vec![message]);
                }
            }
            events::RECEIPT => {
                if let Some(receipt) = parse::<ReceiptEvent>(payload) {
                    self.rooms.update(|r| model::apply_receipt(r, &receipt));
                }
            }
            events::TYPING => {
                if let Some(typing) = parse::<TypingEvent>(payload) {
                    self.typing_changed(typing);
                }
            }
            events::PRESENCE => {
                if let Some(p) = parse::<PresenceEvent>(payload) {
                    self.presence.update(|map| {
                        map.insert(p.user_id, p.online);
                    });
                }
            }
            events::ROOM_UPDATE => {
                if let Some(room) = parse::<Room>(payload) {
                    self.add_room(room);
                }
            }
            events::ROOM_LEFT => {
                if let Some(left) = parse::<RoomLeftEvent>(payload) {
                    self.left_room(left);
                }
            }
            events::NOTIFICATION => {
                if let Some(n) = parse::<NotificationEvent>(payload) {
                    self.notified(n);
                }
            }
            _ => {}
        }
    }

    /// The browser lost or regained its network: drop the socket at once rather than wait
    /// for a ping timeout, and reconnect (then `sync` and flush) when it is back.
    pub(super) fn network_changed(self, online: bool) {
        self.network.set(online);
        if online {
            browser::socket_reopen();
            self.resume_uploads();
        } else {
            browser::socket_pause();
            self.connected.set(false);
        }
    }

    /// Removed from a room, or left it on another device: it goes from the list, and an
    /// open view of it shows a notice instead (see `ChatView`).
    fn left_room(self, left: RoomLeftEvent) {
        self.room_changed();
        let name = self
            .room(&left.room_id)
            .and_then(|r| r.name)
            .unwrap_or_else(|| "the group".into());
        self.rooms
            .update(|rooms| rooms.retain(|r| r.id != left.room_id));
        self.logs.update(|logs| {
            logs.remove(&left.room_id);
        });
        self.save_rooms();
        let text = match left.reason {
            LeftReason::Removed => format!("You were removed from {name}"),
            LeftReason::Left => format!("You left {name}"),
        };
        self.toast(left.room_id, text);
    }

    fn notified(self, n: NotificationEvent) {
        let looking =
            self.focus.get_untracked().as_ref() == Some(&n.room_id) && self.visible.get_untracked();
        if looking {
            return;
        }
        if self.visible.get_untracked() {
            self.toast(n.room_id, n.text);
        } else {
            browser::notify("Confab", &n.text, n.room_id.as_str());
        }
    }

    fn typing_changed(self, typing: TypingEvent) {
        let TypingEvent {
            room_id,
            user_id,
            active,
        } = typing;
        self.typing.update(|map| {
            let list = map.entry(room_id.clone()).or_default();
            list.retain(|u| u != &user_id);
            if active {
                list.push(user_id.clone());
            }
        });
        if active {
            // The server stops typing after 5 s by itself; a lost stop must not stick here.
            set_timeout(
                move || {
                    self.typing.update(|map| {
                        if let Some(list) = map.get_mut(&room_id) {
                            list.retain(|u| u != &user_id);
                        }
                    })
                },
                std::time::Duration::from_secs(6),
            );
        }
    }

    /// Tells the server which room this device is looking at (none while hidden).
    pub fn send_focus(self) {
        if !self.connected.get_untracked() {
            return;
        }
        let room_id = self
            .focus
            .get_untracked()
            .filter(|_| self.visible.get_untracked());
        spawn_local(async move {
            let _ = emit::<serde_json::Value>(events::FOCUS, &FocusRequest { room_id }).await;
        });
    }

    /// Messages from any source: stored once, the room list updated, the outbox cleared of
    /// what the server now holds, receipts sent.
    pub(super) fn receive(self, messages: Vec<Message>) {
        let Some(me) = self.me() else { return };
        let mut touched: Vec<RoomId> = Vec::new();
        let mut gap = false;
        self.logs.update(|logs| {
            for message in &messages {
                let log = logs.entry(message.room_id.clone()).or_default();
                if log.loaded && log.last_seq() + 1 < message.seq {
                    gap = true;
                }
                log.merge([message.clone()]);
                if !touched.contains(&message.room_id) {
                    touched.push(message.room_id.clone());
                }
            }
        });
        // A message for a room not in the list (a direct room someone just opened with us,
        // before its `room:update`): fetch the list again.
        let unknown = self.rooms.with_untracked(|rooms| {
            messages
                .iter()
                .any(|m| !rooms.iter().any(|r| r.id == m.room_id))
        });
        if unknown {
            self.refresh_rooms();
        }
        let looking = |room: &RoomId| {
            self.focus.get_untracked().as_ref() == Some(room) && self.visible.get_untracked()
        };
        self.rooms.update(|rooms| {
            for message in &messages {
                model::apply_message(rooms, message, &me, looking(&message.room_id));
            }
        });
        let mine: Vec<&str> = messages
            .iter()
            .filter(|m| m.sender_id == me)
            .map(|m| m.client_id.as_str())
            .collect();
        if !mine.is_empty() {
            self.settle_sent(&mine);
        }
        self.save_rooms();
        for room in touched {
            self.after_messages(&room);
        }
        if gap {
            self.sync();
        }
    }

    /// Receipts for what this device now holds of a room.
    pub(super) fn after_messages(self, room: &RoomId) {
        let Some(me) = self.me() else { return };
        let last_from_others = self.logs.with_untracked(|logs| {
            logs.get(room).and_then(|log| {
                log.messages
                    .values()
                    .rev()
                    .find(|m| m.sender_id != me)
                    .map(|m| m.seq)
            })
        });
        if let Some(seq) = last_from_others {
            self.send_receipt(room, ReceiptKind::Delivered, seq);
        }
        self.mark_read_if_looking(room);
    }

    /// Everything held of the room on screen is read, if the tab is visible.
    pub fn mark_read_if_looking(self, room: &RoomId) {
        let looking =
            self.focus.get_untracked().as_ref() == Some(room) && self.visible.get_untracked();
        let Some(me) = self.me() else { return };
        if !looking {
            return;
        }
        let last = self
            .logs
            .with_untracked(|logs| logs.get(room).map_or(0, |l| l.last_seq()));
        if last == 0 {
            return;
        }
        self.rooms
            .update(|rooms| model::mark_read(rooms, room, &me, last));
        self.send_receipt(room, ReceiptKind::Read, last);
    }

    fn send_receipt(self, room: &RoomId, kind: ReceiptKind, seq: u64) {
        let sent = match kind {
            ReceiptKind::Delivered => self.delivered_sent,
            ReceiptKind::Read => self.read_sent,
        };
        if !self.connected.get_untracked()
            || sent.with_value(|map| map.get(room).is_some_and(|&s| s >= seq))
        {
            return;
        }
        sent.update_value(|map| {
            map.insert(room.clone(), seq);
        });
        let request = ReceiptRequest {
            room_id: room.clone(),
            kind,
            seq,
        };
        spawn_local(async move {
            if emit::<serde_json::Value>(events::RECEIPT, &request)
                .await
                .is_err()
            {
                // Let the next chance send it again.
                sent.update_value(|map| {
                    map.remove(&request.room_id);
                });
            }
        });
    }

    /// Asks for everything after the last `seq` held of each open room; repeats while the
    /// server says there is more.
    pub(super) fn sync(self) {
        spawn_local(async move {
            for _ in 0..20 {
                let rooms: BTreeMap<RoomId, u64> = self.logs.with_untracked(|logs| {
                    logs.iter()
                        .filter(|(_, log)| log.loaded)
                        .map(|(id, log)| (id.clone(), log.last_seq()))
                        .collect()
                });
                if rooms.is_empty() {
                    return;
                }
                let Ok(answer) = emit::<SyncResponse>(events::SYNC, &SyncRequest { rooms }).await
                else {
                    return;
                };
                let more = answer.rooms.values().any(|page| page.has_more);
                let messages: Vec<Message> = answer
                    .rooms
                    .into_values()
                    .flat_map(|page| page.messages)
                    .collect();
                self.receive(messages);
                if !more {
                    return;
                }
            }
        });
    }

    /// Queues a message (answering `reply_to`, if any) and sends it when connected; it
    /// keeps its `client_id` across retries, so the server stores it once.
    pub fn send(self, room_id: RoomId, body: String, reply_to: Option<MessageId>) {
        self.queue(model::Pending {
            reply_to,
            ..model::Pending::text(room_id, browser::uuid(), body)
        });
    }

    /// Queues an edit (`body` the new text), a delete (`body` empty) or a reaction (`body`
    /// the emoji) of the message `relates_to`; it shows once the server has it.
    pub fn change(self, room_id: RoomId, kind: MessageKind, relates_to: MessageId, body: String) {
        self.queue(model::Pending {
            change: Some(model::PendingChange { kind, relates_to }),
            ..model::Pending::text(room_id, browser::uuid(), body)
        });
    }

    fn queue(self, pending: model::Pending) {
        self.outbox.update(|o| o.push(pending));
        self.save_outbox();
        self.flush_outbox();
    }

    /// Sends the outbox in order, one at a time; stops at the first message that gets no
    /// answer (the next connection tries again).
    pub(super) fn flush_outbox(self) {
        if self.flushing.get_value() || !self.connected.get_untracked() {
            return;
        }
        self.flushing.set_value(true);
        spawn_local(async move {
            let mut retry = false;
            loop {
                // Media messages join the queue once their upload is complete.
                let next = self
                    .outbox
                    .with_untracked(|o| o.iter().find(|p| p.ready()).cloned());
                let Some(pending) = next else { break };
                let request = SocketSend {
                    room_id: pending.room_id.clone(),
                    message: send_request(&pending),
                };
                match emit::<SentAck>(events::MESSAGE_SEND, &request).await {
                    Ok(ack) => self.receive(vec![ack.message]),
                    Err(EmitError::Refused(error))
                        if error.code == ErrorCode::NotFound
                            && pending.media.is_some()
                            && self.upload_again(&pending.client_id) => {}
                    // A change the server refuses for good (the message was deleted in the
                    // meantime, say) is dropped with a word to the user: there is nothing
                    // to retry.
                    Err(EmitError::Refused(error))
                        if is_final(error.code) && pending.change.is_some() =>
                    {
                        self.outbox
                            .update(|o| o.retain(|p| p.client_id != pending.client_id));
                        self.save_outbox();
                        self.toast(pending.room_id.clone(), error.message.clone());
                    }
                    Err(EmitError::Refused(error)) if is_final(error.code) => {
                        self.outbox.update(|o| {
                            if let Some(p) = o.iter_mut().find(|p| p.client_id == pending.client_id)
                            {
                                p.failed = Some(error.message.clone());
                            }
                        });
                        self.save_outbox();
                    }
                    Err(_) => {
                        retry = true;
                        break;
                    }
                }
                if !self.connected.get_untracked() {
                    break;
                }
            }
            self.flushing.set_value(false);
            // Lost or refused for now (rate limit, restart): try again shortly if still
            // connected; a new connection flushes anyway.
            if retry && self.connected.get_untracked() {
                set_timeout(
                    move || self.flush_outbox(),
                    std::time::Duration::from_secs(2),
                );
            }
        });
    }

    /// Tells the room's other members that this user is (or stopped) typing.
    pub fn set_typing(self, room_id: RoomId, active: bool) {
        if !self.connected.get_untracked() {
            return;
        }
        spawn_local(async move {
            let _ =
                emit::<serde_json::Value>(events::TYPING, &TypingRequest { room_id, active }).await;
        });
    }
}
