//! Retention: audit entries and ended sessions older than `--audit-retention` are
//! deleted, and each purge that deletes anything leaves its own audit entry.

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
    pub async fn purge_expired(&self) -> Result<Purged, AppError> {
        let inner = &self.inner;
        let cutoff = inner.now().saturating_sub(inner.audit_retention_ms);
        inner.store.purge_before(cutoff).await
    }
}
