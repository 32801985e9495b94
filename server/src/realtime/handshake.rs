//! Who is connecting: the Socket.IO handshake's token, or the browser's session cookie from a
//! page of an allowed origin.

use axum::http::HeaderMap;
use axum::http::header::{COOKIE, HOST, ORIGIN};
use protocol::{ErrorBody, ErrorCode, UserId};
use serde_json::Value;

use crate::session_cookie::session_cookie;

/// The authenticated user of a socket, kept in its extensions.
#[derive(Clone, Debug)]
pub struct SocketUser(pub UserId);

/// A refused handshake. socketioxide sends its `Display` as the `message` of the
/// `connect_error` packet and cannot attach a `data` object, so the message is the JSON text
/// of the API's error body: `JSON.parse(err.message).error.code` (see docs/clients.md).
#[derive(Debug)]
pub struct Refusal(pub ErrorBody);

impl Refusal {
    pub fn new(code: ErrorCode, message: &str) -> Self {
        Self(ErrorBody::new(code, message))
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_json::to_string(&self.0).unwrap_or_default())
    }
}

/// Which page origins may open a cookie-authenticated socket.
#[derive(Clone, Debug)]
pub struct OriginPolicy {
    allowed: Vec<String>,
}

impl OriginPolicy {
    pub fn new(public_origin: &str, extra: &[String]) -> Self {
        let mut allowed = vec![public_origin.to_owned()];
        allowed.extend(extra.iter().cloned());
        Self { allowed }
    }

    /// A browser sends `Origin` on WebSocket and cross-origin requests; it must be ours (the
    /// configured origins, or the host the request was sent to). Without `Origin` the request
    /// did not come from another site's script.
    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(ORIGIN).and_then(|o| o.to_str().ok()) else {
            return true;
        };
        if self.allowed.iter().any(|a| a == origin) {
            return true;
        }
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        !host.is_empty()
            && (origin == format!("http://{host}") || origin == format!("https://{host}"))
    }
}

/// The credential a handshake offers.
pub enum Credential {
    Token(String),
    Cookie(String),
}

/// Picks the credential: `auth.token` first, else the session cookie (only from an allowed
/// origin, so another site cannot ride a user's cookie).
pub fn credential(
    auth: Option<&Value>,
    headers: &HeaderMap,
    origins: &OriginPolicy,
) -> Result<Credential, Refusal> {
    if let Some(token) = auth.and_then(|a| a.get("token")).and_then(Value::as_str) {
        return Ok(Credential::Token(token.to_owned()));
    }
    let cookie = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(session_cookie);
    match cookie {
        Some(_) if !origins.allows(headers) => Err(Refusal::new(
            ErrorCode::Forbidden,
            "this origin may not connect",
        )),
        Some(token) => Ok(Credential::Cookie(token)),
        None => Err(Refusal::new(ErrorCode::Unauthorized, "missing token")),
    }
}
