//! The embedded store's media records (the bytes are `FsMediaStorage`'s).

use super::*;

#[async_trait]
impl MediaRecordStore for SqliteStore {
    async fn create_media(&self, record: &MediaRecord) -> PortResult<()> {
        let r = record.clone();
        let created = self
            .write(move |conn| {
                let inserted = conn.execute(
                    &format!(
                        "INSERT INTO media ({MEDIA_COLUMNS})
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                    ),
                    params![
                        r.id.0,
                        r.uploader.0,
                        enum_text(&r.kind),
                        r.content_type,
                        seq_to(r.bytes),
                        r.width,
                        r.height,
                        r.duration_ms.map(seq_to),
                        r.placeholder,
                        r.has_thumbnail,
                        r.ready,
                        r.room_id.map(|id| id.0),
                        r.created_at.as_millis(),
                    ],
                );
                super::inserted(inserted)
            })
            .await?;
        created_or(created, Conflict::MediaIdTaken)
    }

    async fn media(&self, id: &MediaId) -> PortResult<Option<MediaRecord>> {
        let id = id.0.clone();
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {MEDIA_COLUMNS} FROM media WHERE id = ?1"),
                [id],
                media_row,
            )
            .optional()
        })
        .await
    }

    async fn complete_media(&self, id: &MediaId, checked: &CheckedMedia) -> PortResult<bool> {
        let (id, c) = (id.0.clone(), checked.clone());
        self.write(move |conn| {
            conn.execute(
                "UPDATE media SET width = ?2, height = ?3, duration_ms = ?4, placeholder = ?5,
                 has_thumbnail = ?6, bytes = ?7, ready = 1 WHERE id = ?1 AND ready = 0",
                params![
                    id,
                    c.width,
                    c.height,
                    c.duration_ms.map(seq_to),
                    c.placeholder,
                    c.has_thumbnail,
                    seq_to(c.bytes)
                ],
            )
            .map(|changed| changed > 0)
        })
        .await
    }

    async fn delete_unused_media(&self, id: &MediaId) -> PortResult<bool> {
        let id = id.0.clone();
        self.write(move |conn| {
            conn.execute("DELETE FROM media WHERE id = ?1 AND room_id IS NULL", [id])
                .map(|changed| changed > 0)
        })
        .await
    }

    async fn unused_media(
        &self,
        created_before: Timestamp,
        limit: u32,
    ) -> PortResult<Vec<MediaRecord>> {
        self.call(move |conn| {
            let mut statement = conn.prepare(&format!(
                "SELECT {MEDIA_COLUMNS} FROM media
                 WHERE room_id IS NULL AND created_at < ?1 ORDER BY created_at LIMIT ?2"
            ))?;
            statement
                .query_map(params![created_before.as_millis(), limit], media_row)?
                .collect()
        })
        .await
    }

    async fn unused_media_of(&self, uploader: &UserId, limit: u32) -> PortResult<Vec<MediaRecord>> {
        let uploader = uploader.0.clone();
        self.call(move |conn| {
            let mut statement = conn.prepare_cached(&format!(
                "SELECT {MEDIA_COLUMNS} FROM media
                 WHERE room_id IS NULL AND uploader = ?1 ORDER BY created_at LIMIT ?2"
            ))?;
            statement
                .query_map(params![uploader, limit], media_row)?
                .collect()
        })
        .await
    }
}
