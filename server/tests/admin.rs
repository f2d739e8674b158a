//! The admin API: access control, shapes, validation, unknown ids and the audit log.

mod common;

use axum::http::{Method, StatusCode};
use common::TestApp;
use serde_json::{json, Value};

/// Every admin path, as (method, path, the scope it needs).
fn admin_paths() -> Vec<(Method, &'static str, &'static str)> {
    vec![
        (Method::GET, "/api/admin/sessions", "sessions:terminate"),
        (
            Method::DELETE,
            "/api/admin/sessions/ses_x",
            "sessions:terminate",
        ),
        (
            Method::POST,
            "/api/admin/users/99/terminate-sessions",
            "sessions:terminate",
        ),
        (
            Method::GET,
            "/api/admin/session-history",
            "sessions:terminate",
        ),
        (
            Method::POST,
            "/api/admin/terminate-sessions",
            "sessions:terminate",
        ),
        (Method::GET, "/api/admin/users", "admin:manage"),
        (Method::POST, "/api/admin/users", "admin:manage"),
        (Method::POST, "/api/admin/users/99/suspend", "admin:manage"),
        (
            Method::POST,
            "/api/admin/users/99/unsuspend",
            "admin:manage",
        ),
        (Method::POST, "/api/admin/users/99/roles/99", "admin:manage"),
        (
            Method::DELETE,
            "/api/admin/users/99/roles/99",
            "admin:manage",
        ),
        (Method::GET, "/api/admin/roles", "admin:manage"),
        (Method::POST, "/api/admin/roles", "admin:manage"),
        (Method::DELETE, "/api/admin/roles/99", "admin:manage"),
        (Method::POST, "/api/admin/roles/99/scopes", "admin:manage"),
        (
            Method::DELETE,
            "/api/admin/roles/99/scopes/a",
            "admin:manage",
        ),
        (Method::GET, "/api/admin/groups", "admin:manage"),
        (Method::POST, "/api/admin/groups", "admin:manage"),
        (Method::DELETE, "/api/admin/groups/99", "admin:manage"),
        (
            Method::POST,
            "/api/admin/groups/99/members/99",
            "admin:manage",
        ),
        (
            Method::DELETE,
            "/api/admin/groups/99/members/99",
            "admin:manage",
        ),
        (
            Method::POST,
            "/api/admin/groups/99/roles/99",
            "admin:manage",
        ),
        (
            Method::DELETE,
            "/api/admin/groups/99/roles/99",
            "admin:manage",
        ),
        (Method::GET, "/api/admin/audit", "audit:read"),
        (Method::GET, "/api/admin/recordings", "recordings:read"),
        (
            Method::GET,
            "/api/admin/recordings/ses_x/tabs/tab_0000",
            "recordings:read",
        ),
        (
            Method::GET,
            "/api/admin/recordings/ses_x/tabs/tab_0000/chunks/0",
            "recordings:read",
        ),
        (
            Method::DELETE,
            "/api/admin/recordings/ses_x/tabs/tab_0000",
            "recordings:delete",
        ),
    ]
}

