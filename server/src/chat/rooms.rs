//! Rooms and membership: who is in a room, who may manage it, and how a room looks to each
//! member.

use std::collections::{HashMap, HashSet};

use app::protocol::{
    Member, NotificationEvent, NotificationKind, Role, Room, RoomId, RoomKind, Timestamp, UserId,
};

use super::Chat;
use crate::domain::{RoomName, new_id};
use crate::error::{Error, Result};
use crate::ports::store::{MemberRecord, NewRoom, RoomRecord};

/// The most people a group can be created with at once.
const MAX_INITIAL_MEMBERS: usize = 256;

impl Chat {
    /// The caller's rooms, most recent activity first.
    pub async fn list_rooms(&self, user: &UserId) -> Result<Vec<Room>> {
        let records = self.ports.rooms.rooms_of(user).await?;
        let mut rooms = Vec::with_capacity(records.len());
        for record in records {
            rooms.push(self.room_view(record, user).await?);
        }
        Ok(rooms)
    }

    /// A group with the caller as owner and `member_ids` as members.
    pub async fn create_group(
        &self,
        owner: &UserId,
        name: &str,
        member_ids: Vec<UserId>,
    ) -> Result<Room> {
        let name = RoomName::parse(name)?;
        self.limit("rooms", owner, self.settings.limits.rooms_per_user)
            .await?;
        let mut seen = HashSet::from([owner.clone()]);
        let invited: Vec<UserId> = member_ids
            .into_iter()
            .filter(|id| seen.insert(id.clone()))
            .collect();
        if invited.len() > MAX_INITIAL_MEMBERS {
            return Err(Error::PayloadTooLarge(format!(
                "a group starts with at most {MAX_INITIAL_MEMBERS} members"
            )));
        }
        if self.ports.accounts.users(&invited).await?.len() != invited.len() {
            return Err(Error::NotFound("user"));
        }
        let mut members = vec![(owner.clone(), Role::Owner)];
        members.extend(invited.iter().map(|id| (id.clone(), Role::Member)));
        let room = NewRoom {
            id: RoomId(new_id()),
            kind: RoomKind::Group,
            name: Some(name.into_string()),
            created_at: Timestamp::now(),
            members,
        };
        self.ports.rooms.create_room(&room).await?;
        let record = self.existing_room(&room.id).await?;
        self.announce_room(&record).await?;
        for user in &invited {
            self.notify_added(&record, user, owner).await?;
        }
        self.room_view(record, owner).await
    }

