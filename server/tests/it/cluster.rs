//! Several server processes sharing the real services (`make test` starts them): clients on
//! different nodes share conversations, and a node killed mid-stream loses no acked message.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::contract::services;
use crate::helpers::{TestApp, assert_whole_stream, new_client_id};

/// The environment nodes share: the services of this run, and one data folder (used only
/// by what has no shared service).
pub struct Cluster {
    env: Vec<(String, String)>,
    _data: tempfile::TempDir,
}

impl Cluster {
    /// `None` (the test is skipped) when this run has no real services.
    pub fn new() -> Option<Cluster> {
        let mut env = Vec::new();
        for var in ["REDIS_URL", "KAFKA_BROKERS", "MONGODB_URL"] {
            env.push((var.to_owned(), services::url(var)?));
        }
        // A database and a Kafka namespace of the cluster's own: clusters of tests running
        // at once share the services, and must not consume each other's events.
        let name = format!("confab_cluster_{}", uuid::Uuid::new_v4().simple());
        env.push(("MONGODB_DATABASE".into(), name.clone()));
        env.push(("KAFKA_NAMESPACE".into(), name));
        // Every cluster's nodes count sign-ups from 127.0.0.1 in the one shared Redis: the
        // per-address limit would make tests fail by how many of them ran in a minute.
        env.push(("CONFAB_AUTH_PER_IP_PER_MIN".into(), "100000".into()));
        let data = tempfile::tempdir().expect("data folder");
        env.push(("CONFAB_DATA_DIR".into(), data.path().display().to_string()));
        Some(Cluster { env, _data: data })
    }

    /// A cluster whose Redis and broker are the test's own (so it may stop and restart
    /// them); `None` (skipped) without real services.
    async fn on_private_services() -> Option<(Cluster, PrivateServices)> {
        let cluster = Cluster::new()?;
        let private = PrivateServices::start().await?;
        let cluster = cluster
            .with("REDIS_URL", &private.redis_url())
            .with("KAFKA_BROKERS", &private.kafka_brokers());
        Some((cluster, private))
    }

    pub fn with(mut self, var: &str, value: &str) -> Self {
        self.env.retain(|(name, _)| name != var);
        self.env.push((var.to_owned(), value.to_owned()));
        self
    }

    pub async fn node(&self) -> Node {
        Node::start(&self.env).await
    }
}

/// A server process.
pub struct Node {
    pub(crate) child: Child,
    pub app: TestApp,
    /// The node's last log lines, for saying why it is gone.
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl Node {
    pub(crate) async fn start(env: &[(String, String)]) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
            .env("CONFAB_ADDR", "127.0.0.1:0")
            .env("CONFAB_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start a server process");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read the log") {
                let entry: Value = serde_json::from_str(&line).unwrap_or_default();
                if entry["message"] == "confab is serving" {
                    return entry["addr"]
                        .as_str()
                        .expect("addr")
                        .parse::<SocketAddr>()
                        .expect("an address");
                }
            }
            panic!("the node exited before serving");
        })
        .await
        .expect("the node serves within a minute");
        // Keep reading, so the node never blocks on a full pipe.
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let keep = Arc::clone(&tail);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut tail = keep.lock().expect("tail");
                if tail.len() == 30 {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        Node {
            child,
            app: TestApp::external(addr),
            tail,
        }
    }

    /// Fails the test, with the node's last words, if the process has exited.
    pub fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let tail = self.tail.lock().expect("tail");
            panic!(
                "the node exited ({status}); its last log lines:\n{}",
                tail.iter().cloned().collect::<Vec<_>>().join("\n")
            );
        }
    }

    /// SIGKILL: no goodbye, no drain.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill the node");
    }
}

/// A node a test is done with stops as an operator stops one, with SIGTERM: it drains and
/// ends its store transactions, where a SIGKILL could leave one open on the services every
/// test shares (see `reap_abandoned_transactions`).
impl Drop for Node {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // CONT too, for a node a failed test left stopped.
            for signal in ["-TERM", "-CONT"] {
                let _ = std::process::Command::new("kill")
                    .args([signal, &pid.to_string()])
                    .status();
            }
        }
    }
}

