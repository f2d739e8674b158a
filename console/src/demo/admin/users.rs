//! Users: suspension, directly assigned roles and the create form.

use leptos::prelude::*;

use super::api::{self, Destructive, User};
use super::section::{
    AdminSection, CreateForm, Paging, PickAndAct, RemovableChips, TableControls, TextField,
};
use super::{Console, Panel};

/// The text a user is filtered by: login and display name.
fn user_text(u: &User) -> String {
    format!("{} {}", u.username, u.display_name)
}

/// The users table and the create-user form.
#[component]
pub fn Users(
    /// The console's shared state.
    console: Console,
) -> impl IntoView {
    let panel = Panel::new();
    let paging = Paging::new();
    let matching = Memo::new(move |_| console.users.items.with(|l| paging.matching(l, user_text)));
    let shown = Signal::derive(move || matching.with(|rows| paging.page_of(rows)));
    let controls = view! {
        <TableControls
            id="users"
            what="users"
            paging
            matching=Signal::derive(move || matching.with(Vec::len))
        />
    }
    .into_any();
    view! {
        <AdminSection
            id="users"
            title="Users"
            refresh_label="Refresh users"
            on_refresh=Callback::new(move |()| console.refresh_users())
            list=console.users
            shown
            controls
            empty_text="No users."
            panel
            headers=&["Username", "Display name", "Status", "Privileged", "Roles", "Groups"]
            actions=true
            key=|u: &User| u.id
            row=move |u: User| view! { <UserRow console panel id=u.id username=u.username /> }
        >
            <CreateUser console panel />
        </AdminSection>
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
    let name = StoredValue::new(username.clone());
    let toggle_suspension = move |_| {
        if suspended.get_untracked() {
            console.act(panel, api::unsuspend(id));
        } else {
            let question = format!(
                "Suspend {}? They are signed out everywhere and cannot sign in until unsuspended.",
                name.get_value()
            );
            console.ask(panel, Destructive::Suspend(id), question, "Suspend user");
        }
    };
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
                <RemovableChips
                    items=roles
                    button_class="unassign-role chip-remove"
                    data="data-role-name"
                    text="Unassign"
                    label_verb="Unassign role"
                    owner=username.clone()
                    on_remove=Callback::new(move |role_id| {
                        let question = format!(
                            "Unassign role {} from {}?",
                            console.role_name(role_id),
                            name.get_value()
                        );
                        console.ask(
                            panel,
                            Destructive::UnassignUserRole(id, role_id),
                            question,
                            "Unassign role",
                        );
                    })
                />
            </td>
            <td>{groups}</td>
            <td>
                <div class="row-actions">
                    <PickAndAct
                        console
                        panel
                        select_class="role-select"
                        select_label=format!("Role to assign to {username}")
                        placeholder="Choose a role"
                        options=console.role_choices()
                        button_class="assign-role sg-secondary"
                        button_label=format!("Assign role to {username}")
                        button_text="Assign role"
                        unchosen="Choose a role to assign first."
                        action=move |role_id| api::assign_user_role(id, role_id)
                    />
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
    let submit = Callback::new(move |()| {
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
    });
    view! {
        <CreateForm id="new-user" title="Create user" on_submit=submit>
            <TextField id="new-user-username" label="Username" value=username />
            <TextField id="new-user-display" label="Display name" value=display />
            <TextField
                id="new-user-password"
                label="Password (8 characters or more)"
                value=password
                password=true
            />
        </CreateForm>
    }
}
