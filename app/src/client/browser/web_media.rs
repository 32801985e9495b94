//! Media in the browser: the blobs this page holds, the photo worker, uploads with progress
//! (XMLHttpRequest, the one browser API that reports upload progress) and the microphone.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, MediaRecorder, MediaStream, Worker, XmlHttpRequest};

use super::{BlobKey, FetchError, Recording, Shrunk};

/// The photo worker's script (built and served by the site), and the size and JPEG quality it
/// shrinks to (78: a 12-megapixel photo comes out under 300 KB at 1600 px, see
/// public/media-worker.js).
const WORKER_URL: &str = "/media-worker.js";
const MAX_EDGE: u32 = 1600;
const PICTURE_EDGE: u32 = 512;
const JPEG_QUALITY: u32 = 78;
/// A photo that takes longer than this to shrink is given up on (the worker may be stuck).
const SHRINK_TIMEOUT_MS: i32 = 60_000;

/// Containers for a voice message, best first: Opus in WebM (Chromium, Firefox), Opus in Ogg
/// (older Firefox), then MP4 (Safari).
const VOICE_TYPES: [&str; 3] = [
    "audio/webm;codecs=opus",
    "audio/ogg;codecs=opus",
    "audio/mp4",
];

thread_local! {
    static BLOBS: RefCell<HashMap<BlobKey, Blob>> = RefCell::new(HashMap::new());
    static WORKER: RefCell<Option<PhotoWorker>> = const { RefCell::new(None) };
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
}

fn window() -> web_sys::Window {
    web_sys::window().expect("a browser window")
}

fn next_id() -> u64 {
    NEXT_ID.with(|n| {
        n.set(n.get() + 1);
        n.get()
    })
}

pub(super) fn blob(key: &BlobKey) -> Option<Blob> {
    BLOBS.with(|b| b.borrow().get(key).cloned())
}

/// Keeps a blob under `key` (replacing any other there).
pub(super) fn keep_blob(key: BlobKey, blob: Blob) {
    BLOBS.with(|b| b.borrow_mut().insert(key, blob));
}

/// Keeps a blob under a fresh name.
fn keep_new(blob: Blob) -> BlobKey {
    let key = BlobKey(format!("blob-{}", next_id()));
    keep_blob(key.clone(), blob);
    key
}

/// Gives a held blob another name (a shrunk photo becomes its message's).
pub fn rename_blob(from: &BlobKey, to: BlobKey) {
    BLOBS.with(|b| {
        let mut blobs = b.borrow_mut();
        if let Some(blob) = blobs.remove(from) {
            blobs.insert(to, blob);
        }
    });
}

pub fn forget_blob(key: &BlobKey) {
    BLOBS.with(|b| b.borrow_mut().remove(key));
}

pub fn has_blob(key: &BlobKey) -> bool {
    BLOBS.with(|b| b.borrow().contains_key(key))
}

pub fn blob_size(key: &BlobKey) -> u64 {
    blob(key).map_or(0, |b| b.size() as u64)
}

/// The file picked in the `<input type=file>` that fired `ev`; the input is emptied so the
/// same file can be picked again.
pub fn chosen_file(ev: &web_sys::Event) -> Option<BlobKey> {
    let input: web_sys::HtmlInputElement = ev.target()?.dyn_into().ok()?;
    let file = input.files()?.get(0)?;
    input.set_value("");
    Some(keep_new(file.into()))
}

/// A `blob:` URL showing the blob in this page (until revoked).
pub fn object_url(key: &BlobKey) -> Option<String> {
    web_sys::Url::create_object_url_with_blob(&blob(key)?).ok()
}

pub fn revoke_object_url(url: &str) {
    let _ = web_sys::Url::revoke_object_url(url);
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    js_sys::Date::now() as i64
}

/// Waits `ms` milliseconds.
pub async fn sleep(ms: u32) {
    let promise = Promise::new(&mut |resolve, _| {
        let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms as i32);
    });
    let _ = JsFuture::from(promise).await;
}

/// The worker and the answers it owes, by request id.
struct PhotoWorker {
    worker: Worker,
    waiting: Waiting,
}

/// The resolve and reject of each photo's promise, by request id.
type Waiting = Rc<RefCell<HashMap<u64, (js_sys::Function, js_sys::Function)>>>;

