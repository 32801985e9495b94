//! Photo and voice messages on their way out. Each one is an outbox entry with a
//! [`PendingMedia`]: shown at once (a photo with its local preview), its bytes kept in
//! IndexedDB so a reload does not lose it, then uploaded in three steps (create, `PUT` with
//! progress, complete) with a few quick retries, and finally sent through the ordinary
//! outbox with the same `client_id` on every try.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::browser::{self, BlobKey, Recording};
use super::model::{Pending, PendingMedia};
use super::{Client, api};
use crate::protocol::{MediaKind, RoomId};

mod upload;

/// The longest voice message the server takes.
pub const MAX_VOICE_MS: u64 = 300_000;

/// What the page knows of an upload beyond the outbox entry; lost on reload, rebuilt from
/// IndexedDB.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transfer {
    /// A `blob:` URL of the photo, for the timeline until the server's copy arrives.
    pub preview: Option<String>,
    /// Share of the bytes uploaded, 0 to 1; none while the photo is being prepared.
    pub progress: Option<f64>,
    /// The photo as picked, until the worker has shrunk it.
    source: Option<BlobKey>,
}

/// The blob of a pending message is held under its `client_id`.
fn blob_of(client_id: &str) -> BlobKey {
    BlobKey(client_id.to_owned())
}

impl Client {
    /// A photo picked in the composer, with an optional caption: shown at once with a local
    /// preview, shrunk in the photo worker, then uploaded and sent.
    pub fn send_photo(self, room_id: RoomId, file: BlobKey, caption: String) {
        let client_id = browser::uuid();
        let transfer = Transfer {
            preview: browser::object_url(&file),
            progress: None,
            source: Some(file),
        };
        let media = PendingMedia {
            kind: MediaKind::Image,
            content_type: "image/jpeg".into(),
            bytes: 0,
            width: None,
            height: None,
            duration_ms: None,
            created: None,
            completed: false,
            queued_at: browser::now_millis(),
            uploaded_again: false,
        };
        self.transfers.update(|t| {
            t.insert(client_id.clone(), transfer);
        });
        self.outbox.update(|o| {
            o.push(Pending {
                media: Some(media),
                ..Pending::text(room_id, client_id.clone(), caption)
            })
        });
        self.prepare_photo(client_id);
    }

    /// Shrinks the picked photo, keeps the result on this device, then uploads it. There is
    /// no way around the worker: the original may carry the place it was taken.
    fn prepare_photo(self, client_id: String) {
        let Some(source) = self
            .transfers
            .with_untracked(|t| t.get(&client_id)?.source.clone())
        else {
            self.fail(
                &client_id,
                "The photo is gone from this page; pick it again.".into(),
            );
            return;
        };
        spawn_local(async move {
            let shrunk = match browser::shrink_photo(&source).await {
                Ok(shrunk) => shrunk,
                Err(reason) => return self.fail(&client_id, reason),
            };
            let key = blob_of(&client_id);
            browser::rename_blob(&shrunk.blob, key.clone());
            browser::forget_blob(&source);
            if !self.holds(&client_id) {
                browser::forget_blob(&key);
                return;
            }
            let bytes = browser::blob_size(&key);
            self.update_media(&client_id, |m| {
                m.bytes = bytes;
                m.width = Some(shrunk.width);
                m.height = Some(shrunk.height);
            });
            // The preview becomes the shrunk copy: what a reload shows too.
            let preview = browser::object_url(&key);
            self.transfers.update(|t| {
                if let Some(t) = t.get_mut(&client_id) {
                    if let Some(old) = t.preview.take() {
                        browser::revoke_object_url(&old);
                    }
                    t.preview = preview;
                    t.source = None;
                    t.progress = Some(0.0);
                }
            });
            self.store_pending(&client_id).await;
            self.upload_with_retries(client_id).await;
        });
    }

    /// A finished recording: uploaded and sent like a photo.
    pub fn send_voice(self, room_id: RoomId, recording: Recording) {
        let client_id = browser::uuid();
        let key = blob_of(&client_id);
        browser::rename_blob(&recording.blob, key.clone());
        let media = PendingMedia {
            kind: MediaKind::Voice,
            content_type: recording.content_type,
            bytes: browser::blob_size(&key),
            width: None,
            height: None,
            duration_ms: Some(recording.duration_ms.clamp(1, MAX_VOICE_MS)),
            created: None,
            completed: false,
            queued_at: browser::now_millis(),
            uploaded_again: false,
        };
        self.transfers.update(|t| {
            t.insert(
                client_id.clone(),
                Transfer {
                    progress: Some(0.0),
                    ..Transfer::default()
                },
            );
        });
        self.outbox.update(|o| {
            o.push(Pending {
                media: Some(media),
                ..Pending::text(room_id, client_id.clone(), String::new())
            })
        });
        spawn_local(async move {
            self.store_pending(&client_id).await;
            self.upload_with_retries(client_id).await;
        });
    }

