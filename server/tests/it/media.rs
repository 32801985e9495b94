//! Media over the REST API: create, upload, complete, send, fetch, delete and collection,
//! on the embedded store (and on S3 when one is configured). Every refusal the issue names
//! is checked with its error code.

use std::io::Cursor;
use std::time::Duration;

use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, WAIT, new_client_id, roomy_limits, spawn_app};

fn photo(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let image = DynamicImage::ImageRgb8(ImageBuffer::from_fn(width, height, |x, y| {
        Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8])
    }));
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

/// A PNG whose header claims `width`×`height` pixels: a decompression bomb's calling card,
/// without the bytes that would make one (the server must refuse it from the header).
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).expect("small").to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit greyscale, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &header);
    // zlib of an empty stored block: enough for a reader to reach the image data.
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0, 0, 0, 1],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Bytes that start like a recording in `container` (the server checks the magic, not the
/// codec), padded to `len`.
pub(crate) fn recording(container: &str, len: usize) -> Vec<u8> {
    let mut bytes = match container {
        "webm" => vec![0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01],
        "ogg" => b"OggS\0\x02".to_vec(),
        _ => b"\0\0\0\x1cftypM4A \0\0\0\0M4A mp42isom".to_vec(),
    };
    bytes.resize(len, 0x55);
    bytes
}

/// `POST /media`; returns the status and body.
pub(crate) async fn create(app: &TestApp, user: &TestUser, request: Value) -> (StatusCode, Value) {
    app.post("/api/v1/media", &user.token, request).await
}

/// PUTs `bytes` where `created` says, with its headers; returns the status.
pub(crate) async fn put(app: &TestApp, created: &Value, bytes: Vec<u8>) -> StatusCode {
    let mut request = app
        .http
        .put(created["upload"]["url"].as_str().expect("upload url"));
    for (name, value) in created["upload"]["headers"].as_object().expect("headers") {
        request = request.header(name, value.as_str().expect("header value"));
    }
    request.body(bytes).send().await.expect("PUT sent").status()
}

pub(crate) async fn complete(app: &TestApp, user: &TestUser, id: &str) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/media/{id}/complete"),
        &user.token,
        json!({}),
    )
    .await
}

/// Create, upload and complete; returns the completed media.
async fn upload(app: &TestApp, user: &TestUser, request: Value, bytes: Vec<u8>) -> Value {
    let (status, created) = create(app, user, request).await;
    assert_eq!(status, StatusCode::CREATED, "create: {created}");
    assert_eq!(put(app, &created, bytes).await, StatusCode::OK, "upload");
    let id = created["media"]["id"].as_str().expect("media id");
    let (status, media) = complete(app, user, id).await;
    assert_eq!(status, StatusCode::OK, "complete: {media}");
    media
}

async fn upload_photo(app: &TestApp, user: &TestUser, width: u32, height: u32) -> Value {
    let bytes = photo(width, height, ImageFormat::Jpeg);
    let request = json!({"kind": "image", "content_type": "image/jpeg", "bytes": bytes.len()});
    upload(app, user, request, bytes).await
}

async fn send_media(
    app: &TestApp,
    user: &TestUser,
    room: &str,
    kind: &str,
    media_id: &str,
) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/rooms/{room}/messages"),
        &user.token,
        json!({"client_id": new_client_id(), "kind": kind, "media_id": media_id}),
    )
    .await
}

/// GETs a media URL as `user`; returns status, content type and bytes.
async fn fetch(app: &TestApp, user: &TestUser, url: &str) -> (StatusCode, String, Vec<u8>) {
    let response = app
        .http
        .get(url)
        .bearer_auth(&user.token)
        .send()
        .await
        .expect("GET sent");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response.bytes().await.expect("body").to_vec();
    (status, content_type, bytes)
}

fn assert_error(response: &(StatusCode, Value), status: u16, code: &str) {
    assert_eq!(response.0.as_u16(), status, "{}", response.1);
    assert_eq!(response.1["error"]["code"], code, "{}", response.1);
}

/// The files the embedded store holds for a media id.
fn stored_files(app: &TestApp, id: &str) -> Vec<String> {
    std::fs::read_dir(app.data_dir().join("media"))
        .expect("media folder")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.contains(id))
        .collect()
}

