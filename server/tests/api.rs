//! Login, logout, cookie, session view, keepalive, consent, tabs and bad input.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::{TestApp, T0};
use serde_json::{json, Value};
use session_guard_server::Recording;

#[tokio::test]
async fn login_returns_the_contract_view_and_a_strict_cookie() {
    let t = TestApp::new().await;
    let r = t.try_login("admin", "admin-demo-pass").await;
    assert_eq!(r.status, StatusCode::OK);
    let set = r.set_cookie();
    assert!(set.starts_with("sg_session="), "{set}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    assert!(
        !set.contains("Secure"),
        "plain HTTP must not set Secure: {set}"
    );
    let secret = &r.cookie()["sg_session=".len()..];
    assert_eq!(secret.len(), 43, "256-bit base64url secret");

    let v = &r.body;
    assert!(v["session_id"]
        .as_str()
        .is_some_and(|s| s.starts_with("ses_")));
    assert_ne!(v["session_id"].as_str(), Some(secret));
    assert_eq!(
        v["user"],
        json!({ "id": 1, "username": "admin", "display_name": "Ada Admin" })
    );
    assert_eq!(v["privileged"], true);
    assert_eq!(
        v["scopes"],
        json!([
            "admin:manage",
            "audit:read",
            "console:access",
            "recordings:delete",
            "recordings:read",
            "sessions:terminate"
        ])
    );
    assert_eq!(v["issued_at"], T0);
    assert_eq!(v["expires_at"], T0 + 86_400_000);
    assert_eq!(v["idle_timeout_ms"], 900_000);
    assert_eq!(v["warning_lead_ms"], 60_000);
    assert_eq!(v["keepalive_interval_ms"], 60_000);
    assert_eq!(v["last_activity_at"], T0);
    assert_eq!(
        v["recording"],
        json!({ "required": true, "consent": "pending" })
    );
    assert_eq!(v["server_time"], T0);
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 12, "exactly the contract's fields: {keys:?}");

    // The same view from GET /api/session, never cached.
    let again = t.get("/api/session", &r.cookie()).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again
            .headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert_eq!(again.body["session_id"], v["session_id"]);
}

#[tokio::test]
async fn every_login_rotates_the_secret_and_session() {
    let t = TestApp::new().await;
    let a = t.try_login("admin", "admin-demo-pass").await;
    let b = t.try_login("admin", "admin-demo-pass").await;
    assert_ne!(a.cookie(), b.cookie());
    assert_ne!(a.body["session_id"], b.body["session_id"]);
}

#[tokio::test]
async fn signing_in_again_from_the_same_browser_ends_the_replaced_session() {
    let t = TestApp::new().await;
    let old = t.login("operator").await;
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/login")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::COOKIE, &old)
        .body(Body::from(
            json!({ "username": "operator", "password": "operator-demo-pass" }).to_string(),
        ))
        .expect("request");
    let fresh = t.send(req).await;
    assert_eq!(fresh.status, StatusCode::OK);
    t.assert_ended(&old, "logged_out").await;
    t.assert_live(&fresh.cookie()).await;
}

#[tokio::test]
async fn secure_host_cookie_behind_a_trusted_tls_proxy_or_by_flag() {
    let forwarded_login = || {
        Request::builder()
            .method(Method::POST)
            .uri("/api/login")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-forwarded-proto", "https")
            .body(Body::from(
                json!({"username": "viewer", "password": "viewer-demo-pass"}).to_string(),
            ))
            .expect("request")
    };
    // Anyone can send the header: without --trust-proxy it changes nothing.
    let t = TestApp::new().await;
    let r = t.send(forwarded_login()).await;
    assert_eq!(r.status, StatusCode::OK);
    let set = r.set_cookie();
    assert!(
        set.starts_with("sg_session=") && !set.contains("Secure"),
        "{set}"
    );
    assert!(r.headers.get(header::STRICT_TRANSPORT_SECURITY).is_none());

    let t = TestApp::with(|c| c.trust_proxy = true).await;
    let r = t.send(forwarded_login()).await;
    assert_eq!(r.status, StatusCode::OK);
    let set = r.set_cookie();
    assert!(set.starts_with("__Host-sg_session="), "{set}");
    for attr in ["; Secure", "Path=/", "HttpOnly", "SameSite=Strict"] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    assert!(!set.contains("Domain"), "{set}");
    assert_eq!(
        r.headers[header::STRICT_TRANSPORT_SECURITY],
        "max-age=31536000"
    );
    // The __Host- cookie authenticates, and logout clears it under the same name.
    let cookie = r.cookie();
    t.assert_live(&cookie).await;
    let out = t
        .call(Method::POST, "/api/logout", Some(&cookie), None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);

    let t = TestApp::with(|c| c.secure_cookies = true).await;
    let r = t.try_login("viewer", "viewer-demo-pass").await;
    let set = r.set_cookie();
    assert!(
        set.starts_with("__Host-sg_session=") && set.contains("; Secure"),
        "{set}"
    );
    assert!(r.headers.get(header::STRICT_TRANSPORT_SECURITY).is_some());
    let out = t
        .call(Method::POST, "/api/logout", Some(&r.cookie()), None)
        .await;
    assert!(out.set_cookie().starts_with("__Host-sg_session=;"));
}

