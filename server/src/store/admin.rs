//! Admin changes: each runs in one transaction that then applies the privilege rule to
//! every signed-in user and refuses lockouts; a preview runs the same code and rolls back.

use std::collections::{BTreeSet, HashSet};

use serde_json::json;
use session_guard_contract::admin::{AdminUser, Group, ImpactPreview, Role};
use session_guard_contract::AuditKind;

use super::sql::{self, LinkTable, NewAudit};
use super::{Ended, Sessions, Store, Tx};
use crate::error::{AppError, Reason};

/// Whose sessions the emergency panel ends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TerminateTarget {
    /// Every session of one user.
    User(i64),
    /// Every session of every user holding the role, directly or through a group.
    Role(i64),
    /// Every session of every user but the acting administrator.
    EveryoneElse,
}

/// One change an administrator asks for (validated by the handler).
#[derive(Debug, Clone)]
pub(crate) enum AdminChange {
    /// End one live session (`reason`: the administrator's note for the audit).
    EndSession {
        session_id: String,
        reason: Option<String>,
    },
    /// End every session of one user (the user's emergency button).
    EndUserSessions {
        user_id: i64,
    },
    /// End the sessions of an emergency-panel target.
    EndSessions {
        target: TerminateTarget,
        reason: Option<String>,
    },
    CreateUser {
        username: String,
        display_name: String,
        password_hash: String,
    },
    SetSuspended {
        user_id: i64,
        suspended: bool,
    },
    CreateRole {
        name: String,
        scopes: BTreeSet<String>,
    },
    DeleteRole {
        role_id: i64,
    },
    AddScope {
        role_id: i64,
        scope: String,
    },
    RemoveScope {
        role_id: i64,
        scope: String,
    },
    /// Assign or unassign a role to a user, or a user or role to a group.
    Link {
        table: LinkTable,
        a: i64,
        b: i64,
        present: bool,
    },
    CreateGroup {
        name: String,
    },
    DeleteGroup {
        group_id: i64,
    },
}

/// What an admin change answers with.
#[derive(Debug)]
pub(crate) enum AdminOutput {
    /// How many sessions the change ended on purpose.
    Ended(u64),
    User(AdminUser),
    Role(Role),
    Group(Group),
    Done,
}

/// What `ended` ends, counted by the server: how many distinct users and sessions, and
/// whether the acting administrator is among the users (the preview of an admin change).
fn impact_of(ended: &[Ended], actor: i64) -> ImpactPreview {
    let sessions: HashSet<&str> = ended.iter().map(|e| e.session_id.as_str()).collect();
    let users: HashSet<i64> = ended.iter().map(|e| e.user_id).collect();
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    ImpactPreview {
        dry_run: true,
        users: count(users.len()),
        sessions: count(sessions.len()),
        tabs: 0,
        includes_you: users.contains(&actor),
    }
}

/// What ending one tab did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TabEnd {
    /// Previewed only; whether the tab belongs to the acting administrator's session.
    Preview {
        own_session: bool,
    },
    Ended,
}

/// A count for the wire.
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn not_found(what: &str) -> AppError {
    AppError::NotFound(format!("No such {what}."))
}

/// Maps a unique-constraint failure to `409`, anything else to `500`.
fn conflict_or(e: sqlx::Error, what: &str) -> AppError {
    if sql::is_constraint(&e) {
        AppError::Conflict(format!("A {what} with this name already exists."))
    } else {
        e.into()
    }
}

async fn require_user(tx: &mut Tx<'_>, id: i64) -> Result<sql::UserRow, AppError> {
    sql::user_by_id(tx.conn(), id)
        .await?
        .ok_or_else(|| not_found("user"))
}

async fn require_role(tx: &mut Tx<'_>, id: i64) -> Result<Role, AppError> {
    sql::role(tx.conn(), id)
        .await?
        .ok_or_else(|| not_found("role"))
}

async fn require_group(tx: &mut Tx<'_>, id: i64) -> Result<Group, AppError> {
    sql::group(tx.conn(), id)
        .await?
        .ok_or_else(|| not_found("group"))
}

async fn admin_user(tx: &mut Tx<'_>, id: i64) -> Result<AdminUser, AppError> {
    let user = require_user(tx, id).await?;
    Ok(sql::admin_user(tx.conn(), &user).await?)
}

/// Records one admin action in the change's transaction.
async fn audit(
    tx: &mut Tx<'_>,
    actor: i64,
    kind: AuditKind,
    session_id: Option<&str>,
    detail: serde_json::Value,
) -> Result<(), AppError> {
    tx.audit(&NewAudit {
        actor_user_id: Some(actor),
        kind,
        session_id,
        tab_id: None,
        detail,
    })
    .await
}

