//! The signed-in layout: the room list beside (on a phone: instead of) the open room.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

use super::auth::AuthForm;
use super::chat::ChatView;
use super::dialogs::{NewGroupDialog, NewMessageDialog};
use super::picture::Picture;
use super::use_client;
use crate::client::{Auth, browser, model};
use crate::protocol::{Message, Room, RoomId, RoomKind, UserId};

/// Which dialog is open over the layout.
#[derive(Clone, Copy, PartialEq)]
pub enum Dialog {
    None,
    NewGroup,
    NewMessage,
}

/// `/` and `/rooms/{id}`: the sign-in form for visitors, else the list and the room.
#[component]
pub fn Home() -> AnyView {
    let client = use_client();
    let params = use_params_map();
    let room_id = Memo::new(move |_| params.with(|p| p.get("id")).map(RoomId));
    // Tell the session which room is on screen; it loads it and reports focus.
    Effect::new(move |_| {
        let room = room_id.get();
        client.focus.set(room.clone());
        match room {
            Some(room) => client.open_room(room),
            None => client.send_focus(),
        }
    });
    on_cleanup(move || client.focus.set(None));
    view! {
        <Show
            when=move || matches!(client.auth.get(), Auth::SignedIn(_))
            fallback=|| view! { <main class="centered"><AuthForm heading="Welcome to Confab"/></main> }
        >
            <Layout room_id/>
        </Show>
    }
    .into_any()
}

#[component]
fn Layout(room_id: Memo<Option<RoomId>>) -> AnyView {
    let dialog = RwSignal::new(Dialog::None);
    provide_context(SearchState {
        active: RwSignal::new(false),
    });
    view! {
        <div class="layout" class:has-room=move || room_id.with(Option::is_some)>
            <Sidebar dialog room_id/>
            <main class="pane">
                {move || match room_id.get() {
                    Some(id) => view! { <ChatView room_id=id/> }.into_any(),
                    None => view! {
                        <div class="empty">
                            <p>"Pick a conversation, or start a new one."</p>
                        </div>
                    }
                    .into_any(),
                }}
            </main>
        </div>
        {move || match dialog.get() {
            Dialog::NewGroup => view! { <NewGroupDialog dialog/> }.into_any(),
            Dialog::NewMessage => view! { <NewMessageDialog dialog/> }.into_any(),
            Dialog::None => ().into_any(),
        }}
    }
    .into_any()
}

#[component]
fn Sidebar(dialog: RwSignal<Dialog>, room_id: Memo<Option<RoomId>>) -> AnyView {
    let client = use_client();
    let me = move || match client.auth.get() {
        Auth::SignedIn(user) => Some(user),
        _ => None,
    };
    let permission = RwSignal::new(browser::notification_permission());
    let searching = use_context::<SearchState>()
        .expect("provided by the layout")
        .active;
    view! {
        <aside class="sidebar">
            <header class="bar">
                <span class="brand">"Confab"</span>
                <span class="who" title=move || me().map(|u| format!("@{}", u.username))>
                    {move || me().map(|u| u.display_name)}
                </span>
                <a href="/settings" class="link">"Settings"</a>
                <button type="button" class="link" on:click=move |_| client.sign_out()>
                    "Sign out"
                </button>
            </header>
            <div class="actions">
                <button type="button" on:click=move |_| dialog.set(Dialog::NewMessage)>
                    "New message"
                </button>
                <button type="button" on:click=move |_| dialog.set(Dialog::NewGroup)>
                    "New group"
                </button>
                <Show when=move || permission.get() == "default">
                    <button
                        type="button"
                        class="link"
                        on:click=move |_| {
                            permission.set("asked".into());
                            leptos::task::spawn_local(async move {
                                let answer = browser::request_notification_permission().await;
                                if answer == "granted" {
                                    client.enable_push();
                                }
                                permission.set(answer);
                            });
                        }
                    >
                        "Enable notifications"
                    </button>
                </Show>
            </div>
            <Search/>
            <Show when=move || !searching.get()>
                <RoomList room_id/>
            </Show>
        </aside>
    }
    .into_any()
}

/// Whether the sidebar shows search hits instead of the rooms.
#[derive(Clone, Copy)]
struct SearchState {
    active: RwSignal<bool>,
}

