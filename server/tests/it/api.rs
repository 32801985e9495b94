//! The REST API of `shared/API.md`, end to end over real HTTP.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server::config::Limits;

use crate::helpers::{TestApp, assert_error, code, new_client_id, roomy_limits, spawn_app, unique};

#[tokio::test]
async fn registering_returns_the_user_a_token_and_an_http_only_cookie() {
    let app = spawn_app().await;
    let username = unique("Alice");
    let response = app
        .http
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({"username": username, "password": "correct horse battery", "display_name": "Alice A."}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cookie.starts_with("confab_session=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["user"]["username"], username);
    assert_eq!(body["user"]["display_name"], "Alice A.");
    assert!(body["user"]["avatar_url"].is_null());
    assert!(
        body["user"]["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.len() == 24)
    );
    let token = body["token"].as_str().expect("token");
    assert!(token.len() >= 22, "a token carries at least 128 bits");

    let (status, me) = app.get("/api/v1/me", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me, body["user"]);
}

#[tokio::test]
async fn registration_refuses_bad_input_with_clear_errors() {
    let app = spawn_app().await;
    let register = |body: Value| app.call(Method::POST, "/api/v1/auth/register", None, Some(body));
    assert_error(
        &register(json!({"username": "ab", "password": "long enough"})).await,
        400,
        "bad_request",
    );
    assert_error(
        &register(json!({"username": "bad name", "password": "long enough"})).await,
        400,
        "bad_request",
    );
    assert_error(
        &register(json!({"username": unique("shortpw"), "password": "short"})).await,
        400,
        "bad_request",
    );
    assert_error(
        &register(json!({"password": "long enough"})).await,
        400,
        "bad_request",
    );
    assert_error(&register(json!({"username": unique("dn"), "password": "long enough", "display_name": "x".repeat(65)})).await, 413, "payload_too_large");

    let taken = unique("taken");
    assert_eq!(
        register(json!({"username": taken, "password": "long enough"}))
            .await
            .0,
        StatusCode::CREATED
    );
    let again =
        register(json!({"username": taken.to_uppercase(), "password": "long enough"})).await;
    assert_error(&again, 409, "conflict");

    let not_json = app
        .http
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "text/plain")
        .body("username=x")
        .send()
        .await
        .expect("sent");
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = not_json.json().await.expect("json error body");
    assert_eq!(code(&body), "unsupported_media_type");

    let huge = json!({"username": "x", "password": "y".repeat(100_000)});
    assert_error(&register(huge).await, 413, "payload_too_large");

    let broken = app
        .http
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{\"username\":")
        .send()
        .await
        .expect("sent");
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn login_accepts_the_right_password_only_and_logout_ends_the_token_at_once() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let login = |username: &str, password: &str| {
        app.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": username, "password": password})),
        )
    };
    let (status, body) = login(&alice.username, "correct horse battery").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["id"], alice.id.as_str());
    let second_token = body["token"].as_str().expect("token").to_owned();
    assert_ne!(second_token, alice.token);

    assert_error(
        &login(&alice.username, "wrong horse battery").await,
        401,
        "unauthorized",
    );
    assert_error(
        &login("nobody_at_all", "correct horse battery").await,
        401,
        "unauthorized",
    );

    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(
        &app.get("/api/v1/me", &alice.token).await,
        401,
        "unauthorized",
    );
    // Only that session ended.
    assert_eq!(app.get("/api/v1/me", &second_token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn every_endpoint_but_register_login_and_invite_preview_needs_a_token() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::GET, "/api/v1/me"),
        (Method::GET, "/api/v1/users?q=a"),
        (Method::GET, "/api/v1/rooms"),
        (Method::POST, "/api/v1/rooms"),
        (Method::POST, "/api/v1/rooms/direct"),
        (Method::GET, "/api/v1/rooms/x"),
        (Method::GET, "/api/v1/rooms/x/messages"),
        (Method::POST, "/api/v1/rooms/x/messages"),
        (Method::POST, "/api/v1/rooms/x/members"),
        (Method::DELETE, "/api/v1/rooms/x/members/me"),
        (Method::POST, "/api/v1/rooms/x/invites"),
        (Method::POST, "/api/v1/invites/x/accept"),
        (Method::DELETE, "/api/v1/invites/x"),
        (Method::POST, "/api/v1/auth/logout"),
    ] {
        let answer = app.call(method.clone(), path, None, Some(json!({}))).await;
        assert_error(&answer, 401, "unauthorized");
        let answer = app
            .call(method, path, Some("not-a-token"), Some(json!({})))
            .await;
        assert_error(&answer, 401, "unauthorized");
    }
}

