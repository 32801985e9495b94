//! Every REST answer and every socket payload the tests receive is checked against the
//! contract documents: the OpenAPI document the server serves and the AsyncAPI document the
//! repository holds (both generated from the server's own types). A field renamed or
//! retyped in code but not in the documents, an undocumented status, or a payload that is
//! not what its event promises fails the test that received it.
//!
//! The check is stricter than the documents: every object the server sends must carry every
//! property its schema names (the API promises fields such as `last_message: null` are
//! present) and nothing else.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use jsonschema::Validator;
use serde_json::{Map, Value, json};

/// The OpenAPI document, as the server builds it.
pub static OPENAPI: LazyLock<Value> = LazyLock::new(|| {
    serde_json::to_value(server::http::openapi::document()).expect("the OpenAPI document")
});

/// The AsyncAPI document, as the server builds it.
pub static ASYNCAPI: LazyLock<Value> = LazyLock::new(protocol::asyncapi::document);

/// The documents as the checks read them (see [`strict_document`]), each built once, the
/// first time a check needs it, and shared by every validator.
static STRICT_OPENAPI: LazyLock<Value> = LazyLock::new(|| strict_document(&OPENAPI));
static STRICT_ASYNCAPI: LazyLock<Value> = LazyLock::new(|| strict_document(&ASYNCAPI));

/// [`strict`] components, and the paths (an inline response schema is reached through them).
fn strict_document(doc: &Value) -> Value {
    json!({
        "components": strict(&doc["components"]),
        "paths": doc.get("paths").cloned().unwrap_or(Value::Null),
    })
}

/// Which document a schema pointer points into.
#[derive(Clone, Copy, Debug)]
enum Doc {
    OpenApi,
    AsyncApi,
}

impl Doc {
    fn strict(self) -> &'static Value {
        match self {
            Doc::OpenApi => &STRICT_OPENAPI,
            Doc::AsyncApi => &STRICT_ASYNCAPI,
        }
    }
}

/// Validators by document and schema pointer, built once.
static VALIDATORS: LazyLock<Mutex<HashMap<String, Arc<Validator>>>> =
    LazyLock::new(Default::default);

/// Checks a REST answer: its status must be documented for the operation, and a JSON body
/// must match the documented schema. Paths outside the document (pages, `/metrics`) are not
/// checked; an unknown path under `/api/v1` must answer the error body.
pub fn check_response(method: &str, path_and_query: &str, status: u16, body: &Value) {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(path, _)| path);
    if !path.starts_with("/api/v1/") && !matches!(path, "/healthz" | "/readyz") {
        return;
    }
    let Some(template) = operation_path(path, method) else {
        if path.starts_with("/api/v1/") && status >= 400 {
            check(Doc::OpenApi, "/components/schemas/ErrorBody", body)
                .unwrap_or_else(|e| panic!("{method} {path} → {status}: {e}"));
        }
        return;
    };
    let operation = format!(
        "/paths/{}/{}/responses",
        escape(&template),
        method.to_ascii_lowercase()
    );
    let responses = OPENAPI.pointer(&operation).expect("operation responses");
    let Some(response) = responses.get(status.to_string()) else {
        panic!(
            "{method} {path} answered {status}, which the OpenAPI document does not list for \
             {template} (it lists {:?})",
            responses.as_object().map(|o| o.keys().collect::<Vec<_>>())
        );
    };
    let Some(schema) = response.pointer("/content/application~1json/schema") else {
        return;
    };
    if body.is_null() || body.is_string() {
        panic!("{method} {path} → {status}: the document promises JSON, got {body}");
    }
    let pointer = match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference.trim_start_matches('#').to_owned(),
        None => format!("{operation}/{status}/content/application~1json/schema"),
    };
    check(Doc::OpenApi, &pointer, body)
        .unwrap_or_else(|e| panic!("{method} {path} → {status}: {e}"));
}

/// Checks an event the server emitted to a client. Events the document does not name fail.
pub fn check_event(event: &str, payload: &Value) -> Result<(), String> {
    let schema = server_message(event)
        .ok_or_else(|| format!("`{event}` is not an event the AsyncAPI document describes"))?;
    check(Doc::AsyncApi, &schema, payload).map_err(|e| format!("`{event}`: {e}"))
}