    fn holds(self, client_id: &str) -> bool {
        self.outbox
            .with_untracked(|o| o.iter().any(|p| p.client_id == client_id))
    }

    fn media_of(self, client_id: &str) -> Option<PendingMedia> {
        self.outbox.with_untracked(|o| {
            o.iter()
                .find(|p| p.client_id == client_id)
                .and_then(|p| p.media.clone())
        })
    }

    fn update_media(self, client_id: &str, change: impl FnOnce(&mut PendingMedia)) {
        self.outbox.update(|o| {
            if let Some(media) = o
                .iter_mut()
                .find(|p| p.client_id == client_id)
                .and_then(|p| p.media.as_mut())
            {
                change(media);
            }
        });
    }

    /// Marks a pending message failed: it waits for Retry or Remove.
    fn fail(self, client_id: &str, reason: String) {
        self.outbox.update(|o| {
            if let Some(p) = o.iter_mut().find(|p| p.client_id == client_id) {
                p.failed = Some(reason);
            }
        });
        self.save_outbox();
        let client_id = client_id.to_owned();
        spawn_local(async move { self.store_pending(&client_id).await });
    }

    /// Writes a media message and its bytes to IndexedDB (text ones live in localStorage).
    async fn store_pending(self, client_id: &str) {
        let Some(me) = self.me() else { return };
        let meta = self.outbox.with_untracked(|o| {
            o.iter()
                .find(|p| p.client_id == client_id && p.media.is_some())
                .and_then(|p| serde_json::to_string(p).ok())
        });
        let key = blob_of(client_id);
        if let Some(meta) = meta
            && browser::has_blob(&key)
        {
            browser::outbox_store_put(me.as_str(), client_id, &meta, &key).await;
        }
    }

    /// The server answered a send with `not_found` for its media (collected after a long
    /// wait offline, say). Once, the bytes still kept here go up again as new media, and the
    /// message keeps its `client_id`. False when that was tried already or the bytes are
    /// gone: the message then fails.
    pub(crate) fn upload_again(self, client_id: &str) -> bool {
        if !browser::has_blob(&blob_of(client_id)) {
            return false;
        }
        let mut again = false;
        self.outbox.update(|o| {
            let media = o
                .iter_mut()
                .find(|p| p.client_id == client_id)
                .and_then(|p| p.media.as_mut());
            if let Some(media) = media.filter(|m| !m.uploaded_again) {
                media.uploaded_again = true;
                media.created = None;
                media.completed = false;
                again = true;
            }
        });
        if again {
            self.save_outbox();
            let client_id = client_id.to_owned();
            spawn_local(async move {
                self.store_pending(&client_id).await;
                self.upload_with_retries(client_id).await;
            });
        }
        again
    }

    /// Tries a failed message again from where it stopped.
    pub fn retry_pending(self, client_id: &str) {
        let mut media = None;
        self.outbox.update(|o| {
            if let Some(p) = o.iter_mut().find(|p| p.client_id == client_id) {
                p.failed = None;
                media = p.media.clone();
            }
        });
        self.save_outbox();
        let client_id = client_id.to_owned();
        match media {
            None => self.flush_outbox(),
            Some(m) if m.completed => {
                spawn_local(async move { self.store_pending(&client_id).await });
                self.flush_outbox();
            }
            Some(_) if !browser::has_blob(&blob_of(&client_id)) => self.prepare_photo(client_id),
            Some(_) => spawn_local(async move {
                self.store_pending(&client_id).await;
                self.upload_with_retries(client_id).await;
            }),
        }
    }

    /// Drops a pending message: from the outbox, this device, and the server's storage if
    /// its media was created there.
    pub fn remove_pending(self, client_id: &str) {
        let mut removed = None;
        self.outbox.update(|o| {
            if let Some(at) = o.iter().position(|p| p.client_id == client_id) {
                removed = Some(o.remove(at));
            }
        });
        self.save_outbox();
        if let Some(media) = removed.and_then(|p| p.media) {
            self.forget_upload(client_id);
            let client_id = client_id.to_owned();
            spawn_local(async move {
                browser::outbox_store_delete(&client_id).await;
                if let Some(created) = media.created {
                    let _ = api::delete_media(&created.media.id).await;
                }
            });
        }
    }

