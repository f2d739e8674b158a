//! Restart safety (the same database file opened twice) and the static console.

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::{TempDir, TestApp, T0};
use serde_json::json;
use session_guard_server::{app, app_with_static, AppState, Config, ManualClock};

async fn open(config: &Config, clock: &Arc<ManualClock>) -> TestApp {
    let state = AppState::with_clock(config, clock.clone())
        .await
        .expect("state");
    TestApp {
        router: app(state.clone()),
        state,
        clock: clock.clone(),
    }
}

#[tokio::test]
async fn sessions_audit_and_admin_changes_survive_a_restart() {
    let dir = TempDir::new("restart");
    let mut config = Config::for_tests();
    config.db = dir.0.join("sg.sqlite").to_string_lossy().into_owned();
    let clock = Arc::new(ManualClock::new(T0));

    let (admin, operator, ended, sid) = {
        let t = open(&config, &clock).await;
        assert_eq!(t.state.schema_version().await.expect("version"), 8);
        let admin = t.login("admin").await;
        let operator = t.login("operator").await;
        let ended = t.login("viewer").await;
        t.post(
            "/api/session/consent",
            &operator,
            json!({ "accepted": true }),
        )
        .await;
        t.post(
            "/api/session/tabs",
            &operator,
            json!({ "tab_id": "tab-persisted" }),
        )
        .await;
        t.clock.advance(5_000);
        t.post(
            "/api/session/activity",
            &operator,
            json!({ "idle_ms": 1_000 }),
        )
        .await;
        t.post("/api/logout", &ended, json!({})).await;
        t.post(
            "/api/admin/roles",
            &admin,
            json!({ "name": "Kept", "scopes": ["k:v"] }),
        )
        .await;
        let sid = t.get("/api/session", &operator).await.body["session_id"].clone();
        (admin, operator, ended, sid)
    };

    // Second open of the same file: migrations are not re-applied, seed does not rerun.
    let t = open(&config, &clock).await;
    assert_eq!(t.state.schema_version().await.expect("version"), 8);
    let view = t.get("/api/session", &operator).await;
    assert_eq!(view.status, StatusCode::OK);
    assert_eq!(view.body["session_id"], sid);
    assert_eq!(view.body["recording"]["consent"], "accepted");
    assert_eq!(view.body["last_activity_at"], T0 + 4_000);
    t.assert_ended(&ended, "logged_out").await;
    let roles = t.get("/api/admin/roles", &admin).await;
    assert_eq!(roles.body.as_array().map(Vec::len), Some(3));
    let users = t.get("/api/admin/users", &admin).await;
    assert_eq!(users.body.as_array().map(Vec::len), Some(3));
    let sessions = t.get("/api/admin/sessions", &admin).await.body;
    let op = sessions
        .as_array()
        .expect("array")
        .iter()
        .find(|s| s["session_id"] == sid)
        .expect("operator session listed")
        .clone();
    assert_eq!(op["tabs"][0]["tab_id"], "tab-persisted");
    let audit = t.audit(&admin).await;
    for kind in [
        "seeded",
        "login",
        "consent",
        "tab_registered",
        "logout",
        "admin_role_created",
    ] {
        assert!(audit.iter().any(|e| e["kind"] == kind), "{kind} survived");
    }
    // Still enforced after the restart.
    let r = t
        .call(Method::POST, "/api/logout", Some(&operator), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.assert_ended(&operator, "logged_out").await;
}

#[tokio::test]
async fn upgrading_a_store_keeps_what_administrators_could_do() {
    // A store as the previous server (schema version 1) seeded it, where admin:manage
    // alone opened the whole admin API.
    let dir = TempDir::new("upgrade");
    let path = dir.0.join("old.sqlite");
    {
        let old = rusqlite::Connection::open(&path).expect("open");
        old.execute_batch(include_str!("../migrations/sqlite/0001_init.sql"))
            .expect("schema 1");
        old.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version (version) VALUES (1);
             INSERT INTO roles (id, name) VALUES (1, 'Administrator'), (2, 'Operator');
             INSERT INTO role_scopes (role_id, scope) VALUES
                 (1, 'admin:manage'), (1, 'console:access'), (1, 'sessions:terminate'),
                 (2, 'console:access');",
        )
        .expect("old data");
    }
    let mut config = Config::for_tests();
    config.db = path.to_string_lossy().into_owned();
    config.seed_demo = false;
    let clock = Arc::new(ManualClock::new(T0));
    let state = AppState::with_clock(&config, clock)
        .await
        .expect("migrated");
    assert_eq!(state.schema_version().await.expect("version"), 8);
    drop(state);
    let conn = rusqlite::Connection::open(&path).expect("reopen");
    let scopes = |role: i64| -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT scope FROM role_scopes WHERE role_id = ?1 ORDER BY scope")
            .expect("prepare");
        stmt.query_map([role], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    assert_eq!(
        scopes(1),
        [
            "admin:manage",
            "audit:read",
            "console:access",
            "recordings:delete",
            "recordings:read",
            "sessions:terminate"
        ]
    );
    // Roles without admin:manage gain nothing.
    assert_eq!(scopes(2), ["console:access"]);
}

#[tokio::test]
async fn seed_can_be_disabled() {
    let t = TestApp::with(|c| c.seed_demo = false).await;
    let r = t.try_login("admin", "admin-demo-pass").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn static_console_with_spa_fallback() {
    let dir = TempDir::new("static");
    std::fs::write(dir.0.join("index.html"), "<html>console</html>").expect("index");
    std::fs::write(dir.0.join("app.js"), "console.log(1)").expect("asset");
    let state = AppState::new(&Config::for_tests()).await.expect("state");
    let t = TestApp {
        router: app_with_static(state.clone(), Some(&dir.0)),
        state,
        clock: Arc::new(ManualClock::new(T0)),
    };
    let r = t.call(Method::GET, "/app.js", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!("console.log(1)"));
    for path in ["/", "/admin/sessions", "/login?reason=idle_timeout"] {
        let r = t.call(Method::GET, path, None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.body, json!("<html>console</html>"), "{path}");
    }
    // API paths never fall back to the console.
    let r = t.call(Method::GET, "/api/nope", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error"], "not_found");
    let r = t.call(Method::GET, "/api/session", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn upgrading_a_store_gives_its_live_sessions_their_privilege_and_deadlines() {
    // A store as the previous server (schema version 5) left it, with live sessions of a
    // user privileged through a group and of an unprivileged one.
    let dir = TempDir::new("upgrade-deadlines");
    let path = dir.0.join("v5.sqlite");
    {
        let old = rusqlite::Connection::open(&path).expect("open");
        for sql in [
            include_str!("../migrations/sqlite/0001_init.sql"),
            include_str!("../migrations/sqlite/0002_audit_context.sql"),
            include_str!("../migrations/sqlite/0003_admin_scopes.sql"),
            include_str!("../migrations/sqlite/0004_session_visibility.sql"),
            include_str!("../migrations/sqlite/0005_tab_termination.sql"),
        ] {
            old.execute_batch(sql).expect("schema");
        }
        old.execute_batch(&format!(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version (version) VALUES (1), (2), (3), (4), (5);
             INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES
                 (1, 'grouped', 'G', 'x', 0), (2, 'plain', 'P', 'x', 0);
             INSERT INTO roles (id, name) VALUES (1, 'Operator');
             INSERT INTO role_scopes (role_id, scope) VALUES (1, 'console:access');
             INSERT INTO access_groups (id, name) VALUES (1, 'Operators');
             INSERT INTO group_roles (group_id, role_id) VALUES (1, 1);
             INSERT INTO group_members (group_id, user_id) VALUES (1, 1);
             INSERT INTO sessions (id, token_hash, user_id, issued_at, expires_at,
                                   last_activity_at, recording_required, consent) VALUES
                 ('ses_grouped', 'h1', 1, {T0}, {end}, {T0}, 0, 'not_required'),
                 ('ses_plain', 'h2', 2, {T0}, {end}, {T0}, 0, 'not_required');",
            end = T0 + 3_600_000
        ))
        .expect("old data");
    }
    let mut config = Config::for_tests();
    config.db = path.to_string_lossy().into_owned();
    config.seed_demo = false;
    config.idle_timeout = std::time::Duration::from_secs(60);
    let clock = Arc::new(ManualClock::new(T0));
    let state = AppState::with_clock(&config, clock.clone())
        .await
        .expect("migrated");
    assert_eq!(state.schema_version().await.expect("version"), 8);
    let conn = rusqlite::Connection::open(&path).expect("reopen");
    let stored = |id: &str| -> (Option<i64>, Option<i64>) {
        conn.query_row(
            "SELECT privileged, next_deadline FROM sessions WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row")
    };
    // Privilege backfilled by the migration, deadlines by the start-up.
    assert_eq!(stored("ses_grouped"), (Some(1), Some(T0 + 60_000)));
    assert_eq!(stored("ses_plain"), (Some(0), Some(T0 + 3_600_000)));
    // And the sweep acts on them: the grouped user's idle deadline, nobody else.
    clock.advance(60_000);
    state.sweep().await.expect("sweep");
    let ended = |id: &str| -> Option<String> {
        conn.query_row("SELECT end_reason FROM sessions WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .expect("row")
    };
    assert_eq!(ended("ses_grouped").as_deref(), Some("idle_timeout"));
    assert_eq!(ended("ses_plain"), None);
}
