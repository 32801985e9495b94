//! Messages in SQLite: appends (with the changes `edit`, `delete` and `reaction` applied to
//! their targets in the same transaction), pages, unread counts, the outbox and search.
//!
//! Search is an FTS5 table of the words of every live text body and caption
//! (`ports::store::search_words`, so it finds what the MongoDB store finds). A new message
//! is indexed just before the transaction that stored it commits ([`index_pending`]; the
//! writer's transactions span many batches): FTS5 writes its pending words out at every
//! savepoint, and each write runs in one, so indexing inside the append made a new index
//! segment per message (a tenth of the server's instructions, by callgrind). Readers see
//! only committed data, so search is never out of step with the messages. An edit or delete
//! of an indexed message changes its row at once. A message remembers the rowid of its
//! search row (`search_rowid`): the message id in the search table is only for reading
//! hits, and FTS5 cannot look a row up by it.

use async_trait::async_trait;
use protocol::{MessageId, Reaction, RoomId, Timestamp, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::{SqliteStore, enum_from, enum_text, journaled, seq_from, seq_to};
use crate::ports::store::{
    Appended, ChangeRefusal, Content, Cursor, MediaFacts, MessageRecord, MessageStore, NewMessage,
    SearchFrom, SearchTerms, SideEffect, apply_change, search_words, searchable_text,
};
use crate::ports::{Conflict, PortError, PortResult};

/// Brings a database made before v1.1 up to date: the columns of changes, reactions and
/// mentions, and the search table, filled from the messages already there. Runs at open,
/// before anything else touches the file.
pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('messages')")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for (column, kind) in [
        ("relates_to", "TEXT"),
        ("edited_at", "INTEGER"),
        ("deleted_at", "INTEGER"),
        ("reactions", "TEXT"),
        ("mentions", "TEXT"),
        ("search_rowid", "INTEGER"),
    ] {
        if !columns.iter().any(|c| c == column) {
            conn.execute_batch(&format!("ALTER TABLE messages ADD COLUMN {column} {kind}"))?;
        }
    }
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS messages_relates ON messages (relates_to)
             WHERE relates_to IS NOT NULL;",
    )?;
    let has_search: bool = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'messages_fts'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .map(|n| n > 0)?;
    if has_search {
        return Ok(());
    }
    // Words are split and lower-cased by `search_words` before they get here: the
    // tokenizer only has to cut at the spaces between them.
    conn.execute_batch(
        "BEGIN;
         CREATE VIRTUAL TABLE messages_fts USING fts5(
             words, message_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 0');",
    )?;
    let existing: Vec<MessageRecord> = conn
        .prepare(&format!("SELECT {MESSAGE_COLUMNS} FROM messages"))?
        .query_map([], message_row)?
        .collect::<Result<_, _>>()?;
    for message in &existing {
        index(conn, message)?;
    }
    conn.execute_batch("COMMIT;")
}

