//! One conversation: the header, the message log (grouped by sender and day, statuses on
//! one's own messages, infinite scroll back), who is typing, and the composer.

use leptos::html;
use leptos::prelude::*;

use super::invite::InviteControl;
use super::media::{AttachPhoto, PhotoViewer, Viewer, Voice, VoiceRecorder};
use super::{media, use_client};
use crate::client::browser;
use crate::client::model::{self, PendingMedia, RoomLog, Status};
use crate::protocol::{Media, Room, RoomId, RoomKind, UserId};

/// One line of the log: a day separator, a stored message, or one still in the outbox.
#[derive(Clone, PartialEq)]
enum Row {
    Day(String),
    Message {
        id: String,
        body: String,
        media: Option<Media>,
        /// The sender's name on the first message of a run by the same person.
        sender: Option<String>,
        time: String,
        mine: bool,
        status: Option<(Status, String)>,
        /// "Read by …" under the last own message of a group.
        seen_by: Option<String>,
    },
    Pending {
        client_id: String,
        body: String,
        failed: Option<String>,
        media: Option<PendingMedia>,
    },
}

impl Row {
    fn key(&self) -> String {
        match self {
            Row::Day(day) => format!("day-{day}"),
            Row::Message {
                id,
                status,
                sender,
                seen_by,
                ..
            } => format!(
                "m-{id}-{:?}-{sender:?}-{seen_by:?}",
                status.as_ref().map(|s| &s.1)
            ),
            // A photo's row is drawn again once its size is known (after shrinking).
            Row::Pending {
                client_id,
                failed,
                media,
                ..
            } => format!(
                "p-{client_id}-{failed:?}-{:?}",
                media.as_ref().map(|m| (m.width, m.height))
            ),
        }
    }
}

fn name_of(room: &Room, user: &UserId) -> String {
    room.members
        .iter()
        .find(|m| &m.user.id == user)
        .map_or_else(|| "Someone".into(), |m| m.user.display_name.clone())
}

fn rows(room: &Room, log: &RoomLog, me: &UserId, outbox: &[model::Pending]) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut day = String::new();
    let mut previous: Option<&UserId> = None;
    let last_mine = log
        .messages
        .values()
        .rev()
        .find(|m| &m.sender_id == me)
        .map(|m| m.seq);
    let group = room.kind == RoomKind::Group;
    for message in log.messages.values() {
        let (this_day, time) = browser::local_time(message.created_at.as_millis());
        if this_day != day {
            rows.push(Row::Day(this_day.clone()));
            day = this_day;
            previous = None;
        }
        let mine = &message.sender_id == me;
        let first = previous != Some(&message.sender_id);
        previous = Some(&message.sender_id);
        let status = mine.then(|| {
            let status = model::status_of(room, me, message.seq);
            let readers = model::readers(room, me, message.seq);
            let label = if group && status == Status::Read {
                format!("Read by {}", readers.join(", "))
            } else {
                status.label().to_owned()
            };
            (status, label)
        });
        let seen_by = (group && Some(message.seq) == last_mine)
            .then(|| model::readers(room, me, message.seq))
            .filter(|r| !r.is_empty())
            .map(|r| format!("Read by {}", r.join(", ")));
        rows.push(Row::Message {
            id: message.id.to_string(),
            body: message.body.clone().unwrap_or_default(),
            media: message.media.clone(),
            sender: (first && !mine && group).then(|| name_of(room, &message.sender_id)),
            time,
            mine,
            status,
            seen_by,
        });
    }
    for pending in outbox.iter().filter(|p| p.room_id == room.id) {
        rows.push(Row::Pending {
            client_id: pending.client_id.clone(),
            body: pending.body.clone(),
            failed: pending.failed.clone(),
            media: pending.media.clone(),
        });
    }
    rows
}

