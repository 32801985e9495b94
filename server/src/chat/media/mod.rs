//! Media: photos and voice messages, uploaded in two steps around the bytes.
//!
//! 1. `create` records what the client is about to upload and hands out an upload URL (a
//!    presigned S3 PUT, or this server's own signed `/api/v1/uploads/...`).
//! 2. The client PUTs the bytes to `uploads/<id>`.
//! 3. `complete` reads them back and trusts nothing the client said: the size must be the
//!    declared one, the magic bytes must be the declared type, an image is decoded (its
//!    header first, against decompression bombs) to get its real size, a thumbnail and a
//!    placeholder. The checked bytes, stripped of their metadata, are then written to
//!    `media/<id>`, which no upload URL can reach, so bytes swapped in after the check are
//!    never served.
//! 4. A message may then use the media; the first send gives it to that room for good.
//!
//! Media is served to its uploader and to members of the room whose message holds it.
//! Media that no message uses is deleted after a grace period (`collect_unused`).

pub mod inspect;
pub(crate) mod strip;

use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use protocol::{
    CreateMediaRequest, CreatedMedia, Media, MediaId, MediaKind, MessageKind, RoomId, Timestamp,
    UploadInstructions, UserId,
};

use super::Chat;
use crate::domain::new_id;
use crate::error::{Error, Result};
use crate::ports::media::{TooLarge, check_content_type};
use crate::ports::store::{CheckedMedia, MediaRecord};
use inspect::{IMAGE_TYPES, ImageProblem, VOICE_TYPES, base_type, inspect_image, sniff};

/// How many images one node decodes at once (`Chat::decodes`).
pub(super) const DECODES_AT_ONCE: usize = 2;
/// The most bitrate a voice message may average (AAC at its best is 320 kbit/s): a tiny
/// declared duration cannot cover a large file.
const MAX_VOICE_BITS_PER_SECOND: u64 = 512_000;
/// How long a check may hold its media's claim if it never gives it back (a node dying
/// mid-check); checks take well under a second.
const CHECK_CLAIM: Duration = Duration::from_secs(60);
/// Orphans deleted per sweep round.
const SWEEP_BATCH: u32 = 100;

/// The bytes of a media object, or where to get them.
pub enum MediaContent {
    /// A short-lived signed URL to redirect to.
    Redirect(String),
    /// The bytes, served by this node.
    Bytes { content_type: String, bytes: Bytes },
}

/// Which object of a media.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rendition {
    Original,
    Thumbnail,
}

fn upload_key(id: &MediaId) -> String {
    format!("uploads/{id}")
}

pub(crate) fn original_key(id: &MediaId) -> String {
    format!("media/{id}")
}

fn thumbnail_key(id: &MediaId) -> String {
    format!("media/{id}/thumbnail")
}

/// The media id an upload key names.
fn id_of_upload_key(key: &str) -> Option<MediaId> {
    let id = key.strip_prefix("uploads/")?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| MediaId(id.into()))
}

impl Chat {
    /// `POST /media`: records the media and says where to upload it.
    pub async fn create_media(
        &self,
        uploader: &UserId,
        request: CreateMediaRequest,
    ) -> Result<CreatedMedia> {
        self.limit_uploads("upload", uploader).await?;
        let limits = &self.settings.limits;
        self.check_declared(&request)?;
        let record = MediaRecord {
            id: MediaId(new_id()),
            uploader: uploader.clone(),
            kind: request.kind,
            content_type: request.content_type.trim().to_owned(),
            bytes: request.bytes,
            width: request.width,
            height: request.height,
            duration_ms: request.duration_ms,
            placeholder: None,
            has_thumbnail: false,
            ready: false,
            room_id: None,
            created_at: Timestamp::now(),
        };
        let ttl = limits.upload_url_ttl;
        let target = self
            .ports
            .media
            .upload_target(
                &upload_key(&record.id),
                &record.content_type,
                record.bytes,
                ttl,
            )
            .await?;
        self.ports.media_records.create_media(&record).await?;
        Ok(CreatedMedia {
            media: self.media_view(&record),
            upload: UploadInstructions {
                method: "PUT".into(),
                url: target.url,
                headers: target.headers,
            },
            expires_at: Timestamp::from_millis(
                Timestamp::now().as_millis() + i64::try_from(ttl.as_millis()).unwrap_or(0),
            ),
        })
    }

