//! What the user does, as the components ask for it: the components' one door to the server.
//! Sending and receiving messages go through the outbox and the socket (`realtime`); every
//! other request goes through here. An answer that changes what the client holds (a room,
//! the signed-in user, the session itself) is folded into its state before the component
//! sees the outcome, so no component patches the client's state by hand. Reads that only
//! fill a component (a search, the sessions list, an invite's preview) pass straight through.

use leptos::prelude::*;

use super::{ApiError, Auth, Client, api};
use crate::protocol::{
    ChangePasswordRequest, CreateInviteRequest, Invite, InvitePreview, LoginRequest, MemberPage,
    MessagePage, RegisterRequest, Role, Room, RoomId, SessionInfo, UpdateMeRequest,
    UpdateRoomRequest, User, UserId,
};

impl Client {
    // ---- The account and its sessions ------------------------------------------------

    /// Creates an account and signs in with it.
    pub async fn register(self, request: RegisterRequest) -> Result<(), ApiError> {
        let answer = api::register(&request).await?;
        self.signed_in(answer.user);
        Ok(())
    }

    pub async fn login(self, request: LoginRequest) -> Result<(), ApiError> {
        let answer = api::login(&request).await?;
        self.signed_in(answer.user);
        Ok(())
    }

    /// A new display name or picture, shown at once and kept for an offline start.
    pub async fn update_me(self, request: UpdateMeRequest) -> Result<(), ApiError> {
        let user = api::update_me(&request).await?;
        self.remember_user(&user);
        self.auth.set(Auth::SignedIn(user));
        Ok(())
    }

    /// Every other session of the account is signed out by the server.
    pub async fn change_password(self, request: ChangePasswordRequest) -> Result<(), ApiError> {
        api::change_password(&request).await
    }

    pub async fn sessions(self) -> Result<Vec<SessionInfo>, ApiError> {
        api::sessions().await
    }

    /// Ends a session; ending this device's own signs out here too.
    pub async fn end_session(self, session: &SessionInfo) -> Result<(), ApiError> {
        api::end_session(&session.id).await?;
        if session.current {
            self.sign_out();
        }
        Ok(())
    }

    /// Deletes the account (the password confirms it) and signs out.
    pub async fn delete_account(self, password: String) -> Result<(), ApiError> {
        api::delete_account(password).await?;
        self.sign_out();
        Ok(())
    }

    // ---- People ----------------------------------------------------------------------

    /// People whose username or display name starts with `query`, not counting me.
    pub async fn search_users(self, query: &str) -> Result<Vec<User>, ApiError> {
        let me = self.me();
        let mut people = api::search_users(query).await?;
        people.retain(|u| Some(&u.id) != me.as_ref());
        Ok(people)
    }

    pub async fn blocked_users(self) -> Result<Vec<User>, ApiError> {
        api::blocked_users().await
    }

    pub async fn set_blocked(self, user: &UserId, blocked: bool) -> Result<(), ApiError> {
        api::set_blocked(user, blocked).await
    }

    // ---- Rooms -----------------------------------------------------------------------

    /// A new group with me as its owner, added to the room list; its id, to open it.
    pub async fn create_group(
        self,
        name: String,
        member_ids: Vec<UserId>,
    ) -> Result<RoomId, ApiError> {
        let room = api::create_group(name, member_ids).await?;
        Ok(self.room_answered(room))
    }

    /// The direct room with `user`, made if needed and added to the room list.
    pub async fn open_direct(self, user: UserId) -> Result<RoomId, ApiError> {
        let room = api::open_direct(user).await?;
        Ok(self.room_answered(room))
    }

    pub async fn update_room(
        self,
        room: &RoomId,
        request: UpdateRoomRequest,
    ) -> Result<(), ApiError> {
        let room = api::update_room(room, &request).await?;
        self.room_answered(room);
        Ok(())
    }

    /// Mutes (no notifications but mentions) or unmutes the room for me.
    pub async fn set_muted(self, room: &RoomId, muted: bool) -> Result<(), ApiError> {
        let room = api::set_muted(room, muted).await?;
        self.room_answered(room);
        Ok(())
    }

    pub async fn add_member(self, room: &RoomId, user: UserId) -> Result<(), ApiError> {
        let room = api::add_member(room, user).await?;
        self.room_answered(room);
        Ok(())
    }

    pub async fn set_role(self, room: &RoomId, user: &UserId, role: Role) -> Result<(), ApiError> {
        let room = api::set_role(room, user, role).await?;
        self.room_answered(room);
        Ok(())
    }

    /// Removes `user` from the group, or me when `None` (leaving it). The room's new state
    /// (or, for me, `room:left`) comes over the socket.
    pub async fn remove_member(self, room: &RoomId, user: Option<&UserId>) -> Result<(), ApiError> {
        api::remove_member(room, user).await
    }

    /// A page of the group's members after the first ones a `Room` lists.
    pub async fn members(
        self,
        room: &RoomId,
        offset: usize,
        limit: usize,
    ) -> Result<MemberPage, ApiError> {
        api::members(room, offset, limit).await
    }

    // ---- Invite links ----------------------------------------------------------------

    pub async fn create_invite(
        self,
        room: &RoomId,
        request: CreateInviteRequest,
    ) -> Result<Invite, ApiError> {
        api::create_invite(room, &request).await
    }

    pub async fn revoke_invite(self, code: &str) -> Result<(), ApiError> {
        api::revoke_invite(code).await
    }

    pub async fn invite_preview(self, code: &str) -> Result<InvitePreview, ApiError> {
        api::invite_preview(code).await
    }

    /// Joins the group of an invite link, added to the room list; its id, to open it.
    pub async fn accept_invite(self, code: &str) -> Result<RoomId, ApiError> {
        let room = api::accept_invite(code).await?;
        Ok(self.room_answered(room))
    }

    // ---- Search ----------------------------------------------------------------------

    /// Messages of my rooms that match `query`, newest first.
    pub async fn search(self, query: &str) -> Result<MessagePage, ApiError> {
        api::search(query).await
    }

    /// A room an action answered with, folded into the list; its id.
    fn room_answered(self, room: Room) -> RoomId {
        let id = room.id.clone();
        self.add_room(room);
        id
    }
}
