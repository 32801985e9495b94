//! Builders shared by the suites. Every id, name and key is fresh per call, so a suite can run
//! against a shared service that already holds other runs' data, and its tests can run in
//! parallel against one instance.

use protocol::{Message, MessageId, MessageKind, Role, RoomId, RoomKind, Timestamp, User, UserId};
use server::domain::{ClientId, MessageBody};
use server::ports::RoomStore;
use server::ports::store::{Content, NewMessage, NewRoom};

/// A fresh random id. UUIDv4 rather than the server's time-ordered v7: two runs started in
/// the same millisecond must not share a prefix, or the prefix searches would see each other.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A fresh lower-case prefix, valid at the start of a username, that no other user has.
pub fn tag() -> String {
    format!("t{}", &unique()[..10])
}

pub fn user_id() -> UserId {
    UserId(unique())
}

pub fn room_id() -> RoomId {
    RoomId(unique())
}

/// A user with the given (lower-case) username and display name.
pub fn user_named(username: &str, display_name: &str) -> User {
    User {
        id: user_id(),
        username: username.to_owned(),
        display_name: display_name.to_owned(),
        avatar_url: None,
        created_at: Timestamp::now(),
    }
}

/// A user with a fresh username.
pub fn user() -> User {
    let username = format!("u{}", &unique()[..20]);
    user_named(&username, "Contract User")
}

/// A group owned by `owner`, with `others` as plain members.
pub fn group(owner: &UserId, others: &[UserId], created_at: Timestamp) -> NewRoom {
    let mut members = vec![(owner.clone(), Role::Owner)];
    members.extend(others.iter().map(|id| (id.clone(), Role::Member)));
    NewRoom {
        id: room_id(),
        kind: RoomKind::Group,
        name: Some("Contract group".to_owned()),
        created_at,
        members,
    }
}

/// The direct room of `a` and `b`, in that order.
pub fn direct(a: &UserId, b: &UserId) -> NewRoom {
    NewRoom {
        id: room_id(),
        kind: RoomKind::Direct,
        name: None,
        created_at: Timestamp::now(),
        members: vec![(a.clone(), Role::Member), (b.clone(), Role::Member)],
    }
}

/// Creates a group of `members` (the first owns it) and returns its id.
pub async fn stored_group(rooms: &dyn RoomStore, members: &[UserId]) -> RoomId {
    let (owner, others) = members.split_first().expect("a group needs an owner");
    let room = group(owner, others, Timestamp::now());
    rooms.create_room(&room).await.expect("create a group");
    room.id
}

/// Creates a group whose only member is `owner` and returns its id.
pub async fn stored_room_of(rooms: &dyn RoomStore, owner: &UserId) -> RoomId {
    stored_group(rooms, std::slice::from_ref(owner)).await
}

/// A text message with a fresh id and client id.
pub fn text(room: &RoomId, sender: &UserId, body: &str) -> NewMessage {
    NewMessage {
        // Time-ordered, as the server's own ids are (search pages by id).
        id: MessageId(uuid::Uuid::now_v7().simple().to_string()),
        room_id: room.clone(),
        sender_id: sender.clone(),
        client_id: ClientId::random(),
        content: Content::Text(MessageBody::parse(body).expect("a text message's body")),
        reply_to: None,
        created_at: Timestamp::now(),
        mentions: Vec::new(),
        moderator: false,
    }
}

/// A stored message as the bus carries it; `seq` tells events of one room apart.
pub fn stored_message(room: &RoomId, seq: u64) -> Message {
    Message {
        id: MessageId(unique()),
        room_id: room.clone(),
        seq,
        sender_id: UserId("contract-sender".to_owned()),
        client_id: unique(),
        kind: MessageKind::Text,
        body: Some(format!("event {seq}")),
        media: None,
        reply_to: None,
        created_at: Timestamp::now(),
        ..Default::default()
    }
}
