//! Confab's server.
//!
//! A message comes in through [`http`] (REST) or [`realtime`] (Socket.IO), is checked and
//! sequenced by [`chat`], made durable through the store port of [`ports`], and fanned out to
//! every member's devices through the chat core's `Fanout` port (Socket.IO rooms). Stored
//! messages then flow over the event bus to asynchronous work (`chat::notify`).
//!
//! - [`config`]: the typed configuration, read once from the environment.
//! - [`domain`]: validated values (usernames, message bodies, client ids, …).
//! - [`chat`]: the business rules.
//! - [`ports`]: the traits the rules depend on; [`embedded`]: their in-process adapters.
//! - [`mongo`]: the store ports on MongoDB, for more than one node.
//! - [`http`], [`realtime`]: the edges.
//! - [`secrets`]: tokens and password hashing.
//! - [`error`]: the one error type of the edges.
//! - [`telemetry`]: logging and the shutdown signal.

pub mod chat;
pub mod config;
pub mod domain;
pub mod embedded;
pub mod error;
pub mod http;
pub mod mongo;
pub mod ports;
pub mod realtime;
pub mod secrets;
mod site;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socketioxide::SocketIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::chat::{Chat, Ports, Settings};
use crate::config::Config;
use crate::http::AppState;
use crate::ports::{HealthCheck, HealthChecks};
use crate::realtime::fanout::SocketFanout;
use crate::realtime::handshake::OriginPolicy;

/// How long a shutdown waits for sends in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The embedded adapters, persisted in `config.data_dir`.
pub fn embedded_ports(config: &Config) -> anyhow::Result<(Ports, HealthChecks)> {
    let store = Arc::new(embedded::SqliteStore::open(&config.data_dir)?);
    let ports = Ports {
        accounts: store.clone(),
        rooms: store.clone(),
        invites: store.clone(),
        messages: store.clone(),
        bus: Arc::new(embedded::LocalBus::new()),
        presence: Arc::new(embedded::LocalPresence::new()),
        limiter: Arc::new(embedded::LocalLimiter::new()),
    };
    Ok((ports, vec![("store", store as Arc<dyn HealthCheck>)]))
}

/// Serves Confab on an already bound `listener` until `shutdown` resolves, then stops
/// accepting, lets sends in progress finish, closes every socket and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (ports, health_checks) = embedded_ports(&config)?;
    let limits = &config.limits;
    let (socket_layer, io) = SocketIo::builder()
        .max_payload(limits.max_socket_payload)
        .ws_max_message_size(limits.max_socket_payload as usize)
        .ws_max_frame_size(limits.max_socket_payload as usize)
        // Small per-socket buffers keep 10k idle sockets cheap; larger messages still
        // arrive, in more reads.
        .ws_read_buffer_size(1024)
        .max_buffer_size(256)
        // A refused handshake leaves the transport open until this runs out.
        .connect_timeout(Duration::from_secs(10))
        .build_layer();
    let settings = Settings {
        limits: config.limits.clone(),
        public_url: config.public_url.clone(),
    };
    let chat = Arc::new(Chat::new(
        ports,
        Arc::new(SocketFanout::new(io.clone())),
        settings,
    ));
    realtime::attach(
        &io,
        &chat,
        OriginPolicy::new(config.public_origin(), &config.allowed_origins),
    );

    let notifier = {
        let subscription = chat.ports().bus.subscribe(chat::notify::GROUP).await?;
        tokio::spawn(chat::notify::run(Arc::clone(&chat), subscription))
    };

    let config = Arc::new(config);
    let state = AppState {
        chat: Arc::clone(&chat),
        config: Arc::clone(&config),
        draining: Arc::new(AtomicBool::new(false)),
        health_checks: Arc::new(health_checks),
    };
    let app = http::router(state.clone())
        .merge(site::router(&config))
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(socket_layer);
    let app = telemetry::http_layers(app);

    let stop_accepting = CancellationToken::new();
    let closer = {
        let (stop, chat, io, draining) = (
            stop_accepting.clone(),
            Arc::clone(&chat),
            io.clone(),
            Arc::clone(&state.draining),
        );
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            draining.store(true, Ordering::Relaxed);
            stop.cancel();
            chat.drain(SHUTDOWN_GRACE).await;
            io.close().await;
        })
    };
    tracing::info!(addr = %listener.local_addr()?, "confab is serving");
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop_accepting.cancelled_owned())
    .await;
    if served.is_ok() {
        let _ = closer.await;
    } else {
        closer.abort();
    }
    notifier.abort();
    drop(state);
    served.map_err(Into::into)
}