/// Messages stored before they kept their media's facts hold a copy of the API's `Media`,
/// URLs included, made with the `CONFAB_PUBLIC_URL` of the day: rewritten as facts, once
/// (`PRAGMA user_version` 1 says it is done).
pub(super) fn migrate_media_copies(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version >= 1 {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let copies: Vec<(String, String)> = conn
        .prepare(
            "SELECT id, media FROM messages
             WHERE CASE WHEN json_valid(media) THEN json_type(media, '$.url') END IS NOT NULL",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut rewrite = conn.prepare("UPDATE messages SET media = ?2 WHERE id = ?1")?;
    for (id, copy) in &copies {
        match serde_json::from_str::<MediaFacts>(copy) {
            Ok(facts) => {
                rewrite.execute(params![id, json_text(&facts)])?;
            }
            // Left as it is (reads report it); one bad row must not stop the store opening.
            Err(err) => {
                tracing::error!(message_id = %id, error = %err, "a stored media copy is unreadable")
            }
        }
    }
    if !copies.is_empty() {
        tracing::info!(
            messages = copies.len(),
            "stored media copies rewritten as facts"
        );
    }
    conn.execute_batch("PRAGMA user_version = 1; COMMIT;")
}

pub(super) const MESSAGE_COLUMNS: &str = "id, room_id, seq, sender_id, client_id, kind, body, \
     media, reply_to, created_at, relates_to, edited_at, deleted_at, reactions, mentions";

/// A stored JSON column; a value that no longer parses reads as empty (never as an error
/// that would hide the whole message).
fn json_column<T: serde::de::DeserializeOwned + Default>(text: Option<String>) -> T {
    text.and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

pub(super) fn message_row(row: &Row<'_>) -> rusqlite::Result<MessageRecord> {
    let id: String = row.get(0)?;
    let media = row.get::<_, Option<String>>(7)?.and_then(|json| {
        serde_json::from_str::<MediaFacts>(&json)
            .inspect_err(|err| {
                // Shown without its picture, and said: one bad row must not hide a room's
                // whole history.
                tracing::error!(message_id = %id, error = %err, "a stored media is unreadable");
            })
            .ok()
    });
    Ok(MessageRecord {
        id: MessageId(id),
        room_id: RoomId(row.get(1)?),
        seq: seq_from(row.get(2)?),
        sender_id: UserId(row.get(3)?),
        client_id: row.get(4)?,
        kind: enum_from(&row.get::<_, String>(5)?)?,
        body: row.get(6)?,
        media,
        reply_to: row.get::<_, Option<String>>(8)?.map(MessageId),
        created_at: Timestamp::from_millis(row.get(9)?),
        relates_to: row.get::<_, Option<String>>(10)?.map(MessageId),
        edited_at: row.get::<_, Option<i64>>(11)?.map(Timestamp::from_millis),
        deleted_at: row.get::<_, Option<i64>>(12)?.map(Timestamp::from_millis),
        reactions: json_column::<Vec<Reaction>>(row.get(13)?),
        mentions: json_column::<Vec<UserId>>(row.get(14)?),
    })
}

/// Why one `append` transaction stored nothing. Every refusal comes before its first
/// write, so nothing needs rolling back.
pub(super) enum Refusal {
    NoRoom,
    MediaUnavailable,
    Change(ChangeRefusal),
}

fn message_by_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<MessageRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"
    ))?
    .query_row([id], message_row)
    .optional()
}

/// Adds a search row for `text` of message `id`; returns its rowid.
fn insert_search_row(conn: &Connection, id: &str, text: &str) -> rusqlite::Result<i64> {
    conn.prepare_cached("INSERT INTO messages_fts (words, message_id) VALUES (?1, ?2)")?
        .execute(params![search_words(text).join(" "), id])?;
    Ok(conn.last_insert_rowid())
}

/// The writer connection's list of messages stored since its last commit and not yet
/// indexed (a temporary table: it lives in memory and only on this connection).
pub(super) fn create_pending_index(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS search_pending (message_id TEXT PRIMARY KEY)",
    )
}

/// Indexes the messages waiting in `search_pending`, in their state now (an edit or a
/// delete since they were stored included). Runs before each commit of the writer.
pub(super) fn index_pending(conn: &Connection) -> rusqlite::Result<()> {
    let columns = prefixed_columns("m");
    let pending: Vec<MessageRecord> = conn
        .prepare_cached(&format!(
            "SELECT {columns} FROM temp.search_pending p JOIN messages m ON m.id = p.message_id"
        ))?
        .query_map([], message_row)?
        .collect::<Result<_, _>>()?;
    for message in &pending {
        if let Some(text) = searchable_text(message) {
            let rowid = insert_search_row(conn, &message.id.0, text)?;
            conn.prepare_cached("UPDATE messages SET search_rowid = ?2 WHERE id = ?1")?
                .execute(params![message.id.0, rowid])?;
        }
    }
    conn.prepare_cached("DELETE FROM temp.search_pending")?
        .execute([])?;
    Ok(())
}

/// Gives a stored `message` the search row its text calls for now (any earlier row goes);
/// one still waiting to be indexed is left to [`index_pending`].
fn index(conn: &Connection, message: &MessageRecord) -> rusqlite::Result<()> {
    let waiting = conn
        .prepare_cached("SELECT 1 FROM temp.search_pending WHERE message_id = ?1")?
        .exists([&message.id.0])?;
    if waiting {
        return Ok(());
    }
    let old: Option<i64> = conn
        .prepare_cached("SELECT search_rowid FROM messages WHERE id = ?1")?
        .query_row([&message.id.0], |row| row.get(0))
        .optional()?
        .flatten();
    if let Some(rowid) = old {
        conn.prepare_cached("DELETE FROM messages_fts WHERE rowid = ?1")?
            .execute([rowid])?;
    }
    let rowid = match searchable_text(message) {
        Some(text) => Some(insert_search_row(conn, &message.id.0, text)?),
        None => None,
    };
    if rowid != old {
        conn.prepare_cached("UPDATE messages SET search_rowid = ?2 WHERE id = ?1")?
            .execute(params![message.id.0, rowid])?;
    }
    Ok(())
}

