//! The Admin Console: live sessions, the emergency panel, users, roles, groups and the
//! audit log, over the admin API. Every privileged user reaches it; each section shows
//! only when the user holds its scope (`sessions:terminate`, `admin:manage`,
//! `audit:read`), the same scopes the server checks.
//!
//! Every server string is rendered as text (never as HTML), and nothing here unwraps
//! server data: a panic in wasm takes the whole page down, guard included.

mod api;
mod audit;
mod confirm;
mod groups;
mod player;
mod recordings;
mod roles;
mod section;
mod sessions;
mod users;

use std::future::Future;

use leptos::prelude::*;
use leptos::task::spawn_local;
use session_guard::ui::use_session;

use api::ApiError;
pub use player::ReplayPage;

/// Shown instead of the console when the server answers `403` to a section the session
/// view said was allowed (the scopes changed in between).
const FORBIDDEN: &str = "Your permissions no longer allow this part of the Admin Console. \
                         Reload the page to see what you may still do.";

/// Shown when the user is privileged but holds none of the console's scopes.
const NO_SECTIONS: &str = "Your roles open no part of the Admin Console: live sessions need \
                           the sessions:terminate scope, users, roles and groups need \
                           admin:manage, the audit log needs audit:read, and Remote \
                           sessions need recordings:read. Ask an \
                           administrator for the access you need.";

/// The scope for live sessions, terminating them and the emergency panel.
const TERMINATE_SCOPE: &str = "sessions:terminate";
/// The scope for users, roles and groups.
const ADMIN_SCOPE: &str = "admin:manage";
/// The scope for the audit log.
const AUDIT_SCOPE: &str = "audit:read";
/// The scope for deleting a recording.
use session_guard_contract::recording::DELETE_SCOPE as RECORDINGS_DELETE_SCOPE;
/// The scope for the recorded sessions and their replay.
use session_guard_contract::recording::READ_SCOPE as RECORDINGS_READ_SCOPE;

/// What the signed-in user may do in the console, from the scopes of the session view
/// (tracked: a pushed view that adds a scope opens its section at once).
#[derive(Clone, Copy)]
pub struct Allowed {
    /// Live sessions, terminating them, the emergency panel (`sessions:terminate`).
    pub sessions: Signal<bool>,
    /// Users, roles and groups (`admin:manage`).
    pub manage: Signal<bool>,
    /// The audit log (`audit:read`).
    pub audit: Signal<bool>,
    /// Remote sessions: the recordings and their replay (`recordings:read`).
    pub recordings: Signal<bool>,
    /// Deleting a recording (`recordings:delete`).
    pub delete_recordings: Signal<bool>,
}

impl Allowed {
    /// From the guard's current session view.
    fn from_session() -> Self {
        let session = use_session();
        let holds = move |scope: &'static str| {
            Signal::derive(move || {
                session
                    .snapshot
                    .with(|s| s.scopes.iter().any(|h| h == scope))
            })
        };
        Allowed {
            sessions: holds(TERMINATE_SCOPE),
            manage: holds(ADMIN_SCOPE),
            audit: holds(AUDIT_SCOPE),
            recordings: holds(RECORDINGS_READ_SCOPE),
            delete_recordings: holds(RECORDINGS_DELETE_SCOPE),
        }
    }

    /// Whether any section is open, tracked.
    fn any(self) -> bool {
        self.sessions.get() || self.manage.get() || self.audit.get() || self.recordings.get()
    }
}

/// Shown when the server answers `401`; the guard is already on its way to the login page.
const ENDED: &str = "Your session has ended. Sign in again to continue.";

/// One list the console shows, as the server last answered it.
pub struct List<T: Send + Sync + 'static> {
    /// The items of the latest answer.
    pub items: RwSignal<Vec<T>>,
    /// Whether any answer arrived yet.
    pub loaded: RwSignal<bool>,
    /// Why the latest load failed.
    pub error: RwSignal<Option<String>>,
    /// Numbers the loads, so that a slow older answer cannot overwrite a newer one.
    ticket: StoredValue<u64>,
}

