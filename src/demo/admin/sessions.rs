//! Live sessions and the emergency panel.

use leptos::html;
use leptos::prelude::*;

use super::api::{self, Session, Tab};
use super::section::{AdminSection, Choices};
use super::{format_time, Console, Panel};

/// How much of a session id labels its Terminate button: enough to tell rows apart.
const SHORT_ID_LEN: usize = 12;

fn consent_text(consent: &str) -> String {
    match consent {
        "accepted" => "Accepted".to_string(),
        "pending" => "Pending".to_string(),
        "not_required" => "Not required".to_string(),
        other => other.to_string(),
    }
}

/// One tab: its id, then when it registered and which tab opened it.
fn tab_item(tab: &Tab) -> impl IntoView {
    let registered = format!("opened {}", format_time(tab.registered_at));
    let opener = tab
        .opener_tab_id
        .as_ref()
        .map(|opener| format!(" from {opener}"))
        .unwrap_or_default();
    view! {
        <li>
            <code class="id">{tab.tab_id.clone()}</code>
            <span class="tab-meta">{registered}{opener}</span>
        </li>
    }
}

/// The live sessions, each with a Terminate button.
#[component]
pub fn Sessions(
    /// The console's shared state.
    console: Console,
) -> impl IntoView {
    let panel = Panel::new();
    view! {
        <AdminSection
            id="sessions"
            title="Live sessions"
            refresh_label="Refresh sessions"
            on_refresh=Callback::new(move |()| console.refresh_sessions())
            list=console.sessions
            empty_text="No live sessions."
            panel
            headers=&[
                "User",
                "Session",
                "Issued",
                "Last activity",
                "Expires",
                "Recording consent",
                "Tabs",
            ]
            actions=true
            key=|s: &Session| s.session_id.clone()
            row=move |s: Session| {
                view! { <SessionRow console panel session_id=s.session_id username=s.username /> }
            }
        />
    }
}

/// One session; its cells follow the list, so a refresh keeps the row (and focus) in place.
#[component]
fn SessionRow(
    /// The console's shared state.
    console: Console,
    /// The sessions section's actions.
    panel: Panel,
    /// The session's public id.
    session_id: String,
    /// Whose session it is.
    username: String,
) -> impl IntoView {
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
    let short_id: String = session_id.chars().take(SHORT_ID_LEN).collect();
    let label = format!("Terminate {username}'s session {short_id}…");
    let terminate = {
        let id = session_id.clone();
        move |_| console.act(panel, api::terminate_session(id.clone()))
    };
    let (row_id, row_user) = (session_id.clone(), username.clone());
    view! {
        <tr data-session-id=row_id data-username=row_user>
            <th scope="row">{username}</th>
            <td class="wide">
                <code class="id">{session_id}</code>
            </td>
            <td>{cell(|s| format_time(s.issued_at))}</td>
            <td>{cell(|s| format_time(s.last_activity_at))}</td>
            <td>{cell(|s| format_time(s.expires_at))}</td>
            <td>{cell(|s| consent_text(&s.recording_consent))}</td>
            <td class="wide">
                <span class="count">
                    {move || match tabs().len() {
                        1 => "1 tab".to_string(),
                        n => format!("{n} tabs"),
                    }}
                </span>
                <ul class="tab-list">
                    {move || tabs().iter().map(tab_item).collect_view()}
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

/// Ends every session of one user, after an inline confirmation.
#[component]
pub fn Emergency(
    /// The console's shared state.
    console: Console,
) -> impl IntoView {
    let panel = Panel::new();
    let target = RwSignal::new(String::new());
    let confirming = RwSignal::new(false);
    let terminate_button = NodeRef::<html::Button>::new();
    let confirm_button = NodeRef::<html::Button>::new();
    // The confirmation step takes the focus when it appears (its question describes the
    // button) and gives it back when it goes, so keyboard users never land on the body.
    Effect::new(move |_| {
        if let Some(button) = confirm_button.get() {
            let _ = button.focus();
        }
    });
    let close_confirmation = move || {
        confirming.set(false);
        if let Some(button) = terminate_button.get_untracked() {
            let _ = button.focus();
        }
    };
    let chosen = move || target.with(|t| t.parse::<i64>().ok());
    // Every user for those who may list them; otherwise the users signed in now, the
    // only ones with sessions to end.
    let choices = Signal::derive(move || {
        if console.allowed.manage.get() {
            console.user_choices().get()
        } else {
            console.signed_in_choices().get()
        }
    });
    let start = move |_| {
        panel.notice.set(String::new());
        match chosen() {
            Some(_) => {
                panel.error.set(None);
                confirming.set(true);
            }
            None => panel.error.set(Some("Choose a user first.".to_string())),
        }
    };
    let confirm = move |_| {
        let Some(user_id) = chosen() else {
            return;
        };
        close_confirmation();
        console.act(panel, async move {
            let n = api::terminate_user_sessions(user_id).await?;
            let noun = if n == 1 { "session" } else { "sessions" };
            panel.notice.try_set(format!("Terminated {n} {noun}"));
            Ok(())
        });
    };
    let question = move || {
        let name = chosen().map(|id| console.username(id)).unwrap_or_default();
        format!("End every session of {name}? They are signed out in every tab at once.")
    };
    view! {
        <section id="emergency" class="admin-section emergency" aria-busy=move || panel.busy() aria-labelledby="emergency-title">
            <h2 id="emergency-title">"Emergency: end all sessions of a user"</h2>
            <div class="form-row">
                <label for="emergency-user">"User"</label>
                <select
                    id="emergency-user"
                    prop:value=move || target.get()
                    on:change=move |ev| {
                        target.set(event_target_value(&ev));
                        confirming.set(false);
                    }
                >
                    <Choices placeholder="Choose a user" options=choices />
                </select>
                <button
                    id="emergency-terminate"
                    type="button"
                    class="danger"
                    node_ref=terminate_button
                    on:click=start
                >
                    "Terminate all sessions"
                </button>
            </div>
            <Show when=move || confirming.get()>
                <div class="confirm">
                    <p id="emergency-question">{question}</p>
                    <button
                        id="emergency-confirm"
                        type="button"
                        class="danger"
                        aria-describedby="emergency-question"
                        node_ref=confirm_button
                        on:click=confirm
                    >
                        "Confirm"
                    </button>
                    <button type="button" class="sg-secondary" on:click=move |_| close_confirmation()>
                        "Cancel"
                    </button>
                </div>
            </Show>
            <Show when=move || panel.error.with(Option::is_some)>
                <p class="form-error" role="alert">{move || panel.error.get().unwrap_or_default()}</p>
            </Show>
            <p id="emergency-result" class="notice" role="status">{move || panel.notice.get()}</p>
        </section>
    }
}
