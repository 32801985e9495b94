//! The test harness: a real Confab server on port 0 with a temporary data folder
//! ([`TestApp::builder`]), an HTTP client whose every answer is checked against the OpenAPI
//! document, and a Socket.IO client wrapper that turns callbacks into awaitable calls and
//! checks every event and ack against the AsyncAPI document (`schema.rs`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use reqwest::{Method, StatusCode};
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Payload, TransportType};
use serde_json::{Value, json};
use server::adapters::s3::S3Config;
use server::config::{Config, Limits, PushConfig};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running server and what it needs to be stopped and started again.
pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    /// What the test set in the configuration, again at each restart.
    configure: Configure,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Limits loose enough that ordinary tests never trip them; rate-limit tests set their own.
pub fn roomy_limits() -> Limits {
    Limits {
        auth_per_ip: 10_000,
        login_per_account: 10_000,
        sends_per_user: 10_000,
        syncs_per_user: 10_000,
        typing_per_user: 10_000,
        rooms_per_user: 10_000,
        member_changes_per_user: 10_000,
        uploads_per_user: 10_000,
        ..Limits::default()
    }
}

/// A server on the embedded defaults with roomy limits: `TestApp::builder().spawn()`.
pub async fn spawn_app() -> TestApp {
    TestApp::builder().spawn().await
}

/// Settings a test changes in the server's configuration (limits, services, push…).
type Configure = Arc<dyn Fn(&mut Config) + Send + Sync>;

/// How a test wants its server: roomy limits unless it sets its own, then whatever else it
/// changes in the configuration, in order. The same settings apply again at each restart.
pub struct TestAppBuilder {
    limits: Limits,
    changes: Vec<Configure>,
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            limits: roomy_limits(),
            changes: Vec::new(),
        }
    }
}

impl TestAppBuilder {
    /// These limits instead of roomy ones (rate-limit tests set their own).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Push through `push` (a push service on loopback, say).
    pub fn push(self, push: PushConfig) -> Self {
        self.configure(move |config| config.push = push.clone())
    }

    /// Any other change to the configuration.
    pub fn configure(mut self, change: impl Fn(&mut Config) + Send + Sync + 'static) -> Self {
        self.changes.push(Arc::new(change));
        self
    }

