//! Bodies of the session endpoints (contract "Endpoints"), the error body (contract
//! "Errors") and the data of the server-sent events (contract "Server-sent events").

use serde::{Deserialize, Serialize};

use crate::json::ObjectWriter;
use crate::reason::Reason;
use crate::time::{DurationMs, ServerTime};

/// The request header naming the browser tab a request comes from (contract "Acting
/// tab"): a tab id ([`crate::ids::is_tab_id`]), anything else is `400`.
pub const TAB_HEADER: &str = "x-session-guard-tab";

/// `POST /api/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// Login name as typed.
    pub username: String,
    /// Password as typed.
    pub password: String,
}

/// `POST /api/logout`; an empty body counts as `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutRequest {
    /// The declared reason, a wire name of [`Reason`]: `logged_out` (when absent),
    /// `idle_timeout`, `session_expired` or `consent_declined`. Kept as the text that
    /// arrived so the server can refuse anything else exactly (`400`).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Longest hold of `GET /api/session?wait=`; a longer `wait` is clamped to it.
pub const MAX_SESSION_WAIT_MS: u64 = 30_000;

/// The query of `GET /api/session`: with `wait`, the server holds the request until the
/// session changes (it ends, consent is answered, a new view is pushed) or `wait`
/// milliseconds elapse, then answers as without it. `wait` is a whole number of
/// milliseconds (anything else is `400`), clamped to [`MAX_SESSION_WAIT_MS`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionQuery {
    /// How long the request may be held, in milliseconds.
    #[serde(default)]
    pub wait: Option<u64>,
}

/// `POST /api/session/activity`: a keepalive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityRequest {
    /// How long ago the user was last active, measured by the client (so clock skew does
    /// not matter).
    pub idle_ms: DurationMs,
    /// The same instant on the server's clock as the client reckons it (its clock offset
    /// learned from views). The server takes it when it lies no later than its own
    /// `now - idle_ms` and at most [`ACTIVITY_CLAIM_WINDOW`] before, so the client's and the
    /// server's idle deadlines coincide instead of differing by the request's transit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<ServerTime>,
}

/// How far before `now - idle_ms` a keepalive's `last_activity_at` may place the activity:
/// the request's transit and the client's offset error are well below it. A claim can
/// only bring the idle deadline closer, never push it out.
pub const ACTIVITY_CLAIM_WINDOW: DurationMs = DurationMs::SECOND;

/// `POST /api/session/consent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRequest {
    /// Whether the user accepted recording.
    pub accepted: bool,
}

/// `POST /api/session/tabs`: one browser tab, registered as its own recorded sub-session.
/// Both ids follow [`crate::ids::is_tab_id`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabRegistration {
    /// The tab's id.
    pub tab_id: String,
    /// The tab it was opened from, when known.
    #[serde(default)]
    pub opener_tab_id: Option<String>,
}

/// The answer to [`TabRegistration`] (`201` new, `200` again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabRegistered {
    /// The registered tab's id.
    pub tab_id: String,
    /// Whether the session requires recording.
    pub recording: bool,
}

/// The stable `error` code of an error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// `400`, and `405` for a wrong method.
    BadRequest,
    /// `401`: unknown user or wrong password.
    InvalidCredentials,
    /// `403`: correct credentials of a suspended account.
    Suspended,
    /// `401`: no session, or it ended (then the body has a `reason`).
    Unauthenticated,
    /// `403`: the session lacks the needed scope.
    Forbidden,
    /// `403`: the session's recording consent is still pending.
    ConsentRequired,
    /// `404`.
    NotFound,
    /// `409`.
    Conflict,
    /// `413`.
    PayloadTooLarge,
    /// `415`.
    UnsupportedMediaType,
    /// `429`, with `Retry-After`.
    TooManyRequests,
    /// `503`, with `Retry-After`: every password-hash worker is busy.
    Busy,
    /// `503`, with `Retry-After`: the session store cannot be reached (PostgreSQL went
    /// away); nothing was decided and nobody was signed out.
    Unavailable,
    /// `500`.
    Internal,
}

/// Every error answer: `{"error", "message", "reason"?, "next_seq"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The stable code.
    pub error: ErrorCode,
    /// Human text.
    pub message: String,
    /// Only on `401` when a session existed and ended: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Only on `409` to a recording chunk refused for its sequence (a gap, or the `seq`
    /// already stored with other content): the `seq` the server stores next for that tab,
    /// from which the guard renumbers the chunks it still holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_seq: Option<u32>,
}

/// The one field of an [`ErrorBody`] the guard acts on: why the session ended (`401`). The
/// guard reads an error answer through this rather than the whole body, which keeps the
/// parser of every error code out of its wasm.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ErrorReason {
    /// [`ErrorBody::reason`].
    #[serde(default)]
    pub reason: Option<Reason>,
}

