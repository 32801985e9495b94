//! The `MediaStorage` contract, and its runs against the folder store (always) and S3 (when
//! `S3_ENDPOINT` is set).
//!
//! Uploading is the one step that differs by design: S3 takes the client's PUT itself, the
//! embedded store through a server endpoint. A suite that uploads takes a [`ClientUpload`]
//! that does what a client (and, for the embedded store, the server's endpoint) would.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use server::ports::{MediaStorage, PortError, UploadTarget};

use super::fixtures::unique;

/// Long enough that no URL made by a test expires while it runs.
const LONG: Duration = Duration::from_secs(600);

/// A fresh key shaped like the server's.
fn media_key() -> String {
    format!("media/{}", unique())
}

/// Bytes that differ per call, so a stale object cannot pass for a fresh one.
fn payload(len: usize) -> Bytes {
    let seed = unique();
    Bytes::from(seed.bytes().cycle().take(len).collect::<Vec<u8>>())
}

/// Does with an upload target what a client does with it.
#[async_trait]
pub trait ClientUpload: Send + Sync {
    /// PUTs `bytes` to the target with its headers, `content_type` as the Content-Type.
    async fn upload(
        &self,
        target: &UploadTarget,
        content_type: &str,
        bytes: Bytes,
    ) -> anyhow::Result<()>;
}

/// What `put` stores, `head` describes and `get` returns, content type included.
pub async fn round_trips_bytes_and_content_type(store: &dyn MediaStorage) {
    let (key, bytes) = (media_key(), payload(3000));
    store
        .put(&key, "image/png", bytes.clone())
        .await
        .expect("put");
    let info = store.head(&key).await.expect("head").expect("stored");
    assert_eq!(info.bytes, 3000);
    assert_eq!(info.content_type.as_deref(), Some("image/png"));
    assert_eq!(store.get(&key, 3000).await.expect("get"), Some(bytes));
}

/// A second `put` replaces the object whole: bytes and content type.
pub async fn replaces_an_object_on_put(store: &dyn MediaStorage) {
    let key = media_key();
    store
        .put(&key, "image/png", payload(500))
        .await
        .expect("first put");
    let second = payload(20);
    store
        .put(&key, "image/webp", second.clone())
        .await
        .expect("second put");
    let info = store.head(&key).await.expect("head").expect("stored");
    assert_eq!(
        (info.bytes, info.content_type.as_deref()),
        (20, Some("image/webp"))
    );
    assert_eq!(store.get(&key, 1000).await.expect("get"), Some(second));
}

/// An empty object is an object.
pub async fn stores_an_empty_object(store: &dyn MediaStorage) {
    let key = media_key();
    store
        .put(&key, "text/plain", Bytes::new())
        .await
        .expect("put");
    assert_eq!(
        store.head(&key).await.expect("head").map(|i| i.bytes),
        Some(0)
    );
    assert_eq!(store.get(&key, 0).await.expect("get"), Some(Bytes::new()));
}

/// `head` and `get` of a key never written answer `None`.
pub async fn answers_none_for_a_missing_key(store: &dyn MediaStorage) {
    let key = media_key();
    assert_eq!(store.head(&key).await.expect("head"), None);
    assert_eq!(store.get(&key, 1000).await.expect("get"), None);
}

/// An object over `max_bytes` is refused with `PortError::TooLarge`; at the limit it is read.
pub async fn refuses_to_read_more_than_max_bytes(store: &dyn MediaStorage) {
    let (key, bytes) = (media_key(), payload(1000));
    store
        .put(&key, "video/mp4", bytes.clone())
        .await
        .expect("put");
    let error = store.get(&key, 999).await.expect_err("over the limit");
    assert!(
        matches!(error, PortError::TooLarge { max_bytes: 999, .. }),
        "{error:?}"
    );
    assert_eq!(
        store.get(&key, 1000).await.expect("at the limit"),
        Some(bytes)
    );
}

