//! Contract suites: one per port, written once, run against every implementation.
//!
//! Each suite module holds plain `async fn`s over the port's trait object, one per behaviour
//! of its doc comments; the `#[tokio::test]`s that run them against an implementation live
//! apart (`embedded` for the in-process adapters, `mongo`, `redis`, `kafka` for the real
//! ones), so every adapter is held to every assertion. The store suites are listed once, in
//! [`store_cases!`], which each store backend turns into its tests; a test checks that the
//! list names every case the suites define.

/// Every case of the store suites, with how it takes the store: `1`, `2` or `3` times by
/// reference (the same store as several of its ports), `shared` as an `Arc` (a case that
/// runs writers at once, on a multi-threaded runtime), `shared_ref` as an `Arc` and a
/// reference. A backend passes its runner macro, which gets `suite: [case how, …], …` and
/// makes one test per case with [`store_test!`] and [`call_case!`].
macro_rules! store_cases {
    ($run:ident) => {
        $run! {
            accounts: [
                refuses_a_taken_username 1,
                finds_users_by_id_and_credentials_by_username 1,
                finds_many_users_and_skips_unknown_ids 1,
                searches_users_by_username_or_display_name_prefix 1,
                keeps_a_session_until_it_expires_or_is_deleted 1,
                keeps_sessions_apart 1,
                lists_and_ends_sessions 1,
                deletes_a_user_and_frees_the_username 1,
                blocks_and_unblocks 1,
                keeps_the_first_server_secret 1,
                keeps_push_subscriptions_per_session 1,
            ],
            rooms: [
                creates_a_group_with_its_members 1,
                keeps_one_direct_room_per_pair 1,
                keeps_one_direct_room_per_pair_under_concurrency shared,
                lists_rooms_by_last_activity 2,
                lists_members_oldest_first_and_adds_each_once 1,
                removes_members_and_changes_roles 1,
                advances_markers_only_forward 1,
                lists_contacts_once_without_the_user 1,
                renames_and_mutes 1,
            ],
            invites: [
                finds_an_invite_by_its_hash 1,
                redeems_until_used_up 1,
                refuses_a_revoked_invite 1,
                refuses_an_expired_invite 1,
                counts_uses_atomically_under_concurrency shared,
            ],
            messages: [
                numbers_each_room_from_one 2,
                returns_the_first_message_for_a_repeated_client_id 2,
                numbers_a_room_without_gaps_under_concurrency shared_ref,
                stores_one_message_for_concurrent_retries shared_ref,
                pages_through_history 2,
                finds_a_message_by_id 2,
                counts_unread_messages_of_others 2,
                refuses_to_append_to_a_missing_room 1,
                keeps_each_new_messages_event_owed_until_published 2,
                applies_a_retried_change_once 2,
                applies_changes_to_their_targets 2,
                applies_concurrent_changes_to_one_target shared_ref,
                searches_live_text 2,
                counts_no_changes_as_unread 2,
            ],
            media_records: [
                creates_and_reads_media 1,
                completes_media_with_what_the_checks_found 1,
                a_message_takes_ready_media_for_its_room_only 3,
                deletes_only_unused_media 1,
                lists_unused_media_older_than_a_cutoff 1,
                lists_one_uploaders_unused_media 1,
                a_message_keeps_its_media 3,
            ],
            health: [
                answers_ok_while_up 1,
            ],
        }
    };
}

/// Calls a store case with the store (an `Arc`) as the case takes it, and awaits it.
macro_rules! call_case {
    ($case:path, $store:ident, 1) => {
        $case($store.as_ref()).await
    };
    ($case:path, $store:ident, 2) => {
        $case($store.as_ref(), $store.as_ref()).await
    };
    ($case:path, $store:ident, 3) => {
        $case($store.as_ref(), $store.as_ref(), $store.as_ref()).await
    };
    ($case:path, $store:ident, shared) => {
        $case($store.clone()).await
    };
    ($case:path, $store:ident, shared_ref) => {
        $case($store.clone(), $store.as_ref()).await
    };
}

/// A store case's test: on a multi-threaded runtime when it runs writers at once.
macro_rules! store_test {
    (shared, $test:item) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        $test
    };
    (shared_ref, $test:item) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        $test
    };
    ($how:tt, $test:item) => {
        #[tokio::test]
        $test
    };
}

pub mod accounts;
pub mod bus;
pub mod cache;
pub mod fixtures;
pub mod health;
pub mod invites;
pub mod limiter;
pub mod media;
pub mod media_records;
pub mod messages;
pub mod presence;
pub mod rooms;
pub mod services;

mod embedded;
mod kafka;
mod mongo;
mod redis;

/// The names `store_cases!` lists, by suite.
macro_rules! case_names {
    ($($suite:ident: [$($case:ident $how:tt),* $(,)?]),* $(,)?) => {
        &[$((stringify!($suite), &[$(stringify!($case)),*])),*]
    };
}

const LISTED: &[(&str, &[&str])] = store_cases!(case_names);

/// A case added to a store suite but not to `store_cases!` would run against no backend.
#[test]
fn every_store_case_is_listed_for_every_backend() {
    let sources = [
        ("accounts", include_str!("accounts.rs")),
        ("rooms", include_str!("rooms.rs")),
        ("invites", include_str!("invites.rs")),
        ("messages", include_str!("messages.rs")),
        ("media_records", include_str!("media_records.rs")),
        ("health", include_str!("health.rs")),
    ];
    assert_eq!(LISTED.len(), sources.len(), "every store suite is listed");
    for (suite, source) in sources {
        let defined: Vec<&str> = source
            .split("pub async fn ")
            .skip(1)
            .filter_map(|rest| rest.split_once('(').map(|(name, _)| name))
            .collect();
        let listed = LISTED
            .iter()
            .find(|(name, _)| *name == suite)
            .map(|(_, cases)| cases.to_vec())
            .unwrap_or_default();
        let mut defined_sorted = defined.clone();
        defined_sorted.sort_unstable();
        let mut listed_sorted = listed.clone();
        listed_sorted.sort_unstable();
        assert_eq!(listed_sorted, defined_sorted, "the cases of {suite}");
    }
}
