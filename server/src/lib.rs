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
//! - [`ports`]: the traits the rules depend on, the fan-out to devices among them.
//! - [`adapters`]: their implementations: `embedded` (in-process, the defaults), and on the
//!   real services `mongo` (the stores), `redis` (presence, rate limits, the cache), `kafka`
//!   (the event bus), `s3` (media bytes), `push` (Web Push and Expo).
//! - [`http`], [`realtime`]: the edges.
//! - [`session_cookie`]: the web app's session cookie, which both edges read.
//! - [`secrets`]: tokens, keys and their hashes; [`passwords`]: password hashing on a
//!   bounded pool.
//! - [`error`]: the one error type of the edges.
//! - [`telemetry`]: logging and the shutdown signal.

// Pages are rendered with Leptos's view types erased, as the browser's WASM hydrates them
// (see .cargo/config.toml): a server built otherwise serves pages the app cannot take over.
// (cargo-fuzz's builds set their own flags, and render no page.)
#[cfg(not(any(erase_components, fuzzing)))]
compile_error!(
    "build with `--cfg erase_components`: .cargo/config.toml sets it, and a RUSTFLAGS of \
     your own replaces that list (add the flag to it)"
);

pub mod adapters;
pub mod chat;
pub mod config;
pub mod domain;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod metrics;
pub mod passwords;
pub mod ports;
pub mod realtime;
pub mod secrets;
pub mod session_cookie;
mod site;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::layer::SocketIoLayer;
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};

use crate::adapters::{embedded, push, redis};
#[cfg(feature = "services")]
use crate::adapters::{kafka, mongo, s3};
use crate::chat::{Chat, Ports, Settings};
use crate::config::Config;
use crate::http::AppState;
use crate::ports::{
    AccountStore, HealthChecks, InviteStore, MediaRecordStore, MediaStorage, MessageStore,
    PushGateway, RoomStore,
};
use crate::realtime::fanout::SocketFanout;
use crate::realtime::handshake::OriginPolicy;

/// How long start-up waits for S3 before it serves without it (and keeps trying).
#[cfg(feature = "services")]
const S3_FIRST_TRY: Duration = Duration::from_secs(5);

/// How long start-up waits for Kafka before it serves without it (and keeps trying).
#[cfg(feature = "services")]
const KAFKA_FIRST_TRY: Duration = Duration::from_secs(5);

/// How long start-up waits for the store to answer the VAPID key before it serves without
/// (and keeps asking).
const VAPID_FIRST_TRY: Duration = Duration::from_secs(5);

/// How long a shutdown waits for sends in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The ports on the services `config` names, embedded where it names none.
pub async fn build_ports(config: &Config) -> anyhow::Result<(Ports, HealthChecks)> {
    let services = &config.services;
    let mut checks: HealthChecks = Vec::new();
    let push = Arc::new(push::HttpPushGateway::new(&config.push)?);
    let media: Arc<dyn MediaStorage> = match &services.s3 {
        #[cfg(not(feature = "services"))]
        Some(_) => return Err(without_adapter("S3_ENDPOINT")),
        #[cfg(feature = "services")]
        Some(s3) => {
            let storage = Arc::new(s3::S3MediaStorage::new(s3));
            let mut origins = vec![config.public_origin().to_owned()];
            origins.extend(config.allowed_origins.iter().cloned());
            // With S3 down only media fails: the node serves anyway, and readies the bucket
            // (and its CORS rules) as soon as the service answers.
            let first = tokio::time::timeout(S3_FIRST_TRY, storage.ensure_bucket(&s3.region));
            if matches!(first.await, Ok(Ok(()))) {
                storage.allow_browser_origins(&origins).await;
            } else {
                let (ready, region) = (Arc::clone(&storage), s3.region.clone());
                tokio::spawn(async move {
                    until_up("s3", || ready.ensure_bucket(&region)).await;
                    ready.allow_browser_origins(&origins).await;
                });
            }
            checks.push(("s3", storage.clone()));
            storage
        }
        None => {
            let key = secrets::load_or_create_key(&config.data_dir.join("media.key"))?;
            let storage = Arc::new(embedded::FsMediaStorage::new(
                &config.data_dir,
                &config.public_url,
                key,
            )?);
            checks.push(("media", storage.clone()));
            storage
        }
    };
    let mut ports = match &services.mongodb_url {
        #[cfg(not(feature = "services"))]
        Some(_) => return Err(without_adapter("MONGODB_URL")),
        #[cfg(feature = "services")]
        Some(url) => {
            let store = Arc::new(
                mongo::MongoStore::connect(url.expose(), &services.mongodb_database).await?,
            );
            checks.push(("mongodb", store.clone()));
            stores(store, media, push.clone())
        }
        None => {
            let store = Arc::new(embedded::SqliteStore::open(&config.data_dir)?);
            checks.push(("store", store.clone()));
            stores(store, media, push.clone())
        }
    };
    if let Some(url) = &services.redis_url {
        let redis = until_up("redis", || redis::Redis::connect(url.expose())).await;
        ports.presence = Arc::new(redis::RedisPresence::new(redis.clone()));
        ports.limiter = Arc::new(ports::limiter::WithLocalFallback::new(
            redis::RedisLimiter::new(redis.clone()),
            embedded::LocalLimiter::new(),
        ));
        ports.cache = Arc::new(redis::RedisCache::new(redis.clone()));
        checks.push(("redis", Arc::new(redis)));
    }
    #[cfg(not(feature = "services"))]
    if services.kafka_brokers.is_some() {
        return Err(without_adapter("KAFKA_BROKERS"));
    }
    #[cfg(feature = "services")]
    if let Some(brokers) = &services.kafka_brokers {
        // With Kafka down sends still work (events wait in the producer): the node serves
        // anyway, and creates the topic as soon as the broker answers.
        let bus = Arc::new(kafka::KafkaBus::new(brokers, &services.kafka_namespace)?);
        let first = tokio::time::timeout(KAFKA_FIRST_TRY, bus.ensure_topic());
        if !matches!(first.await, Ok(Ok(()))) {
            let topic = Arc::clone(&bus);
            tokio::spawn(async move { until_up("kafka", || topic.ensure_topic()).await });
        }
        ports.bus = bus.clone();
        checks.push(("kafka", bus));
    }
    // A key given in the environment is checked now; one kept in the store is read (or
    // made) as soon as the store answers, and Web Push waits for it meanwhile.
    let subject = (config.push.vapid_subject.clone()).unwrap_or_else(|| config.public_url.clone());
    if let Some(secret) = &config.push.vapid_private_key {
        push.set_vapid(push::Vapid::new(secret, &subject).context("CONFAB_VAPID_PRIVATE_KEY")?);
    } else {
        let accounts = Arc::clone(&ports.accounts);
        let load = move || {
            let (accounts, subject) = (Arc::clone(&accounts), subject.clone());
            async move {
                let candidate = push::Vapid::generate_secret();
                let secret = accounts
                    .keep_server_secret(VAPID_SECRET, &candidate)
                    .await?;
                push::Vapid::new(&secret, &subject)
            }
        };
        match tokio::time::timeout(VAPID_FIRST_TRY, load()).await {
            Ok(Ok(vapid)) => push.set_vapid(vapid),
            _ => {
                let push = Arc::clone(&push);
                tokio::spawn(async move { push.set_vapid(until_up("vapid key", load).await) });
            }
        }
    }
    Ok((ports, checks))
}

