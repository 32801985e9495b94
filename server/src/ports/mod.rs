//! The ports: the small traits the chat core depends on. Each has an embedded
//! implementation (`crate::adapters::embedded`) and one on a real service (the rest of
//! `crate::adapters`), apart from the fan-out, which Socket.IO implements
//! (`crate::realtime::fanout`); the contract tests in `tests/it/contract` hold every
//! implementation to the same behaviour.
//!
//! - [`store`]: durable state: accounts and sessions, rooms and members, invites, messages,
//!   media records.
//! - [`bus`]: the event bus that carries stored messages to asynchronous work.
//! - [`presence`]: who is online, across every node.
//! - [`limiter`]: rate-limit counters shared by every node.
//! - [`cache`]: hot reads (room membership, the newest page of a room).
//! - [`media`]: the bytes of uploaded media, and where clients upload and download them.
//! - [`push`]: the push services that reach devices with no live socket.
//! - [`fanout`]: the connected devices, reached through Socket.IO rooms on every node.

pub mod bus;
pub mod cache;
pub mod fanout;
pub mod limiter;
pub mod media;
pub mod presence;
pub mod push;
pub mod store;

pub use bus::{BusEvent, EventBus, Subscription};
pub use cache::Cache;
pub use fanout::Fanout;
pub use limiter::RateLimiter;
pub use media::{MediaStorage, ObjectInfo, UploadTarget};
pub use presence::Presence;
pub use push::{Delivery, PushGateway, PushPayload};
pub use store::{AccountStore, InviteStore, MediaRecordStore, MessageStore, RoomStore};

/// What any port (a store, the bus, the cache, the limiter, presence, media storage) can
/// report besides success.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// A rule of the store refused the write (which one: [`Conflict`]).
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    /// An `edit`, `delete` or `reaction` its target cannot take.
    #[error("change refused: {0:?}")]
    ChangeRefused(store::ChangeRefusal),
    /// A read refused an object larger than the caller's limit (`MediaStorage::get`),
    /// without reading it whole.
    #[error("the object holds {bytes} bytes, more than the {max_bytes} asked for")]
    TooLarge {
        /// The object's size, or as much of it as was read before the limit passed.
        bytes: u64,
        /// The limit the caller set.
        max_bytes: u64,
    },
    /// The backing service cannot be reached; the caller may retry.
    #[error("{0} unavailable")]
    Unavailable(&'static str),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type PortResult<T> = Result<T, PortError>;

/// Which rule of a store refused a write. The core decides what to tell the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// The username belongs to another account.
    UsernameTaken,
    /// The room exists already (the one direct room of a pair, made meanwhile).
    RoomExists,
    /// A media record with this id exists already.
    MediaIdTaken,
    /// The media a message names is missing, not ready, or given to another room.
    MediaUnavailable,
    /// Another request registered the same push device meanwhile.
    DeviceRegisteredMeanwhile,
    /// Another unique index refused a duplicate the adapter did not expect.
    Duplicate,
}

/// A dependency `/readyz` asks: does the service answer right now?
#[async_trait::async_trait]
pub trait HealthCheck: Send + Sync {
    async fn check(&self) -> PortResult<()>;
}

/// The named checks `/readyz` runs.
pub type HealthChecks = Vec<(&'static str, std::sync::Arc<dyn HealthCheck>)>;
