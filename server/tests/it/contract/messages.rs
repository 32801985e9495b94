//! The `MessageStore` contract: per-room numbering without gaps, idempotent appends, history
//! pages and unread counts. Rooms are created through the `RoomStore` first, as the chat core
//! does, because appending to a room that does not exist is an error.

use std::collections::HashSet;
use std::sync::Arc;

use protocol::{MessageId, MessageKind, Reaction, RoomId, Timestamp, UserId};
use server::domain::{ClientId, Emoji, MessageBody};
use server::ports::store::{
    Appended, ChangeRefusal, Content, Cursor, MessageRecord, NewMessage, SearchFrom, SearchTerms,
};
use server::ports::{MessageStore, PortError, PortResult, RoomStore};

use super::fixtures;

/// What the store should hand back for `new` stored at `seq`.
fn stored(new: &NewMessage, seq: u64) -> MessageRecord {
    MessageRecord {
        id: new.id.clone(),
        room_id: new.room_id.clone(),
        seq,
        sender_id: new.sender_id.clone(),
        client_id: new.client_id.as_str().to_owned(),
        kind: new.content.kind(),
        body: new.content.body().map(str::to_owned),
        media: None,
        reply_to: new.reply_to.clone(),
        created_at: new.created_at,
        relates_to: new.content.target().cloned(),
        mentions: new.mentions.clone(),
        ..Default::default()
    }
}

/// Appends `count` messages from `sender` and returns them as stored.
async fn append_many(
    messages: &dyn MessageStore,
    room: &RoomId,
    sender: &UserId,
    count: usize,
) -> Vec<MessageRecord> {
    let mut stored = Vec::with_capacity(count);
    for n in 0..count {
        let new = fixtures::text(room, sender, &format!("message {n}"));
        stored.push(messages.append(&new).await.expect("append").into_record());
    }
    stored
}

fn seqs(messages: &[MessageRecord]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

/// The `seq`s of the room's newest 50 messages, oldest first.
async fn newest_seqs(messages: &dyn MessageStore, room: &RoomId) -> Vec<u64> {
    let (page, _) = messages.page(room, Cursor::Latest, 50).await.expect("page");
    seqs(&page)
}

/// Each room numbers its messages 1, 2, 3, … on its own, and its record follows.
pub async fn numbers_each_room_from_one(messages: &dyn MessageStore, rooms: &dyn RoomStore) {
    let me = fixtures::user_id();
    let first = fixtures::stored_room_of(rooms, &me).await;
    let second = fixtures::stored_room_of(rooms, &me).await;

    for seq in 1..=3 {
        let new = fixtures::text(&first, &me, "hello");
        let appended = messages.append(&new).await.expect("append");
        assert_eq!(appended, Appended::Created(stored(&new, seq)));
    }
    let other = fixtures::text(&second, &me, "elsewhere");
    assert_eq!(
        messages.append(&other).await.expect("append").record().seq,
        1,
        "own numbering"
    );
    let next = fixtures::text(&first, &me, "again");
    assert_eq!(
        messages.append(&next).await.expect("append").record().seq,
        4
    );

    let record = rooms
        .room(&first)
        .await
        .expect("read room")
        .expect("the room");
    assert_eq!(record.last_seq, 4);
}

/// A repeated `(sender_id, client_id)` returns the first message and stores nothing, even
/// when the repeat carries another id and body. Another sender may use the same client id.
pub async fn returns_the_first_message_for_a_repeated_client_id(
    messages: &dyn MessageStore,
    rooms: &dyn RoomStore,
) {
    let (me, you) = (fixtures::user_id(), fixtures::user_id());
    let room = fixtures::stored_group(rooms, &[me.clone(), you.clone()]).await;
    let first = fixtures::text(&room, &me, "original");
    let original = messages.append(&first).await.expect("append").into_record();

    let repeat = NewMessage {
        client_id: first.client_id.clone(),
        ..fixtures::text(&room, &me, "changed")
    };
    let again = messages.append(&repeat).await.expect("append the repeat");
    assert_eq!(again, Appended::Existing(original.clone()));
    assert_eq!(
        messages.message(&repeat.id).await.expect("read repeat id"),
        None
    );
    let (page, _) = messages
        .page(&room, Cursor::Latest, 10)
        .await
        .expect("page");
    assert_eq!(page, [original], "nothing new stored");

    let yours = NewMessage {
        client_id: first.client_id.clone(),
        ..fixtures::text(&room, &you, "hi")
    };
    let yours = messages
        .append(&yours)
        .await
        .expect("append another sender's");
    assert!(
        matches!(&yours, Appended::Created(m) if m.seq == 2),
        "got {yours:?}"
    );
}

/// 8 tasks appending 25 messages each to one room get exactly the seqs 1..=200.
pub async fn numbers_a_room_without_gaps_under_concurrency(
    messages: Arc<dyn MessageStore>,
    rooms: &dyn RoomStore,
) {
    let senders: Vec<UserId> = (0..8).map(|_| fixtures::user_id()).collect();
    let room = fixtures::stored_group(rooms, &senders).await;
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|sender| {
            let (messages, room) = (Arc::clone(&messages), room.clone());
            tokio::spawn(async move { append_many(messages.as_ref(), &room, &sender, 25).await })
        })
        .collect();

    let mut all = Vec::new();
    for task in tasks {
        let mine = task.await.expect("task ran");
        // One sender's appends are sequential, so their seqs must rise.
        assert!(
            mine.windows(2).all(|w| w[0].seq < w[1].seq),
            "one sender's order kept"
        );
        all.extend(seqs(&mine));
    }
    all.sort_unstable();
    assert_eq!(all, (1..=200).collect::<Vec<u64>>(), "no gaps, no repeats");
    let record = rooms
        .room(&room)
        .await
        .expect("read room")
        .expect("the room");
    assert_eq!(record.last_seq, 200);
    let (page, more) = messages
        .page(&room, Cursor::Latest, 500)
        .await
        .expect("page");
    assert_eq!((seqs(&page), more), ((1..=200).collect(), false));
}

