//! Setup over REST: registering users, signing in and making rooms.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

/// Every account of a run has this password; it is a benchmark, not a secret.
pub const PASSWORD: &str = "loadgen-password";

/// A registered user and the token its sockets authenticate with.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub token: String,
}

/// A refused request, with what the server said.
#[derive(Debug)]
pub struct Refused {
    pub status: StatusCode,
    pub code: String,
    pub retry_after: Option<String>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {}", self.status.as_u16(), self.code)?;
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            write!(
                f,
                " (rate limited, Retry-After {}): start the server with higher limits \
                 (CONFAB_AUTH_PER_IP_PER_MIN, CONFAB_LOGINS_PER_ACCOUNT_PER_MIN)",
                self.retry_after.as_deref().unwrap_or("?")
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}

/// A tag unique to this run, so usernames never collide with an earlier run's.
pub fn run_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{:x}{:x}", millis % 0xffff_ffff, std::process::id() % 0xfff)
}

/// One HTTP client for the run: keep-alive connections, no proxy (loopback only).
pub fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()?)
}

#[derive(Deserialize)]
struct AuthAnswer {
    user: UserId,
    token: String,
}

#[derive(Deserialize)]
struct UserId {
    id: String,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: ErrorCode,
}

#[derive(Deserialize)]
struct ErrorCode {
    code: String,
}

async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: serde_json::Value,
) -> Result<reqwest::Response> {
    let mut request = http.post(&url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let code = response
        .json::<ErrorAnswer>()
        .await
        .map_or_else(|_| "(no error body)".to_owned(), |e| e.error.code);
    Err(Refused {
        status,
        code,
        retry_after,
    })
    .with_context(|| format!("POST {url}"))
}

/// `POST /api/v1/auth/register`.
pub async fn register(http: &reqwest::Client, base: &str, username: &str) -> Result<Account> {
    let body = json!({"username": username, "password": PASSWORD, "display_name": username});
    authenticate(http, format!("{base}/api/v1/auth/register"), body).await
}

/// `POST /api/v1/auth/login`.
pub async fn login(http: &reqwest::Client, base: &str, username: &str) -> Result<Account> {
    let body = json!({"username": username, "password": PASSWORD});
    authenticate(http, format!("{base}/api/v1/auth/login"), body).await
}

/// Registration and sign-in answer alike: `{user, token}`.
async fn authenticate(http: &reqwest::Client, url: String, body: Value) -> Result<Account> {
    let answer: AuthAnswer = post(http, url, None, body).await?.json().await?;
    Ok(Account {
        id: answer.user.id,
        token: answer.token,
    })
}

/// Registers `count` users named `lg<run>u<i>`, `concurrency` at a time, in order.
pub async fn register_many(
    http: &reqwest::Client,
    base: &str,
    run: &str,
    count: usize,
    concurrency: usize,
) -> Result<Vec<Account>> {
    stream::iter(0..count)
        .map(|i| async move {
            register(http, base, &format!("lg{run}u{i}"))
                .await
                .with_context(|| format!("registering user {i} of {count}"))
        })
        .buffered(concurrency)
        .try_collect()
        .await
}

#[derive(Deserialize)]
struct RoomAnswer {
    id: String,
}

/// Splits `accounts` into consecutive groups of `room_size` (the last may be smaller, but
/// never a room of one: a lone remainder joins the room before it), each made by its first
/// member. Returns each room's id and member indexes.
pub async fn make_rooms(
    http: &reqwest::Client,
    base: &str,
    run: &str,
    accounts: &[Account],
    room_size: usize,
) -> Result<Vec<(String, Vec<usize>)>> {
    let mut groups: Vec<Vec<usize>> = (0..accounts.len())
        .collect::<Vec<_>>()
        .chunks(room_size)
        .map(<[usize]>::to_vec)
        .collect();
    if groups.len() > 1 && groups.last().is_some_and(|g| g.len() < 2) {
        let lone = groups.pop().unwrap_or_default();
        if let Some(previous) = groups.last_mut() {
            previous.extend(lone);
        }
    }
    let mut rooms = Vec::with_capacity(groups.len());
    for (r, members) in groups.into_iter().enumerate() {
        let Some((&owner, others)) = members.split_first() else {
            bail!("an empty room");
        };
        let member_ids: Vec<&str> = others.iter().map(|&m| accounts[m].id.as_str()).collect();
        let body = json!({"name": format!("lg{run}r{r}"), "member_ids": member_ids});
        let room: RoomAnswer = post(
            http,
            format!("{base}/api/v1/rooms"),
            Some(&accounts[owner].token),
            body,
        )
        .await
        .with_context(|| format!("creating room {r}"))?
        .json()
        .await?;
        rooms.push((room.id, members));
    }
    Ok(rooms)
}
