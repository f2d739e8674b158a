//! The server's session view (contract "Session view", defined once in
//! `session-guard-contract` with its validation) and the policy the engine derives from it.

use session_guard_contract::view::clamp_warning_lead;
pub use session_guard_contract::{
    ConsentState, DurationMs, RecordingView, ServerTime, SessionView, UserView, ViewError,
};

use super::Millis;

/// Idle timeout of a privileged session whose view carries none (product default).
pub const DEFAULT_IDLE_TIMEOUT: Millis = 15 * 60_000;

/// [`clamp_warning_lead`] on plain milliseconds: a warning lead at or above the idle
/// timeout becomes half of it.
pub(crate) fn clamp_lead(lead: Millis, idle: Millis) -> Millis {
    clamp_warning_lead(DurationMs::from_millis(lead), DurationMs::from_millis(idle)).as_millis()
}

/// The timing rules the engine enforces for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Whether the user is privileged.
    pub privileged: bool,
    /// Login instant, server time.
    pub issued_at: Millis,
    /// Absolute end, server time; activity never moves it.
    pub expires_at: Millis,
    /// Idle timeout; `None` exactly when the session is not privileged.
    pub idle_timeout: Option<Millis>,
    /// Warning lead before the idle deadline, below the idle timeout.
    pub warning_lead: Millis,
    /// Minimum spacing of keepalives.
    pub keepalive_interval: Millis,
    /// Whether recording (and so consent) is required.
    pub recording_required: bool,
}

impl SessionPolicy {
    /// Derives the policy. The privileged flag alone decides the idle timeout: product rules
    /// never log non-privileged users out for idleness even if a view carries a timeout, and a
    /// privileged view without one gets [`DEFAULT_IDLE_TIMEOUT`] rather than none (fail closed).
    pub fn from_view(view: &SessionView) -> SessionPolicy {
        let idle_timeout = view.privileged.then(|| {
            view.idle_timeout_ms
                .map_or(DEFAULT_IDLE_TIMEOUT, DurationMs::as_millis)
        });
        let warning_lead = view.warning_lead_ms.as_millis();
        SessionPolicy {
            privileged: view.privileged,
            issued_at: view.issued_at.as_millis(),
            expires_at: view.expires_at.as_millis(),
            idle_timeout,
            warning_lead: idle_timeout.map_or(warning_lead, |idle| clamp_lead(warning_lead, idle)),
            keepalive_interval: view.keepalive_interval_ms.as_millis(),
            recording_required: view.recording.required,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = session_guard_contract::view::EXAMPLE_VIEW_JSON;

    fn with(field: &str, value: &str) -> String {
        let mut json: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        json[field] = serde_json::from_str(value).unwrap();
        json.to_string()
    }

    #[test]
    fn privilege_decides_the_idle_timeout() {
        let view = SessionView::from_json(&with("privileged", "false")).unwrap();
        assert_eq!(SessionPolicy::from_view(&view).idle_timeout, None);
        let view = SessionView::from_json(&with("idle_timeout_ms", "null")).unwrap();
        let policy = SessionPolicy::from_view(&view);
        assert_eq!(policy.idle_timeout, Some(DEFAULT_IDLE_TIMEOUT));
        assert_eq!(policy.warning_lead, 60_000);
        assert!(policy.recording_required);
        let view = SessionView::from_json(EXAMPLE).unwrap();
        let policy = SessionPolicy::from_view(&view);
        assert_eq!(policy.issued_at, 1_764_000_000_000);
        assert_eq!(policy.expires_at, 1_764_086_400_000);
        assert_eq!(policy.idle_timeout, Some(900_000));
        assert_eq!(policy.keepalive_interval, 60_000);
    }

    #[test]
    fn a_default_idle_timeout_clamps_a_long_lead() {
        let view = SessionView::from_json(&with("idle_timeout_ms", "null")).unwrap();
        let view = SessionView {
            warning_lead_ms: DurationMs::from_millis(DEFAULT_IDLE_TIMEOUT),
            ..view
        };
        let policy = SessionPolicy::from_view(&view);
        assert_eq!(policy.warning_lead, DEFAULT_IDLE_TIMEOUT / 2);
    }
}
