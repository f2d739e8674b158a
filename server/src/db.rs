//! SQLite storage: opening, migrations and every query the handlers need.
//!
//! All functions are synchronous and take a `&Connection`: the state serialises access
//! behind one mutex, and a `Transaction` derefs to a `Connection`, so the same helpers
//! work inside the admin transactions that recompute privileges.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;
use session_guard_contract::admin::{AdminTab, AdminUser, AuditEntry, EndedSession, Group, Role};
use session_guard_contract::{AuditKind, ServerTime};

use crate::error::{AppError, Reason};

/// Ordered migrations; the index in this list plus one is the schema version.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_audit_context.sql"),
    include_str!("../migrations/0003_admin_scopes.sql"),
    include_str!("../migrations/0004_session_visibility.sql"),
    include_str!("../migrations/0005_tab_termination.sql"),
];

/// Opens (creating if needed) the database at `path`, or an in-memory one for `:memory:`,
/// and brings its schema up to date.
pub fn open(path: &str) -> Result<Connection, rusqlite::Error> {
    let mut conn = if path == ":memory:" {
        Connection::open_in_memory()?
    } else {
        Connection::open(Path::new(path))?
    };
    conn.busy_timeout(Duration::from_secs(5))?;
    // Role and group deletions rely on ON DELETE CASCADE.
    conn.pragma_update(None, "foreign_keys", true)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Applies every migration newer than the recorded schema version, each in its own
/// transaction so that a failure leaves the previous version intact.
fn migrate(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_version",
        [],
        |r| r.get(0),
    )?;
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(index).unwrap_or(i64::MAX).saturating_add(1);
        if version <= current {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            params![version],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// The schema version recorded in the database.
pub fn schema_version(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_version",
        [],
        |r| r.get(0),
    )
}

/// True when a constraint (unique name) was violated, so callers can answer `409`.
pub fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(err, _)
            if err.code == rusqlite::ErrorCode::ConstraintViolation
    )
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

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        username: r.get(1)?,
        display_name: r.get(2)?,
        password_hash: r.get(3)?,
        suspended: r.get(4)?,
    })
}

const USER_COLUMNS: &str = "id, username, display_name, password_hash, suspended";

pub fn user_by_username(conn: &Connection, username: &str) -> rusqlite::Result<Option<UserRow>> {
    conn.query_row(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"),
        params![username],
        user_from_row,
    )
    .optional()
}

pub fn user_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<UserRow>> {
    conn.query_row(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
        params![id],
        user_from_row,
    )
    .optional()
}

/// The stored password hash of the user at `index` in id order (the dummy's model).
pub fn password_hash_at(conn: &Connection, index: u64) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT password_hash FROM users ORDER BY id LIMIT 1 OFFSET ?1",
        params![i64::try_from(index).unwrap_or(0)],
        |r| r.get(0),
    )
    .optional()
}

pub fn set_password_hash(conn: &Connection, user_id: i64, hash: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE users SET password_hash = ?2 WHERE id = ?1",
        params![user_id, hash],
    )?;
    Ok(())
}

pub fn count_users(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
}

pub fn insert_user(
    conn: &Connection,
    username: &str,
    display_name: &str,
    password_hash: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO users (username, display_name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![username, display_name, password_hash, now],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn set_suspended(conn: &Connection, user_id: i64, suspended: bool) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE users SET suspended = ?2 WHERE id = ?1",
        params![user_id, suspended],
    )?;
    Ok(())
}

/// Every scope the user holds through a role assigned directly or through a group.
pub fn user_scopes(conn: &Connection, user_id: i64) -> rusqlite::Result<BTreeSet<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT rs.scope FROM user_roles ur
             JOIN role_scopes rs ON rs.role_id = ur.role_id
             WHERE ur.user_id = ?1
         UNION
         SELECT rs.scope FROM group_members gm
             JOIN group_roles gr ON gr.group_id = gm.group_id
             JOIN role_scopes rs ON rs.role_id = gr.role_id
             WHERE gm.user_id = ?1",
    )?;
    let rows = stmt.query_map(params![user_id], |r| r.get::<_, String>(0))?;
    rows.collect()
}

