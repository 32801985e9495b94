//! Fixed-window rate-limit counters in memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::ports::{RateLimiter, StoreResult};

/// Above this many keys, expired windows are swept on the next hit, bounding memory.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Default)]
pub struct LocalLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl LocalLimiter {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl RateLimiter for LocalLimiter {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> StoreResult<Option<Duration>> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, (started, _)| now.duration_since(*started) < window);
        }
        let (started, count) = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(*started) >= window {
            *started = now;
            *count = 0;
        }
        *count = count.saturating_add(1);
        if *count <= limit {
            Ok(None)
        } else {
            Ok(Some(window.saturating_sub(now.duration_since(*started))))
        }
    }
}
