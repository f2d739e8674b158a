//! Client for the admin API of `docs/CONTRACT.md` (scope `admin:manage`).

use gloo_net::http::{Request, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longer server messages are replaced by a generic one: a message is for a person to read
/// in a small alert, not a place to dump a stack trace.
const MAX_MESSAGE_LEN: usize = 300;

/// Why an admin request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// `403`: the signed-in user lacks the `admin:manage` scope.
    Forbidden,
    /// `401`: the session has ended (the guard sends the tab to the login page).
    Unauthenticated,
    /// Anything else, with the text to show.
    Failed(String),
}

/// One registered browser tab of a session.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Tab {
    /// The tab's id.
    pub tab_id: String,
    /// The tab it was opened from, if any.
    pub opener_tab_id: Option<String>,
    /// When it registered (epoch ms).
    pub registered_at: i64,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Session {
    /// Public session id.
    pub session_id: String,
    /// Whose session it is (id).
    pub user_id: i64,
    /// Whose session it is (login name).
    pub username: String,
    /// Sign-in time (epoch ms).
    pub issued_at: i64,
    /// End of the absolute lifetime (epoch ms).
    pub expires_at: i64,
    /// Last activity the server knows of (epoch ms).
    pub last_activity_at: i64,
    /// `not_required`, `pending` or `accepted`.
    pub recording_consent: String,
    /// The session's open tabs (closed ones drop out).
    pub tabs: Vec<Tab>,
    /// The user's display name.
    #[serde(default)]
    pub display_name: String,
    /// The caller's own session ("this is you").
    #[serde(default)]
    pub current: bool,
    /// Where the session signed in from.
    #[serde(default)]
    pub client_addr: Option<String>,
    /// The sign-in's user agent, as sent.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The browser the server read from it ("Firefox 128 on Linux").
    #[serde(default)]
    pub browser: Option<String>,
}

/// An ended session, in the history.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EndedSession {
    /// Public session id.
    pub session_id: String,
    /// Whose session it was (id).
    pub user_id: i64,
    /// Whose session it was (login name), while the user exists.
    pub username: Option<String>,
    /// Their display name, while the user exists.
    pub display_name: Option<String>,
    /// Sign-in time (epoch ms).
    pub issued_at: i64,
    /// When it ended (epoch ms).
    pub ended_at: i64,
    /// Why it ended (a wire name of the contract's reasons).
    pub end_reason: Option<String>,
    /// Who ended it; `None` when the server did.
    pub ended_by_username: Option<String>,
    /// Where it signed in from.
    pub client_addr: Option<String>,
    /// The browser the server read from the user agent.
    pub browser: Option<String>,
}

/// What a destructive action would end, as the server counts it (`?dry_run=true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Impact {
    /// Distinct users signed out.
    pub users: u64,
    /// Sessions ended.
    pub sessions: u64,
    /// Whether the acting administrator is among them (for ending a tab: whether the tab
    /// is one of the administrator's own session).
    pub includes_you: bool,
    /// Tabs ended on their own (their sessions continue); only ending a tab has any.
    #[serde(default)]
    pub tabs: u64,
}

/// Whose sessions the emergency panel ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "target", rename_all = "snake_case")]
pub enum Target {
    /// Every session of one user.
    User {
        /// The user.
        user_id: i64,
    },
    /// Every session of every user holding the role (directly or through a group).
    Role {
        /// The role.
        role_id: i64,
    },
    /// Every session but the acting administrator's.
    EveryoneElse,
}

/// An action that can sign people out or take access away: the console asks for
/// confirmation, with the server's impact preview, before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destructive {
    /// End one session.
    TerminateSession(String),
    /// End one tab of a session (session id, tab id); the other tabs continue.
    EndTab(String, String),
    /// The emergency panel.
    TerminateSessions(Target),
    /// Suspend a user.
    Suspend(i64),
    /// Delete a role.
    DeleteRole(i64),
    /// Remove a scope from a role.
    RemoveScope(i64, String),
    /// Delete a group.
    DeleteGroup(i64),
    /// Unassign a role from a user (user id, role id).
    UnassignUserRole(i64, i64),
    /// Remove a user from a group (group id, user id).
    RemoveMember(i64, i64),
    /// Unassign a role from a group (group id, role id).
    UnassignGroupRole(i64, i64),
}

impl Destructive {
    /// Whether the action takes an optional reason for the audit log.
    pub fn takes_reason(&self) -> bool {
        matches!(
            self,
            Self::TerminateSession(_) | Self::EndTab(..) | Self::TerminateSessions(_)
        )
    }

