//! The JSON errors of the contract, and the reasons a session ends.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use session_guard_contract::api::{ErrorBody, ErrorCode};
/// Why a session ended: the contract's one definition.
pub use session_guard_contract::Reason;

/// Every failure a handler can answer with; each maps to one status and stable code.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Malformed or invalid input (`400 bad_request`).
    #[error("{0}")]
    BadRequest(String),
    /// The method is not served on this path (`405`, code `bad_request`).
    #[error("This method is not allowed here.")]
    MethodNotAllowed,
    /// Unknown user or wrong password (`401 invalid_credentials`).
    #[error("Invalid username or password.")]
    InvalidCredentials,
    /// Correct credentials of a suspended account (`403 suspended`).
    #[error("Your account has been suspended. Contact your administrator.")]
    Suspended,
    /// No session, or the session ended for the given reason (`401 unauthenticated`).
    #[error("{}", if .0.is_some() { "Your session has ended." } else { "You are not signed in." })]
    Unauthenticated(Option<Reason>),
    /// Signed in without the needed scope (`403 forbidden`).
    #[error("You do not have permission to do this.")]
    Forbidden,
    /// The session's recording consent is still pending (`403 consent_required`): only
    /// the session view, consent, sign-out and the event stream answer until it is given.
    #[error("Accept session recording before using this session.")]
    ConsentRequired,
    /// Unknown id or path (`404 not_found`).
    #[error("{0}")]
    NotFound(String),
    /// Duplicate name or an action that contradicts the current state (`409 conflict`).
    #[error("{0}")]
    Conflict(String),
    /// A recording chunk refused for its sequence (`409 conflict` with `next_seq`): a gap,
    /// or its `seq` already stored with other content. `next_seq` is the one the server
    /// stores next for the tab.
    #[error("{message}")]
    ChunkOutOfSequence {
        /// The `seq` the tab's next stored chunk must have.
        next_seq: u32,
        /// Human text.
        message: String,
    },
    /// Body over the 16 KiB limit, or a recording chunk over its limits (`413
    /// payload_too_large`).
    #[error("The request body is too large (limit 16 KiB; a recording chunk 512 KiB, 8 MiB decompressed).")]
    PayloadTooLarge,
    /// State-changing request without `Content-Type: application/json` (`415`).
    #[error("State-changing requests must use Content-Type: application/json.")]
    UnsupportedMediaType,
    /// Anything unexpected; the detail goes to the log, never to the client.
    #[error("Internal server error.")]
    Internal(String),
    /// Too many failed sign-ins for the account or from the address (`429
    /// too_many_requests`, `Retry-After` in whole seconds).
    #[error("Too many failed sign-in attempts. Try again in {} seconds.", retry_after_secs(*.0))]
    TooManyRequests(i64),
    /// Every password-hash worker is busy and the queue is full (`503 busy`, `Retry-After: 1`).
    #[error("The server is busy. Try again in a moment.")]
    Busy,
    /// The database cannot be reached (PostgreSQL went away): `503 unavailable` with
    /// `Retry-After: 1`. Nothing is decided without it, so nobody is signed out.
    #[error("The session store is unavailable. Try again in a moment.")]
    Unavailable(String),
}

/// Milliseconds rounded up to whole seconds, at least one.
fn retry_after_secs(ms: i64) -> i64 {
    ms.saturating_add(999).div_euclid(1000).max(1)
}

impl AppError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::InvalidCredentials | Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Suspended | Self::Forbidden | Self::ConsentRequired => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::ChunkOutOfSequence { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable `error` code of the contract.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) | Self::MethodNotAllowed => ErrorCode::BadRequest,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::Suspended => ErrorCode::Suspended,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden => ErrorCode::Forbidden,
            Self::ConsentRequired => ErrorCode::ConsentRequired,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) | Self::ChunkOutOfSequence { .. } => ErrorCode::Conflict,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::Internal(_) => ErrorCode::Internal,
            Self::TooManyRequests(_) => ErrorCode::TooManyRequests,
            Self::Busy => ErrorCode::Busy,
            Self::Unavailable(_) => ErrorCode::Unavailable,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let Self::Internal(detail) = &self {
            // The client gets a generic message; operators need the cause.
            eprintln!("session-guard-server: internal error: {detail}");
        }
        if let Self::Unavailable(detail) = &self {
            eprintln!("session-guard-server: database unavailable: {detail}");
        }
        let reason = match &self {
            Self::Unauthenticated(reason) => reason.clone(),
            _ => None,
        };
        let retry_after = match &self {
            Self::TooManyRequests(ms) => Some(retry_after_secs(*ms)),
            Self::Busy | Self::Unavailable(_) => Some(1),
            _ => None,
        };
        let next_seq = match &self {
            Self::ChunkOutOfSequence { next_seq, .. } => Some(*next_seq),
            _ => None,
        };
        let body = ErrorBody {
            error: self.code(),
            message: self.to_string(),
            reason,
            next_seq,
        };
        let mut resp = (self.status(), Json(body)).into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        resp
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        if is_unreachable(&e) {
            Self::Unavailable(e.to_string())
        } else {
            Self::Internal(format!("database: {e}"))
        }
    }
}

/// Whether `e` says the database cannot be reached (rather than refusing a statement):
/// no connection, a connection lost, or PostgreSQL shutting down or starting
/// (SQLSTATE class 08, and 57P01 to 57P03).
fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

impl From<BytesRejection> for AppError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::PayloadTooLarge
        } else {
            Self::BadRequest(rejection.body_text())
        }
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            _ => Self::BadRequest(rejection.body_text()),
        }
    }
}

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

/// Failures while building the state at startup (bad config, unusable database).
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The database could not be opened, migrated or seeded.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Hashing or randomness failed while seeding.
    #[error("{0}")]
    Other(String),
}

impl From<AppError> for InitError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Internal(detail) => Self::Other(detail),
            other => Self::Other(other.to_string()),
        }
    }
}
