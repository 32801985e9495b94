//! Socket.IO: the live half of the API. Handlers decode, call the chat core and acknowledge;
//! the rules live in `crate::chat`. Generic over socketioxide's `Adapter`, so the same code
//! fans out in one process (local adapter) or across nodes (Redis adapter).
//!
//! - [`handshake`]: authenticating a connection.
//! - [`fanout`]: the core's `Fanout` port, as broadcasts to per-user Socket.IO rooms.

pub mod fanout;
pub mod handshake;

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use protocol::{
    FocusRequest, ReceiptRequest, RoomId, SocketSend, SyncRequest, TypingRequest, UserId, events,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide_core::adapter::DefinedAdapter;
use tracing::Instrument;

use crate::chat::Chat;
use crate::error::Error;
use fanout::{focus_room, session_room, user_room};
use handshake::{Credential, OriginPolicy, Refusal, SocketUser};

/// The largest event payload a handler decodes; larger ones are refused in the ack (the
/// transport's own, higher limit closes the connection instead).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// The longest an event waits for its answer. A send that runs over is answered
/// `unavailable` but may still be stored: the client's retry with the same `client_id` then
/// gets the stored message, never a second one.
pub const EVENT_DEADLINE: Duration = Duration::from_secs(10);

/// The room a device is looking at, kept in the socket's extensions.
#[derive(Clone, Debug)]
struct Focus(Option<RoomId>);

/// Registers the `/` namespace. The handlers hold the chat weakly: the chat owns the fan-out,
/// which owns the `SocketIo`, which owns these handlers.
pub fn attach<A: Adapter + DefinedAdapter>(
    io: &SocketIo<A>,
    chat: &Arc<Chat>,
    origins: OriginPolicy,
) -> A::InitRes {
    let chat = Arc::downgrade(chat);
    let authenticate = {
        let chat = chat.clone();
        move |socket: SocketRef<A>, TryData(auth): TryData<Value>| {
            let (chat, origins) = (chat.clone(), origins.clone());
            async move { authenticate(socket, auth.ok(), chat, &origins).await }
        }
    };
    let connected = move |socket: SocketRef<A>| {
        let chat = chat.clone();
        async move { on_connect(socket, chat).await }
    };
    io.ns("/", connected.with(authenticate))
}

async fn authenticate<A: Adapter>(
    socket: SocketRef<A>,
    auth: Option<Value>,
    handle: Weak<Chat>,
    origins: &OriginPolicy,
) -> Result<(), Refusal> {
    let chat = handle
        .upgrade()
        .ok_or_else(|| Refusal(Error::Unavailable("server").body()))?;
    let token = match handshake::credential(auth.as_ref(), &socket.req_parts().headers, origins)? {
        Credential::Token(token) | Credential::Cookie(token) => token,
    };
    // Ending the session (logout, a revoke, a password change) disconnects this device. The
    // device joins the session's room before the session is checked: a session ended after
    // the check then finds the device in its room, and one ended before fails the check.
    let token_hash = crate::secrets::token_hash(&token);
    socket.join(session_room(&crate::secrets::session_id(&token_hash)));
    let user = chat
        .authenticate(&token)
        .await
        .map_err(|err| Refusal(err.body()))?;
    socket.extensions.insert(SocketUser(user.clone()));
    let agent = socket
        .req_parts()
        .headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    chat.session_seen(&token_hash, agent.as_deref()).await;
    register(&socket, &handle, &user);
    Ok(())
}

/// Joins the device to its user's room and registers every event handler. This runs in the
/// handshake, before the server answers the namespace CONNECT: the connect handler runs on
/// a task of its own after that answer, so a client that emits (a `sync`, say) the moment it
/// is connected would otherwise race the registration, and lose its event and its ack on a
/// busy node. (A broadcast may now reach the device a moment before the CONNECT answer;
/// Socket.IO clients hold such events until they are connected.)
fn register<A: Adapter>(socket: &SocketRef<A>, chat: &Weak<Chat>, user: &UserId) {
    socket.join(user_room(user));
    socket.extensions.insert(Focus(None));
    on_event(
        socket,
        events::MESSAGE_SEND,
        chat,
        user,
        |cx, send: SocketSend| async move {
            let ack = cx.ack.clone();
            let acked = move |message: &protocol::Message| {
                ack.ok(events::MESSAGE_SEND, &SentAck { message });
            };
            // Acked already, once the message was durable.
            cx.chat
                .send_then(&cx.user, &send.room_id, send.message, acked)
                .await
                .map(drop)
        },
    );
    on_event(
        socket,
        events::RECEIPT,
        chat,
        user,
        |cx, receipt: ReceiptRequest| async move { cx.chat.receipt(&cx.user, receipt).await },
    );
    on_event(
        socket,
        events::TYPING,
        chat,
        user,
        |cx, typing: TypingRequest| async move { cx.chat.typing(&cx.user, typing).await },
    );
    on_event(
        socket,
        events::SYNC,
        chat,
        user,
        |cx, sync: SyncRequest| async move { cx.chat.sync(&cx.user, sync).await },
    );
    on_event(socket, events::FOCUS, chat, user, focus);
    on_disconnect(socket, chat, user);
}

/// After the handshake: presence, and who of the user's contacts is online.
async fn on_connect<A: Adapter>(socket: SocketRef<A>, chat: Weak<Chat>) {
    let Some(SocketUser(user)) = socket.extensions.get::<SocketUser>() else {
        return;
    };
    let span = tracing::info_span!("socket", sid = %socket.id, user_id = %user);
    async {
        tracing::info!("socket connected");
        crate::metrics::METRICS.sockets.inc();
        if let Some(chat) = chat.upgrade() {
            if let Err(err) = chat.device_connected(&user, &socket.id.to_string()).await {
                tracing::warn!(error = %err, "presence not recorded");
            }
            match chat.contacts_presence(&user).await {
                Ok(contacts) => {
                    for event in contacts {
                        let _ = socket.emit(events::PRESENCE, &event);
                    }
                }
                Err(err) => tracing::warn!(error = %err, "presence snapshot failed"),
            }
        }
    }
    .instrument(span)
    .await;
}

/// What an event handler works with.
struct Context<A: Adapter> {
    chat: Arc<Chat>,
    user: UserId,
    socket: SocketRef<A>,
    ack: EarlyAck<A>,
}

/// The event's acknowledgement, which a handler may send before it returns: a send acks
/// as soon as its message is durable, before live delivery, so the ack and the sender's
/// own `message:new` reach its socket's queue together and leave in one write (a tenth of
/// a send's syscalls). The wrapper sends it otherwise, once the handler is done.
struct EarlyAck<A: Adapter> {
    sender: Arc<std::sync::Mutex<Option<AckSender<A>>>>,
    received: std::time::Instant,
}

impl<A: Adapter> Clone for EarlyAck<A> {
    fn clone(&self) -> Self {
        Self {
            sender: Arc::clone(&self.sender),
            received: self.received,
        }
    }
}

impl<A: Adapter> EarlyAck<A> {
    fn take(&self) -> Option<AckSender<A>> {
        self.sender
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    /// Acknowledges `{ok: true, ...result}` now; later answers are not sent.
    fn ok<R: Serialize>(&self, event: &str, result: &R) {
        self.answer(event, &OkAck { ok: true, result });
    }

    /// Sends `answer` as the acknowledgement, unless one went out already.
    fn answer<R: Serialize>(&self, event: &str, answer: &R) {
        let Some(ack) = self.take() else { return };
        if event == events::MESSAGE_SEND {
            crate::metrics::HOT
                .acked
                .observe(crate::metrics::seconds(self.received.elapsed()));
        }
        if let Err(err) = ack.send(answer) {
            tracing::debug!(error = %err, "ack not sent");
        }
    }
}

/// Registers `event`: decode the payload as `T`, run `handle`, acknowledge with
/// `{ok: true, ...result}` or `{ok: false, error}`. Every event gets exactly one answer, even
/// a malformed or oversized one.
fn on_event<A, T, R, F, Fut>(
    socket: &SocketRef<A>,
    event: &'static str,
    chat: &Weak<Chat>,
    user: &UserId,
    handle: F,
) where
    A: Adapter,
    T: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    F: Fn(Context<A>, T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<R, Error>> + Send + 'static,
{
    let (chat, user) = (chat.clone(), user.clone());
    socket.on(
        event,
        move |socket: SocketRef<A>, TryData(data): TryData<Value>, ack: AckSender<A>| {
            let (chat, user, handle) = (chat.clone(), user.clone(), handle.clone());
            let span =
                tracing::info_span!("socket_event", sid = %socket.id, user_id = %user, event);
            async move {
                let early = EarlyAck {
                    sender: Arc::new(std::sync::Mutex::new(Some(ack))),
                    received: std::time::Instant::now(),
                };
                let outcome = match (chat.upgrade(), decode::<T>(data)) {
                    (None, _) => Err(Error::Unavailable("server")),
                    (_, Err(err)) => Err(err),
                    (Some(chat), Ok(request)) => {
                        let cx = Context {
                            chat,
                            user,
                            socket,
                            ack: early.clone(),
                        };
                        let handled = handle(cx, request);
                        tokio::time::timeout(EVENT_DEADLINE, handled)
                            .await
                            .unwrap_or(Err(Error::Unavailable("the server (it took too long)")))
                    }
                };
                let label = match &outcome {
                    Ok(_) => "ok",
                    Err(err) => err.code().as_str(),
                };
                crate::metrics::METRICS
                    .socket_events
                    .with_label_values(&[event, label])
                    .inc();
                match outcome {
                    Ok(result) => early.ok(event, &result),
                    Err(err) => {
                        tracing::info!(code = ?err.code(), "event refused");
                        early.answer(event, &err.ack());
                    }
                }
            }
            .instrument(span)
        },
    );
}

pub(crate) fn decode<T: DeserializeOwned>(
    data: Result<Value, impl std::fmt::Display>,
) -> Result<T, Error> {
    let value = data.map_err(|err| Error::BadRequest(format!("unreadable payload: {err}")))?;
    if json_size(&value) > MAX_EVENT_BYTES {
        return Err(Error::PayloadTooLarge(format!(
            "an event payload may be at most {MAX_EVENT_BYTES} bytes"
        )));
    }
    serde_json::from_value(value)
        .map_err(|err| Error::BadRequest(format!("invalid payload: {err}")))
}

/// The length of `value` as JSON, counted as it is written out, without keeping it.
fn json_size(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

/// `{"ok": true}` with the result's fields, serialised straight into the ack (the result
/// is a struct, or `()` for none).
#[derive(Serialize)]
struct OkAck<'a, R> {
    ok: bool,
    #[serde(flatten)]
    result: &'a R,
}

/// The answer to `message:send`: the message as stored.
#[derive(Serialize)]
struct SentAck<'a> {
    message: &'a protocol::Message,
}

/// `focus`: the device says which room it is looking at, so notifications for that room
/// skip it.
async fn focus<A: Adapter>(cx: Context<A>, focus: FocusRequest) -> Result<(), Error> {
    if let Some(room) = &focus.room_id {
        cx.chat.membership(&cx.user, room).await?;
    }
    if let Some(Focus(Some(previous))) = cx.socket.extensions.get::<Focus>() {
        cx.socket.leave(focus_room(&previous));
    }
    if let Some(room) = &focus.room_id {
        cx.socket.join(focus_room(room));
    }
    cx.socket.extensions.insert(Focus(focus.room_id));
    Ok(())
}

fn on_disconnect<A: Adapter>(socket: &SocketRef<A>, chat: &Weak<Chat>, user: &UserId) {
    let (chat, user) = (chat.clone(), user.clone());
    socket.on_disconnect(move |socket: SocketRef<A>| {
        let (chat, user) = (chat.clone(), user.clone());
        async move {
            tracing::info!(sid = %socket.id, user_id = %user, "socket disconnected");
            crate::metrics::METRICS.sockets.dec();
            if let Some(chat) = chat.upgrade()
                && let Err(err) = chat
                    .device_disconnected(&user, &socket.id.to_string())
                    .await
            {
                tracing::warn!(error = %err, "presence not updated");
            }
        }
    });
}

/// Gives a Socket.IO request headers and a URI of its own. hyper's header values and URI
/// are slices of the connection's read buffer (16 KiB once a handshake has passed through
/// it), and socketioxide keeps the handshake's request parts for the socket's life: every
/// idle socket held its whole buffer, half of the memory it cost (by heaptrack). Copied,
/// the buffer goes once the WebSocket takes over the connection.
pub async fn own_handshake_parts(mut request: axum::extract::Request) -> axum::extract::Request {
    if request.uri().path().starts_with("/socket.io/") {
        let headers: axum::http::HeaderMap = request
            .headers()
            .iter()
            .map(|(name, value)| {
                let owned = axum::http::HeaderValue::from_bytes(value.as_bytes())
                    .unwrap_or_else(|_| value.clone());
                (name.clone(), owned)
            })
            .collect();
        *request.headers_mut() = headers;
        if let Ok(uri) = axum::http::Uri::try_from(request.uri().to_string()) {
            // The router keeps the original URI in the extensions too.
            if request
                .extensions()
                .get::<axum::extract::OriginalUri>()
                .is_some()
            {
                request
                    .extensions_mut()
                    .insert(axum::extract::OriginalUri(uri.clone()));
            }
            *request.uri_mut() = uri;
        }
    }
    request
}

/// How often a node tells presence which connections are still alive: well inside the
/// expiry of a shared presence store (`redis_adapters::presence::CONNECTION_TTL`).
const HEARTBEAT: Duration = Duration::from_secs(20);

/// Refreshes this node's live connections in the presence store until the chat is gone.
pub async fn heartbeat<A: Adapter>(io: SocketIo<A>, chat: Weak<Chat>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tick.tick().await;
        let Some(chat) = chat.upgrade() else { return };
        let live: Vec<(UserId, String)> = io
            .sockets()
            .into_iter()
            .filter_map(|socket| {
                let SocketUser(user) = socket.extensions.get::<SocketUser>()?;
                Some((user, socket.id.to_string()))
            })
            .collect();
        if let Err(err) = chat.ports().presence.heartbeat(&live).await {
            tracing::warn!(error = %err, "presence heartbeat failed");
        }
    }
}
