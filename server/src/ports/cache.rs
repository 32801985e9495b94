//! A cache of hot reads, shared by every node. Entries are either immutable (keyed by
//! something that changes whenever their content would, such as a room's `last_seq`) or
//! stamped with a version that writers bump after changing the data, so a reader never picks
//! up an entry from before a change it could otherwise have seen. The cache is an
//! optimisation only: every caller falls back to the store when it fails.

use std::time::Duration;

use async_trait::async_trait;

use super::PortResult;

#[async_trait]
pub trait Cache: Send + Sync {
    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>>;
    /// Stores `value` under `key` for `ttl`.
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> PortResult<()>;
    /// The current version of `key` (0 when never bumped).
    async fn version(&self, key: &str) -> PortResult<u64>;
    /// Increments the version of `key` and returns the new one.
    async fn bump(&self, key: &str) -> PortResult<u64>;
    /// Raises the version of `key` to `to` unless it is already higher; returns the version.
    /// Never lowers it, so racing writers agree on the highest.
    async fn raise(&self, key: &str, to: u64) -> PortResult<u64>;
    /// Marks `key` as taken for `ttl`: true for the first caller, false while it stays
    /// taken. Lets at-least-once consumers do their work once.
    async fn claim(&self, key: &str, ttl: Duration) -> PortResult<bool>;
    /// Gives a claim back before it expires, so the next caller may take it.
    async fn release(&self, key: &str) -> PortResult<()>;
}
