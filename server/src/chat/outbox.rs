//! The outbox drain: every stored message owes the bus its `MessageStored` event until the
//! bus has it, and nothing is dropped on the way.
//!
//! `append` records the debt in the same transaction as the message (see
//! `MessageStore::unpublished`), so a crash between storing and publishing, or a bus that is
//! down for longer than its producer keeps retrying, loses no event: the send publishes at
//! once, and a confirmed publish is marked here, in batches, so marking costs one store
//! write per `MARK_EVERY` rather than one per message. Every `REDRIVE_EVERY` the drain
//! publishes again what is still owed after `REDRIVE_AFTER` (older than any publish still in
//! flight should be). Consumers are idempotent (the notification claim, counters that only
//! move forward), so an event published twice, by a retry or by two nodes' drains, changes
//! nothing.

use std::sync::Arc;
use std::time::Duration;

use protocol::{MessageId, Timestamp};
use tokio::sync::mpsc;

use super::Chat;
use crate::ports::BusEvent;

/// How long confirmations gather before they are marked in one write.
const MARK_EVERY: Duration = Duration::from_millis(200);
/// Confirmations marked in one write at most.
const MARK_BATCH: usize = 512;
/// How often the drain looks for events still owed.
const REDRIVE_EVERY: Duration = Duration::from_secs(2);
/// How old an owed event must be before the drain publishes it again and, if the room's
/// stream position is below it, delivers it live: longer than a send can take from making
/// its message to handing it to the fan-out (the store's append deadline of 5 s, a wait of
/// the same bound for the earlier sends of its room, and 250 ms for another node's), so
/// the drain never delivers a message its own node is still about to deliver. At 5 s it
/// did, under a MongoDB at its limit: each such message arrived twice and out of order.
/// With `REDRIVE_EVERY`, a message its node never broadcast (the node died) reaches
/// connected members within 17 s, or at once when the device syncs.
const REDRIVE_AFTER: Duration = Duration::from_secs(15);
/// Events published again per round at most.
const REDRIVE_BATCH: u32 = 500;

/// The sending half: confirmed publishes, to be marked.
pub type Confirmations = mpsc::UnboundedSender<MessageId>;

/// A new channel of confirmations; the receiver goes to [`run`].
pub fn channel() -> (Confirmations, mpsc::UnboundedReceiver<MessageId>) {
    mpsc::unbounded_channel()
}

/// Marks confirmations and publishes owed events again until the chat is gone.
pub async fn run(chat: Arc<Chat>, mut confirmed: mpsc::UnboundedReceiver<MessageId>) {
    let mut marks = tokio::time::interval(MARK_EVERY);
    let mut redrive = tokio::time::interval(REDRIVE_EVERY);
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            id = confirmed.recv() => match id {
                Some(id) => {
                    batch.push(id);
                    if batch.len() >= MARK_BATCH {
                        chat.mark_published(&mut batch).await;
                    }
                }
                None => break,
            },
            _ = marks.tick() => chat.mark_published(&mut batch).await,
            _ = redrive.tick() => chat.redrive_owed_events(REDRIVE_AFTER).await,
        }
    }
    chat.mark_published(&mut batch).await;
}

impl Chat {
    /// Publishes `message`'s event on a task of its own (the send does not wait for the
    /// bus) and has it marked once the bus confirms it.
    pub(crate) fn publish_stored(&self, message: &protocol::Message) {
        let (bus, confirmations) = (Arc::clone(&self.ports.bus), self.confirmations.clone());
        let id = message.id.clone();
        let event = BusEvent::MessageStored {
            message: message.clone(),
        };
        tokio::spawn(async move {
            match bus.publish(&event).await {
                Ok(()) => {
                    let _ = confirmations.send(id);
                }
                Err(err) => {
                    tracing::debug!(error = %err, "event not published yet; the outbox keeps it");
                }
            }
        });
    }