/// A user `name` (password `{name}-demo-pass`) holding exactly `scopes` through a role of
/// their own, signed in with consent given.
async fn user_with_scopes(t: &TestApp, admin: &str, name: &str, scopes: &[&str]) -> String {
    let role = t
        .post(
            "/api/admin/roles",
            admin,
            json!({ "name": format!("{name}-role"), "scopes": scopes }),
        )
        .await;
    assert_eq!(role.status, StatusCode::CREATED, "{:?}", role.body);
    let user = t
        .post(
            "/api/admin/users",
            admin,
            json!({ "username": name, "display_name": name, "password": format!("{name}-demo-pass") }),
        )
        .await;
    assert_eq!(user.status, StatusCode::CREATED, "{:?}", user.body);
    let (uid, rid) = (user.body["id"].clone(), role.body["id"].clone());
    let r = t
        .post(
            &format!("/api/admin/users/{uid}/roles/{rid}"),
            admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.login(name).await
}

#[tokio::test]
async fn each_admin_part_requires_its_own_scope() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let viewer = t.login("viewer").await;
    let mut callers = vec![("viewer", vec![], viewer.clone())];
    for scope in [
        "sessions:terminate",
        "admin:manage",
        "audit:read",
        "recordings:read",
        "recordings:delete",
        "console:access",
    ] {
        let name = scope.replace(':', "_");
        let cookie = user_with_scopes(&t, &admin, &name, &[scope]).await;
        callers.push((scope, vec![scope], cookie));
    }
    for (method, path, needed) in admin_paths() {
        for (who, scopes, cookie) in &callers {
            let r = t.call(method.clone(), path, Some(cookie), None).await;
            if scopes.contains(&needed) {
                // Allowed through: the handler answers (the ids are unknown and there is
                // no body, so a lookup or a validation answer), never a refusal or a fault.
                assert!(
                    [
                        StatusCode::OK,
                        StatusCode::NO_CONTENT,
                        StatusCode::BAD_REQUEST,
                        StatusCode::NOT_FOUND,
                    ]
                    .contains(&r.status),
                    "{who}: {method} {path}: {} {:?}",
                    r.status,
                    r.body
                );
            } else {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}: {method} {path}");
                assert_eq!(r.body["error"], "forbidden", "{who}: {method} {path}");
            }
        }
        let r = t.call(method.clone(), path, None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    t.assert_live(&viewer).await;
}

#[tokio::test]
async fn seeded_operator_ends_sessions_but_cannot_manage_users() {
    let t = TestApp::new().await;
    let operator = t.login("operator").await;
    let viewer = t.login("viewer").await;
    let scopes = t.get("/api/session", &operator).await.body["scopes"].clone();
    assert_eq!(scopes, json!(["console:access", "sessions:terminate"]));

    let live = t.get("/api/admin/sessions", &operator).await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.body.as_array().map(Vec::len), Some(2));
    let viewer_sid = t.get("/api/session", &viewer).await.body["session_id"].clone();
    let r = t
        .delete(
            &format!("/api/admin/sessions/{}", viewer_sid.as_str().expect("id")),
            &operator,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.assert_ended(&viewer, "remote_terminated").await;
    let viewer = t.login("viewer").await;
    let r = t
        .post(
            "/api/admin/users/3/terminate-sessions",
            &operator,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({ "terminated": 1 }));
    t.assert_ended(&viewer, "remote_terminated").await;

    for (method, path) in [
        (Method::GET, "/api/admin/users"),
        (Method::POST, "/api/admin/users/3/suspend"),
        (Method::GET, "/api/admin/roles"),
        (Method::GET, "/api/admin/groups"),
        (Method::GET, "/api/admin/audit"),
    ] {
        let r = t.call(method.clone(), path, Some(&operator), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
    }

    // The administrator holds every admin scope.
    let admin = t.login("admin").await;
    let scopes = t.get("/api/session", &admin).await.body["scopes"].clone();
    assert_eq!(
        scopes,
        json!([
            "admin:manage",
            "audit:read",
            "console:access",
            "recordings:delete",
            "recordings:read",
            "sessions:terminate"
        ])
    );
    for path in [
        "/api/admin/sessions",
        "/api/admin/users",
        "/api/admin/roles",
        "/api/admin/groups",
        "/api/admin/audit",
    ] {
        assert_eq!(t.get(path, &admin).await.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn listings_have_the_contract_shapes() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let operator = t.login("operator").await;
    let users = t.get("/api/admin/users", &admin).await.body;
    assert_eq!(
        users,
        json!([
            { "id": 1, "username": "admin", "display_name": "Ada Admin", "suspended": false,
              "privileged": true, "roles": [1], "groups": [] },
            { "id": 2, "username": "operator", "display_name": "Otto Operator", "suspended": false,
              "privileged": true, "roles": [], "groups": [1] },
            { "id": 3, "username": "viewer", "display_name": "Vera Viewer", "suspended": false,
              "privileged": false, "roles": [], "groups": [] },
        ])
    );
    let roles = t.get("/api/admin/roles", &admin).await.body;
    assert_eq!(
        roles,
        json!([
            { "id": 1, "name": "Administrator",
              "scopes": ["admin:manage", "audit:read", "console:access", "recordings:delete",
                         "recordings:read", "sessions:terminate"] },
            { "id": 2, "name": "Operator", "scopes": ["console:access", "sessions:terminate"] },
        ])
    );
    let groups = t.get("/api/admin/groups", &admin).await.body;
    assert_eq!(
        groups,
        json!([{ "id": 1, "name": "Operators", "members": [2], "roles": [2] }])
    );
    let sessions = t.get("/api/admin/sessions", &admin).await.body;
    let sessions = sessions.as_array().expect("array");
    assert_eq!(sessions.len(), 2);
    let op = &sessions[1];
    let keys: Vec<&str> = op
        .as_object()
        .expect("obj")
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "session_id",
        "user_id",
        "username",
        "issued_at",
        "expires_at",
        "last_activity_at",
        "recording_consent",
        "tabs",
    ] {
        assert!(keys.contains(&k), "{k} missing in {keys:?}");
    }
    assert_eq!(op["username"], "operator");
    let mine = t.get("/api/session", &operator).await.body;
    assert_eq!(op["session_id"], mine["session_id"]);
}

#[tokio::test]
async fn create_validate_and_conflict() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let u = t
        .post(
            "/api/admin/users",
            &admin,
            json!({ "username": "newbie", "display_name": "New Bie", "password": "newbie-demo-pass" }),
        )
        .await;
    assert_eq!(u.status, StatusCode::CREATED);
    assert_eq!(u.body["username"], "newbie");
    assert_eq!(u.body["privileged"], false);
    assert_eq!(u.body["roles"], json!([]));
    let c = t.login("newbie").await;
    t.assert_live(&c).await;

    let dup = t
        .post(
            "/api/admin/users",
            &admin,
            json!({ "username": "NEWBIE", "display_name": "x", "password": "longenough" }),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.body["error"], "conflict");
    for bad in [
        json!({ "username": "", "display_name": "x", "password": "longenough" }),
        json!({ "username": "a b", "display_name": "x", "password": "longenough" }),
        json!({ "username": "ok", "display_name": " ", "password": "longenough" }),
        json!({ "username": "ok", "display_name": "x", "password": "short" }),
        json!({ "username": "ok", "display_name": "x" }),
        json!({ "username": 5, "display_name": "x", "password": "longenough" }),
    ] {
        let r = t.post("/api/admin/users", &admin, bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }

    let role = t
        .post(
            "/api/admin/roles",
            &admin,
            json!({ "name": "Auditor", "scopes": ["audit:read", "audit:read"] }),
        )
        .await;
    assert_eq!(role.status, StatusCode::CREATED);
    assert_eq!(role.body["scopes"], json!(["audit:read"]));
    let rid = role.body["id"].as_i64().expect("id");
    let dup = t
        .post("/api/admin/roles", &admin, json!({ "name": "auditor" }))
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    for bad in [
        json!({ "name": "X", "scopes": ["Bad Scope"] }),
        json!({ "name": "", "scopes": [] }),
        json!({ "name": "X", "scopes": "audit:read" }),
    ] {
        let r = t.post("/api/admin/roles", &admin, bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = t
        .post(
            &format!("/api/admin/roles/{rid}/scopes"),
            &admin,
            json!({ "scope": "UPPER" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t
        .post(
            &format!("/api/admin/roles/{rid}/scopes"),
            &admin,
            json!({ "scope": "audit:read" }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "adding an existing scope is idempotent"
    );

    let g = t
        .post("/api/admin/groups", &admin, json!({ "name": "Auditors" }))
        .await;
    assert_eq!(g.status, StatusCode::CREATED);
    assert_eq!(g.body["members"], json!([]));
    let dup = t
        .post("/api/admin/groups", &admin, json!({ "name": "Auditors" }))
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let cases: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::DELETE, "/api/admin/sessions/ses_doesnotexist", None),
        (Method::POST, "/api/admin/users/99/terminate-sessions", None),
        (Method::POST, "/api/admin/users/99/suspend", None),
        (Method::POST, "/api/admin/users/99/unsuspend", None),
        (Method::DELETE, "/api/admin/roles/99", None),
        (
            Method::POST,
            "/api/admin/roles/99/scopes",
            Some(json!({ "scope": "a" })),
        ),
        (Method::DELETE, "/api/admin/roles/99/scopes/a", None),
        (Method::POST, "/api/admin/users/99/roles/1", None),
        (Method::POST, "/api/admin/users/1/roles/99", None),
        (Method::DELETE, "/api/admin/users/99/roles/1", None),
        (Method::DELETE, "/api/admin/groups/99", None),
        (Method::POST, "/api/admin/groups/99/members/1", None),
        (Method::POST, "/api/admin/groups/1/members/99", None),
        (Method::DELETE, "/api/admin/groups/1/members/99", None),
        (Method::POST, "/api/admin/groups/99/roles/1", None),
        (Method::POST, "/api/admin/groups/1/roles/99", None),
        (Method::DELETE, "/api/admin/groups/99/roles/1", None),
    ];
    for (method, path, body) in cases {
        let r = t.call(method.clone(), path, Some(&admin), body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(r.body["error"], "not_found");
    }
    for path in [
        "/api/admin/users/x/suspend",
        "/api/admin/users/1.5/suspend",
        "/api/admin/users/99999999999999999999/suspend",
    ] {
        let r = t.post(path, &admin, json!({})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
    }
}

#[tokio::test]
async fn remote_termination_and_emergency_panel() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let op1 = t.login("operator").await;
    let op2 = t.login("operator").await;
    let viewer = t.login("viewer").await;
    let sid = t.get("/api/session", &op1).await.body["session_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = t
        .delete(&format!("/api/admin/sessions/{sid}"), &admin)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.assert_ended(&op1, "remote_terminated").await;
    t.assert_live(&op2).await;
    let r = t
        .delete(&format!("/api/admin/sessions/{sid}"), &admin)
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "an ended session is no longer live"
    );

    let op3 = t.login("operator").await;
    let r = t
        .post("/api/admin/users/2/terminate-sessions", &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({ "terminated": 2 }));
    t.assert_ended(&op2, "remote_terminated").await;
    t.assert_ended(&op3, "remote_terminated").await;
    t.assert_live(&viewer).await;
    let r = t
        .post("/api/admin/users/2/terminate-sessions", &admin, json!({}))
        .await;
    assert_eq!(r.body, json!({ "terminated": 0 }));

    let live = t.get("/api/admin/sessions", &admin).await.body;
    let names: Vec<&str> = live
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["username"].as_str())
        .collect();
    assert_eq!(names, vec!["admin", "viewer"]);
}

#[tokio::test]
async fn every_admin_action_is_audited_with_its_actor() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let op = t.login("operator").await;
    let sid = t.get("/api/session", &op).await.body["session_id"].clone();
    let role = t
        .post(
            "/api/admin/roles",
            &admin,
            json!({ "name": "R", "scopes": [] }),
        )
        .await;
    let rid = role.body["id"].as_i64().expect("id");
    let group = t
        .post("/api/admin/groups", &admin, json!({ "name": "G" }))
        .await;
    let gid = group.body["id"].as_i64().expect("id");
    let user = t
        .post(
            "/api/admin/users",
            &admin,
            json!({ "username": "u1", "display_name": "U", "password": "password1" }),
        )
        .await;
    let uid = user.body["id"].as_i64().expect("id");
    let steps: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            format!("/api/admin/roles/{rid}/scopes"),
            Some(json!({ "scope": "s:a" })),
        ),
        (
            Method::DELETE,
            format!("/api/admin/roles/{rid}/scopes/s:a"),
            None,
        ),
        (
            Method::POST,
            format!("/api/admin/users/{uid}/roles/{rid}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/admin/users/{uid}/roles/{rid}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/admin/groups/{gid}/members/{uid}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/admin/groups/{gid}/members/{uid}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/admin/groups/{gid}/roles/{rid}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/admin/groups/{gid}/roles/{rid}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/admin/users/{uid}/suspend"),
            None,
        ),
        (
            Method::POST,
            format!("/api/admin/users/{uid}/unsuspend"),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/admin/sessions/{}", sid.as_str().expect("sid")),
            None,
        ),
        (
            Method::POST,
            format!("/api/admin/users/{uid}/terminate-sessions"),
            None,
        ),
        (Method::DELETE, format!("/api/admin/groups/{gid}"), None),
        (Method::DELETE, format!("/api/admin/roles/{rid}"), None),
    ];
    for (method, path, body) in steps {
        let r = t.call(method.clone(), &path, Some(&admin), body).await;
        assert!(r.status.is_success(), "{method} {path}: {:?}", r.body);
    }
    let audit = t.audit(&admin).await;
    let ids: Vec<i64> = audit.iter().filter_map(|e| e["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
    let kinds: Vec<&str> = audit
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .filter(|k| k.starts_with("admin_"))
        .collect();
    let mut expected = vec![
        "admin_role_created",
        "admin_group_created",
        "admin_user_created",
        "admin_role_scope_added",
        "admin_role_scope_removed",
        "admin_user_role_assigned",
        "admin_user_role_unassigned",
        "admin_group_member_added",
        "admin_group_member_removed",
        "admin_group_role_assigned",
        "admin_group_role_unassigned",
        "admin_user_suspended",
        "admin_user_unsuspended",
        "admin_session_terminated",
        "admin_user_sessions_terminated",
        "admin_group_deleted",
        "admin_role_deleted",
    ];
    expected.reverse();
    assert_eq!(kinds, expected);
    for e in audit
        .iter()
        .filter(|e| e["kind"].as_str().is_some_and(|k| k.starts_with("admin_")))
    {
        assert_eq!(e["actor_user_id"], 1, "{e}");
        assert!(e["at"].as_i64().is_some());
        assert!(e["detail"].is_object());
    }
    let ended = audit
        .iter()
        .find(|e| e["kind"] == "session_ended")
        .expect("session_ended");
    assert_eq!(ended["detail"]["reason"], "remote_terminated");
    assert_eq!(ended["actor_user_id"], 1);
    assert_eq!(ended["session_id"], sid);
    let login = audit
        .iter()
        .rev()
        .find(|e| e["kind"] == "login")
        .expect("login");
    assert_eq!(login["actor_user_id"], 1);

    assert_eq!(
        t.get("/api/admin/audit?limit=2", &admin)
            .await
            .body
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    for bad in ["0", "1001", "x", "-1"] {
        let r = t
            .get(&format!("/api/admin/audit?limit={bad}"), &admin)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}
