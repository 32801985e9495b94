//! What an operator watches, in Prometheus' text format on `GET /metrics` at
//! `CONFAB_METRICS_ADDR` (a listener of its own, off the public port; unset, none).
//!
//! One registry per process. Counters on the hot path are resolved once per label set
//! (`Hot`), so counting a delivery is an atomic add, not a label lookup.

use std::sync::LazyLock;
use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

mod timed;

pub use timed::Timed;

pub struct Metrics {
    registry: Registry,
    /// The full name of every metric registered (`confab_…`).
    names: Vec<String>,
    /// Sockets connected to this node.
    pub sockets: IntGauge,
    /// Socket events handled, by event and outcome (`ok` or the error code).
    pub socket_events: IntCounterVec,
    /// A send's time from receipt to durable (stored) and to its ack.
    pub send_seconds: HistogramVec,
    /// Events fanned out, by event, counted per member addressed.
    pub fanned_out: IntCounterVec,
    /// Broadcasts the adapter (Redis) refused, delivered on this node only.
    pub adapter_errors: IntCounter,
    /// Times the adapter's Redis connection dropped (it reconnects and resubscribes).
    pub adapter_reconnects: IntCounter,
    /// Events the broker refused or did not confirm (the outbox keeps them).
    pub kafka_publish_errors: IntCounter,
    /// Stored messages whose event the outbox found still owed at its last look.
    pub outbox_owed: IntGauge,
    /// Events on the bus that a consumer group of this node has yet to take, by group, as
    /// of its last take (Kafka: the partition's high watermark less the next offset; the
    /// embedded bus: the group's queue).
    pub consumer_lag: IntGaugeVec,
    /// Notifications sent, by kind (`message` or `mention`), counted per user addressed.
    pub notifications: IntCounterVec,
    /// Pushes to devices with no live socket, by service (`webpush`, `expo`) and outcome
    /// (`accepted`, `gone`, `failed` after every retry, `refused`, `dropped` unsent).
    pub pushes: IntCounterVec,
    /// Store calls (messages and rooms), by operation.
    pub store_seconds: HistogramVec,
    /// REST requests, by route template, method and status; and their durations.
    pub http_requests: IntCounterVec,
    pub http_seconds: HistogramVec,
    /// Requests and events refused by a rate limit, by action.
    pub rate_limited: IntCounterVec,
    /// Media checks, by outcome (`ok` or the error code).
    pub media_checks: IntCounterVec,
}

/// The handles the send path uses on every message.
pub struct Hot {
    pub durable: prometheus::Histogram,
    pub acked: prometheus::Histogram,
    pub message_new: IntCounter,
}

const PREFIX: &str = "confab";

/// Registers each metric as it is made, and remembers its full name: one way for every kind.
struct Registrar {
    registry: Registry,
    names: std::cell::RefCell<Vec<String>>,
}

impl Registrar {
    fn keep<M: Collector + Clone + 'static>(&self, metric: M) -> M {
        let descs = metric.desc();
        let names = descs.iter().map(|d| format!("{PREFIX}_{}", d.fq_name));
        self.names.borrow_mut().extend(names);
        self.registry
            .register(Box::new(metric.clone()))
            .expect("registered once");
        metric
    }
}

