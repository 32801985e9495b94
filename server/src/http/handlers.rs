//! REST handlers: translate HTTP into calls on the chat core and results back.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE,
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderMap, LOCATION, RANGE, SET_COOKIE, USER_AGENT,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use protocol::paths;
use protocol::{
    AddMemberRequest, AuthResponse, ChangePasswordRequest, CreateDirectRequest, CreateGroupRequest,
    CreateInviteRequest, CreateMediaRequest, CreatedMedia, DeleteAccountRequest, ErrorBody,
    HistoryQuery, Invite, InvitePreview, LoginRequest, Media, MediaId, MemberPage, MemberPageQuery,
    Message, MessagePage, MuteRequest, PushSubscriptionCreated, PushSubscriptionRequest,
    RegisterRequest, Room, RoomId, SearchQuery, SendMessageRequest, SessionInfo, SetRoleRequest,
    UpdateMeRequest, UpdateRoomRequest, User, UserId, VapidPublicKey,
};
use serde::Deserialize;

use super::AppState;
use super::auth::{AuthUser, ClientIp, clear_session_cookie, set_session_cookie};
use super::extract::{ApiJson, ApiPath, ApiQuery, JsonOrDefault};
use super::range::{RangeProblem, byte_range};
use crate::chat::accounts::Session;
use crate::chat::media::{MediaContent, Rendition};
use crate::error::{Error, Result};

/// The client's `User-Agent`, for the session list.
fn agent(headers: &HeaderMap) -> Option<&str> {
    headers.get(USER_AGENT).and_then(|v| v.to_str().ok())
}

#[utoipa::path(
    post, path = paths::REGISTER, tag = "accounts", security(()),
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The account, signed in; also sets the session cookie", body = AuthResponse),
        (status = 409, description = "The username is taken", body = ErrorBody),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<Response> {
    let session = state.chat.register(request, ip, agent(&headers)).await?;
    Ok(signed_in(&state, StatusCode::CREATED, session))
}

#[utoipa::path(
    post, path = paths::LOGIN, tag = "accounts", security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; also sets the session cookie", body = AuthResponse),
        (status = 401, description = "No such username, or the wrong password", body = ErrorBody),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response> {
    let session = state.chat.login(request, ip, agent(&headers)).await?;
    Ok(signed_in(&state, StatusCode::OK, session))
}

/// `{user, token}` plus the web app's session cookie.
fn signed_in(state: &AppState, status: StatusCode, session: Session) -> Response {
    let ttl = state.config.limits.session_ttl.as_secs();
    let cookie = set_session_cookie(&session.token, ttl, state.config.cookie_secure);
    let body = AuthResponse {
        user: session.user,
        token: session.token,
    };
    (status, [(SET_COOKIE, cookie)], Json(body)).into_response()
}

#[utoipa::path(
    post, path = paths::LOGOUT, tag = "accounts",
    responses((status = 204, description = "The session ended; its token and sockets stop working at once"))
)]
pub async fn logout(State(state): State<AppState>, caller: AuthUser) -> Result<Response> {
    state.chat.logout(&caller.token).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(SET_COOKIE, clear_session_cookie())],
    )
        .into_response())
}

#[utoipa::path(
    get, path = paths::ME, tag = "accounts",
    responses((status = 200, description = "The caller", body = User))
)]
pub async fn me(State(state): State<AppState>, caller: AuthUser) -> Result<Json<User>> {
    Ok(Json(state.chat.me(&caller.id).await?))
}

#[utoipa::path(
    patch, path = paths::ME, tag = "accounts",
    request_body = UpdateMeRequest,
    responses(
        (status = 200, description = "The caller, changed", body = User),
        (status = 404, description = "No such avatar media of the caller's", body = ErrorBody),
    )
)]
pub async fn update_me(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiJson(request): ApiJson<UpdateMeRequest>,
) -> Result<Json<User>> {
    Ok(Json(state.chat.update_me(&caller.id, request).await?))
}

