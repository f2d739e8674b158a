//! The audit log, newest first.

use leptos::prelude::*;

use super::api::AuditEntry;
use super::{format_time, Console, ListStatus, SectionHead};

/// Who acted: a username, or the server itself.
fn actor(console: Console, actor_user_id: Option<i64>) -> String {
    match actor_user_id {
        Some(id) => console.username(id),
        None => "server".to_string(),
    }
}

/// The session and tab concerned, if any.
fn subject(entry: &AuditEntry) -> String {
    match (&entry.session_id, &entry.tab_id) {
        (Some(session), Some(tab)) => format!("{session} (tab {tab})"),
        (Some(session), None) => session.clone(),
        (None, Some(tab)) => format!("tab {tab}"),
        (None, None) => "—".to_string(),
    }
}

/// The newest audit entries.
#[component]
pub fn Audit(
    /// The console's shared state.
    console: Console,
) -> impl IntoView {
    let list = console.audit;
    view! {
        <section id="audit" class="admin-section" aria-labelledby="audit-title">
            <SectionHead
                id="audit-title"
                title="Audit log"
                refresh_label="Refresh audit log"
                on_refresh=Callback::new(move |()| console.refresh_audit())
            />
            <p class="muted">"The newest 100 entries, newest first."</p>
            <ListStatus list empty_text="The audit log is empty." />
            <Show when=move || list.items.with(|l| !l.is_empty())>
                <div class="table-wrap">
                    <table class="audit">
                        <thead>
                            <tr>
                                <th scope="col">"Time"</th>
                                <th scope="col">"Kind"</th>
                                <th scope="col">"Actor"</th>
                                <th scope="col">"Session"</th>
                                <th scope="col">"Detail"</th>
                            </tr>
                        </thead>
                        <tbody>
                            <For
                                each=move || list.items.get()
                                key=|e| e.id
                                children=move |entry| {
                                    let subject = subject(&entry);
                                    let actor_id = entry.actor_user_id;
                                    view! {
                                        <tr data-kind=entry.kind.clone()>
                                            <td class="nowrap">{format_time(entry.at)}</td>
                                            <td>
                                                <code>{entry.kind.clone()}</code>
                                            </td>
                                            <td>{move || actor(console, actor_id)}</td>
                                            <td class="wide">
                                                <code class="id">{subject}</code>
                                            </td>
                                            <td class="wide">
                                                <code class="detail">{entry.detail.to_string()}</code>
                                            </td>
                                        </tr>
                                    }
                                }
                            />
                        </tbody>
                    </table>
                </div>
            </Show>
        </section>
    }
}
