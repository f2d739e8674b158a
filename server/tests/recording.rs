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
    // The same seq with other content is a conflict.
    let r = upload(&t, &admin, TAB, 0, &chunk(TAB, 0, "changed")).await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
    // A gap: 2 before 1.
    let r = upload(&t, &admin, TAB, 2, &chunk(TAB, 2, "third")).await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
    let r = upload(&t, &admin, TAB, 1, &chunk(TAB, 1, "second")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = upload(&t, &admin, TAB, 2, &chunk(TAB, 2, "third")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // Another tab of the session counts from 0 on its own.
    register(&t, &admin, OTHER_TAB, Some(TAB)).await;
    let r = upload(&t, &admin, OTHER_TAB, 1, &chunk(OTHER_TAB, 1, "x")).await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
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
}