fn send(room: &str, body: &str) -> Value {
    json!({"room_id": room, "client_id": new_client_id(), "kind": "text", "body": body})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_two_nodes_share_messages_receipts_typing_and_presence() {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let (a, b) = (cluster.node().await, cluster.node().await);
    let (alice, bob) = (a.app.register("alice").await, b.app.register("bob").await);
    let room = a.app.group(&alice, "Across nodes", &[&bob]).await;
    let alice_on_a = a.app.socket(&alice).await;
    let bob_on_b = b.app.socket(&bob).await;
    alice_on_a
        .next_where("presence", |p| {
            p["user_id"] == bob.id.as_str() && p["online"] == true
        })
        .await;

    let ack = alice_on_a
        .ack("message:send", send(&room, "hello from a"))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(bob_on_b.next("message:new").await, ack["message"]);
    assert_eq!(
        alice_on_a.next("message:new").await,
        ack["message"],
        "the sender's device too"
    );

    bob_on_b
        .ack(
            "receipt",
            json!({"room_id": room, "kind": "read", "seq": 1}),
        )
        .await;
    let receipt = alice_on_a.next("receipt").await;
    assert_eq!(
        (receipt["user_id"].clone(), receipt["seq"].clone()),
        (json!(bob.id), json!(1))
    );
    bob_on_b
        .ack("typing", json!({"room_id": room, "active": true}))
        .await;
    assert_eq!(alice_on_a.next("typing").await["active"], true);

    // One user on both nodes gets each message once per device.
    let alice_on_b = b.app.socket(&alice).await;
    let ack = bob_on_b
        .ack("message:send", send(&room, "to both devices"))
        .await;
    assert_eq!(
        alice_on_a
            .next_where("message:new", |m| m["seq"] == 2)
            .await,
        ack["message"]
    );
    assert_eq!(
        alice_on_b
            .next_where("message:new", |m| m["seq"] == 2)
            .await,
        ack["message"]
    );
    assert!(
        !alice_on_a
            .receives_within("message:new", Duration::from_millis(500))
            .await
    );
    assert!(
        !alice_on_b
            .receives_within("message:new", Duration::from_millis(500))
            .await
    );

    // An idempotent resend through the other node returns the original message.
    let payload = send(&room, "sent twice");
    let first = alice_on_a.ack("message:send", payload.clone()).await;
    let again = alice_on_b.ack("message:send", payload).await;
    assert_eq!(first, again);
    bob_on_b.disconnect().await;
    // (Skip the snapshot taken when alice connected, which may show bob not yet online.)
    let offline = alice_on_a
        .next_where("presence", |p| {
            p["user_id"] == bob.id.as_str() && p["online"] == false && p["last_seen_at"].is_string()
        })
        .await;
    assert_eq!(offline["online"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_stream_loses_no_acked_message_and_repeats_none() {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    // The killed node's open transaction stays with a server of this test's own.
    let mongo_port = free_port();
    let _mongo = spawn_mongo(mongo_port)
        .await
        .expect("CONFAB_SECANTUS_BIN is set where MONGODB_URL is");
    let cluster = cluster.with("MONGODB_URL", &mongo_url(mongo_port));
    let (mut a, b) = (cluster.node().await, cluster.node().await);
    let alice = a.app.register("alice").await;
    let room = a.app.group(&alice, "Crash", &[]).await;
    let on_a = a.app.socket(&alice).await;

    let mut sent = Vec::new();
    for i in 0..10 {
        let payload = send(&room, &format!("acked {i}"));
        let ack = on_a.ack("message:send", payload.clone()).await;
        assert_eq!(ack["ok"], true, "{ack}");
        sent.push((payload, Some(ack["message"].clone())));
    }
    // Five more leave without waiting for their acks, and the node dies under them.
    for i in 0..5 {
        let payload = send(&room, &format!("in flight {i}"));
        on_a.emit_and_forget("message:send", payload.clone()).await;
        sent.push((payload, None));
    }
    a.kill().await;
    reap_abandoned_transactions(&mongo_url(mongo_port)).await;

    // The client moves to the other node and resends what it has no ack for.
    let on_b = b.app.socket(&alice).await;
    for (payload, acked) in &mut sent {
        if acked.is_none() {
            let ack = on_b.ack("message:send", payload.clone()).await;
            assert_eq!(ack["ok"], true, "{ack}");
            *acked = Some(ack["message"].clone());
        }
    }
    let synced = on_b.ack("sync", json!({"rooms": {room.clone(): 0}})).await;
    let messages = synced["rooms"][&room]["messages"]
        .as_array()
        .expect("messages")
        .clone();
    assert_whole_stream(&messages, 15);
    for (_, acked) in &sent {
        let acked = acked.as_ref().expect("every send acked in the end");
        assert_eq!(
            messages[acked["seq"].as_u64().expect("seq") as usize - 1],
            *acked,
            "as acked"
        );
    }
}

/// A loopback TCP proxy that can play a restart of the service behind it: every open
/// connection reset at once, new ones refused for a while, the service's data kept (as a
/// real broker keeps its log across a restart; the stand-in broker keeps its topics only in
/// memory, and a restart that loses them trips a librdkafka crash on its replies).
pub(crate) struct Proxy {
    pub(crate) port: u16,
    /// Cancelled to reset every connection of the current generation.
    generation: Arc<Mutex<tokio_util::sync::CancellationToken>>,
    refusing: Arc<AtomicBool>,
    _task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub(crate) async fn start(target: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("addr").port();
        let generation = Arc::new(Mutex::new(tokio_util::sync::CancellationToken::new()));
        let refusing = Arc::new(AtomicBool::new(false));
        let (gen_, refusing_) = (Arc::clone(&generation), Arc::clone(&refusing));
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if refusing_.load(Ordering::SeqCst) {
                    continue;
                }
                let cancelled = gen_.lock().expect("lock").clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cancelled.cancelled() => {}
                    }
                });
            }
        });
        Proxy {
            port,
            generation,
            refusing,
            _task: task,
        }
    }

    /// Resets every connection and refuses new ones for `down`.
    pub(crate) async fn restart(&self, down: Duration) {
        self.refusing.store(true, Ordering::SeqCst);
        let old = std::mem::take(&mut *self.generation.lock().expect("lock"));
        old.cancel();
        tokio::time::sleep(down).await;
        self.refusing.store(false, Ordering::SeqCst);
    }
}

