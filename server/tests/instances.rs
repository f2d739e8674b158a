//! Several server instances on one PostgreSQL database, and PostgreSQL failing.
//!
//! The multi-instance tests exist only on PostgreSQL: they are `#[ignore]`d in the SQLite
//! pass and run in the PostgreSQL pass of `cargo xtask test` (`--include-ignored` with
//! `SG_TEST_DATABASE_URL`); without the variable they fail, never pass vacuously.

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::pg::{self, Proxy};
use common::TestApp;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use session_guard_server::Config;
use tower::ServiceExt;

/// Two instances on one fresh PostgreSQL database (`a` through `a_url`, which may be a
/// proxy's URL of the same database).
async fn two_instances(a_url: Option<String>, b_url: &str) -> (TestApp, TestApp) {
    let config = |url: String| Config {
        database_url: Some(url),
        ..Config::for_tests()
    };
    let a = TestApp::with_config(config(a_url.unwrap_or_else(|| b_url.to_owned()))).await;
    let b = TestApp::with_config(config(b_url.to_owned())).await;
    (a, b)
}

/// An event stream of `cookie`'s session, opened on `app`.
async fn open_stream(app: &TestApp, cookie: &str) -> Body {
    let req = Request::builder()
        .uri("/api/session/events")
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request");
    let resp = app.router.clone().oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.into_body()
}

/// The first `event: {name}` record of the stream within `limit`: its data.
async fn wait_for_event(stream: &mut Body, name: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    let wanted = format!("event: {name}");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, stream.frame())
            .await
            .unwrap_or_else(|_| panic!("no `{name}` event within {limit:?}"))
            .unwrap_or_else(|| panic!("the stream ended before `{name}`"))
            .expect("frame");
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let record = String::from_utf8_lossy(&data).into_owned();
        if record.lines().any(|l| l == wanted) {
            let data: String = record
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            return serde_json::from_str(&data).unwrap_or(Value::Null);
        }
    }
}

async fn session_id(app: &TestApp, cookie: &str) -> String {
    let view = app.get("/api/session", cookie).await;
    assert_eq!(view.status, StatusCode::OK, "{:?}", view.body);
    view.body["session_id"].as_str().expect("id").to_owned()
}

