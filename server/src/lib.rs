//! Reference session server for session-guard.
//!
//! It implements the wire contract of `docs/CONTRACT.md`: cookie login, the session view,
//! keepalives, recording consent, tab registration, server-sent `terminated` pushes and the
//! admin API, on SQLite. The server enforces idle and absolute limits itself, on every
//! request and proactively from a background task, and ends sessions whose user lost
//! privileged access after any admin change.
//!
//! [`app`] builds the router from an [`AppState`] so tests can drive it in-process with
//! `tower::ServiceExt::oneshot`; `main.rs` only adds configuration and the listener.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod admin;
mod api;
mod auth;
pub mod config;
mod db;
pub mod error;
mod extract;
mod seed;
mod state;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use tower_http::services::{ServeDir, ServeFile};

pub use auth::COOKIE_NAME;
pub use config::{parse_duration, Config, Recording};
pub use error::{AppError, InitError, Reason};
pub use state::{AppState, Clock, ManualClock, SystemClock};

/// Largest accepted request body (contract: "Bodies over 16 KiB get `413`").
pub const BODY_LIMIT: usize = 16 * 1024;

/// Builds the router: the `/api` endpoints, JSON errors for unknown API paths and, when
/// `static_dir` is given, the built console with an `index.html` fallback for client-side
/// routes.
pub fn app(state: AppState) -> Router {
    app_with_static(state, None)
}

/// Like [`app`], also serving `static_dir` (the built console) for non-API paths.
pub fn app_with_static(state: AppState, static_dir: Option<&std::path::Path>) -> Router {
    let api = Router::new()
        .route("/api/login", post(api::login))
        .route("/api/logout", post(api::logout))
        .route("/api/session", get(api::session))
        .route("/api/session/activity", post(api::activity))
        .route("/api/session/consent", post(api::consent))
        .route("/api/session/tabs", post(api::register_tab))
        .route("/api/session/events", get(api::events))
        .route("/api/admin/sessions", get(admin::list_sessions))
        .route(
            "/api/admin/sessions/{session_id}",
            axum::routing::delete(admin::delete_session),
        )
        .route(
            "/api/admin/users",
            get(admin::list_users).post(admin::create_user),
        )
        .route(
            "/api/admin/users/{id}/terminate-sessions",
            post(admin::terminate_user_sessions),
        )
        .route("/api/admin/users/{id}/suspend", post(admin::suspend_user))
        .route(
            "/api/admin/users/{id}/unsuspend",
            post(admin::unsuspend_user),
        )
        .route(
            "/api/admin/users/{uid}/roles/{rid}",
            post(admin::assign_user_role).delete(admin::unassign_user_role),
        )
        .route(
            "/api/admin/roles",
            get(admin::list_roles).post(admin::create_role),
        )
        .route(
            "/api/admin/roles/{id}",
            axum::routing::delete(admin::delete_role),
        )
        .route("/api/admin/roles/{id}/scopes", post(admin::add_scope))
        .route(
            "/api/admin/roles/{id}/scopes/{scope}",
            axum::routing::delete(admin::remove_scope),
        )
        .route(
            "/api/admin/groups",
            get(admin::list_groups).post(admin::create_group),
        )
        .route(
            "/api/admin/groups/{id}",
            axum::routing::delete(admin::delete_group),
        )
        .route(
            "/api/admin/groups/{gid}/members/{uid}",
            post(admin::add_member).delete(admin::remove_member),
        )
        .route(
            "/api/admin/groups/{gid}/roles/{rid}",
            post(admin::assign_group_role).delete(admin::unassign_group_role),
        )
        .route("/api/admin/audit", get(admin::audit_log))
        .route("/api", any(api_not_found))
        .route("/api/{*rest}", any(api_not_found))
        .method_not_allowed_fallback(method_not_allowed);

    let router = match static_dir {
        Some(dir) => {
            let index = ServeFile::new(dir.join("index.html"));
            api.fallback_service(ServeDir::new(dir).fallback(index))
        }
        None => api.fallback(api_not_found),
    };
    router
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(request_guard))
        .with_state(state)
}

async fn api_not_found() -> AppError {
    AppError::NotFound("No such endpoint.".into())
}

async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

/// Rejects, before any handler runs, declared bodies over the limit (`413`) and
/// state-changing API requests that are not JSON (`415`): with `SameSite=Strict` the
/// JSON requirement closes the form-post CSRF path.
async fn request_guard(req: Request, next: Next) -> Response {
    let declared_len = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared_len.is_some_and(|n| n > BODY_LIMIT as u64) {
        return AppError::PayloadTooLarge.into_response();
    }
    let is_api = req.uri().path().starts_with("/api/");
    let state_changing = matches!(*req.method(), Method::POST | Method::DELETE);
    if state_changing && is_api && !is_json(&req) {
        return AppError::UnsupportedMediaType.into_response();
    }
    let mut resp = next.run(req).await;
    if is_api {
        // Session views and admin data must never be served from a shared or back/forward
        // cache after the session ended.
        resp.headers_mut()
            .entry(CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    resp
}

/// `application/json`, optionally with parameters such as `charset=utf-8`.
fn is_json(req: &Request) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}
