//! Configuration: one typed struct, read once from the environment at start-up.
//! Every variable is documented in `.env.example`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

#[derive(Clone, Debug)]
pub struct Config {
    /// `CONFAB_ADDR`: where the node listens.
    pub addr: SocketAddr,
    /// `CONFAB_DATA_DIR`: the embedded store's folder.
    pub data_dir: PathBuf,
    /// `CONFAB_PUBLIC_URL`: how users reach this deployment; invite links and the
    /// browser origin check are derived from it.
    pub public_url: String,
    /// `CONFAB_ALLOWED_ORIGINS`: extra origins (comma separated) of web clients: they may
    /// open a cookie-authenticated socket and call `/api/v1` across origins (CORS).
    pub allowed_origins: Vec<String>,
    /// `CONFAB_SITE_ROOT`: the built web app (`pkg/`, icons, manifest).
    pub site_root: PathBuf,
    /// `CONFAB_COOKIE_SECURE`: mark the session cookie `Secure` (set it behind HTTPS).
    pub cookie_secure: bool,
    /// `CONFAB_TRUST_PROXY`: take the client address from `X-Forwarded-For` (only behind a
    /// reverse proxy that sets it; otherwise clients could pick their own rate-limit key).
    pub trust_proxy: bool,
    /// `CONFAB_LOG_FORMAT=json`: one JSON object per log line.
    pub log_json: bool,
    /// `CONFAB_METRICS_ADDR`: where `GET /metrics` is served (Prometheus' text format), on
    /// a listener of its own; unset, nowhere.
    pub metrics_addr: Option<SocketAddr>,
    pub limits: Limits,
    pub services: Services,
    pub push: PushConfig,
    pub app_links: AppLinks,
}

/// The native apps that open invite links (`/invite/{code}`) instead of the browser: served
/// as `/.well-known/assetlinks.json` (Android App Links) and
/// `/.well-known/apple-app-site-association` (iOS universal links). Unset, neither exists.
#[derive(Clone, Debug, Default)]
pub struct AppLinks {
    /// `CONFAB_ANDROID_PACKAGE`: the Android app's package name (`com.example.confab`).
    pub android_package: Option<String>,
    /// `CONFAB_ANDROID_CERT_SHA256`: the SHA-256 fingerprints of its signing certificates,
    /// comma separated, each as 32 colon-separated hex bytes (what `keytool` prints).
    pub android_fingerprints: Vec<String>,
    /// `CONFAB_IOS_APP_IDS`: the iOS apps, comma separated, each `TEAMID.bundle.id`.
    pub ios_app_ids: Vec<String>,
}

impl AppLinks {
    fn from_env() -> anyhow::Result<Self> {
        let links = Self {
            android_package: var("CONFAB_ANDROID_PACKAGE").map(|p| p.trim().to_owned()),
            android_fingerprints: list("CONFAB_ANDROID_CERT_SHA256")
                .into_iter()
                .map(|f| f.to_ascii_uppercase())
                .collect(),
            ios_app_ids: list("CONFAB_IOS_APP_IDS"),
        };
        links.check()?;
        Ok(links)
    }

    /// Refuses what the platforms would silently ignore.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(package) = &self.android_package {
            let valid = package.split('.').count() >= 2
                && package.split('.').all(|part| {
                    part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                        && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            anyhow::ensure!(
                valid,
                "CONFAB_ANDROID_PACKAGE must be a package name such as com.example.confab"
            );
            anyhow::ensure!(
                !self.android_fingerprints.is_empty(),
                "CONFAB_ANDROID_PACKAGE needs CONFAB_ANDROID_CERT_SHA256"
            );
        }
        for fingerprint in &self.android_fingerprints {
            let bytes: Vec<&str> = fingerprint.split(':').collect();
            anyhow::ensure!(
                bytes.len() == 32
                    && bytes
                        .iter()
                        .all(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit())),
                "CONFAB_ANDROID_CERT_SHA256 must list fingerprints of 32 colon-separated hex \
                 bytes (AB:CD:…)"
            );
        }
        for id in &self.ios_app_ids {
            let valid = id.split_once('.').is_some_and(|(team, bundle)| {
                team.len() == 10
                    && team.chars().all(|c| c.is_ascii_alphanumeric())
                    && !bundle.is_empty()
                    && bundle
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            });
            anyhow::ensure!(
                valid,
                "CONFAB_IOS_APP_IDS must list app ids as TEAMID.bundle.id (a 10-character team id)"
            );
        }
        Ok(())
    }
}

