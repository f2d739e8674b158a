//! Audit › Sessions › Remote sessions: every recorded tab (sub-session) with its session,
//! opener, times, end and size, filtered by user and day; each opens in the player
//! (`/admin/replay`) and, with `recordings:delete`, can be deleted once it has ended.

use leptos::prelude::*;

use session_guard_contract::recording::TabEnd;
use session_guard_contract::{Reason, ServerTime};

use super::api::{
    self, Destructive, RecordedSession, RecordedTab, RecordingQuery, RecordingSession,
};
use super::audit::day_start;
use super::section::{short_id, AdminSection, Choices, ShortId};
use super::{format_time, Console, Panel};

/// What the list asks the server for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingFilter {
    /// Only this user's sessions.
    pub user_id: Option<i64>,
    /// Sessions from this day on (`YYYY-MM-DD`, local time).
    pub from_day: String,
    /// Sessions up to and including this day.
    pub to_day: String,
}

/// One row: a recorded tab with the session it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingRow {
    /// The session.
    pub session: RecordingSession,
    /// The tab.
    pub tab: RecordedTab,
}

/// One row per tab, sessions in the server's order (newest first).
fn rows(sessions: Vec<RecordedSession>) -> Vec<RecordingRow> {
    sessions
        .into_iter()
        .flat_map(|RecordedSession { session, tabs }| {
            tabs.into_iter().map(move |tab| RecordingRow {
                session: session.clone(),
                tab,
            })
        })
        .collect()
}

/// Loads the rows `console.recording_filter` describes.
pub fn load(console: Console) {
    let filter = console.recording_filter.get_untracked();
    let query = RecordingQuery {
        user_id: filter.user_id,
        from: day_start(&filter.from_day, 0).map(ServerTime::from_millis),
        to: day_start(&filter.to_day, 1).map(ServerTime::from_millis),
    };
    console.recordings.load(console.denied, async move {
        api::recordings(query).await.map(rows)
    });
}

/// How the list names the end of a tab's recording.
fn end_text(end: Option<&TabEnd>) -> &'static str {
    match end {
        None => "Still recording",
        Some(TabEnd::Closed) => "Tab closed",
        Some(TabEnd::Reason(reason)) => match reason {
            Reason::TabTerminated => "Tab ended by an administrator",
            Reason::IdleTimeout => "Inactivity timeout",
            Reason::SessionExpired => "Maximum length reached",
            Reason::RoleChanged => "Role permissions changed",
            Reason::Suspended => "User suspended",
            Reason::RemoteTerminated => "Ended by an administrator",
            Reason::ConsentDeclined => "Recording declined",
            Reason::LoggedOut => "Signed out",
            Reason::Other(_) => "Other",
        },
    }
}

/// "1 h 02 min", "3 min 05 s", "12 s".
pub fn duration_text(ms: i64) -> String {
    let seconds = ms.max(0) / 1000;
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h} h {m:02} min")
    } else if m > 0 {
        format!("{m} min {s:02} s")
    } else {
        format!("{s} s")
    }
}

/// "812 B", "23.4 KB", "1.2 MB" (decimal units, as the bench figures).
pub fn size_text(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} KB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

/// The player's address for one tab.
pub fn replay_href(session_id: &str, tab_id: &str) -> String {
    let encode = |value: &str| String::from(js_sys::encode_uri_component(value));
    format!(
        "/admin/replay?session={}&tab={}",
        encode(session_id),
        encode(tab_id)
    )
}

/// The users the filter offers: those the console knows (with `admin:manage`) and those
/// seen in recordings so far.
fn user_choices(
    console: Console,
    seen: RwSignal<Vec<(i64, String)>>,
) -> Signal<Vec<(i64, String)>> {
    let known = console.user_choices();
    Signal::derive(move || {
        let mut choices = known.get();
        choices.extend(seen.get());
        choices.sort();
        choices.dedup_by_key(|(id, _)| *id);
        choices
    })
}

