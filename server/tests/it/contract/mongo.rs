//! Every store contract suite run against the MongoDB adapter, when `MONGODB_URL` names a
//! server. Without it the tests pass as skipped, unless `CONFAB_REQUIRE_SERVICES=1` asks for
//! every service (as `make test` does), where a missing URL fails them.
//!
//! Each test works in a database of its own, dropped when it passes, so tests run in parallel
//! against one server and a failed one leaves its data to look at.

use std::sync::Arc;

use server::adapters::mongo::MongoStore;

use super::{accounts, health, invites, media_records, messages, rooms, services};

/// A fresh database on the server named by `MONGODB_URL`, and the store over it.
struct TestDb {
    url: String,
    name: String,
    store: Arc<MongoStore>,
}

impl TestDb {
    /// `None` (the test is skipped) when no server is configured and none is required.
    async fn create() -> Option<Self> {
        let url = services::url("MONGODB_URL")?;
        let name = format!("confab_test_{}", uuid::Uuid::new_v4().simple());
        // `connect` waits for the server as long as it takes (as a node at start-up must);
        // a test fails instead, rather than hang the run.
        let store = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            MongoStore::connect(&url, &name),
        )
        .await
        .expect("MongoDB at MONGODB_URL answers within a minute")
        .expect("connect to MongoDB at MONGODB_URL");
        Some(Self {
            url,
            name,
            store: Arc::new(store),
        })
    }

    fn store(&self) -> Arc<MongoStore> {
        Arc::clone(&self.store)
    }

    /// Drops the test's database: only reached when the suite passed.
    async fn drop(self) {
        let client = mongodb::Client::with_uri_str(&self.url)
            .await
            .expect("connect to MongoDB to clean up");
        client
            .database(&self.name)
            .drop()
            .await
            .expect("drop the test database");
    }
}

#[tokio::test]
async fn mongo_store_refuses_a_taken_username() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    accounts::refuses_a_taken_username(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_finds_users_by_id_and_credentials_by_username() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    accounts::finds_users_by_id_and_credentials_by_username(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_finds_many_users_and_skips_unknown_ids() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    accounts::finds_many_users_and_skips_unknown_ids(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_searches_users_by_username_or_display_name_prefix() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    accounts::searches_users_by_username_or_display_name_prefix(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_keeps_a_session_until_it_expires_or_is_deleted() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    accounts::keeps_a_session_until_it_expires_or_is_deleted(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_keeps_sessions_apart() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    accounts::keeps_sessions_apart(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_creates_a_group_with_its_members() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    rooms::creates_a_group_with_its_members(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_keeps_one_direct_room_per_pair() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    rooms::keeps_one_direct_room_per_pair(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_lists_members_oldest_first_and_adds_each_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    rooms::lists_members_oldest_first_and_adds_each_once(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_removes_members_and_changes_roles() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    rooms::removes_members_and_changes_roles(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_advances_markers_only_forward() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    rooms::advances_markers_only_forward(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_lists_contacts_once_without_the_user() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    rooms::lists_contacts_once_without_the_user(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongo_store_keeps_one_direct_room_per_pair_under_concurrency() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    rooms::keeps_one_direct_room_per_pair_under_concurrency(store).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_lists_rooms_by_last_activity() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    rooms::lists_rooms_by_last_activity(store.as_ref(), store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_finds_an_invite_by_its_hash() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    invites::finds_an_invite_by_its_hash(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_redeems_until_used_up() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    invites::redeems_until_used_up(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_refuses_a_revoked_invite() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    invites::refuses_a_revoked_invite(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_refuses_an_expired_invite() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    invites::refuses_an_expired_invite(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongo_store_counts_invite_uses_atomically_under_concurrency() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    invites::counts_uses_atomically_under_concurrency(store).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_renames_and_mutes() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    rooms::renames_and_mutes(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_lists_and_ends_sessions() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    accounts::lists_and_ends_sessions(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_keeps_push_subscriptions_per_session() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    accounts::keeps_push_subscriptions_per_session(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_keeps_the_first_server_secret() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    accounts::keeps_the_first_server_secret(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_numbers_each_room_from_one() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    messages::numbers_each_room_from_one(store.as_ref(), store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_returns_the_first_message_for_a_repeated_client_id() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    messages::returns_the_first_message_for_a_repeated_client_id(store.as_ref(), store.as_ref())
        .await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_pages_through_history() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    messages::pages_through_history(store.as_ref(), store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_finds_a_message_by_id() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    messages::finds_a_message_by_id(store.as_ref(), store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_applies_changes_to_their_targets() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    messages::applies_changes_to_their_targets(store.as_ref(), store.as_ref()).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongo_store_applies_concurrent_changes_to_one_target() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    messages::applies_concurrent_changes_to_one_target(store.clone(), store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_searches_live_text() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    messages::searches_live_text(store.as_ref(), store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_counts_no_changes_as_unread() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    messages::counts_no_changes_as_unread(store.as_ref(), store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_counts_unread_messages_of_others() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    messages::counts_unread_messages_of_others(store.as_ref(), store.as_ref()).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongo_store_numbers_a_room_without_gaps_under_concurrency() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    messages::numbers_a_room_without_gaps_under_concurrency(store.clone(), store.as_ref()).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongo_store_stores_one_message_for_concurrent_retries() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    messages::stores_one_message_for_concurrent_retries(store.clone(), store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_keeps_each_new_messages_event_owed_until_published() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    messages::keeps_each_new_messages_event_owed_until_published(store.as_ref(), store.as_ref())
        .await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_refuses_to_append_to_a_missing_room() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    messages::refuses_to_append_to_a_missing_room(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_answers_its_health_check() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    health::answers_ok_while_up(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_creates_and_reads_media() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    media_records::creates_and_reads_media(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_completes_media_with_what_the_checks_found() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    media_records::completes_media_with_what_the_checks_found(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_a_message_takes_ready_media_for_its_room_only() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    media_records::a_message_takes_ready_media_for_its_room_only(
        store.as_ref(),
        store.as_ref(),
        store.as_ref(),
    )
    .await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_deletes_only_unused_media() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    media_records::deletes_only_unused_media(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_lists_unused_media_older_than_a_cutoff() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    media_records::lists_unused_media_older_than_a_cutoff(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_a_message_keeps_its_media() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    media_records::a_message_keeps_its_media(store.as_ref(), store.as_ref(), store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_deletes_a_user_and_frees_the_username() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    accounts::deletes_a_user_and_frees_the_username(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_blocks_and_unblocks() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    accounts::blocks_and_unblocks(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_lists_one_uploaders_unused_media() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    media_records::lists_one_uploaders_unused_media(store.as_ref()).await;
    db.drop().await;
}

#[tokio::test]
async fn mongo_store_applies_a_retried_change_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    messages::applies_a_retried_change_once(store.as_ref(), store.as_ref()).await;
    db.drop().await;
}
