//! The chaos suite: two server processes on Redis, the Kafka-protocol broker and the
//! MongoDB-wire server of the test's own, clients that do what API.md tells a client to do
//! (retry a send with the same `client_id` until it is acked; `sync` on every connect, on
//! every gap and when `room:head` says the room's stream is ahead), transports dropped at
//! random, and every fault injected mid-load, alone and together: a node SIGKILLed and
//! restarted (once while MongoDB is stalled), a node SIGSTOPped and SIGCONTed, Redis
//! restarted with its data lost, the broker stalled and restarted, MongoDB stalled, S3
//! unreachable (only media fails).
//!
//! Then an oracle checks the store and every client at rest: no acked message lost, no
//! `client_id` stored twice, `seq` 1..N per room, every client holding every message of its
//! room soon after the faults heal (with nothing more sent to reveal a gap), every ack in
//! bounded time unless the node answering it was stopped or killed meanwhile, and never a
//! second one.
//!
//! `CONFAB_CHAOS_RATE` (messages a second, default 30) and `CONFAB_CHAOS_ROUNDS` (how many
//! times the fault timeline runs, default 1) make a longer, harder run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::process::Child;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::cluster::{
    Cluster, Node, PrivateServices, Proxy, free_port, mongo_url, reap_abandoned_transactions,
    spawn_mongo,
};
use crate::contract::services;
use crate::helpers::{TestUser, assert_whole_stream, new_client_id};
use crate::media::{complete, create, put, recording};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const USERS: usize = 40;
const ROOM_SIZE: usize = 8;
/// How long a client waits for an ack before it gives up on the connection. The server
/// answers every event within 10 s of handling it (`EVENT_DEADLINE`); the rest is slack for
/// a machine that also runs every other test, the services and both debug-built nodes on
/// two cores (the slowest ack seen is printed).
const ACK_PATIENCE: Duration = Duration::from_secs(20);
/// Each second, each client drops its transport with this chance.
const DROP_CHANCE: f64 = 0.1;
/// How long after the faults heal and sending stops every client must hold every message.
const AT_REST_WITHIN: Duration = Duration::from_secs(10);

fn setting(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift), so a failing run can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 1_000_000.0 < p
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The services of this test alone, so stopping them disturbs no other test: the cluster
/// tests' own Redis and broker, a MongoDB, and a proxy in front of the run's S3 store.
struct Services {
    private: PrivateServices,
    mongo_port: u16,
    mongo: Child,
    s3_proxy: Proxy,
}

impl Services {
    async fn start() -> Option<Services> {
        let mongo_port = free_port();
        let mongo = spawn_mongo(mongo_port).await?;
        let private = PrivateServices::start().await?;
        let s3 = services::url("S3_ENDPOINT")?;
        let s3_port = s3
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("S3_ENDPOINT ends in a port");
        let s3_proxy = Proxy::start(s3_port).await;
        Some(Services {
            private,
            mongo_port,
            mongo,
            s3_proxy,
        })
    }

    fn env(&self, cluster: Cluster) -> Cluster {
        cluster
            .with("REDIS_URL", &self.private.redis_url())
            .with("KAFKA_BROKERS", &self.private.kafka_brokers())
            .with("MONGODB_URL", &mongo_url(self.mongo_port))
            .with(
                "S3_ENDPOINT",
                &format!("http://127.0.0.1:{}", self.s3_proxy.port),
            )
            .with("CONFAB_AUTH_PER_IP_PER_MIN", "100000")
    }
}

fn signal(child: &Child, signal: &str) {
    let pid = child.id().expect("a running process").to_string();
    let status = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid}");
}

/// What the clients share with the conductor.
struct Stage {
    /// Each node's address while it serves (`None` while it is down).
    nodes: RwLock<Vec<Option<SocketAddr>>>,
    sending: AtomicBool,
    dropping: AtomicBool,
    finished: AtomicBool,
    /// When each node was last stopped or killed, and when it came back (ms since start).
    outages: Mutex<Vec<(usize, u64, u64)>>,
    started: Instant,
}