/// The name the VAPID private key is kept under in the store.
const VAPID_SECRET: &str = "vapid_private_key";

/// The refusal to start of a build without the `services` feature that is pointed at one.
#[cfg(not(feature = "services"))]
fn without_adapter(variable: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{variable} is set, but this build of Confab has no adapters to the real services \
         (it was built without the `services` feature)"
    )
}

/// Serves Confab on an already bound `listener` until `shutdown` resolves, then stops
/// accepting, lets sends in progress finish, closes every socket and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (ports, health_checks) = build_ports(&config).await?;
    let limits = &config.limits;
    let builder = SocketIo::builder()
        .max_payload(limits.max_socket_payload)
        .ws_max_message_size(limits.max_socket_payload as usize)
        .ws_max_frame_size(limits.max_socket_payload as usize)
        // Small per-socket buffers keep 10k idle sockets cheap; larger messages still
        // arrive, in more reads.
        .ws_read_buffer_size(1024)
        // Packets waiting for a slow socket before further ones are dropped (a dropped
        // message the client heals with `sync`, a dropped ack with its retry). A burst in a
        // busy room is hundreds of packets; the queue allocates as it fills, so a large
        // bound costs an idle socket nothing.
        .max_buffer_size(4096)
        // A refused handshake leaves the transport open until this runs out.
        .connect_timeout(Duration::from_secs(10));
    let origins = OriginPolicy::new(config.public_origin(), &config.allowed_origins);
    match &config.services.redis_url {
        Some(url) => {
            let client = ::redis::Client::open(resp3(url.expose()))?;
            let driver = until_up("redis", || async {
                let driver = redis::fanout_driver::ReconnectingDriver::connect(client.clone());
                Ok(driver.await?)
            })
            .await;
            let adapter = RedisAdapterCtr::new_with_driver(driver, RedisAdapterConfig::default());
            let (layer, io) = builder
                .with_adapter::<FanoutAdapter<_>>(adapter)
                .build_layer();
            let chat = new_chat(&config, ports, &io);
            realtime::attach(&io, &chat, origins).await?;
            serve(listener, config, shutdown, chat, health_checks, io, layer).await
        }
        None => {
            let (layer, io) = builder.build_layer();
            let chat = new_chat(&config, ports, &io);
            realtime::attach(&io, &chat, origins);
            serve(listener, config, shutdown, chat, health_checks, io, layer).await
        }
    }
}

