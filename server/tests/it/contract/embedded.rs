//! Every contract suite run against the embedded adapters: SQLite in a temporary folder and
//! the in-memory bus, presence and limiter. A real adapter gets a sibling of this file that
//! runs the same suites when its service is configured.

use std::sync::Arc;

use server::adapters::embedded::{LocalBus, LocalLimiter, LocalPresence, SqliteStore};
use tempfile::TempDir;

use super::{bus, limiter, presence};

/// A fresh store in its own folder; the folder lives as long as the returned guard.
fn sqlite() -> (TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().expect("create a temporary folder");
    let store = SqliteStore::open(dir.path()).expect("open the embedded store");
    (dir, Arc::new(store))
}

#[tokio::test]
async fn embedded_bus_delivers_every_event_to_every_group() {
    bus::delivers_every_event_to_every_group(&LocalBus::new()).await;
}

#[tokio::test]
async fn embedded_bus_shares_a_groups_events_between_its_subscribers() {
    bus::shares_a_groups_events_between_its_subscribers(&LocalBus::new()).await;
}

#[tokio::test]
async fn embedded_bus_keeps_each_rooms_order() {
    bus::keeps_each_rooms_order(&LocalBus::new()).await;
}

#[tokio::test]
async fn embedded_bus_keeps_events_for_a_group_while_it_has_no_subscriber() {
    bus::keeps_events_for_a_group_while_it_has_no_subscriber(&LocalBus::new()).await;
}

#[tokio::test]
async fn embedded_bus_hands_on_events_a_dropped_subscriber_never_took() {
    bus::hands_on_events_a_dropped_subscriber_never_took(&LocalBus::new()).await;
}

#[tokio::test]
async fn embedded_bus_watchers_each_receive_what_is_published_while_they_watch() {
    bus::watchers_each_receive_what_is_published_while_they_watch(&LocalBus::new()).await;
}

#[tokio::test]
async fn embedded_presence_reports_the_first_and_last_connection() {
    presence::reports_the_first_and_last_connection(&LocalPresence::new()).await;
}

#[tokio::test]
async fn embedded_presence_names_the_offline_among_many() {
    presence::names_the_offline_among_many(&LocalPresence::new()).await;
}

#[tokio::test]
async fn embedded_presence_ignores_unknown_connections() {
    presence::ignores_unknown_connections(&LocalPresence::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_presence_reports_each_transition_once_under_concurrency() {
    presence::reports_each_transition_once_under_concurrency(Arc::new(LocalPresence::new())).await;
}

#[tokio::test]
async fn embedded_limiter_passes_up_to_the_limit_then_asks_to_wait() {
    limiter::passes_up_to_the_limit_then_asks_to_wait(&LocalLimiter::new()).await;
}

#[tokio::test]
async fn embedded_limiter_counts_each_key_apart() {
    limiter::counts_each_key_apart(&LocalLimiter::new()).await;
}

#[tokio::test]
async fn embedded_limiter_starts_counting_again_after_the_window() {
    limiter::starts_counting_again_after_the_window(&LocalLimiter::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_limiter_counts_concurrent_hits_exactly() {
    limiter::counts_concurrent_hits_exactly(Arc::new(LocalLimiter::new())).await;
}

#[tokio::test]
async fn embedded_limiter_keeps_a_keys_window_whatever_other_keys_do() {
    limiter::keeps_a_keys_window_whatever_other_keys_do(&LocalLimiter::new()).await;
}

/// Each store case on a fresh SQLite store of its own.
macro_rules! on_sqlite {
    ($($suite:ident: [$($case:ident $how:tt),* $(,)?]),* $(,)?) => {$(
        mod $suite {$(
            store_test!($how, async fn $case() {
                let (_dir, store) = super::sqlite();
                call_case!(super::super::$suite::$case, store, $how);
            });
        )*}
    )*};
}

store_cases!(on_sqlite);
