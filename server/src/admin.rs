//! The admin API. Each part needs its own scope: `sessions:terminate` for live sessions
//! and ending them, `admin:manage` for users, roles and groups, `audit:read` for the
//! audit log. Every change runs through
//! [`Inner::admin_change`](crate::state::Inner::admin_change), which applies the
//! privilege rule to every signed-in user after the change and refuses lockouts.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rusqlite::Connection;
use serde_json::{json, Value};
use session_guard_contract::admin::{
    AdminSession, AuditQuery, DryRun, EndRequest, Group, HistoryQuery, ImpactPreview, NewGroup,
    NewRole, NewScope, NewUser, Role, Target, TerminateRequest, TerminatedCount,
};
use session_guard_contract::{ids, AuditKind, ConsentState, ServerTime};

use crate::db::{self, LinkTable, NewAudit};
use crate::error::{AppError, Reason};
use crate::extract::{
    AdminCaller, AuditCaller, JsonBody, OptionalJson, PathParam, QueryParam, TerminateCaller,
};
use crate::state::{end_with_audit, AppState, Effects};

/// Records one admin action in the caller's transaction.
fn audit(
    conn: &Connection,
    now: i64,
    actor: i64,
    kind: AuditKind,
    session_id: Option<&str>,
    detail: Value,
) -> Result<(), AppError> {
    db::audit(
        conn,
        now,
        &NewAudit {
            actor_user_id: Some(actor),
            kind,
            session_id,
            tab_id: None,
            detail,
        },
    )?;
    Ok(())
}

fn not_found(what: &str) -> AppError {
    AppError::NotFound(format!("No such {what}."))
}

fn require_user(conn: &Connection, id: i64) -> Result<db::UserRow, AppError> {
    db::user_by_id(conn, id)?.ok_or_else(|| not_found("user"))
}

fn require_role(conn: &Connection, id: i64) -> Result<Role, AppError> {
    db::role(conn, id)?.ok_or_else(|| not_found("role"))
}

fn require_group(conn: &Connection, id: i64) -> Result<Group, AppError> {
    db::group(conn, id)?.ok_or_else(|| not_found("group"))
}

/// Maps a unique-constraint failure to `409`, anything else to `500`.
fn conflict_or(e: rusqlite::Error, what: &str) -> AppError {
    if db::is_constraint(&e) {
        AppError::Conflict(format!("A {what} with this name already exists."))
    } else {
        e.into()
    }
}

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
fn change_or_preview<R>(
    state: &AppState,
    actor: i64,
    dry_run: DryRun,
    f: impl FnOnce(&Connection, i64, &mut Effects) -> Result<R, AppError>,
    respond: impl FnOnce(R) -> Response,
) -> Result<Response, AppError> {
    if dry_run.dry_run {
        return Ok(Json(state.inner.admin_preview(actor, f)?).into_response());
    }
    Ok(respond(state.inner.admin_change(actor, f)?))
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
    let conn = state.inner.db();
    let mut out = Vec::new();
    for s in db::live_sessions(&conn)? {
        let (username, display_name) = db::user_by_id(&conn, s.user_id)?
            .map(|u| (u.username, u.display_name))
            .unwrap_or_default();
        let (client_addr, user_agent) = db::session_origin(&conn, &s.id)?;
        let tabs = db::tabs(&conn, &s.id)?;
        out.push(AdminSession {
            current: s.id == caller.session.id,
            browser: user_agent.as_deref().map(crate::user_agent::describe),
            session_id: s.id,
            user_id: s.user_id,
            username,
            display_name,
            client_addr,
            user_agent,
            issued_at: ServerTime::from_millis(s.issued_at),
            expires_at: ServerTime::from_millis(s.expires_at),
            last_activity_at: ServerTime::from_millis(s.last_activity_at),
            recording_required: s.recording_required,
            // As in the session view: only the contract's values are stored.
            recording_consent: ConsentState::from_wire(&s.consent).unwrap_or(ConsentState::Pending),
            tabs,
        });
    }
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
    let mut rows = db::ended_sessions(&state.inner.db(), limit)?;
    for row in &mut rows {
        row.browser = row.user_agent.as_deref().map(crate::user_agent::describe);
    }
    Ok(Json(rows).into_response())
}