/// A Redis and a broker of the test's own, so restarting them disturbs no other test.
pub(crate) struct PrivateServices {
    redis_port: u16,
    redis: Child,
    /// The broker's process (to stall it with SIGSTOP).
    pub(crate) kafka: Child,
    /// What the nodes reach the broker through.
    kafka_proxy: Proxy,
}

impl PrivateServices {
    pub(crate) async fn start() -> Option<PrivateServices> {
        let tansu = services::url("CONFAB_TANSU_BIN")?;
        let (redis_port, kafka_port) = (free_port(), free_port());
        let redis = spawn_redis(redis_port).await;
        let kafka_proxy = Proxy::start(kafka_port).await;
        let kafka = spawn_kafka_behind(&tansu, kafka_port, kafka_proxy.port).await;
        Some(PrivateServices {
            redis_port,
            redis,
            kafka,
            kafka_proxy,
        })
    }

    pub(crate) fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}/?protocol=resp3", self.redis_port)
    }

    pub(crate) fn kafka_brokers(&self) -> String {
        format!("127.0.0.1:{}", self.kafka_proxy.port)
    }

    pub(crate) async fn restart_redis(&mut self) {
        self.redis.kill().await.expect("stop redis");
        self.redis = spawn_redis(self.redis_port).await;
    }

    async fn stop_redis(&mut self) {
        self.redis.kill().await.expect("stop redis");
    }

    /// A broker restart as its clients see it: every connection reset, new ones refused
    /// for a few seconds, the log kept.
    pub(crate) async fn restart_kafka(&mut self) {
        self.kafka_proxy.restart(Duration::from_secs(3)).await;
    }
}

