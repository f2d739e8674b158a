//! Session visibility and control: what the live list and the history show, closed tabs,
//! the emergency panel's targets and reasons, and impact previews (`?dry_run=true`).

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::TestApp;
use serde_json::{json, Value};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// Signs `username` in from 203.0.113.7 with Firefox's user agent (the server trusts the
/// forwarded address only with `--trust-proxy`) and accepts recording.
async fn login_from_firefox(t: &TestApp, username: &str) -> String {
    let body = json!({ "username": username, "password": format!("{username}-demo-pass") });
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/login")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, FIREFOX)
        .header("x-forwarded-for", "203.0.113.7")
        .body(Body::from(body.to_string()))
        .expect("request");
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let cookie = r.cookie();
    if r.body["recording"]["consent"] == "pending" {
        let r = t
            .post("/api/session/consent", &cookie, json!({ "accepted": true }))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    cookie
}

fn session_of<'a>(list: &'a Value, username: &str) -> &'a Value {
    list.as_array()
        .expect("array")
        .iter()
        .find(|s| s["username"] == username)
        .unwrap_or_else(|| panic!("no session of {username}"))
}

#[tokio::test]
async fn live_sessions_show_who_where_browser_and_this_is_you() {
    let t = TestApp::with(|c| c.trust_proxy = true).await;
    let admin = t.login("admin").await;
    let _viewer = login_from_firefox(&t, "viewer").await;
    let list = t.get("/api/admin/sessions", &admin).await;
    assert_eq!(list.status, StatusCode::OK);
    let viewer = session_of(&list.body, "viewer");
    assert_eq!(viewer["display_name"], "Vera Viewer");
    assert_eq!(viewer["client_addr"], "203.0.113.7");
    assert_eq!(viewer["user_agent"], FIREFOX);
    assert_eq!(viewer["browser"], "Firefox 128 on Linux");
    assert_eq!(viewer["current"], false);
    assert_eq!(viewer["recording_required"], false);
    let mine = session_of(&list.body, "admin");
    assert_eq!(mine["current"], true);
    assert_eq!(mine["browser"], Value::Null, "no user agent was sent");
}

