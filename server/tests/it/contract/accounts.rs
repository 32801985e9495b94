//! The `AccountStore` contract: users, credentials, search and sessions.

use protocol::{Timestamp, UserId};
use server::ports::store::{
    DELETED_USER_NAME, PushSubscriptionRecord, PushTarget, deleted_username, is_deleted,
};
use server::ports::{AccountStore, PortError};

use super::fixtures::{self, unique};

/// A taken username is refused with `Conflict`, and its first owner keeps it.
pub async fn refuses_a_taken_username(store: &dyn AccountStore) {
    let first = fixtures::user();
    store
        .create_user(&first, "hash-first")
        .await
        .expect("create the first user");

    let mut second = fixtures::user();
    second.username.clone_from(&first.username);
    let refused = store.create_user(&second, "hash-second").await;

    assert!(
        matches!(refused, Err(PortError::Conflict(_))),
        "expected Conflict, got {refused:?}"
    );
    let (owner, hash) = store
        .credentials(&first.username)
        .await
        .expect("read credentials")
        .expect("the first user keeps the name");
    assert_eq!((owner, hash.as_str()), (first, "hash-first"));
    assert_eq!(
        store.user(&second.id).await.expect("read user"),
        None,
        "nothing half-written"
    );
}

/// Users come back as created, by id or by username with their hash; unknowns are absent.
pub async fn finds_users_by_id_and_credentials_by_username(store: &dyn AccountStore) {
    let (alice, bob) = (fixtures::user(), fixtures::user());
    store
        .create_user(&alice, "hash-alice")
        .await
        .expect("create alice");
    store
        .create_user(&bob, "hash-bob")
        .await
        .expect("create bob");

    assert_eq!(
        store.user(&alice.id).await.expect("read user"),
        Some(alice.clone())
    );
    assert_eq!(
        store
            .user(&fixtures::user_id())
            .await
            .expect("read unknown user"),
        None
    );

    let credentials = store
        .credentials(&bob.username)
        .await
        .expect("read credentials");
    assert_eq!(credentials, Some((bob.clone(), "hash-bob".to_owned())));
    let unknown = store.credentials(&format!("u{}", &unique()[..20])).await;
    assert_eq!(unknown.expect("read unknown credentials"), None);
}

/// `users` returns the known ones of the asked ids, skipping the unknown.
pub async fn finds_many_users_and_skips_unknown_ids(store: &dyn AccountStore) {
    let (alice, bob) = (fixtures::user(), fixtures::user());
    store
        .create_user(&alice, "hash")
        .await
        .expect("create alice");
    store.create_user(&bob, "hash").await.expect("create bob");

    let asked = [alice.id.clone(), fixtures::user_id(), bob.id.clone()];
    let mut found = store.users(&asked).await.expect("read users");
    // "In no particular order": compare as sets.
    found.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = vec![alice, bob];
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(found, expected);
    assert_eq!(store.users(&[]).await.expect("read no users"), vec![]);
}

/// Search matches a prefix of the username or of the display name, ignoring case, ordered by
/// username and cut at the limit. Every name carries a fresh tag so other data cannot match.
pub async fn searches_users_by_username_or_display_name_prefix(store: &dyn AccountStore) {
    let tag = fixtures::tag();
    let amy = fixtures::user_named(&format!("{tag}amy"), "Amy");
    let bob = fixtures::user_named(&format!("{tag}bob"), "Bob");
    // Matched by display name only; its username sorts last.
    let carl = fixtures::user_named(
        &format!("z{tag}carl"),
        &format!("{} Carl", tag.to_uppercase()),
    );
    // Holds the tag, but not at the start of either name.
    let dora = fixtures::user_named(&format!("d{tag}"), &format!("Dora {tag}"));
    for user in [&carl, &dora, &bob, &amy] {
        store
            .create_user(user, "hash")
            .await
            .expect("create a user");
    }

    let usernames = |users: Vec<protocol::User>| -> Vec<String> {
        users.into_iter().map(|u| u.username).collect()
    };
    let all = store
        .search_users(&tag.to_uppercase(), 10)
        .await
        .expect("search");
    assert_eq!(
        usernames(all),
        [amy.username.as_str(), &bob.username, &carl.username]
    );

    let limited = store
        .search_users(&tag, 2)
        .await
        .expect("search with a limit");
    assert_eq!(usernames(limited), [amy.username.as_str(), &bob.username]);

    let by_username = store
        .search_users(&format!("{tag}B"), 10)
        .await
        .expect("search");
    assert_eq!(usernames(by_username), [bob.username.as_str()]);

    let by_display_name = store
        .search_users(&format!("{tag} c"), 10)
        .await
        .expect("search");
    assert_eq!(usernames(by_display_name), [carl.username.as_str()]);
}