#[tokio::test]
#[ignore = "needs PostgreSQL: SG_TEST_DATABASE_URL (cargo xtask test sets it)"]
async fn endings_decided_on_one_instance_reach_the_streams_of_the_other_within_a_second() {
    let url = pg::fresh_database().await;
    let (a, b) = two_instances(None, &url).await;
    let admin = b.login("admin").await;
    let operators = b.id_of(&admin, "groups", "Operators").await;
    let operator_id = b.id_of(&admin, "users", "operator").await;
    let within = Duration::from_secs(1);

    // An administrator on B ends the session whose stream A holds.
    let cookie = a.login("operator").await;
    let id = session_id(&a, &cookie).await;
    let mut stream = open_stream(&a, &cookie).await;
    let r = b.delete(&format!("/api/admin/sessions/{id}"), &admin).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let ended = wait_for_event(&mut stream, "terminated", within).await;
    assert_eq!(ended["reason"], "remote_terminated");

    // A role change by group membership on B.
    let cookie = a.login("operator").await;
    let mut stream = open_stream(&a, &cookie).await;
    let r = b
        .delete(
            &format!("/api/admin/groups/{operators}/members/{operator_id}"),
            &admin,
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let ended = wait_for_event(&mut stream, "terminated", within).await;
    assert_eq!(ended["reason"], "role_changed");
    let r = b
        .post(
            &format!("/api/admin/groups/{operators}/members/{operator_id}"),
            &admin,
            json!({}),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);

    // A suspension on B.
    let cookie = a.login("operator").await;
    let mut stream = open_stream(&a, &cookie).await;
    let r = b
        .post(
            &format!("/api/admin/users/{operator_id}/suspend"),
            &admin,
            json!({}),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let ended = wait_for_event(&mut stream, "terminated", within).await;
    assert_eq!(ended["reason"], "suspended");

    // The user signs out through B while A holds the stream.
    let cookie = a.login("viewer").await;
    let mut stream = open_stream(&a, &cookie).await;
    let r = b.post("/api/logout", &cookie, json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let ended = wait_for_event(&mut stream, "terminated", within).await;
    assert_eq!(ended["reason"], "logged_out");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: SG_TEST_DATABASE_URL (cargo xtask test sets it)"]
async fn consent_given_on_one_instance_reaches_the_streams_of_the_other() {
    let url = pg::fresh_database().await;
    let (a, b) = two_instances(None, &url).await;
    let cookie = a.login_pending("operator").await;
    let mut stream = open_stream(&a, &cookie).await;
    let r = b
        .post("/api/session/consent", &cookie, json!({ "accepted": true }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let view = wait_for_event(&mut stream, "session", Duration::from_secs(1)).await;
    assert_eq!(view["recording"]["consent"], "accepted");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: SG_TEST_DATABASE_URL (cargo xtask test sets it)"]
async fn sweeps_on_two_instances_end_each_overdue_session_once() {
    let url = pg::fresh_database().await;
    let (a, b) = two_instances(None, &url).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        let cookie = a.login("operator").await;
        ids.push(session_id(&a, &cookie).await);
    }
    // Past the idle timeout on both instances' clocks, then both sweep at once (their
    // background sweepers run as well).
    let idle = i64::try_from(Config::for_tests().idle_timeout.as_millis()).expect("ms");
    for app in [&a, &b] {
        app.clock.advance(idle + 1_000);
    }
    let (ended_a, ended_b) = tokio::join!(a.state.sweep(), b.state.sweep());
    assert!(ended_a.expect("sweep a") + ended_b.expect("sweep b") <= ids.len());
    let admin = b.login("admin").await;
    let audit = b.audit(&admin).await;
    for id in &ids {
        let ends: Vec<&Value> = audit
            .iter()
            .filter(|e| e["kind"] == "session_ended" && e["session_id"] == id.as_str())
            .collect();
        assert_eq!(ends.len(), 1, "{id}: {ends:?}");
        assert_eq!(ends[0]["detail"]["reason"], "idle_timeout");
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: SG_TEST_DATABASE_URL (cargo xtask test sets it)"]
async fn a_lost_listening_connection_comes_back_and_pushes_the_endings_it_missed() {
    let url = pg::fresh_database().await;
    let proxy = Proxy::start(&url).await;
    let (a, b) = two_instances(Some(proxy.url(&url)), &url).await;
    let admin = b.login("admin").await;
    let cookie = b.login("operator").await;
    let id = session_id(&b, &cookie).await;
    let mut stream = open_stream(&a, &cookie).await;
    // A loses PostgreSQL (its listening connection with it); meanwhile B ends the session.
    proxy.down();
    let r = b.delete(&format!("/api/admin/sessions/{id}"), &admin).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.up().await;
    let ended = wait_for_event(&mut stream, "terminated", Duration::from_secs(5)).await;
    assert_eq!(ended["reason"], "remote_terminated");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: SG_TEST_DATABASE_URL (cargo xtask test sets it)"]
async fn postgres_gone_while_running_answers_503_and_nobody_is_signed_out() {
    let url = pg::fresh_database().await;
    let proxy = Proxy::start(&url).await;
    let app = TestApp::with_config(Config {
        database_url: Some(proxy.url(&url)),
        ..Config::for_tests()
    })
    .await;
    let cookie = app.login("operator").await;
    let id = session_id(&app, &cookie).await;
    proxy.down();
    let view = app.get("/api/session", &cookie).await;
    assert_eq!(
        view.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        view.body
    );
    assert_eq!(view.body["error"], "unavailable");
    assert_eq!(
        view.headers.get(header::RETRY_AFTER).map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let keepalive = app
        .post("/api/session/activity", &cookie, json!({ "idle_ms": 0 }))
        .await;
    assert_eq!(keepalive.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(keepalive.body["error"], "unavailable");
    proxy.up().await;
    // Back within a few seconds, with the same session.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let view = app.get("/api/session", &cookie).await;
        if view.status == StatusCode::OK {
            assert_eq!(view.body["session_id"], id.as_str());
            break;
        }
        assert_eq!(
            view.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{:?}",
            view.body
        );
        assert!(
            Instant::now() < deadline,
            "no recovery after PostgreSQL returned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn postgres_down_at_start_is_a_clear_error_and_a_failed_exit() {
    // A port nobody listens on: PostgreSQL is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_session-guard-server"))
        .args(["--addr", "127.0.0.1:0", "--fast-password-hashing"])
        .arg("--database-url")
        .arg(format!(
            "postgres://sg:secret-password@127.0.0.1:{port}/sessions"
        ))
        .output()
        .expect("the server runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot use the PostgreSQL database postgres://sg:***@127.0.0.1:"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-password"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "it never listened"
    );
}
