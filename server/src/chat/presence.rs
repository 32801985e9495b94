//! Coming online and going offline, told to everyone who shares a room with the user.

use protocol::{PresenceEvent, Timestamp, UserId};

use super::Chat;
use crate::error::Result;

impl Chat {
    /// A device of `user` connected as `connection`.
    pub async fn device_connected(&self, user: &UserId, connection: &str) -> Result<()> {
        if self.ports.presence.connected(user, connection).await? {
            let event = PresenceEvent {
                user_id: user.clone(),
                online: true,
                last_seen_at: None,
            };
            let contacts = self.ports.rooms.contacts_of(user).await?;
            self.fanout.presence(&contacts, &event).await;
        }
        Ok(())
    }

    /// A device of `user` disconnected.
    pub async fn device_disconnected(&self, user: &UserId, connection: &str) -> Result<()> {
        let now = Timestamp::now();
        if self
            .ports
            .presence
            .disconnected(user, connection, now)
            .await?
        {
            let event = PresenceEvent {
                user_id: user.clone(),
                online: false,
                last_seen_at: Some(now),
            };
            let contacts = self.ports.rooms.contacts_of(user).await?;
            self.fanout.presence(&contacts, &event).await;
        }
        Ok(())
    }

    /// The presence of everyone who shares a room with `user`: what a device needs to draw
    /// the dots right after it connects.
    pub async fn contacts_presence(&self, user: &UserId) -> Result<Vec<PresenceEvent>> {
        let mut events = Vec::new();
        for contact in self.ports.rooms.contacts_of(user).await? {
            let status = self.ports.presence.status(&contact).await?;
            events.push(PresenceEvent {
                user_id: contact,
                online: status.online,
                last_seen_at: status.last_seen_at,
            });
        }
        Ok(events)
    }
}
