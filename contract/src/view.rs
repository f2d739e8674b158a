//! The session view (contract "Session view"): what `GET /api/session` and the other
//! session endpoints answer, and what the `session` server-sent event carries.
//!
//! The server builds a [`SessionView`] from its own state; a client only ever gets one
//! through validation: [`SessionView::from_json`], `TryFrom<`[`RawSessionView`]`>`, or serde
//! (which goes through the same `TryFrom`), so a value of this type read from untrusted
//! text always satisfies the contract's rules.

use serde::{Deserialize, Serialize};

use crate::ids;
use crate::time::{DurationMs, ServerTime};

/// Larger views are refused before parsing: the real one is well under a kilobyte.
pub const MAX_VIEW_BYTES: usize = 64 * 1024;
/// Most scopes a view may list.
pub const MAX_SCOPES: usize = 256;
/// Longest user name or display name a view may carry, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Shortest idle timeout and keepalive interval: anything shorter would make the guard
/// wake up in a tight loop.
pub const MIN_INTERVAL: DurationMs = DurationMs::SECOND;
/// Longest idle timeout (`--idle-timeout` on the server).
pub const MAX_IDLE_TIMEOUT: DurationMs = DurationMs::DAY.times(7);
/// Longest session lifetime (`--session-lifetime` on the server).
pub const MAX_LIFETIME: DurationMs = DurationMs::DAY.times(31);
/// Longest warning lead and keepalive interval.
pub const MAX_LEAD_OR_INTERVAL: DurationMs = DurationMs::DAY;

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

/// Where the user stands on session recording (`declined` never appears: declining ends
/// the session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// Recording is not required for this session.
    NotRequired,
    /// Recording is required and the user has not decided yet.
    Pending,
    /// The user accepted recording.
    Accepted,
}

impl ConsentState {
    /// The wire name, as sent and as the server stores it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotRequired => "not_required",
            Self::Pending => "pending",
            Self::Accepted => "accepted",
        }
    }

    /// The state with exactly this wire name; `None` for anything else.
    pub fn from_wire(s: &str) -> Option<Self> {
        Some(match s {
            "not_required" => Self::NotRequired,
            "pending" => Self::Pending,
            "accepted" => Self::Accepted,
            _ => return None,
        })
    }
}

/// Recording requirement and consent of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingView {
    /// Whether the session must be recorded.
    pub required: bool,
    /// The user's decision so far.
    pub consent: ConsentState,
}

/// A session view. Reading one from text validates it (see the module docs); the server
/// builds it from its own state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSessionView")]
pub struct SessionView {
    /// Public session identifier ([`ids::is_session_id`]).
    pub session_id: String,
    /// The signed-in user.
    pub user: UserView,
    /// Whether the user holds any scope; only those sessions have an idle timeout.
    pub privileged: bool,
    /// Scopes the user holds.
    pub scopes: Vec<String>,
    /// Login instant.
    pub issued_at: ServerTime,
    /// Absolute end of the session; activity never moves it.
    pub expires_at: ServerTime,
    /// Idle timeout; `None` for non-privileged users.
    pub idle_timeout_ms: Option<DurationMs>,
    /// How long before the idle deadline the warning shows (below the idle timeout once
    /// validated).
    pub warning_lead_ms: DurationMs,
    /// Minimum spacing of keepalives.
    pub keepalive_interval_ms: DurationMs,
    /// Last activity the server knows of (never after `server_time` once validated).
    pub last_activity_at: ServerTime,
    /// Recording requirement and consent.
    pub recording: RecordingView,
    /// The server's clock when it produced the view.
    pub server_time: ServerTime,
}