/// Runs `connect` until it succeeds. A node started (or restarted) while one of its services
/// is down waits for it, saying so in the log, instead of exiting: a supervisor restarting
/// it in a loop would only add load to a service that is already struggling.
async fn until_up<T, F, Fut>(service: &'static str, mut connect: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let mut pause = Duration::from_millis(500);
    loop {
        match connect().await {
            Ok(connected) => return connected,
            Err(err) => {
                tracing::warn!(service, error = format!("{err:#}"), retry_in = ?pause, "service not reachable yet");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Ports on one store implementing every store trait; in-process everything else.
fn stores<S>(store: Arc<S>, media: Arc<dyn MediaStorage>, push: Arc<dyn PushGateway>) -> Ports
where
    S: AccountStore + RoomStore + InviteStore + MessageStore + MediaRecordStore + 'static,
{
    Ports {
        media,
        media_records: store.clone(),
        accounts: store.clone(),
        rooms: Arc::new(metrics::Timed(store.clone())),
        invites: store.clone(),
        messages: Arc::new(metrics::Timed(store)),
        bus: Arc::new(embedded::LocalBus::new()),
        presence: Arc::new(embedded::LocalPresence::new()),
        limiter: Arc::new(embedded::LocalLimiter::new()),
        cache: Arc::new(embedded::LocalCache::new()),
        push,
    }
}

/// socketioxide's Redis adapter over the reconnecting driver.
type FanoutAdapter<E> = CustomRedisAdapter<E, redis::fanout_driver::ReconnectingDriver>;

/// socketioxide's Redis adapter needs RESP3 (push messages on a shared connection).
fn resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

fn new_chat<A: Adapter>(config: &Config, ports: Ports, io: &SocketIo<A>) -> Arc<Chat> {
    let settings = Settings {
        limits: config.limits.clone(),
        public_url: config.public_url.clone(),
        push_allow_local: config.push.allow_local,
    };
    Arc::new(Chat::new(
        ports,
        Arc::new(SocketFanout::new(io.clone())),
        settings,
    ))
}

async fn serve<A: Adapter>(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    chat: Arc<Chat>,
    health_checks: HealthChecks,
    io: SocketIo<A>,
    socket_layer: SocketIoLayer<A>,
) -> anyhow::Result<()> {
    let notifier = {
        let subscription = chat.ports().bus.subscribe(chat::notify::GROUP).await?;
        tokio::spawn(chat::notify::run(Arc::clone(&chat), subscription))
    };
    let counter = {
        let subscription = chat.ports().bus.subscribe(chat::unread::GROUP).await?;
        tokio::spawn(chat::unread::run(Arc::clone(&chat), subscription))
    };
    let outbox = chat.outbox_drain().map(tokio::spawn);
    // Live delivery across nodes (Redis pub/sub) can miss a broadcast; one node alone
    // cannot, so only a node of a cluster announces stream positions.
    let positions = match &config.services.redis_url {
        Some(_) => {
            let watch = chat.ports().bus.watch().await?;
            let chat = Arc::downgrade(&chat);
            Some(tokio::spawn(chat::positions::run(
                chat,
                watch,
                chat::positions::EVERY,
            )))
        }
        None => None,
    };
    let heartbeat = tokio::spawn(realtime::heartbeat(io.clone(), Arc::downgrade(&chat)));
    let sweeper = {
        let chat = Arc::clone(&chat);
        let every = config.limits.media_sweep_every;
        tokio::spawn(async move { chat.sweep_unused_media(every).await })
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
        .layer(
            tower_http::compression::CompressionLayer::new().compress_when(
                // Images are skipped by default; recorded audio is already compressed too.
                DefaultPredicate::new().and(NotForContentType::const_new("audio/")),
            ),
        )
        .layer(socket_layer)
        .layer(axum::middleware::map_request(realtime::own_handshake_parts));
    let app = telemetry::http_layers(app);

    let stop_accepting = CancellationToken::new();
    let closer = {
        let (stop, chat, io, draining) = (
            stop_accepting.clone(),
            Arc::clone(&chat),
            io.clone(),
            Arc::clone(&state.draining),
        );
        // The heartbeat lists the namespace's sockets, which panics once it is closed.
        let heartbeat = heartbeat.abort_handle();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            draining.store(true, Ordering::Relaxed);
            stop.cancel();
            chat.drain(SHUTDOWN_GRACE).await;
            heartbeat.abort();
            io.close().await;
        })
    };
    let metrics = match config.metrics_addr {
        Some(addr) => {
            let listener = TcpListener::bind(addr).await?;
            tracing::info!(addr = %listener.local_addr()?, "metrics are served");
            let routes = axum::Router::new().route("/metrics", axum::routing::get(metrics::scrape));
            Some(tokio::spawn(async move {
                if let Err(err) = axum::serve(listener, routes).await {
                    tracing::warn!(error = %err, "the metrics listener stopped");
                }
            }))
        }
        None => None,
    };
    tracing::info!(addr = %listener.local_addr()?, "confab is serving");
    // Without TCP_NODELAY a small frame written while an earlier one awaits its ACK sits in
    // Nagle's buffer until the peer's delayed ACK (40 ms on Linux): a chat's traffic is
    // exactly such small frames.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, "TCP_NODELAY not set");
        }
    });
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
    counter.abort();
    heartbeat.abort();
    sweeper.abort();
    for task in [outbox, positions, metrics].into_iter().flatten() {
        task.abort();
    }
    drop(state);
    served.map_err(Into::into)
}