/// The signed-in users whose effective scopes or suspension `change` may alter (read
/// before it runs: deletions cascade). Only they are compared before and after, so an
/// admin change costs what it touches, not what is signed in.
async fn touched_users(tx: &mut Tx<'_>, change: &AdminChange) -> Result<Vec<i64>, AppError> {
    match change {
        AdminChange::EndSession { .. }
        | AdminChange::EndUserSessions { .. }
        | AdminChange::EndSessions { .. }
        | AdminChange::CreateUser { .. }
        | AdminChange::CreateRole { .. }
        | AdminChange::CreateGroup { .. } => Ok(Vec::new()),
        AdminChange::SetSuspended { user_id, .. } => signed_in(tx, *user_id).await,
        AdminChange::Link { table, a, b, .. } => match table {
            LinkTable::UserRoles => signed_in(tx, *a).await,
            LinkTable::GroupMembers => signed_in(tx, *b).await,
            LinkTable::GroupRoles => Ok(sql::signed_in_members_of_group(tx.conn(), *a).await?),
        },
        AdminChange::DeleteGroup { group_id } => {
            Ok(sql::signed_in_members_of_group(tx.conn(), *group_id).await?)
        }
        AdminChange::DeleteRole { role_id }
        | AdminChange::AddScope { role_id, .. }
        | AdminChange::RemoveScope { role_id, .. } => {
            Ok(sql::signed_in_holders_of_role(tx.conn(), *role_id).await?)
        }
    }
}

/// `[user_id]` when the user has a live session, else nobody.
async fn signed_in(tx: &mut Tx<'_>, user_id: i64) -> Result<Vec<i64>, AppError> {
    let live = sql::is_signed_in(tx.conn(), user_id).await?;
    Ok(if live { vec![user_id] } else { Vec::new() })
}

