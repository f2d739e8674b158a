//! The audit log, newest first.

use leptos::prelude::*;

use super::api::AuditEntry;
use super::section::AdminSection;
use super::{format_time, Console};

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
    view! {
        <AdminSection
            id="audit"
            title="Audit log"
            refresh_label="Refresh audit log"
            on_refresh=Callback::new(move |()| console.refresh_audit())
            list=console.audit
            empty_text="The audit log is empty."
            note="The newest 100 entries, newest first."
            table_class="audit"
            headers=&["Time", "Kind", "Actor", "Session", "Detail"]
            key=|e: &AuditEntry| e.id
            row=move |entry: AuditEntry| {
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
    }
}
