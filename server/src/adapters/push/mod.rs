//! The push services over HTTP (the `PushGateway` port): Web Push for browsers and
//! installed PWAs (RFC 8030 delivery, RFC 8291 payload encryption, RFC 8292 VAPID), and the
//! Expo push service for React Native apps.
//!
//! Every endpoint a device registers is an address the server will `POST` to, so it is an
//! address an attacker could choose. Unless `CONFAB_PUSH_ALLOW_LOCAL` is set, only `https`
//! endpoints on public addresses are contacted: host names are resolved here and a name
//! that resolves to a loopback, private or link-local address is refused, and redirects are
//! never followed.

mod vapid;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::json;

pub use vapid::Vapid;

use crate::config::PushConfig;
use crate::ports::push::{Delivery, PushGateway, PushPayload, endpoint_allowed, is_public};
use crate::ports::store::PushTarget;

/// How long a push service keeps a push for a device that is offline (RFC 8030 `TTL`): a
/// day; a chat notification older than that is news the app will show anyway.
const TTL_SECS: u32 = 24 * 60 * 60;
/// The longest one push may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Web Push and Expo, over one HTTP client.
pub struct HttpPushGateway {
    http: reqwest::Client,
    /// Set once, when the key is known (see [`HttpPushGateway::set_vapid`]).
    vapid: OnceLock<Vapid>,
    expo_url: String,
    expo_access_token: Option<String>,
    allow_local: bool,
}

impl HttpPushGateway {
    /// A gateway that sends Web Push once [`HttpPushGateway::set_vapid`] gave it its key
    /// (Expo needs none).
    pub fn new(config: &PushConfig) -> anyhow::Result<Self> {
        let mut http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("confab/", env!("CARGO_PKG_VERSION")));
        if !config.allow_local {
            http = http.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            http: http.build().context("the push HTTP client")?,
            vapid: OnceLock::new(),
            expo_url: config.expo_url.clone(),
            expo_access_token: config.expo_access_token.clone(),
            allow_local: config.allow_local,
        })
    }

    /// The application server's key; the first one set stays.
    pub fn set_vapid(&self, vapid: Vapid) {
        let _ = self.vapid.set(vapid);
    }

    async fn web_push(
        &self,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
        payload: &PushPayload,
    ) -> Delivery {
        let url = match url::Url::parse(endpoint) {
            Ok(url) if endpoint_allowed(&url, self.allow_local) => url,
            _ => return Delivery::Refused("endpoint not allowed".into()),
        };
        let Some(vapid) = self.vapid.get() else {
            return Delivery::Retry("the VAPID key is not loaded yet".into());
        };
        let body = match encrypt(p256dh, auth, payload) {
            Ok(body) => body,
            Err(why) => return Delivery::Refused(why),
        };
        let urgency = if payload.is_urgent() {
            "high"
        } else {
            "normal"
        };
        let request = self
            .http
            .post(url.clone())
            .header("TTL", TTL_SECS)
            .header("Urgency", urgency)
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Authorization", vapid.authorization(&url))
            .body(body);
        match request.send().await {
            Ok(answer) => web_push_outcome(answer.status()),
            Err(err) => Delivery::Retry(without_url(err)),
        }
    }

    async fn expo(&self, token: &str, payload: &PushPayload) -> Delivery {
        let message = json!({
            "to": token,
            "title": payload.title,
            "body": payload.text,
            "data": payload,
            "sound": "default",
            "priority": if payload.is_urgent() { "high" } else { "default" },
            "ttl": TTL_SECS,
        });
        let mut request = self
            .http
            .post(&self.expo_url)
            .header("Accept", "application/json")
            .json(&message);
        if let Some(token) = &self.expo_access_token {
            request = request.bearer_auth(token);
        }
        let answer = match request.send().await {
            Ok(answer) => answer,
            Err(err) => return Delivery::Retry(without_url(err)),
        };
        let status = answer.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Delivery::Retry(format!("expo answered {status}"));
        }
        let body: serde_json::Value = answer.json().await.unwrap_or_default();
        expo_outcome(status, &body)
    }
}

#[async_trait]
impl PushGateway for HttpPushGateway {
    fn vapid_public_key(&self) -> Option<&str> {
        self.vapid.get().map(Vapid::public_key)
    }

    async fn send(&self, target: &PushTarget, payload: &PushPayload) -> Delivery {
        match target {
            PushTarget::WebPush {
                endpoint,
                p256dh,
                auth,
            } => self.web_push(endpoint, p256dh, auth, payload).await,
            PushTarget::Expo { token } => self.expo(token, payload).await,
        }
    }
}