fn render_row(row: Row) -> AnyView {
    let client = use_client();
    match row {
        Row::Day(day) => view! { <div class="day" role="separator">{day}</div> }.into_any(),
        Row::Message {
            id: _,
            body,
            media,
            sender,
            time,
            mine,
            status,
            seen_by,
        } => {
            let first = sender.is_some();
            let has_media = media.is_some();
            view! {
            <div class="msg" class:mine=mine class:first=first class:media=has_media>
                {sender.map(|s| view! { <span class="sender">{s}</span> })}
                {media.map(media::media_view)}
                {(!body.is_empty()).then(|| view! { <p class="body">{body}</p> })}
                <span class="meta">
                    <time>{time}</time>
                    {status.map(|(status, label)| view! {
                        <span class="status" class:read=status == Status::Read aria-label=label.clone() title=label>
                            {status.glyph()}
                        </span>
                    })}
                </span>
                {seen_by.map(|s| view! { <span class="seen">{s}</span> })}
            </div>
        }
        .into_any()
        }
        Row::Pending {
            client_id,
            body,
            failed,
            media,
        } => {
            let has_media = media.is_some();
            let is_failed = failed.is_some();
            let shown = media.map(|m| media::pending_media_view(client_id.clone(), m, is_failed));
            let retry = client_id.clone();
            let marker = client_id.clone();
            view! {
            <div class="msg mine pending" class:media=has_media class:failed-msg=is_failed data-client-id=marker>
                {shown}
                {(!body.is_empty()).then(|| view! { <p class="body">{body}</p> })}
                <span class="meta">
                    {match failed {
                        None => view! { <span class="status" aria-label="Sending" title="Sending">"◷"</span> }.into_any(),
                        Some(reason) => view! {
                            <span class="failed">"Not sent: " {reason}</span>
                            <button type="button" class="link" on:click=move |_| client.retry_pending(&retry)>
                                "Retry"
                            </button>
                            <button type="button" class="link" on:click=move |_| client.remove_pending(&client_id)>
                                "Remove"
                            </button>
                        }.into_any(),
                    }}
                </span>
            </div>
            }
            .into_any()
        }
    }
}

#[component]
pub fn ChatView(room_id: RoomId) -> AnyView {
    let client = use_client();
    let id = StoredValue::new(room_id);
    provide_context(Viewer(RwSignal::new(None)));
    let room = Memo::new(move |_| client.room(&id.get_value()));
    let log = Memo::new(move |_| {
        client
            .logs
            .with(|logs| logs.get(&id.get_value()).cloned().unwrap_or_default())
    });
    // What is on screen is read (when the tab is visible).
    Effect::new(move |_| {
        log.track();
        client.visible.track();
        client.mark_read_if_looking(&id.get_value());
    });
    let me = client.me().unwrap_or_else(|| UserId(String::new()));
    let items = Memo::new(move |_| {
        let Some(room) = room.get() else {
            return Vec::new();
        };
        client
            .outbox
            .with(|outbox| log.with(|log| rows(&room, log, &me, outbox)))
    });
    let title = move || {
        let me = client.me().unwrap_or_else(|| UserId(String::new()));
        room.get()
            .map(|r| model::room_title(&r, &me))
            .unwrap_or_default()
    };
    let subtitle = move || {
        let room = room.get()?;
        let me = client.me()?;
        Some(match room.kind {
            RoomKind::Direct => {
                let peer = model::peer(&room, &me)?.id.clone();
                let online = client
                    .presence
                    .with(|p| p.get(&peer).copied().unwrap_or(false));
                if online { "online" } else { "offline" }.to_owned()
            }
            RoomKind::Group => format!("{} members", room.members.len()),
        })
    };
    let can_invite = move || {
        let me = client.me();
        room.get().is_some_and(|r| {
            r.kind == RoomKind::Group
                && r.members
                    .iter()
                    .any(|m| Some(&m.user.id) == me.as_ref() && m.role.can_manage())
        })
    };
    let typing = move || {
        let room = room.get()?;
        let names: Vec<String> = client.typing.with(|t| {
            t.get(&room.id)
                .map(|users| users.iter().map(|u| name_of(&room, u)).collect())
                .unwrap_or_default()
        });
        match names.len() {
            0 => None,
            1 => Some(format!("{} is typing…", names[0])),
            _ => Some(format!("{} are typing…", names.join(", "))),
        }
    };

    let scroller: NodeRef<html::Div> = NodeRef::new();
    let near_bottom = StoredValue::new(true);
    let before_older = StoredValue::new(None::<(i32, i32)>);
    // Keep the newest message in view when already at the bottom, and the reading position
    // when older messages are put above.
    Effect::new(move |_| {
        items.track();
        request_animation_frame(move || {
            let Some(el) = scroller.get_untracked() else {
                return;
            };
            if let Some((height, top)) = before_older.get_value() {
                before_older.set_value(None);
                el.set_scroll_top(top + el.scroll_height() - height);
            } else if near_bottom.get_value() {
                el.set_scroll_top(el.scroll_height());
            }
        });
    });
    let on_scroll = move |_| {
        let Some(el) = scroller.get_untracked() else {
            return;
        };
        near_bottom.set_value(el.scroll_height() - el.scroll_top() - el.client_height() < 80);
        let more = log.with_untracked(|l| l.has_more_before);
        if el.scroll_top() < 40 && more && before_older.get_value().is_none() {
            before_older.set_value(Some((el.scroll_height(), el.scroll_top())));
            client.load_older(id.get_value());
        }
    };

    view! {
        <section class="chat" aria-labelledby="chat-title">
            <header class="bar chat-header">
                <a href="/" class="back" aria-label="Back to rooms">"‹"</a>
                <div class="chat-heading">
                    <h1 id="chat-title">{title}</h1>
                    <span class="hint">{subtitle}</span>
                </div>
                <Show when=can_invite>
                    <InviteControl room_id=id.get_value()/>
                </Show>
            </header>
            <div class="log" role="log" aria-label="Messages" node_ref=scroller on:scroll=on_scroll tabindex="0">
                <Show when=move || log.with(|l| l.has_more_before)>
                    <button type="button" class="link older" on:click=move |_| client.load_older(id.get_value())>
                        "Load earlier messages"
                    </button>
                </Show>
                <For each=move || items.get() key=Row::key children=render_row/>
            </div>
            <p class="typing" aria-live="polite">{typing}</p>
            <Composer room_id=id.get_value()/>
            <PhotoViewer/>
        </section>
    }
    .into_any()
}