/// A node's environment on the embedded defaults, whatever services this run has (their
/// variables set empty), its data in `data`, with `extra` on top.
pub(crate) fn embedded_env(
    data: &std::path::Path,
    extra: &[(&str, String)],
) -> Vec<(String, String)> {
    let empty = ["REDIS_URL", "KAFKA_BROKERS", "MONGODB_URL", "S3_ENDPOINT"];
    std::iter::once(("CONFAB_DATA_DIR", data.display().to_string()))
        .chain(empty.into_iter().map(|name| (name, String::new())))
        .chain(extra.iter().cloned())
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

pub(crate) async fn spawn_redis(port: u16) -> Child {
    let port_text = port.to_string();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port_text,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start redis-server");
    wait_for_port(port).await;
    child
}

/// A broker listening on `port` that tells clients to reach it on `advertised`.
pub(crate) async fn spawn_kafka_behind(tansu: &str, port: u16, advertised: u16) -> Child {
    let url = format!("tcp://127.0.0.1:{port}");
    let advertised = format!("tcp://127.0.0.1:{advertised}");
    let child = Command::new(tansu)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &advertised,
        ])
        .args(["--storage-engine", "memory://tansu/"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the broker");
    wait_for_port(port).await;
    child
}

/// The MongoDB-wire server on `port`, in memory; `None` (skip) without one in this run.
pub(crate) async fn spawn_mongo(port: u16) -> Option<Child> {
    let secantus = services::url("CONFAB_SECANTUS_BIN")?;
    let child = Command::new(&secantus)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--storage-path", ":memory:"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the MongoDB-wire server");
    wait_for_port(port).await;
    Some(child)
}

/// The URL of the MongoDB-wire server `spawn_mongo` started on `port`.
pub(crate) fn mongo_url(port: u16) -> String {
    format!("mongodb://127.0.0.1:{port}/?directConnection=true")
}

/// Aborts the transactions a SIGKILLed node left open, as MongoDB itself does in the
/// background within `transactionLifetimeLimitSeconds`. The stand-in (SecantusDB 0.7) reaps
/// them only inside later transaction commands, and a plain multi-document write that meets
/// an abandoned transaction's rows retries while holding its collection's lock: with a live
/// transaction waiting on that lock, the reaper and then every transaction and retryable
/// write of the whole server wait forever. So every test that kills a node calls this once
/// the server answers, and runs on a server of its own.
pub(crate) async fn reap_abandoned_transactions(url: &str) {
    let client = mongodb::Client::with_uri_str(url)
        .await
        .expect("connect to the MongoDB-wire server");
    tokio::time::timeout(
        Duration::from_secs(20),
        client
            .database("admin")
            .run_command(mongodb::bson::doc! { "killAllSessions": [] }),
    )
    .await
    .expect("killAllSessions answers")
    .expect("killAllSessions");
}

pub(crate) async fn wait_for_port(port: u16) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the service opens its port");
}