    /// Media in the S3 store that `S3_ENDPOINT` names, in a bucket of its own (the server
    /// creates it, so the bucket's CORS rules are this server's while tests run in
    /// parallel); `None` (skip) when no store is configured and none is required.
    pub fn on_s3(self) -> Option<Self> {
        crate::contract::services::url("S3_ENDPOINT")?;
        let mut s3 = S3Config::from_env()
            .expect("S3_ENDPOINT is set")
            .expect("a complete S3 configuration");
        s3.bucket = format!(
            "confab-test-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        Some(self.configure(move |config| config.services.s3 = Some(s3.clone())))
    }

    /// Starts the server on port 0 with a temporary data folder.
    pub async fn spawn(self) -> TestApp {
        let Self { limits, changes } = self;
        spawn(Arc::new(move |config| {
            config.limits = limits.clone();
            for change in &changes {
                change(config);
            }
        }))
        .await
    }
}

async fn spawn(configure: Configure) -> TestApp {
    let temp = tempfile::tempdir().expect("temp dir");
    let data_dir = temp.path().to_path_buf();
    let mut app = start(data_dir, configure).await;
    app._temp = Some(temp);
    app
}

async fn start(data_dir: PathBuf, configure: Configure) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let mut config = Config::embedded(addr, data_dir.clone());
    configure(&mut config);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server::run(listener, config, async {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        http: reqwest::Client::builder().build().expect("http client"),
        data_dir,
        _temp: None,
        configure,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestApp {
    /// A client of a server running elsewhere (another process): the same typed helpers,
    /// nothing to stop.
    pub fn external(addr: SocketAddr) -> TestApp {
        TestApp {
            addr,
            http: reqwest::Client::builder().build().expect("http client"),
            data_dir: PathBuf::new(),
            _temp: None,
            configure: Arc::new(|_| {}),
            stop: None,
            task: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Shuts the server down gracefully and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task)
                .await
                .expect("the server stops in time")
                .expect("the server task does not panic")
                .expect("the server stops cleanly");
        }
    }

    /// Stops the server and starts a new one on the same data folder (a new port).
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let mut next = start(self.data_dir.clone(), Arc::clone(&self.configure)).await;
        next._temp = self._temp.take();
        next
    }

    /// A request with an optional bearer token and JSON body; returns status and JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method.clone(), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body read");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        crate::schema::check_response(method.as_str(), path, status.as_u16(), &json);
        (status, json)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Registers a fresh user; returns them with their token.
    pub async fn register(&self, name: &str) -> TestUser {
        let username = unique(name);
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/register",
                None,
                Some(json!({"username": username, "password": "correct horse battery", "display_name": name})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "register {username}: {body}");
        TestUser {
            id: body["user"]["id"].as_str().expect("user id").to_owned(),
            username,
            token: body["token"].as_str().expect("token").to_owned(),
        }
    }

    /// `by` gives `user` the `role` in `room`; the answer must be 200.
    pub async fn set_role(&self, room: &str, by: &TestUser, user: &TestUser, role: &str) {
        let path = format!("/api/v1/rooms/{room}/members/{}", user.id);
        let (status, body) = self
            .call(
                Method::PATCH,
                &path,
                Some(&by.token),
                Some(json!({ "role": role })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// A group owned by `owner` with `members`; returns the room id.
    pub async fn group(&self, owner: &TestUser, name: &str, members: &[&TestUser]) -> String {
        let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
        let (status, body) = self
            .post(
                "/api/v1/rooms",
                &owner.token,
                json!({"name": name, "member_ids": ids}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create group: {body}");
        body["id"].as_str().expect("room id").to_owned()
    }

    /// Sends a text over REST; returns the message.
    pub async fn send_text(&self, user: &TestUser, room: &str, body: &str) -> Value {
        let (status, message) = self
            .post(
                &format!("/api/v1/rooms/{room}/messages"),
                &user.token,
                json!({"client_id": new_client_id(), "kind": "text", "body": body}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "send: {message}");
        message
    }

    /// A connected Socket.IO client for `user` (WebSocket transport).
    pub async fn socket(&self, user: &TestUser) -> TestSocket {
        TestSocket::connect(self.socket_builder().auth(json!({"token": user.token})))
            .await
            .expect("the socket connects")
    }

    pub fn socket_builder(&self) -> ClientBuilder {
        ClientBuilder::new(self.url("/"))
            .transport_type(TransportType::Websocket)
            .reconnect(false)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub struct TestUser {
    pub id: String,
    pub username: String,
    pub token: String,
}

/// The `code` of an error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// Asserts an error answer: status, code, and a human message.
pub fn assert_error(answer: &(StatusCode, Value), status: u16, expected: &str) {
    assert_eq!(answer.0.as_u16(), status, "{}", answer.1);
    assert_eq!(code(&answer.1), expected, "{}", answer.1);
    assert!(
        answer.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        answer.1
    );
}

/// A username no other test uses.
pub fn unique(name: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}_{}_{n}",
        name.to_lowercase(),
        std::process::id() % 10_000
    )
}

/// Asserts that `messages` are a room's whole stream of `count`: `seq` 1 to `count` in
/// order, no gap, nothing twice, each with a `client_id` of its own.
pub fn assert_whole_stream(messages: &[Value], count: u64) {
    let seqs: Vec<u64> = messages
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(
        seqs,
        (1..=count).collect::<Vec<_>>(),
        "in order, no gap, nothing twice"
    );
    let client_ids: std::collections::HashSet<&str> = messages
        .iter()
        .map(|m| m["client_id"].as_str().expect("client id"))
        .collect();
    assert_eq!(client_ids.len() as u64, count, "a client_id per message");
}

pub fn new_client_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A Socket.IO client whose events queue up to be awaited, and whose acks are awaited.
pub struct TestSocket {
    client: Client,
    events: Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
    /// Events received while waiting for another one.
    skipped: Mutex<Vec<(String, Value)>>,
    /// Events and acks that did not match the AsyncAPI document; a test that received one
    /// fails (at the next wait, or when the socket is dropped).
    violations: Arc<std::sync::Mutex<Vec<String>>>,
}

impl TestSocket {
    /// Connects; `Err` carries the handshake's refusal as JSON (the `connect_error` message
    /// text parsed), or the client's own error text.
    pub async fn connect(builder: ClientBuilder) -> Result<TestSocket, Value> {
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let (open_tx, mut open_rx) = mpsc::unbounded_channel::<Result<(), Value>>();
        let violations = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&violations);
        let error_tx = open_tx.clone();
        let client = builder
            .on("open", move |_, _| {
                let _ = open_tx.send(Ok(()));
                async {}.boxed()
            })
            .on("error", move |payload, _| {
                let _ = error_tx.send(Err(connect_error(payload)));
                async {}.boxed()
            })
            .on_any(move |event, payload, _| {
                let (event, payload) = (String::from(event), first_arg(payload));
                if let Err(violation) = crate::schema::check_event(&event, &payload) {
                    seen.lock().expect("violations").push(violation);
                }
                let _ = event_tx.send((event, payload));
                async {}.boxed()
            })
            .connect()
            .await
            .map_err(|err| Value::String(err.to_string()))?;
        match tokio::time::timeout(WAIT, open_rx.recv()).await {
            Ok(Some(Ok(()))) => Ok(TestSocket {
                client,
                events: Mutex::new(event_rx),
                skipped: Mutex::new(Vec::new()),
                violations,
            }),
            Ok(Some(Err(refusal))) => {
                if refusal.get("error").is_some() {
                    crate::schema::check_event("connect_error", &refusal)
                        .unwrap_or_else(|e| panic!("{e}"));
                }
                Err(refusal)
            }
            Ok(None) | Err(_) => Err(Value::String("no answer to the handshake".into())),
        }
    }

    /// Emits `event` with `data` and waits for its acknowledgement.
    pub async fn ack(&self, event: &str, data: Value) -> Value {
        self.ack_payload(event, Payload::from(data)).await
    }

    /// Emits `event` and does not wait for its acknowledgement (a send "in flight").
    pub async fn emit_and_forget(&self, event: &str, data: Value) {
        self.client.emit(event, data).await.expect("emit");
    }

    /// Emits `payload` as it is (to send what a typed client would not) and waits for the
    /// acknowledgement.
    pub async fn ack_payload(&self, event: &str, payload: Payload) -> Value {
        let (tx, rx) = oneshot::channel();
        let tx = std::sync::Mutex::new(Some(tx));
        self.client
            .emit_with_ack(event, payload, WAIT, move |payload, _| {
                if let Some(tx) = tx.lock().expect("ack lock").take() {
                    let _ = tx.send(ack_arg(payload));
                }
                async {}.boxed()
            })
            .await
            .expect("emit");
        let ack = tokio::time::timeout(WAIT, rx)
            .await
            .unwrap_or_else(|_| panic!("no ack for {event}"))
            .expect("ack delivered");
        crate::schema::check_ack(event, &ack).unwrap_or_else(|e| panic!("{e}"));
        self.assert_contract();
        ack
    }

    /// Fails the test if an event received so far broke the AsyncAPI document.
    fn assert_contract(&self) {
        let violations = self.violations.lock().expect("violations");
        assert!(violations.is_empty(), "{}", violations.join("\n"));
    }

    /// The next `event` received (earlier events of other names stay queued).
    pub async fn next(&self, event: &str) -> Value {
        self.next_where(event, |_| true).await
    }

    /// The next `event` whose payload satisfies `pred`.
    pub async fn next_where(&self, event: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.assert_contract();
        {
            let mut skipped = self.skipped.lock().await;
            if let Some(i) = skipped
                .iter()
                .position(|(name, v)| name == event && pred(v))
            {
                return skipped.remove(i).1;
            }
        }
        let mut events = self.events.lock().await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some((name, value))) if name == event && pred(&value) => return value,
                Ok(Some(other)) => self.skipped.lock().await.push(other),
                Ok(None) => panic!("socket closed while waiting for {event}"),
                Err(_) => panic!("no {event} within {WAIT:?}"),
            }
        }
    }

    /// Whether an `event` arrives within `within` (for asserting that one does not).
    pub async fn receives_within(&self, event: &str, within: Duration) -> bool {
        if self
            .skipped
            .lock()
            .await
            .iter()
            .any(|(name, _)| name == event)
        {
            return true;
        }
        let mut events = self.events.lock().await;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some((name, _))) if name == event => return true,
                Ok(Some(other)) => self.skipped.lock().await.push(other),
                Ok(None) | Err(_) => return false,
            }
        }
    }

