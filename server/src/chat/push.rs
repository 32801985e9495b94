//! Push notifications (API.md v1.1): subscriptions, registered by a device with its
//! session and ended with it (logout, a revoke, a password change, account deletion), and
//! the pushes sent to them.
//!
//! A notification for a user with no live socket on any node goes to each of their
//! subscriptions through the push port. The notification worker that decides it runs once
//! per cluster (a consumer group), so each push goes out once. Pushes never hold up what
//! asked for them: each runs as a task of its own, a bounded number at a time, retried
//! with backoff when the push service asks for it, and dropped (and counted) when the node
//! already has too many waiting. A push service that says the device is gone (`404`,
//! `410`, Expo's `DeviceNotRegistered`) deletes the subscription.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use protocol::{NotificationEvent, PushSubscriptionRequest, RoomKind, Timestamp, UserId};
use tokio::sync::Semaphore;

use super::Chat;
use crate::domain::new_id;
use crate::error::{Error, Result};
use crate::ports::store::{PushSubscriptionRecord, PushTarget, RoomRecord};
use crate::ports::{AccountStore, Delivery, PushGateway, PushPayload};
use crate::secrets;

/// Pushes on their way or waiting to retry, on this node. Beyond it new pushes are dropped:
/// a push service that is down must not grow the node without bound.
const MAX_PENDING: usize = 10_000;
/// Requests to push services at once.
const AT_ONCE: usize = 64;
/// Tries of one push: the first, then retries after 2, 8 and 32 seconds.
const TRIES: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_secs(2);

/// The most subscriptions one user keeps (devices and browsers together).
pub const MAX_SUBSCRIPTIONS_PER_USER: usize = 20;
/// The longest endpoint taken: push services' are a few hundred characters.
const MAX_ENDPOINT_LEN: usize = 1024;
const MAX_EXPO_TOKEN_LEN: usize = 256;

/// This node's pushes in progress.
pub(super) struct Pushes {
    inner: Arc<Inner>,
}

struct Inner {
    gateway: Arc<dyn PushGateway>,
    /// Where a subscription the push service calls gone is deleted.
    accounts: Arc<dyn AccountStore>,
    slots: Semaphore,
    pending: AtomicUsize,
}

impl Pushes {
    pub(super) fn new(gateway: Arc<dyn PushGateway>, accounts: Arc<dyn AccountStore>) -> Self {
        Self {
            inner: Arc::new(Inner {
                gateway,
                accounts,
                slots: Semaphore::new(AT_ONCE),
                pending: AtomicUsize::new(0),
            }),
        }
    }

