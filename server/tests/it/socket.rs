//! The Socket.IO half of `shared/API.md`, with a real Socket.IO client over real connections.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use rust_socketio::{Payload, TransportType};
use serde_json::{Value, json};

use server::config::Limits;

use crate::helpers::{RawSocket, TestApp, TestSocket, new_client_id, roomy_limits, spawn_app};

fn send(room: &str, body: &str) -> Value {
    json!({"room_id": room, "client_id": new_client_id(), "kind": "text", "body": body})
}

fn ack_code(ack: &Value) -> &str {
    assert_eq!(ack["ok"], false, "{ack}");
    ack["error"]["code"].as_str().unwrap_or("<no code>")
}

#[tokio::test]
async fn a_handshake_without_a_valid_token_is_refused_with_the_error_body() {
    let app = spawn_app().await;
    let refusal = TestSocket::connect(app.socket_builder())
        .await
        .err()
        .expect("refused");
    assert_eq!(refusal["error"]["code"], "unauthorized", "{refusal}");
    let refusal = TestSocket::connect(app.socket_builder().auth(json!({"token": "forged"})))
        .await
        .err()
        .expect("refused");
    assert_eq!(refusal["error"]["code"], "unauthorized", "{refusal}");
    assert!(refusal["error"]["message"].is_string());
}

#[tokio::test]
async fn a_cookie_handshake_is_accepted_from_our_origin_only() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let cookie = format!("confab_session={}", alice.token);
    let ours = app
        .socket_builder()
        .transport_type(TransportType::Polling)
        .opening_header("Cookie", cookie.as_str())
        .opening_header("Origin", format!("http://{}", app.addr).as_str());
    let socket = TestSocket::connect(ours)
        .await
        .expect("our own page may connect");
    let room = app.group(&alice, "Cookies", &[]).await;
    let ack = socket
        .ack("message:send", send(&room, "over polling"))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");

    let theirs = app
        .socket_builder()
        .opening_header("Cookie", cookie.as_str())
        .opening_header("Origin", "https://evil.example");
    let refusal = TestSocket::connect(theirs)
        .await
        .err()
        .expect("another site may not");
    assert_eq!(refusal["error"]["code"], "forbidden", "{refusal}");
}

#[tokio::test]
async fn a_sent_message_is_acked_and_reaches_every_device_of_every_member() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("carol").await,
    );
    let room = app.group(&alice, "Everyone", &[&bob]).await;
    let alice_phone = app.socket(&alice).await;
    let alice_laptop = app.socket(&alice).await;
    let bob_phone = app.socket(&bob).await;
    let outsider = app.socket(&carol).await;

    let ack = alice_phone
        .ack("message:send", send(&room, "hello all"))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let message = &ack["message"];
    assert_eq!(message["seq"], 1);
    assert_eq!(message["body"], "hello all");
    assert_eq!(message["sender_id"], alice.id.as_str());

    assert_eq!(&bob_phone.next("message:new").await, message);
    assert_eq!(
        &alice_laptop.next("message:new").await,
        message,
        "the sender's other devices too"
    );
    assert!(
        !outsider
            .receives_within("message:new", Duration::from_millis(300))
            .await
    );

    // A REST send is delivered live as well.
    let over_rest = app.send_text(&bob, &room, "from the api").await;
    assert_eq!(
        alice_laptop
            .next_where("message:new", |m| m["seq"] == 2)
            .await,
        over_rest
    );
}