/// Enter sends, Shift+Enter makes a new line; typing is announced at most every 3 s. The
/// photo and microphone buttons sit before the text; while recording, the recorder takes
/// the text's place.
#[component]
fn Composer(room_id: RoomId) -> AnyView {
    let client = use_client();
    let voice = RwSignal::new(Voice::Idle);
    let writing = move || !matches!(voice.get(), Voice::Recording(_));
    let text = RwSignal::new(String::new());
    let input: NodeRef<html::Textarea> = NodeRef::new();
    let typing_sent = StoredValue::new(false);
    let id = StoredValue::new(room_id);
    let send = move || {
        let body = text.get_untracked();
        if body.trim().is_empty() {
            return;
        }
        client.send(id.get_value(), body);
        text.set(String::new());
        if typing_sent.get_value() {
            typing_sent.set_value(false);
            client.set_typing(id.get_value(), false);
        }
        if let Some(input) = input.get_untracked() {
            let _ = input.focus();
        }
    };
    // Focus the composer when a room opens.
    Effect::new(move |_| {
        if let Some(input) = input.get() {
            let _ = input.focus();
        }
    });
    view! {
        <form
            class="composer"
            on:submit=move |ev| {
                ev.prevent_default();
                send();
            }
        >
            <Show when=writing>
                <AttachPhoto room_id=id.get_value() caption=text/>
            </Show>
            <VoiceRecorder room_id=id.get_value() state=voice/>
            <textarea
                node_ref=input
                hidden=move || !writing()
                aria-label="Message"
                placeholder="Write a message"
                rows="1"
                maxlength="4000"
                prop:value=text
                on:input=move |ev| {
                    text.set(event_target_value(&ev));
                    if !typing_sent.get_value() {
                        typing_sent.set_value(true);
                        client.set_typing(id.get_value(), true);
                        set_timeout(
                            move || typing_sent.set_value(false),
                            std::time::Duration::from_secs(3),
                        );
                    }
                }
                on:keydown=move |ev| {
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        send();
                    }
                }
            ></textarea>
            <Show when=writing>
                <button type="submit" class="primary">"Send"</button>
            </Show>
        </form>
    }
    .into_any()
}
