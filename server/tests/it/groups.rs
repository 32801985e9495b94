//! API.md v1.1 "Rooms and people": renaming, roles, removing, leaving and muting, each
//! change told in the room's stream as a `system` message.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error, new_client_id, spawn_app};

async fn patch(app: &TestApp, path: &str, user: &TestUser, body: Value) -> (StatusCode, Value) {
    app.call(Method::PATCH, path, Some(&user.token), Some(body))
        .await
}

async fn delete(app: &TestApp, path: &str, user: &TestUser) -> (StatusCode, Value) {
    app.call(Method::DELETE, path, Some(&user.token), None)
        .await
}

/// The room's system messages, oldest first.
async fn system_lines(app: &TestApp, user: &TestUser, room: &str) -> Vec<String> {
    let (_, page) = app
        .get(&format!("/api/v1/rooms/{room}/messages"), &user.token)
        .await;
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["kind"] == "system")
        .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn owners_and_admins_rename_a_group_and_set_its_topic() {
    let app = spawn_app().await;
    let (owner, member) = (app.register("Olga").await, app.register("Max").await);
    let room = app.group(&owner, "Old name", &[&member]).await;
    let path = format!("/api/v1/rooms/{room}");
    let member_socket = app.socket(&member).await;

    let (status, view) = patch(
        &app,
        &path,
        &owner,
        json!({"name": "New name", "topic": "Trip plans"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(
        (view["name"].clone(), view["topic"].clone()),
        (json!("New name"), json!("Trip plans"))
    );
    let update = member_socket
        .next_where("room:update", |r| r["name"] == "New name")
        .await;
    assert_eq!(update["topic"], "Trip plans");
    let (_, view) = patch(&app, &path, &owner, json!({"topic": null})).await;
    assert!(view["topic"].is_null(), "{view}");
    assert_eq!(view["name"], "New name", "a field left out stays");
    assert_eq!(
        system_lines(&app, &member, &room).await,
        vec![
            "Olga renamed the group to “New name”",
            "Olga set the topic to “Trip plans”",
            "Olga removed the topic",
        ]
    );

    assert_error(
        &patch(&app, &path, &member, json!({"name": "Mine"})).await,
        403,
        "forbidden",
    );
    assert_error(
        &patch(&app, &path, &owner, json!({"name": "  "})).await,
        400,
        "bad_request",
    );
    assert_error(
        &patch(&app, &path, &owner, json!({"topic": "x".repeat(301)})).await,
        413,
        "payload_too_large",
    );
    let (_, direct) = app
        .post(
            "/api/v1/rooms/direct",
            &owner.token,
            json!({"user_id": member.id}),
        )
        .await;
    let direct_path = format!("/api/v1/rooms/{}", direct["id"].as_str().expect("id"));
    assert_error(
        &patch(&app, &direct_path, &owner, json!({"name": "Us"})).await,
        400,
        "bad_request",
    );
}

#[tokio::test]
async fn the_owner_names_admins_who_add_and_remove_members_and_hands_the_group_over() {
    let app = spawn_app().await;
    let (owner, admin, member, newcomer) = (
        app.register("Olga").await,
        app.register("Ada").await,
        app.register("Max").await,
        app.register("Nina").await,
    );
    let room = app.group(&owner, "Club", &[&admin, &member]).await;
    let role_path = |user: &TestUser| format!("/api/v1/rooms/{room}/members/{}", user.id);

    assert_error(
        &patch(&app, &role_path(&member), &admin, json!({"role": "admin"})).await,
        403,
        "forbidden",
    );
    let (status, view) = patch(&app, &role_path(&admin), &owner, json!({"role": "admin"})).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    // The new admin adds someone, and removes a plain member, but not another admin.
    let (status, _) = app
        .post(
            &format!("/api/v1/rooms/{room}/members"),
            &admin.token,
            json!({"user_id": newcomer.id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let max_socket = app.socket(&member).await;
    let (status, _) = delete(&app, &role_path(&member), &admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let left = max_socket.next("room:left").await;
    assert_eq!(left, json!({"room_id": room, "reason": "removed"}));
    assert_error(
        &app.get(&format!("/api/v1/rooms/{room}/messages"), &member.token)
            .await,
        403,
        "forbidden",
    );
    // His device is still connected, but the room refuses it, cached member list or not.
    let send =
        json!({"room_id": room, "client_id": new_client_id(), "kind": "text", "body": "hey"});
    let typing = json!({"room_id": room, "active": true});
    let receipt = json!({"room_id": room, "kind": "read", "seq": 1});
    for (event, payload) in [
        ("message:send", send),
        ("typing", typing),
        ("receipt", receipt),
    ] {
        let ack = max_socket.ack(event, payload).await;
        assert_eq!(ack["error"]["code"], "forbidden", "{event}: {ack}");
    }
    app.send_text(&owner, &room, "after Max left").await;
    assert!(
        !max_socket
            .receives_within("message:new", Duration::from_millis(500))
            .await,
        "nothing of the room reaches a removed member"
    );
    assert_error(
        &delete(&app, &role_path(&owner), &admin).await,
        403,
        "forbidden",
    );
    assert_error(
        &delete(&app, &role_path(&member), &owner).await,
        404,
        "not_found",
    );
    assert_error(
        &delete(&app, &role_path(&owner), &owner).await,
        400,
        "bad_request",
    );

    // Handing the group over: the old owner becomes an admin.
    let (status, view) = patch(
        &app,
        &role_path(&newcomer),
        &owner,
        json!({"role": "owner"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let role_of = |view: &Value, user: &TestUser| {
        view["members"]
            .as_array()
            .expect("members")
            .iter()
            .find(|m| m["user"]["id"] == user.id.as_str())
            .map(|m| m["role"].clone())
    };
    assert_eq!(role_of(&view, &newcomer), Some(json!("owner")));
    assert_eq!(role_of(&view, &owner), Some(json!("admin")));
    assert_error(
        &patch(&app, &role_path(&admin), &owner, json!({"role": "member"})).await,
        403,
        "forbidden",
    );
    assert_eq!(
        system_lines(&app, &owner, &room).await,
        vec![
            "Olga made Ada an admin",
            "Ada added Nina",
            "Ada removed Max",
            "Olga made Nina the owner",
        ]
    );
}

#[tokio::test]
async fn leaving_tells_the_leaver_and_the_room() {
    let app = spawn_app().await;
    let (owner, member) = (app.register("Olga").await, app.register("Max").await);
    let room = app.group(&owner, "Club", &[&member]).await;
    let socket = app.socket(&member).await;
    let (status, _) = delete(&app, &format!("/api/v1/rooms/{room}/members/me"), &member).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        socket.next("room:left").await,
        json!({"room_id": room, "reason": "left"})
    );
    assert_eq!(system_lines(&app, &owner, &room).await, vec!["Max left"]);
}

#[tokio::test]
async fn an_owner_who_leaves_hands_the_group_to_the_oldest_admin_and_says_so() {
    let app = spawn_app().await;
    let (owner, member, admin) = (
        app.register("Olga").await,
        app.register("Max").await,
        app.register("Ada").await,
    );
    // Max joined before Ada, but an admin comes before any plain member.
    let room = app.group(&owner, "Club", &[&member, &admin]).await;
    app.set_role(&room, &owner, &admin, "admin").await;
    let ada_socket = app.socket(&admin).await;
    let (status, _) = delete(&app, &format!("/api/v1/rooms/{room}/members/me"), &owner).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let update = ada_socket.next("room:update").await;
    let roles: Vec<(String, String)> = update["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            let name = m["user"]["display_name"].as_str().unwrap_or_default();
            (
                name.to_owned(),
                m["role"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(roles.contains(&("Ada".into(), "owner".into())), "{roles:?}");
    assert!(
        roles.contains(&("Max".into(), "member".into())),
        "{roles:?}"
    );
    assert_eq!(
        system_lines(&app, &admin, &room).await,
        vec![
            "Olga made Ada an admin",
            "Olga left",
            "Ada is now the owner"
        ]
    );
    // The new owner runs the group: she can make Max an admin.
    app.set_role(&room, &admin, &member, "admin").await;
}

#[tokio::test]
async fn a_muted_room_sends_mentions_but_no_message_notifications() {
    let app = spawn_app().await;
    let (owner, member) = (app.register("Olga").await, app.register("Max").await);
    let room = app.group(&owner, "Noisy", &[&member]).await;
    let (status, view) = patch(
        &app,
        &format!("/api/v1/rooms/{room}/members/me"),
        &member,
        json!({"muted": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["muted"], true);
    let (_, seen_by_owner) = app
        .get(&format!("/api/v1/rooms/{room}"), &owner.token)
        .await;
    assert_eq!(seen_by_owner["muted"], false, "a mute is the member's own");
    let socket = app.socket(&member).await;
    app.send_text(&owner, &room, "chatter").await;
    assert!(
        !socket
            .receives_within("notification", Duration::from_millis(500))
            .await
    );
    app.send_text(&owner, &room, &format!("@{} look", member.username))
        .await;
    assert_eq!(socket.next("notification").await["kind"], "mention");
}

#[tokio::test]
async fn a_new_display_name_shows_in_every_room_and_search() {
    let app = spawn_app().await;
    let (owner, member) = (app.register("Olga").await, app.register("Max").await);
    let room = app.group(&owner, "Club", &[&member]).await;
    let socket = app.socket(&owner).await;
    let (status, me) = patch(
        &app,
        "/api/v1/me",
        &member,
        json!({"display_name": "Maxine"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["display_name"], "Maxine");
    assert_eq!(
        me["username"],
        member.username.as_str(),
        "the username stays"
    );
    let names = |room: &Value| -> Vec<String> {
        room["members"]
            .as_array()
            .expect("members")
            .iter()
            .map(|m| {
                m["user"]["display_name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    let update = socket.next("room:update").await;
    assert!(names(&update).contains(&"Maxine".to_owned()), "{update}");
    let (_, seen) = app
        .get(&format!("/api/v1/rooms/{room}"), &owner.token)
        .await;
    assert!(names(&seen).contains(&"Maxine".to_owned()));
    let (_, found) = app.get("/api/v1/users?q=maxi", &owner.token).await;
    assert_eq!(found[0]["id"], member.id.as_str(), "{found}");
    let (status, _) = delete(&app, &format!("/api/v1/rooms/{room}/members/me"), &member).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        system_lines(&app, &owner, &room).await,
        vec!["Maxine left"],
        "a later system message uses the new name"
    );
    assert_error(
        &patch(&app, "/api/v1/me", &member, json!({"display_name": " "})).await,
        400,
        "bad_request",
    );
    assert_error(
        &patch(
            &app,
            "/api/v1/me",
            &member,
            json!({"display_name": "x".repeat(65)}),
        )
        .await,
        413,
        "payload_too_large",
    );
    let (status, same) = patch(&app, "/api/v1/me", &member, json!({})).await;
    assert_eq!(
        (status, same["display_name"].clone()),
        (StatusCode::OK, json!("Maxine"))
    );
}

/// Sends from three members race the removal of a fourth while a fifth is typing. Each of
/// the removed member's devices gets `room:left`, and after it no event of the room at all,
/// though the sends went on and the typing indicator expired after the removal. (Without
/// the `gone:{room}` exclusion the expiry reaches the removed member every time.) Members
/// take turns on `apps` (one node, or several on the real services, see `cluster`), so the
/// removal and the sends happen on different nodes.
pub async fn race_sends_against_a_removal(apps: &[&TestApp]) {
    let at = |i: usize| apps[i % apps.len()];
    let owner = at(0).register("Olga").await;
    let removed = at(1).register("Max").await;
    let mut senders = Vec::new();
    for i in 0..3 {
        senders.push(at(i).register(&format!("Sender{i}")).await);
    }
    let typist = at(0).register("Tia").await;
    let members: Vec<&TestUser> = [&removed, &typist].into_iter().chain(&senders).collect();
    let room = at(0).group(&owner, "Race", &members).await;
    let mut devices = Vec::new();
    for i in 0..2 {
        devices.push(at(i + 1).socket(&removed).await);
    }
    // Tia starts typing and sends nothing: the indicator's expiry, five seconds on, goes to
    // whoever was a member when it started, Max included, unless the removal keeps it from
    // him. That part of the race is certain; the sends' part is down to timing.
    let typists_socket = at(0).socket(&typist).await;
    let owners_socket = at(0).socket(&owner).await;
    let typing = typists_socket
        .ack("typing", json!({"room_id": room, "active": true}))
        .await;
    assert_eq!(typing["ok"], true, "{typing}");
    for device in &devices {
        device
            .next_where("typing", |t| t["user_id"] == typist.id.as_str())
            .await;
    }
    let sending = futures_util::future::join_all(
        senders
            .iter()
            .enumerate()
            .map(|(i, sender)| send_many(at(i), sender, &room)),
    );
    // The removal goes in once the sends are reaching Max.
    let removing = async {
        devices[0].next("message:new").await;
        let path = format!("/api/v1/rooms/{room}/members/{}", removed.id);
        delete(at(0), &path, &owner).await
    };
    let (_, (status, body)) = tokio::join!(sending, removing);
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // The race was run: the room's stream went on past the removal.
    let mut messages = Vec::new();
    let mut before = String::new();
    loop {
        let path = format!("/api/v1/rooms/{room}/messages?limit=100{before}");
        let (_, page) = at(0).get(&path, &owner.token).await;
        let batch = page["messages"].as_array().expect("messages").clone();
        let oldest = batch.iter().filter_map(|m| m["seq"].as_u64()).min();
        messages.extend(batch);
        match oldest {
            Some(seq) if page["has_more"] == true => before = format!("&before_seq={seq}"),
            _ => break,
        }
    }
    let removal_seq = messages
        .iter()
        .find(|m| m["kind"] == "system" && m["body"] == "Olga removed Max")
        .expect("the removal in the stream")["seq"]
        .as_u64();
    let last_seq = messages.iter().filter_map(|m| m["seq"].as_u64()).max();
    assert!(
        last_seq > removal_seq,
        "sends went on after the removal ({last_seq:?} after {removal_seq:?})"
    );
    let of_the_room = |value: &Value| value["room_id"] == room || value["id"] == room;
    // The indicator's expiry reaches the owner; whatever it sent Max has arrived by the time
    // his devices are quiet.
    owners_socket
        .next_where("typing", |t| {
            t["user_id"] == typist.id.as_str() && t["active"] == false
        })
        .await;
    for device in &devices {
        let events = device.events_until_quiet(Duration::from_millis(700)).await;
        let left = events
            .iter()
            .position(|(name, _)| name == "room:left")
            .expect("room:left reaches every device");
        let after: Vec<&(String, Value)> = events[left + 1..]
            .iter()
            .filter(|(_, value)| of_the_room(value))
            .collect();
        assert!(
            after.is_empty(),
            "events of the room after room:left: {after:?}"
        );
    }
}

/// Sixty texts to `room` over REST, six at a time (one Socket.IO client would have to take
/// its acks one at a time), each stored.
async fn send_many(app: &TestApp, sender: &TestUser, room: &str) {
    const SENDS: usize = 60;
    const IN_FLIGHT: usize = 6;
    let path = format!("/api/v1/rooms/{room}/messages");
    for batch in 0..SENDS / IN_FLIGHT {
        let answers = futures_util::future::join_all((0..IN_FLIGHT).map(|n| {
            let send = json!({"client_id": new_client_id(), "kind": "text",
                "body": format!("{batch}.{n}")});
            app.post(&path, &sender.token, send)
        }))
        .await;
        for (status, body) in answers {
            assert_eq!(status, StatusCode::CREATED, "a member's send: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_racing_a_removal_never_reaches_the_removed_member_after_room_left() {
    let app = spawn_app().await;
    race_sends_against_a_removal(&[&app]).await;
}
