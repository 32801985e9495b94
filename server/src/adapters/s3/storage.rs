//! The media storage port on an S3 bucket, through the AWS SDK.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CorsConfiguration, CorsRule, CreateBucketConfiguration,
};
use bytes::Bytes;

use super::S3Config;
use super::config::DEFAULT_REGION;
use crate::ports::media::{check_content_type, check_key};
use crate::ports::{HealthCheck, MediaStorage, ObjectInfo, PortError, PortResult, UploadTarget};

/// A refused connection fails fast; a slow but live service gets a while.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Per attempt, until the response headers arrive (bodies then stream without this limit).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Media stored in one S3 bucket.
pub struct S3MediaStorage {
    client: Client,
    /// Signs the URLs clients use: `client`, or one for `S3Config::public_endpoint`.
    /// Presigning happens locally, so this one never connects.
    presigner: Client,
    bucket: String,
}

impl S3MediaStorage {
    /// Builds the client and makes sure the bucket exists, creating it when it is missing
    /// and the credentials may. Fails when the service cannot be reached.
    pub async fn connect(config: S3Config) -> anyhow::Result<Self> {
        let storage = Self::new(&config);
        storage.ensure_bucket(&config.region).await?;
        Ok(storage)
    }

    /// The client alone, without asking the service anything (see `connect`).
    pub fn new(config: &S3Config) -> Self {
        let presigner = match &config.public_endpoint {
            Some(public) => client(&S3Config {
                endpoint: public.clone(),
                ..config.clone()
            }),
            None => client(config),
        };
        Self {
            client: client(config),
            presigner,
            bucket: config.bucket.clone(),
        }
    }

    /// Lets pages of `origins` PUT uploads to and GET media from the bucket (a browser's
    /// cross-origin request needs the bucket's CORS rules to allow it). Rules already there
    /// are kept: when none of them covers these origins, one is added beside them. A service
    /// that does not take CORS rules is logged, not fatal: its operator sets them.
    pub async fn allow_browser_origins(&self, origins: &[String]) {
        // No rules yet is an error answer (NoSuchCORSConfiguration): start from none.
        let existing = match self
            .client
            .get_bucket_cors()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(answer) => answer.cors_rules.unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let covers = |rule: &CorsRule| {
            rule.allowed_methods.iter().any(|m| m == "PUT")
                && origins.iter().all(|origin| {
                    rule.allowed_origins
                        .iter()
                        .any(|allowed| allowed == "*" || allowed == origin)
                })
        };
        if existing.iter().any(covers) {
            return;
        }
        let rule = CorsRule::builder()
            .set_allowed_origins(Some(origins.to_vec()))
            .allowed_methods("GET")
            .allowed_methods("HEAD")
            .allowed_methods("PUT")
            .allowed_headers("content-type")
            .expose_headers("ETag")
            .max_age_seconds(3600)
            .build();
        let configuration = rule.and_then(|rule| {
            CorsConfiguration::builder()
                .set_cors_rules(Some(existing))
                .cors_rules(rule)
                .build()
        });
        let configuration = match configuration {
            Ok(configuration) => configuration,
            Err(err) => {
                tracing::warn!(error = %err, "S3 CORS rules not built");
                return;
            }
        };
        let put = self
            .client
            .put_bucket_cors()
            .bucket(&self.bucket)
            .cors_configuration(configuration)
            .send()
            .await;
        if let Err(err) = put {
            tracing::warn!(
                bucket = %self.bucket,
                error = %DisplayErrorContext(err),
                "S3 refused the CORS rules; browsers cannot upload until the bucket allows this origin"
            );
        }
    }

    /// Creates the bucket unless it exists. A refused check (403) stops the start: a HEAD
    /// answer has no body to tell wrong keys from a key without `s3:ListBucket`, and the
    /// health check needs that permission anyway.
    pub async fn ensure_bucket(&self, region: &str) -> anyhow::Result<()> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => return Ok(()),
            Err(err) if status(&err) == Some(404) => {}
            Err(err) if status(&err) == Some(403) => anyhow::bail!(
                "S3 refused access to bucket {} (403): wrong keys, or no s3:ListBucket on it",
                self.bucket
            ),
            Err(err) => anyhow::bail!("S3 bucket {}: {}", self.bucket, DisplayErrorContext(err)),
        }
        let mut create = self.client.create_bucket().bucket(&self.bucket);
        if region != DEFAULT_REGION {
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        match create.send().await {
            Ok(_) => {
                tracing::info!(bucket = %self.bucket, "created the S3 bucket");
                Ok(())
            }
            // Another node, starting at the same moment, created it first.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
            {
                Ok(())
            }
            Err(err) => anyhow::bail!(
                "creating S3 bucket {}: {}",
                self.bucket,
                DisplayErrorContext(err)
            ),
        }
    }
}

