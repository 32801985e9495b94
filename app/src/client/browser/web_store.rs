//! Unsent media messages in IndexedDB, the one browser store that keeps blobs across reloads
//! (localStorage holds text only). One record per message, keyed by its `client_id`: the
//! owner's user id, the message's description as JSON, and the blob to upload.

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbRequest, IdbTransactionMode};

use super::BlobKey;
use super::web_media::{blob, keep_blob};

const DATABASE: &str = "confab";
const VERSION: u32 = 1;
const OUTBOX: &str = "outbox";

/// Waits for an IndexedDB request to succeed (its result) or fail.
async fn finished(request: &IdbRequest) -> Result<JsValue, JsValue> {
    let promise = Promise::new(&mut |resolve, reject| {
        let done = request.clone();
        let on_success = Closure::once_into_js(move || {
            let _ = resolve.call1(&JsValue::NULL, &done.result().unwrap_or(JsValue::UNDEFINED));
        });
        request.set_onsuccess(Some(on_success.unchecked_ref()));
        request.set_onerror(Some(&reject));
    });
    JsFuture::from(promise).await
}

async fn open() -> Result<IdbDatabase, JsValue> {
    let factory = web_sys::window()
        .ok_or(JsValue::NULL)?
        .indexed_db()?
        .ok_or(JsValue::NULL)?;
    let request = factory.open_with_u32(DATABASE, VERSION)?;
    let upgrading = request.clone();
    let on_upgrade = Closure::once_into_js(move || {
        if let Ok(db) = upgrading.result().and_then(|d| d.dyn_into::<IdbDatabase>()) {
            let _ = db.create_object_store(OUTBOX);
        }
    });
    request.set_onupgradeneeded(Some(on_upgrade.unchecked_ref()));
    Ok(finished(&request).await?.unchecked_into())
}

async fn in_outbox(
    mode: IdbTransactionMode,
    act: impl FnOnce(&web_sys::IdbObjectStore) -> Result<IdbRequest, JsValue>,
) -> Result<JsValue, JsValue> {
    let db = open().await?;
    let store = db
        .transaction_with_str_and_mode(OUTBOX, mode)?
        .object_store(OUTBOX)?;
    let result = finished(&act(&store)?).await;
    db.close();
    result
}

/// Keeps (or replaces) a message waiting to be sent with its blob; false if the browser
/// refused (private mode, quota).
pub async fn outbox_store_put(user: &str, client_id: &str, meta: &str, key: &BlobKey) -> bool {
    let Some(blob) = blob(key) else { return false };
    let record = Object::new();
    let _ = Reflect::set(&record, &"user".into(), &user.into());
    let _ = Reflect::set(&record, &"meta".into(), &meta.into());
    let _ = Reflect::set(&record, &"blob".into(), &blob);
    in_outbox(IdbTransactionMode::Readwrite, |store| {
        store.put_with_key(&record, &client_id.into())
    })
    .await
    .is_ok()
}

/// Every message of `user` kept here: its description, and its blob now held under
/// `BlobKey(client_id)`.
pub async fn outbox_store_all(user: &str) -> Vec<String> {
    let Ok(records) = in_outbox(IdbTransactionMode::Readonly, |store| store.get_all()).await else {
        return Vec::new();
    };
    let mut metas = Vec::new();
    for record in js_sys::Array::from(&records).iter() {
        let field = |name: &str| Reflect::get(&record, &name.into()).unwrap_or(JsValue::UNDEFINED);
        if field("user").as_string().as_deref() != Some(user) {
            continue;
        }
        let (Some(meta), Ok(blob)) = (field("meta").as_string(), field("blob").dyn_into()) else {
            continue;
        };
        if let Some(client_id) = serde_json::from_str::<serde_json::Value>(&meta)
            .ok()
            .and_then(|m| m.get("client_id")?.as_str().map(str::to_owned))
        {
            keep_blob(BlobKey(client_id), blob);
            metas.push(meta);
        }
    }
    metas
}

pub async fn outbox_store_delete(client_id: &str) {
    let _ = in_outbox(IdbTransactionMode::Readwrite, |store| {
        store.delete(&client_id.into())
    })
    .await;
}
