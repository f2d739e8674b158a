//! Bodies of the admin API (contract "Endpoints", admin part; "Session visibility";
//! "Audit log"; "Impact preview").

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::AuditKind;
use crate::reason::Reason;
use crate::time::ServerTime;
use crate::view::ConsentState;

/// One open browser tab of a live session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminTab {
    /// The tab's id.
    pub tab_id: String,
    /// The tab it was opened from, if any.
    pub opener_tab_id: Option<String>,
    /// When it registered.
    pub registered_at: ServerTime,
}

/// One live session in `GET /api/admin/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminSession {
    /// Public session id.
    pub session_id: String,
    /// Whose session it is (id).
    pub user_id: i64,
    /// Whose session it is (login name).
    pub username: String,
    /// The user's display name.
    pub display_name: String,
    /// The caller's own session ("this is you").
    pub current: bool,
    /// Where the session signed in from.
    pub client_addr: Option<String>,
    /// The sign-in's user agent, as sent (at most 256 characters).
    pub user_agent: Option<String>,
    /// The server's reading of it ("Firefox 128 on Linux").
    pub browser: Option<String>,
    /// Sign-in time.
    pub issued_at: ServerTime,
    /// End of the absolute lifetime.
    pub expires_at: ServerTime,
    /// Last activity the server knows of.
    pub last_activity_at: ServerTime,
    /// Whether the session must be recorded.
    pub recording_required: bool,
    /// The user's recording decision so far.
    pub recording_consent: ConsentState,
    /// The session's open tabs (closed ones drop out).
    pub tabs: Vec<AdminTab>,
}

/// One ended session in `GET /api/admin/session-history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedSession {
    /// Public session id.
    pub session_id: String,
    /// Whose session it was (id).
    pub user_id: i64,
    /// Whose session it was (login name), while the user exists.
    pub username: Option<String>,
    /// Their display name, while the user exists.
    pub display_name: Option<String>,
    /// Sign-in time.
    pub issued_at: ServerTime,
    /// When it ended.
    pub ended_at: ServerTime,
    /// Why it ended.
    pub end_reason: Option<Reason>,
    /// Who ended it: `None` when the server did (deadline, sweep) or the user is deleted.
    pub ended_by_user_id: Option<i64>,
    /// That user's login name.
    pub ended_by_username: Option<String>,
    /// Where it signed in from.
    pub client_addr: Option<String>,
    /// The sign-in's user agent, as sent.
    pub user_agent: Option<String>,
    /// The server's reading of it.
    pub browser: Option<String>,
}

/// A user in `GET /api/admin/users` and the answers of user changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUser {
    /// Server id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Name shown in the UI.
    pub display_name: String,
    /// Whether sign-in is refused.
    pub suspended: bool,
    /// Whether the user holds any scope.
    pub privileged: bool,
    /// Directly assigned role ids.
    pub roles: Vec<i64>,
    /// Ids of the groups the user is a member of.
    pub groups: Vec<i64>,
}

/// A role and its scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Server id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Scopes the role grants, sorted.
    pub scopes: Vec<String>,
}

/// A group, its members and its roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Server id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Member user ids.
    pub members: Vec<i64>,
    /// Role ids every member holds.
    pub roles: Vec<i64>,
}

/// One entry of `GET /api/admin/audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Server id, increasing (the paging cursor).
    pub id: i64,
    /// When it happened.
    pub at: ServerTime,
    /// Who did it; `None` when the server acted, for anonymous requests, or after the user
    /// was deleted.
    pub actor_user_id: Option<i64>,
    /// The actor's login name, resolved when read.
    pub actor_username: Option<String>,
    /// What happened.
    pub kind: AuditKind,
    /// The session concerned, if any.
    pub session_id: Option<String>,
    /// Whose session `session_id` is, while the server keeps it.
    pub session_username: Option<String>,
    /// The tab concerned, if any.
    pub tab_id: Option<String>,
    /// Details, a JSON object.
    pub detail: Value,
    /// The client address of the request that caused it.
    pub client_addr: Option<String>,
    /// The user agent of that request.
    pub user_agent: Option<String>,
    /// The session the actor acted from.
    pub actor_session_id: Option<String>,
    /// The tab the actor acted from (only when registered to that session).
    pub actor_tab_id: Option<String>,
}

/// What a destructive action would do, as the server counts it (`?dry_run=true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpactPreview {
    /// Always `true`: nothing was changed.
    pub dry_run: bool,
    /// Distinct users signed out.
    pub users: u64,
    /// Sessions ended.
    pub sessions: u64,
    /// Tabs ended on their own (their sessions continue); only ending a tab has any, and
    /// the field is absent otherwise.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tabs: u64,
    /// Whether the acting administrator is among those users (for ending a tab: whether
    /// the tab belongs to the caller's own session).
    pub includes_you: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The answer of the routes that end many sessions at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminatedCount {
    /// How many sessions ended.
    pub terminated: u64,
}

/// The optional body of the routes that end one session or one tab.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndRequest {
    /// The administrator's reason, for the audit entry (trimmed, at most 256 characters,
    /// no control characters; empty means none).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Whose sessions the emergency panel ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "target", rename_all = "snake_case")]
pub enum Target {
    /// Every session of one user.
    User {
        /// The user.
        user_id: i64,
    },
    /// Every session of every user holding the role, directly or through a group.
    Role {
        /// The role.
        role_id: i64,
    },
    /// Every session of every user but the acting administrator.
    EveryoneElse,
}

/// `POST /api/admin/terminate-sessions`: the emergency panel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminateRequest {
    /// Whose sessions end.
    #[serde(flatten)]
    pub target: Target,
    /// The administrator's reason, as for [`EndRequest`].
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/admin/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    /// Login name (`^[A-Za-z0-9_.@-]{1,64}$`).
    pub username: String,
    /// Name shown in the UI (1 to 128 characters).
    pub display_name: String,
    /// Initial password (8 to 1024 bytes).
    pub password: String,
}

/// `POST /api/admin/roles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRole {
    /// Unique name (1 to 64 characters).
    pub name: String,
    /// Scopes the role grants (at most 64).
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// `POST /api/admin/roles/{id}/scopes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewScope {
    /// The scope ([`crate::ids::is_scope`]).
    pub scope: String,
}

/// `POST /api/admin/groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewGroup {
    /// Unique name (1 to 64 characters).
    pub name: String,
}