/// Push notifications (API.md v1.1): the VAPID key and contact, the Expo push service.
#[derive(Clone)]
pub struct PushConfig {
    /// `CONFAB_VAPID_PRIVATE_KEY`: the application server's P-256 private key, 32 bytes in
    /// base64url. Unset, one is made at first start and kept in the store, so every node
    /// of a deployment signs with the same key. Changing it orphans every browser's
    /// subscription.
    pub vapid_private_key: Option<String>,
    /// `CONFAB_VAPID_SUBJECT`: a `mailto:` or `https:` contact for push services (RFC 8292
    /// `sub`). Default: the public URL.
    pub vapid_subject: Option<String>,
    /// `CONFAB_EXPO_PUSH_URL`: the Expo push service's send endpoint.
    pub expo_url: String,
    /// `CONFAB_EXPO_ACCESS_TOKEN`: sent as a bearer token when the Expo project requires
    /// one.
    pub expo_access_token: Option<String>,
    /// `CONFAB_PUSH_ALLOW_LOCAL`: accept and contact `http` endpoints and those on loopback
    /// or private addresses (a push service on this machine, for development and tests).
    /// Off, such endpoints are refused at registration and never contacted.
    pub allow_local: bool,
}

/// The Expo push service's send endpoint.
pub const EXPO_PUSH_URL: &str = "https://exp.host/--/api/v2/push/send";

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            vapid_private_key: None,
            vapid_subject: None,
            expo_url: EXPO_PUSH_URL.into(),
            expo_access_token: None,
            allow_local: false,
        }
    }
}

impl PushConfig {
    fn from_env() -> anyhow::Result<Self> {
        let subject = var("CONFAB_VAPID_SUBJECT");
        if let Some(subject) = &subject {
            anyhow::ensure!(
                subject.starts_with("mailto:") || subject.starts_with("https://"),
                "CONFAB_VAPID_SUBJECT must be a mailto: or https: address"
            );
        }
        Ok(Self {
            vapid_private_key: var("CONFAB_VAPID_PRIVATE_KEY"),
            vapid_subject: subject,
            expo_url: var("CONFAB_EXPO_PUSH_URL").unwrap_or_else(|| EXPO_PUSH_URL.into()),
            expo_access_token: var("CONFAB_EXPO_ACCESS_TOKEN"),
            allow_local: flag("CONFAB_PUSH_ALLOW_LOCAL")?,
        })
    }
}

/// Keys and tokens stay out of logs.
impl std::fmt::Debug for PushConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConfig")
            .field(
                "vapid_private_key",
                &self.vapid_private_key.as_ref().map(|_| "<set>"),
            )
            .field("vapid_subject", &self.vapid_subject)
            .field("expo_url", &self.expo_url)
            .field(
                "expo_access_token",
                &self.expo_access_token.as_ref().map(|_| "<set>"),
            )
            .field("allow_local", &self.allow_local)
            .finish()
    }
}

/// The real services to run on. Each one set replaces its embedded twin; none set is the
/// embedded mode.
#[derive(Clone, Debug, Default)]
pub struct Services {
    /// `REDIS_URL`: Socket.IO fan-out across nodes, presence, rate limits.
    pub redis_url: Option<SecretUrl>,
    /// `KAFKA_BROKERS`: the event bus.
    pub kafka_brokers: Option<String>,
    /// `KAFKA_NAMESPACE` (default `confab`): the prefix of the topic (`{namespace}.events`)
    /// and of the consumer groups, so deployments can share a broker.
    pub kafka_namespace: String,
    /// `MONGODB_URL`: the store.
    pub mongodb_url: Option<SecretUrl>,
    /// `MONGODB_DATABASE`: the database within it (default `confab`).
    pub mongodb_database: String,
    /// `S3_ENDPOINT` and the other `S3_*`: media storage.
    pub s3: Option<crate::adapters::s3::S3Config>,
}

impl Services {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            redis_url: var("REDIS_URL").map(SecretUrl),
            kafka_brokers: var("KAFKA_BROKERS"),
            kafka_namespace: kafka_namespace(var("KAFKA_NAMESPACE"))?,
            mongodb_url: var("MONGODB_URL").map(SecretUrl),
            mongodb_database: var("MONGODB_DATABASE").unwrap_or_else(|| "confab".into()),
            s3: crate::adapters::s3::S3Config::from_env().transpose()?,
        })
    }
}

/// The default of `KAFKA_NAMESPACE`: the topic is `confab.events`, the groups `confab.*`.
pub const DEFAULT_KAFKA_NAMESPACE: &str = "confab";

/// `KAFKA_NAMESPACE`, checked: what a Kafka topic name may hold, with room for the suffixes.
fn kafka_namespace(value: Option<String>) -> anyhow::Result<String> {
    let Some(namespace) = value else {
        return Ok(DEFAULT_KAFKA_NAMESPACE.to_owned());
    };
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    anyhow::ensure!(
        (1..=100).contains(&namespace.len()) && namespace.chars().all(legal),
        "KAFKA_NAMESPACE must be 1 to 100 of a-z, A-Z, 0-9, '.', '_' and '-'"
    );
    Ok(namespace)
}

