//! Uploading: declaring a media, taking its bytes (the embedded store's upload URL) and
//! checking them (`complete`).

use super::*;

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
            media: self.media_view(&record.facts()),
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
        self.limit_in(action, user, limits.uploads_per_user, limits.upload_window)
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
            return Ok(self.media_view(&record.facts()));
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
            Err(PortError::TooLarge { .. }) => {
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
                Some(winner) if winner.ready => Ok(self.media_view(&winner.facts())),
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
        Ok(self.media_view(&record.facts()))
    }
}
