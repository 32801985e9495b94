//! The cache on Redis: plain values with an expiry, and versions as counters.

use std::time::Duration;

use async_trait::async_trait;
use redis::{AsyncCommands, Script};

use super::Redis;
use crate::ports::{Cache, PortResult};

/// Sets a counter to the argument unless it is higher already, in one step.
const RAISE: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local wanted = tonumber(ARGV[1])
if wanted > current then
  redis.call('SET', KEYS[1], ARGV[1])
  return wanted
end
return current
";

pub struct RedisCache {
    redis: Redis,
    raise: Script,
}

impl RedisCache {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            raise: Script::new(RAISE),
        }
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>> {
        self.redis
            .conn()?
            .get(self.redis.key(&["cache", key]))
            .await
            .map_err(|err| self.redis.failed(err))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> PortResult<()> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.redis
            .conn()?
            .pset_ex::<_, _, ()>(self.redis.key(&["cache", key]), value, millis)
            .await
            .map_err(|err| self.redis.failed(err))
    }

    async fn version(&self, key: &str) -> PortResult<u64> {
        let version: Option<u64> = self
            .redis
            .conn()?
            .get(self.redis.key(&["version", key]))
            .await
            .map_err(|err| self.redis.failed(err))?;
        Ok(version.unwrap_or(0))
    }

    async fn claim(&self, key: &str, ttl: Duration) -> PortResult<bool> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let taken: Option<String> = redis::cmd("SET")
            .arg(self.redis.key(&["claim", key]))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis)
            .query_async(&mut self.redis.conn()?)
            .await
            .map_err(|err| self.redis.failed(err))?;
        Ok(taken.is_some())
    }

    async fn release(&self, key: &str) -> PortResult<()> {
        self.redis
            .conn()?
            .del::<_, ()>(self.redis.key(&["claim", key]))
            .await
            .map_err(|err| self.redis.failed(err))
    }

    async fn bump(&self, key: &str) -> PortResult<u64> {
        self.redis
            .conn()?
            .incr(self.redis.key(&["version", key]), 1u64)
            .await
            .map_err(|err| self.redis.failed(err))
    }

    async fn raise(&self, key: &str, to: u64) -> PortResult<u64> {
        self.raise
            .key(self.redis.key(&["version", key]))
            .arg(to)
            .invoke_async(&mut self.redis.conn()?)
            .await
            .map_err(|err| self.redis.failed(err))
    }
}
