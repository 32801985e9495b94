//! Hot reads through the cache port: a room's member list (read on every send, receipt and
//! typing event to know whom to tell) and a room's newest page (read whenever a room is
//! shown or opened).
//!
//! Why these stay correct: a newest page is keyed by the room's `last_seq`, which every new
//! message changes, so an entry is never out of date, only unused. A member list is keyed by
//! a version that every membership change bumps *after* writing the store, so a reader that
//! sees the new version also sees the new members. If the cache fails, the store answers.

use std::time::Duration;

use app::protocol::{Message, RoomId, UserId};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Chat;
use crate::error::Result;
use crate::ports::store::Cursor;

const MEMBERS_TTL: Duration = Duration::from_secs(300);
const PAGE_TTL: Duration = Duration::from_secs(600);

impl Chat {
    /// Ids of a room's members.
    pub(crate) async fn member_ids(&self, room: &RoomId) -> Result<Vec<UserId>> {
        let version = self.ports.cache.version(&members_version_key(room)).await;
        let key = version.ok().map(|v| format!("members:{room}:{v}"));
        if let Some(ids) = self.cached(key.as_deref()).await {
            return Ok(ids);
        }
        let ids: Vec<UserId> = self
            .ports
            .rooms
            .members(room)
            .await?
            .into_iter()
            .map(|m| m.user_id)
            .collect();
        self.remember(key.as_deref(), &ids, MEMBERS_TTL).await;
        Ok(ids)
    }

    /// Called after a room's membership changed in the store.
    pub(crate) async fn members_changed(&self, room: &RoomId) {
        if let Err(err) = self.ports.cache.bump(&members_version_key(room)).await {
            // The entries of the old version expire within MEMBERS_TTL.
            tracing::warn!(error = %err, room_id = %room, "member cache not invalidated");
        }
    }

    /// The newest `limit` messages of a room whose last message is `last_seq`, and whether
    /// older ones exist.
    pub(crate) async fn latest_page(
        &self,
        room: &RoomId,
        last_seq: u64,
        limit: u32,
    ) -> Result<(Vec<Message>, bool)> {
        let key = format!("latest:{room}:{last_seq}:{limit}");
        if let Some(page) = self.cached(Some(&key)).await {
            return Ok(page);
        }
        let page = self
            .ports
            .messages
            .page(room, Cursor::Latest, limit)
            .await?;
        // Only a page that ends at `last_seq` belongs under this key (a message may have
        // arrived since the caller read the room).
        if page.0.last().map_or(0, |m| m.seq) == last_seq {
            self.remember(Some(&key), &page, PAGE_TTL).await;
        }
        Ok(page)
    }

    async fn cached<T: DeserializeOwned>(&self, key: Option<&str>) -> Option<T> {
        let bytes = self.ports.cache.get(key?).await.ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    async fn remember<T: Serialize>(&self, key: Option<&str>, value: &T, ttl: Duration) {
        let (Some(key), Ok(bytes)) = (key, serde_json::to_vec(value)) else {
            return;
        };
        if let Err(err) = self.ports.cache.set(key, &bytes, ttl).await {
            tracing::debug!(error = %err, "cache write failed");
        }
    }
}

fn members_version_key(room: &RoomId) -> String {
    format!("members:{room}")
}
