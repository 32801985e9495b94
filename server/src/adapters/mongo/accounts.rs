//! Users and sessions.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{self, doc};
use protocol::{Timestamp, User, UserId};
use serde::{Deserialize, Serialize};

use super::{MongoStore, is_duplicate_key, store_error};
use crate::ports::store::{
    AccountStore, DELETED_USER_NAME, PushSubscriptionRecord, PushTarget, SessionRecord,
    deleted_username,
};
use crate::ports::{Conflict, PortError, PortResult};

/// A document of `users`.
#[derive(Serialize, Deserialize)]
struct UserDoc {
    #[serde(rename = "_id")]
    id: String,
    username: String,
    display_name: String,
    /// The display name lower-cased, for case-insensitive prefix search over an index.
    display_lower: String,
    avatar_url: Option<String>,
    password_hash: String,
    created_at: i64,
}

impl UserDoc {
    fn new(user: &User, password_hash: &str) -> Self {
        Self {
            id: user.id.0.clone(),
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            display_lower: user.display_name.to_lowercase(),
            avatar_url: user.avatar_url.clone(),
            password_hash: password_hash.to_owned(),
            created_at: user.created_at.as_millis(),
        }
    }

    fn into_user(self) -> User {
        User {
            id: UserId(self.id),
            username: self.username,
            display_name: self.display_name,
            avatar_url: self.avatar_url,
            created_at: Timestamp::from_millis(self.created_at),
        }
    }
}

/// A document of `sessions`. `expires_at` is a BSON date so the TTL index can expire it.
#[derive(Serialize, Deserialize)]
struct SessionDoc {
    /// The token's hash: the token itself is never stored.
    #[serde(rename = "_id")]
    token_hash: String,
    user_id: String,
    expires_at: bson::DateTime,
    #[serde(default)]
    created_at: Option<i64>,
    #[serde(default)]
    last_seen_at: Option<i64>,
    #[serde(default)]
    user_agent: Option<String>,
}

impl SessionDoc {
    fn into_record(self) -> SessionRecord {
        SessionRecord {
            token_hash: self.token_hash,
            created_at: self.created_at.map(Timestamp::from_millis),
            last_seen_at: self.last_seen_at.map(Timestamp::from_millis),
            user_agent: self.user_agent,
            expires_at: Timestamp::from_millis(self.expires_at.timestamp_millis()),
        }
    }
}

/// A document of `blocks`: one per blocker and blocked user, keyed by both.
#[derive(Serialize, Deserialize)]
struct BlockDoc {
    #[serde(rename = "_id")]
    id: String,
    blocker: String,
    blocked: String,
    created_at: i64,
}

/// A document of `server_secrets`: `_id` is the secret's name.
#[derive(Serialize, Deserialize)]
struct SecretDoc {
    value: String,
}

/// A document of `push_subscriptions` (`address`, the endpoint or token, is unique).
#[derive(Serialize, Deserialize)]
struct PushDoc {
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    session: String,
    kind: String,
    address: String,
    #[serde(default)]
    p256dh: Option<String>,
    #[serde(default)]
    auth: Option<String>,
    created_at: i64,
}

impl PushDoc {
    fn new(record: &PushSubscriptionRecord) -> Self {
        let (p256dh, auth) = record.target.keys().unzip();
        PushDoc {
            id: record.id.clone(),
            user_id: record.user_id.0.clone(),
            session: record.session.clone(),
            kind: record.target.kind().to_owned(),
            address: record.target.address().to_owned(),
            p256dh: p256dh.map(str::to_owned),
            auth: auth.map(str::to_owned),
            created_at: record.created_at.as_millis(),
        }
    }

    fn into_record(self) -> Option<PushSubscriptionRecord> {
        Some(PushSubscriptionRecord {
            target: PushTarget::from_parts(&self.kind, self.address, self.p256dh, self.auth)?,
            id: self.id,
            user_id: UserId(self.user_id),
            session: self.session,
            created_at: Timestamp::from_millis(self.created_at),
        })
    }
}

fn block_id(blocker: &UserId, blocked: &UserId) -> String {
    format!("{blocker}:{blocked}")
}

impl MongoStore {
    fn users_collection(&self) -> mongodb::Collection<UserDoc> {
        self.collection("users")
    }

    fn blocks(&self) -> mongodb::Collection<BlockDoc> {
        self.collection("blocks")
    }

    fn sessions(&self) -> mongodb::Collection<SessionDoc> {
        self.collection("sessions")
    }

