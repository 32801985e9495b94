//! The browser APIs, through web-sys, and the realtime connection (the global `ConfabSocket`
//! of `/realtime.js`, a WebSocket-only Socket.IO client) through `js_sys::Reflect`, which
//! needs no `unsafe` bindings.

use std::cell::RefCell;

use js_sys::{Function, JSON, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestCredentials, RequestInit, Response};

use super::FetchError;

/// How long an emit waits for its ack before the caller treats it as lost (and the outbox
/// keeps the message for the next connection).
const ACK_TIMEOUT_MS: f64 = 10_000.0;

thread_local! {
    static SOCKET: RefCell<Option<JsValue>> = const { RefCell::new(None) };
}

fn window() -> web_sys::Window {
    web_sys::window().expect("a browser window")
}

/// A same-origin request with the session cookie; state-changing ones carry the CSRF header.
pub async fn fetch(method: &str, path: &str, body: Option<String>) -> Result<String, FetchError> {
    let init = RequestInit::new();
    init.set_method(method);
    init.set_credentials(RequestCredentials::SameOrigin);
    let headers = Headers::new().map_err(|_| FetchError::Network)?;
    let _ = headers.set("Accept", "application/json");
    if method != "GET" {
        let _ = headers.set("X-Requested-With", "confab");
    }
    if let Some(body) = &body {
        let _ = headers.set("Content-Type", "application/json");
        init.set_body(&JsValue::from_str(body));
    }
    init.set_headers(&headers);
    let promise = window().fetch_with_str_and_init(path, &init);
    let response: Response = JsFuture::from(promise)
        .await
        .map_err(|_| FetchError::Network)?
        .unchecked_into();
    let text = match response.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    if response.ok() {
        Ok(text)
    } else {
        Err(FetchError::Status(response.status(), text))
    }
}

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

pub fn storage_get(key: &str) -> Option<String> {
    storage()?.get_item(key).ok().flatten()
}

pub fn storage_set(key: &str, value: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(key, value);
    }
}

pub fn storage_remove(key: &str) {
    if let Some(s) = storage() {
        let _ = s.remove_item(key);
    }
}

/// A random UUID for a message's `client_id`.
pub fn uuid() -> String {
    window()
        .crypto()
        .map(|c| c.random_uuid())
        .unwrap_or_default()
}

pub fn is_visible() -> bool {
    window()
        .document()
        .is_some_and(|d| d.visibility_state() == web_sys::VisibilityState::Visible)
}

pub fn is_online() -> bool {
    window().navigator().on_line()
}

fn listen(target: &web_sys::EventTarget, event: &str, cb: impl Fn() + 'static) {
    let closure = Closure::<dyn Fn()>::new(cb);
    let _ = target.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref());
    // The listeners live as long as the page.
    closure.forget();
}

pub fn on_visibility_change(cb: impl Fn(bool) + 'static) {
    if let Some(doc) = window().document() {
        listen(&doc, "visibilitychange", move || cb(is_visible()));
    }
}

pub fn on_online_change(cb: impl Fn(bool) + 'static) {
    let cb = std::rc::Rc::new(cb);
    let off = cb.clone();
    listen(&window(), "online", move || cb(true));
    listen(&window(), "offline", move || off(false));
}

pub fn notification_permission() -> String {
    if Reflect::has(&window(), &"Notification".into()).unwrap_or(false) {
        match web_sys::Notification::permission() {
            web_sys::NotificationPermission::Granted => "granted",
            web_sys::NotificationPermission::Denied => "denied",
            _ => "default",
        }
        .into()
    } else {
        "unsupported".into()
    }
}

/// Asks the user to allow notifications; what they answered (as
/// [`notification_permission`] names it).
pub async fn request_notification_permission() -> String {
    if notification_permission() == "default"
        && let Ok(asked) = web_sys::Notification::request_permission()
    {
        let _ = JsFuture::from(asked).await;
    }
    notification_permission()
}

