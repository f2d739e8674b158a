//! Groups: members and roles.

use leptos::prelude::*;

use super::api;
use super::{Console, ListStatus, Panel, PanelMessages, SectionHead};

/// The groups table and the create-group form.
#[component]
pub fn Groups(
    /// The console's shared state.
    console: Console,
) -> impl IntoView {
    let panel = Panel::new();
    let list = console.groups;
    view! {
        <section id="groups" class="admin-section" aria-busy=move || panel.busy() aria-labelledby="groups-title">
            <SectionHead
                id="groups-title"
                title="Groups"
                refresh_label="Refresh groups"
                on_refresh=Callback::new(move |()| console.refresh_groups())
            />
            <ListStatus list empty_text="No groups." />
            <PanelMessages panel />
            <Show when=move || list.items.with(|l| !l.is_empty())>
                <div class="table-wrap">
                    <table>
                        <thead>
                            <tr>
                                <th scope="col">"Group"</th>
                                <th scope="col">"Members"</th>
                                <th scope="col">"Roles"</th>
                                <th scope="col">
                                    <span class="visually-hidden">"Actions"</span>
                                </th>
                            </tr>
                        </thead>
                        <tbody>
                            <For
                                each=move || list.items.get()
                                key=|g| g.id
                                children=move |g| {
                                    view! { <GroupRow console panel id=g.id name=g.name /> }
                                }
                            />
                        </tbody>
                    </table>
                </div>
            </Show>
            <CreateGroup console panel />
        </section>
    }
}

/// One group; its cells follow the list, so a refresh keeps the row (and focus) in place.
#[component]
fn GroupRow(
    /// The console's shared state.
    console: Console,
    /// The groups section's actions.
    panel: Panel,
    /// The group's id.
    id: i64,
    /// The group's name.
    name: String,
) -> impl IntoView {
    let group = Memo::new(move |_| {
        console
            .groups
            .items
            .with(|l| l.iter().find(|g| g.id == id).cloned())
    });
    // Keyed by id and name together, so a chip's name never changes under it.
    let members = move || {
        group
            .with(|g| g.as_ref().map(|g| g.members.clone()).unwrap_or_default())
            .into_iter()
            .map(|uid| (uid, console.username(uid)))
            .collect::<Vec<_>>()
    };
    let roles = move || {
        group
            .with(|g| g.as_ref().map(|g| g.roles.clone()).unwrap_or_default())
            .into_iter()
            .map(|rid| (rid, console.role_name(rid)))
            .collect::<Vec<_>>()
    };
    let group_name = StoredValue::new(name.clone());
    let member_choice = RwSignal::new(String::new());
    let role_choice = RwSignal::new(String::new());
    let add_member = move |_| match member_choice.with(|c| c.parse::<i64>().ok()) {
        Some(user_id) => console.act(panel, async move {
            api::set_member(id, user_id, true).await?;
            member_choice.try_set(String::new());
            Ok(())
        }),
        None => panel
            .error
            .set(Some("Choose a user to add first.".to_string())),
    };
    let assign_role = move |_| match role_choice.with(|c| c.parse::<i64>().ok()) {
        Some(role_id) => console.act(panel, async move {
            api::set_group_role(id, role_id, true).await?;
            role_choice.try_set(String::new());
            Ok(())
        }),
        None => panel
            .error
            .set(Some("Choose a role to assign first.".to_string())),
    };
    view! {
        <tr data-group-name=name.clone()>
            <th scope="row">{name.clone()}</th>
            <td>
                <ul class="chips">
                    <For
                        each=members
                        key=|m| m.clone()
                        children=move |(user_id, username)| {
                            let label = format!(
                                "Remove {username} from {}",
                                group_name.get_value(),
                            );
                            view! {
                                <li class="chip">
                                    <span>{username.clone()}</span>
                                    <button
                                        type="button"
                                        class="remove-member chip-remove"
                                        data-username=username
                                        aria-label=label
                                        on:click=move |_| {
                                            console.act(panel, api::set_member(id, user_id, false))
                                        }
                                    >
                                        "Remove"
                                    </button>
                                </li>
                            }
                        }
                    />
                </ul>
                <div class="row-actions">
                    <select
                        class="member-select"
                        aria-label=format!("User to add to {name}")
                        prop:value=move || member_choice.get()
                        on:change=move |ev| member_choice.set(event_target_value(&ev))
                    >
                        <option value="">"Choose a user"</option>
                        <For
                            each=move || console.users.items.get()
                            key=|u| (u.id, u.username.clone())
                            children=|u| view! { <option value=u.id.to_string()>{u.username}</option> }
                        />
                    </select>
                    <button
                        type="button"
                        class="add-member sg-secondary"
                        aria-label=format!("Add member to {name}")
                        on:click=add_member
                    >
                        "Add member"
                    </button>
                </div>
            </td>
            <td>
                <ul class="chips">
                    <For
                        each=roles
                        key=|r| r.clone()
                        children=move |(role_id, role_name)| {
                            let label = format!(
                                "Unassign role {role_name} from {}",
                                group_name.get_value(),
                            );
                            view! {
                                <li class="chip">
                                    <span>{role_name.clone()}</span>
                                    <button
                                        type="button"
                                        class="unassign-role chip-remove"
                                        data-role-name=role_name
                                        aria-label=label
                                        on:click=move |_| {
                                            console.act(panel, api::set_group_role(id, role_id, false))
                                        }
                                    >
                                        "Unassign"
                                    </button>
                                </li>
                            }
                        }
                    />
                </ul>
                <div class="row-actions">
                    <select
                        class="role-select"
                        aria-label=format!("Role to assign to {name}")
                        prop:value=move || role_choice.get()
                        on:change=move |ev| role_choice.set(event_target_value(&ev))
                    >
                        <option value="">"Choose a role"</option>
                        <For
                            each=move || console.roles.items.get()
                            key=|r| (r.id, r.name.clone())
                            children=|r| view! { <option value=r.id.to_string()>{r.name}</option> }
                        />
                    </select>
                    <button
                        type="button"
                        class="assign-role sg-secondary"
                        aria-label=format!("Assign role to {name}")
                        on:click=assign_role
                    >
                        "Assign role"
                    </button>
                </div>
            </td>
            <td>
                <button
                    type="button"
                    class="delete-group danger"
                    aria-label=format!("Delete group {name}")
                    on:click=move |_| console.act(panel, api::delete_group(id))
                >
                    "Delete group"
                </button>
            </td>
        </tr>
    }
}

/// The create-group form.
#[component]
fn CreateGroup(
    /// The console's shared state.
    console: Console,
    /// The groups section's actions.
    panel: Panel,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let submit = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        let group = name.get_untracked().trim().to_string();
        console.act(panel, async move {
            api::create_group(group.clone()).await?;
            name.try_set(String::new());
            panel.notice.try_set(format!("Created group {group}."));
            Ok(())
        });
    };
    view! {
        <form class="create-form" on:submit=submit aria-labelledby="new-group-title" novalidate>
            <h3 id="new-group-title">"Create group"</h3>
            <div class="fields">
                <div class="field">
                    <label for="new-group-name">"Name"</label>
                    <input id="new-group-name" autocomplete="off" aria-required="true" bind:value=name />
                </div>
                <button
                    id="new-group-create"
                    type="submit"
                    class="sg-primary"
                >
                    "Create group"
                </button>
            </div>
        </form>
    }
}