    /// The one direct room of the caller and `other`, created if needed. True when created.
    pub async fn open_direct(&self, me: &UserId, other: &UserId) -> Result<(Room, bool)> {
        if me == other {
            return Err(Error::BadRequest(
                "a direct room needs another person".into(),
            ));
        }
        self.limit("rooms", me, self.settings.limits.rooms_per_user)
            .await?;
        if self.ports.accounts.user(other).await?.is_none() {
            return Err(Error::NotFound("user"));
        }
        if let Some(record) = self.ports.rooms.direct_room(me, other).await? {
            return Ok((self.room_view(record, me).await?, false));
        }
        let room = NewRoom {
            id: RoomId(new_id()),
            kind: RoomKind::Direct,
            name: None,
            created_at: Timestamp::now(),
            members: vec![(me.clone(), Role::Member), (other.clone(), Role::Member)],
        };
        match self.ports.rooms.create_room(&room).await {
            Ok(()) => {
                let record = self.existing_room(&room.id).await?;
                self.announce_room(&record).await?;
                Ok((self.room_view(record, me).await?, true))
            }
            // Another request made the pair's room first: answer with that one.
            Err(crate::ports::StoreError::Conflict(_)) => {
                let record = self
                    .ports
                    .rooms
                    .direct_room(me, other)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("direct room vanished"))?;
                Ok((self.room_view(record, me).await?, false))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// A room the caller belongs to.
    pub async fn get_room(&self, user: &UserId, room: &RoomId) -> Result<Room> {
        let (record, _) = self.membership(user, room).await?;
        self.room_view(record, user).await
    }

    /// An owner or admin adds someone to a group. Adding a member again changes nothing.
    pub async fn add_member(&self, actor: &UserId, room: &RoomId, user: &UserId) -> Result<Room> {
        let (record, me) = self.membership(actor, room).await?;
        if record.kind == RoomKind::Direct {
            return Err(Error::BadRequest(
                "a direct room has exactly two members".into(),
            ));
        }
        if !me.role.can_manage() {
            return Err(Error::Forbidden(
                "only the owner or an admin can add people",
            ));
        }
        if self.ports.accounts.user(user).await?.is_none() {
            return Err(Error::NotFound("user"));
        }
        if self
            .ports
            .rooms
            .add_member(room, user, Role::Member, Timestamp::now())
            .await?
        {
            self.members_changed(room).await;
            self.announce_room(&record).await?;
            self.notify_added(&record, user, actor).await?;
        }
        self.room_view(record, actor).await
    }

    /// The caller leaves a group. An owner who leaves hands the room to the longest-standing
    /// admin, or else member, so a group is never left without one.
    pub async fn leave(&self, user: &UserId, room: &RoomId) -> Result<()> {
        let (record, me) = self.membership(user, room).await?;
        if record.kind == RoomKind::Direct {
            return Err(Error::BadRequest("a direct room cannot be left".into()));
        }
        self.ports.rooms.remove_member(room, user).await?;
        self.members_changed(room).await;
        let remaining = self.ports.rooms.members(room).await?;
        if me.role == Role::Owner && !remaining.iter().any(|m| m.role == Role::Owner) {
            let heir = remaining
                .iter()
                .find(|m| m.role == Role::Admin)
                .or_else(|| remaining.first());
            if let Some(heir) = heir {
                self.ports
                    .rooms
                    .set_role(room, &heir.user_id, Role::Owner)
                    .await?;
            }
        }
        self.announce_room(&record).await
    }

    /// The room and the caller's membership, or why they may not touch it.
    pub(crate) async fn membership(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> Result<(RoomRecord, MemberRecord)> {
        let record = self.existing_room(room).await?;
        let member = self
            .ports
            .rooms
            .member(room, user)
            .await?
            .ok_or(Error::Forbidden("you are not a member of this room"))?;
        Ok((record, member))
    }

    async fn existing_room(&self, room: &RoomId) -> Result<RoomRecord> {
        self.ports
            .rooms
            .room(room)
            .await?
            .ok_or(Error::NotFound("room"))
    }

    /// The API's `Room` as `viewer` sees it (their unread count).
    pub(crate) async fn room_view(&self, record: RoomRecord, viewer: &UserId) -> Result<Room> {
        let shared = self.shared_view(record).await?;
        self.viewed_by(shared, viewer).await
    }

    /// The part of a room's view that is the same for every member (unread count 0).
    async fn shared_view(&self, record: RoomRecord) -> Result<Room> {
        let records = self.ports.rooms.members(&record.id).await?;
        let ids: Vec<UserId> = records.iter().map(|m| m.user_id.clone()).collect();
        let mut users: HashMap<UserId, _> = self
            .ports
            .accounts
            .users(&ids)
            .await?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect();
        let members = records
            .into_iter()
            .filter_map(|m| {
                Some(Member {
                    user: users.remove(&m.user_id)?,
                    role: m.role,
                    joined_at: m.joined_at,
                    last_delivered_seq: m.last_delivered_seq,
                    last_read_seq: m.last_read_seq,
                })
            })
            .collect();
        let last_message = if record.last_seq == 0 {
            None
        } else {
            self.latest_page(&record.id, record.last_seq, 1)
                .await?
                .0
                .pop()
        };
        Ok(Room {
            id: record.id,
            kind: record.kind,
            name: record.name,
            created_at: record.created_at,
            last_seq: record.last_seq,
            last_message,
            unread_count: 0,
            members,
        })
    }

    /// A shared view completed with `viewer`'s unread count.
    async fn viewed_by(&self, mut room: Room, viewer: &UserId) -> Result<Room> {
        let last_read = room
            .members
            .iter()
            .find(|m| &m.user.id == viewer)
            .map_or(0, |m| m.last_read_seq);
        room.unread_count = self
            .unread_count(&room.id, viewer, last_read, room.last_seq)
            .await?;
        Ok(room)
    }

    /// `room:update` to every member, each with their own view. The members, their users and
    /// the last message are read once for all of them; only the unread count is per member.
    pub(crate) async fn announce_room(&self, record: &RoomRecord) -> Result<()> {
        let shared = self.shared_view(record.clone()).await?;
        let members: Vec<UserId> = shared.members.iter().map(|m| m.user.id.clone()).collect();
        for member in members {
            let view = self.viewed_by(shared.clone(), &member).await?;
            self.fanout.room_update(&member, &view).await;
        }
        Ok(())
    }

    async fn notify_added(&self, room: &RoomRecord, user: &UserId, by: &UserId) -> Result<()> {
        let by_name = self
            .ports
            .accounts
            .user(by)
            .await?
            .map(|u| u.display_name)
            .unwrap_or_default();
        let room_name = room.name.clone().unwrap_or_default();
        let event = NotificationEvent {
            kind: NotificationKind::AddedToRoom,
            room_id: room.id.clone(),
            message: None,
            text: format!("{by_name} added you to {room_name}"),
        };
        self.fanout.notify(std::slice::from_ref(user), &event).await;
        Ok(())
    }
}
