//! Stream positions: each node tells its own devices where a room's stream ended a moment
//! ago (`room:head`), so a device that missed a live `message:new` notices and calls `sync`
//! even when no later message comes to reveal the gap.
//!
//! Live delivery across nodes rides on Redis pub/sub, which forgets what it could not hand
//! over: a node whose subscription was reconnecting (Redis restarted) misses those
//! broadcasts for good. The bus does not forget: every stored message's event reaches it
//! (through the outbox, however long it is down). So every node watches the bus and, a
//! little after a room's newest message, announces that message's `seq` to the room's
//! members connected to it. Announcements lag one round, so a message delivered live
//! normally arrives before its announcement and a device in step ignores it; an idle room
//! costs nothing after its last announcement.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

use protocol::{RoomHeadEvent, RoomId};

use super::Chat;
use crate::ports::{BusEvent, Subscription};

/// How often a node announces; a missed message reaches a device within about two rounds.
pub const EVERY: Duration = Duration::from_secs(2);

/// Watches the bus until it closes or the chat is gone.
pub async fn run(chat: Weak<Chat>, mut watch: Box<dyn Subscription>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Heads seen this round, and those seen last round (announced at the next tick).
    let mut seen: HashMap<RoomId, u64> = HashMap::new();
    let mut due: HashMap<RoomId, u64> = HashMap::new();
    loop {
        tokio::select! {
            event = watch.next() => {
                let Some(BusEvent::MessageStored { message }) = event else { return };
                let head = seen.entry(message.room_id).or_default();
                *head = (*head).max(message.seq);
            }
            _ = tick.tick() => {
                let ready = std::mem::replace(&mut due, std::mem::take(&mut seen));
                let Some(chat) = chat.upgrade() else { return };
                for (room_id, seq) in ready {
                    chat.announce_head(RoomHeadEvent { room_id, seq }).await;
                }
            }
        }
    }
}

impl Chat {
    /// `room:head` to the room's members' devices on this node.
    async fn announce_head(&self, head: RoomHeadEvent) {
        match self.member_ids(&head.room_id).await {
            Ok(members) => self.fanout.room_head(&members, &head).await,
            Err(err) => {
                tracing::debug!(error = %err, room_id = %head.room_id, "room head not announced")
            }
        }
    }
}
