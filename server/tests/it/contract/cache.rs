//! The cache suite: values with an expiry, and versions that only go up. Run on the
//! in-memory cache and on Redis (`REDIS_URL`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use server::adapters::embedded::LocalCache;
use server::adapters::redis::{Redis, RedisCache};
use server::ports::Cache;

use super::services;

fn key(name: &str) -> String {
    format!("contract:{name}:{}", uuid::Uuid::new_v4().simple())
}

/// What is set is got back, until its time is up; an unknown key is a miss.
pub async fn keeps_values_until_they_expire(cache: &dyn Cache) {
    let (lasting, brief) = (key("lasting"), key("brief"));
    assert_eq!(cache.get(&lasting).await.expect("get"), None);
    cache
        .set(&lasting, b"page one", Duration::from_secs(60))
        .await
        .expect("set");
    cache
        .set(&brief, b"gone soon", Duration::from_millis(100))
        .await
        .expect("set");
    assert_eq!(
        cache.get(&lasting).await.expect("get").as_deref(),
        Some(&b"page one"[..])
    );
    cache
        .set(&lasting, b"page two", Duration::from_secs(60))
        .await
        .expect("set");
    assert_eq!(
        cache.get(&lasting).await.expect("get").as_deref(),
        Some(&b"page two"[..])
    );
    // The expiry itself is what is tested here, so waiting for it is the point.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cache.get(&brief).await.expect("get"), None, "expired");
}

/// Versions start at 0, go up by one per bump, and are kept per key.
pub async fn counts_versions_per_key(cache: &dyn Cache) {
    let (a, b) = (key("a"), key("b"));
    assert_eq!(cache.version(&a).await.expect("version"), 0);
    assert_eq!(cache.bump(&a).await.expect("bump"), 1);
    assert_eq!(cache.bump(&a).await.expect("bump"), 2);
    assert_eq!(cache.version(&a).await.expect("version"), 2);
    assert_eq!(cache.version(&b).await.expect("version"), 0);
}

/// Raising a version never lowers it; a bump goes on from the raised value.
pub async fn raises_versions_but_never_lowers_them(cache: &dyn Cache) {
    let a = key("raised");
    assert_eq!(cache.raise(&a, 5).await.expect("raise"), 5);
    assert_eq!(cache.raise(&a, 3).await.expect("raise"), 5, "not lowered");
    assert_eq!(cache.version(&a).await.expect("version"), 5);
    assert_eq!(cache.bump(&a).await.expect("bump"), 6);
    assert_eq!(cache.raise(&a, 6).await.expect("raise"), 6);
}

/// Concurrent bumps each get a version of their own.
pub async fn gives_concurrent_bumps_distinct_versions(cache: Arc<dyn Cache>) {
    let name = key("busy");
    let bumps = (0..20).map(|_| {
        let (cache, name) = (Arc::clone(&cache), name.clone());
        tokio::spawn(async move { cache.bump(&name).await.expect("bump") })
    });
    let mut seen = HashSet::new();
    for bump in bumps {
        seen.insert(bump.await.expect("task"));
    }
    assert_eq!(seen, (1..=20).collect::<HashSet<u64>>());
}

/// A claim goes to the first caller only, per key, until it expires or is released.
pub async fn gives_each_claim_to_one_caller(cache: &dyn Cache) {
    let (a, b) = (key("claim-a"), key("claim-b"));
    assert!(
        cache
            .claim(&a, Duration::from_secs(60))
            .await
            .expect("claim")
    );
    assert!(
        !cache
            .claim(&a, Duration::from_secs(60))
            .await
            .expect("claim"),
        "already taken"
    );
    assert!(
        cache
            .claim(&b, Duration::from_millis(100))
            .await
            .expect("claim"),
        "keys apart"
    );
    // The expiry itself is what is tested here.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        cache
            .claim(&b, Duration::from_secs(60))
            .await
            .expect("claim"),
        "free again"
    );
    cache.release(&a).await.expect("release");
    assert!(
        cache
            .claim(&a, Duration::from_secs(60))
            .await
            .expect("claim"),
        "free once released"
    );
    cache
        .release(&key("never-claimed"))
        .await
        .expect("release an unclaimed key");
}

async fn redis() -> Option<RedisCache> {
    let url = services::url("REDIS_URL")?;
    Some(RedisCache::new(
        Redis::connect(&url).await.expect("connect to Redis"),
    ))
}

#[tokio::test]
async fn embedded_cache_keeps_values_until_they_expire() {
    keeps_values_until_they_expire(&LocalCache::new()).await;
}

#[tokio::test]
async fn embedded_cache_counts_versions_per_key() {
    counts_versions_per_key(&LocalCache::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_cache_gives_concurrent_bumps_distinct_versions() {
    gives_concurrent_bumps_distinct_versions(Arc::new(LocalCache::new())).await;
}

#[tokio::test]
async fn redis_cache_keeps_values_until_they_expire() {
    let Some(cache) = redis().await else { return };
    keeps_values_until_they_expire(&cache).await;
}

#[tokio::test]
async fn embedded_cache_raises_versions_but_never_lowers_them() {
    raises_versions_but_never_lowers_them(&LocalCache::new()).await;
}

#[tokio::test]
async fn redis_cache_raises_versions_but_never_lowers_them() {
    let Some(cache) = redis().await else { return };
    raises_versions_but_never_lowers_them(&cache).await;
}

#[tokio::test]
async fn redis_cache_counts_versions_per_key() {
    let Some(cache) = redis().await else { return };
    counts_versions_per_key(&cache).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cache_gives_concurrent_bumps_distinct_versions() {
    let Some(cache) = redis().await else { return };
    gives_concurrent_bumps_distinct_versions(Arc::new(cache)).await;
}

#[tokio::test]
async fn embedded_cache_gives_each_claim_to_one_caller() {
    gives_each_claim_to_one_caller(&LocalCache::new()).await;
}

#[tokio::test]
async fn redis_cache_gives_each_claim_to_one_caller() {
    let Some(cache) = redis().await else { return };
    gives_each_claim_to_one_caller(&cache).await;
}
