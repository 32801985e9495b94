//! The `Fanout` port on Socket.IO. Each device joins the Socket.IO room `user:{id}`, so
//! delivering to members means emitting to their user rooms: one broadcast, serialised once,
//! carried to every node by the adapter (local now, Redis when scaled out).

use async_trait::async_trait;
use protocol::{
    Message, NotificationEvent, PresenceEvent, ReceiptEvent, Room, RoomHeadEvent, RoomId,
    RoomLeftEvent, TypingEvent, UserId, events,
};
use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide_core::adapter::errors::BroadcastError;

use crate::ports::Fanout;

/// The Socket.IO room holding every device of `user`.
pub fn user_room(user: &UserId) -> String {
    crate::domain::key("user:", &user.0)
}

/// The Socket.IO room of the devices signed in with one session (by `secrets::session_id`).
pub fn session_room(session_id: &str) -> String {
    crate::domain::key("session:", session_id)
}

/// The Socket.IO room of devices that are looking at `room` (see the `focus` event).
pub fn focus_room(room: &RoomId) -> String {
    crate::domain::key("focus:", &room.0)
}

/// The Socket.IO room of the devices of users who left or were removed from `room` while
/// they were connected. Every event of the room is broadcast except to it, so a send that
/// read the member list just before a removal cannot reach the removed user after their
/// `room:left`: the adapter applies the join and the broadcasts in one order on every node
/// (one request channel), so a broadcast either precedes the join, and so the `room:left`
/// that follows it, or misses the user.
pub fn gone_room(room: &RoomId) -> String {
    crate::domain::key("gone:", &room.0)
}

pub struct SocketFanout<A: Adapter> {
    io: SocketIo<A>,
}

impl<A: Adapter> SocketFanout<A> {
    pub fn new(io: SocketIo<A>) -> Self {
        Self { io }
    }

    /// Emits an event of `room` to the devices of `users`, but not to those who left it.
    async fn to_users<T: Serialize + ?Sized>(
        &self,
        users: &[UserId],
        room: &RoomId,
        event: &str,
        data: &T,
    ) {
        self.broadcast(users, &[gone_room(room)], event, data).await;
    }

    /// Joins (or, `leave`, takes out of) the room `channel` every device of `user`, on every
    /// node; on this node only when the others cannot be reached.
    async fn move_devices(&self, user: &UserId, channel: String, leave: bool) {
        let Some(ns) = self.io.of("/") else { return };
        let to = || ns.clone().to(user_room(user));
        let everywhere = if leave {
            to().leave(channel.clone()).await
        } else {
            to().join(channel.clone()).await
        };
        if let Err(err) = everywhere {
            crate::metrics::METRICS.adapter_errors.inc();
            tracing::warn!(error = %err, channel, "devices on other nodes not moved");
            let here = if leave {
                to().local().leave(channel).await
            } else {
                to().local().join(channel).await
            };
            if let Err(err) = here {
                tracing::debug!(error = %err, "local move failed");
            }
        }
    }

    /// Emits `event` to every device of `users` (but those in the room `except`), on every
    /// node. When the adapter cannot reach the other nodes (Redis down), the devices on this
    /// node still get it; those elsewhere catch up with `sync` once it is back. A device
    /// that closed meanwhile is no failure.
    async fn broadcast<T: Serialize + ?Sized>(
        &self,
        users: &[UserId],
        except: &[String],
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
            if !except.is_empty() {
                op = op.except(except.to_vec());
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
        self.to_users(members, &message.room_id, events::MESSAGE_NEW, message)
            .await;
    }

    async fn receipt(&self, members: &[UserId], event: &ReceiptEvent) {
        self.to_users(members, &event.room_id, events::RECEIPT, event)
            .await;
    }

    async fn typing(&self, recipients: &[UserId], event: &TypingEvent) {
        self.to_users(recipients, &event.room_id, events::TYPING, event)
            .await;
    }

    async fn presence(&self, recipients: &[UserId], event: &PresenceEvent) {
        self.broadcast(recipients, &[], events::PRESENCE, event)
            .await;
    }

    async fn room_update(&self, user: &UserId, room: &Room) {
        self.to_users(
            std::slice::from_ref(user),
            &room.id,
            events::ROOM_UPDATE,
            room,
        )
        .await;
    }

    async fn notify(&self, users: &[UserId], event: &NotificationEvent) {
        let except = [focus_room(&event.room_id), gone_room(&event.room_id)];
        self.broadcast(users, &except, events::NOTIFICATION, event)
            .await;
        crate::metrics::METRICS
            .notifications
            .with_label_values(&[event.kind.as_label()])
            .inc_by(users.len() as u64);
    }

    async fn room_head(&self, members: &[UserId], event: &RoomHeadEvent) {
        if members.is_empty() {
            return;
        }
        let Some(ns) = self.io.of("/") else { return };
        let rooms: Vec<String> = members.iter().map(user_room).collect();
        let op = ns.to(rooms).except(gone_room(&event.room_id)).local();
        if let Err(err) = op.emit(events::ROOM_HEAD, event).await {
            tracing::debug!(error = %err, "room head not announced");
        }
    }

    async fn room_left(&self, user: &UserId, event: &RoomLeftEvent) {
        self.move_devices(user, gone_room(&event.room_id), false)
            .await;
        self.broadcast(std::slice::from_ref(user), &[], events::ROOM_LEFT, event)
            .await;
    }

    async fn room_joined(&self, user: &UserId, room: &RoomId) {
        self.move_devices(user, gone_room(room), true).await;
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
