//! Live delivery in `seq` order: the sends of one room that this node stored are handed to the
//! fan-out in the order of their `seq`, never in the order their tasks happen to run.
//!
//! Why it is needed: two sends to one room are stored one after the other (the store assigns
//! `seq`), but the tasks that then broadcast them run concurrently, so the broadcast of `seq`
//! 6 could overtake that of 5, and every client would see a gap that is not one and call
//! `sync`.
//!
//! The ordering argument: a send takes a [`Ticket`] (an increasing number) *before* it asks
//! the store for a `seq`. When message N comes back stored, any message of this room with a
//! lower `seq` that this node is still storing must belong to a ticket in flight right now:
//! a send that starts later is stored after N and gets a higher `seq`. So N is handed on
//! once it is the next `seq` this node expects, or once every ticket that was in flight when
//! N came back has finished (the missing `seq` belongs to another node, or to a send that
//! failed). No message waits for sends that started after it, so a busy room never starves,
//! and no message waits longer than the store calls it overlaps with.
//!
//! The room's shared stream position (the highest `seq` delivered by any node) shortens the
//! wait: once it has reached N − 1, nothing still in flight here can precede N, so N goes
//! (`release_through`). And across nodes, a message that does not follow one this node
//! delivered waits (briefly) for that position to reach the `seq` before it: see
//! `Chat::wait_for_turn`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use protocol::{Message, RoomId};

/// Per-room order of this node's stored messages, waiting to be delivered.
#[derive(Default)]
pub struct DeliveryOrder {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_ticket: u64,
    rooms: HashMap<RoomId, RoomQueue>,
}

#[derive(Default)]
struct RoomQueue {
    /// Tickets of sends still being stored.
    in_flight: BTreeSet<u64>,
    /// Stored messages not yet handed on, by `seq`, with the newest ticket issued when each
    /// came back.
    waiting: BTreeMap<u64, (Message, u64)>,
    /// The `seq` this node expects next (0: none delivered yet).
    next_seq: u64,
    /// Whether a task is handing this room's messages on right now.
    draining: bool,
}

impl RoomQueue {
    fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.waiting.is_empty() && !self.draining
    }

    /// The first waiting message, if it may go now, and whether it follows a message this
    /// node delivered (so no other node's message can be due before it).
    fn pop_ready(&mut self) -> Option<(Message, bool)> {
        let (&seq, &(_, newest_ticket)) = self.waiting.iter().next()?;
        let expected = self.next_seq != 0 && seq <= self.next_seq;
        let nothing_earlier_in_flight = self
            .in_flight
            .first()
            .is_none_or(|&oldest| oldest > newest_ticket);
        if !(expected || nothing_earlier_in_flight) {
            return None;
        }
        let (message, _) = self.waiting.remove(&seq)?;
        let follows_ours = self.next_seq == seq;
        self.next_seq = self.next_seq.max(seq + 1);
        Some((message, follows_ours))
    }
}

/// A send's place in its room's order, taken before the store assigns `seq`. Dropping it
/// unused (the send failed) lets the messages behind it go.
pub struct Ticket {
    order: Arc<DeliveryOrder>,
    room: RoomId,
    id: u64,
    done: bool,
}

impl DeliveryOrder {
    /// Takes a ticket for a send to `room` that is about to be stored.
    pub fn ticket(self: &Arc<Self>, room: &RoomId) -> Ticket {
        let mut state = self.lock();
        state.next_ticket += 1;
        let id = state.next_ticket;
        state
            .rooms
            .entry(room.clone())
            .or_default()
            .in_flight
            .insert(id);
        Ticket {
            order: Arc::clone(self),
            room: room.clone(),
            id,
            done: false,
        }
    }

    /// The messages of `room` that may be handed on now, in `seq` order, if the caller is to
    /// hand them on; `None` if another task is doing so already (it will take these too).
    /// The caller must call this again after handing a batch on, until it returns `None` or
    /// an empty batch.
    pub fn take_ready(&self, room: &RoomId, continuing: bool) -> Option<Vec<(Message, bool)>> {
        let mut state = self.lock();
        let queue = state.rooms.get_mut(room)?;
        if queue.draining && !continuing {
            return None;
        }
        let mut ready = Vec::new();
        while let Some(message) = queue.pop_ready() {
            ready.push(message);
        }
        queue.draining = !ready.is_empty();
        if queue.is_idle() {
            // Nothing left to order: forget the room (a later send starts afresh). Keep the
            // expectation while anything is pending, so memory stays bounded by rooms in use.
            state.rooms.remove(room);
        }
        Some(ready)
    }

    /// The `seq` of the first message of `room` still held back, when nobody is handing the
    /// room on.
    pub fn held_back(&self, room: &RoomId) -> Option<u64> {
        let state = self.lock();
        let queue = state.rooms.get(room)?;
        if queue.draining {
            return None;
        }
        queue.waiting.keys().next().copied()
    }

    /// Lets the messages of `room` up to `seq` go: the message before `seq` is known to be
    /// delivered (by whichever node), so no send still in flight here can precede them.
    pub fn release_through(&self, room: &RoomId, seq: u64) {
        if let Some(queue) = self.lock().rooms.get_mut(room) {
            queue.next_seq = queue.next_seq.max(seq);
        }
    }

