//! Push subscriptions (API.md v1.1 "Push notifications"): where a push service reaches a
//! device that has no live socket, registered by the device with its session and ended
//! with it (logout, a revoke, a password change, account deletion).
//!
//! Only registration lives here so far. Nothing is pushed yet: sending (Web Push payloads
//! encrypted per RFC 8291 with VAPID per RFC 8292, and the Expo push service) is still to
//! come, and so is `GET /push/vapid-public-key`.

use app::protocol::{PushSubscriptionRequest, Timestamp, UserId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::Chat;
use crate::domain::new_id;
use crate::error::{Error, Result};
use crate::ports::store::{PushSubscriptionRecord, PushTarget};
use crate::secrets;

/// The most subscriptions one user keeps (devices and browsers together).
pub const MAX_SUBSCRIPTIONS_PER_USER: usize = 20;
/// The longest endpoint taken: push services' are a few hundred characters.
const MAX_ENDPOINT_LEN: usize = 1024;
const MAX_EXPO_TOKEN_LEN: usize = 256;

impl Chat {
    /// `POST /push/subscriptions` from the session of `token`: the subscription's id, and
    /// whether it is new (a repeat of the same endpoint or token answers the same id).
    pub async fn register_push(
        &self,
        user: &UserId,
        token: &str,
        request: PushSubscriptionRequest,
    ) -> Result<(String, bool)> {
        let target = checked_target(request)?;
        let now = Timestamp::now();
        let accounts = &self.ports.accounts;
        let existing = accounts.push_subscriptions(user, now).await?;
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
fn checked_target(request: PushSubscriptionRequest) -> Result<PushTarget> {
    let bad = |why: &str| Error::BadRequest(why.to_owned());
    match request {
        PushSubscriptionRequest::Webpush { endpoint, keys } => {
            let url = url::Url::parse(&endpoint).map_err(|_| bad("endpoint must be a URL"))?;
            if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) {
                return Err(bad("endpoint must be an https URL"));
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
    use app::protocol::WebPushKeys;

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
        assert!(checked_target(web(endpoint, &key, &auth)).is_ok());
        for (endpoint, key, auth) in [
            ("http://push.example.com/x", key.as_str(), auth.as_str()),
            ("not a url", &key, &auth),
            (endpoint, "AAAA", &auth),
            (endpoint, &key, "AAAA"),
        ] {
            assert!(
                checked_target(web(endpoint, key, auth)).is_err(),
                "{endpoint} {key} {auth}"
            );
        }
        let long = format!("https://push.example.com/{}", "a".repeat(1100));
        assert!(checked_target(web(&long, &key, &auth)).is_err());
        let expo = |token: &str| PushSubscriptionRequest::Expo {
            token: token.into(),
        };
        assert!(checked_target(expo("ExponentPushToken[xxxxxxxxxxxxxxxxxxxxxx]")).is_ok());
        assert!(checked_target(expo("ExponentPushToken[]")).is_err());
        assert!(checked_target(expo("ExponentPushToken[<script>]")).is_err());
        assert!(checked_target(expo("whatever")).is_err());
    }
}
