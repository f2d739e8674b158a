//! The product rule after admin changes, path by path: losing any scope of the effective
//! set ends every session with `role_changed`, suspension with `suspended`, changes that
//! keep or only add scopes end nothing; and no change may leave nobody able to administer.

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
    let t = TestApp::new().await;
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
    let t = TestApp::new().await;
    let s = seeded(&t).await;
    let (_, rid, c) = direct_user(&t, &s.admin, &[]).await;
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
async fn one_scope_of_several_removed_ends_with_role_changed() {
    let t = TestApp::new().await;
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
    // Still privileged, but with less than before: a downgrade all the same.
    t.assert_ended(&c, "role_changed").await;
    bystanders_live(&t, &s).await;
    t.assert_live(&s.operator).await;

    // The seeded operator loses sessions:terminate but keeps console:access.
    let r = t
        .delete(
            &format!(
                "/api/admin/roles/{}/scopes/sessions:terminate",
                s.operator_role
            ),
            &s.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    t.assert_ended(&s.operator, "role_changed").await;
    t.assert_ended(&s.operator2, "role_changed").await;
    // The admin holds sessions:terminate through another role: untouched.
    bystanders_live(&t, &s).await;
    let again = t.login("operator").await;
    let view = t.get("/api/session", &again).await;
    assert_eq!(view.body["scopes"], json!(["console:access"]));
}

#[tokio::test]
async fn admin_losing_a_scope_is_signed_out_too() {
    let t = TestApp::new().await;
    let s = seeded(&t).await;
    let admin_role = t.id_of(&s.admin, "roles", "Administrator").await;
    let r = t
        .delete(
            &format!("/api/admin/roles/{admin_role}/scopes/audit:read"),
            &s.admin,
        )
        .await;
    // The change itself succeeds; the session that made it ends with the rest.
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body["scopes"],
        json!([
            "admin:manage",
            "console:access",
            "recordings:delete",
            "recordings:read",
            "sessions:terminate"
        ])
    );
    t.assert_ended(&s.admin, "role_changed").await;
    t.assert_live(&s.operator).await;
    t.assert_live(&s.viewer).await;
}

