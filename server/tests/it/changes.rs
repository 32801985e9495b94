//! API.md v1.1 "One stream per room": edits, deletions and reactions as messages of the
//! room's stream, replies with their quote, mentions, and search; over REST and Socket.IO.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error, new_client_id, spawn_app};

/// Sends `kind` relating to `target` (a change) as `user`.
async fn change(
    app: &TestApp,
    user: &TestUser,
    room: &str,
    kind: &str,
    target: &Value,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut request =
        json!({"client_id": new_client_id(), "kind": kind, "relates_to": target["id"]});
    if let Some(body) = body {
        request["body"] = json!(body);
    }
    app.post(
        &format!("/api/v1/rooms/{room}/messages"),
        &user.token,
        request,
    )
    .await
}

/// The room's newest page.
async fn history(app: &TestApp, user: &TestUser, room: &str) -> Vec<Value> {
    let (status, page) = app
        .get(&format!("/api/v1/rooms/{room}/messages"), &user.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["messages"].as_array().expect("messages").clone()
}

fn by_id<'a>(messages: &'a [Value], id: &Value) -> &'a Value {
    messages
        .iter()
        .find(|m| m["id"] == *id)
        .unwrap_or_else(|| panic!("{id} is in the page"))
}

async fn search(app: &TestApp, user: &TestUser, query: &str) -> (StatusCode, Value) {
    app.call(
        Method::GET,
        &format!("/api/v1/search?{query}"),
        Some(&user.token),
        None,
    )
    .await
}

fn bodies(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn an_edit_replaces_the_senders_text_and_stays_in_the_stream() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let room = app.group(&alice, "Edits", &[&bob]).await;
    let original = app.send_text(&alice, &room, "helo world").await;
    for field in ["relates_to", "edited_at", "deleted_at"] {
        assert!(original[field].is_null(), "{field} is present and null");
    }
    assert_eq!(original["reactions"], json!([]));
    assert_eq!(original["mentions"], json!([]));

    let (status, edit) = change(&app, &alice, &room, "edit", &original, Some("hello world")).await;
    assert_eq!(status, StatusCode::CREATED, "{edit}");
    assert_eq!(edit["kind"], "edit");
    assert_eq!(edit["relates_to"], original["id"]);
    assert_eq!(edit["seq"], original["seq"].as_u64().expect("seq") + 1);

    let page = history(&app, &bob, &room).await;
    let target = by_id(&page, &original["id"]);
    assert_eq!(target["body"], "hello world");
    assert_eq!(target["edited_at"], edit["created_at"]);
    assert_eq!(
        by_id(&page, &edit["id"])["body"],
        "hello world",
        "the change stays in its place"
    );

    // Only the sender edits, only text, never a change.
    assert_error(
        &change(&app, &bob, &room, "edit", &original, Some("mine now")).await,
        403,
        "forbidden",
    );
    assert_error(
        &change(&app, &alice, &room, "edit", &edit, Some("x")).await,
        400,
        "bad_request",
    );
    assert_error(
        &change(&app, &alice, &room, "edit", &original, Some("   ")).await,
        400,
        "bad_request",
    );
    assert_error(
        &change(&app, &alice, &room, "edit", &original, None).await,
        400,
        "bad_request",
    );
    let elsewhere_room = app.group(&alice, "Elsewhere", &[]).await;
    assert_error(
        &change(&app, &alice, &elsewhere_room, "edit", &original, Some("x")).await,
        400,
        "bad_request",
    );
    let no_target = json!({"client_id": new_client_id(), "kind": "edit", "body": "x"});
    assert_error(
        &app.post(
            &format!("/api/v1/rooms/{room}/messages"),
            &alice.token,
            no_target,
        )
        .await,
        400,
        "bad_request",
    );
    let stray = json!({"client_id": new_client_id(), "kind": "text", "body": "x", "relates_to": original["id"]});
    assert_error(
        &app.post(
            &format!("/api/v1/rooms/{room}/messages"),
            &alice.token,
            stray,
        )
        .await,
        400,
        "bad_request",
    );

    // A retried edit (same client_id) applies once and answers with the first.
    let retry = json!({"client_id": new_client_id(), "kind": "edit", "body": "third", "relates_to": original["id"]});
    let path = format!("/api/v1/rooms/{room}/messages");
    let (first_status, first) = app.post(&path, &alice.token, retry.clone()).await;
    let (again_status, again) = app.post(&path, &alice.token, retry).await;
    assert_eq!(
        (first_status, again_status),
        (StatusCode::CREATED, StatusCode::OK)
    );
    assert_eq!(first, again);
    let page = history(&app, &alice, &room).await;
    assert_eq!(
        page.iter().filter(|m| m["kind"] == "edit").count(),
        2,
        "two edits stored"
    );
    assert_eq!(
        by_id(&page, &original["id"])["edited_at"],
        first["created_at"]
    );
}