/// From 50 µs (a store read on SQLite) to 10 s (a send waiting out a stalled store).
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    fn new() -> Self {
        let kept = Registrar {
            registry: Registry::new_custom(Some(PREFIX.into()), None).expect("a registry"),
            names: std::cell::RefCell::new(Vec::new()),
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("a metric");
            kept.keep(metric)
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
            kept.keep(HistogramVec::new(opts, labels).expect("a metric"))
        };
        let gauges = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("a metric");
            kept.keep(metric)
        };
        let gauge =
            |name: &str, help: &str| kept.keep(IntGauge::new(name, help).expect("a metric"));
        let single =
            |name: &str, help: &str| kept.keep(IntCounter::new(name, help).expect("a metric"));
        Self {
            sockets: gauge("sockets_connected", "Sockets connected to this node"),
            socket_events: counter(
                "socket_events_total",
                "Socket events handled, by event and outcome",
                &["event", "outcome"],
            ),
            send_seconds: histogram(
                "send_seconds",
                "A send from receipt to durable and to its ack",
                &["stage"],
            ),
            fanned_out: counter(
                "fanned_out_total",
                "Events fanned out, per member addressed",
                &["event"],
            ),
            adapter_errors: single(
                "adapter_errors_total",
                "Broadcasts the Redis adapter refused, delivered on this node only",
            ),
            adapter_reconnects: single(
                "adapter_reconnects_total",
                "Times the Redis adapter's connection dropped and was made again",
            ),
            kafka_publish_errors: single(
                "kafka_publish_errors_total",
                "Events the broker refused or did not confirm",
            ),
            outbox_owed: gauge(
                "outbox_owed",
                "Stored messages whose event was still owed at the outbox's last look",
            ),
            consumer_lag: gauges(
                "consumer_lag",
                "Bus events a consumer group has yet to take, as of its last take",
                &["group"],
            ),
            notifications: counter(
                "notifications_total",
                "Notifications sent, by kind, per user addressed",
                &["kind"],
            ),
            pushes: counter(
                "pushes_total",
                "Pushes to devices with no live socket, by service and outcome",
                &["service", "outcome"],
            ),
            store_seconds: histogram(
                "store_seconds",
                "Store calls of the message and room stores, by operation",
                &["op"],
            ),
            http_requests: counter(
                "http_requests_total",
                "REST requests, by route, method and status",
                &["route", "method", "status"],
            ),
            http_seconds: histogram(
                "http_request_seconds",
                "REST request durations, by route",
                &["route"],
            ),
            rate_limited: counter(
                "rate_limited_total",
                "Requests and events refused by a rate limit",
                &["action"],
            ),
            media_checks: counter(
                "media_checks_total",
                "Media checks, by outcome",
                &["outcome"],
            ),
            names: kept.names.take(),
            registry: kept.registry,
        }
    }

    /// The full name of every metric (`confab_…`), registered or not yet set.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The registry in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %err, "metrics not encoded");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

pub static HOT: LazyLock<Hot> = LazyLock::new(|| Hot {
    durable: METRICS.send_seconds.with_label_values(&["durable"]),
    acked: METRICS.send_seconds.with_label_values(&["ack"]),
    message_new: METRICS.fanned_out.with_label_values(&["message:new"]),
});

/// Seconds, for a histogram.
pub fn seconds(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64()
}

/// Counts a REST request under its route template (never its path: ids and invite codes
/// stay out of the labels).
pub async fn count_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    METRICS
        .http_seconds
        .with_label_values(&[route.as_str()])
        .observe(seconds(started.elapsed()));
    METRICS
        .http_requests
        .with_label_values(&[route.as_str(), method.as_str(), response.status().as_str()])
        .inc();
    response
}

/// `GET /metrics`.
pub async fn scrape() -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        METRICS.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::METRICS;

    /// The metric names `deploy/grafana/confab.json` queries (`_bucket`, `_count` and
    /// `_sum` belong to their histogram).
    fn on_the_dashboard() -> std::collections::BTreeSet<String> {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../../deploy/grafana/confab.json"))
                .expect("the dashboard is JSON");
        let mut names = std::collections::BTreeSet::new();
        for panel in dashboard["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().expect("targets") {
                let expr = target["expr"].as_str().expect("an expression");
                for (at, _) in expr.match_indices("confab_") {
                    let name: String = expr[at..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    let name = ["_bucket", "_count", "_sum"]
                        .iter()
                        .find_map(|suffix| name.strip_suffix(suffix))
                        .map_or(name.clone(), str::to_owned);
                    names.insert(name);
                }
            }
        }
        names
    }

    /// The dashboard cannot drift from the code: it queries only metrics that exist, and
    /// every metric has a panel.
    #[test]
    fn the_dashboard_shows_every_metric_and_only_those() {
        let registered: std::collections::BTreeSet<String> =
            METRICS.names().iter().cloned().collect();
        assert_eq!(on_the_dashboard(), registered);
    }
}
