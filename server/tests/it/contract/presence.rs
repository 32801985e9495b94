//! The `Presence` contract: a user is online while at least one of their connections is,
//! and each transition is reported exactly once, even when connections race.

use std::sync::Arc;

use protocol::Timestamp;
use server::ports::Presence;
use server::ports::presence::Status;

use super::fixtures::{self, unique};

const OFFLINE_NEVER_SEEN: Status = Status {
    online: false,
    last_seen_at: None,
};

/// The first connection brings a user online, the last one takes them offline and sets
/// `last_seen_at`; the ones in between change nothing.
pub async fn reports_the_first_and_last_connection(presence: &dyn Presence) {
    let user = fixtures::user_id();
    let (phone, laptop) = (unique(), unique());
    assert_eq!(
        presence.status(&user).await.expect("status"),
        OFFLINE_NEVER_SEEN
    );

    assert!(
        presence.connected(&user, &phone).await.expect("connect"),
        "came online"
    );
    assert!(
        !presence.connected(&user, &laptop).await.expect("connect"),
        "already online"
    );
    assert!(presence.status(&user).await.expect("status").online);

    let seen_at = Timestamp::now();
    assert!(
        !presence
            .disconnected(&user, &phone, seen_at)
            .await
            .expect("disconnect"),
        "laptop left"
    );
    let status = presence.status(&user).await.expect("status");
    assert!(status.online, "still online on the laptop");

    let last = presence
        .disconnected(&user, &laptop, seen_at)
        .await
        .expect("disconnect");
    assert!(last, "the last connection went");
    let expected = Status {
        online: false,
        last_seen_at: Some(seen_at),
    };
    assert_eq!(presence.status(&user).await.expect("status"), expected);

    assert!(
        presence
            .connected(&user, &unique())
            .await
            .expect("reconnect"),
        "online again"
    );
}

/// `offline_among` names, in the order asked, those with no live connection: never seen,
/// gone offline, or never connected; the online ones, however many connections they have,
/// are left out.
pub async fn names_the_offline_among_many(presence: &dyn Presence) {
    let (online, twice, gone, never) = (
        fixtures::user_id(),
        fixtures::user_id(),
        fixtures::user_id(),
        fixtures::user_id(),
    );
    assert!(
        presence
            .offline_among(&[])
            .await
            .expect("no one")
            .is_empty()
    );
    presence
        .connected(&online, &unique())
        .await
        .expect("connect");
    presence
        .connected(&twice, &unique())
        .await
        .expect("connect");
    presence
        .connected(&twice, &unique())
        .await
        .expect("connect");
    let left = unique();
    presence.connected(&gone, &left).await.expect("connect");
    presence
        .disconnected(&gone, &left, Timestamp::now())
        .await
        .expect("disconnect");
    let asked = [never.clone(), online, gone.clone(), twice];
    assert_eq!(
        presence.offline_among(&asked).await.expect("offline among"),
        vec![never, gone]
    );
}

/// Forgetting a connection that is not there reports nothing and changes nothing.
pub async fn ignores_unknown_connections(presence: &dyn Presence) {
    let now = Timestamp::now();
    let stranger = fixtures::user_id();
    assert!(
        !presence
            .disconnected(&stranger, &unique(), now)
            .await
            .expect("disconnect")
    );
    assert_eq!(
        presence.status(&stranger).await.expect("status"),
        OFFLINE_NEVER_SEEN
    );

    let user = fixtures::user_id();
    let phone = unique();
    presence.connected(&user, &phone).await.expect("connect");
    let unknown = presence
        .disconnected(&user, &unique(), now)
        .await
        .expect("disconnect");
    assert!(!unknown, "an unknown connection is not the last one");
    assert!(
        presence.status(&user).await.expect("status").online,
        "still online"
    );

    assert!(
        presence
            .disconnected(&user, &phone, now)
            .await
            .expect("disconnect")
    );
    let twice = presence
        .disconnected(&user, &phone, now)
        .await
        .expect("disconnect again");
    assert!(!twice, "a connection goes once");
}

/// Connections racing on several nodes: exactly one reports coming online, and exactly one
/// reports going offline.
pub async fn reports_each_transition_once_under_concurrency(presence: Arc<dyn Presence>) {
    let user = fixtures::user_id();
    let connections: Vec<String> = (0..16).map(|_| unique()).collect();

    let connects: Vec<_> = connections
        .iter()
        .map(|connection| {
            let (presence, user, connection) =
                (Arc::clone(&presence), user.clone(), connection.clone());
            tokio::spawn(async move { presence.connected(&user, &connection).await })
        })
        .collect();
    let mut came_online = 0;
    for task in connects {
        came_online += usize::from(task.await.expect("task ran").expect("connect"));
    }
    assert_eq!(came_online, 1, "one connection brought the user online");

    let now = Timestamp::now();
    let disconnects: Vec<_> = connections
        .into_iter()
        .map(|connection| {
            let (presence, user) = (Arc::clone(&presence), user.clone());
            tokio::spawn(async move { presence.disconnected(&user, &connection, now).await })
        })
        .collect();
    let mut went_offline = 0;
    for task in disconnects {
        went_offline += usize::from(task.await.expect("task ran").expect("disconnect"));
    }
    assert_eq!(went_offline, 1, "one connection took the user offline");
    assert!(!presence.status(&user).await.expect("status").online);
}