#[utoipa::path(
    get, path = paths::MY_SESSIONS, tag = "accounts",
    responses((status = 200, description = "The caller's sessions", body = [SessionInfo]))
)]
pub async fn my_sessions(
    State(state): State<AppState>,
    caller: AuthUser,
) -> Result<Json<Vec<SessionInfo>>> {
    Ok(Json(state.chat.sessions(&caller.id, &caller.token).await?))
}

#[utoipa::path(
    delete, path = paths::MY_SESSION, tag = "accounts",
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 204, description = "The session ended; its token and sockets stop working at once"),
        (status = 404, description = "No such session of the caller's", body = ErrorBody),
    )
)]
pub async fn end_session(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode> {
    state.chat.end_session(&caller.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = paths::MY_PASSWORD, tag = "accounts",
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; every other session of the user ended"),
        (status = 403, description = "The current password is wrong", body = ErrorBody),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiJson(request): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode> {
    state
        .chat
        .change_password(&caller.id, &caller.token, request)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Extension: `GET /rooms/{id}/members?offset=&limit=`, a page of a room's members.
#[utoipa::path(
    get, path = paths::ROOM_MEMBERS, tag = "rooms",
    params(("id" = String, Path, description = "The room's id"), MemberPageQuery),
    responses(
        (status = 200, description = "A page of the room's members, oldest first", body = MemberPage),
        (status = 403, description = "The caller is not a member of the room", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
    )
)]
pub async fn room_members(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    ApiQuery(query): ApiQuery<MemberPageQuery>,
) -> Result<Json<MemberPage>> {
    Ok(Json(
        state
            .chat
            .room_members(&caller.id, &room, query.offset, query.limit)
            .await?,
    ))
}

/// v1.1: `DELETE /me`, with the password.
#[utoipa::path(
    delete, path = paths::ME, tag = "accounts",
    request_body = DeleteAccountRequest,
    responses(
        (status = 204, description = "The account is gone"),
        (status = 403, description = "The password is wrong", body = ErrorBody),
    )
)]
pub async fn delete_account(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiJson(request): ApiJson<DeleteAccountRequest>,
) -> Result<StatusCode> {
    state
        .chat
        .delete_account(&caller.id, request.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// v1.1: `POST /users/{id}/block`.
#[utoipa::path(
    post, path = paths::USER_BLOCK, tag = "accounts",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Blocked: no direct room with them, no messages from them"),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
pub async fn block_user(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<UserId>,
) -> Result<StatusCode> {
    state.chat.block(&caller.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// v1.1: `DELETE /users/{id}/block`.
#[utoipa::path(
    delete, path = paths::USER_BLOCK, tag = "accounts",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Not blocked any more"),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
pub async fn unblock_user(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<UserId>,
) -> Result<StatusCode> {
    state.chat.unblock(&caller.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Extension: `GET /me/blocks`, whom the caller has blocked.
#[utoipa::path(
    get, path = paths::MY_BLOCKS, tag = "accounts",
    responses((status = 200, description = "Whom the caller has blocked", body = [User]))
)]
pub async fn blocked_users(
    State(state): State<AppState>,
    caller: AuthUser,
) -> Result<Json<Vec<User>>> {
    Ok(Json(state.chat.blocked_users(&caller.id).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// A prefix of a username or display name; an empty one finds nobody.
    #[serde(default)]
    q: String,
}

#[utoipa::path(
    get, path = paths::USERS, tag = "accounts",
    params(UserQuery),
    responses((status = 200, description = "Users whose username or display name starts with `q`", body = [User]))
)]
pub async fn search_users(
    State(state): State<AppState>,
    _caller: AuthUser,
    ApiQuery(query): ApiQuery<UserQuery>,
) -> Result<Json<Vec<User>>> {
    Ok(Json(state.chat.search_users(&query.q).await?))
}

#[utoipa::path(
    get, path = paths::SEARCH, tag = "messages",
    params(SearchQuery),
    responses(
        (status = 200, description = "Matching messages of the caller's rooms, newest first", body = MessagePage),
        (status = 403, description = "The caller is not a member of the room", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
    )
)]
pub async fn search_messages(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Json<MessagePage>> {
    Ok(Json(state.chat.search(&caller.id, query).await?))
}

#[utoipa::path(
    get, path = paths::ROOMS, tag = "rooms",
    responses((status = 200, description = "The caller's rooms, most recent activity first", body = [Room]))
)]
pub async fn list_rooms(
    State(state): State<AppState>,
    caller: AuthUser,
) -> Result<Json<Vec<Room>>> {
    Ok(Json(state.chat.list_rooms(&caller.id).await?))
}

#[utoipa::path(
    post, path = paths::ROOMS, tag = "rooms",
    request_body = CreateGroupRequest,
    responses(
        (status = 201, description = "The new group; the caller is its owner", body = Room),
        (status = 404, description = "A member to add does not exist", body = ErrorBody),
    )
)]
pub async fn create_group(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiJson(request): ApiJson<CreateGroupRequest>,
) -> Result<(StatusCode, Json<Room>)> {
    let room = state
        .chat
        .create_group(&caller.id, &request.name, request.member_ids)
        .await?;
    Ok((StatusCode::CREATED, Json(room)))
}

#[utoipa::path(
    post, path = paths::DIRECT_ROOMS, tag = "rooms",
    request_body = CreateDirectRequest,
    responses(
        (status = 200, description = "The direct room of the pair, which existed already", body = Room),
        (status = 201, description = "The direct room of the pair, new", body = Room),
        (status = 403, description = "One of the two has blocked the other", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
pub async fn open_direct(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiJson(request): ApiJson<CreateDirectRequest>,
) -> Result<(StatusCode, Json<Room>)> {
    let (room, created) = state.chat.open_direct(&caller.id, &request.user_id).await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(room),
    ))
}

#[utoipa::path(
    get, path = paths::ROOM, tag = "rooms",
    params(("id" = String, Path, description = "The room's id")),
    responses(
        (status = 200, description = "The room", body = Room),
        (status = 403, description = "The caller is not a member of the room", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
    )
)]
pub async fn get_room(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(room): ApiPath<RoomId>,
) -> Result<Json<Room>> {
    Ok(Json(state.chat.get_room(&caller.id, &room).await?))
}