fn ids(conn: &Connection, sql: &str, id: i64) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params![id], |r| r.get::<_, i64>(0))?;
    rows.collect()
}

pub fn admin_user(conn: &Connection, user: &UserRow) -> rusqlite::Result<AdminUser> {
    Ok(AdminUser {
        id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        suspended: user.suspended,
        privileged: !user_scopes(conn, user.id)?.is_empty(),
        roles: ids(
            conn,
            "SELECT role_id FROM user_roles WHERE user_id = ?1 ORDER BY role_id",
            user.id,
        )?,
        groups: ids(
            conn,
            "SELECT group_id FROM group_members WHERE user_id = ?1 ORDER BY group_id",
            user.id,
        )?,
    })
}

pub fn all_users(conn: &Connection) -> rusqlite::Result<Vec<UserRow>> {
    let mut stmt = conn.prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))?;
    let rows = stmt.query_map([], user_from_row)?;
    rows.collect()
}

pub fn role(conn: &Connection, id: i64) -> rusqlite::Result<Option<Role>> {
    let name: Option<String> = conn
        .query_row("SELECT name FROM roles WHERE id = ?1", params![id], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(name) = name else { return Ok(None) };
    let mut stmt =
        conn.prepare_cached("SELECT scope FROM role_scopes WHERE role_id = ?1 ORDER BY scope")?;
    let scopes = stmt
        .query_map(params![id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(Role { id, name, scopes }))
}

pub fn all_roles(conn: &Connection) -> rusqlite::Result<Vec<Role>> {
    let role_ids: Vec<i64> = {
        let mut stmt = conn.prepare("SELECT id FROM roles ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut out = Vec::with_capacity(role_ids.len());
    for id in role_ids {
        if let Some(role) = role(conn, id)? {
            out.push(role);
        }
    }
    Ok(out)
}

pub fn insert_role(
    conn: &Connection,
    name: &str,
    scopes: &BTreeSet<String>,
) -> rusqlite::Result<i64> {
    conn.execute("INSERT INTO roles (name) VALUES (?1)", params![name])?;
    let id = conn.last_insert_rowid();
    for scope in scopes {
        add_scope(conn, id, scope)?;
    }
    Ok(id)
}

pub fn delete_role(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM roles WHERE id = ?1", params![id])? > 0)
}

pub fn add_scope(conn: &Connection, role_id: i64, scope: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "INSERT OR IGNORE INTO role_scopes (role_id, scope) VALUES (?1, ?2)",
        params![role_id, scope],
    )? > 0)
}

pub fn remove_scope(conn: &Connection, role_id: i64, scope: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "DELETE FROM role_scopes WHERE role_id = ?1 AND scope = ?2",
        params![role_id, scope],
    )? > 0)
}