    /// The per-user limit on starting uploads, and (separately) on checking them: a check
    /// decodes, so a client must not be able to make the node decode in a loop.
    async fn limit_uploads(&self, action: &str, user: &UserId) -> Result<()> {
        let limits = &self.settings.limits;
        let key = format!("{action}:user:{user}");
        self.rate_limit(action, &key, limits.uploads_per_user, limits.upload_window)
            .await
    }

    /// What a client may declare: an accepted type for the kind, a size within the limit,
    /// and for voice a duration within the limit.
    fn check_declared(&self, request: &CreateMediaRequest) -> Result<()> {
        let limits = &self.settings.limits;
        check_content_type(&request.content_type)
            .map_err(|_| Error::BadRequest("content_type is not a valid media type".into()))?;
        let base = base_type(&request.content_type);
        let has_parameters = request.content_type.contains(';');
        let (accepted, max_bytes): (&[&str], u64) = match request.kind {
            MediaKind::Image => (&IMAGE_TYPES, limits.max_image_bytes),
            MediaKind::Voice => (&VOICE_TYPES, limits.max_voice_bytes),
        };
        // Codecs parameters describe audio; an image type carries none.
        if !accepted.contains(&base.as_str())
            || (has_parameters && request.kind == MediaKind::Image)
        {
            return Err(Error::UnsupportedMediaType(format!(
                "{} is not accepted for {}; use one of {}",
                request.content_type,
                kind_name(request.kind),
                accepted.join(", ")
            )));
        }
        if request.bytes == 0 {
            return Err(Error::BadRequest("bytes must be at least 1".into()));
        }
        if request.bytes > max_bytes {
            return Err(Error::PayloadTooLarge(format!(
                "{} may be at most {max_bytes} bytes",
                kind_name(request.kind)
            )));
        }
        match request.kind {
            MediaKind::Image => {
                if request.duration_ms.is_some() {
                    return Err(Error::BadRequest("an image has no duration_ms".into()));
                }
                match (request.width, request.height) {
                    (Some(0), _) | (_, Some(0)) => {
                        return Err(Error::BadRequest(
                            "width and height must be at least 1".into(),
                        ));
                    }
                    (Some(w), Some(h)) if u64::from(w) * u64::from(h) > limits.max_image_pixels => {
                        return Err(Error::PayloadTooLarge(format!(
                            "an image may have at most {} pixels",
                            limits.max_image_pixels
                        )));
                    }
                    _ => {}
                }
            }
            MediaKind::Voice => {
                if request.width.is_some() || request.height.is_some() {
                    return Err(Error::BadRequest(
                        "a voice message has no width or height".into(),
                    ));
                }
                let duration = request
                    .duration_ms
                    .ok_or_else(|| Error::BadRequest("a voice message needs duration_ms".into()))?;
                check_duration(duration, limits.max_voice_ms)?;
                check_bitrate(request.bytes, duration)?;
            }
        }
        Ok(())
    }