/// Writes back what a change did to `target`, and keeps search in step.
fn rewrite(conn: &Connection, target: &MessageRecord) -> rusqlite::Result<()> {
    let media = target.media.as_ref().map(json_text);
    conn.prepare_cached(
        "UPDATE messages SET body = ?2, media = ?3, reactions = ?4, mentions = ?5,
             edited_at = ?6, deleted_at = ?7
         WHERE id = ?1",
    )?
    .execute(params![
        target.id.0,
        target.body,
        media,
        json_text(&target.reactions),
        json_text(&target.mentions),
        target.edited_at.map(Timestamp::as_millis),
        target.deleted_at.map(Timestamp::as_millis),
    ])?;
    index(conn, target)
}

/// Applies the change `m` to its target inside the append's transaction; a refusal comes
/// before anything is written.
fn apply(conn: &Connection, m: &NewMessage) -> rusqlite::Result<Result<(), Refusal>> {
    let Some(target_id) = m.content.target() else {
        return Ok(Err(Refusal::Change(ChangeRefusal::NoTarget)));
    };
    let Some(mut target) = message_by_id(conn, &target_id.0)? else {
        return Ok(Err(Refusal::Change(ChangeRefusal::NoTarget)));
    };
    let withdrawn = matches!(m.content, Content::Delete { .. }) && target.kind.is_content();
    let effect = match apply_change(&mut target, m) {
        Ok(effect) => effect,
        Err(refusal) => return Ok(Err(Refusal::Change(refusal))),
    };
    rewrite(conn, &target)?;
    if withdrawn {
        // The text of its edits goes with it.
        conn.prepare_cached(
            "UPDATE messages SET body = NULL WHERE relates_to = ?1 AND kind = 'edit'",
        )?
        .execute([&target.id.0])?;
    }
    match effect {
        SideEffect::None => {}
        SideEffect::ReleaseMedia(media) => {
            let still_shown: i64 = conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM messages
                     WHERE room_id = ?1 AND id <> ?2 AND deleted_at IS NULL
                       AND json_extract(media, '$.id') = ?3",
                )?
                .query_row(params![target.room_id.0, target.id.0, media.0], |row| {
                    row.get(0)
                })?;
            if still_shown == 0 {
                // No message's any more: the media collector takes it (and its bytes).
                conn.prepare_cached("UPDATE media SET room_id = NULL, ready = 0 WHERE id = ?1")?
                    .execute([&media.0])?;
            }
        }
        SideEffect::RemoveReaction {
            target: on,
            emoji,
            user,
        } => {
            if let Some(mut reacted) = message_by_id(conn, &on.0)?
                && reacted.remove_reaction(&emoji, &user)
            {
                rewrite(conn, &reacted)?;
            }
        }
    }
    Ok(Ok(()))
}

