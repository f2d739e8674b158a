//! Sign-in abuse: throttling per account and per address with backoff, unknown names
//! treated like known ones, a bounded hash pool, and rehashing of older parameters.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use common::{Reply, TempDir, TestApp, T0};
use serde_json::{json, Value};
use session_guard_server::{app, AppState, Config, ManualClock};

fn login_from(addr: &str, username: &str, password: &str) -> Request<Body> {
    let peer: SocketAddr = format!("{addr}:40000").parse().expect("addr");
    Request::builder()
        .method(Method::POST)
        .uri("/api/login")
        .header(header::CONTENT_TYPE, "application/json")
        .extension(ConnectInfo(peer))
        .body(Body::from(
            json!({ "username": username, "password": password }).to_string(),
        ))
        .expect("request")
}

fn retry_after(r: &Reply) -> i64 {
    r.headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After missing: {:?}", r.headers))
}

#[tokio::test]
async fn five_wrong_passwords_throttle_the_account_with_growing_backoff() {
    let t = TestApp::new().await;
    for n in 0..5 {
        let r = t.send(login_from("10.0.0.1", "viewer", "wrong")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "failure {n}");
    }
    // Even the right password waits now: a guesser cannot tell a hit during the block.
    let r = t
        .send(login_from("10.0.0.2", "viewer", "viewer-demo-pass"))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert_eq!(r.body["error"], "too_many_requests");
    assert!(r.headers.get(header::SET_COOKIE).is_none());
    assert_eq!(retry_after(&r), 1);

    // After the wait, one more failure doubles it.
    t.clock.advance(1_000);
    let r = t.send(login_from("10.0.0.1", "viewer", "wrong")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = t.send(login_from("10.0.0.1", "viewer", "wrong")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&r), 2);
    t.clock.advance(2_000);
    let r = t
        .send(login_from("10.0.0.1", "viewer", "viewer-demo-pass"))
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // Each block is audited, without naming the targeted account as the actor.
    let admin = t.login("admin").await;
    let audit = t.audit(&admin).await;
    let throttled: Vec<&Value> = audit
        .iter()
        .filter(|e| e["kind"] == "login_throttled")
        .collect();
    assert_eq!(throttled.len(), 2, "{throttled:?}");
    for e in &throttled {
        assert_eq!(e["actor_user_id"], Value::Null);
        assert_eq!(e["detail"]["throttle"], "account");
        assert_eq!(e["detail"]["username"], "viewer");
    }
    assert_eq!(throttled[1]["detail"]["retry_after_ms"], 1_000);
    assert_eq!(throttled[0]["detail"]["retry_after_ms"], 2_000);
}