impl Stage {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn node_down(&self, node: usize) -> u64 {
        let at = self.now_ms();
        self.outages
            .lock()
            .expect("lock")
            .push((node, at, u64::MAX));
        at
    }

    fn node_up(&self, node: usize) {
        let at = self.now_ms();
        for outage in self.outages.lock().expect("lock").iter_mut() {
            if outage.0 == node && outage.2 == u64::MAX {
                outage.2 = at;
            }
        }
    }

    /// Whether `node` was stopped or killed at some moment in `from..=to`.
    fn was_down(&self, node: usize, from: u64, to: u64) -> bool {
        self.outages
            .lock()
            .expect("lock")
            .iter()
            .any(|&(n, down, up)| n == node && down <= to && up >= from)
    }
}

/// One client's record.
#[derive(Default)]
struct Record {
    /// Every message of its room this client received (live or by sync), by `seq`: its id.
    seen: BTreeMap<u64, String>,
    /// What it sent and was acked: `client_id` to the acked message.
    acked: HashMap<String, Value>,
    attempts: u64,
    /// Whether a payload is waiting for its ack.
    open: bool,
    refusals: HashMap<String, u64>,
    /// Acks that never came, as (node, event, sent at ms, gave up at ms).
    unanswered: Vec<(usize, &'static str, u64, u64)>,
    /// Failures that must not happen (a refusal a careful client cannot fix, a message seen
    /// under one `seq` with two ids, a message of a room it is not in).
    wrong: Vec<String>,
    out_of_order: u64,
    /// The longest an answered event waited for its ack (ms).
    slowest_ack: u64,
    syncs: u64,
    heads: u64,
    drops: u64,
    connects: u64,
}

impl Record {
    /// The highest `seq` up to which this client has every message.
    fn contiguous(&self) -> u64 {
        let mut upto = 0;
        for &seq in self.seen.keys() {
            if seq != upto + 1 {
                break;
            }
            upto = seq;
        }
        upto
    }

