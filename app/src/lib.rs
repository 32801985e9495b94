//! Confab's shared front half.
//!
//! - [`protocol`]: the wire types of the public API (`shared/API.md`): objects, request and
//!   response bodies, Socket.IO event payloads and the error body. The server, the WASM client
//!   and the tests all speak through these, so a field can only be renamed in one place.
//! - [`client`]: the browser's session state in signals, REST and Socket.IO, the outbox and
//!   the pure rules behind them (statuses, de-duplication).
//! - [`ui`]: the Leptos components, rendered on the server and hydrated in the browser.
#![recursion_limit = "256"]

pub mod client;
pub use protocol;
pub mod ui;

pub use ui::App;
#[cfg(feature = "ssr")]
pub use ui::shell;