/// Concurrent retries of one send store one message and all get it back.
pub async fn stores_one_message_for_concurrent_retries(
    messages: Arc<dyn MessageStore>,
    rooms: &dyn RoomStore,
) {
    let me = fixtures::user_id();
    let room = fixtures::stored_room_of(rooms, &me).await;
    let template = fixtures::text(&room, &me, "once");
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            // Each retry is a fresh request: own message id, same client id.
            let retry = NewMessage {
                client_id: template.client_id.clone(),
                ..fixtures::text(&room, &me, "once")
            };
            let messages = Arc::clone(&messages);
            tokio::spawn(async move { messages.append(&retry).await })
        })
        .collect();

    let mut created = 0;
    let mut ids = HashSet::new();
    for task in tasks {
        let appended = task.await.expect("task ran").expect("append");
        created += usize::from(matches!(appended, Appended::Created(_)));
        let message = appended.into_record();
        assert_eq!(message.seq, 1);
        ids.insert(message.id);
    }
    assert_eq!(
        (created, ids.len()),
        (1, 1),
        "one created, every retry got it"
    );
    assert_eq!(
        newest_seqs(messages.as_ref(), &room).await.len(),
        1,
        "one message stored"
    );
}

/// Pages come in ascending seq; `has_more` says whether more lie beyond the page in the
/// cursor's direction (older for `Latest` and `Before`, newer for `After`).
pub async fn pages_through_history(messages: &dyn MessageStore, rooms: &dyn RoomStore) {
    let me = fixtures::user_id();
    let room = fixtures::stored_room_of(rooms, &me).await;
    let (empty, more) = messages
        .page(&room, Cursor::Latest, 10)
        .await
        .expect("page empty room");
    assert!(empty.is_empty() && !more, "an empty room has an empty page");

    let all = append_many(messages, &room, &me, 10).await;
    let room = &room;
    let page = |cursor, limit| async move {
        let (page, more) = messages.page(room, cursor, limit).await.expect("page");
        (seqs(&page), more)
    };
    let range = |from: u64, to: u64| (from..=to).collect::<Vec<u64>>();

    assert_eq!(page(Cursor::Latest, 4).await, (range(7, 10), true));
    assert_eq!(
        page(Cursor::Latest, 10).await,
        (range(1, 10), false),
        "exactly all"
    );
    assert_eq!(page(Cursor::Latest, 50).await, (range(1, 10), false));
    assert_eq!(page(Cursor::Before(7), 4).await, (range(3, 6), true));
    assert_eq!(page(Cursor::Before(3), 4).await, (range(1, 2), false));
    assert_eq!(page(Cursor::Before(1), 4).await, (vec![], false));
    assert_eq!(page(Cursor::After(0), 4).await, (range(1, 4), true));
    assert_eq!(
        page(Cursor::After(6), 4).await,
        (range(7, 10), false),
        "exactly the rest"
    );
    assert_eq!(page(Cursor::After(8), 4).await, (range(9, 10), false));
    assert_eq!(page(Cursor::After(10), 4).await, (vec![], false));

    let (full, _) = messages
        .page(room, Cursor::After(0), 10)
        .await
        .expect("page");
    assert_eq!(full, all, "pages hold the messages as stored");
}