#[tokio::test]
async fn a_cookie_session_works_and_needs_the_csrf_header_to_change_state() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let cookie = format!("confab_session={}", alice.token);
    let me = app
        .http
        .get(app.url("/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("sent");
    assert_eq!(me.status(), StatusCode::OK);

    let create = |csrf: bool| {
        let mut request = app
            .http
            .post(app.url("/api/v1/rooms"))
            .header("cookie", &cookie)
            .json(&json!({"name": "Cookies"}));
        if csrf {
            request = request.header("x-requested-with", "confab");
        }
        request.send()
    };
    let refused = create(false).await.expect("sent");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(code(&body), "forbidden");
    assert_eq!(
        create(true).await.expect("sent").status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn user_search_finds_people_by_username_or_display_name_prefix() {
    let app = spawn_app().await;
    let me = app.register("searcher").await;
    let zed = app.register("Zebedee").await;
    let (status, found) = app
        .get(
            &format!("/api/v1/users?q={}", &zed.username[..6]),
            &me.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        found
            .as_array()
            .expect("list")
            .iter()
            .any(|u| u["id"] == zed.id.as_str())
    );
    // Display names match too, case-insensitively.
    let (_, found) = app.get("/api/v1/users?q=ZEBED", &me.token).await;
    assert!(
        found
            .as_array()
            .expect("list")
            .iter()
            .any(|u| u["id"] == zed.id.as_str())
    );
    let (_, none) = app.get("/api/v1/users?q=qqqqqq", &me.token).await;
    assert_eq!(none, json!([]));
    assert_error(
        &app.get("/api/v1/users?q=", &me.token).await,
        400,
        "bad_request",
    );
}

#[tokio::test]
async fn a_new_group_has_the_caller_as_owner_and_the_named_members() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let (status, room) = app
        .post(
            "/api/v1/rooms",
            &alice.token,
            json!({"name": "  Climbing  ", "member_ids": [bob.id]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    assert_eq!(room["kind"], "group");
    assert_eq!(room["name"], "Climbing");
    assert_eq!(room["last_seq"], 0);
    assert!(room["last_message"].is_null());
    assert_eq!(room["unread_count"], 0);
    let members = room["members"].as_array().expect("members");
    assert_eq!(members.len(), 2);
    let role_of = |id: &str| {
        members
            .iter()
            .find(|m| m["user"]["id"] == id)
            .map(|m| m["role"].clone())
            .expect("member")
    };
    assert_eq!(role_of(&alice.id), "owner");
    assert_eq!(role_of(&bob.id), "member");
    assert_eq!(members[0]["last_read_seq"], 0);

    let (status, seen_by_bob) = app
        .get(
            &format!("/api/v1/rooms/{}", room["id"].as_str().expect("id")),
            &bob.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen_by_bob["id"], room["id"]);

    assert_error(
        &app.post("/api/v1/rooms", &alice.token, json!({"name": " "}))
            .await,
        400,
        "bad_request",
    );
    assert_error(
        &app.post(
            "/api/v1/rooms",
            &alice.token,
            json!({"name": "x", "member_ids": ["nobody"]}),
        )
        .await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn a_pair_of_users_has_exactly_one_direct_room() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let (status, first) = app
        .post(
            "/api/v1/rooms/direct",
            &alice.token,
            json!({"user_id": bob.id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["kind"], "direct");
    assert_eq!(first["members"].as_array().expect("members").len(), 2);
    let (status, again) = app
        .post(
            "/api/v1/rooms/direct",
            &alice.token,
            json!({"user_id": bob.id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], first["id"]);
    let (status, from_bob) = app
        .post(
            "/api/v1/rooms/direct",
            &bob.token,
            json!({"user_id": alice.id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(from_bob["id"], first["id"]);

    assert_error(
        &app.post(
            "/api/v1/rooms/direct",
            &alice.token,
            json!({"user_id": alice.id}),
        )
        .await,
        400,
        "bad_request",
    );
    assert_error(
        &app.post(
            "/api/v1/rooms/direct",
            &alice.token,
            json!({"user_id": "ghost"}),
        )
        .await,
        404,
        "not_found",
    );
    let room = first["id"].as_str().expect("id");
    let add = app
        .post(
            &format!("/api/v1/rooms/{room}/members"),
            &alice.token,
            json!({"user_id": bob.id}),
        )
        .await;
    assert_error(&add, 400, "bad_request");
    let leave = app
        .call(
            Method::DELETE,
            &format!("/api/v1/rooms/{room}/members/me"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_error(&leave, 400, "bad_request");
}

#[tokio::test]
async fn non_members_can_neither_read_nor_write_a_room() {
    let app = spawn_app().await;
    let (alice, mallory) = (app.register("alice").await, app.register("mallory").await);
    let room = app.group(&alice, "Private", &[]).await;
    app.send_text(&alice, &room, "secret").await;

    assert_error(
        &app.get(&format!("/api/v1/rooms/{room}"), &mallory.token)
            .await,
        403,
        "forbidden",
    );
    assert_error(
        &app.get(&format!("/api/v1/rooms/{room}/messages"), &mallory.token)
            .await,
        403,
        "forbidden",
    );
    let send = json!({"client_id": new_client_id(), "kind": "text", "body": "let me in"});
    assert_error(
        &app.post(
            &format!("/api/v1/rooms/{room}/messages"),
            &mallory.token,
            send,
        )
        .await,
        403,
        "forbidden",
    );
    let add_self = json!({"user_id": mallory.id});
    assert_error(
        &app.post(
            &format!("/api/v1/rooms/{room}/members"),
            &mallory.token,
            add_self,
        )
        .await,
        403,
        "forbidden",
    );
    assert_error(
        &app.post(
            &format!("/api/v1/rooms/{room}/invites"),
            &mallory.token,
            json!({}),
        )
        .await,
        403,
        "forbidden",
    );
    let (_, rooms) = app.get("/api/v1/rooms", &mallory.token).await;
    assert_eq!(rooms, json!([]));

    assert_error(
        &app.get("/api/v1/rooms/no-such-room", &alice.token).await,
        404,
        "not_found",
    );
    assert_error(
        &app.get("/api/v1/rooms/no-such-room/messages", &alice.token)
            .await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn history_pages_back_and_forth_in_ascending_seq() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let room = app.group(&alice, "History", &[]).await;
    for i in 1..=5 {
        app.send_text(&alice, &room, &format!("m{i}")).await;
    }
    let page = async |query: &str| {
        app.get(
            &format!("/api/v1/rooms/{room}/messages{query}"),
            &alice.token,
        )
        .await
    };
    let seqs = |body: &Value| -> Vec<u64> {
        body["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["seq"].as_u64().expect("seq"))
            .collect()
    };

    let (status, newest) = page("").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seqs(&newest), [1, 2, 3, 4, 5]);
    assert_eq!(newest["has_more"], false);

    let (_, newest_two) = page("?limit=2").await;
    assert_eq!(seqs(&newest_two), [4, 5]);
    assert_eq!(newest_two["has_more"], true);
    let (_, older) = page("?before_seq=4&limit=2").await;
    assert_eq!(seqs(&older), [2, 3]);
    assert_eq!(older["has_more"], true);
    let (_, oldest) = page("?before_seq=2&limit=2").await;
    assert_eq!(seqs(&oldest), [1]);
    assert_eq!(oldest["has_more"], false);
    let (_, newer) = page("?after_seq=2&limit=2").await;
    assert_eq!(seqs(&newer), [3, 4]);
    assert_eq!(newer["has_more"], true);
    let (_, rest) = page("?after_seq=4").await;
    assert_eq!(seqs(&rest), [5]);
    assert_eq!(rest["has_more"], false);

    let message = &newest["messages"][0];
    assert_eq!(message["kind"], "text");
    assert_eq!(message["body"], "m1");
    assert_eq!(message["room_id"], room.as_str());
    assert_eq!(message["sender_id"], alice.id.as_str());
    assert!(message["media"].is_null() && message["reply_to"].is_null());

    assert_error(&page("?before_seq=3&after_seq=1").await, 400, "bad_request");
    assert_error(&page("?limit=0").await, 400, "bad_request");
    assert_error(&page("?limit=abc").await, 400, "bad_request");
    assert_eq!(page("?limit=100000").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_retried_rest_send_with_the_same_client_id_stores_one_message() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let room = app.group(&alice, "Retries", &[]).await;
    let other_room = app.group(&alice, "Elsewhere", &[]).await;
    let send = json!({"client_id": new_client_id(), "kind": "text", "body": "once"});
    let path = format!("/api/v1/rooms/{room}/messages");
    let (first_status, first) = app.post(&path, &alice.token, send.clone()).await;
    assert_eq!(first_status, StatusCode::CREATED);
    let (again_status, again) = app.post(&path, &alice.token, send.clone()).await;
    assert_eq!(again_status, StatusCode::OK);
    assert_eq!(again, first);
    let (_, page) = app.get(&path, &alice.token).await;
    assert_eq!(page["messages"].as_array().expect("messages").len(), 1);

    let elsewhere = app
        .post(
            &format!("/api/v1/rooms/{other_room}/messages"),
            &alice.token,
            send,
        )
        .await;
    assert_error(&elsewhere, 409, "conflict");
}

#[tokio::test]
async fn message_input_is_checked_and_text_is_kept_as_written() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let room = app.group(&alice, "Checks", &[]).await;
    let other = app.group(&alice, "Other", &[]).await;
    let path = format!("/api/v1/rooms/{room}/messages");
    let send = |body: Value| app.post(&path, &alice.token, body);
    let text = |body: &str| json!({"client_id": new_client_id(), "kind": "text", "body": body});

    assert_error(&send(text("   ")).await, 400, "bad_request");
    assert_error(
        &send(text(&"é".repeat(4001))).await,
        413,
        "payload_too_large",
    );
    assert_eq!(send(text(&"é".repeat(4000))).await.0, StatusCode::CREATED);
    assert_error(
        &send(json!({"client_id": "nope", "kind": "text", "body": "x"})).await,
        400,
        "bad_request",
    );
    assert_error(
        &send(json!({"client_id": new_client_id(), "kind": "text"})).await,
        400,
        "bad_request",
    );
    assert_error(
        &send(json!({"client_id": new_client_id(), "kind": "shout", "body": "x"})).await,
        400,
        "bad_request",
    );
    assert_error(
        &send(json!({"client_id": new_client_id(), "kind": "system", "body": "x"})).await,
        400,
        "bad_request",
    );

    let (_, markup) = send(text("  <b>bold</b>\nline two  ")).await;
    assert_eq!(markup["body"], "<b>bold</b>\nline two");

    let elsewhere = app.send_text(&alice, &other, "in another room").await;
    let reply = json!({"client_id": new_client_id(), "kind": "text", "body": "re", "reply_to": elsewhere["id"]});
    assert_error(&send(reply).await, 400, "bad_request");
    let reply = json!({"client_id": new_client_id(), "kind": "text", "body": "re", "reply_to": markup["id"]});
    let (status, replied) = send(reply).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(replied["reply_to"], markup["id"]);
}

#[tokio::test]
async fn the_room_list_puts_recent_activity_first_and_counts_unread_messages() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let older = app.group(&alice, "Older", &[&bob]).await;
    let newer = app.group(&alice, "Newer", &[&bob]).await;
    app.send_text(&alice, &older, "one").await;
    let last = app.send_text(&alice, &older, "two").await;
    app.send_text(&bob, &older, "mine").await;

    let (status, rooms) = app.get("/api/v1/rooms", &bob.token).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = rooms
        .as_array()
        .expect("rooms")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [older.as_str(), newer.as_str()]);
    assert_eq!(
        rooms[0]["unread_count"], 2,
        "bob's own message is not unread"
    );
    assert_eq!(rooms[0]["last_seq"], 3);
    assert_eq!(rooms[0]["last_message"]["body"], "mine");
    assert_eq!(rooms[1]["unread_count"], 0);
    let _ = last;
}

/// The unread counter is cached per read marker and extended as messages arrive: every
/// view along the way must still be exact.
#[tokio::test]
async fn unread_counts_stay_exact_as_messages_arrive_and_the_reader_catches_up() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let room = app.group(&alice, "Busy", &[&bob]).await;
    let unread = || async {
        let (status, rooms) = app.get("/api/v1/rooms", &bob.token).await;
        assert_eq!(status, StatusCode::OK);
        rooms[0]["unread_count"].as_u64().expect("unread_count")
    };
    for body in ["one", "two", "three"] {
        app.send_text(&alice, &room, body).await;
    }
    assert_eq!(unread().await, 3);
    assert_eq!(unread().await, 3, "a second look counts the same");
    app.send_text(&bob, &room, "mine").await;
    app.send_text(&alice, &room, "five").await;
    assert_eq!(
        unread().await,
        4,
        "extended by alice's new message, not bob's"
    );

    let socket = app.socket(&bob).await;
    let ack = socket
        .ack(
            "receipt",
            json!({"room_id": room, "kind": "read", "seq": 2}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(unread().await, 2, "three and five");
    app.send_text(&alice, &room, "six").await;
    assert_eq!(unread().await, 3);
    let ack = socket
        .ack(
            "receipt",
            json!({"room_id": room, "kind": "read", "seq": 6}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(unread().await, 0);
    socket.disconnect().await;
}

#[tokio::test]
async fn owners_and_admins_add_people_and_a_departing_owner_hands_over() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("carol").await,
    );
    let room = app.group(&alice, "Team", &[&bob]).await;
    let members_path = format!("/api/v1/rooms/{room}/members");

    let by_member = app
        .post(&members_path, &bob.token, json!({"user_id": carol.id}))
        .await;
    assert_error(&by_member, 403, "forbidden");
    let (status, added) = app
        .post(&members_path, &alice.token, json!({"user_id": carol.id}))
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(added["members"].as_array().expect("members").len(), 3);
    let (status, again) = app
        .post(&members_path, &alice.token, json!({"user_id": carol.id}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["members"].as_array().expect("members").len(), 3);
    assert_error(
        &app.post(&members_path, &alice.token, json!({"user_id": "ghost"}))
            .await,
        404,
        "not_found",
    );

    let leave = format!("/api/v1/rooms/{room}/members/me");
    let (status, _) = app
        .call(Method::DELETE, &leave, Some(&alice.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(
        &app.get(&format!("/api/v1/rooms/{room}"), &alice.token)
            .await,
        403,
        "forbidden",
    );
    let (_, seen) = app.get(&format!("/api/v1/rooms/{room}"), &bob.token).await;
    let bob_role = seen["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["user"]["id"] == bob.id.as_str())
        .map(|m| m["role"].clone());
    assert_eq!(
        bob_role,
        Some(json!("owner")),
        "the longest-standing member takes over"
    );
    assert_error(
        &app.call(Method::DELETE, &leave, Some(&alice.token), None)
            .await,
        403,
        "forbidden",
    );
}

#[tokio::test]
async fn invites_admit_people_until_they_expire_run_out_or_are_revoked() {
    let app = spawn_app().await;
    let (alice, bob, carol, dave) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("carol").await,
        app.register("dave").await,
    );
    let room = app.group(&alice, "Book club", &[]).await;
    let invites = format!("/api/v1/rooms/{room}/invites");

    let (status, invite) = app
        .post(
            &invites,
            &alice.token,
            json!({"max_uses": 1, "expires_in_secs": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invite}");
    let code = invite["code"].as_str().expect("code").to_owned();
    assert!(code.len() >= 22);
    assert_eq!(invite["room_id"], room.as_str());
    assert_eq!(invite["created_by"], alice.id.as_str());
    assert_eq!(invite["max_uses"], 1);
    assert_eq!(invite["uses"], 0);
    assert!(invite["expires_at"].is_string());
    assert_eq!(invite["url"], format!("http://{}/invite/{code}", app.addr));

    // Anyone holding the link sees what it leads to, signed in or not.
    let (status, preview) = app
        .call(Method::GET, &format!("/api/v1/invites/{code}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        preview["room"],
        json!({"id": room, "name": "Book club", "member_count": 1})
    );
    assert_eq!(preview["uses"], 0);

    let accept = async |who: &str, code: &str| {
        app.call(
            Method::POST,
            &format!("/api/v1/invites/{code}/accept"),
            Some(who),
            None,
        )
        .await
    };
    let (status, joined) = accept(&bob.token, &code).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["id"], room.as_str());
    assert_eq!(
        app.get(&format!("/api/v1/rooms/{room}"), &bob.token)
            .await
            .0,
        StatusCode::OK
    );
    // A member accepting again gets the room without using the invite up further.
    assert_eq!(accept(&bob.token, &code).await.0, StatusCode::OK);
    assert_error(&accept(&carol.token, &code).await, 410, "gone");
    assert_error(
        &app.call(Method::GET, &format!("/api/v1/invites/{code}"), None, None)
            .await,
        410,
        "gone",
    );

    // Revoking: only the creator or an admin; afterwards the invite is gone.
    let (_, open) = app.post(&invites, &alice.token, json!({})).await;
    let open_code = open["code"].as_str().expect("code").to_owned();
    assert!(open["max_uses"].is_null() && open["expires_at"].is_null());
    let revoke = async |who: &str| {
        app.call(
            Method::DELETE,
            &format!("/api/v1/invites/{open_code}"),
            Some(who),
            None,
        )
        .await
    };
    assert_error(&revoke(&bob.token).await, 403, "forbidden");
    assert_error(
        &app.post(&invites, &bob.token, json!({})).await,
        403,
        "forbidden",
    );
    assert_eq!(revoke(&alice.token).await.0, StatusCode::NO_CONTENT);
    assert_error(&accept(&carol.token, &open_code).await, 410, "gone");

    // Expiry. Invites expire in whole seconds, so the test waits for the clock itself: the
    // passing of time is what is tested, not a stand-in for an event.
    let (_, brief) = app
        .post(&invites, &alice.token, json!({"expires_in_secs": 1}))
        .await;
    let brief_code = brief["code"].as_str().expect("code").to_owned();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_error(&accept(&dave.token, &brief_code).await, 410, "gone");

    assert_error(&accept(&dave.token, "no-such-code").await, 404, "not_found");
    assert_error(
        &app.post(&invites, &alice.token, json!({"expires_in_secs": 0}))
            .await,
        400,
        "bad_request",
    );
    assert_error(
        &app.post(&invites, &alice.token, json!({"max_uses": 0}))
            .await,
        400,
        "bad_request",
    );
}

#[tokio::test]
async fn an_invite_with_max_uses_admits_exactly_that_many_under_a_rush() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let room = app.group(&alice, "Rush", &[]).await;
    let (_, invite) = app
        .post(
            &format!("/api/v1/rooms/{room}/invites"),
            &alice.token,
            json!({"max_uses": 3}),
        )
        .await;
    let invite_code = invite["code"].as_str().expect("code").to_owned();
    let mut joiners = Vec::new();
    for i in 0..8 {
        joiners.push(app.register(&format!("joiner{i}")).await);
    }
    let accept_path = format!("/api/v1/invites/{invite_code}/accept");
    let answers = futures_util::future::join_all(
        joiners
            .iter()
            .map(|j| app.call(Method::POST, &accept_path, Some(&j.token), None)),
    )
    .await;
    let admitted = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .count();
    let refused = answers
        .iter()
        .filter(|(status, body)| *status == StatusCode::GONE && code(body) == "gone")
        .count();
    assert_eq!((admitted, refused), (3, 5));
    let (_, room) = app
        .get(&format!("/api/v1/rooms/{room}"), &alice.token)
        .await;
    assert_eq!(room["members"].as_array().expect("members").len(), 4);
}

#[tokio::test]
async fn sign_ins_and_sends_are_rate_limited_with_retry_after() {
    let limits = Limits {
        auth_per_ip: 4,
        login_per_account: 2,
        sends_per_user: 2,
        ..roomy_limits()
    };
    let app = TestApp::builder().limits(limits).spawn().await;
    let alice = app.register("alice").await;
    let login = || {
        app.http
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"username": alice.username, "password": "wrong password"}))
            .send()
    };
    assert_eq!(
        login().await.expect("sent").status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login().await.expect("sent").status(),
        StatusCode::UNAUTHORIZED
    );
    let limited = login().await.expect("sent");
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after));
    let body: Value = limited.json().await.expect("json");
    assert_eq!(code(&body), "rate_limited");
    // That was the account limit; the address limit (4 per window) is used up now too.
    let register = app
        .call(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"username": unique("late"), "password": "long enough"})),
        )
        .await;
    assert_error(&register, 429, "rate_limited");

    let room = app.group(&alice, "Chatty", &[]).await;
    let path = format!("/api/v1/rooms/{room}/messages");
    let text = || json!({"client_id": new_client_id(), "kind": "text", "body": "hi"});
    assert_eq!(
        app.post(&path, &alice.token, text()).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        app.post(&path, &alice.token, text()).await.0,
        StatusCode::CREATED
    );
    assert_error(
        &app.post(&path, &alice.token, text()).await,
        429,
        "rate_limited",
    );
}

#[tokio::test]
async fn the_services_report_names_each_service_and_its_state() {
    let app = spawn_app().await;
    let (status, body) = app.call(Method::GET, "/readyz/services", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"status": "ok", "services": {"store": "up", "media": "up"}})
    );
}

#[tokio::test]
async fn health_and_readiness_answer_and_unknown_endpoints_get_the_error_body() {
    let app = spawn_app().await;
    let (status, body) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, body) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    assert_error(
        &app.call(Method::GET, "/api/v1/no/such/thing", None, None)
            .await,
        404,
        "not_found",
    );
    assert_error(
        &app.call(Method::PUT, "/api/v1/rooms", None, None).await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn the_home_page_is_rendered_on_the_server() {
    let app = spawn_app().await;
    let page = app.http.get(app.url("/")).send().await.expect("sent");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("<h1>Confab</h1>"), "{html}");
    assert!(
        html.contains("/pkg/confab.js"),
        "the page loads the hydrate bundle"
    );
}

#[tokio::test]
async fn many_concurrent_senders_get_gap_free_unique_sequence_numbers() {
    let app = spawn_app().await;
    let owner = app.register("owner").await;
    let mut senders = Vec::new();
    for i in 0..8 {
        senders.push(app.register(&format!("sender{i}")).await);
    }
    let refs: Vec<&crate::helpers::TestUser> = senders.iter().collect();
    let room = app.group(&owner, "Busy", &refs).await;
    let path = format!("/api/v1/rooms/{room}/messages");
    const PER_SENDER: usize = 15;
    let sends = senders.iter().flat_map(|sender| {
        (0..PER_SENDER).map(|i| {
            let body = json!({"client_id": new_client_id(), "kind": "text", "body": format!("{} #{i}", sender.username)});
            app.post(&path, &sender.token, body)
        })
    });
    let answers = futures_util::future::join_all(sends).await;
    assert!(
        answers
            .iter()
            .all(|(status, _)| *status == StatusCode::CREATED)
    );
    let acked: HashSet<u64> = answers
        .iter()
        .map(|(_, m)| m["seq"].as_u64().expect("seq"))
        .collect();
    let total = (senders.len() * PER_SENDER) as u64;
    assert_eq!(acked, (1..=total).collect::<HashSet<_>>());

    let (_, page) = app.get(&format!("{path}?limit=200"), &owner.token).await;
    let stored: Vec<u64> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(stored, (1..=total).collect::<Vec<_>>());
}

#[tokio::test]
async fn concurrent_retries_of_one_send_store_one_message() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let room = app.group(&alice, "Flaky network", &[]).await;
    let path = format!("/api/v1/rooms/{room}/messages");
    let body = json!({"client_id": new_client_id(), "kind": "text", "body": "sent on a bad line"});
    let answers = futures_util::future::join_all(
        (0..10).map(|_| app.post(&path, &alice.token, body.clone())),
    )
    .await;
    let ids: HashSet<&str> = answers
        .iter()
        .map(|(_, m)| m["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(
        answers
            .iter()
            .filter(|(status, _)| *status == StatusCode::CREATED)
            .count(),
        1
    );
    let (_, page) = app.get(&path, &alice.token).await;
    assert_eq!(page["messages"].as_array().expect("messages").len(), 1);
}

#[tokio::test]
async fn a_restarted_node_still_has_every_account_room_message_and_session() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let room = app.group(&alice, "Durable", &[&bob]).await;
    let sent = app.send_text(&alice, &room, "still here?").await;
    app.post(
        &format!("/api/v1/rooms/{room}/invites"),
        &alice.token,
        json!({}),
    )
    .await;

    let app: TestApp = app.restart().await;
    let (status, me) = app.get("/api/v1/me", &alice.token).await;
    assert_eq!(status, StatusCode::OK, "the session survives: {me}");
    let (_, page) = app
        .get(&format!("/api/v1/rooms/{room}/messages"), &bob.token)
        .await;
    assert_eq!(page["messages"][0], sent);
    let next = app.send_text(&bob, &room, "yes").await;
    assert_eq!(next["seq"], 2, "numbering continues where it stopped");
    let login = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": bob.username, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(login.0, StatusCode::OK);
    assert!(app.data_dir().join("confab.db").exists());
}

/// A web client on another origin that the operator allowed (`CONFAB_ALLOWED_ORIGINS`)
/// may call the API, preflight included; any other origin gets no CORS grant, so a
/// browser keeps the answer from it.
#[tokio::test]
async fn allowed_origins_may_call_the_api_across_origins_and_no_other() {
    let app = crate::helpers::TestApp::builder()
        .configure(|config| {
            config.allowed_origins = vec!["https://app.example.com".into()];
        })
        .spawn()
        .await;
    let alice = app.register("alice").await;
    let preflight = |origin: &'static str| {
        app.http
            .request(Method::OPTIONS, app.url("/api/v1/rooms"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com")
        .await
        .expect("preflight");
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_lowercase())
    };
    assert_eq!(
        header(&allowed, "access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    let methods = header(&allowed, "access-control-allow-methods").expect("methods");
    assert!(
        methods.contains("post") && methods.contains("patch"),
        "{methods}"
    );
    let headers = header(&allowed, "access-control-allow-headers").expect("headers");
    assert!(headers.contains("authorization") && headers.contains("content-type"));

    // The request itself, with a bearer token: answered, and readable by that origin.
    let rooms_from = |origin: &'static str| {
        app.http
            .get(app.url("/api/v1/rooms"))
            .header("origin", origin)
            .bearer_auth(&alice.token)
            .send()
    };
    let rooms = rooms_from("https://app.example.com").await.expect("rooms");
    assert_eq!(rooms.status(), StatusCode::OK);
    assert_eq!(
        header(&rooms, "access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );

    // Another origin: no grant, for the preflight or the request.
    let refused = preflight("https://evil.example.net")
        .await
        .expect("preflight");
    assert_eq!(header(&refused, "access-control-allow-origin"), None);
    let read = rooms_from("https://evil.example.net").await.expect("rooms");
    assert_eq!(header(&read, "access-control-allow-origin"), None);
}

/// Native apps open invite links when the deployment names them: Android App Links and iOS
/// universal links read these files; a deployment without apps serves neither.
#[tokio::test]
async fn app_link_files_name_the_configured_apps_for_invite_links() {
    let fingerprint = ["AB"; 32].join(":");
    let expected = fingerprint.clone();
    let app = crate::helpers::TestApp::builder()
        .configure(move |config| {
            config.app_links = server::config::AppLinks {
                android_package: Some("com.example.confab".into()),
                android_fingerprints: vec![expected.clone()],
                ios_app_ids: vec!["ABCDE12345.com.example.confab".into()],
            };
        })
        .spawn()
        .await;
    let response = app
        .http
        .get(app.url("/.well-known/assetlinks.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let links: Value = response.json().await.expect("json");
    assert_eq!(links[0]["target"]["package_name"], "com.example.confab");
    assert_eq!(
        links[0]["target"]["sha256_cert_fingerprints"][0],
        fingerprint
    );
    assert_eq!(
        links[0]["relation"][0],
        "delegate_permission/common.handle_all_urls"
    );
    let response = app
        .http
        .get(app.url("/.well-known/apple-app-site-association"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "Apple reads the file only as JSON"
    );
    let association: Value = response.json().await.expect("json");
    let details = &association["applinks"]["details"];
    assert_eq!(details[0]["appIDs"][0], "ABCDE12345.com.example.confab");
    assert_eq!(details[0]["components"][0]["/"], "/invite/*");
    assert_eq!(details[1]["paths"][0], "/invite/*");

    let plain = spawn_app().await;
    for file in ["assetlinks.json", "apple-app-site-association"] {
        let response = plain
            .http
            .get(plain.url(&format!("/.well-known/{file}")))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 404, "{file} without configured apps");
    }
}

#[test]
fn app_link_settings_that_the_platforms_would_ignore_refuse_to_start() {
    use server::config::AppLinks;
    let good = AppLinks {
        android_package: Some("com.example.confab".into()),
        android_fingerprints: vec![["0F"; 32].join(":")],
        ios_app_ids: vec!["ABCDE12345.com.example.confab".into()],
    };
    assert!(good.check().is_ok());
    for bad in [
        AppLinks {
            android_package: Some("confab".into()),
            ..good.clone()
        },
        AppLinks {
            android_fingerprints: vec!["AB:CD".into()],
            ..good.clone()
        },
        AppLinks {
            android_fingerprints: Vec::new(),
            ..good.clone()
        },
        AppLinks {
            ios_app_ids: vec!["com.example.confab".into()],
            ..good.clone()
        },
    ] {
        assert!(bad.check().is_err(), "{bad:?}");
    }
}
