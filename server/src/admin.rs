//! The admin API. Each part needs its own scope: `sessions:terminate` for live sessions
//! and ending them, `admin:manage` for users, roles and groups, `audit:read` for the
//! audit log. Handlers validate the input and describe the change; every change runs
//! through [`Store::admin_change`](crate::store::Store::admin_change), which applies the
//! privilege rule to every signed-in user after the change and refuses lockouts.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use session_guard_contract::admin::{
    AdminSession, AuditQuery, DryRun, EndRequest, HistoryQuery, ImpactPreview, NewGroup, NewRole,
    NewScope, NewUser, Target, TerminateRequest, TerminatedCount,
};
use session_guard_contract::{ids, ServerTime};

use crate::error::AppError;
use crate::extract::{
    AdminCaller, AuditCaller, JsonBody, OptionalJson, PathParam, QueryParam, TerminateCaller,
};
use crate::state::AppState;
use crate::store::sql::{self, LinkTable};
use crate::store::{AdminChange, AdminOutput, TabEnd, TerminateTarget};

fn check_scope(scope: &str) -> Result<(), AppError> {
    if ids::is_scope(scope) {
        Ok(())
    } else {
        Err(AppError::BadRequest(format!(
            "Invalid scope `{}`: scopes match {}.",
            scope.chars().take(80).collect::<String>(),
            ids::SCOPE_PATTERN
        )))
    }
}

/// Role, group and display names: trimmed, 1 to `max` characters, no control characters.
fn clean_name(field: &str, value: &str, max: usize) -> Result<String, AppError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(AppError::BadRequest(format!(
            "{field} must be 1 to {max} characters without control characters."
        )));
    }
    Ok(v.to_owned())
}

/// Usernames: `^[A-Za-z0-9_.@-]{1,64}$`, so they are safe in logs and URLs.
fn clean_username(value: &str) -> Result<String, AppError> {
    let v = value.trim();
    let ok = (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-'));
    if ok {
        Ok(v.to_owned())
    } else {
        Err(AppError::BadRequest(
            "username must match ^[A-Za-z0-9_.@-]{1,64}$.".into(),
        ))
    }
}

// ---- sessions ----

/// Runs a destructive admin change, or with `?dry_run=true` only previews it:
/// `200 {"dry_run": true, "users", "sessions", "includes_you"}` from the same code path
/// rolled back, so the number the console shows before asking is the server's.
async fn change_or_preview(
    state: &AppState,
    actor: i64,
    dry_run: DryRun,
    change: AdminChange,
    respond: impl FnOnce(AdminOutput) -> Response,
) -> Result<Response, AppError> {
    let store = &state.inner.store;
    if dry_run.dry_run {
        return Ok(Json(store.admin_preview(actor, change).await?).into_response());
    }
    Ok(respond(store.admin_change(actor, change).await?))
}

/// The answer of a change that ends sessions: how many it ended.
fn terminated(output: AdminOutput) -> Response {
    let terminated = match output {
        AdminOutput::Ended(n) => n,
        _ => 0,
    };
    Json(TerminatedCount { terminated }).into_response()
}

/// The answer of a change that returns a user, role or group (`status` on success).
fn entity(status: StatusCode, output: AdminOutput) -> Response {
    match output {
        AdminOutput::User(user) => (status, Json(user)).into_response(),
        AdminOutput::Role(role) => (status, Json(role)).into_response(),
        AdminOutput::Group(group) => (status, Json(group)).into_response(),
        AdminOutput::Ended(_) | AdminOutput::Done => StatusCode::NO_CONTENT.into_response(),
    }
}

fn no_content(_: AdminOutput) -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Trimmed, at most 256 characters, no control characters; empty means none.
fn clean_reason(reason: Option<String>) -> Result<Option<String>, AppError> {
    let Some(reason) = reason else {
        return Ok(None);
    };
    let reason = reason.trim();
    if reason.chars().count() > 256 || reason.chars().any(char::is_control) {
        return Err(AppError::BadRequest(
            "reason must be at most 256 characters without control characters.".into(),
        ));
    }
    Ok((!reason.is_empty()).then(|| reason.to_owned()))
}

/// `GET /api/admin/sessions`: live sessions, with their open tabs.
pub(crate) async fn list_sessions(
    State(state): State<AppState>,
    TerminateCaller(caller): TerminateCaller,
) -> Result<Response, AppError> {
    let (sessions, mut tabs) = state.inner.store.live_sessions().await?;
    let out: Vec<AdminSession> = sessions
        .into_iter()
        .map(|live| {
            let s = live.session;
            AdminSession {
                current: s.id == caller.session.id,
                browser: live.user_agent.as_deref().map(crate::user_agent::describe),
                tabs: tabs.remove(&s.id).unwrap_or_default(),
                session_id: s.id,
                user_id: s.user_id,
                username: live.username,
                display_name: live.display_name,
                client_addr: live.client_addr,
                user_agent: live.user_agent,
                issued_at: ServerTime::from_millis(s.issued_at),
                expires_at: ServerTime::from_millis(s.expires_at),
                last_activity_at: ServerTime::from_millis(s.last_activity_at),
                recording_required: s.recording_required,
                recording_consent: s.consent,
            }
        })
        .collect();
    Ok(Json(out).into_response())
}

/// `GET /api/admin/session-history?limit`: ended sessions, most recently ended first,
/// with their reason and who ended them.
pub(crate) async fn session_history(
    State(state): State<AppState>,
    _caller: TerminateCaller,
    QueryParam(q): QueryParam<HistoryQuery>,
) -> Result<Response, AppError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::BadRequest("limit must be 1 to 1000.".into()));
    }
    let mut rows = state.inner.store.session_history(limit).await?;
    for row in &mut rows {
        row.browser = row.user_agent.as_deref().map(crate::user_agent::describe);
    }
    Ok(Json(rows).into_response())
}

