//! The `Fanout` port on Socket.IO. Each device joins the Socket.IO room `user:{id}`, so
//! delivering to members means emitting to their user rooms: one broadcast, serialised once,
//! carried to every node by the adapter (local now, Redis when scaled out).

use app::protocol::{
    Message, NotificationEvent, PresenceEvent, ReceiptEvent, Room, RoomHeadEvent, RoomId,
    RoomLeftEvent, TypingEvent, UserId, events,
};
use async_trait::async_trait;
use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide_core::adapter::errors::BroadcastError;

use crate::chat::Fanout;

/// The Socket.IO room holding every device of `user`.
pub fn user_room(user: &UserId) -> String {
    format!("user:{user}")
}

/// The Socket.IO room of the devices signed in with one session (by `secrets::session_id`).
pub fn session_room(session_id: &str) -> String {
    format!("session:{session_id}")
}

/// The Socket.IO room of devices that are looking at `room` (see the `focus` event).
pub fn focus_room(room: &RoomId) -> String {
    format!("focus:{room}")
}

pub struct SocketFanout<A: Adapter> {
    io: SocketIo<A>,
}

impl<A: Adapter> SocketFanout<A> {
    pub fn new(io: SocketIo<A>) -> Self {
        Self { io }
    }

    async fn to_users<T: Serialize + ?Sized>(&self, users: &[UserId], event: &str, data: &T) {
        self.broadcast(users, None, event, data).await;
    }

    /// Emits `event` to every device of `users` (but those in the room `except`), on every
    /// node. When the adapter cannot reach the other nodes (Redis down), the devices on this
    /// node still get it; those elsewhere catch up with `sync` once it is back. A device
    /// that closed meanwhile is no failure.
    async fn broadcast<T: Serialize + ?Sized>(
        &self,
        users: &[UserId],
        except: Option<String>,
        event: &str,
        data: &T,
    ) {
        if users.is_empty() {
            return;
        }
        let addressed = users.len() as u64;
        if event == events::MESSAGE_NEW {
            crate::metrics::HOT.message_new.inc_by(addressed);
        } else {
            crate::metrics::METRICS
                .fanned_out
                .with_label_values(&[event])
                .inc_by(addressed);
        }
        let rooms: Vec<String> = users.iter().map(user_room).collect();
        let operators = |local: bool| {
            // The namespace is gone once the server has closed (shutting down).
            let mut op = self.io.of("/")?.to(rooms.clone());
            if let Some(except) = &except {
                op = op.except(except.clone());
            }
            Some(if local { op.local() } else { op })
        };
        let Some(everywhere) = operators(false) else {
            return;
        };
        match everywhere.emit(event, data).await {
            Ok(()) => {}
            Err(BroadcastError::Socket(closed)) => {
                tracing::debug!(
                    event,
                    sockets = closed.len(),
                    "devices gone before a broadcast"
                );
            }
            Err(err) => {
                crate::metrics::METRICS.adapter_errors.inc();
                tracing::warn!(error = %err, event, "broadcast to other nodes failed; delivering on this node");
                if let Some(here) = operators(true)
                    && let Err(err) = here.emit(event, data).await
                {
                    tracing::debug!(error = %err, event, "local broadcast failed");
                }
            }
        }
    }
}

#[async_trait]
impl<A: Adapter> Fanout for SocketFanout<A> {
    async fn message_new(&self, members: &[UserId], message: &Message) {
        self.to_users(members, events::MESSAGE_NEW, message).await;
    }

    async fn receipt(&self, members: &[UserId], event: &ReceiptEvent) {
        self.to_users(members, events::RECEIPT, event).await;
    }

    async fn typing(&self, recipients: &[UserId], event: &TypingEvent) {
        self.to_users(recipients, events::TYPING, event).await;
    }

    async fn presence(&self, recipients: &[UserId], event: &PresenceEvent) {
        self.to_users(recipients, events::PRESENCE, event).await;
    }

    async fn room_update(&self, user: &UserId, room: &Room) {
        self.to_users(std::slice::from_ref(user), events::ROOM_UPDATE, room)
            .await;
    }

    async fn notify(&self, users: &[UserId], event: &NotificationEvent) {
        let except = Some(focus_room(&event.room_id));
        self.broadcast(users, except, events::NOTIFICATION, event)
            .await;
    }

    async fn room_head(&self, members: &[UserId], event: &RoomHeadEvent) {
        if members.is_empty() {
            return;
        }
        let Some(ns) = self.io.of("/") else { return };
        let rooms: Vec<String> = members.iter().map(user_room).collect();
        if let Err(err) = ns.to(rooms).local().emit(events::ROOM_HEAD, event).await {
            tracing::debug!(error = %err, "room head not announced");
        }
    }

    async fn room_left(&self, user: &UserId, event: &RoomLeftEvent) {
        self.to_users(std::slice::from_ref(user), events::ROOM_LEFT, event)
            .await;
    }

    async fn end_sessions(&self, session_ids: &[String]) {
        if session_ids.is_empty() {
            return;
        }
        let Some(ns) = self.io.of("/") else { return };
        let rooms: Vec<String> = session_ids.iter().map(|id| session_room(id)).collect();
        match ns.to(rooms.clone()).disconnect().await {
            Ok(()) | Err(BroadcastError::Socket(_)) => {}
            Err(err) => {
                // Other nodes cannot be told (Redis down): this node's devices go now; those
                // elsewhere are refused at their next handshake, since the session is gone.
                crate::metrics::METRICS.adapter_errors.inc();
                tracing::warn!(error = %err, "sessions not ended on other nodes");
                if let Some(here) = self.io.of("/")
                    && let Err(err) = here.to(rooms).local().disconnect().await
                {
                    tracing::debug!(error = %err, "local disconnect failed");
                }
            }
        }
    }
}