/// Sends over REST as a careful client does: on `unavailable`, a refused connection or a
/// rate limit, it waits a little and sends again with the same `client_id`.
async fn send_until_acked(app: &TestApp, token: &str, room: &str, body: &str) -> Value {
    let payload = json!({"client_id": new_client_id(), "kind": "text", "body": body});
    let path = format!("/api/v1/rooms/{room}/messages");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let answer = app
            .http
            .post(app.url(&path))
            .bearer_auth(token)
            .json(&payload)
            .send()
            .await;
        if let Ok(response) = answer {
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or_default();
            match status {
                200 | 201 => return body,
                429 | 503 => {}
                other => panic!("send refused with {other}: {body}"),
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no ack within a minute"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_until_ready(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ready = app
            .http
            .get(app.url("/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node did not become ready again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_ride_out_a_redis_and_a_broker_restart_without_losing_acked_messages() {
    let Some((cluster, mut private)) = Cluster::on_private_services().await else {
        return;
    };
    let (a, b) = (cluster.node().await, cluster.node().await);
    let (alice, bob) = (a.app.register("alice").await, a.app.register("bob").await);
    let room = a.app.group(&alice, "Turbulence", &[&bob]).await;

    let mut acked = Vec::new();
    for i in 0..30 {
        if i == 10 {
            private.restart_redis().await;
        }
        if i == 20 {
            private.restart_kafka().await;
        }
        acked.push(send_until_acked(&a.app, &alice.token, &room, &format!("message {i}")).await);
    }

    wait_until_ready(&a.app).await;
    wait_until_ready(&b.app).await;
    let (_, page) = b
        .app
        .get(
            &format!("/api/v1/rooms/{room}/messages?limit=200"),
            &bob.token,
        )
        .await;
    let stored = page["messages"].as_array().expect("messages");
    assert_eq!(
        stored.as_slice(),
        acked.as_slice(),
        "every acked message, once, in order"
    );

    // Live delivery across nodes works again, without restarting a node.
    let bob_on_b = b.app.socket(&bob).await;
    let alice_on_a = a.app.socket(&alice).await;
    let ack = alice_on_a
        .ack("message:send", send(&room, "back to normal"))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(bob_on_b.next("message:new").await, ack["message"]);
}

/// With Redis gone, a node degrades instead of failing: it stays ready, says which service
/// is down, and keeps taking sends (its rate limits count locally) and delivering them to
/// the devices connected to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_keeps_sending_and_delivering_locally_while_redis_is_down() {
    let Some((cluster, mut private)) = Cluster::on_private_services().await else {
        return;
    };
    let a = cluster.node().await;
    let (alice, bob) = (a.app.register("alice").await, a.app.register("bob").await);
    let room = a.app.group(&alice, "Redis-less", &[&bob]).await;
    let (alice_on_a, bob_on_a) = (a.app.socket(&alice).await, a.app.socket(&bob).await);

    private.stop_redis().await;

    for i in 0..3 {
        let ack = alice_on_a
            .ack("message:send", send(&room, &format!("still here {i}")))
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
        let delivered = bob_on_a
            .next_where("message:new", |m| m["seq"] == ack["message"]["seq"])
            .await;
        assert_eq!(delivered, ack["message"]);
    }
    let ready = a
        .app
        .http
        .get(a.app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status().as_u16(), 200, "still ready without Redis");
    let (status, services) = a
        .app
        .call(reqwest::Method::GET, "/readyz/services", None, None)
        .await;
    assert_eq!(status.as_u16(), 200);
    assert_eq!(services["status"], "degraded", "{services}");
    assert_eq!(services["services"]["redis"], "down", "{services}");
    assert_eq!(services["services"]["mongodb"], "up", "{services}");
}

/// A message whose broadcast to the other node is lost (Redis is down, so the sending node
/// delivers only to its own devices) still reaches a device on the other node with no later
/// message to reveal the gap: that node tells its devices where the room's stream ends
/// (`room:head`), and the device syncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_missed_a_broadcast_hears_where_the_rooms_stream_ends() {
    let Some((cluster, mut private)) = Cluster::on_private_services().await else {
        return;
    };
    let (a, b) = (cluster.node().await, cluster.node().await);
    let (alice, bob) = (a.app.register("alice").await, a.app.register("bob").await);
    let room = a.app.group(&alice, "Lost broadcast", &[&bob]).await;
    let bob_on_b = b.app.socket(&bob).await;
    // Node b watches the bus once its consumer has joined (seconds on the stand-in broker).
    let warm_up = send_until_acked(&a.app, &alice.token, &room, "warm-up").await;
    assert_eq!(bob_on_b.next("message:new").await, warm_up);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while !bob_on_b
        .receives_within("room:head", Duration::from_secs(5))
        .await
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "node b never announced a room head"
        );
        send_until_acked(&a.app, &alice.token, &room, "warm-up").await;
    }
    let (_, page) = a
        .app
        .get(&format!("/api/v1/rooms/{room}/messages"), &bob.token)
        .await;
    let seen = page["messages"].as_array().expect("messages").len() as u64;

    private.stop_redis().await;
    let lost = send_until_acked(&a.app, &alice.token, &room, "not broadcast to b").await;
    assert_eq!(lost["seq"], seen + 1);
    let head = bob_on_b
        .next_where("room:head", |h| h["seq"] == lost["seq"])
        .await;
    assert_eq!(head["room_id"], room.as_str());
    assert!(
        !bob_on_b
            .has_received("message:new", |m| m["seq"] == lost["seq"])
            .await,
        "the broadcast reached b after all: this test proves nothing"
    );
    let synced = bob_on_b
        .ack("sync", json!({"rooms": {room.clone(): seen}}))
        .await;
    assert_eq!(synced["rooms"][&room]["messages"], json!([lost]));
}

