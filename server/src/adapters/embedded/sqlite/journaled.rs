//! The store's journaled writes (see `group_commit`): the writes of every send and receipt,
//! each as a record the journal keeps and a function that applies it. The live write and
//! the replay after a crash run the same function on the same record, so replaying gives
//! what the live write gave.

use protocol::ReceiptKind;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::messages::append_in;
use super::seq_to;
use crate::ports::store::{Appended, NewMessage};
use crate::ports::{PortError, PortResult};

/// One journaled write, as the journal keeps it.
#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(super) enum Op {
    /// `MessageStore::append`.
    Append { message: Box<NewMessage> },
    /// `RoomStore::advance_marker`.
    Marker {
        room: String,
        user: String,
        kind: ReceiptKind,
        seq: u64,
    },
    /// `MessageStore::mark_published`.
    Published { ids: Vec<String> },
}

impl Op {
    /// The journal record of this write.
    pub(super) fn record(&self) -> PortResult<Vec<u8>> {
        serde_json::to_vec(self).map_err(|err| PortError::Other(err.into()))
    }
}

/// Moves a member's delivered or read marker forward; true when it moved.
pub(super) fn advance(
    conn: &Connection,
    room: &str,
    user: &str,
    kind: ReceiptKind,
    seq: u64,
) -> rusqlite::Result<bool> {
    let sql = match kind {
        ReceiptKind::Delivered => {
            "UPDATE members SET last_delivered_seq = ?3
             WHERE room_id = ?1 AND user_id = ?2 AND last_delivered_seq < ?3"
        }
        ReceiptKind::Read => {
            "UPDATE members SET last_read_seq = ?3,
                 last_delivered_seq = MAX(last_delivered_seq, ?3)
             WHERE room_id = ?1 AND user_id = ?2 AND last_read_seq < ?3"
        }
    };
    conn.prepare_cached(sql)?
        .execute(params![room, user, seq_to(seq)])
        .map(|changed| changed == 1)
}

/// Takes published messages out of the outbox; true when any was in it.
pub(super) fn clear_outbox(conn: &Connection, ids: &[String]) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare_cached("DELETE FROM outbox WHERE message_id = ?1")?;
    let mut cleared = false;
    for id in ids {
        cleared |= stmt.execute([id])? > 0;
    }
    Ok(cleared)
}

/// Applies a journal record again (the `Replay` of the store's writer).
pub(super) fn replay(conn: &Connection, record: &[u8]) -> rusqlite::Result<()> {
    let op: Op = serde_json::from_slice(record)
        .map_err(|err| rusqlite::Error::ToSqlConversionFailure(err.into()))?;
    match op {
        Op::Append { message } => {
            // Only appends that stored a message are journaled, so the replay stores it too;
            // anything else would mean the state it replays onto is not the one it was
            // first applied to.
            if !matches!(append_in(conn, &message)?, Ok(Appended::Created(_))) {
                tracing::warn!(message_id = %message.id, "a replayed send found a different store than it was first applied to");
            }
        }
        Op::Marker {
            room,
            user,
            kind,
            seq,
        } => {
            advance(conn, &room, &user, kind, seq)?;
        }
        Op::Published { ids } => {
            clear_outbox(conn, &ids)?;
        }
    }
    Ok(())
}
