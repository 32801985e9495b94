//! Presence in memory: the set of live connections per user.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use protocol::{Timestamp, UserId};

use crate::ports::PortResult;
use crate::ports::presence::{Presence, Status};

#[derive(Default)]
struct Entry {
    connections: HashSet<String>,
    last_seen_at: Option<Timestamp>,
}

#[derive(Default)]
pub struct LocalPresence {
    users: Mutex<HashMap<UserId, Entry>>,
}

impl LocalPresence {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Presence for LocalPresence {
    async fn connected(&self, user: &UserId, connection: &str) -> PortResult<bool> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let entry = users.entry(user.clone()).or_default();
        let was_offline = entry.connections.is_empty();
        entry.connections.insert(connection.to_owned());
        Ok(was_offline)
    }

    async fn disconnected(
        &self,
        user: &UserId,
        connection: &str,
        at: Timestamp,
    ) -> PortResult<bool> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let Some(entry) = users.get_mut(user) else {
            return Ok(false);
        };
        let removed = entry.connections.remove(connection);
        let now_offline = removed && entry.connections.is_empty();
        if now_offline {
            entry.last_seen_at = Some(at);
        }
        Ok(now_offline)
    }

    async fn status(&self, user: &UserId) -> PortResult<Status> {
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        Ok(users.get(user).map_or(
            Status {
                online: false,
                last_seen_at: None,
            },
            |entry| Status {
                online: !entry.connections.is_empty(),
                last_seen_at: entry.last_seen_at,
            },
        ))
    }
}
