//! Every SQL statement of the store, as async functions over one connection.
//!
//! A function takes `&mut Conn`: a pooled connection for reads, or the connection of a
//! write transaction (`&mut *tx`), so the same helpers serve both. The text is shared by
//! both backends (`$1` parameters, `RETURNING`, `ON CONFLICT`, integer flags); the few
//! places where SQLite and PostgreSQL differ take a [`Backend`] fragment.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use serde_json::Value;
use session_guard_contract::admin::{AdminTab, AdminUser, AuditEntry, EndedSession, Group, Role};
use session_guard_contract::{AuditKind, ConsentState, ServerTime};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

pub mod recording;

use super::{Backend, Sessions};
use crate::error::{AppError, Reason};
use crate::state::Policy;

/// One connection of either backend.
pub(crate) type Conn = AnyConnection;

type Result<T> = std::result::Result<T, sqlx::Error>;

/// True when a unique constraint was violated, so callers can answer `409`.
pub fn is_constraint(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// One user row, with the password hash for login.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub suspended: bool,
}

fn user_from_row(r: &AnyRow) -> Result<UserRow> {
    Ok(UserRow {
        id: r.try_get(0)?,
        username: r.try_get(1)?,
        display_name: r.try_get(2)?,
        password_hash: r.try_get(3)?,
        suspended: r.try_get::<i64, _>(4)? != 0,
    })
}

const USER_COLUMNS: &str = "id, username, display_name, password_hash, suspended";

/// Usernames are unique without regard to case.
pub async fn user_by_username(c: &mut Conn, username: &str) -> Result<Option<UserRow>> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower($1)"
    ))
    .bind(username)
    .fetch_optional(&mut *c)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

pub async fn user_by_id(c: &mut Conn, id: i64) -> Result<Option<UserRow>> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// The stored password hash of the user at `index` in id order (the dummy's model).
pub async fn password_hash_at(c: &mut Conn, index: u64) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT password_hash FROM users ORDER BY id LIMIT 1 OFFSET $1")
        .bind(i64::try_from(index).unwrap_or(0))
        .fetch_optional(&mut *c)
        .await
}

pub async fn set_password_hash(c: &mut Conn, user_id: i64, hash: &str) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(user_id)
        .bind(hash)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn count_users(c: &mut Conn) -> Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *c)
        .await
}

pub async fn insert_user(
    c: &mut Conn,
    username: &str,
    display_name: &str,
    password_hash: &str,
    now: i64,
) -> Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO users (username, display_name, password_hash, created_at)
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(username)
    .bind(display_name)
    .bind(password_hash)
    .bind(now)
    .fetch_one(&mut *c)
    .await
}

pub async fn set_suspended(c: &mut Conn, user_id: i64, suspended: bool) -> Result<()> {
    sqlx::query("UPDATE users SET suspended = $2 WHERE id = $1")
        .bind(user_id)
        .bind(i64::from(suspended))
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Every scope the user holds through a role assigned directly or through a group.
pub async fn user_scopes(c: &mut Conn, user_id: i64) -> Result<BTreeSet<String>> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT rs.scope FROM user_roles ur
             JOIN role_scopes rs ON rs.role_id = ur.role_id
             WHERE ur.user_id = $1
         UNION
         SELECT rs.scope FROM group_members gm
             JOIN group_roles gr ON gr.group_id = gm.group_id
             JOIN role_scopes rs ON rs.role_id = gr.role_id
             WHERE gm.user_id = $1",
    )
    .bind(user_id)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.into_iter().collect())
}

async fn ids(c: &mut Conn, sql: &str, id: i64) -> Result<Vec<i64>> {
    sqlx::query_scalar(sql).bind(id).fetch_all(&mut *c).await
}

pub async fn admin_user(c: &mut Conn, user: &UserRow) -> Result<AdminUser> {
    Ok(AdminUser {
        id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        suspended: user.suspended,
        privileged: !user_scopes(c, user.id).await?.is_empty(),
        roles: ids(
            c,
            "SELECT role_id FROM user_roles WHERE user_id = $1 ORDER BY role_id",
            user.id,
        )
        .await?,
        groups: ids(
            c,
            "SELECT group_id FROM group_members WHERE user_id = $1 ORDER BY group_id",
            user.id,
        )
        .await?,
    })
}

pub async fn all_users(c: &mut Conn) -> Result<Vec<UserRow>> {
    let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(user_from_row).collect()
}

pub async fn role(c: &mut Conn, id: i64) -> Result<Option<Role>> {
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM roles WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    let Some(name) = name else { return Ok(None) };
    let scopes =
        sqlx::query_scalar("SELECT scope FROM role_scopes WHERE role_id = $1 ORDER BY scope")
            .bind(id)
            .fetch_all(&mut *c)
            .await?;
    Ok(Some(Role { id, name, scopes }))
}

