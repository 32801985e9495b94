use super::*;
use crate::protocol::{Member, MessageId, Role, Timestamp};

fn user(id: &str) -> User {
    User {
        id: id.into(),
        username: id.into(),
        display_name: id.to_uppercase(),
        avatar_url: None,
        created_at: Timestamp::from_millis(0),
    }
}

fn member(id: &str, delivered: u64, read: u64) -> Member {
    Member {
        user: user(id),
        role: Role::Member,
        joined_at: Timestamp::from_millis(0),
        last_delivered_seq: delivered,
        last_read_seq: read,
    }
}

fn room(id: &str, members: Vec<Member>) -> Room {
    Room {
        id: id.into(),
        kind: RoomKind::Group,
        name: Some(id.into()),
        created_at: Timestamp::from_millis(0),
        last_seq: 0,
        last_message: None,
        unread_count: 0,
        member_count: members.len() as u64,
        members,
        topic: None,
        avatar_url: None,
        muted: false,
    }
}

fn message(room: &str, seq: u64, sender: &str, at: i64) -> Message {
    Message {
        id: MessageId(format!("{room}-{seq}")),
        room_id: room.into(),
        seq,
        sender_id: sender.into(),
        client_id: format!("c{seq}"),
        kind: MessageKind::Text,
        body: Some("hi".into()),
        media: None,
        reply_to: None,
        created_at: Timestamp::from_millis(at),
        ..Default::default()
    }
}

#[test]
fn a_message_seen_twice_is_held_once() {
    let mut log = RoomLog::default();
    assert!(log.merge([message("r", 1, "a", 1), message("r", 2, "a", 2)]));
    assert!(!log.merge([message("r", 2, "a", 2)]));
    assert_eq!(log.messages.len(), 2);
    assert_eq!((log.first_seq(), log.last_seq()), (Some(1), 2));
    assert!(log.has_client_id(&"a".into(), "c2"));
}

#[test]
fn status_follows_the_furthest_marker_of_another_member() {
    let me: UserId = "a".into();
    let mut rooms = vec![room(
        "r",
        vec![member("a", 5, 5), member("b", 0, 0), member("c", 0, 0)],
    )];
    assert_eq!(status_of(&rooms[0], &me, 3), Status::Sent);
    let receipt = |user: &str, kind, seq| ReceiptEvent {
        room_id: "r".into(),
        user_id: user.into(),
        kind,
        seq,
    };
    apply_receipt(&mut rooms, &receipt("b", ReceiptKind::Delivered, 3));
    assert_eq!(status_of(&rooms[0], &me, 3), Status::Delivered);
    apply_receipt(&mut rooms, &receipt("c", ReceiptKind::Read, 4));
    assert_eq!(status_of(&rooms[0], &me, 3), Status::Read);
    assert_eq!(readers(&rooms[0], &me, 3), vec!["C".to_string()]);
    // Markers never move back.
    apply_receipt(&mut rooms, &receipt("c", ReceiptKind::Read, 1));
    assert_eq!(status_of(&rooms[0], &me, 4), Status::Read);
}

#[test]
fn new_messages_reorder_rooms_and_count_unread_only_when_not_looking() {
    let me: UserId = "a".into();
    let mut rooms = vec![room("x", vec![]), room("y", vec![])];
    apply_message(&mut rooms, &message("y", 1, "b", 10), &me, false);
    assert_eq!(rooms[0].id.as_str(), "y");
    assert_eq!(rooms[0].unread_count, 1);
    apply_message(&mut rooms, &message("y", 1, "b", 10), &me, false);
    assert_eq!(rooms[0].unread_count, 1, "a repeat is not counted");
    apply_message(&mut rooms, &message("x", 1, "b", 20), &me, true);
    assert_eq!((rooms[0].id.as_str(), rooms[0].unread_count), ("x", 0));
    assert_eq!(total_unread(&rooms), 1);
    mark_read(&mut rooms, &"y".into(), &me, 1);
    assert_eq!(total_unread(&rooms), 0);
}

#[test]
fn direct_rooms_are_named_after_the_other_person() {
    let mut r = room("d", vec![member("a", 0, 0), member("b", 0, 0)]);
    r.kind = RoomKind::Direct;
    r.name = None;
    assert_eq!(room_title(&r, &"a".into()), "B");
}

