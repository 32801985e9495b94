//! Registration, sign-in and sessions.

use std::net::IpAddr;
use std::time::Duration;

use protocol::{
    ChangePasswordRequest, LoginRequest, RegisterRequest, RoomKind, SessionInfo, Timestamp,
    UpdateMeRequest, User, UserId,
};

use super::Chat;
use super::avatars::Owner;
use crate::domain::{DisplayName, Password, Username, new_id};
use crate::error::{Error, Result};
use crate::passwords::HashError;
use crate::secrets;

/// The most results a user search returns.
const SEARCH_LIMIT: u32 = 20;

/// How often a session's "last seen" is written at most (each socket handshake reports it).
const SEEN_EVERY: Duration = Duration::from_secs(300);

/// The longest `User-Agent` kept for the session list.
const MAX_USER_AGENT: usize = 256;

/// A client's `User-Agent`, as the session list shows it: printable, and not too long.
fn user_agent(raw: Option<&str>) -> Option<String> {
    let clean: String = raw?
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT)
        .collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}

/// A signed-in session: the user and the token that proves it.
pub struct Session {
    pub user: User,
    pub token: String,
}

impl Chat {
    /// Creates an account and signs it in.
    pub async fn register(
        &self,
        request: RegisterRequest,
        client: IpAddr,
        agent: Option<&str>,
    ) -> Result<Session> {
        self.limit_auth_by_address(client).await?;
        let username = Username::parse(&request.username)?;
        let password = Password::parse(request.password)?;
        let display_name = match request.display_name.as_deref() {
            Some(name) => DisplayName::parse(name)?,
            None => DisplayName::parse(username.as_str())?,
        };
        let user = User {
            id: UserId(new_id()),
            username: username.as_str().to_owned(),
            display_name: display_name.into_string(),
            avatar_url: None,
            created_at: Timestamp::now(),
        };
        let hash = self
            .passwords
            .hash(password.expose().to_owned())
            .await
            .map_err(hash_error)?;
        self.ports.accounts.create_user(&user, &hash).await?;
        tracing::info!(user_id = %user.id, "account created");
        self.open_session(user, agent).await
    }

    /// Checks a username and password; the same answer whether the user or the password is
    /// wrong.
    pub async fn login(
        &self,
        request: LoginRequest,
        client: IpAddr,
        agent: Option<&str>,
    ) -> Result<Session> {
        self.limit_auth_by_address(client).await?;
        let refused = Error::Unauthorized("wrong username or password");
        let Ok(username) = Username::parse(&request.username) else {
            return Err(refused);
        };
        let limits = &self.settings.limits;
        let key = format!("login:user:{}", username.as_str());
        self.rate_limit("login", &key, limits.login_per_account, limits.auth_window)
            .await?;
        let found = self.ports.accounts.credentials(username.as_str()).await?;
        let password = request.password;
        // An unknown username is checked against a decoy, so the answer takes as long either
        // way and does not reveal which usernames exist.
        let (user, stored) = match found {
            Some((user, hash)) => (Some(user), hash),
            None => (None, self.decoy_hash().await?),
        };
        let ok = self
            .passwords
            .verify(password, stored)
            .await
            .map_err(hash_error)?;
        match user {
            Some(user) if ok => self.open_session(user, agent).await,
            _ => Err(refused),
        }
    }

    async fn open_session(&self, user: User, agent: Option<&str>) -> Result<Session> {
        let token = secrets::new_token();
        let hash = secrets::token_hash(&token);
        let now = Timestamp::now();
        let expires_at = now.plus_secs(self.settings.limits.session_ttl.as_secs());
        let accounts = &self.ports.accounts;
        accounts.create_session(&hash, &user.id, expires_at).await?;
        if let Some(agent) = user_agent(agent) {
            accounts.touch_session(&hash, now, Some(&agent)).await?;
        }
        Ok(Session {
            user: self.user_view(user),
            token,
        })
    }

    /// A device connected with the session of `token_hash`: "last seen", written at most
    /// every few minutes. Best effort.
    pub(crate) async fn session_seen(&self, token_hash: &str, agent: Option<&str>) {
        let key = format!("seen:{}", secrets::session_id(token_hash));
        if !self
            .ports
            .cache
            .claim(&key, SEEN_EVERY)
            .await
            .unwrap_or(false)
        {
            return;
        }
        let agent = user_agent(agent);
        if let Err(err) = self
            .ports
            .accounts
            .touch_session(token_hash, Timestamp::now(), agent.as_deref())
            .await
        {
            tracing::debug!(error = %err, "session not marked seen");
        }
    }

