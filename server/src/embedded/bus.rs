//! The embedded event bus: in-process channels with Kafka's consumer-group semantics, so the
//! code that consumes it is written once for both. Every group gets every event; within a
//! group, the events of one key (room) go to one subscriber, in order.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::ports::{BusEvent, EventBus, StoreResult, Subscription};

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

/// Consumer groups that live as long as the process.
#[derive(Default)]
pub struct LocalBus {
    groups: Mutex<HashMap<String, Group>>,
}

impl LocalBus {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, event: &BusEvent) -> StoreResult<()> {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        for group in groups.values_mut() {
            group.deliver(event.clone());
        }
        Ok(())
    }

    async fn subscribe(&self, group: &str) -> StoreResult<Box<dyn Subscription>> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let group = groups.entry(group.to_owned()).or_default();
        for event in group.backlog.drain(..) {
            // The receiver is alive: it is ours and not yet returned.
            let _ = tx.send(event);
        }
        group.subscribers.push(tx);
        Ok(Box::new(LocalSubscription { rx }))
    }
}

struct LocalSubscription {
    rx: mpsc::UnboundedReceiver<BusEvent>,
}

#[async_trait]
impl Subscription for LocalSubscription {
    async fn next(&mut self) -> Option<BusEvent> {
        self.rx.recv().await
    }
}