/// A system notification, only when the user allowed them: shown by the service worker,
/// as pushed ones are (`sw.js`: one per room, a click opens it; and on Android the only
/// way), or by the page itself where there is no service worker.
pub fn notify(title: &str, body: &str, room: &str) {
    if notification_permission() != "granted" {
        return;
    }
    let navigator = window().navigator();
    let ready = Reflect::has(&navigator, &"serviceWorker".into())
        .unwrap_or(false)
        .then(|| navigator.service_worker().ready().ok())
        .flatten();
    let Some(ready) = ready else {
        let options = web_sys::NotificationOptions::new();
        options.set_body(body);
        let _ = web_sys::Notification::new_with_options(title, &options);
        return;
    };
    let message = js_sys::Object::new();
    for (key, value) in [
        ("type", "notify"),
        ("title", title),
        ("body", body),
        ("room_id", room),
    ] {
        let _ = Reflect::set(&message, &key.into(), &value.into());
    }
    wasm_bindgen_futures::spawn_local(async move {
        if let Ok(registration) = JsFuture::from(ready).await
            && let Ok(worker) = Reflect::get(&registration, &"active".into())
        {
            let _ = call(&worker, "postMessage", &[message.into()]);
        }
    });
}

/// This browser's push subscription for the application server `key` (base64url), as the
/// JSON of `PushSubscription.toJSON()`: made if there is none yet. `None` where push is
/// not supported or the browser's push service refused.
pub async fn push_subscription(key: &str) -> Option<String> {
    let navigator = window().navigator();
    if !Reflect::has(&navigator, &"serviceWorker".into()).unwrap_or(false)
        || !Reflect::has(&window(), &"PushManager".into()).unwrap_or(false)
    {
        return None;
    }
    let registration = JsFuture::from(navigator.service_worker().ready().ok()?)
        .await
        .ok()?;
    let manager = Reflect::get(&registration, &"pushManager".into()).ok()?;
    let options = js_sys::Object::new();
    Reflect::set(&options, &"userVisibleOnly".into(), &true.into()).ok()?;
    let key = js_sys::Uint8Array::from(base64url_decode(key)?.as_slice());
    Reflect::set(&options, &"applicationServerKey".into(), &key).ok()?;
    let subscribing: js_sys::Promise = call(&manager, "subscribe", &[options.into()])
        .ok()?
        .dyn_into()
        .ok()?;
    let subscription = JsFuture::from(subscribing).await.ok()?;
    js_sys::JSON::stringify(&subscription).ok()?.as_string()
}

/// Base64url (with or without padding) to bytes, through the browser's `atob`.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut standard: String = text
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !standard.len().is_multiple_of(4) {
        standard.push('=');
    }
    let binary = window().atob(&standard).ok()?;
    binary.chars().map(|c| u8::try_from(c).ok()).collect()
}

pub async fn copy_text(text: &str) -> bool {
    let clipboard = window().navigator().clipboard();
    JsFuture::from(clipboard.write_text(text)).await.is_ok()
}

/// Asks the user to confirm (the browser's own dialog).
pub fn confirm(question: &str) -> bool {
    window().confirm_with_message(question).unwrap_or(false)
}

/// Scrolls the element with this id to the middle of its scroller; false when it is not
/// on the page.
pub fn reveal(element_id: &str) -> bool {
    let Some(element) = window()
        .document()
        .and_then(|d| d.get_element_by_id(element_id))
    else {
        return false;
    };
    let options = web_sys::ScrollIntoViewOptions::new();
    options.set_block(web_sys::ScrollLogicalPosition::Center);
    element.scroll_into_view_with_scroll_into_view_options(&options);
    true
}

pub fn register_service_worker() {
    let navigator = window().navigator();
    if Reflect::has(&navigator, &"serviceWorker".into()).unwrap_or(false) {
        let _ = navigator.service_worker().register("/sw.js");
    }
}

pub fn origin() -> String {
    window().location().origin().unwrap_or_default()
}

fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = Reflect::get(target, &method.into())?.dyn_into()?;
    let args: js_sys::Array = args.iter().collect();
    f.apply(target, &args)
}

