//! Security headers, body rules on every state-changing route, start-up refusal of
//! settings the guard would refuse, and a clean stop on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use base64::Engine as _;
use common::{TempDir, TestApp, T0};
use serde_json::json;
use session_guard_server::{app_with_static, AppState, Config, InitError, ManualClock};
use sha2::{Digest, Sha256};

/// What trunk writes into `dist/index.html`: an inline module script that loads the wasm.
const LOADER: &str =
    "import init from '/console.js';await init({ module_or_path: '/console_bg.wasm' });";

fn assert_security_headers(r: &common::Reply, what: &str) {
    let csp = r
        .headers
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"));
    for part in [
        "default-src 'none'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{what}: {csp} lacks {part}");
    }
    assert!(!csp.contains("'unsafe-eval'"), "{what}: {csp}");
    assert!(!csp.contains("'unsafe-inline'"), "{what}: {csp}");
    assert_eq!(
        r.headers[header::X_CONTENT_TYPE_OPTIONS],
        "nosniff",
        "{what}"
    );
    assert_eq!(r.headers[header::REFERRER_POLICY], "same-origin", "{what}");
    assert!(
        r.headers.get(header::STRICT_TRANSPORT_SECURITY).is_none(),
        "{what}: no HSTS over plain HTTP"
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let dir = TempDir::new("csp");
    std::fs::write(
        dir.0.join("index.html"),
        format!("<html><head><script type=\"module\">{LOADER}</script></head><body></body></html>"),
    )
    .expect("index");
    std::fs::write(dir.0.join("console.js"), "export default 1;").expect("js");
    let config = Config::for_tests();
    let state = AppState::with_clock(&config, Arc::new(ManualClock::new(T0)))
        .await
        .expect("state");
    let t = TestApp {
        router: app_with_static(state.clone(), Some(&dir.0)),
        state,
        clock: Arc::new(ManualClock::new(T0)),
    };
    let page = t
        .send(Request::get("/").body(Body::empty()).expect("request"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_security_headers(&page, "index.html");
    // trunk's inline loader is allowed by its hash, and only it.
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(LOADER));
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("ascii");
    assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");

    let js = t
        .send(
            Request::get("/console.js")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_security_headers(&js, "console.js");
    let spa = t
        .send(Request::get("/admin").body(Body::empty()).expect("request"))
        .await;
    assert_security_headers(&spa, "client-side route");
    // The player page alone allows inline styles (rrweb's rebuilt style sheets), and no
    // image or font from anywhere but `data:`, for the replayed document it frames.
    let player = t
        .send(
            Request::get("/admin/replay?session=s&tab=t")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(player.status, StatusCode::OK);
    let policy = player.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("ascii");
    for part in [
        "default-src 'none'",
        &format!("script-src 'self' 'wasm-unsafe-eval' 'sha256-{hash}'"),
        "style-src 'self' 'unsafe-inline'",
        "img-src data:;",
        "font-src data:;",
        "media-src 'none'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(part), "player page: {policy} lacks {part}");
    }
    assert!(!policy.contains("'unsafe-eval'"), "{policy}");

    let ok = t.try_login("viewer", "viewer-demo-pass").await;
    assert_security_headers(&ok, "login");
    let unauthenticated = t.get("/api/session", "sg_session=x").await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
    assert_security_headers(&unauthenticated, "401");
    let missing = t.get("/api/nothing", "").await;
    assert_security_headers(&missing, "404");
    let rejected = t
        .send(
            Request::post("/api/logout")
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from("x"))
                .expect("request"),
        )
        .await;
    assert_eq!(rejected.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_security_headers(&rejected, "415");
}

fn raw(method: Method, uri: &str, cookie: &str, body: Body) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("request")
}

fn chunked(size: usize) -> Body {
    let chunk = "x".repeat(4096);
    let chunks: Vec<Result<String, std::io::Error>> =
        (0..size / 4096).map(|_| Ok(chunk.clone())).collect();
    Body::from_stream(futures_util::stream::iter(chunks))
}

#[tokio::test]
async fn routes_that_ignore_their_body_still_refuse_garbage_and_oversize() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let viewer_id = t.id_of(&admin, "users", "viewer").await;
    let routes = [
        (
            Method::POST,
            format!("/api/admin/users/{viewer_id}/terminate-sessions"),
        ),
        (
            Method::POST,
            format!("/api/admin/users/{viewer_id}/unsuspend"),
        ),
        (Method::DELETE, "/api/admin/roles/999".to_owned()),
        (Method::POST, "/api/logout".to_owned()),
    ];
    for (method, uri) in &routes {
        let r = t
            .send(raw(method.clone(), uri, &admin, Body::from("garbage")))
            .await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{method} {uri}: {:?}",
            r.body
        );
        assert_eq!(r.body["error"], "bad_request");
        // 200 KB, chunked: no Content-Length to refuse it by.
        let r = t
            .send(raw(method.clone(), uri, &admin, chunked(200 * 1024)))
            .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{method} {uri}");
        assert_eq!(r.body["error"], "payload_too_large");
    }
    t.assert_live(&admin).await;
    // An empty body still counts as `{}`, and JSON bodies pass.
    let r = t
        .send(raw(
            Method::POST,
            &format!("/api/admin/users/{viewer_id}/unsuspend"),
            &admin,
            Body::empty(),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = t
        .post(
            &format!("/api/admin/users/{viewer_id}/terminate-sessions"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn settings_the_guard_would_refuse_are_refused_at_start_up() {
    type Tweak = fn(&mut Config);
    let cases: [(&str, Tweak); 6] = [
        ("--keepalive-interval", |c| {
            c.keepalive_interval = Duration::ZERO
        }),
        ("--warning-lead", |c| c.warning_lead = Duration::ZERO),
        ("--idle-timeout", |c| {
            c.idle_timeout = Duration::from_secs(7 * 86_400 + 1)
        }),
        ("--session-lifetime", |c| {
            c.session_lifetime = Duration::from_secs(31 * 86_400 + 1)
        }),
        ("--keepalive-interval", |c| {
            c.keepalive_interval = Duration::from_millis(500)
        }),
        ("--idle-timeout", |c| c.idle_timeout = Duration::ZERO),
    ];
    for (flag, tweak) in cases {
        let mut config = Config::for_tests();
        tweak(&mut config);
        match AppState::new(&config).await {
            Err(InitError::Config(message)) => {
                assert!(message.contains(flag), "{flag}: {message}");
            }
            Err(other) => panic!("{flag}: wrong error {other}"),
            Ok(_) => panic!("{flag}: accepted"),
        }
    }
    // The limits themselves are fine.
    let mut config = Config::for_tests();
    config.idle_timeout = Duration::from_secs(7 * 86_400);
    config.session_lifetime = Duration::from_secs(31 * 86_400);
    config.keepalive_interval = Duration::from_secs(1);
    config.warning_lead = Duration::from_millis(1);
    assert!(AppState::new(&config).await.is_ok());
}

/// Reads an HTTP response head from `stream` (up to the blank line).
fn read_head(reader: &mut BufReader<TcpStream>) -> String {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("read") == 0 || line == "\r\n" {
            return head;
        }
        head.push_str(&line);
    }
}

#[test]
fn sigterm_ends_open_event_streams_cleanly_and_exits_zero() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_session-guard-server"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--db",
            ":memory:",
            "--fast-password-hashing",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("listening line");
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .expect("address")
        .to_owned();

    let body = r#"{"username":"viewer","password":"viewer-demo-pass"}"#;
    let mut login = TcpStream::connect(&addr).expect("connect");
    write!(
        login,
        "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send login");
    let mut reader = BufReader::new(login);
    let head = read_head(&mut reader);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|v| v.split(';').next())
        .expect("cookie")
        .to_owned();

    let stream = TcpStream::connect(&addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut events = stream.try_clone().expect("clone");
    write!(
        events,
        "GET /api/session/events HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n"
    )
    .expect("send events");
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    let pid = child.id().to_string();
    // The shell's builtin `kill`: no procps needed.
    let status = Command::new("sh")
        .args(["-c", "kill -TERM \"$0\"", &pid])
        .status()
        .expect("kill");
    assert!(status.success());

    // The stream ends with the chunked encoding's last chunk, not a cut connection.
    let mut rest = Vec::new();
    let read = reader.read_to_end(&mut rest);
    assert!(read.is_ok(), "stream cut: {read:?}");
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        rest.ends_with("0\r\n\r\n"),
        "stream did not end cleanly: {rest:?}"
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "server still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert!(exit.success(), "exit {exit:?}: {stderr}");
    assert!(stderr.contains("shutting down"), "{stderr}");
}
