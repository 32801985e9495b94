//! The only door to browser APIs: fetch, localStorage, the Socket.IO client, visibility,
//! notifications, clipboard and the service worker. The hydrate build gets the real thing
//! (`web`); the server build gets inert stand-ins (`inert`) with the same signatures, so the
//! components compile unchanged for server rendering, where effects and handlers never run.

#[cfg(feature = "hydrate")]
mod web;
#[cfg(feature = "hydrate")]
pub use web::*;

#[cfg(not(feature = "hydrate"))]
mod inert;
#[cfg(not(feature = "hydrate"))]
pub use inert::*;

/// Why a request got no HTTP answer, or the answer's status and body.
#[derive(Clone, Debug)]
pub enum FetchError {
    /// No answer at all: offline, DNS, connection refused.
    Network,
    /// An answer with a status outside 2xx, and its body.
    Status(u16, String),
}