#[utoipa::path(
    post, path = paths::ROOM_MEMBERS, tag = "rooms",
    params(("id" = String, Path, description = "The room's id")),
    request_body = AddMemberRequest,
    responses(
        (status = 200, description = "The room with its new member", body = Room),
        (status = 403, description = "The caller is not a member, or not an owner or admin, or the room is direct", body = ErrorBody),
        (status = 404, description = "No such room or user", body = ErrorBody),
        (status = 409, description = "Already a member, or the room is full", body = ErrorBody),
    )
)]
pub async fn add_member(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    ApiJson(request): ApiJson<AddMemberRequest>,
) -> Result<Json<Room>> {
    Ok(Json(
        state
            .chat
            .add_member(&caller.id, &room, &request.user_id)
            .await?,
    ))
}

#[utoipa::path(
    delete, path = paths::ROOM_MEMBERSHIP, tag = "rooms",
    params(("id" = String, Path, description = "The room's id")),
    responses(
        (status = 204, description = "Left the group"),
        (status = 403, description = "The caller is not a member, or the room is direct (it cannot be left)", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
    )
)]
pub async fn leave_room(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(room): ApiPath<RoomId>,
) -> Result<StatusCode> {
    state.chat.leave(&caller.id, &room).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    patch, path = paths::ROOM, tag = "rooms",
    params(("id" = String, Path, description = "The room's id")),
    request_body = UpdateRoomRequest,
    responses(
        (status = 200, description = "The room, changed", body = Room),
        (status = 403, description = "The caller is not a member, or not an owner or admin, or the room is direct", body = ErrorBody),
        (status = 404, description = "No such room, or no such avatar media of the caller's", body = ErrorBody),
    )
)]
pub async fn update_room(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    ApiJson(request): ApiJson<UpdateRoomRequest>,
) -> Result<Json<Room>> {
    Ok(Json(
        state.chat.update_room(&caller.id, &room, request).await?,
    ))
}