/// A node started while its Redis is still down waits for it instead of exiting, and serves
/// (sends and live delivery) once it is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_before_its_redis_serves_once_redis_is_up() {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let port = free_port();
    let cluster = cluster.with(
        "REDIS_URL",
        &format!("redis://127.0.0.1:{port}/?protocol=resp3"),
    );
    let late_redis = async {
        // The node's first attempts meet a closed port.
        tokio::time::sleep(Duration::from_secs(2)).await;
        spawn_redis(port).await
    };
    let (a, _redis) = tokio::join!(cluster.node(), late_redis);
    let (alice, bob) = (a.app.register("alice").await, a.app.register("bob").await);
    let room = a.app.group(&alice, "Late start", &[&bob]).await;
    let bob_on_a = a.app.socket(&bob).await;
    let sent = send_until_acked(&a.app, &alice.token, &room, "hello").await;
    assert_eq!(bob_on_a.next("message:new").await, sent);
}

/// A node started while its MongoDB is not up yet waits for it instead of exiting, and
/// serves once it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_before_its_mongodb_serves_once_it_is_up() {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let port = free_port();
    let cluster = cluster.with(
        "MONGODB_URL",
        &format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
    );
    let late_mongo = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        spawn_mongo(port).await
    };
    let (a, mongo) = tokio::join!(cluster.node(), late_mongo);
    let _mongo = mongo.expect("CONFAB_SECANTUS_BIN is set where MONGODB_URL is");
    let (alice, bob) = (a.app.register("alice").await, a.app.register("bob").await);
    let room = a.app.group(&alice, "Late store", &[&bob]).await;
    let sent = send_until_acked(&a.app, &alice.token, &room, "stored at last").await;
    assert_eq!(sent["seq"], 1);
}

/// A node started while Kafka and S3 are unreachable serves at once, degraded: it is ready,
/// says which services are down, takes sends (their events wait in the outbox), and counts
/// the broker up again once one answers on its address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_without_kafka_and_s3_serves_degraded_and_sees_them_come_back() {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let Some(tansu) = services::url("CONFAB_TANSU_BIN") else {
        return;
    };
    let (kafka_port, s3_port) = (free_port(), free_port());
    let cluster = cluster
        .with("KAFKA_BROKERS", &format!("127.0.0.1:{kafka_port}"))
        .with("S3_ENDPOINT", &format!("http://127.0.0.1:{s3_port}"));
    let a = cluster.node().await;
    let (alice, bob) = (a.app.register("alice").await, a.app.register("bob").await);
    let room = a.app.group(&alice, "Degraded", &[&bob]).await;
    let sent = send_until_acked(&a.app, &alice.token, &room, "no broker yet").await;
    assert_eq!(sent["seq"], 1);
    let ready = a.app.http.get(a.app.url("/readyz")).send().await;
    assert_eq!(ready.expect("readyz").status().as_u16(), 200);
    let (_, report) = a
        .app
        .call(reqwest::Method::GET, "/readyz/services", None, None)
        .await;
    assert_eq!(report["status"], "degraded", "{report}");
    assert_eq!(report["services"]["kafka"], "down", "{report}");
    assert_eq!(report["services"]["s3"], "down", "{report}");
    assert_eq!(report["services"]["mongodb"], "up", "{report}");

    let _kafka = spawn_kafka_behind(&tansu, kafka_port, kafka_port).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, report) = a
            .app
            .call(reqwest::Method::GET, "/readyz/services", None, None)
            .await;
        if report["services"]["kafka"] == "up" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the broker is up but the node still says {report}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The unread worker (consumer group `unread`, fed by Kafka) keeps a member's counter in
