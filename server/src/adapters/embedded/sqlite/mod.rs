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
use protocol::{MediaId, ReceiptKind, Role, RoomId, RoomKind, Timestamp, User, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ports::store::{
    AccountStore, CheckedMedia, DELETED_USER_NAME, InviteRecord, InviteStore, MediaRecord,
    MediaStore, MemberRecord, NewRoom, PushSubscriptionRecord, PushTarget, RoomRecord, RoomStore,
    SessionRecord, deleted_username,
};

use super::group_commit::Writer;

mod journaled;
mod messages;
use crate::ports::{StoreError, StoreResult};

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
    async fn call<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.writer.visible().await?;
        self.read_committed(work).await
    }

    /// Runs the read `work` on what SQLite has committed, which may miss the newest
    /// journaled writes (see `group_commit`).
    async fn read_committed<T, F>(&self, work: F) -> StoreResult<T>
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
        .map_err(|join| StoreError::Other(anyhow::anyhow!("store task failed: {join}")))?
        .map_err(|err| StoreError::Other(err.into()))
    }

    /// Runs the write `work` in the writer's next batch; answers once it is durable.
    async fn write<T, F>(&self, work: F) -> StoreResult<T>
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

/// The unique key of a direct room: its two members in a fixed order.
fn direct_key(a: &UserId, b: &UserId) -> String {
    if a <= b {
        format!("{a}:{b}")
    } else {
        format!("{b}:{a}")
    }
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_user(&self, user: &User, password_hash: &str) -> StoreResult<()> {
        let (user, hash) = (user.clone(), password_hash.to_owned());
        let inserted = self
            .write(move |conn| {
                let result = conn.execute(
                    "INSERT INTO users (id, username, display_name, display_lower, avatar_url,
                         password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        user.id.0,
                        user.username,
                        user.display_name,
                        user.display_name.to_lowercase(),
                        user.avatar_url,
                        hash,
                        user.created_at.as_millis()
                    ],
                );
                match result {
                    Ok(_) => Ok(true),
                    Err(err) if is_unique_violation(&err) => Ok(false),
                    Err(err) => Err(err),
                }
            })
            .await?;
        if inserted {
            Ok(())
        } else {
            Err(StoreError::Conflict("username is taken"))
        }
    }

    async fn credentials(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        let username = username.to_owned();
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = ?1"),
                [username],
                |row| Ok((user_row(row)?, row.get(5)?)),
            )
            .optional()
        })
        .await
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<User>> {
        let id = id.0.clone();
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [id],
                user_row,
            )
            .optional()
        })
        .await
    }

    async fn users(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        let ids: Vec<String> = ids.iter().map(|id| id.0.clone()).collect();
        self.call(move |conn| {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?;
            let mut users = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(user) = stmt.query_row([id], user_row).optional()? {
                    users.push(user);
                }
            }
            Ok(users)
        })
        .await
    }

    async fn search_users(&self, prefix: &str, limit: u32) -> StoreResult<Vec<User>> {
        let low = prefix.to_lowercase();
        // Everything that starts with `low` sorts in [low, low + U+10FFFF): an index range.
        let high = format!("{low}\u{10FFFF}");
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users
                 WHERE ((username >= ?1 AND username < ?2)
                    OR (display_lower >= ?1 AND display_lower < ?2))
                   AND deleted_at IS NULL
                 ORDER BY username LIMIT ?3"
            ))?;
            stmt.query_map(params![low, high, limit], user_row)?
                .collect()
        })
        .await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user: &UserId,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let (hash, user) = (token_hash.to_owned(), user.0.clone());
        self.write(move |conn| {
            let tx = conn;
            // Sweep this user's expired sessions so the table does not grow without bound.
            tx.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND expires_at <= ?2",
                params![user, Timestamp::now().as_millis()],
            )?;
            tx.execute(
                "INSERT INTO sessions (token_hash, user_id, expires_at, created_at, last_seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![
                    hash,
                    user,
                    expires_at.as_millis(),
                    Timestamp::now().as_millis()
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn session_user(&self, token_hash: &str, now: Timestamp) -> StoreResult<Option<UserId>> {
        let hash = token_hash.to_owned();
        self.call(move |conn| {
            conn.query_row(
                "SELECT user_id FROM sessions WHERE token_hash = ?1 AND expires_at > ?2",
                params![hash, now.as_millis()],
                |row| row.get(0).map(UserId),
            )
            .optional()
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        let hash = token_hash.to_owned();
        self.write(move |conn| {
            conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [&hash])?;
            conn.execute("DELETE FROM push_subscriptions WHERE session = ?1", [&hash])
                .map(drop)
        })
        .await
    }

    async fn touch_session(
        &self,
        token_hash: &str,
        seen_at: Timestamp,
        user_agent: Option<&str>,
    ) -> StoreResult<()> {
        let (hash, agent) = (token_hash.to_owned(), user_agent.map(str::to_owned));
        self.write(move |conn| {
            conn.execute(
                "UPDATE sessions SET last_seen_at = MAX(COALESCE(last_seen_at, 0), ?2),
                     user_agent = COALESCE(?3, user_agent)
                 WHERE token_hash = ?1",
                params![hash, seen_at.as_millis(), agent],
            )
            .map(drop)
        })
        .await
    }

    async fn sessions_of(&self, user: &UserId, now: Timestamp) -> StoreResult<Vec<SessionRecord>> {
        let user = user.0.clone();
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT token_hash, created_at, last_seen_at, user_agent, expires_at
                 FROM sessions WHERE user_id = ?1 AND expires_at > ?2
                 ORDER BY COALESCE(created_at, expires_at) DESC",
            )?;
            stmt.query_map(params![user, now.as_millis()], |row| {
                Ok(SessionRecord {
                    token_hash: row.get(0)?,
                    created_at: row.get::<_, Option<i64>>(1)?.map(Timestamp::from_millis),
                    last_seen_at: row.get::<_, Option<i64>>(2)?.map(Timestamp::from_millis),
                    user_agent: row.get(3)?,
                    expires_at: Timestamp::from_millis(row.get(4)?),
                })
            })?
            .collect()
        })
        .await
    }

    async fn end_sessions(&self, user: &UserId, keep: Option<&str>) -> StoreResult<Vec<String>> {
        let (user, keep) = (user.0.clone(), keep.unwrap_or_default().to_owned());
        self.write(move |conn| {
            let ended: Vec<String> = conn
                .prepare_cached(
                    "SELECT token_hash FROM sessions WHERE user_id = ?1 AND token_hash <> ?2",
                )?
                .query_map(params![user, keep], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            conn.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND token_hash <> ?2",
                params![user, keep],
            )?;
            conn.execute(
                "DELETE FROM push_subscriptions WHERE user_id = ?1 AND session <> ?2",
                params![user, keep],
            )?;
            Ok(ended)
        })
        .await
    }

    async fn set_display_name(&self, user: &UserId, display_name: &str) -> StoreResult<()> {
        let (user, name) = (user.0.clone(), display_name.to_owned());
        self.write(move |conn| {
            conn.execute(
                "UPDATE users SET display_name = ?2, display_lower = ?3 WHERE id = ?1",
                params![user, name, name.to_lowercase()],
            )
            .map(drop)
        })
        .await
    }

    async fn set_avatar(&self, user: &UserId, avatar: Option<&str>) -> StoreResult<Option<String>> {
        let (user, avatar) = (user.0.clone(), avatar.map(str::to_owned));
        self.write(move |conn| replace_avatar(conn, "users", &user, avatar.as_deref()))
            .await
    }

    async fn set_password_hash(&self, user: &UserId, password_hash: &str) -> StoreResult<()> {
        let (user, hash) = (user.0.clone(), password_hash.to_owned());
        self.write(move |conn| {
            conn.execute(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                params![user, hash],
            )
            .map(drop)
        })
        .await
    }

    async fn block(&self, blocker: &UserId, blocked: &UserId, at: Timestamp) -> StoreResult<bool> {
        let (blocker, blocked) = (blocker.0.clone(), blocked.0.clone());
        self.write(move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO blocks (blocker, blocked, created_at) VALUES (?1, ?2, ?3)",
                params![blocker, blocked, at.as_millis()],
            )
            .map(|inserted| inserted == 1)
        })
        .await
    }

    async fn unblock(&self, blocker: &UserId, blocked: &UserId) -> StoreResult<bool> {
        let (blocker, blocked) = (blocker.0.clone(), blocked.0.clone());
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM blocks WHERE blocker = ?1 AND blocked = ?2",
                params![blocker, blocked],
            )
            .map(|deleted| deleted == 1)
        })
        .await
    }

    async fn blocked_by(&self, blocker: &UserId) -> StoreResult<Vec<UserId>> {
        let blocker = blocker.0.clone();
        self.call(move |conn| {
            conn.prepare_cached(
                "SELECT blocked FROM blocks WHERE blocker = ?1 ORDER BY created_at DESC, blocked",
            )?
            .query_map([blocker], |row| Ok(UserId(row.get(0)?)))?
            .collect()
        })
        .await
    }

    async fn blockers_of(&self, user: &UserId, among: &[UserId]) -> StoreResult<Vec<UserId>> {
        let (user, among) = (user.0.clone(), among.to_vec());
        self.call(move |conn| {
            let mut stmt =
                conn.prepare_cached("SELECT 1 FROM blocks WHERE blocker = ?1 AND blocked = ?2")?;
            let mut blockers = Vec::new();
            for blocker in among {
                if stmt.exists(params![blocker.0, user])? {
                    blockers.push(blocker);
                }
            }
            Ok(blockers)
        })
        .await
    }

    async fn save_push_subscription(
        &self,
        record: &PushSubscriptionRecord,
    ) -> StoreResult<(String, bool)> {
        let record = record.clone();
        self.write(move |conn| {
            let address = record.target.address();
            let (p256dh, auth) = record.target.keys().unzip();
            let mine: Option<String> = conn
                .query_row(
                    "SELECT id FROM push_subscriptions WHERE address = ?1 AND user_id = ?2",
                    params![address, record.user_id.0],
                    |row| row.get(0),
                )
                .optional()?;
            if let Some(id) = mine {
                conn.execute(
                    "UPDATE push_subscriptions SET session = ?2, p256dh = ?3, auth = ?4
                     WHERE id = ?1",
                    params![id, record.session, p256dh, auth],
                )?;
                return Ok((id, false));
            }
            // The device was someone else's (signed out there, in here): it is ours now.
            conn.execute(
                "DELETE FROM push_subscriptions WHERE address = ?1",
                [address],
            )?;
            conn.execute(
                "INSERT INTO push_subscriptions
                     (id, user_id, session, kind, address, p256dh, auth, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    record.id,
                    record.user_id.0,
                    record.session,
                    record.target.kind(),
                    address,
                    p256dh,
                    auth,
                    record.created_at.as_millis()
                ],
            )?;
            Ok((record.id.clone(), true))
        })
        .await
    }

    async fn delete_push_subscription(&self, user: &UserId, id: &str) -> StoreResult<bool> {
        let (user, id) = (user.0.clone(), id.to_owned());
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM push_subscriptions WHERE id = ?1 AND user_id = ?2",
                params![id, user],
            )
            .map(|deleted| deleted == 1)
        })
        .await
    }

    async fn keep_server_secret(&self, name: &str, candidate: &str) -> StoreResult<String> {
        let (name, candidate) = (name.to_owned(), candidate.to_owned());
        self.write(move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO server_secrets (name, value) VALUES (?1, ?2)",
                params![name, candidate],
            )?;
            conn.query_row(
                "SELECT value FROM server_secrets WHERE name = ?1",
                [name],
                |row| row.get(0),
            )
        })
        .await
    }

    async fn push_subscriptions(
        &self,
        users: &[UserId],
        now: Timestamp,
    ) -> StoreResult<Vec<PushSubscriptionRecord>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let users = users.to_vec();
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT p.id, p.user_id, p.session, p.kind, p.address, p.p256dh, p.auth,
                        p.created_at
                 FROM push_subscriptions p JOIN sessions s ON s.token_hash = p.session
                 WHERE p.user_id = ?1 AND s.expires_at > ?2
                 ORDER BY p.created_at, p.id",
            )?;
            let mut found = Vec::new();
            for user in users {
                let rows = stmt.query_map(params![user.0, now.as_millis()], |row| {
                    let kind: String = row.get(3)?;
                    let target =
                        PushTarget::from_parts(&kind, row.get(4)?, row.get(5)?, row.get(6)?);
                    let (id, user_id, session) = (row.get(0)?, row.get(1)?, row.get(2)?);
                    let created_at = Timestamp::from_millis(row.get(7)?);
                    // A kind this version does not know is skipped, not an error.
                    Ok(target.map(|target| PushSubscriptionRecord {
                        id,
                        user_id: UserId(user_id),
                        session,
                        target,
                        created_at,
                    }))
                })?;
                for row in rows {
                    found.extend(row?);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn delete_user(&self, user: &UserId, now: Timestamp) -> StoreResult<Vec<String>> {
        let tombstone = deleted_username(user);
        let user = user.0.clone();
        self.write(move |conn| {
            let ended: Vec<String> = conn
                .prepare_cached("SELECT token_hash FROM sessions WHERE user_id = ?1")?
                .query_map([&user], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            conn.execute("DELETE FROM sessions WHERE user_id = ?1", [&user])?;
            conn.execute("DELETE FROM push_subscriptions WHERE user_id = ?1", [&user])?;
            // An empty hash is no hash any password verifies against.
            conn.execute(
                "UPDATE users SET username = ?2, display_name = ?3, display_lower = '',
                   avatar_url = NULL, password_hash = '', deleted_at = ?4
                 WHERE id = ?1",
                params![user, tombstone, DELETED_USER_NAME, now.as_millis()],
            )?;
            Ok(ended)
        })
        .await
    }
}

#[async_trait]
impl RoomStore for SqliteStore {
    async fn create_room(&self, room: &NewRoom) -> StoreResult<()> {
        let room = room.clone();
        let created = self
            .write(move |conn| {
                let key = match (room.kind, room.members.as_slice()) {
                    (RoomKind::Direct, [(a, _), (b, _)]) => Some(direct_key(a, b)),
                    _ => None,
                };
                let tx = conn;
                let inserted = tx.execute(
                    "INSERT INTO rooms (id, kind, name, created_at, last_seq, last_activity_at,
                         direct_key) VALUES (?1, ?2, ?3, ?4, 0, ?4, ?5)",
                    params![
                        room.id.0,
                        enum_text(&room.kind),
                        room.name,
                        room.created_at.as_millis(),
                        key
                    ],
                );
                match inserted {
                    Err(err) if is_unique_violation(&err) => return Ok(false),
                    other => other?,
                };
                for (user, role) in &room.members {
                    tx.execute(
                        "INSERT OR IGNORE INTO members (room_id, user_id, role, joined_at)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![
                            room.id.0,
                            user.0,
                            enum_text(role),
                            room.created_at.as_millis()
                        ],
                    )?;
                }
                Ok(true)
            })
            .await?;
        if created {
            Ok(())
        } else {
            Err(StoreError::Conflict("the room already exists"))
        }
    }

    async fn room(&self, id: &RoomId) -> StoreResult<Option<RoomRecord>> {
        let id = id.0.clone();
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE id = ?1"),
                [id],
                room_row,
            )
            .optional()
        })
        .await
    }

    async fn direct_room(&self, a: &UserId, b: &UserId) -> StoreResult<Option<RoomRecord>> {
        let key = direct_key(a, b);
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE direct_key = ?1"),
                [key],
                room_row,
            )
            .optional()
        })
        .await
    }

    async fn rooms_of(&self, user: &UserId) -> StoreResult<Vec<RoomRecord>> {
        let user = user.0.clone();
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT r.id, r.kind, r.name, r.created_at, r.last_seq, r.last_activity_at, r.topic,
                     r.avatar_url
                 FROM rooms r JOIN members m ON m.room_id = r.id
                 WHERE m.user_id = ?1
                 ORDER BY r.last_activity_at DESC, r.id DESC",
            )?;
            stmt.query_map([user], room_row)?.collect()
        })
        .await
    }

    async fn members(&self, room: &RoomId) -> StoreResult<Vec<MemberRecord>> {
        self.writer.visible().await?;
        self.members_relaxed(room).await
    }

    async fn members_relaxed(&self, room: &RoomId) -> StoreResult<Vec<MemberRecord>> {
        let room = room.0.clone();
        self.read_committed(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {MEMBER_COLUMNS} FROM members WHERE room_id = ?1 ORDER BY joined_at, user_id"
            ))?;
            stmt.query_map([room], member_row)?.collect()
        })
        .await
    }

    async fn member(&self, room: &RoomId, user: &UserId) -> StoreResult<Option<MemberRecord>> {
        let (room, user) = (room.0.clone(), user.0.clone());
        self.call(move |conn| {
            conn.query_row(
                &format!(
                    "SELECT {MEMBER_COLUMNS} FROM members WHERE room_id = ?1 AND user_id = ?2"
                ),
                [room, user],
                member_row,
            )
            .optional()
        })
        .await
    }

    async fn add_member(
        &self,
        room: &RoomId,
        user: &UserId,
        role: Role,
        joined_at: Timestamp,
    ) -> StoreResult<bool> {
        let (room, user) = (room.0.clone(), user.0.clone());
        self.write(move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO members (room_id, user_id, role, joined_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![room, user, enum_text(&role), joined_at.as_millis()],
            )
            .map(|changed| changed == 1)
        })
        .await
    }

    async fn remove_member(&self, room: &RoomId, user: &UserId) -> StoreResult<bool> {
        let (room, user) = (room.0.clone(), user.0.clone());
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM members WHERE room_id = ?1 AND user_id = ?2",
                [room, user],
            )
            .map(|changed| changed == 1)
        })
        .await
    }

    async fn update_room(
        &self,
        room: &RoomId,
        name: Option<&str>,
        topic: Option<Option<&str>>,
    ) -> StoreResult<()> {
        let (room, name) = (room.0.clone(), name.map(str::to_owned));
        let (set_topic, topic) = (topic.is_some(), topic.flatten().map(str::to_owned));
        self.write(move |conn| {
            conn.execute(
                "UPDATE rooms SET name = COALESCE(?2, name),
                     topic = CASE WHEN ?3 THEN ?4 ELSE topic END
                 WHERE id = ?1",
                params![room, name, set_topic, topic],
            )
            .map(drop)
        })
        .await
    }

    async fn set_room_avatar(
        &self,
        room: &RoomId,
        avatar: Option<&str>,
    ) -> StoreResult<Option<String>> {
        let (room, avatar) = (room.0.clone(), avatar.map(str::to_owned));
        self.write(move |conn| replace_avatar(conn, "rooms", &room, avatar.as_deref()))
            .await
    }

    async fn set_muted(&self, room: &RoomId, user: &UserId, muted: bool) -> StoreResult<()> {
        let (room, user) = (room.0.clone(), user.0.clone());
        self.write(move |conn| {
            conn.execute(
                "UPDATE members SET muted = ?3 WHERE room_id = ?1 AND user_id = ?2",
                params![room, user, muted],
            )
            .map(drop)
        })
        .await
    }

    async fn set_role(&self, room: &RoomId, user: &UserId, role: Role) -> StoreResult<()> {
        let (room, user) = (room.0.clone(), user.0.clone());
        self.write(move |conn| {
            conn.execute(
                "UPDATE members SET role = ?3 WHERE room_id = ?1 AND user_id = ?2",
                params![room, user, enum_text(&role)],
            )
            .map(drop)
        })
        .await
    }

    async fn advance_marker(
        &self,
        room: &RoomId,
        user: &UserId,
        kind: ReceiptKind,
        seq: u64,
    ) -> StoreResult<bool> {
        let (room, user) = (room.0.clone(), user.0.clone());
        let record = journaled::Op::Marker {
            room: room.clone(),
            user: user.clone(),
            kind,
            seq,
        }
        .record()?;
        self.writer
            .write_journaled(record, move |conn| {
                let moved = journaled::advance(conn, &room, &user, kind, seq)?;
                Ok((moved, moved))
            })
            .await
    }

    async fn contacts_of(&self, user: &UserId) -> StoreResult<Vec<UserId>> {
        let user = user.0.clone();
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT DISTINCT other.user_id FROM members mine
                 JOIN members other ON other.room_id = mine.room_id
                 WHERE mine.user_id = ?1 AND other.user_id <> ?1",
            )?;
            stmt.query_map([user], |row| row.get(0).map(UserId))?
                .collect()
        })
        .await
    }
}