#[utoipa::path(
    delete, path = paths::ROOM_MEMBER, tag = "rooms",
    params(("id" = String, Path, description = "The room's id"), ("user_id" = String, Path, description = "The member's user id")),
    responses(
        (status = 204, description = "Removed; they get `room:left`"),
        (status = 403, description = "The caller is not a member, or may not remove this one", body = ErrorBody),
        (status = 404, description = "No such room or member", body = ErrorBody),
    )
)]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath((room, user)): ApiPath<(RoomId, UserId)>,
) -> Result<StatusCode> {
    state.chat.remove_member(&caller.id, &room, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    patch, path = paths::ROOM_MEMBER, tag = "rooms",
    params(("id" = String, Path, description = "The room's id"), ("user_id" = String, Path, description = "The member's user id")),
    request_body = SetRoleRequest,
    responses(
        (status = 200, description = "The room with the member's new role", body = Room),
        (status = 403, description = "The caller is not the owner of the room", body = ErrorBody),
        (status = 404, description = "No such room or member", body = ErrorBody),
    )
)]
pub async fn set_member_role(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath((room, user)): ApiPath<(RoomId, UserId)>,
    ApiJson(request): ApiJson<SetRoleRequest>,
) -> Result<Json<Room>> {
    Ok(Json(
        state
            .chat
            .set_member_role(&caller.id, &room, &user, request.role)
            .await?,
    ))
}

#[utoipa::path(
    patch, path = paths::ROOM_MEMBERSHIP, tag = "rooms",
    params(("id" = String, Path, description = "The room's id")),
    request_body = MuteRequest,
    responses(
        (status = 200, description = "The room, `muted` as asked", body = Room),
        (status = 403, description = "The caller is not a member of the room", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
    )
)]
pub async fn mute_room(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    ApiJson(request): ApiJson<MuteRequest>,
) -> Result<Json<Room>> {
    Ok(Json(
        state
            .chat
            .set_muted(&caller.id, &room, request.muted)
            .await?,
    ))
}

#[utoipa::path(
    get, path = paths::ROOM_MESSAGES, tag = "messages",
    params(("id" = String, Path, description = "The room's id"), HistoryQuery),
    responses(
        (status = 200, description = "A page of the room's messages, ascending `seq`", body = MessagePage),
        (status = 403, description = "The caller is not a member of the room", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<MessagePage>> {
    Ok(Json(state.chat.history(&caller.id, &room, query).await?))
}

#[utoipa::path(
    post, path = paths::ROOM_MESSAGES, tag = "messages",
    params(("id" = String, Path, description = "The room's id")),
    request_body = SendMessageRequest,
    responses(
        (status = 201, description = "The message, durable", body = Message),
        (status = 200, description = "The message stored by an earlier send with the same `client_id`", body = Message),
        (status = 403, description = "The caller is not a member, may not send this change, or is blocked by the other member of a direct room", body = ErrorBody),
        (status = 404, description = "No such room, media or target message", body = ErrorBody),
        (status = 409, description = "The same reaction by the same user on the same message exists", body = ErrorBody),
    )
)]
pub async fn send_message(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    ApiJson(request): ApiJson<SendMessageRequest>,
) -> Result<Response> {
    let (message, created) = state.chat.send(&caller.id, &room, request).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(message)).into_response())
}