pub async fn all_roles(c: &mut Conn) -> Result<Vec<Role>> {
    let role_ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM roles ORDER BY id")
        .fetch_all(&mut *c)
        .await?;
    let mut out = Vec::with_capacity(role_ids.len());
    for id in role_ids {
        if let Some(role) = role(c, id).await? {
            out.push(role);
        }
    }
    Ok(out)
}

pub async fn insert_role(c: &mut Conn, name: &str, scopes: &BTreeSet<String>) -> Result<i64> {
    let id: i64 = sqlx::query_scalar("INSERT INTO roles (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(&mut *c)
        .await?;
    for scope in scopes {
        add_scope(c, id, scope).await?;
    }
    Ok(id)
}

pub async fn delete_role(c: &mut Conn, id: i64) -> Result<bool> {
    let done = sqlx::query("DELETE FROM roles WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn add_scope(c: &mut Conn, role_id: i64, scope: &str) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO role_scopes (role_id, scope) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(role_id)
    .bind(scope)
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn remove_scope(c: &mut Conn, role_id: i64, scope: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM role_scopes WHERE role_id = $1 AND scope = $2")
        .bind(role_id)
        .bind(scope)
        .execute(&mut *c)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Inserts or deletes one row of a two-column link table; returns whether anything changed.
pub async fn link(c: &mut Conn, table: LinkTable, a: i64, b: i64, present: bool) -> Result<bool> {
    let (name, col_a, col_b) = table.columns();
    let sql = if present {
        format!("INSERT INTO {name} ({col_a}, {col_b}) VALUES ($1, $2) ON CONFLICT DO NOTHING")
    } else {
        format!("DELETE FROM {name} WHERE {col_a} = $1 AND {col_b} = $2")
    };
    let done = sqlx::query(&sql).bind(a).bind(b).execute(&mut *c).await?;
    Ok(done.rows_affected() > 0)
}

/// The link tables of the permission model (fixed names, never user input).
#[derive(Debug, Clone, Copy)]
pub enum LinkTable {
    /// `(user_id, role_id)`.
    UserRoles,
    /// `(group_id, user_id)`.
    GroupMembers,
    /// `(group_id, role_id)`.
    GroupRoles,
}

impl LinkTable {
    fn columns(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::UserRoles => ("user_roles", "user_id", "role_id"),
            Self::GroupMembers => ("group_members", "group_id", "user_id"),
            Self::GroupRoles => ("group_roles", "group_id", "role_id"),
        }
    }
}

pub async fn group(c: &mut Conn, id: i64) -> Result<Option<Group>> {
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM access_groups WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    let Some(name) = name else { return Ok(None) };
    Ok(Some(Group {
        id,
        name,
        members: ids(
            c,
            "SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id",
            id,
        )
        .await?,
        roles: ids(
            c,
            "SELECT role_id FROM group_roles WHERE group_id = $1 ORDER BY role_id",
            id,
        )
        .await?,
    }))
}

pub async fn all_groups(c: &mut Conn) -> Result<Vec<Group>> {
    let group_ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM access_groups ORDER BY id")
        .fetch_all(&mut *c)
        .await?;
    let mut out = Vec::with_capacity(group_ids.len());
    for id in group_ids {
        if let Some(g) = group(c, id).await? {
            out.push(g);
        }
    }
    Ok(out)
}

pub async fn insert_group(c: &mut Conn, name: &str) -> Result<i64> {
    sqlx::query_scalar("INSERT INTO access_groups (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(&mut *c)
        .await
}

pub async fn delete_group(c: &mut Conn, id: i64) -> Result<bool> {
    let done = sqlx::query("DELETE FROM access_groups WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// One session row. `ended_at`/`end_reason` stay after the end so that a later request
/// with the old cookie learns why (`401 {reason}`), even across a restart.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub user_id: i64,
    pub issued_at: i64,
    pub expires_at: i64,
    pub last_activity_at: i64,
    pub recording_required: bool,
    pub consent: ConsentState,
    pub ended_at: Option<i64>,
    pub end_reason: Option<Reason>,
}

/// A consent state read back; only the contract's values are ever written, so anything
/// else is a damaged row, and asking for consent again fails closed.
fn consent_from_db(stored: &str) -> ConsentState {
    ConsentState::from_wire(stored).unwrap_or(ConsentState::Pending)
}

const SESSION_COLUMNS: &str = "id, user_id, issued_at, expires_at, last_activity_at, \
                               recording_required, consent, ended_at, end_reason";

fn session_from_row(r: &AnyRow) -> Result<SessionRow> {
    Ok(SessionRow {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        issued_at: r.try_get(2)?,
        expires_at: r.try_get(3)?,
        last_activity_at: r.try_get(4)?,
        recording_required: r.try_get::<i64, _>(5)? != 0,
        consent: consent_from_db(&r.try_get::<String, _>(6)?),
        ended_at: r.try_get(7)?,
        end_reason: r
            .try_get::<Option<String>, _>(8)?
            .map(|name| Reason::from_wire(&name)),
    })
}

/// Where a new session was started from (address, user agent of the sign-in).
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    pub client_addr: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// Stores a new session with its privilege, its next deadline and where it was started
/// from.
pub async fn insert_session(
    c: &mut Conn,
    s: &SessionRow,
    token_hash: &str,
    (privileged, next_deadline): (bool, i64),
    origin: Origin<'_>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, token_hash, user_id, issued_at, expires_at, last_activity_at,
                               recording_required, consent, client_addr, user_agent,
                               privileged, next_deadline)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&s.id)
    .bind(token_hash)
    .bind(s.user_id)
    .bind(s.issued_at)
    .bind(s.expires_at)
    .bind(s.last_activity_at)
    .bind(i64::from(s.recording_required))
    .bind(s.consent.as_str())
    .bind(origin.client_addr)
    .bind(origin.user_agent)
    .bind(i64::from(privileged))
    .bind(next_deadline)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn session_by_token_hash(c: &mut Conn, hash: &str) -> Result<Option<SessionRow>> {
    let row = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = $1"
    ))
    .bind(hash)
    .fetch_optional(&mut *c)
    .await?;
    row.as_ref().map(session_from_row).transpose()
}

pub async fn session_by_id(c: &mut Conn, id: &str) -> Result<Option<SessionRow>> {
    let row = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *c)
    .await?;
    row.as_ref().map(session_from_row).transpose()
}

/// A session by its cookie's secret hash, with its user (`None`: the user is gone) and
/// the user's scopes: everything authenticating a request needs, in one statement (one
/// row per scope the user holds through a role, directly or through a group).
pub async fn session_user_and_scopes_by_token_hash(
    c: &mut Conn,
    hash: &str,
) -> Result<Option<(SessionRow, Option<UserRow>, BTreeSet<String>)>> {
    let rows = sqlx::query(
        "SELECT s.id, s.user_id, s.issued_at, s.expires_at, s.last_activity_at,
                s.recording_required, s.consent, s.ended_at, s.end_reason,
                u.id, u.username, u.display_name, u.password_hash, u.suspended, rs.scope
         FROM sessions s
              LEFT JOIN users u ON u.id = s.user_id
              LEFT JOIN role_scopes rs ON rs.role_id IN (
                  SELECT ur.role_id FROM user_roles ur WHERE ur.user_id = s.user_id
                  UNION
                  SELECT gr.role_id FROM group_members gm
                      JOIN group_roles gr ON gr.group_id = gm.group_id
                      WHERE gm.user_id = s.user_id)
         WHERE s.token_hash = $1",
    )
    .bind(hash)
    .fetch_all(&mut *c)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let session = session_from_row(first)?;
    let user = match first.try_get::<Option<i64>, _>(9)? {
        Some(id) => Some(UserRow {
            id,
            username: first.try_get(10)?,
            display_name: first.try_get(11)?,
            password_hash: first.try_get(12)?,
            suspended: first.try_get::<i64, _>(13)? != 0,
        }),
        None => None,
    };
    let mut scopes = BTreeSet::new();
    for row in &rows {
        if let Some(scope) = row.try_get::<Option<String>, _>(14)? {
            scopes.insert(scope);
        }
    }
    Ok(Some((session, user, scopes)))
}

/// One live session as the admin list shows it, with its user and origin.
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub session: SessionRow,
    pub username: String,
    pub display_name: String,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
}

