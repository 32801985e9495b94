//! Registration, sign-in and sessions.

use std::net::IpAddr;
use std::time::Duration;

use app::protocol::{LoginRequest, RegisterRequest, Timestamp, User, UserId};

use super::Chat;
use crate::domain::{DisplayName, Password, Username, new_id};
use crate::error::{Error, Result};
use crate::passwords::HashError;
use crate::secrets;

/// The most results a user search returns.
const SEARCH_LIMIT: u32 = 20;

/// A signed-in session: the user and the token that proves it.
pub struct Session {
    pub user: User,
    pub token: String,
}

impl Chat {
    /// Creates an account and signs it in.
    pub async fn register(&self, request: RegisterRequest, client: IpAddr) -> Result<Session> {
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
        self.open_session(user).await
    }

    /// Checks a username and password; the same answer whether the user or the password is
    /// wrong.
    pub async fn login(&self, request: LoginRequest, client: IpAddr) -> Result<Session> {
        self.limit_auth_by_address(client).await?;
        let refused = Error::Unauthorized("wrong username or password");
        let Ok(username) = Username::parse(&request.username) else {
            return Err(refused);
        };
        let limits = &self.settings.limits;
        let key = format!("login:user:{}", username.as_str());
        if let Some(wait) = self
            .ports
            .limiter
            .hit(&key, limits.login_per_account, limits.auth_window)
            .await?
        {
            return Err(Error::RateLimited(wait));
        }
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
            Some(user) if ok => self.open_session(user).await,
            _ => Err(refused),
        }
    }

    async fn open_session(&self, user: User) -> Result<Session> {
        let token = secrets::new_token();
        let expires_at = Timestamp::now().plus_secs(self.settings.limits.session_ttl.as_secs());
        self.ports
            .accounts
            .create_session(&secrets::token_hash(&token), &user.id, expires_at)
            .await?;
        Ok(Session { user, token })
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

    /// Ends the session of `token` at once.
    pub async fn logout(&self, token: &str) -> Result<()> {
        Ok(self
            .ports
            .accounts
            .delete_session(&secrets::token_hash(token))
            .await?)
    }

    pub async fn me(&self, user: &UserId) -> Result<User> {
        self.ports
            .accounts
            .user(user)
            .await?
            .ok_or(Error::Unauthorized("the account is gone"))
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
        Ok(self
            .ports
            .accounts
            .search_users(query, SEARCH_LIMIT)
            .await?)
    }

    async fn limit_auth_by_address(&self, client: IpAddr) -> Result<()> {
        let limits = &self.settings.limits;
        let key = format!("auth:ip:{client}");
        match self
            .ports
            .limiter
            .hit(&key, limits.auth_per_ip, limits.auth_window)
            .await?
        {
            Some(wait) => Err(Error::RateLimited(wait)),
            None => Ok(()),
        }
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
