//! `/.well-known/assetlinks.json` and `/.well-known/apple-app-site-association`: the files
//! with which Android and iOS let the configured native apps open invite links
//! (`/invite/{code}`) themselves (`CONFAB_ANDROID_*`, `CONFAB_IOS_APP_IDS`). Without
//! configured apps they do not exist, and links open the web app.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::error::Error;

/// The paths the apps handle.
const APP_PATHS: &str = "/invite/*";

pub async fn assetlinks(State(state): State<AppState>) -> Result<Response, Error> {
    let links = &state.config.app_links;
    let package = links
        .android_package
        .as_deref()
        .ok_or(Error::NotFound("Android app link"))?;
    let body = json!([{
        "relation": ["delegate_permission/common.handle_all_urls"],
        "target": {
            "namespace": "android_app",
            "package_name": package,
            "sha256_cert_fingerprints": links.android_fingerprints,
        },
    }]);
    Ok(json_file(&body))
}

pub async fn apple_app_site_association(State(state): State<AppState>) -> Result<Response, Error> {
    let ids = &state.config.app_links.ios_app_ids;
    if ids.is_empty() {
        return Err(Error::NotFound("iOS app link"));
    }
    // `appIDs` and `components` for iOS 13 and later; `appID` and `paths` for older ones.
    let legacy: Vec<_> = ids
        .iter()
        .map(|id| json!({ "appID": id, "paths": [APP_PATHS] }))
        .collect();
    let mut details = vec![json!({
        "appIDs": ids,
        "components": [{ "/": APP_PATHS, "comment": "invite links" }],
    })];
    details.extend(legacy);
    let body = json!({ "applinks": { "apps": [], "details": details } });
    Ok(json_file(&body))
}

/// Served as `application/json` (Apple requires it of a file without an extension).
fn json_file(body: &serde_json::Value) -> Response {
    (
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        body.to_string(),
    )
        .into_response()
}
