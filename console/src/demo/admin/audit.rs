//! The audit log: newest first, one page at a time, filtered by kind, user, session and
//! time, with names instead of ids and each entry's details in words.

use leptos::prelude::*;
use serde_json::Value;
use session_guard_contract::{AuditKind, ServerTime};

use super::api::{self, AuditEntry};
use super::section::{short_id, Abbreviated, AdminSection, Choices};
use super::{format_time, Console};

/// Entries per page.
const PAGE_SIZE: u32 = 20;

/// What the audit page asks the server for: the filters and the page's cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this kind.
    pub kind: String,
    /// Only entries by or about this user.
    pub user_id: Option<i64>,
    /// Only entries of (or acted from) this session.
    pub session_id: String,
    /// From this day on (`YYYY-MM-DD`, local time).
    pub from_day: String,
    /// Up to and including this day.
    pub to_day: String,
    /// The cursors of the pages before this one: the last id of each newer page.
    pub cursors: Vec<i64>,
}

/// Midnight (local time) of a `YYYY-MM-DD` day in epoch ms, plus `days`.
fn day_start(day: &str, days: u32) -> Option<i64> {
    let mut parts = day.split('-').map(|p| p.parse::<u32>().ok());
    let (Some(Some(y)), Some(Some(m)), Some(Some(d)), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let date = js_sys::Date::new_with_year_month_day(y, m as i32 - 1, (d + days) as i32);
    let ms = date.get_time();
    ms.is_finite().then_some(ms as i64)
}

impl AuditQuery {
    /// The contract's query string for this page.
    pub fn to_query(&self) -> String {
        let text = |value: &str| (!value.is_empty()).then(|| value.to_string());
        api::AuditQuery {
            limit: Some(i64::from(PAGE_SIZE)),
            before: self.cursors.last().copied(),
            kind: text(&self.kind),
            user_id: self.user_id,
            session_id: text(self.session_id.trim()),
            from: day_start(&self.from_day, 0).map(ServerTime::from_millis),
            to: day_start(&self.to_day, 1).map(ServerTime::from_millis),
        }
        .to_query_string()
    }
}

/// Loads the page `console.audit_query` describes.
pub fn load(console: Console) {
    let query = console.audit_query.get_untracked().to_query();
    console.audit.load(console.denied, api::audit(query));
}

/// A kind in words (the filter offers every kind, [`AuditKind::ALL`]).
fn kind_text(kind: AuditKind) -> &'static str {
    match kind {
        AuditKind::Login => "Signed in",
        AuditKind::LoginRefused => "Sign-in refused",
        AuditKind::LoginThrottled => "Sign-in throttled",
        AuditKind::Logout => "Signed out",
        AuditKind::SessionEnded => "Session ended",
        AuditKind::Consent => "Recording consent",
        AuditKind::TabRegistered => "Tab opened",
        AuditKind::TabClosed => "Tab closed",
        AuditKind::Seeded => "Demo accounts created",
        AuditKind::AuditPurged => "Old entries purged",
        AuditKind::AdminSessionTerminated => "Session terminated",
        AuditKind::AdminTabTerminated => "Tab ended",
        AuditKind::AdminUserSessionsTerminated => "All sessions of a user terminated",
        AuditKind::AdminSessionsTerminated => "Sessions terminated (emergency panel)",
        AuditKind::AdminUserCreated => "User created",
        AuditKind::AdminUserSuspended => "User suspended",
        AuditKind::AdminUserUnsuspended => "User unsuspended",
        AuditKind::AdminRoleCreated => "Role created",
        AuditKind::AdminRoleDeleted => "Role deleted",
        AuditKind::AdminRoleScopeAdded => "Scope added to role",
        AuditKind::AdminRoleScopeRemoved => "Scope removed from role",
        AuditKind::AdminUserRoleAssigned => "Role assigned to user",
        AuditKind::AdminUserRoleUnassigned => "Role unassigned from user",
        AuditKind::AdminGroupCreated => "Group created",
        AuditKind::AdminGroupDeleted => "Group deleted",
        AuditKind::AdminGroupMemberAdded => "Member added to group",
        AuditKind::AdminGroupMemberRemoved => "Member removed from group",
        AuditKind::AdminGroupRoleAssigned => "Role assigned to group",
        AuditKind::AdminGroupRoleUnassigned => "Role unassigned from group",
        AuditKind::RecordingViewed => "Recording viewed",
        AuditKind::RecordingDeleted => "Recording deleted",
        AuditKind::RecordingPurged => "Recording purged (retention)",
    }
}

