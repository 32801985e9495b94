//! One conversation: the header, the message log (grouped by sender and day, statuses on
//! one's own messages, infinite scroll back), who is typing, and the composer.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::details::GroupDetails;
use super::invite::InviteControl;
use super::media::{AttachPhoto, PhotoViewer, Viewer, Voice, VoiceRecorder};
use super::{media, use_client};
use crate::client::browser;
use crate::client::model::{self, PendingMedia, RoomLog, Segment, Status};
use crate::protocol::{Media, MessageId, MessageKind, Room, RoomId, RoomKind, User, UserId};

/// The emoji the reaction picker offers first (any other can be typed).
const QUICK_REACTIONS: [&str; 6] = ["👍", "❤️", "😂", "😮", "😢", "🎉"];

/// One emoji under a message: how many, whether one of them is mine, and who.
#[derive(Clone, PartialEq)]
struct Chip {
    emoji: String,
    count: usize,
    mine: bool,
    who: String,
}

/// The quote above a reply: who wrote the original and what it said.
#[derive(Clone, PartialEq)]
struct Quote {
    id: MessageId,
    seq: u64,
    sender: String,
    text: String,
}

/// One line of the log: a day separator, a stored message, or one still in the outbox.
#[derive(Clone, PartialEq)]
enum Row {
    Day(String),
    /// Where I had stopped reading when the room opened.
    Unread,
    /// What happened in the room (someone joined, a rename), from the server.
    System {
        id: MessageId,
        text: String,
    },
    Message {
        id: MessageId,
        body: String,
        media: Option<Media>,
        /// The sender's name on the first message of a run by the same person.
        sender: Option<String>,
        time: String,
        mine: bool,
        status: Option<(Status, String)>,
        /// "Read by …" under the last own message of a group.
        seen_by: Option<String>,
        edited: bool,
        deleted: bool,
        /// It names me with `@`.
        mentions_me: bool,
        chips: Vec<Chip>,
        quote: Option<Quote>,
        /// What the menu offers: editing (own text or caption), deleting (own, or anyone's
        /// for an owner or admin).
        can_edit: bool,
        can_delete: bool,
        /// The members' usernames, for highlighting mentions.
        usernames: Vec<String>,
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
            Row::Unread => "unread".to_owned(),
            Row::System { id, .. } => format!("s-{id}"),
            Row::Message {
                id,
                status,
                sender,
                seen_by,
                body,
                edited,
                deleted,
                chips,
                quote,
                ..
            } => {
                use std::hash::{Hash, Hasher};
                // A row is drawn again when anything shown in it changes. (Hashed, not
                // printed with `{:?}`: the release WASM is built with Debug output off.)
                let mut shown = std::hash::DefaultHasher::new();
                (body, edited, deleted, quote.as_ref().map(|q| &q.text)).hash(&mut shown);
                (status.as_ref().map(|s| &s.1), sender, seen_by).hash(&mut shown);
                for chip in chips {
                    (&chip.emoji, chip.count, chip.mine).hash(&mut shown);
                }
                format!("m-{id}-{:x}", shown.finish())
            }
            // A photo's row is drawn again once its size is known (after shrinking).
            Row::Pending {
                client_id,
                failed,
                media,
                ..
            } => {
                use std::hash::{Hash, Hasher};
                let mut shown = std::hash::DefaultHasher::new();
                (failed, media.as_ref().map(|m| (m.width, m.height))).hash(&mut shown);
                format!("p-{client_id}-{:x}", shown.finish())
            }
        }
    }
}

fn name_of(room: &Room, user: &UserId) -> String {
    room.members
        .iter()
        .find(|m| &m.user.id == user)
        .map_or_else(|| "Someone".into(), |m| m.user.display_name.clone())
}

