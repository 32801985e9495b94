//! The embedded store's rooms: groups and direct rooms, their members, roles and read markers.

use super::*;

#[async_trait]
impl RoomStore for SqliteStore {
    async fn create_room(&self, room: &NewRoom) -> PortResult<()> {
        let room = room.clone();
        let created = self
            .write(move |conn| {
                let key = room.direct_key();
                let inserted = conn.execute(
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
                if !super::inserted(inserted)? {
                    return Ok(false);
                }
                for (user, role) in &room.members {
                    conn.execute(
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
        created_or(created, Conflict::RoomExists)
    }

    async fn room(&self, id: &RoomId) -> PortResult<Option<RoomRecord>> {
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

    async fn direct_room(&self, a: &UserId, b: &UserId) -> PortResult<Option<RoomRecord>> {
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

    async fn rooms_of(&self, user: &UserId) -> PortResult<Vec<RoomRecord>> {
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

    async fn members(&self, room: &RoomId) -> PortResult<Vec<MemberRecord>> {
        self.writer.visible().await?;
        self.members_relaxed(room).await
    }

    async fn members_relaxed(&self, room: &RoomId) -> PortResult<Vec<MemberRecord>> {
        let room = room.0.clone();
        self.read_committed(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {MEMBER_COLUMNS} FROM members WHERE room_id = ?1 ORDER BY joined_at, user_id"
            ))?;
            stmt.query_map([room], member_row)?.collect()
        })
        .await
    }

    async fn member(&self, room: &RoomId, user: &UserId) -> PortResult<Option<MemberRecord>> {
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
    ) -> PortResult<bool> {
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

    async fn remove_member(&self, room: &RoomId, user: &UserId) -> PortResult<bool> {
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
    ) -> PortResult<()> {
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
    ) -> PortResult<Option<String>> {
        let (room, avatar) = (room.0.clone(), avatar.map(str::to_owned));
        self.write(move |conn| replace_avatar(conn, "rooms", &room, avatar.as_deref()))
            .await
    }

    async fn set_muted(&self, room: &RoomId, user: &UserId, muted: bool) -> PortResult<()> {
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

    async fn set_role(&self, room: &RoomId, user: &UserId, role: Role) -> PortResult<()> {
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
    ) -> PortResult<bool> {
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

    async fn contacts_of(&self, user: &UserId) -> PortResult<Vec<UserId>> {
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