/// The payload, encrypted for the device's keys (RFC 8291, `aes128gcm`).
fn encrypt(p256dh: &str, auth: &str, payload: &PushPayload) -> Result<Vec<u8>, String> {
    let decode = |text: &str| URL_SAFE_NO_PAD.decode(text.trim_end_matches('='));
    let key = decode(p256dh)
        .ok()
        .and_then(|key| web_push_native::p256::PublicKey::from_sec1_bytes(&key).ok())
        .ok_or("the subscription's p256dh is not a P-256 key")?;
    let auth = decode(auth)
        .ok()
        .filter(|auth| auth.len() == 16)
        .ok_or("the subscription's auth secret is not 16 bytes")?;
    let auth = web_push_native::Auth::clone_from_slice(&auth);
    let body = serde_json::to_vec(payload).map_err(|err| err.to_string())?;
    web_push_native::encrypt(body, &key, &auth).map_err(|err| err.to_string())
}

/// What a push service's answer to a push means (RFC 8030 §5, §6.2).
fn web_push_outcome(status: StatusCode) -> Delivery {
    match status.as_u16() {
        200..=299 => Delivery::Accepted,
        404 | 410 => Delivery::Gone,
        429 | 500..=599 => Delivery::Retry(format!("push service answered {status}")),
        _ => Delivery::Refused(format!("push service answered {status}")),
    }
}

/// What the Expo service's answer means: a ticket of `status: "ok"`, or an error whose
/// `details.error` says whether the device is gone.
fn expo_outcome(status: StatusCode, body: &serde_json::Value) -> Delivery {
    // One message sent: `data` is its ticket (a list of one for a list).
    let ticket = match &body["data"] {
        serde_json::Value::Array(tickets) => tickets.first().cloned().unwrap_or_default(),
        ticket => ticket.clone(),
    };
    match ticket["status"].as_str() {
        Some("ok") => Delivery::Accepted,
        Some("error") => match ticket["details"]["error"].as_str() {
            Some("DeviceNotRegistered") => Delivery::Gone,
            Some("MessageRateExceeded") => Delivery::Retry("expo: MessageRateExceeded".into()),
            Some(other) => Delivery::Refused(format!("expo: {other}")),
            None => Delivery::Refused("expo: error without details".into()),
        },
        _ => Delivery::Refused(format!("expo answered {status} without a ticket")),
    }
}

/// A resolver that answers only public addresses, so a registered name cannot point the
/// server at its own network.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let public: Vec<SocketAddr> = found.filter(|addr| is_public(addr.ip())).collect();
            if public.is_empty() {
                return Err(format!("{} has no public address", name.as_str()).into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// A request error without the endpoint's URL: the URL is the device's capability.
fn without_url(err: reqwest::Error) -> String {
    err.without_url().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_https_endpoints_are_contacted() {
        let allowed = |url: &str, local| endpoint_allowed(&url.parse().expect("url"), local);
        assert!(allowed("https://fcm.googleapis.com/fcm/send/x", false));
        assert!(allowed("https://8.8.8.8/x", false));
        for url in [
            "http://fcm.googleapis.com/x",
            "https://localhost/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/x",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://[::ffff:192.168.0.1]/x",
        ] {
            assert!(!allowed(url, false), "{url}");
        }
        assert!(allowed("http://127.0.0.1:9000/x", true));
        assert!(!allowed("ftp://127.0.0.1/x", true));
    }

    #[test]
    fn answers_map_to_outcomes() {
        assert_eq!(web_push_outcome(StatusCode::CREATED), Delivery::Accepted);
        assert_eq!(web_push_outcome(StatusCode::GONE), Delivery::Gone);
        assert_eq!(web_push_outcome(StatusCode::NOT_FOUND), Delivery::Gone);
        assert!(matches!(
            web_push_outcome(StatusCode::SERVICE_UNAVAILABLE),
            Delivery::Retry(_)
        ));
        assert!(matches!(
            web_push_outcome(StatusCode::PAYLOAD_TOO_LARGE),
            Delivery::Refused(_)
        ));
        let ok = json!({"data": {"status": "ok", "id": "abc"}});
        assert_eq!(expo_outcome(StatusCode::OK, &ok), Delivery::Accepted);
        let gone = json!({"data": [{"status": "error", "message": "not registered",
            "details": {"error": "DeviceNotRegistered"}}]});
        assert_eq!(expo_outcome(StatusCode::OK, &gone), Delivery::Gone);
        assert!(matches!(
            expo_outcome(StatusCode::BAD_REQUEST, &json!({"errors": []})),
            Delivery::Refused(_)
        ));
    }
}
