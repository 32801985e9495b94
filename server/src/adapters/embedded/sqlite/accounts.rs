//! The embedded store's accounts: users and their credentials, sessions, blocks, push
//! subscriptions and the server's own secrets.

use super::*;

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_user(&self, user: &User, password_hash: &str) -> PortResult<()> {
        let (user, hash) = (user.clone(), password_hash.to_owned());
        let inserted = self
            .write(move |conn| {
                let result = conn.execute(
                    "INSERT INTO users (id, username, display_name, display_lower, avatar_url,
                         password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        user.id.0,
                        user.username,
                        user.display_name,
                        user.display_name.to_lowercase(),
                        user.avatar_url,
                        hash,
                        user.created_at.as_millis()
                    ],
                );
                super::inserted(result)
            })
            .await?;
        created_or(inserted, Conflict::UsernameTaken)
    }

    async fn credentials(&self, username: &str) -> PortResult<Option<(User, String)>> {
        let username = username.to_owned();
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = ?1"),
                [username],
                |row| Ok((user_row(row)?, row.get(5)?)),
            )
            .optional()
        })
        .await
    }

    async fn user(&self, id: &UserId) -> PortResult<Option<User>> {
        let id = id.0.clone();
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [id],
                user_row,
            )
            .optional()
        })
        .await
    }

    async fn users(&self, ids: &[UserId]) -> PortResult<Vec<User>> {
        let ids: Vec<String> = ids.iter().map(|id| id.0.clone()).collect();
        self.call(move |conn| {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?;
            let mut users = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(user) = stmt.query_row([id], user_row).optional()? {
                    users.push(user);
                }
            }
            Ok(users)
        })
        .await
    }

    async fn search_users(&self, prefix: &str, limit: u32) -> PortResult<Vec<User>> {
        let low = prefix.to_lowercase();
        // Everything that starts with `low` sorts in [low, low + U+10FFFF): an index range.
        let high = format!("{low}\u{10FFFF}");
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users
                 WHERE ((username >= ?1 AND username < ?2)
                    OR (display_lower >= ?1 AND display_lower < ?2))
                   AND deleted_at IS NULL
                 ORDER BY username LIMIT ?3"
            ))?;
            stmt.query_map(params![low, high, limit], user_row)?
                .collect()
        })
        .await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user: &UserId,
        expires_at: Timestamp,
    ) -> PortResult<()> {
        let (hash, user) = (token_hash.to_owned(), user.0.clone());
        self.write(move |conn| {
            // Sweep this user's expired sessions so the table does not grow without bound.
            conn.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND expires_at <= ?2",
                params![user, Timestamp::now().as_millis()],
            )?;
            conn.execute(
                "INSERT INTO sessions (token_hash, user_id, expires_at, created_at, last_seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![
                    hash,
                    user,
                    expires_at.as_millis(),
                    Timestamp::now().as_millis()
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn session_user(&self, token_hash: &str, now: Timestamp) -> PortResult<Option<UserId>> {
        let hash = token_hash.to_owned();
        self.call(move |conn| {
            conn.query_row(
                "SELECT user_id FROM sessions WHERE token_hash = ?1 AND expires_at > ?2",
                params![hash, now.as_millis()],
                |row| row.get(0).map(UserId),
            )
            .optional()
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> PortResult<()> {
        let hash = token_hash.to_owned();
        self.write(move |conn| {
            conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [&hash])?;
            conn.execute("DELETE FROM push_subscriptions WHERE session = ?1", [&hash])
                .map(drop)
        })
        .await
    }

    async fn touch_session(
        &self,
        token_hash: &str,
        seen_at: Timestamp,
        user_agent: Option<&str>,
    ) -> PortResult<()> {
        let (hash, agent) = (token_hash.to_owned(), user_agent.map(str::to_owned));
        self.write(move |conn| {
            conn.execute(
                "UPDATE sessions SET last_seen_at = MAX(COALESCE(last_seen_at, 0), ?2),
                     user_agent = COALESCE(?3, user_agent)
                 WHERE token_hash = ?1",
                params![hash, seen_at.as_millis(), agent],
            )
            .map(drop)
        })
        .await
    }

    async fn sessions_of(&self, user: &UserId, now: Timestamp) -> PortResult<Vec<SessionRecord>> {
        let user = user.0.clone();
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT token_hash, created_at, last_seen_at, user_agent, expires_at
                 FROM sessions WHERE user_id = ?1 AND expires_at > ?2
                 ORDER BY COALESCE(created_at, expires_at) DESC",
            )?;
            stmt.query_map(params![user, now.as_millis()], |row| {
                Ok(SessionRecord {
                    token_hash: row.get(0)?,
                    created_at: row.get::<_, Option<i64>>(1)?.map(Timestamp::from_millis),
                    last_seen_at: row.get::<_, Option<i64>>(2)?.map(Timestamp::from_millis),
                    user_agent: row.get(3)?,
                    expires_at: Timestamp::from_millis(row.get(4)?),
                })
            })?
            .collect()
        })
        .await
    }

    async fn end_sessions(&self, user: &UserId, keep: Option<&str>) -> PortResult<Vec<String>> {
        let (user, keep) = (user.0.clone(), keep.unwrap_or_default().to_owned());
        self.write(move |conn| {
            let ended: Vec<String> = conn
                .prepare_cached(
                    "SELECT token_hash FROM sessions WHERE user_id = ?1 AND token_hash <> ?2",
                )?
                .query_map(params![user, keep], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            conn.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND token_hash <> ?2",
                params![user, keep],
            )?;
            conn.execute(
                "DELETE FROM push_subscriptions WHERE user_id = ?1 AND session <> ?2",
                params![user, keep],
            )?;
            Ok(ended)
        })
        .await
    }

    async fn set_display_name(&self, user: &UserId, display_name: &str) -> PortResult<()> {
        let (user, name) = (user.0.clone(), display_name.to_owned());
        self.write(move |conn| {
            conn.execute(
                "UPDATE users SET display_name = ?2, display_lower = ?3 WHERE id = ?1",
                params![user, name, name.to_lowercase()],
            )
            .map(drop)
        })
        .await
    }

    async fn set_avatar(&self, user: &UserId, avatar: Option<&str>) -> PortResult<Option<String>> {
        let (user, avatar) = (user.0.clone(), avatar.map(str::to_owned));
        self.write(move |conn| replace_avatar(conn, "users", &user, avatar.as_deref()))
            .await
    }

    async fn set_password_hash(&self, user: &UserId, password_hash: &str) -> PortResult<()> {
        let (user, hash) = (user.0.clone(), password_hash.to_owned());
        self.write(move |conn| {
            conn.execute(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                params![user, hash],
            )
            .map(drop)
        })
        .await
    }

    async fn block(&self, blocker: &UserId, blocked: &UserId, at: Timestamp) -> PortResult<bool> {
        let (blocker, blocked) = (blocker.0.clone(), blocked.0.clone());
        self.write(move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO blocks (blocker, blocked, created_at) VALUES (?1, ?2, ?3)",
                params![blocker, blocked, at.as_millis()],
            )
            .map(|inserted| inserted == 1)
        })
        .await
    }

    async fn unblock(&self, blocker: &UserId, blocked: &UserId) -> PortResult<bool> {
        let (blocker, blocked) = (blocker.0.clone(), blocked.0.clone());
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM blocks WHERE blocker = ?1 AND blocked = ?2",
                params![blocker, blocked],
            )
            .map(|deleted| deleted == 1)
        })
        .await
    }

    async fn blocked_by(&self, blocker: &UserId) -> PortResult<Vec<UserId>> {
        let blocker = blocker.0.clone();
        self.call(move |conn| {
            conn.prepare_cached(
                "SELECT blocked FROM blocks WHERE blocker = ?1 ORDER BY created_at DESC, blocked",
            )?
            .query_map([blocker], |row| Ok(UserId(row.get(0)?)))?
            .collect()
        })
        .await
    }

    async fn blockers_of(&self, user: &UserId, among: &[UserId]) -> PortResult<Vec<UserId>> {
        let (user, among) = (user.0.clone(), among.to_vec());
        self.call(move |conn| {
            let mut stmt =
                conn.prepare_cached("SELECT 1 FROM blocks WHERE blocker = ?1 AND blocked = ?2")?;
            let mut blockers = Vec::new();
            for blocker in among {
                if stmt.exists(params![blocker.0, user])? {
                    blockers.push(blocker);
                }
            }
            Ok(blockers)
        })
        .await
    }

    async fn save_push_subscription(
        &self,
        record: &PushSubscriptionRecord,
    ) -> PortResult<(String, bool)> {
        let record = record.clone();
        self.write(move |conn| {
            let address = record.target.address();
            let (p256dh, auth) = record.target.keys().unzip();
            let mine: Option<String> = conn
                .query_row(
                    "SELECT id FROM push_subscriptions WHERE address = ?1 AND user_id = ?2",
                    params![address, record.user_id.0],
                    |row| row.get(0),
                )
                .optional()?;
            if let Some(id) = mine {
                conn.execute(
                    "UPDATE push_subscriptions SET session = ?2, p256dh = ?3, auth = ?4
                     WHERE id = ?1",
                    params![id, record.session, p256dh, auth],
                )?;
                return Ok((id, false));
            }
            // The device was someone else's (signed out there, in here): it is ours now.
            conn.execute(
                "DELETE FROM push_subscriptions WHERE address = ?1",
                [address],
            )?;
            conn.execute(
                "INSERT INTO push_subscriptions
                     (id, user_id, session, kind, address, p256dh, auth, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    record.id,
                    record.user_id.0,
                    record.session,
                    record.target.kind(),
                    address,
                    p256dh,
                    auth,
                    record.created_at.as_millis()
                ],
            )?;
            Ok((record.id.clone(), true))
        })
        .await
    }

    async fn delete_push_subscription(&self, user: &UserId, id: &str) -> PortResult<bool> {
        let (user, id) = (user.0.clone(), id.to_owned());
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM push_subscriptions WHERE id = ?1 AND user_id = ?2",
                params![id, user],
            )
            .map(|deleted| deleted == 1)
        })
        .await
    }

    async fn keep_server_secret(&self, name: &str, candidate: &str) -> PortResult<String> {
        let (name, candidate) = (name.to_owned(), candidate.to_owned());
        self.write(move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO server_secrets (name, value) VALUES (?1, ?2)",
                params![name, candidate],
            )?;
            conn.query_row(
                "SELECT value FROM server_secrets WHERE name = ?1",
                [name],
                |row| row.get(0),
            )
        })
        .await
    }

    async fn push_subscriptions(
        &self,
        users: &[UserId],
        now: Timestamp,
    ) -> PortResult<Vec<PushSubscriptionRecord>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let users = users.to_vec();
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT p.id, p.user_id, p.session, p.kind, p.address, p.p256dh, p.auth,
                        p.created_at
                 FROM push_subscriptions p JOIN sessions s ON s.token_hash = p.session
                 WHERE p.user_id = ?1 AND s.expires_at > ?2
                 ORDER BY p.created_at, p.id",
            )?;
            let mut found = Vec::new();
            for user in users {
                let rows = stmt.query_map(params![user.0, now.as_millis()], |row| {
                    let kind: String = row.get(3)?;
                    let target =
                        PushTarget::from_parts(&kind, row.get(4)?, row.get(5)?, row.get(6)?);
                    let (id, user_id, session) = (row.get(0)?, row.get(1)?, row.get(2)?);
                    let created_at = Timestamp::from_millis(row.get(7)?);
                    // A kind this version does not know is skipped, not an error.
                    Ok(target.map(|target| PushSubscriptionRecord {
                        id,
                        user_id: UserId(user_id),
                        session,
                        target,
                        created_at,
                    }))
                })?;
                for row in rows {
                    found.extend(row?);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn delete_user(&self, user: &UserId, now: Timestamp) -> PortResult<Vec<String>> {
        let tombstone = deleted_username(user);
        let user = user.0.clone();
        self.write(move |conn| {
            let ended: Vec<String> = conn
                .prepare_cached("SELECT token_hash FROM sessions WHERE user_id = ?1")?
                .query_map([&user], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            conn.execute("DELETE FROM sessions WHERE user_id = ?1", [&user])?;
            conn.execute("DELETE FROM push_subscriptions WHERE user_id = ?1", [&user])?;
            // An empty hash is no hash any password verifies against.
            conn.execute(
                "UPDATE users SET username = ?2, display_name = ?3, display_lower = '',
                   avatar_url = NULL, password_hash = '', deleted_at = ?4
                 WHERE id = ?1",
                params![user, tombstone, DELETED_USER_NAME, now.as_millis()],
            )?;
            Ok(ended)
        })
        .await
    }
}