/// Ends one live session with `remote_terminated` in the admin transaction.
fn terminate(
    conn: &Connection,
    session: &db::SessionRow,
    actor: i64,
    now: i64,
    effects: &mut Effects,
) -> Result<bool, AppError> {
    let ended = end_with_audit(conn, session, &Reason::RemoteTerminated, Some(actor), now)?;
    if ended {
        effects
            .ended
            .push((session.id.clone(), Reason::RemoteTerminated));
    }
    Ok(ended)
}

/// Ends each of `ids` that is still live; returns how many ended.
fn terminate_all(
    conn: &Connection,
    ids: Vec<String>,
    actor: i64,
    now: i64,
    effects: &mut Effects,
) -> Result<u64, AppError> {
    let mut n = 0u64;
    for id in ids {
        if let Some(session) = db::session_by_id(conn, &id)? {
            if terminate(conn, &session, actor, now, effects)? {
                n += 1;
            }
        }
    }
    Ok(n)
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
    let actor = admin.user.id;
    change_or_preview(
        &state,
        actor,
        dry_run,
        |conn, now, effects| {
            let session = db::session_by_id(conn, &session_id)?
                .filter(|s| s.ended_at.is_none())
                .ok_or_else(|| not_found("live session"))?;
            audit(
                conn,
                now,
                actor,
                AuditKind::AdminSessionTerminated,
                Some(&session.id),
                json!({ "user_id": session.user_id, "reason": reason }),
            )?;
            terminate(conn, &session, actor, now, effects)
        },
        |_| StatusCode::NO_CONTENT.into_response(),
    )
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
    let actor = admin.user.id;
    let now = state.inner.now();
    {
        let mut conn = state.inner.db();
        let tx = conn.transaction()?;
        let session = db::session_by_id(&tx, &session_id)?
            .filter(|s| s.ended_at.is_none())
            .ok_or_else(|| not_found("live session"))?;
        if !db::tab_is_open(&tx, &session.id, &tab_id)? {
            return Err(not_found("open tab"));
        }
        if dry_run.dry_run {
            let own = session.id == admin.session.id;
            let preview = ImpactPreview {
                dry_run: true,
                users: 0,
                sessions: 0,
                tabs: 1,
                includes_you: own,
            };
            return Ok(Json(preview).into_response());
        }
        db::end_tab(&tx, &session.id, &tab_id, actor, now)?;
        db::audit(
            &tx,
            now,
            &NewAudit {
                actor_user_id: Some(actor),
                kind: AuditKind::AdminTabTerminated,
                session_id: Some(&session.id),
                tab_id: Some(&tab_id),
                detail: json!({ "user_id": session.user_id, "reason": reason }),
            },
        )?;
        tx.commit()?;
    }
    state.inner.push_tab_ended(&session_id, &tab_id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/admin/users/{user_id}/terminate-sessions`: the emergency panel.
pub(crate) async fn terminate_user_sessions(
    State(state): State<AppState>,
    TerminateCaller(admin): TerminateCaller,
    PathParam(user_id): PathParam<i64>,
    QueryParam(dry_run): QueryParam<DryRun>,
) -> Result<Response, AppError> {
    let actor = admin.user.id;
    change_or_preview(
        &state,
        actor,
        dry_run,
        |conn, now, effects| {
            require_user(conn, user_id)?;
            let ids = db::live_session_ids_of_user(conn, user_id)?;
            let n = terminate_all(conn, ids, actor, now, effects)?;
            audit(
                conn,
                now,
                actor,
                AuditKind::AdminUserSessionsTerminated,
                None,
                json!({ "user_id": user_id, "terminated": n }),
            )?;
            Ok(n)
        },
        |terminated| Json(TerminatedCount { terminated }).into_response(),
    )
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
    let actor = admin.user.id;
    change_or_preview(
        &state,
        actor,
        dry_run,
        |conn, now, effects| {
            let (ids, mut detail) = match req.target {
                Target::User { user_id } => {
                    require_user(conn, user_id)?;
                    (
                        db::live_session_ids_of_user(conn, user_id)?,
                        json!({ "target": "user", "user_id": user_id }),
                    )
                }
                Target::Role { role_id } => {
                    let role = require_role(conn, role_id)?;
                    (
                        db::live_session_ids_of_role(conn, role_id)?,
                        json!({ "target": "role", "role_id": role_id, "role": role.name }),
                    )
                }
                Target::EveryoneElse => (
                    db::live_session_ids_except_user(conn, actor)?,
                    json!({ "target": "everyone_else" }),
                ),
            };
            let n = terminate_all(conn, ids, actor, now, effects)?;
            detail["terminated"] = json!(n);
            detail["reason"] = json!(reason);
            audit(
                conn,
                now,
                actor,
                AuditKind::AdminSessionsTerminated,
                None,
                detail,
            )?;
            Ok(n)
        },
        |terminated| Json(TerminatedCount { terminated }).into_response(),
    )
}

// ---- users ----

/// `GET /api/admin/users`.
pub(crate) async fn list_users(
    State(state): State<AppState>,
    _admin: AdminCaller,
) -> Result<Response, AppError> {
    let conn = state.inner.db();
    let users = db::all_users(&conn)?
        .iter()
        .map(|u| db::admin_user(&conn, u))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(users).into_response())
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
    let hash = tokio::task::spawn_blocking(move || inner.passwords.hash(&password))
        .await
        .map_err(|e| AppError::Internal(format!("hash task: {e}")))??;
    let actor = admin.user.id;
    let user = state.inner.admin_change(actor, |conn, now, _| {
        let id = db::insert_user(conn, &username, &display_name, &hash, now)
            .map_err(|e| conflict_or(e, "user"))?;
        audit(
            conn,
            now,
            actor,
            AuditKind::AdminUserCreated,
            None,
            json!({ "user_id": id, "username": username }),
        )?;
        Ok(db::admin_user(conn, &require_user(conn, id)?)?)
    })?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
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
    change_or_preview(
        &state,
        actor,
        dry_run,
        |conn, now, _| {
            require_user(conn, user_id)?;
            db::set_suspended(conn, user_id, suspended)?;
            let kind = if suspended {
                AuditKind::AdminUserSuspended
            } else {
                AuditKind::AdminUserUnsuspended
            };
            audit(conn, now, actor, kind, None, json!({ "user_id": user_id }))?;
            Ok(db::admin_user(conn, &require_user(conn, user_id)?)?)
        },
        |user| Json(user).into_response(),
    )
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
    Ok(Json(db::all_roles(&state.inner.db())?).into_response())
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
    let actor = admin.user.id;
    let role = state.inner.admin_change(actor, |conn, now, _| {
        let id = db::insert_role(conn, &name, &scopes).map_err(|e| conflict_or(e, "role"))?;
        audit(
            conn,
            now,
            actor,
            AuditKind::AdminRoleCreated,
            None,
            json!({ "role_id": id, "name": name, "scopes": scopes }),
        )?;
        require_role(conn, id)
    })?;
    Ok((StatusCode::CREATED, Json(role)).into_response())
}

/// `DELETE /api/admin/roles/{id}`.
pub(crate) async fn delete_role(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam(role_id): PathParam<i64>,
    QueryParam(dry_run): QueryParam<DryRun>,
) -> Result<Response, AppError> {
    let actor = admin.user.id;
    change_or_preview(
        &state,
        actor,
        dry_run,
        |conn, now, _| {
            let role = require_role(conn, role_id)?;
            db::delete_role(conn, role_id)?;
            audit(
                conn,
                now,
                actor,
                AuditKind::AdminRoleDeleted,
                None,
                json!({ "role_id": role_id, "name": role.name }),
            )
        },
        |()| StatusCode::NO_CONTENT.into_response(),
    )
}

/// `POST /api/admin/roles/{id}/scopes`: idempotent.
pub(crate) async fn add_scope(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam(role_id): PathParam<i64>,
    JsonBody(req): JsonBody<NewScope>,
) -> Result<Response, AppError> {
    check_scope(&req.scope)?;
    let actor = admin.user.id;
    let role = state.inner.admin_change(actor, |conn, now, _| {
        require_role(conn, role_id)?;
        if db::add_scope(conn, role_id, &req.scope)? {
            audit(
                conn,
                now,
                actor,
                AuditKind::AdminRoleScopeAdded,
                None,
                json!({ "role_id": role_id, "scope": req.scope }),
            )?;
        }
        require_role(conn, role_id)
    })?;
    Ok(Json(role).into_response())
}

/// `DELETE /api/admin/roles/{id}/scopes/{scope}`: idempotent.
pub(crate) async fn remove_scope(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam((role_id, scope)): PathParam<(i64, String)>,
    QueryParam(dry_run): QueryParam<DryRun>,
) -> Result<Response, AppError> {
    check_scope(&scope)?;
    let actor = admin.user.id;
    change_or_preview(
        &state,
        actor,
        dry_run,
        |conn, now, _| {
            require_role(conn, role_id)?;
            if db::remove_scope(conn, role_id, &scope)? {
                audit(
                    conn,
                    now,
                    actor,
                    AuditKind::AdminRoleScopeRemoved,
                    None,
                    json!({ "role_id": role_id, "scope": scope }),
                )?;
            }
            require_role(conn, role_id)
        },
        |role| Json(role).into_response(),
    )
}

/// Assigns or unassigns a role to a user, or a user or role to a group; idempotent.
fn set_link(
    state: &AppState,
    actor: i64,
    table: LinkTable,
    a: i64,
    b: i64,
    present: bool,
    dry_run: DryRun,
) -> Result<Response, AppError> {
    let change = move |conn: &Connection, now: i64, _: &mut Effects| {
        let (kind, detail) = match table {
            LinkTable::UserRoles => {
                require_user(conn, a)?;
                require_role(conn, b)?;
                let kind = if present {
                    AuditKind::AdminUserRoleAssigned
                } else {
                    AuditKind::AdminUserRoleUnassigned
                };
                (kind, json!({ "user_id": a, "role_id": b }))
            }
            LinkTable::GroupMembers => {
                require_group(conn, a)?;
                require_user(conn, b)?;
                let kind = if present {
                    AuditKind::AdminGroupMemberAdded
                } else {
                    AuditKind::AdminGroupMemberRemoved
                };
                (kind, json!({ "group_id": a, "user_id": b }))
            }
            LinkTable::GroupRoles => {
                require_group(conn, a)?;
                require_role(conn, b)?;
                let kind = if present {
                    AuditKind::AdminGroupRoleAssigned
                } else {
                    AuditKind::AdminGroupRoleUnassigned
                };
                (kind, json!({ "group_id": a, "role_id": b }))
            }
        };
        if db::link(conn, table, a, b, present)? {
            audit(conn, now, actor, kind, None, detail)?;
        }
        Ok(())
    };
    change_or_preview(state, actor, dry_run, change, |()| {
        StatusCode::NO_CONTENT.into_response()
    })
}

/// `POST /api/admin/users/{uid}/roles/{rid}`.
pub(crate) async fn assign_user_role(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam((uid, rid)): PathParam<(i64, i64)>,
) -> Result<Response, AppError> {
    set_link(
        &state,
        admin.user.id,
        LinkTable::UserRoles,
        uid,
        rid,
        true,
        DryRun::default(),
    )
}

/// `DELETE /api/admin/users/{uid}/roles/{rid}`.
pub(crate) async fn unassign_user_role(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam((uid, rid)): PathParam<(i64, i64)>,
    QueryParam(dry_run): QueryParam<DryRun>,
) -> Result<Response, AppError> {
    set_link(
        &state,
        admin.user.id,
        LinkTable::UserRoles,
        uid,
        rid,
        false,
        dry_run,
    )
}

// ---- groups ----

/// `GET /api/admin/groups`.
pub(crate) async fn list_groups(
    State(state): State<AppState>,
    _admin: AdminCaller,
) -> Result<Response, AppError> {
    Ok(Json(db::all_groups(&state.inner.db())?).into_response())
}

/// `POST /api/admin/groups`.
pub(crate) async fn create_group(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    JsonBody(req): JsonBody<NewGroup>,
) -> Result<Response, AppError> {
    let name = clean_name("name", &req.name, 64)?;
    let actor = admin.user.id;
    let group = state.inner.admin_change(actor, |conn, now, _| {
        let id = db::insert_group(conn, &name).map_err(|e| conflict_or(e, "group"))?;
        audit(
            conn,
            now,
            actor,
            AuditKind::AdminGroupCreated,
            None,
            json!({ "group_id": id, "name": name }),
        )?;
        require_group(conn, id)
    })?;
    Ok((StatusCode::CREATED, Json(group)).into_response())
}

/// `DELETE /api/admin/groups/{id}`.
pub(crate) async fn delete_group(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam(group_id): PathParam<i64>,
    QueryParam(dry_run): QueryParam<DryRun>,
) -> Result<Response, AppError> {
    let actor = admin.user.id;
    change_or_preview(
        &state,
        actor,
        dry_run,
        |conn, now, _| {
            let group = require_group(conn, group_id)?;
            db::delete_group(conn, group_id)?;
            audit(
                conn,
                now,
                actor,
                AuditKind::AdminGroupDeleted,
                None,
                json!({ "group_id": group_id, "name": group.name }),
            )
        },
        |()| StatusCode::NO_CONTENT.into_response(),
    )
}

/// `POST /api/admin/groups/{gid}/members/{uid}`.
pub(crate) async fn add_member(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam((gid, uid)): PathParam<(i64, i64)>,
) -> Result<Response, AppError> {
    set_link(
        &state,
        admin.user.id,
        LinkTable::GroupMembers,
        gid,
        uid,
        true,
        DryRun::default(),
    )
}

/// `DELETE /api/admin/groups/{gid}/members/{uid}`.
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam((gid, uid)): PathParam<(i64, i64)>,
    QueryParam(dry_run): QueryParam<DryRun>,
) -> Result<Response, AppError> {
    set_link(
        &state,
        admin.user.id,
        LinkTable::GroupMembers,
        gid,
        uid,
        false,
        dry_run,
    )
}

/// `POST /api/admin/groups/{gid}/roles/{rid}`.
pub(crate) async fn assign_group_role(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam((gid, rid)): PathParam<(i64, i64)>,
) -> Result<Response, AppError> {
    set_link(
        &state,
        admin.user.id,
        LinkTable::GroupRoles,
        gid,
        rid,
        true,
        DryRun::default(),
    )
}

/// `DELETE /api/admin/groups/{gid}/roles/{rid}`.
pub(crate) async fn unassign_group_role(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathParam((gid, rid)): PathParam<(i64, i64)>,
    QueryParam(dry_run): QueryParam<DryRun>,
) -> Result<Response, AppError> {
    set_link(
        &state,
        admin.user.id,
        LinkTable::GroupRoles,
        gid,
        rid,
        false,
        dry_run,
    )
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
    let filter = db::AuditFilter {
        before: q.before,
        kind: q.kind,
        user_id: q.user_id,
        session_id: q.session_id,
        from: q.from.map(ServerTime::as_millis),
        to: q.to.map(ServerTime::as_millis),
        limit,
    };
    Ok(Json(db::audit_log(&state.inner.db(), &filter)?).into_response())
}
