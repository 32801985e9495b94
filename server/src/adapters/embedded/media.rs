//! Media in a folder: `<data_dir>/media/`, one file per object.
//!
//! Keys map to flat file names (`/` becomes `~`, which no key holds), so `media/<id>` and
//! `media/<id>/thumbnail` can both exist and no name can leave the folder. Each file starts
//! with its content type and a newline, then the bytes: one file per object means one atomic
//! rename per write, where a sidecar would need two and could be left half-updated by a crash.
//!
//! Clients upload through the server (the upload endpoint calls [`FsMediaStorage::put`]),
//! to a URL signed with HMAC-SHA256 so the endpoint can tell an upload the server offered
//! from any other request, without a lookup.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ports::media::{check_content_type, check_key};
use crate::ports::{HealthCheck, MediaStorage, ObjectInfo, PortError, PortResult, UploadTarget};

/// Temporary files start with this; no object's name can, as keys start with a letter or digit.
const TEMP_PREFIX: &str = ".tmp-";
/// Every object's file name ends with this, after the escaped key.
const OBJECT_SUFFIX: &str = ".obj";

/// Media stored in a folder of this node.
pub struct FsMediaStorage {
    root: PathBuf,
    public_base_url: String,
    /// Keyed once with the secret; each signature starts from a clone.
    signer: Hmac<Sha256>,
}

impl FsMediaStorage {
    /// Opens (creating it if needed) `<data_dir>/media/`. Upload URLs start with
    /// `public_base_url` and are signed with `secret`, which must stay the same across
    /// restarts for URLs already handed out to stay valid.
    pub fn new(data_dir: &Path, public_base_url: &str, secret: [u8; 32]) -> anyhow::Result<Self> {
        let root = data_dir.join("media");
        fs::create_dir_all(&root)?;
        remove_leftover_temp_files(&root)?;
        Ok(Self {
            root,
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            signer: Hmac::new_from_slice(&secret).map_err(|e| anyhow::anyhow!("HMAC key: {e}"))?,
        })
    }

    /// The MAC over everything the URL grants: method, key, content type and deadline,
    /// one per line (none of them can hold a newline, so no two inputs read the same).
    fn mac(&self, key: &str, content_type: &str, expires: u64) -> Hmac<Sha256> {
        let mut mac = self.signer.clone();
        mac.update(format!("PUT\n{key}\n{content_type}\n{expires}").as_bytes());
        mac
    }

    fn path_of(&self, key: &str) -> PortResult<PathBuf> {
        check_key(key)?;
        Ok(self
            .root
            .join(format!("{}{OBJECT_SUFFIX}", key.replace('/', "~"))))
    }
}

#[async_trait]
impl MediaStorage for FsMediaStorage {
    async fn upload_target(
        &self,
        key: &str,
        content_type: &str,
        _bytes: u64,
        expires_in: Duration,
    ) -> PortResult<UploadTarget> {
        check_key(key)?;
        check_content_type(content_type)?;
        // Rounded up, so the URL lives at least as long as asked.
        let expires =
            unix_seconds(SystemTime::now()).saturating_add(expires_in.as_secs_f64().ceil() as u64);
        let signature = encode_hex(&self.mac(key, content_type, expires).finalize().into_bytes());
        Ok(UploadTarget {
            url: format!(
                "{}{}{}?expires={expires}&signature={signature}",
                self.public_base_url,
                protocol::paths::API,
                // Not `paths::fill`: the key's slashes stay path separators.
                protocol::paths::UPLOAD.replace("{key}", key)
            ),
            headers: BTreeMap::from([("content-type".to_owned(), content_type.to_owned())]),
        })
    }

    async fn put(&self, key: &str, content_type: &str, bytes: Bytes) -> PortResult<()> {
        check_content_type(content_type)?;
        let (path, root, content_type) = (
            self.path_of(key)?,
            self.root.clone(),
            content_type.to_owned(),
        );
        blocking(move || write_atomically(&root, &path, &content_type, &bytes)).await
    }

    async fn head(&self, key: &str) -> PortResult<Option<ObjectInfo>> {
        let path = self.path_of(key)?;
        blocking(move || Ok(open(&path)?.map(|object| object.info))).await
    }