/// After `delete`, the key is absent; deleting it again (or any absent key) is fine.
pub async fn deletes_and_forgets(store: &dyn MediaStorage) {
    let key = media_key();
    store
        .put(&key, "image/gif", payload(10))
        .await
        .expect("put");
    store.delete(&key).await.expect("delete");
    assert_eq!(store.head(&key).await.expect("head"), None);
    assert_eq!(store.get(&key, 100).await.expect("get"), None);
    store.delete(&key).await.expect("delete again");
    store
        .delete(&media_key())
        .await
        .expect("delete a key never written");
}

/// A media object and its thumbnail (`media/<id>`, `media/<id>/thumbnail`) live side by side
/// and go separately.
pub async fn keeps_an_object_and_its_thumbnail_apart(store: &dyn MediaStorage) {
    let key = media_key();
    let thumbnail = format!("{key}/thumbnail");
    let (original, small) = (payload(300), payload(30));
    store
        .put(&key, "image/jpeg", original.clone())
        .await
        .expect("put");
    store
        .put(&thumbnail, "image/webp", small.clone())
        .await
        .expect("put thumbnail");
    assert_eq!(store.get(&key, 1000).await.expect("get"), Some(original));
    assert_eq!(
        store.get(&thumbnail, 1000).await.expect("get"),
        Some(small.clone())
    );
    store.delete(&key).await.expect("delete");
    assert_eq!(store.get(&thumbnail, 1000).await.expect("get"), Some(small));
}

/// Keys that could leave the store's folder or mean something in a URL are refused by
/// every method, before anything is stored.
pub async fn refuses_bad_keys(store: &dyn MediaStorage) {
    for key in [
        "",
        "../x",
        "/abs",
        "media/../x",
        "media//x",
        "media/x/",
        ".hidden",
        "a b",
    ] {
        let bytes = Bytes::from_static(b"x");
        assert!(
            store.put(key, "image/png", bytes).await.is_err(),
            "put {key:?}"
        );
        assert!(store.head(key).await.is_err(), "head {key:?}");
        assert!(store.get(key, 10).await.is_err(), "get {key:?}");
        assert!(store.delete(key).await.is_err(), "delete {key:?}");
        let target = store.upload_target(key, "image/png", 1, LONG).await;
        assert!(target.is_err(), "upload_target {key:?}");
        assert!(
            store.download_url(key, LONG).await.is_err(),
            "download_url {key:?}"
        );
    }
}

/// A content type that would break a header is refused.
pub async fn refuses_a_content_type_that_would_break_a_header(store: &dyn MediaStorage) {
    let key = media_key();
    for bad in ["image/png\r\nx-evil: 1", "", "image/png\n"] {
        assert!(
            store.put(&key, bad, payload(1)).await.is_err(),
            "put {bad:?}"
        );
        assert!(
            store.upload_target(&key, bad, 1, LONG).await.is_err(),
            "upload_target {bad:?}"
        );
    }
    assert_eq!(store.head(&key).await.expect("head"), None);
}

/// A client that PUTs to the upload target with its headers stores the bytes under the key,
/// with the content type.
pub async fn stores_what_a_client_uploads_to_its_target(
    store: &dyn MediaStorage,
    client: &dyn ClientUpload,
) {
    let (key, bytes) = (media_key(), payload(2048));
    let target = store
        .upload_target(&key, "image/jpeg", 2048, LONG)
        .await
        .expect("target");
    assert_eq!(
        target.headers.get("content-type").map(String::as_str),
        Some("image/jpeg")
    );
    client
        .upload(&target, "image/jpeg", bytes.clone())
        .await
        .expect("upload");
    let info = store.head(&key).await.expect("head").expect("uploaded");
    assert_eq!(
        (info.bytes, info.content_type.as_deref()),
        (2048, Some("image/jpeg"))
    );
    assert_eq!(store.get(&key, 2048).await.expect("get"), Some(bytes));
}

