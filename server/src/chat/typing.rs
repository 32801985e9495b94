//! Typing indicators. A client says `active: true` while typing; the indicator stops when it
//! says `false`, when it sends a message, or by itself 5 s after the last `true`, so a client
//! that vanishes mid-word does not leave others watching dots forever.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::{RoomId, TypingEvent, TypingRequest, UserId};

use super::{Chat, Fanout};
use crate::error::Result;

/// How long an indicator lasts without a fresh `active: true`.
pub const TYPING_TIMEOUT: Duration = Duration::from_secs(5);

/// The live indicators: a generation per (room, user); a timer only stops the indicator if
/// no newer `active: true` came since it was set.
#[derive(Default)]
pub struct TypingTimers {
    active: Arc<Mutex<HashMap<(RoomId, UserId), u64>>>,
    next_generation: Mutex<u64>,
}

impl TypingTimers {
    /// Marks (room, user) active; returns the generation and whether it just started.
    fn start(&self, key: (RoomId, UserId)) -> (u64, bool) {
        let generation = {
            let mut next = self
                .next_generation
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            *next += 1;
            *next
        };
        let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        let started = active.insert(key, generation).is_none();
        (generation, started)
    }

    /// Clears (room, user); true when it was active.
    fn stop(&self, key: &(RoomId, UserId)) -> bool {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key)
            .is_some()
    }
}

impl Chat {
    pub async fn typing(&self, user: &UserId, request: TypingRequest) -> Result<()> {
        self.limit("typing", user, self.settings.limits.typing_per_user)
            .await?;
        self.check_member(user, &request.room_id).await?;
        let others: Vec<UserId> = self
            .member_ids(&request.room_id)
            .await?
            .iter()
            .filter(|id| *id != user)
            .cloned()
            .collect();
        let key = (request.room_id.clone(), user.clone());
        if request.active {
            let (generation, started) = self.typing.start(key.clone());
            if started {
                emit(&*self.fanout, &others, &key, true).await;
            }
            self.expire_typing_later(key, generation, others);
        } else if self.typing.stop(&key) {
            emit(&*self.fanout, &others, &key, false).await;
        }
        Ok(())
    }

    /// A message ends its sender's typing indicator.
    pub(crate) async fn typing_stopped_by_send(
        &self,
        room: &RoomId,
        sender: &UserId,
        members: &[UserId],
    ) {
        let key = (room.clone(), sender.clone());
        if self.typing.stop(&key) {
            let others: Vec<UserId> = members.iter().filter(|id| *id != sender).cloned().collect();
            emit(&*self.fanout, &others, &key, false).await;
        }
    }

    fn expire_typing_later(&self, key: (RoomId, UserId), generation: u64, others: Vec<UserId>) {
        let active = Arc::clone(&self.typing.active);
        let fanout = Arc::clone(&self.fanout);
        tokio::spawn(async move {
            tokio::time::sleep(TYPING_TIMEOUT).await;
            let expired = {
                let mut active = active.lock().unwrap_or_else(|p| p.into_inner());
                let current = active.get(&key) == Some(&generation);
                if current {
                    active.remove(&key);
                }
                current
            };
            if expired {
                emit(&*fanout, &others, &key, false).await;
            }
        });
    }
}

async fn emit(fanout: &dyn Fanout, to: &[UserId], (room, user): &(RoomId, UserId), active: bool) {
    let event = TypingEvent {
        room_id: room.clone(),
        user_id: user.clone(),
        active,
    };
    fanout.typing(to, &event).await;
}
