//! The embedded adapters: every port implemented in this process, with nothing to install.
//!
//! - [`sqlite`]: the durable store, one SQLite file in the data folder; its writes go through
//!   `group_commit`, one writer thread that shares a transaction among the writes waiting,
//!   and the writes of sends and receipts are made durable by `journal`, one record each.
//! - [`bus`]: the event bus as in-process channels with consumer groups.
//! - [`presence`]: connection counts in memory.
//! - [`limiter`]: fixed-window counters in memory.
//! - [`cache`]: the hot-read cache in memory.
//! - [`media`]: media files in the data folder, uploaded to signed server URLs.

pub mod bus;
pub mod cache;
mod group_commit;
mod journal;
pub mod limiter;
pub mod media;
pub mod presence;
pub mod sqlite;

pub use bus::LocalBus;
pub use cache::LocalCache;
pub use limiter::LocalLimiter;
pub use media::FsMediaStorage;
pub use presence::LocalPresence;
pub use sqlite::SqliteStore;