#[tokio::test]
async fn bad_events_get_an_error_ack_and_the_socket_keeps_working() {
    let app = spawn_app().await;
    let (alice, mallory) = (app.register("alice").await, app.register("mallory").await);
    let room = app.group(&alice, "Robust", &[]).await;
    let socket = app.socket(&alice).await;

    let not_an_object = socket
        .ack_payload("message:send", Payload::Text(vec![json!("just text")]))
        .await;
    assert_eq!(ack_code(&not_an_object), "bad_request");
    let missing_room = socket
        .ack(
            "message:send",
            json!({"client_id": new_client_id(), "kind": "text", "body": "x"}),
        )
        .await;
    assert_eq!(ack_code(&missing_room), "bad_request");
    let too_long = socket
        .ack("message:send", send(&room, &"x".repeat(4001)))
        .await;
    assert_eq!(ack_code(&too_long), "payload_too_large");
    let oversized = socket
        .ack(
            "message:send",
            json!({"room_id": room, "padding": "x".repeat(100_000)}),
        )
        .await;
    assert_eq!(ack_code(&oversized), "payload_too_large");
    let unknown_room = socket.ack("message:send", send("no-such-room", "x")).await;
    assert_eq!(ack_code(&unknown_room), "not_found");
    assert_eq!(
        ack_code(
            &socket
                .ack(
                    "receipt",
                    json!({"room_id": room, "kind": "seen", "seq": 1})
                )
                .await
        ),
        "bad_request"
    );
    assert_eq!(
        ack_code(&socket.ack("sync", json!({"rooms": "all"})).await),
        "bad_request"
    );

    let intruder = app.socket(&mallory).await;
    assert_eq!(
        ack_code(&intruder.ack("message:send", send(&room, "let me in")).await),
        "forbidden"
    );
    assert_eq!(
        ack_code(
            &intruder
                .ack("typing", json!({"room_id": room, "active": true}))
                .await
        ),
        "forbidden"
    );
    assert_eq!(
        ack_code(
            &intruder
                .ack(
                    "receipt",
                    json!({"room_id": room, "kind": "read", "seq": 0})
                )
                .await
        ),
        "forbidden"
    );
    assert_eq!(
        ack_code(&intruder.ack("focus", json!({"room_id": room})).await),
        "forbidden"
    );

    let fine = socket
        .ack("message:send", send(&room, "still connected"))
        .await;
    assert_eq!(fine["ok"], true, "{fine}");
    assert_eq!(
        fine["message"]["seq"], 1,
        "nothing was stored by the refused sends"
    );
}

#[tokio::test]
async fn a_retried_socket_send_returns_the_original_message() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let room = app.group(&alice, "Retry", &[]).await;
    let socket = app.socket(&alice).await;
    let payload = send(&room, "once only");
    let first = socket.ack("message:send", payload.clone()).await;
    let second = socket.ack("message:send", payload.clone()).await;
    assert_eq!(first["ok"], true);
    assert_eq!(first, second);
    // The same client id over REST is the same message too.
    let (status, over_rest) = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            &alice.token,
            json!({"client_id": payload["client_id"], "kind": "text", "body": "once only"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(over_rest, first["message"]);
}

#[tokio::test]
async fn receipts_move_markers_forward_and_tell_the_room() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let room = app.group(&alice, "Receipts", &[&bob]).await;
    let alice_socket = app.socket(&alice).await;
    let bob_socket = app.socket(&bob).await;
    for i in 0..3 {
        alice_socket
            .ack("message:send", send(&room, &format!("m{i}")))
            .await;
    }

    let ok = bob_socket
        .ack(
            "receipt",
            json!({"room_id": room, "kind": "delivered", "seq": 3}),
        )
        .await;
    assert_eq!(ok, json!({"ok": true}));
    let event = alice_socket.next("receipt").await;
    assert_eq!(
        event,
        json!({"room_id": room, "user_id": bob.id, "kind": "delivered", "seq": 3})
    );
    bob_socket
        .ack(
            "receipt",
            json!({"room_id": room, "kind": "read", "seq": 2}),
        )
        .await;
    let event = alice_socket
        .next_where("receipt", |e| e["kind"] == "read")
        .await;
    assert_eq!(event["seq"], 2);

    // Backwards is accepted but moves nothing and tells no one.
    let ok = bob_socket
        .ack(
            "receipt",
            json!({"room_id": room, "kind": "read", "seq": 1}),
        )
        .await;
    assert_eq!(ok["ok"], true);
    assert!(
        !alice_socket
            .receives_within("receipt", Duration::from_millis(300))
            .await
    );
    let beyond = bob_socket
        .ack(
            "receipt",
            json!({"room_id": room, "kind": "read", "seq": 99}),
        )
        .await;
    assert_eq!(ack_code(&beyond), "bad_request");

    let (_, seen) = app.get(&format!("/api/v1/rooms/{room}"), &bob.token).await;
    let bob_member = seen["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["user"]["id"] == bob.id.as_str())
        .cloned()
        .expect("bob");
    assert_eq!(
        (
            bob_member["last_delivered_seq"].clone(),
            bob_member["last_read_seq"].clone()
        ),
        (json!(3), json!(2))
    );
    assert_eq!(seen["unread_count"], 1);
}

#[tokio::test]
async fn typing_shows_to_others_and_stops_by_itself_after_five_seconds() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let room = app.group(&alice, "Typing", &[&bob]).await;
    let alice_socket = app.socket(&alice).await;
    let bob_socket = app.socket(&bob).await;

    assert_eq!(
        bob_socket
            .ack("typing", json!({"room_id": room, "active": true}))
            .await,
        json!({"ok": true})
    );
    let started = alice_socket.next("typing").await;
    assert_eq!(
        started,
        json!({"room_id": room, "user_id": bob.id, "active": true})
    );
    assert!(
        !bob_socket
            .receives_within("typing", Duration::from_millis(200))
            .await,
        "not echoed to the typist"
    );
    let stopped = alice_socket.next("typing").await;
    assert_eq!(stopped["active"], false, "it stops by itself");

    bob_socket
        .ack("typing", json!({"room_id": room, "active": true}))
        .await;
    alice_socket
        .next_where("typing", |t| t["active"] == true)
        .await;
    bob_socket
        .ack("message:send", send(&room, "done typing"))
        .await;
    let stopped = alice_socket.next("typing").await;
    assert_eq!(stopped["active"], false, "a message ends the indicator");
}

