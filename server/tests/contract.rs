//! The server's answers read back through the shared contract: every session view the
//! server sends passes the guard's own validating parser (and drives its engine), and every
//! admin answer parses as the contract's type and serializes back to exactly what was sent,
//! so no field exists on one side only.

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::{TestApp, T0};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use session_guard::core::{ConsentState, Engine, EngineConfig, LocalTime, SessionView, State};
use session_guard_contract::admin::{
    AdminSession, AdminUser, AuditEntry, AuditQuery, EndedSession, Group, ImpactPreview, Role,
    TerminatedCount,
};
use session_guard_contract::api::{ErrorBody, ErrorCode, TabRegistered, TAB_HEADER};
use session_guard_contract::{AuditKind, Reason, ServerTime};
use tower::ServiceExt;

/// Sends a request and returns the status and the raw body text, exactly as sent.
async fn raw(
    t: &TestApp,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, String) {
    let mut builder = Request::builder().method(method.clone()).uri(path);
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    if method != Method::GET {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    let body = match body {
        Some(body) => Body::from(body.to_string()),
        None if method == Method::GET => Body::empty(),
        None => Body::from("{}"),
    };
    let resp = t
        .router
        .clone()
        .oneshot(builder.body(body).expect("request"))
        .await
        .expect("infallible");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        String::from_utf8(bytes.to_vec()).expect("UTF-8 body"),
    )
}

/// Parses `text` as the contract's `T` and checks that serializing it again gives the same
/// JSON: a field the server sends that the type lacks (or names differently), or one the
/// type has that the server does not send, fails here.
fn round_trip<T: DeserializeOwned + Serialize>(what: &str, text: &str) -> T {
    let parsed: T = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{what} does not parse as the contract's type: {e}\n{text}"));
    let sent: Value = serde_json::from_str(text).expect("JSON");
    let again = serde_json::to_value(&parsed).expect("serializes");
    assert_eq!(again, sent, "{what} does not round-trip");
    parsed
}

/// Parses a session view with the guard's validating parser, checks that nothing was
/// repaired on the way (the server sends only valid views), and hands it to a fresh engine.
fn guard_reads(what: &str, text: &str) -> (SessionView, State) {
    let view = SessionView::from_json(text)
        .unwrap_or_else(|e| panic!("the guard refuses the server's {what}: {e}\n{text}"));
    let again = serde_json::to_value(&view).expect("serializes");
    assert_eq!(
        again,
        serde_json::from_str::<Value>(text).expect("JSON"),
        "the guard changed the server's {what}"
    );
    let mut engine = Engine::new(EngineConfig::new("tab_contract"));
    // A tab whose clock agrees with the server's.
    let now = LocalTime::from_millis(view.server_time.as_millis());
    engine.handle_server_view(view.clone(), now);
    (view, engine.state().clone())
}

