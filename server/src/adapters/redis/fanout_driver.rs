//! The pub/sub driver under socketioxide's Redis adapter (cross-node Socket.IO fan-out).
//!
//! socketioxide-redis's own driver subscribes on a plain multiplexed connection, which is gone
//! for good once Redis restarts: fan-out across nodes would stay broken until every node
//! restarted. This driver uses a `ConnectionManager` instead, which reconnects by itself and
//! resubscribes to every channel afterwards, so the nodes heal as soon as Redis is back.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, FromRedisValue, PushInfo, PushKind};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

/// A reconnecting, resubscribing Redis pub/sub driver.
#[derive(Clone)]
pub struct ReconnectingDriver {
    conn: ConnectionManager,
    handlers: Handlers,
}

impl ReconnectingDriver {
    /// Connects with RESP3 (push messages share the connection with commands).
    pub async fn connect(client: redis::Client) -> redis::RedisResult<Self> {
        let handlers: Handlers = Arc::default();
        let route = Arc::clone(&handlers);
        let config = ConnectionManagerConfig::new()
            .set_automatic_resubscription()
            .set_push_sender(move |push: PushInfo| {
                deliver(push, &route);
                Ok::<(), std::convert::Infallible>(())
            });
        let conn = ConnectionManager::new_with_config(client, config).await?;
        Ok(Self { conn, handlers })
    }
}

/// Hands a published message to the adapter's stream for its channel.
fn deliver(push: PushInfo, handlers: &Handlers) {
    if push.kind == PushKind::Disconnection {
        // The manager reconnects (and resubscribes) on the next command.
        crate::metrics::METRICS.adapter_reconnects.inc();
        return;
    }
    if !matches!(push.kind, PushKind::Message | PushKind::SMessage) {
        return;
    }
    let mut data = push.data.into_iter();
    let (Some(channel), Some(payload)) = (data.next(), data.next()) else {
        return;
    };
    let (Ok(channel), Ok(payload)) = (
        String::from_redis_value(channel),
        Vec::<u8>::from_redis_value(payload),
    ) else {
        tracing::warn!("unreadable pub/sub message");
        return;
    };
    let handlers = handlers.read().unwrap_or_else(|p| p.into_inner());
    if let Some(tx) = handlers.get(&channel)
        && let Err(err) = tx.try_send((channel, payload))
    {
        tracing::warn!(error = %err, "fan-out channel full; a broadcast is dropped");
    }
}

/// The driver's error: Redis's own.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DriverError(#[from] redis::RedisError);

impl Driver for ReconnectingDriver {
    type Error = DriverError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        self.conn
            .clone()
            .publish::<_, _, redis::Value>(chan, val)
            .await?;
        Ok(())
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let (tx, rx) = mpsc::channel(size);
        self.handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(chan.clone(), tx);
        self.conn.clone().subscribe(chan.as_str()).await?;
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&chan);
        self.conn.clone().unsubscribe(chan).await?;
        Ok(())
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let (_, count): (String, u16) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(chan)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(count)
    }
}
