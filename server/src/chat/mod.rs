//! The chat core: every business rule of Confab, independent of HTTP, Socket.IO and storage.
//!
//! - [`accounts`]: registration, sign-in, sessions, user search.
//! - [`rooms`]: groups and direct rooms, membership and its authorisation, room views.
//! - `avatars`: pictures of people and groups, cut from an uploaded image.
//! - [`messages`]: sending (sequencing, idempotency), history, sync, receipts.
//! - `delivery`: hands a room's stored messages to live delivery in `seq` order.
//! - [`media`]: photo and voice uploads: checked, thumbnailed, shared, collected.
//! - [`invites`]: invite links with expiry and use limits.
//! - [`typing`]: typing indicators that stop by themselves.
//! - [`presence`]: coming online and going offline.
//! - [`push`]: push subscriptions, registered per session, and the pushes sent to them.
//! - [`outbox`]: every stored message's event reaches the bus, however long it is down.
//! - [`notify`]: the bus consumer that turns stored messages into notifications.
//! - [`unread`]: the bus consumer that keeps members' unread counters current.
//! - [`positions`]: every node tells its devices where each busy room's stream ends.
//! - `hot`: hot reads (member lists, newest pages, unread counters) through the cache port.
//!
//! Handlers at the edges translate requests into calls here and results back; they hold no
//! rules of their own.

pub mod accounts;
mod avatars;
mod delivery;
mod hot;
pub mod invites;
pub mod media;
pub mod messages;
pub mod notify;
pub mod outbox;
pub mod positions;
pub mod presence;
pub mod push;
pub mod rooms;
pub mod search;
pub mod typing;
pub mod unread;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OnceCell, Semaphore};
use tokio_util::task::TaskTracker;

pub use crate::ports::Fanout;

use protocol::UserId;

use crate::config::Limits;
use crate::error::{Error, Result};
use crate::passwords::PasswordHashers;
use crate::ports::{
    AccountStore, Cache, EventBus, InviteStore, MediaRecordStore, MediaStorage, MessageStore,
    Presence, PushGateway, RateLimiter, RoomStore,
};

/// Everything the core talks to, as trait objects chosen at start-up.
#[derive(Clone)]
pub struct Ports {
    pub accounts: Arc<dyn AccountStore>,
    pub rooms: Arc<dyn RoomStore>,
    pub invites: Arc<dyn InviteStore>,
    pub messages: Arc<dyn MessageStore>,
    pub bus: Arc<dyn EventBus>,
    pub presence: Arc<dyn Presence>,
    pub limiter: Arc<dyn RateLimiter>,
    pub cache: Arc<dyn Cache>,
    /// Media records: who uploaded what, whether it passed its checks, where it is used.
    pub media_records: Arc<dyn MediaRecordStore>,
    /// Media bytes.
    pub media: Arc<dyn MediaStorage>,
    /// The push services, for devices with no live socket.
    pub push: Arc<dyn PushGateway>,
}

/// The settings the rules depend on.
#[derive(Clone, Debug)]
pub struct Settings {
    pub limits: Limits,
    /// Base of invite links (`{public_url}/invite/{code}`).
    pub public_url: String,
    /// Push endpoints on this machine's networks are taken (`CONFAB_PUSH_ALLOW_LOCAL`).
    pub push_allow_local: bool,
}

/// The chat service: one per node, shared by every request and socket.
pub struct Chat {
    ports: Ports,
    fanout: Arc<dyn Fanout>,
    settings: Settings,
    typing: typing::TypingTimers,
    /// Sends in progress, so a graceful shutdown can let them finish.
    inflight: TaskTracker,
    /// Image checks decoding at once: decoding is CPU- and memory-heavy, and a burst of
    /// uploads must not starve the chat.
    decodes: Semaphore,
    /// This node's stored messages on their way to live delivery, in `seq` order per room.
    delivery: Arc<delivery::DeliveryOrder>,
    /// Password hashing, on a pool of its own (see `crate::passwords`).
    passwords: PasswordHashers,
    /// A hash of no one's password, for sign-ins with an unknown username.
    decoy: OnceCell<String>,
    /// Member lists as this node last read them (see `hot`).
    memo: hot::Memo,
    /// Events the bus confirmed, for the outbox drain to mark.
    confirmations: outbox::Confirmations,
    /// The drain's end of `confirmations`, until it starts.
    confirmed: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<protocol::MessageId>>>,
    /// Pushes to devices with no live socket, on their way.
    pushes: push::Pushes,
}

impl Chat {
    pub fn new(ports: Ports, fanout: Arc<dyn Fanout>, settings: Settings) -> Self {
        let (confirmations, confirmed) = outbox::channel();
        let pushes = push::Pushes::new(Arc::clone(&ports.push), Arc::clone(&ports.accounts));
        Self {
            ports,
            fanout,
            settings,
            typing: typing::TypingTimers::default(),
            inflight: TaskTracker::new(),
            decodes: Semaphore::new(media::DECODES_AT_ONCE),
            delivery: Arc::default(),
            passwords: PasswordHashers::new(),
            decoy: OnceCell::new(),
            memo: hot::Memo::default(),
            confirmations,
            confirmed: std::sync::Mutex::new(Some(confirmed)),
            pushes,
        }
    }

    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    /// Starts the outbox drain (once; later calls return `None`).
    pub fn outbox_drain(self: &Arc<Self>) -> Option<impl std::future::Future<Output = ()> + use<>> {
        let confirmed = self
            .confirmed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()?;
        Some(outbox::run(Arc::clone(self), confirmed))
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Counts one `action` of `user` against `limit` per `send_window`.
    pub(crate) async fn limit(&self, action: &str, user: &UserId, limit: u32) -> Result<()> {
        self.limit_in(action, user, limit, self.settings.limits.send_window)
            .await
    }

    /// Counts one `action` of `user` against `limit` per `window`.
    pub(crate) async fn limit_in(
        &self,
        action: &str,
        user: &UserId,
        limit: u32,
        window: Duration,
    ) -> Result<()> {
        let key = format!("{action}:user:{user}");
        self.rate_limit(action, &key, limit, window).await
    }

    /// The one way every rate limit is applied: counts a hit on `key` against `limit` per
    /// `window` and, past it, answers `rate_limited` with the wait (counted under `action`
    /// in `confab_rate_limited_total`).
    pub(crate) async fn rate_limit(
        &self,
        action: &str,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<()> {
        match self.ports.limiter.hit(key, limit, window).await? {
            Some(wait) => {
                crate::metrics::METRICS
                    .rate_limited
                    .with_label_values(&[action])
                    .inc();
                Err(Error::RateLimited(wait))
            }
            None => Ok(()),
        }
    }

    /// Waits, at most `grace`, for sends in progress to finish; new sends still run (the
    /// listener has stopped accepting, so few will come).
    pub async fn drain(&self, grace: Duration) {
        self.inflight.close();
        if tokio::time::timeout(grace, self.inflight.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.inflight.len(),
                "sends still running at shutdown"
            );
        }
    }
}
