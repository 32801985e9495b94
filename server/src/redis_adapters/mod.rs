//! The Redis adapters: presence with expiry, shared rate-limit counters, and the pub/sub
//! driver under socketioxide's Redis adapter (cross-node Socket.IO fan-out).
//!
//! - [`cache`]: the hot-read cache, with versions as counters.
//! - [`fanout_driver`]: pub/sub for socketioxide-redis that survives a Redis restart.
//! - [`limiter`]: `RateLimiter` as an `INCR` with a window expiry, one script per hit.
//! - [`presence`]: `Presence` as a sorted set of connections per user, scored by expiry, so a
//!   node that dies stops counting once its heartbeats stop.

pub mod cache;
pub mod fanout_driver;
pub mod limiter;
pub mod presence;

use anyhow::Context;
use async_trait::async_trait;
use redis::aio::ConnectionManager;

pub use cache::RedisCache;
pub use limiter::RedisLimiter;
pub use presence::RedisPresence;

use crate::ports::{HealthCheck, StoreError, StoreResult};

/// One reconnecting connection, shared by the Redis adapters of a node.
#[derive(Clone)]
pub struct Redis {
    conn: ConnectionManager,
    /// Prefix of every key, so several deployments can share a server.
    prefix: String,
}

impl Redis {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("REDIS_URL is not a valid Redis URL")?;
        let conn = ConnectionManager::new(client)
            .await
            .context("cannot reach Redis")?;
        Ok(Self {
            conn,
            prefix: "confab:".into(),
        })
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        key.push_str(&parts.join(":"));
        key
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

/// Redis errors are connection trouble more often than not: the caller may retry.
pub(crate) fn unavailable(err: redis::RedisError) -> StoreError {
    tracing::warn!(error = %err, "redis call failed");
    StoreError::Unavailable("redis")
}

#[async_trait]
impl HealthCheck for Redis {
    async fn check(&self) -> StoreResult<()> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.conn())
            .await
            .map(drop)
            .map_err(unavailable)
    }
}
