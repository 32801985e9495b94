//! The event bus: stored messages and other facts, on their way to asynchronous work
//! (notifications and unread counters). Delivery is at least once and in
//! order per room; consumers must be idempotent.

use async_trait::async_trait;
use protocol::Message;
use serde::{Deserialize, Serialize};

use super::PortResult;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BusEvent {
    /// A message was stored for the first time.
    MessageStored { message: Message },
}

impl BusEvent {
    /// The partition key: events of one room keep their order.
    pub fn key(&self) -> &str {
        match self {
            BusEvent::MessageStored { message } => message.room_id.as_str(),
        }
    }
}

#[async_trait]
pub trait EventBus: Send + Sync {
    /// Hands the event to the bus; once this returns `Ok` the bus has it durably and it will
    /// reach every group. An error means it may not: the outbox publishes it again.
    async fn publish(&self, event: &BusEvent) -> PortResult<()>;
    /// Joins consumer group `group`: each event reaches one subscriber of every group.
    async fn subscribe(&self, group: &str) -> PortResult<Box<dyn Subscription>>;
    /// Every event published from about now on, to this subscriber alone (no group shares
    /// it, nothing is kept for it once dropped): for work every node does for itself.
    async fn watch(&self) -> PortResult<Box<dyn Subscription>>;
}

#[async_trait]
pub trait Subscription: Send {
    /// The next event, or `None` once the bus has shut down.
    async fn next(&mut self) -> Option<BusEvent>;
}