// Derived impls would demand `T: Copy`; the signals are handles and copy regardless.
impl<T: Send + Sync + 'static> Clone for List<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for List<T> {}

impl<T: Send + Sync + 'static> List<T> {
    fn new() -> Self {
        List {
            items: RwSignal::new(Vec::new()),
            loaded: RwSignal::new(false),
            error: RwSignal::new(None),
            ticket: StoredValue::new(0),
        }
    }

    /// The name of the item with `id`, tracked; `key` gives an item's id and name.
    fn name_of(self, id: i64, key: impl Fn(&T) -> (i64, &String)) -> Option<String> {
        self.items.with(|items| {
            items
                .iter()
                .map(&key)
                .find(|(item_id, _)| *item_id == id)
                .map(|(_, name)| name.clone())
        })
    }

    /// Replaces the items with the answer of `fetch`, unless a newer load started since.
    fn load(
        self,
        denied: RwSignal<Option<String>>,
        fetch: impl Future<Output = Result<Vec<T>, ApiError>> + 'static,
    ) {
        let Some(ticket) = self.ticket.try_update_value(|t| {
            *t += 1;
            *t
        }) else {
            return;
        };
        spawn_local(async move {
            let result = fetch.await;
            if self.ticket.try_get_value() != Some(ticket) {
                return;
            }
            match result {
                Ok(items) => {
                    self.items.try_set(items);
                    self.error.try_set(None);
                }
                Err(error) => {
                    self.error.try_set(explain(denied, error));
                }
            }
            self.loaded.try_set(true);
        });
    }
}

/// Turns a failure into the text a section shows. `401` and `403` are not a section's
/// problem: they replace the whole console with one clear message instead.
fn explain(denied: RwSignal<Option<String>>, error: ApiError) -> Option<String> {
    match error {
        ApiError::Forbidden => {
            denied.try_set(Some(FORBIDDEN.to_string()));
            None
        }
        ApiError::Unauthenticated => {
            denied.try_set(Some(ENDED.to_string()));
            None
        }
        ApiError::Failed(message) => Some(message),
    }
}

/// The state of one section's actions.
#[derive(Clone, Copy)]
pub struct Panel {
    /// How many actions are on their way. Buttons stay enabled meanwhile: disabling the
    /// clicked button would throw keyboard focus back to the top of the page.
    pub pending: RwSignal<u32>,
    /// Why the last action failed.
    pub error: RwSignal<Option<String>>,
    /// What the last action did.
    pub notice: RwSignal<String>,
}

impl Panel {
    /// A panel with nothing going on.
    fn new() -> Self {
        Panel {
            pending: RwSignal::new(0),
            error: RwSignal::new(None),
            notice: RwSignal::new(String::new()),
        }
    }

    /// For `aria-busy` on the panel's section, tracked.
    pub fn busy(self) -> String {
        (self.pending.get() > 0).to_string()
    }
}

/// Everything the sections share: the lists and whether the console may be used at all.
#[derive(Clone, Copy)]
pub struct Console {
    /// Set once the server refused the console (`403`) or the session ended (`401`).
    pub denied: RwSignal<Option<String>>,
    /// Which sections the user may use.
    pub allowed: Allowed,
    /// Live sessions.
    pub sessions: List<api::Session>,
    /// Users.
    pub users: List<api::User>,
    /// Roles.
    pub roles: List<api::Role>,
    /// Groups.
    pub groups: List<api::Group>,
    /// The audit entries of the page shown.
    pub audit: List<api::AuditEntry>,
    /// The audit page's filters and cursor, kept across the reloads that follow actions.
    pub audit_query: RwSignal<audit::AuditQuery>,
    /// Ended sessions, most recently ended first.
    pub history: List<api::EndedSession>,
    /// Recorded tabs, newest session first.
    pub recordings: List<recordings::RecordingRow>,
    /// The Remote sessions filters, kept across the reloads that follow actions.
    pub recording_filter: RwSignal<recordings::RecordingFilter>,
    /// The destructive action waiting for confirmation in the dialog.
    pub confirm: RwSignal<Option<confirm::Confirming>>,
    /// Where the focus goes back to when the dialog closes.
    return_focus: StoredValue<Option<web_sys::Element>, LocalStorage>,
}