#[tokio::test]
async fn a_delete_withdraws_the_message_its_edits_and_reactions_everywhere() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("carol").await,
    );
    let room = app.group(&alice, "Deletes", &[&bob, &carol]).await;
    let bobs = app.send_text(&bob, &room, "secret plans").await;
    let (_, edit) = change(&app, &bob, &room, "edit", &bobs, Some("secret plans v2")).await;
    let (status, _) = change(&app, &carol, &room, "reaction", &bobs, Some("👍")).await;
    assert_eq!(status, StatusCode::CREATED);

    // A plain member may not delete someone else's message.
    assert_error(
        &change(&app, &carol, &room, "delete", &bobs, None).await,
        403,
        "forbidden",
    );
    assert_error(
        &change(&app, &bob, &room, "delete", &bobs, Some("why")).await,
        400,
        "bad_request",
    );
    let (status, delete) = change(&app, &bob, &room, "delete", &bobs, None).await;
    assert_eq!(status, StatusCode::CREATED, "{delete}");
    assert!(delete["body"].is_null());

    let page = history(&app, &carol, &room).await;
    let gone = by_id(&page, &bobs["id"]);
    assert!(gone["body"].is_null() && gone["media"].is_null(), "{gone}");
    assert_eq!(gone["reactions"], json!([]));
    assert_eq!(gone["deleted_at"], delete["created_at"]);
    assert!(
        by_id(&page, &edit["id"])["body"].is_null(),
        "the edit's text goes with the message"
    );

    // Nothing more happens to a deleted message.
    for (kind, body) in [
        ("edit", Some("back")),
        ("reaction", Some("🎉")),
        ("delete", None),
    ] {
        assert_error(
            &change(&app, &bob, &room, kind, &bobs, body).await,
            400,
            "bad_request",
        );
    }
    // The owner may delete anyone's message.
    let carols = app.send_text(&carol, &room, "off topic").await;
    let (status, _) = change(&app, &alice, &room, "delete", &carols, None).await;
    assert_eq!(status, StatusCode::CREATED);
    // And nobody finds what was deleted.
    let (_, found) = search(&app, &alice, "q=secret").await;
    assert_eq!(bodies(&found), Vec::<String>::new());
}

