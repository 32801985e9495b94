//! API.md v1.1 push notifications: subscriptions over REST (registering a device, the
//! repeat, the checks, the cap, deleting one, a subscription ending with its session), the
//! VAPID key, and the pushes themselves, to a push service on loopback.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server::config::PushConfig;

use crate::helpers::{TestApp, WAIT, assert_error, spawn_app, unique};

fn web_push(endpoint: &str) -> Value {
    let p256dh = URL_SAFE_NO_PAD.encode([[4u8].as_slice(), &[7; 64]].concat());
    json!({"kind": "webpush", "endpoint": endpoint,
        "keys": {"p256dh": p256dh, "auth": URL_SAFE_NO_PAD.encode([1u8; 16])}})
}

async fn subscribe(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.post("/api/v1/push/subscriptions", token, body).await
}

async fn unsubscribe(app: &TestApp, token: &str, id: &str) -> StatusCode {
    let path = format!("/api/v1/push/subscriptions/{id}");
    app.call(Method::DELETE, &path, Some(token), None).await.0
}

#[tokio::test]
async fn a_device_registers_once_and_its_subscription_ends_with_its_session() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let endpoint = format!("https://push.example.com/{}", unique("device"));

    let (status, first) = subscribe(&app, &alice.token, web_push(&endpoint)).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let id = first["id"].as_str().expect("an id").to_owned();
    let (status, again) = subscribe(&app, &alice.token, web_push(&endpoint)).await;
    assert_eq!(
        (status, again["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );
    let expo = json!({"kind": "expo", "token": "ExponentPushToken[abcdefghijklmnop]"});
    assert_eq!(
        subscribe(&app, &alice.token, expo).await.0,
        StatusCode::CREATED
    );

    // What could never be pushed to is refused, and nothing is stored.
    for bad in [
        json!({"kind": "webpush", "endpoint": "http://push.example.com/x",
            "keys": web_push("https://x.example")["keys"]}),
        json!({"kind": "webpush", "endpoint": &endpoint, "keys": {"p256dh": "AAAA", "auth": "AAAA"}}),
        json!({"kind": "expo", "token": "not a token"}),
        json!({"kind": "carrier-pigeon"}),
        json!({"kind": "webpush"}),
    ] {
        assert_error(
            &subscribe(&app, &alice.token, bad.clone()).await,
            400,
            "bad_request",
        );
    }
    assert_error(
        &app.call(
            Method::POST,
            "/api/v1/push/subscriptions",
            None,
            Some(web_push(&endpoint)),
        )
        .await,
        401,
        "unauthorized",
    );

    // Only its owner deletes it.
    assert_eq!(
        unsubscribe(&app, &bob.token, &id).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        unsubscribe(&app, &alice.token, &id).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        unsubscribe(&app, &alice.token, &id).await,
        StatusCode::NOT_FOUND
    );

    // Ended with its session: after a logout the device registers anew.
    let (_, kept) = subscribe(&app, &alice.token, web_push(&endpoint)).await;
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let signed_in = crate::sessions::sign_in_again(&app, &alice, "Phone").await;
    let (status, fresh) = subscribe(&app, &signed_in, web_push(&endpoint)).await;
    assert_eq!(status, StatusCode::CREATED, "{fresh}");
    assert_ne!(fresh["id"], kept["id"]);
}

#[tokio::test]
async fn an_account_keeps_at_most_twenty_subscriptions() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    for n in 0..20 {
        let endpoint = format!("https://push.example.com/{n}");
        let (status, body) = subscribe(&app, &alice.token, web_push(&endpoint)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let one_more = web_push("https://push.example.com/twenty-first");
    assert_error(
        &subscribe(&app, &alice.token, one_more).await,
        409,
        "conflict",
    );
    let (status, _) = subscribe(&app, &alice.token, web_push("https://push.example.com/3")).await;
    assert_eq!(status, StatusCode::OK, "a known device still renews");
}

// ---------------------------------------------------------------------------------------
// Sending. A push service on loopback stands in for the real ones, which cannot be reached
// from here: it speaks their protocols (RFC 8030 with RFC 8291 payloads and RFC 8292 VAPID;
// Expo's send API), decrypts each payload with the device's private key, checks the VAPID
// signature, and answers what each test tells it to.

/// One request the push service took.
#[derive(Debug)]
struct Pushed {
    device: String,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

/// The loopback push service: `POST /push/{device}` (Web Push) and `POST /expo` (Expo).
struct PushService {
    addr: std::net::SocketAddr,
    received: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<Pushed>>,
    script: Script,
}

/// Per device, the statuses to answer in turn (then 201; Expo: tokens listed here are
/// answered `DeviceNotRegistered`).
type Script = Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u16>>>>;

impl PushService {
    async fn start() -> PushService {
        use axum::extract::{Path, State};
        use axum::http::HeaderMap;
        let (sent, received) = tokio::sync::mpsc::unbounded_channel::<Pushed>();
        let script: Script = Arc::default();
        let state = (sent, Arc::clone(&script));
        type Shared = (tokio::sync::mpsc::UnboundedSender<Pushed>, Script);
        let web = |State((sent, script)): State<Shared>,
                   Path(device): Path<String>,
                   headers: HeaderMap,
                   body: axum::body::Bytes| async move {
            let status = {
                let mut script = script.lock().expect("script");
                script
                    .get_mut(&device)
                    .and_then(|s| (!s.is_empty()).then(|| s.remove(0)))
                    .unwrap_or(201)
            };
            let _ = sent.send(Pushed {
                device,
                headers,
                body: body.to_vec(),
            });
            axum::http::StatusCode::from_u16(status).expect("status")
        };
        let expo = |State((sent, script)): State<Shared>,
                    headers: HeaderMap,
                    body: axum::body::Bytes| async move {
            let message: Value = serde_json::from_slice(&body).unwrap_or_default();
            let token = message["to"].as_str().unwrap_or_default().to_owned();
            let gone = script.lock().expect("script").contains_key(&token);
            let _ = sent.send(Pushed {
                device: token,
                headers,
                body: body.to_vec(),
            });
            axum::Json(if gone {
                json!({"data": {"status": "error", "message": "not registered",
                    "details": {"error": "DeviceNotRegistered"}}})
            } else {
                json!({"data": {"status": "ok", "id": "ticket-1"}})
            })
        };
        let router = axum::Router::new()
            .route("/push/{device}", axum::routing::post(web))
            .route("/expo", axum::routing::post(expo))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        PushService {
            addr,
            received: tokio::sync::Mutex::new(received),
            script,
        }
    }

    /// The server's push settings for this service.
    fn config(&self) -> PushConfig {
        PushConfig {
            expo_url: format!("http://{}/expo", self.addr),
            allow_local: true,
            ..PushConfig::default()
        }
    }

    fn endpoint(&self, device: &str) -> String {
        format!("http://{}/push/{device}", self.addr)
    }

    /// Answers `device`'s next pushes with these statuses (Expo: any, to say it is gone).
    fn answer(&self, device: &str, statuses: &[u16]) {
        self.script
            .lock()
            .expect("script")
            .insert(device.to_owned(), statuses.to_vec());
    }

    /// The next push to arrive (for any device).
    async fn next(&self) -> Pushed {
        tokio::time::timeout(WAIT, self.received.lock().await.recv())
            .await
            .expect("a push within the wait")
            .expect("the push service runs")
    }

    /// Pushes arriving within `within`.
    async fn within(&self, within: Duration) -> Vec<Pushed> {
        let mut received = self.received.lock().await;
        let mut all = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(Some(pushed)) = tokio::time::timeout_at(deadline, received.recv()).await {
            all.push(pushed);
        }
        all
    }
}

/// A browser's push subscription: its P-256 key pair and auth secret (RFC 8291 §2).
struct Device {
    name: String,
    secret: p256::SecretKey,
    auth: [u8; 16],
}

impl Device {
    fn new(name: &str) -> Device {
        let secret = loop {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).expect("random");
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                break secret;
            }
        };
        let mut auth = [0u8; 16];
        getrandom::fill(&mut auth).expect("random");
        Device {
            name: unique(name),
            secret,
            auth,
        }
    }

    fn public(&self) -> Vec<u8> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        self.secret
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    fn subscription(&self, service: &PushService) -> Value {
        json!({"kind": "webpush", "endpoint": service.endpoint(&self.name),
            "keys": {"p256dh": URL_SAFE_NO_PAD.encode(self.public()),
                     "auth": URL_SAFE_NO_PAD.encode(self.auth)}})
    }

    /// The payload of an `aes128gcm` push (RFC 8188 framing, RFC 8291 keys), decrypted as
    /// a browser would, with nothing from the server's code.
    fn decrypt(&self, body: &[u8]) -> Value {
        use aes_gcm::aead::{Aead, KeyInit};
        use hkdf::Hkdf;
        use sha2::Sha256;
        assert!(body.len() > 21, "a header: salt, record size, key id");
        let (salt, rest) = body.split_at(16);
        let record_size = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes"));
        let id_len = usize::from(rest[4]);
        let (sender_key, ciphertext) = rest[5..].split_at(id_len);
        assert_eq!(
            id_len, 65,
            "the key id is the sender's uncompressed P-256 key"
        );
        assert!(ciphertext.len() <= record_size as usize, "one record");
        let sender = p256::PublicKey::from_sec1_bytes(sender_key).expect("a P-256 point");
        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), sender.as_affine());
        let mut key_info = b"WebPush: info\0".to_vec();
        key_info.extend_from_slice(&self.public());
        key_info.extend_from_slice(sender_key);
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes().as_slice())
            .expand(&key_info, &mut ikm)
            .expect("hkdf");
        let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
        prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
            .expect("cek");
        prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
            .expect("nonce");
        let cipher = aes_gcm::Aes128Gcm::new_from_slice(&cek).expect("key");
        let mut plain = cipher
            .decrypt(aes_gcm::Nonce::from_slice(&nonce), ciphertext)
            .expect("the payload decrypts with the device's key");
        // The last record ends with the delimiter 2 and then any padding of zeros.
        while plain.last() == Some(&0) {
            plain.pop();
        }
        assert_eq!(plain.pop(), Some(2), "the last record's delimiter");
        serde_json::from_slice(&plain).expect("the payload is JSON")
    }
}

