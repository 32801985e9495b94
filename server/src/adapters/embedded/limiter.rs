//! Fixed-window rate-limit counters in memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::ports::{PortResult, RateLimiter};

/// Above this many keys, expired windows are swept on the next hit, bounding memory.
const SWEEP_ABOVE: usize = 10_000;

/// One key's current window.
struct Window {
    started: Instant,
    length: Duration,
    hits: u32,
}

#[derive(Default)]
pub struct LocalLimiter {
    windows: Mutex<HashMap<String, Window>>,
}

impl LocalLimiter {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl RateLimiter for LocalLimiter {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> PortResult<Option<Duration>> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > SWEEP_ABOVE {
            // Each key by its own window: one limit's short window must not reset another's.
            windows.retain(|_, w| now.duration_since(w.started) < w.length);
        }
        let current = windows.entry(key.to_owned()).or_insert(Window {
            started: now,
            length: window,
            hits: 0,
        });
        if now.duration_since(current.started) >= current.length {
            *current = Window {
                started: now,
                length: window,
                hits: 0,
            };
        }
        current.hits = current.hits.saturating_add(1);
        if current.hits <= limit {
            Ok(None)
        } else {
            Ok(Some(
                current
                    .length
                    .saturating_sub(now.duration_since(current.started)),
            ))
        }
    }
}
