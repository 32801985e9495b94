//! API.md v1.1 sessions: the list, ending one, changing the password; and every end of a
//! session (logout too) disconnecting its sockets at once.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{RawSocket, TestApp, TestUser, assert_error, spawn_app};

/// Signs `user` in again from another client; returns the new token.
pub(crate) async fn sign_in_again(app: &TestApp, user: &TestUser, agent: &str) -> String {
    let response = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("user-agent", agent)
        .json(&json!({"username": user.username, "password": "correct horse battery"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    body["token"].as_str().expect("token").to_owned()
}

/// A device connected with `token`, past the namespace CONNECT.
pub(crate) async fn device(app: &TestApp, token: &str) -> RawSocket {
    let mut raw = RawSocket::connect(app, json!({"token": token})).await;
    loop {
        let text = raw.next_text().await.expect("the CONNECT answer");
        if text.starts_with("40") {
            return raw;
        }
    }
}

/// Whether the server disconnects the device (a namespace DISCONNECT, or the transport
/// closed) before it has sent 50 other frames.
pub(crate) async fn is_disconnected(raw: &mut RawSocket) -> bool {
    for _ in 0..50 {
        match raw.next_text().await {
            None => return true,
            Some(text) if text.starts_with("41") => return true,
            Some(_) => {}
        }
    }
    false
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, list) = app.get("/api/v1/me/sessions", token).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array().expect("a list").clone()
}

#[tokio::test]
async fn the_session_list_shows_each_sign_in_and_which_one_is_asking() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let phone = sign_in_again(&app, &alice, "ConfabPhone/1.0\t(x)").await;
    let list = sessions(&app, &phone).await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["current"], true, "newest first: {list:?}");
    assert_eq!(
        list[0]["user_agent"], "ConfabPhone/1.0(x)",
        "control characters dropped"
    );
    assert_eq!(list[1]["current"], false);
    for session in &list {
        let id = session["id"].as_str().expect("id");
        assert!(id.len() >= 16 && !phone.contains(id) && !alice.token.contains(id));
        assert!(session["created_at"].is_string() && session["last_seen_at"].is_string());
    }
    let bob = app.register("bob").await;
    assert_eq!(sessions(&app, &bob.token).await.len(), 1, "only one's own");
}

#[tokio::test]
async fn ending_a_session_stops_its_token_and_disconnects_its_devices() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let laptop = sign_in_again(&app, &alice, "laptop").await;
    let mut old_device = device(&app, &alice.token).await;
    let mut laptop_device = device(&app, &laptop).await;

    let list = sessions(&app, &laptop).await;
    let old = list
        .iter()
        .find(|s| s["current"] == false)
        .expect("the other session");
    let path = format!("/api/v1/me/sessions/{}", old["id"].as_str().expect("id"));
    let bob = app.register("bob").await;
    assert_error(
        &app.call(Method::DELETE, &path, Some(&bob.token), None)
            .await,
        404,
        "not_found",
    );
    let (status, _) = app.call(Method::DELETE, &path, Some(&laptop), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        is_disconnected(&mut old_device).await,
        "the revoked session's socket is cut"
    );
    assert_eq!(
        app.get("/api/v1/me", &alice.token).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/api/v1/me", &laptop).await.0, StatusCode::OK);
    assert_error(
        &app.call(Method::DELETE, &path, Some(&laptop), None).await,
        404,
        "not_found",
    );

    // Logout ends the current session the same way.
    let (status, _) = app
        .call(Method::POST, "/api/v1/auth/logout", Some(&laptop), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        is_disconnected(&mut laptop_device).await,
        "logout cuts the socket"
    );
}

#[tokio::test]
async fn a_new_password_ends_every_other_session() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let other = sign_in_again(&app, &alice, "other").await;
    let mut other_device = device(&app, &other).await;
    let mut own_device = device(&app, &alice.token).await;
    let change = |body: Value| app.post("/api/v1/me/password", &alice.token, body);

    assert_error(
        &change(json!({"current_password": "wrong password", "new_password": "a new good one"}))
            .await,
        403,
        "forbidden",
    );
    assert_error(
        &change(json!({"current_password": "correct horse battery", "new_password": "short"}))
            .await,
        400,
        "bad_request",
    );
    assert_eq!(
        app.get("/api/v1/me", &other).await.0,
        StatusCode::OK,
        "refusals end nothing"
    );
    let (status, body) = change(
        json!({"current_password": "correct horse battery", "new_password": "a new good one"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(is_disconnected(&mut other_device).await);
    assert_eq!(
        app.get("/api/v1/me", &other).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/me", &alice.token).await.0,
        StatusCode::OK,
        "this one stays"
    );
    own_device.send(r#"421["sync",{"rooms":{}}]"#).await;
    let answer = own_device.next_text().await.expect("an answer");
    assert!(answer.starts_with("431"), "and its socket too: {answer}");

    let login = |password: &str| {
        app.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": alice.username, "password": password})),
        )
    };
    assert_eq!(
        login("correct horse battery").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(login("a new good one").await.0, StatusCode::OK);
}