#[tokio::test]
async fn a_photo_is_checked_thumbnailed_and_shared_with_the_room_only() {
    let app = spawn_app().await;
    let (alice, bob, eve) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("eve").await,
    );
    let room = app.group(&alice, "Photos", &[&bob]).await;
    let original = photo(2000, 1500, ImageFormat::Jpeg);
    let request = json!({"kind": "image", "content_type": "image/jpeg", "bytes": original.len(), "width": 2000, "height": 1500});
    let (status, created) = create(&app, &alice, request).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["upload"]["method"], "PUT");
    assert_eq!(created["upload"]["headers"]["content-type"], "image/jpeg");
    assert!(created["expires_at"].is_string());
    let id = created["media"]["id"].as_str().expect("id").to_owned();
    let pending = fetch(&app, &alice, created["media"]["url"].as_str().expect("url")).await;
    assert_eq!(
        pending.0,
        StatusCode::NOT_FOUND,
        "not served before complete"
    );

    assert_eq!(put(&app, &created, original.clone()).await, StatusCode::OK);
    let (status, media) = complete(&app, &alice, &id).await;
    assert_eq!(status, StatusCode::OK, "{media}");
    assert_eq!(
        (media["width"].as_u64(), media["height"].as_u64()),
        (Some(2000), Some(1500))
    );
    assert_eq!(media["bytes"], original.len());
    assert_eq!(media["kind"], "image");
    assert!(
        media["placeholder"]
            .as_str()
            .expect("placeholder")
            .starts_with("data:image/jpeg;base64,")
    );
    assert_eq!(
        complete(&app, &alice, &id).await.1,
        media,
        "completing again answers the same"
    );

    let caption = json!({"client_id": new_client_id(), "kind": "image", "media_id": id, "body": "  the view  "});
    let (status, message) = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            &alice.token,
            caption,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(message["kind"], "image");
    assert_eq!(message["body"], "the view");
    assert_eq!(message["media"], media);
    let (_, page) = app
        .get(&format!("/api/v1/rooms/{room}/messages"), &bob.token)
        .await;
    assert_eq!(
        page["messages"][0]["media"], media,
        "history carries the media"
    );

    let url = media["url"].as_str().expect("url");
    let (status, content_type, bytes) = fetch(&app, &bob, url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "image/jpeg");
    assert_eq!(bytes, original, "the member gets the checked bytes");
    let (status, content_type, thumbnail) = fetch(
        &app,
        &bob,
        media["thumbnail_url"].as_str().expect("thumbnail"),
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "image/jpeg")
    );
    let thumbnail = image::load_from_memory(&thumbnail).expect("the thumbnail decodes");
    assert_eq!((thumbnail.width(), thumbnail.height()), (480, 360));

    let (status, _, _) = fetch(&app, &eve, url).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a non-member is refused");
    let anonymous = app.http.get(url).send().await.expect("GET").status();
    assert_eq!(anonymous, StatusCode::UNAUTHORIZED);
    let unknown = fetch(&app, &bob, &app.url("/api/v1/media/0000unknown")).await;
    assert_eq!(unknown.0, StatusCode::NOT_FOUND);
}

/// A message keeps its media's facts, not its links: read after the deployment's address
/// changed (a restart on another port here, `CONFAB_PUBLIC_URL` in production), history
/// links to the media at the new address, and the link works.
#[tokio::test]
async fn media_links_follow_the_public_url_of_the_day() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let room = app.group(&alice, "Moving", &[]).await;
    let media = upload_photo(&app, &alice, 640, 480).await;
    let id = media["id"].as_str().expect("id").to_owned();
    let (status, sent) = send_media(&app, &alice, &room, "image", &id).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(
        sent["media"]["url"],
        app.url(&format!("/api/v1/media/{id}"))
    );

    let app = app.restart().await;
    let (status, page) = app
        .get(&format!("/api/v1/rooms/{room}/messages"), &alice.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let shown = &page["messages"][0]["media"];
    let url = app.url(&format!("/api/v1/media/{id}"));
    assert_eq!(shown["url"], url.as_str(), "the link of the new address");
    assert_eq!(shown["thumbnail_url"], format!("{url}/thumbnail"));
    for field in [
        "id",
        "kind",
        "content_type",
        "bytes",
        "width",
        "height",
        "placeholder",
    ] {
        assert_eq!(shown[field], media[field], "{field} is kept");
    }
    let (status, content_type, _) = fetch(&app, &alice, &url).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "image/jpeg")
    );
}