/// Every live session in the order they started, with its user and origin (one query).
pub async fn live_sessions(c: &mut Conn, backend: Backend) -> Result<Vec<LiveSession>> {
    let order = backend.insertion_order("s");
    let rows = sqlx::query(&format!(
        "SELECT s.id, s.user_id, s.issued_at, s.expires_at, s.last_activity_at,
                s.recording_required, s.consent, s.ended_at, s.end_reason,
                COALESCE(u.username, ''), COALESCE(u.display_name, ''),
                s.client_addr, s.user_agent
         FROM sessions s LEFT JOIN users u ON u.id = s.user_id
         WHERE s.ended_at IS NULL ORDER BY s.issued_at, {order}"
    ))
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LiveSession {
                session: session_from_row(r)?,
                username: r.try_get(9)?,
                display_name: r.try_get(10)?,
                client_addr: r.try_get(11)?,
                user_agent: r.try_get(12)?,
            })
        })
        .collect()
}

pub async fn live_session_ids_of_user(
    c: &mut Conn,
    backend: Backend,
    user_id: i64,
) -> Result<Vec<String>> {
    let order = backend.insertion_order("sessions");
    sqlx::query_scalar(&format!(
        "SELECT id FROM sessions WHERE user_id = $1 AND ended_at IS NULL
         ORDER BY issued_at, {order}"
    ))
    .bind(user_id)
    .fetch_all(&mut *c)
    .await
}

