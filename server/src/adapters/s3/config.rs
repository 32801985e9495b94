//! The S3 configuration, read from the environment, and its secret that never prints.

use std::fmt;

use anyhow::Context as _;

/// The region S3 assumes when a request names none; creating a bucket elsewhere must say so.
pub(super) const DEFAULT_REGION: &str = "us-east-1";

/// Where the bucket is and how to sign in to it.
#[derive(Clone, Debug)]
pub struct S3Config {
    /// The service's base URL, such as `http://127.0.0.1:8333`.
    pub endpoint: String,
    /// The base URL clients reach the service at, when it is not `endpoint` (nodes on an
    /// internal network, browsers outside it): presigned URLs use it.
    pub public_endpoint: Option<String>,
    /// The bucket holding every media object; created at start-up when missing.
    pub bucket: String,
    /// The signing region (`us-east-1` for most S3-compatible services).
    pub region: String,
    /// The access key id of the static credentials.
    pub access_key_id: String,
    /// The secret access key of the static credentials.
    pub secret_access_key: SecretKey,
}

impl S3Config {
    /// Reads `S3_ENDPOINT`, `S3_PUBLIC_ENDPOINT` (optional), `S3_BUCKET`, `S3_REGION`
    /// (default `us-east-1`),
    /// `S3_ACCESS_KEY_ID` and `S3_SECRET_ACCESS_KEY`. `None` when `S3_ENDPOINT` is unset or
    /// empty (media then stays embedded); an error when it is set but the rest is incomplete.
    pub fn from_env() -> Option<anyhow::Result<Self>> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`S3Config::from_env`] over any source of variables.
    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<anyhow::Result<Self>> {
        let var = |name: &str| var(name).filter(|value| !value.is_empty());
        let endpoint = var("S3_ENDPOINT")?;
        Some(Self::complete(&endpoint, &var))
    }

    /// The configuration of `endpoint`, with the other variables required.
    fn complete(endpoint: &str, var: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let required =
            |name: &str| var(name).with_context(|| format!("S3_ENDPOINT is set but {name} is not"));
        Ok(Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            public_endpoint: var("S3_PUBLIC_ENDPOINT")
                .map(|url| url.trim_end_matches('/').to_owned()),
            bucket: required("S3_BUCKET")?,
            region: var("S3_REGION").unwrap_or_else(|| DEFAULT_REGION.to_owned()),
            access_key_id: required("S3_ACCESS_KEY_ID")?,
            secret_access_key: SecretKey(required("S3_SECRET_ACCESS_KEY")?),
        })
    }
}

/// A secret that never prints: its `Debug` shows `<redacted>`, so a logged config is safe.
#[derive(Clone)]
pub struct SecretKey(String);

impl SecretKey {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for the one place that signs with it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config_from(vars: &[(&str, &str)]) -> Option<anyhow::Result<S3Config>> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        S3Config::from_vars(|name| vars.get(name).cloned())
    }

    const FULL: [(&str, &str); 4] = [
        ("S3_ENDPOINT", "http://127.0.0.1:8333/"),
        ("S3_BUCKET", "media"),
        ("S3_ACCESS_KEY_ID", "AKID"),
        ("S3_SECRET_ACCESS_KEY", "hunter2"),
    ];

    #[test]
    fn no_endpoint_means_no_s3() {
        assert!(config_from(&[]).is_none());
        assert!(config_from(&[("S3_ENDPOINT", ""), ("S3_BUCKET", "media")]).is_none());
    }

    #[test]
    fn a_full_environment_reads_with_the_default_region() {
        let config = config_from(&FULL).expect("configured").expect("complete");
        assert_eq!(config.endpoint, "http://127.0.0.1:8333");
        assert_eq!(config.public_endpoint, None);
        assert_eq!(config.bucket, "media");
        assert_eq!(config.region, "us-east-1");
        assert_eq!(config.secret_access_key.expose(), "hunter2");
    }

    #[test]
    fn an_endpoint_without_credentials_is_an_error_naming_the_missing_variable() {
        let error = config_from(&FULL[..3])
            .expect("configured")
            .expect_err("incomplete");
        assert!(
            error.to_string().contains("S3_SECRET_ACCESS_KEY"),
            "{error}"
        );
    }

    #[test]
    fn the_secret_never_prints() {
        let config = config_from(&FULL).expect("configured").expect("complete");
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
    }
}
