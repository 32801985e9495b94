//! API.md v1.1 push subscriptions over REST: registering a device, the repeat, the checks,
//! the cap, deleting one, and a subscription ending with its session.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, roomy_limits, spawn_app_with, unique};

fn web_push(endpoint: &str) -> Value {
    let p256dh = URL_SAFE_NO_PAD.encode([[4u8].as_slice(), &[7; 64]].concat());
    json!({"kind": "webpush", "endpoint": endpoint,
        "keys": {"p256dh": p256dh, "auth": URL_SAFE_NO_PAD.encode([1u8; 16])}})
}

async fn subscribe(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.post("/api/v1/push/subscriptions", token, body).await
}

async fn unsubscribe(app: &TestApp, token: &str, id: &str) -> StatusCode {
    let path = format!("/api/v1/push/subscriptions/{id}");
    app.call(Method::DELETE, &path, Some(token), None).await.0
}

#[tokio::test]
async fn a_device_registers_once_and_its_subscription_ends_with_its_session() {
    let app = spawn_app_with(roomy_limits()).await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let endpoint = format!("https://push.example.com/{}", unique("device"));

    let (status, first) = subscribe(&app, &alice.token, web_push(&endpoint)).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let id = first["id"].as_str().expect("an id").to_owned();
    let (status, again) = subscribe(&app, &alice.token, web_push(&endpoint)).await;
    assert_eq!(
        (status, again["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );
    let expo = json!({"kind": "expo", "token": "ExponentPushToken[abcdefghijklmnop]"});
    assert_eq!(
        subscribe(&app, &alice.token, expo).await.0,
        StatusCode::CREATED
    );

    // What could never be pushed to is refused, and nothing is stored.
    for bad in [
        json!({"kind": "webpush", "endpoint": "http://push.example.com/x",
            "keys": web_push("https://x.example")["keys"]}),
        json!({"kind": "webpush", "endpoint": &endpoint, "keys": {"p256dh": "AAAA", "auth": "AAAA"}}),
        json!({"kind": "expo", "token": "not a token"}),
        json!({"kind": "carrier-pigeon"}),
        json!({"kind": "webpush"}),
    ] {
        assert_error(
            &subscribe(&app, &alice.token, bad.clone()).await,
            400,
            "bad_request",
        );
    }
    assert_error(
        &app.call(
            Method::POST,
            "/api/v1/push/subscriptions",
            None,
            Some(web_push(&endpoint)),
        )
        .await,
        401,
        "unauthorized",
    );

    // Only its owner deletes it.
    assert_eq!(
        unsubscribe(&app, &bob.token, &id).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        unsubscribe(&app, &alice.token, &id).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        unsubscribe(&app, &alice.token, &id).await,
        StatusCode::NOT_FOUND
    );

    // Ended with its session: after a logout the device registers anew.
    let (_, kept) = subscribe(&app, &alice.token, web_push(&endpoint)).await;
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let signed_in = crate::sessions::sign_in_again(&app, &alice, "Phone").await;
    let (status, fresh) = subscribe(&app, &signed_in, web_push(&endpoint)).await;
    assert_eq!(status, StatusCode::CREATED, "{fresh}");
    assert_ne!(fresh["id"], kept["id"]);
}

#[tokio::test]
async fn an_account_keeps_at_most_twenty_subscriptions() {
    let app = spawn_app_with(roomy_limits()).await;
    let alice = app.register("alice").await;
    for n in 0..20 {
        let endpoint = format!("https://push.example.com/{n}");
        let (status, body) = subscribe(&app, &alice.token, web_push(&endpoint)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let one_more = web_push("https://push.example.com/twenty-first");
    assert_error(
        &subscribe(&app, &alice.token, one_more).await,
        409,
        "conflict",
    );
    let (status, _) = subscribe(&app, &alice.token, web_push("https://push.example.com/3")).await;
    assert_eq!(status, StatusCode::OK, "a known device still renews");
}