/// SQL for a live session's next deadline: the earliest of its absolute expiry, its idle
/// deadline (when `privileged`, an SQL expression; unknown counts as privileged, so the
/// sweep looks at the row early rather than late) and its consent deadline (while consent
/// is pending), counted from `since` (an SQL expression for the last activity). The
/// timeouts come from the configuration, never from a request, so they are part of the
/// text (which is then the same for every statement of this process).
fn next_deadline_sql(backend: Backend, policy: &Policy, since: &str, privileged: &str) -> String {
    let (idle, consent) = (policy.idle_ms, policy.consent_ms);
    backend.least(&[
        "expires_at".to_owned(),
        format!(
            "CASE WHEN COALESCE({privileged}, 1) = 1 THEN {since} + {idle} ELSE expires_at END"
        ),
        format!("CASE WHEN consent = 'pending' THEN {since} + {consent} ELSE expires_at END"),
    ])
}

/// Recomputes the next deadline of every live session from its row (at start-up: the
/// configured timeouts may have changed since the deadlines were stored).
pub async fn recompute_deadlines(c: &mut Conn, backend: Backend, policy: &Policy) -> Result<u64> {
    let next = next_deadline_sql(backend, policy, "last_activity_at", "privileged");
    let done = sqlx::query(&format!(
        "UPDATE sessions SET next_deadline = {next} WHERE ended_at IS NULL"
    ))
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected())
}

/// Stores the privilege of every live session of a user whose scopes changed, and their
/// next deadlines (the idle deadline comes or goes with the privilege).
pub async fn set_user_privilege(
    c: &mut Conn,
    backend: Backend,
    policy: &Policy,
    user_id: i64,
    privileged: bool,
) -> Result<()> {
    let next = next_deadline_sql(backend, policy, "last_activity_at", "$2");
    sqlx::query(&format!(
        "UPDATE sessions SET privileged = $2, next_deadline = {next}
         WHERE user_id = $1 AND ended_at IS NULL"
    ))
    .bind(user_id)
    .bind(i64::from(privileged))
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Stores what the sweep worked out for a live session that is not overdue after all
/// (its stored deadline was early, or not computed yet).
pub async fn set_deadline(
    c: &mut Conn,
    id: &str,
    privileged: bool,
    next_deadline: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE sessions SET privileged = $2, next_deadline = $3
         WHERE id = $1 AND ended_at IS NULL",
    )
    .bind(id)
    .bind(i64::from(privileged))
    .bind(next_deadline)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Whether any live session is due for a look by the sweep (one indexed probe).
pub async fn any_due(c: &mut Conn, now: i64) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM sessions
             WHERE ended_at IS NULL AND (next_deadline IS NULL OR next_deadline <= $1)
             LIMIT 1) due",
    )
    .bind(now)
    .fetch_one(&mut *c)
    .await?;
    Ok(n > 0)
}

/// Live sessions whose stored deadline has come (or was never computed), with their
/// stored privilege (`None`: unknown). One indexed query: its cost follows the number of
/// sessions due, not the number live or the size of any group.
pub async fn due_sessions(c: &mut Conn, now: i64) -> Result<Vec<(SessionRow, Option<bool>)>> {
    let rows = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS}, privileged FROM sessions
         WHERE ended_at IS NULL AND (next_deadline IS NULL OR next_deadline <= $1)"
    ))
    .bind(now)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            let privileged: Option<i64> = r.try_get(9)?;
            Ok((session_from_row(r)?, privileged.map(|p| p != 0)))
        })
        .collect()
}

/// Rows of audit entries one statement writes (two parameters each, under SQLite's and
/// PostgreSQL's limits on parameters with room to spare).
const AUDIT_ROWS_PER_STATEMENT: usize = 500;

/// The condition that selects `which` among the live sessions (parameters from `$4`).
fn selector_sql(which: Sessions<'_>) -> &'static str {
    match which {
        Sessions::One(_) => "id = $4",
        Sessions::Overdue { .. } => "id = $4 AND last_activity_at = $5",
        Sessions::OfUser(_) => "user_id = $4",
        Sessions::OfRole(_) => {
            "user_id IN (
                 SELECT user_id FROM user_roles WHERE role_id = $4
                 UNION
                 SELECT gm.user_id FROM group_members gm
                     JOIN group_roles gr ON gr.group_id = gm.group_id
                     WHERE gr.role_id = $4)"
        }
        Sessions::AllBut(_) => "user_id <> $4",
    }
}

