//! Photos and voice messages in a conversation: how a stored one shows (a thumbnail with its
//! space reserved, a player), how one still uploading shows (local preview and progress), the
//! full-size viewer, and the composer's two buttons (attach a photo, record a voice message).

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::use_client;
use crate::client::browser;
use crate::client::media::MAX_VOICE_MS;
use crate::client::model::PendingMedia;
use crate::protocol::{Media, MediaKind, RoomId};

/// The photo open in the full-size viewer (its URL), shared by a conversation's rows.
#[derive(Clone, Copy)]
pub struct Viewer(pub RwSignal<Option<String>>);

/// `m:ss` of a duration.
pub fn minutes_seconds(millis: u64) -> String {
    let seconds = millis / 1000;
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

/// The box a photo takes in the log, from its size: reserved before any byte arrives, so
/// nothing below it moves. At most 16 rem wide and 20 rem tall.
fn photo_box(width: Option<u32>, height: Option<u32>, placeholder: Option<&str>) -> String {
    let (w, h) = match (width, height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => (w, h),
        _ => (4, 3),
    };
    // In hundredths of a rem, rounded, and printed without a float formatter (which would
    // add to the WASM only for this).
    let (w64, h64) = (u64::from(w), u64::from(h));
    let shown = 1600.min((2000 * w64 + h64 / 2) / h64);
    let background = placeholder
        .filter(|p| p.starts_with("data:image/"))
        .map(|p| format!(" background-image: url(\"{p}\");"))
        .unwrap_or_default();
    format!(
        "aspect-ratio: {w} / {h}; width: {}.{:02}rem;{background}",
        shown / 100,
        shown % 100
    )
}

/// A stored photo or voice message.
pub fn media_view(media: Media) -> AnyView {
    match media.kind {
        MediaKind::Image => {
            let viewer = use_context::<Viewer>().map(|v| v.0);
            let style = photo_box(media.width, media.height, media.placeholder.as_deref());
            let thumbnail = media.thumbnail_url.clone().unwrap_or(media.url.clone());
            let full = media.url.clone();
            view! {
                <button
                    type="button"
                    class="photo"
                    style=style
                    aria-label="Open photo"
                    data-full=full.clone()
                    on:click=move |_| {
                        if let Some(viewer) = viewer {
                            viewer.set(Some(full.clone()));
                        }
                    }
                >
                    <img src=thumbnail alt="Photo" loading="lazy"/>
                </button>
            }
            .into_any()
        }
        MediaKind::Voice => {
            let length = media.duration_ms.map(minutes_seconds).unwrap_or_default();
            view! {
                <div class="voice">
                    <audio controls preload="metadata" src=media.url aria-label="Voice message"></audio>
                    <span class="duration">{length}</span>
                </div>
            }
            .into_any()
        }
    }
}

/// A photo or voice message still on its way: the local preview and the upload's progress.
pub fn pending_media_view(client_id: String, media: PendingMedia, failed: bool) -> AnyView {
    let client = use_client();
    let id = StoredValue::new(client_id);
    let transfer = move || {
        client
            .transfers
            .with(|t| id.with_value(|id| t.get(id).cloned()))
            .unwrap_or_default()
    };
    let progress = move || {
        (!failed).then(|| match transfer().progress {
            // In thousandths: an integer prints without a float formatter in the WASM.
            Some(share) => view! {
                <progress
                    class="upload"
                    max="1000"
                    value=(share.clamp(0.0, 1.0) * 1000.0).round() as u32
                    aria-label="Upload progress"
                ></progress>
            }
            .into_any(),
            None => view! { <span class="preparing">"Preparing…"</span> }.into_any(),
        })
    };
    let shown = match media.kind {
        MediaKind::Image => {
            let style = photo_box(media.width, media.height, None);
            view! {
                <div class="photo" style=style>
                    <img src=move || transfer().preview.unwrap_or_default() alt="Photo being sent"/>
                </div>
            }
            .into_any()
        }
        MediaKind::Voice => {
            let length = media.duration_ms.map(minutes_seconds).unwrap_or_default();
            view! { <p class="voice-pending">"Voice message " {length}</p> }.into_any()
        }
    };
    view! {
        {shown}
        {progress}
    }
    .into_any()
}

/// The photo open in full, over everything; Escape, a click outside or Close shut it.
#[component]
pub fn PhotoViewer() -> impl IntoView {
    let Viewer(open) = expect_context::<Viewer>();
    view! {
        <Show when=move || open.with(Option::is_some)>
            <ViewerOverlay open/>
        </Show>
    }
}

/// The open viewer: takes focus (so Escape reaches it) and gives it back on closing.
#[component]
fn ViewerOverlay(open: RwSignal<Option<String>>) -> impl IntoView {
    let close: NodeRef<html::Button> = NodeRef::new();
    let opener = StoredValue::new_local(document().active_element());
    Effect::new(move |_| {
        if let Some(button) = close.get() {
            let _ = button.focus();
        }
    });
    on_cleanup(move || {
        use leptos::wasm_bindgen::JsCast;
        if let Some(element) = opener
            .get_value()
            .and_then(|e| e.dyn_into::<leptos::web_sys::HtmlElement>().ok())
        {
            let _ = element.focus();
        }
    });
    view! {
        <div
            class="viewer"
            role="dialog"
            aria-modal="true"
            aria-label="Photo"
            on:click=move |_| open.set(None)
            on:keydown=move |ev| {
                if ev.key() == "Escape" {
                    open.set(None);
                }
            }
        >
            <img
                src=move || open.get().unwrap_or_default()
                alt="Photo, full size"
                on:click=|ev| ev.stop_propagation()
            />
            <button type="button" class="close" node_ref=close on:click=move |_| open.set(None)>
                "Close"
            </button>
        </div>
    }
}

/// The composer's photo button: a file picker for images. Text already in the composer goes
/// with the photo as its caption.
#[component]
pub fn AttachPhoto(room_id: RoomId, caption: RwSignal<String>) -> impl IntoView {
    let client = use_client();
    let id = StoredValue::new(room_id);
    view! {
        <label class="icon-button" title="Attach a photo">
            <input
                type="file"
                accept="image/*"
                class="sr-only"
                aria-label="Attach a photo"
                on:change=move |ev| {
                    if let Some(file) = browser::chosen_file(&ev) {
                        let text = caption.get_untracked().trim().to_owned();
                        caption.set(String::new());
                        client.send_photo(id.get_value(), file, text);
                    }
                }
            />
            <svg viewBox="0 0 24 24" aria-hidden="true">
                <path d="M4 7h3l2-3h6l2 3h3a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1z"/>
                <circle cx="12" cy="13" r="4"/>
            </svg>
        </label>
    }
}

/// Where recording a voice message has got to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Voice {
    Idle,
    /// Waiting for the microphone (and perhaps the user's permission).
    Starting,
    /// Recording since this moment (milliseconds since the epoch).
    Recording(i64),
}

