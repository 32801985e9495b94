//! The implementations of the ports (`crate::ports`), one folder per technology.
//!
//! - [`embedded`]: everything in the process, the defaults: SQLite (with a journal and group
//!   commit) for the stores, the file system for media, in-memory presence, limits, cache
//!   and bus. One node, nothing to install.
//! - On the real services, for as many nodes as needed: [`mongo`] (the stores), [`redis`]
//!   (presence, rate limits, the cache; Socket.IO's own adapter rides on it too), [`kafka`]
//!   (the event bus), [`s3`] (media bytes, by presigned URL).
//! - [`push`]: Web Push and the Expo push service.
//!
//! Each port has one contract suite (`server/tests/it/contract`) run against every adapter
//! of it, so the two ways to run behave the same.

pub mod embedded;
#[cfg(feature = "services")]
pub mod kafka;
#[cfg(feature = "services")]
pub mod mongo;
pub mod push;
pub mod redis;
pub mod s3;