#[tokio::test]
async fn presence_tells_contacts_when_someone_comes_and_goes() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    app.post(
        "/api/v1/rooms/direct",
        &alice.token,
        json!({"user_id": bob.id}),
    )
    .await;
    let alice_socket = app.socket(&alice).await;
    let snapshot = alice_socket.next("presence").await;
    assert_eq!(snapshot["user_id"], bob.id.as_str());
    assert_eq!(snapshot["online"], false);

    let bob_socket = app.socket(&bob).await;
    let online = alice_socket.next("presence").await;
    assert_eq!(
        online,
        json!({"user_id": bob.id, "online": true, "last_seen_at": null})
    );
    let bob_second = app.socket(&bob).await;
    bob_socket.disconnect().await;
    assert!(
        !alice_socket
            .receives_within("presence", Duration::from_millis(300))
            .await,
        "still online on another device"
    );
    bob_second.disconnect().await;
    let offline = alice_socket.next("presence").await;
    assert_eq!(offline["online"], false);
    assert!(offline["last_seen_at"].is_string());
}

#[tokio::test]
async fn sync_returns_what_a_device_missed_in_its_rooms_only() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let shared = app.group(&alice, "Shared", &[&bob]).await;
    let private = app.group(&alice, "Private", &[]).await;
    for i in 1..=4 {
        app.send_text(&alice, &shared, &format!("m{i}")).await;
    }
    app.send_text(&alice, &private, "not for bob").await;
    let bob_socket = app.socket(&bob).await;
    let answer = bob_socket
        .ack(
            "sync",
            json!({"rooms": {shared.clone(): 2, private.clone(): 0}}),
        )
        .await;
    assert_eq!(answer["ok"], true, "{answer}");
    let page = &answer["rooms"][&shared];
    let seqs: Vec<u64> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, [3, 4]);
    assert_eq!(page["has_more"], false);
    assert!(
        answer["rooms"].get(&private).is_none(),
        "rooms bob is not in are left out"
    );
}

#[tokio::test]
async fn notifications_reach_devices_not_looking_at_the_room() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let room = app.group(&alice, "Notify", &[&bob]).await;
    let bob_reading = app.socket(&bob).await;
    let bob_elsewhere = app.socket(&bob).await;
    assert_eq!(
        bob_reading.ack("focus", json!({"room_id": room})).await,
        json!({"ok": true})
    );

    app.send_text(&alice, &room, "ping").await;
    let note = bob_elsewhere.next("notification").await;
    assert_eq!(note["kind"], "message");
    assert_eq!(note["room_id"], room.as_str());
    assert_eq!(note["message"]["body"], "ping");
    assert!(note["text"].as_str().is_some_and(|t| t.contains("ping")));
    assert!(
        !bob_reading
            .receives_within("notification", Duration::from_millis(300))
            .await
    );

    app.send_text(&alice, &room, &format!("hey @{} look", bob.username))
        .await;
    let mention = bob_elsewhere.next("notification").await;
    assert_eq!(mention["kind"], "mention");

    // Focus moves away: notifications come back.
    bob_reading.ack("focus", json!({"room_id": null})).await;
    app.send_text(&alice, &room, "again").await;
    assert_eq!(
        bob_reading.next("notification").await["message"]["body"],
        "again"
    );
}