/// A JPEG as a phone camera writes it: EXIF with the orientation (6: turn right to show)
/// and, after it, where the photo was taken.
fn camera_jpeg(width: u32, height: u32) -> Vec<u8> {
    let plain = photo(width, height, ImageFormat::Jpeg);
    let mut tiff = b"MM\0\x2A\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0".to_vec();
    tiff.extend_from_slice(b"GPS 52.5200N 13.4050E home");
    let mut jpeg = plain[..2].to_vec();
    jpeg.extend_from_slice(&[0xFF, 0xE1]);
    jpeg.extend_from_slice(&u16::try_from(tiff.len() + 8).expect("small").to_be_bytes());
    jpeg.extend_from_slice(b"Exif\0\0");
    jpeg.extend_from_slice(&tiff);
    jpeg.extend_from_slice(&plain[2..]);
    jpeg
}

#[tokio::test]
async fn a_camera_photo_is_stored_upright_and_without_its_location() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let original = camera_jpeg(300, 200);
    let request = json!({"kind": "image", "content_type": "image/jpeg", "bytes": original.len()});
    let media = upload(&app, &alice, request, original.clone()).await;
    assert_eq!(
        (media["width"].as_u64(), media["height"].as_u64()),
        (Some(200), Some(300)),
        "the size as displayed, turned by the EXIF orientation"
    );
    let (status, _, stored) = fetch(&app, &alice, media["url"].as_str().expect("url")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !stored.windows(3).any(|w| w == b"GPS"),
        "the location is gone"
    );
    assert!(stored.len() < original.len());
    assert_eq!(media["bytes"], stored.len(), "bytes is the stored size");
    let shown = image::load_from_memory(&stored).expect("decodes");
    assert_eq!(
        (shown.width(), shown.height()),
        (300, 200),
        "the pixels are untouched"
    );
}

#[tokio::test]
async fn every_accepted_type_uploads_and_voice_messages_send() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let room = app.group(&alice, "Types", &[]).await;
    for (content_type, format) in [
        ("image/png", ImageFormat::Png),
        ("image/webp", ImageFormat::WebP),
        ("image/gif", ImageFormat::Gif),
    ] {
        let bytes = photo(64, 48, format);
        let request = json!({"kind": "image", "content_type": content_type, "bytes": bytes.len()});
        let media = upload(&app, &alice, request, bytes).await;
        assert_eq!(
            (media["width"].as_u64(), media["height"].as_u64()),
            (Some(64), Some(48)),
            "{content_type}"
        );
        assert_eq!(media["content_type"], content_type);
    }
    for (content_type, container) in [
        ("audio/webm;codecs=opus", "webm"),
        ("audio/ogg; codecs=opus", "ogg"),
        ("audio/mp4", "mp4"),
    ] {
        let bytes = recording(container, 20_000);
        let request = json!({"kind": "voice", "content_type": content_type, "bytes": bytes.len(), "duration_ms": 3_500});
        let media = upload(&app, &alice, request, bytes.clone()).await;
        assert_eq!(media["duration_ms"], 3_500, "{content_type}");
        assert_eq!(media["thumbnail_url"], Value::Null);
        assert_eq!(media["width"], Value::Null);
        let id = media["id"].as_str().expect("id");
        let (status, message) = send_media(&app, &alice, &room, "voice", id).await;
        assert_eq!(status, StatusCode::CREATED, "{message}");
        assert_eq!(message["media"]["content_type"], content_type);
        let (status, served_type, served) =
            fetch(&app, &alice, media["url"].as_str().expect("url")).await;
        assert_eq!(
            (status, served_type.as_str()),
            (StatusCode::OK, content_type)
        );
        assert_eq!(served, bytes);
    }
}

