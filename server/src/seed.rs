//! The demo accounts of the product documentation, created when the users table is empty.

use std::collections::BTreeSet;

use crate::error::AppError;
use crate::state::Inner;
use crate::store::sql::{self, LinkTable, NewAudit};

/// Seeds admin (Administrator role directly: every admin scope, recordings included), operator (through the
/// Operators group: live sessions and ending them) and viewer (no roles). Runs only on an
/// empty users table so that a restart never resurrects accounts or roles an
/// administrator changed; stores seeded before the scopes were split get the new admin
/// scopes from migration 0003 instead.
pub(crate) async fn seed_demo(inner: &Inner) -> Result<(), AppError> {
    // Hash outside the transaction: default argon2 parameters take tens of milliseconds each.
    if inner.store.users_exist().await? {
        return Ok(());
    }
    let admin_hash = inner.passwords.hash("admin-demo-pass")?;
    let operator_hash = inner.passwords.hash("operator-demo-pass")?;
    let viewer_hash = inner.passwords.hash("viewer-demo-pass")?;
    let mut tx = inner.store.begin().await?;
    let now = tx.now;
    if sql::count_users(tx.conn()).await? > 0 {
        return Ok(());
    }
    let scopes = |list: &[&str]| {
        list.iter()
            .map(|s| (*s).to_owned())
            .collect::<BTreeSet<_>>()
    };
    let administrator = sql::insert_role(
        tx.conn(),
        "Administrator",
        &scopes(&[
            "admin:manage",
            "audit:read",
            "console:access",
            "recordings:delete",
            "recordings:read",
            "sessions:terminate",
        ]),
    )
    .await?;
    let operator_role = sql::insert_role(
        tx.conn(),
        "Operator",
        &scopes(&["console:access", "sessions:terminate"]),
    )
    .await?;
    let operators = sql::insert_group(tx.conn(), "Operators").await?;
    sql::link(
        tx.conn(),
        LinkTable::GroupRoles,
        operators,
        operator_role,
        true,
    )
    .await?;

    let admin = sql::insert_user(tx.conn(), "admin", "Ada Admin", &admin_hash, now).await?;
    sql::link(tx.conn(), LinkTable::UserRoles, admin, administrator, true).await?;
    let operator =
        sql::insert_user(tx.conn(), "operator", "Otto Operator", &operator_hash, now).await?;
    sql::link(
        tx.conn(),
        LinkTable::GroupMembers,
        operators,
        operator,
        true,
    )
    .await?;
    sql::insert_user(tx.conn(), "viewer", "Vera Viewer", &viewer_hash, now).await?;
    tx.audit(&NewAudit {
        detail: serde_json::json!({ "users": ["admin", "operator", "viewer"] }),
        ..NewAudit::of(session_guard_contract::AuditKind::Seeded)
    })
    .await?;
    tx.commit().await?;
    Ok(())
}