    fn see(&mut self, message: &Value, room: &str) {
        let (Some(seq), Some(id)) = (message["seq"].as_u64(), message["id"].as_str()) else {
            self.wrong
                .push(format!("a message without seq or id: {message}"));
            return;
        };
        if message["room_id"] != room {
            self.wrong
                .push(format!("a message of another room: {message}"));
            return;
        }
        if let Some(known) = self.seen.insert(seq, id.to_owned())
            && known != id
        {
            self.wrong
                .push(format!("seq {seq} seen as {known} and as {id}"));
        }
    }
}

struct Client {
    user: TestUser,
    room: String,
    record: Mutex<Record>,
}

enum Waiting {
    Send { client_id: String },
    Sync,
}

/// Runs one client until the stage finishes.
async fn run_client(stage: Arc<Stage>, client: Arc<Client>, every: Duration, seed: u64) {
    let mut rng = Rng(seed);
    // The send waiting for its ack, kept across connections: resent as it is until acked.
    let mut pending: Option<Value> = None;
    let mut next_send = Instant::now() + every.mul_f64((rng.below(1000) as f64) / 1000.0);
    while !stage.finished.load(Ordering::SeqCst) {
        let live: Vec<(usize, SocketAddr)> = stage
            .nodes
            .read()
            .expect("lock")
            .iter()
            .enumerate()
            .filter_map(|(i, addr)| Some((i, (*addr)?)))
            .collect();
        if live.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let (node, addr) = live[rng.below(live.len())];
        let Ok(Ok(ws)) =
            tokio::time::timeout(Duration::from_secs(5), connect(addr, &client.user.token)).await
        else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        client.record.lock().expect("lock").connects += 1;
        session(
            &stage,
            &client,
            ws,
            node,
            &mut rng,
            &mut pending,
            &mut next_send,
            every,
        )
        .await;
    }
}

async fn connect(addr: SocketAddr, token: &str) -> anyhow::Result<Ws> {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    let mut opened = false;
    while let Some(frame) = ws.next().await {
        let Frame::Text(text) = frame? else { continue };
        if !opened {
            anyhow::ensure!(text.starts_with('0'), "no open packet: {text}");
            opened = true;
            ws.send(Frame::Text(format!("40{}", json!({"token": token}))))
                .await?;
        } else if text == "2" {
            ws.send(Frame::Text("3".into())).await?;
        } else if text.starts_with("40") {
            return Ok(ws);
        } else if text.starts_with("44") {
            anyhow::bail!("refused: {text}");
        }
    }
    anyhow::bail!("closed during the handshake")
}

/// One connection, until it drops, is dropped, or the stage finishes.
#[allow(clippy::too_many_arguments)]
async fn session(
    stage: &Stage,
    client: &Client,
    mut ws: Ws,
    node: usize,
    rng: &mut Rng,
    pending: &mut Option<Value>,
    next_send: &mut Instant,
    every: Duration,
) {
    let room = client.room.as_str();
    let mut next_id: u64 = 0;
    let mut waiting: HashMap<u64, (Waiting, u64)> = HashMap::new();
    let mut highest_live = 0;
    let mut retry_at: Option<Instant> = pending.as_ref().map(|_| Instant::now());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;

    macro_rules! emit {
        ($event:expr, $data:expr, $what:expr) => {{
            next_id += 1;
            let frame = format!("42{next_id}{}", json!([$event, $data]));
            waiting.insert(next_id, ($what, stage.now_ms()));
            if ws.send(Frame::Text(frame)).await.is_err() {
                return;
            }
        }};
    }
    let sync_from = |client: &Client| {
        let mut record = client.record.lock().expect("lock");
        record.syncs += 1;
        json!({"rooms": {room: record.contiguous()}})
    };
    let syncing = |waiting: &HashMap<u64, (Waiting, u64)>| {
        waiting.values().any(|(w, _)| matches!(w, Waiting::Sync))
    };

    // On every connect: sync from what this client has.
    emit!("sync", sync_from(client), Waiting::Sync);
    loop {
        let send_due = match (pending.is_some(), retry_at) {
            (true, Some(at)) => Some(at),
            (true, None) => None,
            (false, _) if stage.sending.load(Ordering::SeqCst) => Some(*next_send),
            (false, _) => None,
        };
        tokio::select! {
            frame = ws.next() => {
                let Some(Ok(frame)) = frame else { return };
                let Frame::Text(text) = frame else { continue };
                if text == "2" {
                    if ws.send(Frame::Text("3".into())).await.is_err() {
                        return;
                    }
                } else if let Some(event) = text.strip_prefix("42") {
                    let Ok(Value::Array(args)) = serde_json::from_str::<Value>(event) else {
                        continue;
                    };
                    let mut gap = false;
                    match args.first().and_then(Value::as_str) {
                        Some("message:new") => {
                            let message = &args[1];
                            let seq = message["seq"].as_u64().unwrap_or(0);
                            let mut record = client.record.lock().expect("lock");
                            if seq < highest_live {
                                record.out_of_order += 1;
                            }
                            highest_live = highest_live.max(seq);
                            record.see(message, room);
                            gap = seq > record.contiguous() + 1;
                        }
                        Some("room:head") if args[1]["room_id"] == room => {
                            let mut record = client.record.lock().expect("lock");
                            record.heads += 1;
                            gap = args[1]["seq"].as_u64().unwrap_or(0) > record.contiguous();
                        }
                        _ => {}
                    }
                    if gap && !syncing(&waiting) {
                        emit!("sync", sync_from(client), Waiting::Sync);
                    }
                } else if let Some(ack) = text.strip_prefix("43") {
                    let digits = ack.chars().take_while(char::is_ascii_digit).count();
                    let Ok(id) = ack[..digits].parse::<u64>() else { continue };
                    let Ok(Value::Array(mut args)) = serde_json::from_str::<Value>(&ack[digits..])
                    else {
                        continue;
                    };
                    let answer = if args.is_empty() { Value::Null } else { args.remove(0) };
                    let Some((what, asked)) = waiting.remove(&id) else {
                        // Ack ids are per connection: one nobody waits for is a second ack.
                        client.record.lock().expect("lock").wrong.push(format!("a second ack: {text}"));
                        continue;
                    };
                    {
                        let mut record = client.record.lock().expect("lock");
                        record.slowest_ack = record.slowest_ack.max(stage.now_ms() - asked);
                    }
                    match what {
                        Waiting::Send { client_id } => {
                            let mut record = client.record.lock().expect("lock");
                            if answer["ok"] == true {
                                record.acked.insert(client_id, answer["message"].clone());
                                record.open = false;
                                *pending = None;
                                retry_at = None;
                                *next_send = (*next_send + every).max(Instant::now());
                            } else {
                                let code = answer["error"]["code"].as_str().unwrap_or("?").to_owned();
                                if !matches!(code.as_str(), "unavailable" | "rate_limited") {
                                    record.wrong.push(format!("send refused: {answer}"));
                                }
                                *record.refusals.entry(code).or_default() += 1;
                                retry_at = Some(Instant::now() + Duration::from_millis(300));
                            }
                        }
                        Waiting::Sync => {
                            let again;
                            {
                                let mut record = client.record.lock().expect("lock");
                                if answer["ok"] == true {
                                    let page = &answer["rooms"][room];
                                    for message in page["messages"].as_array().into_iter().flatten() {
                                        record.see(message, room);
                                    }
                                    again = page["has_more"] == true;
                                } else {
                                    let code = answer["error"]["code"].as_str().unwrap_or("?").to_owned();
                                    if !matches!(code.as_str(), "unavailable" | "rate_limited") {
                                        record.wrong.push(format!("sync refused: {answer}"));
                                    }
                                    *record.refusals.entry(format!("sync {code}")).or_default() += 1;
                                    again = true;
                                }
                            }
                            if again {
                                emit!("sync", sync_from(client), Waiting::Sync);
                            }
                        }
                    }
                }
            }
            _ = async { tokio::time::sleep_until(send_due.expect("due")).await }, if send_due.is_some() => {
                if pending.is_none() {
                    // Open first, then look: the conductor stops sending, then waits until
                    // no client is open, so no new send slips past it.
                    client.record.lock().expect("lock").open = true;
                    if !stage.sending.load(Ordering::SeqCst) {
                        client.record.lock().expect("lock").open = false;
                        continue;
                    }
                }
                let payload = pending.get_or_insert_with(|| json!({
                    "room_id": room,
                    "client_id": new_client_id(),
                    "kind": "text",
                    "body": format!("from {}", client.user.username),
                })).clone();
                retry_at = None;
                client.record.lock().expect("lock").attempts += 1;
                let client_id = payload["client_id"].as_str().unwrap_or_default().to_owned();
                emit!("message:send", payload, Waiting::Send { client_id });
            }
            _ = tick.tick() => {
                if stage.finished.load(Ordering::SeqCst) {
                    return;
                }
                let now = stage.now_ms();
                let oldest = waiting.values().min_by_key(|(_, at)| *at);
                if let Some((what, sent)) = oldest.filter(|(_, at)| now - at > ACK_PATIENCE.as_millis() as u64) {
                    let what = match what {
                        Waiting::Send { .. } => "message:send",
                        Waiting::Sync => "sync",
                    };
                    client.record.lock().expect("lock").unanswered.push((node, what, *sent, now));
                    return;
                }
                if stage.dropping.load(Ordering::SeqCst) && rng.chance(DROP_CHANCE) {
                    client.record.lock().expect("lock").drops += 1;
                    return;
                }
            }
        }
    }
}

/// The conductor's log line, so a failing run shows what happened when.
fn say(stage: &Stage, what: &str) {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() % 86_400);
    eprintln!(
        "chaos {:>6.1}s ({:02}:{:02}:{:02} UTC)  {what}",
        stage.now_ms() as f64 / 1000.0,
        wall / 3600,
        wall / 60 % 60,
        wall % 60
    );
}