    fn finish(&self, ticket: &Ticket, stored: Option<Message>) {
        let mut state = self.lock();
        let newest = state.next_ticket;
        let queue = state.rooms.entry(ticket.room.clone()).or_default();
        queue.in_flight.remove(&ticket.id);
        if let Some(message) = stored {
            queue.waiting.insert(message.seq, (message, newest));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Ticket {
    /// The send was stored as `message`: it joins its room's queue.
    pub fn stored(mut self, message: Message) -> RoomId {
        self.done = true;
        self.order.finish(&self, Some(message));
        self.room.clone()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.done {
            self.order.finish(self, None);
        }
    }
}

#[cfg(test)]
impl DeliveryOrder {
    fn rooms_in_use(&self) -> usize {
        self.lock().rooms.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{MessageId, MessageKind, Timestamp, UserId};

    fn message(seq: u64) -> Message {
        Message {
            id: MessageId(format!("m{seq}")),
            room_id: RoomId("r".into()),
            seq,
            sender_id: UserId("u".into()),
            client_id: format!("c{seq}"),
            kind: MessageKind::Text,
            body: Some("hi".into()),
            media: None,
            reply_to: None,
            created_at: Timestamp::now(),
            ..Default::default()
        }
    }

    fn seqs(batch: Option<Vec<(Message, bool)>>) -> Vec<u64> {
        batch
            .unwrap_or_default()
            .iter()
            .map(|(m, _)| m.seq)
            .collect()
    }

    #[test]
    fn a_later_seq_stored_first_waits_for_the_earlier_one() {
        let order = Arc::new(DeliveryOrder::default());
        let room = RoomId("r".into());
        let (first, second) = (order.ticket(&room), order.ticket(&room));
        second.stored(message(2));
        assert_eq!(seqs(order.take_ready(&room, false)), Vec::<u64>::new());
        first.stored(message(1));
        let batch = order.take_ready(&room, false).unwrap_or_default();
        let follows: Vec<bool> = batch.iter().map(|(_, follows)| *follows).collect();
        assert_eq!(seqs(Some(batch)), vec![1, 2]);
        assert_eq!(follows, vec![false, true], "2 follows our own 1");
    }

    #[test]
    fn a_gap_left_by_another_node_does_not_hold_messages_back() {
        let order = Arc::new(DeliveryOrder::default());
        let room = RoomId("r".into());
        order.ticket(&room).stored(message(1));
        assert_eq!(seqs(order.take_ready(&room, false)), vec![1]);
        let _ = order.take_ready(&room, true);
        // Seq 2 was another node's; nothing of ours is in flight, so 3 goes at once.
        let third = order.ticket(&room);
        third.stored(message(3));
        assert_eq!(seqs(order.take_ready(&room, false)), vec![3]);
    }

    #[test]
    fn a_failed_send_releases_the_messages_behind_it() {
        let order = Arc::new(DeliveryOrder::default());
        let room = RoomId("r".into());
        let failing = order.ticket(&room);
        let next = order.ticket(&room);
        next.stored(message(1));
        assert_eq!(seqs(order.take_ready(&room, false)), Vec::<u64>::new());
        drop(failing);
        assert_eq!(seqs(order.take_ready(&room, false)), vec![1]);
    }

    #[test]
    fn sends_that_start_later_never_hold_an_earlier_message_back() {
        let order = Arc::new(DeliveryOrder::default());
        let room = RoomId("r".into());
        let slow = order.ticket(&room);
        let stored = order.ticket(&room);
        stored.stored(message(5));
        // A send that starts now is stored after seq 5 and cannot be below it.
        let _later = order.ticket(&room);
        assert_eq!(seqs(order.take_ready(&room, false)), Vec::<u64>::new());
        drop(slow);
        assert_eq!(seqs(order.take_ready(&room, false)), vec![5]);
    }

    #[test]
    fn a_message_whose_predecessor_is_delivered_goes_past_sends_in_flight() {
        let order = Arc::new(DeliveryOrder::default());
        let room = RoomId("r".into());
        let _in_flight = order.ticket(&room);
        order.ticket(&room).stored(message(5));
        assert_eq!(seqs(order.take_ready(&room, false)), Vec::<u64>::new());
        assert_eq!(order.held_back(&room), Some(5));
        // Seq 4 is delivered (the stream position says so): 5 may go.
        order.release_through(&room, 5);
        let batch = order.take_ready(&room, false).unwrap_or_default();
        assert_eq!(
            batch
                .iter()
                .map(|(m, follows)| (m.seq, *follows))
                .collect::<Vec<_>>(),
            vec![(5, true)]
        );
    }

    #[test]
    fn only_one_task_hands_a_room_on_at_a_time() {
        let order = Arc::new(DeliveryOrder::default());
        let room = RoomId("r".into());
        order.ticket(&room).stored(message(1));
        assert_eq!(seqs(order.take_ready(&room, false)), vec![1]);
        order.ticket(&room).stored(message(2));
        // The first task is still handing on: a second one leaves seq 2 to it.
        assert!(order.take_ready(&room, false).is_none());
        assert_eq!(seqs(order.take_ready(&room, true)), vec![2]);
        assert_eq!(seqs(order.take_ready(&room, true)), Vec::<u64>::new());
        assert!(order.rooms_in_use() == 0);
    }
}