    /// The token hashes of the sessions `filter` matches.
    async fn session_hashes(&self, filter: bson::Document) -> PortResult<Vec<String>> {
        self.sessions()
            .find(filter)
            .await
            .map_err(store_error)?
            .map_ok(|s| s.token_hash)
            .try_collect()
            .await
            .map_err(store_error)
    }

    fn push_subscriptions_collection(&self) -> mongodb::Collection<PushDoc> {
        self.collection("push_subscriptions")
    }

    /// The user's subscription of `address` moved to `record`'s session and keys; its id.
    async fn refresh_push(&self, record: &PushSubscriptionRecord) -> PortResult<Option<String>> {
        let (p256dh, auth) = record.target.keys().unzip();
        let found = self
            .push_subscriptions_collection()
            .find_one_and_update(
                doc! { "address": record.target.address(), "user_id": record.user_id.as_str() },
                doc! { "$set": { "session": &record.session, "p256dh": p256dh, "auth": auth } },
            )
            .await
            .map_err(store_error)?;
        Ok(found.map(|doc| doc.id))
    }

    /// Up to `limit` users whose `field` starts with `low`, by username.
    async fn users_by_prefix(&self, field: &str, low: &str, limit: u32) -> PortResult<Vec<User>> {
        // Everything that starts with `low` sorts in [low, low + U+10FFFF): an index range,
        // where an unanchored or case-insensitive regex would scan.
        let high = format!("{low}\u{10FFFF}");
        self.users_collection()
            .find(doc! { field: { "$gte": low, "$lt": high }, "deleted_at": null })
            .sort(doc! { "username": 1 })
            .limit(i64::from(limit))
            .await
            .map_err(store_error)?
            .map_ok(UserDoc::into_user)
            .try_collect()
            .await
            .map_err(store_error)
    }
}