#[tokio::test]
async fn what_a_client_declares_is_checked_at_create() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let image = |content_type: &str, bytes: u64| json!({"kind": "image", "content_type": content_type, "bytes": bytes});
    let voice = |duration: Value| json!({"kind": "voice", "content_type": "audio/webm", "bytes": 30_000, "duration_ms": duration});
    for (request, status, code) in [
        (image("image/svg+xml", 100), 415, "unsupported_media_type"),
        (image("text/html", 100), 415, "unsupported_media_type"),
        (image("audio/webm", 100), 415, "unsupported_media_type"),
        (image("image/jpeg; x=y", 100), 415, "unsupported_media_type"),
        (image("image/jpeg\r\nx: y", 100), 400, "bad_request"),
        (image("image/jpeg", 0), 400, "bad_request"),
        (
            image("image/jpeg", 10 * 1024 * 1024 + 1),
            413,
            "payload_too_large",
        ),
        (
            json!({"kind": "image", "content_type": "image/jpeg", "bytes": 10, "width": 100_000, "height": 100_000}),
            413,
            "payload_too_large",
        ),
        (
            json!({"kind": "image", "content_type": "image/jpeg", "bytes": 10, "duration_ms": 5}),
            400,
            "bad_request",
        ),
        (
            json!({"kind": "voice", "content_type": "audio/webm", "bytes": 100}),
            400,
            "bad_request",
        ),
        (voice(json!(0)), 400, "bad_request"),
        (voice(json!(300_001)), 413, "payload_too_large"),
        (
            json!({"kind": "voice", "content_type": "audio/webm", "bytes": 8_000_000, "duration_ms": 1_000}),
            413,
            "payload_too_large",
        ),
        (
            json!({"kind": "video", "content_type": "video/mp4", "bytes": 10}),
            400,
            "bad_request",
        ),
    ] {
        let response = create(&app, &alice, request.clone()).await;
        assert_error(&response, status, code);
        let _ = request;
    }
    let no_token = app
        .call(
            Method::POST,
            "/api/v1/media",
            None,
            Some(image("image/jpeg", 10)),
        )
        .await;
    assert_error(&no_token, 401, "unauthorized");
}

#[tokio::test]
async fn complete_refuses_bytes_that_are_not_what_was_declared() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let attempt = |content_type: &'static str, declared: usize, bytes: Vec<u8>| {
        let (app, alice) = (&app, &alice);
        async move {
            let request = json!({"kind": "image", "content_type": content_type, "bytes": declared});
            let (status, created) = create(app, alice, request).await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            assert_eq!(put(app, &created, bytes).await, StatusCode::OK);
            complete(app, alice, created["media"]["id"].as_str().expect("id")).await
        }
    };
    let jpeg = photo(32, 32, ImageFormat::Jpeg);
    let wrong_magic = attempt("image/png", jpeg.len(), jpeg.clone()).await;
    assert_error(&wrong_magic, 415, "unsupported_media_type");
    let html = b"<html><script>alert(1)</script></html>".to_vec();
    assert_error(
        &attempt("image/jpeg", html.len(), html).await,
        415,
        "unsupported_media_type",
    );
    let short = attempt("image/jpeg", jpeg.len() + 10, jpeg.clone()).await;
    assert_error(&short, 400, "bad_request");
    let bomb = png_claiming(40_000, 40_000);
    assert_error(
        &attempt("image/png", bomb.len(), bomb).await,
        413,
        "payload_too_large",
    );
    let mut broken = jpeg[..4].to_vec();
    broken.extend_from_slice(&[0x42; 200]);
    assert_error(
        &attempt("image/jpeg", broken.len(), broken).await,
        415,
        "unsupported_media_type",
    );

    let request = json!({"kind": "image", "content_type": "image/jpeg", "bytes": 10});
    let (_, created) = create(&app, &alice, request).await;
    let early = complete(&app, &alice, created["media"]["id"].as_str().expect("id")).await;
    assert_error(&early, 409, "conflict");
    assert_error(
        &complete(&app, &alice, "0000unknown").await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn uploads_need_their_signature_and_fit_what_was_declared() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let jpeg = photo(40, 30, ImageFormat::Jpeg);
    let request = json!({"kind": "image", "content_type": "image/jpeg", "bytes": jpeg.len()});
    let (_, created) = create(&app, &alice, request).await;
    let url = created["upload"]["url"].as_str().expect("url").to_owned();
    let id = created["media"]["id"].as_str().expect("id").to_owned();
    let with_url = |url: String| {
        let mut forged = created.clone();
        forged["upload"]["url"] = json!(url);
        forged
    };
    let put_raw = |url: String, content_type: &'static str, bytes: Vec<u8>| {
        let app = &app;
        async move {
            let response = app
                .http
                .put(url)
                .header("content-type", content_type)
                .body(bytes)
                .send()
                .await
                .expect("PUT sent");
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };

    let signature_at = url.find("signature=").expect("signed") + "signature=".len();
    let mut forged = url.clone();
    let flipped = if &url[signature_at..=signature_at] == "0" {
        "1"
    } else {
        "0"
    };
    forged.replace_range(signature_at..=signature_at, flipped);
    assert_error(
        &put_raw(forged, "image/jpeg", jpeg.clone()).await,
        403,
        "forbidden",
    );
    let expired = url.replace("expires=", "expires=1&was=");
    assert_error(
        &put_raw(expired, "image/jpeg", jpeg.clone()).await,
        403,
        "forbidden",
    );
    let other_type = put_raw(url.clone(), "text/html", jpeg.clone()).await;
    assert_error(&other_type, 403, "forbidden");
    let other_key = url.replace(&id, "0000other");
    assert_error(
        &put_raw(other_key, "image/jpeg", jpeg.clone()).await,
        403,
        "forbidden",
    );
    let mut larger = jpeg.clone();
    larger.push(0);
    assert_error(
        &put_raw(url.clone(), "image/jpeg", larger).await,
        413,
        "payload_too_large",
    );

    assert_eq!(
        put(&app, &with_url(url.clone()), jpeg.clone()).await,
        StatusCode::OK
    );
    assert_error(&complete(&app, &bob, &id).await, 404, "not_found");
    assert_eq!(complete(&app, &alice, &id).await.0, StatusCode::OK);
    let replaced = put_raw(url, "image/jpeg", photo(40, 30, ImageFormat::Jpeg)).await;
    assert_error(&replaced, 409, "conflict");
}

