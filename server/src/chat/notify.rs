//! The notification worker: consumes stored messages from the bus and tells each member who
//! is not looking at the room, by push those with no device connected. Runs as consumer
//! group `notifications`, so each message is handled once in the cluster.

use std::sync::Arc;
use std::time::Duration;

use protocol::{Message, MessageKind, NotificationEvent, NotificationKind, User, UserId};

use super::Chat;
use crate::error::Result;
use crate::ports::{BusEvent, Subscription};

pub const GROUP: &str = "notifications";

/// A notification's preview of a text: its first line, at most this many characters.
const PREVIEW_CHARS: usize = 100;

/// How long a handled message is remembered, so a redelivery does not notify twice. A
/// redelivery comes within seconds (a consumer that restarted before committing its
/// offset, the outbox publishing again an event whose confirmation was lost); a day, as
/// before, kept 86 million claims in Redis at a thousand messages a second.
const REMEMBER_HANDLED: Duration = Duration::from_secs(10 * 60);

/// Consumes until the bus closes.
pub async fn run(chat: Arc<Chat>, mut subscription: Box<dyn Subscription>) {
    while let Some(event) = subscription.next().await {
        let BusEvent::MessageStored { message } = event;
        if let Err(err) = chat.notify_message(&message).await {
            tracing::warn!(error = %err, message_id = %message.id, "notification failed");
        }
    }
}

impl Chat {
    async fn notify_message(&self, message: &Message) -> Result<()> {
        // Edits, deletions and reactions change a message someone was told about already.
        if !message.kind.is_content() {
            return Ok(());
        }
        // The bus delivers at least once: the first delivery claims the message, a redelivery
        // changes nothing. (If the cache cannot answer, notify: a repeat beats a miss.)
        let claim = crate::domain::key("notified:", &message.id.0);
        if !self
            .ports
            .cache
            .claim(&claim, REMEMBER_HANDLED)
            .await
            .unwrap_or(true)
        {
            return Ok(());
        }
        let users = self.member_users(&message.room_id).await?;
        let sender = users.iter().find(|u| u.id == message.sender_id);
        let sender_name = sender.map_or("Someone", |u| u.display_name.as_str());
        let preview = match (message.kind, message.body.as_deref()) {
            (MessageKind::Text, Some(body)) => preview(body),
            (MessageKind::Image, _) => "sent a photo".to_owned(),
            (MessageKind::Voice, _) => "sent a voice message".to_owned(),
            _ => String::new(),
        };
        // Everyone but the mentioned gets the same event: one broadcast for them all. A
        // member who muted the room hears only of mentions.
        let muted = self.muted_members(&message.room_id).await?;
        let (mentioned, others): (Vec<&User>, Vec<&User>) = users
            .iter()
            .filter(|u| u.id != message.sender_id)
            .partition(|user| message.mentions.contains(&user.id));
        let others: Vec<&User> = others
            .into_iter()
            .filter(|user| !muted.contains(&user.id))
            .collect();
        let mut addressed = Vec::with_capacity(2);
        for (kind, group) in [
            (NotificationKind::Message, others),
            (NotificationKind::Mention, mentioned),
        ] {
            if group.is_empty() {
                continue;
            }
            let event = NotificationEvent {
                kind,
                room_id: message.room_id.clone(),
                message: Some(message.clone()),
                text: format!("{sender_name}: {preview}"),
            };
            let ids: Vec<UserId> = group.iter().map(|u| u.id.clone()).collect();
            self.fanout.notify(&ids, &event).await;
            addressed.push((ids, event));
        }
        // Those with no device connected anywhere hear of it by push. A push that cannot
        // start now is lost, not retried with the whole message: a repeat of the socket
        // notifications would be worse than one push missed.
        let addressed: Vec<(&[UserId], &NotificationEvent)> = addressed
            .iter()
            .map(|(ids, event)| (ids.as_slice(), event))
            .collect();
        if let Err(err) = self.push_to_absent(&addressed, None, sender_name).await {
            tracing::warn!(error = %err, message_id = %message.id, "pushes not started");
        }
        Ok(())
    }
}

fn preview(body: &str) -> String {
    let line = body.lines().next().unwrap_or_default();
    let mut text: String = line.chars().take(PREVIEW_CHARS).collect();
    if line.chars().count() > PREVIEW_CHARS || body.lines().nth(1).is_some() {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_take_the_first_line() {
        assert_eq!(preview("hello\nworld"), "hello…");
        assert_eq!(preview("short"), "short");
    }
}
