//! The embedded event bus: in-process channels with Kafka's consumer-group semantics, so the
//! code that consumes it is written once for both. Every group gets every event; within a
//! group, the events of one key (room) go to one subscriber, in order. An event counts as
//! delivered once `next` has returned it: a subscriber dropped before that hands its queued
//! events back to its group, so none is lost.
//!
//! Unlike Kafka, a group's rooms are reassigned (by hash) when a subscriber joins, which can
//! reorder a room's events that were queued at the moment; the server runs one subscriber per
//! group per process, where this cannot happen.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::ports::{BusEvent, EventBus, PortResult, Subscription};

type Groups = Arc<Mutex<HashMap<String, Group>>>;

#[derive(Default)]
struct Group {
    subscribers: Vec<mpsc::UnboundedSender<BusEvent>>,
    /// Events published while the group had no live subscriber; the next one gets them.
    backlog: VecDeque<BusEvent>,
}

impl Group {
    fn deliver(&mut self, event: BusEvent) {
        self.subscribers.retain(|tx| !tx.is_closed());
        if self.subscribers.is_empty() {
            self.backlog.push_back(event);
            return;
        }
        let mut hasher = DefaultHasher::new();
        event.key().hash(&mut hasher);
        let pick = (hasher.finish() % self.subscribers.len() as u64) as usize;
        if let Err(mpsc::error::SendError(event)) = self.subscribers[pick].send(event) {
            self.deliver(event);
        }
    }
}

/// Consumer groups that live as long as the process, and watchers that live as long as
/// their subscription.
#[derive(Default)]
pub struct LocalBus {
    groups: Groups,
    watchers: Mutex<Vec<mpsc::UnboundedSender<BusEvent>>>,
}

impl LocalBus {
    pub fn new() -> Self {
        Self::default()
    }
}

fn lock(groups: &Groups) -> std::sync::MutexGuard<'_, HashMap<String, Group>> {
    groups.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, event: &BusEvent) -> PortResult<()> {
        for group in lock(&self.groups).values_mut() {
            group.deliver(event.clone());
        }
        self.watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|tx| tx.send(event.clone()).is_ok());
        Ok(())
    }

    async fn watch(&self) -> PortResult<Box<dyn Subscription>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx);
        Ok(Box::new(Watcher { rx }))
    }

    async fn subscribe(&self, group: &str) -> PortResult<Box<dyn Subscription>> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut groups = lock(&self.groups);
        let entry = groups.entry(group.to_owned()).or_default();
        for event in entry.backlog.drain(..) {
            // The receiver is alive: it is ours and not yet returned.
            let _ = tx.send(event);
        }
        entry.subscribers.push(tx);
        Ok(Box::new(LocalSubscription {
            rx,
            group: group.to_owned(),
            groups: Arc::clone(&self.groups),
            lag: crate::metrics::METRICS
                .consumer_lag
                .with_label_values(&[group]),
        }))
    }
}

/// A watcher's end: dropping it closes the channel, and the next publish forgets it.
struct Watcher {
    rx: mpsc::UnboundedReceiver<BusEvent>,
}

#[async_trait]
impl Subscription for Watcher {
    async fn next(&mut self) -> Option<BusEvent> {
        self.rx.recv().await
    }
}

struct LocalSubscription {
    rx: mpsc::UnboundedReceiver<BusEvent>,
    group: String,
    groups: Groups,
    /// The events queued behind the one just taken.
    lag: prometheus::IntGauge,
}

#[async_trait]
impl Subscription for LocalSubscription {
    async fn next(&mut self) -> Option<BusEvent> {
        let event = self.rx.recv().await;
        self.lag
            .set(i64::try_from(self.rx.len()).unwrap_or(i64::MAX));
        event
    }
}

impl Drop for LocalSubscription {
    /// Hands what this subscriber never took back to its group.
    fn drop(&mut self) {
        self.rx.close();
        let mut groups = lock(&self.groups);
        let Some(group) = groups.get_mut(&self.group) else {
            return;
        };
        while let Ok(event) = self.rx.try_recv() {
            group.deliver(event);
        }
    }
}