#[tokio::test]
async fn parallel_guesses_cannot_outrun_the_count() {
    let t = TestApp::new().await;
    let guesses = (0..20).map(|n| {
        let router = t.router.clone();
        async move {
            use tower::ServiceExt;
            let req = login_from(&format!("10.5.0.{n}"), "admin", &format!("guess{n}"));
            router.oneshot(req).await.expect("infallible").status()
        }
    });
    let statuses = futures_util::future::join_all(guesses.map(tokio::spawn)).await;
    let hashed = statuses
        .iter()
        .filter(|s| *s.as_ref().expect("join") == StatusCode::UNAUTHORIZED)
        .count();
    let waited = statuses
        .iter()
        .filter(|s| *s.as_ref().expect("join") == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(hashed <= 5, "{hashed} guesses were checked");
    assert_eq!(hashed + waited, 20);
}

#[tokio::test]
async fn an_attack_on_one_account_does_not_slow_another() {
    let t = TestApp::new().await;
    for _ in 0..8 {
        t.send(login_from("10.0.0.66", "admin", "guess")).await;
    }
    let r = t.send(login_from("10.0.0.66", "admin", "guess")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // Another user, from another address or even from the attacker's: not throttled.
    for addr in ["10.0.0.9", "10.0.0.66"] {
        let r = t
            .send(login_from(addr, "operator", "operator-demo-pass"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{addr}");
    }
}

#[tokio::test]
async fn one_address_spraying_many_accounts_is_throttled() {
    let t = TestApp::new().await;
    for n in 0..20 {
        let r = t
            .send(login_from("192.0.2.7", &format!("user{n}"), "guess"))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let r = t
        .send(login_from("192.0.2.7", "viewer", "viewer-demo-pass"))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&r) >= 1);
    let r = t
        .send(login_from("192.0.2.8", "viewer", "viewer-demo-pass"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let admin = t.login("admin").await;
    let audit = t.audit(&admin).await;
    assert!(audit
        .iter()
        .any(|e| e["kind"] == "login_throttled" && e["detail"]["throttle"] == "address"));
}

#[tokio::test]
async fn unknown_usernames_get_exactly_the_same_answers_as_known_ones() {
    let t = TestApp::new().await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..6 {
        known.push(t.send(login_from("10.1.0.1", "viewer", "wrong")).await);
        unknown.push(t.send(login_from("10.1.0.2", "nobody", "wrong")).await);
    }
    for (k, u) in known.iter().zip(&unknown) {
        assert_eq!(k.status, u.status);
        assert_eq!(k.body, u.body);
        assert_eq!(
            k.headers.get(header::RETRY_AFTER),
            u.headers.get(header::RETRY_AFTER)
        );
    }
    assert_eq!(known[5].status, StatusCode::TOO_MANY_REQUESTS);

    // The refusals are audited without an actor; a known target is named as the subject.
    let admin = t.login("admin").await;
    let audit = t.audit(&admin).await;
    let refused: Vec<&Value> = audit
        .iter()
        .filter(|e| e["kind"] == "login_refused")
        .collect();
    assert_eq!(refused.len(), 10);
    let viewer_id = t.id_of(&admin, "users", "viewer").await;
    for e in refused {
        assert_eq!(e["actor_user_id"], Value::Null, "{e}");
        match e["detail"]["why"].as_str() {
            Some("wrong_password") => assert_eq!(e["detail"]["user_id"], viewer_id),
            Some("unknown_user") => assert!(e["detail"].get("user_id").is_none()),
            other => panic!("unexpected why {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_full_hash_pool_answers_503_at_once() {
    // One worker, one waiting place, and hashes slow enough that concurrent sign-ins
    // overlap.
    let t = TestApp::with(|c| {
        c.hash_workers = Some(1);
        c.hash_queue = 1;
        c.fast_password_hashing = false;
        c.argon2_memory_kib = 1024;
        c.argon2_iterations = 20;
        c.seed_demo = true;
    })
    .await;
    let attempts = (0..12).map(|n| {
        let router = t.router.clone();
        let addr = format!("10.2.0.{n}");
        async move {
            use tower::ServiceExt;
            let resp = router
                .oneshot(login_from(&addr, &format!("nobody{n}"), "guess"))
                .await
                .expect("infallible");
            (
                resp.status(),
                resp.headers().get(header::RETRY_AFTER).cloned(),
            )
        }
    });
    let results = futures_util::future::join_all(attempts.map(tokio::spawn)).await;
    let mut busy = 0;
    for result in results {
        let (status, retry) = result.expect("join");
        match status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(retry.expect("Retry-After"), "1");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "no sign-in was refused by the full pool");
    // Once the flood is over, sign-in works again.
    let r = t
        .send(login_from("10.3.0.1", "viewer", "viewer-demo-pass"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

fn stored_hash(db: &str, username: &str) -> String {
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.query_row(
        "SELECT password_hash FROM users WHERE username = ?1",
        [username],
        |r| r.get(0),
    )
    .expect("hash")
}

#[tokio::test]
async fn a_hash_with_older_parameters_is_replaced_at_the_next_sign_in() {
    let dir = TempDir::new("rehash");
    let db = dir.0.join("sg.sqlite").to_string_lossy().into_owned();
    let clock = Arc::new(ManualClock::new(T0));
    let mut config = Config::for_tests();
    config.db = db.clone();
    config.fast_password_hashing = false;
    config.argon2_memory_kib = 64;
    config.argon2_iterations = 1;
    drop(
        AppState::with_clock(&config, clock.clone())
            .await
            .expect("seeded"),
    );
    assert!(stored_hash(&db, "viewer").contains("m=64,t=1,p=1"));

    config.argon2_iterations = 2;
    let state = AppState::with_clock(&config, clock.clone())
        .await
        .expect("state");
    let t = TestApp {
        router: app(state.clone()),
        state,
        clock,
    };
    // A wrong password changes nothing; the right one upgrades the hash and still works.
    t.try_login("viewer", "wrong").await;
    assert!(stored_hash(&db, "viewer").contains("m=64,t=1,p=1"));
    t.login("viewer").await;
    assert!(stored_hash(&db, "viewer").contains("m=64,t=2,p=1"));
    t.login("viewer").await;
    assert!(stored_hash(&db, "admin").contains("m=64,t=1,p=1"));
}
