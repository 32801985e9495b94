//! The unread-counter worker: consumes stored messages from the bus (consumer group
//! `unread`) and moves every member's counter up to the new message, so the room list
//! on any node, for a member who was offline, is one cache read per room.
//!
//! A counter (see `hot`) is keyed by the member's read marker and records the `seq` it
//! counts up to. The worker only ever extends a counter that stops right before the message
//! (or starts one for the first message after the marker); anything else, a counter the
//! room list already extended, a gap from a lost event, a member who read meanwhile, is left
//! for the room list to count. So a redelivered message, which finds every counter at or
//! past it, changes nothing, and no order of workers and readers can make a count wrong.

use std::sync::Arc;

use app::protocol::Message;
use futures_util::StreamExt;

use super::Chat;
use crate::error::Result;
use crate::ports::{BusEvent, Subscription};

pub const GROUP: &str = "unread";

/// Counters moved at once for one message.
const COUNTERS_AT_ONCE: usize = 64;

/// Consumes until the bus closes.
pub async fn run(chat: Arc<Chat>, mut subscription: Box<dyn Subscription>) {
    while let Some(event) = subscription.next().await {
        let BusEvent::MessageStored { message } = event;
        if let Err(err) = chat.count_unread_message(&message).await {
            tracing::warn!(error = %err, message_id = %message.id, "unread counters not moved");
        }
    }
}

impl Chat {
    async fn count_unread_message(&self, message: &Message) -> Result<()> {
        let members = self.ports.rooms.members(&message.room_id).await?;
        // Each counter is a read and a write of its own; a big room's go out together, a
        // bounded number at a time (Redis pipelines them on the node's one connection).
        futures_util::stream::iter(members.iter().filter(|m| m.last_read_seq < message.seq))
            .for_each_concurrent(COUNTERS_AT_ONCE, |member| {
                // The sender's own message moves their counter without counting.
                let counts = member.user_id != message.sender_id;
                self.move_unread_counter(
                    &message.room_id,
                    &member.user_id,
                    member.last_read_seq,
                    message.seq,
                    counts,
                )
            })
            .await;
        Ok(())
    }
}