impl LogoutRequest {
    /// The body as JSON, as its `Serialize` writes it, without a serializer.
    pub fn to_json(&self) -> String {
        ObjectWriter::new()
            .optional_string("reason", self.reason.as_deref())
            .finish()
    }
}

impl ActivityRequest {
    /// The body as JSON, as its `Serialize` writes it, without a serializer.
    pub fn to_json(&self) -> String {
        let body = ObjectWriter::new().int("idle_ms", self.idle_ms.as_millis());
        match self.last_activity_at {
            Some(at) => body.int("last_activity_at", at.as_millis()),
            None => body,
        }
        .finish()
    }
}

impl ConsentRequest {
    /// The body as JSON, as its `Serialize` writes it, without a serializer.
    pub fn to_json(&self) -> String {
        ObjectWriter::new().bool("accepted", self.accepted).finish()
    }
}

impl TabRegistration {
    /// The body as JSON, as its `Serialize` writes it, without a serializer.
    pub fn to_json(&self) -> String {
        ObjectWriter::new()
            .string("tab_id", &self.tab_id)
            .optional_string("opener_tab_id", self.opener_tab_id.as_deref())
            .finish()
    }
}

/// Data of `event: terminated`: the session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminatedEvent {
    /// Why it ended.
    pub reason: Reason,
}

/// Data of `event: tab_ended`: an administrator ended one tab of the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabEndedEvent {
    /// The tab that was ended ([`crate::ids::is_tab_id`]).
    pub tab_id: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn error_bodies_have_the_contract_shape() {
        let body = ErrorBody {
            error: ErrorCode::Unauthenticated,
            message: "Your session has ended.".into(),
            reason: Some(Reason::RoleChanged),
            next_seq: None,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"error": "unauthenticated", "message": "Your session has ended.", "reason": "role_changed"})
        );
        let plain = ErrorBody {
            error: ErrorCode::TooManyRequests,
            message: "Slow down.".into(),
            reason: None,
            next_seq: None,
        };
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            json!({"error": "too_many_requests", "message": "Slow down."})
        );
        let read: ErrorBody =
            serde_json::from_value(json!({"error": "busy", "message": "m"})).unwrap();
        assert_eq!(read.error, ErrorCode::Busy);
        assert_eq!(read.reason, None);
        // What the guard reads of the same bodies.
        let reason: ErrorReason =
            serde_json::from_value(serde_json::to_value(&body).unwrap()).unwrap();
        assert_eq!(reason.reason, Some(Reason::RoleChanged));
        let reason: ErrorReason =
            serde_json::from_value(serde_json::to_value(&plain).unwrap()).unwrap();
        assert_eq!(reason.reason, None);
    }

    #[test]
    fn the_guards_bodies_are_written_as_serde_writes_them() {
        for activity in [
            ActivityRequest {
                idle_ms: DurationMs::from_millis(1_500),
                last_activity_at: None,
            },
            ActivityRequest {
                idle_ms: DurationMs::from_millis(0),
                last_activity_at: Some(ServerTime::from_millis(1_764_000_312_345)),
            },
        ] {
            assert_eq!(
                activity.to_json(),
                serde_json::to_string(&activity).unwrap()
            );
        }
        for accepted in [true, false] {
            let consent = ConsentRequest { accepted };
            assert_eq!(consent.to_json(), serde_json::to_string(&consent).unwrap());
        }
        for reason in [None, Some("idle_timeout".to_owned()), Some("\"\\\n".into())] {
            let logout = LogoutRequest { reason };
            assert_eq!(logout.to_json(), serde_json::to_string(&logout).unwrap());
        }
        for opener_tab_id in [None, Some("tab_1111".to_owned())] {
            let tab = TabRegistration {
                tab_id: "tab_0000".into(),
                opener_tab_id,
            };
            assert_eq!(tab.to_json(), serde_json::to_string(&tab).unwrap());
        }
    }

    #[test]
    fn request_bodies_have_the_contract_shape() {
        assert_eq!(
            serde_json::to_value(ActivityRequest {
                idle_ms: DurationMs::from_millis(1_500),
                last_activity_at: None,
            })
            .unwrap(),
            json!({"idle_ms": 1500})
        );
        assert_eq!(
            serde_json::from_value::<LogoutRequest>(json!({})).unwrap(),
            LogoutRequest::default()
        );
        assert_eq!(
            serde_json::from_value::<TabRegistration>(json!({"tab_id": "tab_0000"})).unwrap(),
            TabRegistration {
                tab_id: "tab_0000".into(),
                opener_tab_id: None
            }
        );
        assert_eq!(
            serde_json::to_value(TerminatedEvent {
                reason: Reason::Suspended
            })
            .unwrap(),
            json!({"reason": "suspended"})
        );
    }
}
