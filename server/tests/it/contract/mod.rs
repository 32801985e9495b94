//! Contract suites: one per port, written once, run against every implementation.
//!
//! Each suite module holds plain `async fn`s over the port's trait object, one per behaviour
//! of its doc comments; the `#[tokio::test]`s that run them against an implementation live
//! apart (`embedded` for the in-process adapters), so a real adapter reuses every assertion.

pub mod accounts;
pub mod bus;
pub mod cache;
pub mod fixtures;
pub mod health;
pub mod invites;
pub mod limiter;
pub mod media;
pub mod media_records;
pub mod messages;
pub mod presence;
pub mod rooms;
pub mod services;

mod embedded;
mod kafka;
mod mongo;
mod redis;
