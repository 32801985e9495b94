//! `GET /metrics` on its own listener: the counters and histograms move by what was done,
//! under route templates (never a room's id), and the public port does not serve them.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use crate::cluster::{Node, embedded_env, free_port};
use crate::helpers::new_client_id;

/// The samples of a Prometheus text page: `name{labels}` to value.
fn samples(page: &str) -> HashMap<String, f64> {
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_sockets_events_sends_deliveries_notifications_store_calls_and_requests() {
    let data = tempfile::tempdir().expect("a data folder");
    let metrics_port = free_port();
    let env = embedded_env(
        data.path(),
        &[("CONFAB_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))],
    );
    let node = Node::start(&env).await;
    let app = &node.app;
    let scrape = || async {
        let page = app
            .http
            .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .send()
            .await
            .expect("scrape");
        assert_eq!(page.status().as_u16(), 200);
        let text = page.text().await.expect("a page");
        (samples(&text), text)
    };

    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let room = app.group(&alice, "Counted", &[&bob]).await;
    let socket = app.socket(&alice).await;
    for i in 0..3 {
        let ack = socket
            .ack(
                "message:send",
                json!({"room_id": room, "client_id": new_client_id(), "kind": "text", "body": format!("m{i}")}),
            )
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
    }
    let refused = socket
        .ack("message:send", json!({"room_id": room, "kind": "text"}))
        .await;
    assert_eq!(refused["ok"], false);
    app.send_text(&alice, &room, "over REST").await;
    let (status, _) = app
        .get("/api/v1/rooms/no-such-room/messages", &alice.token)
        .await;
    assert_eq!(status.as_u16(), 404);

    // Counters move as the events are handled; the last may land a moment after its ack.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (found, page) = loop {
        let (found, page) = scrape().await;
        // Bob is away: each of the four messages notifies him, from the bus's worker.
        if found.get(r#"confab_fanned_out_total{event="message:new"}"#) >= Some(&8.0)
            && found.get(r#"confab_notifications_total{kind="message"}"#) >= Some(&4.0)
        {
            break (found, page);
        }
        assert!(tokio::time::Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let at = |key: &str| {
        *found
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in\n{page}"))
    };
    assert_eq!(at("confab_sockets_connected"), 1.0);
    assert_eq!(
        at(r#"confab_socket_events_total{event="message:send",outcome="ok"}"#),
        3.0
    );
    assert_eq!(
        at(r#"confab_socket_events_total{event="message:send",outcome="bad_request"}"#),
        1.0
    );
    assert_eq!(at(r#"confab_send_seconds_count{stage="ack"}"#), 4.0);
    assert_eq!(at(r#"confab_send_seconds_count{stage="durable"}"#), 4.0);
    assert_eq!(
        at(
            r#"confab_http_requests_total{method="POST",route="/api/v1/rooms/{id}/messages",status="201"}"#
        ),
        1.0
    );
    assert_eq!(
        at(
            r#"confab_http_requests_total{method="GET",route="/api/v1/rooms/{id}/messages",status="404"}"#
        ),
        1.0
    );
    assert!(at(r#"confab_http_request_seconds_count{route="/api/v1/auth/register"}"#) >= 2.0);
    assert!(!page.contains(&room), "a room's id in the labels");
    assert_eq!(at(r#"confab_notifications_total{kind="message"}"#), 4.0);
    // Four sends reached the store (the group's own notice may add one); each was timed.
    assert!(at(r#"confab_store_seconds_count{op="append"}"#) >= 4.0);
    assert!(at(r#"confab_store_seconds_count{op="members"}"#) >= 1.0);
    // Both consumer groups took everything published.
    assert_eq!(at(r#"confab_consumer_lag{group="notifications"}"#), 0.0);
    assert_eq!(at(r#"confab_consumer_lag{group="unread"}"#), 0.0);

    socket.disconnect().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while scrape().await.0.get("confab_sockets_connected") != Some(&0.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the socket is still counted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let public = app.http.get(app.url("/metrics")).send().await.expect("GET");
    assert_ne!(public.status().as_u16(), 200, "metrics on the public port");
}

/// With `OTEL_EXPORTER_OTLP_ENDPOINT` set, a node exports its spans over OTLP/HTTP: a
/// collector on loopback (a real HTTP server taking `POST /v1/traces`, as an OpenTelemetry
/// collector does) receives protobuf batches naming the node, a REST request's span and a
/// socket event's span, and never a session token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_to_an_otlp_collector() {
    use std::sync::{Arc, Mutex};

    type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
    let received: Received = Arc::default();
    let collector = axum::Router::new()
        .route(
            "/v1/traces",
            axum::routing::post(
                |axum::extract::State(received): axum::extract::State<Received>,
                 headers: axum::http::HeaderMap,
                 body: axum::body::Bytes| async move {
                    let kind = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    received
                        .lock()
                        .expect("received")
                        .push((kind, body.to_vec()));
                    axum::http::StatusCode::OK
                },
            ),
        )
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let collector_addr = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let data = tempfile::tempdir().expect("a data folder");
    let env = embedded_env(
        data.path(),
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://{collector_addr}"),
            ),
            // Batches every 200 ms instead of every 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "200".to_owned()),
        ],
    );
    let node = Node::start(&env).await;
    let app = &node.app;
    let alice = app.register("alice").await;
    let room = app.group(&alice, "Traced", &[]).await;
    let socket = app.socket(&alice).await;
    let ack = socket
        .ack(
            "message:send",
            json!({"room_id": room, "client_id": new_client_id(), "kind": "text", "body": "hello"}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");

    let contains = |body: &[u8], text: &str| body.windows(text.len()).any(|w| w == text.as_bytes());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let batches = received.lock().expect("received").clone();
        let all: Vec<u8> = batches.iter().flat_map(|(_, body)| body.clone()).collect();
        if ["confab", "request", "socket_event", "message:send"]
            .iter()
            .all(|text| contains(&all, text))
        {
            for (kind, _) in &batches {
                assert_eq!(kind, "application/x-protobuf");
            }
            assert!(!contains(&all, &alice.token), "a session token in a span");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the collector got {} batches without the expected spans",
            batches.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// On Kafka, the workers' consumer lag comes from librdkafka's statistics: it is reported
/// for the notifications group, and drains to 0 once the events are handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_kafka_the_workers_consumer_lag_is_reported() {
    let Some(cluster) = crate::cluster::Cluster::new() else {
        return;
    };
    let metrics_port = free_port();
    let cluster = cluster.with("CONFAB_METRICS_ADDR", &format!("127.0.0.1:{metrics_port}"));
    let node = cluster.node().await;
    let app = &node.app;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let room = app.group(&alice, "Lagging", &[&bob]).await;
    for i in 0..5 {
        app.send_text(&alice, &room, &format!("m{i}")).await;
    }
    let lag = r#"confab_consumer_lag{group="notifications"}"#;
    // Statistics come every 5 s.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let page = app
            .http
            .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .expect("a page");
        let found = samples(&page);
        if found.get(lag) == Some(&0.0)
            && found.get(r#"confab_notifications_total{kind="message"}"#) >= Some(&5.0)
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
