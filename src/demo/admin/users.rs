//! Users: suspension, directly assigned roles and the create form.

use leptos::prelude::*;

use super::api;
use super::{Console, ListStatus, Panel, PanelMessages, SectionHead};

/// The users table and the create-user form.
#[component]
pub fn Users(
    /// The console's shared state.
    console: Console,
) -> impl IntoView {
    let panel = Panel::new();
    let list = console.users;
    view! {
        <section id="users" class="admin-section" aria-busy=move || panel.busy() aria-labelledby="users-title">
            <SectionHead
                id="users-title"
                title="Users"
                refresh_label="Refresh users"
                on_refresh=Callback::new(move |()| console.refresh_users())
            />
            <ListStatus list empty_text="No users." />
            <PanelMessages panel />
            <Show when=move || list.items.with(|l| !l.is_empty())>
                <div class="table-wrap">
                    <table>
                        <thead>
                            <tr>
                                <th scope="col">"Username"</th>
                                <th scope="col">"Display name"</th>
                                <th scope="col">"Status"</th>
                                <th scope="col">"Privileged"</th>
                                <th scope="col">"Roles"</th>
                                <th scope="col">"Groups"</th>
                                <th scope="col">
                                    <span class="visually-hidden">"Actions"</span>
                                </th>
                            </tr>
                        </thead>
                        <tbody>
                            <For
                                each=move || list.items.get()
                                key=|u| u.id
                                children=move |u| {
                                    view! { <UserRow console panel id=u.id username=u.username /> }
                                }
                            />
                        </tbody>
                    </table>
                </div>
            </Show>
            <CreateUser console panel />
        </section>
    }
}

/// One user; its cells follow the list, so a refresh keeps the row (and focus) in place.
#[component]
fn UserRow(
    /// The console's shared state.
    console: Console,
    /// The users section's actions.
    panel: Panel,
    /// The user's id.
    id: i64,
    /// The user's login name.
    username: String,
) -> impl IntoView {
    let user = Memo::new(move |_| {
        console
            .users
            .items
            .with(|l| l.iter().find(|u| u.id == id).cloned())
    });
    let suspended = Memo::new(move |_| user.with(|u| u.as_ref().is_some_and(|u| u.suspended)));
    let privileged = move || user.with(|u| u.as_ref().is_some_and(|u| u.privileged));
    let display_name = move || {
        user.with(|u| {
            u.as_ref()
                .map(|u| u.display_name.clone())
                .unwrap_or_default()
        })
    };
    // Keyed by id and name together, so a chip's name never changes under it.
    let roles = move || {
        user.with(|u| u.as_ref().map(|u| u.roles.clone()).unwrap_or_default())
            .into_iter()
            .map(|rid| (rid, console.role_name(rid)))
            .collect::<Vec<_>>()
    };
    let groups = move || {
        let names = user
            .with(|u| u.as_ref().map(|u| u.groups.clone()).unwrap_or_default())
            .into_iter()
            .map(|gid| console.group_name(gid))
            .collect::<Vec<_>>();
        if names.is_empty() {
            "—".to_string()
        } else {
            names.join(", ")
        }
    };
    let choice = RwSignal::new(String::new());
    let assign = move |_| match choice.with(|c| c.parse::<i64>().ok()) {
        Some(role_id) => console.act(panel, async move {
            api::set_user_role(id, role_id, true).await?;
            choice.try_set(String::new());
            Ok(())
        }),
        None => panel
            .error
            .set(Some("Choose a role to assign first.".to_string())),
    };
    let toggle_suspension = move |_| {
        let suspend = !suspended.get_untracked();
        console.act(panel, api::set_suspended(id, suspend));
    };
    let name = StoredValue::new(username.clone());
    view! {
        <tr data-username=username.clone()>
            <th scope="row">{username.clone()}</th>
            <td>{display_name}</td>
            <td>
                {move || {
                    if suspended.get() {
                        view! { <span class="badge badge-danger">"Suspended"</span> }.into_any()
                    } else {
                        view! { <span class="badge">"Active"</span> }.into_any()
                    }
                }}
            </td>
            <td>{move || if privileged() { "Yes" } else { "No" }}</td>
            <td>
                <ul class="chips">
                    <For
                        each=roles
                        key=|role| role.clone()
                        children=move |(role_id, role_name)| {
                            let label = format!(
                                "Unassign role {role_name} from {}",
                                name.get_value(),
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
                                            console.act(panel, api::set_user_role(id, role_id, false))
                                        }
                                    >
                                        "Unassign"
                                    </button>
                                </li>
                            }
                        }
                    />
                </ul>
            </td>
            <td>{groups}</td>
            <td>
                <div class="row-actions">
                    <select
                        class="role-select"
                        aria-label=format!("Role to assign to {username}")
                        prop:value=move || choice.get()
                        on:change=move |ev| choice.set(event_target_value(&ev))
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
                        aria-label=format!("Assign role to {username}")
                        on:click=assign
                    >
                        "Assign role"
                    </button>
                    <button
                        type="button"
                        class=move || if suspended.get() { "unsuspend sg-secondary" } else { "suspend danger" }
                        aria-label=move || {
                            let verb = if suspended.get() { "Unsuspend" } else { "Suspend" };
                            format!("{verb} {}", name.get_value())
                        }
                        on:click=toggle_suspension
                    >
                        {move || if suspended.get() { "Unsuspend" } else { "Suspend" }}
                    </button>
                </div>
            </td>
        </tr>
    }
}

/// The create-user form.
#[component]
fn CreateUser(
    /// The console's shared state.
    console: Console,
    /// The users section's actions.
    panel: Panel,
) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let display = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let submit = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        let (u, d, p) = (
            username.get_untracked().trim().to_string(),
            display.get_untracked().trim().to_string(),
            password.get_untracked(),
        );
        console.act(panel, async move {
            api::create_user(u.clone(), d, p).await?;
            username.try_set(String::new());
            display.try_set(String::new());
            password.try_set(String::new());
            panel.notice.try_set(format!("Created user {u}."));
            Ok(())
        });
    };
    // The server validates; native constraints would hide its message behind a tooltip.
    view! {
        <form class="create-form" on:submit=submit aria-labelledby="new-user-title" novalidate>
            <h3 id="new-user-title">"Create user"</h3>
            <div class="fields">
                <div class="field">
                    <label for="new-user-username">"Username"</label>
                    <input
                        id="new-user-username"
                        autocomplete="off"
                        aria-required="true"
                        bind:value=username
                    />
                </div>
                <div class="field">
                    <label for="new-user-display">"Display name"</label>
                    <input
                        id="new-user-display"
                        autocomplete="off"
                        aria-required="true"
                        bind:value=display
                    />
                </div>
                <div class="field">
                    <label for="new-user-password">"Password (8 characters or more)"</label>
                    <input
                        id="new-user-password"
                        type="password"
                        autocomplete="new-password"
                        aria-required="true"
                        bind:value=password
                    />
                </div>
                <button
                    id="new-user-create"
                    type="submit"
                    class="sg-primary"
                >
                    "Create user"
                </button>
            </div>
        </form>
    }
}