fn rows(
    room: &Room,
    log: &RoomLog,
    me: &UserId,
    outbox: &[model::Pending],
    read_before: Option<u64>,
) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut divided = false;
    let mut day = String::new();
    let mut previous: Option<&UserId> = None;
    let last_mine = log
        .messages
        .values()
        .rev()
        .find(|m| &m.sender_id == me)
        .map(|m| m.seq);
    let group = room.kind == RoomKind::Group;
    let manager = room
        .members
        .iter()
        .any(|m| &m.user.id == me && m.role.can_manage());
    let usernames: Vec<String> = room
        .members
        .iter()
        .map(|m| m.user.username.clone())
        .collect();
    let (today, _) = browser::local_time(browser::now_millis());
    // Edits, deletions and reactions are folded into the messages they change.
    for message in log.messages.values().filter(|m| !m.kind.is_change()) {
        let (this_day, time) = browser::local_time(message.created_at.as_millis());
        if this_day != day {
            rows.push(Row::Day(model::day_label(&this_day, &today)));
            day = this_day;
            previous = None;
        }
        if message.kind == MessageKind::System {
            rows.push(Row::System {
                id: message.id.clone(),
                text: message.body.clone().unwrap_or_default(),
            });
            previous = None;
            continue;
        }
        let mine = &message.sender_id == me;
        if !divided && !mine && read_before.is_some_and(|read| message.seq > read) {
            divided = true;
            rows.push(Row::Unread);
            previous = None;
        }
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
        let deleted = message.deleted_at.is_some();
        let chips = message
            .reactions
            .iter()
            .map(|r| Chip {
                emoji: r.emoji.clone(),
                count: r.user_ids.len(),
                mine: r.user_ids.contains(me),
                who: r
                    .user_ids
                    .iter()
                    .map(|u| name_of(room, u))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect();
        let quote = message.reply_preview.as_ref().map(|q| Quote {
            id: q.id.clone(),
            seq: q.seq,
            sender: name_of(room, &q.sender_id),
            text: match q.kind {
                MessageKind::Image if q.body.is_none() => "Photo".to_owned(),
                MessageKind::Voice => "Voice message".to_owned(),
                _ => q.body.clone().unwrap_or_default(),
            },
        });
        rows.push(Row::Message {
            id: message.id.clone(),
            body: message.body.clone().unwrap_or_default(),
            media: message.media.clone(),
            sender: (first && !mine && group).then(|| name_of(room, &message.sender_id)),
            time,
            mine,
            status,
            seen_by,
            edited: message.edited_at.is_some(),
            deleted,
            mentions_me: message.mentions.contains(me),
            chips,
            quote,
            can_edit: mine
                && !deleted
                && matches!(message.kind, MessageKind::Text | MessageKind::Image),
            can_delete: !deleted && message.kind.is_content() && (mine || (group && manager)),
            usernames: usernames.clone(),
        });
    }
    for pending in outbox
        .iter()
        .filter(|p| p.room_id == room.id && p.change.is_none())
    {
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
        Row::Unread => {
            view! { <div class="unread-divider" role="separator">"New messages"</div> }.into_any()
        }
        Row::System { id, text } => {
            view! { <p class="system-line" id=format!("msg-{id}")>{text}</p> }.into_any()
        }
        Row::Message {
            id,
            body,
            media,
            sender,
            time,
            mine,
            status,
            seen_by,
            edited,
            deleted,
            mentions_me,
            chips,
            quote,
            can_edit,
            can_delete,
            usernames,
        } => {
            let ui = use_context::<ChatUi>().expect("inside a chat view");
            let first = sender.is_some();
            let has_media = media.is_some();
            let dom_id = format!("msg-{id}");
            let target = StoredValue::new(id.clone());
            let editing = move || ui.editing.get().as_ref() == Some(&target.get_value());
            let text = StoredValue::new(body.clone());
            let quote = quote.map(|q| {
                let (qid, qseq) = (q.id.clone(), q.seq);
                view! {
                    <button type="button" class="quote" title="Show the original"
                        on:click=move |_| ui.jump(qid.clone(), qseq)>
                        <span class="quote-sender">{q.sender}</span>
                        <span class="quote-text">{q.text}</span>
                    </button>
                }
            });
            let shown_body = move || {
                if deleted {
                    return Some(
                        view! { <p class="body deleted">"Message deleted"</p> }.into_any(),
                    );
                }
                if editing() {
                    return Some(
                        view! { <EditBox target=target.get_value() text=text.get_value()/> }
                            .into_any(),
                    );
                }
                let body = text.get_value();
                (!body.is_empty()).then(|| {
                    let parts = model::segments(&body, &usernames);
                    view! { <p class="body">{parts.into_iter().map(segment_view).collect_view()}</p> }.into_any()
                })
            };
            let chips = (!chips.is_empty()).then(|| {
                view! {
                    <div class="reactions">
                        {chips.into_iter().map(|chip| {
                            let emoji = chip.emoji.clone();
                            let label = format!("{} {}: {}", chip.emoji, chip.count, chip.who);
                            view! {
                                <button type="button" class="chip" class:mine=chip.mine
                                    title=label.clone() aria-label=label aria-pressed=chip.mine.to_string()
                                    on:click=move |_| ui.toggle_reaction(target.get_value(), emoji.clone())>
                                    {chip.emoji}" "{chip.count}
                                </button>
                            }
                        }).collect_view()}
                    </div>
                }
            });
            let actions = (!deleted).then(|| view! {
                <MessageActions target=target.get_value() text=text.get_value() can_edit can_delete/>
            });
            view! {
            <div class="msg" id=dom_id class:mine=mine class:first=first class:media=has_media
                class:mentioned=mentions_me class:highlight=move || ui.highlight.get().as_ref() == Some(&target.get_value())
                tabindex="-1">
                {sender.map(|s| view! { <span class="sender">{s}</span> })}
                {quote}
                {(!deleted).then(|| media.map(media::media_view))}
                {shown_body}
                {chips}
                <span class="meta">
                    {edited.then(|| view! { <span class="edited">"edited"</span> })}
                    <time>{time}</time>
                    {status.map(|(status, label)| view! {
                        <span class="status" class:read=status == Status::Read aria-label=label.clone() title=label>
                            {status.glyph()}
                        </span>
                    })}
                </span>
                {seen_by.map(|s| view! { <span class="seen">{s}</span> })}
                {actions}
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

fn segment_view(segment: Segment) -> AnyView {
    match segment {
        Segment::Text(text) => text.into_any(),
        Segment::Mention(name) => view! { <span class="mention">{name}</span> }.into_any(),
        Segment::Link(url) => {
            let href = url.clone();
            view! { <a href=href target="_blank" rel="noopener noreferrer">{url}</a> }.into_any()
        }
    }
}

/// What one chat view is doing with its messages: which one is being edited, which one a
/// reply is being written to, which one is highlighted after a jump.
#[derive(Clone, Copy)]
struct ChatUi {
    client: crate::client::Client,
    room: StoredValue<RoomId>,
    editing: RwSignal<Option<MessageId>>,
    replying: RwSignal<Option<Quote>>,
    highlight: RwSignal<Option<MessageId>>,
    /// The message being jumped to, until its row is on the page.
    jumping: RwSignal<Option<(MessageId, u64)>>,
}

impl ChatUi {
    fn change(self, kind: MessageKind, target: MessageId, body: String) {
        self.client
            .change(self.room.get_value(), kind, target, body);
    }

    /// Adds my `emoji` to `target`, or takes it back if it is there.
    fn toggle_reaction(self, target: MessageId, emoji: String) {
        let client = self.client;
        let Some(me) = client.me() else { return };
        let room = self.room.get_value();
        let own = client.logs.with_untracked(|logs| {
            logs.get(&room)
                .and_then(|log| log.own_reaction(&target, &me, &emoji))
                .map(|m| m.id.clone())
        });
        match own {
            Some(reaction) => self.change(MessageKind::Delete, reaction, String::new()),
            None => self.change(MessageKind::Reaction, target, emoji),
        }
    }

    /// Brings the message into view, loading older pages until it is held.
    fn jump(self, target: MessageId, seq: u64) {
        self.jumping.set(Some((target, seq)));
    }
}

/// Reply, react, edit, delete and copy, on hover or focus (a tap on touch screens).
#[component]
fn MessageActions(target: MessageId, text: String, can_edit: bool, can_delete: bool) -> AnyView {
    let ui = use_context::<ChatUi>().expect("inside a chat view");
    let client = use_client();
    let picking = RwSignal::new(false);
    let typed = RwSignal::new(String::new());
    let target = StoredValue::new(target);
    let text = StoredValue::new(text);
    let react = move |emoji: String| {
        picking.set(false);
        typed.set(String::new());
        ui.toggle_reaction(target.get_value(), emoji);
    };
    let reply = move |_| {
        let room = ui.room.get_value();
        let quote = client.logs.with_untracked(|logs| {
            let message = logs.get(&room)?.get(&target.get_value())?.clone();
            let sender = client
                .room(&room)
                .map(|r| name_of(&r, &message.sender_id))
                .unwrap_or_default();
            Some(Quote {
                id: message.id.clone(),
                seq: message.seq,
                sender,
                text: model::preview_text(&message),
            })
        });
        ui.replying.set(quote);
    };
    view! {
        <div class="msg-actions" role="toolbar" aria-label="Message actions">
            <button type="button" class="act" title="Reply" aria-label="Reply" on:click=reply>"↩"</button>
            <button type="button" class="act" title="React" aria-label="React" aria-expanded=move || picking.get().to_string()
                on:click=move |_| picking.update(|p| *p = !*p)>"☺"</button>
            {can_edit.then(|| view! {
                <button type="button" class="act" title="Edit" aria-label="Edit"
                    on:click=move |_| ui.editing.set(Some(target.get_value()))>"✎"</button>
            })}
            {can_delete.then(|| view! {
                <button type="button" class="act" title="Delete" aria-label="Delete"
                    on:click=move |_| {
                        if browser::confirm("Delete this message for everyone?") {
                            ui.change(MessageKind::Delete, target.get_value(), String::new());
                        }
                    }>"🗑"</button>
            })}
            {(!text.get_value().is_empty()).then(|| view! {
                <button type="button" class="act" title="Copy text" aria-label="Copy text"
                    on:click=move |_| {
                        let text = text.get_value();
                        leptos::task::spawn_local(async move {
                            browser::copy_text(&text).await;
                        });
                    }>"⧉"</button>
            })}
            <Show when=move || picking.get()>
                <div class="picker" role="group" aria-label="Pick a reaction">
                    {QUICK_REACTIONS.iter().map(|emoji| {
                        let emoji = (*emoji).to_owned();
                        let label = format!("React with {emoji}");
                        view! {
                            <button type="button" class="pick" aria-label=label on:click={
                                let emoji = emoji.clone();
                                move |_| react(emoji.clone())
                            }>{emoji.clone()}</button>
                        }
                    }).collect_view()}
                    <form class="pick-other" on:submit=move |ev| {
                        ev.prevent_default();
                        let emoji = typed.get_untracked().trim().to_owned();
                        if !emoji.is_empty() {
                            react(emoji);
                        }
                    }>
                        <input aria-label="Any emoji" placeholder="Other" maxlength="16" size="4"
                            prop:value=typed on:input=move |ev| typed.set(event_target_value(&ev))/>
                    </form>
                </div>
            </Show>
        </div>
    }
    .into_any()
}

/// A message's text being edited in place: Enter saves, Shift+Enter makes a new line,
/// Escape (or Cancel) leaves it as it was.
#[component]
fn EditBox(target: MessageId, text: String) -> AnyView {
    let ui = use_context::<ChatUi>().expect("inside a chat view");
    let draft = RwSignal::new(text.clone());
    let input: NodeRef<html::Textarea> = NodeRef::new();
    let target = StoredValue::new(target);
    let original = StoredValue::new(text);
    let save = move || {
        let body = draft.get_untracked().trim().to_owned();
        if !body.is_empty() && body != original.get_value() {
            ui.change(MessageKind::Edit, target.get_value(), body);
        }
        ui.editing.set(None);
    };
    Effect::new(move |_| {
        if let Some(input) = input.get() {
            let _ = input.focus();
        }
    });
    view! {
        <form class="edit" on:submit=move |ev| {
            ev.prevent_default();
            save();
        }>
            <textarea node_ref=input aria-label="Edit message" maxlength="4000" rows="2"
                prop:value=draft
                on:input=move |ev| draft.set(event_target_value(&ev))
                on:keydown=move |ev| {
                    if ev.key() == "Escape" {
                        ev.prevent_default();
                        ui.editing.set(None);
                    } else if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        save();
                    }
                }></textarea>
            <div class="edit-buttons">
                <button type="button" class="link" on:click=move |_| ui.editing.set(None)>"Cancel"</button>
                <button type="submit" class="primary">"Save"</button>
            </div>
        </form>
    }
    .into_any()
}

#[component]
pub fn ChatView(room_id: RoomId) -> AnyView {
    let client = use_client();
    let id = StoredValue::new(room_id);
    provide_context(Viewer(RwSignal::new(None)));
    let ui = ChatUi {
        client,
        room: id,
        editing: RwSignal::new(None),
        replying: RwSignal::new(None),
        highlight: RwSignal::new(None),
        jumping: RwSignal::new(None),
    };
    provide_context(ui);
    // A search hit opened in this room.
    Effect::new(move |_| {
        if let Some((room, target, seq)) = client.jump.get()
            && room == id.get_value()
        {
            client.jump.set(None);
            ui.jumping.set(Some((target, seq)));
        }
    });
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
    // My read marker as the room opened: the divider stays there while I read on.
    let read_before = StoredValue::new(None::<Option<u64>>);
    let items = Memo::new(move |_| {
        let Some(room) = room.get() else {
            return Vec::new();
        };
        if read_before.get_value().is_none() {
            let marker = room
                .members
                .iter()
                .find(|m| m.user.id == me)
                .map(|m| m.last_read_seq)
                .filter(|&read| room.unread_count > 0 && read < room.last_seq);
            read_before.set_value(Some(marker));
        }
        let read = read_before.get_value().flatten();
        client
            .outbox
            .with(|outbox| log.with(|log| rows(&room, log, &me, outbox, read)))
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
            // A big group lists only its first members; the count is all of them.
            RoomKind::Group => match room.member_count.max(room.members.len() as u64) {
                1 => "1 member".to_owned(),
                n => format!("{n} members"),
            },
        })
    };
    // A memo, so the block control is made again only for another person, not with every
    // change to the room.
    let peer = Memo::new(move |_| {
        let room = room.get()?;
        let me = client.me()?;
        (room.kind == RoomKind::Direct)
            .then(|| model::peer(&room, &me).cloned())
            .flatten()
    });
    let is_group = move || room.with(|r| r.as_ref().is_some_and(|r| r.kind == RoomKind::Group));
    let details_open = RwSignal::new(false);
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
    // Scrolled up far enough to offer the way back.
    let far_up = RwSignal::new(false);
    let to_latest = move |_| {
        if let Some(el) = scroller.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
        near_bottom.set_value(true);
        far_up.set(false);
    };
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
    // A jump (a quote clicked, a search hit opened): load back until the message is held,
    // then bring it into view and highlight it for a moment.
    Effect::new(move |_| {
        let Some((target, seq)) = ui.jumping.get() else {
            return;
        };
        let (held, first, more) = log.with(|l| {
            (
                l.get(&target).is_some(),
                l.first_seq().unwrap_or(0),
                l.has_more_before,
            )
        });
        if held {
            ui.jumping.set(None);
            near_bottom.set_value(false);
            request_animation_frame(move || {
                browser::reveal(&format!("msg-{target}"));
                ui.highlight.set(Some(target.clone()));
                set_timeout(
                    move || ui.highlight.set(None),
                    std::time::Duration::from_secs(3),
                );
            });
        } else if log.with(|l| l.loaded) && more && (first == 0 || seq < first) {
            client.load_older(id.get_value());
        } else if log.with(|l| l.loaded) {
            // Not in this room's history any more (deleted rooms, a stale link).
            ui.jumping.set(None);
        }
    });
    let on_scroll = move |_| {
        let Some(el) = scroller.get_untracked() else {
            return;
        };
        let from_bottom = el.scroll_height() - el.scroll_top() - el.client_height();
        near_bottom.set_value(from_bottom < 80);
        let up = from_bottom > el.client_height() / 2;
        if far_up.get_untracked() != up {
            far_up.set(up);
        }
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
                <Show when=is_group>
                    <button
                        type="button"
                        class="link"
                        aria-expanded=move || details_open.get().to_string()
                        on:click=move |_| details_open.update(|open| *open = !*open)
                    >"Details"</button>
                </Show>
                {move || peer.get().map(|peer| view! {
                    <MuteControl room_id=id.get_value()/>
                    <BlockControl peer/>
                })}
            </header>
            <Show when=move || is_group() && details_open.get()>
                <GroupDetails room_id=id.get_value() open=details_open/>
            </Show>
            <Show when=move || room.with(Option::is_none) && client.rooms_fetched.get()>
                <p class="hint pad" role="status">"You are not a member of this conversation (any more)."</p>
            </Show>
            <div class="log" role="log" aria-label="Messages" node_ref=scroller on:scroll=on_scroll tabindex="0">
                <Show when=move || log.with(|l| l.has_more_before)>
                    <button type="button" class="link older" on:click=move |_| client.load_older(id.get_value())>
                        "Load earlier messages"
                    </button>
                </Show>
                <For each=move || items.get() key=Row::key children=render_row/>
            </div>
            <Show when=move || far_up.get()>
                <button type="button" class="to-latest primary" on:click=to_latest>"Jump to latest ↓"</button>
            </Show>
            <p class="typing" aria-live="polite">{typing}</p>
            {move || ui.replying.get().map(|q| view! {
                <div class="replying" role="status">
                    <span>"Replying to "<strong>{q.sender}</strong>": "{q.text}</span>
                    <button type="button" class="link" aria-label="Cancel reply" on:click=move |_| ui.replying.set(None)>"✕"</button>
                </div>
            })}
            <Composer room_id=id.get_value()/>
            <PhotoViewer/>
        </section>
    }
    .into_any()
}

/// Mute or unmute a direct room (a group's details panel has its own): no `message`
/// notifications while muted; mentions still come.
#[component]
fn MuteControl(room_id: RoomId) -> AnyView {
    let client = use_client();
    let id = StoredValue::new(room_id);
    let muted = Memo::new(move |_| client.room(&id.get_value()).is_some_and(|r| r.muted));
    let failed = RwSignal::new(None::<String>);
    let toggle = move |_| {
        let (room, now) = (id.get_value(), muted.get_untracked());
        spawn_local(async move {
            match client.set_muted(&room, !now).await {
                Ok(()) => failed.set(None),
                Err(e) => failed.set(Some(e.message())),
            }
        });
    };
    view! {
        <button
            type="button"
            class="link"
            aria-pressed=move || muted.get().to_string()
            title="Mentions still come while muted"
            on:click=toggle
        >
            {move || if muted.get() { "Unmute" } else { "Mute" }}
        </button>
        {move || failed.get().map(|text| view! { <span class="error" role="alert">{text}</span> })}
    }
    .into_any()
}

/// Block or unblock the other person of a direct room: once blocked, they cannot start a
/// direct room with the caller nor add them to a group.
#[component]
fn BlockControl(peer: User) -> AnyView {
    let client = use_client();
    let blocked = RwSignal::new(None::<bool>);
    let note = RwSignal::new(None::<String>);
    let id = peer.id.clone();
    let peer = StoredValue::new(peer);
    // Nothing of the component is read after the await: it may be gone by then.
    spawn_local(async move {
        if let Ok(list) = client.blocked_users().await {
            blocked.set(Some(list.iter().any(|u| u.id == id)));
        }
    });
    let toggle = move |_| {
        let Some(now) = blocked.get_untracked() else {
            return;
        };
        let (id, name) = peer.with_value(|p| (p.id.clone(), p.display_name.clone()));
        if !now
            && !browser::confirm(&format!(
                "Block {name}? They will no longer be able to start a conversation with you \
                 or add you to groups."
            ))
        {
            return;
        }
        spawn_local(async move {
            match client.set_blocked(&id, !now).await {
                Ok(()) => {
                    blocked.set(Some(!now));
                    note.set(Some(if now {
                        format!("{name} is unblocked.")
                    } else {
                        format!("{name} is blocked.")
                    }));
                }
                Err(e) => note.set(Some(e.message())),
            }
        });
    };
    view! {
        <div class="block-control">
            {move || blocked.get().map(|now| view! {
                <button type="button" class="link" on:click=toggle>
                    {if now { "Unblock" } else { "Block" }}
                </button>
            })}
            {move || note.get().map(|text| view! { <span class="hint" role="status">{text}</span> })}
        </div>
    }
    .into_any()
}

/// Enter sends, Shift+Enter makes a new line; typing is announced at most every 3 s. The
/// photo and microphone buttons sit before the text; while recording, the recorder takes
/// the text's place.
#[component]
fn Composer(room_id: RoomId) -> AnyView {
    let client = use_client();
    let ui = use_context::<ChatUi>().expect("inside a chat view");
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
        let reply_to = ui.replying.get_untracked().map(|q| q.id);
        ui.replying.set(None);
        client.send(id.get_value(), body, reply_to);
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
    // `@` and the start of a name: the members it could be, to pick with the arrows and
    // Enter or Tab (or a click); Escape closes the list until the text changes.
    let chosen = RwSignal::new(0_usize);
    let dismissed = RwSignal::new(false);
    let suggestions = Memo::new(move |_| {
        if dismissed.get() {
            return Vec::new();
        }
        let Some(prefix) = text.with(|t| model::mention_query(t).map(str::to_owned)) else {
            return Vec::new();
        };
        let me = client.me();
        client
            .room(&id.get_value())
            .map(|room| model::mention_candidates(&room, me.as_ref(), &prefix))
            .unwrap_or_default()
    });
    let accept = move |username: String| {
        text.update(|t| model::complete_mention(t, &username));
        chosen.set(0);
        if let Some(input) = input.get_untracked() {
            let _ = input.focus();
        }
    };
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
                    dismissed.set(false);
                    chosen.set(0);
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
                    let open = suggestions.with_untracked(|s| s.len());
                    match ev.key().as_str() {
                        "ArrowDown" | "ArrowUp" if open > 0 => {
                            ev.prevent_default();
                            let step = if ev.key() == "ArrowDown" { 1 } else { open - 1 };
                            chosen.update(|c| *c = (*c + step) % open);
                        }
                        "Enter" | "Tab" if open > 0 && !ev.is_composing() => {
                            ev.prevent_default();
                            let pick = suggestions.with_untracked(|s| {
                                s.get(chosen.get_untracked()).map(|(u, _)| u.clone())
                            });
                            if let Some(username) = pick {
                                accept(username);
                            }
                        }
                        "Escape" if open > 0 => {
                            ev.prevent_default();
                            dismissed.set(true);
                        }
                        "Enter" if !ev.shift_key() && !ev.is_composing() => {
                            ev.prevent_default();
                            send();
                        }
                        _ => {}
                    }
                }
                aria-autocomplete="list"
                aria-controls="mention-suggestions"
            ></textarea>
            <Show when=move || suggestions.with(|s| !s.is_empty())>
                <ul class="suggestions" id="mention-suggestions" role="listbox" aria-label="Members">
                    {move || suggestions.get().into_iter().enumerate().map(|(n, (username, name))| {
                        let pick = username.clone();
                        view! {
                            <li role="option" aria-selected=move || (chosen.get() == n).to_string()
                                on:mousedown=move |ev| {
                                    ev.prevent_default();
                                    accept(pick.clone());
                                }>
                                <strong>{name}</strong>
                                <span class="hint">"@"{username}</span>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </Show>
            <Show when=writing>
                <button type="submit" class="primary">"Send"</button>
            </Show>
        </form>
    }
    .into_any()
}