    /// Whether an `event` satisfying `pred` has already arrived (and not been taken).
    pub async fn has_received(&self, event: &str, pred: impl Fn(&Value) -> bool) -> bool {
        let mut events = self.events.lock().await;
        let mut skipped = self.skipped.lock().await;
        while let Ok(next) = events.try_recv() {
            skipped.push(next);
        }
        skipped.iter().any(|(name, v)| name == event && pred(v))
    }

    /// Every event not yet taken, in the order of arrival, once none has come for `quiet`.
    pub async fn events_until_quiet(&self, quiet: Duration) -> Vec<(String, Value)> {
        let mut events = self.events.lock().await;
        let mut all = std::mem::take(&mut *self.skipped.lock().await);
        while let Ok(Some(next)) = tokio::time::timeout(quiet, events.recv()).await {
            all.push(next);
        }
        all
    }

    pub async fn disconnect(self) {
        let _ = self.client.disconnect().await;
    }
}

impl Drop for TestSocket {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_contract();
        }
    }
}

/// The first argument of an event.
fn first_arg(payload: Payload) -> Value {
    match payload {
        Payload::Text(mut values) if !values.is_empty() => values.remove(0),
        _ => Value::Null,
    }
}

/// An ack's first argument (the client hands acks over as one array of arguments).
fn ack_arg(payload: Payload) -> Value {
    match first_arg(payload) {
        Value::Array(mut args) if !args.is_empty() => args.remove(0),
        other => other,
    }
}

