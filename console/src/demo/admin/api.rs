//! Client for the admin API of `docs/CONTRACT.md` (scope `admin:manage`).

use gloo_net::http::{Request, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
/// The admin API's shapes, as the contract defines them.
pub use session_guard_contract::admin::{
    AdminSession as Session, AdminTab as Tab, AdminUser as User, AuditEntry, AuditQuery,
    EndedSession, Group, ImpactPreview as Impact, Role, Target,
};
use session_guard_contract::admin::{
    EndRequest, NewGroup, NewRole, NewScope, NewUser, TerminateRequest, TerminatedCount,
};
use session_guard_contract::api::{ErrorBody, TAB_HEADER};

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
    /// Delete one tab's recording (session id, tab id).
    DeleteRecording(String, String),
}

impl Destructive {
    /// Whether the action takes an optional reason for the audit log.
    pub fn takes_reason(&self) -> bool {
        matches!(
            self,
            Self::TerminateSession(_) | Self::EndTab(..) | Self::TerminateSessions(_)
        )
    }

    /// What the action does, said by the console itself: deleting a recording signs
    /// nobody out, so there is no server count to ask for (and no `dry_run` to trust).
    pub fn stated_impact(&self) -> Option<&'static str> {
        match self {
            Self::DeleteRecording(..) => Some(
                "This deletes the tab's recording and its recorded API requests for good; \
                 the deletion is recorded in the audit log. Nobody is signed out.",
            ),
            _ => None,
        }
    }

    /// The request: whether it is a `DELETE` (else `POST`), its path, and its body.
    fn request(&self, reason: Option<&str>) -> (bool, String, Value) {
        let reason = reason.map(str::to_owned);
        let with_reason = || {
            serde_json::to_value(EndRequest {
                reason: reason.clone(),
            })
            .unwrap_or(Value::Null)
        };
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
                let body = serde_json::to_value(TerminateRequest {
                    target: target.clone(),
                    reason,
                })
                .unwrap_or(Value::Null);
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
            Self::DeleteRecording(session_id, tab_id) => (
                true,
                recording_path(session_id, tab_id),
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
            Ok(Some(parse::<TerminatedCount>(response).await?.terminated))
        } else {
            Ok(None)
        }
    }
}

#[derive(Serialize)]
struct Empty {}

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
        .map(|body| body.message)
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
        username,
        display_name,
        password,
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
    let body = NewRole { name, scopes };
    post("/api/admin/roles", &body).await?;
    Ok(())
}

/// Adds a scope to a role.
pub async fn add_scope(role_id: i64, scope: String) -> Result<(), ApiError> {
    post(
        &format!("/api/admin/roles/{role_id}/scopes"),
        &NewScope { scope },
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
    post("/api/admin/groups", &NewGroup { name }).await?;
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
/// ([`AuditQuery::to_query_string`]).
pub async fn audit(query: String) -> Result<Vec<AuditEntry>, ApiError> {
    get(&format!("/api/admin/audit?{query}")).await
}

/// Creates a link (role assignment or group membership); idempotent.
async fn link(url: &str) -> Result<(), ApiError> {
    post(url, &Empty {}).await?;
    Ok(())
}

/// The recordings API's shapes, as the contract defines them.
pub use session_guard_contract::recording::{
    RecordedAction, RecordedSession, RecordedTab, RecordingDetail, RecordingQuery, RecordingSession,
};

/// Recorded sessions and their tabs, newest first, as `query` filters them.
pub async fn recordings(query: RecordingQuery) -> Result<Vec<RecordedSession>, ApiError> {
    get(&format!(
        "/api/admin/recordings?{}",
        query.to_query_string()
    ))
    .await
}

/// The path of one tab's recording.
fn recording_path(session_id: &str, tab_id: &str) -> String {
    session_guard_contract::recording::admin_tab_path(&segment(session_id), &segment(tab_id))
}

/// One tab's recording: chunk list and API actions (the server audits the viewing).
pub async fn recording(session_id: &str, tab_id: &str) -> Result<RecordingDetail, ApiError> {
    get(&recording_path(session_id, tab_id)).await
}

/// One stored chunk as JSON text (the browser undoes the server's `gzip` encoding); the
/// caller validates it, nothing here trusts it.
pub async fn recording_chunk(session_id: &str, tab_id: &str, seq: u32) -> Result<String, ApiError> {
    let url = session_guard_contract::recording::admin_chunk_path(
        &segment(session_id),
        &segment(tab_id),
        seq,
    );
    let response = send(from_this_tab(Request::get(&url)).build()).await?;
    response
        .text()
        .await
        .map_err(|_| ApiError::Failed("The chunk could not be read.".into()))
}