/// Appends `m` inside the writer's transaction: the live write and its replay.
pub(super) fn append_in(
    conn: &Connection,
    m: &NewMessage,
) -> rusqlite::Result<Result<Appended, Refusal>> {
    let media_json = m.content.media().map(json_text);
    // Cached statements: a send parses no SQL.
    let existing = conn
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE sender_id = ?1 AND client_id = ?2"
        ))?
        .query_row([m.sender_id.as_str(), m.client_id.as_str()], message_row)
        .optional()?;
    if let Some(existing) = existing {
        return Ok(Ok(Appended::Existing(existing)));
    }
    let Some(last_seq) = conn
        .prepare_cached("SELECT last_seq FROM rooms WHERE id = ?1")?
        .query_row([&m.room_id.0], |row| row.get::<_, i64>(0))
        .optional()?
    else {
        return Ok(Err(Refusal::NoRoom));
    };
    if let Some(media) = m.content.media() {
        let claimed = conn.execute(
            "UPDATE media SET room_id = ?2
             WHERE id = ?1 AND ready = 1 AND (room_id IS NULL OR room_id = ?2)",
            [&media.id.0, &m.room_id.0],
        )?;
        if claimed == 0 {
            return Ok(Err(Refusal::MediaUnavailable));
        }
    }
    if m.content.target().is_some()
        && let Err(refusal) = apply(conn, m)?
    {
        return Ok(Err(refusal));
    }
    let seq = last_seq + 1;
    let mentions = (!m.mentions.is_empty()).then(|| json_text(&m.mentions));
    if matches!(
        (&m.content, m.content.body()),
        (Content::Text(_) | Content::Image { .. }, Some(_))
    ) {
        conn.prepare_cached("INSERT INTO temp.search_pending (message_id) VALUES (?1)")?
            .execute([&m.id.0])?;
    }
    conn.prepare_cached(&format!(
        "INSERT INTO messages ({MESSAGE_COLUMNS}, search_rowid)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL, NULL, NULL, ?12, NULL)"
    ))?
    .execute(params![
        m.id.0,
        m.room_id.0,
        seq,
        m.sender_id.0,
        m.client_id.as_str(),
        enum_text(&m.content.kind()),
        m.content.body(),
        media_json.as_deref(),
        m.reply_to.as_ref().map(|r| r.0.clone()),
        m.created_at.as_millis(),
        m.content.target().map(|r| r.0.clone()),
        mentions,
    ])?;
    conn.prepare_cached(
        "UPDATE rooms SET last_seq = ?2, last_activity_at = MAX(last_activity_at, ?3)
         WHERE id = ?1",
    )?
    .execute(params![m.room_id.0, seq, m.created_at.as_millis()])?;
    conn.prepare_cached("INSERT INTO outbox (message_id, created_at) VALUES (?1, ?2)")?
        .execute(params![m.id.0, m.created_at.as_millis()])?;
    Ok(Ok(Appended::Created(m.stored_as(seq_from(seq)))))
}

