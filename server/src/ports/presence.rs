//! Who is online. A user is online while at least one of their connections is.

use async_trait::async_trait;
use protocol::{Timestamp, UserId};

use super::PortResult;

/// A user's presence as others see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub online: bool,
    pub last_seen_at: Option<Timestamp>,
}

#[async_trait]
pub trait Presence: Send + Sync {
    /// Records a connection; true when it made the user come online.
    async fn connected(&self, user: &UserId, connection: &str) -> PortResult<bool>;
    /// Forgets a connection; true when it was the user's last (they are now offline, last
    /// seen at `at`).
    async fn disconnected(
        &self,
        user: &UserId,
        connection: &str,
        at: Timestamp,
    ) -> PortResult<bool>;
    async fn status(&self, user: &UserId) -> PortResult<Status>;
    /// Those of `users` with no live connection anywhere, in their order. Stores on a
    /// network answer the whole list in one round trip.
    async fn offline_among(&self, users: &[UserId]) -> PortResult<Vec<UserId>> {
        let mut offline = Vec::new();
        for user in users {
            if !self.status(user).await?.online {
                offline.push(user.clone());
            }
        }
        Ok(offline)
    }
    /// Tells the store these connections of this node are still alive. Stores whose
    /// connections can outlive their node (shared ones) expire those not refreshed; an
    /// in-process store needs none of this.
    async fn heartbeat(&self, _connections: &[(UserId, String)]) -> PortResult<()> {
        Ok(())
    }
}