/// Checks a push's VAPID header (RFC 8292): signed with `key`, for the push service's origin,
/// not expired, with a contact.
fn assert_vapid(pushed: &Pushed, service: &PushService, key: &str) {
    use p256::ecdsa::signature::Verifier;
    let header = pushed.headers["authorization"].to_str().expect("ascii");
    let (token, k) = header
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .unwrap_or_else(|| panic!("vapid t=…, k=…: {header}"));
    assert_eq!(k, key, "signed with the key browsers subscribe with");
    let (signed, signature) = token.rsplit_once('.').expect("a JWT");
    let verifying =
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(k).expect("base64url"))
            .expect("a P-256 key");
    let signature =
        p256::ecdsa::Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).expect("base64url"))
            .expect("r || s");
    verifying
        .verify(signed.as_bytes(), &signature)
        .expect("the VAPID signature verifies");
    let part = |n: usize| -> Value {
        let text = signed.split('.').nth(n).expect("a JWT part");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).expect("b64")).expect("json")
    };
    assert_eq!(part(0)["alg"], "ES256");
    let claims = part(1);
    assert_eq!(claims["aud"], format!("http://{}", service.addr));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let exp = claims["exp"].as_i64().expect("exp");
    assert!(
        exp > now && exp <= now + 24 * 3600,
        "exp within a day: {exp}"
    );
    assert!(claims["sub"].as_str().is_some_and(|s| !s.is_empty()));
}

