//! A group's details, beside its conversation: name and topic (editable by the owner and
//! admins), mute, the members with their roles and presence, and what the caller's role
//! allows with each (make admin or member, hand the group over, remove), adding people, and
//! leaving. Every change comes back to every member as `room:update`, which redraws this.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;

use super::dialogs::search_people;
use super::picture::{Picture, PicturePicker};
use super::use_client;
use crate::client::{ApiError, browser};
use crate::protocol::{MediaId, Member, Role, RoomId, UpdateRoomRequest, UserId};

/// Members read per "Show more": as many as a `Room` lists (the server's `LISTED_MEMBERS`),
/// so page `n` starts at `n * MEMBER_PAGE`.
const MEMBER_PAGE: usize = 100;

/// A change the panel asks the client for (which folds the room's new state into its list).
type Call = std::pin::Pin<Box<dyn Future<Output = Result<(), ApiError>>>>;

/// Whether a caller whose role is `mine` may remove a member whose role is `member`.
fn may_remove(mine: Role, member: Role) -> bool {
    mine == Role::Owner && member != Role::Owner || mine == Role::Admin && member == Role::Member
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Owner => "Owner",
        Role::Admin => "Admin",
        Role::Member => "Member",
    }
}

/// The panel for the group `room_id`; `open` closes it.
#[component]
pub fn GroupDetails(room_id: RoomId, open: RwSignal<bool>) -> AnyView {
    let client = use_client();
    let id = StoredValue::new(room_id);
    let room = Memo::new(move |_| client.room(&id.get_value()));
    let me = move || client.me();
    let my_role = Memo::new(move |_| {
        let me = me()?;
        room.get()?
            .members
            .iter()
            .find(|m| m.user.id == me)
            .map(|m| m.role)
    });
    let manages = move || my_role.get().is_some_and(Role::can_manage);
    let note = RwSignal::new(None::<Result<String, String>>);
    // The panel redraws from the client's room list, which the action's answer (or the
    // `room:update` that follows it) brings up to date.
    let act = move |what: &'static str, call: Call| {
        spawn_local(async move {
            match call.await {
                Ok(()) => note.set(Some(Ok(what.to_owned()))),
                Err(e) => note.set(Some(Err(e.message()))),
            }
        });
    };

    let name = RwSignal::new(String::new());
    let topic = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(room) = room.get() {
            name.set(room.name.clone().unwrap_or_default());
            topic.set(room.topic.clone().unwrap_or_default());
        }
    });
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = UpdateRoomRequest {
            name: Some(name.get_untracked()),
            topic: Some(Some(topic.get_untracked())),
            avatar_media_id: None,
        };
        let room = id.get_value();
        act(
            "Saved.",
            Box::pin(async move { client.update_room(&room, request).await }),
        );
    };
    let picture = Signal::derive(move || room.get().and_then(|r| r.avatar_url));
    let title = Signal::derive(move || room.get().and_then(|r| r.name).unwrap_or_default());
    let set_picture = Callback::new(move |media: Option<MediaId>| {
        let what = if media.is_some() {
            "The group has a new picture."
        } else {
            "The group's picture is removed."
        };
        let request = UpdateRoomRequest {
            name: None,
            topic: None,
            avatar_media_id: Some(media),
        };
        let room = id.get_value();
        act(
            what,
            Box::pin(async move { client.update_room(&room, request).await }),
        );
    });
    let muted = move || room.get().is_some_and(|r| r.muted);
    let toggle_mute = move |_| {
        let (room, now) = (id.get_value(), muted());
        let what = if now {
            "Notifications are on."
        } else {
            "Muted: no notifications but mentions."
        };
        act(
            what,
            Box::pin(async move { client.set_muted(&room, !now).await }),
        );
    };

    // A `Room` lists its first members only; "Show more" reads the rest a page at a time,
    // read again whenever the room changes, so roles and removals stay right.
    let extra_pages = RwSignal::new(0_usize);
    let more = LocalResource::new(move || {
        let (room, pages) = (room.get(), extra_pages.get());
        async move {
            let Some(room) = room else {
                return Vec::new();
            };
            let mut members = Vec::new();
            for page in 1..=pages {
                match client
                    .members(&room.id, page * MEMBER_PAGE, MEMBER_PAGE)
                    .await
                {
                    Ok(found) => members.extend(found.members),
                    Err(_) => break,
                }
            }
            members
        }
    });
    // Worked out once per change of the room or the pages, for the list, the count of those
    // not shown and the people search.
    let listed = Memo::new(move |_| {
        let Some(room) = room.get() else {
            return Vec::new();
        };
        let mut members = room.members;
        for member in more.get().unwrap_or_default() {
            if !members.iter().any(|m| m.user.id == member.user.id) {
                members.push(member);
            }
        }
        members
    });
    let unlisted = move || {
        let count = room.get().map_or(0, |r| r.member_count);
        count.saturating_sub(listed.with(Vec::len) as u64)
    };

    let query = RwSignal::new(String::new());
    let results = search_people(query);
    let add = move |user: UserId| {
        let room = id.get_value();
        query.set(String::new());
        act(
            "Added.",
            Box::pin(async move { client.add_member(&room, user).await }),
        );
    };

    let navigate = use_navigate();
    let leave = move |_| {
        let title = room
            .get_untracked()
            .and_then(|r| r.name)
            .unwrap_or_default();
        if !browser::confirm(&format!(
            "Leave {title}? You will no longer see its messages."
        )) {
            return;
        }
        let (room, navigate) = (id.get_value(), navigate.clone());
        spawn_local(async move {
            match client.remove_member(&room, None).await {
                Ok(()) => {
                    open.set(false);
                    navigate("/", NavigateOptions::default());
                }
                Err(e) => note.set(Some(Err(e.message()))),
            }
        });
    };

    let member_row = move |member: Member| {
        let mine = my_role.get().unwrap_or(Role::Member);
        let user = member.user.clone();
        let is_me = me().as_ref() == Some(&user.id);
        let online = client
            .presence
            .with(|p| p.get(&user.id).copied().unwrap_or(false));
        let (uid, name) = (StoredValue::new(user.id.clone()), user.display_name.clone());
        let set_role = move |role: Role, what: &'static str| {
            let room = id.get_value();
            let user = uid.get_value();
            act(
                what,
                Box::pin(async move { client.set_role(&room, &user, role).await }),
            );
        };
        let promote = (mine == Role::Owner && !is_me).then(|| {
            let (role, label, what) = if member.role == Role::Admin {
                (Role::Member, "Make member", "They are a member again.")
            } else {
                (Role::Admin, "Make admin", "They are an admin now.")
            };
            view! { <button type="button" class="link" on:click=move |_| set_role(role, what)>{label}</button> }
        });
        let hand_over = (mine == Role::Owner && !is_me).then(|| {
            let name = name.clone();
            view! {
                <button type="button" class="link" on:click=move |_| {
                    if browser::confirm(&format!("Make {name} the owner? You become an admin.")) {
                        set_role(Role::Owner, "The group has a new owner.");
                    }
                }>"Make owner"</button>
            }
        });
        let remove = (!is_me && may_remove(mine, member.role)).then(|| {
            let name = name.clone();
            view! {
                <button type="button" class="link danger" on:click=move |_| {
                    if browser::confirm(&format!("Remove {name} from the group?")) {
                        let (room, user) = (id.get_value(), uid.get_value());
                        act("Removed.", Box::pin(async move {
                            client.remove_member(&room, Some(&user)).await
                        }));
                    }
                }>"Remove"</button>
            }
        });
        view! {
            <li>
                <span class="avatar small" aria-hidden="true">
                    <Picture url=user.avatar_url.clone() name=name.clone()/>
                    <span class="dot" class:online=online></span>
                </span>
                <span class="member-name">{name.clone()}{is_me.then_some(" (you)")}</span>
                <span class="hint">"@"{user.username.clone()}</span>
                <span class="role">{role_label(member.role)}</span>
                <span class="member-actions">{promote}{hand_over}{remove}</span>
            </li>
        }
    };

    view! {
        <aside class="details card" aria-label="Group details">
            <header class="row">
                <h2>"Group details"</h2>
                <button type="button" class="link" aria-label="Close details" on:click=move |_| open.set(false)>"✕"</button>
            </header>
            <Show
                when=manages
                fallback=move || view! {
                    <span class="avatar large" aria-hidden="true">
                        {move || view! { <Picture url=picture.get() name=title.get()/> }}
                    </span>
                    <p class="details-topic">{move || room.get().and_then(|r| r.topic).unwrap_or_else(|| "No topic".into())}</p>
                }
            >
                <PicturePicker current=picture name=title label="Change the group's picture" set=set_picture/>
                <form on:submit=save>
                    <label>
                        "Name"
                        <input maxlength="100" required prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                    </label>
                    <label>
                        "Topic"
                        <textarea maxlength="300" rows="2" prop:value=topic on:input=move |ev| topic.set(event_target_value(&ev))></textarea>
                    </label>
                    <button type="submit" class="primary">"Save"</button>
                </form>
            </Show>
            <label class="check">
                <input type="checkbox" prop:checked=muted on:change=toggle_mute/>
                "Mute notifications (mentions still come)"
            </label>
            {move || note.get().map(|n| match n {
                Ok(text) => view! { <p class="hint" role="status">{text}</p> }.into_any(),
                Err(text) => view! { <p class="error" role="alert">{text}</p> }.into_any(),
            })}
            <h3>{move || {
                let count = room.get().map_or(0, |r| r.member_count.max(r.members.len() as u64));
                format!("Members ({count})")
            }}</h3>
            <ul class="members" aria-label="Group members">
                {move || listed.get().into_iter().map(member_row).collect_view()}
            </ul>
            <Show when=move || unlisted() != 0>
                <button type="button" class="link" on:click=move |_| extra_pages.update(|p| *p += 1)>
                    {move || format!("Show more members ({} not shown)", unlisted())}
                </button>
            </Show>
            <Show when=manages>
                <label>
                    "Add people"
                    <input type="search" autocomplete="off" prop:value=query on:input=move |ev| query.set(event_target_value(&ev))/>
                </label>
                <ul class="results" aria-label="People to add">
                    <Suspense>
                        {move || results.get().map(|people| {
                            let present: Vec<UserId> =
                                listed.with_untracked(|l| l.iter().map(|m| m.user.id.clone()).collect());
                            people
                                .into_iter()
                                .filter(|u| !present.contains(&u.id))
                                .map(|user| {
                                    let label = format!("Add {} (@{})", user.display_name, user.username);
                                    let uid = user.id.clone();
                                    view! {
                                        <li><button type="button" class="result" on:click=move |_| add(uid.clone())>{label}</button></li>
                                    }
                                })
                                .collect_view()
                        })}
                    </Suspense>
                </ul>
            </Show>
            <button type="button" class="danger" on:click=leave>"Leave group"</button>
        </aside>
    }
    .into_any()
}
