//! The audit trail: who (actor, acting session and tab), from where (address, user
//! agent), paging with a cursor, filters, and retention.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use common::{TestApp, T0};
use serde_json::{json, Value};

const TAB: &str = "t_admin_tab_1";

fn from(
    addr: &str,
    method: Method,
    uri: &str,
    cookie: Option<&str>,
    body: Option<Value>,
) -> Request<Body> {
    let peer: SocketAddr = format!("{addr}:50000").parse().expect("addr");
    let mut b = Request::builder()
        .method(method.clone())
        .uri(uri)
        .header(header::USER_AGENT, "AuditTest/1.0 (X11)")
        .extension(ConnectInfo(peer));
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    if method != Method::GET {
        b = b.header(header::CONTENT_TYPE, "application/json");
    }
    let body = body.map_or_else(Body::empty, |v| Body::from(v.to_string()));
    b.body(body).expect("request")
}

fn with_tab(mut req: Request<Body>, tab: &str) -> Request<Body> {
    req.headers_mut()
        .insert("x-session-guard-tab", tab.parse().expect("header"));
    req
}

#[tokio::test]
async fn entries_record_address_user_agent_and_the_acting_session_and_tab() {
    let t = TestApp::new().await;
    let login = t
        .send(from(
            "198.51.100.4",
            Method::POST,
            "/api/login",
            None,
            Some(json!({ "username": "admin", "password": "admin-demo-pass" })),
        ))
        .await;
    assert_eq!(login.status, StatusCode::OK);
    let admin = login.cookie();
    let admin_session = login.body["session_id"].as_str().expect("sid").to_owned();
    // The session starts with the recording consent; until then nothing else is open.
    let r = t
        .send(from(
            "198.51.100.4",
            Method::POST,
            "/api/session/consent",
            Some(&admin),
            Some(json!({ "accepted": true })),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = t
        .post("/api/session/tabs", &admin, json!({ "tab_id": TAB }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let viewer_id = t.id_of(&admin, "users", "viewer").await;

    // From the registered tab.
    let r = t
        .send(with_tab(
            from(
                "198.51.100.4",
                Method::POST,
                &format!("/api/admin/users/{viewer_id}/suspend"),
                Some(&admin),
                Some(json!({})),
            ),
            TAB,
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // Naming a tab that is not registered to this session records no tab.
    let r = t
        .send(with_tab(
            from(
                "198.51.100.4",
                Method::POST,
                &format!("/api/admin/users/{viewer_id}/unsuspend"),
                Some(&admin),
                Some(json!({})),
            ),
            "t_someone_elses",
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // A malformed tab header is refused.
    let r = t
        .send(with_tab(
            from(
                "198.51.100.4",
                Method::GET,
                "/api/admin/users",
                Some(&admin),
                None,
            ),
            "no",
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let audit = t.audit(&admin).await;
    let find = |kind: &str| {
        audit
            .iter()
            .find(|e| e["kind"] == kind)
            .unwrap_or_else(|| panic!("{kind} missing"))
            .clone()
    };
    let login_entry = find("login");
    assert_eq!(login_entry["session_username"], "admin");
    assert_eq!(login_entry["client_addr"], "198.51.100.4");
    assert_eq!(login_entry["user_agent"], "AuditTest/1.0 (X11)");
    assert_eq!(login_entry["actor_username"], "admin");
    let suspended = find("admin_user_suspended");
    assert_eq!(suspended["client_addr"], "198.51.100.4");
    assert_eq!(suspended["user_agent"], "AuditTest/1.0 (X11)");
    assert_eq!(suspended["actor_session_id"], admin_session.as_str());
    assert_eq!(suspended["actor_tab_id"], TAB);
    assert_eq!(suspended["actor_username"], "admin");
    let unsuspended = find("admin_user_unsuspended");
    assert_eq!(unsuspended["actor_session_id"], admin_session.as_str());
    assert_eq!(unsuspended["actor_tab_id"], Value::Null);
    // Every field is present on every entry, null where unknown (the seed has no request).
    for e in &audit {
        for key in [
            "client_addr",
            "user_agent",
            "actor_session_id",
            "actor_tab_id",
            "actor_username",
        ] {
            assert!(e.get(key).is_some(), "{key} missing in {e}");
        }
    }
}

#[tokio::test]
async fn the_proxy_address_counts_only_when_trusted() {
    for (trust, expected) in [(false, "127.0.0.1"), (true, "203.0.113.9")] {
        let t = TestApp::with(|c| c.trust_proxy = trust).await;
        let mut req = from(
            "127.0.0.1",
            Method::POST,
            "/api/login",
            None,
            Some(json!({ "username": "viewer", "password": "nope" })),
        );
        req.headers_mut().insert(
            "x-forwarded-for",
            "10.9.9.9, 203.0.113.9".parse().expect("header"),
        );
        t.send(req).await;
        let admin = t.login("admin").await;
        let audit = t.audit(&admin).await;
        let refused = audit
            .iter()
            .find(|e| e["kind"] == "login_refused")
            .expect("refused");
        assert_eq!(refused["client_addr"], expected, "trust {trust}");
    }
}

async fn page_ids(t: &TestApp, admin: &str, query: &str) -> Vec<i64> {
    let r = t.get(&format!("/api/admin/audit?{query}"), admin).await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {:?}", r.body);
    r.body
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["id"].as_i64().expect("id"))
        .collect()
}

#[tokio::test]
async fn the_whole_log_pages_with_a_cursor_and_filters() {
    let t = TestApp::new().await;
    let admin = t.login("admin").await;
    let viewer_id = t.id_of(&admin, "users", "viewer").await;
    let viewer = t.login("viewer").await;
    t.clock.advance(60_000);
    for _ in 0..3 {
        t.post(
            &format!("/api/admin/users/{viewer_id}/suspend"),
            &admin,
            json!({}),
        )
        .await;
        t.post(
            &format!("/api/admin/users/{viewer_id}/unsuspend"),
            &admin,
            json!({}),
        )
        .await;
    }
    t.clock.advance(60_000);
    t.try_login("operator", "wrong").await;

    // Pages of 4 follow each other and cover exactly the whole log.
    let all = page_ids(&t, &admin, "limit=1000").await;
    // One more than before consent was enforced: the admin's recording consent.
    assert_eq!(all.len(), 12, "{all:?}");
    let mut paged: Vec<i64> = Vec::new();
    let mut cursor: Option<i64> = None;
    loop {
        let query = match cursor {
            Some(before) => format!("limit=4&before={before}"),
            None => "limit=4".to_owned(),
        };
        let page = page_ids(&t, &admin, &query).await;
        paged.extend(page.iter().copied());
        if page.len() < 4 {
            break;
        }
        cursor = page.last().copied();
    }
    assert_eq!(paged, all);

    let kinds = |ids: &[i64]| ids.len();
    let suspends = page_ids(&t, &admin, "kind=admin_user_suspended").await;
    assert_eq!(kinds(&suspends), 3);
    // By user: what they did and what was done to them.
    let r = t
        .get(
            &format!("/api/admin/audit?user_id={viewer_id}&limit=1000"),
            &admin,
        )
        .await;
    let viewer_kinds: BTreeSet<String> = r
        .body
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["kind"].as_str().expect("kind").to_owned())
        .collect();
    for kind in [
        "login",
        "admin_user_suspended",
        "admin_user_unsuspended",
        "session_ended",
    ] {
        assert!(
            viewer_kinds.contains(kind),
            "{kind} not in {viewer_kinds:?}"
        );
    }
    // By session: the viewer's session, ended by the first suspension.
    let viewer_session = t
        .audit(&admin)
        .await
        .iter()
        .find(|e| e["kind"] == "login" && e["detail"]["username"] == "viewer")
        .and_then(|e| e["session_id"].as_str().map(str::to_owned))
        .expect("viewer session");
    let r = t
        .get(
            &format!("/api/admin/audit?session_id={viewer_session}"),
            &admin,
        )
        .await;
    let session_kinds: Vec<&str> = r
        .body
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(session_kinds, ["session_ended", "login"]);
    t.assert_ended(&viewer, "suspended").await;
    // By time: [from, to).
    let window = page_ids(
        &t,
        &admin,
        &format!("from={}&to={}", T0 + 60_000, T0 + 120_000),
    )
    .await;
    assert!(!window.is_empty());
    let r = t
        .get(
            &format!(
                "/api/admin/audit?from={}&to={}&limit=1000",
                T0 + 60_000,
                T0 + 120_000
            ),
            &admin,
        )
        .await;
    for e in r.body.as_array().expect("array") {
        assert_eq!(e["at"], T0 + 60_000, "{e}");
    }
    let late = page_ids(&t, &admin, &format!("from={}", T0 + 120_000)).await;
    assert_eq!(late.len(), 1);
    for bad in ["before=x", "user_id=abc", "kind=", "from=1.5"] {
        let r = t.get(&format!("/api/admin/audit?{bad}"), &admin).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn retention_purges_old_entries_and_ended_sessions_and_audits_the_purge() {
    let t = TestApp::with(|c| c.audit_retention = std::time::Duration::from_secs(86_400)).await;
    let old_viewer = t.login("viewer").await;
    t.call(Method::POST, "/api/logout", Some(&old_viewer), None)
        .await;
    t.login("admin").await;
    t.clock.advance(2 * 86_400_000);
    let admin = t.login("admin").await;
    let before = t.audit(&admin).await.len();
    let purged = t.state.purge_expired().await.expect("purge");
    assert!(purged.audit_entries > 0);
    // The viewer's session ended two days ago and goes.
    assert_eq!(purged.sessions, 1, "{purged:?}");
    let audit = t.audit(&admin).await;
    assert!(audit
        .iter()
        .all(|e| e["at"].as_i64() >= Some(T0 + 86_400_000)));
    assert_eq!(audit.len(), before - purged.audit_entries + 1);
    let entry = &audit[0];
    assert_eq!(entry["kind"], "audit_purged");
    assert_eq!(entry["actor_user_id"], Value::Null);
    assert_eq!(entry["detail"]["audit_entries"], purged.audit_entries);
    assert_eq!(entry["detail"]["sessions"], purged.sessions);
    assert_eq!(entry["detail"]["before"], T0 + 86_400_000);
    // The purged session's cookie is simply unknown now; live sessions stay.
    let (status, reason) = t.session_status(&old_viewer).await;
    assert_eq!((status, reason), (StatusCode::UNAUTHORIZED, None));
    t.assert_live(&admin).await;
    // Nothing old left: no entry for an empty purge.
    let again = t.state.purge_expired().await.expect("purge");
    assert_eq!((again.audit_entries, again.sessions), (0, 0));
    assert_eq!(t.audit(&admin).await.len(), audit.len());
}