#[tokio::test]
async fn bad_credentials_and_suspension() {
    let t = TestApp::new().await;
    for (user, pass) in [("admin", "wrong"), ("nobody", "admin-demo-pass"), ("", "")] {
        let r = t.try_login(user, pass).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{user}");
        assert_eq!(r.body["error"], "invalid_credentials");
        assert!(r.body.get("reason").is_none());
        assert!(r.headers.get(header::SET_COOKIE).is_none());
    }

    let admin = t.login("admin").await;
    let viewer_id = t.id_of(&admin, "users", "viewer").await;
    let s = t
        .post(
            &format!("/api/admin/users/{viewer_id}/suspend"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(s.status, StatusCode::OK);
    // Wrong password of a suspended user stays a plain 401: suspension is only revealed
    // to someone who knows the password.
    let r = t.try_login("viewer", "nope").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = t.try_login("viewer", "viewer-demo-pass").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"], "suspended");
    assert_eq!(
        r.body["message"],
        "Your account has been suspended. Contact your administrator."
    );

    let audit = t.audit(&admin).await;
    let refused: Vec<&Value> = audit
        .iter()
        .filter(|e| e["kind"] == "login_refused")
        .collect();
    assert_eq!(refused.len(), 5);
    assert!(refused.iter().any(|e| e["detail"]["why"] == "suspended"));
    assert!(refused.iter().any(|e| e["detail"]["why"] == "unknown_user"));
}

#[tokio::test]
async fn logout_ends_the_session_with_its_reason() {
    let t = TestApp::new().await;
    let c = t.login("operator").await;
    let r = t
        .call(Method::POST, "/api/logout", Some(&c), Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.set_cookie().contains("Max-Age=0"));
    t.assert_ended(&c, "logged_out").await;
    // Idempotent: a second logout, or one without a cookie, is still 204.
    let r = t.call(Method::POST, "/api/logout", Some(&c), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = t.call(Method::POST, "/api/logout", None, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    let c = t.login("operator").await;
    for bad in [json!({ "reason": "role_changed" }), json!({ "reason": 5 })] {
        let r = t.post("/api/logout", &c, bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.body["error"], "bad_request");
    }
    t.assert_live(&c).await;
    // An empty body with the JSON content type means `{}`.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/logout")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::COOKIE, &c)
        .body(Body::empty())
        .expect("request");
    assert_eq!(t.send(req).await.status, StatusCode::NO_CONTENT);
    t.assert_ended(&c, "logged_out").await;

    let admin = t.login("admin").await;
    let audit = t.audit(&admin).await;
    let logouts: Vec<&Value> = audit.iter().filter(|e| e["kind"] == "logout").collect();
    assert_eq!(logouts.len(), 2);
    assert!(logouts
        .iter()
        .all(|e| e["detail"]["reason"] == "logged_out" && e["session_id"].as_str().is_some()));
}

#[tokio::test]
async fn a_declared_ending_reason_needs_the_servers_own_state() {
    let t = TestApp::with(|config| {
        config.idle_timeout = Duration::from_secs(60);
        config.session_lifetime = Duration::from_secs(600);
    })
    .await;
    // A tab whose clock jumped forward declares endings the server's clock contradicts:
    // the session ends (that tab has already left), but only as a plain sign-out.
    for reason in ["idle_timeout", "session_expired"] {
        let c = t.login("operator").await;
        t.clock.advance(50_000);
        let r = t.post("/api/logout", &c, json!({ "reason": reason })).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{reason}");
        t.assert_ended(&c, "logged_out").await;
    }
    // Once the server's own idle deadline has passed, the declared reason is the truth.
    let c = t.login("operator").await;
    t.clock.advance(60_000);
    let r = t
        .post("/api/logout", &c, json!({ "reason": "idle_timeout" }))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.assert_ended(&c, "idle_timeout").await;

    // A non-privileged session has no idle deadline at all; its lifetime does end.
    let v = t.login("viewer").await;
    let r = t
        .post("/api/logout", &v, json!({ "reason": "idle_timeout" }))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.assert_ended(&v, "logged_out").await;
    let v = t.login("viewer").await;
    t.clock.advance(600_000);
    let r = t
        .post("/api/logout", &v, json!({ "reason": "session_expired" }))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.assert_ended(&v, "session_expired").await;

    // Declining consent that was already given is not a decline.
    let c = t.login("operator").await;
    let r = t
        .post("/api/logout", &c, json!({ "reason": "consent_declined" }))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.assert_ended(&c, "logged_out").await;
}

#[tokio::test]
async fn missing_unknown_and_malformed_cookies_are_401_without_reason() {
    let t = TestApp::new().await;
    let r = t.call(Method::GET, "/api/session", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error"], "unauthenticated");
    assert!(r.body.get("reason").is_none());
    let fake = format!("sg_session={}", "A".repeat(43));
    for cookie in [
        fake.as_str(),
        "sg_session=",
        "sg_session=short",
        "other=1",
        ";;;=",
    ] {
        let r = t.get("/api/session", cookie).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{cookie}");
        assert!(r.body.get("reason").is_none());
    }
}

#[tokio::test]
async fn non_json_state_changes_are_415() {
    let t = TestApp::new().await;
    let c = t.login("admin").await;
    for ct in [
        None,
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
    ] {
        let mut b = Request::builder()
            .method(Method::POST)
            .uri("/api/session/activity")
            .header(header::COOKIE, &c);
        if let Some(ct) = ct {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        let r = t
            .send(b.body(Body::from(r#"{"idle_ms":0}"#)).expect("request"))
            .await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
        assert_eq!(r.body["error"], "unsupported_media_type");
    }
    let req = Request::builder()
        .method(Method::DELETE)
        .uri("/api/admin/roles/1")
        .header(header::COOKIE, &c)
        .body(Body::empty())
        .expect("request");
    assert_eq!(t.send(req).await.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Parameters on the media type are fine.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/session/activity")
        .header(header::COOKIE, &c)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(r#"{"idle_ms":0}"#))
        .expect("request");
    assert_eq!(t.send(req).await.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_bodies_are_clear_json_errors() {
    let t = TestApp::new().await;
    let c = t.login("admin").await;
    let raw = |body: &'static str| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/session/activity")
            .header(header::COOKIE, &c)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("request")
    };
    for body in [
        "{",
        "null",
        "[]",
        r#"{"idle_ms":"5"}"#,
        r#"{"idle_ms":1.5}"#,
        r#"{"idle_ms":99999999999999999999}"#,
        r#"{}"#,
        "\u{0}",
    ] {
        let r = t.send(raw(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.body["error"], "bad_request");
        assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    // Oversize: declared by Content-Length, and streamed without one.
    let big = format!(r#"{{"username":"{}","password":"x"}}"#, "a".repeat(20_000));
    let r = t
        .call(
            Method::POST,
            "/api/login",
            None,
            Some(serde_json::from_str(&big).expect("json")),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.body["error"], "payload_too_large");
    let chunks: Vec<Result<String, std::io::Error>> = vec![Ok(big.clone())];
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .expect("request");
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.body["error"], "payload_too_large");

    // Login with wrong field types or missing fields.
    for body in [
        json!({"username": 1, "password": "x"}),
        json!({"username": "admin"}),
    ] {
        let r = t.call(Method::POST, "/api/login", None, Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_are_json() {
    let t = TestApp::new().await;
    let c = t.login("admin").await;
    let r = t.get("/api/nope", &c).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error"], "not_found");
    let r = t.get("/elsewhere", &c).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = t.call(Method::PUT, "/api/session", Some(&c), None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.body["error"], "bad_request");
    let r = t.post("/api/admin/users/abc/suspend", &c, json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t.post("/api/admin/users/999/suspend", &c, json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn activity_moves_last_activity_with_client_measured_idle() {
    let t = TestApp::new().await;
    let c = t.login("admin").await;
    t.clock.advance(120_000);
    let r = t
        .post("/api/session/activity", &c, json!({ "idle_ms": 30_000 }))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["last_activity_at"], T0 + 90_000);
    assert_eq!(r.body["server_time"], T0 + 120_000);
    // Never moves backwards, and idle_ms is clamped to [0, idle_timeout].
    let r = t
        .post("/api/session/activity", &c, json!({ "idle_ms": 100_000 }))
        .await;
    assert_eq!(r.body["last_activity_at"], T0 + 90_000);
    let r = t
        .post("/api/session/activity", &c, json!({ "idle_ms": -5_000 }))
        .await;
    assert_eq!(r.body["last_activity_at"], T0 + 120_000);
    t.clock.advance(10_000);
    let r = t
        .post("/api/session/activity", &c, json!({ "idle_ms": i64::MAX }))
        .await;
    assert_eq!(r.body["last_activity_at"], T0 + 120_000);
}

#[tokio::test]
async fn activity_takes_the_clients_own_instant_within_one_second_before_the_measured_one() {
    let t = TestApp::new().await;
    let c = t.login("admin").await;
    t.clock.advance(120_000);
    // Measured: now - idle_ms = T0 + 90 s. The client's instant 40 ms before is taken, so
    // the server's idle deadline is the client's, not one request transit later.
    let r = t
        .post(
            "/api/session/activity",
            &c,
            json!({ "idle_ms": 30_000, "last_activity_at": T0 + 89_960 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["last_activity_at"], T0 + 89_960);
    // Never later than measured: a claim cannot stretch the session.
    let r = t
        .post(
            "/api/session/activity",
            &c,
            json!({ "idle_ms": 20_000, "last_activity_at": T0 + 115_000 }),
        )
        .await;
    assert_eq!(r.body["last_activity_at"], T0 + 100_000);
    // At most one second before measured: a wrong clock cannot cut the session short.
    let r = t
        .post(
            "/api/session/activity",
            &c,
            json!({ "idle_ms": 0, "last_activity_at": T0 }),
        )
        .await;
    assert_eq!(r.body["last_activity_at"], T0 + 119_000);
    let r = t
        .post(
            "/api/session/activity",
            &c,
            json!({ "idle_ms": 0, "last_activity_at": "soon" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn idle_timeout_applies_to_privileged_users_only() {
    let t = TestApp::with(|c| c.idle_timeout = std::time::Duration::from_secs(60)).await;
    let admin = t.login("admin").await;
    let viewer = t.login("viewer").await;
    let v = t.get("/api/session", &viewer).await;
    assert_eq!(v.body["privileged"], false);
    assert_eq!(v.body["idle_timeout_ms"], Value::Null);
    assert_eq!(v.body["scopes"], json!([]));

    t.clock.advance(59_999);
    t.assert_live(&admin).await;
    t.clock.advance(1);
    // Enforced on the request itself, without waiting for the background task.
    t.assert_ended(&admin, "idle_timeout").await;
    t.assert_live(&viewer).await;
    t.clock.advance(3_600_000);
    t.assert_live(&viewer).await;
}

#[tokio::test]
async fn keepalive_defers_the_idle_deadline() {
    let t = TestApp::with(|c| c.idle_timeout = std::time::Duration::from_secs(60)).await;
    let c = t.login("operator").await;
    for _ in 0..5 {
        t.clock.advance(50_000);
        let r = t
            .post("/api/session/activity", &c, json!({ "idle_ms": 0 }))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    t.clock.advance(59_000);
    t.assert_live(&c).await;
}

#[tokio::test]
async fn absolute_lifetime_ends_even_active_sessions() {
    let t = TestApp::with(|c| {
        c.idle_timeout = std::time::Duration::from_secs(60);
        c.session_lifetime = std::time::Duration::from_secs(100);
    })
    .await;
    let admin = t.login("admin").await;
    let viewer = t.login("viewer").await;
    for _ in 0..3 {
        t.clock.advance(30_000);
        t.post("/api/session/activity", &admin, json!({ "idle_ms": 0 }))
            .await;
    }
    t.clock.advance(10_000);
    t.assert_ended(&admin, "session_expired").await;
    t.assert_ended(&viewer, "session_expired").await;
}

#[tokio::test]
async fn background_sweep_ends_overdue_sessions_and_audits() {
    let t = TestApp::with(|c| c.idle_timeout = std::time::Duration::from_secs(60)).await;
    let admin = t.login("admin").await;
    let operator = t.login("operator").await;
    t.clock.advance(60_000);
    assert_eq!(t.state.sweep().await.expect("sweep"), 2);
    assert_eq!(t.state.sweep().await.expect("sweep"), 0);
    t.assert_ended(&operator, "idle_timeout").await;
    t.assert_ended(&admin, "idle_timeout").await;
    let fresh = t.login("admin").await;
    let audit = t.audit(&fresh).await;
    let ended: Vec<&Value> = audit
        .iter()
        .filter(|e| e["kind"] == "session_ended")
        .collect();
    assert_eq!(ended.len(), 2);
    assert!(ended
        .iter()
        .all(|e| e["detail"]["reason"] == "idle_timeout" && e["actor_user_id"].is_null()));
}

#[tokio::test]
async fn consent_accept_and_decline() {
    let t = TestApp::new().await;
    let c = t.login_pending("operator").await;
    t.clock.advance(30_000);
    let r = t
        .post("/api/session/consent", &c, json!({ "accepted": true }))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body["recording"],
        json!({ "required": true, "consent": "accepted" })
    );
    // Answering counts as activity (keepalives were refused until then).
    assert_eq!(r.body["last_activity_at"], T0 + 30_000);
    let r = t
        .post("/api/session/consent", &c, json!({ "accepted": "yes" }))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let c2 = t.login_pending("operator").await;
    let r = t
        .post("/api/session/consent", &c2, json!({ "accepted": false }))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.assert_ended(&c2, "consent_declined").await;
    t.assert_live(&c).await;

    let admin = t.login("admin").await;
    let audit = t.audit(&admin).await;
    let consents: Vec<&Value> = audit
        .iter()
        .filter(|e| e["kind"] == "consent" && e["actor_user_id"] == 2)
        .collect();
    assert_eq!(
        consents.len(),
        2,
        "one accept (the repeat is not recorded), one decline"
    );
    assert!(audit
        .iter()
        .any(|e| e["kind"] == "session_ended" && e["detail"]["reason"] == "consent_declined"));
}

#[tokio::test]
async fn recording_off_needs_no_consent() {
    let t = TestApp::with(|c| c.recording = Recording::Off).await;
    let c = t.login("admin").await;
    let r = t.get("/api/session", &c).await;
    assert_eq!(
        r.body["recording"],
        json!({ "required": false, "consent": "not_required" })
    );
    let r = t
        .post("/api/session/tabs", &c, json!({ "tab_id": "tab_abcdefgh" }))
        .await;
    assert_eq!(
        r.body,
        json!({ "tab_id": "tab_abcdefgh", "recording": false })
    );
}

#[tokio::test]
async fn tabs_register_as_audited_sub_sessions() {
    let t = TestApp::new().await;
    let c = t.login("admin").await;
    let r = t
        .post("/api/session/tabs", &c, json!({ "tab_id": "t_first-tab" }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.body,
        json!({ "tab_id": "t_first-tab", "recording": true })
    );
    let r = t
        .post("/api/session/tabs", &c, json!({ "tab_id": "t_first-tab" }))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = t
        .post(
            "/api/session/tabs",
            &c,
            json!({ "tab_id": "t_second_tab", "opener_tab_id": "t_first-tab" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    for bad in [
        json!({ "tab_id": "short" }),
        json!({ "tab_id": "has space in it" }),
        json!({ "tab_id": "x".repeat(65) }),
        json!({ "tab_id": "t_validtab", "opener_tab_id": "../../" }),
        json!({ "tab_id": 12345678 }),
    ] {
        let r = t.post("/api/session/tabs", &c, bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }

    let sessions = t.get("/api/admin/sessions", &c).await;
    assert_eq!(sessions.status, StatusCode::OK);
    let mine = sessions.body.as_array().expect("array")[0].clone();
    assert_eq!(mine["username"], "admin");
    assert_eq!(mine["recording_consent"], "accepted");
    let tabs = mine["tabs"].as_array().expect("tabs");
    assert_eq!(tabs.len(), 2);
    assert_eq!(tabs[1]["opener_tab_id"], "t_first-tab");
    assert_eq!(tabs[0]["opener_tab_id"], Value::Null);
    assert_eq!(tabs[0]["registered_at"], T0);

    let audit = t.audit(&c).await;
    let regs: Vec<&Value> = audit
        .iter()
        .filter(|e| e["kind"] == "tab_registered")
        .collect();
    assert_eq!(regs.len(), 2);
    assert_eq!(regs[0]["tab_id"], "t_second_tab");
    assert_eq!(regs[0]["detail"]["opener_tab_id"], "t_first-tab");
}

#[tokio::test]
async fn secrets_are_stored_only_as_hashes() {
    let dir = std::env::temp_dir().join(format!("sg-hash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let db = dir.join("h.sqlite");
    let t = TestApp::with(|c| c.db = db.to_string_lossy().into_owned()).await;
    let cookie = t.login("admin").await;
    let secret = cookie["sg_session=".len()..].to_owned();
    let conn = rusqlite::Connection::open(&db).expect("open");
    let hits: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sessions WHERE token_hash = ?1 OR id = ?1",
            [&secret],
            |r| r.get(0),
        )
        .expect("query");
    assert_eq!(hits, 0);
    let hash: String = conn
        .query_row("SELECT token_hash FROM sessions", [], |r| r.get(0))
        .expect("query");
    assert_eq!(hash.len(), 64);
    let pw: String = conn
        .query_row(
            "SELECT password_hash FROM users WHERE username = 'admin'",
            [],
            |r| r.get(0),
        )
        .expect("query");
    assert!(pw.starts_with("$argon2id$"));
    drop(conn);
    drop(t);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends a GET to the event stream and answers its status without reading the (endless)
/// body.
async fn events_status(t: &TestApp, cookie: &str) -> StatusCode {
    use tower::ServiceExt;
    let req = Request::builder()
        .uri("/api/session/events")
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request");
    t.router
        .clone()
        .oneshot(req)
        .await
        .expect("infallible")
        .status()
}

#[tokio::test]
async fn pending_consent_opens_only_the_view_the_answer_sign_out_and_events() {
    let t = TestApp::new().await;
    let admin = t.login_pending("admin").await;
    assert_eq!(t.get("/api/session", &admin).await.status, StatusCode::OK);
    assert_eq!(events_status(&t, &admin).await, StatusCode::OK);
    let refused: Vec<(Method, &str, Value)> = vec![
        (
            Method::POST,
            "/api/session/activity",
            json!({ "idle_ms": 0 }),
        ),
        (
            Method::POST,
            "/api/session/tabs",
            json!({ "tab_id": "tab_pending" }),
        ),
        (Method::GET, "/api/admin/users", Value::Null),
        (Method::GET, "/api/admin/sessions", Value::Null),
        (Method::GET, "/api/admin/audit", Value::Null),
        (Method::GET, "/api/admin/roles", Value::Null),
        (
            Method::POST,
            "/api/admin/groups",
            json!({ "name": "Sneaky" }),
        ),
        (
            Method::POST,
            "/api/admin/users/3/terminate-sessions",
            json!({}),
        ),
        (Method::DELETE, "/api/admin/roles/2", Value::Null),
    ];
    for (method, path, body) in &refused {
        let body = (!body.is_null()).then(|| body.clone());
        let r = t.call(method.clone(), path, Some(&admin), body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(r.body["error"], "consent_required", "{method} {path}");
    }
    // Nothing the refused calls asked for happened.
    let accepted = t
        .post("/api/session/consent", &admin, json!({ "accepted": true }))
        .await;
    assert_eq!(accepted.status, StatusCode::OK);
    let groups = t.get("/api/admin/groups", &admin).await.body;
    assert_eq!(groups.as_array().map(Vec::len), Some(1));
    assert_eq!(
        t.get("/api/admin/sessions", &admin).await.body[0]["tabs"],
        json!([])
    );
    // Once accepted, the same calls work.
    for (method, path, body) in &refused[..2] {
        let r = t
            .call(method.clone(), path, Some(&admin), Some(body.clone()))
            .await;
        assert!(r.status.is_success(), "{method} {path}: {:?}", r.body);
    }

    // Signing out works while pending.
    let other = t.login_pending("operator").await;
    let r = t.post("/api/logout", &other, json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.assert_ended(&other, "logged_out").await;
}

#[tokio::test]
async fn a_pending_session_ends_at_its_consent_deadline_whatever_the_keepalives() {
    let t = TestApp::new().await;
    let swept = t.login_pending("operator").await;
    let on_request = t.login_pending("admin").await;
    t.clock.advance(119_000);
    let r = t
        .post("/api/session/activity", &swept, json!({ "idle_ms": 0 }))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"], "consent_required");
    assert_eq!(
        t.get("/api/session", &swept).await.body["last_activity_at"],
        T0
    );
    assert_eq!(t.state.sweep().await.expect("sweep"), 0);
    t.clock.advance(1_000);
    // The background task ends one; a request ends the other by itself.
    t.assert_ended(&on_request, "consent_declined").await;
    assert_eq!(t.state.sweep().await.expect("sweep"), 1);
    t.assert_ended(&swept, "consent_declined").await;

    let admin = t.login("admin").await;
    let audit = t.audit(&admin).await;
    let ended: Vec<&Value> = audit
        .iter()
        .filter(|e| e["kind"] == "session_ended")
        .collect();
    assert_eq!(ended.len(), 2);
    assert!(ended
        .iter()
        .all(|e| e["detail"]["reason"] == "consent_declined" && e["actor_user_id"].is_null()));

    // Answered in time, the session goes on past the deadline.
    let t = TestApp::with(|c| c.consent_timeout = std::time::Duration::from_secs(10)).await;
    let c = t.login_pending("operator").await;
    t.clock.advance(9_999);
    t.post("/api/session/consent", &c, json!({ "accepted": true }))
        .await;
    t.clock.advance(60_000);
    assert_eq!(t.state.sweep().await.expect("sweep"), 0);
    t.assert_live(&c).await;
}

#[tokio::test]
async fn recording_follows_the_user_type() {
    let consent_of = |r: &common::Reply| r.body["recording"].clone();
    let pending = json!({ "required": true, "consent": "pending" });
    let not_required = json!({ "required": false, "consent": "not_required" });

    // Default: privileged sessions only.
    let t = TestApp::new().await;
    for (user, expected) in [
        ("admin", &pending),
        ("operator", &pending),
        ("viewer", &not_required),
    ] {
        let r = t.try_login(user, &format!("{user}-demo-pass")).await;
        assert_eq!(&consent_of(&r), expected, "{user}");
    }
    // The viewer's session is usable at once.
    let viewer = t.login_pending("viewer").await;
    let r = t
        .post(
            "/api/session/tabs",
            &viewer,
            json!({ "tab_id": "tab_viewer1" }),
        )
        .await;
    assert_eq!(
        r.body,
        json!({ "tab_id": "tab_viewer1", "recording": false })
    );

    let t = TestApp::with(|c| c.recording = Recording::All).await;
    for user in ["admin", "operator", "viewer"] {
        let r = t.try_login(user, &format!("{user}-demo-pass")).await;
        assert_eq!(consent_of(&r), pending, "{user}");
    }

    let t = TestApp::with(|c| c.recording = Recording::Off).await;
    for user in ["admin", "operator", "viewer"] {
        let r = t.try_login(user, &format!("{user}-demo-pass")).await;
        assert_eq!(consent_of(&r), not_required, "{user}");
    }
}
