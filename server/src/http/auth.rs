//! Who is calling: a bearer token, or the web app's HttpOnly session cookie (with the CSRF
//! header on anything that changes state). Also the caller's network address, for rate limits.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::Method;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use protocol::UserId;

use super::AppState;
use crate::error::Error;

pub use crate::session_cookie::{
    SESSION_COOKIE, clear_session_cookie, session_cookie, set_session_cookie,
};

pub const CSRF_HEADER: &str = "x-requested-with";
const CSRF_VALUE: &str = "confab";

/// The signed-in caller.
pub struct AuthUser {
    pub id: UserId,
    /// The presented token, so logout can end exactly this session.
    pub token: String,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let token = if let Some(token) = bearer(parts) {
            token
        } else if let Some(token) = parts
            .headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(session_cookie)
        {
            let changes_state =
                !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
            let has_csrf_header = parts
                .headers
                .get(CSRF_HEADER)
                .is_some_and(|v| v.as_bytes() == CSRF_VALUE.as_bytes());
            if changes_state && !has_csrf_header {
                return Err(Error::Forbidden(
                    "a cookie-authenticated request that changes state needs the header X-Requested-With: confab",
                ));
            }
            token
        } else {
            return Err(Error::Unauthorized("missing token"));
        };
        let id = state.chat.authenticate(&token).await?;
        Ok(Self { id, token })
    }
}

fn bearer(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The caller's address: the peer, or behind a trusted proxy the last `X-Forwarded-For` hop
/// (the one the proxy itself appended; earlier hops are the client's to invent).
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        if state.config.trust_proxy
            && let Some(ip) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|hop| hop.trim().parse().ok())
        {
            return Ok(Self(ip));
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(Self(peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        assert_eq!(
            session_cookie("a=1; confab_session=tok; b=2").as_deref(),
            Some("tok")
        );
        assert_eq!(session_cookie("confab_session_x=tok"), None);
        assert_eq!(session_cookie("confab_session="), None);
    }
}