#[async_trait]
impl InviteStore for SqliteStore {
    async fn create_invite(&self, invite: &InviteRecord) -> StoreResult<()> {
        let i = invite.clone();
        self.write(move |conn| {
            conn.execute(
                &format!(
                    "INSERT INTO invites ({INVITE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ),
                params![
                    i.code_hash,
                    i.room_id.0,
                    i.created_by.0,
                    i.created_at.as_millis(),
                    i.expires_at.map(Timestamp::as_millis),
                    i.max_uses,
                    i.uses,
                    i.revoked
                ],
            )
            .map(drop)
        })
        .await
    }

    async fn invite(&self, code_hash: &str) -> StoreResult<Option<InviteRecord>> {
        let hash = code_hash.to_owned();
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {INVITE_COLUMNS} FROM invites WHERE code_hash = ?1"),
                [hash],
                invite_row,
            )
            .optional()
        })
        .await
    }

    async fn redeem(&self, code_hash: &str, now: Timestamp) -> StoreResult<Option<InviteRecord>> {
        let hash = code_hash.to_owned();
        self.write(move |conn| {
            let tx = conn;
            let counted = tx.execute(
                "UPDATE invites SET uses = uses + 1
                 WHERE code_hash = ?1 AND revoked = 0
                   AND (expires_at IS NULL OR expires_at > ?2)
                   AND (max_uses IS NULL OR uses < max_uses)",
                params![hash, now.as_millis()],
            )?;
            let invite = if counted == 1 {
                tx.query_row(
                    &format!("SELECT {INVITE_COLUMNS} FROM invites WHERE code_hash = ?1"),
                    [&hash],
                    invite_row,
                )
                .optional()?
            } else {
                None
            };
            Ok(invite)
        })
        .await
    }

    async fn revoke(&self, code_hash: &str) -> StoreResult<()> {
        let hash = code_hash.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE invites SET revoked = 1 WHERE code_hash = ?1",
                [hash],
            )
            .map(drop)
        })
        .await
    }
}

