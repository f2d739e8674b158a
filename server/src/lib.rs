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
pub mod edge;
pub mod error;
mod extract;
mod login;
mod recording;
mod request_log;
mod retention;
mod seed;
mod state;
mod store;
mod user_agent;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{any, get, post};
use axum::Router;
use tower_http::services::{ServeDir, ServeFile};

pub use auth::{COOKIE_NAME, SECURE_COOKIE_NAME};
pub use config::{parse_duration, Config, Recording};
pub use error::{AppError, InitError, Reason};
pub use retention::Purged;
pub use state::{AppState, Clock, ManualClock, SystemClock};

/// Largest accepted request body (contract: "Bodies over 16 KiB get `413`"), but for
/// recording chunks
/// ([`MAX_CHUNK_COMPRESSED_BYTES`](session_guard_contract::recording::MAX_CHUNK_COMPRESSED_BYTES)).
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
        .route("/api/session/tabs/{tab_id}/close", post(api::close_tab))
        .route(
            "/api/session/tabs/{tab_id}/recording/{seq}",
            post(recording::upload_chunk),
        )
        .route("/api/session/events", get(api::events))
        .route("/api/admin/sessions", get(admin::list_sessions))
        .route(
            "/api/admin/sessions/{session_id}",
            axum::routing::delete(admin::delete_session),
        )
        .route(
            "/api/admin/sessions/{session_id}/tabs/{tab_id}",
            axum::routing::delete(admin::end_tab),
        )
        .route("/api/admin/session-history", get(admin::session_history))
        .route(
            "/api/admin/terminate-sessions",
            post(admin::terminate_sessions),
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
        .route("/api/admin/recordings", get(recording::list))
        .route(
            "/api/admin/recordings/{session_id}/tabs/{tab_id}",
            get(recording::detail).delete(recording::delete),
        )
        .route(
            "/api/admin/recordings/{session_id}/tabs/{tab_id}/chunks/{seq}",
            get(recording::chunk),
        )
        .route("/api", any(api_not_found))
        .route("/api/{*rest}", any(api_not_found))
        .method_not_allowed_fallback(method_not_allowed);

    // The served pages are read once: their inline loader scripts are allowed by hash.
    let pages = static_dir.map_or_else(Vec::new, |dir| edge::html_pages(dir, 3));
    let router = match static_dir {
        Some(dir) => {
            let index = ServeFile::new(dir.join("index.html"));
            api.fallback_service(ServeDir::new(dir).fallback(index))
        }
        None => api.fallback(api_not_found),
    };
    let edge = edge::Edge::new(state.clone(), &pages);
    router
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(edge, edge::edge))
        .with_state(state)
}

async fn api_not_found() -> AppError {
    AppError::NotFound("No such endpoint.".into())
}

async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}
