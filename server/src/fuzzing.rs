//! Entry points for the fuzz targets in `fuzz/` (and for the unit test that replays their
//! seed corpus): each hands arbitrary bytes to the code that faces untrusted input exactly as
//! a request would reach it. A decoder may refuse anything; it must never panic, hang or
//! claim what is not so (a stripped image that is no longer the same kind of image, say).

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::Request;
use protocol::{
    CreateGroupRequest, CreateMediaRequest, FocusRequest, HistoryQuery, LoginRequest,
    ReceiptRequest, RegisterRequest, SendMessageRequest, SocketSend, SyncRequest, TypingRequest,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::chat::media::inspect::{IMAGE_TYPES, inspect_image, sniff};
use crate::chat::media::strip::strip_metadata;
use crate::domain::{ClientId, DisplayName, MessageBody, Password, RoomName, Username};
use crate::http::extract::{ApiJson, ApiQuery};

/// A socket event's payload, as `realtime` decodes it for each event that takes one; what
/// decodes then goes through the same checks the chat core makes.
pub fn socket_event(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(send) = crate::realtime::decode::<SocketSend>(Ok::<_, String>(value.clone())) {
        message_fields(&send.message);
    }
    let _ = crate::realtime::decode::<ReceiptRequest>(Ok::<_, String>(value.clone()));
    let _ = crate::realtime::decode::<TypingRequest>(Ok::<_, String>(value.clone()));
    let _ = crate::realtime::decode::<FocusRequest>(Ok::<_, String>(value.clone()));
    let _ = crate::realtime::decode::<SyncRequest>(Ok::<_, String>(value));
}

/// An uploaded file: the first byte picks the declared type and an EXIF orientation, the
/// rest is the file. Sniffing, inspecting (under a pixel budget) and stripping must refuse
/// or succeed, and a stripped file must still be the type it was.
pub fn media(data: &[u8]) {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let base = IMAGE_TYPES[usize::from(pick) % IMAGE_TYPES.len()];
    let orientation = pick / 16 % 9;
    let sniffed = sniff(file);
    if let Some(stripped) = strip_metadata(file, base, orientation) {
        assert_eq!(
            sniff(&stripped),
            sniffed,
            "stripping changed what the file is"
        );
    }
    if let Ok(facts) = inspect_image(file, base, 250_000) {
        assert_eq!(
            sniff(&facts.stripped),
            sniff(file),
            "the stored file is another type"
        );
        assert!(
            u64::from(facts.width) * u64::from(facts.height) <= 250_000,
            "decoded past the pixel budget"
        );
    }
}

/// A REST request body or query: the first byte picks the endpoint's request type, the rest
/// goes through the same extractor the handler uses, then through the core's checks.
pub fn api_request(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    match pick % 7 {
        0 => {
            if let Some(r) = json::<RegisterRequest>(rest) {
                let _ = Username::parse(&r.username);
                let _ = Password::parse(r.password);
                if let Some(name) = r.display_name {
                    let _ = DisplayName::parse(&name);
                }
            }
        }
        1 => {
            if let Some(r) = json::<LoginRequest>(rest) {
                let _ = Username::parse(&r.username);
                let _ = Password::parse(r.password);
            }
        }
        2 => {
            if let Some(r) = json::<CreateGroupRequest>(rest) {
                let _ = RoomName::parse(&r.name);
            }
        }
        3 => {
            if let Some(r) = json::<SendMessageRequest>(rest) {
                message_fields(&r);
            }
        }
        4 => {
            let _ = json::<CreateMediaRequest>(rest);
        }
        5 => {
            let query = String::from_utf8_lossy(rest);
            let _ = history_query(&query);
        }
        _ => {
            let header = String::from_utf8_lossy(rest);
            let _ = crate::http::auth::session_cookie(&header);
            let total = rest.len() as u64 * 1_000;
            if let Ok((start, end)) = crate::http::range::byte_range(&header, total) {
                assert!(
                    start <= end && end < total,
                    "range {start}-{end} of {total}"
                );
            }
        }
    }
}

fn message_fields(request: &SendMessageRequest) {
    let _ = ClientId::parse(&request.client_id);
    if let Some(body) = &request.body {
        let _ = MessageBody::parse(body);
    }
}

/// `ApiJson<T>` on a JSON request with `body`.
fn json<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    let request = Request::post("/")
        .header("content-type", "application/json")
        .body(Body::from(body.to_vec()))
        .ok()?;
    at_once(ApiJson::<T>::from_request(request, &()))
        .ok()
        .map(|ApiJson(value)| value)
}

/// `ApiQuery<HistoryQuery>` on `/?{query}`.
fn history_query(query: &str) -> Option<HistoryQuery> {
    let request = Request::get(format!("/?{query}")).body(()).ok()?;
    let (mut parts, ()) = request.into_parts();
    at_once(ApiQuery::<HistoryQuery>::from_request_parts(
        &mut parts,
        &(),
    ))
    .ok()
    .map(|ApiQuery(value)| value)
}

/// An extractor's answer: on a request already in memory it comes in one poll.
fn at_once<T>(extracting: impl std::future::Future<Output = T>) -> T {
    futures_util::FutureExt::now_or_never(std::pin::pin!(extracting))
        .expect("extracting from a request in memory finishes at once")
}

#[cfg(test)]
mod tests {
    /// The committed seed corpus runs through every entry point on every `cargo test`, so a
    /// crash the fuzzers found and we fixed stays fixed.
    #[test]
    fn the_seed_corpus_passes_every_entry_point() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        type Entry = fn(&[u8]);
        let targets: [(&str, Entry); 3] = [
            ("socket_event", super::socket_event),
            ("media", super::media),
            ("api_request", super::api_request),
        ];
        for (target, entry) in targets {
            let dir = root.join(target);
            let seeds: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
                .map(|entry| entry.expect("a seed").path())
                .collect();
            assert!(seeds.len() >= 3, "{target} has a seed corpus");
            for seed in seeds {
                entry(&std::fs::read(&seed).expect("read a seed"));
            }
        }
    }
}
