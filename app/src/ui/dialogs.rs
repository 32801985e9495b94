//! The two ways to start talking: a group (name and members) and a direct message.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;

use super::rooms::Dialog;
use super::use_client;
use crate::client::case;
use crate::protocol::User;

/// People whose name starts with the query (the server's prefix search), minus oneself.
pub(super) fn search_people(query: RwSignal<String>) -> LocalResource<Vec<User>> {
    let client = use_client();
    LocalResource::new(move || {
        let q = query.get().trim().to_owned();
        async move {
            if q.is_empty() {
                return Vec::new();
            }
            client.search_users(&q).await.unwrap_or_default()
        }
    })
}

/// Focuses the first field when the dialog opens.
fn focus_on_open(input: NodeRef<html::Input>) {
    Effect::new(move |_| {
        if let Some(input) = input.get() {
            let _ = input.focus();
        }
    });
}

#[component]
fn Modal(dialog: RwSignal<Dialog>, title: &'static str, children: Children) -> impl IntoView {
    // Focus goes back to whatever opened the dialog when it closes (a room that opens
    // afterwards then moves it on to its composer).
    let opener = StoredValue::new_local(document().active_element());
    on_cleanup(move || {
        use leptos::wasm_bindgen::JsCast;
        if let Some(element) = opener
            .get_value()
            .and_then(|e| e.dyn_into::<leptos::web_sys::HtmlElement>().ok())
        {
            let _ = element.focus();
        }
    });
    let id = format!("dialog-{}", case::lower(title).replace(' ', "-"));
    let labelled_by = id.clone();
    view! {
        <div class="backdrop" on:click=move |_| dialog.set(Dialog::None)>
            <div
                class="dialog card"
                role="dialog"
                aria-modal="true"
                aria-labelledby=labelled_by
                on:click=|ev| ev.stop_propagation()
                on:keydown=move |ev| {
                    if ev.key() == "Escape" {
                        dialog.set(Dialog::None);
                    }
                }
            >
                <h2 id=id>{title}</h2>
                {children()}
            </div>
        </div>
    }
}

#[component]
pub fn NewGroupDialog(dialog: RwSignal<Dialog>) -> AnyView {
    let name_input: NodeRef<html::Input> = NodeRef::new();
    focus_on_open(name_input);
    let name = RwSignal::new(String::new());
    let query = RwSignal::new(String::new());
    let picked = RwSignal::new(Vec::<User>::new());
    let error = RwSignal::new(None::<String>);
    let results = search_people(query);
    let navigate = use_navigate();
    let client = use_client();
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let group = name.get_untracked().trim().to_owned();
        if group.is_empty() {
            error.set(Some("Give the group a name.".into()));
            return;
        }
        let members = picked.get_untracked().into_iter().map(|u| u.id).collect();
        let navigate = navigate.clone();
        spawn_local(async move {
            match client.create_group(group, members).await {
                Ok(id) => {
                    dialog.set(Dialog::None);
                    navigate(&format!("/rooms/{id}"), NavigateOptions::default());
                }
                Err(e) => error.set(Some(e.message())),
            }
        });
    };
    view! {
        <Modal dialog title="New group">
            <form on:submit=create>
                <label>
                    "Group name"
                    <input
                        node_ref=name_input
                        maxlength="100"
                        required
                        prop:value=name
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    "Add people"
                    <input
                        type="search"
                        autocomplete="off"
                        prop:value=query
                        on:input=move |ev| query.set(event_target_value(&ev))
                    />
                </label>
                <ul class="picked" aria-label="Members to add">
                    {move || picked.get().into_iter().map(|user| {
                        let id = user.id.clone();
                        view! {
                            <li>
                                <button
                                    type="button"
                                    class="chip"
                                    aria-label=format!("Remove {}", user.display_name)
                                    on:click=move |_| picked.update(|p| p.retain(|u| u.id != id))
                                >
                                    {user.display_name.clone()} " ×"
                                </button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
                <ul class="results">
                    <Suspense>
                        {move || results.get().map(|people| people.into_iter().map(|user| {
                            let label = format!("{} (@{})", user.display_name, user.username);
                            view! {
                                <li>
                                    <button type="button" class="result" on:click=move |_| {
                                        let user = user.clone();
                                        picked.update(|p| if !p.iter().any(|u| u.id == user.id) { p.push(user) });
                                        query.set(String::new());
                                    }>{label}</button>
                                </li>
                            }
                        }).collect_view())}
                    </Suspense>
                </ul>
                <p class="error" role="alert">{move || error.get()}</p>
                <div class="row">
                    <button type="submit" class="primary">"Create"</button>
                    <button type="button" on:click=move |_| dialog.set(Dialog::None)>"Cancel"</button>
                </div>
            </form>
        </Modal>
    }
    .into_any()
}

#[component]
pub fn NewMessageDialog(dialog: RwSignal<Dialog>) -> AnyView {
    let search: NodeRef<html::Input> = NodeRef::new();
    focus_on_open(search);
    let query = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let results = search_people(query);
    let navigate = use_navigate();
    let client = use_client();
    view! {
        <Modal dialog title="New message">
            <label>
                "Search people"
                <input
                    node_ref=search
                    type="search"
                    autocomplete="off"
                    prop:value=query
                    on:input=move |ev| query.set(event_target_value(&ev))
                />
            </label>
            <ul class="results">
                <Suspense>
                    {move || results.get().map(|people| people.into_iter().map(|user| {
                        let label = format!("{} (@{})", user.display_name, user.username);
                        let navigate = navigate.clone();
                        view! {
                            <li>
                                <button type="button" class="result" on:click=move |_| {
                                    let user_id = user.id.clone();
                                    let navigate = navigate.clone();
                                    spawn_local(async move {
                                        match client.open_direct(user_id).await {
                                            Ok(id) => {
                                                dialog.set(Dialog::None);
                                                navigate(&format!("/rooms/{id}"), NavigateOptions::default());
                                            }
                                            Err(e) => error.set(Some(e.message())),
                                        }
                                    });
                                }>{label}</button>
                            </li>
                        }
                    }).collect_view())}
                </Suspense>
            </ul>
            <p class="error" role="alert">{move || error.get()}</p>
            <div class="row">
                <button type="button" on:click=move |_| dialog.set(Dialog::None)>"Cancel"</button>
            </div>
        </Modal>
    }
    .into_any()
}