async fn pause(secs: f64) {
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_lose_nothing_repeat_nothing_and_heal_under_every_fault() {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let Some(mut services) = Services::start().await else {
        return;
    };
    let rate = setting("CONFAB_CHAOS_RATE", 30).max(1);
    let rounds = setting("CONFAB_CHAOS_ROUNDS", 1).max(1);
    let cluster = services.env(cluster);
    let mut nodes = vec![cluster.node().await, cluster.node().await];
    let stage = Arc::new(Stage {
        nodes: RwLock::new(nodes.iter().map(|n| Some(n.app.addr)).collect()),
        sending: AtomicBool::new(true),
        dropping: AtomicBool::new(true),
        finished: AtomicBool::new(false),
        outages: Mutex::new(Vec::new()),
        started: Instant::now(),
    });

    // Users in rooms of ROOM_SIZE, the owner registering on either node.
    let mut clients = Vec::new();
    let mut rooms = Vec::new();
    for group in 0..USERS / ROOM_SIZE {
        let app = &nodes[group % 2].app;
        let mut users = Vec::new();
        for i in 0..ROOM_SIZE {
            users.push(app.register(&format!("chaos{group}x{i}")).await);
        }
        let others: Vec<&TestUser> = users[1..].iter().collect();
        let room = app
            .group(&users[0], &format!("Chaos {group}"), &others)
            .await;
        rooms.push(room.clone());
        for user in users {
            clients.push(Arc::new(Client {
                user,
                room: room.clone(),
                record: Mutex::default(),
            }));
        }
    }
    let every = Duration::from_secs_f64(clients.len() as f64 / rate as f64);
    let seed = setting("CONFAB_CHAOS_SEED", 0x5eed);
    let tasks: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(i, client)| {
            tokio::spawn(run_client(
                Arc::clone(&stage),
                Arc::clone(client),
                every,
                seed.wrapping_mul(i as u64 + 1) | 1,
            ))
        })
        .collect();
    say(
        &stage,
        &format!("{} clients, {rate} msg/s, {rounds} round(s)", clients.len()),
    );

    let faults = AtomicU64::new(0);
    let fault = |what: &str| {
        faults.fetch_add(1, Ordering::SeqCst);
        say(&stage, what);
    };
    let restart = async |nodes: &mut Vec<Node>, i: usize| {
        nodes[i] = cluster.node().await;
        stage.nodes.write().expect("lock")[i] = Some(nodes[i].app.addr);
        stage.node_up(i);
        say(&stage, &format!("node {i} serves again"));
    };
    for round in 0..rounds {
        say(&stage, &format!("round {round}"));
        pause(4.0).await;

        fault("SIGKILL node 0");
        stage.nodes.write().expect("lock")[0] = None;
        stage.node_down(0);
        nodes[0].kill().await;
        reap_abandoned_transactions(&mongo_url(services.mongo_port)).await;
        pause(2.0).await;
        restart(&mut nodes, 0).await;
        pause(4.0).await;

        fault("Redis restarted, its data lost");
        services.private.restart_redis().await;
        pause(5.0).await;

        fault("SIGSTOP the broker for 5 s");
        signal(&services.private.kafka, "-STOP");
        pause(5.0).await;
        signal(&services.private.kafka, "-CONT");
        pause(3.0).await;

        fault("SIGSTOP MongoDB for 3 s");
        signal(&services.mongo, "-STOP");
        pause(3.0).await;
        signal(&services.mongo, "-CONT");
        pause(4.0).await;

        fault("SIGSTOP node 1 for 4 s");
        stage.node_down(1);
        signal(&nodes[1].child, "-STOP");
        pause(4.0).await;
        signal(&nodes[1].child, "-CONT");
        stage.node_up(1);
        pause(4.0).await;

        fault("broker restarted: every connection reset, refused for 3 s");
        services.private.restart_kafka().await;
        pause(4.0).await;

        fault("S3 unreachable for 6 s");
        media_fails_alone(
            &nodes[round as usize % 2],
            &clients[0].user,
            &services.s3_proxy,
        )
        .await;
        pause(2.0).await;

        fault(
            "together: MongoDB stalled, node 1 SIGKILLed and restarted meanwhile, Redis restarted",
        );
        signal(&services.mongo, "-STOP");
        stage.nodes.write().expect("lock")[1] = None;
        stage.node_down(1);
        nodes[1].kill().await;
        services.private.restart_redis().await;
        let restarted = async {
            restart(&mut nodes, 1).await;
        };
        let stall = async {
            pause(3.0).await;
            signal(&services.mongo, "-CONT");
            reap_abandoned_transactions(&mongo_url(services.mongo_port)).await;
        };
        tokio::join!(restarted, stall);
        pause(5.0).await;
    }

    // Heal: stop sending, let every client finish its last send, stop dropping transports.
    say(&stage, "faults over; sending stops");
    stage.sending.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let open = clients
            .iter()
            .filter(|c| c.record.lock().expect("lock").open)
            .count();
        if open == 0 || Instant::now() > deadline {
            break;
        }
        pause(0.2).await;
    }
    stage.dropping.store(false, Ordering::SeqCst);

    for node in &mut nodes {
        node.assert_alive();
    }
    // The store, as a member reads it over REST.
    let mut stored: HashMap<String, Vec<Value>> = HashMap::new();
    for (i, room) in rooms.iter().enumerate() {
        let member = &clients[i * ROOM_SIZE].user;
        stored.insert(room.clone(), read_room(&nodes[0], member, room).await);
    }

    let rested = Instant::now();
    loop {
        let behind = clients
            .iter()
            .filter(|c| {
                c.record.lock().expect("lock").contiguous() < stored[&c.room].len() as u64
                    || c.record.lock().expect("lock").seen.len() != stored[&c.room].len()
            })
            .count();
        if behind == 0 {
            break;
        }
        assert!(
            rested.elapsed() < AT_REST_WITHIN,
            "{behind} clients still miss messages {AT_REST_WITHIN:?} after the faults healed"
        );
        pause(0.1).await;
    }
    let at_rest_after = rested.elapsed();
    stage.finished.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.expect("a client task");
    }

    // The oracle.
    let mut acked: HashMap<String, Value> = HashMap::new();
    let mut totals = Record::default();
    for client in &clients {
        let record = client.record.lock().expect("lock");
        assert!(
            record.wrong.is_empty(),
            "{}: {:?}",
            client.user.username,
            record.wrong
        );
        for (client_id, message) in &record.acked {
            acked.insert(client_id.clone(), message.clone());
        }
        for &(node, what, sent, gave_up) in &record.unanswered {
            assert!(
                stage.was_down(node, sent, gave_up),
                "{what} sent to node {node} at {sent} ms got no ack by {gave_up} ms, and the node was up"
            );
        }
        let stored = &stored[&client.room];
        for message in stored {
            let seq = message["seq"].as_u64().expect("seq");
            assert_eq!(
                record.seen.get(&seq).map(String::as_str),
                message["id"].as_str(),
                "{} holds seq {seq} as stored",
                client.user.username
            );
        }
        totals.attempts += record.attempts;
        totals.out_of_order += record.out_of_order;
        totals.slowest_ack = totals.slowest_ack.max(record.slowest_ack);
        totals.syncs += record.syncs;
        totals.heads += record.heads;
        totals.drops += record.drops;
        totals.connects += record.connects;
        totals.unanswered.extend(record.unanswered.iter().copied());
        for (code, n) in &record.refusals {
            *totals.refusals.entry(code.clone()).or_default() += n;
        }
    }
    let mut stored_ids = HashSet::new();
    let mut total = 0;
    for messages in stored.values() {
        assert_whole_stream(messages, messages.len() as u64);
        for message in messages {
            let client_id = message["client_id"].as_str().expect("client_id").to_owned();
            assert!(
                stored_ids.insert(client_id.clone()),
                "{client_id} stored twice"
            );
            assert!(
                acked.contains_key(&client_id),
                "stored but never acked to its sender: {message}"
            );
        }
        total += messages.len();
    }
    for (client_id, message) in &acked {
        let room = message["room_id"].as_str().expect("room");
        let seq = message["seq"].as_u64().expect("seq") as usize;
        assert_eq!(
            &stored[room][seq - 1],
            message,
            "{client_id}: stored as acked"
        );
    }
    eprintln!(
        "chaos: {total} messages stored and acked, {} send attempts, {} faults, {} transports \
         dropped, {} connects, {} syncs, {} room:head, {} events unanswered on a stopped or \
         killed node, slowest ack {} ms, refusals {:?}, {} out-of-order arrivals; every client \
         complete {:?} \
         after the faults healed; 0 lost, 0 twice, 0 gaps",
        totals.attempts,
        faults.load(Ordering::SeqCst),
        totals.drops,
        totals.connects,
        totals.syncs,
        totals.heads,
        totals.unanswered.len(),
        totals.slowest_ack,
        totals.refusals,
        totals.out_of_order,
        at_rest_after,
    );
    assert!(total > 0);
}

