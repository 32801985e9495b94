//! Confab's shared front half.
//!
//! - [`protocol`]: the wire types of the public API (`shared/API.md`): objects, request and
//!   response bodies, Socket.IO event payloads and the error body. The server, the WASM client
//!   and the tests all speak through these, so a field can only be renamed in one place.
//! - [`ui`]: the Leptos components, rendered on the server and hydrated in the browser.

pub mod protocol;
pub mod ui;

pub use ui::App;
#[cfg(feature = "ssr")]
pub use ui::shell;