#[tokio::test]
async fn reactions_are_one_emoji_once_per_person_and_can_be_taken_back() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let room = app.group(&alice, "Reactions", &[&bob]).await;
    let message = app.send_text(&alice, &room, "lunch?").await;

    let (status, bob_yes) = change(&app, &bob, &room, "reaction", &message, Some("👍")).await;
    assert_eq!(status, StatusCode::CREATED, "{bob_yes}");
    let (status, _) = change(&app, &alice, &room, "reaction", &message, Some("🎉")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = change(&app, &alice, &room, "reaction", &message, Some("👍")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_error(
        &change(&app, &bob, &room, "reaction", &message, Some("👍")).await,
        409,
        "conflict",
    );
    for not_one in ["ok", "👍👍", "", "a"] {
        assert_error(
            &change(&app, &bob, &room, "reaction", &message, Some(not_one)).await,
            400,
            "bad_request",
        );
    }
    assert_error(
        &change(&app, &alice, &room, "reaction", &bob_yes, Some("😂")).await,
        400,
        "bad_request",
    );

    let page = history(&app, &bob, &room).await;
    assert_eq!(
        by_id(&page, &message["id"])["reactions"],
        json!([
            {"emoji": "👍", "user_ids": [bob.id, alice.id]},
            {"emoji": "🎉", "user_ids": [alice.id]},
        ]),
        "in order of first use"
    );

    // Only the one who reacted takes a reaction back.
    assert_error(
        &change(&app, &alice, &room, "delete", &bob_yes, None).await,
        403,
        "forbidden",
    );
    let (status, _) = change(&app, &bob, &room, "delete", &bob_yes, None).await;
    assert_eq!(status, StatusCode::CREATED);
    let page = history(&app, &bob, &room).await;
    assert_eq!(
        by_id(&page, &message["id"])["reactions"],
        json!([
            {"emoji": "👍", "user_ids": [alice.id]},
            {"emoji": "🎉", "user_ids": [alice.id]},
        ])
    );
    // Taken back, it may be given again.
    let (status, _) = change(&app, &bob, &room, "reaction", &message, Some("👍")).await;
    assert_eq!(status, StatusCode::CREATED);

    // Changes are not unread messages.
    let (_, rooms) = app.get("/api/v1/rooms", &alice.token).await;
    let mine = rooms
        .as_array()
        .expect("rooms")
        .iter()
        .find(|r| r["id"] == room)
        .expect("the room");
    assert_eq!(mine["unread_count"], 0, "{mine}");
}

#[tokio::test]
async fn replies_quote_the_original_and_mentions_name_members() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let room = app.group(&alice, "Replies", &[&bob]).await;
    let long = "x".repeat(300);
    let original = app.send_text(&alice, &room, &long).await;
    let body = format!("@{} look, and @nobody_here_at_all", bob.username);
    let (status, reply) = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            &bob.token,
            json!({"client_id": new_client_id(), "kind": "text", "body": body, "reply_to": original["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let quote = &reply["reply_preview"];
    assert_eq!(quote["id"], original["id"]);
    assert_eq!(quote["sender_id"], alice.id.as_str());
    assert_eq!(quote["kind"], "text");
    assert_eq!(
        quote["body"].as_str().expect("body").chars().count(),
        201,
        "200 characters and an ellipsis"
    );
    assert_eq!(reply["mentions"], json!([bob.id]));

    let page = history(&app, &alice, &room).await;
    assert_eq!(by_id(&page, &reply["id"])["reply_preview"], *quote);
    // Once the original is deleted, the quote goes.
    change(&app, &alice, &room, "delete", &original, None).await;
    let page = history(&app, &alice, &room).await;
    assert!(by_id(&page, &reply["id"])["reply_preview"].is_null());
    // A change is not something to reply to.
    let (_, reaction) = change(&app, &alice, &room, "reaction", &reply, Some("👀")).await;
    let to_change = json!({"client_id": new_client_id(), "kind": "text", "body": "?", "reply_to": reaction["id"]});
    assert_error(
        &app.post(
            &format!("/api/v1/rooms/{room}/messages"),
            &bob.token,
            to_change,
        )
        .await,
        400,
        "bad_request",
    );
}

#[tokio::test]
async fn search_finds_live_text_of_my_rooms_newest_first_in_pages() {
    let app = spawn_app().await;
    let (alice, bob, eve) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("eve").await,
    );
    let room = app.group(&alice, "Search", &[&bob]).await;
    let other = app.group(&alice, "Other", &[]).await;
    let secret = app.group(&eve, "Eve's", &[]).await;
    app.send_text(&alice, &room, "Pizza tonight?").await;
    app.send_text(&bob, &room, "pizza again, really").await;
    let typo = app.send_text(&bob, &room, "I prefer pasta").await;
    app.send_text(&alice, &other, "pizza in the other room")
        .await;
    app.send_text(&eve, &secret, "pizza for eve only").await;

    let (status, found) = search(&app, &alice, "q=PIZZA").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(
        bodies(&found),
        vec![
            "pizza in the other room",
            "pizza again, really",
            "Pizza tonight?"
        ],
        "newest first, in every room of mine, none of anyone else's"
    );
    let (_, found) = search(&app, &bob, "q=pizza").await;
    assert_eq!(bodies(&found).len(), 2, "bob is not in alice's other room");
    // The last word is a prefix; every word must be there.
    let (_, found) = search(&app, &alice, "q=pizza%20ton").await;
    assert_eq!(bodies(&found), vec!["Pizza tonight?"]);
    let (_, found) = search(&app, &alice, "q=pizza%20pasta").await;
    assert_eq!(bodies(&found), Vec::<String>::new());

    // Pages: newest first, then on from the last hit.
    let (_, first) = search(&app, &alice, "q=pizza&limit=2").await;
    assert_eq!(first["has_more"], true);
    let last = first["messages"][1]["id"].as_str().expect("id").to_owned();
    let (_, rest) = search(&app, &alice, &format!("q=pizza&limit=2&before_id={last}")).await;
    assert_eq!(bodies(&rest), vec!["Pizza tonight?"]);
    assert_eq!(rest["has_more"], false);
    // In one room, by seq.
    let (_, in_room) = search(
        &app,
        &alice,
        &format!("q=pizza&room_id={room}&before_seq=2"),
    )
    .await;
    assert_eq!(bodies(&in_room), vec!["Pizza tonight?"]);
    assert_error(
        &search(&app, &eve, &format!("q=pizza&room_id={room}")).await,
        403,
        "forbidden",
    );
    assert_error(&search(&app, &alice, "q=%3F%21").await, 400, "bad_request");
    assert_error(&search(&app, &alice, "q=").await, 400, "bad_request");
    assert_error(
        &search(&app, &alice, "q=x&before_seq=3").await,
        400,
        "bad_request",
    );

    // An edit replaces what is found; a room left is no longer searched.
    change(&app, &bob, &room, "edit", &typo, Some("I prefer risotto")).await;
    let (_, found) = search(&app, &alice, "q=pasta").await;
    assert_eq!(bodies(&found), Vec::<String>::new());
    let (_, found) = search(&app, &alice, "q=risotto").await;
    assert_eq!(bodies(&found), vec!["I prefer risotto"]);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/rooms/{room}/members/me"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, found) = search(&app, &bob, "q=pizza").await;
    assert_eq!(bodies(&found), Vec::<String>::new());
}

#[tokio::test]
async fn changes_travel_live_and_through_sync_in_stream_order() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let room = app.group(&alice, "Live", &[&bob]).await;
    let bob_socket = app.socket(&bob).await;
    let alice_socket = app.socket(&alice).await;
    let sent = alice_socket
        .ack(
            "message:send",
            json!({"room_id": room, "client_id": new_client_id(), "kind": "text", "body": "first draft"}),
        )
        .await;
    let message = sent["message"].clone();
    bob_socket
        .next_where("message:new", |m| m["id"] == message["id"])
        .await;
    let react = |emoji: &str| json!({"room_id": room, "client_id": new_client_id(), "kind": "reaction", "body": emoji, "relates_to": message["id"]});
    let ack = bob_socket.ack("message:send", react("🔥")).await;
    assert_eq!(ack["ok"], true, "{ack}");
    let ack = bob_socket.ack("message:send", react("🔥")).await;
    assert_eq!(ack["ok"], false);
    assert_eq!(ack["error"]["code"], "conflict", "{ack}");
    let live = alice_socket
        .next_where("message:new", |m| m["kind"] == "reaction")
        .await;
    assert_eq!(live["relates_to"], message["id"]);
    assert_eq!(live["body"], "🔥");

    // Bob is away while Alice reacts and takes it back, edits and deletes; sync brings
    // the changes in order.
    bob_socket.disconnect().await;
    let clap = alice_socket.ack("message:send", react("👏")).await;
    assert_eq!(clap["ok"], true, "{clap}");
    let unclap = alice_socket
        .ack(
            "message:send",
            json!({"room_id": room, "client_id": new_client_id(), "kind": "delete", "relates_to": clap["message"]["id"]}),
        )
        .await;
    assert_eq!(unclap["ok"], true, "{unclap}");
    let edit = alice_socket
        .ack(
            "message:send",
            json!({"room_id": room, "client_id": new_client_id(), "kind": "edit", "body": "final", "relates_to": message["id"]}),
        )
        .await;
    assert_eq!(edit["ok"], true, "{edit}");
    let delete = alice_socket
        .ack(
            "message:send",
            json!({"room_id": room, "client_id": new_client_id(), "kind": "delete", "relates_to": message["id"]}),
        )
        .await;
    assert_eq!(delete["ok"], true, "{delete}");
    let bob_socket = app.socket(&bob).await;
    let synced = bob_socket
        .ack("sync", json!({"rooms": {room.clone(): live["seq"]}}))
        .await;
    let messages = synced["rooms"][&room]["messages"]
        .as_array()
        .expect("messages")
        .clone();
    let kinds: Vec<&str> = messages
        .iter()
        .map(|m| m["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, vec!["reaction", "delete", "edit", "delete"]);
    assert_eq!(messages[0]["id"], clap["message"]["id"]);
    assert!(
        messages[0]["deleted_at"].is_string(),
        "the reaction shows as taken back: {}",
        messages[0]
    );
    assert_eq!(messages[1]["relates_to"], clap["message"]["id"]);
    assert_eq!(messages[3]["relates_to"], message["id"]);
    assert!(
        messages[2]["body"].is_null(),
        "the edit's text went with the deleted message"
    );
}

#[tokio::test]
async fn a_mention_notifies_the_member_named() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("carol").await,
    );
    let room = app.group(&alice, "Mentions", &[&bob, &carol]).await;
    let bob_socket = app.socket(&bob).await;
    let carol_socket = app.socket(&carol).await;
    app.send_text(&alice, &room, &format!("ping @{}", bob.username))
        .await;
    let to_bob = bob_socket.next("notification").await;
    assert_eq!(to_bob["kind"], "mention", "{to_bob}");
    let to_carol = carol_socket.next("notification").await;
    assert_eq!(to_carol["kind"], "message", "{to_carol}");
    // A reaction tells nobody.
    let message = to_bob["message"].clone();
    change(&app, &carol, &room, "reaction", &message, Some("👍")).await;
    assert!(
        !bob_socket
            .receives_within("notification", std::time::Duration::from_millis(500))
            .await
    );
}

/// A change `user` may not make: refused over REST with `status` and `code`, and over
/// Socket.IO (a fresh `client_id` each time) with the same code, storing nothing.
async fn refused_both_ways(
    app: &TestApp,
    user: &TestUser,
    room: &str,
    (kind, target, body): (&str, &Value, Option<&str>),
    (status, code): (u16, &str),
) {
    let what = format!("{kind} of {} by {}", target["kind"], user.username);
    let rest = change(app, user, room, kind, target, body).await;
    assert_eq!(rest.0.as_u16(), status, "{what} over REST: {}", rest.1);
    assert_eq!(
        rest.1["error"]["code"], code,
        "{what} over REST: {}",
        rest.1
    );
    let socket = app.socket(user).await;
    let mut send = json!({"room_id": room, "client_id": new_client_id(), "kind": kind,
        "relates_to": target["id"]});
    if let Some(body) = body {
        send["body"] = json!(body);
    }
    let ack = socket.ack("message:send", send).await;
    assert_eq!(ack["ok"], false, "{what} over Socket.IO: {ack}");
    assert_eq!(ack["error"]["code"], code, "{what} over Socket.IO: {ack}");
    socket.disconnect().await;
}

#[tokio::test]
async fn every_refused_change_is_refused_alike_over_rest_and_socket_io() {
    let app = spawn_app().await;
    let (olga, ada, max) = (
        app.register("olga").await,
        app.register("ada").await,
        app.register("max").await,
    );
    let room = app.group(&olga, "Rules", &[&ada, &max]).await;
    app.set_role(&room, &olga, &ada, "admin").await;
    let system = history(&app, &olga, &room)
        .await
        .into_iter()
        .find(|m| m["kind"] == "system")
        .expect("a system message");
    let olgas = app.send_text(&olga, &room, "from the owner").await;
    let maxs = app.send_text(&max, &room, "from a member").await;
    let (_, edit) = change(&app, &max, &room, "edit", &maxs, Some("from a member!")).await;
    let (_, reaction) = change(&app, &olga, &room, "reaction", &maxs, Some("👍")).await;
    let withdrawn = app.send_text(&max, &room, "soon gone").await;
    let (status, _) = change(&app, &max, &room, "delete", &withdrawn, None).await;
    assert_eq!(status, StatusCode::CREATED);

    let forbidden = (403, "forbidden");
    let bad = (400, "bad_request");
    // Who may: the sender edits; the sender, an owner or an admin deletes.
    refused_both_ways(&app, &ada, &room, ("edit", &olgas, Some("x")), forbidden).await;
    refused_both_ways(&app, &max, &room, ("delete", &olgas, None), forbidden).await;
    refused_both_ways(&app, &max, &room, ("delete", &reaction, None), forbidden).await;
    // What may be changed: not a system message, not a change, not a deleted message.
    refused_both_ways(&app, &olga, &room, ("edit", &system, Some("x")), bad).await;
    refused_both_ways(&app, &olga, &room, ("reaction", &system, Some("👍")), bad).await;
    refused_both_ways(&app, &max, &room, ("edit", &edit, Some("x")), bad).await;
    refused_both_ways(&app, &max, &room, ("delete", &edit, None), bad).await;
    refused_both_ways(&app, &max, &room, ("reaction", &reaction, Some("👍")), bad).await;
    refused_both_ways(&app, &max, &room, ("edit", &withdrawn, Some("x")), bad).await;
    refused_both_ways(
        &app,
        &olga,
        &room,
        ("reaction", &withdrawn, Some("👍")),
        bad,
    )
    .await;
    // What a change carries: one emoji; an edit's text under the text rules.
    refused_both_ways(&app, &ada, &room, ("reaction", &maxs, Some("👍👍")), bad).await;
    refused_both_ways(&app, &ada, &room, ("reaction", &maxs, None), bad).await;
    let long = "x".repeat(5000);
    let too_long = (413, "payload_too_large");
    refused_both_ways(&app, &max, &room, ("edit", &maxs, Some(&long)), too_long).await;
    refused_both_ways(
        &app,
        &olga,
        &room,
        ("reaction", &maxs, Some("👍")),
        (409, "conflict"),
    )
    .await;

    // None of it was stored; an admin may delete a member's message.
    let before = history(&app, &olga, &room).await.len();
    let (status, deleted) = change(&app, &ada, &room, "delete", &maxs, None).await;
    assert_eq!(status, StatusCode::CREATED, "{deleted}");
    let page = history(&app, &olga, &room).await;
    assert_eq!(page.len(), before + 1, "only the admin's delete was stored");
    let target = by_id(&page, &maxs["id"]);
    assert!(
        target["deleted_at"].is_string() && target["body"].is_null(),
        "{target}"
    );
    assert_eq!(target["reactions"], json!([]));
}
