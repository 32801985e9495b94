//! Browser entry point: takes over the server-rendered page.
#![recursion_limit = "256"]

use wasm_bindgen::prelude::wasm_bindgen;

// The server renders pages with Leptos's view types erased, and only an erased build
// hydrates them (see .cargo/config.toml).
#[cfg(not(erase_components))]
compile_error!(
    "build with `--cfg erase_components`: .cargo/config.toml sets it, and a RUSTFLAGS of \
     your own replaces that list (add the flag to it)"
);

/// Called by the generated JS glue once the WASM module has loaded.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
