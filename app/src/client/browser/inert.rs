//! Server-side stand-ins for the browser APIs: never called while rendering on the server.

use super::FetchError;

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
pub fn request_notification_permission() {}
pub fn notify(_title: &str, _body: &str) {}
pub async fn copy_text(_text: &str) -> bool {
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
