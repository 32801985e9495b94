//! The embedded store's invite links, kept by the hash of their code.

use super::*;

#[async_trait]
impl InviteStore for SqliteStore {
    async fn create_invite(&self, invite: &InviteRecord) -> PortResult<()> {
        let i = invite.clone();
        self.write(move |conn| {
            conn.execute(
                &format!(
                    "INSERT INTO invites ({INVITE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ),
                params![
                    i.code_hash,
                    i.room_id.0,
                    i.created_by.0,
                    i.created_at.as_millis(),
                    i.expires_at.map(Timestamp::as_millis),
                    i.max_uses,
                    i.uses,
                    i.revoked
                ],
            )
            .map(drop)
        })
        .await
    }

    async fn invite(&self, code_hash: &str) -> PortResult<Option<InviteRecord>> {
        let hash = code_hash.to_owned();
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {INVITE_COLUMNS} FROM invites WHERE code_hash = ?1"),
                [hash],
                invite_row,
            )
            .optional()
        })
        .await
    }

    async fn redeem(&self, code_hash: &str, now: Timestamp) -> PortResult<Option<InviteRecord>> {
        let hash = code_hash.to_owned();
        self.write(move |conn| {
            let counted = conn.execute(
                "UPDATE invites SET uses = uses + 1
                 WHERE code_hash = ?1 AND revoked = 0
                   AND (expires_at IS NULL OR expires_at > ?2)
                   AND (max_uses IS NULL OR uses < max_uses)",
                params![hash, now.as_millis()],
            )?;
            let invite = if counted == 1 {
                conn.query_row(
                    &format!("SELECT {INVITE_COLUMNS} FROM invites WHERE code_hash = ?1"),
                    [&hash],
                    invite_row,
                )
                .optional()?
            } else {
                None
            };
            Ok(invite)
        })
        .await
    }

    async fn revoke(&self, code_hash: &str) -> PortResult<()> {
        let hash = code_hash.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE invites SET revoked = 1 WHERE code_hash = ?1",
                [hash],
            )
            .map(drop)
        })
        .await
    }
}