    /// The request: whether it is a `DELETE` (else `POST`), its path, and its body.
    fn request(&self, reason: Option<&str>) -> (bool, String, Value) {
        let with_reason = || serde_json::json!({ "reason": reason });
        match self {
            Self::TerminateSession(id) => (
                true,
                format!("/api/admin/sessions/{}", segment(id)),
                with_reason(),
            ),
            Self::EndTab(session_id, tab_id) => (
                true,
                format!(
                    "/api/admin/sessions/{}/tabs/{}",
                    segment(session_id),
                    segment(tab_id)
                ),
                with_reason(),
            ),
            Self::TerminateSessions(target) => {
                let mut body = serde_json::to_value(target).unwrap_or(Value::Null);
                body["reason"] = serde_json::json!(reason);
                (false, "/api/admin/terminate-sessions".to_string(), body)
            }
            Self::Suspend(id) => (
                false,
                format!("/api/admin/users/{id}/suspend"),
                Value::Object(Default::default()),
            ),
            Self::DeleteRole(id) => (
                true,
                format!("/api/admin/roles/{id}"),
                Value::Object(Default::default()),
            ),
            Self::RemoveScope(id, scope) => (
                true,
                format!("/api/admin/roles/{id}/scopes/{}", segment(scope)),
                Value::Object(Default::default()),
            ),
            Self::DeleteGroup(id) => (
                true,
                format!("/api/admin/groups/{id}"),
                Value::Object(Default::default()),
            ),
            Self::UnassignUserRole(user_id, role_id) => (
                true,
                format!("/api/admin/users/{user_id}/roles/{role_id}"),
                Value::Object(Default::default()),
            ),
            Self::RemoveMember(group_id, user_id) => (
                true,
                format!("/api/admin/groups/{group_id}/members/{user_id}"),
                Value::Object(Default::default()),
            ),
            Self::UnassignGroupRole(group_id, role_id) => (
                true,
                format!("/api/admin/groups/{group_id}/roles/{role_id}"),
                Value::Object(Default::default()),
            ),
        }
    }

    async fn send(&self, reason: Option<&str>, dry_run: bool) -> Result<Response, ApiError> {
        let (is_delete, path, body) = self.request(reason);
        let url = if dry_run {
            format!("{path}?dry_run=true")
        } else {
            path
        };
        let builder = if is_delete {
            Request::delete(&url)
        } else {
            Request::post(&url)
        };
        send(from_this_tab(builder).json(&body)).await
    }

    /// What the action would end, counted by the server without changing anything.
    pub async fn preview(self) -> Result<Impact, ApiError> {
        parse(self.send(None, true).await?).await
    }

    /// Runs the action; the emergency panel answers how many sessions it ended.
    pub async fn run(self, reason: Option<String>) -> Result<Option<u64>, ApiError> {
        let response = self.send(reason.as_deref(), false).await?;
        if matches!(self, Self::TerminateSessions(_)) {
            Ok(Some(parse::<Terminated>(response).await?.terminated))
        } else {
            Ok(None)
        }
    }
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
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
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Role {
    /// Server id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Scopes the role grants.
    pub scopes: Vec<String>,
}

/// A group, its members and its roles.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuditEntry {
    /// Server id, increasing.
    pub id: i64,
    /// When it happened (epoch ms).
    pub at: i64,
    /// Who did it; `None` when the server itself acted.
    pub actor_user_id: Option<i64>,
    /// What happened (`login`, `admin_user_suspended`, ...).
    pub kind: String,
    /// The session concerned, if any.
    pub session_id: Option<String>,
    /// The tab concerned, if any.
    pub tab_id: Option<String>,
    /// Details, a JSON object.
    pub detail: Value,
    /// The actor's login name, when the actor still exists.
    #[serde(default)]
    pub actor_username: Option<String>,
    /// Whose session `session_id` is, while the server keeps it.
    #[serde(default)]
    pub session_username: Option<String>,
    /// The client address of the request that caused it.
    #[serde(default)]
    pub client_addr: Option<String>,
    /// The user agent of that request.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The session the actor acted from.
    #[serde(default)]
    pub actor_session_id: Option<String>,
    /// The tab the actor acted from.
    #[serde(default)]
    pub actor_tab_id: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
}

#[derive(Deserialize)]
struct Terminated {
    terminated: u64,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct NewUser<'a> {
    username: &'a str,
    display_name: &'a str,
    password: &'a str,
}

#[derive(Serialize)]
struct NewRole<'a> {
    name: &'a str,
    scopes: &'a [String],
}

#[derive(Serialize)]
struct NewScope<'a> {
    scope: &'a str,
}

#[derive(Serialize)]
struct NewGroup<'a> {
    name: &'a str,
}

/// Ids and scopes go into paths; encoding keeps any character from changing the route.
fn segment(value: &str) -> String {
    String::from(js_sys::encode_uri_component(value))
}

async fn error_of(response: Response) -> ApiError {
    match response.status() {
        401 => return ApiError::Unauthenticated,
        403 => return ApiError::Forbidden,
        _ => {}
    }
    let status = response.status();
    let message = response
        .json::<ErrorBody>()
        .await
        .ok()
        .and_then(|body| body.message)
        .filter(|m| !m.trim().is_empty() && m.len() <= MAX_MESSAGE_LEN);
    ApiError::Failed(message.unwrap_or_else(|| format!("The request failed (HTTP {status}).")))
}

