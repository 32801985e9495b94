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
//!
//! - `upload`: steps 1 to 3; [`inspect`] and `strip` do the checking and the stripping.
//! - `serve`: who may fetch what, and the media a message may use (step 4).
//! - `collect`: deleting on request, and sweeping what no message used.

mod collect;
pub mod inspect;
mod serve;
pub(crate) mod strip;
mod upload;

use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use protocol::{
    CreateMediaRequest, CreatedMedia, Media, MediaId, MediaKind, MessageKind, Timestamp,
    UploadInstructions, UserId, paths,
};

use super::Chat;
use crate::domain::new_id;
use crate::error::{Error, Result};
use crate::ports::PortError;
use crate::ports::media::check_content_type;
use crate::ports::store::{CheckedMedia, MediaFacts, MediaRecord};
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
    /// The caller's own media, or `not_found` (someone else's media is not revealed).
    pub(crate) async fn own_media(&self, caller: &UserId, id: &MediaId) -> Result<MediaRecord> {
        self.ports
            .media_records
            .media(id)
            .await?
            .filter(|record| record.uploader == *caller)
            .ok_or(Error::NotFound("media"))
    }
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
