//! Server-sent events: in-process for the event contents, and over a real socket for the
//! "terminated within a second" guarantee.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::TestApp;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use session_guard_server::{app, AppState, Config, Recording};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// Next SSE record of an in-process stream as text, or None when the stream ended.
async fn next_event(body: &mut Body) -> Option<String> {
    let frame = tokio::time::timeout(Duration::from_secs(2), body.frame())
        .await
        .expect("an event within 2 s")?
        .expect("frame");
    let data = frame.into_data().expect("data frame");
    Some(String::from_utf8_lossy(&data).into_owned())
}

fn parse(record: &str) -> (String, Value) {
    let mut name = String::new();
    let mut data = String::new();
    for line in record.lines() {
        if let Some(v) = line.strip_prefix("event: ") {
            name = v.to_owned();
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push_str(v);
        }
    }
    (name, serde_json::from_str(&data).unwrap_or(Value::Null))
}

async fn open_in_process(t: &TestApp, cookie: &str) -> Body {
    let req = Request::builder()
        .uri("/api/session/events")
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request");
    let resp = t.router.clone().oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    resp.into_body()
}

#[tokio::test]
async fn a_tab_ended_by_an_administrator_is_pushed_and_the_stream_stays_open() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let viewer = t.login("viewer").await;
    let r = t
        .post(
            "/api/session/tabs",
            &viewer,
            json!({ "tab_id": "tab-ended-001" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let mut stream = open_in_process(&t, &viewer).await;
    let view = t.get("/api/session", &viewer).await;
    let session_id = view.body["session_id"].as_str().expect("id").to_owned();
    let r = t
        .delete(
            &format!("/api/admin/sessions/{session_id}/tabs/tab-ended-001"),
            &admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let record = next_event(&mut stream).await.expect("an event");
    assert_eq!(
        parse(&record),
        ("tab_ended".to_owned(), json!({ "tab_id": "tab-ended-001" }))
    );
    // The session goes on: a later ending still reaches the same stream.
    let r = t
        .delete(&format!("/api/admin/sessions/{session_id}"), &admin)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let record = next_event(&mut stream).await.expect("an event");
    assert_eq!(parse(&record).0, "terminated");
}

#[tokio::test]
async fn streams_carry_view_updates_then_terminated_and_close() {
    // Every session recorded, so the viewer is asked too (and the stream opens while
    // consent is pending).
    let t = TestApp::with(|c| c.recording = Recording::All).await;
    let admin = t.login("admin").await;
    let viewer = t.login_pending("viewer").await;
    let mut tab1 = open_in_process(&t, &viewer).await;
    let mut tab2 = open_in_process(&t, &viewer).await;

    // Consent given in one tab reaches every stream of the session.
    let r = t
        .post("/api/session/consent", &viewer, json!({ "accepted": true }))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    for body in [&mut tab1, &mut tab2] {
        let (name, data) = parse(&next_event(body).await.expect("event"));
        assert_eq!(name, "session");
        assert_eq!(data["recording"]["consent"], "accepted");
    }

    // A raise pushes the new view.
    let viewer_id = t.id_of(&admin, "users", "viewer").await;
    t.post(
        &format!("/api/admin/groups/1/members/{viewer_id}"),
        &admin,
        json!({}),
    )
    .await;
    for body in [&mut tab1, &mut tab2] {
        let (name, data) = parse(&next_event(body).await.expect("event"));
        assert_eq!(name, "session");
        assert_eq!(data["privileged"], true);
        assert_eq!(
            data["scopes"],
            json!(["console:access", "sessions:terminate"])
        );
    }

    // Losing it terminates every stream, which then closes.
    t.delete(&format!("/api/admin/groups/1/members/{viewer_id}"), &admin)
        .await;
    for body in [&mut tab1, &mut tab2] {
        let record = next_event(body).await.expect("event");
        assert!(record.starts_with("event: terminated\n"), "{record}");
        let (_, data) = parse(&record);
        assert_eq!(data, json!({ "reason": "role_changed" }));
        assert!(
            next_event(body).await.is_none(),
            "stream closes after terminated"
        );
    }

    // An ended session cannot open a stream: 401 with the reason.
    let req = Request::builder()
        .uri("/api/session/events")
        .header(header::COOKIE, &viewer)
        .body(Body::empty())
        .expect("request");
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["reason"], "role_changed");
}

#[tokio::test]
async fn logout_and_decline_terminate_other_tabs() {
    let t = TestApp::new().await;
    let c = t.login("operator").await;
    let mut body = open_in_process(&t, &c).await;
    // A declared idle timeout is accepted once the server's own idle deadline has passed.
    t.clock.advance(15 * 60_000);
    t.post("/api/logout", &c, json!({ "reason": "idle_timeout" }))
        .await;
    let (name, data) = parse(&next_event(&mut body).await.expect("event"));
    assert_eq!(
        (name.as_str(), data),
        ("terminated", json!({ "reason": "idle_timeout" }))
    );

    // The stream is open while consent is pending; declining then ends the session.
    let c = t.login_pending("operator").await;
    let mut body = open_in_process(&t, &c).await;
    t.post("/api/session/consent", &c, json!({ "accepted": false }))
        .await;
    let (_, data) = parse(&next_event(&mut body).await.expect("event"));
    assert_eq!(data, json!({ "reason": "consent_declined" }));
}

#[tokio::test]
async fn sweep_pushes_idle_timeout() {
    let t = TestApp::with(|c| c.idle_timeout = Duration::from_secs(60)).await;
    let c = t.login("admin").await;
    let mut body = open_in_process(&t, &c).await;
    t.clock.advance(60_000);
    // The background task runs every 250 ms; no explicit sweep needed.
    let (name, data) = parse(&next_event(&mut body).await.expect("event"));
    assert_eq!(name, "terminated");
    assert_eq!(data, json!({ "reason": "idle_timeout" }));
}

// ---- over a real socket ----

async fn serve(config: &Config) -> (AppState, SocketAddr) {
    let state = AppState::new(config).await.expect("state");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = app(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (state, addr)
}

async fn http(addr: SocketAddr, request: String) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("response in time")
        .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

async fn login(addr: SocketAddr, user: &str) -> String {
    let body = json!({ "username": user, "password": format!("{user}-demo-pass") }).to_string();
    let resp = http(
        addr,
        format!(
            "POST /api/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let line = resp
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("cookie");
    let value = line.split_once(':').expect("header").1.trim();
    let cookie = value.split(';').next().expect("pair").to_owned();
    if resp.contains(r#""consent":"pending""#) {
        let body = r#"{"accepted":true}"#;
        let resp = http(
            addr,
            format!(
                "POST /api/session/consent HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            ),
        )
        .await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    }
    cookie
}

/// Opens the event stream and returns the socket once the `200` headers arrived.
async fn open_stream(addr: SocketAddr, cookie: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(
        format!(
            "GET /api/session/events HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\
             Accept: text/event-stream\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .expect("write");
    let mut acc = String::new();
    assert!(
        read_until(&mut s, &mut acc, "\r\n\r\n", Duration::from_secs(2)).await,
        "headers"
    );
    assert!(acc.starts_with("HTTP/1.1 200"), "{acc}");
    assert!(acc
        .to_ascii_lowercase()
        .contains("content-type: text/event-stream"));
    (s, acc)
}

async fn read_until(s: &mut TcpStream, acc: &mut String, needle: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 4096];
    while !acc.contains(needle) {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return false,
            Ok(Ok(n)) => acc.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    true
}

#[tokio::test]
async fn terminated_reaches_a_real_socket_within_one_second() {
    let (state, addr) = serve(&Config::for_tests()).await;
    let admin = login(addr, "admin").await;
    let operator = login(addr, "operator").await;
    let (mut stream, mut acc) = open_stream(addr, &operator).await;
    let (mut stream2, mut acc2) = open_stream(addr, &operator).await;

    let sessions = http(
        addr,
        format!(
            "GET /api/admin/sessions HTTP/1.1\r\nHost: {addr}\r\nCookie: {admin}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    let json_start = sessions.find('[').expect("json body");
    let json_end = sessions.rfind(']').expect("json body");
    let list: Value = serde_json::from_str(&sessions[json_start..=json_end]).expect("list");
    let sid = list
        .as_array()
        .expect("array")
        .iter()
        .find(|s| s["username"] == "operator")
        .and_then(|s| s["session_id"].as_str())
        .expect("operator session")
        .to_owned();

    let started = Instant::now();
    let resp = http(
        addr,
        format!(
            "DELETE /api/admin/sessions/{sid} HTTP/1.1\r\nHost: {addr}\r\nCookie: {admin}\r\n\
             Content-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 204"), "{resp}");
    for (s, acc) in [(&mut stream, &mut acc), (&mut stream2, &mut acc2)] {
        assert!(
            read_until(
                s,
                acc,
                "\"reason\":\"remote_terminated\"",
                Duration::from_secs(1)
            )
            .await,
            "terminated within 1 s, got {acc:?}"
        );
        assert!(acc.contains("event: terminated"));
        // The stream ends: the chunked body's last chunk follows.
        assert!(
            read_until(s, acc, "\r\n0\r\n\r\n", Duration::from_secs(1)).await,
            "stream closed, got {acc:?}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    drop(state);
}

#[tokio::test]
async fn idle_timeout_is_pushed_proactively_over_a_real_socket() {
    let mut config = Config::for_tests();
    // The shortest idle timeout the guard (and so the server) accepts.
    config.idle_timeout = Duration::from_millis(1_000);
    let (_state, addr) = serve(&config).await;
    let logged_in = Instant::now();
    let admin = login(addr, "admin").await;
    let (mut stream, mut acc) = open_stream(addr, &admin).await;
    assert!(
        read_until(
            &mut stream,
            &mut acc,
            "\"reason\":\"idle_timeout\"",
            Duration::from_secs(3)
        )
        .await,
        "idle timeout pushed, got {acc:?}"
    );
    let elapsed = logged_in.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1_000),
        "not before the deadline: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(2_000),
        "within a second of it: {elapsed:?}"
    );
}

/// The id of the session behind `cookie`.
async fn session_id_of(t: &TestApp, cookie: &str) -> String {
    let view = t.get("/api/session", cookie).await;
    view.body["session_id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_held_session_request_returns_when_the_session_is_terminated() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let viewer = t.login("viewer").await;
    let session_id = session_id_of(&t, &viewer).await;
    // Far more than the longest hold: clamped, not refused.
    let held = {
        let (router, cookie) = (t.router.clone(), viewer.clone());
        tokio::spawn(async move {
            let req = Request::builder()
                .uri("/api/session?wait=999999999")
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .expect("request");
            let resp = router.oneshot(req).await.expect("infallible");
            let status = resp.status();
            let bytes = resp.into_body().collect().await.expect("body").to_bytes();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            (status, body)
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!held.is_finished(), "held while nothing changes");
    let r = t
        .delete(&format!("/api/admin/sessions/{session_id}"), &admin)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let (status, body) = tokio::time::timeout(Duration::from_secs(2), held)
        .await
        .expect("answered once the session ended")
        .expect("task");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["reason"], "remote_terminated");
}

#[tokio::test]
async fn a_held_session_request_returns_the_view_with_a_change_or_after_the_wait() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let operator = t.login("operator").await;
    let started = Instant::now();
    let r = t.get("/api/session?wait=300", &operator).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "held for the wait"
    );
    assert_eq!(r.body["session_id"], session_id_of(&t, &operator).await);
    // An administrator ending another of the operator's tabs changes nothing here.
    let r = t
        .post(
            "/api/session/tabs",
            &operator,
            json!({ "tab_id": "tab-held-0001" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let session_id = session_id_of(&t, &operator).await;
    let started = Instant::now();
    let held = {
        let t_router = t.router.clone();
        let cookie = operator.clone();
        tokio::spawn(async move {
            let req = Request::builder()
                .uri("/api/session?wait=400")
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .expect("request");
            t_router.oneshot(req).await.expect("infallible").status()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = t
        .delete(
            &format!("/api/admin/sessions/{session_id}/tabs/tab-held-0001"),
            &admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(held.await.expect("task"), StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "another tab's ending does not release the request"
    );
}

#[tokio::test]
async fn a_bad_wait_is_refused_and_zero_answers_at_once() {
    let t = TestApp::new().await;
    let viewer = t.login("viewer").await;
    for bad in ["-5", "abc", "1.5", ""] {
        let r = t.get(&format!("/api/session?wait={bad}"), &viewer).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "wait={bad}");
        assert_eq!(r.body["error"], "bad_request", "wait={bad}");
    }
    let r = t.get("/api/session?wait=0", &viewer).await;
    assert_eq!(r.status, StatusCode::OK);
}