/// Starts the module worker once; a worker that failed to load is dropped, so the next photo
/// tries again.
fn photo_worker() -> Result<(Worker, Waiting), String> {
    if let Some(found) = WORKER.with(|w| {
        w.borrow()
            .as_ref()
            .map(|p| (p.worker.clone(), p.waiting.clone()))
    }) {
        return Ok(found);
    }
    let options = web_sys::WorkerOptions::new();
    options.set_type(web_sys::WorkerType::Module);
    let worker = Worker::new_with_options(WORKER_URL, &options)
        .map_err(|_| "The photo tool did not start.".to_string())?;
    let waiting: Waiting = Rc::default();
    let answers = waiting.clone();
    let on_message =
        Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let data = ev.data();
            let id = Reflect::get(&data, &"id".into())
                .ok()
                .and_then(|v| v.as_f64())
                .unwrap_or(-1.0) as u64;
            if let Some((resolve, _)) = answers.borrow_mut().remove(&id) {
                let _ = resolve.call1(&JsValue::NULL, &data);
            }
        });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    // A script that does not load (or crashes) fails every photo it owes, with no fallback:
    // sending the original file would leak its metadata (a phone photo's GPS position).
    let failed = waiting.clone();
    let on_error = Closure::<dyn Fn(JsValue)>::new(move |_: JsValue| {
        WORKER.with(|w| *w.borrow_mut() = None);
        for (_, (_, reject)) in failed.borrow_mut().drain() {
            let _ = reject.call1(&JsValue::NULL, &"The photo tool failed to load.".into());
        }
    });
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    WORKER.with(|w| {
        *w.borrow_mut() = Some(PhotoWorker {
            worker: worker.clone(),
            waiting: waiting.clone(),
        })
    });
    Ok((worker, waiting))
}