impl Console {
    fn new(allowed: Allowed) -> Self {
        Console {
            denied: RwSignal::new(None),
            allowed,
            sessions: List::new(),
            users: List::new(),
            roles: List::new(),
            groups: List::new(),
            audit: List::new(),
            audit_query: RwSignal::new(audit::AuditQuery::default()),
            history: List::new(),
            recordings: List::new(),
            recording_filter: RwSignal::new(recordings::RecordingFilter::default()),
            confirm: RwSignal::new(None),
            return_focus: StoredValue::new_local(None),
        }
    }

    /// Reloads the live sessions and the history of ended ones.
    pub fn refresh_sessions(self) {
        self.sessions.load(self.denied, api::sessions());
        self.history.load(self.denied, api::session_history());
    }

    /// Reloads the users.
    pub fn refresh_users(self) {
        self.users.load(self.denied, api::users());
    }

    /// Reloads the roles.
    pub fn refresh_roles(self) {
        self.roles.load(self.denied, api::roles());
    }

    /// Reloads the groups.
    pub fn refresh_groups(self) {
        self.groups.load(self.denied, api::groups());
    }

    /// Reloads the audit log.
    pub fn refresh_audit(self) {
        audit::load(self);
    }

    /// Reloads every list the user may see; the others are never asked for.
    pub fn refresh_all(self) {
        if self.allowed.sessions.get_untracked() {
            self.refresh_sessions();
        }
        if self.allowed.manage.get_untracked() {
            self.refresh_users();
            self.refresh_roles();
            self.refresh_groups();
        }
        if self.allowed.audit.get_untracked() {
            self.refresh_audit();
        }
        if self.allowed.recordings.get_untracked() {
            recordings::load(self);
        }
    }

    /// Runs one admin action for `panel`, shows its error there, then reloads every list:
    /// any change can end sessions (the server recomputes privilege), rename what a list
    /// shows by id, and always writes to the audit log.
    pub fn act(self, panel: Panel, action: impl Future<Output = Result<(), ApiError>> + 'static) {
        panel.pending.update(|n| *n += 1);
        panel.error.set(None);
        panel.notice.set(String::new());
        spawn_local(async move {
            let outcome = action.await;
            panel.pending.try_update(|n| *n = n.saturating_sub(1));
            if let Err(error) = outcome {
                panel.error.try_set(explain(self.denied, error));
            }
            self.refresh_all();
        });
    }

    /// The users as a select's options: id and login name.
    pub fn user_choices(self) -> Signal<Vec<(i64, String)>> {
        let users = self.users.items;
        Signal::derive(move || {
            users.with(|l| l.iter().map(|u| (u.id, u.username.clone())).collect())
        })
    }

    /// The users with a live session, once each: the emergency panel's choices for a user
    /// who may end sessions but not list every user.
    pub fn signed_in_choices(self) -> Signal<Vec<(i64, String)>> {
        let sessions = self.sessions.items;
        Signal::derive(move || {
            let mut choices: Vec<(i64, String)> =
                sessions.with(|l| l.iter().map(|s| (s.user_id, s.username.clone())).collect());
            choices.sort();
            choices.dedup();
            choices
        })
    }

    /// The roles as a select's options: id and name.
    pub fn role_choices(self) -> Signal<Vec<(i64, String)>> {
        let roles = self.roles.items;
        Signal::derive(move || roles.with(|l| l.iter().map(|r| (r.id, r.name.clone())).collect()))
    }

    /// A role's name for display, tracked.
    pub fn role_name(self, role_id: i64) -> String {
        self.roles
            .name_of(role_id, |r| (r.id, &r.name))
            .unwrap_or_else(|| format!("role #{role_id}"))
    }

    /// A group's name for display, tracked.
    pub fn group_name(self, group_id: i64) -> String {
        self.groups
            .name_of(group_id, |g| (g.id, &g.name))
            .unwrap_or_else(|| format!("group #{group_id}"))
    }