#[tokio::test]
async fn a_closed_tab_drops_out_and_a_restored_one_comes_back() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    for (tab, opener) in [("tab-first-1", None), ("tab-second-2", Some("tab-first-1"))] {
        let r = t
            .post(
                "/api/session/tabs",
                &admin,
                json!({ "tab_id": tab, "opener_tab_id": opener }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let tabs = |list: &Value| -> Vec<(String, Value)> {
        session_of(list, "admin")["tabs"]
            .as_array()
            .expect("tabs")
            .iter()
            .map(|t| {
                (
                    t["tab_id"].as_str().expect("id").to_owned(),
                    t["opener_tab_id"].clone(),
                )
            })
            .collect()
    };
    let list = t.get("/api/admin/sessions", &admin).await.body;
    assert_eq!(
        tabs(&list),
        vec![
            ("tab-first-1".to_owned(), Value::Null),
            ("tab-second-2".to_owned(), json!("tab-first-1"))
        ]
    );

    let r = t
        .post("/api/session/tabs/tab-second-2/close", &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let list = t.get("/api/admin/sessions", &admin).await.body;
    assert_eq!(tabs(&list), vec![("tab-first-1".to_owned(), Value::Null)]);
    // Closing again, or a tab the session never had, changes nothing.
    for tab in ["tab-second-2", "tab-unknown-9"] {
        let r = t
            .post(&format!("/api/session/tabs/{tab}/close"), &admin, json!({}))
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
    let closed = t.audit(&admin).await;
    let closed: Vec<_> = closed
        .iter()
        .filter(|e| e["kind"] == "tab_closed")
        .collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["tab_id"], "tab-second-2");

    // Another session cannot close this session's tab.
    let operator = t.login("operator").await;
    t.post("/api/session/tabs/tab-first-1/close", &operator, json!({}))
        .await;
    let list = t.get("/api/admin/sessions", &admin).await.body;
    assert_eq!(tabs(&list).len(), 1);

    // Restored from the back/forward cache: it registers again and is listed again.
    let r = t
        .post(
            "/api/session/tabs",
            &admin,
            json!({ "tab_id": "tab-second-2", "opener_tab_id": "tab-first-1" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let list = t.get("/api/admin/sessions", &admin).await.body;
    assert_eq!(tabs(&list).len(), 2);

    let r = t
        .post("/api/session/tabs/bad/close", &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t
        .call(
            Method::POST,
            "/api/session/tabs/tab-first-1/close",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn history_lists_ended_sessions_with_reason_and_who_ended_them() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let viewer = t.login("viewer").await;
    let operator = t.login("operator").await;
    let viewer_sid = t.get("/api/session", &viewer).await.body["session_id"].clone();
    let r = t
        .call(
            Method::DELETE,
            &format!("/api/admin/sessions/{}", viewer_sid.as_str().expect("id")),
            Some(&admin),
            Some(json!({ "reason": "  Lost laptop  " })),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = t.post("/api/logout", &operator, json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    let history = t.get("/api/admin/session-history", &admin).await;
    assert_eq!(history.status, StatusCode::OK);
    let rows = history.body.as_array().expect("array");
    assert_eq!(rows.len(), 2);
    // Most recently ended first.
    assert_eq!(rows[0]["username"], "operator");
    assert_eq!(rows[0]["end_reason"], "logged_out");
    assert_eq!(rows[0]["ended_by_username"], "operator");
    assert_eq!(rows[1]["session_id"], viewer_sid);
    assert_eq!(rows[1]["end_reason"], "remote_terminated");
    assert_eq!(rows[1]["ended_by_username"], "admin");
    assert_eq!(rows[1]["display_name"], "Vera Viewer");
    assert!(rows[1]["ended_at"].as_i64().is_some());

    let audit = t.audit(&admin).await;
    let entry = audit
        .iter()
        .find(|e| e["kind"] == "admin_session_terminated")
        .expect("audited");
    assert_eq!(entry["detail"]["reason"], "Lost laptop");

    // The server's own endings have no one who ended them.
    let viewer = t.login("viewer").await;
    t.clock.advance(25 * 60 * 60 * 1000);
    t.state.sweep().await.expect("sweep");
    let admin_again = {
        // The admin's own session expired too.
        t.assert_ended(&viewer, "session_expired").await;
        t.login("admin").await
    };
    let history = t
        .get("/api/admin/session-history?limit=1", &admin_again)
        .await;
    let rows = history.body.as_array().expect("array");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["end_reason"], "session_expired");
    assert_eq!(rows[0]["ended_by_user_id"], Value::Null);

    for bad in ["0", "1001", "x"] {
        let r = t
            .get(
                &format!("/api/admin/session-history?limit={bad}"),
                &admin_again,
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn emergency_ends_a_role_or_everyone_else_with_a_reason() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let admin_second = t.login("admin").await;
    let operator = t.login("operator").await;
    let viewer = t.login("viewer").await;
    let operator_role = t.id_of(&admin, "roles", "Operator").await;

    // The Operator role is held through the Operators group.
    let r = t
        .post(
            "/api/admin/terminate-sessions",
            &admin,
            json!({ "target": "role", "role_id": operator_role, "reason": "incident 42" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({ "terminated": 1 }));
    t.assert_ended(&operator, "remote_terminated").await;
    t.assert_live(&viewer).await;
    let entry = t
        .audit(&admin)
        .await
        .into_iter()
        .find(|e| e["kind"] == "admin_sessions_terminated")
        .expect("audited");
    assert_eq!(entry["detail"]["target"], "role");
    assert_eq!(entry["detail"]["role"], "Operator");
    assert_eq!(entry["detail"]["reason"], "incident 42");
    assert_eq!(entry["detail"]["terminated"], 1);

    let operator = t.login("operator").await;
    let r = t
        .post(
            "/api/admin/terminate-sessions",
            &admin,
            json!({ "target": "everyone_else" }),
        )
        .await;
    assert_eq!(r.body, json!({ "terminated": 2 }));
    t.assert_ended(&operator, "remote_terminated").await;
    t.assert_ended(&viewer, "remote_terminated").await;
    // Every session of the acting administrator stays.
    t.assert_live(&admin).await;
    t.assert_live(&admin_second).await;

    let viewer = t.login("viewer").await;
    let r = t
        .post(
            "/api/admin/terminate-sessions",
            &admin,
            json!({ "target": "user", "user_id": 3 }),
        )
        .await;
    assert_eq!(r.body, json!({ "terminated": 1 }));
    t.assert_ended(&viewer, "remote_terminated").await;

    for (body, status) in [
        (
            json!({ "target": "role", "role_id": 999 }),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({ "target": "user", "user_id": 999 }),
            StatusCode::NOT_FOUND,
        ),
        (json!({ "target": "planet" }), StatusCode::BAD_REQUEST),
        (json!({}), StatusCode::BAD_REQUEST),
        (
            json!({ "target": "everyone_else", "reason": "x".repeat(257) }),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "target": "everyone_else", "reason": "a\nb" }),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = t
            .post("/api/admin/terminate-sessions", &admin, body.clone())
            .await;
        assert_eq!(r.status, status, "{body}");
    }
}

#[tokio::test]
async fn dry_run_answers_the_impact_and_changes_nothing() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let operator = t.login("operator").await;
    let operator_second = t.login("operator").await;
    let viewer = t.login("viewer").await;
    let audit_before = t.audit(&admin).await.len();
    let operators_group = t.id_of(&admin, "groups", "Operators").await;
    let operator_role = t.id_of(&admin, "roles", "Operator").await;
    let admin_role = t.id_of(&admin, "roles", "Administrator").await;
    let viewer_sid = t.get("/api/session", &viewer).await.body["session_id"].clone();
    let viewer_sid = viewer_sid.as_str().expect("id");

    let cases = [
        (
            Method::POST,
            "/api/admin/terminate-sessions?dry_run=true".to_owned(),
            Some(json!({ "target": "everyone_else" })),
            json!({ "dry_run": true, "users": 2, "sessions": 3, "includes_you": false }),
        ),
        (
            Method::DELETE,
            format!("/api/admin/groups/{operators_group}?dry_run=true"),
            None,
            json!({ "dry_run": true, "users": 1, "sessions": 2, "includes_you": false }),
        ),
        (
            Method::DELETE,
            format!("/api/admin/roles/{operator_role}/scopes/sessions:terminate?dry_run=true"),
            None,
            json!({ "dry_run": true, "users": 1, "sessions": 2, "includes_you": false }),
        ),
        (
            Method::POST,
            "/api/admin/users/2/suspend?dry_run=true".to_owned(),
            None,
            json!({ "dry_run": true, "users": 1, "sessions": 2, "includes_you": false }),
        ),
        (
            Method::DELETE,
            format!("/api/admin/sessions/{viewer_sid}?dry_run=true"),
            None,
            json!({ "dry_run": true, "users": 1, "sessions": 1, "includes_you": false }),
        ),
        (
            Method::POST,
            "/api/admin/users/3/terminate-sessions?dry_run=true".to_owned(),
            None,
            json!({ "dry_run": true, "users": 1, "sessions": 1, "includes_you": false }),
        ),
        (
            Method::DELETE,
            format!("/api/admin/roles/{operator_role}?dry_run=true"),
            None,
            json!({ "dry_run": true, "users": 1, "sessions": 2, "includes_you": false }),
        ),
        (
            Method::DELETE,
            format!("/api/admin/groups/{operators_group}/members/2?dry_run=true"),
            None,
            json!({ "dry_run": true, "users": 1, "sessions": 2, "includes_you": false }),
        ),
        (
            Method::DELETE,
            format!("/api/admin/groups/{operators_group}/roles/{operator_role}?dry_run=true"),
            None,
            json!({ "dry_run": true, "users": 1, "sessions": 2, "includes_you": false }),
        ),
    ];
    for (method, path, body, expected) in cases {
        let r = t.call(method.clone(), &path, Some(&admin), body).await;
        assert_eq!(r.status, StatusCode::OK, "{method} {path}: {:?}", r.body);
        assert_eq!(r.body, expected, "{method} {path}");
    }
    // Nothing happened: every session lives, nothing was audited, the group is there.
    for cookie in [&admin, &operator, &operator_second, &viewer] {
        t.assert_live(cookie).await;
    }
    assert_eq!(t.audit(&admin).await.len(), audit_before);
    t.id_of(&admin, "groups", "Operators").await;

    let groups = t.get("/api/admin/groups", &admin).await;
    assert!(
        groups.body.to_string().contains("\"members\":[2]"),
        "{:?}",
        groups.body
    );
    // A preview refuses what the change would refuse (the lockout rule).
    let r = t
        .delete(
            &format!("/api/admin/users/1/roles/{admin_role}?dry_run=true"),
            &admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = t
        .delete(
            &format!("/api/admin/roles/{admin_role}?dry_run=true"),
            &admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = t
        .delete(
            &format!("/api/admin/roles/{admin_role}/scopes/audit:read?dry_run=true"),
            &admin,
        )
        .await;
    assert_eq!(
        r.body,
        json!({ "dry_run": true, "users": 1, "sessions": 1, "includes_you": true })
    );
    let r = t
        .delete(
            &format!("/api/admin/groups/{operators_group}?dry_run=maybe"),
            &admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_administrator_ends_one_tab_and_the_session_with_its_other_tabs_continues() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let viewer = t.login("viewer").await;
    for tab in ["tab-keep-0001", "tab-end-00002"] {
        let r = t
            .post("/api/session/tabs", &viewer, json!({ "tab_id": tab }))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let list = t.get("/api/admin/sessions", &admin).await;
    let session_id = session_of(&list.body, "viewer")["session_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/api/admin/sessions/{session_id}/tabs/tab-end-00002");

    // The preview ends no session and changes nothing.
    let preview = t.delete(&format!("{path}?dry_run=true"), &admin).await;
    assert_eq!(preview.status, StatusCode::OK, "{:?}", preview.body);
    assert_eq!(
        preview.body,
        json!({ "dry_run": true, "users": 0, "sessions": 0, "tabs": 1, "includes_you": false })
    );
    let open_tabs = |list: &Value| -> Vec<String> {
        session_of(list, "viewer")["tabs"]
            .as_array()
            .expect("tabs")
            .iter()
            .map(|tab| tab["tab_id"].as_str().expect("tab id").to_owned())
            .collect()
    };
    let list = t.get("/api/admin/sessions", &admin).await;
    assert_eq!(open_tabs(&list.body), ["tab-end-00002", "tab-keep-0001"]);

    let r = t
        .call(
            Method::DELETE,
            &path,
            Some(&admin),
            Some(json!({ "reason": "left open on a shared desk" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    t.assert_live(&viewer).await;
    let list = t.get("/api/admin/sessions", &admin).await;
    assert_eq!(open_tabs(&list.body), ["tab-keep-0001"]);

    // Ended for good: it cannot register again, and ending it again is 404.
    let again = t
        .post(
            "/api/session/tabs",
            &viewer,
            json!({ "tab_id": "tab-end-00002" }),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let list = t.get("/api/admin/sessions", &admin).await;
    assert_eq!(open_tabs(&list.body), ["tab-keep-0001"]);
    assert_eq!(t.delete(&path, &admin).await.status, StatusCode::NOT_FOUND);
    // A closed tab, an unknown tab and a tab of an ended session are 404 too.
    let r = t
        .post("/api/session/tabs/tab-keep-0001/close", &viewer, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let closed = format!("/api/admin/sessions/{session_id}/tabs/tab-keep-0001");
    assert_eq!(
        t.delete(&closed, &admin).await.status,
        StatusCode::NOT_FOUND
    );
    let unknown = format!("/api/admin/sessions/{session_id}/tabs/tab-unknown-01");
    assert_eq!(
        t.delete(&unknown, &admin).await.status,
        StatusCode::NOT_FOUND
    );

    let entry = t
        .audit(&admin)
        .await
        .into_iter()
        .find(|e| e["kind"] == "admin_tab_terminated")
        .expect("audited");
    assert_eq!(entry["session_id"], session_id.as_str());
    assert_eq!(entry["tab_id"], "tab-end-00002");
    assert_eq!(entry["detail"]["reason"], "left open on a shared desk");
    assert_eq!(
        entry["actor_user_id"],
        t.id_of(&admin, "users", "admin").await
    );
}

#[tokio::test]
async fn ending_a_tab_needs_the_terminate_scope() {
    let t = TestApp::new().await;
    let viewer = t.login("viewer").await;
    let r = t
        .post(
            "/api/session/tabs",
            &viewer,
            json!({ "tab_id": "tab-mine-0001" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = t
        .delete("/api/admin/sessions/whatever/tabs/tab-mine-0001", &viewer)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
