//! Rooms and membership: who is in a room, who may manage it, and how a room looks to each
//! member.

use std::collections::{HashMap, HashSet};

use protocol::{
    LeftReason, Member, MemberPage, NotificationEvent, NotificationKind, Role, Room, RoomId,
    RoomKind, RoomLeftEvent, Timestamp, UpdateRoomRequest, UserId,
};

use super::Chat;
use super::avatars::Owner;
use crate::domain::{RoomName, RoomTopic, new_id};
use crate::error::{Error, Result};
use crate::ports::store::{MemberRecord, NewRoom, RoomRecord, is_deleted};

/// The most people a group can be created with at once.
const MAX_INITIAL_MEMBERS: usize = 256;

/// How many members a `Room` lists (then `member_count` and `GET /rooms/{id}/members`
/// tell the rest), so a big group's every `room:update` stays small. The viewer's own
/// entry is always there.
pub const LISTED_MEMBERS: usize = 100;

/// The largest page of `GET /rooms/{id}/members`.
const MEMBER_PAGE_MAX: u32 = 500;

/// A room's view before it is anyone's: the shared part, and every member.
struct SharedView {
    room: Room,
    everyone: Vec<Member>,
    /// Who of them muted it (their own views say so).
    muted: HashSet<UserId>,
}

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
        // The owner counts towards the group's cap, not towards the first batch.
        let most = MAX_INITIAL_MEMBERS.min(self.settings.limits.max_group_members as usize - 1);
        if invited.len() > most {
            return Err(Error::PayloadTooLarge(format!(
                "a group starts with at most {most} members besides its owner"
            )));
        }
        self.check_reachable(
            owner,
            &invited,
            "someone you named does not accept being added by you",
        )
        .await?;
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
        if !invited.is_empty() {
            let by_name = self.name_of(owner).await;
            self.notify_added(&record, &invited, &by_name).await;
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
        self.check_reachable(
            me,
            std::slice::from_ref(other),
            "this person does not accept direct messages from you",
        )
        .await?;
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
            Err(crate::ports::PortError::Conflict(crate::ports::Conflict::RoomExists)) => {
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
        self.limit(
            "members",
            actor,
            self.settings.limits.member_changes_per_user,
        )
        .await?;
        self.check_reachable(
            actor,
            std::slice::from_ref(user),
            "this person does not accept being added by you",
        )
        .await?;
        if self.ports.rooms.member(room, user).await?.is_some() {
            return self.room_view(record, actor).await;
        }
        self.check_room_for_one_more(room).await?;
        if self
            .ports
            .rooms
            .add_member(room, user, Role::Member, Timestamp::now())
            .await?
        {
            self.members_changed(room).await;
            self.fanout.room_joined(user, room).await;
            let (by, added) = (self.name_of(actor).await, self.name_of(user).await);
            self.system_message(room, actor, format!("{by} added {added}"))
                .await;
            self.announce_room(&record).await?;
            self.notify_added(&record, std::slice::from_ref(user), &by)
                .await;
        }
        self.room_view(record, actor).await
    }

    /// A group at `max_group_members` takes no one more (`409`).
    pub(crate) async fn check_room_for_one_more(&self, room: &RoomId) -> Result<()> {
        let cap = self.settings.limits.max_group_members as usize;
        if self.member_ids(room).await?.len() >= cap {
            return Err(Error::Conflict("this group is full"));
        }
        Ok(())
    }

    /// People `actor` may bring into a room: accounts that exist and are not deleted (else
    /// `not_found`), none of whom has blocked `actor` (else `forbidden`, saying `blocked`).
    async fn check_reachable(
        &self,
        actor: &UserId,
        people: &[UserId],
        blocked: &'static str,
    ) -> Result<()> {
        let found = self.ports.accounts.users(people).await?;
        if found.len() != people.len() || found.iter().any(is_deleted) {
            return Err(Error::NotFound("user"));
        }
        if !self
            .ports
            .accounts
            .blockers_of(actor, people)
            .await?
            .is_empty()
        {
            return Err(Error::Forbidden(blocked));
        }
        Ok(())
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
                "a direct room has no name, topic or picture".into(),
            ));
        }
        if !me.role.can_manage() {
            return Err(Error::Forbidden(
                "only the owner or an admin can change the group",
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
        let avatar = match &request.avatar_media_id {
            None => None,
            Some(None) => record.avatar.is_some().then_some(None),
            Some(Some(media)) => Some(Some(
                self.make_avatar(actor, Owner::Room(room), media).await?,
            )),
        };
        if name.is_none() && topic.is_none() && avatar.is_none() {
            return self.room_view(record, actor).await;
        }
        if name.is_some() || topic.is_some() {
            self.ports
                .rooms
                .update_room(room, name.as_deref(), topic.as_ref().map(Option::as_deref))
                .await?;
        }
        if let Some(avatar) = &avatar {
            let replaced = self
                .ports
                .rooms
                .set_room_avatar(room, avatar.as_deref())
                .await?;
            self.drop_avatar(replaced).await;
        }
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
        match &avatar {
            Some(Some(_)) => {
                self.system_message(room, actor, format!("{by} changed the group's picture"))
                    .await
            }
            Some(None) => {
                self.system_message(room, actor, format!("{by} removed the group's picture"))
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
                self.members_changed(room).await;
                let heir_name = self.name_of(&heir.user_id).await;
                self.system_message(room, user, format!("{heir_name} is now the owner"))
                    .await;
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

    /// Refuses a user who is not a member of `room` (sending, typing). Asks the cached member
    /// list (no store round trip, on every send); only a refusal asks the store, for the
    /// precise answer (no such room, or not a member).
    pub(crate) async fn check_member(&self, user: &UserId, room: &RoomId) -> Result<()> {
        if self.member_ids(room).await?.contains(user) {
            return Ok(());
        }
        self.membership(user, room).await.map(drop)
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
        self.viewed_by(&shared, viewer).await
    }

    /// Every member of a room with their user, oldest first, and who of them muted it.
    async fn all_members(&self, room: &RoomId) -> Result<(Vec<Member>, HashSet<UserId>)> {
        let records = self.ports.rooms.members(room).await?;
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
                    user: self.user_view(users.remove(&m.user_id)?),
                    role: m.role,
                    joined_at: m.joined_at,
                    last_delivered_seq: m.last_delivered_seq,
                    last_read_seq: m.last_read_seq,
                })
            })
            .collect();
        Ok((members, muted))
    }

    /// The part of a room's view that is the same for every member (unread count 0, the
    /// first `LISTED_MEMBERS` members), and every member, for what is each one's own.
    async fn shared_view(&self, record: RoomRecord) -> Result<SharedView> {
        let (everyone, muted) = self.all_members(&record.id).await?;
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
            members: everyone.iter().take(LISTED_MEMBERS).cloned().collect(),
            member_count: everyone.len() as u64,
            topic: record.topic,
            avatar_url: record.avatar.map(|path| self.absolute_url(&path)),
            muted: false,
        };
        Ok(SharedView {
            room,
            everyone,
            muted,
        })
    }

    /// A shared view completed with `viewer`'s unread count and mute, and their own member
    /// entry when the list is too short to hold it.
    async fn viewed_by(&self, shared: &SharedView, viewer: &UserId) -> Result<Room> {
        let me = shared.everyone.iter().find(|m| &m.user.id == viewer);
        self.view_of(shared, viewer, me).await
    }

    /// [`Chat::viewed_by`], with the viewer's member entry (if they are one) at hand.
    async fn view_of(
        &self,
        shared: &SharedView,
        viewer: &UserId,
        me: Option<&Member>,
    ) -> Result<Room> {
        let mut room = shared.room.clone();
        room.muted = shared.muted.contains(viewer);
        if let Some(me) = me
            && !room.members.iter().any(|m| &m.user.id == viewer)
        {
            room.members.push(me.clone());
        }
        let last_read = me.map_or(0, |m| m.last_read_seq);
        room.unread_count = self
            .unread_count(&room.id, viewer, last_read, room.last_seq)
            .await?;
        Ok(room)
    }

    /// `room:update` to every member, each with their own view. The members, their users and
    /// the last message are read once for all of them; only the unread count is per member.
    pub(crate) async fn announce_room(&self, record: &RoomRecord) -> Result<()> {
        let shared = self.shared_view(record.clone()).await?;
        for member in &shared.everyone {
            let viewer = &member.user.id;
            let view = self.view_of(&shared, viewer, Some(member)).await?;
            self.fanout.room_update(viewer, &view).await;
        }
        Ok(())
    }

    /// A page of a room's members for one of them (`GET /rooms/{id}/members`), in the
    /// order `Room.members` begins with.
    pub async fn room_members(
        &self,
        viewer: &UserId,
        room: &RoomId,
        offset: u32,
        limit: u32,
    ) -> Result<MemberPage> {
        self.membership(viewer, room).await?;
        if !(1..=MEMBER_PAGE_MAX).contains(&limit) {
            return Err(Error::BadRequest(format!(
                "limit is 1 to {MEMBER_PAGE_MAX}"
            )));
        }
        let (everyone, _) = self.all_members(room).await?;
        let total = everyone.len() as u64;
        let members: Vec<Member> = everyone
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .collect();
        Ok(MemberPage { members, total })
    }

    /// `added_to_room` to everyone `by_name` added to `room`: one event for them all.
    async fn notify_added(&self, room: &RoomRecord, users: &[UserId], by_name: &str) {
        let room_name = room.name.clone().unwrap_or_default();
        let event = NotificationEvent {
            kind: NotificationKind::AddedToRoom,
            room_id: room.id.clone(),
            message: None,
            text: format!("{by_name} added you to {room_name}"),
        };
        self.fanout.notify(users, &event).await;
        if let Err(err) = self
            .push_to_absent(&[(users, &event)], Some(room), by_name)
            .await
        {
            tracing::warn!(error = %err, "pushes not started");
        }
    }
}
