//! The embedded store: SQLite in WAL mode, with a journal for the writes of sends and
//! receipts.
//!
//! Why SQLite: it gives transactions, unique indexes that enforce the API's uniqueness rules
//! (`(room_id, seq)`, `(sender_id, client_id)`, one direct room per pair) at the storage
//! level, indexed range queries for history and prefix search, and decades of hardening
//! against crashes. A write is answered once it survives a power cut, which is what "durable
//! before the ack" means: by a commit followed by `fdatasync`, or for the writes of every
//! send and receipt, by a journal record (`group_commit`, `journal`).
//!
//! Every write runs on one writer thread (`group_commit`), which batches the writes waiting
//! for it into one transaction and one fsync. That is also the sequencing argument: a room's
//! `last_seq` is read and bumped by the one writer, inside its transaction, so two sends can
//! never see the same value. Reads use a second connection on tokio's blocking pool.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use async_trait::async_trait;
use protocol::{MediaId, ReceiptKind, Role, RoomId, Timestamp, User, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ports::store::{
    AccountStore, CheckedMedia, DELETED_USER_NAME, InviteRecord, InviteStore, MediaRecord,
    MediaRecordStore, MemberRecord, NewRoom, PushSubscriptionRecord, PushTarget, RoomRecord,
    RoomStore, SessionRecord, deleted_username,
};

use super::group_commit::Writer;

mod accounts;
mod invites;
mod journaled;
mod media;
mod messages;
mod rooms;
use crate::ports::store::direct_key;
use crate::ports::{Conflict, PortError, PortResult};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    display_lower TEXT NOT NULL,
    avatar_url TEXT,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE INDEX IF NOT EXISTS users_display_lower ON users (display_lower);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER,
    last_seen_at INTEGER,
    user_agent TEXT
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
CREATE TABLE IF NOT EXISTS blocks (
    blocker TEXT NOT NULL,
    blocked TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (blocker, blocked)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blocks_blocked ON blocks (blocked);
CREATE TABLE IF NOT EXISTS push_subscriptions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    session TEXT NOT NULL,
    kind TEXT NOT NULL,
    address TEXT NOT NULL UNIQUE,
    p256dh TEXT,
    auth TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS push_subscriptions_user ON push_subscriptions (user_id);
CREATE INDEX IF NOT EXISTS push_subscriptions_session ON push_subscriptions (session);
CREATE TABLE IF NOT EXISTS server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rooms (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT,
    created_at INTEGER NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0,
    last_activity_at INTEGER NOT NULL,
    direct_key TEXT UNIQUE,
    topic TEXT,
    avatar_url TEXT
);
CREATE TABLE IF NOT EXISTS members (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    joined_at INTEGER NOT NULL,
    last_delivered_seq INTEGER NOT NULL DEFAULT 0,
    last_read_seq INTEGER NOT NULL DEFAULT 0,
    muted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX IF NOT EXISTS members_user ON members (user_id);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT,
    media TEXT,
    reply_to TEXT,
    created_at INTEGER NOT NULL,
    relates_to TEXT,
    edited_at INTEGER,
    deleted_at INTEGER,
    reactions TEXT,
    mentions TEXT,
    search_rowid INTEGER,
    UNIQUE (room_id, seq),
    UNIQUE (sender_id, client_id)
);
CREATE TABLE IF NOT EXISTS outbox (
    message_id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created_at);
CREATE TABLE IF NOT EXISTS media (
    id TEXT PRIMARY KEY,
    uploader TEXT NOT NULL,
    kind TEXT NOT NULL,
    content_type TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    width INTEGER,
    height INTEGER,
    duration_ms INTEGER,
    placeholder TEXT,
    has_thumbnail INTEGER NOT NULL DEFAULT 0,
    ready INTEGER NOT NULL DEFAULT 0,
    room_id TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS media_unused ON media (created_at) WHERE room_id IS NULL;
CREATE INDEX IF NOT EXISTS media_unused_by_uploader ON media (uploader) WHERE room_id IS NULL;
CREATE TABLE IF NOT EXISTS invites (
    code_hash TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    max_uses INTEGER,
    uses INTEGER NOT NULL DEFAULT 0,
    revoked INTEGER NOT NULL DEFAULT 0
);
"#;

/// The embedded implementation of every store port.
#[derive(Clone)]
pub struct SqliteStore {
    /// Reads: a connection of their own, so they never wait behind a batch's fsync (WAL lets
    /// readers and the writer work at once).
    reader: Arc<Mutex<Connection>>,
    /// Writes: one thread, group commit.
    writer: Writer,
}

impl SqliteStore {
    /// Opens (creating if needed) `confab.db` in `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data folder {}", dir.display()))?;
        let path = dir.join("confab.db");
        let conn = Connection::open(&path).context("cannot open the database")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "busy_timeout", 5000)?;
        // Each write runs in a savepoint, whose page images go to a statement journal;
        // SQLite keeps that in memory up to 64 KiB, but once one has spilled to a file it
        // stays a file, and every later write paid a dozen 4 KiB writes to it (by strace).
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        stable_plans(&conn)?;
        conn.execute_batch(SCHEMA)
            .context("cannot create the schema")?;
        migrate_sessions(&conn).context("cannot update the schema")?;
        messages::create_pending_index(&conn)?;
        messages::migrate(&conn).context("cannot update the schema")?;
        messages::migrate_media_copies(&conn).context("cannot update the stored media")?;
        let journal = dir.join("confab.journal");
        let writer = Writer::start(
            conn,
            Some((&journal, journaled::replay)),
            messages::index_pending,
        )?;
        let reader = Connection::open(&path).context("cannot open the database")?;
        reader.pragma_update(None, "busy_timeout", 5000)?;
        reader.pragma_update(None, "query_only", true)?;
        stable_plans(&reader)?;
        Ok(Self {
            reader: Arc::new(Mutex::new(reader)),
            writer,
        })
    }

    /// Runs the read `work` on the blocking pool with the reading connection, once every
    /// write answered so far is visible to it (see `group_commit`).
    async fn call<T, F>(&self, work: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.writer.visible().await?;
        self.read_committed(work).await
    }

    /// Runs the read `work` on what SQLite has committed, which may miss the newest
    /// journaled writes (see `group_commit`).
    async fn read_committed<T, F>(&self, work: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.reader);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut conn)
        })
        .await
        .map_err(|join| PortError::Other(anyhow::anyhow!("store task failed: {join}")))?
        .map_err(|err| PortError::Other(err.into()))
    }

    /// Runs the write `work` in the writer's next batch; answers once it is durable.
    async fn write<T, F>(&self, work: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.writer.write(work).await
    }
}