    /// Sends `payload` to `subscription` in a task of its own, unless too many pushes are
    /// pending already: then it is dropped (and counted).
    fn start(&self, subscription: PushSubscriptionRecord, payload: Arc<PushPayload>) {
        let inner = Arc::clone(&self.inner);
        let kind = subscription.target.kind();
        if inner.pending.fetch_add(1, Ordering::Relaxed) >= MAX_PENDING {
            inner.pending.fetch_sub(1, Ordering::Relaxed);
            count(kind, "dropped");
            tracing::warn!(kind, "too many pushes pending: one dropped");
            return;
        }
        tokio::spawn(async move {
            let outcome = inner.deliver(&subscription.target, &payload).await;
            count(kind, outcome.label());
            match outcome {
                Delivery::Accepted => {}
                Delivery::Gone => {
                    let deleted = inner
                        .accounts
                        .delete_push_subscription(&subscription.user_id, &subscription.id)
                        .await;
                    if let Err(err) = deleted {
                        tracing::warn!(error = %err, "a gone push subscription was not deleted");
                    }
                }
                Delivery::Retry(why) | Delivery::Refused(why) => {
                    tracing::warn!(kind, reason = %why, subscription = %subscription.id, "push not delivered");
                }
            }
            inner.pending.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Counts a push by service and outcome.
fn count(kind: &str, outcome: &str) {
    crate::metrics::METRICS
        .pushes
        .with_label_values(&[kind, outcome])
        .inc();
}

impl Inner {
    /// Tries until the push service takes the push, says no for good, or the tries run out.
    async fn deliver(&self, target: &PushTarget, payload: &PushPayload) -> Delivery {
        let mut pause = FIRST_BACKOFF;
        let mut tries = 0;
        loop {
            let outcome = {
                let Ok(_slot) = self.slots.acquire().await else {
                    return Delivery::Refused("shutting down".into());
                };
                self.gateway.send(target, payload).await
            };
            tries += 1;
            match outcome {
                Delivery::Retry(_) if tries < TRIES => {
                    tokio::time::sleep(pause).await;
                    pause *= 4;
                }
                outcome => return outcome,
            }
        }
    }
}

impl Delivery {
    fn label(&self) -> &'static str {
        match self {
            Delivery::Accepted => "accepted",
            Delivery::Gone => "gone",
            Delivery::Retry(_) => "failed",
            Delivery::Refused(_) => "refused",
        }
    }
}

impl Chat {
    /// Pushes each notification of `addressed` (of one room, each for its own users) to
    /// the subscriptions of those of its users with no live socket on any node: one
    /// presence lookup and one subscription lookup for all of them. `room` is the room
    /// when the caller has it at hand (else it is read, only if someone is to be pushed).
    /// `actor` is who caused it (the sender, the one who added them): a direct room is
    /// titled with their name, a group with its own. Returns once the pushes are started.
    pub(super) async fn push_to_absent(
        &self,
        addressed: &[(&[UserId], &NotificationEvent)],
        room: Option<&RoomRecord>,
        actor: &str,
    ) -> Result<()> {
        let users: Vec<UserId> = addressed
            .iter()
            .flat_map(|(users, _)| users.iter().cloned())
            .collect();
        let Some((_, first)) = addressed.first() else {
            return Ok(());
        };
        if users.is_empty() {
            return Ok(());
        }
        let absent = self.ports.presence.offline_among(&users).await?;
        if absent.is_empty() {
            return Ok(());
        }
        let subscriptions = self
            .ports
            .accounts
            .push_subscriptions(&absent, Timestamp::now())
            .await?;
        if subscriptions.is_empty() {
            return Ok(());
        }
        let read;
        let room = match room {
            Some(room) => Some(room),
            None => {
                read = self.ports.rooms.room(&first.room_id).await?;
                read.as_ref()
            }
        };
        let title = match room {
            Some(RoomRecord {
                kind: RoomKind::Group,
                name: Some(name),
                ..
            }) => name.clone(),
            _ => actor.to_owned(),
        };
        let batches: Vec<(HashSet<&UserId>, Arc<PushPayload>)> = addressed
            .iter()
            .map(|(users, event)| {
                let payload = Arc::new(PushPayload {
                    kind: event.kind.as_label(),
                    room_id: event.room_id.0.clone(),
                    message_id: event.message.as_ref().map(|m| m.id.0.clone()),
                    title: title.clone(),
                    text: event.text.clone(),
                });
                (users.iter().collect(), payload)
            })
            .collect();
        for subscription in subscriptions {
            if let Some((_, payload)) = batches
                .iter()
                .find(|(users, _)| users.contains(&subscription.user_id))
            {
                self.pushes.start(subscription, Arc::clone(payload));
            }
        }
        Ok(())
    }

    /// `GET /push/vapid-public-key`: the key browsers subscribe with.
    pub fn vapid_public_key(&self) -> Result<String> {
        self.ports
            .push
            .vapid_public_key()
            .map(str::to_owned)
            .ok_or(Error::Unavailable("push"))
    }

    /// `POST /push/subscriptions` from the session of `token`: the subscription's id, and
    /// whether it is new (a repeat of the same endpoint or token answers the same id).
    pub async fn register_push(
        &self,
        user: &UserId,
        token: &str,
        request: PushSubscriptionRequest,
    ) -> Result<(String, bool)> {
        let target = checked_target(request, self.settings.push_allow_local)?;
        let now = Timestamp::now();
        let accounts = &self.ports.accounts;
        let existing = accounts
            .push_subscriptions(std::slice::from_ref(user), now)
            .await?;
        let known = existing
            .iter()
            .any(|s| s.target.address() == target.address());
        if !known && existing.len() >= MAX_SUBSCRIPTIONS_PER_USER {
            return Err(Error::Conflict(
                "this account has the most push subscriptions it may keep; remove one first",
            ));
        }
        let record = PushSubscriptionRecord {
            id: new_id(),
            user_id: user.clone(),
            session: secrets::token_hash(token),
            target,
            created_at: now,
        };
        Ok(accounts.save_push_subscription(&record).await?)
    }

    /// `DELETE /push/subscriptions/{id}`: one of the caller's own.
    pub async fn unregister_push(&self, user: &UserId, id: &str) -> Result<()> {
        if self
            .ports
            .accounts
            .delete_push_subscription(user, id)
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound("push subscription"))
        }
    }
}

/// The request's target, if it is one a push could reach: an `https` endpoint of at most
/// [`MAX_ENDPOINT_LEN`] characters with a P-256 public key (65 bytes, uncompressed) and a
/// 16-byte secret, or an Expo push token.
fn checked_target(request: PushSubscriptionRequest, allow_local: bool) -> Result<PushTarget> {
    let bad = |why: &str| Error::BadRequest(why.to_owned());
    match request {
        PushSubscriptionRequest::Webpush { endpoint, keys } => {
            let url = url::Url::parse(&endpoint).map_err(|_| bad("endpoint must be a URL"))?;
            if !crate::ports::push::endpoint_allowed(&url, allow_local) {
                return Err(bad(
                    "endpoint must be an https URL of a push service on the internet",
                ));
            }
            if endpoint.len() > MAX_ENDPOINT_LEN {
                return Err(bad("endpoint must be at most 1024 characters"));
            }
            let decoded = |key: &str| URL_SAFE_NO_PAD.decode(key.trim_end_matches('=')).ok();
            if decoded(&keys.p256dh).is_none_or(|k| k.len() != 65 || k[0] != 4) {
                return Err(bad(
                    "keys.p256dh must be an uncompressed P-256 public key, base64url",
                ));
            }
            if decoded(&keys.auth).is_none_or(|k| k.len() != 16) {
                return Err(bad("keys.auth must be 16 bytes, base64url"));
            }
            Ok(PushTarget::WebPush {
                endpoint,
                p256dh: keys.p256dh,
                auth: keys.auth,
            })
        }
        PushSubscriptionRequest::Expo { token } => {
            let inner = ["ExponentPushToken[", "ExpoPushToken["]
                .iter()
                .find_map(|prefix| token.strip_prefix(prefix)?.strip_suffix(']'));
            let plausible = inner.is_some_and(|inner| {
                !inner.is_empty()
                    && inner
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
            if !plausible || token.len() > MAX_EXPO_TOKEN_LEN {
                return Err(bad(
                    "token must be an Expo push token, ExponentPushToken[…]",
                ));
            }
            Ok(PushTarget::Expo { token })
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::WebPushKeys;

    use super::*;

    fn web(endpoint: &str, p256dh: &str, auth: &str) -> PushSubscriptionRequest {
        PushSubscriptionRequest::Webpush {
            endpoint: endpoint.into(),
            keys: WebPushKeys {
                p256dh: p256dh.into(),
                auth: auth.into(),
            },
        }
    }

    #[test]
    fn only_reachable_targets_are_taken() {
        let key = URL_SAFE_NO_PAD.encode([[4u8].as_slice(), &[7; 64]].concat());
        let auth = URL_SAFE_NO_PAD.encode([9u8; 16]);
        let endpoint = "https://push.example.com/send/abc";
        assert!(checked_target(web(endpoint, &key, &auth), false).is_ok());
        for (endpoint, key, auth) in [
            ("http://push.example.com/x", key.as_str(), auth.as_str()),
            ("not a url", &key, &auth),
            ("https://127.0.0.1/x", &key, &auth),
            ("https://localhost:8443/x", &key, &auth),
            (endpoint, "AAAA", &auth),
            (endpoint, &key, "AAAA"),
        ] {
            assert!(
                checked_target(web(endpoint, key, auth), false).is_err(),
                "{endpoint} {key} {auth}"
            );
        }
        let long = format!("https://push.example.com/{}", "a".repeat(1100));
        assert!(checked_target(web(&long, &key, &auth), false).is_err());
        let checked_target_expo = |token: &str| {
            checked_target(
                PushSubscriptionRequest::Expo {
                    token: token.into(),
                },
                false,
            )
        };
        assert!(checked_target_expo("ExponentPushToken[xxxxxxxxxxxxxxxxxxxxxx]").is_ok());
        assert!(checked_target_expo("ExponentPushToken[]").is_err());
        assert!(checked_target_expo("ExponentPushToken[<script>]").is_err());
        assert!(checked_target_expo("whatever").is_err());
    }
}
