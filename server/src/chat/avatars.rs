//! Pictures of people and groups (API.md v1.1 `avatar_media_id`), made through the media
//! pipeline: the caller uploads and completes an image as for a photo message, then names
//! it; the server cuts the middle square, at most 256 px, into an object of its own
//! (`avatars/<token>`). The upload itself stays unused and is collected like any other.
//!
//! What is stored is the picture's path on this API (`/api/v1/users/{id}/avatar/{token}`,
//! `/api/v1/rooms/{id}/avatar/{token}`); views make it absolute with `CONFAB_PUBLIC_URL`. A
//! new picture gets a new token, so its URL may be cached for good. A user's picture is
//! served to anyone who shares a room with them, a group's to its members.

use bytes::Bytes;
use protocol::{MediaId, MediaKind, RoomId, User, UserId, paths};

use super::Chat;
use super::media::MediaContent;
use super::media::inspect::{ImageProblem, base_type, square_avatar};
use crate::domain::new_id;
use crate::error::{Error, Result};

/// What a picture belongs to.
#[derive(Clone, Copy)]
pub(crate) enum Owner<'a> {
    User(&'a UserId),
    Room(&'a RoomId),
}

impl Owner<'_> {
    /// The stored path of the picture `token`.
    fn path(self, token: &str) -> String {
        match self {
            Owner::User(user) => [
                paths::API,
                &paths::fill(paths::USER_AVATAR, &[user.as_str(), token]),
            ]
            .concat(),
            Owner::Room(room) => [
                paths::API,
                &paths::fill(paths::ROOM_AVATAR, &[room.as_str(), token]),
            ]
            .concat(),
        }
    }
}

/// The object key of a stored picture path (the token is its last segment).
fn object_key(path: &str) -> Option<String> {
    let token = path.rsplit('/').next()?;
    let valid = !token.is_empty() && token.bytes().all(|b| b.is_ascii_alphanumeric());
    valid.then(|| format!("avatars/{token}"))
}

impl Chat {
    /// A stored path (`/api/v1/...`) as the absolute URL clients use.
    pub(crate) fn absolute_url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.public_url)
    }

    /// The API's `User`: its picture's URL absolute.
    pub(crate) fn user_view(&self, mut user: User) -> User {
        user.avatar_url = user.avatar_url.map(|path| self.absolute_url(&path));
        user
    }

    /// Makes the picture of `owner` from `media` (an image `caller` uploaded and completed)
    /// and answers its path, to be stored.
    pub(crate) async fn make_avatar(
        &self,
        caller: &UserId,
        owner: Owner<'_>,
        media: &MediaId,
    ) -> Result<String> {
        let record = self.own_media(caller, media).await?;
        if record.kind != MediaKind::Image {
            return Err(Error::BadRequest("a picture must be an image".into()));
        }
        if !record.ready {
            return Err(Error::Conflict(
                "this media's upload is not complete; call complete first",
            ));
        }
        let bytes = self
            .ports
            .media
            .get(&super::media::original_key(media), record.bytes)
            .await?
            .ok_or(Error::NotFound("media"))?;
        let base = base_type(&record.content_type);
        let max_pixels = self.settings.limits.max_image_pixels;
        let square = {
            let _permit = self
                .decodes
                .acquire()
                .await
                .map_err(|_| Error::Unavailable("image decoding"))?;
            tokio::task::spawn_blocking(move || square_avatar(&bytes, &base, max_pixels))
                .await
                .map_err(|err| Error::Internal(anyhow::anyhow!("picture not made: {err}")))?
        }
        .map_err(|problem| match problem {
            ImageProblem::TooManyPixels { .. } => Error::PayloadTooLarge(problem.to_string()),
            ImageProblem::Unreadable(_) | ImageProblem::Opaque => {
                Error::UnsupportedMediaType(problem.to_string())
            }
        })?;
        let path = owner.path(&new_id());
        let key = object_key(&path).ok_or_else(|| anyhow::anyhow!("bad picture path"))?;
        self.ports
            .media
            .put(&key, "image/jpeg", Bytes::from(square))
            .await?;
        Ok(path)
    }

    /// Deletes the object of a picture that was replaced or cleared (a failure is logged: an
    /// object no path names is never served).
    pub(crate) async fn drop_avatar(&self, path: Option<String>) {
        let Some(key) = path.as_deref().and_then(object_key) else {
            return;
        };
        if let Err(err) = self.ports.media.delete(&key).await {
            tracing::warn!(error = %err, key, "replaced picture not deleted");
        }
    }

    /// `GET /users/{id}/avatar/{token}`: for the user and anyone sharing a room with them.
    pub async fn user_avatar(
        &self,
        caller: &UserId,
        user: &UserId,
        token: &str,
    ) -> Result<MediaContent> {
        let stored = self
            .ports
            .accounts
            .user(user)
            .await?
            .and_then(|u| u.avatar_url);
        let path = Owner::User(user).path(token);
        if stored.as_deref() != Some(path.as_str()) {
            return Err(Error::NotFound("picture"));
        }
        if caller != user && !self.ports.rooms.contacts_of(caller).await?.contains(user) {
            return Err(Error::Forbidden("you share no room with this person"));
        }
        self.avatar_content(&path).await
    }

    /// `GET /rooms/{id}/avatar/{token}`: for the group's members.
    pub async fn room_avatar(
        &self,
        caller: &UserId,
        room: &RoomId,
        token: &str,
    ) -> Result<MediaContent> {
        let (record, _) = self.membership(caller, room).await?;
        let path = Owner::Room(room).path(token);
        if record.avatar.as_deref() != Some(path.as_str()) {
            return Err(Error::NotFound("picture"));
        }
        self.avatar_content(&path).await
    }

    async fn avatar_content(&self, path: &str) -> Result<MediaContent> {
        let key = object_key(path).ok_or(Error::NotFound("picture"))?;
        let storage = &self.ports.media;
        if let Some(url) = storage
            .download_url(&key, self.settings.limits.download_url_ttl)
            .await?
        {
            return Ok(MediaContent::Redirect(url));
        }
        let bytes = storage
            .get(&key, self.max_upload_bytes())
            .await?
            .ok_or(Error::NotFound("picture"))?;
        Ok(MediaContent::Bytes {
            content_type: "image/jpeg".into(),
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_token_names_an_object() {
        let user = UserId("u1".into());
        let path = Owner::User(&user).path("abc123");
        assert_eq!(path, "/api/v1/users/u1/avatar/abc123");
        assert_eq!(object_key(&path).as_deref(), Some("avatars/abc123"));
        assert_eq!(object_key("/api/v1/users/u1/avatar/"), None);
        assert_eq!(object_key("/api/v1/users/u1/avatar/.."), None);
        assert_eq!(object_key("/x/a.b"), None);
    }
}
