//! Confab's server integration tests: one binary, real servers on port 0, real HTTP and
//! Socket.IO clients over real connections.

mod api;
mod changes;
mod chaos;
mod cluster;
mod contract;
mod crash;
mod deployment;
mod groups;
mod helpers;
mod media;
mod metrics;
mod people;
mod push;
mod schema;
mod sessions;
mod socket;