/// Query plans that never depend on bound values. This SQLite is built with STAT4, which
/// marks a statement to be prepared again whenever a value bound to an indexed column
/// changes: the member list read behind every send's unread counters was parsed and
/// planned afresh on every call (a tenth of the server's instructions, by callgrind).
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(drop)
}

/// Adds the columns later versions gave `table` to a database made before them.
fn add_columns(conn: &Connection, table: &str, wanted: &[(&str, &str)]) -> rusqlite::Result<()> {
    let columns: Vec<String> = conn
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for (column, kind) in wanted {
        if !columns.iter().any(|c| c == column) {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}

/// Sessions gain what the session list shows (empty for old ones), rooms a topic and a
/// picture, members
/// a mute, users the moment their account was deleted.
fn migrate_sessions(conn: &Connection) -> rusqlite::Result<()> {
    add_columns(conn, "users", &[("deleted_at", "INTEGER")])?;
    add_columns(
        conn,
        "sessions",
        &[
            ("created_at", "INTEGER"),
            ("last_seen_at", "INTEGER"),
            ("user_agent", "TEXT"),
        ],
    )?;
    add_columns(conn, "rooms", &[("topic", "TEXT"), ("avatar_url", "TEXT")])?;
    add_columns(conn, "members", &[("muted", "INTEGER NOT NULL DEFAULT 0")])
}

/// Sets `avatar_url` of row `id` of `table` (users or rooms), answering the value before.
/// One writer runs batches one at a time, so nothing comes between the read and the write.
fn replace_avatar(
    conn: &Connection,
    table: &str,
    id: &str,
    avatar: Option<&str>,
) -> rusqlite::Result<Option<String>> {
    let before: Option<String> = conn
        .query_row(
            &format!("SELECT avatar_url FROM {table} WHERE id = ?1"),
            [id],
            |row| row.get(0),
        )
        .optional()?
        .flatten();
    conn.execute(
        &format!("UPDATE {table} SET avatar_url = ?2 WHERE id = ?1"),
        params![id, avatar],
    )?;
    Ok(before)
}

/// Whether an insert happened: false when a unique index refused it; other failures as they
/// are.
fn inserted(result: rusqlite::Result<usize>) -> rusqlite::Result<bool> {
    match result {
        Err(err) if is_unique_violation(&err) => Ok(false),
        other => other.map(|_| true),
    }
}

/// A create that `inserted`, or the `conflict` its unique index stands for.
fn created_or(inserted: bool, conflict: Conflict) -> PortResult<()> {
    if inserted {
        Ok(())
    } else {
        Err(PortError::Conflict(conflict))
    }
}

fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// Enums are stored as their wire names.
fn enum_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

fn enum_from<T: DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

fn seq_from(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn seq_to(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

const USER_COLUMNS: &str = "id, username, display_name, avatar_url, created_at";

fn user_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId(row.get(0)?),
        username: row.get(1)?,
        display_name: row.get(2)?,
        avatar_url: row.get(3)?,
        created_at: Timestamp::from_millis(row.get(4)?),
    })
}

const ROOM_COLUMNS: &str =
    "id, kind, name, created_at, last_seq, last_activity_at, topic, avatar_url";

fn room_row(row: &Row<'_>) -> rusqlite::Result<RoomRecord> {
    Ok(RoomRecord {
        id: RoomId(row.get(0)?),
        kind: enum_from(&row.get::<_, String>(1)?)?,
        name: row.get(2)?,
        created_at: Timestamp::from_millis(row.get(3)?),
        last_seq: seq_from(row.get(4)?),
        last_activity_at: Timestamp::from_millis(row.get(5)?),
        topic: row.get(6)?,
        avatar: row.get(7)?,
    })
}

const MEMBER_COLUMNS: &str =
    "room_id, user_id, role, joined_at, last_delivered_seq, last_read_seq, muted";

fn member_row(row: &Row<'_>) -> rusqlite::Result<MemberRecord> {
    Ok(MemberRecord {
        room_id: RoomId(row.get(0)?),
        user_id: UserId(row.get(1)?),
        role: enum_from(&row.get::<_, String>(2)?)?,
        joined_at: Timestamp::from_millis(row.get(3)?),
        last_delivered_seq: seq_from(row.get(4)?),
        last_read_seq: seq_from(row.get(5)?),
        muted: row.get(6)?,
    })
}

const MEDIA_COLUMNS: &str = "id, uploader, kind, content_type, bytes, width, height, duration_ms, \
     placeholder, has_thumbnail, ready, room_id, created_at";

fn media_row(row: &Row<'_>) -> rusqlite::Result<MediaRecord> {
    Ok(MediaRecord {
        id: MediaId(row.get(0)?),
        uploader: UserId(row.get(1)?),
        kind: enum_from(&row.get::<_, String>(2)?)?,
        content_type: row.get(3)?,
        bytes: seq_from(row.get(4)?),
        width: row.get(5)?,
        height: row.get(6)?,
        duration_ms: row.get::<_, Option<i64>>(7)?.map(seq_from),
        placeholder: row.get(8)?,
        has_thumbnail: row.get(9)?,
        ready: row.get(10)?,
        room_id: row.get::<_, Option<String>>(11)?.map(RoomId),
        created_at: Timestamp::from_millis(row.get(12)?),
    })
}

const INVITE_COLUMNS: &str =
    "code_hash, room_id, created_by, created_at, expires_at, max_uses, uses, revoked";

fn invite_row(row: &Row<'_>) -> rusqlite::Result<InviteRecord> {
    Ok(InviteRecord {
        code_hash: row.get(0)?,
        room_id: RoomId(row.get(1)?),
        created_by: UserId(row.get(2)?),
        created_at: Timestamp::from_millis(row.get(3)?),
        expires_at: row.get::<_, Option<i64>>(4)?.map(Timestamp::from_millis),
        max_uses: row.get(5)?,
        uses: row.get(6)?,
        revoked: row.get(7)?,
    })
}

#[async_trait]
impl crate::ports::HealthCheck for SqliteStore {
    async fn check(&self) -> PortResult<()> {
        self.call(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }
}