/// A message is found by its id; an unknown id finds nothing.
pub async fn finds_a_message_by_id(messages: &dyn MessageStore, rooms: &dyn RoomStore) {
    let me = fixtures::user_id();
    let room = fixtures::stored_room_of(rooms, &me).await;
    let mut new = fixtures::text(&room, &me, "find me");
    let earlier = append_many(messages, &room, &me, 1).await;
    new.reply_to = Some(earlier[0].id.clone());
    let stored = messages.append(&new).await.expect("append").into_record();

    assert_eq!(
        messages.message(&new.id).await.expect("read message"),
        Some(stored)
    );
    let unknown = protocol::MessageId(fixtures::unique());
    assert_eq!(
        messages.message(&unknown).await.expect("read unknown"),
        None
    );
}

/// Unread counts others' messages between the reader's marker and a bound, never the
/// reader's own.
pub async fn counts_unread_messages_of_others(messages: &dyn MessageStore, rooms: &dyn RoomStore) {
    let (amy, bob, cy) = (
        fixtures::user_id(),
        fixtures::user_id(),
        fixtures::user_id(),
    );
    let room = fixtures::stored_group(rooms, &[amy.clone(), bob.clone(), cy.clone()]).await;
    // seq:     1    2    3    4   5
    for sender in [&amy, &bob, &amy, &cy, &bob] {
        append_many(messages, &room, sender, 1).await;
    }
    let room = &room;
    let unread = |reader, after, up_to| async move {
        messages
            .count_unread(room, reader, after, up_to)
            .await
            .expect("count unread")
    };
    assert_eq!(unread(&amy, 0, 5).await, 3, "bob, cy, bob");
    assert_eq!(unread(&amy, 2, 5).await, 2, "cy, bob");
    assert_eq!(unread(&amy, 5, 5).await, 0);
    assert_eq!(unread(&bob, 0, 5).await, 3, "amy, amy, cy");
    assert_eq!(
        unread(&amy, 0, 3).await,
        1,
        "bob; the upper bound is inclusive"
    );
    assert_eq!(unread(&amy, 1, 4).await, 2, "bob, cy");
    assert_eq!(
        unread(&amy, 0, 99).await,
        3,
        "a bound past the end counts to the end"
    );
    let stranger = fixtures::user_id();
    assert_eq!(unread(&stranger, 0, 5).await, 5);
}

/// Appending to a room that does not exist fails and stores nothing.
pub async fn refuses_to_append_to_a_missing_room(messages: &dyn MessageStore) {
    let new = fixtures::text(&fixtures::room_id(), &fixtures::user_id(), "into the void");
    let refused = messages.append(&new).await;
    assert!(refused.is_err(), "expected an error, got {refused:?}");
    assert_eq!(messages.message(&new.id).await.expect("read message"), None);
}