/// Why a sign-in was refused, or how a session ended, in words; an administrator's own
/// words for ending sessions are quoted as typed.
fn why_text(why: &str) -> String {
    match why {
        "wrong_password" => "wrong password".into(),
        "unknown_user" => "no such user".into(),
        "suspended" => "account suspended".into(),
        "idle_timeout" => "inactivity".into(),
        "session_expired" => "maximum length reached".into(),
        "role_changed" => "role permissions changed".into(),
        "remote_terminated" => "ended by an administrator".into(),
        "consent_declined" => "recording declined".into(),
        "logged_out" => "signed out".into(),
        other => format!("reason: “{other}”"),
    }
}

/// A JSON value as plain text.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// An entry's details in words, with users, roles and groups by name. Tracked: names
/// arrive with the other lists.
fn detail_text(console: Console, detail: &Value) -> String {
    let Some(map) = detail.as_object() else {
        return plain(detail);
    };
    let mut parts = Vec::new();
    for (key, value) in map {
        // An absent optional value (no reason given, no opener) says nothing.
        if value.is_null() {
            continue;
        }
        let id = value.as_i64();
        let part = match (key.as_str(), id) {
            ("user_id", Some(id)) => format!("user {}", console.username(id)),
            ("role_id", Some(id)) => format!("role {}", console.role_name(id)),
            ("group_id", Some(id)) => format!("group {}", console.group_name(id)),
            ("why" | "reason", _) => why_text(&plain(value)),
            ("username", _) => format!("as “{}”", plain(value)),
            ("accepted", _) => if value.as_bool() == Some(true) {
                "accepted"
            } else {
                "declined"
            }
            .to_string(),
            ("target", _) => format!("target: {}", plain(value).replace('_', " ")),
            ("terminated", _) => format!("{} sessions ended", plain(value)),
            ("retry_after_ms", Some(ms)) => {
                format!("blocked for {} s", ms.saturating_add(999) / 1000)
            }
            ("throttle", _) => format!("too many failures for this {}", plain(value)),
            ("before", Some(ms)) => format!("older than {}", format_time(ms)),
            ("audit_entries", _) => format!("{} entries", plain(value)),
            ("sessions", _) => format!("{} ended sessions", plain(value)),
            ("opener_tab_id", _) => format!("opened from tab {}", plain(value)),
            (other, _) => format!("{}: {}", other.replace('_', " "), plain(value)),
        };
        parts.push(part);
    }
    parts.join("; ")
}

/// Who acted and from where.
fn actor_text(console: Console, entry: &AuditEntry) -> String {
    let who = match (entry.actor_user_id, &entry.actor_username) {
        (_, Some(name)) => name.clone(),
        (Some(id), None) => console.username(id),
        (None, None) => "server or anonymous".to_string(),
    };
    match &entry.client_addr {
        Some(addr) => format!("{who} from {addr}"),
        None => who,
    }
}

/// The session concerned and the session and tab acted from, with every id cut by
/// `cut` (shortened for the cell, whole for the text shown on demand).
fn session_text(entry: &AuditEntry, cut: fn(&str) -> String) -> String {
    let mut parts = Vec::new();
    match (&entry.session_id, &entry.session_username) {
        (Some(session), Some(owner)) => {
            parts.push(format!("{owner}’s session {}", cut(session)));
        }
        (Some(session), None) => parts.push(cut(session)),
        _ => {}
    }
    match (&entry.actor_session_id, &entry.actor_tab_id) {
        (Some(from), Some(tab)) => {
            parts.push(format!("acting: {}, tab {}", cut(from), cut(tab)));
        }
        (Some(from), None) if entry.session_id.as_ref() != Some(from) => {
            parts.push(format!("acting: {}", cut(from)));
        }
        _ => {}
    }
    if let Some(tab) = &entry.tab_id {
        parts.push(format!("tab {}", cut(tab)));
    }
    if parts.is_empty() {
        "—".to_string()
    } else {
        parts.join(" · ")
    }
}

