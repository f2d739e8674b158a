//! Shared helpers: an in-process app on a manual clock, request shortcuts and lookups.
//!
//! The store is SQLite in memory, or, when `SG_TEST_DATABASE_URL` names a PostgreSQL
//! database (the second pass of `cargo xtask test`), a fresh PostgreSQL database per test.
#![allow(dead_code)]

pub mod pg;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use session_guard_server::{app, AppState, Config, ManualClock};
use tower::ServiceExt;

/// 2025-11-24T16:00:00Z, an arbitrary fixed start so tests are deterministic.
pub const T0: i64 = 1_764_000_000_000;

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub clock: Arc<ManualClock>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `sg_session=...` pair of the `Set-Cookie` header, ready for a `Cookie` header.
    pub fn cookie(&self) -> String {
        let set = self
            .headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("Set-Cookie present");
        set.split(';').next().expect("cookie pair").to_owned()
    }

    pub fn set_cookie(&self) -> String {
        self.headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("Set-Cookie present")
            .to_owned()
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn with(tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::for_tests();
        tweak(&mut config);
        // A test that chose its own SQLite file tests SQLite itself.
        if config.db == Config::for_tests().db
            && config.database_url.is_none()
            && pg::base_url().is_some()
        {
            config.database_url = Some(pg::fresh_database().await);
        }
        Self::with_config(config).await
    }

    /// An app on exactly `config` (another instance on the same database, for example).
    pub async fn with_config(config: Config) -> Self {
        let clock = Arc::new(ManualClock::new(T0));
        let state = AppState::with_clock(&config, clock.clone())
            .await
            .expect("state");
        let router = app(state.clone());
        Self {
            state,
            router,
            clock,
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A JSON request (`body` None sends `{}` for POST/DELETE, nothing for GET).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut builder = Request::builder().method(method.clone()).uri(path);
        if let Some(c) = cookie {
            builder = builder.header(header::COOKIE, c);
        }
        let body = match (body, &method) {
            (Some(v), _) => Body::from(v.to_string()),
            (None, &Method::GET) => Body::empty(),
            (None, _) => Body::from("{}"),
        };
        if method != Method::GET {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        self.send(builder.body(body).expect("request")).await
    }

    pub async fn get(&self, path: &str, cookie: &str) -> Reply {
        self.call(Method::GET, path, Some(cookie), None).await
    }

    pub async fn post(&self, path: &str, cookie: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(cookie), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, cookie: &str) -> Reply {
        self.call(Method::DELETE, path, Some(cookie), None).await
    }

    pub async fn try_login(&self, username: &str, password: &str) -> Reply {
        self.call(
            Method::POST,
            "/api/login",
            None,
            Some(serde_json::json!({ "username": username, "password": password })),
        )
        .await
    }

    /// Logs in, accepts recording when the session asks for it (as the guard's dialog
    /// would), and returns the cookie pair.
    pub async fn login(&self, username: &str) -> String {
        let cookie = self.login_pending(username).await;
        let view = self.get("/api/session", &cookie).await;
        if view.body["recording"]["consent"] == "pending" {
            let r = self
                .post(
                    "/api/session/consent",
                    &cookie,
                    serde_json::json!({ "accepted": true }),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "consent {username}: {:?}", r.body);
        }
        cookie
    }

    /// Logs in and returns the cookie pair, leaving recording consent unanswered.
    pub async fn login_pending(&self, username: &str) -> String {
        let password = format!("{username}-demo-pass");
        let reply = self.try_login(username, &password).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "login {username}: {:?}",
            reply.body
        );
        reply.cookie()
    }

    /// Status and `reason` of `GET /api/session` for this cookie.
    pub async fn session_status(&self, cookie: &str) -> (StatusCode, Option<String>) {
        let r = self.get("/api/session", cookie).await;
        let reason = r
            .body
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_owned);
        (r.status, reason)
    }

    pub async fn assert_live(&self, cookie: &str) {
        let (status, reason) = self.session_status(cookie).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "expected live session, got {reason:?}"
        );
    }

    pub async fn assert_ended(&self, cookie: &str, reason: &str) {
        let (status, got) = self.session_status(cookie).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(got.as_deref(), Some(reason));
    }

    /// Id of the named entity from an admin listing (`users` by username, else by name).
    pub async fn id_of(&self, admin: &str, kind: &str, name: &str) -> i64 {
        let list = self.get(&format!("/api/admin/{kind}"), admin).await;
        assert_eq!(list.status, StatusCode::OK);
        let key = if kind == "users" { "username" } else { "name" };
        list.body
            .as_array()
            .expect("array")
            .iter()
            .find(|e| e[key] == name)
            .and_then(|e| e["id"].as_i64())
            .unwrap_or_else(|| panic!("{kind} {name} not found"))
    }

    pub async fn audit(&self, admin: &str) -> Vec<Value> {
        let r = self.get("/api/admin/audit?limit=1000", admin).await;
        assert_eq!(r.status, StatusCode::OK);
        r.body.as_array().expect("array").clone()
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("sg-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
