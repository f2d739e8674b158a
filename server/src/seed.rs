//! The demo accounts of the product documentation, created when the users table is empty.

use std::collections::BTreeSet;

use crate::db::{self, LinkTable};
use crate::error::AppError;
use crate::state::Inner;

/// Seeds admin (Administrator role directly: every admin scope), operator (through the
/// Operators group: live sessions and ending them) and viewer (no roles). Runs only on an
/// empty users table so that a restart never resurrects accounts or roles an
/// administrator changed; stores seeded before the scopes were split get the new admin
/// scopes from migration 0003 instead.
pub(crate) fn seed_demo(inner: &Inner) -> Result<(), AppError> {
    // Hash outside the lock: default argon2 parameters take tens of milliseconds each.
    if db::count_users(&inner.db())? > 0 {
        return Ok(());
    }
    let admin_hash = inner.passwords.hash("admin-demo-pass")?;
    let operator_hash = inner.passwords.hash("operator-demo-pass")?;
    let viewer_hash = inner.passwords.hash("viewer-demo-pass")?;
    let now = inner.now();
    let mut conn = inner.db();
    let tx = conn.transaction()?;
    if db::count_users(&tx)? > 0 {
        return Ok(());
    }
    let scopes = |list: &[&str]| {
        list.iter()
            .map(|s| (*s).to_owned())
            .collect::<BTreeSet<_>>()
    };
    let administrator = db::insert_role(
        &tx,
        "Administrator",
        &scopes(&[
            "admin:manage",
            "audit:read",
            "console:access",
            "sessions:terminate",
        ]),
    )?;
    let operator_role = db::insert_role(
        &tx,
        "Operator",
        &scopes(&["console:access", "sessions:terminate"]),
    )?;
    let operators = db::insert_group(&tx, "Operators")?;
    db::link(&tx, LinkTable::GroupRoles, operators, operator_role, true)?;

    let admin = db::insert_user(&tx, "admin", "Ada Admin", &admin_hash, now)?;
    db::link(&tx, LinkTable::UserRoles, admin, administrator, true)?;
    let operator = db::insert_user(&tx, "operator", "Otto Operator", &operator_hash, now)?;
    db::link(&tx, LinkTable::GroupMembers, operators, operator, true)?;
    db::insert_user(&tx, "viewer", "Vera Viewer", &viewer_hash, now)?;
    db::audit(
        &tx,
        now,
        &db::NewAudit {
            detail: serde_json::json!({ "users": ["admin", "operator", "viewer"] }),
            ..db::NewAudit::of(session_guard_contract::AuditKind::Seeded)
        },
    )?;
    tx.commit()?;
    Ok(())
}