/// Tap to record; while recording the composer shows the time, Cancel and Send. Recording
/// stops and sends by itself at the server's limit of five minutes.
#[component]
pub fn VoiceRecorder(room_id: RoomId, state: RwSignal<Voice>) -> impl IntoView {
    let client = use_client();
    let id = StoredValue::new(room_id);
    let elapsed = RwSignal::new(0_u64);
    let error = RwSignal::new(None::<String>);
    let ticker = StoredValue::new(None::<IntervalHandle>);
    let finish = move |send: bool| {
        if let Some(handle) = ticker.get_value() {
            handle.clear();
            ticker.set_value(None);
        }
        if !matches!(state.get_untracked(), Voice::Recording(_)) {
            return;
        }
        state.set(Voice::Idle);
        if send {
            spawn_local(async move {
                if let Some(recording) = browser::record_stop().await {
                    client.send_voice(id.get_value(), recording);
                }
            });
        } else {
            browser::record_cancel();
        }
    };
    let start = move |_| {
        error.set(None);
        state.set(Voice::Starting);
        spawn_local(async move {
            match browser::record_start().await {
                Ok(()) => {
                    let started = browser::now_millis();
                    elapsed.set(0);
                    state.set(Voice::Recording(started));
                    let handle = set_interval_with_handle(
                        move || {
                            let ms = (browser::now_millis() - started).max(0) as u64;
                            elapsed.set(ms);
                            if ms >= MAX_VOICE_MS {
                                finish(true);
                            }
                        },
                        std::time::Duration::from_millis(250),
                    );
                    ticker.set_value(handle.ok());
                }
                Err(reason) => {
                    state.set(Voice::Idle);
                    error.set(Some(reason));
                }
            }
        });
    };
    on_cleanup(move || {
        if let Some(handle) = ticker.get_value() {
            handle.clear();
        }
        browser::record_cancel();
    });
    view! {
        <Show
            when=move || matches!(state.get(), Voice::Recording(_))
            fallback=move || view! {
                <button
                    type="button"
                    class="icon-button"
                    aria-label="Record a voice message"
                    title=move || error.get().unwrap_or_else(|| "Record a voice message".into())
                    disabled=move || state.get() == Voice::Starting
                    on:click=start
                >
                    <svg viewBox="0 0 24 24" aria-hidden="true">
                        <rect x="9" y="3" width="6" height="11" rx="3"/>
                        <path d="M5 11a7 7 0 0 0 14 0M12 18v3"/>
                    </svg>
                </button>
            }
        >
            <div class="recording" role="status">
                <span class="rec-dot" aria-hidden="true"></span>
                "Recording "
                <time>{move || minutes_seconds(elapsed.get())}</time>
            </div>
            <button type="button" on:click=move |_| finish(false)>"Cancel"</button>
            <button type="button" class="primary" on:click=move |_| finish(true)>"Send voice"</button>
        </Show>
        <Show when=move || error.with(Option::is_some)>
            <span class="voice-error" role="alert">{move || error.get()}</span>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        assert_eq!(minutes_seconds(0), "0:00");
        assert_eq!(minutes_seconds(2_400), "0:02");
        assert_eq!(minutes_seconds(300_000), "5:00");
    }

    #[test]
    fn a_photo_box_keeps_the_aspect_ratio_within_its_bounds() {
        assert_eq!(
            photo_box(Some(1600), Some(1200), None),
            "aspect-ratio: 1600 / 1200; width: 16.00rem;"
        );
        // Tall photos are narrower, so they stay 20 rem high at most.
        assert!(photo_box(Some(1000), Some(2000), None).contains("width: 10.00rem"));
        assert!(photo_box(None, None, Some("data:image/jpeg;base64,AA")).contains("url(\"data:"));
        assert!(!photo_box(None, None, Some("javascript:x")).contains("url"));
    }
}
