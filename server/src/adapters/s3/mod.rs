//! Media on S3 or any S3-compatible service (SeaweedFS, MinIO, R2, …).
//!
//! Clients upload and download with presigned URLs, so media bytes go between the client and
//! the bucket without passing through a chat node; the server only reads an upload back to
//! check it and writes the thumbnails it makes.
//!
//! The client is configured by hand (no `aws-config`): the endpoint, region and static keys
//! come from Confab's own configuration, and the credential chain, profile files and IMDS
//! lookups `aws-config` would add are neither wanted nor worth their compile time.

mod config;

pub use config::{S3Config, SecretKey};

// The adapter itself needs the AWS SDK, which only the `services` feature builds.
#[cfg(feature = "services")]
mod storage;
#[cfg(feature = "services")]
pub use storage::S3MediaStorage;