/// A session names its user until it expires (at `expires_at` itself) or is deleted.
pub async fn keeps_a_session_until_it_expires_or_is_deleted(store: &dyn AccountStore) {
    let user = fixtures::user();
    store.create_user(&user, "hash").await.expect("create user");
    let now = Timestamp::now();
    let expires_at = now.plus_secs(3600);
    let token = unique();
    store
        .create_session(&token, &user.id, expires_at)
        .await
        .expect("create session");

    let at = |millis: i64| Timestamp::from_millis(millis);
    let user_at = |now: Timestamp| store.session_user(&token, now);
    assert_eq!(
        user_at(now).await.expect("read session"),
        Some(user.id.clone())
    );
    assert_eq!(
        user_at(at(expires_at.as_millis() - 1)).await.expect("read"),
        Some(user.id.clone())
    );
    assert_eq!(user_at(expires_at).await.expect("read at expiry"), None);
    assert_eq!(
        store
            .session_user(&unique(), now)
            .await
            .expect("read unknown"),
        None
    );

    store.delete_session(&token).await.expect("delete session");
    assert_eq!(user_at(now).await.expect("read deleted session"), None);
    store
        .delete_session(&token)
        .await
        .expect("deleting twice is harmless");
}

/// A session created already expired is never valid; deleting one session leaves the user's
/// other sessions alone.
pub async fn keeps_sessions_apart(store: &dyn AccountStore) {
    let user = fixtures::user();
    store.create_user(&user, "hash").await.expect("create user");
    let now = Timestamp::now();
    let (stale, phone, laptop) = (unique(), unique(), unique());
    let past = Timestamp::from_millis(now.as_millis() - 1000);
    store
        .create_session(&stale, &user.id, past)
        .await
        .expect("create stale session");
    store
        .create_session(&phone, &user.id, now.plus_secs(60))
        .await
        .expect("create session");
    store
        .create_session(&laptop, &user.id, now.plus_secs(60))
        .await
        .expect("create session");

    assert_eq!(
        store.session_user(&stale, now).await.expect("read stale"),
        None
    );
    store
        .delete_session(&phone)
        .await
        .expect("delete one session");
    assert_eq!(
        store.session_user(&phone, now).await.expect("read deleted"),
        None
    );
    let other: Option<UserId> = store.session_user(&laptop, now).await.expect("read other");
    assert_eq!(other, Some(user.id));
}