/// Every appended message owes its event to the bus until it is marked published; a repeat
/// owes nothing new; only messages stored by the given time are listed, oldest first.
pub async fn keeps_each_new_messages_event_owed_until_published(
    messages: &dyn MessageStore,
    rooms: &dyn RoomStore,
) {
    let me = fixtures::user_id();
    let room = fixtures::stored_room_of(rooms, &me).await;
    let stored = append_many(messages, &room, &me, 3).await;
    let repeat = NewMessage {
        client_id: ClientId::parse(&stored[0].client_id).expect("a stored client id"),
        ..fixtures::text(&room, &me, "again")
    };
    messages.append(&repeat).await.expect("append the repeat");
    // Messages stored in one millisecond have no order among them: compare by `seq`.
    let ours = |owed: Vec<MessageRecord>| -> Vec<u64> {
        let mut seqs: Vec<u64> = owed
            .into_iter()
            .filter(|m| m.room_id == room)
            .map(|m| m.seq)
            .collect();
        seqs.sort_unstable();
        seqs
    };
    let far_future = Timestamp::from_millis(Timestamp::now().as_millis() + 3_600_000);
    let owed = messages
        .unpublished(far_future, 1000)
        .await
        .expect("unpublished");
    assert_eq!(ours(owed), vec![1, 2, 3]);
    let before_them = Timestamp::from_millis(stored[0].created_at.as_millis() - 1);
    let owed = messages
        .unpublished(before_them, 1000)
        .await
        .expect("unpublished");
    assert_eq!(ours(owed), Vec::<u64>::new(), "none stored that early");

    messages
        .mark_published(&[stored[0].id.clone(), stored[2].id.clone()])
        .await
        .expect("mark");
    let owed = messages
        .unpublished(far_future, 1000)
        .await
        .expect("unpublished");
    assert_eq!(ours(owed), vec![2]);
    messages.mark_published(&[]).await.expect("marking nothing");
    messages
        .mark_published(&[stored[1].id.clone(), stored[1].id.clone()])
        .await
        .expect("mark twice");
    let owed = messages
        .unpublished(far_future, 1000)
        .await
        .expect("unpublished");
    assert_eq!(ours(owed), Vec::<u64>::new());
}

/// A change of `target` from `sender`.
fn change_of(
    target: &MessageRecord,
    sender: &UserId,
    kind: MessageKind,
    body: Option<&str>,
) -> NewMessage {
    let room = target.room_id.clone();
    let target = target.id.clone();
    let content = match kind {
        MessageKind::Edit => Content::Edit {
            target,
            body: MessageBody::parse(body.expect("an edit's text")).expect("a body"),
        },
        MessageKind::Reaction => Content::Reaction {
            target,
            emoji: Emoji::parse(body.expect("a reaction's emoji")).expect("an emoji"),
        },
        _ => Content::Delete { target },
    };
    NewMessage {
        content,
        ..fixtures::text(&room, sender, "a change")
    }
}

fn refusal(result: PortResult<Appended>) -> ChangeRefusal {
    match result {
        Err(PortError::ChangeRefused(why)) => why,
        other => panic!("expected a refused change, got {other:?}"),
    }
}

