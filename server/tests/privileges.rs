//! The product rule after admin changes, path by path: losing privileged access ends
//! every session with `role_changed`, suspension with `suspended`, and changes that keep
//! or raise privilege end nothing.

mod common;

use axum::http::StatusCode;
use common::TestApp;
use serde_json::{json, Value};

/// A fresh user `direct` (password `direct-demo-pass`) holding role `Direct`
/// (`console:access`, plus `extra` scopes) directly, signed in. Returns (user, role, cookie).
async fn direct_user(t: &TestApp, admin: &str, extra: &[&str]) -> (i64, i64, String) {
    let mut scopes = vec!["console:access"];
    scopes.extend_from_slice(extra);
    let role = t
        .post(
            "/api/admin/roles",
            admin,
            json!({ "name": "Direct", "scopes": scopes }),
        )
        .await;
    assert_eq!(role.status, StatusCode::CREATED, "{:?}", role.body);
    let rid = role.body["id"].as_i64().expect("id");
    let user = t
        .post(
            "/api/admin/users",
            admin,
            json!({ "username": "direct", "display_name": "Dee Rect", "password": "direct-demo-pass" }),
        )
        .await;
    assert_eq!(user.status, StatusCode::CREATED, "{:?}", user.body);
    let uid = user.body["id"].as_i64().expect("id");
    let r = t
        .post(
            &format!("/api/admin/users/{uid}/roles/{rid}"),
            admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let cookie = t.login("direct").await;
    let view = t.get("/api/session", &cookie).await;
    assert_eq!(view.body["privileged"], true);
    (uid, rid, cookie)
}

struct Seeded {
    admin: String,
    operator: String,
    operator2: String,
    viewer: String,
    operator_id: i64,
    operator_role: i64,
    operators_group: i64,
}

async fn seeded(t: &TestApp) -> Seeded {
    let admin = t.login("admin").await;
    Seeded {
        operator: t.login("operator").await,
        operator2: t.login("operator").await,
        viewer: t.login("viewer").await,
        operator_id: t.id_of(&admin, "users", "operator").await,
        operator_role: t.id_of(&admin, "roles", "Operator").await,
        operators_group: t.id_of(&admin, "groups", "Operators").await,
        admin,
    }
}

/// Everyone else is untouched by a change aimed at one user.
async fn bystanders_live(t: &TestApp, s: &Seeded) {
    t.assert_live(&s.admin).await;
    t.assert_live(&s.viewer).await;
}

async fn ended_reasons(t: &TestApp, admin: &str) -> Vec<String> {
    t.audit(admin)
        .await
        .iter()
        .filter(|e| e["kind"] == "session_ended")
        .filter_map(|e| e["detail"]["reason"].as_str().map(str::to_owned))
        .collect()
}

// ---- direct assignment ----

#[tokio::test]
async fn direct_role_unassigned_ends_with_role_changed() {
    let t = TestApp::new();
    let s = seeded(&t).await;
    let (uid, rid, c) = direct_user(&t, &s.admin, &[]).await;
    let r = t
        .delete(&format!("/api/admin/users/{uid}/roles/{rid}"), &s.admin)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.assert_ended(&c, "role_changed").await;
    bystanders_live(&t, &s).await;
    t.assert_live(&s.operator).await;
    assert_eq!(ended_reasons(&t, &s.admin).await, vec!["role_changed"]);
}

#[tokio::test]
async fn direct_role_loses_its_scopes_ends_with_role_changed() {
    let t = TestApp::new();
    let s = seeded(&t).await;
    let (_, rid, c) = direct_user(&t, &s.admin, &["reports:read"]).await;
    let r = t
        .delete(
            &format!("/api/admin/roles/{rid}/scopes/reports:read"),
            &s.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["scopes"], json!(["console:access"]));
    // One scope left: still privileged, nothing ends.
    t.assert_live(&c).await;
    let r = t
        .delete(
            &format!("/api/admin/roles/{rid}/scopes/console:access"),
            &s.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["scopes"], json!([]));
    t.assert_ended(&c, "role_changed").await;
    bystanders_live(&t, &s).await;
}

#[tokio::test]
async fn direct_role_deleted_ends_with_role_changed() {
    let t = TestApp::new();
    let s = seeded(&t).await;
    let (_, rid, c) = direct_user(&t, &s.admin, &[]).await;
    let r = t.delete(&format!("/api/admin/roles/{rid}"), &s.admin).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.assert_ended(&c, "role_changed").await;
    bystanders_live(&t, &s).await;
    t.assert_live(&s.operator).await;
}

// ---- through a group ----

#[tokio::test]
async fn removed_from_group_ends_with_role_changed() {
    let t = TestApp::new();
    let s = seeded(&t).await;
    let r = t
        .delete(
            &format!(
                "/api/admin/groups/{}/members/{}",
                s.operators_group, s.operator_id
            ),
            &s.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // Every session of the user ends, not just one.
    t.assert_ended(&s.operator, "role_changed").await;
    t.assert_ended(&s.operator2, "role_changed").await;
    bystanders_live(&t, &s).await;
    assert_eq!(
        ended_reasons(&t, &s.admin).await,
        vec!["role_changed", "role_changed"]
    );
}

#[tokio::test]
async fn group_unassigned_from_role_ends_with_role_changed() {
    let t = TestApp::new();
    let s = seeded(&t).await;
    let r = t
        .delete(
            &format!(
                "/api/admin/groups/{}/roles/{}",
                s.operators_group, s.operator_role
            ),
            &s.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.assert_ended(&s.operator, "role_changed").await;
    t.assert_ended(&s.operator2, "role_changed").await;
    bystanders_live(&t, &s).await;
}

#[tokio::test]
async fn group_deleted_ends_with_role_changed() {
    let t = TestApp::new();
    let s = seeded(&t).await;
    let r = t
        .delete(
            &format!("/api/admin/groups/{}", s.operators_group),
            &s.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.assert_ended(&s.operator, "role_changed").await;
    t.assert_ended(&s.operator2, "role_changed").await;
    bystanders_live(&t, &s).await;
}

#[tokio::test]
async fn group_role_loses_its_scopes_ends_with_role_changed() {
    let t = TestApp::new();
    let s = seeded(&t).await;
    let r = t
        .delete(
            &format!("/api/admin/roles/{}/scopes/console:access", s.operator_role),
            &s.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    t.assert_ended(&s.operator, "role_changed").await;
    t.assert_ended(&s.operator2, "role_changed").await;
    // The admin also has console:access, but through another role: kept.
    bystanders_live(&t, &s).await;
}

#[tokio::test]
async fn group_role_deleted_ends_with_role_changed() {
    let t = TestApp::new();
    let s = seeded(&t).await;
    let r = t
        .delete(&format!("/api/admin/roles/{}", s.operator_role), &s.admin)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.assert_ended(&s.operator, "role_changed").await;
    t.assert_ended(&s.operator2, "role_changed").await;
    bystanders_live(&t, &s).await;
}

// ---- suspension ----

#[tokio::test]
async fn suspension_ends_every_session_with_suspended() {
    let t = TestApp::new();
    let s = seeded(&t).await;
    let r = t
        .post(
            &format!("/api/admin/users/{}/suspend", s.operator_id),
            &s.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["suspended"], true);
    t.assert_ended(&s.operator, "suspended").await;
    t.assert_ended(&s.operator2, "suspended").await;
    bystanders_live(&t, &s).await;

    // Non-privileged users are suspended the same way.
    let viewer_id = t.id_of(&s.admin, "users", "viewer").await;
    t.post(
        &format!("/api/admin/users/{viewer_id}/suspend"),
        &s.admin,
        json!({}),
    )
    .await;
    t.assert_ended(&s.viewer, "suspended").await;
    assert_eq!(
        t.try_login("operator", "operator-demo-pass").await.status,
        StatusCode::FORBIDDEN
    );

    // Unsuspending ends nothing and allows login again.
    let r = t
        .post(
            &format!("/api/admin/users/{}/unsuspend", s.operator_id),
            &s.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.body["suspended"], false);
    let c = t.login("operator").await;
    t.assert_live(&c).await;
    t.assert_live(&s.admin).await;
}

#[tokio::test]
async fn admins_cannot_suspend_themselves() {
    let t = TestApp::new();
    let s = seeded(&t).await;
    let admin_id = t.id_of(&s.admin, "users", "admin").await;
    let r = t
        .post(
            &format!("/api/admin/users/{admin_id}/suspend"),
            &s.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["error"], "conflict");
    t.assert_live(&s.admin).await;
}

// ---- after the end: sign in again with the new permissions ----

#[tokio::test]
async fn demoted_user_signs_in_again_with_new_permissions() {
    let t = TestApp::new();
    let s = seeded(&t).await;
    t.delete(
        &format!(
            "/api/admin/groups/{}/members/{}",
            s.operators_group, s.operator_id
        ),
        &s.admin,
    )
    .await;
    t.assert_ended(&s.operator, "role_changed").await;
    let again = t.try_login("operator", "operator-demo-pass").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["privileged"], false);
    assert_eq!(again.body["idle_timeout_ms"], Value::Null);
    assert_eq!(again.body["scopes"], json!([]));
}

// ---- keep or raise: nothing ends ----

#[tokio::test]
async fn keeping_privilege_ends_nothing() {
    let t = TestApp::new();
    let s = seeded(&t).await;
    // The operator also gets a direct role: leaving the group keeps privilege.
    let extra = t
        .post(
            "/api/admin/roles",
            &s.admin,
            json!({ "name": "Extra", "scopes": ["reports:read"] }),
        )
        .await;
    let extra_id = extra.body["id"].as_i64().expect("id");
    t.post(
        &format!("/api/admin/users/{}/roles/{extra_id}", s.operator_id),
        &s.admin,
        json!({}),
    )
    .await;
    let r = t
        .delete(
            &format!(
                "/api/admin/groups/{}/members/{}",
                s.operators_group, s.operator_id
            ),
            &s.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.assert_live(&s.operator).await;
    let view = t.get("/api/session", &s.operator).await;
    assert_eq!(view.body["scopes"], json!(["reports:read"]));

    // Removing one of several scopes of the admin's role keeps the admin privileged.
    let admin_role = t.id_of(&s.admin, "roles", "Administrator").await;
    let r = t
        .delete(
            &format!("/api/admin/roles/{admin_role}/scopes/sessions:terminate"),
            &s.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    t.assert_live(&s.admin).await;

    // Unrelated changes: new role, new group, unsuspending, idempotent repeats.
    t.post(
        "/api/admin/roles",
        &s.admin,
        json!({ "name": "Unused", "scopes": [] }),
    )
    .await;
    t.post("/api/admin/groups", &s.admin, json!({ "name": "Empty" }))
        .await;
    t.post(
        &format!("/api/admin/users/{}/unsuspend", s.operator_id),
        &s.admin,
        json!({}),
    )
    .await;
    t.delete(
        &format!(
            "/api/admin/groups/{}/members/{}",
            s.operators_group, s.operator_id
        ),
        &s.admin,
    )
    .await;
    for c in [&s.admin, &s.operator, &s.operator2, &s.viewer] {
        t.assert_live(c).await;
    }
    assert!(ended_reasons(&t, &s.admin).await.is_empty());
}

#[tokio::test]
async fn raising_privilege_ends_nothing_and_starts_the_idle_clock_now() {
    let t = TestApp::with(|c| c.idle_timeout = std::time::Duration::from_secs(60));
    let admin = t.login("admin").await;
    let viewer = t.login("viewer").await;
    let viewer_id = t.id_of(&admin, "users", "viewer").await;
    let operators = t.id_of(&admin, "groups", "Operators").await;

    // Long idle while unprivileged is fine (no idle timeout for viewers).
    t.clock.advance(50_000);
    t.post("/api/session/activity", &admin, json!({ "idle_ms": 0 }))
        .await;
    t.clock.advance(50_000);
    t.post("/api/session/activity", &admin, json!({ "idle_ms": 0 }))
        .await;
    let r = t
        .post(
            &format!("/api/admin/groups/{operators}/members/{viewer_id}"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let view = t.get("/api/session", &viewer).await;
    assert_eq!(view.status, StatusCode::OK);
    assert_eq!(view.body["privileged"], true);
    assert_eq!(view.body["idle_timeout_ms"], 60_000);
    assert_eq!(view.body["last_activity_at"], common::T0 + 100_000);
    t.clock.advance(59_000);
    t.assert_live(&viewer).await;

    // Raise through a role that gains its first scope.
    let t = TestApp::new();
    let admin = t.login("admin").await;
    let viewer = t.login("viewer").await;
    let viewer_id = t.id_of(&admin, "users", "viewer").await;
    let role = t
        .post(
            "/api/admin/roles",
            &admin,
            json!({ "name": "Later", "scopes": [] }),
        )
        .await;
    let rid = role.body["id"].as_i64().expect("id");
    t.post(
        &format!("/api/admin/users/{viewer_id}/roles/{rid}"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(
        t.get("/api/session", &viewer).await.body["privileged"],
        false
    );
    let r = t
        .post(
            &format!("/api/admin/roles/{rid}/scopes"),
            &admin,
            json!({ "scope": "audit:read" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["scopes"], json!(["audit:read"]));
    let view = t.get("/api/session", &viewer).await;
    assert_eq!(view.body["privileged"], true);
    assert_eq!(view.body["scopes"], json!(["audit:read"]));

    // Raise further through a new group that gets a role.
    let g = t
        .post("/api/admin/groups", &admin, json!({ "name": "Auditors" }))
        .await;
    let gid = g.body["id"].as_i64().expect("id");
    let operator_role = t.id_of(&admin, "roles", "Operator").await;
    t.post(
        &format!("/api/admin/groups/{gid}/members/{viewer_id}"),
        &admin,
        json!({}),
    )
    .await;
    let r = t
        .post(
            &format!("/api/admin/groups/{gid}/roles/{operator_role}"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let view = t.get("/api/session", &viewer).await;
    assert_eq!(view.body["scopes"], json!(["audit:read", "console:access"]));
    assert!(ended_reasons(&t, &admin).await.is_empty());
}

#[tokio::test]
async fn admin_losing_admin_scope_loses_the_admin_api_but_keeps_the_session() {
    let t = TestApp::new();
    let s = seeded(&t).await;
    let admin_role = t.id_of(&s.admin, "roles", "Administrator").await;
    let r = t
        .delete(
            &format!("/api/admin/roles/{admin_role}/scopes/admin:manage"),
            &s.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    t.assert_live(&s.admin).await;
    assert_eq!(
        t.get("/api/admin/users", &s.admin).await.status,
        StatusCode::FORBIDDEN
    );
}