/// Marks every live session `which` selects ended, in one conditional statement, and
/// answers `(session_id, user_id)` of those this call ended, in the order they started.
/// A session that had already ended keeps its first reason and is not answered (several
/// instances may race for it); with [`Sessions::Overdue`], neither is one whose last
/// activity moved since it was judged overdue (a keepalive or an answer came in between).
/// `ended_by` is the user who ended it (`None` when the server did).
pub async fn end_sessions(
    c: &mut Conn,
    backend: Backend,
    which: Sessions<'_>,
    reason: &Reason,
    ended_by: Option<i64>,
    now: i64,
) -> Result<Vec<(String, i64)>> {
    let order = backend.insertion_column();
    let sql = format!(
        "UPDATE sessions SET ended_at = $1, end_reason = $2, ended_by = $3, next_deadline = NULL
         WHERE ended_at IS NULL AND {}
         RETURNING id, user_id, issued_at, {order}",
        selector_sql(which)
    );
    let query = sqlx::query(&sql)
        .bind(now)
        .bind(reason.wire_name())
        .bind(ended_by);
    let query = match which {
        Sessions::One(id) => query.bind(id),
        Sessions::Overdue {
            id,
            last_activity_at,
        } => query.bind(id).bind(last_activity_at),
        Sessions::OfUser(user) | Sessions::AllBut(user) => query.bind(user),
        Sessions::OfRole(role) => query.bind(role),
    };
    let rows = query.fetch_all(&mut *c).await?;
    let mut ended = rows
        .iter()
        .map(|r| {
            let started: (i64, i64) = (r.try_get(2)?, r.try_get(3)?);
            Ok((started, (r.try_get(0)?, r.try_get(1)?)))
        })
        .collect::<Result<Vec<((i64, i64), (String, i64))>>>()?;
    // `RETURNING` answers in no promised order; pushes and audit entries follow the
    // sessions' start order, as the admin list does.
    ended.sort_unstable_by_key(|(started, _)| *started);
    Ok(ended.into_iter().map(|(_, session)| session).collect())
}

/// Records one `session_ended` entry per ended `(session_id, user_id)`, with the
/// request's context (see [`audit`]), in a few multi-row statements.
pub async fn audit_session_ends(
    c: &mut Conn,
    now: i64,
    actor: Option<i64>,
    reason: &Reason,
    ended: &[(String, i64)],
    acting: &Acting,
) -> Result<()> {
    let context = crate::edge::current();
    let client_addr = context.client_addr.map(|a| a.to_string());
    for chunk in ended.chunks(AUDIT_ROWS_PER_STATEMENT) {
        let mut sql = String::from(
            "INSERT INTO audit (at, actor_user_id, kind, session_id, tab_id, detail,
                                client_addr, user_agent, actor_session_id, actor_tab_id)
             VALUES ",
        );
        for row in 0..chunk.len() {
            let session = 8 + 2 * row;
            let detail = session + 1;
            if row > 0 {
                sql.push_str(", ");
            }
            // `write!` to a String cannot fail.
            let _ = write!(
                sql,
                "($1, $2, $3, ${session}, NULL, ${detail}, $4, $5, $6, $7)"
            );
        }
        let mut query = sqlx::query(&sql)
            .bind(now)
            .bind(actor)
            .bind(AuditKind::SessionEnded.as_str())
            .bind(client_addr.clone())
            .bind(context.user_agent.clone())
            .bind(acting.session_id.as_deref())
            .bind(acting.tab_id.as_deref());
        for (session_id, user_id) in chunk {
            let detail = serde_json::json!({ "reason": reason, "user_id": user_id });
            query = query.bind(session_id.as_str()).bind(detail.to_string());
        }
        query.execute(&mut *c).await?;
    }
    Ok(())
}

/// Ended sessions, most recently ended first, at most `limit`.
pub async fn ended_sessions(
    c: &mut Conn,
    backend: Backend,
    limit: i64,
) -> Result<Vec<EndedSession>> {
    let order = backend.insertion_order("s");
    let rows = sqlx::query(&format!(
        "SELECT s.id, s.user_id, u.username, u.display_name, s.issued_at, s.ended_at,
                s.end_reason, s.ended_by, e.username, s.client_addr, s.user_agent
         FROM sessions s LEFT JOIN users u ON u.id = s.user_id
              LEFT JOIN users e ON e.id = s.ended_by
         WHERE s.ended_at IS NOT NULL
         ORDER BY s.ended_at DESC, {order} DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(EndedSession {
                session_id: r.try_get(0)?,
                user_id: r.try_get(1)?,
                username: r.try_get(2)?,
                display_name: r.try_get(3)?,
                issued_at: ServerTime::from_millis(r.try_get(4)?),
                ended_at: ServerTime::from_millis(r.try_get(5)?),
                end_reason: r
                    .try_get::<Option<String>, _>(6)?
                    .map(|name| Reason::from_wire(&name)),
                ended_by_user_id: r.try_get(7)?,
                ended_by_username: r.try_get(8)?,
                client_addr: r.try_get(9)?,
                user_agent: r.try_get(10)?,
                // The handler describes it from `user_agent`.
                browser: None,
            })
        })
        .collect()
}

/// Users holding `role_id` directly or through a group, with a live session.
pub async fn signed_in_holders_of_role(c: &mut Conn, role_id: i64) -> Result<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT DISTINCT user_id FROM sessions
         WHERE ended_at IS NULL AND user_id IN (
             SELECT user_id FROM user_roles WHERE role_id = $1
             UNION
             SELECT gm.user_id FROM group_members gm
                 JOIN group_roles gr ON gr.group_id = gm.group_id
                 WHERE gr.role_id = $1)",
    )
    .bind(role_id)
    .fetch_all(&mut *c)
    .await
}