/// The FTS5 query for `terms`: every word, the last as a prefix. Words are letters and
/// digits only (`search_words`), so quoting each is all the escaping needed; the quotes
/// also keep FTS5's operators (`AND`, `NEAR`, …) plain words.
fn match_expression(terms: &SearchTerms) -> String {
    let mut parts: Vec<String> = terms.words.iter().map(|w| format!("\"{w}\"")).collect();
    parts.push(format!("\"{}\"*", terms.prefix));
    parts.join(" ")
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn append(&self, message: &NewMessage) -> PortResult<Appended> {
        let record = journaled::Op::Append {
            message: Box::new(message.clone()),
        }
        .record()?;
        let m = message.clone();
        let appended = self
            .writer
            .write_journaled(record, move |conn| {
                let appended = append_in(conn, &m)?;
                let stored = matches!(appended, Ok(Appended::Created(_)));
                Ok((appended, stored))
            })
            .await?;
        match appended {
            Ok(appended) => Ok(appended),
            Err(Refusal::NoRoom) => Err(PortError::Other(anyhow::anyhow!(
                "append to a missing room"
            ))),
            Err(Refusal::MediaUnavailable) => Err(PortError::Conflict(Conflict::MediaUnavailable)),
            Err(Refusal::Change(refusal)) => Err(PortError::ChangeRefused(refusal)),
        }
    }

    async fn page(
        &self,
        room: &RoomId,
        cursor: Cursor,
        limit: u32,
    ) -> PortResult<(Vec<MessageRecord>, bool)> {
        let room = room.0.clone();
        // One extra row tells whether more lie beyond the page.
        let fetch = i64::from(limit) + 1;
        self.call(move |conn| {
            let (sql, bound) = match cursor {
                Cursor::Latest => (
                    format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"),
                    i64::MAX,
                ),
                Cursor::Before(seq) => (
                    format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"),
                    seq_to(seq),
                ),
                Cursor::After(seq) => (
                    format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ?1 AND seq > ?2 ORDER BY seq ASC LIMIT ?3"),
                    seq_to(seq),
                ),
            };
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut messages: Vec<MessageRecord> =
                stmt.query_map(params![room, bound, fetch], message_row)?.collect::<Result<_, _>>()?;
            let has_more = messages.len() > limit as usize;
            messages.truncate(limit as usize);
            if !matches!(cursor, Cursor::After(_)) {
                messages.reverse();
            }
            Ok((messages, has_more))
        })
        .await
    }

    async fn message(&self, id: &MessageId) -> PortResult<Option<MessageRecord>> {
        let id = id.0.clone();
        self.call(move |conn| message_by_id(conn, &id)).await
    }

    async fn messages(&self, ids: &[MessageId]) -> PortResult<Vec<MessageRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(|id| id.0.clone()).collect();
        self.call(move |conn| {
            let mut found = Vec::with_capacity(ids.len());
            for id in &ids {
                found.extend(message_by_id(conn, id)?);
            }
            Ok(found)
        })
        .await
    }

    async fn search(
        &self,
        rooms: &[RoomId],
        terms: &SearchTerms,
        from: &SearchFrom,
        limit: u32,
    ) -> PortResult<(Vec<MessageRecord>, bool)> {
        if rooms.is_empty() {
            return Ok((Vec::new(), false));
        }
        let columns = prefixed_columns("m");
        let mut bound: Vec<rusqlite::types::Value> = vec![match_expression(terms).into()];
        let (cursor, order) = match from {
            SearchFrom::Newest => (String::new(), "m.id DESC"),
            SearchFrom::BeforeSeq(seq) => {
                bound.push(seq_to(*seq).into());
                ("AND m.seq < ?2".to_owned(), "m.seq DESC")
            }
            SearchFrom::BeforeId(id) => {
                bound.push(id.0.clone().into());
                ("AND m.id < ?2".to_owned(), "m.id DESC")
            }
        };
        let first_room = bound.len() + 1;
        let room_params: Vec<String> = (first_room..first_room + rooms.len())
            .map(|i| format!("?{i}"))
            .collect();
        bound.extend(rooms.iter().map(|r| r.0.clone().into()));
        bound.push((i64::from(limit) + 1).into());
        let sql = format!(
            "SELECT {columns} FROM messages_fts f JOIN messages m ON m.id = f.message_id
             WHERE messages_fts MATCH ?1 {cursor} AND m.deleted_at IS NULL
               AND m.room_id IN ({}) ORDER BY {order} LIMIT ?{}",
            room_params.join(", "),
            bound.len()
        );
        self.call(move |conn| {
            let mut messages: Vec<MessageRecord> = conn
                .prepare(&sql)?
                .query_map(params_from_iter(bound), message_row)?
                .collect::<Result<_, _>>()?;
            let has_more = messages.len() > limit as usize;
            messages.truncate(limit as usize);
            Ok((messages, has_more))
        })
        .await
    }

    async fn count_unread(
        &self,
        room: &RoomId,
        reader: &UserId,
        after_seq: u64,
        up_to_seq: u64,
    ) -> PortResult<u64> {
        let (room, reader) = (room.0.clone(), reader.0.clone());
        let (after, up_to) = (seq_to(after_seq), seq_to(up_to_seq));
        self.call(move |conn| {
            conn.query_row(
                "SELECT COUNT(*) FROM messages \
                 WHERE room_id = ?1 AND seq > ?2 AND seq <= ?3 AND sender_id <> ?4 \
                   AND kind IN ('text', 'image', 'voice')",
                params![room, after, up_to, reader],
                |row| row.get::<_, i64>(0),
            )
            .map(seq_from)
        })
        .await
    }

    async fn unpublished(
        &self,
        stored_by: Timestamp,
        limit: u32,
    ) -> PortResult<Vec<MessageRecord>> {
        let columns = prefixed_columns("m");
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {columns} FROM outbox o JOIN messages m ON m.id = o.message_id
                 WHERE o.created_at <= ?1 ORDER BY o.created_at LIMIT ?2"
            ))?;
            stmt.query_map(
                params![stored_by.as_millis(), i64::from(limit)],
                message_row,
            )?
            .collect()
        })
        .await
    }

    async fn mark_published(&self, ids: &[MessageId]) -> PortResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = ids.iter().map(|id| id.0.clone()).collect();
        let record = journaled::Op::Published { ids: ids.clone() }.record()?;
        self.writer
            .write_journaled(record, move |conn| {
                let cleared = journaled::clear_outbox(conn, &ids)?;
                Ok(((), cleared))
            })
            .await
    }
}