/// Carries out `change` in `tx` (the privilege rule runs afterwards).
async fn apply(tx: &mut Tx<'_>, actor: i64, change: AdminChange) -> Result<AdminOutput, AppError> {
    Ok(match change {
        AdminChange::EndSession { session_id, reason } => {
            let session = sql::session_by_id(tx.conn(), &session_id)
                .await?
                .filter(|s| s.ended_at.is_none())
                .ok_or_else(|| not_found("live session"))?;
            audit(
                tx,
                actor,
                AuditKind::AdminSessionTerminated,
                Some(&session.id),
                json!({ "user_id": session.user_id, "reason": reason }),
            )
            .await?;
            let ended = tx
                .end_sessions(
                    Sessions::One(&session.id),
                    Reason::RemoteTerminated,
                    Some(actor),
                )
                .await?;
            AdminOutput::Ended(count(ended.len()))
        }
        AdminChange::EndUserSessions { user_id } => {
            require_user(tx, user_id).await?;
            let n = tx
                .end_sessions(
                    Sessions::OfUser(user_id),
                    Reason::RemoteTerminated,
                    Some(actor),
                )
                .await?
                .len();
            let n = count(n);
            audit(
                tx,
                actor,
                AuditKind::AdminUserSessionsTerminated,
                None,
                json!({ "user_id": user_id, "terminated": n }),
            )
            .await?;
            AdminOutput::Ended(n)
        }
        AdminChange::EndSessions { target, reason } => {
            let (which, mut detail) = match target {
                TerminateTarget::User(user_id) => {
                    require_user(tx, user_id).await?;
                    (
                        Sessions::OfUser(user_id),
                        json!({ "target": "user", "user_id": user_id }),
                    )
                }
                TerminateTarget::Role(role_id) => {
                    let role = require_role(tx, role_id).await?;
                    (
                        Sessions::OfRole(role_id),
                        json!({ "target": "role", "role_id": role_id, "role": role.name }),
                    )
                }
                TerminateTarget::EveryoneElse => (
                    Sessions::AllBut(actor),
                    json!({ "target": "everyone_else" }),
                ),
            };
            let n = tx
                .end_sessions(which, Reason::RemoteTerminated, Some(actor))
                .await?
                .len();
            let n = count(n);
            detail["terminated"] = json!(n);
            detail["reason"] = json!(reason);
            audit(tx, actor, AuditKind::AdminSessionsTerminated, None, detail).await?;
            AdminOutput::Ended(n)
        }
        AdminChange::CreateUser {
            username,
            display_name,
            password_hash,
        } => {
            let now = tx.now;
            let id = sql::insert_user(tx.conn(), &username, &display_name, &password_hash, now)
                .await
                .map_err(|e| conflict_or(e, "user"))?;
            audit(
                tx,
                actor,
                AuditKind::AdminUserCreated,
                None,
                json!({ "user_id": id, "username": username }),
            )
            .await?;
            AdminOutput::User(admin_user(tx, id).await?)
        }
        AdminChange::SetSuspended { user_id, suspended } => {
            require_user(tx, user_id).await?;
            sql::set_suspended(tx.conn(), user_id, suspended).await?;
            let kind = if suspended {
                AuditKind::AdminUserSuspended
            } else {
                AuditKind::AdminUserUnsuspended
            };
            audit(tx, actor, kind, None, json!({ "user_id": user_id })).await?;
            AdminOutput::User(admin_user(tx, user_id).await?)
        }
        AdminChange::CreateRole { name, scopes } => {
            let id = sql::insert_role(tx.conn(), &name, &scopes)
                .await
                .map_err(|e| conflict_or(e, "role"))?;
            audit(
                tx,
                actor,
                AuditKind::AdminRoleCreated,
                None,
                json!({ "role_id": id, "name": name, "scopes": scopes }),
            )
            .await?;
            AdminOutput::Role(require_role(tx, id).await?)
        }
        AdminChange::DeleteRole { role_id } => {
            let role = require_role(tx, role_id).await?;
            sql::delete_role(tx.conn(), role_id).await?;
            audit(
                tx,
                actor,
                AuditKind::AdminRoleDeleted,
                None,
                json!({ "role_id": role_id, "name": role.name }),
            )
            .await?;
            AdminOutput::Done
        }
        AdminChange::AddScope { role_id, scope } => {
            require_role(tx, role_id).await?;
            if sql::add_scope(tx.conn(), role_id, &scope).await? {
                audit(
                    tx,
                    actor,
                    AuditKind::AdminRoleScopeAdded,
                    None,
                    json!({ "role_id": role_id, "scope": scope }),
                )
                .await?;
            }
            AdminOutput::Role(require_role(tx, role_id).await?)
        }
        AdminChange::RemoveScope { role_id, scope } => {
            require_role(tx, role_id).await?;
            if sql::remove_scope(tx.conn(), role_id, &scope).await? {
                audit(
                    tx,
                    actor,
                    AuditKind::AdminRoleScopeRemoved,
                    None,
                    json!({ "role_id": role_id, "scope": scope }),
                )
                .await?;
            }
            AdminOutput::Role(require_role(tx, role_id).await?)
        }
        AdminChange::Link {
            table,
            a,
            b,
            present,
        } => {
            let (kind, detail) = match table {
                LinkTable::UserRoles => {
                    require_user(tx, a).await?;
                    require_role(tx, b).await?;
                    let kind = if present {
                        AuditKind::AdminUserRoleAssigned
                    } else {
                        AuditKind::AdminUserRoleUnassigned
                    };
                    (kind, json!({ "user_id": a, "role_id": b }))
                }
                LinkTable::GroupMembers => {
                    require_group(tx, a).await?;
                    require_user(tx, b).await?;
                    let kind = if present {
                        AuditKind::AdminGroupMemberAdded
                    } else {
                        AuditKind::AdminGroupMemberRemoved
                    };
                    (kind, json!({ "group_id": a, "user_id": b }))
                }
                LinkTable::GroupRoles => {
                    require_group(tx, a).await?;
                    require_role(tx, b).await?;
                    let kind = if present {
                        AuditKind::AdminGroupRoleAssigned
                    } else {
                        AuditKind::AdminGroupRoleUnassigned
                    };
                    (kind, json!({ "group_id": a, "role_id": b }))
                }
            };
            if sql::link(tx.conn(), table, a, b, present).await? {
                audit(tx, actor, kind, None, detail).await?;
            }
            AdminOutput::Done
        }
        AdminChange::CreateGroup { name } => {
            let id = sql::insert_group(tx.conn(), &name)
                .await
                .map_err(|e| conflict_or(e, "group"))?;
            audit(
                tx,
                actor,
                AuditKind::AdminGroupCreated,
                None,
                json!({ "group_id": id, "name": name }),
            )
            .await?;
            AdminOutput::Group(require_group(tx, id).await?)
        }
        AdminChange::DeleteGroup { group_id } => {
            let group = require_group(tx, group_id).await?;
            sql::delete_group(tx.conn(), group_id).await?;
            audit(
                tx,
                actor,
                AuditKind::AdminGroupDeleted,
                None,
                json!({ "group_id": group_id, "name": group.name }),
            )
            .await?;
            AdminOutput::Done
        }
    })
}