/// A connection URL that may carry a password: usable, but never printed.
#[derive(Clone)]
pub struct SecretUrl(pub String);

impl SecretUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretUrl(<redacted>)")
    }
}

/// Rate limits and input limits. The defaults suit people; tests tighten or loosen them.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Sign-ins and registrations from one client address per window.
    pub auth_per_ip: u32,
    /// Sign-in attempts on one account per window.
    pub login_per_account: u32,
    pub auth_window: Duration,
    /// Messages one user may send per window.
    pub sends_per_user: u32,
    pub send_window: Duration,
    /// `sync` calls (each may read 500 rooms), `typing` events and rooms created (groups and
    /// direct rooms) one user may make per `send_window`: generous for any client that
    /// follows the API, a bound for one that loops.
    pub syncs_per_user: u32,
    /// Searches one user may make per `send_window`.
    pub searches_per_user: u32,
    pub typing_per_user: u32,
    pub rooms_per_user: u32,
    /// People one user may add to groups, and block, per `send_window`.
    pub member_changes_per_user: u32,
    /// The most members a group may have (`CONFAB_MAX_GROUP_MEMBERS`).
    pub max_group_members: u32,
    /// Largest JSON body a REST request may carry.
    pub max_json_bytes: usize,
    /// Largest Socket.IO packet; beyond it the transport closes, so it sits well above any
    /// valid event and the events' own limits give the helpful errors.
    pub max_socket_payload: u64,
    /// How long a session token lives.
    pub session_ttl: Duration,
    /// Media: largest image and voice upload, the most pixels an image may decode to (a
    /// small file can claim a huge canvas: a decompression bomb), the longest voice message.
    pub max_image_bytes: u64,
    pub max_voice_bytes: u64,
    pub max_image_pixels: u64,
    pub max_voice_ms: u64,
    /// Uploads one user may start per window.
    pub uploads_per_user: u32,
    pub upload_window: Duration,
    /// How long an upload URL works.
    pub upload_url_ttl: Duration,
    /// How long a download URL (S3) works.
    pub download_url_ttl: Duration,
    /// Media that no message uses is deleted once it is this old, by a sweep this often.
    pub media_grace: Duration,
    pub media_sweep_every: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            auth_per_ip: 20,
            login_per_account: 10,
            auth_window: Duration::from_secs(60),
            sends_per_user: 30,
            send_window: Duration::from_secs(10),
            syncs_per_user: 60,
            searches_per_user: 30,
            typing_per_user: 60,
            rooms_per_user: 20,
            member_changes_per_user: 30,
            max_group_members: 10_000,
            max_json_bytes: 64 * 1024,
            max_socket_payload: 256 * 1024,
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            max_image_bytes: 10 * 1024 * 1024,
            max_voice_bytes: 8 * 1024 * 1024,
            max_image_pixels: 50_000_000,
            max_voice_ms: 5 * 60 * 1000,
            uploads_per_user: 60,
            upload_window: Duration::from_secs(60),
            upload_url_ttl: Duration::from_secs(15 * 60),
            download_url_ttl: Duration::from_secs(5 * 60),
            media_grace: Duration::from_secs(3600),
            media_sweep_every: Duration::from_secs(300),
        }
    }
}