/// With S3 unreachable only media fails, in bounded time, with `unavailable`; the node
/// stays ready; once S3 is back the same upload completes.
async fn media_fails_alone(node: &Node, user: &TestUser, s3: &Proxy) {
    let bytes = recording("webm", 2_000);
    let request = json!({"kind": "voice", "content_type": "audio/webm", "bytes": bytes.len(), "duration_ms": 1_500});
    let (status, created) = create(&node.app, user, request).await;
    assert_eq!(status.as_u16(), 201, "{created}");
    assert_eq!(
        put(&node.app, &created, bytes).await.as_u16(),
        200,
        "upload"
    );
    let id = created["media"]["id"].as_str().expect("media id");

    let outage = s3.restart(Duration::from_secs(6));
    let checks = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let asked = Instant::now();
        let (status, body) = complete(&node.app, user, id).await;
        assert_eq!(status.as_u16(), 503, "completing while S3 is down: {body}");
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        assert!(
            asked.elapsed() < Duration::from_secs(11),
            "answered in bounded time"
        );
        let ready = node.app.http.get(node.app.url("/readyz")).send().await;
        assert_eq!(
            ready.expect("readyz").status().as_u16(),
            200,
            "ready without S3"
        );
    };
    tokio::join!(outage, checks);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, media) = complete(&node.app, user, id).await;
        if status.as_u16() == 200 {
            assert_eq!(media["id"], id);
            return;
        }
        assert!(
            Instant::now() < deadline,
            "S3 is back but: {status} {media}"
        );
        pause(0.5).await;
    }
}

/// Every message of `room`, oldest first, read over REST.
async fn read_room(node: &Node, member: &TestUser, room: &str) -> Vec<Value> {
    let mut messages: Vec<Value> = Vec::new();
    loop {
        let after = messages
            .last()
            .map_or(0, |m| m["seq"].as_u64().expect("seq"));
        let path = format!("/api/v1/rooms/{room}/messages?after_seq={after}&limit=200");
        let (status, page) = node.app.get(&path, &member.token).await;
        assert!(status.is_success(), "{status}: {page}");
        let batch = page["messages"].as_array().expect("messages").clone();
        let more = page["has_more"] == true;
        messages.extend(batch);
        if !more {
            return messages;
        }
    }
}
