//! The REST API under `/api/v1`, plus the health endpoints.
//!
//! - [`handlers`]: one function per endpoint of `shared/API.md`.
//! - [`auth`]: bearer tokens, the session cookie and its CSRF guard, the client address.
//! - [`extract`]: request extractors whose rejections use the API's error body.
//! - [`range`]: the `Range` header of media players.
//! - [`health`]: `/healthz`, `/readyz` and `/readyz/services`.
//! - [`openapi`]: the OpenAPI and AsyncAPI documents, served under `/api/v1`.
//! - [`well_known`]: the app-link files that let native apps open invite links.

pub mod auth;
pub mod extract;
pub mod handlers;
pub mod health;
pub mod openapi;
pub mod range;
pub mod well_known;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::put;

use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
    let (api, _) = api_routes().split_for_parts();
    let (health, _) = health_routes().split_for_parts();
    let api = api
        .merge(upload_routes())
        .fallback(handlers::no_such_endpoint)
        .method_not_allowed_fallback(handlers::no_such_endpoint)
        .layer(DefaultBodyLimit::max(state.config.limits.max_json_bytes))
        .layer(cors(&state.config));
    Router::new()
        .nest(protocol::paths::API, api)
        .merge(health)
        .route(
            "/.well-known/assetlinks.json",
            axum::routing::get(well_known::assetlinks),
        )
        .route(
            "/.well-known/apple-app-site-association",
            axum::routing::get(well_known::apple_app_site_association),
        )
        .with_state(state)
}

/// Every JSON endpoint under `/api/v1`, each with its OpenAPI description: the router and
/// [`openapi::document`] are both built from this, so neither can list a route the other
/// lacks. Each `routes!` holds every method of one path.
pub(crate) fn api_routes() -> OpenApiRouter<AppState> {
    use handlers as h;
    OpenApiRouter::default()
        .routes(routes!(h::register))
        .routes(routes!(h::login))
        .routes(routes!(h::logout))
        .routes(routes!(h::me, h::update_me, h::delete_account))
        .routes(routes!(h::blocked_users))
        .routes(routes!(h::my_sessions))
        .routes(routes!(h::end_session))
        .routes(routes!(h::change_password))
        .routes(routes!(h::search_users))
        .routes(routes!(h::user_avatar))
        .routes(routes!(h::room_avatar))
        .routes(routes!(h::block_user, h::unblock_user))
        .routes(routes!(h::search_messages))
        .routes(routes!(h::list_rooms, h::create_group))
        .routes(routes!(h::open_direct))
        .routes(routes!(h::get_room, h::update_room))
        .routes(routes!(h::room_members, h::add_member))
        .routes(routes!(h::leave_room, h::mute_room))
        .routes(routes!(h::remove_member, h::set_member_role))
        .routes(routes!(h::history, h::send_message))
        .routes(routes!(h::create_invite))
        .routes(routes!(h::preview_invite, h::revoke_invite))
        .routes(routes!(h::accept_invite))
        .routes(routes!(h::vapid_public_key))
        .routes(routes!(h::register_push))
        .routes(routes!(h::unregister_push))
        .routes(routes!(h::create_media))
        .routes(routes!(h::media, h::delete_media))
        .routes(routes!(h::media_thumbnail))
        .routes(routes!(h::complete_media))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(openapi::asyncapi_json))
        .layer(middleware::from_fn(within_deadline))
        .route_layer(middleware::from_fn(crate::metrics::count_request))
}

/// The embedded store's upload endpoint. It reads its body itself, up to the size its media
/// declared, for as long as the client's network needs (the upload URL's own expiry bounds
/// it), so it has neither the JSON body limit nor the request deadline. Its key is the rest
/// of the path (`uploads/{id}`), which an OpenAPI path parameter cannot say, so the route is
/// declared here and [`upload_description`] takes only the annotation's description.
fn upload_routes() -> Router<AppState> {
    Router::new().route(
        // `paths::UPLOAD`, whose `{key}` holds slashes.
        "/uploads/{*key}",
        put(handlers::upload).layer(DefaultBodyLimit::disable()),
    )
}

pub(crate) fn upload_description() -> utoipa::openapi::OpenApi {
    let (schemas, paths, _) = routes!(handlers::upload);
    utoipa::openapi::OpenApiBuilder::new()
        .paths(paths)
        .components(Some(
            utoipa::openapi::ComponentsBuilder::new()
                .schemas_from_iter(schemas)
                .build(),
        ))
        .build()
}

/// `/healthz`, `/readyz` and `/readyz/services`, outside `/api/v1`.
pub(crate) fn health_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::services))
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
