//! API.md v1.1 for people: deleting an account, blocking someone, and how many a group
//! holds and how fast one user may add to groups.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error, roomy_limits, spawn_app};
use crate::sessions::{device, is_disconnected};

/// `DELETE /me` with `body` (the password, or not).
pub async fn delete_me(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::DELETE, "/api/v1/me", Some(token), Some(body))
        .await
}

async fn members_of(app: &TestApp, viewer: &TestUser, room: &str) -> Vec<Value> {
    let (status, view) = app
        .get(&format!("/api/v1/rooms/{room}"), &viewer.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    view["members"].as_array().expect("members").clone()
}

fn role_of<'a>(members: &'a [Value], user: &TestUser) -> Option<&'a str> {
    members
        .iter()
        .find(|m| m["user"]["id"] == user.id.as_str())
        .and_then(|m| m["role"].as_str())
}

#[tokio::test]
async fn deleting_an_account_takes_its_password_and_leaves_nothing_usable_behind() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("carol").await,
    );
    let group = app.group(&alice, "Book club", &[&bob, &carol]).await;
    let (status, direct) = app
        .post(
            "/api/v1/rooms/direct",
            &bob.token,
            json!({"user_id": alice.id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{direct}");
    let direct = direct["id"].as_str().expect("id").to_owned();
    let kept = app.send_text(&alice, &direct, "remember me").await;
    let mut alices_phone = device(&app, &alice.token).await;

    assert_error(
        &delete_me(&app, &alice.token, json!({})).await,
        400,
        "bad_request",
    );
    assert_error(
        &delete_me(&app, &alice.token, json!({"password": "not it at all"})).await,
        403,
        "forbidden",
    );
    let (status, body) = delete_me(
        &app,
        &alice.token,
        json!({"password": "correct horse battery"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // The token and its sockets are done.
    assert!(
        is_disconnected(&mut alices_phone).await,
        "the socket outlived the account"
    );
    assert_error(
        &app.get("/api/v1/me", &alice.token).await,
        401,
        "unauthorized",
    );
    // She left the group, which passed to the longest-standing member, and said so.
    let members = members_of(&app, &bob, &group).await;
    assert_eq!(role_of(&members, &alice), None, "{members:?}");
    assert_eq!(role_of(&members, &bob), Some("owner"), "{members:?}");
    let (_, history) = app
        .get(&format!("/api/v1/rooms/{group}/messages"), &bob.token)
        .await;
    let told: Vec<(&str, &str)> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .rev()
        .take(2)
        .map(|m| {
            (
                m["kind"].as_str().unwrap_or(""),
                m["body"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        told,
        vec![("system", "bob is now the owner"), ("system", "alice left")]
    );
    // The direct room keeps the conversation, under "Deleted user".
    let members = members_of(&app, &bob, &direct).await;
    let gone = members
        .iter()
        .find(|m| m["user"]["id"] == alice.id.as_str())
        .expect("the deleted account stays in the direct room");
    assert_eq!(gone["user"]["display_name"], "Deleted user");
    assert_ne!(gone["user"]["username"], alice.username.as_str());
    let (_, history) = app
        .get(&format!("/api/v1/rooms/{direct}/messages"), &bob.token)
        .await;
    assert_eq!(history["messages"][0]["id"], kept["id"]);
    assert_eq!(history["messages"][0]["sender_id"], alice.id.as_str());
    // Nobody can bring the deleted account anywhere, nor find it.
    assert_error(
        &app.post(
            &format!("/api/v1/rooms/{group}/members"),
            &bob.token,
            json!({"user_id": alice.id}),
        )
        .await,
        404,
        "not_found",
    );
    assert_error(
        &app.post(
            "/api/v1/rooms/direct",
            &carol.token,
            json!({"user_id": alice.id}),
        )
        .await,
        404,
        "not_found",
    );
    let (_, found) = app
        .get(&format!("/api/v1/users?q={}", alice.username), &bob.token)
        .await;
    assert_eq!(found, json!([]), "search found the deleted account");
    // The username is free: someone new takes it, and signing in reaches them.
    let (status, fresh) = app
        .call(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"username": alice.username, "password": "another horse battery"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{fresh}");
    assert_ne!(fresh["user"]["id"], alice.id.as_str());
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": alice.username, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old password opens nothing"
    );
}

#[tokio::test]
async fn someone_blocked_cannot_start_a_direct_room_with_me_or_add_me_anywhere() {
    let app = spawn_app().await;
    let (bob, mallory, carol) = (
        app.register("bob").await,
        app.register("mallory").await,
        app.register("carol").await,
    );
    let block = format!("/api/v1/users/{}/block", mallory.id);
    let (status, _) = app.post(&block, &bob.token, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.post(&block, &bob.token, json!({})).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "blocking again changes nothing"
    );
    let (_, blocked) = app.get("/api/v1/me/blocks", &bob.token).await;
    assert_eq!(blocked.as_array().map(Vec::len), Some(1), "{blocked}");
    assert_eq!(blocked[0]["id"], mallory.id.as_str());

    assert_error(
        &app.post(
            "/api/v1/rooms/direct",
            &mallory.token,
            json!({"user_id": bob.id}),
        )
        .await,
        403,
        "forbidden",
    );
    assert_error(
        &app.post(
            "/api/v1/rooms",
            &mallory.token,
            json!({"name": "Trap", "member_ids": [carol.id, bob.id]}),
        )
        .await,
        403,
        "forbidden",
    );
    let hers = app.group(&mallory, "Hers", &[&carol]).await;
    assert_error(
        &app.post(
            &format!("/api/v1/rooms/{hers}/members"),
            &mallory.token,
            json!({"user_id": bob.id}),
        )
        .await,
        403,
        "forbidden",
    );
    // Only one way: bob may still write to her, and carol may still add him.
    let (status, _) = app
        .post(
            "/api/v1/rooms/direct",
            &bob.token,
            json!({"user_id": mallory.id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    app.group(&carol, "Carol's", &[&bob]).await;

    assert_error(
        &app.post(
            &format!("/api/v1/users/{}/block", bob.id),
            &bob.token,
            json!({}),
        )
        .await,
        400,
        "bad_request",
    );
    assert_error(
        &app.post("/api/v1/users/nobody-at-all/block", &bob.token, json!({}))
            .await,
        404,
        "not_found",
    );
    let (status, _) = app
        .call(Method::DELETE, &block, Some(&bob.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, blocked) = app.get("/api/v1/me/blocks", &bob.token).await;
    assert_eq!(blocked, json!([]));
    let (status, _) = app
        .post(
            "/api/v1/rooms/direct",
            &mallory.token,
            json!({"user_id": bob.id}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "unblocked: the room they share opens"
    );
}

#[tokio::test]
async fn a_full_group_takes_no_one_more_by_any_door() {
    let mut limits = roomy_limits();
    limits.max_group_members = 3;
    let app = TestApp::builder().limits(limits).spawn().await;
    let (owner, a, b, c) = (
        app.register("owner").await,
        app.register("a").await,
        app.register("b").await,
        app.register("c").await,
    );
    assert_error(
        &app.post(
            "/api/v1/rooms",
            &owner.token,
            json!({"name": "Too many", "member_ids": [a.id, b.id, c.id]}),
        )
        .await,
        413,
        "payload_too_large",
    );
    let room = app.group(&owner, "Three", &[&a, &b]).await;
    assert_error(
        &app.post(
            &format!("/api/v1/rooms/{room}/members"),
            &owner.token,
            json!({"user_id": c.id}),
        )
        .await,
        409,
        "conflict",
    );
    let (status, invite) = app
        .post(
            &format!("/api/v1/rooms/{room}/invites"),
            &owner.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invite}");
    let code = invite["code"].as_str().expect("code");
    assert_error(
        &app.post(
            &format!("/api/v1/invites/{code}/accept"),
            &c.token,
            json!({}),
        )
        .await,
        409,
        "conflict",
    );
    // Adding a member again is no addition, full or not.
    let (status, _) = app
        .post(
            &format!("/api/v1/rooms/{room}/members"),
            &owner.token,
            json!({"user_id": a.id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(members_of(&app, &owner, &room).await.len(), 3);
}

#[tokio::test]
async fn adding_people_to_groups_is_rate_limited_per_user() {
    let mut limits = roomy_limits();
    limits.member_changes_per_user = 2;
    let app = TestApp::builder().limits(limits).spawn().await;
    let owner = app.register("owner").await;
    let room = app.group(&owner, "Busy", &[]).await;
    let mut answers = Vec::new();
    for name in ["a", "b", "c"] {
        let user = app.register(name).await;
        answers.push(
            app.post(
                &format!("/api/v1/rooms/{room}/members"),
                &owner.token,
                json!({"user_id": user.id}),
            )
            .await,
        );
    }
    assert_eq!(answers[0].0, StatusCode::OK);
    assert_eq!(answers[1].0, StatusCode::OK);
    assert_error(&answers[2], 429, "rate_limited");
}

#[tokio::test]
async fn a_big_group_lists_its_first_members_and_pages_through_the_rest() {
    let app = spawn_app().await;
    let owner = app.register("owner").await;
    let mut others = Vec::new();
    for i in 0..104 {
        others.push(app.register(&format!("m{i}")).await);
    }
    let everyone: Vec<&TestUser> = others.iter().collect();
    let room = app.group(&owner, "Crowd", &everyone).await;
    let newest = others.last().expect("a member");

    let (_, view) = app
        .get(&format!("/api/v1/rooms/{room}"), &owner.token)
        .await;
    assert_eq!(view["member_count"], 105);
    assert_eq!(view["members"].as_array().map(Vec::len), Some(100));
    assert_eq!(
        view["members"][0]["user"]["id"],
        owner.id.as_str(),
        "oldest first"
    );
    // The newest member is past the first hundred, yet finds themselves in their view.
    let (_, view) = app
        .get(&format!("/api/v1/rooms/{room}"), &newest.token)
        .await;
    let listed = view["members"].as_array().expect("members");
    assert_eq!(listed.len(), 101);
    assert_eq!(listed[100]["user"]["id"], newest.id.as_str());

    let page = |query: &str| format!("/api/v1/rooms/{room}/members?{query}");
    let (status, rest) = app.get(&page("offset=100&limit=10"), &owner.token).await;
    assert_eq!(status, StatusCode::OK, "{rest}");
    assert_eq!(rest["total"], 105);
    let ids: Vec<&str> = rest["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["user"]["id"].as_str().expect("id"))
        .collect();
    let expected: Vec<&str> = others[99..].iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, expected);
    let (_, first) = app.get(&page(""), &owner.token).await;
    assert_eq!(
        first["members"].as_array().map(Vec::len),
        Some(100),
        "100 by default"
    );
    assert_error(
        &app.get(&page("limit=0"), &owner.token).await,
        400,
        "bad_request",
    );
    assert_error(
        &app.get(&page("limit=501"), &owner.token).await,
        400,
        "bad_request",
    );
    let stranger = app.register("stranger").await;
    assert_error(&app.get(&page(""), &stranger.token).await, 403, "forbidden");
}