async fn send(request: Result<Request, gloo_net::Error>) -> Result<Response, ApiError> {
    let request =
        request.map_err(|_| ApiError::Failed("The request could not be built.".into()))?;
    let response = request.send().await.map_err(|_| {
        ApiError::Failed("The server cannot be reached. Try again in a moment.".into())
    })?;
    if response.ok() {
        Ok(response)
    } else {
        Err(error_of(response).await)
    }
}

async fn parse<T: DeserializeOwned>(response: Response) -> Result<T, ApiError> {
    response
        .json::<T>()
        .await
        .map_err(|_| ApiError::Failed("The server sent an unexpected response.".into()))
}

async fn get<T: DeserializeOwned>(url: &str) -> Result<T, ApiError> {
    parse(send(from_this_tab(Request::get(url)).build()).await?).await
}

async fn post<B: Serialize>(url: &str, body: &B) -> Result<Response, ApiError> {
    send(from_this_tab(Request::post(url)).json(body)).await
}

/// Names this tab (the id the guard registered) so that the audit log records which
/// tab an admin action came from.
fn from_this_tab(request: gloo_net::http::RequestBuilder) -> gloo_net::http::RequestBuilder {
    match session_guard::browser::tab_identity() {
        Ok(identity) => request.header(TAB_HEADER, &identity.tab_id),
        Err(_) => request,
    }
}

/// The request header of the contract that names the acting tab.
const TAB_HEADER: &str = "X-Session-Guard-Tab";

/// Live sessions.
pub async fn sessions() -> Result<Vec<Session>, ApiError> {
    get("/api/admin/sessions").await
}

/// Ended sessions, most recently ended first.
pub async fn session_history() -> Result<Vec<EndedSession>, ApiError> {
    get("/api/admin/session-history?limit=200").await
}

/// Every user.
pub async fn users() -> Result<Vec<User>, ApiError> {
    get("/api/admin/users").await
}

/// Creates a user.
pub async fn create_user(
    username: String,
    display_name: String,
    password: String,
) -> Result<(), ApiError> {
    let body = NewUser {
        username: &username,
        display_name: &display_name,
        password: &password,
    };
    post("/api/admin/users", &body).await?;
    Ok(())
}

/// Lifts a user's suspension (suspending is a [`Destructive`] action).
pub async fn unsuspend(user_id: i64) -> Result<(), ApiError> {
    post(&format!("/api/admin/users/{user_id}/unsuspend"), &Empty {}).await?;
    Ok(())
}

/// Assigns a role directly to a user (unassigning is a [`Destructive`] action).
pub async fn assign_user_role(user_id: i64, role_id: i64) -> Result<(), ApiError> {
    link(&format!("/api/admin/users/{user_id}/roles/{role_id}")).await
}

/// Every role.
pub async fn roles() -> Result<Vec<Role>, ApiError> {
    get("/api/admin/roles").await
}

/// Creates a role.
pub async fn create_role(name: String, scopes: Vec<String>) -> Result<(), ApiError> {
    let body = NewRole {
        name: &name,
        scopes: &scopes,
    };
    post("/api/admin/roles", &body).await?;
    Ok(())
}

/// Adds a scope to a role.
pub async fn add_scope(role_id: i64, scope: String) -> Result<(), ApiError> {
    post(
        &format!("/api/admin/roles/{role_id}/scopes"),
        &NewScope { scope: &scope },
    )
    .await?;
    Ok(())
}

/// Every group.
pub async fn groups() -> Result<Vec<Group>, ApiError> {
    get("/api/admin/groups").await
}

/// Creates a group.
pub async fn create_group(name: String) -> Result<(), ApiError> {
    post("/api/admin/groups", &NewGroup { name: &name }).await?;
    Ok(())
}

/// Adds a group member (removing one is a [`Destructive`] action).
pub async fn add_member(group_id: i64, user_id: i64) -> Result<(), ApiError> {
    link(&format!("/api/admin/groups/{group_id}/members/{user_id}")).await
}

/// Assigns a role to a group (unassigning is a [`Destructive`] action).
pub async fn assign_group_role(group_id: i64, role_id: i64) -> Result<(), ApiError> {
    link(&format!("/api/admin/groups/{group_id}/roles/{role_id}")).await
}

/// One page of audit entries, newest first; `query` is the contract's query string
/// (`limit`, `before`, `kind`, `user_id`, `session_id`, `from`, `to`), already encoded.
pub async fn audit(query: String) -> Result<Vec<AuditEntry>, ApiError> {
    get(&format!("/api/admin/audit?{query}")).await
}

/// Encodes one query parameter value.
pub fn query_value(value: &str) -> String {
    segment(value)
}

/// Creates a link (role assignment or group membership); idempotent.
async fn link(url: &str) -> Result<(), ApiError> {
    post(url, &Empty {}).await?;
    Ok(())
}