fn photo(created_expires: Option<i64>, completed: bool) -> Pending {
    let created = created_expires.map(|expires| CreatedMedia {
        media: crate::protocol::Media {
            id: "m1".into(),
            kind: MediaKind::Image,
            content_type: "image/jpeg".into(),
            bytes: 10,
            width: Some(4),
            height: Some(3),
            duration_ms: None,
            url: "/api/v1/media/m1".into(),
            thumbnail_url: None,
            placeholder: None,
        },
        upload: crate::protocol::UploadInstructions {
            method: "PUT".into(),
            url: "/api/v1/uploads/m1".into(),
            headers: Default::default(),
        },
        expires_at: Timestamp::from_millis(expires),
    });
    Pending {
        room_id: "r".into(),
        client_id: "c".into(),
        body: String::new(),
        failed: None,
        media: Some(PendingMedia {
            kind: MediaKind::Image,
            content_type: "image/jpeg".into(),
            bytes: 10,
            width: Some(4),
            height: Some(3),
            duration_ms: None,
            created,
            completed,
            queued_at: 0,
            uploaded_again: false,
        }),
        reply_to: None,
        change: None,
    }
}

#[test]
fn a_media_message_is_sent_only_once_its_upload_is_complete() {
    assert!(!photo(None, false).ready());
    assert!(!photo(Some(i64::MAX), false).ready());
    assert!(photo(Some(i64::MAX), true).ready());
    let mut failed = photo(Some(i64::MAX), true);
    failed.failed = Some("refused".into());
    assert!(!failed.ready());
}

#[test]
fn an_upload_url_close_to_expiry_is_not_used() {
    let now = 1_000_000;
    let media = |expires| photo(expires, false).media.expect("media");
    assert!(!media(None).upload_usable(now));
    assert!(!media(Some(now + 30_000)).upload_usable(now));
    assert!(media(Some(now + 600_000)).upload_usable(now));
}

#[test]
fn a_text_outbox_saved_before_media_existed_still_loads() {
    let saved = r#"[{"room_id":"r","client_id":"c","body":"hi","failed":null}]"#;
    let outbox: Vec<Pending> = serde_json::from_str(saved).expect("old outbox");
    assert_eq!(outbox[0].media, None);
    assert!(outbox[0].ready());
}

#[test]
fn the_room_list_names_media_messages() {
    let mut photo = message("r", 1, "a", 1);
    photo.kind = MessageKind::Image;
    photo.body = None;
    assert_eq!(preview_text(&photo), "Photo");
    photo.body = Some("Beach".into());
    assert_eq!(preview_text(&photo), "Photo: Beach");
    let mut voice = message("r", 2, "a", 2);
    voice.kind = MessageKind::Voice;
    voice.body = None;
    assert_eq!(preview_text(&voice), "Voice message");
    assert_eq!(preview_text(&message("r", 3, "a", 3)), "hi");
}

fn change(
    seq: u64,
    sender: &str,
    kind: MessageKind,
    target: &Message,
    body: Option<&str>,
) -> Message {
    Message {
        kind,
        body: body.map(str::to_owned),
        relates_to: Some(target.id.clone()),
        ..message(&target.room_id.0, seq, sender, seq as i64)
    }
}

#[test]
fn changes_fold_into_their_targets_live_and_in_any_arrival_order() {
    let target = message("r", 1, "a", 1);
    let edit1 = change(2, "a", MessageKind::Edit, &target, Some("v2"));
    let react = change(3, "b", MessageKind::Reaction, &target, Some("👍"));
    let edit2 = change(4, "a", MessageKind::Edit, &target, Some("v3"));
    let unreact = change(5, "b", MessageKind::Delete, &react, None);

    let mut live = RoomLog::default();
    for m in [&target, &edit1, &react, &edit2] {
        live.merge([m.clone()]);
    }
    let now = live.get(&target.id).expect("held");
    assert_eq!(now.body.as_deref(), Some("v3"));
    assert_eq!(now.reactions[0].user_ids, vec![UserId::from("b")]);
    assert!(live.own_reaction(&target.id, &"b".into(), "👍").is_some());
    live.merge([unreact.clone()]);
    assert!(live.get(&target.id).expect("held").reactions.is_empty());
    assert!(live.own_reaction(&target.id, &"b".into(), "👍").is_none());

    // A gap filled late: the reaction and the second edit came first, the first edit after.
    let mut gappy = RoomLog::default();
    gappy.merge([target.clone()]);
    gappy.merge([react.clone(), edit2.clone()]);
    gappy.merge([edit1.clone()]);
    assert_eq!(
        gappy.get(&target.id).expect("held").body.as_deref(),
        Some("v3"),
        "the later edit still wins"
    );

    // A page from the server shows the target as it is now, with its changes in place.
    let mut current = target.clone();
    current.body = Some("v3".into());
    current.edited_at = Some(edit2.created_at);
    let mut paged = RoomLog::default();
    paged.merge([current, edit1, react, edit2, unreact]);
    let shown = paged.get(&target.id).expect("held");
    assert_eq!(shown.body.as_deref(), Some("v3"));
    assert!(shown.reactions.is_empty());

    let delete = change(6, "a", MessageKind::Delete, &target, None);
    paged.merge([delete]);
    let gone = paged.get(&target.id).expect("held");
    assert!(gone.deleted_at.is_some() && gone.body.is_none());
    assert_eq!(preview_text(gone), "Message deleted");
}