#[tokio::test]
async fn joining_by_invite_or_being_added_updates_the_room_live() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("carol").await,
    );
    let room = app.group(&alice, "Growing", &[]).await;
    let alice_socket = app.socket(&alice).await;
    let bob_socket = app.socket(&bob).await;
    let carol_socket = app.socket(&carol).await;

    app.post(
        &format!("/api/v1/rooms/{room}/members"),
        &alice.token,
        json!({"user_id": bob.id}),
    )
    .await;
    let update = bob_socket.next("room:update").await;
    assert_eq!(update["id"], room.as_str());
    assert_eq!(update["members"].as_array().expect("members").len(), 2);
    assert_eq!(
        bob_socket.next("notification").await["kind"],
        "added_to_room"
    );
    alice_socket
        .next_where("room:update", |r| {
            r["members"].as_array().is_some_and(|m| m.len() == 2)
        })
        .await;

    let (_, invite) = app
        .post(
            &format!("/api/v1/rooms/{room}/invites"),
            &alice.token,
            json!({}),
        )
        .await;
    let code = invite["code"].as_str().expect("code");
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/invites/{code}/accept"),
            Some(&carol.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(carol_socket.next("room:update").await["id"], room.as_str());
    assert_eq!(
        alice_socket.next("notification").await["kind"],
        "invite_accepted"
    );

    // The new member gets messages live from now on: first the room's own account of
    // the join (API.md v1.1), then what people send.
    let joined = carol_socket.next("message:new").await;
    assert_eq!(joined["kind"], "system", "{joined}");
    app.send_text(&alice, &room, "welcome").await;
    assert_eq!(carol_socket.next("message:new").await["body"], "welcome");
}

#[tokio::test]
async fn concurrent_socket_senders_get_gap_free_sequence_numbers() {
    let app = spawn_app().await;
    let owner = app.register("owner").await;
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(app.register(&format!("s{i}")).await);
    }
    let refs: Vec<_> = users.iter().collect();
    let room = app.group(&owner, "Socket rush", &refs).await;
    let mut sockets = Vec::new();
    for user in &users {
        sockets.push(app.socket(user).await);
    }
    const PER_SOCKET: usize = 10;
    let bursts = sockets.iter().map(|socket| {
        let room = room.clone();
        async move {
            let mut seqs = Vec::new();
            for i in 0..PER_SOCKET {
                let ack = socket
                    .ack("message:send", send(&room, &format!("#{i}")))
                    .await;
                seqs.push(ack["message"]["seq"].as_u64().expect("seq"));
            }
            seqs
        }
    });
    let seqs: Vec<u64> = futures_util::future::join_all(bursts)
        .await
        .into_iter()
        .flatten()
        .collect();
    let unique: HashSet<u64> = seqs.iter().copied().collect();
    let total = (users.len() * PER_SOCKET) as u64;
    assert_eq!(seqs.len() as u64, total);
    assert_eq!(unique, (1..=total).collect::<HashSet<_>>());
}

#[tokio::test]
async fn a_rooms_messages_reach_every_socket_in_seq_order_under_concurrent_senders() {
    let app = spawn_app().await;
    let owner = app.register("owner").await;
    let mut users = Vec::new();
    for i in 0..16 {
        users.push(app.register(&format!("o{i}")).await);
    }
    let refs: Vec<_> = users.iter().collect();
    let room = app.group(&owner, "Ordered rush", &refs).await;
    let listener = app.socket(&owner).await;
    let mut sockets = Vec::new();
    for user in &users {
        sockets.push(app.socket(user).await);
    }
    const PER_SOCKET: usize = 12;
    // Sixteen senders at once: their sends share the store's batches, and the tasks that
    // follow a batch run in any order. (One send in flight per socket: the test client
    // mishandles many outstanding acks on one socket.)
    let bursts = sockets.iter().map(|socket| {
        let room = room.clone();
        async move {
            for i in 0..PER_SOCKET {
                let ack = socket
                    .ack("message:send", send(&room, &format!("#{i}")))
                    .await;
                assert_eq!(ack["ok"], true, "{ack}");
            }
        }
    });
    futures_util::future::join_all(bursts).await;
    let total = (users.len() * PER_SOCKET) as u64;
    let mut arrived = Vec::new();
    for _ in 0..total {
        let message = listener.next("message:new").await;
        arrived.push(message["seq"].as_u64().expect("seq"));
    }
    assert_eq!(
        arrived,
        (1..=total).collect::<Vec<_>>(),
        "arrivals in seq order"
    );
}