/// `DELETE /api/admin/sessions/{session_id}` with an optional `{"reason"}`.
pub(crate) async fn delete_session(
    State(state): State<AppState>,
    TerminateCaller(admin): TerminateCaller,
    PathParam(session_id): PathParam<String>,
    QueryParam(dry_run): QueryParam<DryRun>,
    OptionalJson(body): OptionalJson<EndRequest>,
) -> Result<Response, AppError> {
    let reason = clean_reason(body.reason)?;
    let change = AdminChange::EndSession { session_id, reason };
    change_or_preview(&state, admin.user.id, dry_run, change, no_content).await
}

/// `DELETE /api/admin/sessions/{session_id}/tabs/{tab_id}` with an optional `{"reason"}`:
/// ends one open tab on its own. The session and its other tabs continue, so no privilege
/// changes and nobody is signed out; the preview says so (`"tabs": 1`). The tab is closed
/// for good and its streams hear `tab_ended` after the commit.
pub(crate) async fn end_tab(
    State(state): State<AppState>,
    TerminateCaller(admin): TerminateCaller,
    PathParam((session_id, tab_id)): PathParam<(String, String)>,
    QueryParam(dry_run): QueryParam<DryRun>,
    OptionalJson(body): OptionalJson<EndRequest>,
) -> Result<Response, AppError> {
    let reason = clean_reason(body.reason)?;
    let outcome = state
        .inner
        .store
        .end_tab(
            admin.user.id,
            &admin.session.id,
            &session_id,
            &tab_id,
            reason,
            dry_run.dry_run,
        )
        .await?;
    Ok(match outcome {
        TabEnd::Preview { own_session } => Json(ImpactPreview {
            dry_run: true,
            users: 0,
            sessions: 0,
            tabs: 1,
            includes_you: own_session,
        })
        .into_response(),
        TabEnd::Ended => StatusCode::NO_CONTENT.into_response(),
    })
}

/// `POST /api/admin/users/{user_id}/terminate-sessions`: the emergency panel.
pub(crate) async fn terminate_user_sessions(
    State(state): State<AppState>,
    TerminateCaller(admin): TerminateCaller,
    PathParam(user_id): PathParam<i64>,
    QueryParam(dry_run): QueryParam<DryRun>,
) -> Result<Response, AppError> {
    let change = AdminChange::EndUserSessions { user_id };
    change_or_preview(&state, admin.user.id, dry_run, change, terminated).await
}

/// `POST /api/admin/terminate-sessions`: the emergency panel's three targets, with an
/// optional reason recorded in the audit.
pub(crate) async fn terminate_sessions(
    State(state): State<AppState>,
    TerminateCaller(admin): TerminateCaller,
    QueryParam(dry_run): QueryParam<DryRun>,
    JsonBody(req): JsonBody<TerminateRequest>,
) -> Result<Response, AppError> {
    let reason = clean_reason(req.reason)?;
    let target = match req.target {
        Target::User { user_id } => TerminateTarget::User(user_id),
        Target::Role { role_id } => TerminateTarget::Role(role_id),
        Target::EveryoneElse => TerminateTarget::EveryoneElse,
    };
    let change = AdminChange::EndSessions { target, reason };
    change_or_preview(&state, admin.user.id, dry_run, change, terminated).await
}

// ---- users ----

/// `GET /api/admin/users`.
pub(crate) async fn list_users(
    State(state): State<AppState>,
    _admin: AdminCaller,
) -> Result<Response, AppError> {
    Ok(Json(state.inner.store.users().await?).into_response())
}