impl Store {
    /// Runs one admin change in a transaction, then recomputes the privilege of every
    /// user with a live session and applies the product rule:
    /// - suspended: every session ends with `suspended`;
    /// - at least one scope of the user's effective set removed: every session ends with
    ///   `role_changed` (a downgrade, even one that leaves other scopes);
    /// - scopes only added: nothing ends, views are pushed (and a user who just became
    ///   privileged is asked for recording consent when privileged sessions are recorded).
    ///
    /// A change that would leave no active (not suspended) user holding `admin:manage`
    /// is refused with `409 conflict` and rolled back, whichever path it takes.
    ///
    /// Diffing before/after over all signed-in users, rather than reasoning per action,
    /// covers every path (direct role, group membership, group role, scope removal,
    /// deletions) with one piece of code.
    pub async fn admin_change(
        &self,
        actor: i64,
        change: AdminChange,
    ) -> Result<AdminOutput, AppError> {
        let (tx, output) = self.run_admin_change(actor, change).await?;
        tx.commit().await?;
        Ok(output)
    }

    /// Runs the change exactly like [`Store::admin_change`] (the same checks, the same
    /// refusals) and rolls it back: how many sessions of how many users it would end.
    /// Nothing is stored, audited or pushed.
    pub async fn admin_preview(
        &self,
        actor: i64,
        change: AdminChange,
    ) -> Result<ImpactPreview, AppError> {
        let (tx, _) = self.run_admin_change(actor, change).await?;
        // Dropping `tx` rolls the change back and pushes nothing.
        Ok(impact_of(&tx.effects.ended, actor))
    }

    async fn run_admin_change(
        &self,
        actor: i64,
        change: AdminChange,
    ) -> Result<(Tx<'_>, AdminOutput), AppError> {
        let mut tx = self.begin().await?;
        let users = touched_users(&mut tx, &change).await?;
        let before = sql::privileges(tx.conn(), &users).await?;
        let administrators_before = sql::active_administrators(tx.conn()).await?;
        let output = apply(&mut tx, actor, change).await?;
        if administrators_before > 0 && sql::active_administrators(tx.conn()).await? == 0 {
            // Dropping `tx` rolls the change back.
            return Err(AppError::Conflict(
                "Refused: after this change no active user would hold admin:manage, so \
                 nobody could administer users, roles or groups any more. Give another \
                 active user admin:manage first."
                    .into(),
            ));
        }
        let after = sql::privileges(tx.conn(), &users).await?;
        for user_id in users {
            let (Some((scopes_before, _)), Some((scopes_after, suspended))) =
                (before.get(&user_id), after.get(&user_id))
            else {
                continue;
            };
            let end_reason = if *suspended {
                Some(Reason::Suspended)
            } else if !scopes_before.is_subset(scopes_after) {
                Some(Reason::RoleChanged)
            } else {
                None
            };
            if let Some(reason) = end_reason {
                tx.end_sessions(Sessions::OfUser(user_id), reason, Some(actor))
                    .await?;
            } else if scopes_before != scopes_after {
                if scopes_before.is_empty() {
                    self.newly_privileged(&mut tx, user_id).await?;
                }
                // The stored privilege and deadlines follow, in the same transaction.
                let backend = tx.backend();
                let privileged = !scopes_after.is_empty();
                sql::set_user_privilege(tx.conn(), backend, &self.policy, user_id, privileged)
                    .await?;
                tx.effects.changed_users.push(user_id);
            }
        }
        Ok((tx, output))
    }

    /// Ends one open tab of a live session on its own (or previews it): the session and
    /// its other tabs continue, so no privilege changes. The tab is closed for good and
    /// its streams hear `tab_ended` after the commit.
    pub async fn end_tab(
        &self,
        actor: i64,
        actor_session: &str,
        session_id: &str,
        tab_id: &str,
        reason: Option<String>,
        dry_run: bool,
    ) -> Result<TabEnd, AppError> {
        let mut tx = self.begin().await?;
        let session = sql::session_by_id(tx.conn(), session_id)
            .await?
            .filter(|s| s.ended_at.is_none())
            .ok_or_else(|| not_found("live session"))?;
        if !sql::tab_is_open(tx.conn(), &session.id, tab_id).await? {
            return Err(not_found("open tab"));
        }
        if dry_run {
            return Ok(TabEnd::Preview {
                own_session: session.id == actor_session,
            });
        }
        let now = tx.now;
        sql::end_tab(tx.conn(), &session.id, tab_id, actor, now).await?;
        tx.audit(&NewAudit {
            actor_user_id: Some(actor),
            kind: AuditKind::AdminTabTerminated,
            session_id: Some(&session.id),
            tab_id: Some(tab_id),
            detail: json!({ "user_id": session.user_id, "reason": reason }),
        })
        .await?;
        tx.effects
            .tabs_ended
            .push((session.id.clone(), tab_id.to_owned()));
        tx.commit().await?;
        Ok(TabEnd::Ended)
    }
}