/// Checks the acknowledgement of a client event: its success ack or the error ack.
pub fn check_ack(event: &str, ack: &Value) -> Result<(), String> {
    let id = event.replace(':', "_");
    let reply = format!("/operations/receive_{id}/reply/messages");
    let Some(messages) = ASYNCAPI.pointer(&reply).and_then(Value::as_array) else {
        // An event the server does not know answers with an error ack.
        return check(Doc::AsyncApi, "/components/schemas/ErrorAck", ack)
            .map_err(|e| format!("ack of unknown `{event}`: {e}"));
    };
    let mut errors = Vec::new();
    for message in messages {
        let schema = payload_of(message).expect("reply message payload");
        match check(Doc::AsyncApi, &schema, ack) {
            Ok(()) => return Ok(()),
            Err(e) => errors.push(e),
        }
    }
    Err(format!(
        "ack of `{event}` matches no reply: {}",
        errors.join("; ")
    ))
}

/// The schema pointer of the payload of the server's `send` operation for `event`.
fn server_message(event: &str) -> Option<String> {
    let operations = ASYNCAPI["operations"].as_object()?;
    operations
        .values()
        .filter(|operation| operation["action"] == "send")
        .flat_map(|operation| operation["messages"].as_array().into_iter().flatten())
        .find_map(|message| {
            let component = resolve(message)?;
            (component["name"] == event)
                .then(|| payload_of(message))
                .flatten()
        })
}

/// A channel message reference → the message component.
fn resolve(message: &Value) -> Option<&'static Value> {
    let pointer = message["$ref"].as_str()?.trim_start_matches('#');
    let channel_message = ASYNCAPI.pointer(pointer)?;
    let component = channel_message["$ref"].as_str()?.trim_start_matches('#');
    ASYNCAPI.pointer(component)
}

fn payload_of(message: &Value) -> Option<String> {
    let payload = resolve(message)?["payload"]["$ref"].as_str()?;
    Some(payload.trim_start_matches('#').to_owned())
}

/// The document's path template for a concrete path, preferring literal segments
/// (`/rooms/{id}/members/me` over `/rooms/{id}/members/{user_id}`).
fn operation_path(path: &str, method: &str) -> Option<String> {
    let method = method.to_ascii_lowercase();
    let segments: Vec<&str> = path.split('/').collect();
    OPENAPI["paths"]
        .as_object()?
        .iter()
        .filter(|(_, item)| item.get(&method).is_some())
        .filter_map(|(template, _)| {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut params = 0;
            for (part, segment) in parts.iter().zip(&segments) {
                if part.starts_with('{') {
                    params += 1;
                } else if part != segment {
                    return None;
                }
            }
            Some((params, template.clone()))
        })
        .min()
        .map(|(_, template)| template)
}

/// A JSON pointer segment: `/` is `~1`, `~` is `~0`.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Validates `instance` against the schema at `pointer` of a document.
fn check(doc: Doc, pointer: &str, instance: &Value) -> Result<(), String> {
    let key = format!("{doc:?}#{pointer}");
    let validator = {
        let mut validators = VALIDATORS.lock().expect("validators");
        Arc::clone(validators.entry(key).or_insert_with(|| {
            let mut schema = doc.strict().clone();
            schema["$ref"] = Value::String(format!("#{pointer}"));
            Arc::new(
                jsonschema::draft202012::options()
                    .should_validate_formats(true)
                    .build(&schema)
                    .unwrap_or_else(|e| panic!("the schema at {pointer} compiles: {e}")),
            )
        }))
    };
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{} in {instance}", errors.join("; ")))
    }
}

/// The components with every object schema closed (`additionalProperties: false`) and every
/// property required: what the server sends has exactly the documented fields.
fn strict(components: &Value) -> Value {
    let mut components = components.clone();
    if let Some(schemas) = components.get_mut("schemas").and_then(Value::as_object_mut) {
        for schema in schemas.values_mut() {
            close(schema);
        }
    }
    components
}

