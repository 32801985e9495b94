//! The `RoomStore` contract: rooms, direct-room uniqueness, members, markers and contacts.

use std::sync::Arc;

use protocol::{ReceiptKind, Role, RoomId, RoomKind, Timestamp, UserId};
use server::ports::store::{MemberRecord, RoomRecord};
use server::ports::{MessageStore, PortError, RoomStore};

use super::fixtures;

/// A group is stored with its name and members; a fresh room has no messages yet and its
/// last activity is its creation.
pub async fn creates_a_group_with_its_members(rooms: &dyn RoomStore) {
    let (owner, amy, bob) = (
        fixtures::user_id(),
        fixtures::user_id(),
        fixtures::user_id(),
    );
    let created_at = Timestamp::now();
    let new = fixtures::group(&owner, &[amy.clone(), bob.clone()], created_at);
    rooms.create_room(&new).await.expect("create a group");

    let expected = RoomRecord {
        id: new.id.clone(),
        kind: RoomKind::Group,
        name: new.name.clone(),
        created_at,
        last_seq: 0,
        last_activity_at: created_at,
        topic: None,
        avatar: None,
    };
    assert_eq!(
        rooms.room(&new.id).await.expect("read room"),
        Some(expected)
    );
    assert_eq!(
        rooms
            .room(&fixtures::room_id())
            .await
            .expect("read unknown room"),
        None
    );

    let mut roles: Vec<(UserId, Role)> = member_list(rooms, &new.id).await;
    roles.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected_roles = vec![
        (owner, Role::Owner),
        (amy.clone(), Role::Member),
        (bob, Role::Member),
    ];
    expected_roles.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(roles, expected_roles);

    let amy_member = rooms
        .member(&new.id, &amy)
        .await
        .expect("read member")
        .expect("amy");
    let fresh = MemberRecord {
        room_id: new.id.clone(),
        user_id: amy.clone(),
        role: Role::Member,
        joined_at: created_at,
        last_delivered_seq: 0,
        last_read_seq: 0,
        muted: false,
    };
    assert_eq!(amy_member, fresh);
    assert_eq!(
        rooms
            .member(&new.id, &fixtures::user_id())
            .await
            .expect("read stranger"),
        None
    );
    assert_eq!(room_ids(rooms, &amy).await, [new.id]);
}

/// One direct room per pair, whichever order the pair comes in.
pub async fn keeps_one_direct_room_per_pair(rooms: &dyn RoomStore) {
    let (a, b, c) = (
        fixtures::user_id(),
        fixtures::user_id(),
        fixtures::user_id(),
    );
    let first = fixtures::direct(&a, &b);
    rooms
        .create_room(&first)
        .await
        .expect("create the direct room");

    let ab = rooms
        .direct_room(&a, &b)
        .await
        .expect("read a-b")
        .expect("a-b has a room");
    assert_eq!((&ab.id, ab.kind), (&first.id, RoomKind::Direct));
    let ba = rooms.direct_room(&b, &a).await.expect("read b-a");
    assert_eq!(ba, Some(ab), "the pair is unordered");

    let again = fixtures::direct(&b, &a);
    let refused = rooms.create_room(&again).await;
    assert!(
        matches!(refused, Err(PortError::Conflict(_))),
        "expected Conflict, got {refused:?}"
    );
    assert_eq!(
        rooms.room(&again.id).await.expect("read refused room"),
        None
    );

    assert_eq!(rooms.direct_room(&a, &c).await.expect("read a-c"), None);
    rooms
        .create_room(&fixtures::direct(&c, &a))
        .await
        .expect("another pair gets its own room");
}

/// Concurrent requests for one pair's direct room create exactly one.
pub async fn keeps_one_direct_room_per_pair_under_concurrency(rooms: Arc<dyn RoomStore>) {
    let (a, b) = (fixtures::user_id(), fixtures::user_id());
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (rooms, a, b) = (Arc::clone(&rooms), a.clone(), b.clone());
            // Half of the requests name the pair the other way round.
            let room = if i % 2 == 0 {
                fixtures::direct(&a, &b)
            } else {
                fixtures::direct(&b, &a)
            };
            tokio::spawn(async move { (room.id.clone(), rooms.create_room(&room).await) })
        })
        .collect();

    let mut created = Vec::new();
    for task in tasks {
        match task.await.expect("task ran") {
            (id, Ok(())) => created.push(id),
            (_, Err(PortError::Conflict(_))) => {}
            (_, Err(other)) => panic!("expected Ok or Conflict, got {other:?}"),
        }
    }
    assert_eq!(
        created.len(),
        1,
        "exactly one direct room is created: {created:?}"
    );
    let stored = rooms
        .direct_room(&a, &b)
        .await
        .expect("read a-b")
        .expect("a-b has a room");
    assert_eq!(stored.id, created[0]);
}