#[tokio::test]
async fn a_message_uses_its_senders_complete_media_in_one_room() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let (room, other) = (
        app.group(&alice, "Here", &[&bob]).await,
        app.group(&alice, "There", &[&bob]).await,
    );
    let media = upload_photo(&app, &alice, 20, 20).await;
    let id = media["id"].as_str().expect("id");

    assert_error(
        &send_media(&app, &bob, &room, "image", id).await,
        404,
        "not_found",
    );
    assert_error(
        &send_media(&app, &alice, &room, "voice", id).await,
        400,
        "bad_request",
    );
    let text = json!({"client_id": new_client_id(), "kind": "text", "body": "hi", "media_id": id});
    let text = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            &alice.token,
            text,
        )
        .await;
    assert_error(&text, 400, "bad_request");
    let bare = json!({"client_id": new_client_id(), "kind": "image"});
    let bare = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            &alice.token,
            bare,
        )
        .await;
    assert_error(&bare, 400, "bad_request");

    let request = json!({"kind": "image", "content_type": "image/jpeg", "bytes": 10});
    let (_, waiting) = create(&app, &alice, request).await;
    let waiting = waiting["media"]["id"].as_str().expect("id");
    assert_error(
        &send_media(&app, &alice, &room, "image", waiting).await,
        409,
        "conflict",
    );

    let (status, first) = send_media(&app, &alice, &room, "image", id).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = send_media(&app, &alice, &room, "image", id).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the same room may show it twice: {again}"
    );
    assert_error(
        &send_media(&app, &alice, &other, "image", id).await,
        409,
        "conflict",
    );

    // Over Socket.IO too.
    let socket = app.socket(&alice).await;
    let fresh = upload_photo(&app, &alice, 30, 10).await;
    let ack = socket
        .ack(
            "message:send",
            json!({"room_id": room, "client_id": new_client_id(), "kind": "image", "media_id": fresh["id"]}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["message"]["media"], fresh);
    socket.disconnect().await;
}

