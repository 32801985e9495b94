//! Hot reads through the cache port: a room's member list (read on every send, receipt and
//! typing event to know whom to tell, and to check the sender), its members' names (for
//! each message's notifications), a room's newest page (read whenever a room is shown
//! or opened) and each member's unread count (read for every room in every room list).
//!
//! Why these stay correct: a newest page is keyed by the room's `last_seq`, which every new
//! message changes, so an entry is never out of date, only unused. A member list is keyed by
//! a version that every membership change bumps *after* writing the store, so a reader that
//! sees the new version also sees the new members. An unread counter is keyed by the
//! reader's read marker and records the `seq` it counts up to: a range's count (its
//! `text`, `image` and `voice` messages of others; a deleted one still counts) never
//! changes, and a newer message only adds the count of the range after it. If the cache
//! fails, the store answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::{Message, RoomId, User, UserId};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Chat;
use crate::error::Result;
use crate::ports::store::{Cursor, MemberRecord};

const MEMBERS_TTL: Duration = Duration::from_secs(300);
const USERS_TTL: Duration = Duration::from_secs(60);
const PAGE_TTL: Duration = Duration::from_secs(600);
const UNREAD_TTL: Duration = Duration::from_secs(24 * 3600);

/// Rooms whose member lists the memo holds at most; past that it starts again empty.
const MEMO_ROOMS: usize = 50_000;

/// This node's last read of each room's member lists, typed, with the version of the list
/// they were read at: in front of the cache, so a send does not decode the same JSON list
/// again and again (two lists per send, a twentieth of its instructions). It answers only
/// for the version the cache says is current, so it is exactly as fresh as the cache.
#[derive(Default)]
pub(crate) struct Memo {
    members: ByRoom<(u64, Arc<[UserId]>)>,
    muted: ByRoom<(u64, Arc<[UserId]>)>,
    /// With when they were read: a renamed user may show under the old name for at most
    /// `USERS_TTL`, as in the cache.
    users: ByRoom<(u64, Instant, Arc<[User]>)>,
}

/// One memorised list per room.
type ByRoom<V> = Mutex<HashMap<RoomId, V>>;

impl Memo {
    fn ids(&self, list: List) -> &ByRoom<(u64, Arc<[UserId]>)> {
        match list {
            List::Members => &self.members,
            List::Muted => &self.muted,
        }
    }
}

/// The lists of member ids kept per room: its name in cache keys, and who is on it.
#[derive(Clone, Copy)]
enum List {
    Members,
    Muted,
}

impl List {
    fn name(self) -> &'static str {
        match self {
            Self::Members => "members",
            Self::Muted => "muted",
        }
    }

    fn keeps(self, member: &MemberRecord) -> bool {
        match self {
            Self::Members => true,
            Self::Muted => member.muted,
        }
    }
}

fn recall<V: Clone>(memo: &ByRoom<V>, room: &RoomId, fresh: impl Fn(&V) -> bool) -> Option<V> {
    let memo = memo.lock().unwrap_or_else(|p| p.into_inner());
    memo.get(room).filter(|entry| fresh(entry)).cloned()
}

fn memorise<V>(memo: &ByRoom<V>, room: &RoomId, entry: V) {
    let mut memo = memo.lock().unwrap_or_else(|p| p.into_inner());
    if memo.len() >= MEMO_ROOMS && !memo.contains_key(room) {
        memo.clear();
    }
    memo.insert(room.clone(), entry);
}

impl Chat {
    /// Ids of a room's members.
    pub(crate) async fn member_ids(&self, room: &RoomId) -> Result<Arc<[UserId]>> {
        let version = self.members_version(room).await;
        self.member_ids_at(room, version).await
    }

    /// The version of a room's member list, `None` when the cache cannot say (then nothing
    /// is cached under it).
    async fn members_version(&self, room: &RoomId) -> Option<u64> {
        self.ports
            .cache
            .version(&members_version_key(room))
            .await
            .ok()
    }

    async fn member_ids_at(&self, room: &RoomId, version: Option<u64>) -> Result<Arc<[UserId]>> {
        self.members_kept(room, version, List::Members).await
    }

    /// Ids of the room's members that `list` keeps: from the memo, else cached as
    /// `{list}:{room}:{version}`, else from the store.
    async fn members_kept(
        &self,
        room: &RoomId,
        version: Option<u64>,
        list: List,
    ) -> Result<Arc<[UserId]>> {
        let memo = self.memo.ids(list);
        if let Some(v) = version
            && let Some((_, ids)) = recall(memo, room, |(at, _)| *at == v)
        {
            return Ok(ids);
        }
        let key = version.map(|v| format!("{}:{room}:{v}", list.name()));
        let ids: Arc<[UserId]> = match self.cached::<Vec<UserId>>(key.as_deref()).await {
            Some(ids) => ids.into(),
            None => {
                let ids: Vec<UserId> = self
                    .ports
                    .rooms
                    .members(room)
                    .await?
                    .into_iter()
                    .filter(|m| list.keeps(m))
                    .map(|m| m.user_id)
                    .collect();
                self.remember(key.as_deref(), &ids, MEMBERS_TTL).await;
                ids.into()
            }
        };
        if let Some(v) = version {
            memorise(memo, room, (v, Arc::clone(&ids)));
        }
        Ok(ids)
    }