/// The room list puts the most recently active room first: a message moves its room up.
pub async fn lists_rooms_by_last_activity(rooms: &dyn RoomStore, messages: &dyn MessageStore) {
    let me = fixtures::user_id();
    let base = Timestamp::now().as_millis();
    let older = fixtures::group(&me, &[], Timestamp::from_millis(base));
    let newer = fixtures::group(&me, &[], Timestamp::from_millis(base + 1000));
    rooms
        .create_room(&older)
        .await
        .expect("create the older room");
    rooms
        .create_room(&newer)
        .await
        .expect("create the newer room");
    assert_eq!(
        room_ids(rooms, &me).await,
        [newer.id.clone(), older.id.clone()]
    );

    let mut message = fixtures::text(&older.id, &me, "bump");
    message.created_at = Timestamp::from_millis(base + 2000);
    messages
        .append(&message)
        .await
        .expect("append to the older room");

    let listed = rooms.rooms_of(&me).await.expect("list rooms");
    let ids: Vec<RoomId> = listed.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids, [older.id.clone(), newer.id]);
    assert_eq!(
        (listed[0].last_seq, listed[0].last_activity_at),
        (1, message.created_at)
    );
    assert_eq!(
        room_ids(rooms, &fixtures::user_id()).await,
        Vec::<RoomId>::new()
    );
}

/// Members come oldest first (not in id order); adding a member twice changes nothing.
pub async fn lists_members_oldest_first_and_adds_each_once(rooms: &dyn RoomStore) {
    let mut ids = [
        fixtures::user_id(),
        fixtures::user_id(),
        fixtures::user_id(),
    ];
    ids.sort();
    let [first_id, second_id, last_id] = ids;
    let t0 = Timestamp::now().as_millis();
    let room = fixtures::group(&last_id, &[], Timestamp::from_millis(t0));
    rooms.create_room(&room).await.expect("create room");

    let at = Timestamp::from_millis;
    let added = rooms
        .add_member(&room.id, &second_id, Role::Member, at(t0 + 1))
        .await;
    assert!(added.expect("add a member"), "a new member is added");
    let added = rooms
        .add_member(&room.id, &first_id, Role::Member, at(t0 + 2))
        .await;
    assert!(added.expect("add a member"), "a new member is added");
    let again = rooms
        .add_member(&room.id, &second_id, Role::Admin, at(t0 + 5))
        .await;
    assert!(
        !again.expect("add a member again"),
        "a member is not added twice"
    );

    let members = rooms.members(&room.id).await.expect("list members");
    let order: Vec<&UserId> = members.iter().map(|m| &m.user_id).collect();
    assert_eq!(order, [&last_id, &second_id, &first_id], "oldest first");
    // Membership is never what the relaxed read may lag on.
    let relaxed = rooms.members_relaxed(&room.id).await.expect("list members");
    assert_eq!(relaxed, members, "the same members, the same order");
    let second = &members[1];
    assert_eq!(
        (second.role, second.joined_at),
        (Role::Member, at(t0 + 1)),
        "unchanged"
    );
}

/// A removed member is gone from the room and the room from their list; roles change.
pub async fn removes_members_and_changes_roles(rooms: &dyn RoomStore) {
    let (owner, amy, bob) = (
        fixtures::user_id(),
        fixtures::user_id(),
        fixtures::user_id(),
    );
    let room = fixtures::stored_group(rooms, &[owner.clone(), amy.clone(), bob.clone()]).await;

    assert!(
        rooms.remove_member(&room, &amy).await.expect("remove"),
        "amy was a member"
    );
    assert!(
        !rooms
            .remove_member(&room, &amy)
            .await
            .expect("remove again"),
        "not any more"
    );
    assert_eq!(
        rooms
            .member(&room, &amy)
            .await
            .expect("read removed member"),
        None
    );
    assert!(
        room_ids(rooms, &amy).await.is_empty(),
        "the room left amy's list"
    );
    let remaining: Vec<UserId> = member_list(rooms, &room)
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert!(
        !remaining.contains(&amy) && remaining.len() == 2,
        "left: {remaining:?}"
    );

    rooms
        .set_role(&room, &bob, Role::Admin)
        .await
        .expect("make bob an admin");
    let bob_member = rooms
        .member(&room, &bob)
        .await
        .expect("read bob")
        .expect("bob");
    assert_eq!(bob_member.role, Role::Admin);
}

