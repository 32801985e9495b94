//! Socket.IO v5 over Engine.IO v4, WebSocket transport only, parsed no further than the
//! load needs: the handshake, ping and pong, `message:new`, and the acks of `message:send`.
//!
//! Each socket is one task that owns its connection and its counters, so nothing is locked
//! per frame; a few shared atomics tell the driver when the traffic has settled.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

use crate::stats::Latencies;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a handshake may take before the socket counts as failed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens a socket to `base` (`http://host:port`) and authenticates it with `token`.
pub async fn connect(base: &str, token: &str) -> Result<Ws> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(base, token))
        .await
        .context("the socket handshake timed out")?
}

async fn handshake(base: &str, token: &str) -> Result<Ws> {
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        base.replacen("http://", "ws://", 1)
    );
    // No Nagle: small frames must leave at once, or latency measures the kernel's batching.
    let (mut ws, _) = connect_async_with_config(&url, None, true)
        .await
        .with_context(|| format!("WebSocket to {url}"))?;
    let mut opened = false;
    while let Some(frame) = ws.next().await {
        let Message::Text(text) = frame? else {
            continue;
        };
        if !opened {
            if !text.starts_with('0') {
                bail!("expected the Engine.IO open packet, got {text:?}");
            }
            opened = true;
            let auth = serde_json::json!({ "token": token });
            ws.send(Message::Text(format!("40{auth}"))).await?;
        } else if text == "2" {
            ws.send(Message::Text("3".into())).await?;
        } else if text.starts_with("40") {
            return Ok(ws);
        } else if let Some(error) = text.strip_prefix("44") {
            bail!("the server refused the socket: {error}");
        }
    }
    bail!("the server closed the socket during the handshake")
}

/// What the driver tells a socket.
pub enum Command {
    /// Send one message now.
    Send,
    /// Hand over this step's counters and start new ones.
    Report(oneshot::Sender<Report>),
    /// Close the connection and end.
    Close,
}

/// State every socket of a run shares: which step is running and how far the traffic is.
#[derive(Debug)]
pub struct Shared {
    /// The one clock of the process: send times travel in message bodies as nanoseconds
    /// since this instant.
    pub t0: Instant,
    pub step: AtomicU32,
    /// Deliveries owed for acked messages (members of the room but the sender).
    pub expected: AtomicU64,
    /// First deliveries of this step's messages, at members but the sender.
    pub received: AtomicU64,
    /// Sends answered by an ack, an error ack, or a failed write.
    pub settled: AtomicU64,
}

impl Shared {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            t0: Instant::now(),
            step: AtomicU32::new(0),
            expected: AtomicU64::new(0),
            received: AtomicU64::new(0),
            settled: AtomicU64::new(0),
        })
    }

    /// Begins step `step`: messages of other steps no longer count.
    pub fn begin(&self, step: u32) {
        self.step.store(step, Ordering::SeqCst);
        self.expected.store(0, Ordering::SeqCst);
        self.received.store(0, Ordering::SeqCst);
        self.settled.store(0, Ordering::SeqCst);
    }
}

/// Who a socket is: its user and its one room.
#[derive(Clone, Debug)]
pub struct Member {
    pub user_id: Arc<str>,
    pub room_id: Arc<str>,
    /// Members of the room, the sender included.
    pub room_members: usize,
    /// Send `focus` for the room after connecting.
    pub focus: bool,
}

/// One socket's counters for one step.
#[derive(Debug, Default)]
pub struct Report {
    // As a receiver.
    /// `message:new` of this step's messages from other members, duplicates included.
    pub received: u64,
    pub duplicates: u64,
    /// Arrivals whose `seq` is below the highest this socket had seen in the room.
    pub out_of_order: u64,
    /// `message:new` of an earlier step's messages, or with a body we did not write.
    pub stale: u64,
    /// Other events (presence, receipts, notifications, ...).
    pub other_events: u64,
    /// Ids of this step's messages received.
    pub ids: HashSet<Box<str>>,
    pub deliver: Latencies,
    // As a sender.
    pub sent: u64,
    /// Ids of this socket's messages that were acked `ok`.
    pub acked: Vec<Box<str>>,
    pub ack_errors: HashMap<String, u64>,
    /// Sends with no ack by the time of the report.
    pub ack_timeouts: u64,
    /// Acks of an earlier step's sends.
    pub late_acks: u64,
    pub ack: Latencies,
    pub write_errors: u64,
    /// Why the connection ended, if it did.
    pub closed: Option<String>,
}