#[tokio::test]
async fn the_uploader_deletes_unused_media_and_nothing_stays() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let room = app.group(&alice, "Room", &[]).await;
    let media = upload_photo(&app, &alice, 20, 20).await;
    let id = media["id"].as_str().expect("id");
    assert!(!stored_files(&app, id).is_empty());
    let path = format!("/api/v1/media/{id}");
    assert_error(
        &app.call(Method::DELETE, &path, Some(&bob.token), None)
            .await,
        404,
        "not_found",
    );
    let (status, _) = app
        .call(Method::DELETE, &path, Some(&alice.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        fetch(&app, &alice, media["url"].as_str().expect("url"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        stored_files(&app, id),
        Vec::<String>::new(),
        "its objects are gone"
    );
    assert_error(
        &app.call(Method::DELETE, &path, Some(&alice.token), None)
            .await,
        404,
        "not_found",
    );

    let used = upload_photo(&app, &alice, 20, 20).await;
    let used_id = used["id"].as_str().expect("id");
    assert_eq!(
        send_media(&app, &alice, &room, "image", used_id).await.0,
        StatusCode::CREATED
    );
    let in_use = app
        .call(
            Method::DELETE,
            &format!("/api/v1/media/{used_id}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_error(&in_use, 409, "conflict");
}

#[tokio::test]
async fn media_no_message_uses_is_collected_after_the_grace_period() {
    let mut limits = roomy_limits();
    limits.media_grace = Duration::from_secs(1);
    limits.media_sweep_every = Duration::from_millis(200);
    let app = TestApp::builder().limits(limits).spawn().await;
    let alice = app.register("alice").await;
    let room = app.group(&alice, "Keep", &[]).await;
    // Sent first, so a slow machine cannot let the grace period run out before the send.
    let kept = upload_photo(&app, &alice, 20, 20).await;
    let kept_id = kept["id"].as_str().expect("id");
    assert_eq!(
        send_media(&app, &alice, &room, "image", kept_id).await.0,
        StatusCode::CREATED
    );
    let orphan = upload_photo(&app, &alice, 20, 20).await;
    let request = json!({"kind": "image", "content_type": "image/jpeg", "bytes": 10});
    let (_, never_uploaded) = create(&app, &alice, request).await;
    let orphan_id = orphan["id"].as_str().expect("id");
    assert!(!stored_files(&app, orphan_id).is_empty());

    let never = never_uploaded["media"]["id"].as_str().expect("id");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !stored_files(&app, orphan_id).is_empty()
        || complete(&app, &alice, never).await.0 != StatusCode::NOT_FOUND
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the orphans were not collected"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = orphan["url"].as_str().expect("url");
    assert_eq!(fetch(&app, &alice, url).await.0, StatusCode::NOT_FOUND);
    let (status, _, _) = fetch(&app, &alice, kept["url"].as_str().expect("url")).await;
    assert_eq!(status, StatusCode::OK, "media a message uses stays");
    assert!(!stored_files(&app, kept_id).is_empty());
}

#[tokio::test]
async fn on_s3_uploads_go_to_the_bucket_and_downloads_redirect_to_signed_urls() {
    let Some(builder) = TestApp::builder().on_s3() else {
        return;
    };
    let app = builder.spawn().await;
    let (alice, bob, eve) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("eve").await,
    );
    let room = app.group(&alice, "Bucket", &[&bob]).await;
    let original = photo(900, 600, ImageFormat::Png);
    let request = json!({"kind": "image", "content_type": "image/png", "bytes": original.len()});
    let (status, created) = create(&app, &alice, request).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let upload_url = created["upload"]["url"].as_str().expect("url");
    let preflight = app
        .http
        .request(Method::OPTIONS, upload_url)
        .header("origin", app.url(""))
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("preflight");
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(app.url("").as_str()),
        "the bucket lets the app's pages upload"
    );
    assert!(
        !upload_url.starts_with(&app.url("/")),
        "the bytes go to S3, not through the node"
    );
    let media = {
        assert_eq!(put(&app, &created, original.clone()).await, StatusCode::OK);
        let (status, media) =
            complete(&app, &alice, created["media"]["id"].as_str().expect("id")).await;
        assert_eq!(status, StatusCode::OK, "{media}");
        media
    };
    let id = media["id"].as_str().expect("id");
    assert_eq!(
        send_media(&app, &alice, &room, "image", id).await.0,
        StatusCode::CREATED
    );

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = no_redirects
        .get(media["url"].as_str().expect("url"))
        .bearer_auth(&bob.token)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let bytes = reqwest::get(&location)
        .await
        .expect("GET S3")
        .bytes()
        .await
        .expect("body");
    assert_eq!(bytes.to_vec(), original);
    let (status, _, thumbnail) =
        fetch(&app, &bob, media["thumbnail_url"].as_str().expect("thumb")).await;
    assert_eq!(status, StatusCode::OK, "followed to S3");
    assert!(image::load_from_memory(&thumbnail).is_ok());
    let refused = no_redirects
        .get(media["url"].as_str().expect("url"))
        .bearer_auth(&eve.token)
        .send()
        .await
        .expect("GET");
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "no signed URL for a non-member"
    );
}

#[tokio::test]
async fn starting_and_checking_uploads_are_rate_limited_per_user() {
    let mut limits = roomy_limits();
    limits.uploads_per_user = 2;
    let app = TestApp::builder().limits(limits).spawn().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let request = json!({"kind": "image", "content_type": "image/jpeg", "bytes": 10});
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, created) = create(&app, &alice, request.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        ids.push(created["media"]["id"].as_str().expect("id").to_owned());
    }
    let limited = create(&app, &alice, request.clone()).await;
    assert_error(&limited, 429, "rate_limited");
    assert_eq!(
        create(&app, &bob, request).await.0,
        StatusCode::CREATED,
        "per user"
    );
    for id in &ids {
        assert_error(&complete(&app, &alice, id).await, 409, "conflict");
    }
    assert_error(&complete(&app, &alice, &ids[0]).await, 429, "rate_limited");
}

