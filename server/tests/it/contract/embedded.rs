//! Every contract suite run against the embedded adapters: SQLite in a temporary folder and
//! the in-memory bus, presence and limiter. A real adapter gets a sibling of this file that
//! runs the same suites when its service is configured.

use std::sync::Arc;

use server::adapters::embedded::{LocalBus, LocalLimiter, LocalPresence, SqliteStore};
use tempfile::TempDir;

use super::{accounts, bus, health, invites, limiter, media_records, messages, presence, rooms};

/// A fresh store in its own folder; the folder lives as long as the returned guard.
fn sqlite() -> (TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().expect("create a temporary folder");
    let store = SqliteStore::open(dir.path()).expect("open the embedded store");
    (dir, Arc::new(store))
}

#[tokio::test]
async fn embedded_store_renames_and_mutes() {
    let (_dir, store) = sqlite();
    rooms::renames_and_mutes(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_lists_and_ends_sessions() {
    let (_dir, store) = sqlite();
    accounts::lists_and_ends_sessions(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_keeps_push_subscriptions_per_session() {
    let (_dir, store) = sqlite();
    accounts::keeps_push_subscriptions_per_session(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_keeps_the_first_server_secret() {
    let (_dir, store) = sqlite();
    accounts::keeps_the_first_server_secret(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_refuses_a_taken_username() {
    let (_dir, store) = sqlite();
    accounts::refuses_a_taken_username(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_finds_users_by_id_and_credentials_by_username() {
    let (_dir, store) = sqlite();
    accounts::finds_users_by_id_and_credentials_by_username(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_finds_many_users_and_skips_unknown_ids() {
    let (_dir, store) = sqlite();
    accounts::finds_many_users_and_skips_unknown_ids(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_searches_users_by_username_or_display_name_prefix() {
    let (_dir, store) = sqlite();
    accounts::searches_users_by_username_or_display_name_prefix(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_keeps_a_session_until_it_expires_or_is_deleted() {
    let (_dir, store) = sqlite();
    accounts::keeps_a_session_until_it_expires_or_is_deleted(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_keeps_sessions_apart() {
    let (_dir, store) = sqlite();
    accounts::keeps_sessions_apart(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_creates_a_group_with_its_members() {
    let (_dir, store) = sqlite();
    rooms::creates_a_group_with_its_members(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_keeps_one_direct_room_per_pair() {
    let (_dir, store) = sqlite();
    rooms::keeps_one_direct_room_per_pair(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_lists_members_oldest_first_and_adds_each_once() {
    let (_dir, store) = sqlite();
    rooms::lists_members_oldest_first_and_adds_each_once(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_removes_members_and_changes_roles() {
    let (_dir, store) = sqlite();
    rooms::removes_members_and_changes_roles(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_advances_markers_only_forward() {
    let (_dir, store) = sqlite();
    rooms::advances_markers_only_forward(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_lists_contacts_once_without_the_user() {
    let (_dir, store) = sqlite();
    rooms::lists_contacts_once_without_the_user(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_store_keeps_one_direct_room_per_pair_under_concurrency() {
    let (_dir, store) = sqlite();
    rooms::keeps_one_direct_room_per_pair_under_concurrency(store).await;
}

#[tokio::test]
async fn embedded_store_lists_rooms_by_last_activity() {
    let (_dir, store) = sqlite();
    rooms::lists_rooms_by_last_activity(store.as_ref(), store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_finds_an_invite_by_its_hash() {
    let (_dir, store) = sqlite();
    invites::finds_an_invite_by_its_hash(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_redeems_until_used_up() {
    let (_dir, store) = sqlite();
    invites::redeems_until_used_up(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_refuses_a_revoked_invite() {
    let (_dir, store) = sqlite();
    invites::refuses_a_revoked_invite(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_refuses_an_expired_invite() {
    let (_dir, store) = sqlite();
    invites::refuses_an_expired_invite(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_store_counts_invite_uses_atomically_under_concurrency() {
    let (_dir, store) = sqlite();
    invites::counts_uses_atomically_under_concurrency(store).await;
}

#[tokio::test]
async fn embedded_store_numbers_each_room_from_one() {
    let (_dir, store) = sqlite();
    messages::numbers_each_room_from_one(store.as_ref(), store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_returns_the_first_message_for_a_repeated_client_id() {
    let (_dir, store) = sqlite();
    messages::returns_the_first_message_for_a_repeated_client_id(store.as_ref(), store.as_ref())
        .await;
}

#[tokio::test]
async fn embedded_store_pages_through_history() {
    let (_dir, store) = sqlite();
    messages::pages_through_history(store.as_ref(), store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_finds_a_message_by_id() {
    let (_dir, store) = sqlite();
    messages::finds_a_message_by_id(store.as_ref(), store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_counts_unread_messages_of_others() {
    let (_dir, store) = sqlite();
    messages::counts_unread_messages_of_others(store.as_ref(), store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_store_numbers_a_room_without_gaps_under_concurrency() {
    let (_dir, store) = sqlite();
    messages::numbers_a_room_without_gaps_under_concurrency(store.clone(), store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_store_stores_one_message_for_concurrent_retries() {
    let (_dir, store) = sqlite();
    messages::stores_one_message_for_concurrent_retries(store.clone(), store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_keeps_each_new_messages_event_owed_until_published() {
    let (_dir, store) = sqlite();
    messages::keeps_each_new_messages_event_owed_until_published(store.as_ref(), store.as_ref())
        .await;
}

#[tokio::test]
async fn embedded_store_applies_changes_to_their_targets() {
    let (_dir, store) = sqlite();
    messages::applies_changes_to_their_targets(store.as_ref(), store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_store_applies_concurrent_changes_to_one_target() {
    let (_dir, store) = sqlite();
    messages::applies_concurrent_changes_to_one_target(store.clone(), store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_searches_live_text() {
    let (_dir, store) = sqlite();
    messages::searches_live_text(store.as_ref(), store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_counts_no_changes_as_unread() {
    let (_dir, store) = sqlite();
    messages::counts_no_changes_as_unread(store.as_ref(), store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_refuses_to_append_to_a_missing_room() {
    let (_dir, store) = sqlite();
    messages::refuses_to_append_to_a_missing_room(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_answers_its_health_check() {
    let (_dir, store) = sqlite();
    health::answers_ok_while_up(store.as_ref()).await;
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

#[tokio::test]
async fn embedded_store_creates_and_reads_media() {
    let (_dir, store) = sqlite();
    media_records::creates_and_reads_media(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_completes_media_with_what_the_checks_found() {
    let (_dir, store) = sqlite();
    media_records::completes_media_with_what_the_checks_found(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_a_message_takes_ready_media_for_its_room_only() {
    let (_dir, store) = sqlite();
    media_records::a_message_takes_ready_media_for_its_room_only(
        store.as_ref(),
        store.as_ref(),
        store.as_ref(),
    )
    .await;
}

#[tokio::test]
async fn embedded_store_deletes_only_unused_media() {
    let (_dir, store) = sqlite();
    media_records::deletes_only_unused_media(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_lists_unused_media_older_than_a_cutoff() {
    let (_dir, store) = sqlite();
    media_records::lists_unused_media_older_than_a_cutoff(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_a_message_keeps_its_media() {
    let (_dir, store) = sqlite();
    media_records::a_message_keeps_its_media(store.as_ref(), store.as_ref(), store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_deletes_a_user_and_frees_the_username() {
    let (_dir, store) = sqlite();
    accounts::deletes_a_user_and_frees_the_username(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_blocks_and_unblocks() {
    let (_dir, store) = sqlite();
    accounts::blocks_and_unblocks(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_lists_one_uploaders_unused_media() {
    let (_dir, store) = sqlite();
    media_records::lists_one_uploaders_unused_media(store.as_ref()).await;
}

#[tokio::test]
async fn embedded_store_applies_a_retried_change_once() {
    let (_dir, store) = sqlite();
    messages::applies_a_retried_change_once(store.as_ref(), store.as_ref()).await;
}