#[utoipa::path(
    post, path = paths::ROOM_INVITES, tag = "invites",
    params(("id" = String, Path, description = "The room's id")),
    request_body(content = Option<CreateInviteRequest>, description = "May be left out: an invite with no expiry and no limit of uses"),
    responses(
        (status = 201, description = "The invite", body = Invite),
        (status = 403, description = "The caller is not a member, or not an owner or admin, or the room is direct", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
    )
)]
pub async fn create_invite(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    JsonOrDefault(request): JsonOrDefault<CreateInviteRequest>,
) -> Result<(StatusCode, Json<Invite>)> {
    let invite = state.chat.create_invite(&caller.id, &room, request).await?;
    Ok((StatusCode::CREATED, Json(invite)))
}

#[utoipa::path(
    get, path = paths::INVITE, tag = "invites", security(()),
    params(("code" = String, Path, description = "The invite's code")),
    responses(
        (status = 200, description = "What the invite leads to", body = InvitePreview),
        (status = 404, description = "No such invite", body = ErrorBody),
        (status = 410, description = "Expired, used up or revoked", body = ErrorBody),
    )
)]
pub async fn preview_invite(
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<InvitePreview>> {
    Ok(Json(state.chat.preview_invite(&code).await?))
}

#[utoipa::path(
    post, path = paths::INVITE_ACCEPT, tag = "invites",
    params(("code" = String, Path, description = "The invite's code")),
    responses(
        (status = 200, description = "The room joined (or already a member of)", body = Room),
        (status = 404, description = "No such invite", body = ErrorBody),
        (status = 409, description = "The room is full", body = ErrorBody),
        (status = 410, description = "Expired, used up or revoked", body = ErrorBody),
    )
)]
pub async fn accept_invite(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<Room>> {
    Ok(Json(state.chat.accept_invite(&caller.id, &code).await?))
}

#[utoipa::path(
    delete, path = paths::INVITE, tag = "invites",
    params(("code" = String, Path, description = "The invite's code")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "The caller is not an owner or admin of the room", body = ErrorBody),
        (status = 404, description = "No such invite", body = ErrorBody),
    )
)]
pub async fn revoke_invite(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(code): ApiPath<String>,
) -> Result<StatusCode> {
    state.chat.revoke_invite(&caller.id, &code).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = paths::MEDIA, tag = "media",
    request_body = CreateMediaRequest,
    responses(
        (status = 201, description = "The media (usable once completed) and where to upload its bytes", body = CreatedMedia),
        (status = 413, description = "Larger than the limit for its kind", body = ErrorBody),
        (status = 415, description = "A content type this kind does not take", body = ErrorBody),
    )
)]
pub async fn create_media(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiJson(request): ApiJson<CreateMediaRequest>,
) -> Result<(StatusCode, Json<CreatedMedia>)> {
    let created = state.chat.create_media(&caller.id, request).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// When the upload URL stops working, in seconds since the Unix epoch.
    expires: u64,
    /// The server's signature of the key, type, size and expiry.
    signature: String,
}

/// The embedded store's upload endpoint. The signed URL is the credential (as a presigned
/// S3 URL is), so it needs no session.
#[utoipa::path(
    put, path = paths::UPLOAD, tag = "media", security(()),
    params(("key" = String, Path, description = "The upload's key, as `upload.url` gives it"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The raw bytes, with the content type the media declared"),
    responses(
        (status = 200, description = "Stored (the embedded mode's stand-in for a presigned S3 PUT)"),
        (status = 403, description = "The signature is wrong or expired", body = ErrorBody),
        (status = 413, description = "More bytes than the media declared", body = ErrorBody),
    )
)]
pub async fn upload(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(query): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let content_type = header(CONTENT_TYPE).unwrap_or_default();
    let length = header(CONTENT_LENGTH).and_then(|v| v.parse().ok());
    state
        .chat
        .accept_upload(
            &key,
            content_type,
            query.expires,
            &query.signature,
            length,
            body.into_data_stream(),
        )
        .await?;
    Ok(StatusCode::OK)
}

