//! Server-side stand-ins for the browser APIs: never called while rendering on the server.

use std::collections::BTreeMap;

use super::{BlobKey, FetchError, Recording, Shrunk};

pub async fn fetch(
    _method: &str,
    _path: &str,
    _body: Option<String>,
) -> Result<String, FetchError> {
    Err(FetchError::Network)
}
pub fn storage_get(_key: &str) -> Option<String> {
    None
}
pub fn storage_set(_key: &str, _value: &str) {}
pub fn storage_remove(_key: &str) {}
pub fn uuid() -> String {
    String::new()
}
pub fn is_visible() -> bool {
    true
}
pub fn is_online() -> bool {
    true
}
pub fn on_visibility_change(_cb: impl Fn(bool) + 'static) {}
pub fn on_online_change(_cb: impl Fn(bool) + 'static) {}
pub fn notification_permission() -> String {
    "default".into()
}
pub async fn request_notification_permission() -> String {
    "unsupported".into()
}
pub fn notify(_title: &str, _body: &str, _room: &str) {}
pub async fn push_subscription(_key: &str) -> Option<String> {
    None
}
pub async fn copy_text(_text: &str) -> bool {
    false
}
pub fn confirm(_question: &str) -> bool {
    false
}
pub fn reveal(_element_id: &str) -> bool {
    false
}
pub fn register_service_worker() {}
pub fn origin() -> String {
    String::new()
}
pub fn socket_open(_on_event: impl Fn(&str, String) + 'static) {}
pub fn socket_close() {}
pub fn socket_reopen() {}
pub fn socket_pause() {}
pub fn socket_connected() -> bool {
    false
}
pub async fn socket_emit(_event: &str, _payload: String) -> Result<String, String> {
    Err("no socket on the server".into())
}
pub fn local_time(millis: i64) -> (String, String) {
    let text = crate::protocol::Timestamp::from_millis(millis).to_string();
    (
        crate::client::model::day(&text).to_owned(),
        crate::client::model::clock(&text).to_owned(),
    )
}
pub fn rename_blob(_from: &BlobKey, _to: BlobKey) {}
pub fn forget_blob(_key: &BlobKey) {}
pub fn has_blob(_key: &BlobKey) -> bool {
    false
}
pub fn blob_size(_key: &BlobKey) -> u64 {
    0
}
pub fn chosen_file(_ev: &leptos::web_sys::Event) -> Option<BlobKey> {
    None
}
pub fn object_url(_key: &BlobKey) -> Option<String> {
    None
}
pub fn revoke_object_url(_url: &str) {}
pub fn now_millis() -> i64 {
    crate::protocol::Timestamp::now().as_millis()
}
pub async fn sleep(_ms: u32) {}
pub async fn shrink_photo(_key: &BlobKey) -> Result<Shrunk, String> {
    Err("no photo tool on the server".into())
}
pub async fn shrink_picture(_key: &BlobKey) -> Result<Shrunk, String> {
    Err("no photo tool on the server".into())
}
pub async fn upload(
    _url: &str,
    _headers: &BTreeMap<String, String>,
    _key: &BlobKey,
    _on_progress: impl Fn(f64) + 'static,
) -> Result<(), FetchError> {
    Err(FetchError::Network)
}
pub async fn record_start() -> Result<(), String> {
    Err("no microphone on the server".into())
}
pub async fn record_stop() -> Option<Recording> {
    None
}
pub fn record_cancel() {}
pub async fn outbox_store_put(_user: &str, _client_id: &str, _meta: &str, _key: &BlobKey) -> bool {
    false
}
pub async fn outbox_store_all(_user: &str) -> Vec<String> {
    Vec::new()
}
pub async fn outbox_store_delete(_client_id: &str) {}
