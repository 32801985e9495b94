//! Collecting: deleting a media on request, and every media no message used once the grace
//! period is over.

use super::*;

impl Chat {
    /// `DELETE /media/{id}`: the uploader drops media that no message uses.
    pub async fn delete_media(&self, caller: &UserId, id: &MediaId) -> Result<()> {
        let record = self.own_media(caller, id).await?;
        if record.room_id.is_some() || !self.ports.media_records.delete_unused_media(id).await? {
            return Err(Error::Conflict("a message uses this media; it stays"));
        }
        self.delete_objects(id).await;
        Ok(())
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
        Fut: std::future::Future<Output = crate::ports::PortResult<Vec<MediaRecord>>> + 'a,
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

    /// Removes every object of a media; failures are logged (an object left behind holds
    /// no record, so nothing serves it).
    pub(super) async fn delete_objects(&self, id: &MediaId) {
        for key in [upload_key(id), original_key(id), thumbnail_key(id)] {
            if let Err(err) = self.ports.media.delete(&key).await {
                tracing::warn!(error = %err, media_id = %id, "media object not deleted");
            }
        }
    }

    /// The API's `Media`, with this deployment's URLs.
    pub(crate) fn media_view(&self, facts: &MediaFacts) -> Media {
        let base = [self.settings.public_url.as_str(), paths::API].concat();
        let id = [facts.id.as_str()];
        Media {
            id: facts.id.clone(),
            kind: facts.kind,
            content_type: facts.content_type.clone(),
            bytes: facts.bytes,
            width: facts.width,
            height: facts.height,
            duration_ms: facts.duration_ms,
            thumbnail_url: facts
                .has_thumbnail
                .then(|| [base.as_str(), &paths::fill(paths::MEDIA_THUMBNAIL, &id)].concat()),
            url: [base.as_str(), &paths::fill(paths::MEDIA_ITEM, &id)].concat(),
            placeholder: facts.placeholder.clone(),
        }
    }
}