#[tokio::test]
async fn one_of_two_roles_unassigned_ends_with_role_changed() {
    let t = TestApp::new().await;
    let s = seeded(&t).await;
    let (uid, _, c) = direct_user(&t, &s.admin, &[]).await;
    let second = t
        .post(
            "/api/admin/roles",
            &s.admin,
            json!({ "name": "Reports", "scopes": ["reports:read"] }),
        )
        .await;
    let second_id = second.body["id"].as_i64().expect("id");
    let r = t
        .post(
            &format!("/api/admin/users/{uid}/roles/{second_id}"),
            &s.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // Adding a role only adds scopes: nothing ends, the view follows.
    t.assert_live(&c).await;
    assert_eq!(
        t.get("/api/session", &c).await.body["scopes"],
        json!(["console:access", "reports:read"])
    );
    let r = t
        .delete(
            &format!("/api/admin/users/{uid}/roles/{second_id}"),
            &s.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.assert_ended(&c, "role_changed").await;
    bystanders_live(&t, &s).await;
}

#[tokio::test]
async fn direct_role_deleted_ends_with_role_changed() {
    let t = TestApp::new().await;
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
    let t = TestApp::new().await;
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
    let t = TestApp::new().await;
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
    let t = TestApp::new().await;
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
    let t = TestApp::new().await;
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
    let t = TestApp::new().await;
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
    let t = TestApp::new().await;
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
    let t = TestApp::new().await;
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
    let t = TestApp::new().await;
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
async fn keeping_every_scope_ends_nothing() {
    let t = TestApp::new().await;
    let s = seeded(&t).await;
    // The operator also gets the same scopes directly: leaving the group changes nothing
    // in the effective set.
    let extra = t
        .post(
            "/api/admin/roles",
            &s.admin,
            json!({ "name": "Extra", "scopes": ["console:access", "sessions:terminate"] }),
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
    assert_eq!(
        view.body["scopes"],
        json!(["console:access", "sessions:terminate"])
    );

    // Removing a scope from a role nobody signed in holds ends nothing.
    let r = t
        .delete(
            &format!(
                "/api/admin/roles/{}/scopes/sessions:terminate",
                s.operator_role
            ),
            &s.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    t.assert_live(&s.operator).await;

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
    let t = TestApp::with(|c| c.idle_timeout = std::time::Duration::from_secs(60)).await;
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
    // Privileged sessions are recorded: the raised session now waits for consent.
    assert_eq!(
        view.body["recording"],
        json!({ "required": true, "consent": "pending" })
    );
    t.clock.advance(59_000);
    t.assert_live(&viewer).await;

    // Raise through a role that gains its first scope.
    let t = TestApp::new().await;
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
    assert_eq!(
        view.body["scopes"],
        json!(["audit:read", "console:access", "sessions:terminate"])
    );
    assert!(ended_reasons(&t, &admin).await.is_empty());
}

// ---- raising privilege asks for recording consent ----

#[tokio::test]
async fn a_viewer_made_privileged_must_consent_before_going_on() {
    let t = TestApp::with(|c| c.consent_timeout = std::time::Duration::from_secs(30)).await;
    let admin = t.login("admin").await;
    let viewer = t.login("viewer").await;
    let view = t.get("/api/session", &viewer).await.body;
    assert_eq!(
        view["recording"],
        json!({ "required": false, "consent": "not_required" })
    );
    let viewer_id = t.id_of(&admin, "users", "viewer").await;
    let operators = t.id_of(&admin, "groups", "Operators").await;
    t.clock.advance(10_000);
    let r = t
        .post(
            &format!("/api/admin/groups/{operators}/members/{viewer_id}"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let view = t.get("/api/session", &viewer).await.body;
    assert_eq!(view["privileged"], true);
    assert_eq!(
        view["recording"],
        json!({ "required": true, "consent": "pending" })
    );
    // Privileged now, but nothing works before consent.
    let r = t.get("/api/admin/sessions", &viewer).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"], "consent_required");
    // Not answering within the consent timeout (counted from the raise) ends it.
    t.clock.advance(29_000);
    t.assert_live(&viewer).await;
    t.clock.advance(1_000);
    assert_eq!(t.state.sweep().await.expect("sweep"), 1);
    t.assert_ended(&viewer, "consent_declined").await;
    t.assert_live(&admin).await;
}

// ---- nobody can lock administration out ----

/// Asserts `r` is the lockout refusal.
fn assert_lockout(r: &common::Reply, what: &str) {
    assert_eq!(r.status, StatusCode::CONFLICT, "{what}: {:?}", r.body);
    assert_eq!(r.body["error"], "conflict", "{what}");
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("admin:manage")),
        "{what}: {:?}",
        r.body
    );
}

#[tokio::test]
async fn the_last_administrator_cannot_be_removed_by_any_direct_path() {
    let t = TestApp::new().await;
    let s = seeded(&t).await;
    let admin_id = t.id_of(&s.admin, "users", "admin").await;
    let admin_role = t.id_of(&s.admin, "roles", "Administrator").await;

    let r = t
        .delete(&format!("/api/admin/roles/{admin_role}"), &s.admin)
        .await;
    assert_lockout(&r, "role deleted");
    let r = t
        .delete(
            &format!("/api/admin/roles/{admin_role}/scopes/admin:manage"),
            &s.admin,
        )
        .await;
    assert_lockout(&r, "scope removed");
    let r = t
        .delete(
            &format!("/api/admin/users/{admin_id}/roles/{admin_role}"),
            &s.admin,
        )
        .await;
    assert_lockout(&r, "unassigned self");
    let r = t
        .post(
            &format!("/api/admin/users/{admin_id}/suspend"),
            &s.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "suspended self");

    // Every refusal was rolled back: nothing changed, nothing ended, nothing audited.
    t.assert_live(&s.admin).await;
    let roles = t.get("/api/admin/roles", &s.admin).await.body;
    assert_eq!(
        roles[0]["scopes"],
        json!([
            "admin:manage",
            "audit:read",
            "console:access",
            "recordings:delete",
            "recordings:read",
            "sessions:terminate"
        ])
    );
    let users = t.get("/api/admin/users", &s.admin).await.body;
    assert_eq!(users[0]["roles"], json!([admin_role]));
    let audit = t.audit(&s.admin).await;
    assert!(!audit.iter().any(|e| e["kind"] == "admin_role_deleted"
        || e["kind"] == "admin_role_scope_removed"
        || e["kind"] == "admin_user_role_unassigned"));
    bystanders_live(&t, &s).await;
}

#[tokio::test]
async fn the_last_administrator_cannot_be_removed_through_a_group() {
    let t = TestApp::new().await;
    let s = seeded(&t).await;
    let admin_id = t.id_of(&s.admin, "users", "admin").await;
    let admin_role = t.id_of(&s.admin, "roles", "Administrator").await;
    // admin:manage only through a group: give it, then drop the direct role.
    let g = t
        .post("/api/admin/groups", &s.admin, json!({ "name": "Admins" }))
        .await;
    let gid = g.body["id"].as_i64().expect("id");
    for path in [
        format!("/api/admin/groups/{gid}/roles/{admin_role}"),
        format!("/api/admin/groups/{gid}/members/{admin_id}"),
    ] {
        let r = t.post(&path, &s.admin, json!({})).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{path}");
    }
    let r = t
        .delete(
            &format!("/api/admin/users/{admin_id}/roles/{admin_role}"),
            &s.admin,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "still admin through the group"
    );
    t.assert_live(&s.admin).await;

    let r = t
        .delete(
            &format!("/api/admin/groups/{gid}/members/{admin_id}"),
            &s.admin,
        )
        .await;
    assert_lockout(&r, "removed from the group");
    let r = t
        .delete(
            &format!("/api/admin/groups/{gid}/roles/{admin_role}"),
            &s.admin,
        )
        .await;
    assert_lockout(&r, "group unassigned from the role");
    let r = t
        .delete(&format!("/api/admin/groups/{gid}"), &s.admin)
        .await;
    assert_lockout(&r, "group deleted");
    let r = t
        .delete(&format!("/api/admin/roles/{admin_role}"), &s.admin)
        .await;
    assert_lockout(&r, "group's role deleted");
    t.assert_live(&s.admin).await;
    let group = t.get("/api/admin/groups", &s.admin).await.body;
    assert_eq!(group[1]["members"], json!([admin_id]));
    assert_eq!(group[1]["roles"], json!([admin_role]));
}

#[tokio::test]
async fn with_a_second_administrator_the_first_may_step_down() {
    let t = TestApp::new().await;
    let s = seeded(&t).await;
    let admin_id = t.id_of(&s.admin, "users", "admin").await;
    let admin_role = t.id_of(&s.admin, "roles", "Administrator").await;
    let u = t
        .post(
            "/api/admin/users",
            &s.admin,
            json!({ "username": "second", "display_name": "Second", "password": "second-demo-pass" }),
        )
        .await;
    let second_id = u.body["id"].as_i64().expect("id");
    t.post(
        &format!("/api/admin/users/{second_id}/roles/{admin_role}"),
        &s.admin,
        json!({}),
    )
    .await;
    let second = t.login("second").await;

    // The second administrator suspends the first: allowed, one is left.
    let r = t
        .post(
            &format!("/api/admin/users/{admin_id}/suspend"),
            &second,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    t.assert_ended(&s.admin, "suspended").await;
    // Now the only active administrator: unassigning or suspending themselves is refused,
    // and a suspended administrator does not count.
    let r = t
        .delete(
            &format!("/api/admin/users/{second_id}/roles/{admin_role}"),
            &second,
        )
        .await;
    assert_lockout(&r, "unassigned self, the other suspended");
    let r = t
        .delete(
            &format!("/api/admin/roles/{admin_role}/scopes/admin:manage"),
            &second,
        )
        .await;
    assert_lockout(&r, "scope removed, the other suspended");
    t.assert_live(&second).await;

    // Unsuspended, the first may unassign the second.
    t.post(
        &format!("/api/admin/users/{admin_id}/unsuspend"),
        &second,
        json!({}),
    )
    .await;
    let admin = t.login("admin").await;
    let r = t
        .delete(
            &format!("/api/admin/users/{second_id}/roles/{admin_role}"),
            &admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.assert_ended(&second, "role_changed").await;
    t.assert_live(&admin).await;
}