    /// `PUT /api/v1/uploads/<key>`, the embedded store's upload endpoint: the signature
    /// must be one `create` handed out, the media still waiting for its bytes, and the body
    /// no larger than declared.
    pub async fn accept_upload<E>(
        &self,
        key: &str,
        content_type: &str,
        expires: u64,
        signature: &str,
        content_length: Option<u64>,
        mut body: impl Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    ) -> Result<()> {
        let storage = &self.ports.media;
        if !storage.verify_upload(key, content_type, expires, signature, SystemTime::now()) {
            return Err(Error::Forbidden(
                "this upload URL is invalid or has expired; ask for a new one",
            ));
        }
        let id = id_of_upload_key(key).ok_or(Error::NotFound("upload"))?;
        let record = self
            .ports
            .media_records
            .media(&id)
            .await?
            .ok_or(Error::NotFound("media"))?;
        if record.ready {
            return Err(Error::Conflict(
                "this media is complete; its bytes can no longer change",
            ));
        }
        let too_large = || {
            Error::PayloadTooLarge(format!(
                "the upload is larger than the {} bytes declared",
                record.bytes
            ))
        };
        if content_length.is_some_and(|length| length > record.bytes) {
            return Err(too_large());
        }
        let mut bytes = BytesMut::new();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|_| Error::BadRequest("the upload was interrupted".into()))?;
            if (bytes.len() + chunk.len()) as u64 > record.bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        storage.put(key, content_type, bytes.freeze()).await?;
        Ok(())
    }

    /// The most bytes any media object may hold (each upload is held to its own declared
    /// size, which is at most this).
    pub fn max_upload_bytes(&self) -> u64 {
        let limits = &self.settings.limits;
        limits.max_image_bytes.max(limits.max_voice_bytes)
    }

    /// `POST /media/{id}/complete`: checks the uploaded bytes and makes the media usable.
    /// Completing media that is already complete answers it again.
    pub async fn complete_media(&self, caller: &UserId, id: &MediaId) -> Result<Media> {
        let record = self.own_media(caller, id).await?;
        if record.ready {
            return Ok(self.media_view(&record));
        }
        self.limit_uploads("complete", caller).await?;
        // One check at a time per media: two at once could each store bytes of a different
        // upload (re-PUT in between) under the one record. If the cache is down, go ahead:
        // the record's conditional update still lets only one check win.
        let claim = format!("checking:{id}");
        if !self
            .ports
            .cache
            .claim(&claim, CHECK_CLAIM)
            .await
            .unwrap_or(true)
        {
            return Err(Error::Conflict(
                "this media is being checked already; try again in a moment",
            ));
        }
        let checked = self.check_upload(record).await;
        let outcome = match &checked {
            Ok(_) => "ok",
            Err(err) => err.code().as_str(),
        };
        crate::metrics::METRICS
            .media_checks
            .with_label_values(&[outcome])
            .inc();
        if let Err(err) = self.ports.cache.release(&claim).await {
            tracing::debug!(error = %err, "check claim not released; it expires");
        }
        checked
    }

    /// `complete`'s work, under its claim.
    async fn check_upload(&self, record: MediaRecord) -> Result<Media> {
        let id = &record.id;
        let limits = &self.settings.limits;
        let storage = &self.ports.media;
        // The size cap of the read is the declared size: a larger upload is refused without
        // being read whole.
        let bytes = match storage.get(&upload_key(id), record.bytes).await {
            Ok(Some(bytes)) if bytes.len() as u64 == record.bytes => bytes,
            Ok(Some(bytes)) => {
                return Err(Error::BadRequest(format!(
                    "the upload holds {} bytes, but {} were declared",
                    bytes.len(),
                    record.bytes
                )));
            }
            Ok(None) => {
                return Err(Error::Conflict(
                    "nothing has been uploaded for this media yet",
                ));
            }
            Err(crate::ports::StoreError::Other(err))
                if err.downcast_ref::<TooLarge>().is_some() =>
            {
                return Err(Error::BadRequest(format!(
                    "the upload holds more than the {} bytes declared",
                    record.bytes
                )));
            }
            Err(err) => return Err(err.into()),
        };
        let declared = base_type(&record.content_type);
        let found = sniff(&bytes);
        if found != Some(declared.as_str()) {
            return Err(Error::UnsupportedMediaType(format!(
                "the bytes are {}, not the {declared} declared",
                found.unwrap_or("of no accepted type")
            )));
        }
        let mut bytes = bytes;
        let mut checked = CheckedMedia {
            bytes: record.bytes,
            width: None,
            height: None,
            duration_ms: record.duration_ms,
            placeholder: None,
            has_thumbnail: false,
        };
        match record.kind {
            MediaKind::Image => {
                let max_pixels = limits.max_image_pixels;
                let facts = {
                    let _permit = self
                        .decodes
                        .acquire()
                        .await
                        .map_err(|_| Error::Unavailable("image decoding"))?;
                    let bytes = bytes.clone();
                    tokio::task::spawn_blocking(move || {
                        inspect_image(&bytes, &declared, max_pixels)
                    })
                    .await
                    .map_err(|err| Error::Internal(anyhow::anyhow!("image check failed: {err}")))?
                };
                let facts = facts.map_err(|problem| match problem {
                    ImageProblem::TooManyPixels { .. } => {
                        Error::PayloadTooLarge(problem.to_string())
                    }
                    ImageProblem::Unreadable(_) | ImageProblem::Opaque => {
                        Error::UnsupportedMediaType(problem.to_string())
                    }
                })?;
                storage
                    .put(
                        &thumbnail_key(id),
                        "image/jpeg",
                        Bytes::from(facts.thumbnail),
                    )
                    .await?;
                checked.bytes = facts.stripped.len() as u64;
                bytes = Bytes::from(facts.stripped);
                checked.width = Some(facts.width);
                checked.height = Some(facts.height);
                checked.placeholder = Some(facts.placeholder);
                checked.has_thumbnail = true;
            }
            MediaKind::Voice => {
                // The containers hold no cheap, trustworthy duration; the declared one was
                // checked against the limit and the size at `create`.
            }
        }
        storage
            .put(&original_key(id), &record.content_type, bytes)
            .await?;
        if !self
            .ports
            .media_records
            .complete_media(id, &checked)
            .await?
        {
            return match self.ports.media_records.media(id).await? {
                // Another check finished first (possible only while the cache is down).
                Some(winner) if winner.ready => Ok(self.media_view(&winner)),
                // Deleted meanwhile (by its uploader or the collector): leave nothing behind.
                _ => {
                    self.delete_objects(id).await;
                    Err(Error::NotFound("media"))
                }
            };
        }
        if let Err(err) = storage.delete(&upload_key(id)).await {
            tracing::warn!(error = %err, media_id = %id, "upload not removed after its check");
        }
        let record = MediaRecord {
            bytes: checked.bytes,
            width: checked.width,
            height: checked.height,
            placeholder: checked.placeholder,
            has_thumbnail: checked.has_thumbnail,
            ready: true,
            ..record
        };
        Ok(self.media_view(&record))
    }

    /// `DELETE /media/{id}`: the uploader drops media that no message uses.
    pub async fn delete_media(&self, caller: &UserId, id: &MediaId) -> Result<()> {
        let record = self.own_media(caller, id).await?;
        if record.room_id.is_some() || !self.ports.media_records.delete_unused_media(id).await? {
            return Err(Error::Conflict("a message uses this media; it stays"));
        }
        self.delete_objects(id).await;
        Ok(())
    }

    /// `GET /media/{id}` and `/thumbnail`, for the uploader and members of the room whose
    /// message holds it.
    pub async fn media_content(
        &self,
        caller: &UserId,
        id: &MediaId,
        rendition: Rendition,
    ) -> Result<MediaContent> {
        let record = self
            .ports
            .media_records
            .media(id)
            .await?
            .filter(|r| r.ready)
            .ok_or(Error::NotFound("media"))?;
        if record.uploader != *caller {
            let room = record
                .room_id
                .as_ref()
                .ok_or(Error::Forbidden("this media is not shared with you"))?;
            self.ports
                .rooms
                .member(room, caller)
                .await?
                .ok_or(Error::Forbidden("this media is not shared with you"))?;
        }
        let (key, content_type) = match rendition {
            Rendition::Original => (original_key(id), record.content_type.clone()),
            Rendition::Thumbnail if record.has_thumbnail => {
                (thumbnail_key(id), "image/jpeg".to_owned())
            }
            Rendition::Thumbnail => return Err(Error::NotFound("thumbnail")),
        };
        let storage = &self.ports.media;
        let ttl = self.settings.limits.download_url_ttl;
        if let Some(url) = storage.download_url(&key, ttl).await? {
            return Ok(MediaContent::Redirect(url));
        }
        let bytes = storage
            .get(&key, self.max_upload_bytes())
            .await?
            .ok_or(Error::NotFound("media"))?;
        Ok(MediaContent::Bytes {
            content_type,
            bytes,
        })
    }

    /// The media a message of `kind` from `sender` in `room` names, as the message will
    /// show it. The store's `append` gives it to the room, with the message.
    pub(crate) async fn media_for_message(
        &self,
        sender: &UserId,
        room: &RoomId,
        kind: MessageKind,
        id: &MediaId,
    ) -> Result<Media> {
        let record = self.own_media(sender, id).await?;
        let expected = match kind {
            MessageKind::Image => MediaKind::Image,
            _ => MediaKind::Voice,
        };
        if record.kind != expected {
            return Err(Error::BadRequest(format!(
                "this media is {}, not {}",
                kind_name(record.kind),
                kind_name(expected)
            )));
        }
        if !record.ready {
            return Err(Error::Conflict(
                "this media's upload is not complete; call complete first",
            ));
        }
        // Whether it is free for this room is the store's `append` to say, atomically.
        Ok(self.media_view(&MediaRecord {
            room_id: Some(room.clone()),
            ..record
        }))
    }

    /// Deletes media that no message uses and that is older than the grace period, with
    /// its objects. Returns how many went. Safe on every node at once: each record is
    /// deleted by one conditional write, which a concurrent send's claim excludes.
    pub async fn collect_unused_media(&self) -> Result<usize> {
        let grace = self.settings.limits.media_grace;
        let cutoff = Timestamp::from_millis(
            Timestamp::now().as_millis() - i64::try_from(grace.as_millis()).unwrap_or(i64::MAX),
        );
        let records = &self.ports.media_records;
        self.delete_unused_batches(|| records.unused_media(cutoff, SWEEP_BATCH))
            .await
    }

    /// Deletes every media of `uploader` that no message uses (an account being deleted):
    /// records first, then their objects. Media in messages stays with the messages.
    pub(crate) async fn delete_unused_media_of(&self, uploader: &UserId) -> Result<usize> {
        let records = &self.ports.media_records;
        self.delete_unused_batches(|| records.unused_media_of(uploader, SWEEP_BATCH))
            .await
    }

    /// Deletes, with their objects, the unused media of each batch `next` finds, until a
    /// batch is not full (or nothing in it could go). Returns how many went.
    async fn delete_unused_batches<'a, F, Fut>(&'a self, next: F) -> Result<usize>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = crate::ports::StoreResult<Vec<MediaRecord>>> + 'a,
    {
        let mut deleted = 0;
        loop {
            let batch = next().await?;
            let mut progressed = false;
            for record in &batch {
                // False: a message took it meanwhile, and it stays.
                if self
                    .ports
                    .media_records
                    .delete_unused_media(&record.id)
                    .await?
                {
                    self.delete_objects(&record.id).await;
                    deleted += 1;
                    progressed = true;
                }
            }
            if batch.len() < SWEEP_BATCH as usize || !progressed {
                return Ok(deleted);
            }
        }
    }

    /// Runs [`Chat::collect_unused_media`] every `every` until the chat shuts down.
    pub async fn sweep_unused_media(&self, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.collect_unused_media().await {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "unused media collected"),
                Err(err) => tracing::warn!(error = %err, "unused media not collected"),
            }
        }
    }

    /// The caller's own media, or `not_found` (someone else's media is not revealed).
    pub(crate) async fn own_media(&self, caller: &UserId, id: &MediaId) -> Result<MediaRecord> {
        self.ports
            .media_records
            .media(id)
            .await?
            .filter(|record| record.uploader == *caller)
            .ok_or(Error::NotFound("media"))
    }

    /// Removes every object of a media; failures are logged (an object left behind holds
    /// no record, so nothing serves it).
    async fn delete_objects(&self, id: &MediaId) {
        for key in [upload_key(id), original_key(id), thumbnail_key(id)] {
            if let Err(err) = self.ports.media.delete(&key).await {
                tracing::warn!(error = %err, media_id = %id, "media object not deleted");
            }
        }
    }

    /// The API's `Media`.
    pub(crate) fn media_view(&self, record: &MediaRecord) -> Media {
        let url = format!("{}/api/v1/media/{}", self.settings.public_url, record.id);
        Media {
            id: record.id.clone(),
            kind: record.kind,
            content_type: record.content_type.clone(),
            bytes: record.bytes,
            width: record.width,
            height: record.height,
            duration_ms: record.duration_ms,
            thumbnail_url: record.has_thumbnail.then(|| format!("{url}/thumbnail")),
            url,
            placeholder: record.placeholder.clone(),
        }
    }
}