#[utoipa::path(
    post, path = paths::MEDIA_COMPLETE, tag = "media",
    params(("id" = String, Path, description = "The media's id")),
    responses(
        (status = 200, description = "The media, checked and ready to send", body = Media),
        (status = 404, description = "No such media of the caller's", body = ErrorBody),
        (status = 409, description = "The bytes are not there yet", body = ErrorBody),
        (status = 413, description = "The stored bytes are more than declared, or more than the limit", body = ErrorBody),
        (status = 415, description = "The bytes are not of the declared type", body = ErrorBody),
    )
)]
pub async fn complete_media(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<MediaId>,
) -> Result<Json<Media>> {
    Ok(Json(state.chat.complete_media(&caller.id, &id).await?))
}

#[utoipa::path(
    delete, path = paths::MEDIA_ITEM, tag = "media",
    params(("id" = String, Path, description = "The media's id")),
    responses(
        (status = 204, description = "Dropped"),
        (status = 404, description = "No such media of the caller's", body = ErrorBody),
        (status = 409, description = "A message uses it", body = ErrorBody),
    )
)]
pub async fn delete_media(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<MediaId>,
) -> Result<StatusCode> {
    state.chat.delete_media(&caller.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = paths::MEDIA_ITEM, tag = "media",
    params(("id" = String, Path, description = "The media's id")),
    responses(
        (status = 200, description = "The bytes", content_type = "application/octet-stream"),
        (status = 206, description = "The range asked for", content_type = "application/octet-stream"),
        (status = 302, description = "A short-lived signed URL of the bytes"),
        (status = 404, description = "No such media that the caller may see", body = ErrorBody),
        (status = 416, description = "A range wholly past the end"),
    )
)]
pub async fn media(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<MediaId>,
    headers: HeaderMap,
) -> Result<Response> {
    media_response(&state, &caller, &id, Rendition::Original, &headers).await
}

#[utoipa::path(
    get, path = paths::MEDIA_THUMBNAIL, tag = "media",
    params(("id" = String, Path, description = "The media's id")),
    responses(
        (status = 200, description = "The thumbnail's bytes (JPEG)", content_type = "image/jpeg"),
        (status = 302, description = "A short-lived signed URL of the thumbnail"),
        (status = 404, description = "No such media (or thumbnail) that the caller may see", body = ErrorBody),
    )
)]
pub async fn media_thumbnail(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<MediaId>,
    headers: HeaderMap,
) -> Result<Response> {
    media_response(&state, &caller, &id, Rendition::Thumbnail, &headers).await
}

