//! Logging: `tracing` with a request id on every line of a request (and a socket id on every
//! line of a socket, see `realtime`), as text or as JSON (`CONFAB_LOG_FORMAT=json`).
//! Paths are logged with invite codes masked and never with query strings or headers, so no
//! token or secret reaches the log.

use axum::Router;
use axum::http::{HeaderName, Request};
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use tracing_subscriber::EnvFilter;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Installs the global subscriber; `RUST_LOG` overrides the default `info` level.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    } else {
        builder.init();
    }
}

/// Wraps the app in request-id and request-logging layers.
pub fn http_layers(app: Router) -> Router {
    app.layer(
        TraceLayer::new_for_http()
            .make_span_with(|request: &Request<_>| {
                let id = request
                    .extensions()
                    .get::<RequestId>()
                    .and_then(|id| id.header_value().to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!(
                    "request",
                    request_id = %id,
                    method = %request.method(),
                    path = %mask_path(request.uri().path()),
                )
            })
            .on_response(DefaultOnResponse::new().level(Level::INFO)),
    )
    .layer(PropagateRequestIdLayer::new(REQUEST_ID))
    .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Replaces the secret segment after `invites/` or `invite/` with `{code}`.
fn mask_path(path: &str) -> String {
    let mut masked = Vec::new();
    let mut secret_next = false;
    for segment in path.split('/') {
        masked.push(if secret_next && !segment.is_empty() {
            "{code}"
        } else {
            segment
        });
        secret_next = segment == "invites" || segment == "invite";
    }
    masked.join("/")
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::mask_path;

    #[test]
    fn invite_codes_are_masked_in_logged_paths() {
        assert_eq!(
            mask_path("/api/v1/invites/SECRET/accept"),
            "/api/v1/invites/{code}/accept"
        );
        assert_eq!(mask_path("/invite/SECRET"), "/invite/{code}");
        assert_eq!(mask_path("/api/v1/rooms/r1"), "/api/v1/rooms/r1");
    }
}
