//! Retention: audit entries and ended sessions older than `--audit-retention` are
//! deleted, and each purge that deletes anything leaves its own audit entry.

use serde_json::json;

use crate::db::{self, NewAudit};
use crate::error::AppError;
use crate::state::AppState;

/// What one purge deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Audit entries deleted.
    pub audit_entries: usize,
    /// Ended sessions deleted (with their tabs).
    pub sessions: usize,
}

impl AppState {
    /// Deletes what is older than the retention, in one transaction with the
    /// `audit_purged` entry that records it (none when nothing was old enough, so an
    /// idle server does not fill its log with empty purges). The binary runs this at
    /// start-up and hourly.
    pub fn purge_expired(&self) -> Result<Purged, AppError> {
        let inner = &self.inner;
        let now = inner.now();
        let cutoff = now.saturating_sub(inner.audit_retention_ms);
        let mut conn = inner.db();
        let tx = conn.transaction()?;
        let (audit_entries, sessions) = db::purge_before(&tx, cutoff)?;
        if audit_entries + sessions > 0 {
            db::audit(
                &tx,
                now,
                &NewAudit {
                    detail: json!({
                        "before": cutoff,
                        "audit_entries": audit_entries,
                        "sessions": sessions,
                    }),
                    ..NewAudit::of(session_guard_contract::AuditKind::AuditPurged)
                },
            )?;
        }
        tx.commit()?;
        Ok(Purged {
            audit_entries,
            sessions,
        })
    }
}