    async fn get(&self, key: &str, max_bytes: u64) -> PortResult<Option<Bytes>> {
        let path = self.path_of(key)?;
        // Inside, `Err(size)` is an object over the limit, left unread.
        let read = blocking(move || {
            let Some(object) = open(&path)? else {
                return Ok(Ok(None));
            };
            let size = object.info.bytes;
            if size > max_bytes {
                return Ok(Err(size));
            }
            // The open file stays the object we measured even if a write renames another
            // over it meanwhile, so `size` bounds the read.
            let mut buffer = Vec::with_capacity(usize::try_from(size)?);
            object.reader.take(size).read_to_end(&mut buffer)?;
            Ok(Ok(Some(Bytes::from(buffer))))
        })
        .await?;
        read.map_err(|bytes| PortError::TooLarge { bytes, max_bytes })
    }

    async fn download_url(&self, key: &str, _expires_in: Duration) -> PortResult<Option<String>> {
        check_key(key)?;
        Ok(None)
    }

    async fn delete(&self, key: &str) -> PortResult<()> {
        let path = self.path_of(key)?;
        blocking(move || match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        })
        .await
    }

    /// The comparison takes the same time however much of the signature matches.
    fn verify_upload(
        &self,
        key: &str,
        content_type: &str,
        expires: u64,
        signature: &str,
        now: SystemTime,
    ) -> bool {
        let Some(signature) = decode_hex(signature) else {
            return false;
        };
        check_key(key).is_ok()
            && check_content_type(content_type).is_ok()
            && unix_seconds(now) < expires
            && self
                .mac(key, content_type, expires)
                .verify_slice(&signature)
                .is_ok()
    }
}

#[async_trait]
impl HealthCheck for FsMediaStorage {
    /// The folder is still there (a data disk unmounted under a running node is not).
    async fn check(&self) -> PortResult<()> {
        let root = self.root.clone();
        blocking(move || {
            anyhow::ensure!(
                fs::metadata(&root)?.is_dir(),
                "{} is not a folder",
                root.display()
            );
            Ok(())
        })
        .await
    }
}

/// An object opened for reading, positioned at its first byte.
struct OpenObject {
    info: ObjectInfo,
    reader: BufReader<File>,
}

/// Opens the object at `path`, `None` when there is none.
fn open(path: &Path) -> anyhow::Result<Option<OpenObject>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let len = file.metadata()?.len();
    let mut reader = BufReader::new(file);
    let mut header = Vec::new();
    // Bounded, so a damaged file cannot make this read without end.
    (&mut reader)
        .take(crate::ports::media::MAX_CONTENT_TYPE_LEN as u64 + 1)
        .read_until(b'\n', &mut header)?;
    anyhow::ensure!(
        header.pop() == Some(b'\n'),
        "{} has no header",
        path.display()
    );
    let bytes = len - header.len() as u64 - 1;
    let content_type = Some(String::from_utf8(header)?);
    Ok(Some(OpenObject {
        info: ObjectInfo {
            bytes,
            content_type,
        },
        reader,
    }))
}

/// Writes a temporary file, flushes it to disk, then renames it over `path`: a crash leaves
/// the old object or the new one under the real name, never a part of one.
fn write_atomically(
    root: &Path,
    path: &Path,
    content_type: &str,
    bytes: &[u8],
) -> anyhow::Result<()> {
    let temp = root.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(content_type.as_bytes())?;
        file.write_all(b"\n")?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    Ok(written?)
}

/// Temporary files a crash left behind; no write can be in progress while the store opens.
fn remove_leftover_temp_files(root: &Path) -> anyhow::Result<()> {
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Runs file I/O on the blocking pool, off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> PortResult<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(PortError::Other),
        Err(e) => Err(PortError::Other(e.into())),
    }
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex (either case) to bytes; `None` for anything else, odd lengths included. By hand
/// rather than `u8::from_str_radix`, which would also take a `+` sign.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let nibble = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [high, low] => Some((nibble(*high)? << 4) | nibble(*low)?),
            _ => None,
        })
        .collect()
}
