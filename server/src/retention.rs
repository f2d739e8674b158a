//! Retention: audit entries and ended sessions older than `--audit-retention`, and tab
//! recordings whose sub-session ended before `--recording-retention`, are deleted; each
//! purge that deletes anything leaves its own audit entries.

use crate::error::AppError;
use crate::state::AppState;

/// What one purge deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Audit entries deleted.
    pub audit_entries: usize,
    /// Ended sessions deleted (with their tabs).
    pub sessions: usize,
    /// Tab recordings deleted (chunks and API actions), one `recording_purged` entry each.
    pub recordings: usize,
}

impl AppState {
    /// Deletes what is older than the retentions: first the expired tab recordings, each
    /// with its `recording_purged` entry, then old audit entries and ended sessions (a
    /// session whose recording is kept longer stays until it goes), in one transaction
    /// with the `audit_purged` entry that records it (none when nothing was old enough, so
    /// an idle server does not fill its log with empty purges). The binary runs this at
    /// start-up and hourly.
    pub async fn purge_expired(&self) -> Result<Purged, AppError> {
        let inner = &self.inner;
        let now = inner.now();
        let recordings = inner
            .store
            .purge_recordings_before(now.saturating_sub(inner.recording_retention_ms))
            .await?;
        let cutoff = now.saturating_sub(inner.audit_retention_ms);
        let purged = inner.store.purge_before(cutoff).await?;
        Ok(Purged {
            recordings,
            ..purged
        })
    }
}