/// The session view exactly as it arrived, before any rule was checked. Only
/// [`SessionView`]'s `TryFrom` turns it into a view. Its fields are public so that a
/// reader other than serde (the guard's wasm reads views with the browser's `JSON.parse`)
/// fills it and reaches the same validation.
#[derive(Debug, Clone, Deserialize)]
pub struct RawSessionView {
    /// [`SessionView::session_id`], unchecked.
    pub session_id: String,
    /// [`SessionView::user`], unchecked.
    pub user: UserView,
    /// [`SessionView::privileged`], unchecked.
    pub privileged: bool,
    /// [`SessionView::scopes`], unchecked.
    pub scopes: Vec<String>,
    /// [`SessionView::issued_at`], unchecked.
    pub issued_at: ServerTime,
    /// [`SessionView::expires_at`], unchecked.
    pub expires_at: ServerTime,
    /// [`SessionView::idle_timeout_ms`], unchecked.
    pub idle_timeout_ms: Option<DurationMs>,
    /// [`SessionView::warning_lead_ms`], unchecked.
    pub warning_lead_ms: DurationMs,
    /// [`SessionView::keepalive_interval_ms`], unchecked.
    pub keepalive_interval_ms: DurationMs,
    /// [`SessionView::last_activity_at`], unchecked.
    pub last_activity_at: ServerTime,
    /// [`SessionView::recording`], unchecked.
    pub recording: RecordingView,
    /// [`SessionView::server_time`], unchecked.
    pub server_time: ServerTime,
}