#[async_trait]
impl MediaStorage for S3MediaStorage {
    async fn upload_target(
        &self,
        key: &str,
        content_type: &str,
        bytes: u64,
        expires_in: Duration,
    ) -> PortResult<UploadTarget> {
        check_key(key)?;
        check_content_type(content_type)?;
        // The content type and the size are signed headers: a PUT with another is refused,
        // so a client cannot store more than it declared.
        let presigned = self
            .presigner
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(i64::try_from(bytes).unwrap_or(i64::MAX))
            .presigned(presigning(expires_in)?)
            .await
            .map_err(store_error)?;
        let mut headers: BTreeMap<String, String> = presigned
            .headers()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
            .collect();
        headers
            .entry("content-type".to_owned())
            .or_insert_with(|| content_type.to_owned());
        Ok(UploadTarget {
            url: presigned.uri().to_owned(),
            headers,
        })
    }

    async fn put(&self, key: &str, content_type: &str, bytes: Bytes) -> PortResult<()> {
        check_key(key)?;
        check_content_type(content_type)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(bytes.into())
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn head(&self, key: &str) -> PortResult<Option<ObjectInfo>> {
        check_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => Ok(Some(ObjectInfo {
                bytes: size_of(object.content_length())?,
                content_type: object.content_type().map(str::to_owned),
            })),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(store_error(err)),
        }
    }

    async fn get(&self, key: &str, max_bytes: u64) -> PortResult<Option<Bytes>> {
        check_key(key)?;
        let object = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => object,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(err) => return Err(store_error(err)),
        };
        let size = object.content_length().and_then(|n| u64::try_from(n).ok());
        if let Some(bytes) = size.filter(|&bytes| bytes > max_bytes) {
            // Dropping the body closes the connection before the rest is sent.
            return Err(PortError::TooLarge { bytes, max_bytes });
        }
        let mut body = object.body;
        let capacity = size
            .and_then(|bytes| usize::try_from(bytes).ok())
            .unwrap_or(0);
        let mut buffer = Vec::with_capacity(capacity);
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| PortError::Other(anyhow::anyhow!("reading S3 object {key}: {e}")))?
        {
            // The length header is the service's word; the bytes are what counts.
            let bytes = (buffer.len() + chunk.len()) as u64;
            if bytes > max_bytes {
                return Err(PortError::TooLarge { bytes, max_bytes });
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(Some(Bytes::from(buffer)))
    }

    async fn download_url(&self, key: &str, expires_in: Duration) -> PortResult<Option<String>> {
        check_key(key)?;
        let presigned = self
            .presigner
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning(expires_in)?)
            .await
            .map_err(store_error)?;
        Ok(Some(presigned.uri().to_owned()))
    }

    async fn delete(&self, key: &str) -> PortResult<()> {
        check_key(key)?;
        // S3 answers 204 whether or not the object was there.
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

#[async_trait]
impl HealthCheck for S3MediaStorage {
    /// The bucket answers.
    async fn check(&self) -> PortResult<()> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

/// The SDK client for `config`: static keys, path-style addressing, bounded waits.
fn client(config: &S3Config) -> Client {
    let credentials = Credentials::new(
        &config.access_key_id,
        config.secret_access_key.expose(),
        None,
        None,
        "confab-config",
    );
    let sdk_config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&config.endpoint)
        .region(Region::new(config.region.clone()))
        .credentials_provider(credentials)
        // Virtual-hosted names (`<bucket>.<host>`) need wildcard DNS, which self-hosted
        // services rarely have.
        .force_path_style(true)
        // The SDK's default integrity checksums (CRC32 headers, and aws-chunked trailers
        // on streamed bodies) are refused by several S3-compatible services; send them
        // only where S3 requires them. (Presigned requests never carry them.)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        // Three attempts in all, with backoff: a blip is ridden out, an outage soon reported.
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .build();
    Client::from_conf(sdk_config)
}

fn presigning(expires_in: Duration) -> PortResult<PresigningConfig> {
    // S3 caps presigned URLs at a week; longer is refused here rather than by S3 later.
    PresigningConfig::expires_in(expires_in)
        .map_err(|e| PortError::Other(anyhow::anyhow!("presigned URL lifetime: {e}")))
}

fn size_of(content_length: Option<i64>) -> PortResult<u64> {
    content_length
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| PortError::Other(anyhow::anyhow!("S3 gave no object size")))
}

