//! The cache in memory, bounded: expired entries are swept once it holds many.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::ports::{Cache, PortResult};

/// Expired entries are swept once the cache holds this many, and then again each time it
/// has doubled since the last sweep, so a sweep's cost is spread over as many writes as it
/// visits entries (sweeping on every write past a fixed size made each write O(n)).
const SWEEP_ABOVE: usize = 10_000;
/// Above this many live entries everything is dropped (a cache may always forget).
const MAX_ENTRIES: usize = 200_000;

#[derive(Default)]
pub struct LocalCache {
    entries: Mutex<Entries>,
    /// Claims apart from the entries: a consumer claims every message it handles, and at a
    /// thousand messages a second the claims alone filled the entries' bound every few
    /// minutes, dropping the member lists and pages with them. When the claims fill their
    /// own bound, only claims are forgotten (at worst a redelivered event is handled twice).
    claims: Mutex<Entries>,
    versions: Mutex<HashMap<String, u64>>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, (Instant, Vec<u8>)>,
    /// The size at which the next sweep runs.
    sweep_at: usize,
}

impl Entries {
    fn make_room(&mut self, now: Instant) {
        if self.map.len() < self.sweep_at.max(SWEEP_ABOVE) {
            return;
        }
        self.map.retain(|_, (expires, _)| now < *expires);
        if self.map.len() > MAX_ENTRIES {
            self.map.clear();
        }
        self.sweep_at = (2 * self.map.len()).max(SWEEP_ABOVE);
    }
}

impl LocalCache {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Cache for LocalCache {
    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        Ok(entries
            .map
            .get(key)
            .filter(|(expires, _)| Instant::now() < *expires)
            .map(|(_, value)| value.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> PortResult<()> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.make_room(now);
        entries
            .map
            .insert(key.to_owned(), (now + ttl, value.to_vec()));
        Ok(())
    }

    async fn version(&self, key: &str) -> PortResult<u64> {
        let versions = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        Ok(versions.get(key).copied().unwrap_or(0))
    }

    async fn claim(&self, key: &str, ttl: Duration) -> PortResult<bool> {
        let now = Instant::now();
        let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
        if claims
            .map
            .get(key)
            .is_some_and(|(expires, _)| now < *expires)
        {
            return Ok(false);
        }
        claims.make_room(now);
        claims.map.insert(key.to_owned(), (now + ttl, Vec::new()));
        Ok(true)
    }

    async fn release(&self, key: &str) -> PortResult<()> {
        let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
        claims.map.remove(key);
        Ok(())
    }

    async fn bump(&self, key: &str) -> PortResult<u64> {
        let mut versions = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        let version = versions.entry(key.to_owned()).or_insert(0);
        *version += 1;
        Ok(*version)
    }

    async fn raise(&self, key: &str, to: u64) -> PortResult<u64> {
        let mut versions = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        let version = versions.entry(key.to_owned()).or_insert(0);
        *version = (*version).max(to);
        Ok(*version)
    }
}