/// A change sent again with its `client_id` (a client retrying after a lost ack) answers
/// with the change stored the first time and changes its target no further: not a second
/// edit, not a duplicate reaction refused, not a delete of what is already deleted.
pub async fn applies_a_retried_change_once(messages: &dyn MessageStore, rooms: &dyn RoomStore) {
    let (amy, bob) = (fixtures::user_id(), fixtures::user_id());
    let room = fixtures::stored_group(rooms, &[amy.clone(), bob.clone()]).await;
    let target = append_many(messages, &room, &amy, 1).await.remove(0);
    let retried = |first: &NewMessage| NewMessage {
        id: fixtures::text(&room, &amy, "retried").id,
        created_at: Timestamp::now(),
        ..first.clone()
    };
    let read = || async {
        messages
            .message(&target.id)
            .await
            .expect("read")
            .expect("stored")
    };

    for change in [
        change_of(&target, &amy, MessageKind::Edit, Some("edited once")),
        change_of(&target, &bob, MessageKind::Reaction, Some("👍")),
        change_of(&target, &amy, MessageKind::Delete, None),
    ] {
        let first = match messages.append(&change).await.expect("first") {
            Appended::Created(message) => message,
            other => panic!(
                "{:?}: expected a new change, got {other:?}",
                change.content.kind()
            ),
        };
        let before = read().await;
        match messages.append(&retried(&change)).await {
            Ok(Appended::Existing(again)) => {
                assert_eq!(again.id, first.id, "{:?}", change.content.kind())
            }
            other => panic!(
                "{:?} retried: expected the first, got {other:?}",
                change.content.kind()
            ),
        }
        assert_eq!(
            read().await,
            before,
            "{:?} applied twice",
            change.content.kind()
        );
    }
    let stored = read().await;
    assert!(stored.deleted_at.is_some() && stored.body.is_none());
    assert_eq!(
        newest_seqs(messages, &room).await,
        vec![1, 2, 3, 4],
        "three changes stored, once each"
    );
}

/// Edits, deletions and reactions change their target in the same step as they are
/// appended, by the rules of API.md v1.1, and a refused change stores nothing.
pub async fn applies_changes_to_their_targets(messages: &dyn MessageStore, rooms: &dyn RoomStore) {
    let (amy, bob) = (fixtures::user_id(), fixtures::user_id());
    let room = fixtures::stored_group(rooms, &[amy.clone(), bob.clone()]).await;
    let target = append_many(messages, &room, &amy, 1).await.remove(0);
    let read =
        |id: MessageId| async move { messages.message(&id).await.expect("read").expect("stored") };

    let edit = change_of(&target, &amy, MessageKind::Edit, Some("edited"));
    let stored_edit = messages.append(&edit).await.expect("edit").into_record();
    assert_eq!(stored_edit.seq, 2);
    assert_eq!(stored_edit.relates_to.as_ref(), Some(&target.id));
    let edited = read(target.id.clone()).await;
    assert_eq!(edited.body.as_deref(), Some("edited"));
    assert_eq!(edited.edited_at, Some(edit.created_at));

    let not_hers = change_of(&target, &bob, MessageKind::Edit, Some("bob's"));
    assert_eq!(
        refusal(messages.append(&not_hers).await),
        ChangeRefusal::NotAllowed
    );
    assert_eq!(messages.message(&not_hers.id).await.expect("read"), None);

    let thumbs = change_of(&target, &bob, MessageKind::Reaction, Some("👍"));
    let reaction = messages.append(&thumbs).await.expect("react").into_record();
    assert_eq!(
        refusal(
            messages
                .append(&change_of(&target, &bob, MessageKind::Reaction, Some("👍")))
                .await
        ),
        ChangeRefusal::DuplicateReaction
    );
    messages
        .append(&change_of(&target, &amy, MessageKind::Reaction, Some("👍")))
        .await
        .expect("a second person's reaction");
    assert_eq!(
        read(target.id.clone()).await.reactions,
        vec![Reaction {
            emoji: "👍".into(),
            user_ids: vec![bob.clone(), amy.clone()]
        }]
    );
    assert_eq!(
        refusal(
            messages
                .append(&change_of(
                    &reaction,
                    &amy,
                    MessageKind::Reaction,
                    Some("😂")
                ))
                .await
        ),
        ChangeRefusal::NotChangeable,
        "a reaction to a reaction"
    );
    // Taking a reaction back.
    assert_eq!(
        refusal(
            messages
                .append(&change_of(&reaction, &amy, MessageKind::Delete, None))
                .await
        ),
        ChangeRefusal::NotAllowed
    );
    messages
        .append(&change_of(&reaction, &bob, MessageKind::Delete, None))
        .await
        .expect("unreact");
    assert_eq!(
        read(target.id.clone()).await.reactions[0].user_ids,
        vec![amy.clone()]
    );
    assert!(read(reaction.id.clone()).await.deleted_at.is_some());

    // Only a moderator deletes someone else's message; then it is gone for good.
    assert_eq!(
        refusal(
            messages
                .append(&change_of(&target, &bob, MessageKind::Delete, None))
                .await
        ),
        ChangeRefusal::NotAllowed
    );
    let moderated = NewMessage {
        moderator: true,
        ..change_of(&target, &bob, MessageKind::Delete, None)
    };
    messages
        .append(&moderated)
        .await
        .expect("a moderator's delete");
    let deleted = read(target.id.clone()).await;
    assert_eq!(deleted.deleted_at, Some(moderated.created_at));
    assert_eq!((deleted.body, deleted.reactions), (None, Vec::new()));
    assert_eq!(
        read(stored_edit.id.clone()).await.body,
        None,
        "the edit's text goes too"
    );
    for kind in [
        MessageKind::Edit,
        MessageKind::Reaction,
        MessageKind::Delete,
    ] {
        let body = (kind != MessageKind::Delete).then_some("🎉");
        assert_eq!(
            refusal(messages.append(&change_of(&target, &amy, kind, body)).await),
            ChangeRefusal::NotChangeable
        );
    }
    let elsewhere = fixtures::stored_room_of(rooms, &amy).await;
    let across = NewMessage {
        room_id: elsewhere,
        ..change_of(&target, &amy, MessageKind::Reaction, Some("👍"))
    };
    assert_eq!(
        refusal(messages.append(&across).await),
        ChangeRefusal::NoTarget
    );
    assert_eq!(
        newest_seqs(messages, &room).await,
        (1..=6).collect::<Vec<_>>(),
        "refusals take no seq"
    );
    let found = messages
        .messages(&[
            target.id.clone(),
            stored_edit.id.clone(),
            MessageId(fixtures::unique()),
        ])
        .await
        .expect("by ids");
    assert_eq!(found.len(), 2);
}

