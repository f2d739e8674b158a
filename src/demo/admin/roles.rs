//! Roles and their scopes.

use leptos::prelude::*;

use super::api;
use super::{Console, ListStatus, Panel, PanelMessages, SectionHead};

/// `"a, b,,c "` → `["a", "b", "c"]`.
fn split_scopes(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The roles table and the create-role form.
#[component]
pub fn Roles(
    /// The console's shared state.
    console: Console,
) -> impl IntoView {
    let panel = Panel::new();
    let list = console.roles;
    view! {
        <section id="roles" class="admin-section" aria-busy=move || panel.busy() aria-labelledby="roles-title">
            <SectionHead
                id="roles-title"
                title="Roles"
                refresh_label="Refresh roles"
                on_refresh=Callback::new(move |()| console.refresh_roles())
            />
            <ListStatus list empty_text="No roles." />
            <PanelMessages panel />
            <Show when=move || list.items.with(|l| !l.is_empty())>
                <div class="table-wrap">
                    <table>
                        <thead>
                            <tr>
                                <th scope="col">"Role"</th>
                                <th scope="col">"Scopes"</th>
                                <th scope="col">"Add a scope"</th>
                                <th scope="col">
                                    <span class="visually-hidden">"Actions"</span>
                                </th>
                            </tr>
                        </thead>
                        <tbody>
                            <For
                                each=move || list.items.get()
                                key=|r| r.id
                                children=move |r| {
                                    view! { <RoleRow console panel id=r.id name=r.name /> }
                                }
                            />
                        </tbody>
                    </table>
                </div>
            </Show>
            <CreateRole console panel />
        </section>
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
    let role_name = StoredValue::new(name.clone());
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
                <ul class="chips">
                    <For
                        each=move || scopes.get()
                        key=|s| s.clone()
                        children=move |scope| {
                            let label = format!(
                                "Remove scope {scope} from {}",
                                role_name.get_value(),
                            );
                            let target = scope.clone();
                            view! {
                                <li class="chip">
                                    <code>{scope.clone()}</code>
                                    <button
                                        type="button"
                                        class="remove-scope chip-remove"
                                        data-scope=scope
                                        aria-label=label
                                        on:click=move |_| {
                                            console.act(panel, api::remove_scope(id, target.clone()))
                                        }
                                    >
                                        "Remove"
                                    </button>
                                </li>
                            }
                        }
                    />
                </ul>
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
                    on:click=move |_| console.act(panel, api::delete_role(id))
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
    let submit = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        let role = name.get_untracked().trim().to_string();
        let list = split_scopes(&scopes.get_untracked());
        console.act(panel, async move {
            api::create_role(role.clone(), list).await?;
            name.try_set(String::new());
            scopes.try_set(String::new());
            panel.notice.try_set(format!("Created role {role}."));
            Ok(())
        });
    };
    view! {
        <form class="create-form" on:submit=submit aria-labelledby="new-role-title" novalidate>
            <h3 id="new-role-title">"Create role"</h3>
            <div class="fields">
                <div class="field">
                    <label for="new-role-name">"Name"</label>
                    <input id="new-role-name" autocomplete="off" aria-required="true" bind:value=name />
                </div>
                <div class="field field-wide">
                    <label for="new-role-scopes">"Scopes (comma-separated)"</label>
                    <input
                        id="new-role-scopes"
                        autocomplete="off"
                        placeholder="e.g. console:access, reports:read"
                        bind:value=scopes
                    />
                </div>
                <button
                    id="new-role-create"
                    type="submit"
                    class="sg-primary"
                >
                    "Create role"
                </button>
            </div>
        </form>
    }
}