/// Redis current while they are offline: before the member asks for anything, the counter
/// already stands at the newest message with the right count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unread_worker_keeps_offline_members_counters_in_redis() {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let node = cluster.node().await;
    let (alice, bob) = (
        node.app.register("alice").await,
        node.app.register("bob").await,
    );
    let room = node.app.group(&alice, "Counted", &[&bob]).await;
    for body in ["one", "two", "three"] {
        node.app.send_text(&alice, &room, body).await;
    }
    node.app.send_text(&bob, &room, "mine").await;
    node.app.send_text(&alice, &room, "five").await;

    let redis =
        redis::Client::open(services::url("REDIS_URL").expect("REDIS_URL")).expect("a Redis URL");
    let mut conn = redis
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let key = format!("confab:cache:unread:{room}:{}:0", bob.id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let counter: Option<String> = redis::AsyncCommands::get(&mut conn, &key)
            .await
            .expect("read the counter");
        if counter.as_deref() == Some("[5,4]") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob's counter is {counter:?}, not at seq 5 with 4 unread"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, rooms) = node.app.get("/api/v1/rooms", &bob.token).await;
    assert_eq!(rooms[0]["unread_count"], 4);
}

/// Edits and reactions to one message from two nodes at once all land (the store applies
/// each in the transaction that appends it), and every device hears every change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_and_reactions_from_two_nodes_all_land() {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let (a, b) = (cluster.node().await, cluster.node().await);
    let alice = a.app.register("alice").await;
    let mut people = vec![];
    for n in 0..6 {
        people.push(b.app.register(&format!("fan{n}")).await);
    }
    let fans: Vec<&crate::helpers::TestUser> = people.iter().collect();
    let room = a.app.group(&alice, "Busy message", &fans).await;
    let target = a.app.send_text(&alice, &room, "vote here").await;
    let watcher = b.app.socket(&people[0]).await;
    let path = format!("/api/v1/rooms/{room}/messages");
    let mut sends = Vec::new();
    for (n, person) in people.iter().enumerate() {
        let app = if n % 2 == 0 { &a.app } else { &b.app };
        let body = json!({"client_id": new_client_id(), "kind": "reaction", "body": "🗳️", "relates_to": target["id"]});
        sends.push(app.post(&path, &person.token, body));
    }
    for n in 0..3 {
        let app = if n % 2 == 0 { &a.app } else { &b.app };
        let body = json!({"client_id": new_client_id(), "kind": "edit", "body": format!("vote here (round {n})"), "relates_to": target["id"]});
        sends.push(app.post(&path, &alice.token, body));
    }
    for (status, answer) in futures_util::future::join_all(sends).await {
        assert_eq!(status.as_u16(), 201, "{answer}");
    }
    let (_, page) = b.app.get(&path, &people[0].token).await;
    let messages = page["messages"].as_array().expect("messages");
    let now = messages
        .iter()
        .find(|m| m["id"] == target["id"])
        .expect("the target");
    let mut voters: Vec<String> = now["reactions"][0]["user_ids"]
        .as_array()
        .expect("voters")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    voters.sort();
    let mut everyone: Vec<String> = people.iter().map(|p| p.id.clone()).collect();
    everyone.sort();
    assert_eq!(voters, everyone, "{now}");
    let last_edit = messages
        .iter()
        .filter(|m| m["kind"] == "edit")
        .max_by_key(|m| m["seq"].as_u64())
        .expect("edits");
    assert_eq!(
        now["body"], last_edit["body"],
        "the last edit in the stream wins"
    );
    let last_seq = messages.last().expect("messages")["seq"].clone();
    watcher
        .next_where("message:new", |m| m["seq"] == last_seq)
        .await;
}