/// The target is for its key and content type only: a client that sends another content
/// type is refused, and nothing is stored.
pub async fn refuses_an_upload_with_another_content_type(
    store: &dyn MediaStorage,
    client: &dyn ClientUpload,
) {
    let key = media_key();
    let target = store
        .upload_target(&key, "image/png", 10, LONG)
        .await
        .expect("target");
    let upload = client.upload(&target, "text/html", payload(10)).await;
    assert!(upload.is_err(), "an upload as text/html was accepted");
    assert_eq!(store.head(&key).await.expect("head"), None);
}

/// The folder store, with uploads through what its upload endpoint will do.
mod embedded {
    use std::time::SystemTime;

    use anyhow::Context as _;
    use server::adapters::embedded::FsMediaStorage;
    use tempfile::TempDir;

    use super::*;

    const BASE: &str = "http://chat.test/app";
    const SECRET: [u8; 32] = [7; 32];

    fn fs_store() -> (TempDir, FsMediaStorage) {
        let dir = tempfile::tempdir().expect("create a temporary folder");
        let store = FsMediaStorage::new(dir.path(), BASE, SECRET).expect("open the media folder");
        (dir, store)
    }

    /// An upload URL taken apart as the endpoint will: key, expiry and signature.
    struct SignedUpload {
        key: String,
        expires: u64,
        signature: String,
    }

