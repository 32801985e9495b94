//! The media record store: created pending, completed once checked, given to one room by
//! its first message, deleted only while no message uses it.

use protocol::{MediaId, MediaKind, MessageKind, RoomId, Timestamp};
use server::domain::MessageBody;
use server::ports::store::{
    CheckedMedia, Content, MediaFacts, MediaRecord, MediaRecordStore, MessageStore,
};
use server::ports::{Conflict, PortError, RoomStore};

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

async fn ready(store: &dyn MediaRecordStore) -> MediaRecord {
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
pub async fn creates_and_reads_media(store: &dyn MediaRecordStore) {
    let record = pending(Timestamp::now());
    store.create_media(&record).await.expect("create");
    assert_eq!(
        store.media(&record.id).await.expect("read"),
        Some(record.clone())
    );
    let again = store.create_media(&record).await;
    assert!(matches!(again, Err(PortError::Conflict(_))), "{again:?}");
    let unknown = MediaId(fixtures::unique());
    assert_eq!(store.media(&unknown).await.expect("read unknown"), None);
}

/// Completing records what the checks found and makes the media ready.
pub async fn completes_media_with_what_the_checks_found(store: &dyn MediaRecordStore) {
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
    let mut later = checked();
    later.width = Some(1);
    assert!(
        !store
            .complete_media(&record.id, &later)
            .await
            .expect("complete again"),
        "the first check's findings stay"
    );
    let stored = store
        .media(&record.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(stored.width, Some(1200));
}

/// `append` gives a message's media to its room in the same step: only ready media, only to
/// one room; a refused message stores nothing and takes no `seq`.
pub async fn a_message_takes_ready_media_for_its_room_only(
    messages: &dyn MessageStore,
    rooms: &dyn RoomStore,
    store: &dyn MediaRecordStore,
) {
    let sender = fixtures::user_id();
    let here = fixtures::stored_room_of(rooms, &sender).await;
    let there = fixtures::stored_room_of(rooms, &sender).await;
    let image = |room: &RoomId, record: &MediaRecord| {
        let mut new = fixtures::text(room, &sender, "look");
        new.content = Content::Image {
            media: record.facts(),
            caption: MessageBody::parse("look").ok(),
        };
        new
    };
    let refused = |result: Result<_, PortError>| {
        matches!(result, Err(PortError::Conflict(Conflict::MediaUnavailable)))
    };

    let waiting = pending(Timestamp::now());
    store.create_media(&waiting).await.expect("create");
    let early = image(&here, &waiting);
    assert!(
        refused(messages.append(&early).await),
        "pending media is refused"
    );
    assert_eq!(messages.message(&early.id).await.expect("read"), None);

    let record = ready(store).await;
    let first = messages
        .append(&image(&here, &record))
        .await
        .expect("append");
    assert_eq!(first.into_record().seq, 1);
    let stored = store
        .media(&record.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(stored.room_id.as_ref(), Some(&here));
    let again = messages
        .append(&image(&here, &record))
        .await
        .expect("same room again");
    assert_eq!(again.into_record().seq, 2, "a refused append took no seq");

    let elsewhere = image(&there, &record);
    assert!(
        refused(messages.append(&elsewhere).await),
        "another room is refused"
    );
    assert_eq!(messages.message(&elsewhere.id).await.expect("read"), None);
    let next = messages
        .append(&fixtures::text(&there, &sender, "still counting"))
        .await;
    assert_eq!(
        next.expect("append").into_record().seq,
        1,
        "the refusal took no seq"
    );

    let mut unknown = record.clone();
    unknown.id = MediaId(fixtures::unique());
    assert!(refused(messages.append(&image(&here, &unknown)).await));
    assert!(
        !store
            .delete_unused_media(&record.id)
            .await
            .expect("delete used")
    );
}

/// Media a message uses is never deleted; unused media is, once.
pub async fn deletes_only_unused_media(store: &dyn MediaRecordStore) {
    let mut used = pending(Timestamp::now());
    used.ready = true;
    used.room_id = Some(fixtures::room_id());
    store.create_media(&used).await.expect("create");
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
pub async fn lists_unused_media_older_than_a_cutoff(store: &dyn MediaRecordStore) {
    let now = Timestamp::now().as_millis();
    let at = |ago_ms: i64| Timestamp::from_millis(now - ago_ms);
    let (oldest, old, recent) = (pending(at(90_000)), pending(at(60_000)), pending(at(1_000)));
    let mut used = pending(at(120_000));
    used.ready = true;
    used.room_id = Some(fixtures::room_id());
    for record in [&recent, &old, &used, &oldest] {
        store.create_media(record).await.expect("create");
    }

    let cutoff = at(30_000);
    let ids = |records: Vec<MediaRecord>| records.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let listed = ids(store.unused_media(cutoff, 10).await.expect("list"));
    assert_eq!(listed, [oldest.id.clone(), old.id.clone()]);
    let first = ids(store.unused_media(cutoff, 1).await.expect("list one"));
    assert_eq!(first, [oldest.id]);
}

/// One uploader's unused media, oldest first: not another's, not what a room took.
pub async fn lists_one_uploaders_unused_media(store: &dyn MediaRecordStore) {
    let now = Timestamp::now().as_millis();
    let at = |ago_ms: i64| Timestamp::from_millis(now - ago_ms);
    let uploader = fixtures::user_id();
    let mine = |record: MediaRecord| MediaRecord {
        uploader: uploader.clone(),
        ..record
    };
    let (older, newer) = (mine(pending(at(60_000))), mine(pending(at(1_000))));
    let mut used = mine(pending(at(90_000)));
    used.ready = true;
    used.room_id = Some(fixtures::room_id());
    let someone_elses = pending(at(120_000));
    for record in [&newer, &used, &someone_elses, &older] {
        store.create_media(record).await.expect("create");
    }

    let ids = |records: Vec<MediaRecord>| records.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let listed = ids(store.unused_media_of(&uploader, 10).await.expect("list"));
    assert_eq!(listed, [older.id.clone(), newer.id.clone()]);
    let first = ids(store.unused_media_of(&uploader, 1).await.expect("list one"));
    assert_eq!(first, [older.id]);
    let none = store
        .unused_media_of(&uploader, 0)
        .await
        .expect("list none");
    assert!(none.is_empty());
}

/// A message keeps the facts of the media it was sent with (and no URL: the core builds
/// those on read).
pub async fn a_message_keeps_its_media(
    messages: &dyn MessageStore,
    rooms: &dyn RoomStore,
    store: &dyn MediaRecordStore,
) {
    let sender = fixtures::user_id();
    let room: RoomId = fixtures::stored_room_of(rooms, &sender).await;
    let id = ready(store).await.id;
    let media = MediaFacts {
        id,
        kind: MediaKind::Image,
        content_type: "image/webp".into(),
        bytes: 98_765,
        width: Some(1600),
        height: Some(900),
        duration_ms: None,
        placeholder: Some("data:image/jpeg;base64,AAAA".into()),
        has_thumbnail: true,
    };
    let mut new = fixtures::text(&room, &sender, "a caption");
    new.content = Content::Image {
        media: media.clone(),
        caption: MessageBody::parse("a caption").ok(),
    };
    let stored = messages.append(&new).await.expect("append").into_record();
    assert_eq!(stored.media.as_ref(), Some(&media));
    let read = messages
        .message(&new.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read.media, Some(media));
    assert_eq!(read.kind, MessageKind::Image);
}