/// The session list: live sessions only, newest first, with when each was made and last
/// used and from which client; ending all but one; a new display name (searchable) and a
/// new password hash.
pub async fn lists_and_ends_sessions(store: &dyn AccountStore) {
    let user = fixtures::user();
    store
        .create_user(&user, "old-hash")
        .await
        .expect("create user");
    let now = Timestamp::now();
    let (first, second, stale) = (unique(), unique(), unique());
    for (hash, expires) in [
        (&first, now.plus_secs(60)),
        (&stale, Timestamp::from_millis(now.as_millis() - 1)),
    ] {
        store
            .create_session(hash, &user.id, expires)
            .await
            .expect("create session");
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store
        .create_session(&second, &user.id, now.plus_secs(60))
        .await
        .expect("create session");
    let later = now.plus_secs(5);
    store
        .touch_session(&first, later, Some("phone"))
        .await
        .expect("touch");
    store
        .touch_session(&first, now, None)
        .await
        .expect("touch with an older time");

    let live = store.sessions_of(&user.id, now).await.expect("list");
    let hashes: Vec<&str> = live.iter().map(|s| s.token_hash.as_str()).collect();
    assert_eq!(
        hashes,
        vec![second.as_str(), first.as_str()],
        "newest first, live only"
    );
    let first_record = &live[1];
    assert_eq!(first_record.user_agent.as_deref(), Some("phone"));
    assert_eq!(
        first_record.last_seen_at,
        Some(later),
        "last seen never goes back"
    );
    assert!(
        first_record
            .created_at
            .is_some_and(|at| at <= live[0].created_at.unwrap_or(at))
    );

    let ended = store
        .end_sessions(&user.id, Some(&second))
        .await
        .expect("end the others");
    assert!(ended.contains(&first), "{ended:?}");
    assert!(!ended.contains(&second));
    assert_eq!(store.session_user(&first, now).await.expect("read"), None);
    assert_eq!(
        store.session_user(&second, now).await.expect("read"),
        Some(user.id.clone())
    );

    store
        .set_display_name(&user.id, "Renamed Person")
        .await
        .expect("rename");
    let renamed = store.user(&user.id).await.expect("read").expect("found");
    assert_eq!(renamed.display_name, "Renamed Person");
    let before = store
        .set_avatar(&user.id, Some("/pictures/1"))
        .await
        .expect("set a picture");
    assert_eq!(before, None);
    let before = store
        .set_avatar(&user.id, Some("/pictures/2"))
        .await
        .expect("replace it");
    assert_eq!(before.as_deref(), Some("/pictures/1"));
    let pictured = store.user(&user.id).await.expect("read").expect("found");
    assert_eq!(
        (
            pictured.avatar_url.as_deref(),
            pictured.display_name.as_str()
        ),
        (Some("/pictures/2"), "Renamed Person")
    );
    let before = store.set_avatar(&user.id, None).await.expect("clear it");
    assert_eq!(before.as_deref(), Some("/pictures/2"));
    let cleared = store.user(&user.id).await.expect("read").expect("found");
    assert_eq!(cleared.avatar_url, None);
    let found = store.search_users("renamed p", 10).await.expect("search");
    assert!(
        found.iter().any(|u| u.id == user.id),
        "found by the new name"
    );
    store
        .set_password_hash(&user.id, "new-hash")
        .await
        .expect("set password");
    let (_, hash) = store
        .credentials(&user.username)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(hash, "new-hash");
}

/// A deleted account ends its sessions, frees its username for someone new, reads as
/// "Deleted user", and is no longer found by search; its row stays for its messages.
pub async fn deletes_a_user_and_frees_the_username(store: &dyn AccountStore) {
    let tag = fixtures::tag();
    let gone = fixtures::user_named(&format!("gone_{tag}"), &format!("Gone {tag}"));
    store.create_user(&gone, "hash").await.expect("create user");
    let now = Timestamp::now();
    let (first, second) = (unique(), unique());
    for hash in [&first, &second] {
        store
            .create_session(hash, &gone.id, now.plus_secs(60))
            .await
            .expect("create session");
    }

    let mut ended = store.delete_user(&gone.id, now).await.expect("delete");
    ended.sort();
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(ended, expected, "every session ends");
    for hash in [&first, &second] {
        assert_eq!(store.session_user(hash, now).await.expect("read"), None);
    }
    let row = store
        .user(&gone.id)
        .await
        .expect("read")
        .expect("the row stays");
    assert_eq!(row.display_name, DELETED_USER_NAME);
    assert_eq!(row.username, deleted_username(&gone.id));
    assert!(is_deleted(&row));
    assert_eq!(row.avatar_url, None);
    assert_eq!(
        store.credentials(&gone.username).await.expect("read"),
        None,
        "no password opens it"
    );
    for prefix in [
        format!("gone_{tag}"),
        format!("gone {tag}"),
        "deleted".into(),
    ] {
        let found = store.search_users(&prefix, 50).await.expect("search");
        assert!(
            found.iter().all(|u| u.id != gone.id),
            "{prefix:?} found the deleted account"
        );
    }

    let mut heir = fixtures::user();
    heir.username.clone_from(&gone.username);
    store
        .create_user(&heir, "hash-new")
        .await
        .expect("the username is free again");
}

/// Blocks are one-way, kept once, listed newest first, and found among many.
pub async fn blocks_and_unblocks(store: &dyn AccountStore) {
    let (me, pest, other, stranger) = (
        fixtures::user_id(),
        fixtures::user_id(),
        fixtures::user_id(),
        fixtures::user_id(),
    );
    let now = Timestamp::now();
    assert!(store.block(&me, &pest, now).await.expect("block"));
    assert!(
        !store.block(&me, &pest, now).await.expect("block again"),
        "a second block is no new block"
    );
    assert!(
        store
            .block(&me, &other, now.plus_secs(1))
            .await
            .expect("block")
    );
    assert!(
        store
            .block(&stranger, &pest, now)
            .await
            .expect("someone else blocks")
    );
    assert_eq!(
        store.blocked_by(&me).await.expect("list"),
        vec![other.clone(), pest.clone()],
        "newest first"
    );
    let mut blockers = store
        .blockers_of(&pest, &[me.clone(), other.clone(), stranger.clone()])
        .await
        .expect("blockers");
    blockers.sort();
    let mut expected = vec![me.clone(), stranger.clone()];
    expected.sort();
    assert_eq!(blockers, expected);
    assert_eq!(
        store
            .blockers_of(&me, std::slice::from_ref(&pest))
            .await
            .expect("blockers"),
        Vec::<UserId>::new(),
        "one way only"
    );
    assert_eq!(
        store.blockers_of(&pest, &[]).await.expect("none asked"),
        Vec::<UserId>::new()
    );

    assert!(store.unblock(&me, &pest).await.expect("unblock"));
    assert!(!store.unblock(&me, &pest).await.expect("unblock again"));
    assert_eq!(store.blocked_by(&me).await.expect("list"), vec![other]);
    assert_eq!(
        store.blockers_of(&pest, &[me]).await.expect("blockers"),
        Vec::<UserId>::new()
    );
}

/// A subscription made a millisecond after the one before (two in the same millisecond
/// have no order to be listed in).
fn subscription(user: &UserId, session: &str, target: PushTarget) -> PushSubscriptionRecord {
    static LAST: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let now = Timestamp::now().as_millis();
    let at = LAST
        .fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |last| Some(now.max(last + 1)),
        )
        .map_or(now, |last| now.max(last + 1));
    PushSubscriptionRecord {
        id: unique(),
        user_id: user.clone(),
        session: session.to_owned(),
        target,
        created_at: Timestamp::from_millis(at),
    }
}