/// The Remote sessions section.
#[component]
pub fn Recordings(
    /// The console's shared state.
    console: Console,
) -> impl IntoView {
    let panel = Panel::new();
    let filter = console.recording_filter;
    let seen = RwSignal::new(Vec::<(i64, String)>::new());
    Effect::new(move |_| {
        let users: Vec<(i64, String)> = console.recordings.items.with(|rows| {
            rows.iter()
                .map(|r| (r.session.user_id, r.session.username.clone()))
                .collect()
        });
        seen.update(|seen| {
            seen.extend(users);
            seen.sort();
            seen.dedup_by_key(|(id, _)| *id);
        });
    });
    let set_filter = move |change: &dyn Fn(&mut RecordingFilter)| {
        filter.update(|f| change(f));
        load(console);
    };
    let controls = view! {
        <form class="audit-filters" aria-label="Filter the recordings" on:submit=|ev| ev.prevent_default()>
            <div class="field">
                <label for="recordings-user">"User"</label>
                <select
                    id="recordings-user"
                    on:change=move |ev| {
                        let user = event_target_value(&ev).parse::<i64>().ok();
                        set_filter(&|f| f.user_id = user);
                    }
                >
                    <Choices placeholder="Any user" options=user_choices(console, seen) />
                </select>
            </div>
            <div class="field">
                <label for="recordings-from">"From"</label>
                <input
                    id="recordings-from"
                    type="date"
                    on:change=move |ev| {
                        let day = event_target_value(&ev);
                        set_filter(&|f| f.from_day = day.clone());
                    }
                />
            </div>
            <div class="field">
                <label for="recordings-to">"To"</label>
                <input
                    id="recordings-to"
                    type="date"
                    on:change=move |ev| {
                        let day = event_target_value(&ev);
                        set_filter(&|f| f.to_day = day.clone());
                    }
                />
            </div>
        </form>
    }
    .into_any();
    let may_delete = console.allowed.delete_recordings;
    view! {
        <AdminSection
            id="recordings"
            title="Remote sessions"
            refresh_label="Refresh recordings"
            on_refresh=Callback::new(move |()| load(console))
            list=console.recordings
            controls
            empty_text="No recorded sessions match."
            panel
            note="Audit › Sessions: every recorded tab, newest session first. Opening a recording is recorded in the audit log."
            table_class="recordings"
            headers=&[
                "User",
                "Session",
                "Tab",
                "Opener tab",
                "Start",
                "End",
                "End reason",
                "Duration",
                "Size",
            ]
            actions=true
            // What a row shows changes when the tab ends or its recording is deleted: those
            // are part of the key, so the row is built again.
            key=|r: &RecordingRow| {
                (
                    r.session.session_id.clone(),
                    r.tab.tab_id.clone(),
                    r.tab.ended_at.map(|t| t.as_millis()),
                    r.tab.chunks,
                    r.tab.bytes,
                )
            }
            row=move |row: RecordingRow| {
                let RecordingRow { session, tab } = row;
                let who = session.username.clone();
                let short = short_id(&tab.tab_id);
                let href = replay_href(&session.session_id, &tab.tab_id);
                let ended = tab.ended_at.is_some();
                let stored = tab.chunks > 0;
                let delete = {
                    let (session_id, tab_id, who, short) =
                        (session.session_id.clone(), tab.tab_id.clone(), who.clone(), short.clone());
                    move |_| {
                        console.ask(
                            panel,
                            Destructive::DeleteRecording(session_id.clone(), tab_id.clone()),
                            format!("Delete the recording of tab {short} of {who}'s session?"),
                            "Delete recording",
                        );
                    }
                };
                let opener = match tab.opener_tab_id.clone() {
                    Some(opener) => view! { <ShortId id=opener /> }.into_any(),
                    None => view! { <span class="muted">"—"</span> }.into_any(),
                };
                view! {
                    <tr
                        data-session-id=session.session_id.clone()
                        data-tab-id=tab.tab_id.clone()
                        data-chunks=tab.chunks.to_string()
                    >
                        <td>{session.display_name.clone()} " (" {who.clone()} ")"</td>
                        <td><ShortId id=session.session_id.clone() /></td>
                        <td><ShortId id=tab.tab_id.clone() /></td>
                        <td class="opener" data-opener-tab-id=tab.opener_tab_id.clone().unwrap_or_default()>
                            {opener}
                        </td>
                        <td class="nowrap">{format_time(tab.started_at.as_millis())}</td>
                        <td class="nowrap">
                            {tab.ended_at.map_or_else(|| "—".to_string(), |t| format_time(t.as_millis()))}
                        </td>
                        <td class="end-reason" data-end-reason=tab.end_reason.as_ref().map(|e| e.wire_name().to_string())>
                            {end_text(tab.end_reason.as_ref())}
                        </td>
                        <td class="nowrap">{duration_text(tab.duration_ms.as_millis())}</td>
                        <td class="nowrap">{size_text(tab.bytes)}</td>
                        <td class="actions">
                            {if stored {
                                view! {
                                    <a class="replay" href=href aria-label=format!("Replay tab {short} of {who}'s session")>
                                        "Replay"
                                    </a>
                                }
                                    .into_any()
                            } else {
                                // Deleted, or the tab never delivered a chunk.
                                view! { <span class="muted">"Nothing stored"</span> }.into_any()
                            }}
                            <Show when=move || may_delete.get() && ended && stored>
                                <button
                                    type="button"
                                    class="delete-recording danger-quiet"
                                    aria-label=format!("Delete the recording of tab {short} of {who}'s session")
                                    on:click=delete.clone()
                                >
                                    "Delete"
                                </button>
                            </Show>
                        </td>
                    </tr>
                }
            }
        />
    }
}
