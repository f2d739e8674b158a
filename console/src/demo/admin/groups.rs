//! Groups: members and roles.

use leptos::prelude::*;

use super::api::{self, Destructive, Group};
use super::section::{
    AdminSection, CreateForm, Paging, PickAndAct, RemovableChips, TableControls, TextField,
};
use super::{Console, Panel};

/// The text a group is filtered by: its name.
fn group_text(g: &Group) -> String {
    g.name.clone()
}

/// The groups table and the create-group form.
#[component]
pub fn Groups(
    /// The console's shared state.
    console: Console,
) -> impl IntoView {
    let panel = Panel::new();
    let paging = Paging::new();
    let matching = Memo::new(move |_| {
        console
            .groups
            .items
            .with(|l| paging.matching(l, group_text))
    });
    let shown = Signal::derive(move || matching.with(|rows| paging.page_of(rows)));
    let controls = view! {
        <TableControls
            id="groups"
            what="groups"
            paging
            matching=Signal::derive(move || matching.with(Vec::len))
        />
    }
    .into_any();
    view! {
        <AdminSection
            id="groups"
            title="Groups"
            refresh_label="Refresh groups"
            on_refresh=Callback::new(move |()| console.refresh_groups())
            list=console.groups
            shown
            controls
            empty_text="No groups."
            panel
            headers=&["Group", "Members", "Roles"]
            actions=true
            key=|g: &Group| g.id
            row=move |g: Group| view! { <GroupRow console panel id=g.id name=g.name /> }
        >
            <CreateGroup console panel />
        </AdminSection>
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
    view! {
        <tr data-group-name=name.clone()>
            <th scope="row">{name.clone()}</th>
            <td>
                <RemovableChips
                    items=members
                    button_class="remove-member chip-remove"
                    data="data-username"
                    text="Remove"
                    label_verb="Remove"
                    owner=name.clone()
                    on_remove=Callback::new(move |user_id| {
                        let question = format!(
                            "Remove {} from group {}?",
                            console.username(user_id),
                            group_name.get_value()
                        );
                        console.ask(
                            panel,
                            Destructive::RemoveMember(id, user_id),
                            question,
                            "Remove member",
                        );
                    })
                />
                <div class="row-actions">
                    <PickAndAct
                        console
                        panel
                        select_class="member-select"
                        select_label=format!("User to add to {name}")
                        placeholder="Choose a user"
                        options=console.user_choices()
                        button_class="add-member sg-secondary"
                        button_label=format!("Add member to {name}")
                        button_text="Add member"
                        unchosen="Choose a user to add first."
                        action=move |user_id| api::add_member(id, user_id)
                    />
                </div>
            </td>
            <td>
                <RemovableChips
                    items=roles
                    button_class="unassign-role chip-remove"
                    data="data-role-name"
                    text="Unassign"
                    label_verb="Unassign role"
                    owner=name.clone()
                    on_remove=Callback::new(move |role_id| {
                        let question = format!(
                            "Unassign role {} from group {}?",
                            console.role_name(role_id),
                            group_name.get_value()
                        );
                        console.ask(
                            panel,
                            Destructive::UnassignGroupRole(id, role_id),
                            question,
                            "Unassign role",
                        );
                    })
                />
                <div class="row-actions">
                    <PickAndAct
                        console
                        panel
                        select_class="role-select"
                        select_label=format!("Role to assign to {name}")
                        placeholder="Choose a role"
                        options=console.role_choices()
                        button_class="assign-role sg-secondary"
                        button_label=format!("Assign role to {name}")
                        button_text="Assign role"
                        unchosen="Choose a role to assign first."
                        action=move |role_id| api::assign_group_role(id, role_id)
                    />
                </div>
            </td>
            <td>
                <button
                    type="button"
                    class="delete-group danger"
                    aria-label=format!("Delete group {name}")
                    on:click={
                        let name = name.clone();
                        move |_| {
                            console.ask(
                                panel,
                                Destructive::DeleteGroup(id),
                                format!("Delete the group {name}? Its members lose the roles it gives."),
                                "Delete group",
                            )
                        }
                    }
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
    let submit = Callback::new(move |()| {
        let group = name.get_untracked().trim().to_string();
        console.act(panel, async move {
            api::create_group(group.clone()).await?;
            name.try_set(String::new());
            panel.notice.try_set(format!("Created group {group}."));
            Ok(())
        });
    });
    view! {
        <CreateForm id="new-group" title="Create group" on_submit=submit>
            <TextField id="new-group-name" label="Name" value=name />
        </CreateForm>
    }
}