/// Inserts or deletes one row of a two-column link table; returns whether anything changed.
pub fn link(
    conn: &Connection,
    table: LinkTable,
    a: i64,
    b: i64,
    present: bool,
) -> rusqlite::Result<bool> {
    let (name, col_a, col_b) = table.columns();
    let sql = if present {
        format!("INSERT OR IGNORE INTO {name} ({col_a}, {col_b}) VALUES (?1, ?2)")
    } else {
        format!("DELETE FROM {name} WHERE {col_a} = ?1 AND {col_b} = ?2")
    };
    Ok(conn.execute(&sql, params![a, b])? > 0)
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

pub fn group(conn: &Connection, id: i64) -> rusqlite::Result<Option<Group>> {
    let name: Option<String> = conn
        .query_row(
            "SELECT name FROM access_groups WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(name) = name else { return Ok(None) };
    Ok(Some(Group {
        id,
        name,
        members: ids(
            conn,
            "SELECT user_id FROM group_members WHERE group_id = ?1 ORDER BY user_id",
            id,
        )?,
        roles: ids(
            conn,
            "SELECT role_id FROM group_roles WHERE group_id = ?1 ORDER BY role_id",
            id,
        )?,
    }))
}

pub fn all_groups(conn: &Connection) -> rusqlite::Result<Vec<Group>> {
    let group_ids: Vec<i64> = {
        let mut stmt = conn.prepare("SELECT id FROM access_groups ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut out = Vec::with_capacity(group_ids.len());
    for id in group_ids {
        if let Some(g) = group(conn, id)? {
            out.push(g);
        }
    }
    Ok(out)
}

pub fn insert_group(conn: &Connection, name: &str) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO access_groups (name) VALUES (?1)",
        params![name],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn delete_group(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM access_groups WHERE id = ?1", params![id])? > 0)
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
    pub consent: String,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
}

const SESSION_COLUMNS: &str = "id, user_id, issued_at, expires_at, last_activity_at, \
                               recording_required, consent, ended_at, end_reason";

fn session_from_row(r: &Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        issued_at: r.get(2)?,
        expires_at: r.get(3)?,
        last_activity_at: r.get(4)?,
        recording_required: r.get(5)?,
        consent: r.get(6)?,
        ended_at: r.get(7)?,
        end_reason: r.get(8)?,
    })
}

pub fn insert_session(conn: &Connection, s: &SessionRow, token_hash: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO sessions (id, token_hash, user_id, issued_at, expires_at, last_activity_at,
                               recording_required, consent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            s.id,
            token_hash,
            s.user_id,
            s.issued_at,
            s.expires_at,
            s.last_activity_at,
            s.recording_required,
            s.consent
        ],
    )?;
    Ok(())
}

pub fn session_by_token_hash(
    conn: &Connection,
    hash: &str,
) -> rusqlite::Result<Option<SessionRow>> {
    conn.query_row(
        &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = ?1"),
        params![hash],
        session_from_row,
    )
    .optional()
}

pub fn session_by_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<SessionRow>> {
    conn.query_row(
        &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"),
        params![id],
        session_from_row,
    )
    .optional()
}

pub fn live_sessions(conn: &Connection) -> rusqlite::Result<Vec<SessionRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE ended_at IS NULL ORDER BY issued_at, rowid"
    ))?;
    let rows = stmt.query_map([], session_from_row)?;
    rows.collect()
}

pub fn live_session_ids_of_user(conn: &Connection, user_id: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM sessions WHERE user_id = ?1 AND ended_at IS NULL ORDER BY issued_at, rowid",
    )?;
    let rows = stmt.query_map(params![user_id], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// Users that currently hold at least one live session.
pub fn users_with_live_sessions(conn: &Connection) -> rusqlite::Result<Vec<i64>> {
    let mut stmt =
        conn.prepare_cached("SELECT DISTINCT user_id FROM sessions WHERE ended_at IS NULL")?;
    let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
    rows.collect()
}

/// Live sessions whose absolute, idle or consent deadline passed, with whether their
/// user is privileged (only privileged users have an idle timeout). A session waiting for
/// consent has `consent_ms` from its `last_activity_at`, which cannot move meanwhile.
pub fn overdue_sessions(
    conn: &Connection,
    now: i64,
    idle_ms: i64,
    consent_ms: i64,
) -> rusqlite::Result<Vec<(SessionRow, bool)>> {
    // Only privileged users have an idle deadline, so idle viewers are not re-read on
    // every sweep.
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT * FROM (
             SELECT {SESSION_COLUMNS},
                EXISTS (SELECT 1 FROM user_roles ur JOIN role_scopes rs ON rs.role_id = ur.role_id
                        WHERE ur.user_id = s.user_id)
                OR EXISTS (SELECT 1 FROM group_members gm
                        JOIN group_roles gr ON gr.group_id = gm.group_id
                        JOIN role_scopes rs ON rs.role_id = gr.role_id
                        WHERE gm.user_id = s.user_id) AS privileged
             FROM sessions s
             WHERE ended_at IS NULL
         )
         WHERE expires_at <= ?1 OR (privileged AND last_activity_at + ?2 <= ?1)
            OR (consent = 'pending' AND last_activity_at + ?3 <= ?1)"
    ))?;
    let rows = stmt.query_map(params![now, idle_ms, consent_ms], |r| {
        Ok((session_from_row(r)?, r.get::<_, bool>(9)?))
    })?;
    rows.collect()
}

