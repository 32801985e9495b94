//! The only door to browser APIs: fetch, localStorage, the Socket.IO client, visibility,
//! notifications, clipboard and the service worker, and for media: picked files, the photo
//! worker, uploads with progress, the microphone and IndexedDB. The hydrate build gets the
//! real thing (`web`, `web_media`, `web_store`); the server build gets inert stand-ins
//! (`inert`) with the same signatures, so the components compile unchanged for server
//! rendering, where effects and handlers never run.

#[cfg(feature = "hydrate")]
mod web;
#[cfg(feature = "hydrate")]
mod web_media;
#[cfg(feature = "hydrate")]
mod web_store;
#[cfg(feature = "hydrate")]
pub use web::*;
#[cfg(feature = "hydrate")]
pub use web_media::*;
#[cfg(feature = "hydrate")]
pub use web_store::*;

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

/// A blob this page holds (a picked photo, a shrunk one, a recording), by name. Blobs are
/// JavaScript objects that cannot live in signals; the browser module keeps them and the rest
/// of the client passes these names around.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlobKey(pub String);

/// A photo after the worker shrank it: a JPEG without metadata, and its size in pixels.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub blob: BlobKey,
    pub width: u32,
    pub height: u32,
}

/// A finished voice recording.
#[derive(Clone, Debug)]
pub struct Recording {
    pub blob: BlobKey,
    pub content_type: String,
    pub duration_ms: u64,
}
