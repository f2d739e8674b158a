//! Session recording on the server (issue 11): chunk uploads (order, idempotency, limits,
//! consent and session checks), the server's own record of API requests, the admin
//! review API, retention, and the opener rule of tab registration.

mod common;

use std::io::Write as _;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use common::{Reply, TestApp, T0};
use flate2::write::GzEncoder;
use flate2::Compression;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use session_guard_contract::recording::{
    CLOSED_TAB_GRACE, MAX_CHUNK_COMPRESSED_BYTES, MAX_CHUNK_DECOMPRESSED_BYTES,
};
use session_guard_server::Clock as _;
use tower::ServiceExt;

const TAB: &str = "tab_rec_0001";
const OTHER_TAB: &str = "tab_rec_0002";

fn gzip_with(bytes: &[u8], level: Compression) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), level);
    encoder.write_all(bytes).expect("write");
    encoder.finish().expect("finish")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    gzip_with(bytes, Compression::default())
}

/// A valid chunk of `tab` at `seq` whose one event says `marker`.
fn chunk(tab: &str, seq: u32, marker: &str) -> Value {
    let at = T0 + i64::from(seq) * 5_000;
    json!({
        "format": "rrweb", "format_version": 1, "seq": seq, "tab_id": tab,
        "started_at": at, "ended_at": at + 4_000, "clock_offset_ms": 0,
        "events": [{ "type": 5, "data": { "tag": "marker", "payload": marker }, "timestamp": at }],
    })
}

fn upload_request(cookie: Option<&str>, tab: &str, seq: &str, body: Vec<u8>) -> Request<Body> {
    let mut builder = Request::post(format!("/api/session/tabs/{tab}/recording/{seq}"))
        .header(header::CONTENT_TYPE, "application/gzip");
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Body::from(body)).expect("request")
}

async fn upload_bytes(t: &TestApp, cookie: &str, tab: &str, seq: u32, body: Vec<u8>) -> Reply {
    t.send(upload_request(Some(cookie), tab, &seq.to_string(), body))
        .await
}

async fn upload(t: &TestApp, cookie: &str, tab: &str, seq: u32, chunk: &Value) -> Reply {
    upload_bytes(t, cookie, tab, seq, gzip(chunk.to_string().as_bytes())).await
}

async fn register(t: &TestApp, cookie: &str, tab: &str, opener: Option<&str>) {
    let r = t
        .post(
            "/api/session/tabs",
            cookie,
            json!({ "tab_id": tab, "opener_tab_id": opener }),
        )
        .await;
    assert!(r.status.is_success(), "register {tab}: {:?}", r.body);
}

async fn session_id(t: &TestApp, cookie: &str) -> String {
    t.get("/api/session", cookie).await.body["session_id"]
        .as_str()
        .expect("session id")
        .to_owned()
}

/// The admin signed in with consent given and one registered tab.
async fn recorded_admin(t: &TestApp) -> String {
    let admin = t.login("admin").await;
    register(t, &admin, TAB, None).await;
    admin
}

fn assert_error(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(r.body["error"], code, "{:?}", r.body);
}

async fn detail(t: &TestApp, admin: &str, sid: &str, tab: &str) -> Reply {
    t.get(&format!("/api/admin/recordings/{sid}/tabs/{tab}"), admin)
        .await
}

/// The recorded API requests of a tab's detail `actions` made after `start`, in order.
fn actions_after(actions: &[Value], start: i64) -> Vec<Value> {
    actions
        .iter()
        .filter(|a| a["at"].as_i64() > Some(start))
        .cloned()
        .collect()
}

// ---- upload ----

