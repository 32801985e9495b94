//! The presence and rate-limit suites against Redis (`REDIS_URL`).

use std::sync::Arc;

use server::adapters::redis::{Redis, RedisLimiter, RedisPresence};

use super::{limiter, presence, services};

async fn redis() -> Option<Redis> {
    let url = services::url("REDIS_URL")?;
    Some(Redis::connect(&url).await.expect("connect to Redis"))
}

#[tokio::test]
async fn redis_presence_reports_the_first_and_last_connection() {
    let Some(redis) = redis().await else { return };
    presence::reports_the_first_and_last_connection(&RedisPresence::new(redis)).await;
}

#[tokio::test]
async fn redis_presence_names_the_offline_among_many() {
    let Some(redis) = redis().await else { return };
    presence::names_the_offline_among_many(&RedisPresence::new(redis)).await;
}

#[tokio::test]
async fn redis_presence_ignores_unknown_connections() {
    let Some(redis) = redis().await else { return };
    presence::ignores_unknown_connections(&RedisPresence::new(redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_presence_reports_each_transition_once_under_concurrency() {
    let Some(redis) = redis().await else { return };
    presence::reports_each_transition_once_under_concurrency(Arc::new(RedisPresence::new(redis)))
        .await;
}

#[tokio::test]
async fn redis_limiter_passes_up_to_the_limit_then_asks_to_wait() {
    let Some(redis) = redis().await else { return };
    limiter::passes_up_to_the_limit_then_asks_to_wait(&RedisLimiter::new(redis)).await;
}

#[tokio::test]
async fn redis_limiter_counts_each_key_apart() {
    let Some(redis) = redis().await else { return };
    limiter::counts_each_key_apart(&RedisLimiter::new(redis)).await;
}

#[tokio::test]
async fn redis_limiter_starts_counting_again_after_the_window() {
    let Some(redis) = redis().await else { return };
    limiter::starts_counting_again_after_the_window(&RedisLimiter::new(redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_limiter_counts_concurrent_hits_exactly() {
    let Some(redis) = redis().await else { return };
    limiter::counts_concurrent_hits_exactly(Arc::new(RedisLimiter::new(redis))).await;
}

#[tokio::test]
async fn redis_limiter_keeps_a_keys_window_whatever_other_keys_do() {
    let Some(redis) = redis().await else { return };
    limiter::keeps_a_keys_window_whatever_other_keys_do(&RedisLimiter::new(redis)).await;
}
