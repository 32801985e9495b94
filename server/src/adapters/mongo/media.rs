//! Media records. A record is given to a room by the `append` of its message (in
//! `messages`), with one conditional update inside that transaction, so a send and the
//! orphan collector's conditional delete exclude each other.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{Bson, Document, doc};
use protocol::{MediaId, MediaKind, RoomId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use super::{MongoStore, is_duplicate_key, store_error, to_i64, to_u64};
use crate::ports::store::{CheckedMedia, MediaRecord, MediaRecordStore};
use crate::ports::{Conflict, PortError, PortResult};

/// A document of `media`.
#[derive(Serialize, Deserialize)]
struct MediaDoc {
    #[serde(rename = "_id")]
    id: String,
    uploader: String,
    kind: MediaKind,
    content_type: String,
    bytes: i64,
    width: Option<u32>,
    height: Option<u32>,
    duration_ms: Option<i64>,
    placeholder: Option<String>,
    has_thumbnail: bool,
    ready: bool,
    /// `null` until a message uses it (the collector's index needs the field present).
    room_id: Option<String>,
    created_at: i64,
}

impl MediaDoc {
    fn new(record: &MediaRecord) -> Self {
        Self {
            id: record.id.0.clone(),
            uploader: record.uploader.0.clone(),
            kind: record.kind,
            content_type: record.content_type.clone(),
            bytes: to_i64(record.bytes),
            width: record.width,
            height: record.height,
            duration_ms: record.duration_ms.map(to_i64),
            placeholder: record.placeholder.clone(),
            has_thumbnail: record.has_thumbnail,
            ready: record.ready,
            room_id: record.room_id.as_ref().map(|id| id.0.clone()),
            created_at: record.created_at.as_millis(),
        }
    }

    fn into_record(self) -> MediaRecord {
        MediaRecord {
            id: MediaId(self.id),
            uploader: UserId(self.uploader),
            kind: self.kind,
            content_type: self.content_type,
            bytes: to_u64(self.bytes),
            width: self.width,
            height: self.height,
            duration_ms: self.duration_ms.map(to_u64),
            placeholder: self.placeholder,
            has_thumbnail: self.has_thumbnail,
            ready: self.ready,
            room_id: self.room_id.map(RoomId),
            created_at: Timestamp::from_millis(self.created_at),
        }
    }
}

impl MongoStore {
    fn media_docs(&self) -> Collection<MediaDoc> {
        self.collection("media")
    }

    /// Up to `limit` media no message uses that match `filter`, oldest first.
    async fn unused(&self, mut filter: Document, limit: u32) -> PortResult<Vec<MediaRecord>> {
        if limit == 0 {
            // MongoDB reads a limit of 0 as "no limit".
            return Ok(Vec::new());
        }
        filter.insert("room_id", Bson::Null);
        self.media_docs()
            .find(filter)
            .sort(doc! { "created_at": 1 })
            .limit(i64::from(limit))
            .await
            .map_err(store_error)?
            .map_ok(MediaDoc::into_record)
            .try_collect()
            .await
            .map_err(store_error)
    }
}

#[async_trait]
impl MediaRecordStore for MongoStore {
    async fn create_media(&self, record: &MediaRecord) -> PortResult<()> {
        match self.media_docs().insert_one(MediaDoc::new(record)).await {
            Ok(_) => Ok(()),
            Err(err) if is_duplicate_key(&err) => Err(PortError::Conflict(Conflict::MediaIdTaken)),
            Err(err) => Err(store_error(err)),
        }
    }

    async fn media(&self, id: &MediaId) -> PortResult<Option<MediaRecord>> {
        let found = self
            .media_docs()
            .find_one(doc! { "_id": id.as_str() })
            .await
            .map_err(store_error)?;
        Ok(found.map(MediaDoc::into_record))
    }

    async fn complete_media(&self, id: &MediaId, checked: &CheckedMedia) -> PortResult<bool> {
        let optional = |value: Option<u32>| value.map_or(Bson::Null, |v| Bson::Int64(v.into()));
        let updated = self
            .media_docs()
            .update_one(
                doc! { "_id": id.as_str(), "ready": false },
                doc! { "$set": {
                    "width": optional(checked.width),
                    "height": optional(checked.height),
                    "duration_ms": checked.duration_ms.map_or(Bson::Null, |v| Bson::Int64(to_i64(v))),
                    "placeholder": checked.placeholder.clone(),
                    "has_thumbnail": checked.has_thumbnail,
                    "bytes": to_i64(checked.bytes),
                    "ready": true,
                } },
            )
            .await
            .map_err(store_error)?;
        Ok(updated.matched_count > 0)
    }

    async fn delete_unused_media(&self, id: &MediaId) -> PortResult<bool> {
        let deleted = self
            .media_docs()
            .delete_one(doc! { "_id": id.as_str(), "room_id": Bson::Null })
            .await
            .map_err(store_error)?;
        Ok(deleted.deleted_count > 0)
    }

    async fn unused_media(
        &self,
        created_before: Timestamp,
        limit: u32,
    ) -> PortResult<Vec<MediaRecord>> {
        let filter = doc! { "created_at": { "$lt": created_before.as_millis() } };
        self.unused(filter, limit).await
    }

    async fn unused_media_of(&self, uploader: &UserId, limit: u32) -> PortResult<Vec<MediaRecord>> {
        self.unused(doc! { "uploader": uploader.as_str() }, limit)
            .await
    }
}