    /// A user's login name for display, tracked: from the users list, else from the live
    /// sessions (for a user who may not list every user).
    pub fn username(self, user_id: i64) -> String {
        self.users
            .name_of(user_id, |u| (u.id, &u.username))
            .or_else(|| self.sessions.name_of(user_id, |s| (s.user_id, &s.username)))
            .unwrap_or_else(|| format!("user #{user_id}"))
    }
}

/// Local time as `YYYY-MM-DD HH:MM:SS UTC+01:00`: readable, sortable, the same in every
/// locale, and with its offset so that administrators in other zones read it right.
pub fn format_time(epoch_ms: i64) -> String {
    // Beyond this a JavaScript Date is invalid and its getters answer NaN.
    const MAX_DATE_MS: u64 = 8_640_000_000_000_000;
    if epoch_ms.unsigned_abs() > MAX_DATE_MS {
        return "—".to_string();
    }
    let date = js_sys::Date::new(&(epoch_ms as f64).into());
    // `getTimezoneOffset` is UTC minus local time, in minutes.
    let offset = -(date.get_timezone_offset() as i64);
    let zone = if offset == 0 {
        "UTC".to_string()
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let offset = offset.unsigned_abs();
        format!("UTC{sign}{:02}:{:02}", offset / 60, offset % 60)
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {zone}",
        date.get_full_year(),
        date.get_month() + 1,
        date.get_date(),
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds()
    )
}

/// Privileged users only; everyone else is told so (the server refuses them anyway).
#[component]
pub fn AdminConsole() -> impl IntoView {
    let session = use_session();
    view! {
        <h1>"Admin Console"</h1>
        <Show
            when=move || session.privileged.get()
            fallback=|| {
                view! {
                    <p class="access-denied" role="alert">
                        "The Admin Console needs a privileged role."
                    </p>
                }
            }
        >
            <Manage />
        </Show>
    }
}

/// The sections, once the user is privileged: each only with its scope.
#[component]
fn Manage() -> impl IntoView {
    let allowed = Allowed::from_session();
    let console = Console::new(allowed);
    // Loads once now, and again when the scopes change (a pushed view added one).
    Effect::new(move |_| {
        let _ = (
            allowed.sessions.get(),
            allowed.manage.get(),
            allowed.audit.get(),
            allowed.recordings.get(),
        );
        console.refresh_all();
    });
    view! {
        <Show
            when=move || console.denied.with(Option::is_none)
            fallback=move || {
                view! {
                    <p class="access-denied" role="alert">
                        {move || console.denied.get().unwrap_or_default()}
                    </p>
                }
            }
        >
            <Show
                when=move || allowed.any()
                fallback=|| view! { <p class="access-denied" role="alert">{NO_SECTIONS}</p> }
            >
                <nav class="admin-toc" aria-label="Admin Console sections">
                    <Show when=move || allowed.sessions.get()>
                        <a href="#sessions">"Sessions"</a>
                        <a href="#emergency">"Emergency"</a>
                    </Show>
                    <Show when=move || allowed.manage.get()>
                        <a href="#users">"Users"</a>
                        <a href="#roles">"Roles"</a>
                        <a href="#groups">"Groups"</a>
                    </Show>
                    <Show when=move || allowed.audit.get()>
                        <a href="#audit">"Audit log"</a>
                    </Show>
                    <Show when=move || allowed.recordings.get()>
                        <a href="#recordings">"Remote sessions"</a>
                    </Show>
                </nav>
            </Show>
            <Show when=move || allowed.sessions.get()>
                <sessions::Sessions console />
                <sessions::Emergency console />
            </Show>
            <Show when=move || allowed.manage.get()>
                <users::Users console />
                <roles::Roles console />
                <groups::Groups console />
            </Show>
            <Show when=move || allowed.audit.get()>
                <audit::Audit console />
            </Show>
            <Show when=move || allowed.recordings.get()>
                <recordings::Recordings console />
            </Show>
            <confirm::ConfirmDialog console />
        </Show>
    }
}
