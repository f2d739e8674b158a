//! The server's session view (contract "Session view") and the policy derived from it.

use serde::{Deserialize, Serialize};

use super::{CoreError, Millis};

const MINUTE: Millis = 60_000;
const DAY: Millis = 24 * 60 * MINUTE;
/// Idle timeout of a privileged session whose view carries none (product default).
pub const DEFAULT_IDLE_TIMEOUT: Millis = 15 * MINUTE;
/// Larger views are refused before parsing: the real one is well under a kilobyte.
const MAX_VIEW_BYTES: usize = 64 * 1024;
const MAX_SESSION_ID_LEN: usize = 128;
const MAX_SCOPES: usize = 256;
const MAX_SCOPE_LEN: usize = 64;
const MAX_NAME_LEN: usize = 256;
/// Durations below this would make the engine wake up in a tight loop.
const MIN_DURATION: Millis = 1_000;
const MAX_IDLE_TIMEOUT: Millis = 7 * DAY;
const MAX_LIFETIME: Millis = 31 * DAY;

/// The signed-in user as the view names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    /// Server-side user id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Name to show in the UI.
    pub display_name: String,
}

/// Where the user stands on session recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// Recording is not required for this session.
    NotRequired,
    /// Recording is required and the user has not decided yet.
    Pending,
    /// The user accepted recording.
    Accepted,
}

/// Recording requirement and consent of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingView {
    /// Whether the session must be recorded.
    pub required: bool,
    /// The user's decision so far.
    pub consent: ConsentState,
}

/// A parsed and validated `GET /api/session` answer. Only [`SessionView::from_json`] builds one
/// from untrusted text, so a value of this type always satisfies the contract's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    /// Public session identifier (`[A-Za-z0-9_-]`, 1 to 128 characters).
    pub session_id: String,
    /// The signed-in user.
    pub user: UserView,
    /// Whether the user holds a privileged scope; only those sessions have an idle timeout.
    pub privileged: bool,
    /// Scopes the user holds.
    pub scopes: Vec<String>,
    /// Login instant, server time.
    pub issued_at: Millis,
    /// Absolute end of the session, server time.
    pub expires_at: Millis,
    /// Idle timeout; `None` for non-privileged users.
    pub idle_timeout_ms: Option<Millis>,
    /// How long before the idle deadline the warning shows (always below the idle timeout).
    pub warning_lead_ms: Millis,
    /// Minimum spacing of keepalives.
    pub keepalive_interval_ms: Millis,
    /// Last activity the server knows of, server time (never after `server_time`).
    pub last_activity_at: Millis,
    /// Recording requirement and consent.
    pub recording: RecordingView,
    /// The server's clock when it produced the view.
    pub server_time: Millis,
}

impl SessionView {
    /// Parses and validates a view. Rejects what the contract forbids; quietly repairs two
    /// harmless inconsistencies: a warning lead not below the idle timeout is clamped, and a
    /// `last_activity_at` in the server's future is pulled back to `server_time` (it would
    /// otherwise stretch the idle deadline).
    pub fn from_json(text: &str) -> Result<SessionView, CoreError> {
        if text.len() > MAX_VIEW_BYTES {
            return Err(CoreError::TooLarge {
                size: text.len(),
                limit: MAX_VIEW_BYTES,
            });
        }
        let view: SessionView = serde_json::from_str(text)?;
        view.validated()
    }

    fn validated(mut self) -> Result<SessionView, CoreError> {
        let invalid = |what| Err(CoreError::InvalidView(what));
        let id_ok = !self.session_id.is_empty()
            && self.session_id.len() <= MAX_SESSION_ID_LEN
            && self
                .session_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok {
            return invalid("session_id must be 1 to 128 characters of [A-Za-z0-9_-]");
        }
        if self.user.username.len() > MAX_NAME_LEN || self.user.display_name.len() > MAX_NAME_LEN {
            return invalid("user names are too long");
        }
        if self.scopes.len() > MAX_SCOPES
            || self
                .scopes
                .iter()
                .any(|s| s.is_empty() || s.len() > MAX_SCOPE_LEN)
        {
            return invalid("scopes exceed their bounds");
        }
        if self.issued_at < 0 || self.server_time < 0 {
            return invalid("times must be epoch milliseconds");
        }
        let lifetime = self.expires_at.saturating_sub(self.issued_at);
        if lifetime <= 0 || lifetime > MAX_LIFETIME {
            return invalid("expires_at must follow issued_at by at most 31 days");
        }
        if let Some(idle) = self.idle_timeout_ms {
            if !(MIN_DURATION..=MAX_IDLE_TIMEOUT).contains(&idle) {
                return invalid("idle_timeout_ms must be between 1 second and 7 days");
            }
        }
        if !(1..=DAY).contains(&self.warning_lead_ms) {
            return invalid("warning_lead_ms must be between 1 ms and 1 day");
        }
        if !(MIN_DURATION..=DAY).contains(&self.keepalive_interval_ms) {
            return invalid("keepalive_interval_ms must be between 1 second and 1 day");
        }
        if let Some(idle) = self.idle_timeout_ms {
            self.warning_lead_ms = clamp_lead(self.warning_lead_ms, idle);
        }
        self.last_activity_at = self.last_activity_at.min(self.server_time);
        Ok(self)
    }
}