async fn vapid_key(app: &TestApp) -> String {
    let (status, body) = app
        .call(Method::GET, "/api/v1/push/vapid-public-key", None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let key = body["key"].as_str().expect("key").to_owned();
    let point = URL_SAFE_NO_PAD.decode(&key).expect("base64url");
    assert_eq!(
        (point.len(), point[0]),
        (65, 4),
        "an uncompressed P-256 point"
    );
    key
}

#[tokio::test]
async fn a_member_with_no_device_connected_is_woken_by_an_encrypted_signed_push() {
    let service = PushService::start().await;
    let app = TestApp::builder().push(service.config()).spawn().await;
    let key = vapid_key(&app).await;
    let (alice, bob, carol) = (
        app.register("Alice").await,
        app.register("Bob").await,
        app.register("Carol").await,
    );
    let room = app.group(&alice, "Weekend", &[&bob, &carol]).await;
    let (laptop, phone) = (Device::new("laptop"), Device::new("carol-laptop"));
    let expo_token = format!("ExponentPushToken[{}]", unique("bobphone"));
    for (user, body) in [
        (&bob, laptop.subscription(&service)),
        (&bob, json!({"kind": "expo", "token": expo_token})),
        (&carol, phone.subscription(&service)),
    ] {
        let (status, answer) = subscribe(&app, &user.token, body).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    // Carol is connected (and so hears of it over her socket); Bob has no device online.
    // (Her contacts' presence comes once the server has her connection on record.)
    let carols = app.socket(&carol).await;
    carols.next("presence").await;

    let sent = app
        .send_text(&alice, &room, "Dinner at 8?\nI'll book")
        .await;
    let mut pushes = vec![service.next().await, service.next().await];
    pushes.sort_by_key(|p| p.device.starts_with("ExponentPushToken"));
    let [web, expo] = <[Pushed; 2]>::try_from(pushes).expect("two pushes");
    assert_eq!(web.device, laptop.name);
    let header = |name: &str| web.headers[name].to_str().expect("ascii").to_owned();
    assert_eq!(header("content-encoding"), "aes128gcm");
    assert_eq!(header("urgency"), "normal");
    assert!(header("ttl").parse::<u32>().expect("TTL") > 0);
    assert_vapid(&web, &service, &key);
    let expected = json!({"kind": "message", "room_id": room, "message_id": sent["id"],
        "title": "Weekend", "text": "Alice: Dinner at 8?…"});
    assert_eq!(
        laptop.decrypt(&web.body),
        expected,
        "the notification, nothing more"
    );

    let message: Value = serde_json::from_slice(&expo.body).expect("json");
    assert_eq!(expo.device, expo_token);
    assert_eq!(
        (&message["title"], &message["body"], &message["data"]),
        (&expected["title"], &expected["text"], &expected)
    );
    // Carol's socket was told; her subscription was not pushed to.
    carols.next("notification").await;
    assert!(
        service.within(Duration::from_millis(500)).await.is_empty(),
        "no push to a user with a device connected"
    );

    // Once Bob is connected somewhere, he hears by socket only.
    let bobs = app.socket(&bob).await;
    bobs.next("presence").await;
    carols.disconnect().await;
    bobs.next_where("presence", |p| {
        p["user_id"] == carol.id && p["online"] == false
    })
    .await;
    app.send_text(&alice, &room, "@Bob?").await;
    let next = service.next().await;
    assert_eq!(
        next.device, phone.name,
        "only Carol, now offline, is pushed to"
    );
    assert_eq!(phone.decrypt(&next.body)["text"], "Alice: @Bob?");
    bobs.next("notification").await;
    assert!(service.within(Duration::from_millis(500)).await.is_empty());
}

#[tokio::test]
async fn one_send_pushes_a_mention_to_the_member_named_and_a_message_to_the_others() {
    let service = PushService::start().await;
    let app = TestApp::builder().push(service.config()).spawn().await;
    let (alice, bob, carol) = (
        app.register("Alice").await,
        app.register("Bob").await,
        app.register("Carol").await,
    );
    let room = app.group(&alice, "Lunch", &[&bob, &carol]).await;
    let (bobs, carols) = (Device::new("bob-phone"), Device::new("carol-phone"));
    for (user, device) in [(&bob, &bobs), (&carol, &carols)] {
        let (status, answer) = subscribe(&app, &user.token, device.subscription(&service)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }

    // Neither has a device connected: each is pushed to once, in the kind that is theirs.
    app.send_text(&alice, &room, &format!("@{} lunch?", bob.username))
        .await;
    let mut pushes = vec![service.next().await, service.next().await];
    pushes.sort_by(|a, b| a.device.cmp(&b.device));
    let [to_bob, to_carol] = <[Pushed; 2]>::try_from(pushes).expect("two pushes");
    assert_eq!(
        (to_bob.device.as_str(), to_carol.device.as_str()),
        (bobs.name.as_str(), carols.name.as_str())
    );
    assert_eq!(bobs.decrypt(&to_bob.body)["kind"], "mention");
    assert_eq!(carols.decrypt(&to_carol.body)["kind"], "message");
}

#[tokio::test]
async fn a_gone_device_is_forgotten_and_a_failing_push_service_is_tried_again() {
    let service = PushService::start().await;
    let app = TestApp::builder().push(service.config()).spawn().await;
    let (alice, bob) = (app.register("Alice").await, app.register("Bob").await);
    let room = app.group(&alice, "Plans", &[&bob]).await;
    let (gone, flaky) = (Device::new("gone"), Device::new("flaky"));
    let expo_token = format!("ExponentPushToken[{}]", unique("uninstalled"));
    service.answer(&gone.name, &[410]);
    service.answer(&flaky.name, &[503]);
    service.answer(&expo_token, &[]);
    let expo = json!({"kind": "expo", "token": expo_token});
    for body in [
        gone.subscription(&service),
        flaky.subscription(&service),
        expo.clone(),
    ] {
        assert_eq!(
            subscribe(&app, &bob.token, body).await.0,
            StatusCode::CREATED
        );
    }

    app.send_text(&alice, &room, "Are you in?").await;
    let mut seen = Vec::new();
    while seen.len() < 4 {
        seen.push(service.next().await.device);
    }
    seen.sort();
    let mut expected = vec![
        gone.name.clone(),
        flaky.name.clone(),
        flaky.name.clone(),
        expo_token.clone(),
    ];
    expected.sort();
    assert_eq!(seen, expected, "the 503 is tried again; the gone ones once");
    assert!(service.within(Duration::from_millis(500)).await.is_empty());

    // The device the service called gone, and the Expo one, were deleted: registering them
    // again makes new subscriptions. The flaky one is still there.
    for (body, status) in [
        (gone.subscription(&service), StatusCode::CREATED),
        (expo, StatusCode::CREATED),
        (flaky.subscription(&service), StatusCode::OK),
    ] {
        assert_eq!(subscribe(&app, &bob.token, body).await.0, status);
    }
}

#[tokio::test]
async fn the_vapid_key_is_made_once_and_kept() {
    let app = TestApp::builder().push(PushConfig::default()).spawn().await;
    let key = vapid_key(&app).await;
    let app = app.restart().await;
    assert_eq!(vapid_key(&app).await, key, "the same key after a restart");

    // An operator's own key is used as given.
    let secret = "RS0WdYWWo1HajXg3NZR1olzCf31i-ZBGDkFyCs7j1jw";
    let given = TestApp::builder()
        .push(PushConfig {
            vapid_private_key: Some(secret.into()),
            ..PushConfig::default()
        })
        .spawn()
        .await;
    let expected = server::adapters::push::Vapid::new(secret, "mailto:x@example.com").expect("key");
    assert_eq!(vapid_key(&given).await, expected.public_key());
    assert_ne!(expected.public_key(), key);
}