    fn parse(url: &str) -> anyhow::Result<SignedUpload> {
        let url = reqwest::Url::parse(url)?;
        let key = url
            .path()
            .strip_prefix("/app/api/v1/uploads/")
            .context("not an upload path")?
            .to_owned();
        let param = |name: &str| {
            url.query_pairs()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.into_owned())
                .with_context(|| format!("no {name}"))
        };
        Ok(SignedUpload {
            key,
            expires: param("expires")?.parse()?,
            signature: param("signature")?,
        })
    }

    /// Checks the signature as the upload endpoint will, then stores.
    struct ThroughTheEndpoint<'a>(&'a FsMediaStorage);

    #[async_trait]
    impl ClientUpload for ThroughTheEndpoint<'_> {
        async fn upload(
            &self,
            target: &UploadTarget,
            content_type: &str,
            bytes: Bytes,
        ) -> anyhow::Result<()> {
            let upload = parse(&target.url)?;
            let (key, signature) = (upload.key.as_str(), upload.signature.as_str());
            let now = SystemTime::now();
            let signed = self
                .0
                .verify_upload(key, content_type, upload.expires, signature, now);
            anyhow::ensure!(signed, "403: bad upload signature");
            Ok(self.0.put(&upload.key, content_type, bytes).await?)
        }
    }

    macro_rules! embedded_runs {
        ($($suite:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $suite() {
                let (_dir, store) = fs_store();
                super::$suite(&store).await;
            }
        )*};
    }

    embedded_runs!(
        round_trips_bytes_and_content_type,
        replaces_an_object_on_put,
        stores_an_empty_object,
        answers_none_for_a_missing_key,
        refuses_to_read_more_than_max_bytes,
        deletes_and_forgets,
        keeps_an_object_and_its_thumbnail_apart,
        refuses_bad_keys,
        refuses_a_content_type_that_would_break_a_header,
    );

    #[tokio::test]
    async fn stores_what_a_client_uploads_to_its_target() {
        let (_dir, store) = fs_store();
        super::stores_what_a_client_uploads_to_its_target(&store, &ThroughTheEndpoint(&store))
            .await;
    }

    #[tokio::test]
    async fn refuses_an_upload_with_another_content_type() {
        let (_dir, store) = fs_store();
        super::refuses_an_upload_with_another_content_type(&store, &ThroughTheEndpoint(&store))
            .await;
    }

    #[tokio::test]
    async fn upload_urls_point_at_the_servers_upload_endpoint() {
        let (_dir, store) = fs_store();
        let target = store
            .upload_target("media/abc", "image/png", 10, LONG)
            .await
            .expect("target");
        assert!(
            target
                .url
                .starts_with("http://chat.test/app/api/v1/uploads/media/abc?expires="),
            "{}",
            target.url
        );
    }

    #[tokio::test]
    async fn verify_upload_accepts_only_the_signed_key_type_and_time() {
        let (_dir, store) = fs_store();
        let key = media_key();
        let target = store
            .upload_target(&key, "image/png", 10, LONG)
            .await
            .expect("target");
        let SignedUpload {
            key: url_key,
            expires,
            signature,
        } = parse(&target.url).expect("parse");
        assert_eq!(url_key, key);
        let now = SystemTime::now();
        assert!(
            store.verify_upload(&key, "image/png", expires, &signature, now),
            "as signed"
        );

        let mut tampered = signature.clone().into_bytes();
        tampered[0] = if tampered[0] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).expect("hex");
        assert!(
            !store.verify_upload(&key, "image/png", expires, &tampered, now),
            "tampered"
        );
        assert!(
            !store.verify_upload(&key, "image/png", expires, "", now),
            "no signature"
        );
        assert!(
            !store.verify_upload(&key, "image/png", expires, "zz", now),
            "not hex"
        );
        let other = media_key();
        assert!(
            !store.verify_upload(&other, "image/png", expires, &signature, now),
            "other key"
        );
        assert!(
            !store.verify_upload(&key, "text/html", expires, &signature, now),
            "other type"
        );
        assert!(
            !store.verify_upload(&key, "image/png", expires + 60, &signature, now),
            "later"
        );
        let after = SystemTime::UNIX_EPOCH + Duration::from_secs(expires);
        assert!(
            !store.verify_upload(&key, "image/png", expires, &signature, after),
            "expired"
        );

        let (_other_dir, other_store) = {
            let dir = tempfile::tempdir().expect("create a temporary folder");
            let store = FsMediaStorage::new(dir.path(), BASE, [8; 32]).expect("open");
            (dir, store)
        };
        assert!(
            !other_store.verify_upload(&key, "image/png", expires, &signature, now),
            "another secret"
        );
    }

    #[tokio::test]
    async fn serves_bytes_itself_rather_than_by_url() {
        let (_dir, store) = fs_store();
        assert_eq!(
            store.download_url("media/abc", LONG).await.expect("url"),
            None
        );
    }

    #[tokio::test]
    async fn keeps_files_in_the_media_folder_and_clears_leftover_temporary_files() {
        let dir = tempfile::tempdir().expect("create a temporary folder");
        let media = dir.path().join("media");
        std::fs::create_dir_all(&media).expect("create media/");
        std::fs::write(media.join(".tmp-crashed"), b"half a file").expect("write");
        let store = FsMediaStorage::new(dir.path(), BASE, SECRET).expect("open");
        store
            .put("media/abc", "image/png", payload(5))
            .await
            .expect("put");
        let names: Vec<String> = std::fs::read_dir(&media)
            .expect("list")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(
            names.len(),
            1,
            "one object file and nothing else: {names:?}"
        );
    }

    #[tokio::test]
    async fn answers_its_health_check() {
        let (_dir, store) = fs_store();
        super::super::health::answers_ok_while_up(&store).await;
    }
}

/// S3, when `S3_ENDPOINT` names one (see `S3Config::from_env`).
mod s3 {
    use server::adapters::s3::{S3Config, S3MediaStorage, SecretKey};

    use super::super::services;
    use super::*;

    /// The configured service, or `None` (after saying so) when this run has none.
    async fn s3() -> Option<S3MediaStorage> {
        services::url("S3_ENDPOINT")?;
        let config = S3Config::from_env().expect("S3_ENDPOINT is set");
        let config = config.expect("a complete S3 configuration");
        Some(
            S3MediaStorage::connect(config)
                .await
                .expect("connect to S3"),
        )
    }

