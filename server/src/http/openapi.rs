//! The machine-readable contract: `GET /api/v1/openapi.json` (OpenAPI 3.1, from the
//! handlers' `#[utoipa::path]` annotations and the wire types of `protocol`) and
//! `GET /api/v1/asyncapi.json` (AsyncAPI 3, from `protocol::asyncapi`).
//!
//! The router is built from the same annotated handlers ([`super::api_routes`]), so a route
//! cannot exist without its description. What every operation can answer besides its own
//! responses (a malformed request, no session, a rate limit, a busy or failing node) is
//! added here once rather than repeated on every handler.

use std::sync::OnceLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use protocol::{ErrorBody, ErrorCode, paths};
use utoipa::OpenApi;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

use super::auth::SESSION_COOKIE;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Confab REST API",
        version = "1.1.0",
        description = "The REST half of Confab's public API (`shared/API.md`, v1 and v1.1). \
            JSON everywhere, `snake_case` fields, RFC 3339 UTC timestamps with milliseconds. \
            Authenticate with `Authorization: Bearer <token>`, or the session cookie plus \
            `X-Requested-With: confab` on requests that change state. Every error answers \
            `{\"error\": {\"code\", \"message\"}}`. The Socket.IO half is described by \
            `/api/v1/asyncapi.json`.",
        license(name = "MIT"),
    ),
    components(schemas(ErrorBody, ErrorCode)),
    tags(
        (name = "accounts", description = "Registration, sessions, the caller's profile, people"),
        (name = "rooms", description = "Groups, direct rooms and their members"),
        (name = "messages", description = "History, sending and search"),
        (name = "invites", description = "Invite links to groups"),
        (name = "media", description = "Images and voice messages: upload and download"),
        (name = "push", description = "Push notifications for devices with no live socket"),
        (name = "contract", description = "These documents"),
        (name = "health", description = "Liveness and readiness, for load balancers"),
    ),
)]
struct ApiDoc;

/// The whole document: the API under `/api/v1` plus the health endpoints.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, api) = super::api_routes().split_for_parts();
    let uploads = super::upload_description();
    let (_, health) = super::health_routes().split_for_parts();
    let mut doc = ApiDoc::openapi().nest(paths::API, api.merge_from(uploads));
    doc.merge(health);
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components.add_security_scheme(
        "session_cookie",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            SESSION_COOKIE,
            "Set by login; requests that change state also need `X-Requested-With: confab`.",
        ))),
    );
    doc.security = Some(vec![
        SecurityRequirement::new("bearer", Vec::<String>::new()),
        SecurityRequirement::new("session_cookie", Vec::<String>::new()),
    ]);
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with(paths::API) {
            continue;
        }
        let operations = [
            (&mut item.get, false),
            (&mut item.post, true),
            (&mut item.put, true),
            (&mut item.patch, true),
            (&mut item.delete, true),
        ];
        for (operation, changes_state) in operations {
            if let Some(operation) = operation {
                add_common_errors(operation, changes_state);
            }
        }
    }
    doc
}

/// What any operation may answer besides its own responses.
fn add_common_errors(operation: &mut utoipa::openapi::path::Operation, changes_state: bool) {
    // `security(())` on the annotation: one empty requirement, no session needed.
    let public = operation
        .security
        .as_ref()
        .is_some_and(|requirements| requirements.contains(&SecurityRequirement::default()));
    let mut common = vec![
        (
            400,
            "The request is malformed: a path, query or body field is missing or invalid",
        ),
        (
            429,
            "Too many requests; `Retry-After` says when to try again",
        ),
        (500, "The server failed; it says no more"),
        (
            503,
            "A service the request needs is down or too slow; try again",
        ),
    ];
    if !public {
        common.push((401, "No valid session"));
        if changes_state {
            common.push((
                403,
                "A cookie-authenticated request without `X-Requested-With: confab`, or the caller may not do this",
            ));
        }
    }
    if operation.request_body.is_some() {
        common.push((413, "The request body is larger than the limit"));
        common.push((
            415,
            "The body is not JSON (`Content-Type: application/json`)",
        ));
    }
    for (status, description) in common {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(description));
    }
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

fn json_response(text: &'static str) -> Response {
    ([(CONTENT_TYPE, "application/json")], text).into_response()
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get, path = paths::OPENAPI, tag = "contract", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of the REST API", content_type = "application/json"))
)]
pub async fn openapi_json() -> Response {
    static TEXT: OnceLock<String> = OnceLock::new();
    json_response(TEXT.get_or_init(|| document().to_pretty_json().unwrap_or_default()))
}

/// `GET /asyncapi.json`: the AsyncAPI 3 document of the Socket.IO events (an extension; the
/// repository holds the same document as `docs/asyncapi.json`).
#[utoipa::path(
    get, path = paths::ASYNCAPI, tag = "contract", security(()),
    responses((status = 200, description = "The AsyncAPI 3 document of the Socket.IO events", content_type = "application/json"))
)]
pub async fn asyncapi_json() -> Response {
    static TEXT: OnceLock<String> = OnceLock::new();
    json_response(TEXT.get_or_init(|| {
        serde_json::to_string_pretty(&protocol::asyncapi::document()).unwrap_or_default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The router serves, and the document lists, exactly the paths of `protocol::paths`
    /// under `/api/v1` (the health endpoints sit outside it).
    #[test]
    fn the_api_paths_are_the_protocol_constants() {
        let document = document();
        let mut served: Vec<&str> = document
            .paths
            .paths
            .keys()
            .filter_map(|path| path.strip_prefix(paths::API))
            .collect();
        served.sort_unstable();
        let mut declared = paths::ALL.to_vec();
        declared.sort_unstable();
        assert_eq!(served, declared);
    }
}