#[async_trait]
impl MediaStore for SqliteStore {
    async fn create_media(&self, record: &MediaRecord) -> StoreResult<()> {
        let r = record.clone();
        let created = self
            .write(move |conn| {
                let inserted = conn.execute(
                    &format!(
                        "INSERT INTO media ({MEDIA_COLUMNS})
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                    ),
                    params![
                        r.id.0,
                        r.uploader.0,
                        enum_text(&r.kind),
                        r.content_type,
                        seq_to(r.bytes),
                        r.width,
                        r.height,
                        r.duration_ms.map(seq_to),
                        r.placeholder,
                        r.has_thumbnail,
                        r.ready,
                        r.room_id.map(|id| id.0),
                        r.created_at.as_millis(),
                    ],
                );
                match inserted {
                    Ok(_) => Ok(true),
                    Err(err) if is_unique_violation(&err) => Ok(false),
                    Err(err) => Err(err),
                }
            })
            .await?;
        if created {
            Ok(())
        } else {
            Err(StoreError::Conflict("media id taken"))
        }
    }

    async fn media(&self, id: &MediaId) -> StoreResult<Option<MediaRecord>> {
        let id = id.0.clone();
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {MEDIA_COLUMNS} FROM media WHERE id = ?1"),
                [id],
                media_row,
            )
            .optional()
        })
        .await
    }

    async fn complete_media(&self, id: &MediaId, checked: &CheckedMedia) -> StoreResult<bool> {
        let (id, c) = (id.0.clone(), checked.clone());
        self.write(move |conn| {
            conn.execute(
                "UPDATE media SET width = ?2, height = ?3, duration_ms = ?4, placeholder = ?5,
                 has_thumbnail = ?6, bytes = ?7, ready = 1 WHERE id = ?1 AND ready = 0",
                params![
                    id,
                    c.width,
                    c.height,
                    c.duration_ms.map(seq_to),
                    c.placeholder,
                    c.has_thumbnail,
                    seq_to(c.bytes)
                ],
            )
            .map(|changed| changed > 0)
        })
        .await
    }

    async fn delete_unused_media(&self, id: &MediaId) -> StoreResult<bool> {
        let id = id.0.clone();
        self.write(move |conn| {
            conn.execute("DELETE FROM media WHERE id = ?1 AND room_id IS NULL", [id])
                .map(|changed| changed > 0)
        })
        .await
    }

    async fn unused_media(
        &self,
        created_before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<MediaRecord>> {
        self.call(move |conn| {
            let mut statement = conn.prepare(&format!(
                "SELECT {MEDIA_COLUMNS} FROM media
                 WHERE room_id IS NULL AND created_at < ?1 ORDER BY created_at LIMIT ?2"
            ))?;
            statement
                .query_map(params![created_before.as_millis(), limit], media_row)?
                .collect()
        })
        .await
    }

    async fn unused_media_of(
        &self,
        uploader: &UserId,
        limit: u32,
    ) -> StoreResult<Vec<MediaRecord>> {
        let uploader = uploader.0.clone();
        self.call(move |conn| {
            let mut statement = conn.prepare_cached(&format!(
                "SELECT {MEDIA_COLUMNS} FROM media
                 WHERE room_id IS NULL AND uploader = ?1 ORDER BY created_at LIMIT ?2"
            ))?;
            statement
                .query_map(params![uploader, limit], media_row)?
                .collect()
        })
        .await
    }
}

#[async_trait]
impl crate::ports::HealthCheck for SqliteStore {
    async fn check(&self) -> StoreResult<()> {
        self.call(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }
}
