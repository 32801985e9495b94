//! Store latency by operation: the message and room stores, wrapped so that every call is
//! timed into `confab_store_seconds{op}`, whichever store (SQLite or MongoDB) is behind them.
//! These two carry the send path and every read of a room; accounts, invites and media
//! records are called a few times per session and are not timed.

use std::sync::{Arc, LazyLock};
use std::time::Instant;

use async_trait::async_trait;
use prometheus::Histogram;
use protocol::{MessageId, ReceiptKind, Role, RoomId, Timestamp, UserId};

use super::{METRICS, seconds};
use crate::ports::PortResult;
use crate::ports::store::{
    Appended, Cursor, MemberRecord, MessageRecord, MessageStore, NewMessage, NewRoom, RoomRecord,
    RoomStore, SearchFrom, SearchTerms,
};

/// A store whose calls are timed. The histogram of each operation is looked up once (a
/// static per call site), so a timed call costs two clock reads and an atomic add.
pub struct Timed<S: ?Sized>(pub Arc<S>);

macro_rules! timed {
    ($op:literal, $call:expr) => {{
        static HISTOGRAM: LazyLock<Histogram> =
            LazyLock::new(|| METRICS.store_seconds.with_label_values(&[$op]));
        let started = Instant::now();
        let answer = $call.await;
        HISTOGRAM.observe(seconds(started.elapsed()));
        answer
    }};
}

#[async_trait]
impl<S: MessageStore + ?Sized> MessageStore for Timed<S> {
    async fn append(&self, message: &NewMessage) -> PortResult<Appended> {
        timed!("append", self.0.append(message))
    }
    async fn page(
        &self,
        room: &RoomId,
        cursor: Cursor,
        limit: u32,
    ) -> PortResult<(Vec<MessageRecord>, bool)> {
        timed!("page", self.0.page(room, cursor, limit))
    }
    async fn message(&self, id: &MessageId) -> PortResult<Option<MessageRecord>> {
        timed!("message", self.0.message(id))
    }
    async fn messages(&self, ids: &[MessageId]) -> PortResult<Vec<MessageRecord>> {
        timed!("messages", self.0.messages(ids))
    }
    async fn search(
        &self,
        rooms: &[RoomId],
        terms: &SearchTerms,
        from: &SearchFrom,
        limit: u32,
    ) -> PortResult<(Vec<MessageRecord>, bool)> {
        timed!("search", self.0.search(rooms, terms, from, limit))
    }
    async fn count_unread(
        &self,
        room: &RoomId,
        reader: &UserId,
        after_seq: u64,
        up_to_seq: u64,
    ) -> PortResult<u64> {
        timed!(
            "count_unread",
            self.0.count_unread(room, reader, after_seq, up_to_seq)
        )
    }
    async fn unpublished(
        &self,
        stored_by: Timestamp,
        limit: u32,
    ) -> PortResult<Vec<MessageRecord>> {
        timed!("unpublished", self.0.unpublished(stored_by, limit))
    }
    async fn mark_published(&self, ids: &[MessageId]) -> PortResult<()> {
        timed!("mark_published", self.0.mark_published(ids))
    }
}

#[async_trait]
impl<S: RoomStore + ?Sized> RoomStore for Timed<S> {
    async fn create_room(&self, room: &NewRoom) -> PortResult<()> {
        timed!("create_room", self.0.create_room(room))
    }
    async fn room(&self, id: &RoomId) -> PortResult<Option<RoomRecord>> {
        timed!("room", self.0.room(id))
    }
    async fn direct_room(&self, a: &UserId, b: &UserId) -> PortResult<Option<RoomRecord>> {
        timed!("direct_room", self.0.direct_room(a, b))
    }
    async fn rooms_of(&self, user: &UserId) -> PortResult<Vec<RoomRecord>> {
        timed!("rooms_of", self.0.rooms_of(user))
    }
    async fn members(&self, room: &RoomId) -> PortResult<Vec<MemberRecord>> {
        timed!("members", self.0.members(room))
    }
    async fn members_relaxed(&self, room: &RoomId) -> PortResult<Vec<MemberRecord>> {
        timed!("members_relaxed", self.0.members_relaxed(room))
    }
    async fn member(&self, room: &RoomId, user: &UserId) -> PortResult<Option<MemberRecord>> {
        timed!("member", self.0.member(room, user))
    }
    async fn add_member(
        &self,
        room: &RoomId,
        user: &UserId,
        role: Role,
        joined_at: Timestamp,
    ) -> PortResult<bool> {
        timed!("add_member", self.0.add_member(room, user, role, joined_at))
    }
    async fn remove_member(&self, room: &RoomId, user: &UserId) -> PortResult<bool> {
        timed!("remove_member", self.0.remove_member(room, user))
    }
    async fn set_role(&self, room: &RoomId, user: &UserId, role: Role) -> PortResult<()> {
        timed!("set_role", self.0.set_role(room, user, role))
    }
    async fn update_room(
        &self,
        room: &RoomId,
        name: Option<&str>,
        topic: Option<Option<&str>>,
    ) -> PortResult<()> {
        timed!("update_room", self.0.update_room(room, name, topic))
    }
    async fn set_muted(&self, room: &RoomId, user: &UserId, muted: bool) -> PortResult<()> {
        timed!("set_muted", self.0.set_muted(room, user, muted))
    }
    async fn set_room_avatar(
        &self,
        room: &RoomId,
        avatar: Option<&str>,
    ) -> PortResult<Option<String>> {
        timed!("set_room_avatar", self.0.set_room_avatar(room, avatar))
    }
    async fn advance_marker(
        &self,
        room: &RoomId,
        user: &UserId,
        kind: ReceiptKind,
        seq: u64,
    ) -> PortResult<bool> {
        timed!(
            "advance_marker",
            self.0.advance_marker(room, user, kind, seq)
        )
    }
    async fn contacts_of(&self, user: &UserId) -> PortResult<Vec<UserId>> {
        timed!("contacts_of", self.0.contacts_of(user))
    }
}