#[test]
fn changes_are_not_unread() {
    let me: UserId = "a".into();
    let mut rooms = vec![room("r", vec![member("a", 0, 0), member("b", 0, 0)])];
    let target = message("r", 1, "a", 1);
    apply_message(&mut rooms, &target, &me, false);
    apply_message(
        &mut rooms,
        &change(2, "b", MessageKind::Reaction, &target, Some("👍")),
        &me,
        false,
    );
    assert_eq!(rooms[0].unread_count, 0);
    apply_message(&mut rooms, &message("r", 3, "b", 3), &me, false);
    assert_eq!(rooms[0].unread_count, 1);
}

#[test]
fn text_shows_links_and_members_mentions_and_nothing_else_as_markup() {
    let names = vec!["bob".to_owned()];
    assert_eq!(
        segments(
            "hi @Bob, see https://example.com/a?b=1. <a href=x>no</a> @eve",
            &names
        ),
        vec![
            Segment::Text("hi ".into()),
            Segment::Mention("@Bob".into()),
            Segment::Text(", see ".into()),
            Segment::Link("https://example.com/a?b=1".into()),
            Segment::Text(". <a href=x>no</a> @eve".into()),
        ]
    );
    assert_eq!(
        segments("javascript:alert(1) mail@bob ftp://x http://", &names),
        vec![Segment::Text(
            "javascript:alert(1) mail@bob ftp://x http://".into()
        )]
    );
}

#[test]
fn search_hits_mark_the_words_searched_for() {
    let words = search_words("Pizza ton");
    assert_eq!(words, vec!["pizza", "ton"]);
    assert_eq!(
        highlight("Pizza tonight, pizzeria!", &words),
        vec![
            ("Pizza".to_owned(), true),
            (" ".to_owned(), false),
            ("tonight".to_owned(), true),
            (", pizzeria!".to_owned(), false),
        ]
    );
}

#[test]
fn day_separators_say_today_yesterday_a_weekday_or_the_date() {
    let today = "2026-12-01";
    assert_eq!(day_label("2026-12-01", today), "Today");
    assert_eq!(day_label("2026-11-30", today), "Yesterday");
    assert_eq!(day_label("2026-11-27", today), "Friday");
    assert_eq!(day_label("2026-11-24", today), "24 Nov 2026");
    assert_eq!(
        day_label("2024-02-29", "2024-03-01"),
        "Yesterday",
        "a leap day"
    );
    assert_eq!(day_label("1970-01-01", "1970-01-04"), "Thursday");
}

#[test]
fn typing_an_at_offers_the_members_it_could_name() {
    assert_eq!(mention_query("hi @al"), Some("al"));
    assert_eq!(mention_query("@"), Some(""));
    assert_eq!(mention_query("mail x@al"), None, "not the start of a word");
    assert_eq!(mention_query("hi @al there"), None, "the name has ended");
    let room = room(
        "r",
        vec![
            member("alice", 0, 0),
            member("al", 0, 0),
            member("bob", 0, 0),
        ],
    );
    let me: UserId = "al".into();
    assert_eq!(
        mention_candidates(&room, Some(&me), "AL"),
        vec![("alice".to_owned(), "ALICE".to_owned())]
    );
    assert_eq!(mention_candidates(&room, None, "").len(), 3);
    let mut text = "thanks @ali".to_owned();
    complete_mention(&mut text, "alice");
    assert_eq!(text, "thanks @alice ");
}

#[test]
fn a_reply_quotes_its_original_as_edited_and_drops_the_quote_once_it_is_deleted() {
    let original = message("r", 1, "a", 1);
    let mut reply = message("r", 2, "b", 2);
    reply.reply_to = Some(original.id.clone());
    reply.reply_preview = ReplyPreview::of(&original);
    let mut log = RoomLog::default();
    log.merge([original.clone(), reply.clone()]);

    log.merge([change(
        3,
        "a",
        MessageKind::Edit,
        &original,
        Some("hi, fixed"),
    )]);
    let quote = log.get(&reply.id).and_then(|m| m.reply_preview.clone());
    assert_eq!(quote.and_then(|q| q.body).as_deref(), Some("hi, fixed"));

    log.merge([change(4, "a", MessageKind::Delete, &original, None)]);
    assert_eq!(
        log.get(&reply.id).expect("held").reply_preview,
        None,
        "a withdrawn message is quoted nowhere"
    );
}