/// A search over the messages of all my rooms: hits as I type (after a short pause), words
/// highlighted; opening one shows it in its room.
#[component]
fn Search() -> AnyView {
    let client = use_client();
    let state = use_context::<SearchState>().expect("provided by the layout");
    let query = RwSignal::new(String::new());
    let hits = RwSignal::new(None::<Result<Vec<Message>, String>>);
    let asked = StoredValue::new(0_u64);
    let navigate = use_navigate();
    let run = move |text: String| {
        asked.update_value(|n| *n += 1);
        let ticket = asked.get_value();
        state.active.set(!text.trim().is_empty());
        if text.trim().is_empty() {
            hits.set(None);
            return;
        }
        set_timeout(
            move || {
                if asked.get_value() != ticket {
                    return;
                }
                leptos::task::spawn_local(async move {
                    let answer = client.search(&text).await;
                    if asked.get_value() == ticket {
                        hits.set(Some(
                            answer.map(|page| page.messages).map_err(|e| e.message()),
                        ));
                    }
                });
            },
            std::time::Duration::from_millis(250),
        );
    };
    let words = move || model::search_words(&query.get());
    view! {
        <div class="search">
            <input type="search" aria-label="Search messages" placeholder="Search messages"
                maxlength="200" prop:value=query
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    query.set(text.clone());
                    run(text);
                }
                on:keydown=move |ev| {
                    if ev.key() == "Escape" {
                        query.set(String::new());
                        run(String::new());
                    }
                }/>
            {move || hits.get().map(|answer| match answer {
                Err(why) => view! { <p class="hint pad" role="alert">{why}</p> }.into_any(),
                Ok(found) if found.is_empty() => view! { <p class="hint pad">"No messages found."</p> }.into_any(),
                Ok(found) => {
                    let me = client.me().unwrap_or_else(|| UserId(String::new()));
                    let words = words();
                    let navigate = navigate.clone();
                    view! {
                        <ul class="hits" aria-label="Search results">
                            {found.into_iter().map(|hit| {
                                let room = client.room(&hit.room_id);
                                let title = room.as_ref().map(|r| model::room_title(r, &me)).unwrap_or_default();
                                let sender = room.as_ref()
                                    .and_then(|r| r.members.iter().find(|m| m.user.id == hit.sender_id))
                                    .map(|m| m.user.display_name.clone())
                                    .unwrap_or_default();
                                let parts = model::highlight(hit.body.as_deref().unwrap_or_default(), &words);
                                let (room_id, id, seq) = (hit.room_id.clone(), hit.id.clone(), hit.seq);
                                let navigate = navigate.clone();
                                let open = move |_| {
                                    client.jump.set(Some((room_id.clone(), id.clone(), seq)));
                                    navigate(&format!("/rooms/{room_id}"), Default::default());
                                };
                                view! {
                                    <li>
                                        <button type="button" class="hit" on:click=open>
                                            <span class="hit-top">
                                                <span class="room-name">{title}</span>
                                                <time>{browser::local_time(hit.created_at.as_millis()).1}</time>
                                            </span>
                                            <span class="hit-text">
                                                <span class="sender">{sender}": "</span>
                                                {parts.into_iter().map(|(text, hit)| if hit {
                                                    view! { <mark>{text}</mark> }.into_any()
                                                } else {
                                                    text.into_any()
                                                }).collect_view()}
                                            </span>
                                        </button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }
            })}
        </div>
    }
    .into_any()
}

#[component]
fn RoomList(room_id: Memo<Option<RoomId>>) -> AnyView {
    let client = use_client();
    view! {
        <nav aria-label="Rooms" class="rooms">
            <Show
                when=move || client.rooms.with(|r| !r.is_empty())
                fallback=|| view! { <p class="hint pad">"No conversations yet."</p> }
            >
                <ul>
                    {move || {
                        let me = client.me().unwrap_or_else(|| UserId(String::new()));
                        let open = room_id.get();
                        client
                            .rooms
                            .get()
                            .into_iter()
                            .map(|room| {
                                let current = open.as_ref() == Some(&room.id);
                                view! { <RoomRow room me=me.clone() current/> }
                            })
                            .collect_view()
                    }}
                </ul>
            </Show>
        </nav>
    }
    .into_any()
}

#[component]
fn RoomRow(room: Room, me: UserId, current: bool) -> impl IntoView {
    let client = use_client();
    let title = model::room_title(&room, &me);
    let picture = model::room_picture(&room, &me);
    let describe = format!("room-{}-about", room.id);
    let preview = room.last_message.as_ref().map(|m| {
        let who = if m.sender_id == me {
            "You: ".to_string()
        } else if room.kind == RoomKind::Group {
            room.members
                .iter()
                .find(|x| x.user.id == m.sender_id)
                .map(|x| format!("{}: ", x.user.display_name))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let text = model::preview_text(m);
        // Today's messages show their time; older ones their day.
        let (day, time) = browser::local_time(m.created_at.as_millis());
        let (today, _) = browser::local_time(browser::now_millis());
        let when = if day == today {
            time
        } else {
            model::day_label(&day, &today)
        };
        (format!("{who}{text}"), when)
    });
    let peer = (room.kind == RoomKind::Direct)
        .then(|| model::peer(&room, &me).map(|u| u.id.clone()))
        .flatten();
    let online = move || {
        peer.as_ref().is_some_and(|p| {
            client
                .presence
                .with(|map| map.get(p).copied().unwrap_or(false))
        })
    };
    let is_direct = room.kind == RoomKind::Direct;
    let unread = room.unread_count;
    let (preview_text, time) = preview.unwrap_or_default();
    let label = title.clone();
    let about = describe.clone();
    view! {
        <li>
            <a
                href=format!("/rooms/{}", room.id)
                class="room"
                class:current=current
                aria-current=current.then_some("page")
                aria-label=label
                aria-describedby=about
            >
                <span class="avatar" aria-hidden="true">
                    <Picture url=picture name=title.clone()/>
                    {is_direct.then(|| view! { <span class="dot" class:online=online></span> })}
                </span>
                <span class="room-main">
                    <span class="room-top">
                        <span class="room-name">{title}</span>
                        <time class="room-time">{time}</time>
                    </span>
                    <span class="room-bottom" id=describe>
                        <span class="preview">{preview_text}</span>
                        {(unread > 0).then(|| view! {
                            <span class="badge">{unread}<span class="sr-only">" unread"</span></span>
                        })}
                    </span>
                </span>
            </a>
        </li>
    }
}