/// Runs one socket until `Command::Close`; see [`Command`].
pub async fn drive(
    mut ws: Ws,
    member: Member,
    shared: Arc<Shared>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut socket = Socket {
        member,
        shared,
        next_ack: 1,
        pending: HashMap::new(),
        highest_seq: HashMap::new(),
        report: Report::default(),
    };
    if socket.member.focus {
        // Ack id 0 is this one's; its answer is ignored.
        let room = serde_json::to_string(&*socket.member.room_id).unwrap_or_default();
        let frame = format!(r#"420["focus",{{"room_id":{room}}}]"#);
        if let Err(err) = ws.send(Message::Text(frame)).await {
            socket.report.closed = Some(format!("focus: {err}"));
        }
    }
    let mut open = socket.report.closed.is_none();
    while open {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if let Some(reply) = socket.on_text(&text)
                        && let Err(err) = ws.send(Message::Text(reply.into())).await
                    {
                        socket.report.closed = Some(format!("write: {err}"));
                        open = false;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    socket.report.closed = Some(format!("closed by the server: {frame:?}"));
                    open = false;
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => {
                    socket.report.closed = Some(format!("read: {err}"));
                    open = false;
                }
                None => {
                    socket.report.closed = Some("connection ended".into());
                    open = false;
                }
            },
            command = commands.recv() => match command {
                Some(Command::Send) => {
                    let frame = socket.send_frame();
                    if let Err(err) = ws.send(Message::Text(frame)).await {
                        socket.report.closed = Some(format!("write: {err}"));
                        socket.report.write_errors += 1;
                        socket.shared.settled.fetch_add(1, Ordering::Relaxed);
                        open = false;
                    }
                }
                Some(Command::Report(to)) => {
                    let _ = to.send(socket.take_report());
                }
                Some(Command::Close) | None => {
                    let _ = ws.close(None).await;
                    return;
                }
            },
        }
    }
    // The connection is gone; keep answering the driver so its counts stay whole.
    while let Some(command) = commands.recv().await {
        match command {
            Command::Send => {
                socket.report.write_errors += 1;
                socket.shared.settled.fetch_add(1, Ordering::Relaxed);
            }
            Command::Report(to) => {
                let closed = socket.report.closed.clone();
                let mut report = socket.take_report();
                report.closed = closed;
                let _ = to.send(report);
            }
            Command::Close => return,
        }
    }
}

struct Socket {
    member: Member,
    shared: Arc<Shared>,
    next_ack: u64,
    /// Send times of sends awaiting their ack, by ack id.
    pending: HashMap<u64, Instant>,
    /// Highest `seq` seen per room; kept across steps (a room's order does not restart).
    highest_seq: HashMap<Box<str>, u64>,
    report: Report,
}

#[derive(Deserialize)]
struct Delivery<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    room_id: Cow<'a, str>,
    seq: u64,
    #[serde(borrow)]
    sender_id: Cow<'a, str>,
    #[serde(borrow)]
    body: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Ack {
    ok: bool,
    message: Option<AckedMessage>,
    error: Option<AckError>,
}

#[derive(Deserialize)]
struct AckedMessage {
    id: String,
}

#[derive(Deserialize)]
struct AckError {
    code: String,
}

impl Socket {
    /// Handles one frame; returns a frame to answer with, if any.
    fn on_text(&mut self, text: &str) -> Option<&'static str> {
        if text == "2" {
            return Some("3");
        }
        if let Some(rest) = text.strip_prefix(r#"42["message:new","#) {
            self.on_delivery(rest.strip_suffix(']').unwrap_or(rest));
        } else if let Some(rest) = text.strip_prefix("43") {
            self.on_ack(rest);
        } else if text.starts_with("42") {
            self.report.other_events += 1;
        } else if text.starts_with("41") {
            self.report.closed = Some("disconnected by the server (41)".into());
        }
        None
    }

    fn on_delivery(&mut self, json: &str) {
        let now = Instant::now();
        let Ok(message) = serde_json::from_str::<Delivery<'_>>(json) else {
            self.report.stale += 1;
            return;
        };
        let highest = match self.highest_seq.get_mut(&*message.room_id) {
            Some(highest) => highest,
            None => self
                .highest_seq
                .entry(message.room_id.as_ref().into())
                .or_insert(0),
        };
        let below = message.seq < *highest;
        *highest = (*highest).max(message.seq);
        if *message.sender_id == *self.member.user_id {
            return;
        }
        let step = self.shared.step.load(Ordering::Relaxed);
        let Some(sent_at) = message.body.as_deref().and_then(|b| parse_body(b, step)) else {
            self.report.stale += 1;
            return;
        };
        self.report.received += 1;
        if !self.report.ids.insert(message.id.as_ref().into()) {
            self.report.duplicates += 1;
            return;
        }
        // A duplicate is counted as such only, not also as out of order.
        if below {
            self.report.out_of_order += 1;
        }
        self.shared.received.fetch_add(1, Ordering::Relaxed);
        let sent = self.shared.t0 + Duration::from_nanos(sent_at);
        self.report
            .deliver
            .record(now.saturating_duration_since(sent));
    }

    fn on_ack(&mut self, rest: &str) {
        let now = Instant::now();
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let Ok(id) = rest[..digits].parse::<u64>() else {
            return;
        };
        if id == 0 {
            return; // the focus ack
        }
        let Some(sent) = self.pending.remove(&id) else {
            self.report.late_acks += 1;
            return;
        };
        self.shared.settled.fetch_add(1, Ordering::Relaxed);
        self.report.ack.record(now.saturating_duration_since(sent));
        // The ack's arguments are `[answer]`.
        let args = &rest[digits..];
        let answer = args
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .and_then(|a| serde_json::from_str::<Ack>(a).ok());
        match answer {
            Some(Ack {
                ok: true,
                message: Some(message),
                ..
            }) => {
                self.report.acked.push(message.id.into());
                let owed = self.member.room_members.saturating_sub(1) as u64;
                self.shared.expected.fetch_add(owed, Ordering::Relaxed);
            }
            Some(Ack {
                error: Some(error), ..
            }) => *self.report.ack_errors.entry(error.code).or_default() += 1,
            _ => {
                *self
                    .report
                    .ack_errors
                    .entry("unreadable_ack".into())
                    .or_default() += 1
            }
        }
    }

    /// A `message:send` with an ack id and the send time in the body.
    fn send_frame(&mut self) -> String {
        let id = self.next_ack;
        self.next_ack += 1;
        let step = self.shared.step.load(Ordering::Relaxed);
        let now = Instant::now();
        let nanos = now.duration_since(self.shared.t0).as_nanos();
        self.pending.insert(id, now);
        self.report.sent += 1;
        // Room ids are opaque but JSON-safe in practice; quote them properly anyway.
        let room = serde_json::to_string(&*self.member.room_id).unwrap_or_default();
        format!(
            r#"42{id}["message:send",{{"room_id":{room},"client_id":"{}","kind":"text","body":"lg {step} {nanos}"}}]"#,
            uuid::Uuid::new_v4()
        )
    }

    fn take_report(&mut self) -> Report {
        let mut report = std::mem::take(&mut self.report);
        report.ack_timeouts = self.pending.len() as u64;
        self.pending.clear();
        report
    }
}

