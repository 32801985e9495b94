//! `GET /metrics` on its own listener: the counters and histograms move by what was done,
//! under route templates (never a room's id), and the public port does not serve them.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use crate::cluster::{Node, free_port};
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
async fn metrics_count_sockets_events_sends_deliveries_and_requests() {
    let data = tempfile::tempdir().expect("a data folder");
    let metrics_port = free_port();
    let env = [
        ("CONFAB_DATA_DIR", data.path().display().to_string()),
        ("CONFAB_METRICS_ADDR", format!("127.0.0.1:{metrics_port}")),
        // The embedded defaults, whatever services this run has.
        ("REDIS_URL", String::new()),
        ("KAFKA_BROKERS", String::new()),
        ("MONGODB_URL", String::new()),
        ("S3_ENDPOINT", String::new()),
    ]
    .map(|(k, v)| (k.to_owned(), v));
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
        if found.get(r#"confab_fanned_out_total{event="message:new"}"#) >= Some(&8.0) {
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
