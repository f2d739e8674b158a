//! Live sessions, the history of ended ones, and the emergency panel.

use leptos::prelude::*;
use session_guard_contract::Reason;

use super::api::{Destructive, EndedSession, Session, Tab, Target};
use super::section::{short_id, AdminSection, Choices, Paging, ShortId, TableControls};
use super::{format_time, Console, Panel};

fn consent_text(consent: &str) -> String {
    match consent {
        "accepted" => "Accepted".to_string(),
        "pending" => "Pending".to_string(),
        "not_required" => "Not required".to_string(),
        other => other.to_string(),
    }
}

/// How the history names an end reason (the contract's wire names).
fn reason_text(reason: Option<&str>) -> String {
    match reason {
        Some("idle_timeout") => "Inactivity timeout",
        Some("session_expired") => "Maximum length reached",
        Some("role_changed") => "Role permissions changed",
        Some("suspended") => "User suspended",
        Some("remote_terminated") => "Ended by an administrator",
        Some("consent_declined") => "Recording declined",
        Some("logged_out") => "Signed out",
        Some(_) | None => "Unknown",
    }
    .to_string()
}

/// "Ada Admin (admin)", or the login name alone when the names are the same.
fn person(display_name: &str, username: &str) -> String {
    if display_name.is_empty() || display_name == username {
        username.to_string()
    } else {
        format!("{display_name} ({username})")
    }
}

/// The text a live session is filtered by.
fn session_text(s: &Session) -> String {
    format!(
        "{} {} {} {} {}",
        s.display_name,
        s.username,
        s.client_addr.as_deref().unwrap_or_default(),
        s.browser.as_deref().unwrap_or_default(),
        s.session_id
    )
}

/// One open tab: its id, when it registered, which tab opened it, and a button that ends
/// it on its own (through the confirmation dialog).
fn tab_item(
    console: Console,
    panel: Panel,
    session_id: &str,
    who: &str,
    tab: &Tab,
) -> impl IntoView {
    let short = short_id(&tab.tab_id);
    let label = format!("End tab {short} of {who}'s session");
    let end_tab = {
        let (session_id, tab_id, who) =
            (session_id.to_string(), tab.tab_id.clone(), who.to_string());
        move |_| {
            console.ask(
                panel,
                Destructive::EndTab(session_id.clone(), tab_id.clone()),
                format!("End tab {short} of {who}'s session?"),
                "End tab",
            );
        }
    };
    let registered = format!("opened {}", format_time(tab.registered_at.as_millis()));
    let opener = tab.opener_tab_id.clone().map(|opener| {
        view! {
            <span class="tab-meta">"from tab " <ShortId id=opener /></span>
        }
    });
    view! {
        <li>
            <ShortId id=tab.tab_id.clone() />
            <span class="tab-meta">{registered}</span>
            {opener}
            <button
                type="button"
                class="end-tab danger-quiet"
                data-tab-id=tab.tab_id.clone()
                aria-label=label
                on:click=end_tab
            >
                "End tab"
            </button>
        </li>
    }
}

/// The live sessions, each with a Terminate button, then the ended ones.
#[component]
pub fn Sessions(
    /// The console's shared state.
    console: Console,
) -> impl IntoView {
    let panel = Panel::new();
    let paging = Paging::new();
    let matching = Memo::new(move |_| {
        console
            .sessions
            .items
            .with(|l| paging.matching(l, session_text))
    });
    let shown = Signal::derive(move || matching.with(|rows| paging.page_of(rows)));
    let controls = view! {
        <TableControls
            id="sessions"
            what="sessions"
            paging
            matching=Signal::derive(move || matching.with(Vec::len))
        />
    }
    .into_any();
    view! {
        <AdminSection
            id="sessions"
            title="Live sessions"
            refresh_label="Refresh sessions"
            on_refresh=Callback::new(move |()| console.refresh_sessions())
            list=console.sessions
            shown
            controls
            empty_text="No live sessions."
            panel
            headers=&[
                "User",
                "Session",
                "Address and browser",
                "Issued",
                "Last activity",
                "Expires",
                "Recording consent",
                "Open tabs",
            ]
            actions=true
            key=|s: &Session| s.session_id.clone()
            row=move |s: Session| {
                view! { <SessionRow console panel session=s /> }
            }
        />
        <History console />
    }
}