#[async_trait]
impl AccountStore for MongoStore {
    async fn create_user(&self, user: &User, password_hash: &str) -> PortResult<()> {
        match self
            .users_collection()
            .insert_one(UserDoc::new(user, password_hash))
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if is_duplicate_key(&err) => Err(PortError::Conflict(Conflict::UsernameTaken)),
            Err(err) => Err(store_error(err)),
        }
    }

    async fn credentials(&self, username: &str) -> PortResult<Option<(User, String)>> {
        let found = self
            .users_collection()
            .find_one(doc! { "username": username })
            .await
            .map_err(store_error)?;
        Ok(found.map(|doc| {
            let hash = doc.password_hash.clone();
            (doc.into_user(), hash)
        }))
    }

    async fn user(&self, id: &UserId) -> PortResult<Option<User>> {
        let found = self
            .users_collection()
            .find_one(doc! { "_id": id.as_str() })
            .await
            .map_err(store_error)?;
        Ok(found.map(UserDoc::into_user))
    }

    async fn users(&self, ids: &[UserId]) -> PortResult<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = ids.iter().map(UserId::as_str).collect();
        self.users_collection()
            .find(doc! { "_id": { "$in": ids } })
            .await
            .map_err(store_error)?
            .map_ok(UserDoc::into_user)
            .try_collect()
            .await
            .map_err(store_error)
    }

    async fn search_users(&self, prefix: &str, limit: u32) -> PortResult<Vec<User>> {
        if limit == 0 {
            // MongoDB reads a limit of 0 as "no limit".
            return Ok(Vec::new());
        }
        let low = prefix.to_lowercase();
        // Two index range scans rather than one `$or`: each is an index lookup on any
        // server, and each brings at most `limit` users, so their merge holds the first
        // `limit` of the union.
        let by_username = self.users_by_prefix("username", &low, limit).await?;
        let by_display = self.users_by_prefix("display_lower", &low, limit).await?;
        let mut seen = HashSet::new();
        let mut users: Vec<User> = by_username
            .into_iter()
            .chain(by_display)
            .filter(|user| seen.insert(user.id.clone()))
            .collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        users.truncate(limit as usize);
        Ok(users)
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user: &UserId,
        expires_at: Timestamp,
    ) -> PortResult<()> {
        // Sweep this user's expired sessions now rather than wait for the TTL monitor, as
        // the SQLite store does; it is housekeeping, so it need not be atomic with the insert.
        let now = bson::DateTime::from_millis(Timestamp::now().as_millis());
        self.sessions()
            .delete_many(doc! { "user_id": user.as_str(), "expires_at": { "$lte": now } })
            .await
            .map_err(store_error)?;
        self.sessions()
            .insert_one(SessionDoc {
                token_hash: token_hash.to_owned(),
                user_id: user.0.clone(),
                expires_at: bson::DateTime::from_millis(expires_at.as_millis()),
                created_at: Some(Timestamp::now().as_millis()),
                last_seen_at: Some(Timestamp::now().as_millis()),
                user_agent: None,
            })
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn session_user(&self, token_hash: &str, now: Timestamp) -> PortResult<Option<UserId>> {
        // Invalid at `expires_at` itself, as in the SQLite store.
        let now = bson::DateTime::from_millis(now.as_millis());
        let found = self
            .sessions()
            .find_one(doc! { "_id": token_hash, "expires_at": { "$gt": now } })
            .await
            .map_err(store_error)?;
        Ok(found.map(|session| UserId(session.user_id)))
    }

    async fn delete_session(&self, token_hash: &str) -> PortResult<()> {
        self.sessions()
            .delete_one(doc! { "_id": token_hash })
            .await
            .map_err(store_error)?;
        // Left behind by a crash here, a subscription is still never answered: its session
        // is gone.
        self.push_subscriptions_collection()
            .delete_many(doc! { "session": token_hash })
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn touch_session(
        &self,
        token_hash: &str,
        seen_at: Timestamp,
        user_agent: Option<&str>,
    ) -> PortResult<()> {
        let mut update = doc! { "$max": { "last_seen_at": seen_at.as_millis() } };
        if let Some(agent) = user_agent {
            update.insert("$set", doc! { "user_agent": agent });
        }
        self.sessions()
            .update_one(doc! { "_id": token_hash }, update)
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn sessions_of(&self, user: &UserId, now: Timestamp) -> PortResult<Vec<SessionRecord>> {
        let now = bson::DateTime::from_millis(now.as_millis());
        let mut sessions: Vec<SessionRecord> = self
            .sessions()
            .find(doc! { "user_id": user.as_str(), "expires_at": { "$gt": now } })
            .await
            .map_err(store_error)?
            .map_ok(SessionDoc::into_record)
            .try_collect()
            .await
            .map_err(store_error)?;
        sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at.unwrap_or(s.expires_at)));
        Ok(sessions)
    }

    async fn end_sessions(&self, user: &UserId, keep: Option<&str>) -> PortResult<Vec<String>> {
        let filter = doc! {
            "user_id": user.as_str(),
            "_id": { "$ne": keep.unwrap_or_default() },
        };
        let ended = self.session_hashes(filter.clone()).await?;
        self.sessions()
            .delete_many(filter)
            .await
            .map_err(store_error)?;
        self.push_subscriptions_collection()
            .delete_many(doc! {
                "user_id": user.as_str(),
                "session": { "$ne": keep.unwrap_or_default() },
            })
            .await
            .map_err(store_error)?;
        Ok(ended)
    }

    async fn save_push_subscription(
        &self,
        record: &PushSubscriptionRecord,
    ) -> PortResult<(String, bool)> {
        if let Some(id) = self.refresh_push(record).await? {
            return Ok((id, false));
        }
        // The device was someone else's (signed out there, in here): it is ours now.
        let subscriptions = self.push_subscriptions_collection();
        subscriptions
            .delete_many(doc! { "address": record.target.address() })
            .await
            .map_err(store_error)?;
        match subscriptions.insert_one(PushDoc::new(record)).await {
            Ok(_) => Ok((record.id.clone(), true)),
            // The same device registered at the same moment: the one stored first stays.
            Err(err) if is_duplicate_key(&err) => match self.refresh_push(record).await? {
                Some(id) => Ok((id, false)),
                None => Err(PortError::Conflict(Conflict::DeviceRegisteredMeanwhile)),
            },
            Err(err) => Err(store_error(err)),
        }
    }

    async fn delete_push_subscription(&self, user: &UserId, id: &str) -> PortResult<bool> {
        let deleted = self
            .push_subscriptions_collection()
            .delete_one(doc! { "_id": id, "user_id": user.as_str() })
            .await
            .map_err(store_error)?;
        Ok(deleted.deleted_count == 1)
    }

    async fn keep_server_secret(&self, name: &str, candidate: &str) -> PortResult<String> {
        let secrets = self.collection::<SecretDoc>("server_secrets");
        let kept = secrets
            .update_one(
                doc! { "_id": name },
                doc! { "$setOnInsert": { "value": candidate } },
            )
            .upsert(true)
            .await;
        // Two nodes inserting at once: one wins, the other's upsert is a duplicate key, and
        // both read the winner's value below.
        match kept {
            Ok(_) => {}
            Err(err) if is_duplicate_key(&err) => {}
            Err(err) => return Err(store_error(err)),
        }
        secrets
            .find_one(doc! { "_id": name })
            .await
            .map_err(store_error)?
            .map(|doc| doc.value)
            .ok_or_else(|| PortError::Other(anyhow::anyhow!("server secret {name} vanished")))
    }

    async fn push_subscriptions(
        &self,
        users: &[UserId],
        now: Timestamp,
    ) -> PortResult<Vec<PushSubscriptionRecord>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = users.iter().map(UserId::as_str).collect();
        let mut subscriptions: Vec<PushDoc> = self
            .push_subscriptions_collection()
            .find(doc! { "user_id": { "$in": &ids } })
            .sort(doc! { "created_at": 1, "_id": 1 })
            .await
            .map_err(store_error)?
            .try_collect()
            .await
            .map_err(store_error)?;
        let sessions: Vec<&str> = subscriptions.iter().map(|s| s.session.as_str()).collect();
        let now = bson::DateTime::from_millis(now.as_millis());
        let live: HashSet<String> = self
            .session_hashes(doc! { "_id": { "$in": sessions }, "expires_at": { "$gt": now } })
            .await?
            .into_iter()
            .collect();
        // By user in the order asked; the sort is stable, so each user's stay oldest first.
        let order: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        subscriptions.sort_by_key(|s| order.get(s.user_id.as_str()).copied());
        Ok(subscriptions
            .into_iter()
            .filter(|s| live.contains(&s.session))
            .filter_map(PushDoc::into_record)
            .collect())
    }

    async fn set_avatar(&self, user: &UserId, avatar: Option<&str>) -> PortResult<Option<String>> {
        let collection = self.users_collection().clone_with_type::<bson::Document>();
        super::replace_avatar(&collection, user.as_str(), avatar).await
    }

    async fn set_display_name(&self, user: &UserId, display_name: &str) -> PortResult<()> {
        self.users_collection()
            .update_one(
                doc! { "_id": user.as_str() },
                doc! { "$set": {
                    "display_name": display_name,
                    "display_lower": display_name.to_lowercase(),
                } },
            )
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn block(&self, blocker: &UserId, blocked: &UserId, at: Timestamp) -> PortResult<bool> {
        let inserted = self
            .blocks()
            .insert_one(BlockDoc {
                id: block_id(blocker, blocked),
                blocker: blocker.0.clone(),
                blocked: blocked.0.clone(),
                created_at: at.as_millis(),
            })
            .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(err) if is_duplicate_key(&err) => Ok(false),
            Err(err) => Err(store_error(err)),
        }
    }

    async fn unblock(&self, blocker: &UserId, blocked: &UserId) -> PortResult<bool> {
        self.blocks()
            .delete_one(doc! { "_id": block_id(blocker, blocked) })
            .await
            .map(|deleted| deleted.deleted_count == 1)
            .map_err(store_error)
    }

    async fn blocked_by(&self, blocker: &UserId) -> PortResult<Vec<UserId>> {
        self.blocks()
            .find(doc! { "blocker": blocker.as_str() })
            .sort(doc! { "created_at": -1, "blocked": 1 })
            .await
            .map_err(store_error)?
            .map_ok(|block| UserId(block.blocked))
            .try_collect()
            .await
            .map_err(store_error)
    }

    async fn blockers_of(&self, user: &UserId, among: &[UserId]) -> PortResult<Vec<UserId>> {
        if among.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = among
            .iter()
            .map(|blocker| block_id(blocker, user))
            .collect();
        self.blocks()
            .find(doc! { "_id": { "$in": ids } })
            .await
            .map_err(store_error)?
            .map_ok(|block| UserId(block.blocker))
            .try_collect()
            .await
            .map_err(store_error)
    }

    async fn delete_user(&self, user: &UserId, now: Timestamp) -> PortResult<Vec<String>> {
        // The account first, so no password opens it while its sessions go.
        self.users_collection()
            .update_one(
                doc! { "_id": user.as_str() },
                doc! { "$set": {
                    "username": deleted_username(user),
                    "display_name": DELETED_USER_NAME,
                    "display_lower": "",
                    "avatar_url": bson::Bson::Null,
                    // An empty hash is no hash any password verifies against.
                    "password_hash": "",
                    "deleted_at": now.as_millis(),
                } },
            )
            .await
            .map_err(store_error)?;
        self.end_sessions(user, None).await
    }

    async fn set_password_hash(&self, user: &UserId, password_hash: &str) -> PortResult<()> {
        self.users_collection()
            .update_one(
                doc! { "_id": user.as_str() },
                doc! { "$set": { "password_hash": password_hash } },
            )
            .await
            .map(drop)
            .map_err(store_error)
    }
}
