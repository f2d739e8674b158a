//! Roles and their scopes.

use leptos::prelude::*;

use super::api::{self, Destructive, Role};
use super::section::{AdminSection, CreateForm, Paging, RemovableChips, TableControls, TextField};
use super::{Console, Panel};

/// `"a, b,,c "` → `["a", "b", "c"]`.
fn split_scopes(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The text a role is filtered by: its name and scopes.
fn role_text(r: &Role) -> String {
    format!("{} {}", r.name, r.scopes.join(" "))
}

/// The roles table and the create-role form.
#[component]
pub fn Roles(
    /// The console's shared state.
    console: Console,
) -> impl IntoView {
    let panel = Panel::new();
    let paging = Paging::new();
    let matching = Memo::new(move |_| console.roles.items.with(|l| paging.matching(l, role_text)));
    let shown = Signal::derive(move || matching.with(|rows| paging.page_of(rows)));
    let controls = view! {
        <TableControls
            id="roles"
            what="roles"
            paging
            matching=Signal::derive(move || matching.with(Vec::len))
        />
    }
    .into_any();
    view! {
        <AdminSection
            id="roles"
            title="Roles"
            refresh_label="Refresh roles"
            on_refresh=Callback::new(move |()| console.refresh_roles())
            list=console.roles
            shown
            controls
            empty_text="No roles."
            panel
            headers=&["Role", "Scopes", "Add a scope"]
            actions=true
            key=|r: &Role| r.id
            row=move |r: Role| view! { <RoleRow console panel id=r.id name=r.name /> }
        >
            <CreateRole console panel />
        </AdminSection>
    }
}

/// One role; its cells follow the list, so a refresh keeps the row (and focus) in place.
#[component]
fn RoleRow(
    /// The console's shared state.
    console: Console,
    /// The roles section's actions.
    panel: Panel,
    /// The role's id.
    id: i64,
    /// The role's name.
    name: String,
) -> impl IntoView {
    let scopes = Memo::new(move |_| {
        console.roles.items.with(|l| {
            l.iter()
                .find(|r| r.id == id)
                .map(|r| r.scopes.clone())
                .unwrap_or_default()
        })
    });
    let new_scope = RwSignal::new(String::new());
    let add = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        let scope = new_scope.get_untracked().trim().to_string();
        console.act(panel, async move {
            api::add_scope(id, scope).await?;
            new_scope.try_set(String::new());
            Ok(())
        });
    };
    view! {
        <tr data-role-name=name.clone()>
            <th scope="row">{name.clone()}</th>
            <td>
                <Show when=move || scopes.with(Vec::is_empty)>
                    <span class="muted">"No scopes"</span>
                </Show>
                <RemovableChips
                    items=move || scopes.get().into_iter().map(|s| (s.clone(), s)).collect()
                    code=true
                    button_class="remove-scope chip-remove"
                    data="data-scope"
                    text="Remove"
                    label_verb="Remove scope"
                    owner=name.clone()
                    on_remove={
                        let name = name.clone();
                        Callback::new(move |scope: String| {
                            let question = format!("Remove the scope {scope} from the role {name}?");
                            console.ask(panel, Destructive::RemoveScope(id, scope), question, "Remove scope")
                        })
                    }
                />
            </td>
            <td>
                <form class="inline-form" on:submit=add>
                    <input
                        class="scope-input"
                        aria-label=format!("New scope for {name}")
                        placeholder="e.g. reports:read"
                        autocomplete="off"
                        bind:value=new_scope
                    />
                    <button
                        type="submit"
                        class="add-scope sg-secondary"
                        aria-label=format!("Add scope to {name}")
                    >
                        "Add scope"
                    </button>
                </form>
            </td>
            <td>
                <button
                    type="button"
                    class="delete-role danger"
                    aria-label=format!("Delete role {name}")
                    on:click={
                        let name = name.clone();
                        move |_| {
                            console.ask(
                                panel,
                                Destructive::DeleteRole(id),
                                format!("Delete the role {name}? Everyone holding it loses its scopes."),
                                "Delete role",
                            )
                        }
                    }
                >
                    "Delete role"
                </button>
            </td>
        </tr>
    }
}

/// The create-role form.
#[component]
fn CreateRole(
    /// The console's shared state.
    console: Console,
    /// The roles section's actions.
    panel: Panel,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let scopes = RwSignal::new(String::new());
    let submit = Callback::new(move |()| {
        let role = name.get_untracked().trim().to_string();
        let list = split_scopes(&scopes.get_untracked());
        console.act(panel, async move {
            api::create_role(role.clone(), list).await?;
            name.try_set(String::new());
            scopes.try_set(String::new());
            panel.notice.try_set(format!("Created role {role}."));
            Ok(())
        });
    });
    view! {
        <CreateForm id="new-role" title="Create role" on_submit=submit>
            <TextField id="new-role-name" label="Name" value=name />
            <TextField
                id="new-role-scopes"
                label="Scopes (comma-separated)"
                value=scopes
                placeholder="e.g. console:access, reports:read"
                optional=true
                wide=true
            />
        </CreateForm>
    }
}