/// One session; its cells follow the list, so a refresh keeps the row (and focus) in place.
#[component]
fn SessionRow(
    /// The console's shared state.
    console: Console,
    /// The sessions section's actions.
    panel: Panel,
    /// The session as first listed (its id and user do not change).
    session: Session,
) -> impl IntoView {
    let session_id = session.session_id.clone();
    let row = {
        let id = session_id.clone();
        Memo::new(move |_| {
            console
                .sessions
                .items
                .with(|l| l.iter().find(|s| s.session_id == id).cloned())
        })
    };
    let cell = move |f: fn(&Session) -> String| {
        move || row.with(|s| s.as_ref().map(f).unwrap_or_default())
    };
    let tabs = move || row.with(|s| s.as_ref().map(|s| s.tabs.clone()).unwrap_or_default());
    let who = person(&session.display_name, &session.username);
    let short = short_id(&session_id);
    let label = format!("Terminate {who}'s session {short}");
    let terminate = {
        let (id, who) = (session_id.clone(), who.clone());
        move |_| {
            console.ask(
                panel,
                Destructive::TerminateSession(id.clone()),
                format!("End {who}'s session {short}?"),
                "End session",
            );
        }
    };
    let current = session.current;
    let tabs_of = who.clone();
    view! {
        <tr
            data-session-id=session_id.clone()
            data-username=session.username.clone()
            class:current-session=current
        >
            <th scope="row">
                {who}
                {current.then(|| view! { <span class="badge this-is-you">"This is you"</span> })}
            </th>
            <td class="wide">
                <ShortId id=session_id.clone() />
            </td>
            <td class="origin">
                <span class="address">
                    {cell(|s| s.client_addr.clone().unwrap_or_else(|| "Unknown address".into()))}
                </span>
                <span class="tab-meta browser" title=cell(|s| s.user_agent.clone().unwrap_or_default())>
                    {cell(|s| s.browser.clone().unwrap_or_else(|| "Unknown browser".into()))}
                </span>
            </td>
            <td>{cell(|s| format_time(s.issued_at.as_millis()))}</td>
            <td>{cell(|s| format_time(s.last_activity_at.as_millis()))}</td>
            <td>{cell(|s| format_time(s.expires_at.as_millis()))}</td>
            <td>{cell(|s| consent_text(s.recording_consent.as_str()))}</td>
            <td class="wide">
                <span class="count">
                    {move || match tabs().len() {
                        1 => "1 tab".to_string(),
                        n => format!("{n} tabs"),
                    }}
                </span>
                <ul class="tab-list">
                    {
                        let (session_id, who) = (session_id.clone(), tabs_of.clone());
                        move || {
                            tabs()
                                .iter()
                                .map(|tab| tab_item(console, panel, &session_id, &who, tab))
                                .collect_view()
                        }
                    }
                </ul>
            </td>
            <td>
                <button
                    type="button"
                    class="terminate danger"
                    aria-label=label
                    on:click=terminate
                >
                    "Terminate"
                </button>
            </td>
        </tr>
    }
}

/// The text an ended session is filtered by.
fn ended_text(s: &EndedSession) -> String {
    format!(
        "{} {} {} {} {}",
        s.display_name.as_deref().unwrap_or_default(),
        s.username.as_deref().unwrap_or_default(),
        reason_text(s.end_reason.as_ref().map(Reason::wire_name)),
        s.ended_by_username.as_deref().unwrap_or("server"),
        s.client_addr.as_deref().unwrap_or_default(),
    )
}

/// Ended sessions: when, why, and who ended them.
#[component]
fn History(
    /// The console's shared state.
    console: Console,
) -> impl IntoView {
    let paging = Paging::new();
    let matching = Memo::new(move |_| {
        console
            .history
            .items
            .with(|l| paging.matching(l, ended_text))
    });
    let shown = Signal::derive(move || matching.with(|rows| paging.page_of(rows)));
    let controls = view! {
        <TableControls
            id="history"
            what="ended sessions"
            paging
            matching=Signal::derive(move || matching.with(Vec::len))
        />
    }
    .into_any();
    view! {
        <AdminSection
            id="history"
            title="Ended sessions"
            refresh_label="Refresh ended sessions"
            on_refresh=Callback::new(move |()| console.refresh_sessions())
            list=console.history
            shown
            controls
            empty_text="No session has ended yet."
            headers=&["User", "Session", "Address and browser", "Issued", "Ended", "Reason", "Ended by"]
            key=|s: &EndedSession| s.session_id.clone()
            row=move |s: EndedSession| {
                let who = person(
                    s.display_name.as_deref().unwrap_or_default(),
                    s.username.as_deref().unwrap_or("deleted user"),
                );
                let ended_by = s
                    .ended_by_username
                    .clone()
                    .unwrap_or_else(|| "The server (time limit)".to_string());
                view! {
                    <tr data-session-id=s.session_id.clone() data-reason=s.end_reason.as_ref().map(|r| r.wire_name().to_string())>
                        <th scope="row">{who}</th>
                        <td class="wide"><ShortId id=s.session_id.clone() /></td>
                        <td class="origin">
                            <span class="address">
                                {s.client_addr.clone().unwrap_or_else(|| "Unknown address".into())}
                            </span>
                            <span class="tab-meta browser">
                                {s.browser.clone().unwrap_or_else(|| "Unknown browser".into())}
                            </span>
                        </td>
                        <td>{format_time(s.issued_at.as_millis())}</td>
                        <td>{format_time(s.ended_at.as_millis())}</td>
                        <td class="end-reason">{reason_text(s.end_reason.as_ref().map(Reason::wire_name))}</td>
                        <td class="ended-by">{ended_by}</td>
                    </tr>
                }
            }
        />
    }
}