    /// A room's members as users (names for notifications), under the member list's version.
    /// A renamed user shows under the old name for at most `USERS_TTL`.
    pub(crate) async fn member_users(&self, room: &RoomId) -> Result<Arc<[User]>> {
        let version = self.members_version(room).await;
        if let Some(v) = version
            && let Some((_, _, users)) = recall(&self.memo.users, room, |(at, read, _)| {
                *at == v && read.elapsed() < USERS_TTL
            })
        {
            return Ok(users);
        }
        let key = version.map(|v| format!("users:{room}:{v}"));
        let users: Arc<[User]> = match self.cached::<Vec<User>>(key.as_deref()).await {
            Some(users) => users.into(),
            None => {
                let ids = self.member_ids_at(room, version).await?;
                let users = self.ports.accounts.users(&ids).await?;
                self.remember(key.as_deref(), &users, USERS_TTL).await;
                users.into()
            }
        };
        if let Some(v) = version {
            memorise(
                &self.memo.users,
                room,
                (v, Instant::now(), Arc::clone(&users)),
            );
        }
        Ok(users)
    }

    /// Members who muted the room, under the member list's version (a mute bumps it).
    pub(crate) async fn muted_members(&self, room: &RoomId) -> Result<Arc<[UserId]>> {
        let version = self.members_version(room).await;
        self.members_kept(room, version, List::Muted).await
    }

    /// Called after a room's membership (or a member's mute) changed in the store.
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
        // Replies are quoted before the page is kept: a change to an original (an edit, a
        // delete) is a new message of the room, so it moves `last_seq` and this key with it.
        let page = (self.quoted(self.views(page.0)).await?, page.1);
        // Only a page that ends at `last_seq` belongs under this key (a message may have
        // arrived since the caller read the room).
        if page.0.last().map_or(0, |m| m.seq) == last_seq {
            self.remember(Some(&key), &page, PAGE_TTL).await;
        }
        Ok(page)
    }

    /// Messages of others than `reader` in `room` after `last_read`, up to `last_seq`.
    ///
    /// The counter for a read marker is extended rather than recounted: a room list shown
    /// again after three new messages counts those three, however many were unread before.
    /// Two nodes extending the same counter at once both write a true count, so either
    /// write may win.
    pub(crate) async fn unread_count(
        &self,
        room: &RoomId,
        reader: &UserId,
        last_read: u64,
        last_seq: u64,
    ) -> Result<u64> {
        if last_read >= last_seq {
            return Ok(0);
        }
        let key = format!("unread:{room}:{reader}:{last_read}");
        let (counted_to, counted) = match self.cached::<(u64, u64)>(Some(&key)).await {
            Some((to, count)) if to == last_seq => return Ok(count),
            Some((to, count)) if to > last_read && to < last_seq => (to, count),
            // Nothing yet, or a counter already extended past the caller's `last_seq` (it
            // read the room before another node saw a newer message): count afresh.
            _ => (last_read, 0),
        };
        let added = self
            .ports
            .messages
            .count_unread(room, reader, counted_to, last_seq)
            .await?;
        let count = counted + added;
        self.remember(Some(&key), &(last_seq, count), UNREAD_TTL)
            .await;
        Ok(count)
    }

    /// Moves `reader`'s counter across `messages` (one room's, ascending `seq`), counting
    /// those someone else sent, as far as they continue it: from a counter that stops right
    /// before one of them, or from the read marker for the first message after it. Any
    /// other counter is left for [`Chat::unread_count`] to extend. One cache read and at
    /// most one write however many messages. Best effort: the cache is an optimisation.
    pub(crate) async fn move_unread_counter(
        &self,
        room: &RoomId,
        reader: &UserId,
        last_read: u64,
        messages: &[&Message],
    ) {
        let key = format!("unread:{room}:{reader}:{last_read}");
        let (mut to, mut count) = self
            .cached::<(u64, u64)>(Some(&key))
            .await
            .unwrap_or((last_read, 0));
        let before = to;
        for message in messages {
            if message.seq == to + 1 {
                to = message.seq;
                count += u64::from(message.sender_id != *reader && message.kind.is_content());
            }
        }
        if to != before {
            self.remember(Some(&key), &(to, count), UNREAD_TTL).await;
        }
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
    crate::domain::key("members:", &room.0)
}