fn close(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(properties)) = object.get("properties") {
        let names: Vec<Value> = properties.keys().cloned().map(Value::String).collect();
        if !object.contains_key("additionalProperties") {
            object.insert("additionalProperties".into(), Value::Bool(false));
        }
        object.insert("required".into(), Value::Array(names));
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(variants)) = object.get_mut(key) {
            variants.iter_mut().for_each(close);
        }
    }
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        let inner: &mut Map<String, Value> = properties;
        inner.values_mut().for_each(close);
    }
}

#[test]
fn the_checks_catch_a_renamed_field_and_an_undocumented_event() {
    let message = json!({
        "id": "m1", "room_id": "r1", "seq": 1, "sender_id": "u1", "client_id": "c1",
        "kind": "text", "body": "hi", "media": null, "reply_to": null,
        "created_at": "2026-11-28T06:12:13.123Z", "relates_to": null, "edited_at": null,
        "deleted_at": null, "reactions": [], "mentions": [], "reply_preview": null,
    });
    assert_eq!(check_event("message:new", &message), Ok(()));
    let mut renamed = message.clone();
    let body = renamed["body"].take();
    renamed.as_object_mut().expect("object").remove("body");
    renamed["text"] = body;
    assert!(check_event("message:new", &renamed).is_err());
    let mut bad_time = message.clone();
    bad_time["created_at"] = json!("yesterday");
    assert!(check_event("message:new", &bad_time).is_err());
    assert!(check_event("message:sent", &message).is_err());
    assert_eq!(check_ack("receipt", &json!({"ok": true})), Ok(()));
    assert!(check_ack("receipt", &json!({"ok": "yes"})).is_err());
    assert_eq!(
        check_ack(
            "sync",
            &json!({"ok": false, "error": {"code": "bad_request", "message": "no"}})
        ),
        Ok(())
    );
    assert_eq!(
        operation_path("/api/v1/rooms/r1/members/me", "PATCH").as_deref(),
        Some("/api/v1/rooms/{id}/members/me")
    );
    assert_eq!(
        operation_path("/api/v1/rooms/r1/members/u2", "PATCH").as_deref(),
        Some("/api/v1/rooms/{id}/members/{user_id}")
    );
}

#[test]
#[should_panic(expected = "does not list")]
fn an_undocumented_status_fails() {
    check_response("GET", "/api/v1/me", 418, &json!({}));
}

/// The documents as the repository holds them (`docs/openapi.json`, `docs/asyncapi.json`)
/// are the ones the server builds; `CONFAB_BLESS=1` rewrites them after a change.
#[test]
fn the_documents_in_the_repository_are_current() {
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    for (file, doc) in [("openapi.json", &*OPENAPI), ("asyncapi.json", &*ASYNCAPI)] {
        let path = docs.join(file);
        let text = serde_json::to_string_pretty(doc).expect("serialises") + "\n";
        if std::env::var_os("CONFAB_BLESS").is_some() {
            std::fs::write(&path, &text).expect("write the document");
            continue;
        }
        let held = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            held == text,
            "docs/{file} is stale: run `CONFAB_BLESS=1 cargo test -p server --test it \
             schema::` and commit it"
        );
    }
}

#[tokio::test]
async fn the_server_serves_both_documents() {
    let app = crate::helpers::spawn_app().await;
    let (status, openapi) = app
        .call(reqwest::Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(openapi, *OPENAPI);
    assert_eq!(openapi["openapi"], "3.1.0");
    // Every endpoint of API.md is described, with its error body.
    for (path, method) in [
        ("/api/v1/auth/register", "post"),
        ("/api/v1/rooms/{id}/messages", "get"),
        ("/api/v1/rooms/{id}/messages", "post"),
        ("/api/v1/invites/{code}/accept", "post"),
        ("/api/v1/media/{id}/complete", "post"),
        ("/api/v1/uploads/{key}", "put"),
        ("/api/v1/push/subscriptions", "post"),
        ("/api/v1/search", "get"),
        ("/readyz", "get"),
    ] {
        let operation = &openapi["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is described");
    }
    assert_eq!(
        openapi["paths"]["/api/v1/rooms/{id}/messages"]["post"]["responses"]["429"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    let (status, asyncapi) = app
        .call(reqwest::Method::GET, "/api/v1/asyncapi.json", None, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(asyncapi, *ASYNCAPI);
    assert_eq!(asyncapi["asyncapi"], "3.0.0");
}
