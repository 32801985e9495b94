//! The REST API under `/api/v1`, plus the health endpoints.
//!
//! - [`handlers`]: one function per endpoint of `shared/API.md`.
//! - [`auth`]: bearer tokens, the session cookie and its CSRF guard, the client address.
//! - [`extract`]: request extractors whose rejections use the API's error body.
//! - [`health`]: `/healthz`, `/readyz` and `/readyz/services`.

pub mod auth;
pub mod extract;
pub mod handlers;
pub mod health;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};

use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::chat::Chat;
use crate::config::Config;
use crate::error::Error;
use crate::ports::HealthChecks;

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub chat: Arc<Chat>,
    pub config: Arc<Config>,
    /// Set once shutdown begins: `/readyz` then fails so load balancers move on.
    pub draining: Arc<AtomicBool>,
    pub health_checks: Arc<HealthChecks>,
}

/// `/api/v1/...`, `/healthz` and `/readyz`.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/auth/register", post(handlers::register))
        .route("/auth/login", post(handlers::login))
        .route("/auth/logout", post(handlers::logout))
        .route(
            "/me",
            get(handlers::me)
                .patch(handlers::update_me)
                .delete(handlers::delete_account),
        )
        .route("/me/blocks", get(handlers::blocked_users))
        .route("/me/sessions", get(handlers::my_sessions))
        .route("/me/sessions/{id}", delete(handlers::end_session))
        .route("/me/password", post(handlers::change_password))
        .route("/users", get(handlers::search_users))
        .route("/users/{id}/avatar/{token}", get(handlers::user_avatar))
        .route("/rooms/{id}/avatar/{token}", get(handlers::room_avatar))
        .route(
            "/users/{id}/block",
            post(handlers::block_user).delete(handlers::unblock_user),
        )
        .route("/search", get(handlers::search_messages))
        .route(
            "/rooms",
            get(handlers::list_rooms).post(handlers::create_group),
        )
        .route("/rooms/direct", post(handlers::open_direct))
        .route(
            "/rooms/{id}",
            get(handlers::get_room).patch(handlers::update_room),
        )
        .route(
            "/rooms/{id}/members",
            get(handlers::room_members).post(handlers::add_member),
        )
        .route(
            "/rooms/{id}/members/me",
            delete(handlers::leave_room).patch(handlers::mute_room),
        )
        .route(
            "/rooms/{id}/members/{user_id}",
            delete(handlers::remove_member).patch(handlers::set_member_role),
        )
        .route(
            "/rooms/{id}/messages",
            get(handlers::history).post(handlers::send_message),
        )
        .route("/rooms/{id}/invites", post(handlers::create_invite))
        .route(
            "/invites/{code}",
            get(handlers::preview_invite).delete(handlers::revoke_invite),
        )
        .route("/invites/{code}/accept", post(handlers::accept_invite))
        .route("/push/vapid-public-key", get(handlers::vapid_public_key))
        .route("/push/subscriptions", post(handlers::register_push))
        .route(
            "/push/subscriptions/{id}",
            delete(handlers::unregister_push),
        )
        .route("/media", post(handlers::create_media))
        .route(
            "/media/{id}",
            get(handlers::media).delete(handlers::delete_media),
        )
        .route("/media/{id}/thumbnail", get(handlers::media_thumbnail))
        .route("/media/{id}/complete", post(handlers::complete_media))
        .layer(middleware::from_fn(within_deadline))
        .route_layer(middleware::from_fn(crate::metrics::count_request))
        // The upload reads its body itself, up to the size its media declared, for as long
        // as the client's network needs (the upload URL's own expiry bounds it).
        .route(
            "/uploads/{*key}",
            put(handlers::upload).layer(DefaultBodyLimit::disable()),
        )
        .fallback(handlers::no_such_endpoint)
        .method_not_allowed_fallback(handlers::no_such_endpoint)
        .layer(DefaultBodyLimit::max(state.config.limits.max_json_bytes))
        .layer(cors(&state.config));
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/readyz/services", get(health::services))
        .with_state(state)
}

/// CORS for web clients served from other origins (`CONFAB_ALLOWED_ORIGINS`): they may call
/// the API with a bearer token, or with the session cookie and the CSRF header. The
/// deployment's own pages are same-origin and need none of it; with no origins listed, no
/// other origin is allowed.
fn cors(config: &Config) -> CorsLayer {
    use axum::http::{HeaderName, HeaderValue, Method, header};
    let origins: Vec<HeaderValue> = config
        .allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin.trim_end_matches('/')).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(auth::CSRF_HEADER),
        ])
        .expose_headers([header::RETRY_AFTER])
        .allow_credentials(true)
        .max_age(Duration::from_secs(3600))
}

/// The longest a request waits for its answer before it gets `503 unavailable`, so a slow
/// store never holds a client (or a load balancer's connection) without bound. A send cut
/// off here still finishes on its own task; the client's retry with the same `client_id`
/// then finds it.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

async fn within_deadline(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_DEADLINE, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Error::Unavailable("the server (it took too long)").into_response(),
    }
}
