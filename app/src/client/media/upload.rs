//! The upload of one pending media message: create the media, `PUT` the bytes with
//! progress, have the server check them; a few quick retries, then the message is failed.

use leptos::prelude::*;

use super::blob_of;
use crate::client::browser::{self, FetchError};
use crate::client::model::PendingMedia;
use crate::client::{Client, api};
use crate::protocol::{CreateMediaRequest, CreatedMedia, Timestamp};

/// Waits between upload attempts: short, so a failure shows (with Retry) within seconds.
const RETRY_DELAYS_MS: [u32; 3] = [1_000, 2_000, 4_000];

/// How one upload attempt ended, when it did not succeed.
enum Attempt {
    /// Worth trying again (network, server busy, expired URL).
    Again(String),
    /// Trying again cannot help (the server refuses the file).
    Final(String),
}

/// A refusal (4xx) is final, except "slow down" (429), which a later try may get past.
fn api_attempt(error: api::ApiError) -> Attempt {
    match error {
        api::ApiError::Server {
            status, message, ..
        } if (400..500).contains(&status) && status != 429 => Attempt::Final(message),
        _ => Attempt::Again("The upload did not get through.".into()),
    }
}

impl Client {
    /// Uploads with a few quick retries; the message is sent once the server holds the
    /// bytes, or marked failed after the last try.
    pub(super) async fn upload_with_retries(self, client_id: String) {
        let already = self.uploading.with_value(|u| u.contains(&client_id));
        if already {
            return;
        }
        self.uploading.update_value(|u| {
            u.insert(client_id.clone());
        });
        let mut outcome = Ok(());
        for attempt in 0..=RETRY_DELAYS_MS.len() {
            if attempt > 0 {
                browser::sleep(RETRY_DELAYS_MS[attempt - 1]).await;
            }
            if !self.holds(&client_id) {
                break;
            }
            // Offline, tries would only use up the retries: the upload waits, unfailed,
            // and starts again when the network is back (`resume_uploads`).
            if !self.network.get_untracked() {
                self.uploading.update_value(|u| {
                    u.remove(&client_id);
                });
                return;
            }
            outcome = self.upload_once(&client_id).await;
            if !matches!(outcome, Err(Attempt::Again(_))) {
                break;
            }
        }
        self.uploading.update_value(|u| {
            u.remove(&client_id);
        });
        if !self.holds(&client_id) {
            return;
        }
        match outcome {
            Ok(()) => self.flush_outbox(),
            Err(Attempt::Again(reason) | Attempt::Final(reason)) => self.fail(&client_id, reason),
        }
    }

    /// One try: create the media (again, if the upload URL has expired), `PUT` the bytes,
    /// and have the server check them.
    async fn upload_once(self, client_id: &str) -> Result<(), Attempt> {
        let gone = || Attempt::Final("This file is no longer on this device.".into());
        let media = self.media_of(client_id).ok_or_else(gone)?;
        if media.completed {
            return Ok(());
        }
        let key = blob_of(client_id);
        if !browser::has_blob(&key) {
            return Err(gone());
        }
        let created = match media.created.clone() {
            Some(created) if media.upload_usable(browser::now_millis()) => created,
            stale => self.create_media(client_id, &media, stale).await?,
        };
        let id = client_id.to_owned();
        let on_progress = move |share: f64| {
            self.transfers.update(|t| {
                if let Some(t) = t.get_mut(&id) {
                    t.progress = Some(share.clamp(0.0, 1.0));
                }
            })
        };
        match browser::upload(
            &created.upload.url,
            &created.upload.headers,
            &key,
            on_progress,
        )
        .await
        {
            Ok(()) => {}
            Err(FetchError::Network) => {
                return Err(Attempt::Again("The upload was interrupted.".into()));
            }
            Err(FetchError::Status(status, _)) => {
                // An expired or refused upload URL (S3 says 403): the next try starts with
                // a fresh one. A server error is just tried again.
                if (400..500).contains(&status) {
                    self.expire_upload(client_id);
                }
                return Err(Attempt::Again(format!("The upload failed ({status}).")));
            }
        }
        match api::complete_media(&created.media.id).await {
            Ok(_) => {
                self.update_media(client_id, |m| m.completed = true);
                self.store_pending(client_id).await;
                Ok(())
            }
            Err(api::ApiError::Server {
                status: 413 | 415,
                message,
                ..
            }) => Err(Attempt::Final(message)),
            Err(api::ApiError::Server { status, .. }) if (400..500).contains(&status) => {
                self.expire_upload(client_id);
                Err(Attempt::Again(
                    "The server did not accept the upload.".into(),
                ))
            }
            Err(_) => Err(Attempt::Again("The upload did not get through.".into())),
        }
    }

    async fn create_media(
        self,
        client_id: &str,
        media: &PendingMedia,
        stale: Option<CreatedMedia>,
    ) -> Result<CreatedMedia, Attempt> {
        if let Some(stale) = stale {
            // Best effort: the server drops unfinished uploads by itself too.
            let _ = api::delete_media(&stale.media.id).await;
        }
        let request = CreateMediaRequest {
            kind: media.kind,
            content_type: media.content_type.clone(),
            bytes: media.bytes,
            width: media.width,
            height: media.height,
            duration_ms: media.duration_ms,
        };
        let created = api::create_media(&request).await.map_err(api_attempt)?;
        self.update_media(client_id, |m| m.created = Some(created.clone()));
        self.store_pending(client_id).await;
        Ok(created)
    }

    fn expire_upload(self, client_id: &str) {
        self.update_media(client_id, |m| {
            if let Some(created) = m.created.as_mut() {
                created.expires_at = Timestamp::from_millis(0);
            }
        });
    }
}
