//! Rate-limit counters, shared by every node so a client cannot dodge a limit by switching.

use std::time::Duration;

use async_trait::async_trait;

use super::PortResult;

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one hit on `key` in a fixed window of `window`. `Ok(None)` while within
    /// `limit`; `Ok(Some(wait))` when over it, with the time until the window resets.
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> PortResult<Option<Duration>>;
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
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> PortResult<Option<Duration>> {
        match self.shared.hit(key, limit, window).await {
            Ok(answer) => Ok(answer),
            Err(err) => {
                tracing::debug!(error = %err, "shared rate limiter down; counting on this node");
                self.local.hit(key, limit, window).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::embedded::LocalLimiter;
    use crate::ports::PortError;

    struct Down;

    #[async_trait]
    impl RateLimiter for Down {
        async fn hit(&self, _: &str, _: u32, _: Duration) -> PortResult<Option<Duration>> {
            Err(PortError::Unavailable("redis"))
        }
    }

    #[tokio::test]
    async fn a_shared_limiter_that_is_down_leaves_the_counting_to_this_node() {
        let limiter = WithLocalFallback::new(Down, LocalLimiter::new());
        let window = Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limiter.hit("k", 3, window).await.expect("counted"), None);
        }
        assert!(
            limiter
                .hit("k", 3, window)
                .await
                .expect("counted")
                .is_some()
        );
    }

    #[tokio::test]
    async fn a_shared_limiter_that_answers_is_the_one_asked() {
        let shared = LocalLimiter::new();
        for _ in 0..2 {
            shared
                .hit("k", 2, Duration::from_secs(60))
                .await
                .expect("counted");
        }
        let limiter = WithLocalFallback::new(shared, LocalLimiter::new());
        let over = limiter.hit("k", 2, Duration::from_secs(60)).await;
        assert!(over.expect("counted").is_some(), "the shared count decides");
    }
}