impl Config {
    /// Defaults of the embedded mode: everything local, nothing to install.
    pub fn embedded(addr: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            public_url: format!("http://{addr}"),
            addr,
            data_dir,
            allowed_origins: Vec::new(),
            site_root: PathBuf::from("target/site"),
            cookie_secure: false,
            trust_proxy: false,
            log_json: false,
            metrics_addr: None,
            limits: Limits::default(),
            services: Services {
                mongodb_database: "confab".into(),
                kafka_namespace: DEFAULT_KAFKA_NAMESPACE.into(),
                ..Services::default()
            },
            push: PushConfig::default(),
            app_links: AppLinks::default(),
        }
    }

    /// Reads the environment; fails on a value that is set but malformed.
    pub fn from_env() -> anyhow::Result<Self> {
        let addr: SocketAddr = var("CONFAB_ADDR")
            .unwrap_or_else(|| "127.0.0.1:3000".into())
            .parse()
            .context("CONFAB_ADDR must be host:port")?;
        let data_dir = var("CONFAB_DATA_DIR")
            .unwrap_or_else(|| "./data".into())
            .into();
        let mut config = Self::embedded(addr, data_dir);
        if let Some(url) = var("CONFAB_PUBLIC_URL") {
            config.public_url = url.trim_end_matches('/').to_owned();
        }
        config.allowed_origins = list("CONFAB_ALLOWED_ORIGINS");
        if let Some(root) = var("CONFAB_SITE_ROOT").or_else(|| var("LEPTOS_SITE_ROOT")) {
            config.site_root = root.into();
        }
        config.cookie_secure = flag("CONFAB_COOKIE_SECURE")?;
        config.trust_proxy = flag("CONFAB_TRUST_PROXY")?;
        config.log_json = var("CONFAB_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
        config.metrics_addr = var("CONFAB_METRICS_ADDR")
            .map(|addr| addr.parse())
            .transpose()
            .context("CONFAB_METRICS_ADDR must be host:port")?;
        config.services = Services::from_env()?;
        config.push = PushConfig::from_env()?;
        config.app_links = AppLinks::from_env()?;
        let limits = &mut config.limits;
        limits.auth_per_ip = number("CONFAB_AUTH_PER_IP_PER_MIN", limits.auth_per_ip)?;
        limits.login_per_account = number(
            "CONFAB_LOGINS_PER_ACCOUNT_PER_MIN",
            limits.login_per_account,
        )?;
        limits.sends_per_user = number("CONFAB_SENDS_PER_USER_PER_10S", limits.sends_per_user)?;
        limits.syncs_per_user = number("CONFAB_SYNCS_PER_USER_PER_10S", limits.syncs_per_user)?;
        limits.searches_per_user =
            number("CONFAB_SEARCHES_PER_USER_PER_10S", limits.searches_per_user)?;
        limits.typing_per_user = number("CONFAB_TYPING_PER_USER_PER_10S", limits.typing_per_user)?;
        limits.rooms_per_user = number("CONFAB_ROOMS_PER_USER_PER_10S", limits.rooms_per_user)?;
        limits.member_changes_per_user = number(
            "CONFAB_MEMBER_CHANGES_PER_USER_PER_10S",
            limits.member_changes_per_user,
        )?;
        limits.max_group_members = number("CONFAB_MAX_GROUP_MEMBERS", limits.max_group_members)?;
        anyhow::ensure!(
            limits.max_group_members >= 2,
            "CONFAB_MAX_GROUP_MEMBERS must be at least 2"
        );
        limits.uploads_per_user =
            number("CONFAB_UPLOADS_PER_USER_PER_MIN", limits.uploads_per_user)?;
        let grace = number(
            "CONFAB_MEDIA_GRACE_SECS",
            u32::try_from(limits.media_grace.as_secs()).unwrap_or(u32::MAX),
        )?;
        limits.media_grace = Duration::from_secs(grace.into());
        // An upload may still arrive while its URL lives: collecting its media before then
        // would leave the late bytes with no record to clean them up.
        anyhow::ensure!(
            limits.media_grace >= limits.upload_url_ttl,
            "CONFAB_MEDIA_GRACE_SECS must be at least {} (an upload URL's lifetime)",
            limits.upload_url_ttl.as_secs()
        );
        Ok(config)
    }

    /// The browser origin of this deployment (`scheme://host[:port]`).
    pub fn public_origin(&self) -> &str {
        let after_scheme = self.public_url.find("://").map_or(0, |i| i + 3);
        match self.public_url[after_scheme..].find('/') {
            Some(slash) => &self.public_url[..after_scheme + slash],
            None => &self.public_url,
        }
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A comma-separated list; empty when unset.
fn list(name: &str) -> Vec<String> {
    var(name)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn number(name: &str, default: u32) -> anyhow::Result<u32> {
    var(name).map_or(Ok(default), |v| {
        v.trim()
            .parse()
            .with_context(|| format!("{name} must be a whole number, not {v:?}"))
    })
}

fn flag(name: &str) -> anyhow::Result<bool> {
    match var(name).as_deref() {
        None | Some("0" | "false" | "no") => Ok(false),
        Some("1" | "true" | "yes") => Ok(true),
        Some(other) => anyhow::bail!("{name} must be true or false, not {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_origin_drops_the_path() {
        let mut config = Config::embedded("127.0.0.1:3000".parse().expect("addr"), "d".into());
        assert_eq!(config.public_origin(), "http://127.0.0.1:3000");
        config.public_url = "https://chat.example.com/app".into();
        assert_eq!(config.public_origin(), "https://chat.example.com");
    }

    #[test]
    fn a_kafka_namespace_is_what_a_topic_name_may_hold() {
        assert_eq!(kafka_namespace(None).expect("default"), "confab");
        assert_eq!(
            kafka_namespace(Some("eu-1.confab_prod".into())).expect("legal"),
            "eu-1.confab_prod"
        );
        for bad in ["", "two words", "slash/ed", &"n".repeat(101)] {
            assert!(kafka_namespace(Some(bad.into())).is_err(), "{bad:?}");
        }
    }
}
