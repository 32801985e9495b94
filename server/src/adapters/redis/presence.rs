//! Presence across nodes. Each user has a sorted set of their live connections, scored by the
//! time the connection stops counting unless refreshed. Nodes refresh their connections with
//! `heartbeat`; a node that dies stops refreshing and its connections lapse within
//! `CONNECTION_TTL`, so nobody stays online forever. Each step runs as one script, so two
//! nodes connecting the same user at once still report "came online" exactly once.

use std::time::Duration;

use async_trait::async_trait;
use protocol::{Timestamp, UserId};
use redis::Script;

use super::Redis;
use crate::ports::PortResult;
use crate::ports::presence::{Presence, Status};

/// How long a connection counts without a heartbeat.
pub const CONNECTION_TTL: Duration = Duration::from_secs(60);

const CONNECT: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if before == 0 then return 1 else return 0 end
";

const DISCONNECT: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
local left = redis.call('ZCARD', KEYS[1])
if removed == 1 and left == 0 then
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return 0
";

const STATUS: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return {redis.call('ZCARD', KEYS[1]), redis.call('GET', KEYS[2])}
";

pub struct RedisPresence {
    redis: Redis,
    connect: Script,
    disconnect: Script,
    status: Script,
}

impl RedisPresence {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            connect: Script::new(CONNECT),
            disconnect: Script::new(DISCONNECT),
            status: Script::new(STATUS),
        }
    }

    fn connections_key(&self, user: &UserId) -> String {
        self.redis.key(&["presence", user.as_str()])
    }

    fn last_seen_key(&self, user: &UserId) -> String {
        self.redis.key(&["last_seen", user.as_str()])
    }
}

fn ttl_ms() -> i64 {
    i64::try_from(CONNECTION_TTL.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl Presence for RedisPresence {
    async fn connected(&self, user: &UserId, connection: &str) -> PortResult<bool> {
        let now = Timestamp::now().as_millis();
        let came_online: i64 = self
            .connect
            .key(self.connections_key(user))
            .arg(connection)
            .arg(now)
            .arg(now + ttl_ms())
            .arg(ttl_ms())
            .invoke_async(&mut self.redis.conn()?)
            .await
            .map_err(|err| self.redis.failed(err))?;
        Ok(came_online == 1)
    }

    async fn disconnected(
        &self,
        user: &UserId,
        connection: &str,
        at: Timestamp,
    ) -> PortResult<bool> {
        let went_offline: i64 = self
            .disconnect
            .key(self.connections_key(user))
            .key(self.last_seen_key(user))
            .arg(connection)
            .arg(at.as_millis())
            .invoke_async(&mut self.redis.conn()?)
            .await
            .map_err(|err| self.redis.failed(err))?;
        Ok(went_offline == 1)
    }

    async fn status(&self, user: &UserId) -> PortResult<Status> {
        let (live, last_seen): (u64, Option<i64>) = self
            .status
            .key(self.connections_key(user))
            .key(self.last_seen_key(user))
            .arg(Timestamp::now().as_millis())
            .invoke_async(&mut self.redis.conn()?)
            .await
            .map_err(|err| self.redis.failed(err))?;
        Ok(Status {
            online: live > 0,
            last_seen_at: last_seen.map(Timestamp::from_millis),
        })
    }

    async fn offline_among(&self, users: &[UserId]) -> PortResult<Vec<UserId>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        // Connections that lapsed still sit in the set until a script sweeps them: count
        // only those whose time has not passed.
        let now = Timestamp::now().as_millis();
        let mut pipe = redis::pipe();
        for user in users {
            pipe.zcount(self.connections_key(user), format!("({now}"), "+inf");
        }
        let live: Vec<u64> = pipe
            .query_async(&mut self.redis.conn()?)
            .await
            .map_err(|err| self.redis.failed(err))?;
        Ok(users
            .iter()
            .zip(live)
            .filter(|(_, live)| *live == 0)
            .map(|(user, _)| user.clone())
            .collect())
    }

    async fn heartbeat(&self, connections: &[(UserId, String)]) -> PortResult<()> {
        if connections.is_empty() {
            return Ok(());
        }
        let until = Timestamp::now().as_millis() + ttl_ms();
        let mut pipe = redis::pipe();
        for (user, connection) in connections {
            let key = self.connections_key(user);
            // XX: refresh only; a connection that closed meanwhile must not come back.
            pipe.cmd("ZADD")
                .arg(&key)
                .arg("XX")
                .arg(until)
                .arg(connection)
                .ignore();
            pipe.pexpire(&key, ttl_ms()).ignore();
        }
        pipe.query_async::<()>(&mut self.redis.conn()?)
            .await
            .map_err(|err| self.redis.failed(err))
    }
}
