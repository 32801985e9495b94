//! The cache in memory, bounded: expired entries are swept once it holds many.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::ports::{Cache, StoreResult};

/// Above this many entries, expired ones are swept on the next write; above twice as many,
/// everything is dropped (a cache may always forget).
const SWEEP_ABOVE: usize = 10_000;

#[derive(Default)]
pub struct LocalCache {
    entries: Mutex<HashMap<String, (Instant, Vec<u8>)>>,
    versions: Mutex<HashMap<String, u64>>,
}

impl LocalCache {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Cache for LocalCache {
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        Ok(entries
            .get(key)
            .filter(|(expires, _)| Instant::now() < *expires)
            .map(|(_, value)| value.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> StoreResult<()> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() > SWEEP_ABOVE {
            entries.retain(|_, (expires, _)| now < *expires);
            if entries.len() > 2 * SWEEP_ABOVE {
                entries.clear();
            }
        }
        entries.insert(key.to_owned(), (now + ttl, value.to_vec()));
        Ok(())
    }

    async fn version(&self, key: &str) -> StoreResult<u64> {
        let versions = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        Ok(versions.get(key).copied().unwrap_or(0))
    }

    async fn claim(&self, key: &str, ttl: Duration) -> StoreResult<bool> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let key = format!("claim:{key}");
        if entries.get(&key).is_some_and(|(expires, _)| now < *expires) {
            return Ok(false);
        }
        entries.insert(key, (now + ttl, Vec::new()));
        Ok(true)
    }

    async fn release(&self, key: &str) -> StoreResult<()> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(&format!("claim:{key}"));
        Ok(())
    }

    async fn bump(&self, key: &str) -> StoreResult<u64> {
        let mut versions = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        let version = versions.entry(key.to_owned()).or_insert(0);
        *version += 1;
        Ok(*version)
    }
}
