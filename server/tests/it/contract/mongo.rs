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
