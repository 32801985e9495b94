//! The `EventBus` contract, with Kafka's consumer-group semantics:
//!
//! - every group receives every event published while it exists;
//! - within a group, each event reaches exactly one subscriber, and the events of one key
//!   (room) reach one subscriber, in publish order;
//! - delivery is at least once per group: events published while a group has no subscriber
//!   wait for its next one.
//!
//! Groups and rooms are fresh per test, and events of other rooms are ignored, so the suites
//! can run against a shared broker that carries other traffic.

use std::collections::HashSet;
use std::time::Duration;

use protocol::RoomId;
use server::ports::{BusEvent, EventBus, Subscription};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::fixtures::{self, unique};

/// How long an expected event may take to arrive.
const ARRIVES_WITHIN: Duration = Duration::from_secs(10);
/// How long we listen before concluding that nothing more is coming.
const QUIET_FOR: Duration = Duration::from_millis(300);

/// An event's identity in these suites: its room and its seq in that room.
type EventId = (RoomId, u64);

fn event(room: &RoomId, seq: u64) -> BusEvent {
    BusEvent::MessageStored {
        message: fixtures::stored_message(room, seq),
    }
}

fn id_of(event: &BusEvent) -> EventId {
    let BusEvent::MessageStored { message } = event;
    (message.room_id.clone(), message.seq)
}

/// Publishes `per_room` events to each room, interleaving the rooms; returns them in order.
async fn publish_interleaved(bus: &dyn EventBus, rooms: &[RoomId], per_room: u64) -> Vec<EventId> {
    let mut published = Vec::new();
    for seq in 1..=per_room {
        for room in rooms {
            bus.publish(&event(room, seq)).await.expect("publish");
            published.push((room.clone(), seq));
        }
    }
    published
}

/// Forwards the events of `rooms` that `subscription` receives, tagged with `tag`.
fn forward(
    mut subscription: Box<dyn Subscription>,
    tag: usize,
    rooms: HashSet<RoomId>,
    out: mpsc::UnboundedSender<(usize, EventId)>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = subscription.next().await {
            let id = id_of(&event);
            if rooms.contains(&id.0) && out.send((tag, id)).is_err() {
                return;
            }
        }
    })
}

/// Receives exactly `count` forwarded events, then checks that no more arrive.
async fn receive_exactly(
    inbox: &mut mpsc::UnboundedReceiver<(usize, EventId)>,
    count: usize,
) -> Vec<(usize, EventId)> {
    let mut received = Vec::with_capacity(count);
    while received.len() < count {
        let next = timeout(ARRIVES_WITHIN, inbox.recv()).await;
        let got =
            next.unwrap_or_else(|_| panic!("only {} of {count} events arrived", received.len()));
        received.push(got.expect("the forwarders are running"));
    }
    let extra = timeout(QUIET_FOR, inbox.recv()).await;
    assert!(
        extra.is_err(),
        "an event arrived twice or unasked: {extra:?}"
    );
    received
}

/// Subscribes to `group` and forwards the events of `rooms` into a fresh inbox.
async fn listen(
    bus: &dyn EventBus,
    group: &str,
    rooms: &[RoomId],
) -> (mpsc::UnboundedReceiver<(usize, EventId)>, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let subscription = bus.subscribe(group).await.expect("subscribe");
    let forwarder = forward(subscription, 0, rooms.iter().cloned().collect(), tx);
    (rx, forwarder)
}

fn ids(received: Vec<(usize, EventId)>) -> Vec<EventId> {
    received.into_iter().map(|(_, id)| id).collect()
}

/// The events of each room, in the order they were received.
fn per_room(received: &[EventId], room: &RoomId) -> Vec<u64> {
    received
        .iter()
        .filter(|(r, _)| r == room)
        .map(|(_, seq)| *seq)
        .collect()
}

/// Two groups each receive every event, each room's in publish order.
pub async fn delivers_every_event_to_every_group(bus: &dyn EventBus) {
    let rooms = [fixtures::room_id(), fixtures::room_id()];
    let (mut first, _a) = listen(bus, &format!("contract-{}", unique()), &rooms).await;
    let (mut second, _b) = listen(bus, &format!("contract-{}", unique()), &rooms).await;

    let published = publish_interleaved(bus, &rooms, 5).await;
    for inbox in [&mut first, &mut second] {
        let received = ids(receive_exactly(inbox, published.len()).await);
        for room in &rooms {
            assert_eq!(
                per_room(&received, room),
                [1, 2, 3, 4, 5],
                "one group saw all, in order"
            );
        }
    }
}

/// Two subscribers of one group share its events: each event reaches exactly one of them,
/// and each room's events reach one subscriber, in publish order.
pub async fn shares_a_groups_events_between_its_subscribers(bus: &dyn EventBus) {
    let group = format!("contract-{}", unique());
    let rooms: Vec<RoomId> = (0..10).map(|_| fixtures::room_id()).collect();
    let room_set: HashSet<RoomId> = rooms.iter().cloned().collect();
    let (tx, mut inbox) = mpsc::unbounded_channel();
    let mut forwarders = Vec::new();
    for tag in 0..2 {
        let subscription = bus.subscribe(&group).await.expect("subscribe");
        forwarders.push(forward(subscription, tag, room_set.clone(), tx.clone()));
    }

    let published = publish_interleaved(bus, &rooms, 3).await;
    let received = receive_exactly(&mut inbox, published.len()).await;

    let unique_ids: HashSet<&EventId> = received.iter().map(|(_, id)| id).collect();
    assert_eq!(
        unique_ids.len(),
        published.len(),
        "each event reached the group once"
    );
    for room in &rooms {
        let takers: HashSet<usize> = received
            .iter()
            .filter(|(_, (r, _))| r == room)
            .map(|(tag, _)| *tag)
            .collect();
        assert_eq!(takers.len(), 1, "one subscriber takes a room's events");
        assert_eq!(
            per_room(&ids(received.clone()), room),
            [1, 2, 3],
            "in order"
        );
    }
}

