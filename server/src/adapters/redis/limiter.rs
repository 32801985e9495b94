//! Fixed-window counters shared by every node: `INCR` the window's key and give it the
//! window as expiry on its first hit, in one script so a crash between the two cannot leave
//! a counter that never expires.

use std::time::Duration;

use async_trait::async_trait;
use redis::Script;

use super::Redis;
use crate::ports::{PortResult, RateLimiter};

const HIT: &str = r"
local hits = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {hits, ttl}
";

pub struct RedisLimiter {
    redis: Redis,
    script: Script,
}

impl RedisLimiter {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            script: Script::new(HIT),
        }
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> PortResult<Option<Duration>> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let (hits, ttl_ms): (u64, i64) = self
            .script
            .key(self.redis.key(&["limit", key]))
            .arg(window_ms)
            .invoke_async(&mut self.redis.conn()?)
            .await
            .map_err(|err| self.redis.failed(err))?;
        if hits <= u64::from(limit) {
            Ok(None)
        } else {
            Ok(Some(Duration::from_millis(
                u64::try_from(ttl_ms).unwrap_or(window_ms),
            )))
        }
    }
}
