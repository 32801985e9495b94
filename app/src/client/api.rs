//! The REST half of the API (`/api/v1`), typed with the shared wire types.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::browser::{self, FetchError};
use crate::protocol::{
    AddMemberRequest, AuthResponse, ChangePasswordRequest, CreateGroupRequest, CreateInviteRequest,
    CreateMediaRequest, CreatedMedia, DeleteAccountRequest, ErrorBody, ErrorCode, Invite,
    InvitePreview, LoginRequest, Media, MediaId, MemberPage, MessagePage, MuteRequest,
    PushSubscriptionCreated, PushSubscriptionRequest, RegisterRequest, Role, Room, RoomId,
    SessionInfo, SetRoleRequest, UpdateMeRequest, UpdateRoomRequest, User, UserId, VapidPublicKey,
    paths,
};

/// A failed call: no answer at all, or the server's error body.
#[derive(Clone, Debug)]
pub enum ApiError {
    Network,
    Server {
        status: u16,
        code: Option<ErrorCode>,
        message: String,
    },
}

impl ApiError {
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ApiError::Server { status: 401, .. })
    }

    /// A sentence for the user.
    pub fn message(&self) -> String {
        match self {
            ApiError::Network => "Cannot reach Confab. Check your connection.".into(),
            ApiError::Server { message, .. } => message.clone(),
        }
    }
}

async fn call<T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: Option<&impl Serialize>,
) -> Result<T, ApiError> {
    let body = body.and_then(|b| serde_json::to_string(b).ok());
    match browser::fetch(method, &[paths::API, path].concat(), body).await {
        Ok(text) => {
            let text = if text.is_empty() { "null" } else { &text };
            serde_json::from_str(text).map_err(|e| ApiError::Server {
                status: 200,
                code: None,
                message: format!("Unexpected answer: {e}"),
            })
        }
        Err(FetchError::Network) => Err(ApiError::Network),
        Err(FetchError::Status(status, text)) => {
            let body = serde_json::from_str::<ErrorBody>(&text).ok();
            Err(ApiError::Server {
                status,
                code: body.as_ref().map(|b| b.error.code),
                message: body
                    .map(|b| b.error.message)
                    .unwrap_or_else(|| format!("The server answered {status}.")),
            })
        }
    }
}

const NO_BODY: Option<&()> = None;

pub async fn me() -> Result<User, ApiError> {
    call("GET", paths::ME, NO_BODY).await
}

pub async fn register(request: &RegisterRequest) -> Result<AuthResponse, ApiError> {
    call("POST", paths::REGISTER, Some(request)).await
}

pub async fn login(request: &LoginRequest) -> Result<AuthResponse, ApiError> {
    call("POST", paths::LOGIN, Some(request)).await
}

pub async fn logout() -> Result<(), ApiError> {
    call("POST", paths::LOGOUT, NO_BODY).await
}

pub async fn rooms() -> Result<Vec<Room>, ApiError> {
    call("GET", paths::ROOMS, NO_BODY).await
}

pub async fn search_users(query: &str) -> Result<Vec<User>, ApiError> {
    call(
        "GET",
        &[paths::USERS, "?q=", &encode(query)].concat(),
        NO_BODY,
    )
    .await
}

/// A new display name for me.
pub async fn update_me(request: &UpdateMeRequest) -> Result<User, ApiError> {
    call("PATCH", paths::ME, Some(request)).await
}

/// Where I am signed in, newest first.
pub async fn sessions() -> Result<Vec<SessionInfo>, ApiError> {
    call("GET", paths::MY_SESSIONS, NO_BODY).await
}

/// Ends one of my sessions (its devices are disconnected).
pub async fn end_session(id: &str) -> Result<(), ApiError> {
    call("DELETE", &paths::fill(paths::MY_SESSION, &[id]), NO_BODY).await
}

/// A new password; every other session ends.
pub async fn change_password(request: &ChangePasswordRequest) -> Result<(), ApiError> {
    call("POST", paths::MY_PASSWORD, Some(request)).await
}

/// Deletes my account, confirmed by its password: every session ends.
pub async fn delete_account(password: String) -> Result<(), ApiError> {
    call(
        "DELETE",
        paths::ME,
        Some(&DeleteAccountRequest { password }),
    )
    .await
}

/// Whom I have blocked, newest first.
pub async fn blocked_users() -> Result<Vec<User>, ApiError> {
    call("GET", paths::MY_BLOCKS, NO_BODY).await
}

/// `blocked`: from now on `user` cannot start a direct room with me or add me to a group.
pub async fn set_blocked(user: &UserId, blocked: bool) -> Result<(), ApiError> {
    let path = paths::fill(paths::USER_BLOCK, &[user.as_str()]);
    call(if blocked { "POST" } else { "DELETE" }, &path, NO_BODY).await
}

/// Messages of my rooms holding every word of `query`, newest first.
pub async fn search(query: &str) -> Result<MessagePage, ApiError> {
    call(
        "GET",
        &[paths::SEARCH, "?q=", &encode(query), "&limit=20"].concat(),
        NO_BODY,
    )
    .await
}

