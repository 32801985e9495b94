//! The web app: server-rendered Leptos pages and the built assets of the site root.

use app::{App, shell};
use axum::Router;
use leptos::config::{Env, LeptosOptions};
use leptos_axum::{LeptosRoutes, generate_route_list};

use crate::config::Config;

/// The file names the hydrate build writes (`pkg/confab.js`, `confab_bg.wasm`, `confab.css`).
pub const OUTPUT_NAME: &str = "confab";

pub fn router(config: &Config) -> Router {
    let options = LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.addr)
        .env(Env::PROD)
        .build();
    let routes = generate_route_list(App);
    Router::new()
        .leptos_routes(&options, routes, {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler(shell))
        .with_state(options)
}