#[tokio::test]
async fn sync_typing_and_room_creation_are_rate_limited_per_user() {
    let limits = Limits {
        syncs_per_user: 2,
        typing_per_user: 2,
        rooms_per_user: 2,
        ..roomy_limits()
    };
    let app = TestApp::builder().limits(limits).spawn().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let room = app.group(&alice, "One", &[&bob]).await;
    let (status, _) = app
        .post("/api/v1/rooms", &alice.token, json!({"name": "Two"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = app
        .post("/api/v1/rooms", &alice.token, json!({"name": "Three"}))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let socket = app.socket(&alice).await;
    let sync = || socket.ack("sync", json!({"rooms": {room.clone(): 0}}));
    let typing = || socket.ack("typing", json!({"room_id": room, "active": true}));
    for _ in 0..2 {
        assert_eq!(sync().await["ok"], true);
        assert_eq!(typing().await["ok"], true);
    }
    assert_eq!(ack_code(&sync().await), "rate_limited");
    assert_eq!(ack_code(&typing().await), "rate_limited");
    // Another user's allowance is their own.
    let bobs = app.socket(&bob).await;
    let synced = bobs.ack("sync", json!({"rooms": {room.clone(): 0}})).await;
    assert_eq!(synced["ok"], true, "{synced}");
}

#[tokio::test]
async fn a_graceful_shutdown_closes_every_socket_and_the_server_finishes() {
    let mut app = spawn_app().await;
    let alice = app.register("alice").await;
    let mut socket = RawSocket::connect(&app, json!({"token": alice.token})).await;
    let connected = socket.next_text().await.expect("connect answer");
    assert!(connected.starts_with("40{\"sid\""), "{connected}");
    app.stop().await;
    while let Some(frame) = socket.next_text().await {
        assert!(
            !frame.starts_with("42"),
            "no events after shutdown: {frame}"
        );
    }
    assert!(
        app.http.get(app.url("/healthz")).send().await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn the_refused_handshake_packet_carries_the_error_body_as_json_text() {
    let app = spawn_app().await;
    let mut socket = RawSocket::connect(&app, json!({"token": "forged"})).await;
    let frame = socket.next_text().await.expect("connect_error");
    let packet: Value =
        serde_json::from_str(frame.strip_prefix("44").expect("a CONNECT_ERROR packet"))
            .expect("json");
    let body: Value =
        serde_json::from_str(packet["message"].as_str().expect("message")).expect("json text");
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn a_member_who_leaves_gets_no_more_messages_and_one_who_joins_does() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("carol").await,
    );
    let room = app.group(&alice, "Comings and goings", &[&bob]).await;
    let bob_socket = app.socket(&bob).await;
    let carol_socket = app.socket(&carol).await;
    app.send_text(&alice, &room, "while bob is here").await;
    bob_socket.next("message:new").await;

    let leave = format!("/api/v1/rooms/{room}/members/me");
    let (status, _) = app
        .call(reqwest::Method::DELETE, &leave, Some(&bob.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.post(
        &format!("/api/v1/rooms/{room}/members"),
        &alice.token,
        json!({"user_id": carol.id}),
    )
    .await;
    app.send_text(&alice, &room, "after the change").await;
    assert_eq!(
        carol_socket.next("message:new").await["body"],
        "alice added carol",
        "the room's own account of the change comes first (API.md v1.1)"
    );
    assert_eq!(
        carol_socket.next("message:new").await["body"],
        "after the change"
    );
    assert!(
        !bob_socket
            .receives_within("message:new", Duration::from_millis(300))
            .await
    );
}