/// Marks a live session ended; returns false when it had already ended (first reason wins).
/// `ended_by` is the user who ended it (`None` when the server did).
pub fn end_session(
    conn: &Connection,
    id: &str,
    reason: &Reason,
    ended_by: Option<i64>,
    now: i64,
) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE sessions SET ended_at = ?2, end_reason = ?3, ended_by = ?4
         WHERE id = ?1 AND ended_at IS NULL",
        params![id, now, reason.wire_name(), ended_by],
    )? > 0)
}

/// Records where a new session was started from (address, user agent of the sign-in).
pub fn set_session_origin(
    conn: &Connection,
    id: &str,
    client_addr: Option<&str>,
    user_agent: Option<&str>,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE sessions SET client_addr = ?2, user_agent = ?3 WHERE id = ?1",
        params![id, client_addr, user_agent],
    )?;
    Ok(())
}

/// Where a session was started from: `(client_addr, user_agent)`.
pub fn session_origin(
    conn: &Connection,
    id: &str,
) -> rusqlite::Result<(Option<String>, Option<String>)> {
    conn.query_row(
        "SELECT client_addr, user_agent FROM sessions WHERE id = ?1",
        params![id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map(Option::unwrap_or_default)
}

/// Ended sessions, most recently ended first, at most `limit`.
pub fn ended_sessions(conn: &Connection, limit: i64) -> rusqlite::Result<Vec<EndedSession>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, s.user_id, u.username, u.display_name, s.issued_at, s.ended_at,
                s.end_reason, s.ended_by, e.username, s.client_addr, s.user_agent
         FROM sessions s LEFT JOIN users u ON u.id = s.user_id
              LEFT JOIN users e ON e.id = s.ended_by
         WHERE s.ended_at IS NOT NULL
         ORDER BY s.ended_at DESC, s.rowid DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map(params![limit], |r| {
        Ok(EndedSession {
            session_id: r.get(0)?,
            user_id: r.get(1)?,
            username: r.get(2)?,
            display_name: r.get(3)?,
            issued_at: ServerTime::from_millis(r.get(4)?),
            ended_at: ServerTime::from_millis(r.get(5)?),
            end_reason: r
                .get::<_, Option<String>>(6)?
                .map(|name| Reason::from_wire(&name)),
            ended_by_user_id: r.get(7)?,
            ended_by_username: r.get(8)?,
            client_addr: r.get(9)?,
            user_agent: r.get(10)?,
            // The caller reads it from `user_agent`.
            browser: None,
        })
    })?;
    rows.collect()
}

/// Live sessions of every user holding `role_id`, directly or through a group.
pub fn live_session_ids_of_role(conn: &Connection, role_id: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM sessions
         WHERE ended_at IS NULL AND user_id IN (
             SELECT user_id FROM user_roles WHERE role_id = ?1
             UNION
             SELECT gm.user_id FROM group_members gm
                 JOIN group_roles gr ON gr.group_id = gm.group_id
                 WHERE gr.role_id = ?1)
         ORDER BY issued_at, rowid",
    )?;
    let rows = stmt.query_map(params![role_id], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// Every live session of users other than `user_id`.
pub fn live_session_ids_except_user(
    conn: &Connection,
    user_id: i64,
) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM sessions WHERE ended_at IS NULL AND user_id <> ?1
         ORDER BY issued_at, rowid",
    )?;
    let rows = stmt.query_map(params![user_id], |r| r.get::<_, String>(0))?;
    rows.collect()
}

pub fn set_last_activity(conn: &Connection, id: &str, at: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE sessions SET last_activity_at = MAX(last_activity_at, ?2) WHERE id = ?1",
        params![id, at],
    )?;
    Ok(())
}

/// Stores an accepted recording consent; `false` when the session is no longer pending
/// (answered already, or ended).
pub fn accept_consent(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    // Conditional, so that a session ended (or answered) since the request was
    // authenticated is neither revived nor audited twice.
    let changed = conn.execute(
        "UPDATE sessions SET consent = 'accepted'
         WHERE id = ?1 AND consent = 'pending' AND ended_at IS NULL",
        params![id],
    )?;
    Ok(changed == 1)
}