/// `POST /api/admin/users`.
pub(crate) async fn create_user(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    JsonBody(req): JsonBody<NewUser>,
) -> Result<Response, AppError> {
    let username = clean_username(&req.username)?;
    let display_name = clean_name("display_name", &req.display_name, 128)?;
    if !(8..=1024).contains(&req.password.len()) {
        return Err(AppError::BadRequest(
            "password must be 8 to 1024 bytes long.".into(),
        ));
    }
    let inner = state.inner.clone();
    let password = req.password;
    let password_hash = tokio::task::spawn_blocking(move || inner.passwords.hash(&password))
        .await
        .map_err(|e| AppError::Internal(format!("hash task: {e}")))??;
    let change = AdminChange::CreateUser {
        username,
        display_name,
        password_hash,
    };
    let output = state
        .inner
        .store
        .admin_change(admin.user.id, change)
        .await?;
    Ok(entity(StatusCode::CREATED, output))
}

async fn set_suspended(
    state: AppState,
    admin: AdminCaller,
    user_id: i64,
    suspended: bool,
    dry_run: DryRun,
) -> Result<Response, AppError> {
    let actor = admin.0.user.id;
    if suspended && user_id == actor {
        return Err(AppError::Conflict(
            "Administrators cannot suspend themselves.".into(),
        ));
    }
    let change = AdminChange::SetSuspended { user_id, suspended };
    change_or_preview(&state, actor, dry_run, change, |output| {
        entity(StatusCode::OK, output)
    })
    .await
}

/// `POST /api/admin/users/{id}/suspend`: every session of the user ends with `suspended`.
pub(crate) async fn suspend_user(
    State(state): State<AppState>,
    admin: AdminCaller,
    PathParam(user_id): PathParam<i64>,
    QueryParam(dry_run): QueryParam<DryRun>,
) -> Result<Response, AppError> {
    set_suspended(state, admin, user_id, true, dry_run).await
}

/// `POST /api/admin/users/{id}/unsuspend`.
pub(crate) async fn unsuspend_user(
    State(state): State<AppState>,
    admin: AdminCaller,
    PathParam(user_id): PathParam<i64>,
) -> Result<Response, AppError> {
    set_suspended(state, admin, user_id, false, DryRun::default()).await
}

// ---- roles ----

/// `GET /api/admin/roles`.
pub(crate) async fn list_roles(
    State(state): State<AppState>,
    _admin: AdminCaller,
) -> Result<Response, AppError> {
    Ok(Json(state.inner.store.roles().await?).into_response())
}

/// `POST /api/admin/roles`.
pub(crate) async fn create_role(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    JsonBody(req): JsonBody<NewRole>,
) -> Result<Response, AppError> {
    let name = clean_name("name", &req.name, 64)?;
    if req.scopes.len() > 64 {
        return Err(AppError::BadRequest(
            "A role holds at most 64 scopes.".into(),
        ));
    }
    for scope in &req.scopes {
        check_scope(scope)?;
    }
    let scopes: BTreeSet<String> = req.scopes.into_iter().collect();
    let change = AdminChange::CreateRole { name, scopes };
    let output = state
        .inner
        .store
        .admin_change(admin.user.id, change)
        .await?;
    Ok(entity(StatusCode::CREATED, output))
}

/// `DELETE /api/admin/roles/{id}`.
pub(crate) async fn delete_role(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam(role_id): PathParam<i64>,
    QueryParam(dry_run): QueryParam<DryRun>,
) -> Result<Response, AppError> {
    let change = AdminChange::DeleteRole { role_id };
    change_or_preview(&state, admin.user.id, dry_run, change, no_content).await
}

/// `POST /api/admin/roles/{id}/scopes`: idempotent.
pub(crate) async fn add_scope(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam(role_id): PathParam<i64>,
    JsonBody(req): JsonBody<NewScope>,
) -> Result<Response, AppError> {
    check_scope(&req.scope)?;
    let change = AdminChange::AddScope {
        role_id,
        scope: req.scope,
    };
    let output = state
        .inner
        .store
        .admin_change(admin.user.id, change)
        .await?;
    Ok(entity(StatusCode::OK, output))
}

/// `DELETE /api/admin/roles/{id}/scopes/{scope}`: idempotent.
pub(crate) async fn remove_scope(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam((role_id, scope)): PathParam<(i64, String)>,
    QueryParam(dry_run): QueryParam<DryRun>,
) -> Result<Response, AppError> {
    check_scope(&scope)?;
    let change = AdminChange::RemoveScope { role_id, scope };
    change_or_preview(&state, admin.user.id, dry_run, change, |output| {
        entity(StatusCode::OK, output)
    })
    .await
}

/// Assigns or unassigns a role to a user, or a user or role to a group; idempotent.
async fn set_link(
    state: &AppState,
    actor: i64,
    table: LinkTable,
    (a, b): (i64, i64),
    present: bool,
    dry_run: DryRun,
) -> Result<Response, AppError> {
    let change = AdminChange::Link {
        table,
        a,
        b,
        present,
    };
    change_or_preview(state, actor, dry_run, change, no_content).await
}

