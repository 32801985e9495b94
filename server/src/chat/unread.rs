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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use protocol::{Message, RoomId};

use super::Chat;
use crate::error::Result;
use crate::ports::{BusEvent, Subscription};

pub const GROUP: &str = "unread";

/// Counters moved at once for one room.
const COUNTERS_AT_ONCE: usize = 64;

/// Events taken at once: under load the worker moves each counter once per batch of a
/// room's messages instead of once per message.
const BATCH: usize = 256;

/// How long a batch gathers after its first event. A counter is read by the room list of a
/// member who is not looking at the room, so a tenth of a second late is invisible (and the
/// room list extends a counter that is behind), while reading the room's members and moving
/// their counters once per message was a store read and a read and write per member for
/// every send (5% of the CPU at 1000 msg/s, by perf). A busy room sends tens of messages a
/// second: 100 ms moves each counter once for several of them.
const GATHER: Duration = Duration::from_millis(100);

/// Consumes until the bus closes.
pub async fn run(chat: Arc<Chat>, mut subscription: Box<dyn Subscription>) {
    while let Some(first) = subscription.next().await {
        // What else comes within GATHER joins the batch. (Asking for more marks the
        // earlier ones handled; a crash then skips them, which costs only a recount.)
        let mut batch = vec![first];
        let until = tokio::time::Instant::now() + GATHER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(until, subscription.next()).await {
                Ok(Some(event)) => batch.push(event),
                Ok(None) | Err(_) => break,
            }
        }
        let mut rooms: BTreeMap<RoomId, Vec<Message>> = BTreeMap::new();
        for BusEvent::MessageStored { message } in batch {
            rooms
                .entry(message.room_id.clone())
                .or_default()
                .push(message);
        }
        for (room, mut messages) in rooms {
            messages.sort_by_key(|m| m.seq);
            if let Err(err) = chat.count_unread_messages(&room, &messages).await {
                tracing::warn!(error = %err, room_id = %room, "unread counters not moved");
            }
        }
    }
}

impl Chat {
    async fn count_unread_messages(&self, room: &RoomId, messages: &[Message]) -> Result<()> {
        let Some(newest) = messages.last() else {
            return Ok(());
        };
        // A marker moved a moment ago may be missed: the counter of the old marker is then
        // extended, and nobody reads it (see the module's notes).
        let members = self.ports.rooms.members_relaxed(room).await?;
        // Each counter is a read and a write of its own; a big room's go out together, a
        // bounded number at a time (Redis pipelines them on the node's one connection).
        futures_util::stream::iter(members.iter().filter(|m| m.last_read_seq < newest.seq))
            .for_each_concurrent(COUNTERS_AT_ONCE, |member| async move {
                let unread: Vec<&Message> = messages
                    .iter()
                    .filter(|m| m.seq > member.last_read_seq)
                    .collect();
                self.move_unread_counter(room, &member.user_id, member.last_read_seq, &unread)
                    .await;
            })
            .await;
        Ok(())
    }
}