    async fn mark_published(&self, batch: &mut Vec<MessageId>) {
        if batch.is_empty() {
            return;
        }
        match self.ports.messages.mark_published(batch).await {
            Ok(()) => batch.clear(),
            // Kept for the next round; at worst the drain publishes them again.
            Err(err) => tracing::warn!(error = %err, pending = batch.len(), "outbox not marked"),
        }
        if batch.len() > 16 * MARK_BATCH {
            // The store has been down a long time: forget the oldest confirmations rather
            // than grow; their events are published again, which is harmless.
            let excess = batch.len() - 16 * MARK_BATCH;
            batch.drain(..excess);
        }
    }

    /// Publishes again the events owed for messages stored at least `age` ago.
    async fn redrive_owed_events(&self, age: Duration) {
        let Some(stored_by) = Timestamp::now()
            .as_millis()
            .checked_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX))
        else {
            return;
        };
        let owed = match self
            .ports
            .messages
            .unpublished(Timestamp::from_millis(stored_by), REDRIVE_BATCH)
            .await
        {
            Ok(owed) => self.views(owed),
            Err(err) => {
                tracing::debug!(error = %err, "outbox not read");
                return;
            }
        };
        crate::metrics::METRICS
            .outbox_owed
            .set(i64::try_from(owed.len()).unwrap_or(i64::MAX));
        if owed.is_empty() {
            return;
        }
        tracing::info!(events = owed.len(), "publishing owed events again");
        for message in &owed {
            self.repair_live_delivery(message).await;
        }
        let publishes = owed.into_iter().map(|message| async move {
            let id = message.id.clone();
            let event = BusEvent::MessageStored { message };
            self.ports.bus.publish(&event).await.ok().map(|()| id)
        });
        let mut confirmed: Vec<MessageId> = futures_util::future::join_all(publishes)
            .await
            .into_iter()
            .flatten()
            .collect();
        self.mark_published(&mut confirmed).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;
    use protocol::{
        MessageKind, NotificationEvent, PresenceEvent, ReceiptEvent, Role, Room, RoomId, RoomKind,
        SendMessageRequest, TypingEvent, UserId,
    };

    use super::*;
    use crate::adapters::embedded;
    use crate::chat::{Fanout, Ports, Settings};
    use crate::ports::store::NewRoom;
    use crate::ports::{EventBus, MessageStore, PortError, PortResult, RoomStore, Subscription};

    /// A bus that refuses every event while `down`, and remembers what it took.
    #[derive(Default)]
    struct FlakyBus {
        down: AtomicBool,
        took: Mutex<Vec<BusEvent>>,
        refused: tokio::sync::Notify,
    }

    #[async_trait]
    impl EventBus for FlakyBus {
        async fn publish(&self, event: &BusEvent) -> PortResult<()> {
            if self.down.load(Ordering::SeqCst) {
                self.refused.notify_one();
                return Err(PortError::Unavailable("kafka"));
            }
            self.took.lock().expect("lock").push(event.clone());
            Ok(())
        }

        async fn subscribe(&self, _: &str) -> PortResult<Box<dyn Subscription>> {
            Err(PortError::Unavailable("kafka"))
        }

        async fn watch(&self) -> PortResult<Box<dyn Subscription>> {
            Err(PortError::Unavailable("kafka"))
        }
    }

    /// Remembers the `seq` of every `message:new`.
    #[derive(Default)]
    struct Devices {
        got: Mutex<Vec<u64>>,
    }

    #[async_trait]
    impl Fanout for Devices {
        async fn message_new(&self, _: &[UserId], message: &protocol::Message) {
            self.got.lock().expect("lock").push(message.seq);
        }
        async fn receipt(&self, _: &[UserId], _: &ReceiptEvent) {}
        async fn typing(&self, _: &[UserId], _: &TypingEvent) {}
        async fn presence(&self, _: &[UserId], _: &PresenceEvent) {}
        async fn room_update(&self, _: &UserId, _: &Room) {}
        async fn notify(&self, _: &[UserId], _: &NotificationEvent) {}
        async fn room_head(&self, _: &[UserId], _: &protocol::RoomHeadEvent) {}
        async fn end_sessions(&self, _: &[String]) {}
        async fn room_left(&self, _: &UserId, _: &protocol::RoomLeftEvent) {}
        async fn room_joined(&self, _: &UserId, _: &protocol::RoomId) {}
    }

    #[tokio::test]
    async fn the_drain_publishes_refused_events_and_delivers_what_no_node_broadcast() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(embedded::SqliteStore::open(dir.path()).expect("store"));
        let bus = Arc::new(FlakyBus::default());
        let media = Arc::new(
            embedded::FsMediaStorage::new(dir.path(), "http://localhost", [7; 32]).expect("media"),
        );
        let ports = Ports {
            accounts: store.clone(),
            rooms: store.clone(),
            invites: store.clone(),
            messages: store.clone(),
            media_records: store.clone(),
            media,
            bus: bus.clone(),
            presence: Arc::new(embedded::LocalPresence::new()),
            limiter: Arc::new(embedded::LocalLimiter::new()),
            cache: Arc::new(embedded::LocalCache::new()),
            push: Arc::new(
                crate::adapters::push::HttpPushGateway::new(&crate::config::PushConfig::default())
                    .expect("push gateway"),
            ),
        };
        let settings = Settings {
            limits: crate::config::Limits::default(),
            public_url: "http://localhost".into(),
            push_allow_local: false,
        };
        let devices = Arc::new(Devices::default());
        let chat = Arc::new(Chat::new(ports, devices.clone(), settings));
        let (sender, room) = (UserId("u1".into()), RoomId("r1".into()));
        store
            .create_room(&NewRoom {
                id: room.clone(),
                kind: RoomKind::Group,
                name: Some("g".into()),
                created_at: Timestamp::now(),
                members: vec![(sender.clone(), Role::Owner)],
            })
            .await
            .expect("room");

        bus.down.store(true, Ordering::SeqCst);
        let request = SendMessageRequest {
            client_id: uuid::Uuid::new_v4().to_string(),
            kind: MessageKind::Text,
            body: Some("while the bus is down".into()),
            media_id: None,
            reply_to: None,
            relates_to: None,
        };
        let (message, _) = chat
            .send(&sender, &room, request)
            .await
            .expect("sent anyway");
        // The send's own publish runs on a task of its own: let it fail first.
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        let far = Timestamp::from_millis(Timestamp::now().as_millis() + 60_000);
        let owed = store.unpublished(far, 10).await.expect("outbox");
        assert_eq!(
            owed.iter().map(|m| &m.id).collect::<Vec<_>>(),
            vec![&message.id]
        );
        assert!(bus.took.lock().expect("lock").is_empty());

        bus.down.store(false, Ordering::SeqCst);
        chat.redrive_owed_events(Duration::ZERO).await;
        let took = bus.took.lock().expect("lock").clone();
        assert!(
            matches!(took.as_slice(), [BusEvent::MessageStored { message: m }] if m.id == message.id),
            "the owed event was published"
        );
        assert!(store.unpublished(far, 10).await.expect("outbox").is_empty());
        assert_eq!(
            *devices.got.lock().expect("lock"),
            vec![1],
            "delivered live once"
        );

        // A message stored by a node that died before broadcasting or publishing it.
        let orphan = crate::ports::store::NewMessage {
            id: protocol::MessageId("m-orphan".into()),
            room_id: room.clone(),
            sender_id: sender.clone(),
            client_id: crate::domain::ClientId::random(),
            content: crate::ports::store::Content::Text(
                crate::domain::MessageBody::parse("stored, then the node died").expect("a body"),
            ),
            reply_to: None,
            created_at: Timestamp::now(),
            mentions: Vec::new(),
            moderator: false,
        };
        store.append(&orphan).await.expect("stored");
        chat.redrive_owed_events(Duration::ZERO).await;
        assert_eq!(
            *devices.got.lock().expect("lock"),
            vec![1, 2],
            "repaired live"
        );
        assert_eq!(bus.took.lock().expect("lock").len(), 2, "and published");
        chat.redrive_owed_events(Duration::ZERO).await;
        assert_eq!(devices.got.lock().expect("lock").len(), 2, "never twice");
    }
}
