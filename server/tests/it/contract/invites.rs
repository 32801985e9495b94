//! The `InviteStore` contract: invites are found by hash and redeemed only while live, with
//! `max_uses` holding under concurrent accepts.

use std::sync::Arc;

use protocol::Timestamp;
use server::ports::InviteStore;
use server::ports::store::InviteRecord;

use super::fixtures::{self, unique};

/// A fresh, unused, unrevoked invite to a fresh room.
fn invite(max_uses: Option<u32>, expires_at: Option<Timestamp>) -> InviteRecord {
    InviteRecord {
        code_hash: unique(),
        room_id: fixtures::room_id(),
        created_by: fixtures::user_id(),
        created_at: Timestamp::now(),
        expires_at,
        max_uses,
        uses: 0,
        revoked: false,
    }
}

async fn uses_of(invites: &dyn InviteStore, code_hash: &str) -> u32 {
    invites
        .invite(code_hash)
        .await
        .expect("read invite")
        .expect("the invite exists")
        .uses
}

/// An invite comes back as created; an unknown hash finds nothing and redeems nothing.
pub async fn finds_an_invite_by_its_hash(invites: &dyn InviteStore) {
    let created = invite(Some(3), Some(Timestamp::now().plus_secs(3600)));
    invites
        .create_invite(&created)
        .await
        .expect("create invite");

    assert_eq!(
        invites
            .invite(&created.code_hash)
            .await
            .expect("read invite"),
        Some(created)
    );
    assert_eq!(
        invites
            .invite(&unique())
            .await
            .expect("read unknown invite"),
        None
    );
    let redeemed = invites.redeem(&unique(), Timestamp::now()).await;
    assert_eq!(redeemed.expect("redeem unknown invite"), None);
}

/// Each redeem counts one use and returns the counted invite, until `max_uses` is reached;
/// a refused redeem counts nothing. Without `max_uses` there is no end.
pub async fn redeems_until_used_up(invites: &dyn InviteStore) {
    let limited = invite(Some(2), None);
    invites
        .create_invite(&limited)
        .await
        .expect("create invite");
    let now = Timestamp::now();
    for expected_uses in 1..=2 {
        let redeemed = invites
            .redeem(&limited.code_hash, now)
            .await
            .expect("redeem");
        let redeemed = redeemed.expect("a live invite redeems");
        assert_eq!(
            redeemed,
            InviteRecord {
                uses: expected_uses,
                ..limited.clone()
            }
        );
    }
    let refused = invites
        .redeem(&limited.code_hash, now)
        .await
        .expect("redeem used up");
    assert_eq!(refused, None, "used up");
    assert_eq!(
        uses_of(invites, &limited.code_hash).await,
        2,
        "a refusal counts nothing"
    );

    let unlimited = invite(None, None);
    invites
        .create_invite(&unlimited)
        .await
        .expect("create invite");
    for _ in 0..5 {
        let redeemed = invites
            .redeem(&unlimited.code_hash, now)
            .await
            .expect("redeem");
        assert!(
            redeemed.is_some(),
            "an invite without max_uses never runs out"
        );
    }
    assert_eq!(uses_of(invites, &unlimited.code_hash).await, 5);
}

/// A revoked invite redeems no more.
pub async fn refuses_a_revoked_invite(invites: &dyn InviteStore) {
    let created = invite(Some(10), None);
    invites
        .create_invite(&created)
        .await
        .expect("create invite");
    let now = Timestamp::now();
    assert!(
        invites
            .redeem(&created.code_hash, now)
            .await
            .expect("redeem")
            .is_some()
    );

    invites.revoke(&created.code_hash).await.expect("revoke");
    assert_eq!(
        invites
            .redeem(&created.code_hash, now)
            .await
            .expect("redeem revoked"),
        None
    );
    let stored = invites
        .invite(&created.code_hash)
        .await
        .expect("read")
        .expect("still there");
    assert_eq!((stored.revoked, stored.uses), (true, 1));
}

/// An invite is live strictly before `expires_at` (as `InviteRecord::is_live` says).
pub async fn refuses_an_expired_invite(invites: &dyn InviteStore) {
    let expires_at = Timestamp::now().plus_secs(60);
    let created = invite(None, Some(expires_at));
    invites
        .create_invite(&created)
        .await
        .expect("create invite");
    let at = |offset: i64| Timestamp::from_millis(expires_at.as_millis() + offset);

    let before = invites
        .redeem(&created.code_hash, at(-1))
        .await
        .expect("redeem before");
    assert!(before.is_some(), "live until its expiry");
    for late in [at(0), at(1), at(60_000)] {
        let refused = invites
            .redeem(&created.code_hash, late)
            .await
            .expect("redeem late");
        assert_eq!(refused, None, "expired at {late}");
    }
    assert_eq!(uses_of(invites, &created.code_hash).await, 1);
}

/// 20 concurrent accepts of an invite with 5 uses: exactly 5 succeed, each with its own count.
pub async fn counts_uses_atomically_under_concurrency(invites: Arc<dyn InviteStore>) {
    let created = invite(Some(5), None);
    invites
        .create_invite(&created)
        .await
        .expect("create invite");
    let now = Timestamp::now();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (invites, hash) = (Arc::clone(&invites), created.code_hash.clone());
            tokio::spawn(async move { invites.redeem(&hash, now).await })
        })
        .collect();

    let mut counts = Vec::new();
    for task in tasks {
        if let Some(redeemed) = task.await.expect("task ran").expect("redeem") {
            counts.push(redeemed.uses);
        }
    }
    counts.sort_unstable();
    assert_eq!(counts, [1, 2, 3, 4, 5], "each success saw its own count");
    assert_eq!(uses_of(invites.as_ref(), &created.code_hash).await, 5);
}
