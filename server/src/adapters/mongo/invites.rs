//! Invites, keyed by the hash of their code.

use async_trait::async_trait;
use mongodb::Collection;
use mongodb::bson::doc;
use mongodb::options::ReturnDocument;
use protocol::{RoomId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use super::{MongoStore, store_error};
use crate::ports::PortResult;
use crate::ports::store::{InviteRecord, InviteStore};

/// A document of `invites`.
#[derive(Serialize, Deserialize)]
struct InviteDoc {
    /// The code's hash: the code itself is never stored.
    #[serde(rename = "_id")]
    code_hash: String,
    room_id: String,
    created_by: String,
    created_at: i64,
    expires_at: Option<i64>,
    max_uses: Option<i64>,
    uses: i64,
    revoked: bool,
}

impl InviteDoc {
    fn new(invite: &InviteRecord) -> Self {
        Self {
            code_hash: invite.code_hash.clone(),
            room_id: invite.room_id.0.clone(),
            created_by: invite.created_by.0.clone(),
            created_at: invite.created_at.as_millis(),
            expires_at: invite.expires_at.map(Timestamp::as_millis),
            max_uses: invite.max_uses.map(i64::from),
            uses: i64::from(invite.uses),
            revoked: invite.revoked,
        }
    }

    fn into_record(self) -> InviteRecord {
        let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        InviteRecord {
            code_hash: self.code_hash,
            room_id: RoomId(self.room_id),
            created_by: UserId(self.created_by),
            created_at: Timestamp::from_millis(self.created_at),
            expires_at: self.expires_at.map(Timestamp::from_millis),
            max_uses: self.max_uses.map(count),
            uses: count(self.uses),
            revoked: self.revoked,
        }
    }
}

impl MongoStore {
    fn invites(&self) -> Collection<InviteDoc> {
        self.collection("invites")
    }
}

#[async_trait]
impl InviteStore for MongoStore {
    async fn create_invite(&self, invite: &InviteRecord) -> PortResult<()> {
        self.invites()
            .insert_one(InviteDoc::new(invite))
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn invite(&self, code_hash: &str) -> PortResult<Option<InviteRecord>> {
        let found = self
            .invites()
            .find_one(doc! { "_id": code_hash })
            .await
            .map_err(store_error)?;
        Ok(found.map(InviteDoc::into_record))
    }

    async fn redeem(&self, code_hash: &str, now: Timestamp) -> PortResult<Option<InviteRecord>> {
        // One conditional update: the server checks liveness and counts the use on one
        // document atomically, so concurrent accepts can never pass `max_uses`. The filter
        // is `InviteRecord::is_live`; `null` (no expiry, no limit) matches `{ field: null }`,
        // and `$expr` compares two fields of the document itself.
        let live = doc! {
            "_id": code_hash,
            "revoked": false,
            "$and": [
                { "$or": [
                    { "expires_at": null },
                    { "expires_at": { "$gt": now.as_millis() } },
                ] },
                { "$or": [
                    { "max_uses": null },
                    { "$expr": { "$lt": ["$uses", "$max_uses"] } },
                ] },
            ],
        };
        let redeemed = self
            .invites()
            .find_one_and_update(live, doc! { "$inc": { "uses": 1_i64 } })
            .return_document(ReturnDocument::After)
            .await
            .map_err(store_error)?;
        Ok(redeemed.map(InviteDoc::into_record))
    }

    async fn revoke(&self, code_hash: &str) -> PortResult<()> {
        self.invites()
            .update_one(
                doc! { "_id": code_hash },
                doc! { "$set": { "revoked": true } },
            )
            .await
            .map(drop)
            .map_err(store_error)
    }
}