async fn patch_as(app: &TestApp, path: &str, user: &TestUser, body: Value) -> (StatusCode, Value) {
    app.call(Method::PATCH, path, Some(&user.token), Some(body))
        .await
}

/// The token at the end of a picture URL.
fn picture_token(url: &str) -> &str {
    url.rsplit('/').next().expect("a token")
}

#[tokio::test]
async fn pictures_of_people_and_groups_are_squares_for_those_who_share_a_room() {
    let app = spawn_app().await;
    let (alice, bob, eve) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("eve").await,
    );
    let room = app.group(&alice, "Club", &[&bob]).await;

    let photo_media = upload_photo(&app, &alice, 900, 600).await;
    let (status, me) = patch_as(
        &app,
        "/api/v1/me",
        &alice,
        json!({"avatar_media_id": photo_media["id"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let url = me["avatar_url"].as_str().expect("a picture URL").to_owned();
    assert!(
        url.starts_with(&app.url(&format!("/api/v1/users/{}/avatar/", alice.id))),
        "{url}"
    );
    let (status, content_type, bytes) = fetch(&app, &alice, &url).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "image/jpeg")
    );
    let picture = image::load_from_memory(&bytes).expect("a JPEG");
    assert_eq!(
        (picture.width(), picture.height()),
        (256, 256),
        "a 256 px square"
    );
    assert_eq!(
        fetch(&app, &bob, &url).await.0,
        StatusCode::OK,
        "bob shares a room"
    );
    assert_eq!(
        fetch(&app, &eve, &url).await.0,
        StatusCode::FORBIDDEN,
        "eve does not"
    );
    let (_, view) = app.get(&format!("/api/v1/rooms/{room}"), &bob.token).await;
    let listed = view["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["user"]["id"] == alice.id.as_str())
        .expect("alice listed");
    assert_eq!(listed["user"]["avatar_url"], url.as_str(), "rooms show it");

    // Bad input changes nothing.
    let eves = upload_photo(&app, &eve, 64, 64).await;
    assert_error(
        &patch_as(
            &app,
            "/api/v1/me",
            &alice,
            json!({"avatar_media_id": eves["id"]}),
        )
        .await,
        404,
        "not_found",
    );
    let recorded = recording("ogg", 20_000);
    let request = json!({"kind": "voice", "content_type": "audio/ogg",
        "bytes": recorded.len(), "duration_ms": 3_500});
    let voice = upload(&app, &alice, request, recorded).await;
    assert_error(
        &patch_as(
            &app,
            "/api/v1/me",
            &alice,
            json!({"avatar_media_id": voice["id"]}),
        )
        .await,
        400,
        "bad_request",
    );
    let (_, unchanged) = app.get("/api/v1/me", &alice.token).await;
    assert_eq!(unchanged["avatar_url"], url.as_str());

    // A new picture has a new URL; the old one and its object are gone.
    let second = upload_photo(&app, &alice, 300, 500).await;
    let (_, me) = patch_as(
        &app,
        "/api/v1/me",
        &alice,
        json!({"avatar_media_id": second["id"]}),
    )
    .await;
    let new_url = me["avatar_url"].as_str().expect("a picture URL").to_owned();
    assert_ne!(new_url, url);
    assert_eq!(fetch(&app, &bob, &url).await.0, StatusCode::NOT_FOUND);
    assert!(
        stored_files(&app, picture_token(&url)).is_empty(),
        "old object deleted"
    );
    assert_eq!(fetch(&app, &bob, &new_url).await.0, StatusCode::OK);
    let (status, me) = patch_as(&app, "/api/v1/me", &alice, json!({"avatar_media_id": null})).await;
    assert_eq!((status, &me["avatar_url"]), (StatusCode::OK, &Value::Null));
    assert_eq!(fetch(&app, &alice, &new_url).await.0, StatusCode::NOT_FOUND);
    assert!(stored_files(&app, picture_token(&new_url)).is_empty());

    // A group's picture: set by its owner or admins, seen by its members.
    let group_photo = upload_photo(&app, &bob, 400, 400).await;
    let room_path = format!("/api/v1/rooms/{room}");
    assert_error(
        &patch_as(
            &app,
            &room_path,
            &bob,
            json!({"avatar_media_id": group_photo["id"]}),
        )
        .await,
        403,
        "forbidden",
    );
    let group_photo = upload_photo(&app, &alice, 400, 400).await;
    let (status, view) = patch_as(
        &app,
        &room_path,
        &alice,
        json!({"avatar_media_id": group_photo["id"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let group_url = view["avatar_url"]
        .as_str()
        .expect("a group picture")
        .to_owned();
    assert!(
        group_url.starts_with(&app.url(&format!("{room_path}/avatar/"))),
        "{group_url}"
    );
    assert_eq!(fetch(&app, &bob, &group_url).await.0, StatusCode::OK);
    assert_eq!(fetch(&app, &eve, &group_url).await.0, StatusCode::FORBIDDEN);
    let (_, history) = app.get(&format!("{room_path}/messages"), &bob.token).await;
    assert!(
        history["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .any(|m| m["kind"] == "system" && m["body"] == "alice changed the group's picture"),
        "{history}"
    );
    let (status, view) = patch_as(&app, &room_path, &alice, json!({"avatar_media_id": null})).await;
    assert_eq!(
        (status, &view["avatar_url"]),
        (StatusCode::OK, &Value::Null)
    );
    assert_eq!(fetch(&app, &bob, &group_url).await.0, StatusCode::NOT_FOUND);

    let (_, direct) = app
        .post(
            "/api/v1/rooms/direct",
            &alice.token,
            json!({"user_id": eve.id}),
        )
        .await;
    let direct_photo = upload_photo(&app, &alice, 64, 64).await;
    assert_error(
        &app.call(
            Method::PATCH,
            &format!("/api/v1/rooms/{}", direct["id"].as_str().expect("id")),
            Some(&alice.token),
            Some(json!({"avatar_media_id": direct_photo["id"]})),
        )
        .await,
        400,
        "bad_request",
    );
}

#[tokio::test]
async fn a_deleted_account_takes_its_unused_uploads_and_its_picture_along() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let room = app.group(&alice, "Club", &[&bob]).await;
    let sent = upload_photo(&app, &alice, 20, 20).await;
    let sent_id = sent["id"].as_str().expect("id");
    assert_eq!(
        send_media(&app, &alice, &room, "image", sent_id).await.0,
        StatusCode::CREATED
    );
    let unused = upload_photo(&app, &alice, 20, 20).await;
    let unused_id = unused["id"].as_str().expect("id");
    let source = upload_photo(&app, &alice, 64, 64).await;
    let (status, me) = patch_as(
        &app,
        "/api/v1/me",
        &alice,
        json!({"avatar_media_id": source["id"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let picture = me["avatar_url"].as_str().expect("a picture URL").to_owned();
    assert_eq!(fetch(&app, &bob, &picture).await.0, StatusCode::OK);
    assert!(!stored_files(&app, picture_token(&picture)).is_empty());
    assert!(!stored_files(&app, unused_id).is_empty());

    let (status, body) = crate::people::delete_me(
        &app,
        &alice.token,
        json!({"password": "correct horse battery"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    assert_eq!(
        stored_files(&app, unused_id),
        Vec::<String>::new(),
        "an upload no message uses goes with the account"
    );
    assert_eq!(fetch(&app, &bob, &picture).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        stored_files(&app, picture_token(&picture)),
        Vec::<String>::new(),
        "the picture's object goes too"
    );
    let (status, _, _) = fetch(&app, &bob, sent["url"].as_str().expect("url")).await;
    assert_eq!(status, StatusCode::OK, "a photo sent to the room stays");
}

#[tokio::test]
async fn a_deleted_photo_message_takes_its_media_with_it() {
    let mut limits = roomy_limits();
    limits.media_grace = Duration::from_secs(1);
    limits.media_sweep_every = Duration::from_millis(200);
    let app = TestApp::builder().limits(limits).spawn().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let room = app.group(&alice, "Photos", &[&bob]).await;
    let media = upload_photo(&app, &alice, 20, 20).await;
    let id = media["id"].as_str().expect("id");
    let (status, sent) = send_media(&app, &alice, &room, "image", id).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let url = sent["message"]["media"]["url"]
        .as_str()
        .or_else(|| sent["media"]["url"].as_str())
        .expect("the photo's URL")
        .to_owned();
    assert_eq!(fetch(&app, &bob, &url).await.0, StatusCode::OK);

    let (status, deleted) = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            &alice.token,
            json!({"client_id": new_client_id(), "kind": "delete", "relates_to": sent["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deleted}");
    assert_eq!(
        fetch(&app, &bob, &url).await.0,
        StatusCode::NOT_FOUND,
        "the photo of a deleted message is not served"
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while !stored_files(&app, id).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the deleted message's media was not collected"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