/// The send time (nanoseconds since `t0`) of a body `lg <step> <nanos>` of step `step`.
fn parse_body(body: &str, step: u32) -> Option<u64> {
    let mut words = body.strip_prefix("lg ")?.split(' ');
    let body_step: u32 = words.next()?.parse().ok()?;
    let nanos = words.next()?.parse().ok()?;
    (body_step == step).then_some(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket() -> Socket {
        Socket {
            member: Member {
                user_id: "me".into(),
                room_id: "r1".into(),
                room_members: 10,
                focus: false,
            },
            shared: Shared::new(),
            next_ack: 1,
            pending: HashMap::new(),
            highest_seq: HashMap::new(),
            report: Report::default(),
        }
    }

    fn delivery(id: &str, seq: u64, sender: &str, body: &str) -> String {
        format!(
            r#"42["message:new",{{"id":"{id}","room_id":"r1","seq":{seq},"sender_id":"{sender}","client_id":"c","kind":"text","body":"{body}","media":null,"created_at":"x"}}]"#
        )
    }

    #[test]
    fn pings_are_answered_and_deliveries_counted_once_in_order() {
        let mut s = socket();
        assert_eq!(s.on_text("2"), Some("3"));
        s.on_text(&delivery("a", 2, "other", "lg 0 5"));
        s.on_text(&delivery("b", 1, "other", "lg 0 5"));
        s.on_text(&delivery("a", 2, "other", "lg 0 5"));
        s.on_text(&delivery("c", 3, "me", "lg 0 5"));
        s.on_text(&delivery("d", 4, "other", "lg 7 5"));
        s.on_text(r#"42["presence",{}]"#);
        let r = s.take_report();
        assert_eq!(r.received, 3);
        assert_eq!(r.ids.len(), 2);
        assert_eq!(r.duplicates, 1);
        assert_eq!(r.out_of_order, 1);
        assert_eq!(r.stale, 1);
        assert_eq!(r.other_events, 1);
        assert_eq!(r.deliver.len(), 2);
    }

    #[test]
    fn acks_are_matched_to_their_sends_by_id() {
        let mut s = socket();
        let frame = s.send_frame();
        assert!(frame.starts_with(r#"421["message:send",{"room_id":"r1","client_id":""#));
        assert!(frame.contains(r#"","kind":"text","body":"lg 0 "#));
        s.send_frame();
        s.send_frame();
        s.on_text(r#"431[{"ok":true,"message":{"id":"m1","seq":1}}]"#);
        s.on_text(r#"432[{"ok":false,"error":{"code":"rate_limited","message":"slow"}}]"#);
        s.on_text(r#"439[{"ok":true,"message":{"id":"m9"}}]"#);
        let r = s.take_report();
        assert_eq!(r.sent, 3);
        assert_eq!(r.acked, vec![Box::from("m1")]);
        assert_eq!(r.ack_errors.get("rate_limited"), Some(&1));
        assert_eq!(r.ack_timeouts, 1);
        assert_eq!(r.late_acks, 1);
        assert_eq!(s.shared.expected.load(Ordering::Relaxed), 9);
    }
}