/// `POST /api/admin/users/{uid}/roles/{rid}`.
pub(crate) async fn assign_user_role(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam(ids): PathParam<(i64, i64)>,
) -> Result<Response, AppError> {
    let (actor, table) = (admin.user.id, LinkTable::UserRoles);
    set_link(&state, actor, table, ids, true, DryRun::default()).await
}

/// `DELETE /api/admin/users/{uid}/roles/{rid}`.
pub(crate) async fn unassign_user_role(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam(ids): PathParam<(i64, i64)>,
    QueryParam(dry_run): QueryParam<DryRun>,
) -> Result<Response, AppError> {
    let (actor, table) = (admin.user.id, LinkTable::UserRoles);
    set_link(&state, actor, table, ids, false, dry_run).await
}

// ---- groups ----

/// `GET /api/admin/groups`.
pub(crate) async fn list_groups(
    State(state): State<AppState>,
    _admin: AdminCaller,
) -> Result<Response, AppError> {
    Ok(Json(state.inner.store.groups().await?).into_response())
}

/// `POST /api/admin/groups`.
pub(crate) async fn create_group(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    JsonBody(req): JsonBody<NewGroup>,
) -> Result<Response, AppError> {
    let name = clean_name("name", &req.name, 64)?;
    let change = AdminChange::CreateGroup { name };
    let output = state
        .inner
        .store
        .admin_change(admin.user.id, change)
        .await?;
    Ok(entity(StatusCode::CREATED, output))
}

/// `DELETE /api/admin/groups/{id}`.
pub(crate) async fn delete_group(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam(group_id): PathParam<i64>,
    QueryParam(dry_run): QueryParam<DryRun>,
) -> Result<Response, AppError> {
    let change = AdminChange::DeleteGroup { group_id };
    change_or_preview(&state, admin.user.id, dry_run, change, no_content).await
}

/// `POST /api/admin/groups/{gid}/members/{uid}`.
pub(crate) async fn add_member(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam(ids): PathParam<(i64, i64)>,
) -> Result<Response, AppError> {
    let (actor, table) = (admin.user.id, LinkTable::GroupMembers);
    set_link(&state, actor, table, ids, true, DryRun::default()).await
}

/// `DELETE /api/admin/groups/{gid}/members/{uid}`.
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam(ids): PathParam<(i64, i64)>,
    QueryParam(dry_run): QueryParam<DryRun>,
) -> Result<Response, AppError> {
    let (actor, table) = (admin.user.id, LinkTable::GroupMembers);
    set_link(&state, actor, table, ids, false, dry_run).await
}

/// `POST /api/admin/groups/{gid}/roles/{rid}`.
pub(crate) async fn assign_group_role(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam(ids): PathParam<(i64, i64)>,
) -> Result<Response, AppError> {
    let (actor, table) = (admin.user.id, LinkTable::GroupRoles);
    set_link(&state, actor, table, ids, true, DryRun::default()).await
}

/// `DELETE /api/admin/groups/{gid}/roles/{rid}`.
pub(crate) async fn unassign_group_role(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam(ids): PathParam<(i64, i64)>,
    QueryParam(dry_run): QueryParam<DryRun>,
) -> Result<Response, AppError> {
    let (actor, table) = (admin.user.id, LinkTable::GroupRoles);
    set_link(&state, actor, table, ids, false, dry_run).await
}

// ---- audit ----

/// `GET /api/admin/audit`: newest first, `limit` (default 100, at most 1000) entries older
/// than the `before` cursor (the last id of the previous page), filtered by `kind`,
/// `user_id`, `session_id` and the `from`/`to` time range.
pub(crate) async fn audit_log(
    State(state): State<AppState>,
    AuditCaller(_auditor): AuditCaller,
    QueryParam(q): QueryParam<AuditQuery>,
) -> Result<Response, AppError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::BadRequest("limit must be 1 to 1000.".into()));
    }
    if q.kind
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > 64)
    {
        return Err(AppError::BadRequest(
            "kind must be 1 to 64 characters.".into(),
        ));
    }
    if q.session_id
        .as_deref()
        .is_some_and(|s| !ids::is_session_id(s))
    {
        return Err(AppError::BadRequest(format!(
            "session_id must match {}.",
            ids::SESSION_ID_PATTERN
        )));
    }
    let filter = sql::AuditFilter {
        before: q.before,
        kind: q.kind,
        user_id: q.user_id,
        session_id: q.session_id,
        from: q.from.map(ServerTime::as_millis),
        to: q.to.map(ServerTime::as_millis),
        limit,
    };
    Ok(Json(state.inner.store.audit_log(&filter).await?).into_response())
}