fn web_push(endpoint: &str, auth: &str) -> PushTarget {
    PushTarget::WebPush {
        endpoint: endpoint.to_owned(),
        p256dh: "key".into(),
        auth: auth.to_owned(),
    }
}

/// A server secret is made once: the first candidate stays, whatever later callers offer.
pub async fn keeps_the_first_server_secret(store: &dyn AccountStore) {
    let name = format!("secret-{}", unique());
    let first = store
        .keep_server_secret(&name, "first")
        .await
        .expect("keep");
    assert_eq!(first, "first");
    let again = store
        .keep_server_secret(&name, "second")
        .await
        .expect("keep again");
    assert_eq!(again, "first");
    let other = store
        .keep_server_secret(&format!("{name}-other"), "other")
        .await
        .expect("another name");
    assert_eq!(other, "other");
}

/// Push subscriptions: one per device address (a repeat keeps its id, a device that
/// changes hands moves), deleted by their owner only, and ended with their session by
/// every way a session ends.
pub async fn keeps_push_subscriptions_per_session(store: &dyn AccountStore) {
    let (alice, bob) = (fixtures::user(), fixtures::user());
    for user in [&alice, &bob] {
        store.create_user(user, "hash").await.expect("create user");
    }
    let now = Timestamp::now();
    let later = now.plus_secs(3600);
    let (phone, laptop, bobs, expired) = (unique(), unique(), unique(), unique());
    for (hash, user, expires) in [
        (&phone, &alice, later),
        (&laptop, &alice, later),
        (&bobs, &bob, later),
        (
            &expired,
            &alice,
            Timestamp::from_millis(now.as_millis() - 1),
        ),
    ] {
        store
            .create_session(hash, &user.id, expires)
            .await
            .expect("create session");
    }
    let endpoint = format!("https://push.example/{}", unique());
    let first = subscription(&alice.id, &phone, web_push(&endpoint, "a1"));
    let (id, created) = store.save_push_subscription(&first).await.expect("save");
    assert_eq!((id.as_str(), created), (first.id.as_str(), true));
    // The same device again, from a new session with new keys: the same id, moved.
    let again = subscription(&alice.id, &laptop, web_push(&endpoint, "a2"));
    let (id, created) = store.save_push_subscription(&again).await.expect("save");
    assert_eq!((id.as_str(), created), (first.id.as_str(), false));
    let expo = subscription(
        &alice.id,
        &phone,
        PushTarget::Expo {
            token: format!("ExponentPushToken[{}]", unique()),
        },
    );
    store.save_push_subscription(&expo).await.expect("save");
    let stale = subscription(
        &alice.id,
        &expired,
        web_push(&format!("https://x/{}", unique()), "s"),
    );
    store.save_push_subscription(&stale).await.expect("save");
    let listed = store
        .push_subscriptions(std::slice::from_ref(&alice.id), now)
        .await
        .expect("list");
    type Summary<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>);
    let summary: Vec<Summary> = listed
        .iter()
        .map(|s| (s.id.as_str(), s.session.as_str(), s.target.keys()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (first.id.as_str(), laptop.as_str(), Some(("key", "a2"))),
            (expo.id.as_str(), phone.as_str(), None),
        ],
        "oldest first, the moved one on its new session, none of an expired session"
    );

    // Bob may not delete Alice's; ending the laptop's session ends its subscription.
    assert!(
        !store
            .delete_push_subscription(&bob.id, &expo.id)
            .await
            .expect("delete")
    );
    let ids_of = |user: &UserId| {
        let user = user.clone();
        async move {
            let listed = store.push_subscriptions(&[user], now).await.expect("list");
            listed.into_iter().map(|s| s.id).collect::<Vec<String>>()
        }
    };
    store.delete_session(&laptop).await.expect("end the laptop");
    assert_eq!(ids_of(&alice.id).await, vec![expo.id.clone()]);

    // The device changes hands: it is Bob's now, and no longer Alice's.
    let bobs_device = subscription(&bob.id, &bobs, expo.target.clone());
    let (id, created) = store
        .save_push_subscription(&bobs_device)
        .await
        .expect("save");
    assert_eq!((id.as_str(), created), (bobs_device.id.as_str(), true));
    assert_eq!(ids_of(&bob.id).await, vec![bobs_device.id.clone()]);
    assert!(ids_of(&alice.id).await.is_empty());
    assert!(
        !store
            .delete_push_subscription(&alice.id, &expo.id)
            .await
            .expect("delete")
    );
    assert!(
        store
            .delete_push_subscription(&bob.id, &bobs_device.id)
            .await
            .expect("delete")
    );

    // Other sessions ending (a password change) and deleting the account end theirs.
    let mine = subscription(
        &alice.id,
        &phone,
        web_push(&format!("https://y/{}", unique()), "m"),
    );
    store.save_push_subscription(&mine).await.expect("save");
    // Several users at once: by user in the order asked, whatever the order of creation.
    let bobs_laptop = subscription(
        &bob.id,
        &bobs,
        web_push(&format!("https://z/{}", unique()), "b"),
    );
    store
        .save_push_subscription(&bobs_laptop)
        .await
        .expect("save");
    let both = store
        .push_subscriptions(&[bob.id.clone(), alice.id.clone()], now)
        .await
        .expect("list both");
    let both: Vec<&str> = both.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(both, vec![bobs_laptop.id.as_str(), mine.id.as_str()]);
    let kept = store
        .end_sessions(&alice.id, Some(&phone))
        .await
        .expect("end others");
    assert!(!kept.contains(&phone));
    assert_eq!(ids_of(&alice.id).await, vec![mine.id.clone()]);
    store
        .delete_user(&alice.id, now)
        .await
        .expect("delete alice");
    assert!(ids_of(&alice.id).await.is_empty());
    store
        .create_session(&phone, &alice.id, later)
        .await
        .expect("a session again");
    assert!(
        ids_of(&alice.id).await.is_empty(),
        "deleted, not merely hidden behind its session"
    );
}
