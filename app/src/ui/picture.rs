//! Pictures of people and groups: shown round, with the first letter of the name when there
//! is none, and picked from a photo (cut to its middle square in the photo worker, so what
//! is uploaded is what the circle shows).

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::client::{browser, case, media};
use crate::protocol::MediaId;

/// The first letter of `name`, for a circle with no picture.
fn initial(name: &str) -> String {
    let first = name.chars().next().unwrap_or('#');
    case::upper(first.encode_utf8(&mut [0; 4]))
}

/// A round picture, or the initial of `name`.
#[component]
pub fn Picture(url: Option<String>, name: String) -> impl IntoView {
    match url {
        Some(src) => view! { <img class="picture" src=src alt="" loading="lazy"/> }.into_any(),
        None => initial(&name).into_any(),
    }
}

/// The current picture with "Change picture" (a photo picker) and "Remove picture". `set`
/// is called with the completed upload's media id, or `None` to remove; it makes the API
/// call and shows its outcome.
#[component]
pub fn PicturePicker(
    #[prop(into)] current: Signal<Option<String>>,
    #[prop(into)] name: Signal<String>,
    label: &'static str,
    set: Callback<Option<MediaId>>,
) -> AnyView {
    let busy = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let picked = move |ev: leptos::ev::Event| {
        let Some(file) = browser::chosen_file(&ev) else {
            return;
        };
        busy.set(true);
        problem.set(None);
        spawn_local(async move {
            match media::upload_picture(file).await {
                Ok(id) => set.run(Some(id)),
                Err(reason) => problem.set(Some(reason)),
            }
            busy.set(false);
        });
    };
    view! {
        <div class="picture-field">
            <span class="avatar large" aria-hidden="true">
                {move || view! { <Picture url=current.get() name=name.get()/> }}
            </span>
            <label class="button">
                {move || if busy.get() { "Preparing the picture…" } else { label }}
                <input
                    type="file"
                    accept="image/*"
                    class="sr-only"
                    aria-label=label
                    prop:disabled=busy
                    on:change=picked
                />
            </label>
            <Show when=move || current.get().is_some()>
                <button type="button" class="link" on:click=move |_| set.run(None)>
                    "Remove picture"
                </button>
            </Show>
            {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
        </div>
    }
    .into_any()
}