/// A session ended on one node disconnects its devices on the other at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_on_one_node_disconnects_the_sessions_devices_on_another() {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let (a, b) = (cluster.node().await, cluster.node().await);
    let alice = a.app.register("alice").await;
    let other = crate::sessions::sign_in_again(&b.app, &alice, "second device").await;
    let mut on_b = crate::sessions::device(&b.app, &alice.token).await;
    let mut other_on_b = crate::sessions::device(&b.app, &other).await;
    let (status, _) = a
        .app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status.as_u16(), 204);
    assert!(crate::sessions::is_disconnected(&mut on_b).await);
    other_on_b.send(r#"421["sync",{"rooms":{}}]"#).await;
    let answer = other_on_b.next_text().await.expect("an answer");
    assert!(answer.starts_with("431"), "another session stays: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_racing_a_removal_on_other_nodes_stop_at_the_removed_members_room_left() {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let cluster = cluster
        .with("CONFAB_SENDS_PER_USER_PER_10S", "10000")
        .with("CONFAB_MEMBER_CHANGES_PER_USER_PER_10S", "10000");
    let (a, b) = (cluster.node().await, cluster.node().await);
    crate::groups::race_sends_against_a_removal(&[&a.app, &b.app]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_deleted_on_one_node_is_gone_from_every_node() {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let (a, b) = (cluster.node().await, cluster.node().await);
    let alice = a.app.register("alice").await;
    let bob = b.app.register("bob").await;
    let group = a.app.group(&alice, "Club", &[&bob]).await;
    let mut bobs_phone = crate::sessions::device(&b.app, &bob.token).await;
    let alices_laptop = b.app.socket(&alice).await;
    let (status, body) = a
        .app
        .call(
            reqwest::Method::DELETE,
            "/api/v1/me",
            Some(&bob.token),
            Some(json!({"password": "correct horse battery"})),
        )
        .await;
    assert_eq!(status.as_u16(), 204, "{body}");
    assert!(
        crate::sessions::is_disconnected(&mut bobs_phone).await,
        "the deleted account's device on the other node is cut"
    );
    let update = alices_laptop
        .next_where("room:update", |room| {
            room["id"] == group.as_str() && room["member_count"] == 1
        })
        .await;
    assert!(
        update["members"]
            .as_array()
            .expect("members")
            .iter()
            .all(|m| m["user"]["id"] != bob.id.as_str()),
        "{update}"
    );
    let (status, _) = b.app.get("/api/v1/me", &bob.token).await;
    assert_eq!(
        status.as_u16(),
        401,
        "the old token opens nothing on the other node"
    );
    let (status, _) = b
        .app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": bob.username, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(status.as_u16(), 401, "the old password opens nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_revoked_or_a_password_changed_on_one_node_cuts_devices_on_another() {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let (a, b) = (cluster.node().await, cluster.node().await);
    let alice = a.app.register("alice").await;
    let laptop = crate::sessions::sign_in_again(&b.app, &alice, "Laptop").await;
    let tablet = crate::sessions::sign_in_again(&b.app, &alice, "Tablet").await;
    let mut laptop_on_b = crate::sessions::device(&b.app, &laptop).await;
    let mut tablet_on_b = crate::sessions::device(&b.app, &tablet).await;
    let mut mine_on_b = crate::sessions::device(&b.app, &alice.token).await;

    // Revoked from node A: only the laptop's device on node B goes.
    let (_, list) = a.app.get("/api/v1/me/sessions", &alice.token).await;
    let laptop_session = list
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["user_agent"] == "Laptop")
        .expect("the laptop's session")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, _) = a
        .app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/me/sessions/{laptop_session}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status.as_u16(), 204);
    assert!(crate::sessions::is_disconnected(&mut laptop_on_b).await);

    // A new password set through node A: every other session's device on node B goes.
    let (status, body) = a
        .app
        .post(
            "/api/v1/me/password",
            &alice.token,
            json!({"current_password": "correct horse battery", "new_password": "a brand new secret"}),
        )
        .await;
    assert_eq!(status.as_u16(), 204, "{body}");
    assert!(crate::sessions::is_disconnected(&mut tablet_on_b).await);
    mine_on_b.send(r#"421["sync",{"rooms":{}}]"#).await;
    let answer = mine_on_b.next_text().await.expect("an answer");
    assert!(
        answer.starts_with("431"),
        "the session that changed it stays: {answer}"
    );
}