/// Makes a live session that was not recorded wait for recording consent.
pub fn require_recording(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE sessions SET recording_required = 1, consent = 'pending'
         WHERE id = ?1 AND ended_at IS NULL AND recording_required = 0",
        params![id],
    )?;
    Ok(())
}

/// How many users that are not suspended hold `admin:manage`, through a role assigned
/// directly or through a group.
pub fn active_administrators(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
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
        [],
        |r| r.get(0),
    )
}

/// Registers a tab; returns false when it was already registered. A closed tab that
/// registers again (restored from the back/forward cache) is open again, unless an
/// administrator ended it ([`tab_was_ended`] lets the caller refuse that first).
pub fn insert_tab(
    conn: &Connection,
    session_id: &str,
    tab_id: &str,
    opener: Option<&str>,
    now: i64,
) -> rusqlite::Result<bool> {
    let created = conn.execute(
        "INSERT OR IGNORE INTO session_tabs (session_id, tab_id, opener_tab_id, registered_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![session_id, tab_id, opener, now],
    )? > 0;
    if !created {
        conn.execute(
            "UPDATE session_tabs SET closed_at = NULL
             WHERE session_id = ?1 AND tab_id = ?2 AND ended_by IS NULL",
            params![session_id, tab_id],
        )?;
    }
    Ok(created)
}

/// Marks an open tab closed; returns false when it is unknown or already closed.
pub fn close_tab(
    conn: &Connection,
    session_id: &str,
    tab_id: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE session_tabs SET closed_at = ?3
         WHERE session_id = ?1 AND tab_id = ?2 AND closed_at IS NULL",
        params![session_id, tab_id, now],
    )? > 0)
}

/// Whether an administrator ended this tab of the session.
pub fn tab_was_ended(conn: &Connection, session_id: &str, tab_id: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM session_tabs
         WHERE session_id = ?1 AND tab_id = ?2 AND ended_by IS NOT NULL)",
        params![session_id, tab_id],
        |r| r.get(0),
    )
}

/// Whether the tab is registered to the session and open.
pub fn tab_is_open(conn: &Connection, session_id: &str, tab_id: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM session_tabs
         WHERE session_id = ?1 AND tab_id = ?2 AND closed_at IS NULL)",
        params![session_id, tab_id],
        |r| r.get(0),
    )
}

/// An administrator ends an open tab: it is closed for good and remembers who ended it.
/// Returns false when the tab is unknown or already closed.
pub fn end_tab(
    conn: &Connection,
    session_id: &str,
    tab_id: &str,
    actor: i64,
    now: i64,
) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE session_tabs SET closed_at = ?3, ended_by = ?4
         WHERE session_id = ?1 AND tab_id = ?2 AND closed_at IS NULL",
        params![session_id, tab_id, now, actor],
    )? > 0)
}