/// Members of `group_id` with a live session.
pub async fn signed_in_members_of_group(c: &mut Conn, group_id: i64) -> Result<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT DISTINCT user_id FROM sessions
         WHERE ended_at IS NULL AND user_id IN (
             SELECT user_id FROM group_members WHERE group_id = $1)",
    )
    .bind(group_id)
    .fetch_all(&mut *c)
    .await
}

/// Whether `user_id` has a live session.
pub async fn is_signed_in(c: &mut Conn, user_id: i64) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM sessions
             WHERE user_id = $1 AND ended_at IS NULL LIMIT 1) live",
    )
    .bind(user_id)
    .fetch_one(&mut *c)
    .await?;
    Ok(n > 0)
}

/// Moves the last activity forward (never back: keepalives from several tabs may arrive
/// out of order), and the next deadline with it.
pub async fn set_last_activity(
    c: &mut Conn,
    backend: Backend,
    policy: &Policy,
    id: &str,
    at: i64,
) -> Result<()> {
    // Every expression of an UPDATE reads the row as it was: the deadline counts from $2.
    let next = next_deadline_sql(backend, policy, "$2", "privileged");
    sqlx::query(&format!(
        "UPDATE sessions SET last_activity_at = $2, next_deadline = {next}
         WHERE id = $1 AND last_activity_at < $2"
    ))
    .bind(id)
    .bind(at)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// A keepalive in one statement: moves the last activity to `at` (never back: keepalives
/// from several tabs may arrive out of order) and a live session's next deadline with it,
/// and answers the row as stored (`None`: no such session).
pub async fn touch(
    c: &mut Conn,
    backend: Backend,
    policy: &Policy,
    id: &str,
    at: i64,
) -> Result<Option<SessionRow>> {
    // Every expression of an UPDATE reads the row as it was: the deadline counts from $2.
    let next = next_deadline_sql(backend, policy, "$2", "privileged");
    let row = sqlx::query(&format!(
        "UPDATE sessions SET
             next_deadline = CASE WHEN ended_at IS NULL AND last_activity_at < $2
                             THEN {next} ELSE next_deadline END,
             last_activity_at = CASE WHEN last_activity_at < $2
                                THEN $2 ELSE last_activity_at END
         WHERE id = $1
         RETURNING {SESSION_COLUMNS}"
    ))
    .bind(id)
    .bind(at)
    .fetch_optional(&mut *c)
    .await?;
    row.as_ref().map(session_from_row).transpose()
}

/// Recomputes one live session's next deadline from its row (after its consent changed).
pub async fn refresh_deadline(
    c: &mut Conn,
    backend: Backend,
    policy: &Policy,
    id: &str,
) -> Result<()> {
    let next = next_deadline_sql(backend, policy, "last_activity_at", "privileged");
    sqlx::query(&format!(
        "UPDATE sessions SET next_deadline = {next} WHERE id = $1 AND ended_at IS NULL"
    ))
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Stores an accepted recording consent; `false` when the session is no longer pending
/// (answered already, or ended).
pub async fn accept_consent(c: &mut Conn, id: &str) -> Result<bool> {
    // Conditional, so that a session ended (or answered) since the request was
    // authenticated is neither revived nor audited twice.
    let done = sqlx::query(
        "UPDATE sessions SET consent = 'accepted'
         WHERE id = $1 AND consent = 'pending' AND ended_at IS NULL",
    )
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Makes a live session that was not recorded wait for recording consent.
pub async fn require_recording(c: &mut Conn, id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE sessions SET recording_required = 1, consent = 'pending'
         WHERE id = $1 AND ended_at IS NULL AND recording_required = 0",
    )
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// How many users that are not suspended hold `admin:manage`, through a role assigned
/// directly or through a group.
pub async fn active_administrators(c: &mut Conn) -> Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM users u
         WHERE u.suspended = 0 AND u.id IN (
             SELECT ur.user_id FROM user_roles ur
                 JOIN role_scopes rs ON rs.role_id = ur.role_id
                 WHERE rs.scope = 'admin:manage'
             UNION
             SELECT gm.user_id FROM group_members gm
                 JOIN group_roles gr ON gr.group_id = gm.group_id
                 JOIN role_scopes rs ON rs.role_id = gr.role_id
                 WHERE rs.scope = 'admin:manage')",
    )
    .fetch_one(&mut *c)
    .await
}

/// Registers a tab; returns false when it was already registered. A closed tab that
/// registers again (restored from the back/forward cache) is open again, unless an
/// administrator ended it ([`tab_was_ended`] lets the caller refuse that first).
pub async fn insert_tab(
    c: &mut Conn,
    session_id: &str,
    tab_id: &str,
    opener: Option<&str>,
    now: i64,
) -> Result<bool> {
    let created = sqlx::query(
        "INSERT INTO session_tabs (session_id, tab_id, opener_tab_id, registered_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(session_id)
    .bind(tab_id)
    .bind(opener)
    .bind(now)
    .execute(&mut *c)
    .await?
    .rows_affected()
        > 0;
    if !created {
        sqlx::query(
            "UPDATE session_tabs SET closed_at = NULL
             WHERE session_id = $1 AND tab_id = $2 AND ended_by IS NULL",
        )
        .bind(session_id)
        .bind(tab_id)
        .execute(&mut *c)
        .await?;
    }
    Ok(created)
}

/// Marks an open tab closed; returns false when it is unknown or already closed.
pub async fn close_tab(c: &mut Conn, session_id: &str, tab_id: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE session_tabs SET closed_at = $3
         WHERE session_id = $1 AND tab_id = $2 AND closed_at IS NULL",
    )
    .bind(session_id)
    .bind(tab_id)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() > 0)
}