/// Whose sessions the emergency panel ends, as the form holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TargetKind {
    User,
    Role,
    EveryoneElse,
}

/// Ends every session of a user, of every holder of a role, or of everyone but the
/// acting administrator, after the confirmation dialog.
#[component]
pub fn Emergency(
    /// The console's shared state.
    console: Console,
) -> impl IntoView {
    let panel = Panel::new();
    let kind = RwSignal::new(TargetKind::User);
    let user = RwSignal::new(String::new());
    let role = RwSignal::new(String::new());
    // Every user for those who may list them; otherwise the users signed in now, the
    // only ones with sessions to end.
    let user_choices = Signal::derive(move || {
        if console.allowed.manage.get() {
            console.user_choices().get()
        } else {
            console.signed_in_choices().get()
        }
    });
    let roles_known = move || console.allowed.manage.get();
    let start = move |_| {
        panel.notice.set(String::new());
        let chosen = match kind.get_untracked() {
            TargetKind::User => user.with_untracked(|u| u.parse::<i64>().ok()).map(|id| {
                (
                    Target::User { user_id: id },
                    format!("End every session of {}?", console.username(id)),
                )
            }),
            TargetKind::Role => role.with_untracked(|r| r.parse::<i64>().ok()).map(|id| {
                (
                    Target::Role { role_id: id },
                    format!(
                        "End every session of every user holding the role {}?",
                        console.role_name(id)
                    ),
                )
            }),
            TargetKind::EveryoneElse => Some((
                Target::EveryoneElse,
                "End every session of every user except you?".to_string(),
            )),
        };
        match chosen {
            Some((target, question)) => console.ask(
                panel,
                Destructive::TerminateSessions(target),
                question,
                "End sessions",
            ),
            None => panel
                .error
                .set(Some("Choose whose sessions to end first.".to_string())),
        }
    };
    let radio = move |value: TargetKind, id: &'static str, text: &'static str| {
        view! {
            <label for=id class="radio">
                <input
                    id=id
                    type="radio"
                    name="emergency-target"
                    prop:checked=move || kind.get() == value
                    on:change=move |_| kind.set(value)
                />
                {text}
            </label>
        }
    };
    view! {
        <section id="emergency" class="admin-section emergency" aria-busy=move || panel.busy() aria-labelledby="emergency-title">
            <h2 id="emergency-title">"Emergency: end sessions"</h2>
            <fieldset class="emergency-target">
                <legend>"Whose sessions"</legend>
                {radio(TargetKind::User, "emergency-target-user", "One user")}
                <Show when=roles_known>
                    {radio(TargetKind::Role, "emergency-target-role", "Every user holding a role")}
                </Show>
                {radio(TargetKind::EveryoneElse, "emergency-target-everyone", "Everyone except me")}
            </fieldset>
            <div class="form-row">
                <Show when=move || kind.get() == TargetKind::User>
                    <label for="emergency-user">"User"</label>
                    <select
                        id="emergency-user"
                        prop:value=move || user.get()
                        on:change=move |ev| user.set(event_target_value(&ev))
                    >
                        <Choices placeholder="Choose a user" options=user_choices />
                    </select>
                </Show>
                <Show when=move || kind.get() == TargetKind::Role>
                    <label for="emergency-role">"Role"</label>
                    <select
                        id="emergency-role"
                        prop:value=move || role.get()
                        on:change=move |ev| role.set(event_target_value(&ev))
                    >
                        <Choices placeholder="Choose a role" options=console.role_choices() />
                    </select>
                </Show>
                <button
                    id="emergency-terminate"
                    type="button"
                    class="danger"
                    on:click=start
                >
                    "End sessions…"
                </button>
            </div>
            <Show when=move || panel.error.with(Option::is_some)>
                <p class="form-error" role="alert">{move || panel.error.get().unwrap_or_default()}</p>
            </Show>
            <p id="emergency-result" class="notice" role="status">{move || panel.notice.get()}</p>
        </section>
    }
}
