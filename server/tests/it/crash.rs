//! The embedded store under a crash: a node on the embedded defaults SIGKILLed while sends
//! and receipts stream in starts again with every acknowledged write, from its journal.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::cluster::{Node, embedded_env};
use crate::helpers::{assert_whole_stream, new_client_id};

fn send(room: &str, body: &str) -> Value {
    json!({"room_id": room, "client_id": new_client_id(), "kind": "text", "body": body})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_node_killed_mid_stream_keeps_every_acked_send_and_receipt() {
    let data = tempfile::tempdir().expect("data folder");
    let env = embedded_env(
        data.path(),
        &[("CONFAB_SENDS_PER_USER_PER_10S", "100000".to_owned())],
    );
    let mut node = Node::start(&env).await;
    let (alice, bob) = (
        node.app.register("alice").await,
        node.app.register("bob").await,
    );
    let room = node.app.group(&alice, "Crash", &[&bob]).await;
    let on_bob = node.app.socket(&bob).await;
    // Twenty devices of Alice's send at once, in waves, so batches of several sends share a
    // journal write.
    let devices = join_all((0..20).map(|_| node.app.socket(&alice))).await;
    let on_alice = &devices[0];
    let mut sent: Vec<(Value, Option<Value>)> = Vec::new();
    for wave in 0..10 {
        let payloads: Vec<Value> = (0..20)
            .map(|i| send(&room, &format!("acked {wave}.{i}")))
            .collect();
        let acks = join_all(
            payloads
                .iter()
                .zip(&devices)
                .map(|(payload, device)| device.ack("message:send", payload.clone())),
        )
        .await;
        for (payload, ack) in payloads.into_iter().zip(acks) {
            assert_eq!(ack["ok"], true, "{ack}");
            sent.push((payload, Some(ack["message"].clone())));
        }
    }
    let read = on_bob
        .ack(
            "receipt",
            json!({"room_id": room, "kind": "read", "seq": 150}),
        )
        .await;
    assert_eq!(read["ok"], true, "{read}");
    // More leave without waiting for their acks, and the node dies under them.
    for i in 0..5 {
        let payload = send(&room, &format!("in flight {i}"));
        on_alice
            .emit_and_forget("message:send", payload.clone())
            .await;
        sent.push((payload, None));
    }
    node.kill().await;
    drop((devices, on_bob));

    let node = Node::start(&env).await;
    let on_alice = node.app.socket(&alice).await;
    for (payload, acked) in &mut sent {
        let ack = on_alice.ack("message:send", payload.clone()).await;
        assert_eq!(ack["ok"], true, "{ack}");
        match acked {
            // A resend of an acked message answers the message stored the first time.
            Some(first) => assert_eq!(ack["message"], *first, "as acked before the crash"),
            None => *acked = Some(ack["message"].clone()),
        }
    }
    let mut messages: Vec<Value> = Vec::new();
    loop {
        let after = messages
            .last()
            .map_or(0, |m| m["seq"].as_u64().expect("seq"));
        let synced = on_alice
            .ack("sync", json!({"rooms": {room.clone(): after}}))
            .await;
        let page = &synced["rooms"][&room];
        messages.extend(
            page["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .cloned(),
        );
        if page["has_more"] != true {
            break;
        }
    }
    assert_whole_stream(&messages, 205);
    let (_, members) = node
        .app
        .get(&format!("/api/v1/rooms/{room}"), &alice.token)
        .await;
    let bobs = members["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["user"]["id"] == bob.id)
        .expect("bob is a member")
        .clone();
    assert_eq!(
        bobs["last_read_seq"], 150,
        "the read receipt survived: {bobs}"
    );
}
