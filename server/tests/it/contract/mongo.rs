//! Every store contract suite run against the MongoDB adapter, when `MONGODB_URL` names a
//! server. Without it the tests pass as skipped, unless `CONFAB_REQUIRE_SERVICES=1` asks for
//! every service (as `make test` does), where a missing URL fails them.
//!
//! Each test works in a database of its own, dropped when it passes, so tests run in parallel
//! against one server and a failed one leaves its data to look at.

use std::sync::Arc;

use server::adapters::mongo::MongoStore;

use super::services;

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

/// Each store case in a database of its own, dropped when the case passed.
macro_rules! on_mongo {
    ($($suite:ident: [$($case:ident $how:tt),* $(,)?]),* $(,)?) => {$(
        mod $suite {$(
            store_test!($how, async fn $case() {
                let Some(db) = super::TestDb::create().await else {
                    return;
                };
                let store = db.store();
                call_case!(super::super::$suite::$case, store, $how);
                db.drop().await;
            });
        )*}
    )*};
}

store_cases!(on_mongo);

/// A message stored with a copy of its media's API view (URLs made with the public URL of
/// the day) is rewritten as the media's facts when a node starts on the database.
#[tokio::test]
async fn stored_media_copies_become_facts() {
    use mongodb::bson::doc;
    use protocol::{MediaId, MediaKind, MessageId};
    use server::ports::MessageStore;
    use server::ports::store::MediaFacts;

    let Some(url) = services::url("MONGODB_URL") else {
        return;
    };
    let name = format!("confab_test_{}", uuid::Uuid::new_v4().simple());
    let client = mongodb::Client::with_uri_str(&url)
        .await
        .expect("connect to MongoDB at MONGODB_URL");
    let raw = client
        .database(&name)
        .collection::<mongodb::bson::Document>("messages");
    raw.insert_one(doc! {
        "_id": "m1", "room_id": "r1", "seq": 1_i64, "sender_id": "u1", "client_id": "c1",
        "kind": "image", "body": null, "reply_to": null, "created_at": 1_i64,
        "media": {
            "id": "md1", "kind": "image", "content_type": "image/webp", "bytes": 5120_i64,
            "width": 640, "height": 480, "duration_ms": null,
            "url": "http://old.example/api/v1/media/md1",
            "thumbnail_url": "http://old.example/api/v1/media/md1/thumbnail",
            "placeholder": "data:image/jpeg;base64,AAAA",
        },
    })
    .await
    .expect("a message as an older version stored it");

    let db = TestDb {
        store: Arc::new(
            tokio::time::timeout(
                std::time::Duration::from_secs(60),
                MongoStore::connect(&url, &name),
            )
            .await
            .expect("MongoDB at MONGODB_URL answers within a minute")
            .expect("connect and migrate"),
        ),
        url,
        name,
    };
    let message = db
        .store()
        .message(&MessageId("m1".into()))
        .await
        .expect("read")
        .expect("kept");
    let facts = MediaFacts {
        id: MediaId("md1".into()),
        kind: MediaKind::Image,
        content_type: "image/webp".into(),
        bytes: 5120,
        width: Some(640),
        height: Some(480),
        duration_ms: None,
        placeholder: Some("data:image/jpeg;base64,AAAA".into()),
        has_thumbnail: true,
    };
    assert_eq!(message.media, Some(facts));
    let stored = raw
        .find_one(doc! { "_id": "m1" })
        .await
        .expect("read the raw document")
        .expect("kept");
    let media = stored.get_document("media").expect("media");
    assert!(
        !media.contains_key("url") && !media.contains_key("thumbnail_url"),
        "no URL is kept: {media}"
    );
    db.drop().await;
}