/// Markers only move forward, and reading also delivers; delivering never reads.
pub async fn advances_markers_only_forward(rooms: &dyn RoomStore) {
    use ReceiptKind::{Delivered, Read};
    let (owner, amy) = (fixtures::user_id(), fixtures::user_id());
    let room = &fixtures::stored_group(rooms, &[owner, amy.clone()]).await;
    let amy = &amy;
    let advance = |kind, seq| rooms.advance_marker(room, amy, kind, seq);
    let markers = || async move {
        let member = rooms
            .member(room, amy)
            .await
            .expect("read member")
            .expect("amy");
        (member.last_delivered_seq, member.last_read_seq)
    };

    assert!(
        advance(Delivered, 3).await.expect("deliver 3"),
        "delivered moves"
    );
    assert_eq!(markers().await, (3, 0), "delivering does not read");
    assert!(
        !advance(Delivered, 2).await.expect("deliver 2"),
        "never back"
    );
    assert!(
        !advance(Delivered, 3).await.expect("deliver 3 again"),
        "not moving is false"
    );
    assert_eq!(markers().await, (3, 0));

    assert!(advance(Read, 2).await.expect("read 2"), "read moves");
    assert_eq!(markers().await, (3, 2), "delivered does not go back");
    assert!(advance(Read, 5).await.expect("read 5"), "read moves");
    assert_eq!(markers().await, (5, 5), "reading also delivers");
    assert!(!advance(Read, 4).await.expect("read 4"), "never back");
    assert!(
        !advance(Delivered, 5).await.expect("deliver 5"),
        "already delivered"
    );
    assert_eq!(markers().await, (5, 5));

    let stranger = rooms
        .advance_marker(room, &fixtures::user_id(), Read, 1)
        .await;
    assert!(
        !stranger.expect("advance a stranger"),
        "a non-member has no marker to move"
    );
}

/// Contacts are everyone who shares a room with the user: each once, the user excluded.
pub async fn lists_contacts_once_without_the_user(rooms: &dyn RoomStore) {
    let (me, amy, bob, cy) = (
        fixtures::user_id(),
        fixtures::user_id(),
        fixtures::user_id(),
        fixtures::user_id(),
    );
    fixtures::stored_group(rooms, &[me.clone(), amy.clone(), bob.clone()]).await;
    fixtures::stored_group(rooms, &[bob.clone(), me.clone(), cy.clone()]).await;
    rooms
        .create_room(&fixtures::direct(&amy, &me))
        .await
        .expect("create a direct room");
    // Shares no room with me.
    fixtures::stored_group(rooms, &[amy.clone(), fixtures::user_id()]).await;

    let mut contacts = rooms.contacts_of(&me).await.expect("list contacts");
    contacts.sort();
    let mut expected = vec![amy, bob, cy];
    expected.sort();
    assert_eq!(contacts, expected);
    assert!(
        rooms
            .contacts_of(&fixtures::user_id())
            .await
            .expect("list none")
            .is_empty()
    );
}

async fn room_ids(rooms: &dyn RoomStore, user: &UserId) -> Vec<RoomId> {
    let listed = rooms.rooms_of(user).await.expect("list rooms");
    listed.into_iter().map(|room| room.id).collect()
}

async fn member_list(rooms: &dyn RoomStore, room: &RoomId) -> Vec<(UserId, Role)> {
    let members = rooms.members(room).await.expect("list members");
    members.into_iter().map(|m| (m.user_id, m.role)).collect()
}

/// A room's name, topic and picture change as asked (a topic or picture can be cleared),
/// and a member's mute.
pub async fn renames_and_mutes(rooms: &dyn RoomStore) {
    let (owner, amy) = (fixtures::user_id(), fixtures::user_id());
    let room = fixtures::stored_group(rooms, &[owner.clone(), amy.clone()]).await;
    let read = || async { rooms.room(&room).await.expect("read").expect("stored") };
    rooms
        .update_room(&room, Some("New name"), Some(Some("Plans")))
        .await
        .expect("update");
    let now = read().await;
    assert_eq!(
        (now.name.as_deref(), now.topic.as_deref()),
        (Some("New name"), Some("Plans"))
    );
    rooms
        .update_room(&room, None, None)
        .await
        .expect("nothing to change");
    assert_eq!(read().await.topic.as_deref(), Some("Plans"));
    rooms
        .update_room(&room, None, Some(None))
        .await
        .expect("clear the topic");
    let now = read().await;
    assert_eq!((now.name.as_deref(), now.topic), (Some("New name"), None));

    // A picture replaced answers the one before, so its object can go.
    let replaced = rooms
        .set_room_avatar(&room, Some("/pictures/a"))
        .await
        .expect("set a picture");
    assert_eq!(replaced, None);
    assert_eq!(read().await.avatar.as_deref(), Some("/pictures/a"));
    let replaced = rooms
        .set_room_avatar(&room, Some("/pictures/b"))
        .await
        .expect("replace it");
    assert_eq!(replaced.as_deref(), Some("/pictures/a"));
    let replaced = rooms.set_room_avatar(&room, None).await.expect("clear it");
    assert_eq!(replaced.as_deref(), Some("/pictures/b"));
    let now = read().await;
    assert_eq!(
        (now.avatar, now.name.as_deref()),
        (None, Some("New name")),
        "only the picture changed"
    );

    rooms.set_muted(&room, &amy, true).await.expect("mute");
    let room = &room;
    let member = |user| async move {
        rooms
            .member(room, &user)
            .await
            .expect("read")
            .expect("member")
    };
    assert!(member(amy.clone()).await.muted);
    assert!(!member(owner.clone()).await.muted, "only hers");
    rooms.set_muted(room, &amy, false).await.expect("unmute");
    assert!(!member(amy).await.muted);
}
