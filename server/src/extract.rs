//! Extractors whose rejections are the contract's JSON errors instead of axum's plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::Json;
use serde::de::DeserializeOwned;
use session_guard_contract::ConsentState;

use crate::error::AppError;
use crate::state::{AppState, Current};

/// A JSON body; malformed JSON, wrong types and oversize bodies become `400`/`413`.
pub(crate) struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// A JSON body whose fields are all optional, so an empty body means `{}`.
pub(crate) struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| AppError::BadRequest(format!("Invalid JSON body: {e}")))
    }
}

/// Path parameters; a non-numeric id is a `400`.
pub(crate) struct PathParam<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParam<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// Query parameters.
pub(crate) struct QueryParam<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParam<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// The signed-in caller, whose recording consent is settled (given, or not required).
/// A session still waiting for consent gets `403 consent_required` on every endpoint
/// that takes this; the few it may use take [`ConsentPending`] instead, so a new endpoint
/// is closed to it unless it opts in.
impl FromRequestParts<AppState> for Current {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let current = state.inner.authenticate(&parts.headers).await?;
        if current.session.consent == ConsentState::Pending {
            return Err(AppError::ConsentRequired);
        }
        Ok(current)
    }
}

/// The signed-in caller whatever the consent: for the endpoints a session waiting for
/// consent may use (the view, the answer itself and the event stream).
pub(crate) struct ConsentPending(pub Current);

impl FromRequestParts<AppState> for ConsentPending {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(state.inner.authenticate(&parts.headers).await?))
    }
}

/// The scope that opens users, roles and groups.
pub(crate) const ADMIN_SCOPE: &str = "admin:manage";
/// The scope that opens the live sessions list, terminating and the emergency panel.
pub(crate) const TERMINATE_SCOPE: &str = "sessions:terminate";
/// The scope that opens the audit log.
pub(crate) const AUDIT_SCOPE: &str = "audit:read";

/// Declares an extractor for a caller holding one scope: others get `403 forbidden`
/// (`401` without a session, `403 consent_required` while consent is pending).
macro_rules! scoped_caller {
    ($(#[$doc:meta])* $name:ident, $scope:expr) => {
        $(#[$doc])*
        pub(crate) struct $name(pub Current);

        impl FromRequestParts<AppState> for $name {
            type Rejection = AppError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, Self::Rejection> {
                let current = Current::from_request_parts(parts, state).await?;
                if current.scopes.contains($scope) {
                    Ok(Self(current))
                } else {
                    Err(AppError::Forbidden)
                }
            }
        }
    };
}

scoped_caller!(
    /// A caller holding `admin:manage`: users, roles and groups.
    AdminCaller,
    ADMIN_SCOPE
);
scoped_caller!(
    /// A caller holding `sessions:terminate`: live sessions and ending them.
    TerminateCaller,
    TERMINATE_SCOPE
);
scoped_caller!(
    /// A caller holding `audit:read`: the audit log.
    AuditCaller,
    AUDIT_SCOPE
);
scoped_caller!(
    /// A caller holding `recordings:read`: the recordings list, details and chunks.
    RecordingsReader,
    session_guard_contract::recording::READ_SCOPE
);
scoped_caller!(
    /// A caller holding `recordings:delete`: deleting one tab's recording.
    RecordingsDeleter,
    session_guard_contract::recording::DELETE_SCOPE
);
