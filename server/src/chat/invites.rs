//! Invite links. The code is a 128-bit secret shown once, at creation; the store keeps only
//! its hash. A dead invite (expired, used up or revoked) answers `gone`.

use protocol::{
    CreateInviteRequest, Invite, InvitePreview, InviteRoom, NotificationEvent, NotificationKind,
    Role, Room, RoomId, RoomKind, Timestamp, UserId,
};

use super::Chat;
use crate::error::{Error, Result};
use crate::ports::store::{InviteRecord, RoomRecord};
use crate::secrets;

/// Invites last at most a year and allow at most 10,000 joins.
const MAX_EXPIRY_SECS: u64 = 365 * 24 * 3600;
const MAX_USES: u32 = 10_000;

impl Chat {
    /// An owner or admin creates an invite to a group.
    pub async fn create_invite(
        &self,
        actor: &UserId,
        room: &RoomId,
        request: CreateInviteRequest,
    ) -> Result<Invite> {
        let (record, me) = self.membership(actor, room).await?;
        if record.kind == RoomKind::Direct {
            return Err(Error::BadRequest("a direct room takes no invites".into()));
        }
        if !me.role.can_manage() {
            return Err(Error::Forbidden("only the owner or an admin can invite"));
        }
        if let Some(secs) = request.expires_in_secs
            && !(1..=MAX_EXPIRY_SECS).contains(&secs)
        {
            return Err(Error::BadRequest(format!(
                "expires_in_secs must be from 1 to {MAX_EXPIRY_SECS}"
            )));
        }
        if let Some(uses) = request.max_uses
            && !(1..=MAX_USES).contains(&uses)
        {
            return Err(Error::BadRequest(format!(
                "max_uses must be from 1 to {MAX_USES}"
            )));
        }
        let code = secrets::new_invite_code();
        let now = Timestamp::now();
        let invite = InviteRecord {
            code_hash: secrets::token_hash(&code),
            room_id: room.clone(),
            created_by: actor.clone(),
            created_at: now,
            expires_at: request.expires_in_secs.map(|secs| now.plus_secs(secs)),
            max_uses: request.max_uses,
            uses: 0,
            revoked: false,
        };
        self.ports.invites.create_invite(&invite).await?;
        Ok(Invite {
            url: format!("{}/invite/{code}", self.settings.public_url),
            code,
            room_id: invite.room_id,
            created_by: invite.created_by,
            created_at: invite.created_at,
            expires_at: invite.expires_at,
            max_uses: invite.max_uses,
            uses: 0,
        })
    }

    /// What an invite leads to; open to anyone holding the code, signed in or not.
    pub async fn preview_invite(&self, code: &str) -> Result<InvitePreview> {
        let invite = self.live_invite(code).await?;
        let room = self.invite_room(&invite).await?;
        let member_count = self.ports.rooms.members(&room.id).await?.len() as u64;
        Ok(InvitePreview {
            room: InviteRoom {
                id: room.id,
                name: room.name,
                member_count,
            },
            expires_at: invite.expires_at,
            max_uses: invite.max_uses,
            uses: invite.uses,
        })
    }

    /// Joins the invite's room. Someone who is already a member gets the room without using
    /// up the invite (even a dead one: they are in either way).
    pub async fn accept_invite(&self, user: &UserId, code: &str) -> Result<Room> {
        let invite = self.known_invite(code).await?;
        let room = self.invite_room(&invite).await?;
        if self.ports.rooms.member(&room.id, user).await?.is_some() {
            return self.room_view(room, user).await;
        }
        self.check_room_for_one_more(&room.id).await?;
        let hash = secrets::token_hash(code);
        if self
            .ports
            .invites
            .redeem(&hash, Timestamp::now())
            .await?
            .is_none()
        {
            return Err(Error::Gone(
                "this invite has expired, been used up or been revoked",
            ));
        }
        let added = self
            .ports
            .rooms
            .add_member(&room.id, user, Role::Member, Timestamp::now())
            .await?;
        self.members_changed(&room.id).await;
        if added {
            self.fanout.room_joined(user, &room.id).await;
            let name = self.name_of(user).await;
            self.system_message(&room.id, user, format!("{name} joined with an invite link"))
                .await;
        }
        self.announce_room(&room).await?;
        let joiner = self
            .ports
            .accounts
            .user(user)
            .await?
            .map(|u| u.display_name)
            .unwrap_or_default();
        let event = NotificationEvent {
            kind: NotificationKind::InviteAccepted,
            room_id: room.id.clone(),
            message: None,
            text: format!(
                "{joiner} joined {} with your invite",
                room.name.clone().unwrap_or_default()
            ),
        };
        self.fanout
            .notify(std::slice::from_ref(&invite.created_by), &event)
            .await;
        let creator = std::slice::from_ref(&invite.created_by);
        if let Err(err) = self
            .push_to_absent(&[(creator, &event)], Some(&room), &joiner)
            .await
        {
            tracing::warn!(error = %err, "pushes not started");
        }
        self.room_view(room, user).await
    }

    /// Revokes an invite: its creator, or an owner or admin of its room.
    pub async fn revoke_invite(&self, actor: &UserId, code: &str) -> Result<()> {
        let hash = secrets::token_hash(code);
        let invite = self.known_invite(code).await?;
        if invite.created_by != *actor {
            let member = self.ports.rooms.member(&invite.room_id, actor).await?;
            if !member.is_some_and(|m| m.role.can_manage()) {
                return Err(Error::Forbidden(
                    "only the invite's creator or a room admin can revoke it",
                ));
            }
        }
        Ok(self.ports.invites.revoke(&hash).await?)
    }

    /// The room an invite leads to; `gone` if the room no longer exists.
    async fn invite_room(&self, invite: &InviteRecord) -> Result<RoomRecord> {
        self.ports
            .rooms
            .room(&invite.room_id)
            .await?
            .ok_or(Error::Gone("the room is gone"))
    }

    async fn known_invite(&self, code: &str) -> Result<InviteRecord> {
        if code.is_empty() || code.len() > 64 {
            return Err(Error::NotFound("invite"));
        }
        self.ports
            .invites
            .invite(&secrets::token_hash(code))
            .await?
            .ok_or(Error::NotFound("invite"))
    }

    async fn live_invite(&self, code: &str) -> Result<InviteRecord> {
        let invite = self.known_invite(code).await?;
        if !invite.is_live(Timestamp::now()) {
            return Err(Error::Gone(
                "this invite has expired, been used up or been revoked",
            ));
        }
        Ok(invite)
    }
}