/// Two writers changing one message at once both land: every reaction is there once.
pub async fn applies_concurrent_changes_to_one_target(
    messages: Arc<dyn MessageStore>,
    rooms: &dyn RoomStore,
) {
    let people: Vec<UserId> = (0..6).map(|_| fixtures::user_id()).collect();
    let room = fixtures::stored_group(rooms, &people).await;
    let target = append_many(messages.as_ref(), &room, &people[0], 1)
        .await
        .remove(0);
    let tasks: Vec<_> = people
        .iter()
        .map(|person| {
            let (messages, reaction) = (
                Arc::clone(&messages),
                change_of(&target, person, MessageKind::Reaction, Some("❤️")),
            );
            tokio::spawn(async move { messages.append(&reaction).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("joined").expect("reacted");
    }
    let now = messages
        .message(&target.id)
        .await
        .expect("read")
        .expect("stored");
    let mut who = now.reactions[0].user_ids.clone();
    who.sort();
    let mut everyone = people.clone();
    everyone.sort();
    assert_eq!(who, everyone);
}

/// Search finds live text bodies and captions of the rooms given, by every word (the last as
/// a prefix), newest first, in pages; what was edited away or deleted is never found.
pub async fn searches_live_text(messages: &dyn MessageStore, rooms: &dyn RoomStore) {
    let me = fixtures::user_id();
    let room = fixtures::stored_room_of(rooms, &me).await;
    let other = fixtures::stored_room_of(rooms, &me).await;
    let mut sent = Vec::new();
    for (in_room, body) in [
        (&room, "Pizza tonight at eight"),
        (&room, "pizza again"),
        (&other, "pizza elsewhere"),
        (&room, "Pasta, not pizza!"),
        (&room, "nothing to see"),
    ] {
        let new = fixtures::text(in_room, &me, body);
        sent.push(messages.append(&new).await.expect("append").into_record());
    }
    let terms = |words: &[&str], prefix: &str| SearchTerms {
        words: words.iter().map(|w| (*w).to_owned()).collect(),
        prefix: prefix.to_owned(),
    };
    let bodies = |found: &[MessageRecord]| -> Vec<String> {
        found
            .iter()
            .map(|m| m.body.clone().unwrap_or_default())
            .collect()
    };
    let search = |in_rooms: Vec<RoomId>, t: SearchTerms, from: SearchFrom, limit: u32| async move {
        messages
            .search(&in_rooms, &t, &from, limit)
            .await
            .expect("search")
    };
    let both = vec![room.clone(), other.clone()];
    let (found, more) = search(both.clone(), terms(&[], "pizza"), SearchFrom::Newest, 10).await;
    assert_eq!(
        bodies(&found),
        vec![
            "Pasta, not pizza!",
            "pizza elsewhere",
            "pizza again",
            "Pizza tonight at eight"
        ]
    );
    assert!(!more);
    let (found, _) = search(
        vec![room.clone()],
        terms(&["pizza"], "ei"),
        SearchFrom::Newest,
        10,
    )
    .await;
    assert_eq!(
        bodies(&found),
        vec!["Pizza tonight at eight"],
        "the last word is a prefix"
    );
    let (found, _) = search(
        both.clone(),
        terms(&["pizz"], "again"),
        SearchFrom::Newest,
        10,
    )
    .await;
    assert!(found.is_empty(), "only the last word is a prefix");
    let (page, more) = search(both.clone(), terms(&[], "pizza"), SearchFrom::Newest, 2).await;
    assert!(more);
    let (rest, more) = search(
        both.clone(),
        terms(&[], "pizza"),
        SearchFrom::BeforeId(page[1].id.clone()),
        2,
    )
    .await;
    assert_eq!(bodies(&rest), vec!["pizza again", "Pizza tonight at eight"]);
    assert!(!more);
    let (found, _) = search(
        vec![room.clone()],
        terms(&[], "pizza"),
        SearchFrom::BeforeSeq(3),
        10,
    )
    .await;
    assert_eq!(
        bodies(&found),
        vec!["pizza again", "Pizza tonight at eight"]
    );
    let (found, _) = search(Vec::new(), terms(&[], "pizza"), SearchFrom::Newest, 10).await;
    assert!(found.is_empty(), "no rooms, no hits");

    // Edited away, and deleted.
    messages
        .append(&change_of(
            &sent[0],
            &me,
            MessageKind::Edit,
            Some("Sushi tonight"),
        ))
        .await
        .expect("edit");
    messages
        .append(&change_of(&sent[3], &me, MessageKind::Delete, None))
        .await
        .expect("delete");
    let (found, _) = search(both.clone(), terms(&[], "pizza"), SearchFrom::Newest, 10).await;
    assert_eq!(bodies(&found), vec!["pizza elsewhere", "pizza again"]);
    let (found, _) = search(both.clone(), terms(&[], "sushi"), SearchFrom::Newest, 10).await;
    assert_eq!(
        bodies(&found),
        vec!["Sushi tonight"],
        "the edited message, not its edit"
    );
    let (found, _) = search(both, terms(&[], "pasta"), SearchFrom::Newest, 10).await;
    assert!(found.is_empty());
}

/// Unread counts only `text`, `image` and `voice` messages: changes are not new messages.
pub async fn counts_no_changes_as_unread(messages: &dyn MessageStore, rooms: &dyn RoomStore) {
    let (amy, bob) = (fixtures::user_id(), fixtures::user_id());
    let room = fixtures::stored_group(rooms, &[amy.clone(), bob.clone()]).await;
    let target = append_many(messages, &room, &amy, 1).await.remove(0);
    messages
        .append(&change_of(&target, &amy, MessageKind::Edit, Some("again")))
        .await
        .expect("edit");
    messages
        .append(&change_of(&target, &amy, MessageKind::Reaction, Some("👍")))
        .await
        .expect("react");
    assert_eq!(
        messages
            .count_unread(&room, &bob, 0, 3)
            .await
            .expect("count"),
        1
    );
}