/// The audit log with its filters and pages.
#[component]
pub fn Audit(
    /// The console's shared state.
    console: Console,
) -> impl IntoView {
    let query = console.audit_query;
    let reload = move || load(console);
    // Any filter change starts again from the newest page.
    let set_filter = move |change: &dyn Fn(&mut AuditQuery)| {
        query.update(|q| {
            change(q);
            q.cursors.clear();
        });
        reload();
    };
    let older = move |_| {
        let last = console.audit.items.with(|items| items.last().map(|e| e.id));
        if let Some(last) = last {
            query.update(|q| q.cursors.push(last));
            reload();
        }
    };
    let newer = move |_| {
        query.update(|q| {
            q.cursors.pop();
        });
        reload();
    };
    let kind_options = Signal::derive(|| {
        AuditKind::ALL
            .iter()
            .enumerate()
            .map(|(i, kind)| (i as i64, kind_text(*kind).to_string()))
            .collect::<Vec<_>>()
    });
    let filters = view! {
        <form class="audit-filters" aria-label="Filter the audit log" on:submit=|ev| ev.prevent_default()>
            <div class="field">
                <label for="audit-kind">"Kind"</label>
                <select
                    id="audit-kind"
                    on:change=move |ev| {
                        let picked = event_target_value(&ev).parse::<usize>().ok();
                        let kind = picked.and_then(|i| AuditKind::ALL.get(i)).map(|k| k.as_str().to_string());
                        set_filter(&|q| q.kind = kind.clone().unwrap_or_default());
                    }
                >
                    <Choices placeholder="Any kind" options=kind_options />
                </select>
            </div>
            <div class="field">
                <label for="audit-user">"User"</label>
                <select
                    id="audit-user"
                    on:change=move |ev| {
                        let user = event_target_value(&ev).parse::<i64>().ok();
                        set_filter(&|q| q.user_id = user);
                    }
                >
                    <Choices placeholder="Any user" options=console.user_choices() />
                </select>
            </div>
            <div class="field">
                <label for="audit-session">"Session id"</label>
                <input
                    id="audit-session"
                    autocomplete="off"
                    placeholder="ses_…"
                    on:change=move |ev| {
                        let session = event_target_value(&ev);
                        set_filter(&|q| q.session_id = session.clone());
                    }
                />
            </div>
            <div class="field">
                <label for="audit-from">"From"</label>
                <input
                    id="audit-from"
                    type="date"
                    on:change=move |ev| {
                        let day = event_target_value(&ev);
                        set_filter(&|q| q.from_day = day.clone());
                    }
                />
            </div>
            <div class="field">
                <label for="audit-to">"To"</label>
                <input
                    id="audit-to"
                    type="date"
                    on:change=move |ev| {
                        let day = event_target_value(&ev);
                        set_filter(&|q| q.to_day = day.clone());
                    }
                />
            </div>
        </form>
    };
    view! {
        <AdminSection
            id="audit"
            title="Audit log"
            refresh_label="Refresh audit log"
            on_refresh=Callback::new(move |()| reload())
            list=console.audit
            empty_text="No audit entries match."
            note="Newest first, 20 per page; the filters and pages are below the table."
            table_class="audit"
            headers=&["Time", "Event", "Actor", "Session", "Details"]
            key=|e: &AuditEntry| e.id
            row=move |entry: AuditEntry| {
                let detail = entry.detail.clone();
                let actor_entry = entry.clone();
                view! {
                    <tr data-kind=entry.kind.as_str()>
                        <td class="nowrap">{format_time(entry.at.as_millis())}</td>
                        <td>{kind_text(entry.kind)}</td>
                        <td title=entry.user_agent.clone().unwrap_or_default()>
                            {move || actor_text(console, &actor_entry)}
                        </td>
                        <td class="wide">
                            <Abbreviated
                                short=session_text(&entry, short_id)
                                full=session_text(&entry, str::to_string)
                            />
                        </td>
                        <td class="wide detail">{move || detail_text(console, &detail)}</td>
                    </tr>
                }
            }
        >
            <nav class="audit-pages" aria-label="Audit log pages">
                <button
                    type="button"
                    class="sg-secondary"
                    disabled=move || query.with(|q| q.cursors.is_empty())
                    on:click=newer
                >
                    "Newer"
                </button>
                <span class="muted" role="status">
                    {move || format!("Page {}", query.with(|q| q.cursors.len()) + 1)}
                </span>
                <button
                    type="button"
                    class="sg-secondary"
                    disabled=move || {
                        console.audit.items.with(|items| items.len() < PAGE_SIZE as usize)
                    }
                    on:click=older
                >
                    "Older"
                </button>
            </nav>
            {filters}
        </AdminSection>
    }
}