/// The events the app listens to; each payload reaches `on_event` as JSON text.
const EVENTS: [&str; 7] = [
    "message:new",
    "receipt",
    "typing",
    "presence",
    "room:update",
    "room:left",
    "notification",
];

/// Connects to `/socket.io/` on this origin (the session cookie authenticates) and forwards
/// every event, plus `connect`, `disconnect` and `connect_error` (with the error's message).
pub fn socket_open(on_event: impl Fn(&str, String) + 'static) {
    socket_close();
    let Ok(class) = Reflect::get(&js_sys::global(), &"ConfabSocket".into()) else {
        return;
    };
    let Ok(class) = class.dyn_into::<Function>() else {
        leptos::logging::error!("the realtime client (/realtime.js) did not load");
        return;
    };
    let Ok(socket) = Reflect::construct(&class, &js_sys::Array::new()) else {
        return;
    };
    let on_event = std::rc::Rc::new(on_event);
    for event in EVENTS
        .iter()
        .chain(&["connect", "disconnect", "connect_error"])
    {
        let on_event = on_event.clone();
        let name = *event;
        let closure = Closure::<dyn Fn(JsValue)>::new(move |payload: JsValue| {
            let text = if name == "connect_error" {
                Reflect::get(&payload, &"message".into())
                    .ok()
                    .and_then(|m| m.as_string())
                    .unwrap_or_default()
            } else {
                JSON::stringify(&payload)
                    .ok()
                    .and_then(|s| s.as_string())
                    .unwrap_or_default()
            };
            on_event(name, text);
        });
        let _ = call(&socket, "on", &[name.into(), closure.as_ref().clone()]);
        closure.forget();
    }
    SOCKET.with(|s| *s.borrow_mut() = Some(socket));
}

fn with_socket(f: impl FnOnce(&JsValue)) {
    SOCKET.with(|s| {
        if let Some(socket) = s.borrow().as_ref() {
            f(socket);
        }
    });
}

pub fn socket_close() {
    with_socket(|s| {
        let _ = call(s, "disconnect", &[]);
    });
    SOCKET.with(|s| *s.borrow_mut() = None);
}

/// Disconnects without forgetting the socket (the browser went offline).
pub fn socket_pause() {
    with_socket(|s| {
        let _ = call(s, "disconnect", &[]);
    });
}

/// Connects again after `socket_pause` or a refused handshake.
pub fn socket_reopen() {
    with_socket(|s| {
        let _ = call(s, "connect", &[]);
    });
}

pub fn socket_connected() -> bool {
    let mut connected = false;
    with_socket(|s| {
        connected = Reflect::get(s, &"connected".into())
            .ok()
            .and_then(|c| c.as_bool())
            .unwrap_or(false);
    });
    connected
}

/// Emits `event` with a JSON payload and waits for its ack (as JSON text), or fails after
/// the ack timeout or when not connected.
pub async fn socket_emit(event: &str, payload: String) -> Result<String, String> {
    let mut promise = None;
    with_socket(|s| {
        if let Ok(payload) = JSON::parse(&payload) {
            promise = call(
                s,
                "emitWithAck",
                &[event.into(), payload, ACK_TIMEOUT_MS.into()],
            )
            .ok();
        }
    });
    let promise: Promise = promise
        .ok_or_else(|| "not connected".to_string())?
        .dyn_into()
        .map_err(|_| "no promise".to_string())?;
    let answer = JsFuture::from(promise)
        .await
        .map_err(|_| "no answer".to_string())?;
    JSON::stringify(&answer)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| "unreadable answer".to_string())
}

/// A moment as the user's local day (`2026-11-28`) and clock time (`14:05`).
pub fn local_time(millis: i64) -> (String, String) {
    let date = js_sys::Date::new(&JsValue::from_f64(millis as f64));
    (
        format!(
            "{:04}-{:02}-{:02}",
            date.get_full_year(),
            date.get_month() + 1,
            date.get_date()
        ),
        format!("{:02}:{:02}", date.get_hours(), date.get_minutes()),
    )
}