pub async fn create_group(name: String, member_ids: Vec<UserId>) -> Result<Room, ApiError> {
    let request = CreateGroupRequest { name, member_ids };
    call("POST", paths::ROOMS, Some(&request)).await
}

/// The owner or an admin renames a group or sets its topic.
pub async fn update_room(room: &RoomId, request: &UpdateRoomRequest) -> Result<Room, ApiError> {
    call(
        "PATCH",
        &paths::fill(paths::ROOM, &[room.as_str()]),
        Some(request),
    )
    .await
}

/// The owner or an admin adds someone to a group.
pub async fn add_member(room: &RoomId, user_id: UserId) -> Result<Room, ApiError> {
    let path = paths::fill(paths::ROOM_MEMBERS, &[room.as_str()]);
    call("POST", &path, Some(&AddMemberRequest { user_id })).await
}

/// The owner makes someone an admin, a member again, or the owner.
pub async fn set_role(room: &RoomId, user: &UserId, role: Role) -> Result<Room, ApiError> {
    let path = paths::fill(paths::ROOM_MEMBER, &[room.as_str(), user.as_str()]);
    call("PATCH", &path, Some(&SetRoleRequest { role })).await
}

/// Removes someone from a group (`me`: leaves it).
pub async fn remove_member(room: &RoomId, user: Option<&UserId>) -> Result<(), ApiError> {
    let path = match user {
        Some(user) => paths::fill(paths::ROOM_MEMBER, &[room.as_str(), user.as_str()]),
        None => paths::fill(paths::ROOM_MEMBERSHIP, &[room.as_str()]),
    };
    call("DELETE", &path, NO_BODY).await
}

/// A page of a room's members, oldest first (a `Room` lists only the first ones).
pub async fn members(room: &RoomId, offset: usize, limit: usize) -> Result<MemberPage, ApiError> {
    let path = format!(
        "{}?offset={offset}&limit={limit}",
        paths::fill(paths::ROOM_MEMBERS, &[room.as_str()])
    );
    call("GET", &path, NO_BODY).await
}

/// Mutes or unmutes a room for me.
pub async fn set_muted(room: &RoomId, muted: bool) -> Result<Room, ApiError> {
    let path = paths::fill(paths::ROOM_MEMBERSHIP, &[room.as_str()]);
    call("PATCH", &path, Some(&MuteRequest { muted })).await
}

pub async fn open_direct(user_id: UserId) -> Result<Room, ApiError> {
    let request = crate::protocol::CreateDirectRequest { user_id };
    call("POST", paths::DIRECT_ROOMS, Some(&request)).await
}

/// The newest page, or the page just before `before_seq`.
pub async fn history(room: &RoomId, before_seq: Option<u64>) -> Result<MessagePage, ApiError> {
    let cursor = before_seq.map_or(String::new(), |s| format!("&before_seq={s}"));
    let path = format!(
        "{}?limit=50{cursor}",
        paths::fill(paths::ROOM_MESSAGES, &[room.as_str()])
    );
    call("GET", &path, NO_BODY).await
}

pub async fn create_invite(
    room: &RoomId,
    request: &CreateInviteRequest,
) -> Result<Invite, ApiError> {
    let path = paths::fill(paths::ROOM_INVITES, &[room.as_str()]);
    call("POST", &path, Some(request)).await
}

pub async fn invite_preview(code: &str) -> Result<InvitePreview, ApiError> {
    call("GET", &paths::fill(paths::INVITE, &[code]), NO_BODY).await
}

pub async fn accept_invite(code: &str) -> Result<Room, ApiError> {
    call("POST", &paths::fill(paths::INVITE_ACCEPT, &[code]), NO_BODY).await
}

pub async fn revoke_invite(code: &str) -> Result<(), ApiError> {
    call("DELETE", &paths::fill(paths::INVITE, &[code]), NO_BODY).await
}

/// Announces an upload; the answer says where to `PUT` the bytes.
pub async fn create_media(request: &CreateMediaRequest) -> Result<CreatedMedia, ApiError> {
    call("POST", paths::MEDIA, Some(request)).await
}

/// Asks the server to check the uploaded bytes; the media can be sent afterwards.
pub async fn complete_media(id: &MediaId) -> Result<Media, ApiError> {
    let path = paths::fill(paths::MEDIA_COMPLETE, &[id.as_str()]);
    call("POST", &path, NO_BODY).await
}

/// Drops an upload no message uses.
pub async fn delete_media(id: &MediaId) -> Result<(), ApiError> {
    call(
        "DELETE",
        &paths::fill(paths::MEDIA_ITEM, &[id.as_str()]),
        NO_BODY,
    )
    .await
}

pub use crate::protocol::paths::encode;

pub async fn vapid_public_key() -> Result<String, ApiError> {
    call::<VapidPublicKey>("GET", paths::VAPID_PUBLIC_KEY, NO_BODY)
        .await
        .map(|answer| answer.key)
}

pub async fn register_push(request: &PushSubscriptionRequest) -> Result<(), ApiError> {
    call::<PushSubscriptionCreated>("POST", paths::PUSH_SUBSCRIPTIONS, Some(request))
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_text_is_percent_encoded() {
        assert_eq!(super::encode("a b&c/é"), "a%20b%26c%2F%C3%A9");
    }
}
