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

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub use cache::RedisCache;
pub use limiter::RedisLimiter;
pub use presence::RedisPresence;

use crate::ports::{HealthCheck, PortError, PortResult};

/// One reconnecting connection, shared by the Redis adapters of a node.
///
/// With a circuit breaker: after a failed call, calls fail at once for `BREAK_FOR` instead
/// of each waiting out the connection's reconnection attempts. A send makes several cache
/// calls, every one of which falls back to the store or to this node; with Redis down, each
/// took seconds and a send missed its deadline. The health check still asks Redis itself,
/// and the first call after the pause probes it again.
#[derive(Clone)]
pub struct Redis {
    conn: ConnectionManager,
    /// Prefix of every key, so several deployments can share a server.
    prefix: String,
    /// Milliseconds since `epoch` until which calls fail at once (0: closed).
    open_until: Arc<AtomicU64>,
    epoch: Instant,
}

/// How long the breaker stays open after a failed call.
const BREAK_FOR: Duration = Duration::from_secs(1);

impl Redis {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("REDIS_URL is not a valid Redis URL")?;
        // Few, short reconnection attempts per call: the breaker, not the call, waits.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200))
            .set_connection_timeout(Some(Duration::from_millis(500)));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .context("cannot reach Redis")?;
        Ok(Self {
            conn,
            prefix: "confab:".into(),
            open_until: Arc::default(),
            epoch: Instant::now(),
        })
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        key.push_str(&parts.join(":"));
        key
    }

    /// The connection, unless the breaker is open.
    fn conn(&self) -> PortResult<ConnectionManager> {
        let now = self.millis();
        if now < self.open_until.load(Ordering::Relaxed) {
            return Err(PortError::Unavailable("redis"));
        }
        Ok(self.conn.clone())
    }

    /// A failed call: opens the breaker and says Redis is unavailable.
    fn failed(&self, err: redis::RedisError) -> PortError {
        let until = self.millis() + u64::try_from(BREAK_FOR.as_millis()).unwrap_or(u64::MAX);
        if self.open_until.swap(until, Ordering::Relaxed) <= self.millis() {
            tracing::warn!(error = %err, "redis call failed; not asking it again for a second");
        }
        PortError::Unavailable("redis")
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

#[async_trait]
impl HealthCheck for Redis {
    async fn check(&self) -> PortResult<()> {
        // Asks Redis itself, whatever the breaker says.
        redis::cmd("PING")
            .query_async::<String>(&mut self.conn.clone())
            .await
            .map(drop)
            .map_err(|err| self.failed(err))
    }
}