/// Why a session view was refused.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The text was not JSON of the view's shape.
    #[error("malformed session view: {0}")]
    Json(#[from] serde_json::Error),
    /// The text is larger than [`MAX_VIEW_BYTES`].
    #[error("session view of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the rejected text in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The view parsed but breaks a rule of the contract.
    #[error("invalid session view: {0}")]
    Invalid(&'static str),
}

impl SessionView {
    /// Parses and validates a view (see [`SessionView`]'s `TryFrom<RawSessionView>`).
    pub fn from_json(text: &str) -> Result<SessionView, ViewError> {
        if text.len() > MAX_VIEW_BYTES {
            return Err(ViewError::TooLarge {
                size: text.len(),
                limit: MAX_VIEW_BYTES,
            });
        }
        let raw: RawSessionView = serde_json::from_str(text)?;
        SessionView::try_from(raw)
    }
}

/// A warning lead at or above the idle timeout would show the warning right after activity;
/// half the timeout keeps the warning meaningful.
pub fn clamp_warning_lead(lead: DurationMs, idle: DurationMs) -> DurationMs {
    let (lead, idle) = (lead.as_millis(), idle.as_millis());
    DurationMs::from_millis(if lead >= idle {
        (idle / 2).max(1)
    } else {
        lead.max(1)
    })
}

impl TryFrom<RawSessionView> for SessionView {
    type Error = ViewError;

    /// Rejects what the contract forbids; quietly repairs two harmless inconsistencies: a
    /// warning lead not below the idle timeout is clamped ([`clamp_warning_lead`]), and a
    /// `last_activity_at` in the server's future is pulled back to `server_time` (it would
    /// otherwise stretch the idle deadline).
    fn try_from(raw: RawSessionView) -> Result<Self, ViewError> {
        let invalid = |what| Err(ViewError::Invalid(what));
        if !ids::is_session_id(&raw.session_id) {
            return invalid("session_id must be 1 to 64 characters of [A-Za-z0-9_-]");
        }
        if raw.user.username.len() > MAX_NAME_LEN || raw.user.display_name.len() > MAX_NAME_LEN {
            return invalid("user names are too long");
        }
        if raw.scopes.len() > MAX_SCOPES || !raw.scopes.iter().all(|s| ids::is_scope(s)) {
            return invalid("scopes must match ^[a-z][a-z0-9_.:-]{0,63}$, at most 256 of them");
        }
        if raw.issued_at.as_millis() < 0 || raw.server_time.as_millis() < 0 {
            return invalid("times must be epoch milliseconds");
        }
        let lifetime = raw.expires_at.since(raw.issued_at);
        if lifetime <= DurationMs::ZERO || lifetime > MAX_LIFETIME {
            return invalid("expires_at must follow issued_at by at most 31 days");
        }
        if let Some(idle) = raw.idle_timeout_ms {
            if !(MIN_INTERVAL..=MAX_IDLE_TIMEOUT).contains(&idle) {
                return invalid("idle_timeout_ms must be between 1 second and 7 days");
            }
        }
        if !(DurationMs::from_millis(1)..=MAX_LEAD_OR_INTERVAL).contains(&raw.warning_lead_ms) {
            return invalid("warning_lead_ms must be between 1 ms and 1 day");
        }
        if !(MIN_INTERVAL..=MAX_LEAD_OR_INTERVAL).contains(&raw.keepalive_interval_ms) {
            return invalid("keepalive_interval_ms must be between 1 second and 1 day");
        }
        let warning_lead_ms = match raw.idle_timeout_ms {
            Some(idle) => clamp_warning_lead(raw.warning_lead_ms, idle),
            None => raw.warning_lead_ms,
        };
        Ok(SessionView {
            session_id: raw.session_id,
            user: raw.user,
            privileged: raw.privileged,
            scopes: raw.scopes,
            issued_at: raw.issued_at,
            expires_at: raw.expires_at,
            idle_timeout_ms: raw.idle_timeout_ms,
            warning_lead_ms,
            keepalive_interval_ms: raw.keepalive_interval_ms,
            last_activity_at: raw.last_activity_at.min(raw.server_time),
            recording: raw.recording,
            server_time: raw.server_time,
        })
    }
}

/// The example session view of `docs/CONTRACT.md`, valid under every rule above: a base
/// for tests on either side of the wire to vary one field at a time.
pub const EXAMPLE_VIEW_JSON: &str = r#"{
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

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = EXAMPLE_VIEW_JSON;

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
        assert_eq!(view.idle_timeout_ms, Some(DurationMs::from_millis(900_000)));
        assert_eq!(view.recording.consent, ConsentState::Pending);
        assert_eq!(view.server_time, ServerTime::from_millis(1_764_000_312_345));
        // Serializing and reading back gives the same view.
        let again = SessionView::from_json(&serde_json::to_string(&view).unwrap()).unwrap();
        assert_eq!(again, view);
    }

    #[test]
    fn rejects_contract_violations() {
        for (field, value) in [
            ("session_id", r#""""#),
            ("session_id", r#""ses/../x""#),
            ("expires_at", "1764000000000"),
            ("expires_at", "1766678400001"),
            ("idle_timeout_ms", "0"),
            ("idle_timeout_ms", "604800001"),
            ("keepalive_interval_ms", "-5"),
            ("keepalive_interval_ms", "86400001"),
            ("warning_lead_ms", "0"),
            ("issued_at", "-1"),
            ("scopes", r#"[""]"#),
            ("scopes", r#"["Admin"]"#),
            ("recording", r#"{"required":true,"consent":"declined"}"#),
            ("server_time", r#""now""#),
        ] {
            let text = with(field, value);
            assert!(
                SessionView::from_json(&text).is_err(),
                "{field}={value} was accepted"
            );
            // serde goes through the same validation.
            assert!(
                serde_json::from_str::<SessionView>(&text).is_err(),
                "{field}={value} was accepted by serde"
            );
        }
        let long_id = format!("\"{}\"", "a".repeat(65));
        assert!(SessionView::from_json(&with("session_id", &long_id)).is_err());
        let too_many = serde_json::to_string(&vec!["a"; MAX_SCOPES + 1]).unwrap();
        assert!(SessionView::from_json(&with("scopes", &too_many)).is_err());
        let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_VIEW_BYTES));
        assert!(matches!(
            SessionView::from_json(&huge),
            Err(ViewError::TooLarge { .. })
        ));
        assert!(matches!(
            SessionView::from_json("not json"),
            Err(ViewError::Json(_))
        ));
        assert!(matches!(
            SessionView::from_json(&with("warning_lead_ms", "0")),
            Err(ViewError::Invalid(_))
        ));
    }

    #[test]
    fn repairs_lead_and_future_activity() {
        let view = SessionView::from_json(&with("warning_lead_ms", "900000")).unwrap();
        assert_eq!(view.warning_lead_ms, DurationMs::from_millis(450_000));
        let view = serde_json::from_str::<SessionView>(&with("warning_lead_ms", "900000"));
        assert_eq!(
            view.unwrap().warning_lead_ms,
            DurationMs::from_millis(450_000)
        );
        let view = SessionView::from_json(&with("last_activity_at", "1864000000000")).unwrap();
        assert_eq!(view.last_activity_at, view.server_time);
    }

    #[test]
    fn consent_names_are_stable() {
        for (state, name) in [
            (ConsentState::NotRequired, "not_required"),
            (ConsentState::Pending, "pending"),
            (ConsentState::Accepted, "accepted"),
        ] {
            assert_eq!(state.as_str(), name);
            assert_eq!(ConsentState::from_wire(name), Some(state));
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{name}\"")
            );
        }
        assert_eq!(ConsentState::from_wire("declined"), None);
    }
}