/// Many events of interleaved rooms reach a subscriber in each room's publish order.
pub async fn keeps_each_rooms_order(bus: &dyn EventBus) {
    let rooms = [
        fixtures::room_id(),
        fixtures::room_id(),
        fixtures::room_id(),
    ];
    let (mut inbox, _forwarder) = listen(bus, &format!("contract-{}", unique()), &rooms).await;

    let published = publish_interleaved(bus, &rooms, 30).await;
    let received = ids(receive_exactly(&mut inbox, published.len()).await);
    for room in &rooms {
        assert_eq!(per_room(&received, room), (1..=30).collect::<Vec<u64>>());
    }
}

/// Events published while a group's only subscriber is gone wait for the group's next
/// subscriber (at least once per group); other groups are not held up meanwhile.
pub async fn keeps_events_for_a_group_while_it_has_no_subscriber(bus: &dyn EventBus) {
    let rooms = [fixtures::room_id()];
    let group = format!("contract-{}", unique());
    let (gone, forwarder) = listen(bus, &group, &rooms).await;
    let (mut other, _other) = listen(bus, &format!("contract-{}", unique()), &rooms).await;
    forwarder.abort();
    // Waiting for the aborted task drops its subscription before anything is published.
    assert!(
        forwarder.await.is_err_and(|e| e.is_cancelled()),
        "the subscriber is gone"
    );
    drop(gone);

    let published = publish_interleaved(bus, &rooms, 3).await;
    assert_eq!(
        ids(receive_exactly(&mut other, 3).await),
        published,
        "the other group goes on"
    );

    let (mut returning, _returning) = listen(bus, &group, &rooms).await;
    assert_eq!(
        ids(receive_exactly(&mut returning, 3).await),
        published,
        "kept for the group"
    );
}

/// At least once also covers events handed to a subscriber that went away before taking
/// them with `next`: the group's next subscriber gets them.
pub async fn hands_on_events_a_dropped_subscriber_never_took(bus: &dyn EventBus) {
    let rooms = [fixtures::room_id()];
    let group = format!("contract-{}", unique());
    let (mut other, _other) = listen(bus, &format!("contract-{}", unique()), &rooms).await;
    let idle = bus.subscribe(&group).await.expect("subscribe");

    let published = publish_interleaved(bus, &rooms, 2).await;
    // The other group has them, so they were published while `idle` was subscribed.
    assert_eq!(ids(receive_exactly(&mut other, 2).await), published);
    drop(idle);

    let (mut next, _next) = listen(bus, &group, &rooms).await;
    assert_eq!(
        ids(receive_exactly(&mut next, 2).await),
        published,
        "not lost with `idle`"
    );
}

/// A watcher receives every event published while it watches, each room's in order, with
/// no group to share them with; a second watcher gets them too, and dropping one leaves the
/// other watching.
pub async fn watchers_each_receive_what_is_published_while_they_watch(bus: &dyn EventBus) {
    let (probe, rooms) = (fixtures::room_id(), [fixtures::room_id()]);
    let (tx, mut inbox) = mpsc::unbounded_channel();
    let watched: HashSet<RoomId> = [probe.clone(), rooms[0].clone()].into();
    let first = forward(
        bus.watch().await.expect("watch"),
        0,
        watched.clone(),
        tx.clone(),
    );
    let _second = forward(bus.watch().await.expect("watch"), 1, watched, tx);

    // A watcher starts at "about now": probe until both are live (a Kafka watcher is once
    // its group has its partitions).
    let mut live = HashSet::new();
    for seq in 1.. {
        bus.publish(&event(&probe, seq)).await.expect("publish");
        while let Ok(Some((tag, _))) = timeout(Duration::from_millis(200), inbox.recv()).await {
            live.insert(tag);
        }
        if live.len() == 2 {
            break;
        }
        assert!(seq < 100, "the watchers never saw a probe");
    }
    while timeout(QUIET_FOR, inbox.recv()).await.is_ok() {}

    let published = publish_interleaved(bus, &rooms, 4).await;
    let received = receive_exactly(&mut inbox, 2 * published.len()).await;
    for tag in [0, 1] {
        let seen: Vec<EventId> = received
            .iter()
            .filter(|(t, _)| *t == tag)
            .map(|(_, id)| id.clone())
            .collect();
        assert_eq!(seen, published, "watcher {tag} saw all, in order");
    }

    first.abort();
    let _ = first.await;
    bus.publish(&event(&rooms[0], 5)).await.expect("publish");
    assert_eq!(
        receive_exactly(&mut inbox, 1).await,
        [(1, (rooms[0].clone(), 5))],
        "the other watcher goes on"
    );
}
