//! Why a session ended (contract "Reasons"): the stable wire names and the fixed texts the
//! login page shows.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::DurationMs;

/// Longest wire name kept for an unknown reason: the name ends up in a URL and in messages.
const MAX_OTHER_LEN: usize = 64;

/// Why a session ended. Serializes as its wire name (`"idle_timeout"`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No activity in any tab for the idle timeout (privileged sessions only).
    IdleTimeout,
    /// The absolute session lifetime ended.
    SessionExpired,
    /// The user lost privileged access.
    RoleChanged,
    /// An administrator suspended the user.
    Suspended,
    /// An administrator ended the session.
    RemoteTerminated,
    /// An administrator ended this one tab (its sub-session); the session and its other
    /// tabs continue.
    TabTerminated,
    /// The user declined session recording.
    ConsentDeclined,
    /// The user signed out.
    LoggedOut,
    /// A reason this version does not know, kept sanitized (only `[a-z0-9_]`, at most 64
    /// characters) so it can be passed on without becoming an injection vector.
    Other(String),
}

impl Reason {
    /// Every reason this version knows, in the contract's order.
    pub const KNOWN: [Reason; 8] = [
        Reason::IdleTimeout,
        Reason::SessionExpired,
        Reason::RoleChanged,
        Reason::Suspended,
        Reason::RemoteTerminated,
        Reason::TabTerminated,
        Reason::ConsentDeclined,
        Reason::LoggedOut,
    ];

    /// Parses a wire name. Unknown names become [`Reason::Other`] after sanitizing; a name
    /// that sanitizes to a known one maps to that one, so `Other` never shadows a known reason.
    pub fn from_wire(s: &str) -> Reason {
        if let Some(known) = Self::known(s) {
            return known;
        }
        let cleaned: String = s
            .chars()
            .filter(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
            .take(MAX_OTHER_LEN)
            .collect();
        Self::known(&cleaned).unwrap_or(Reason::Other(cleaned))
    }

    /// The reason with exactly this wire name, or `None` for any name this version does not
    /// know (the server accepts nothing else).
    pub fn known(s: &str) -> Option<Reason> {
        Some(match s {
            "idle_timeout" => Reason::IdleTimeout,
            "session_expired" => Reason::SessionExpired,
            "role_changed" => Reason::RoleChanged,
            "suspended" => Reason::Suspended,
            "remote_terminated" => Reason::RemoteTerminated,
            "tab_terminated" => Reason::TabTerminated,
            "consent_declined" => Reason::ConsentDeclined,
            "logged_out" => Reason::LoggedOut,
            _ => return None,
        })
    }

    /// The stable wire name used in URLs, JSON bodies, cross-tab messages and the database.
    pub fn wire_name(&self) -> &str {
        match self {
            Reason::IdleTimeout => "idle_timeout",
            Reason::SessionExpired => "session_expired",
            Reason::RoleChanged => "role_changed",
            Reason::Suspended => "suspended",
            Reason::RemoteTerminated => "remote_terminated",
            Reason::TabTerminated => "tab_terminated",
            Reason::ConsentDeclined => "consent_declined",
            Reason::LoggedOut => "logged_out",
            Reason::Other(name) => name,
        }
    }

    /// The fixed text the login page shows. `idle_timeout` is the policy's idle timeout, used
    /// only by [`Reason::IdleTimeout`] to name the minutes (seconds below one minute, which
    /// only shortened demo policies reach).
    pub fn message(&self, idle_timeout: Option<DurationMs>) -> String {
        match self {
            Reason::IdleTimeout => idle_message(idle_timeout),
            Reason::SessionExpired => {
                "Your session reached its maximum length. Please sign in again.".into()
            }
            Reason::RoleChanged => "You were signed out because your role permissions were updated. Sign in again to continue with your new permissions.".into(),
            Reason::Suspended => "Your account has been suspended. Contact your administrator.".into(),
            Reason::RemoteTerminated => "An administrator ended your session.".into(),
            Reason::TabTerminated => "An administrator closed this tab's session. Your other tabs are still signed in.".into(),
            Reason::ConsentDeclined => {
                "The session was not started because recording was declined.".into()
            }
            Reason::LoggedOut => "You have signed out.".into(),
            Reason::Other(_) => "Your session has ended. Please sign in again.".into(),
        }
    }
}

fn idle_message(idle_timeout: Option<DurationMs>) -> String {
    let (n, unit) = match idle_timeout.map(DurationMs::as_millis) {
        Some(ms) if ms >= 60_000 => (ms.saturating_add(30_000) / 60_000, "minute"),
        Some(ms) if ms > 0 => ((ms.saturating_add(500) / 1_000).max(1), "second"),
        _ => return "You were signed out after a period of inactivity.".into(),
    };
    let plural = if n == 1 { "" } else { "s" };
    format!("You were signed out after {n} {unit}{plural} of inactivity.")
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name())
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.wire_name())
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(Reason::from_wire(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_stable() {
        let names: Vec<&str> = Reason::KNOWN.iter().map(Reason::wire_name).collect();
        assert_eq!(
            names,
            [
                "idle_timeout",
                "session_expired",
                "role_changed",
                "suspended",
                "remote_terminated",
                "tab_terminated",
                "consent_declined",
                "logged_out",
            ]
        );
    }

    #[test]
    fn known_names_round_trip() {
        for reason in Reason::KNOWN {
            assert_eq!(Reason::from_wire(reason.wire_name()), reason);
            assert_eq!(Reason::known(reason.wire_name()), Some(reason.clone()));
            assert_eq!(reason.to_string(), reason.wire_name());
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.wire_name()));
            assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), reason);
        }
    }

    #[test]
    fn unknown_names_are_sanitized_and_truncated() {
        assert_eq!(
            Reason::from_wire("Fancy-<script>_x9"),
            Reason::Other("ancyscript_x9".into())
        );
        let long = "a".repeat(200);
        assert_eq!(Reason::from_wire(&long).wire_name().len(), MAX_OTHER_LEN);
        assert_eq!(Reason::from_wire("idle_timeout!"), Reason::IdleTimeout);
        assert_eq!(Reason::known("idle_timeout!"), None);
        assert_eq!(Reason::known("whatever"), None);
    }

    #[test]
    fn messages_follow_the_contract() {
        let idle = |ms| Reason::IdleTimeout.message(Some(DurationMs::from_millis(ms)));
        assert_eq!(
            idle(900_000),
            "You were signed out after 15 minutes of inactivity."
        );
        assert_eq!(
            idle(60_000),
            "You were signed out after 1 minute of inactivity."
        );
        assert_eq!(
            idle(20_000),
            "You were signed out after 20 seconds of inactivity."
        );
        assert_eq!(
            Reason::IdleTimeout.message(None),
            "You were signed out after a period of inactivity."
        );
        assert_eq!(
            Reason::Other("whatever".into()).message(None),
            "Your session has ended. Please sign in again."
        );
        assert_eq!(Reason::LoggedOut.message(None), "You have signed out.");
        assert_eq!(
            Reason::TabTerminated.message(None),
            "An administrator closed this tab's session. Your other tabs are still signed in."
        );
        assert_eq!(
            Reason::Suspended.message(None),
            "Your account has been suspended. Contact your administrator."
        );
    }
}