/// The JSON of a refused handshake: the client reports it as
/// `Received an ConnectError frame: {"message": "<error body as JSON text>"}`.
fn connect_error(payload: Payload) -> Value {
    let text = match first_arg(payload) {
        Value::String(text) => text,
        other => other.to_string(),
    };
    let frame = text
        .split_once(": ")
        .map_or(text.as_str(), |(_, rest)| rest);
    let packet: Value = serde_json::from_str(frame).unwrap_or(Value::String(text.clone()));
    packet["message"]
        .as_str()
        .and_then(|message| serde_json::from_str(message).ok())
        .unwrap_or(packet)
}

/// A bare Engine.IO v4 WebSocket, for checking the exact packets a stock client would see.
pub struct RawSocket {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl RawSocket {
    /// Opens the transport and sends the namespace CONNECT with `auth`.
    pub async fn connect(app: &TestApp, auth: Value) -> RawSocket {
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", app.addr);
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket opens");
        let mut raw = RawSocket { ws };
        let open = raw.next_text().await.expect("engine.io open packet");
        assert!(open.starts_with('0'), "{open}");
        raw.send(&format!("40{auth}")).await;
        raw
    }

    pub async fn send(&mut self, text: &str) {
        use futures_util::SinkExt;
        self.ws
            .send(tokio_tungstenite::tungstenite::Message::Text(
                text.to_owned(),
            ))
            .await
            .expect("send");
    }

    /// The next text frame, answering pings on the way; `None` once the server closed.
    pub async fn next_text(&mut self) -> Option<String> {
        use futures_util::StreamExt;
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time");
            match frame {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) if text == "2" => {
                    self.send("3").await
                }
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => return Some(text),
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))
                | Some(Err(_))
                | None => return None,
                Some(Ok(_)) => {}
            }
        }
    }
}