    /// Each node adds its origins to the bucket's CORS rules and keeps what is there, so
    /// nodes (or an operator) with other origins do not undo each other.
    #[tokio::test]
    async fn cors_rules_for_new_origins_join_the_existing_ones() {
        if services::url("S3_ENDPOINT").is_none() {
            return;
        }
        let config = S3Config::from_env()
            .expect("S3_ENDPOINT is set")
            .expect("a complete S3 configuration");
        let config = S3Config {
            bucket: format!(
                "confab-cors-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            ),
            ..config
        };
        let storage = S3MediaStorage::connect(config.clone())
            .await
            .expect("connect");
        let (first, second) = ("http://one.test:3000", "https://two.test");
        storage.allow_browser_origins(&[first.to_owned()]).await;
        storage.allow_browser_origins(&[second.to_owned()]).await;
        storage.allow_browser_origins(&[first.to_owned()]).await;
        let url = format!("{}/{}/uploads/x", config.endpoint, config.bucket);
        for origin in [first, second] {
            let preflight = reqwest::Client::new()
                .request(reqwest::Method::OPTIONS, &url)
                .header("origin", origin)
                .header("access-control-request-method", "PUT")
                .header("access-control-request-headers", "content-type")
                .send()
                .await
                .expect("preflight");
            let allowed = preflight
                .headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            assert_eq!(allowed.as_deref(), Some(origin), "{origin}");
        }
        let refused = reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", "https://elsewhere.test")
            .header("access-control-request-method", "PUT")
            .send()
            .await
            .expect("preflight");
        assert!(
            refused
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "an origin no rule names is not allowed"
        );
    }

    /// The presigned PUT signs the declared size: more (or fewer) bytes are refused, so a
    /// client cannot park a large object in the bucket.
    #[tokio::test]
    async fn refuses_an_upload_of_another_size_than_declared() {
        let Some(store) = s3().await else { return };
        let key = media_key();
        let target = store
            .upload_target(&key, "image/png", 10, LONG)
            .await
            .expect("target");
        assert_eq!(
            target.headers.get("content-length").map(String::as_str),
            Some("10")
        );
        for size in [11, 9, 5000] {
            let status = put(&target, "image/png", payload(size)).await;
            assert!(status.is_client_error(), "{size} bytes: {status}");
        }
        assert_eq!(store.head(&key).await.expect("head"), None);
        assert!(put(&target, "image/png", payload(10)).await.is_success());
    }

    /// A client PUTting with reqwest, as a browser would.
    struct Reqwest;

    #[async_trait]
    impl ClientUpload for Reqwest {
        async fn upload(
            &self,
            target: &UploadTarget,
            content_type: &str,
            bytes: Bytes,
        ) -> anyhow::Result<()> {
            let status = put(target, content_type, bytes).await;
            anyhow::ensure!(status.is_success(), "S3 answered {status}");
            Ok(())
        }
    }

    async fn put(target: &UploadTarget, content_type: &str, bytes: Bytes) -> reqwest::StatusCode {
        put_to(&target.url, target, content_type, bytes).await
    }

    async fn put_to(
        url: &str,
        target: &UploadTarget,
        content_type: &str,
        bytes: Bytes,
    ) -> reqwest::StatusCode {
        let mut request = reqwest::Client::new()
            .put(url)
            .header("content-type", content_type)
            .body(bytes);
        // The content type is the caller's, to test what a changed one does; the length is
        // the body's, as a browser (which may not set it) sends it.
        for (name, value) in target
            .headers
            .iter()
            .filter(|(name, _)| *name != "content-type" && *name != "content-length")
        {
            request = request.header(name, value);
        }
        request.send().await.expect("PUT reaches S3").status()
    }

    macro_rules! s3_runs {
        ($($suite:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $suite() {
                let Some(store) = s3().await else { return };
                super::$suite(&store).await;
            }
        )*};
    }

    s3_runs!(
        round_trips_bytes_and_content_type,
        replaces_an_object_on_put,
        stores_an_empty_object,
        answers_none_for_a_missing_key,
        refuses_to_read_more_than_max_bytes,
        deletes_and_forgets,
        keeps_an_object_and_its_thumbnail_apart,
        refuses_bad_keys,
        refuses_a_content_type_that_would_break_a_header,
    );

    #[tokio::test]
    async fn stores_what_a_client_uploads_to_its_target() {
        let Some(store) = s3().await else { return };
        super::stores_what_a_client_uploads_to_its_target(&store, &Reqwest).await;
    }

    #[tokio::test]
    async fn refuses_an_upload_with_another_content_type() {
        let Some(store) = s3().await else { return };
        super::refuses_an_upload_with_another_content_type(&store, &Reqwest).await;
    }

    #[tokio::test]
    async fn refuses_a_presigned_put_with_a_changed_signature_or_key() {
        let Some(store) = s3().await else { return };
        let key = media_key();
        let target = store
            .upload_target(&key, "image/png", 10, LONG)
            .await
            .expect("target");
        let mut url = reqwest::Url::parse(&target.url).expect("a URL");
        let signature = url
            .query_pairs()
            .find(|(name, _)| name == "X-Amz-Signature")
            .map(|(_, value)| value.into_owned())
            .expect("a SigV4 signature");
        let forged = format!(
            "{}{}",
            if signature.starts_with('0') { "1" } else { "0" },
            &signature[1..]
        );
        let tampered = target.url.replace(&signature, &forged);
        assert_eq!(
            put_to(&tampered, &target, "image/png", payload(10)).await,
            403
        );

        let other = media_key();
        url.set_path(&url.path().replace(&key, &other));
        assert_eq!(
            put_to(url.as_str(), &target, "image/png", payload(10)).await,
            403
        );

        assert_eq!(store.head(&key).await.expect("head"), None);
        assert_eq!(store.head(&other).await.expect("head"), None);
        assert_eq!(
            put(&target, "image/png", payload(10)).await,
            200,
            "the real URL still works"
        );
    }

    #[tokio::test]
    async fn serves_a_presigned_get_until_it_expires() {
        let Some(store) = s3().await else { return };
        let (key, bytes) = (media_key(), payload(100));
        store
            .put(&key, "image/png", bytes.clone())
            .await
            .expect("put");
        let url = store
            .download_url(&key, LONG)
            .await
            .expect("url")
            .expect("S3 gives URLs");
        let response = reqwest::get(&url).await.expect("GET reaches S3");
        assert_eq!(response.status(), 200);
        assert_eq!(response.bytes().await.expect("body"), bytes);

        let short = store
            .download_url(&key, Duration::from_secs(1))
            .await
            .expect("url");
        let short = short.expect("S3 gives URLs");
        // Sleeping is the point here: expiry is time. SigV4 counts whole seconds from the
        // signing second, so two seconds are past a one-second URL wherever in its second
        // it was signed.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(
            reqwest::get(&short).await.expect("GET reaches S3").status(),
            403
        );
    }

    #[tokio::test]
    async fn refuses_to_connect_with_a_wrong_secret() {
        if s3().await.is_none() {
            return;
        }
        let config = S3Config::from_env().expect("S3_ENDPOINT is set");
        let config = S3Config {
            secret_access_key: SecretKey::new("not-the-secret"),
            ..config.expect("a complete S3 configuration")
        };
        let error = S3MediaStorage::connect(config)
            .await
            .err()
            .expect("refused");
        assert!(error.to_string().contains("403"), "{error:#}");
    }

    #[tokio::test]
    async fn answers_its_health_check() {
        let Some(store) = s3().await else { return };
        super::super::health::answers_ok_while_up(&store).await;
    }
}