    /// The caller's live sessions, newest first; `token` is the one asking.
    pub async fn sessions(&self, user: &UserId, token: &str) -> Result<Vec<SessionInfo>> {
        let current = secrets::token_hash(token);
        let ttl = self.settings.limits.session_ttl.as_secs();
        let sessions = self
            .ports
            .accounts
            .sessions_of(user, Timestamp::now())
            .await?;
        Ok(sessions
            .into_iter()
            .map(|s| {
                // A session from before these were recorded: when it must have started.
                let created_at = s.created_at.unwrap_or_else(|| {
                    Timestamp::from_millis(
                        s.expires_at
                            .as_millis()
                            .saturating_sub(i64::try_from(ttl).unwrap_or(0).saturating_mul(1000)),
                    )
                });
                SessionInfo {
                    id: secrets::session_id(&s.token_hash),
                    created_at,
                    last_seen_at: s.last_seen_at.unwrap_or(created_at).max(created_at),
                    user_agent: s.user_agent,
                    current: s.token_hash == current,
                }
            })
            .collect())
    }

    /// Ends one of the caller's sessions (any, the current one included) and disconnects its
    /// devices on every node.
    pub async fn end_session(&self, user: &UserId, id: &str) -> Result<()> {
        let found = self
            .ports
            .accounts
            .sessions_of(user, Timestamp::now())
            .await?
            .into_iter()
            .find(|s| secrets::session_id(&s.token_hash) == id)
            .ok_or(Error::NotFound("session"))?;
        self.ports
            .accounts
            .delete_session(&found.token_hash)
            .await?;
        self.fanout.end_sessions(&[id.to_owned()]).await;
        tracing::info!(user_id = %user, "session ended");
        Ok(())
    }

    /// Changes the caller's password after checking the current one; every other session
    /// ends, and its devices are disconnected on every node.
    pub async fn change_password(
        &self,
        user: &UserId,
        token: &str,
        request: ChangePasswordRequest,
    ) -> Result<()> {
        self.limit("password", user, self.settings.limits.login_per_account)
            .await?;
        let new = Password::parse(request.new_password)?;
        self.confirm_password(
            user,
            request.current_password,
            "the current password is not right",
        )
        .await?;
        let hash = self
            .passwords
            .hash(new.expose().to_owned())
            .await
            .map_err(hash_error)?;
        self.ports.accounts.set_password_hash(user, &hash).await?;
        let ended = self
            .ports
            .accounts
            .end_sessions(user, Some(&secrets::token_hash(token)))
            .await?;
        let ids: Vec<String> = ended.iter().map(|h| secrets::session_id(h)).collect();
        self.fanout.end_sessions(&ids).await;
        tracing::info!(user_id = %user, sessions_ended = ids.len(), "password changed");
        Ok(())
    }

    /// Deletes the caller's account, confirmed by its password (API.md v1.1 `DELETE /me`):
    /// the user leaves every group (ownership passes on as for leaving), their media that
    /// no message uses goes, the account becomes "Deleted user" with its username freed, and
    /// every session ends, its sockets cut on every node. Messages stay, with their sender.
    /// Direct rooms keep the deleted account as their second member, so the other person
    /// keeps the conversation.
    pub async fn delete_account(&self, user: &UserId, password: String) -> Result<()> {
        self.limit("password", user, self.settings.limits.login_per_account)
            .await?;
        self.confirm_password(user, password, "the password is not right")
            .await?;
        let rooms = self.ports.rooms.rooms_of(user).await?;
        for room in rooms.iter().filter(|r| r.kind == RoomKind::Group) {
            self.leave(user, &room.id).await?;
        }
        let media = self.delete_unused_media_of(user).await?;
        let picture = self.ports.accounts.set_avatar(user, None).await?;
        self.drop_avatar(picture).await;
        let ended = self
            .ports
            .accounts
            .delete_user(user, Timestamp::now())
            .await?;
        let ids: Vec<String> = ended.iter().map(|h| secrets::session_id(h)).collect();
        self.fanout.end_sessions(&ids).await;
        for room in rooms.iter().filter(|r| r.kind == RoomKind::Direct) {
            // The other member's list shows the new name.
            self.members_changed(&room.id).await;
            if let Err(err) = self.announce_room(room).await {
                tracing::debug!(error = %err, "a direct room did not hear of a deletion");
            }
        }
        tracing::info!(user_id = %user, sessions_ended = ids.len(), media_deleted = media,
            "account deleted");
        Ok(())
    }

    /// The caller blocks `other`: from now on `other` cannot start a direct room with the
    /// caller nor add them to a group. Blocking again changes nothing.
    pub async fn block(&self, me: &UserId, other: &UserId) -> Result<()> {
        if me == other {
            return Err(Error::BadRequest("you cannot block yourself".into()));
        }
        self.limit("blocks", me, self.settings.limits.member_changes_per_user)
            .await?;
        if self.ports.accounts.user(other).await?.is_none() {
            return Err(Error::NotFound("user"));
        }
        if self
            .ports
            .accounts
            .block(me, other, Timestamp::now())
            .await?
        {
            tracing::info!(user_id = %me, blocked = %other, "user blocked");
        }
        Ok(())
    }

    /// The caller unblocks `other` (unblocking someone not blocked changes nothing).
    pub async fn unblock(&self, me: &UserId, other: &UserId) -> Result<()> {
        self.ports.accounts.unblock(me, other).await?;
        Ok(())
    }