/// The open tabs of a session (closed ones drop out).
pub fn tabs(conn: &Connection, session_id: &str) -> rusqlite::Result<Vec<AdminTab>> {
    let mut stmt = conn.prepare_cached(
        "SELECT tab_id, opener_tab_id, registered_at FROM session_tabs
         WHERE session_id = ?1 AND closed_at IS NULL ORDER BY registered_at, tab_id",
    )?;
    let rows = stmt.query_map(params![session_id], |r| {
        Ok(AdminTab {
            tab_id: r.get(0)?,
            opener_tab_id: r.get(1)?,
            registered_at: ServerTime::from_millis(r.get(2)?),
        })
    })?;
    rows.collect()
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

/// Records `entry` with the request's context (client address, user agent, and the acting
/// session and tab when the request carries a session cookie; the tab only when it is
/// registered to that session, so a client cannot attribute its action to another tab).
pub fn audit(conn: &Connection, now: i64, entry: &NewAudit<'_>) -> rusqlite::Result<()> {
    let detail = if entry.detail.is_null() {
        "{}".to_owned()
    } else {
        entry.detail.to_string()
    };
    let context = crate::edge::current();
    let actor_session: Option<String> = match &context.secret_hash {
        Some(hash) => conn
            .query_row(
                "SELECT id FROM sessions WHERE token_hash = ?1",
                params![hash],
                |r| r.get(0),
            )
            .optional()?,
        None => None,
    };
    let actor_tab = match (&actor_session, &context.tab_id) {
        (Some(session), Some(tab)) => conn
            .query_row(
                "SELECT tab_id FROM session_tabs WHERE session_id = ?1 AND tab_id = ?2",
                params![session, tab],
                |r| r.get::<_, String>(0),
            )
            .optional()?,
        _ => None,
    };
    conn.execute(
        "INSERT INTO audit (at, actor_user_id, kind, session_id, tab_id, detail,
                            client_addr, user_agent, actor_session_id, actor_tab_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            now,
            entry.actor_user_id,
            entry.kind.as_str(),
            entry.session_id,
            entry.tab_id,
            detail,
            context.client_addr.map(|a| a.to_string()),
            context.user_agent,
            actor_session,
            actor_tab,
        ],
    )?;
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

pub fn audit_log(conn: &Connection, f: &AuditFilter) -> rusqlite::Result<Vec<AuditEntry>> {
    // Every filter is a bound parameter; a missing one is NULL and matches everything.
    let mut stmt = conn.prepare_cached(
        "SELECT a.id, a.at, a.actor_user_id, u.username, a.kind, a.session_id, a.tab_id,
                a.detail, a.client_addr, a.user_agent, a.actor_session_id, a.actor_tab_id,
                su.username
         FROM audit a LEFT JOIN users u ON u.id = a.actor_user_id
              LEFT JOIN sessions s ON s.id = a.session_id
              LEFT JOIN users su ON su.id = s.user_id
         WHERE (?1 IS NULL OR a.id < ?1)
           AND (?2 IS NULL OR a.kind = ?2)
           AND (?3 IS NULL OR a.actor_user_id = ?3
                OR (json_valid(a.detail) AND json_extract(a.detail, '$.user_id') = ?3))
           AND (?4 IS NULL OR a.session_id = ?4 OR a.actor_session_id = ?4)
           AND (?5 IS NULL OR a.at >= ?5)
           AND (?6 IS NULL OR a.at < ?6)
         ORDER BY a.id DESC LIMIT ?7",
    )?;
    let rows = stmt.query_map(
        params![
            f.before,
            f.kind,
            f.user_id,
            f.session_id,
            f.from,
            f.to,
            f.limit
        ],
        |r| {
            let detail: String = r.get(7)?;
            let kind: String = r.get(4)?;
            let kind = kind.parse::<AuditKind>().map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, e.into())
            })?;
            Ok(AuditEntry {
                id: r.get(0)?,
                at: ServerTime::from_millis(r.get(1)?),
                actor_user_id: r.get(2)?,
                actor_username: r.get(3)?,
                kind,
                session_id: r.get(5)?,
                tab_id: r.get(6)?,
                detail: serde_json::from_str(&detail).unwrap_or(Value::String(detail)),
                client_addr: r.get(8)?,
                user_agent: r.get(9)?,
                actor_session_id: r.get(10)?,
                actor_tab_id: r.get(11)?,
                session_username: r.get(12)?,
            })
        },
    )?;
    rows.collect()
}

/// Deletes audit entries older than `cutoff` and sessions that ended before it (their
/// tabs go with them); returns how many of each.
pub fn purge_before(conn: &Connection, cutoff: i64) -> rusqlite::Result<(usize, usize)> {
    let audit = conn.execute("DELETE FROM audit WHERE at < ?1", params![cutoff])?;
    let sessions = conn.execute(
        "DELETE FROM sessions WHERE ended_at IS NOT NULL AND ended_at < ?1",
        params![cutoff],
    )?;
    Ok((audit, sessions))
}

/// Scope sets and suspension of the given users, for the before/after privilege diff.
pub fn privileges(
    conn: &Connection,
    user_ids: &[i64],
) -> Result<HashMap<i64, (BTreeSet<String>, bool)>, AppError> {
    let mut out = HashMap::with_capacity(user_ids.len());
    for &id in user_ids {
        let suspended = user_by_id(conn, id)?.is_none_or(|u| u.suspended);
        out.insert(id, (user_scopes(conn, id)?, suspended));
    }
    Ok(out)
}
