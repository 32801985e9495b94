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

/// A shared limiter that falls back to a node-local one while the shared one cannot answer:
/// with Redis down, each node still counts (a client switching nodes gets at most a limit
/// per node), instead of every send and sign-in being refused.
pub struct WithLocalFallback<S, L> {
    shared: S,
    local: L,
}

impl<S, L> WithLocalFallback<S, L> {
    pub fn new(shared: S, local: L) -> Self {
        Self { shared, local }
    }
}

#[async_trait]
impl<S: RateLimiter, L: RateLimiter> RateLimiter for WithLocalFallback<S, L> {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> StoreResult<Option<Duration>> {
        match self.shared.hit(key, limit, window).await {
            Ok(answer) => Ok(answer),
            Err(err) => {
                tracing::debug!(error = %err, "shared rate limiter down; counting on this node");
                self.local.hit(key, limit, window).await
            }
        }
    }
}
