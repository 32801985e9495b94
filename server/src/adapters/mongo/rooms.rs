//! Rooms, their members and the members' read markers.

use async_trait::async_trait;
use futures_util::{FutureExt, TryStreamExt};
use mongodb::bson::{self, Bson, doc};
use mongodb::{ClientSession, Collection};
use protocol::{ReceiptKind, Role, RoomId, RoomKind, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use super::{MongoStore, is_duplicate_key, store_error, to_i64, to_u64};
use crate::ports::store::{MemberRecord, NewRoom, RoomRecord, RoomStore, direct_key};
use crate::ports::{Conflict, PortError, PortResult};

/// A document of `rooms`.
#[derive(Serialize, Deserialize)]
pub(super) struct RoomDoc {
    #[serde(rename = "_id")]
    id: String,
    kind: RoomKind,
    name: Option<String>,
    created_at: i64,
    pub(super) last_seq: i64,
    last_activity_at: i64,
    /// Only direct rooms have one: the sparse unique index ignores a missing field, but
    /// would index (and collide on) an explicit null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    direct_key: Option<String>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    avatar_url: Option<String>,
}

impl RoomDoc {
    fn into_record(self) -> RoomRecord {
        RoomRecord {
            id: RoomId(self.id),
            kind: self.kind,
            name: self.name,
            created_at: Timestamp::from_millis(self.created_at),
            last_seq: to_u64(self.last_seq),
            last_activity_at: Timestamp::from_millis(self.last_activity_at),
            topic: self.topic,
            avatar: self.avatar_url,
        }
    }
}

/// A document of `members` (its `_id` is the server's; `(room_id, user_id)` is the key).
#[derive(Serialize, Deserialize)]
struct MemberDoc {
    room_id: String,
    user_id: String,
    role: Role,
    joined_at: i64,
    last_delivered_seq: i64,
    last_read_seq: i64,
    #[serde(default)]
    muted: bool,
}

impl MemberDoc {
    fn into_record(self) -> MemberRecord {
        MemberRecord {
            room_id: RoomId(self.room_id),
            user_id: UserId(self.user_id),
            role: self.role,
            joined_at: Timestamp::from_millis(self.joined_at),
            last_delivered_seq: to_u64(self.last_delivered_seq),
            last_read_seq: to_u64(self.last_read_seq),
            muted: self.muted,
        }
    }
}

impl MongoStore {
    pub(super) fn rooms_collection(&self) -> Collection<RoomDoc> {
        self.collection("rooms")
    }

    fn members_collection(&self) -> Collection<MemberDoc> {
        self.collection("members")
    }

    /// Adds a member unless they already are one: `$setOnInsert` on an upsert keeps an
    /// existing member untouched, as `INSERT OR IGNORE` does. True when added.
    async fn upsert_member(
        &self,
        session: Option<&mut ClientSession>,
        room: &RoomId,
        user: &UserId,
        role: Role,
        joined_at: Timestamp,
    ) -> mongodb::error::Result<bool> {
        let role = bson::to_bson(&role)?;
        let members = self.members_collection();
        let upsert = members
            .update_one(
                doc! { "room_id": room.as_str(), "user_id": user.as_str() },
                doc! { "$setOnInsert": {
                    "role": role,
                    "joined_at": joined_at.as_millis(),
                    "last_delivered_seq": 0_i64,
                    "last_read_seq": 0_i64,
                } },
            )
            .upsert(true);
        let result = match session {
            Some(session) => upsert.session(session).await?,
            None => upsert.await?,
        };
        Ok(result.upserted_id.is_some())
    }

    /// One attempt at creating `room` with its members, inside the session's transaction.
    async fn insert_room(
        &self,
        session: &mut ClientSession,
        room: &NewRoom,
    ) -> mongodb::error::Result<()> {
        let key = room.direct_key();
        let created_at = room.created_at.as_millis();
        self.rooms_collection()
            .insert_one(RoomDoc {
                id: room.id.0.clone(),
                kind: room.kind,
                name: room.name.clone(),
                created_at,
                last_seq: 0,
                last_activity_at: created_at,
                direct_key: key,
                topic: None,
                avatar_url: None,
            })
            .session(&mut *session)
            .await?;
        for (user, role) in &room.members {
            self.upsert_member(Some(&mut *session), &room.id, user, *role, room.created_at)
                .await?;
        }
        Ok(())
    }

    /// The ids of the rooms `user` belongs to.
    async fn room_ids_of(&self, user: &UserId) -> PortResult<Vec<String>> {
        let mut ids = self
            .collection::<bson::Document>("members")
            .find(doc! { "user_id": user.as_str() })
            .projection(doc! { "_id": 0, "room_id": 1 })
            .await
            .map_err(store_error)?;
        let mut rooms = Vec::new();
        while let Some(member) = ids.try_next().await.map_err(store_error)? {
            if let Ok(room) = member.get_str("room_id") {
                rooms.push(room.to_owned());
            }
        }
        Ok(rooms)
    }
}

#[async_trait]
impl RoomStore for MongoStore {
    async fn create_room(&self, room: &NewRoom) -> PortResult<()> {
        let mut session = self.client.start_session().await.map_err(store_error)?;
        // The room and its members commit together. Two concurrent creations of one pair's
        // direct room collide on the unique `direct_key`: the loser either sees the
        // duplicate key at once, or a write conflict (retried by `and_run`) and then the
        // duplicate key.
        let created = session
            .start_transaction()
            .and_run((self, room), |session, (store, room)| {
                let (store, room) = (*store, *room);
                async move { store.insert_room(session, room).await }.boxed()
            })
            .await;
        match created {
            Ok(()) => Ok(()),
            Err(err) if is_duplicate_key(&err) => Err(PortError::Conflict(Conflict::RoomExists)),
            Err(err) => Err(store_error(err)),
        }
    }

    async fn room(&self, id: &RoomId) -> PortResult<Option<RoomRecord>> {
        let found = self
            .rooms_collection()
            .find_one(doc! { "_id": id.as_str() })
            .await
            .map_err(store_error)?;
        Ok(found.map(RoomDoc::into_record))
    }

    async fn direct_room(&self, a: &UserId, b: &UserId) -> PortResult<Option<RoomRecord>> {
        let found = self
            .rooms_collection()
            .find_one(doc! { "direct_key": direct_key(a, b) })
            .await
            .map_err(store_error)?;
        Ok(found.map(RoomDoc::into_record))
    }

    async fn rooms_of(&self, user: &UserId) -> PortResult<Vec<RoomRecord>> {
        // Two index lookups (members by user, rooms by id) instead of a `$lookup`; the
        // sort is over one user's rooms only.
        let ids = self.room_ids_of(user).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.rooms_collection()
            .find(doc! { "_id": { "$in": ids } })
            .sort(doc! { "last_activity_at": -1, "_id": -1 })
            .await
            .map_err(store_error)?
            .map_ok(RoomDoc::into_record)
            .try_collect()
            .await
            .map_err(store_error)
    }

    async fn members(&self, room: &RoomId) -> PortResult<Vec<MemberRecord>> {
        self.members_collection()
            .find(doc! { "room_id": room.as_str() })
            .sort(doc! { "joined_at": 1, "user_id": 1 })
            .await
            .map_err(store_error)?
            .map_ok(MemberDoc::into_record)
            .try_collect()
            .await
            .map_err(store_error)
    }

    async fn member(&self, room: &RoomId, user: &UserId) -> PortResult<Option<MemberRecord>> {
        let found = self
            .members_collection()
            .find_one(doc! { "room_id": room.as_str(), "user_id": user.as_str() })
            .await
            .map_err(store_error)?;
        Ok(found.map(MemberDoc::into_record))
    }

    async fn add_member(
        &self,
        room: &RoomId,
        user: &UserId,
        role: Role,
        joined_at: Timestamp,
    ) -> PortResult<bool> {
        match self.upsert_member(None, room, user, role, joined_at).await {
            Ok(added) => Ok(added),
            // Two concurrent upserts of one member: the unique index let one in.
            Err(err) if is_duplicate_key(&err) => Ok(false),
            Err(err) => Err(store_error(err)),
        }
    }

    async fn remove_member(&self, room: &RoomId, user: &UserId) -> PortResult<bool> {
        let deleted = self
            .members_collection()
            .delete_one(doc! { "room_id": room.as_str(), "user_id": user.as_str() })
            .await
            .map_err(store_error)?;
        Ok(deleted.deleted_count == 1)
    }

    async fn update_room(
        &self,
        room: &RoomId,
        name: Option<&str>,
        topic: Option<Option<&str>>,
    ) -> PortResult<()> {
        let mut set = bson::Document::new();
        if let Some(name) = name {
            set.insert("name", name);
        }
        if let Some(topic) = topic {
            set.insert("topic", topic);
        }
        if set.is_empty() {
            return Ok(());
        }
        self.rooms_collection()
            .update_one(doc! { "_id": room.as_str() }, doc! { "$set": set })
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn set_room_avatar(
        &self,
        room: &RoomId,
        avatar: Option<&str>,
    ) -> PortResult<Option<String>> {
        let collection = self.rooms_collection().clone_with_type::<bson::Document>();
        super::replace_avatar(&collection, room.as_str(), avatar).await
    }

    async fn set_muted(&self, room: &RoomId, user: &UserId, muted: bool) -> PortResult<()> {
        self.members_collection()
            .update_one(
                doc! { "room_id": room.as_str(), "user_id": user.as_str() },
                doc! { "$set": { "muted": muted } },
            )
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn set_role(&self, room: &RoomId, user: &UserId, role: Role) -> PortResult<()> {
        let role = bson::to_bson(&role).map_err(|err| PortError::Other(err.into()))?;
        self.members_collection()
            .update_one(
                doc! { "room_id": room.as_str(), "user_id": user.as_str() },
                doc! { "$set": { "role": role } },
            )
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn advance_marker(
        &self,
        room: &RoomId,
        user: &UserId,
        kind: ReceiptKind,
        seq: u64,
    ) -> PortResult<bool> {
        let seq = Bson::Int64(to_i64(seq));
        // The filter only matches a marker behind `seq`, so a match is a move and a stale
        // receipt racing a newer one can never move a marker back.
        let (marker, update) = match kind {
            ReceiptKind::Delivered => (
                "last_delivered_seq",
                doc! { "$set": { "last_delivered_seq": seq.clone() } },
            ),
            ReceiptKind::Read => (
                "last_read_seq",
                doc! {
                    "$set": { "last_read_seq": seq.clone() },
                    "$max": { "last_delivered_seq": seq.clone() },
                },
            ),
        };
        let moved = self
            .members_collection()
            .update_one(
                doc! { "room_id": room.as_str(), "user_id": user.as_str(), marker: { "$lt": seq } },
                update,
            )
            .await
            .map_err(store_error)?;
        Ok(moved.matched_count == 1)
    }

    async fn contacts_of(&self, user: &UserId) -> PortResult<Vec<UserId>> {
        let rooms = self.room_ids_of(user).await?;
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let others = self
            .members_collection()
            .distinct(
                "user_id",
                doc! { "room_id": { "$in": rooms }, "user_id": { "$ne": user.as_str() } },
            )
            .await
            .map_err(store_error)?;
        Ok(others
            .into_iter()
            .filter_map(|id| match id {
                Bson::String(id) => Some(UserId(id)),
                _ => None,
            })
            .collect())
    }
}
