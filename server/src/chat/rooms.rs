//! Rooms and membership: who is in a room, who may manage it, and how a room looks to each
//! member.

use std::collections::{HashMap, HashSet};

use app::protocol::{
    LeftReason, Member, NotificationEvent, NotificationKind, Role, Room, RoomId, RoomKind,
    RoomLeftEvent, Timestamp, UpdateRoomRequest, UserId,
};

use super::Chat;
use crate::domain::{RoomName, RoomTopic, new_id};
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
            let (by, added) = (self.name_of(actor).await, self.name_of(user).await);
            self.system_message(room, actor, format!("{by} added {added}"))
                .await;
            self.announce_room(&record).await?;
            self.notify_added(&record, user, actor).await?;
        }
        self.room_view(record, actor).await
    }

    /// A display name for a system message ("Deleted user" for an account that is gone).
    pub(crate) async fn name_of(&self, user: &UserId) -> String {
        match self.ports.accounts.user(user).await {
            Ok(Some(user)) => user.display_name,
            Ok(None) => "Deleted user".to_owned(),
            Err(_) => "Someone".to_owned(),
        }
    }

    /// An owner or admin renames a group or sets its topic (API.md v1.1 `PATCH /rooms/{id}`).
    pub async fn update_room(
        &self,
        actor: &UserId,
        room: &RoomId,
        request: UpdateRoomRequest,
    ) -> Result<Room> {
        let (record, me) = self.membership(actor, room).await?;
        if record.kind == RoomKind::Direct {
            return Err(Error::BadRequest(
                "a direct room has no name or topic".into(),
            ));
        }
        if !me.role.can_manage() {
            return Err(Error::Forbidden(
                "only the owner or an admin can change the group",
            ));
        }
        if matches!(request.avatar_media_id, Some(Some(_))) {
            return Err(Error::BadRequest(
                "group avatars are not supported yet".into(),
            ));
        }
        let name = request
            .name
            .as_deref()
            .map(RoomName::parse)
            .transpose()?
            .map(RoomName::into_string)
            .filter(|name| record.name.as_deref() != Some(name));
        let topic = match request.topic {
            None => None,
            Some(None) => Some(None),
            Some(Some(text)) if text.trim().is_empty() => Some(None),
            Some(Some(text)) => Some(Some(RoomTopic::parse(&text)?.into_string())),
        }
        .filter(|topic| *topic != record.topic);
        if name.is_none() && topic.is_none() {
            return self.room_view(record, actor).await;
        }
        self.ports
            .rooms
            .update_room(room, name.as_deref(), topic.as_ref().map(Option::as_deref))
            .await?;
        let by = self.name_of(actor).await;
        if let Some(name) = &name {
            self.system_message(room, actor, format!("{by} renamed the group to “{name}”"))
                .await;
        }
        match &topic {
            Some(Some(topic)) => {
                self.system_message(room, actor, format!("{by} set the topic to “{topic}”"))
                    .await
            }
            Some(None) => {
                self.system_message(room, actor, format!("{by} removed the topic"))
                    .await
            }
            None => {}
        }
        let record = self.existing_room(room).await?;
        self.announce_room(&record).await?;
        self.room_view(record, actor).await
    }

    /// The owner removes anyone, an admin removes plain members (API.md v1.1). The removed
    /// user hears `room:left` first; the room's later events no longer reach them.
    pub async fn remove_member(&self, actor: &UserId, room: &RoomId, user: &UserId) -> Result<()> {
        if actor == user {
            return Err(Error::BadRequest(
                "to leave a group, use DELETE /rooms/{id}/members/me".into(),
            ));
        }
        let (record, me) = self.membership(actor, room).await?;
        if record.kind == RoomKind::Direct {
            return Err(Error::BadRequest(
                "a direct room has exactly two members".into(),
            ));
        }
        let target = self.member_of(room, user).await?;
        let allowed =
            me.role == Role::Owner || (me.role == Role::Admin && target.role == Role::Member);
        if !allowed {
            return Err(Error::Forbidden(
                "the owner removes anyone; an admin removes members only",
            ));
        }
        self.ports.rooms.remove_member(room, user).await?;
        self.members_changed(room).await;
        let event = RoomLeftEvent {
            room_id: room.clone(),
            reason: LeftReason::Removed,
        };
        self.fanout.room_left(user, &event).await;
        let (by, removed) = (self.name_of(actor).await, self.name_of(user).await);
        self.system_message(room, actor, format!("{by} removed {removed}"))
            .await;
        self.announce_room(&record).await
    }

    /// The owner makes a member an admin or a member again, or hands the group over
    /// (`owner`: the caller becomes an admin).
    pub async fn set_member_role(
        &self,
        actor: &UserId,
        room: &RoomId,
        user: &UserId,
        role: Role,
    ) -> Result<Room> {
        let (record, me) = self.membership(actor, room).await?;
        if record.kind == RoomKind::Direct {
            return Err(Error::BadRequest("a direct room has no roles".into()));
        }
        if me.role != Role::Owner {
            return Err(Error::Forbidden("only the owner changes roles"));
        }
        if actor == user {
            return Err(Error::BadRequest(
                "the owner hands the group over by making someone else its owner".into(),
            ));
        }
        let target = self.member_of(room, user).await?;
        if target.role == role {
            return self.room_view(record, actor).await;
        }
        let rooms = &self.ports.rooms;
        rooms.set_role(room, user, role).await?;
        if role == Role::Owner {
            rooms.set_role(room, actor, Role::Admin).await?;
        }
        self.members_changed(room).await;
        let (by, member) = (self.name_of(actor).await, self.name_of(user).await);
        let what = match role {
            Role::Owner => format!("{by} made {member} the owner"),
            Role::Admin => format!("{by} made {member} an admin"),
            Role::Member => format!("{by} made {member} a member"),
        };
        self.system_message(room, actor, what).await;
        self.announce_room(&record).await?;
        self.room_view(record, actor).await
    }

    /// Someone a change names, who must be a member of the room.
    async fn member_of(&self, room: &RoomId, user: &UserId) -> Result<MemberRecord> {
        self.ports
            .rooms
            .member(room, user)
            .await?
            .ok_or(Error::NotFound("member"))
    }

    /// The caller mutes or unmutes a room: no `message` notifications (mentions still come).
    pub async fn set_muted(&self, user: &UserId, room: &RoomId, muted: bool) -> Result<Room> {
        let (record, _) = self.membership(user, room).await?;
        self.ports.rooms.set_muted(room, user, muted).await?;
        self.members_changed(room).await;
        self.room_view(record, user).await
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
        let event = RoomLeftEvent {
            room_id: room.clone(),
            reason: LeftReason::Left,
        };
        self.fanout.room_left(user, &event).await;
        let name = self.name_of(user).await;
        self.system_message(room, user, format!("{name} left"))
            .await;
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
        let (shared, muted) = self.shared_view(record).await?;
        self.viewed_by(shared, &muted, viewer).await
    }

    /// The part of a room's view that is the same for every member (unread count 0), and
    /// who has muted it.
    async fn shared_view(&self, record: RoomRecord) -> Result<(Room, HashSet<UserId>)> {
        let records = self.ports.rooms.members(&record.id).await?;
        let muted: HashSet<UserId> = records
            .iter()
            .filter(|m| m.muted)
            .map(|m| m.user_id.clone())
            .collect();
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
        let room = Room {
            id: record.id,
            kind: record.kind,
            name: record.name,
            created_at: record.created_at,
            last_seq: record.last_seq,
            last_message,
            unread_count: 0,
            members,
            topic: record.topic,
            muted: false,
        };
        Ok((room, muted))
    }

    /// A shared view completed with `viewer`'s unread count and mute.
    async fn viewed_by(
        &self,
        mut room: Room,
        muted: &HashSet<UserId>,
        viewer: &UserId,
    ) -> Result<Room> {
        room.muted = muted.contains(viewer);
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
        let (shared, muted) = self.shared_view(record.clone()).await?;
        let members: Vec<UserId> = shared.members.iter().map(|m| m.user.id.clone()).collect();
        for member in members {
            let view = self.viewed_by(shared.clone(), &muted, &member).await?;
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