/// `GET /users/{id}/avatar/{token}`: a person's picture, for whoever shares a room with them.
#[utoipa::path(
    get, path = paths::USER_AVATAR, tag = "accounts",
    params(("id" = String, Path, description = "The user's id"), ("token" = String, Path, description = "The version of the picture, as `avatar_url` gives it")),
    responses(
        (status = 200, description = "The picture (JPEG)", content_type = "image/jpeg"),
        (status = 302, description = "A short-lived signed URL of the picture"),
        (status = 404, description = "No such picture that the caller may see", body = ErrorBody),
    )
)]
pub async fn user_avatar(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath((user, token)): ApiPath<(UserId, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let content = state.chat.user_avatar(&caller.id, &user, &token).await?;
    Ok(content_response(content, &headers))
}

/// `GET /rooms/{id}/avatar/{token}`: a group's picture, for its members.
#[utoipa::path(
    get, path = paths::ROOM_AVATAR, tag = "rooms",
    params(("id" = String, Path, description = "The room's id"), ("token" = String, Path, description = "The version of the picture, as `avatar_url` gives it")),
    responses(
        (status = 200, description = "The picture (JPEG)", content_type = "image/jpeg"),
        (status = 302, description = "A short-lived signed URL of the picture"),
        (status = 404, description = "No such picture, or the caller is not a member", body = ErrorBody),
    )
)]
pub async fn room_avatar(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath((room, token)): ApiPath<(RoomId, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let content = state.chat.room_avatar(&caller.id, &room, &token).await?;
    Ok(content_response(content, &headers))
}

/// The bytes, or a redirect to a signed URL. Media never changes, but who may see it can,
/// so only the caller's own browser caches it. The bytes were checked to be the declared
/// type; the headers make sure a browser treats them as nothing else.
async fn media_response(
    state: &AppState,
    caller: &AuthUser,
    id: &MediaId,
    rendition: Rendition,
    request: &HeaderMap,
) -> Result<Response> {
    let content = state.chat.media_content(&caller.id, id, rendition).await?;
    Ok(content_response(content, request))
}

fn content_response(content: MediaContent, request: &HeaderMap) -> Response {
    match content {
        MediaContent::Redirect(url) => (
            StatusCode::FOUND,
            [
                (LOCATION, url),
                (CACHE_CONTROL, "private, max-age=60".into()),
            ],
        )
            .into_response(),
        MediaContent::Bytes {
            content_type,
            bytes,
        } => bytes_response(content_type, bytes, request),
    }
}

/// Media bytes served by this node, whole or the one range a player asked for.
fn bytes_response(content_type: String, bytes: bytes::Bytes, request: &HeaderMap) -> Response {
    let total = bytes.len() as u64;
    let range = request
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| byte_range(v, total));
    let (status, body, content_range) = match range {
        None | Some(Err(RangeProblem::Ignored)) => (StatusCode::OK, bytes, None),
        Some(Ok((first, last))) => (
            StatusCode::PARTIAL_CONTENT,
            bytes.slice(first as usize..=last as usize),
            Some(format!("bytes {first}-{last}/{total}")),
        ),
        Some(Err(RangeProblem::Unsatisfiable)) => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(CONTENT_RANGE, format!("bytes */{total}"))],
            )
                .into_response();
        }
    };
    let mut response = (
        status,
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "private, max-age=86400".into()),
            (X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            (
                CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".into(),
            ),
            (CONTENT_DISPOSITION, "inline".into()),
            (ACCEPT_RANGES, "bytes".into()),
        ],
        body,
    )
        .into_response();
    if let Some(value) = content_range.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert(CONTENT_RANGE, value);
    }
    response
}

/// Any other path under `/api/v1`.
pub async fn no_such_endpoint(uri: Uri) -> Error {
    tracing::debug!(path = uri.path(), "no such endpoint");
    Error::NotFound("endpoint")
}

/// `GET /push/vapid-public-key`: `{key}`, for `pushManager.subscribe`. Public: the key is
/// in every push the server sends.
#[utoipa::path(
    get, path = paths::VAPID_PUBLIC_KEY, tag = "push", security(()),
    responses(
        (status = 200, description = "The application server key for `pushManager.subscribe`", body = VapidPublicKey),
    )
)]
pub async fn vapid_public_key(State(state): State<AppState>) -> Result<Json<VapidPublicKey>> {
    let key = state.chat.vapid_public_key()?;
    Ok(Json(VapidPublicKey { key }))
}

/// `POST /push/subscriptions`: `201 {id}`, or `200` with the same id for a device already
/// registered.
#[utoipa::path(
    post, path = paths::PUSH_SUBSCRIPTIONS, tag = "push",
    request_body = PushSubscriptionRequest,
    responses(
        (status = 201, description = "Registered", body = PushSubscriptionCreated),
        (status = 200, description = "This endpoint or token was registered already: the same id", body = PushSubscriptionCreated),
        (status = 409, description = "The account has as many subscriptions as it may keep (20)", body = ErrorBody),
    )
)]
pub async fn register_push(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiJson(request): ApiJson<PushSubscriptionRequest>,
) -> Result<(StatusCode, Json<PushSubscriptionCreated>)> {
    let (id, created) = state
        .chat
        .register_push(&caller.id, &caller.token, request)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(PushSubscriptionCreated { id })))
}

#[utoipa::path(
    delete, path = paths::PUSH_SUBSCRIPTION, tag = "push",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 204, description = "Unregistered"),
        (status = 404, description = "No such subscription of the caller's", body = ErrorBody),
    )
)]
pub async fn unregister_push(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode> {
    state.chat.unregister_push(&caller.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
