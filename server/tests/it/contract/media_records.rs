//! The media record store: created pending, completed once checked, given to one room by
//! its first message, deleted only while no message uses it.

use app::protocol::{Media, MediaId, MediaKind, MessageKind, RoomId, Timestamp};
use server::ports::store::{CheckedMedia, MediaRecord, MediaStore, MessageStore};
use server::ports::{RoomStore, StoreError};

use super::fixtures;

fn pending(created_at: Timestamp) -> MediaRecord {
    MediaRecord {
        id: MediaId(fixtures::unique()),
        uploader: fixtures::user_id(),
        kind: MediaKind::Image,
        content_type: "image/jpeg".into(),
        bytes: 123_456,
        width: Some(1600),
        height: Some(1200),
        duration_ms: None,
        placeholder: None,
        has_thumbnail: false,
        ready: false,
        room_id: None,
        created_at,
    }
}

fn checked() -> CheckedMedia {
    CheckedMedia {
        bytes: 120_000,
        width: Some(1200),
        height: Some(1600),
        duration_ms: None,
        placeholder: Some("data:image/jpeg;base64,AAAA".into()),
        has_thumbnail: true,
    }
}

async fn ready(store: &dyn MediaStore) -> MediaRecord {
    let record = pending(Timestamp::now());
    store.create_media(&record).await.expect("create");
    assert!(
        store
            .complete_media(&record.id, &checked())
            .await
            .expect("complete")
    );
    store
        .media(&record.id)
        .await
        .expect("read")
        .expect("exists")
}

/// A record reads back as written; its id is unique; an unknown id reads as nothing.
pub async fn creates_and_reads_media(store: &dyn MediaStore) {
    let record = pending(Timestamp::now());
    store.create_media(&record).await.expect("create");
    assert_eq!(
        store.media(&record.id).await.expect("read"),
        Some(record.clone())
    );
    let again = store.create_media(&record).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let unknown = MediaId(fixtures::unique());
    assert_eq!(store.media(&unknown).await.expect("read unknown"), None);
}

/// Completing records what the checks found and makes the media ready.
pub async fn completes_media_with_what_the_checks_found(store: &dyn MediaStore) {
    let record = ready(store).await;
    assert!(record.ready);
    assert_eq!((record.width, record.height), (Some(1200), Some(1600)));
    assert_eq!(
        record.bytes, 120_000,
        "the stored size after metadata removal"
    );
    assert_eq!(
        record.placeholder.as_deref(),
        Some("data:image/jpeg;base64,AAAA")
    );
    assert!(record.has_thumbnail);
    let unknown = MediaId(fixtures::unique());
    assert!(
        !store
            .complete_media(&unknown, &checked())
            .await
            .expect("complete unknown")
    );
}

/// Only ready media can be given to a room, and then only to that one room.
pub async fn gives_ready_media_to_one_room_only(store: &dyn MediaStore) {
    let (here, there) = (fixtures::room_id(), fixtures::room_id());
    let waiting = pending(Timestamp::now());
    store.create_media(&waiting).await.expect("create");
    assert!(
        !store
            .attach_media(&waiting.id, &here)
            .await
            .expect("attach pending")
    );

    let record = ready(store).await;
    assert!(store.attach_media(&record.id, &here).await.expect("attach"));
    assert!(
        store
            .attach_media(&record.id, &here)
            .await
            .expect("attach again"),
        "same room"
    );
    assert!(
        !store
            .attach_media(&record.id, &there)
            .await
            .expect("attach elsewhere")
    );
    let stored = store
        .media(&record.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(stored.room_id, Some(here));
    let unknown = MediaId(fixtures::unique());
    assert!(
        !store
            .attach_media(&unknown, &there)
            .await
            .expect("attach unknown")
    );
}

/// Media a message uses is never deleted; unused media is, once.
pub async fn deletes_only_unused_media(store: &dyn MediaStore) {
    let used = ready(store).await;
    assert!(
        store
            .attach_media(&used.id, &fixtures::room_id())
            .await
            .expect("attach")
    );
    assert!(
        !store
            .delete_unused_media(&used.id)
            .await
            .expect("delete used")
    );
    assert!(store.media(&used.id).await.expect("read").is_some());

    let unused = pending(Timestamp::now());
    store.create_media(&unused).await.expect("create");
    assert!(store.delete_unused_media(&unused.id).await.expect("delete"));
    assert_eq!(store.media(&unused.id).await.expect("read"), None);
    assert!(
        !store
            .delete_unused_media(&unused.id)
            .await
            .expect("delete twice")
    );
}

/// The collector's list: unused media created before the cutoff, oldest first, at most
/// `limit`.
pub async fn lists_unused_media_older_than_a_cutoff(store: &dyn MediaStore) {
    let now = Timestamp::now().as_millis();
    let at = |ago_ms: i64| Timestamp::from_millis(now - ago_ms);
    let (oldest, old, recent) = (pending(at(90_000)), pending(at(60_000)), pending(at(1_000)));
    let mut used = pending(at(120_000));
    used.ready = true;
    for record in [&recent, &old, &used, &oldest] {
        store.create_media(record).await.expect("create");
    }
    assert!(
        store
            .attach_media(&used.id, &fixtures::room_id())
            .await
            .expect("attach")
    );

    let cutoff = at(30_000);
    let ids = |records: Vec<MediaRecord>| records.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let listed = ids(store.unused_media(cutoff, 10).await.expect("list"));
    assert_eq!(listed, [oldest.id.clone(), old.id.clone()]);
    let first = ids(store.unused_media(cutoff, 1).await.expect("list one"));
    assert_eq!(first, [oldest.id]);
}

/// A message keeps the media it was sent with.
pub async fn a_message_keeps_its_media(messages: &dyn MessageStore, rooms: &dyn RoomStore) {
    let sender = fixtures::user_id();
    let room: RoomId = fixtures::stored_room_of(rooms, &sender).await;
    let id = MediaId(fixtures::unique());
    let media = Media {
        url: format!("http://confab.test/api/v1/media/{id}"),
        thumbnail_url: Some(format!("http://confab.test/api/v1/media/{id}/thumbnail")),
        id,
        kind: MediaKind::Image,
        content_type: "image/webp".into(),
        bytes: 98_765,
        width: Some(1600),
        height: Some(900),
        duration_ms: None,
        placeholder: Some("data:image/jpeg;base64,AAAA".into()),
    };
    let mut new = fixtures::text(&room, &sender, "a caption");
    new.kind = MessageKind::Image;
    new.media = Some(media.clone());
    let stored = messages.append(&new).await.expect("append").into_message();
    assert_eq!(stored.media.as_ref(), Some(&media));
    let read = messages
        .message(&new.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read.media, Some(media));
    assert_eq!(read.kind, MessageKind::Image);
}