fn status<E>(err: &SdkError<E>) -> Option<u16> {
    err.raw_response()
        .map(|response| response.status().as_u16())
}

/// No answer, or "slow down"/"try later": the service is unavailable and the caller may
/// retry. Anything else is an error of this request.
fn store_error<E: std::error::Error + Send + Sync + 'static>(err: SdkError<E>) -> PortError {
    let unavailable = matches!(
        err,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
    ) || matches!(status(&err), Some(503));
    if unavailable {
        tracing::warn!(error = %DisplayErrorContext(&err), "S3 unavailable");
        PortError::Unavailable("s3")
    } else {
        PortError::Other(anyhow::anyhow!("S3: {}", DisplayErrorContext(err)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::s3::SecretKey;

    /// Nothing listens on port 1 of the loopback: every connection is refused at once.
    fn unreachable() -> S3Config {
        S3Config {
            endpoint: "http://127.0.0.1:1".to_owned(),
            public_endpoint: None,
            bucket: "media".to_owned(),
            region: DEFAULT_REGION.to_owned(),
            access_key_id: "AKID".to_owned(),
            secret_access_key: SecretKey::new("secret"),
        }
    }

    fn unconnected() -> S3MediaStorage {
        S3MediaStorage {
            client: client(&unreachable()),
            presigner: client(&unreachable()),
            bucket: "media".to_owned(),
        }
    }

    #[tokio::test]
    async fn an_unreachable_service_is_unavailable_and_refuses_to_connect() {
        let storage = unconnected();
        // Together, as each waits out the SDK's retries.
        let (head, check, connect) = tokio::join!(
            storage.head("media/x"),
            storage.check(),
            S3MediaStorage::connect(unreachable())
        );
        assert!(
            matches!(head, Err(PortError::Unavailable("s3"))),
            "{head:?}"
        );
        assert!(
            matches!(check, Err(PortError::Unavailable("s3"))),
            "{check:?}"
        );
        assert!(connect.is_err());
    }

    #[tokio::test]
    async fn presigned_urls_use_the_public_endpoint_when_there_is_one() {
        let public = S3Config {
            endpoint: "http://storage.example:443".to_owned(),
            ..unreachable()
        };
        let storage = S3MediaStorage {
            client: client(&unreachable()),
            presigner: client(&public),
            bucket: "media".to_owned(),
        };
        let target = storage
            .upload_target("media/x", "image/png", 10, Duration::from_secs(60))
            .await
            .expect("a presigned PUT");
        assert!(
            target
                .url
                .starts_with("http://storage.example:443/media/media/x?"),
            "{}",
            target.url
        );
    }

    #[tokio::test]
    async fn presigned_urls_are_made_without_asking_the_service() {
        let storage = unconnected();
        let target = storage
            .upload_target("media/x", "image/png", 10, Duration::from_secs(60))
            .await
            .expect("a presigned PUT");
        assert!(
            target.url.starts_with("http://127.0.0.1:1/media/media/x?"),
            "{}",
            target.url
        );
        assert!(target.url.contains("X-Amz-Signature="), "{}", target.url);
        assert_eq!(
            target.headers.get("content-type").map(String::as_str),
            Some("image/png")
        );
        let url = storage
            .download_url("media/x", Duration::from_secs(60))
            .await;
        assert!(url.expect("a presigned GET").is_some());
        let week_and_a_day = Duration::from_secs(8 * 24 * 3600);
        assert!(
            storage
                .download_url("media/x", week_and_a_day)
                .await
                .is_err()
        );
    }
}
