//! The port to connected devices. Delivery here is best effort: a device that misses an event
//! catches up with `sync`, so a failure is logged by the implementation, not returned.

use async_trait::async_trait;
use protocol::{
    Message, NotificationEvent, PresenceEvent, ReceiptEvent, Room, RoomHeadEvent, RoomId,
    RoomLeftEvent, TypingEvent, UserId,
};

#[async_trait]
pub trait Fanout: Send + Sync {
    /// `message:new` to every device of every user in `members`.
    async fn message_new(&self, members: &[UserId], message: &Message);
    async fn receipt(&self, members: &[UserId], event: &ReceiptEvent);
    async fn typing(&self, recipients: &[UserId], event: &TypingEvent);
    async fn presence(&self, recipients: &[UserId], event: &PresenceEvent);
    /// `room:update` with `room` as `user` sees it.
    async fn room_update(&self, user: &UserId, room: &Room);
    /// `notification` to the devices of `users` that are not looking at the event's room:
    /// one broadcast, however many users.
    async fn notify(&self, users: &[UserId], event: &NotificationEvent);
    /// `room:head` to the devices of `members` connected to this node only (every node
    /// announces to its own; see `positions`).
    async fn room_head(&self, members: &[UserId], event: &RoomHeadEvent);
    /// Disconnects every device signed in with one of these sessions (by
    /// `secrets::session_id`), on every node: the sessions have ended.
    async fn end_sessions(&self, session_ids: &[String]);
    /// `room:left` to every device of `user`, which from then on receive no event of the
    /// room, even from a broadcast that began before the member list changed.
    async fn room_left(&self, user: &UserId, event: &RoomLeftEvent);
    /// `user` (back) in `room`: undoes what `room_left` did to their devices. Call it after
    /// the store has the member and before anything announces them.
    async fn room_joined(&self, user: &UserId, room: &RoomId);
}