    /// The server now holds these messages of ours: their outbox entries go, with their
    /// previews and kept bytes.
    pub(super) fn settle_sent(self, client_ids: &[&str]) {
        let mut settled = Vec::new();
        self.outbox.update(|o| {
            o.retain(|p| {
                let sent = client_ids.contains(&p.client_id.as_str());
                if sent && p.media.is_some() {
                    settled.push(p.client_id.clone());
                }
                !sent
            })
        });
        self.save_outbox();
        for client_id in settled {
            self.forget_upload(&client_id);
            spawn_local(async move { browser::outbox_store_delete(&client_id).await });
        }
    }

    pub(super) fn forget_upload(self, client_id: &str) {
        if let Some(transfer) = self.transfers.try_update(|t| t.remove(client_id)).flatten() {
            if let Some(url) = transfer.preview {
                browser::revoke_object_url(&url);
            }
            if let Some(source) = transfer.source {
                browser::forget_blob(&source);
            }
        }
        browser::forget_blob(&blob_of(client_id));
    }

    /// After sign-in: the media messages this device still owes, from IndexedDB; unfinished
    /// uploads start again.
    pub(super) fn restore_media_outbox(self) {
        let Some(me) = self.me() else { return };
        spawn_local(async move {
            let mut kept: Vec<Pending> = browser::outbox_store_all(me.as_str())
                .await
                .iter()
                .filter_map(|meta| serde_json::from_str::<Pending>(meta).ok())
                .filter(|p| p.media.is_some())
                .collect();
            kept.sort_by_key(|p| p.media.as_ref().map_or(0, |m| m.queued_at));
            for pending in kept {
                let Some(media) = pending.media.clone() else {
                    continue;
                };
                if self.holds(&pending.client_id) {
                    continue;
                }
                let client_id = pending.client_id.clone();
                let key = blob_of(&client_id);
                let transfer = Transfer {
                    preview: (media.kind == MediaKind::Image)
                        .then(|| browser::object_url(&key))
                        .flatten(),
                    progress: Some(0.0),
                    source: None,
                };
                self.transfers.update(|t| {
                    t.insert(client_id.clone(), transfer);
                });
                self.outbox.update(|o| o.push(pending));
            }
            self.resume_uploads();
            self.flush_outbox();
        });
    }

    /// Starts again every upload that is neither failed nor done (after a reload, or when
    /// the network is back); one already running is left alone.
    pub(super) fn resume_uploads(self) {
        let waiting: Vec<String> = self.outbox.with_untracked(|o| {
            o.iter()
                .filter(|p| p.failed.is_none() && p.media.as_ref().is_some_and(|m| !m.completed))
                .map(|p| p.client_id.clone())
                .filter(|id| browser::has_blob(&blob_of(id)))
                .collect()
        });
        for client_id in waiting {
            spawn_local(self.upload_with_retries(client_id));
        }
    }
}

/// A picture of a person or a group, from a picked photo: cut to its middle square and
/// shrunk in the photo worker, uploaded and completed. Answers the media id to name in
/// `PATCH /me` or `PATCH /rooms/{id}`, or what went wrong, in words for the page. Nothing
/// here outlives the page: a picture that fails is simply picked again.
pub async fn upload_picture(file: BlobKey) -> Result<crate::protocol::MediaId, String> {
    let shrunk = browser::shrink_picture(&file).await;
    browser::forget_blob(&file);
    let shrunk = shrunk?;
    let key = shrunk.blob;
    let request = crate::protocol::CreateMediaRequest {
        kind: MediaKind::Image,
        content_type: "image/jpeg".into(),
        bytes: browser::blob_size(&key),
        width: Some(shrunk.width),
        height: Some(shrunk.height),
        duration_ms: None,
    };
    let outcome = async {
        let created = api::create_media(&request).await.map_err(|e| e.message())?;
        let upload = &created.upload;
        browser::upload(&upload.url, &upload.headers, &key, |_| {})
            .await
            .map_err(|_| "The picture could not be uploaded; try again.".to_string())?;
        api::complete_media(&created.media.id)
            .await
            .map_err(|e| e.message())?;
        Ok(created.media.id)
    }
    .await;
    browser::forget_blob(&key);
    outcome
}