#[tokio::test]
async fn every_session_view_the_server_sends_passes_the_guards_parser() {
    let t = TestApp::new().await;

    // A privileged sign-in: recorded, waiting for consent, with an idle timeout.
    let login = t.try_login("admin", "admin-demo-pass").await;
    assert_eq!(login.status, StatusCode::OK);
    let admin = login.cookie();
    let (view, state) = guard_reads("sign-in answer", &login.body.to_string());
    assert_eq!(state, State::AwaitingConsent);
    assert_eq!(view.recording.consent, ConsentState::Pending);
    assert!(view.privileged && view.idle_timeout_ms.is_some());
    assert_eq!(view.server_time.as_millis(), T0);

    let (status, text) = raw(&t, Method::GET, "/api/session", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    let (fetched, _) = guard_reads("session view", &text);
    assert_eq!(fetched, view);

    let (status, text) = raw(
        &t,
        Method::POST,
        "/api/session/consent",
        Some(&admin),
        Some(json!({ "accepted": true })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (view, state) = guard_reads("consent answer", &text);
    assert_eq!(state, State::Active);
    assert_eq!(view.recording.consent, ConsentState::Accepted);

    t.clock.advance(30_000);
    let (status, text) = raw(
        &t,
        Method::POST,
        "/api/session/activity",
        Some(&admin),
        Some(json!({ "idle_ms": 5_000 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (view, _) = guard_reads("keepalive answer", &text);
    assert_eq!(view.last_activity_at.as_millis(), T0 + 25_000);

    // A user without scopes: no idle timeout, not recorded.
    let viewer = t.login_pending("viewer").await;
    let (status, text) = raw(&t, Method::GET, "/api/session", Some(&viewer), None).await;
    assert_eq!(status, StatusCode::OK);
    let (view, state) = guard_reads("non-privileged view", &text);
    assert_eq!(state, State::Active);
    assert!(!view.privileged && view.idle_timeout_ms.is_none());
    assert_eq!(view.recording.consent, ConsentState::NotRequired);

    // An ended session answers the contract's error body with its reason.
    let (status, _) = raw(&t, Method::POST, "/api/logout", Some(&viewer), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, text) = raw(&t, Method::GET, "/api/session", Some(&viewer), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let error: ErrorBody = round_trip("error body", &text);
    assert_eq!(error.error, ErrorCode::Unauthenticated);
    assert_eq!(error.reason, Some(Reason::LoggedOut));
}

#[tokio::test]
async fn every_admin_answer_round_trips_through_the_contracts_types() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let operator = t.login("operator").await;

    // A registered tab, so the live list has one, and the answer to registering it.
    let (status, text) = raw(
        &t,
        Method::POST,
        "/api/session/tabs",
        Some(&admin),
        Some(json!({ "tab_id": "tab_contract", "opener_tab_id": null })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let registered: TabRegistered = round_trip("tab registration", &text);
    assert_eq!(registered.tab_id, "tab_contract");

    let get = |path: &'static str| raw(&t, Method::GET, path, Some(&admin), None);

    let (status, text) = get("/api/admin/sessions").await;
    assert_eq!(status, StatusCode::OK);
    let sessions: Vec<AdminSession> = round_trip("live sessions", &text);
    let mine = sessions.iter().find(|s| s.current).expect("own session");
    assert_eq!(mine.tabs.len(), 1);
    assert_eq!(mine.recording_consent, ConsentState::Accepted);

    let (status, text) = get("/api/admin/users").await;
    assert_eq!(status, StatusCode::OK);
    let users: Vec<AdminUser> = round_trip("users", &text);
    let operator_id = users
        .iter()
        .find(|u| u.username == "operator")
        .expect("operator")
        .id;

    let (status, text) = get("/api/admin/roles").await;
    assert_eq!(status, StatusCode::OK);
    let roles: Vec<Role> = round_trip("roles", &text);
    assert!(!roles.is_empty());

    let (status, text) = raw(
        &t,
        Method::POST,
        "/api/admin/groups",
        Some(&admin),
        Some(json!({ "name": "Night shift" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let group: Group = round_trip("created group", &text);
    let (status, text) = get("/api/admin/groups").await;
    assert_eq!(status, StatusCode::OK);
    let groups: Vec<Group> = round_trip("groups", &text);
    assert!(groups.contains(&group));

    let preview_path = format!("/api/admin/users/{operator_id}/suspend?dry_run=true");
    let (status, text) = raw(&t, Method::POST, &preview_path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    let impact: ImpactPreview = round_trip("impact preview", &text);
    assert_eq!((impact.users, impact.sessions, impact.tabs), (1, 1, 0));
    let tab_preview = format!(
        "/api/admin/sessions/{}/tabs/tab_contract?dry_run=true",
        mine.session_id
    );
    let (status, text) = raw(&t, Method::DELETE, &tab_preview, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    let impact: ImpactPreview = round_trip("tab impact preview", &text);
    assert_eq!((impact.tabs, impact.includes_you), (1, true));

    let (status, text) = raw(
        &t,
        Method::POST,
        "/api/admin/terminate-sessions",
        Some(&admin),
        Some(json!({ "target": "user", "user_id": operator_id, "reason": "contract test" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let count: TerminatedCount = round_trip("terminated count", &text);
    assert_eq!(count.terminated, 1);
    t.assert_ended(&operator, "remote_terminated").await;

    let (status, text) = get("/api/admin/session-history").await;
    assert_eq!(status, StatusCode::OK);
    let history: Vec<EndedSession> = round_trip("session history", &text);
    assert_eq!(history[0].end_reason, Some(Reason::RemoteTerminated));

    let (status, text) = get("/api/admin/audit?limit=1000").await;
    assert_eq!(status, StatusCode::OK);
    let audit: Vec<AuditEntry> = round_trip("audit log", &text);
    let kinds: Vec<AuditKind> = audit.iter().map(|e| e.kind).collect();
    for kind in [
        AuditKind::Seeded,
        AuditKind::Login,
        AuditKind::Consent,
        AuditKind::TabRegistered,
        AuditKind::AdminGroupCreated,
        AuditKind::AdminSessionsTerminated,
        AuditKind::SessionEnded,
    ] {
        assert!(kinds.contains(&kind), "no {kind} entry in {kinds:?}");
    }
}

#[tokio::test]
async fn one_tab_id_rule_on_every_route_that_takes_one() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let shortest = "a".repeat(8);
    let longest = "b".repeat(64);
    for (tab_id, expected) in [
        ("a".repeat(7), StatusCode::BAD_REQUEST),
        ("c".repeat(65), StatusCode::BAD_REQUEST),
        ("tab.0000".to_owned(), StatusCode::BAD_REQUEST),
        (shortest.clone(), StatusCode::CREATED),
        (longest.clone(), StatusCode::CREATED),
    ] {
        let reply = t
            .post("/api/session/tabs", &admin, json!({ "tab_id": tab_id }))
            .await;
        assert_eq!(reply.status, expected, "register {tab_id}");
        assert_eq!(
            session_guard_contract::ids::is_tab_id(&tab_id),
            expected == StatusCode::CREATED,
            "the contract's rule agrees on {tab_id}"
        );
        let close = format!("/api/session/tabs/{tab_id}/close");
        let closing = t.post(&close, &admin, json!({})).await;
        let closed = if expected == StatusCode::CREATED {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(closing.status, closed, "close {tab_id}");
    }
    // The acting-tab header follows the same rule.
    for (tab_id, expected) in [
        ("a".repeat(7), StatusCode::BAD_REQUEST),
        (shortest, StatusCode::OK),
    ] {
        let req = Request::builder()
            .uri("/api/admin/users")
            .header(header::COOKIE, &admin)
            .header(TAB_HEADER, &tab_id)
            .body(Body::empty())
            .expect("request");
        assert_eq!(t.send(req).await.status, expected, "header {tab_id}");
    }
}

#[tokio::test]
async fn the_contracts_audit_query_is_the_servers() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let (status, text) = raw(&t, Method::GET, "/api/session", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    let session_id = SessionView::from_json(&text).expect("view").session_id;
    let mut query = AuditQuery {
        limit: Some(1),
        kind: Some("consent".into()),
        session_id: Some(session_id.clone()),
        from: Some(ServerTime::from_millis(T0)),
        to: Some(ServerTime::from_millis(T0 + 1)),
        ..AuditQuery::default()
    };
    let path = format!("/api/admin/audit?{}", query.to_query_string());
    let (status, text) = raw(&t, Method::GET, &path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {text}");
    let page: Vec<AuditEntry> = round_trip("filtered audit page", &text);
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].kind, AuditKind::Consent);
    assert_eq!(page[0].session_id.as_deref(), Some(session_id.as_str()));
    // The cursor goes past the only match; a malformed session id is refused.
    query.before = Some(page[0].id);
    let path = format!("/api/admin/audit?{}", query.to_query_string());
    let (status, text) = raw(&t, Method::GET, &path, Some(&admin), None).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "[]"));
    query.session_id = Some("ses 1".into());
    let path = format!("/api/admin/audit?{}", query.to_query_string());
    let (status, _) = raw(&t, Method::GET, &path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
