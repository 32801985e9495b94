//! The MongoDB store: every store port on one replica set, for deployments with more than one
//! node (the embedded SQLite store lives in one process).
//!
//! The client writes with majority write concern and retryable writes, so an acknowledged
//! write survives the loss of the primary: that is "durable before the ack" on a replica set.
//! Each uniqueness rule of the ports is a unique index, enforced by the server even under
//! concurrent writers; the two writes that span documents (a room with its members, a message
//! with its room's `last_seq`) are multi-document transactions.
//!
//! - `accounts`: users (unique username) and sessions (keyed by token hash, TTL on expiry).
//! - `rooms`: rooms (unique sparse `direct_key`) and members (unique `(room_id, user_id)`).
//! - `invites`: invites keyed by code hash, redeemed by one conditional update.
//! - `messages`: messages (unique `(room_id, seq)` and `(sender_id, client_id)`) and the
//!   sequencing argument.
//! - `media`: media records, each claimed by a room with one conditional update.

mod accounts;
mod invites;
mod media;
mod messages;
mod rooms;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mongodb::bson::{Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions, WriteConcern};
use mongodb::{Client, Collection, Database, IndexModel};
use protocol::RoomId;

use crate::ports::{Conflict, PortError, PortResult};

/// How long an operation waits for a reachable server before the store reports itself
/// unavailable, unless the URL says otherwise: long enough to ride out an election, short
/// enough that `/readyz` answers while the database is down.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// MongoDB's code for a write refused by a unique index.
const DUPLICATE_KEY: i32 = 11000;

/// The MongoDB implementation of every store port.
#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    db: Database,
    /// Per room, the turn of this node's `append`s (see `messages`).
    room_locks: Arc<RoomLocks>,
}

type RoomLocks = std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;

impl MongoStore {
    /// The append lock of `room`. Locks nobody holds or waits for are dropped as the map
    /// grows, so it stays as large as the rooms being written to.
    fn room_lock(&self, room: &RoomId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.room_locks.lock().unwrap_or_else(|p| p.into_inner());
        if locks.len() >= 1024 {
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        Arc::clone(locks.entry(room.0.clone()).or_default())
    }
}

impl MongoStore {
    /// Connects to the deployment at `url`, uses `database` in it, and creates the indexes
    /// (creating an index that exists is a no-op, so every node may do it at start), and
    /// migrates what older versions stored (each migration may run again).
    pub async fn connect(url: &str, database: &str) -> anyhow::Result<Self> {
        let mut options = ClientOptions::parse(url)
            .await
            .context("invalid MongoDB URL")?;
        options.app_name.get_or_insert_with(|| "confab".to_owned());
        options.write_concern = Some(WriteConcern::majority());
        options.retry_writes = Some(true);
        options
            .server_selection_timeout
            .get_or_insert(SERVER_SELECTION_TIMEOUT);
        let client = Client::with_options(options).context("cannot build the MongoDB client")?;
        let store = Self {
            db: client.database(database),
            client,
            room_locks: Arc::default(),
        };
        // A node (re)started while MongoDB is down or overloaded waits for it rather than
        // exiting: it serves as soon as the database is prepared. A migration reads a whole
        // collection once, so it has far longer than the indexes before an attempt counts as
        // stalled.
        until_done(
            "create the MongoDB indexes",
            Duration::from_secs(30),
            || store.create_indexes(),
        )
        .await;
        until_done("migrate stored messages", Duration::from_secs(600), || {
            messages::migrate_media_copies(&store)
        })
        .await;
        Ok(store)
    }

