//! Serving: who may fetch a media object, and the bytes or a signed URL; the media a
//! message may use.

use super::*;

impl Chat {
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

    /// What a message of `kind` from `sender` keeps of the media it names. Whether the
    /// media is free for the message's room is for the store's `append` to say: it gives
    /// the media to the room with the message, atomically.
    pub(crate) async fn media_for_message(
        &self,
        sender: &UserId,
        kind: MessageKind,
        id: &MediaId,
    ) -> Result<MediaFacts> {
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
        Ok(record.facts())
    }
}
