//! Rate-limit counters, shared by every node so a client cannot dodge a limit by switching.

use std::time::Duration;

use async_trait::async_trait;

use super::StoreResult;

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one hit on `key` in a fixed window of `window`. `Ok(None)` while within
    /// `limit`; `Ok(Some(wait))` when over it, with the time until the window resets.
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> StoreResult<Option<Duration>>;
}
