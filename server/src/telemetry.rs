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

/// Installs the global subscriber; `RUST_LOG` overrides the default `info` level. With
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, the spans
/// (each REST request, each socket and each socket event) are also exported to that
/// collector over OTLP/HTTP in protobuf, in batches from a thread of their own; the
/// standard `OTEL_*` variables tune it. Call it outside the async runtime (the exporter's
/// HTTP client runs its own) and keep the answer until the end: dropping it sends what is
/// left.
pub fn init(json: bool) -> anyhow::Result<Tracing> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let exporting = otlp::provider()?;
    let spans = exporting.as_ref().map(otlp::layer);
    let registry = tracing_subscriber::registry().with(filter).with(spans);
    let lines = tracing_subscriber::fmt::layer();
    if json {
        registry
            .with(lines.json().flatten_event(true).with_current_span(true))
            .init();
    } else {
        registry.with(lines).init();
    }
    Ok(Tracing(exporting))
}

/// The span exporter, when there is one: sends what it holds when dropped.
pub struct Tracing(Option<otlp::Provider>);

impl Drop for Tracing {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take() {
            otlp::shutdown(provider);
        }
    }
}

/// A variable that is set and not empty.
fn configured(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The collector spans go to, if one is configured (the traces-only variable first, as the
/// OpenTelemetry specification orders them).
fn otlp_endpoint() -> Option<String> {
    configured("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| configured("OTEL_EXPORTER_OTLP_ENDPOINT"))
}

#[cfg(feature = "otel")]
mod otlp {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::Layer;

    use super::{configured, otlp_endpoint};

    pub type Provider = SdkTracerProvider;

    pub fn provider() -> anyhow::Result<Option<Provider>> {
        let Some(endpoint) = otlp_endpoint() else {
            return Ok(None);
        };
        // The exporter speaks plain HTTP: spans go to a collector beside the node (an agent
        // or a sidecar), which forwards them over TLS if it must.
        if !endpoint.starts_with("http://") {
            anyhow::bail!(
                "OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// URL of a collector beside the \
                 node (such as http://127.0.0.1:4318); TLS to a remote collector is the \
                 collector agent's job"
            );
        }
        // The endpoint, headers, timeout and batching come from the standard variables.
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build()?;
        let mut resource = Resource::builder();
        if configured("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name("confab");
        }
        Ok(Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource.build())
                .build(),
        ))
    }

    pub fn layer<S>(provider: &Provider) -> impl Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(provider.tracer("confab"))
    }

    pub fn shutdown(provider: Provider) {
        if let Err(err) = provider.shutdown() {
            eprintln!("spans not all exported: {err}");
        }
    }
}

/// A build without the `otel` feature refuses an OTLP endpoint rather than ignore it.
#[cfg(not(feature = "otel"))]
mod otlp {
    pub enum Provider {}

    pub fn provider() -> anyhow::Result<Option<Provider>> {
        if super::otlp_endpoint().is_some() {
            anyhow::bail!(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set, but this build of Confab has no span \
                 exporter (it was built without the `otel` feature)"
            );
        }
        Ok(None)
    }

    pub fn layer(provider: &Provider) -> tracing_subscriber::layer::Identity {
        match *provider {}
    }

    pub fn shutdown(provider: Provider) {
        match provider {}
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
