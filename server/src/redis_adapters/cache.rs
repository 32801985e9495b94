//! The cache on Redis: plain values with an expiry, and versions as counters.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{Redis, unavailable};
use crate::ports::{Cache, StoreResult};

pub struct RedisCache {
    redis: Redis,
}

impl RedisCache {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.redis
            .conn()
            .get(self.redis.key(&["cache", key]))
            .await
            .map_err(unavailable)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> StoreResult<()> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.redis
            .conn()
            .pset_ex::<_, _, ()>(self.redis.key(&["cache", key]), value, millis)
            .await
            .map_err(unavailable)
    }

    async fn version(&self, key: &str) -> StoreResult<u64> {
        let version: Option<u64> = self
            .redis
            .conn()
            .get(self.redis.key(&["version", key]))
            .await
            .map_err(unavailable)?;
        Ok(version.unwrap_or(0))
    }

    async fn claim(&self, key: &str, ttl: Duration) -> StoreResult<bool> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let taken: Option<String> = redis::cmd("SET")
            .arg(self.redis.key(&["claim", key]))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis)
            .query_async(&mut self.redis.conn())
            .await
            .map_err(unavailable)?;
        Ok(taken.is_some())
    }

    async fn release(&self, key: &str) -> StoreResult<()> {
        self.redis
            .conn()
            .del::<_, ()>(self.redis.key(&["claim", key]))
            .await
            .map_err(unavailable)
    }

    async fn bump(&self, key: &str) -> StoreResult<u64> {
        self.redis
            .conn()
            .incr(self.redis.key(&["version", key]), 1u64)
            .await
            .map_err(unavailable)
    }
}