async fn tab_count(c: &mut Conn, sql: &str, session_id: &str, tab_id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(sql)
        .bind(session_id)
        .bind(tab_id)
        .fetch_one(&mut *c)
        .await?;
    Ok(n > 0)
}

/// Whether an administrator ended this tab of the session.
pub async fn tab_was_ended(c: &mut Conn, session_id: &str, tab_id: &str) -> Result<bool> {
    tab_count(
        c,
        "SELECT COUNT(*) FROM session_tabs
         WHERE session_id = $1 AND tab_id = $2 AND ended_by IS NOT NULL",
        session_id,
        tab_id,
    )
    .await
}

/// Whether the tab is registered to the session and open.
pub async fn tab_is_open(c: &mut Conn, session_id: &str, tab_id: &str) -> Result<bool> {
    tab_count(
        c,
        "SELECT COUNT(*) FROM session_tabs
         WHERE session_id = $1 AND tab_id = $2 AND closed_at IS NULL",
        session_id,
        tab_id,
    )
    .await
}

/// An administrator ends an open tab: it is closed for good and remembers who ended it.
/// Returns false when the tab is unknown or already closed.
pub async fn end_tab(
    c: &mut Conn,
    session_id: &str,
    tab_id: &str,
    actor: i64,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE session_tabs SET closed_at = $3, ended_by = $4
         WHERE session_id = $1 AND tab_id = $2 AND closed_at IS NULL",
    )
    .bind(session_id)
    .bind(tab_id)
    .bind(now)
    .bind(actor)
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The open tabs of every live session, by session id (one query for the admin list).
pub async fn open_tabs_of_live_sessions(c: &mut Conn) -> Result<HashMap<String, Vec<AdminTab>>> {
    let rows = sqlx::query(
        "SELECT t.session_id, t.tab_id, t.opener_tab_id, t.registered_at
         FROM session_tabs t JOIN sessions s ON s.id = t.session_id
         WHERE s.ended_at IS NULL AND t.closed_at IS NULL
         ORDER BY t.registered_at, t.tab_id",
    )
    .fetch_all(&mut *c)
    .await?;
    let mut out: HashMap<String, Vec<AdminTab>> = HashMap::new();
    for r in &rows {
        out.entry(r.try_get(0)?).or_default().push(AdminTab {
            tab_id: r.try_get(1)?,
            opener_tab_id: r.try_get(2)?,
            registered_at: ServerTime::from_millis(r.try_get(3)?),
        });
    }
    Ok(out)
}

/// One audit entry to record.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub actor_user_id: Option<i64>,
    pub kind: AuditKind,
    pub session_id: Option<&'a str>,
    pub tab_id: Option<&'a str>,
    pub detail: Value,
}

impl NewAudit<'_> {
    /// An entry of `kind` with nothing else filled in.
    pub fn of(kind: AuditKind) -> Self {
        Self {
            actor_user_id: None,
            kind,
            session_id: None,
            tab_id: None,
            detail: Value::Null,
        }
    }
}

/// The session and tab a request acts from, as its audit entries record them: the session
/// of the request's cookie, and the tab it names only when that tab is registered to that
/// session (so a client cannot attribute its action to another tab).
#[derive(Debug, Clone, Default)]
pub struct Acting {
    pub session_id: Option<String>,
    pub tab_id: Option<String>,
}

/// Works out the [`Acting`] of the request being served.
pub async fn acting(c: &mut Conn) -> Result<Acting> {
    let context = crate::edge::current();
    let session_id: Option<String> = match &context.secret_hash {
        Some(hash) => {
            sqlx::query_scalar("SELECT id FROM sessions WHERE token_hash = $1")
                .bind(hash.as_str())
                .fetch_optional(&mut *c)
                .await?
        }
        None => None,
    };
    let tab_id: Option<String> = match (&session_id, &context.tab_id) {
        (Some(session), Some(tab)) => {
            sqlx::query_scalar(
                "SELECT tab_id FROM session_tabs WHERE session_id = $1 AND tab_id = $2",
            )
            .bind(session.as_str())
            .bind(tab.as_str())
            .fetch_optional(&mut *c)
            .await?
        }
        _ => None,
    };
    Ok(Acting { session_id, tab_id })
}