    /// Every query of this module is a lookup in one of these indexes (or `_id`).
    async fn create_indexes(&self) -> mongodb::error::Result<()> {
        let unique = || IndexOptions::builder().unique(true).build();
        let plain = |keys: Document| IndexModel::builder().keys(keys).build();
        let with = |keys: Document, options: IndexOptions| {
            IndexModel::builder().keys(keys).options(options).build()
        };
        let users = [
            with(doc! { "username": 1 }, unique()),
            plain(doc! { "display_lower": 1 }),
        ];
        let sessions = [
            plain(doc! { "user_id": 1 }),
            // The server deletes expired sessions in the background; reads still check
            // `expires_at`, because the TTL monitor runs only about once a minute.
            with(
                doc! { "expires_at": 1 },
                IndexOptions::builder().expire_after(Duration::ZERO).build(),
            ),
        ];
        let rooms = [with(
            doc! { "direct_key": 1 },
            // Sparse: groups have no `direct_key` and must not collide on its absence.
            IndexOptions::builder().unique(true).sparse(true).build(),
        )];
        let members = [
            with(doc! { "room_id": 1, "user_id": 1 }, unique()),
            plain(doc! { "user_id": 1 }),
        ];
        let messages = [
            with(doc! { "room_id": 1, "seq": 1 }, unique()),
            with(doc! { "sender_id": 1, "client_id": 1 }, unique()),
            // Search: every word of a live body or caption (multikey).
            plain(doc! { "words": 1 }),
            // A deleted message's edits, whose text goes with it.
            with(
                doc! { "relates_to": 1 },
                IndexOptions::builder().sparse(true).build(),
            ),
            // The outbox: only messages whose event the bus does not have yet.
            with(
                doc! { "pending_event": 1, "created_at": 1 },
                IndexOptions::builder().sparse(true).build(),
            ),
        ];
        // The orphan collector's query (unused media, oldest first), and an account
        // deletion's (its unused media).
        let media = [
            plain(doc! { "room_id": 1, "created_at": 1 }),
            plain(doc! { "uploader": 1, "room_id": 1 }),
        ];
        // Who someone blocked (`_id` is blocker and blocked: the other lookup).
        let blocks = [plain(doc! { "blocker": 1, "created_at": -1 })];
        let push_subscriptions = [
            with(doc! { "address": 1 }, unique()),
            plain(doc! { "user_id": 1 }),
            plain(doc! { "session": 1 }),
        ];
        let collections: [(&str, &[IndexModel]); 8] = [
            ("users", &users),
            ("sessions", &sessions),
            ("rooms", &rooms),
            ("members", &members),
            ("messages", &messages),
            ("media", &media),
            ("blocks", &blocks),
            ("push_subscriptions", &push_subscriptions),
        ];
        for (name, indexes) in collections {
            self.db
                .collection::<Document>(name)
                .create_indexes(indexes.to_vec())
                .await?;
        }
        Ok(())
    }

    fn collection<T: Send + Sync>(&self, name: &str) -> Collection<T> {
        self.db.collection(name)
    }
}

/// Runs `step` until it succeeds, each attempt within `deadline`, waiting longer between
/// attempts (up to 10 s).
async fn until_done<F, Fut>(what: &str, deadline: Duration, step: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = mongodb::error::Result<()>>,
{
    let mut pause = Duration::from_millis(500);
    loop {
        let why = match tokio::time::timeout(deadline, step()).await {
            Ok(Ok(())) => return,
            Ok(Err(err)) => err.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        tracing::warn!(error = %why, retry_in = ?pause, "cannot {what} yet");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

#[async_trait::async_trait]
impl crate::ports::HealthCheck for MongoStore {
    async fn check(&self) -> PortResult<()> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(drop)
            .map_err(store_error)
    }
}

/// Whether a unique index refused the write.
fn is_duplicate_key(err: &mongodb::error::Error) -> bool {
    match err.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(e) => e
            .write_errors
            .iter()
            .flatten()
            .any(|e| e.code == DUPLICATE_KEY),
        _ => false,
    }
}

/// Whether the deployment could not be reached (rather than refusing the operation).
fn is_unreachable(err: &mongodb::error::Error) -> bool {
    matches!(
        err.kind.as_ref(),
        ErrorKind::Io(_)
            | ErrorKind::ServerSelection { .. }
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::DnsResolve { .. }
    )
}

/// The port's view of a driver error: a refused duplicate is a `Conflict`, an unreachable
/// server is `Unavailable` (the caller may retry), anything else is unexpected.
fn store_error(err: mongodb::error::Error) -> PortError {
    if is_duplicate_key(&err) {
        PortError::Conflict(Conflict::Duplicate)
    } else if is_unreachable(&err) {
        PortError::Unavailable("mongodb")
    } else {
        PortError::Other(err.into())
    }
}

/// Sequence numbers and counters are stored as BSON int64, MongoDB's widest integer.
/// Sets `avatar_url` of document `id` (a user or a room), answering the value before: one
/// atomic find-and-modify, so two changes at once each free the picture they replaced.
async fn replace_avatar(
    collection: &Collection<Document>,
    id: &str,
    avatar: Option<&str>,
) -> PortResult<Option<String>> {
    let before = collection
        .find_one_and_update(
            doc! { "_id": id },
            doc! { "$set": { "avatar_url": avatar } },
        )
        .projection(doc! { "avatar_url": 1 })
        .return_document(mongodb::options::ReturnDocument::Before)
        .await
        .map_err(store_error)?;
    Ok(before.and_then(|doc| doc.get_str("avatar_url").ok().map(str::to_owned)))
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::HealthCheck;

    /// Nothing listens on port 1, so the driver cannot select a server.
    #[tokio::test]
    async fn an_unreachable_server_is_reported_unavailable() {
        let mut options = ClientOptions::parse("mongodb://127.0.0.1:1/?directConnection=true")
            .await
            .expect("parse the URL");
        options.server_selection_timeout = Some(Duration::from_millis(200));
        let client = Client::with_options(options).expect("build the client");
        let store = MongoStore {
            db: client.database("confab_unreachable"),
            client,
            room_locks: Arc::default(),
        };

        let checked = store.check().await;

        assert!(
            matches!(checked, Err(PortError::Unavailable("mongodb"))),
            "expected Unavailable, got {checked:?}"
        );
    }
}
