//! Push services: how a notification reaches a device with no live socket (API.md v1.1
//! "Push notifications"). One implementation speaks to the real services over HTTP
//! (`crate::adapters::push`): Web Push endpoints (RFC 8030, 8291, 8292) and the Expo push service.
//! Neither has an embedded twin, since a device is only reachable through its vendor's
//! service; the tests run loopback servers that speak those protocols.

use std::net::IpAddr;

use async_trait::async_trait;
use serde::Serialize;

use super::store::PushTarget;

/// What a push carries: the notification and nothing more of the message (API.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PushPayload {
    pub kind: &'static str,
    pub room_id: String,
    pub message_id: Option<String>,
    /// The room as the recipient sees it: the group's name, or the other person's.
    pub title: String,
    pub text: String,
}

impl PushPayload {
    /// A mention: worth waking a device for at once (Web Push `Urgency: high`, Expo
    /// `priority: high`).
    pub fn is_urgent(&self) -> bool {
        self.kind == "mention"
    }
}

/// What the push service made of one push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Taken: the service will deliver it.
    Accepted,
    /// The device is gone (`404`, `410`, Expo's `DeviceNotRegistered`): forget the
    /// subscription.
    Gone,
    /// Not taken this time (a `5xx`, `429`, a timeout): worth trying again later.
    Retry(String),
    /// Refused for good (a `4xx` that retrying will not change): drop this push.
    Refused(String),
}

#[async_trait]
pub trait PushGateway: Send + Sync {
    /// The application server key that browsers subscribe with (RFC 8292's `k`): an
    /// uncompressed P-256 point, base64url without padding. `None` while it is not known
    /// yet (it is kept in the store, and the store has not answered since start).
    fn vapid_public_key(&self) -> Option<&str>;
    /// Sends one push to one device.
    async fn send(&self, target: &PushTarget, payload: &PushPayload) -> Delivery;
}

/// Whether the server may `POST` to `url`: `https` and no address literal of a private
/// network, unless local endpoints are allowed. (Names are checked when they resolve.) The
/// core checks it when a device registers, the gateway again when it sends.
pub fn endpoint_allowed(url: &url::Url, allow_local: bool) -> bool {
    if allow_local {
        return matches!(url.scheme(), "https" | "http") && url.host().is_some();
    }
    if url.scheme() != "https" {
        return false;
    }
    match url.host() {
        Some(url::Host::Domain(name)) => !name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => is_public(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_public(IpAddr::V6(ip)),
        None => false,
    }
}

/// An address on the public internet: not loopback, private, link-local, shared (CGNAT),
/// documentation, multicast or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            !(ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_multicast()
                || ip.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(ip) => {
            if let Some(v4) = ip.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = ip.segments()[0];
            !(ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}
