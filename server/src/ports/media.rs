//! Media storage: the bytes of uploaded images, videos and files, and their thumbnails.
//!
//! Clients upload straight to the store where it can take them (a presigned S3 URL), so large
//! bodies never pass through a chat node; the embedded store hands out the server's own upload
//! URL instead, signed the same way in spirit. Keys are made by the server (`media/<id>`,
//! `media/<id>/thumbnail`), and every adapter still checks them with [`check_key`]: a key
//! ends up in a file path or a URL, so a bad one must never get that far.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use super::{PortError, PortResult};

/// Where media bytes live: a folder on this node, or an S3 bucket.
#[async_trait]
pub trait MediaStorage: Send + Sync {
    /// Where a client PUTs the `bytes` bytes of `key` (with the returned headers,
    /// `content_type` among them), valid for `expires_in`: a presigned S3 URL, which signs
    /// the size too, so S3 refuses any other; or the server's own upload URL carrying an
    /// expiring signature (its endpoint holds the body to the declared size itself).
    async fn upload_target(
        &self,
        key: &str,
        content_type: &str,
        bytes: u64,
        expires_in: Duration,
    ) -> PortResult<UploadTarget>;
    /// Stores `bytes` under `key`, replacing any object there. Readers see the old object or
    /// the new one, never part of either.
    async fn put(&self, key: &str, content_type: &str, bytes: Bytes) -> PortResult<()>;
    /// Size and content type of the object, `None` when there is none.
    async fn head(&self, key: &str) -> PortResult<Option<ObjectInfo>>;
    /// The object's bytes, `None` when there is none. An object larger than `max_bytes` is
    /// refused with [`PortError::TooLarge`] without being read whole, so a client cannot make
    /// the server buffer an oversized upload.
    async fn get(&self, key: &str, max_bytes: u64) -> PortResult<Option<Bytes>>;
    /// A URL a client may GET directly until `expires_in` passes, or `None` when the server
    /// must serve the bytes itself (embedded). Nothing is checked against the store.
    async fn download_url(&self, key: &str, expires_in: Duration) -> PortResult<Option<String>>;
    /// Removes the object; removing an absent one is not an error.
    async fn delete(&self, key: &str) -> PortResult<()>;
    /// Whether a PUT to this server's own upload endpoint carries a signature that
    /// [`MediaStorage::upload_target`] made for `key` and `content_type`, unexpired at `now`
    /// (`expires` in Unix seconds). Stores that take uploads themselves (S3) accept none.
    fn verify_upload(
        &self,
        _key: &str,
        _content_type: &str,
        _expires: u64,
        _signature: &str,
        _now: SystemTime,
    ) -> bool {
        false
    }
}

/// Where and how a client uploads: always a `PUT` of the raw bytes to `url`, sending every
/// header in `headers` (they are part of what was signed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadTarget {
    /// The absolute URL to PUT to.
    pub url: String,
    /// Headers the PUT must carry, by name.
    pub headers: BTreeMap<String, String>,
}

/// What the store knows of an object without reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its size in bytes.
    pub bytes: u64,
    /// The content type it was stored with, if the store kept one.
    pub content_type: Option<String>,
}

/// The longest key accepted. File systems cap a name at 255 bytes; the embedded store adds a
/// suffix to the key, and 200 leaves room for it.
pub const MAX_KEY_LEN: usize = 200;

/// The longest content type accepted (RFC 6838 caps type and subtype at 127 each).
pub const MAX_CONTENT_TYPE_LEN: usize = 255;

/// Refuses a key that is not one or more `/`-separated segments of ASCII letters, digits,
/// `.`, `_` and `-`, each starting with a letter or digit. That rules out `..`, hidden
/// files, absolute paths, empty segments and anything a URL or a file path would interpret.
pub fn check_key(key: &str) -> PortResult<()> {
    let segment_ok = |segment: &str| {
        segment
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    if key.len() <= MAX_KEY_LEN && key.split('/').all(segment_ok) {
        Ok(())
    } else {
        Err(invalid(format!("invalid media key {key:?}")))
    }
}

/// Refuses a content type that would not survive as one HTTP header value (and as the first
/// line of an embedded object): printable ASCII, no line breaks, at most
/// [`MAX_CONTENT_TYPE_LEN`] long, with a `/`.
pub fn check_content_type(content_type: &str) -> PortResult<()> {
    let printable = content_type.bytes().all(|b| (b' '..=b'~').contains(&b));
    if printable
        && content_type.len() <= MAX_CONTENT_TYPE_LEN
        && content_type.contains('/')
        && !content_type.starts_with(' ')
    {
        Ok(())
    } else {
        Err(invalid(format!("invalid content type {content_type:?}")))
    }
}

fn invalid(message: String) -> PortError {
    PortError::Other(anyhow::Error::msg(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_made_keys_pass() {
        for key in [
            "media/0193ab",
            "media/0193ab/thumbnail",
            "a",
            "x.jpg",
            "A_b-c.d",
        ] {
            assert!(check_key(key).is_ok(), "{key}");
        }
    }

    #[test]
    fn keys_that_could_escape_or_confuse_are_refused() {
        let long = "a".repeat(MAX_KEY_LEN + 1);
        for key in [
            "", "/abs", "../x", "a/../b", "a/./b", "..", ".", ".hidden", "a//b", "a/", "a\\b",
            "a b", "a?b", "a%2Fb", "ä", &long,
        ] {
            assert!(check_key(key).is_err(), "{key:?}");
        }
    }

    #[test]
    fn content_types_must_be_one_clean_header_value() {
        assert!(check_content_type("image/png").is_ok());
        assert!(check_content_type("text/plain; charset=utf-8").is_ok());
        for bad in [
            "",
            "png",
            "image/png\r\nx: y",
            "image/\npng",
            " image/png",
            "ïmage/png",
        ] {
            assert!(check_content_type(bad).is_err(), "{bad:?}");
        }
    }
}