    /// Whom the caller has blocked, most recent first.
    pub async fn blocked_users(&self, me: &UserId) -> Result<Vec<User>> {
        let ids = self.ports.accounts.blocked_by(me).await?;
        let mut users: std::collections::HashMap<UserId, User> = self
            .ports
            .accounts
            .users(&ids)
            .await?
            .into_iter()
            .map(|user| (user.id.clone(), user))
            .collect();
        Ok(ids
            .iter()
            .filter_map(|id| users.remove(id))
            .map(|user| self.user_view(user))
            .collect())
    }

    /// Checks the caller's own password, for a change that needs more than a token; a wrong
    /// one is `forbidden`, saying `refusal`.
    async fn confirm_password(
        &self,
        user: &UserId,
        password: String,
        refusal: &'static str,
    ) -> Result<()> {
        let me = self.me(user).await?;
        let (_, stored) = self
            .ports
            .accounts
            .credentials(&me.username)
            .await?
            .ok_or(Error::Unauthorized("the account is gone"))?;
        let ok = self
            .passwords
            .verify(password, stored)
            .await
            .map_err(hash_error)?;
        if ok {
            Ok(())
        } else {
            Err(Error::Forbidden(refusal))
        }
    }

    /// The user a bearer token belongs to.
    pub async fn authenticate(&self, token: &str) -> Result<UserId> {
        let hash = secrets::token_hash(token);
        self.ports
            .accounts
            .session_user(&hash, Timestamp::now())
            .await?
            .ok_or(Error::Unauthorized("missing, invalid or expired token"))
    }

    /// Ends the session of `token` at once, and disconnects its devices on every node.
    pub async fn logout(&self, token: &str) -> Result<()> {
        let hash = secrets::token_hash(token);
        self.ports.accounts.delete_session(&hash).await?;
        self.fanout
            .end_sessions(&[secrets::session_id(&hash)])
            .await;
        Ok(())
    }

    /// The caller changes their display name or picture; the rooms they are in hear of it
    /// (`room:update`), so every member's list shows the change.
    pub async fn update_me(&self, user: &UserId, request: UpdateMeRequest) -> Result<User> {
        let name = request
            .display_name
            .as_deref()
            .map(DisplayName::parse)
            .transpose()?;
        if name.is_none() && request.avatar_media_id.is_none() {
            return self.me(user).await;
        }
        // The picture first: it is what can fail on bad input, and then nothing changed.
        let avatar = match &request.avatar_media_id {
            None => None,
            Some(None) => Some(None),
            Some(Some(media)) => Some(Some(
                self.make_avatar(user, Owner::User(user), media).await?,
            )),
        };
        if let Some(name) = &name {
            self.ports
                .accounts
                .set_display_name(user, name.as_str())
                .await?;
        }
        if let Some(avatar) = avatar {
            let replaced = self
                .ports
                .accounts
                .set_avatar(user, avatar.as_deref())
                .await?;
            self.drop_avatar(replaced).await;
        }
        for room in self.ports.rooms.rooms_of(user).await? {
            // Cached names of the room's members go with the version.
            self.members_changed(&room.id).await;
            if let Err(err) = self.announce_room(&room).await {
                tracing::debug!(error = %err, "a room did not hear of a new name");
            }
        }
        self.me(user).await
    }

    pub async fn me(&self, user: &UserId) -> Result<User> {
        let me = self
            .ports
            .accounts
            .user(user)
            .await?
            .ok_or(Error::Unauthorized("the account is gone"))?;
        Ok(self.user_view(me))
    }

    /// People whose username or display name starts with `query`.
    pub async fn search_users(&self, query: &str) -> Result<Vec<User>> {
        let query = query.trim();
        if query.is_empty() {
            return Err(Error::BadRequest("q must not be empty".into()));
        }
        if query.chars().count() > 64 {
            return Err(Error::BadRequest("q must be at most 64 characters".into()));
        }
        let found = self
            .ports
            .accounts
            .search_users(query, SEARCH_LIMIT)
            .await?;
        Ok(found.into_iter().map(|user| self.user_view(user)).collect())
    }

    async fn limit_auth_by_address(&self, client: IpAddr) -> Result<()> {
        let limits = &self.settings.limits;
        let key = format!("auth:ip:{client}");
        self.rate_limit("auth", &key, limits.auth_per_ip, limits.auth_window)
            .await
    }
}

impl Chat {
    /// A hash of a random password nobody knows, made once per node.
    async fn decoy_hash(&self) -> Result<String> {
        self.decoy
            .get_or_try_init(|| self.passwords.hash(secrets::new_token()))
            .await
            .cloned()
            .map_err(hash_error)
    }
}

/// A full hashing queue asks the client to come back shortly; anything else is ours.
fn hash_error(err: HashError) -> Error {
    match err {
        HashError::Busy => Error::RateLimited(Duration::from_secs(1)),
        HashError::Failed(why) => Error::Internal(anyhow::anyhow!(why)),
    }
}
