//! The web app's session cookie, which both edges read: REST requests (`http::auth`) and the
//! Socket.IO handshake (`realtime::handshake`). It carries the same token as the bearer
//! header, HttpOnly so page scripts never see it.

use axum::http::HeaderValue;

pub const SESSION_COOKIE: &str = "confab_session";

/// The session token in one `Cookie` header, if it has ours.
pub fn session_cookie(header: &str) -> Option<String> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_owned())
    })
}

/// `Set-Cookie` for a new session: HttpOnly so scripts cannot read it, SameSite=Lax so other
/// sites' forms and frames do not carry it.
pub fn set_session_cookie(token: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age_secs}{secure}"
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn clear_session_cookie() -> HeaderValue {
    HeaderValue::from_static("confab_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0")
}