#[tokio::test]
async fn chunks_are_stored_in_order_and_a_retry_is_idempotent() {
    let t = TestApp::new().await;
    let admin = recorded_admin(&t).await;
    let first = chunk(TAB, 0, "first");
    let r = upload(&t, &admin, TAB, 0, &first).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body, json!({ "seq": 0 }));
    // The same chunk again, even compressed differently: a retry, nothing changes.
    let r = upload_bytes(
        &t,
        &admin,
        TAB,
        0,
        gzip_with(first.to_string().as_bytes(), Compression::best()),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({ "seq": 0 }));
    // The same seq with other content is a conflict, naming the seq expected next.
    let r = upload(&t, &admin, TAB, 0, &chunk(TAB, 0, "changed")).await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
    assert_eq!(r.body["next_seq"], 1, "{:?}", r.body);
    // A gap: 2 before 1.
    let r = upload(&t, &admin, TAB, 2, &chunk(TAB, 2, "third")).await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
    assert_eq!(r.body["next_seq"], 1, "{:?}", r.body);
    let r = upload(&t, &admin, TAB, 1, &chunk(TAB, 1, "second")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = upload(&t, &admin, TAB, 2, &chunk(TAB, 2, "third")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // Another tab of the session counts from 0 on its own.
    register(&t, &admin, OTHER_TAB, Some(TAB)).await;
    let r = upload(&t, &admin, OTHER_TAB, 1, &chunk(OTHER_TAB, 1, "x")).await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
    assert_eq!(r.body["next_seq"], 0, "{:?}", r.body);
    let r = upload(&t, &admin, OTHER_TAB, 0, &chunk(OTHER_TAB, 0, "x")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    // Stored with their time range, in order, and served back as uploaded.
    let sid = session_id(&t, &admin).await;
    let d = detail(&t, &admin, &sid, TAB).await;
    assert_eq!(d.status, StatusCode::OK, "{:?}", d.body);
    let chunks = d.body["chunks"].as_array().expect("chunks");
    let seqs: Vec<i64> = chunks.iter().filter_map(|c| c["seq"].as_i64()).collect();
    assert_eq!(seqs, [0, 1, 2]);
    assert_eq!(chunks[1]["started_at"], T0 + 5_000);
    assert_eq!(chunks[1]["ended_at"], T0 + 9_000);
    assert_eq!(d.body["tab"]["chunks"], 3);
    assert_eq!(d.body["tab"]["duration_ms"], 14_000);
    let stored = get_raw(
        &t,
        &format!("/api/admin/recordings/{sid}/tabs/{TAB}/chunks/1"),
        &admin,
    )
    .await;
    assert_eq!(stored.0, StatusCode::OK);
    assert!(header_is(&stored.1, header::CONTENT_ENCODING, "gzip"));
    assert!(header_is(
        &stored.1,
        header::CONTENT_TYPE,
        "application/json"
    ));
    assert!(header_is(&stored.1, header::CACHE_CONTROL, "no-store"));
    assert_eq!(
        stored.2,
        gzip(chunk(TAB, 1, "second").to_string().as_bytes())
    );
}

/// A GET whose body is returned as it came (the gzip chunk download).
async fn get_raw(t: &TestApp, path: &str, cookie: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let req = Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request");
    let resp = t.router.clone().oneshot(req).await.expect("infallible");
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

fn header_is(headers: &HeaderMap, name: header::HeaderName, value: &str) -> bool {
    headers.get(name).and_then(|v| v.to_str().ok()) == Some(value)
}

#[tokio::test]
async fn oversized_chunks_and_decompression_bombs_are_refused() {
    let t = TestApp::new().await;
    let admin = recorded_admin(&t).await;
    // Over 512 KiB on the wire: random bytes do not compress. Declared or not.
    let mut noise = Vec::with_capacity(MAX_CHUNK_COMPRESSED_BYTES + 1);
    let mut x: u32 = 0x1234_5678;
    while noise.len() <= MAX_CHUNK_COMPRESSED_BYTES {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise.extend_from_slice(&x.to_le_bytes());
    }
    let r = upload_bytes(&t, &admin, TAB, 0, noise.clone()).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let mut declared = upload_request(Some(&admin), TAB, "0", noise.clone());
    declared
        .headers_mut()
        .insert(header::CONTENT_LENGTH, noise.len().into());
    assert_error(
        &t.send(declared).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    // A small body that inflates past 8 MiB: refused without inflating all of it.
    let mut padded = chunk(TAB, 0, "bomb");
    padded["events"][0]["data"]["payload"] = json!(" ".repeat(MAX_CHUNK_DECOMPRESSED_BYTES));
    let bomb = gzip(padded.to_string().as_bytes());
    assert!(
        bomb.len() < MAX_CHUNK_COMPRESSED_BYTES / 8,
        "{}",
        bomb.len()
    );
    let r = upload_bytes(&t, &admin, TAB, 0, bomb).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Just under both limits is fine.
    let mut large = chunk(TAB, 0, "large");
    large["events"][0]["data"]["payload"] = json!(" ".repeat(MAX_CHUNK_DECOMPRESSED_BYTES - 1024));
    let r = upload(&t, &admin, TAB, 0, &large).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

#[tokio::test]
async fn malformed_chunks_are_bad_requests() {
    let t = TestApp::new().await;
    let admin = recorded_admin(&t).await;
    let valid = chunk(TAB, 0, "ok");
    let r = upload_bytes(&t, &admin, TAB, 0, valid.to_string().into_bytes()).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    let r = upload_bytes(&t, &admin, TAB, 0, gzip(b"not json")).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    let mut cases = Vec::new();
    for (field, value) in [
        ("events", json!({ "type": 2 })),
        ("events", json!([1])),
        ("seq", json!(1)),
        ("tab_id", json!(OTHER_TAB)),
        ("format", json!("other")),
        ("format_version", json!(2)),
        ("ended_at", json!(T0 - 1)),
    ] {
        let mut bad = valid.clone();
        bad[field] = value;
        cases.push(bad);
    }
    for bad in cases {
        let r = upload(&t, &admin, TAB, 0, &bad).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    }
    for seq in ["-1", "x", "4294967296"] {
        let r = t
            .send(upload_request(Some(&admin), TAB, seq, gzip(b"{}")))
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    }
    let r = t
        .send(upload_request(Some(&admin), "bad.tab.0", "0", gzip(b"{}")))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // The one non-JSON route takes gzip only.
    let mut json_body = upload_request(Some(&admin), TAB, "0", valid.to_string().into_bytes());
    json_body.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/json".parse().expect("mime"),
    );
    assert_error(
        &t.send(json_body).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    // Nothing was stored by any of these.
    let r = upload(&t, &admin, TAB, 0, &valid).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

#[tokio::test]
async fn uploads_need_a_live_consented_recorded_session_and_its_own_tab() {
    let t = TestApp::new().await;
    // 401 without a session.
    let r = t
        .send(upload_request(
            None,
            TAB,
            "0",
            gzip(chunk(TAB, 0, "x").to_string().as_bytes()),
        ))
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    // 403 consent_required while consent is pending.
    let pending = t.login_pending("admin").await;
    let r = upload(&t, &pending, TAB, 0, &chunk(TAB, 0, "x")).await;
    assert_error(&r, StatusCode::FORBIDDEN, "consent_required");
    // 403 forbidden for a session that is not recorded (the viewer is not privileged).
    let viewer = t.login("viewer").await;
    assert_eq!(
        t.get("/api/session", &viewer).await.body["recording"]["required"],
        false
    );
    register(&t, &viewer, TAB, None).await;
    let r = upload(&t, &viewer, TAB, 0, &chunk(TAB, 0, "x")).await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    // 404 for a tab of another session, and for an unregistered one.
    let admin = recorded_admin(&t).await;
    let second = t.login("admin").await;
    let r = upload(&t, &second, TAB, 0, &chunk(TAB, 0, "x")).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = upload(&t, &admin, OTHER_TAB, 0, &chunk(OTHER_TAB, 0, "x")).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    // The session's own tab is fine.
    let r = upload(&t, &admin, TAB, 0, &chunk(TAB, 0, "x")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // An ended session: 401.
    t.call(Method::POST, "/api/logout", Some(&admin), None)
        .await;
    let r = upload(&t, &admin, TAB, 1, &chunk(TAB, 1, "x")).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn a_closed_tab_takes_its_last_chunk_within_the_grace_then_refuses() {
    let t = TestApp::new().await;
    let admin = recorded_admin(&t).await;
    let r = t
        .post(&format!("/api/session/tabs/{TAB}/close"), &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // The beacon overtook the last chunk: still taken.
    let r = upload(&t, &admin, TAB, 0, &chunk(TAB, 0, "last")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    t.clock.advance(CLOSED_TAB_GRACE.as_millis() + 1);
    let r = upload(&t, &admin, TAB, 1, &chunk(TAB, 1, "late")).await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
    // A closed recording is no sequence problem: nothing to renumber to.
    assert!(r.body.get("next_seq").is_none(), "{:?}", r.body);
    // An administrator ended a tab: refused at once.
    register(&t, &admin, OTHER_TAB, None).await;
    let sid = session_id(&t, &admin).await;
    let r = t
        .delete(
            &format!("/api/admin/sessions/{sid}/tabs/{OTHER_TAB}"),
            &admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = upload(&t, &admin, OTHER_TAB, 0, &chunk(OTHER_TAB, 0, "x")).await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
    assert!(r.body.get("next_seq").is_none(), "{:?}", r.body);
}

/// A tab goes on across page loads with one sequence. The last chunk of a page leaves in a
/// `keepalive` request nobody reads: when it is lost, the next page's first chunk is a gap;
/// when it lands late, the next page's own chunk of that seq is taken. Either way the `409`
/// names the seq the server stores next, so the guard can renumber instead of retrying a
/// refusal forever.
#[tokio::test]
async fn sequence_conflicts_name_the_next_seq_for_a_lost_or_late_pagehide_chunk() {
    let t = TestApp::new().await;
    let admin = recorded_admin(&t).await;
    for seq in 0..3 {
        let r = upload(&t, &admin, TAB, seq, &chunk(TAB, seq, "page one")).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    // Page one's pagehide chunk 3 is lost; page two starts at 4.
    let r = upload(&t, &admin, TAB, 4, &chunk(TAB, 4, "page two")).await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
    assert_eq!(r.body["next_seq"], 3, "{:?}", r.body);
    // Renumbered from 3, it is stored.
    let r = upload(&t, &admin, TAB, 3, &chunk(TAB, 3, "page two")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    // Page two's pagehide chunk 4 lands before page three's own chunk 4.
    let r = upload(&t, &admin, TAB, 4, &chunk(TAB, 4, "page two, pagehide")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = upload(&t, &admin, TAB, 4, &chunk(TAB, 4, "page three")).await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
    assert_eq!(r.body["next_seq"], 5, "{:?}", r.body);
    let r = upload(&t, &admin, TAB, 5, &chunk(TAB, 5, "page three")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    // A retry of stored bytes is still a plain success, without next_seq.
    let r = upload(&t, &admin, TAB, 5, &chunk(TAB, 5, "page three")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({ "seq": 5 }));
}

// ---- the server's own record of API requests ----

fn with_tab(method: Method, path: &str, cookie: &str, tab: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method.clone())
        .uri(path)
        .header(header::COOKIE, cookie);
    if let Some(tab) = tab {
        builder = builder.header("x-session-guard-tab", tab);
    }
    let body = if method == Method::GET {
        Body::empty()
    } else {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
        Body::from("{}")
    };
    builder.body(body).expect("request")
}

#[tokio::test]
async fn api_requests_of_recorded_sessions_are_recorded_with_their_own_tab_only() {
    let t = TestApp::new().await;
    let admin = recorded_admin(&t).await;
    let sid = session_id(&t, &admin).await;
    // Another session's tab.
    let other = t.login("admin").await;
    register(&t, &other, OTHER_TAB, None).await;
    let viewer = t.login("viewer").await;
    t.state.flush_request_log().await;
    let start = t.clock.now_ms();

    t.clock.advance(1_000);
    let sent = [
        (Method::GET, "/api/session?wait=0", Some(TAB), 200),
        (Method::GET, "/api/admin/users", Some(OTHER_TAB), 200),
        (Method::POST, "/api/admin/users/999/suspend", None, 404),
        (Method::GET, "/api/admin/nothing-here", Some(TAB), 404),
    ];
    for (method, path, tab, status) in &sent {
        let r = t.send(with_tab(method.clone(), path, &admin, *tab)).await;
        assert_eq!(r.status.as_u16(), *status, "{method} {path}");
    }
    // Not recorded: a session without recording, and no session at all.
    t.send(with_tab(Method::GET, "/api/session", &viewer, None))
        .await;
    t.call(Method::GET, "/api/session", None, None).await;
    t.state.flush_request_log().await;

    let d = detail(&t, &admin, &sid, TAB).await;
    assert_eq!(d.status, StatusCode::OK, "{:?}", d.body);
    let actions = actions_after(d.body["actions"].as_array().expect("actions"), start);
    assert_eq!(
        actions,
        vec![
            json!({ "at": start + 1_000, "method": "GET", "path": "/api/session",
                    "status": 200, "tab_id": TAB }),
            // Another session's tab is not this session's: recorded without a tab.
            json!({ "at": start + 1_000, "method": "GET", "path": "/api/admin/users",
                    "status": 200, "tab_id": null }),
            json!({ "at": start + 1_000, "method": "POST", "path": "/api/admin/users/999/suspend",
                    "status": 404, "tab_id": null }),
            json!({ "at": start + 1_000, "method": "GET", "path": "/api/admin/nothing-here",
                    "status": 404, "tab_id": TAB }),
        ]
    );
    // The viewer's session is not recorded: it is not listed at all.
    let list = t.get("/api/admin/recordings", &admin).await;
    let users: Vec<&str> = list
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["username"].as_str())
        .collect();
    assert!(!users.contains(&"viewer"), "{users:?}");
}

/// A recorded session's request that authentication never decided on is still recorded,
/// found by its cookie once answered: refused at the edge (too large, not JSON), refused
/// by an extractor before authentication (a bad `wait`), the consent answer itself
/// (consent pending when it authenticated) and the request that finds the session past
/// its idle deadline and ends it. A request after the end is not the live session's.
#[tokio::test]
async fn requests_authentication_did_not_decide_on_are_recorded_by_their_cookie() {
    let t = TestApp::new().await;
    let admin = t.login_pending("admin").await;
    let consent = t
        .post("/api/session/consent", &admin, json!({ "accepted": true }))
        .await;
    assert_eq!(consent.status, StatusCode::OK, "{:?}", consent.body);
    register(&t, &admin, TAB, None).await;
    let sid = session_id(&t, &admin).await;
    t.state.flush_request_log().await;
    let start = t.clock.now_ms();

    t.clock.advance(1_000);
    let too_large = format!(
        r#"{{"idle_ms":0,"pad":"{}"}}"#,
        "x".repeat(session_guard_server::BODY_LIMIT)
    );
    let r = t
        .send(
            Request::post("/api/session/activity")
                .header(header::COOKIE, &admin)
                .header("x-session-guard-tab", TAB)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(too_large))
                .expect("request"),
        )
        .await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let r = t
        .send(
            Request::post("/api/session/activity")
                .header(header::COOKIE, &admin)
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from("{}"))
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{:?}", r.body);
    let r = t.get("/api/session?wait=soon", &admin).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");

    let idle = i64::try_from(
        session_guard_server::Config::for_tests()
            .idle_timeout
            .as_millis(),
    )
    .expect("idle");
    t.clock.advance(idle + 1);
    let end = t.clock.now_ms();
    t.assert_ended(&admin, "idle_timeout").await;
    t.clock.advance(1);
    t.assert_ended(&admin, "idle_timeout").await;
    t.state.flush_request_log().await;

    let reviewer = t.login("admin").await;
    let d = detail(&t, &reviewer, &sid, TAB).await;
    assert_eq!(d.status, StatusCode::OK, "{:?}", d.body);
    let actions = d.body["actions"].as_array().expect("actions");
    assert!(
        actions.contains(
            &json!({ "at": T0, "method": "POST", "path": "/api/session/consent",
                                  "status": 200, "tab_id": null })
        ),
        "{actions:?}"
    );
    let after = actions_after(actions, start);
    assert_eq!(
        after,
        vec![
            json!({ "at": start + 1_000, "method": "POST", "path": "/api/session/activity",
                    "status": 413, "tab_id": TAB }),
            json!({ "at": start + 1_000, "method": "POST", "path": "/api/session/activity",
                    "status": 415, "tab_id": null }),
            json!({ "at": start + 1_000, "method": "GET", "path": "/api/session",
                    "status": 400, "tab_id": null }),
            json!({ "at": end, "method": "GET", "path": "/api/session",
                    "status": 401, "tab_id": null }),
        ]
    );
}

// ---- review ----

#[tokio::test]
async fn the_list_shows_sessions_and_tabs_with_openers_ends_and_sizes_and_filters() {
    let t = TestApp::new().await;
    let admin = recorded_admin(&t).await;
    let admin_sid = session_id(&t, &admin).await;
    register(&t, &admin, OTHER_TAB, Some(TAB)).await;
    let size = gzip(chunk(TAB, 0, "a").to_string().as_bytes()).len()
        + gzip(chunk(TAB, 1, "a").to_string().as_bytes()).len();
    assert_eq!(
        upload(&t, &admin, TAB, 0, &chunk(TAB, 0, "a")).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        upload(&t, &admin, TAB, 1, &chunk(TAB, 1, "a")).await.status,
        StatusCode::CREATED
    );
    let r = t
        .post(
            &format!("/api/session/tabs/{OTHER_TAB}/close"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    t.clock.advance(60_000);
    let operator = t.login("operator").await;
    let operator_sid = session_id(&t, &operator).await;
    register(&t, &operator, "tab_op_0001", None).await;
    register(&t, &operator, "tab_op_0002", None).await;
    let r = t
        .delete(
            &format!("/api/admin/sessions/{operator_sid}/tabs/tab_op_0002"),
            &admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.clock.advance(1_000);
    t.call(Method::POST, "/api/logout", Some(&operator), None)
        .await;
    // An ended session is listed while something of it is recorded (here its API requests).
    t.state.flush_request_log().await;

    let list = t.get("/api/admin/recordings", &admin).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    let list = list.body.as_array().expect("list").clone();
    assert_eq!(list.len(), 2, "{list:?}");
    // Newest first: the operator's, ended by signing out.
    assert_eq!(list[0]["session_id"], operator_sid.as_str());
    assert_eq!(list[0]["username"], "operator");
    assert_eq!(list[0]["display_name"], "Otto Operator");
    assert_eq!(list[0]["started_at"], T0 + 60_000);
    assert_eq!(list[0]["ended_at"], T0 + 61_000);
    assert_eq!(list[0]["end_reason"], "logged_out");
    let op_tabs = list[0]["tabs"].as_array().expect("tabs");
    assert_eq!(op_tabs[0]["tab_id"], "tab_op_0001");
    assert_eq!(op_tabs[0]["end_reason"], "logged_out");
    assert_eq!(op_tabs[0]["ended_at"], T0 + 61_000);
    assert_eq!(op_tabs[1]["end_reason"], "tab_terminated");
    assert_eq!(op_tabs[1]["ended_at"], T0 + 60_000);
    // The admin's: live, one open tab with two chunks, one closed tab opened from it.
    assert_eq!(list[1]["session_id"], admin_sid.as_str());
    assert_eq!(list[1]["ended_at"], Value::Null);
    assert_eq!(list[1]["end_reason"], Value::Null);
    assert_eq!(
        list[1]["tabs"],
        json!([
            { "tab_id": TAB, "opener_tab_id": null, "started_at": T0, "ended_at": null,
              "end_reason": null, "duration_ms": 9_000, "bytes": size, "chunks": 2 },
            { "tab_id": OTHER_TAB, "opener_tab_id": TAB, "started_at": T0, "ended_at": T0,
              "end_reason": "tab_closed", "duration_ms": 0, "bytes": 0, "chunks": 0 },
        ])
    );

    // Filters: user, and the session's start (`from` inclusive, `to` exclusive).
    let ids = |r: Reply| -> Vec<String> {
        r.body
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|s| s["session_id"].as_str().map(str::to_owned))
            .collect()
    };
    let mine = t.get("/api/admin/recordings?user_id=1", &admin).await;
    assert_eq!(ids(mine), [admin_sid.as_str()]);
    let later = t
        .get(
            &format!("/api/admin/recordings?from={}", T0 + 60_000),
            &admin,
        )
        .await;
    assert_eq!(ids(later), [operator_sid.as_str()]);
    let earlier = t
        .get(&format!("/api/admin/recordings?to={}", T0 + 60_000), &admin)
        .await;
    assert_eq!(ids(earlier), [admin_sid.as_str()]);
    let none = t.get("/api/admin/recordings?user_id=3", &admin).await;
    assert!(ids(none).is_empty());
    for bad in ["user_id=x", "from=1.5", "to=soon"] {
        let r = t.get(&format!("/api/admin/recordings?{bad}"), &admin).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    }
}

#[tokio::test]
async fn viewing_is_audited_and_deleting_needs_an_ended_tab_and_is_audited() {
    let t = TestApp::new().await;
    let admin = recorded_admin(&t).await;
    let sid = session_id(&t, &admin).await;
    let first = chunk(TAB, 0, "a");
    let size = gzip(first.to_string().as_bytes()).len();
    assert_eq!(
        upload(&t, &admin, TAB, 0, &first).await.status,
        StatusCode::CREATED
    );

    let d = detail(&t, &admin, &sid, TAB).await;
    assert_eq!(d.status, StatusCode::OK, "{:?}", d.body);
    assert_eq!(d.body["session"]["session_id"], sid.as_str());
    assert!(d.body["session"].get("tabs").is_none());
    assert_eq!(d.body["tab"]["tab_id"], TAB);
    let audit = t.audit(&admin).await;
    let viewed = audit
        .iter()
        .find(|e| e["kind"] == "recording_viewed")
        .expect("recording_viewed");
    assert_eq!(viewed["actor_user_id"], 1);
    assert_eq!(viewed["session_id"], sid.as_str());
    assert_eq!(viewed["tab_id"], TAB);

    for path in [
        format!("/api/admin/recordings/{sid}/tabs/tab_unknown_1"),
        format!("/api/admin/recordings/ses_unknown/tabs/{TAB}"),
        format!("/api/admin/recordings/{sid}/tabs/{TAB}/chunks/1"),
    ] {
        assert_error(
            &t.get(&path, &admin).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    assert_error(
        &t.get(
            &format!("/api/admin/recordings/{sid}/tabs/bad.tab.0"),
            &admin,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );

    // A live tab is still being recorded.
    let path = format!("/api/admin/recordings/{sid}/tabs/{TAB}");
    assert_error(
        &t.delete(&path, &admin).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    // An administrator with only recordings:read may look but not delete.
    let reader = {
        let role = t
            .post(
                "/api/admin/roles",
                &admin,
                json!({ "name": "Reviewer", "scopes": ["recordings:read"] }),
            )
            .await;
        let user = t
            .post(
                "/api/admin/users",
                &admin,
                json!({ "username": "reviewer", "display_name": "Rita Reviewer", "password": "reviewer-demo-pass" }),
            )
            .await;
        let r = t
            .post(
                &format!(
                    "/api/admin/users/{}/roles/{}",
                    user.body["id"], role.body["id"]
                ),
                &admin,
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        t.login("reviewer").await
    };
    assert_eq!(detail(&t, &reader, &sid, TAB).await.status, StatusCode::OK);
    assert_error(
        &t.delete(&path, &reader).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    let r = t
        .post(&format!("/api/session/tabs/{TAB}/close"), &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = t.delete(&path, &admin).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let audit = t.audit(&admin).await;
    let deleted = audit
        .iter()
        .find(|e| e["kind"] == "recording_deleted")
        .expect("recording_deleted");
    assert_eq!(deleted["actor_user_id"], 1);
    assert_eq!(deleted["session_id"], sid.as_str());
    assert_eq!(deleted["tab_id"], TAB);
    assert_eq!(deleted["detail"]["chunks"], 1);
    assert_eq!(deleted["detail"]["bytes"], size);
    assert_error(
        &t.get(&format!("{path}/chunks/0"), &admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let d = detail(&t, &admin, &sid, TAB).await;
    assert_eq!(d.body["chunks"], json!([]));
    assert_eq!(d.body["tab"]["bytes"], 0);
}

// ---- retention ----

#[tokio::test]
async fn retention_purges_ended_tab_recordings_one_audited_entry_each_and_keeps_the_rest() {
    let hour = 3_600_000;
    let t = TestApp::with(|c| {
        c.recording_retention = std::time::Duration::from_secs(3_600);
        c.idle_timeout = std::time::Duration::from_secs(86_400);
    })
    .await;
    let admin = recorded_admin(&t).await;
    let sid = session_id(&t, &admin).await;
    register(&t, &admin, OTHER_TAB, None).await;
    register(&t, &admin, "tab_rec_0003", None).await;
    let expired = chunk(TAB, 0, "expired");
    let size = gzip(expired.to_string().as_bytes()).len();
    for (tab, c) in [
        (TAB, expired),
        (OTHER_TAB, chunk(OTHER_TAB, 0, "live")),
        ("tab_rec_0003", chunk("tab_rec_0003", 0, "recent")),
    ] {
        assert_eq!(
            upload(&t, &admin, tab, 0, &c).await.status,
            StatusCode::CREATED
        );
    }
    // TAB ends now; tab 3 ends 90 minutes later; OTHER_TAB stays open.
    let close = |tab: &str| format!("/api/session/tabs/{tab}/close");
    assert_eq!(
        t.post(&close(TAB), &admin, json!({})).await.status,
        StatusCode::NO_CONTENT
    );
    t.clock.advance(90 * 60_000);
    assert_eq!(
        t.post(&close("tab_rec_0003"), &admin, json!({}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    t.clock.advance(hour);
    t.state.flush_request_log().await;

    let purged = t.state.purge_expired().await.expect("purge");
    assert_eq!(purged.recordings, 1, "{purged:?}");
    let chunk_path = |tab: &str| format!("/api/admin/recordings/{sid}/tabs/{tab}/chunks/0");
    assert_eq!(
        t.get(&chunk_path(TAB), &admin).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get(&chunk_path(OTHER_TAB), &admin).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.get(&chunk_path("tab_rec_0003"), &admin).await.status,
        StatusCode::OK
    );
    let audit = t.audit(&admin).await;
    let entries: Vec<&Value> = audit
        .iter()
        .filter(|e| e["kind"] == "recording_purged")
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor_user_id"], Value::Null);
    assert_eq!(entries[0]["session_id"], sid.as_str());
    assert_eq!(entries[0]["tab_id"], TAB);
    assert_eq!(entries[0]["detail"]["chunks"], 1);
    assert_eq!(entries[0]["detail"]["bytes"], size);
    assert_eq!(entries[0]["detail"]["before"], T0 + 90 * 60_000);
    // API actions older than the cutoff went too.
    let d = detail(&t, &admin, &sid, OTHER_TAB).await;
    assert!(d.body["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .all(|a| a["at"].as_i64() >= Some(T0 + 90 * 60_000)));

    // Nothing more is old enough: no entry for an empty purge.
    let again = t.state.purge_expired().await.expect("purge");
    assert_eq!(again.recordings, 0);
    let audit = t.audit(&admin).await;
    assert_eq!(
        audit
            .iter()
            .filter(|e| e["kind"] == "recording_purged")
            .count(),
        1
    );
}

// ---- openers ----

#[tokio::test]
async fn an_opener_is_kept_only_when_it_is_a_tab_of_the_same_session() {
    let t = TestApp::new().await;
    let first = recorded_admin(&t).await;
    let second = t.login("admin").await;
    register(&t, &second, "tab_b_0001", Some(TAB)).await;
    register(&t, &second, "tab_b_0002", Some("tab_b_0001")).await;
    register(&t, &second, "tab_b_0003", Some("tab_never_registered")).await;
    let second_sid = session_id(&t, &second).await;
    let list = t.get("/api/admin/sessions", &first).await.body;
    let tabs = list
        .as_array()
        .expect("list")
        .iter()
        .find(|s| s["session_id"] == second_sid.as_str())
        .expect("second session")["tabs"]
        .clone();
    let openers: Vec<(Value, Value)> = tabs
        .as_array()
        .expect("tabs")
        .iter()
        .map(|t| (t["tab_id"].clone(), t["opener_tab_id"].clone()))
        .collect();
    assert_eq!(
        openers,
        [
            (json!("tab_b_0001"), Value::Null),
            (json!("tab_b_0002"), json!("tab_b_0001")),
            (json!("tab_b_0003"), Value::Null),
        ]
    );
}

#[tokio::test]
async fn the_audit_retention_keeps_a_session_until_its_recording_is_purged() {
    let day = 86_400_000;
    let t = TestApp::with(|c| {
        c.audit_retention = std::time::Duration::from_secs(86_400);
        c.recording_retention = std::time::Duration::from_secs(3 * 86_400);
    })
    .await;
    let admin = recorded_admin(&t).await;
    let sid = session_id(&t, &admin).await;
    assert_eq!(
        upload(&t, &admin, TAB, 0, &chunk(TAB, 0, "kept"))
            .await
            .status,
        StatusCode::CREATED
    );
    t.call(Method::POST, "/api/logout", Some(&admin), None)
        .await;
    // Two days on: past the audit retention, within the recording's.
    t.clock.advance(2 * day);
    let reviewer = t.login("admin").await;
    let purged = t.state.purge_expired().await.expect("purge");
    assert_eq!((purged.sessions, purged.recordings), (0, 0), "{purged:?}");
    let chunk_path = format!("/api/admin/recordings/{sid}/tabs/{TAB}/chunks/0");
    assert_eq!(t.get(&chunk_path, &reviewer).await.status, StatusCode::OK);
    // Four days on: the recording goes (audited), and its session with it.
    t.clock.advance(2 * day);
    let reviewer = t.login("admin").await;
    let purged = t.state.purge_expired().await.expect("purge");
    assert_eq!((purged.sessions, purged.recordings), (1, 1), "{purged:?}");
    assert_eq!(
        t.get(&chunk_path, &reviewer).await.status,
        StatusCode::NOT_FOUND
    );
    let list = t.get("/api/admin/recordings", &reviewer).await.body;
    assert!(list
        .as_array()
        .expect("list")
        .iter()
        .all(|s| s["session_id"] != sid.as_str()));
}