/// A message's media belongs to another room (or went meanwhile).
pub(crate) fn media_elsewhere() -> Error {
    Error::Conflict(
        "this media was sent in another room or is gone; upload it again to send it here",
    )
}

fn kind_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "an image",
        MediaKind::Voice => "a voice message",
    }
}

fn check_duration(duration_ms: u64, max_ms: u64) -> Result<()> {
    if duration_ms == 0 {
        return Err(Error::BadRequest("duration_ms must be at least 1".into()));
    }
    if duration_ms > max_ms {
        return Err(Error::PayloadTooLarge(format!(
            "a voice message may last at most {} s",
            max_ms / 1000
        )));
    }
    Ok(())
}

fn check_bitrate(bytes: u64, duration_ms: u64) -> Result<()> {
    // Containers add a few KB of headers however short the clip.
    let allowed = MAX_VOICE_BITS_PER_SECOND * duration_ms / 8000 + 16 * 1024;
    if bytes > allowed {
        return Err(Error::PayloadTooLarge(format!(
            "{bytes} bytes is too much for {duration_ms} ms of voice"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_keys_name_their_media_and_nothing_else() {
        assert_eq!(
            id_of_upload_key("uploads/0193abc"),
            Some(MediaId("0193abc".into()))
        );
        for key in ["media/0193abc", "uploads/", "uploads/a/b", "uploads/../x"] {
            assert_eq!(id_of_upload_key(key), None, "{key}");
        }
    }

    #[test]
    fn voice_bitrate_must_be_plausible() {
        assert!(check_bitrate(120_000, 30_000).is_ok(), "32 kbit/s Opus");
        assert!(check_bitrate(8 * 1024 * 1024, 1_000).is_err());
        assert!(
            check_bitrate(10_000, 500).is_ok(),
            "headers of a short clip"
        );
    }
}