/// The message columns as `alias.column`, for a query that joins another table.
fn prefixed_columns(alias: &str) -> String {
    MESSAGE_COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data folder written before v1.1 opens with the new columns, and its messages are
    /// found by search.
    #[tokio::test]
    async fn a_database_from_before_changes_and_search_is_brought_up_to_date() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        {
            let conn = Connection::open(dir.path().join("confab.db")).expect("open");
            conn.execute_batch(
                "CREATE TABLE messages (
                     id TEXT PRIMARY KEY, room_id TEXT NOT NULL, seq INTEGER NOT NULL,
                     sender_id TEXT NOT NULL, client_id TEXT NOT NULL, kind TEXT NOT NULL,
                     body TEXT, media TEXT, reply_to TEXT, created_at INTEGER NOT NULL,
                     UNIQUE (room_id, seq), UNIQUE (sender_id, client_id));
                 INSERT INTO messages VALUES
                     ('m1', 'r1', 1, 'u1', 'c1', 'text', 'Old pizza talk', NULL, NULL, 1),
                     ('m2', 'r1', 2, 'u1', 'c2', 'voice', NULL, NULL, NULL, 2);",
            )
            .expect("an old schema");
        }
        let store = SqliteStore::open(dir.path()).expect("opens and migrates");
        let message = store
            .message(&MessageId("m1".into()))
            .await
            .expect("read")
            .expect("kept");
        assert_eq!(message.body.as_deref(), Some("Old pizza talk"));
        assert!(message.reactions.is_empty() && message.relates_to.is_none());
        let terms = SearchTerms {
            words: vec!["old".into()],
            prefix: "piz".into(),
        };
        let (found, _) = store
            .search(&[RoomId("r1".into())], &terms, &SearchFrom::Newest, 10)
            .await
            .expect("search");
        assert_eq!(found, vec![message]);
        drop(store);
        // Opening again changes nothing.
        SqliteStore::open(dir.path()).expect("opens again");
    }

    /// A message stored with a copy of its media's API view (URLs made with the public URL
    /// of the day) is rewritten as the media's facts at open; an unreadable one is left,
    /// and its message still reads.
    #[tokio::test]
    async fn stored_media_copies_become_facts() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        drop(SqliteStore::open(dir.path()).expect("a new store"));
        let copy = r#"{"id":"md1","kind":"image","content_type":"image/webp","bytes":5120,
            "width":640,"height":480,"duration_ms":null,
            "url":"http://old.example/api/v1/media/md1",
            "thumbnail_url":"http://old.example/api/v1/media/md1/thumbnail",
            "placeholder":"data:image/jpeg;base64,AAAA"}"#;
        {
            let conn = Connection::open(dir.path().join("confab.db")).expect("open");
            conn.execute(
                "INSERT INTO messages (id, room_id, seq, sender_id, client_id, kind, media,
                     created_at)
                 VALUES ('m1', 'r1', 1, 'u1', 'c1', 'image', ?1, 1)",
                [copy],
            )
            .expect("a message as an older version stored it");
            conn.execute(
                "INSERT INTO messages (id, room_id, seq, sender_id, client_id, kind, media,
                     created_at)
                 VALUES ('m2', 'r1', 2, 'u1', 'c2', 'image', '{\"id\": broken', 2)",
                [],
            )
            .expect("a message whose media no longer reads");
            conn.pragma_update(None, "user_version", 0)
                .expect("an older version's database");
        }
        let store = SqliteStore::open(dir.path()).expect("opens and migrates");
        let message = store
            .message(&MessageId("m1".into()))
            .await
            .expect("read")
            .expect("kept");
        let facts = MediaFacts {
            id: protocol::MediaId("md1".into()),
            kind: protocol::MediaKind::Image,
            content_type: "image/webp".into(),
            bytes: 5120,
            width: Some(640),
            height: Some(480),
            duration_ms: None,
            placeholder: Some("data:image/jpeg;base64,AAAA".into()),
            has_thumbnail: true,
        };
        assert_eq!(message.media, Some(facts));
        let broken = store
            .message(&MessageId("m2".into()))
            .await
            .expect("one bad row neither stops the store nor hides the message")
            .expect("kept");
        assert_eq!((broken.seq, broken.media), (2, None));
        drop(store);
        let conn = Connection::open(dir.path().join("confab.db")).expect("open");
        let stored: String = conn
            .query_row("SELECT media FROM messages WHERE id = 'm1'", [], |row| {
                row.get(0)
            })
            .expect("the stored media");
        assert!(!stored.contains("old.example"), "no URL is kept: {stored}");
    }
}