fn field(value: &JsValue, name: &str) -> JsValue {
    Reflect::get(value, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

/// Shrinks a photo in the worker: long edge at most 1600 px, JPEG, orientation applied and
/// every piece of metadata gone.
pub async fn shrink_photo(key: &BlobKey) -> Result<Shrunk, String> {
    shrink(key, MAX_EDGE, false).await
}

/// A picture of a person or a group, made in the worker: the middle square of the photo,
/// at most 512 px (the server keeps 256), JPEG, upright, without metadata.
pub async fn shrink_picture(key: &BlobKey) -> Result<Shrunk, String> {
    shrink(key, PICTURE_EDGE, true).await
}

async fn shrink(key: &BlobKey, max_edge: u32, square: bool) -> Result<Shrunk, String> {
    let file = blob(key).ok_or("The photo is no longer available.")?;
    let (worker, waiting) = photo_worker()?;
    let id = next_id();
    let request = Object::new();
    let _ = Reflect::set(&request, &"id".into(), &(id as f64).into());
    let _ = Reflect::set(&request, &"file".into(), &file);
    let _ = Reflect::set(&request, &"maxEdge".into(), &max_edge.into());
    let _ = Reflect::set(&request, &"quality".into(), &JPEG_QUALITY.into());
    let _ = Reflect::set(&request, &"square".into(), &square.into());
    let promise = Promise::new(&mut |resolve, reject| {
        let timeout = reject.clone();
        waiting.borrow_mut().insert(id, (resolve, reject));
        let _ = window().set_timeout_with_callback_and_timeout_and_arguments_1(
            &timeout,
            SHRINK_TIMEOUT_MS,
            &"The photo took too long to prepare.".into(),
        );
    });
    worker
        .post_message(&request)
        .map_err(|_| "The photo could not be handed to the photo tool.".to_string())?;
    let answer = JsFuture::from(promise).await;
    waiting.borrow_mut().remove(&id);
    let answer = answer.map_err(|e| {
        e.as_string()
            .unwrap_or_else(|| "The photo tool failed.".into())
    })?;
    if field(&answer, "ok").as_bool() != Some(true) {
        let error = field(&answer, "error").as_string().unwrap_or_default();
        return Err(format!("This photo could not be read. {error}")
            .trim()
            .to_owned());
    }
    let shrunk: Blob = field(&answer, "blob")
        .dyn_into()
        .map_err(|_| "The photo tool gave no picture back.".to_string())?;
    let size = |name| field(&answer, name).as_f64().unwrap_or(0.0) as u32;
    Ok(Shrunk {
        blob: keep_new(shrunk),
        width: size("width"),
        height: size("height"),
    })
}

/// `PUT`s a held blob to `url` with `headers`, reporting progress from 0 to 1.
pub async fn upload(
    url: &str,
    headers: &BTreeMap<String, String>,
    key: &BlobKey,
    on_progress: impl Fn(f64) + 'static,
) -> Result<(), FetchError> {
    let body = blob(key).ok_or(FetchError::Network)?;
    let xhr = XmlHttpRequest::new().map_err(|_| FetchError::Network)?;
    xhr.open("PUT", url).map_err(|_| FetchError::Network)?;
    // The browser sends the blob's length itself and may not be told it (S3 signs the
    // length the server was told, which is the blob's).
    for (name, value) in headers
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
    {
        let _ = xhr.set_request_header(name, value);
    }
    let progress =
        Closure::<dyn Fn(web_sys::ProgressEvent)>::new(move |ev: web_sys::ProgressEvent| {
            if ev.length_computable() && ev.total() > 0.0 {
                on_progress(ev.loaded() / ev.total());
            }
        });
    if let Ok(target) = xhr.upload() {
        target.set_onprogress(Some(progress.as_ref().unchecked_ref()));
    }
    let done = Promise::new(&mut |resolve, reject| {
        xhr.set_onload(Some(&resolve));
        xhr.set_onerror(Some(&reject));
        xhr.set_onabort(Some(&reject));
        xhr.set_ontimeout(Some(&reject));
    });
    xhr.send_with_opt_blob(Some(&body))
        .map_err(|_| FetchError::Network)?;
    let finished = JsFuture::from(done).await;
    if let Ok(target) = xhr.upload() {
        target.set_onprogress(None);
    }
    drop(progress);
    finished.map_err(|_| FetchError::Network)?;
    match xhr.status().unwrap_or(0) {
        200..=299 => Ok(()),
        0 => Err(FetchError::Network),
        status => Err(FetchError::Status(
            status,
            xhr.response_text().ok().flatten().unwrap_or_default(),
        )),
    }
}

/// A recording in progress: the microphone, the recorder and what it has produced so far.
struct Recorder {
    stream: MediaStream,
    recorder: MediaRecorder,
    chunks: Rc<RefCell<Vec<Blob>>>,
    started: f64,
}

impl Recorder {
    fn release(&self) {
        for track in self.stream.get_tracks().iter() {
            if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
                track.stop();
            }
        }
    }
}

/// Asks for the microphone and starts recording.
pub async fn record_start() -> Result<(), String> {
    record_cancel();
    let devices = window()
        .navigator()
        .media_devices()
        .map_err(|_| "This browser cannot record audio.".to_string())?;
    let constraints = web_sys::MediaStreamConstraints::new();
    constraints.set_audio_bool(true);
    let promise = devices
        .get_user_media_with_constraints(&constraints)
        .map_err(|_| "This browser cannot record audio.".to_string())?;
    let stream: MediaStream = JsFuture::from(promise)
        .await
        .map_err(|_| "The microphone is not available.".to_string())?
        .unchecked_into();
    let options = web_sys::MediaRecorderOptions::new();
    if let Some(kind) = VOICE_TYPES
        .iter()
        .find(|t| MediaRecorder::is_type_supported(t))
    {
        options.set_mime_type(kind);
    }
    let recorder =
        MediaRecorder::new_with_media_stream_and_media_recorder_options(&stream, &options)
            .map_err(|_| "The recorder did not start.".to_string())?;
    let chunks: Rc<RefCell<Vec<Blob>>> = Rc::default();
    let sink = chunks.clone();
    let on_data = Closure::<dyn Fn(web_sys::BlobEvent)>::new(move |ev: web_sys::BlobEvent| {
        if let Some(data) = ev.data().filter(|d| d.size() > 0.0) {
            sink.borrow_mut().push(data);
        }
    });
    recorder.set_ondataavailable(Some(on_data.as_ref().unchecked_ref()));
    on_data.forget();
    let state = Recorder {
        stream,
        recorder,
        chunks,
        started: js_sys::Date::now(),
    };
    if state.recorder.start().is_err() {
        state.release();
        return Err("The recorder did not start.".into());
    }
    RECORDER.with(|r| *r.borrow_mut() = Some(state));
    Ok(())
}

/// Stops recording and hands over what was recorded (none if nothing was).
pub async fn record_stop() -> Option<Recording> {
    let state = RECORDER.with(|r| r.borrow_mut().take())?;
    let stopped = Promise::new(&mut |resolve, _| {
        state.recorder.set_onstop(Some(&resolve));
    });
    let duration_ms = (js_sys::Date::now() - state.started).max(1.0) as u64;
    if state.recorder.stop().is_ok() {
        let _ = JsFuture::from(stopped).await;
    }
    state.release();
    let content_type = state.recorder.mime_type();
    let parts: Array = state.chunks.borrow().iter().collect();
    let bag = web_sys::BlobPropertyBag::new();
    bag.set_type(&content_type);
    let blob = Blob::new_with_blob_sequence_and_options(&parts, &bag).ok()?;
    if blob.size() == 0.0 {
        return None;
    }
    Some(Recording {
        blob: keep_new(blob),
        content_type,
        duration_ms,
    })
}

/// Stops recording and throws it away.
pub fn record_cancel() {
    if let Some(state) = RECORDER.with(|r| r.borrow_mut().take()) {
        let _ = state.recorder.stop();
        state.release();
    }
}