/// Records `entry` with the request's context: client address, user agent, and the acting
/// session and tab (`acting`, see [`acting`]).
pub async fn audit(c: &mut Conn, now: i64, entry: &NewAudit<'_>, acting: &Acting) -> Result<()> {
    let detail = if entry.detail.is_null() {
        "{}".to_owned()
    } else {
        entry.detail.to_string()
    };
    let context = crate::edge::current();
    sqlx::query(
        "INSERT INTO audit (at, actor_user_id, kind, session_id, tab_id, detail,
                            client_addr, user_agent, actor_session_id, actor_tab_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(now)
    .bind(entry.actor_user_id)
    .bind(entry.kind.as_str())
    .bind(entry.session_id)
    .bind(entry.tab_id)
    .bind(detail)
    .bind(context.client_addr.map(|a| a.to_string()))
    .bind(context.user_agent.clone())
    .bind(acting.session_id.as_deref())
    .bind(acting.tab_id.as_deref())
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Which audit entries to read: newest first, strictly older than `before` (the cursor),
/// and matching every filter given.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub before: Option<i64>,
    pub kind: Option<String>,
    /// Acted, or was acted on (`detail.user_id`).
    pub user_id: Option<i64>,
    /// Concerned, or acted from.
    pub session_id: Option<String>,
    /// Inclusive lower bound on `at`.
    pub from: Option<i64>,
    /// Exclusive upper bound on `at`.
    pub to: Option<i64>,
    pub limit: i64,
}

pub async fn audit_log(c: &mut Conn, backend: Backend, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
    let subject = backend.detail_user_id_is("a.detail", "$3");
    // Every filter is a bound parameter; a missing one is NULL and matches everything.
    let rows = sqlx::query(&format!(
        "SELECT a.id, a.at, a.actor_user_id, u.username, a.kind, a.session_id, a.tab_id,
                a.detail, a.client_addr, a.user_agent, a.actor_session_id, a.actor_tab_id,
                su.username
         FROM audit a LEFT JOIN users u ON u.id = a.actor_user_id
              LEFT JOIN sessions s ON s.id = a.session_id
              LEFT JOIN users su ON su.id = s.user_id
         WHERE ($1 IS NULL OR a.id < $1)
           AND ($2 IS NULL OR a.kind = $2)
           AND ($3 IS NULL OR a.actor_user_id = $3 OR {subject})
           AND ($4 IS NULL OR a.session_id = $4 OR a.actor_session_id = $4)
           AND ($5 IS NULL OR a.at >= $5)
           AND ($6 IS NULL OR a.at < $6)
         ORDER BY a.id DESC LIMIT $7"
    ))
    .bind(f.before)
    .bind(f.kind.as_deref())
    .bind(f.user_id)
    .bind(f.session_id.as_deref())
    .bind(f.from)
    .bind(f.to)
    .bind(f.limit)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            let detail: String = r.try_get(7)?;
            let kind: String = r.try_get(4)?;
            let kind = kind
                .parse::<AuditKind>()
                .map_err(|e| sqlx::Error::Decode(e.into()))?;
            Ok(AuditEntry {
                id: r.try_get(0)?,
                at: ServerTime::from_millis(r.try_get(1)?),
                actor_user_id: r.try_get(2)?,
                actor_username: r.try_get(3)?,
                kind,
                session_id: r.try_get(5)?,
                tab_id: r.try_get(6)?,
                detail: serde_json::from_str(&detail).unwrap_or(Value::String(detail)),
                client_addr: r.try_get(8)?,
                user_agent: r.try_get(9)?,
                actor_session_id: r.try_get(10)?,
                actor_tab_id: r.try_get(11)?,
                session_username: r.try_get(12)?,
            })
        })
        .collect()
}

/// Deletes audit entries older than `cutoff` and sessions that ended before it (their
/// tabs go with them), except sessions that still hold a recorded chunk: those wait for
/// the recording retention, which audits what it deletes. Returns how many of each.
pub async fn purge_before(c: &mut Conn, cutoff: i64) -> Result<(u64, u64)> {
    let audit = sqlx::query("DELETE FROM audit WHERE at < $1")
        .bind(cutoff)
        .execute(&mut *c)
        .await?
        .rows_affected();
    let sessions = sqlx::query(
        "DELETE FROM sessions WHERE ended_at IS NOT NULL AND ended_at < $1
           AND NOT EXISTS (SELECT 1 FROM recording_chunks k WHERE k.session_id = sessions.id)",
    )
    .bind(cutoff)
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok((audit, sessions))
}

/// Scope sets and suspension of the given users, for the before/after privilege diff.
pub async fn privileges(
    c: &mut Conn,
    user_ids: &[i64],
) -> std::result::Result<HashMap<i64, (BTreeSet<String>, bool)>, AppError> {
    let mut out = HashMap::with_capacity(user_ids.len());
    for &id in user_ids {
        let suspended = user_by_id(c, id).await?.is_none_or(|u| u.suspended);
        out.insert(id, (user_scopes(c, id).await?, suspended));
    }
    Ok(out)
}