/// A warning lead at or above the idle timeout would show the warning right after activity;
/// half the timeout keeps the warning meaningful.
pub(crate) fn clamp_lead(lead: Millis, idle: Millis) -> Millis {
    if lead >= idle {
        (idle / 2).max(1)
    } else {
        lead.max(1)
    }
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
        let idle_timeout = view
            .privileged
            .then(|| view.idle_timeout_ms.unwrap_or(DEFAULT_IDLE_TIMEOUT));
        SessionPolicy {
            privileged: view.privileged,
            issued_at: view.issued_at,
            expires_at: view.expires_at,
            idle_timeout,
            warning_lead: idle_timeout.map_or(view.warning_lead_ms, |idle| {
                clamp_lead(view.warning_lead_ms, idle)
            }),
            keepalive_interval: view.keepalive_interval_ms,
            recording_required: view.recording.required,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{
      "session_id": "ses_3kTq",
      "user": { "id": 1, "username": "admin", "display_name": "Ada Admin" },
      "privileged": true,
      "scopes": ["admin:manage", "console:access", "sessions:terminate"],
      "issued_at": 1764000000000,
      "expires_at": 1764086400000,
      "idle_timeout_ms": 900000,
      "warning_lead_ms": 60000,
      "keepalive_interval_ms": 60000,
      "last_activity_at": 1764000300000,
      "recording": { "required": true, "consent": "pending" },
      "server_time": 1764000312345
    }"#;

    fn with(field: &str, value: &str) -> String {
        let mut json: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        json[field] = serde_json::from_str(value).unwrap();
        json.to_string()
    }

    #[test]
    fn parses_the_contract_example() {
        let view = SessionView::from_json(EXAMPLE).unwrap();
        assert_eq!(view.session_id, "ses_3kTq");
        assert_eq!(view.user.display_name, "Ada Admin");
        assert_eq!(view.idle_timeout_ms, Some(900_000));
        assert_eq!(view.recording.consent, ConsentState::Pending);
        assert_eq!(view.server_time, 1_764_000_312_345);
    }

    #[test]
    fn rejects_contract_violations() {
        for (field, value) in [
            ("session_id", r#""""#),
            ("session_id", r#""ses/../x""#),
            ("expires_at", "1764000000000"),
            ("idle_timeout_ms", "0"),
            ("idle_timeout_ms", "604800001"),
            ("keepalive_interval_ms", "-5"),
            ("warning_lead_ms", "0"),
            ("issued_at", "-1"),
            ("scopes", r#"[""]"#),
            ("recording", r#"{"required":true,"consent":"declined"}"#),
        ] {
            let result = SessionView::from_json(&with(field, value));
            assert!(result.is_err(), "{field}={value} was accepted");
        }
        let long_id = format!("\"{}\"", "a".repeat(129));
        assert!(SessionView::from_json(&with("session_id", &long_id)).is_err());
        let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_VIEW_BYTES));
        assert!(matches!(
            SessionView::from_json(&huge),
            Err(CoreError::TooLarge { .. })
        ));
        assert!(SessionView::from_json("not json").is_err());
    }

    #[test]
    fn repairs_lead_and_future_activity() {
        let view = SessionView::from_json(&with("warning_lead_ms", "900000")).unwrap();
        assert_eq!(view.warning_lead_ms, 450_000);
        let view = SessionView::from_json(&with("last_activity_at", "1864000000000")).unwrap();
        assert_eq!(view.last_activity_at, view.server_time);
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
    }
}
