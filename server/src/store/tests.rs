//! The store's own rules: every path that ends a session ends it once, for one reason,
//! with one `session_ended` entry, pushed after the commit; several stores sweeping one
//! database end each overdue session once; the stored privilege and deadlines follow admin
//! changes; the store's enums survive the database.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use session_guard_contract::{AuditKind, ConsentState, Reason};
use tower::ServiceExt;

use super::sql::{self, NewAudit, SessionRow};
use super::{Push, Sessions};
use crate::config::{Config, Recording};
use crate::state::{AppState, Clock, ManualClock};

const T0: i64 = 1_764_000_000_000;
const IDLE_MS: i64 = 60_000;
const LIFETIME_MS: i64 = 600_000;

/// A state on a manual clock with short timeouts, on the config `tweak` leaves.
async fn state_with(db: &str, tweak: impl FnOnce(&mut Config)) -> (AppState, Arc<ManualClock>) {
    let mut config = Config::for_tests();
    config.db = db.to_owned();
    config.idle_timeout = Duration::from_millis(IDLE_MS.unsigned_abs());
    config.session_lifetime = Duration::from_millis(LIFETIME_MS.unsigned_abs());
    config.recording = Recording::Off;
    tweak(&mut config);
    let clock = Arc::new(ManualClock::new(T0));
    let state = AppState::with_clock(&config, clock.clone())
        .await
        .expect("state");
    (state, clock)
}

/// A fresh PostgreSQL database of the cluster `SG_TEST_DATABASE_URL` names, when the
/// suite runs on PostgreSQL (`cargo xtask test` sets it), for the tests that check a
/// statement both stores must run; `None` runs them on SQLite.
pub(super) async fn postgres_if_configured() -> Option<String> {
    use sqlx::{Connection, Executor};
    let base = std::env::var("SG_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!("sg_store_test_{}_{nanos}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .expect("the test cluster accepts connections");
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("CREATE DATABASE");
    admin.close().await.ok();
    let (server, _) = base
        .rsplit_once('/')
        .expect("a PostgreSQL URL ends with /database");
    Some(format!("{server}/{name}"))
}

/// One request through the router: status and JSON body.
async fn call(
    state: &AppState,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method.clone()).uri(path);
    if let Some(cookie) = cookie {
        req = req.header(header::COOKIE, cookie);
    }
    // State-changing requests carry JSON (`{}` when there is nothing to say).
    let req = match (body, method == Method::GET) {
        (None, true) => req.body(Body::empty()),
        (body, _) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.unwrap_or_else(|| json!({})).to_string())),
    }
    .expect("request");
    let resp = crate::app(state.clone())
        .oneshot(req)
        .await
        .expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

/// Signs in a demo account (optionally from a browser that holds `old`); the cookie pair.
async fn login_from(state: &AppState, username: &str, old: Option<&str>) -> String {
    let mut req = Request::post("/api/login").header(header::CONTENT_TYPE, "application/json");
    if let Some(old) = old {
        req = req.header(header::COOKIE, old);
    }
    let body = json!({ "username": username, "password": format!("{username}-demo-pass") });
    let resp = crate::app(state.clone())
        .oneshot(req.body(Body::from(body.to_string())).expect("request"))
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::OK, "login {username}");
    let set = resp
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("cookie");
    set.split(';').next().expect("pair").to_owned()
}

async fn login(state: &AppState, username: &str) -> String {
    login_from(state, username, None).await
}

async fn session_id(state: &AppState, cookie: &str) -> String {
    let (status, view) = call(state, Method::GET, "/api/session", Some(cookie), None).await;
    assert_eq!(status, StatusCode::OK);
    view["session_id"].as_str().expect("session id").to_owned()
}

/// The stored row of session `id`, read through the store's reader pool.
pub(crate) async fn stored(state: &AppState, id: &str) -> SessionRow {
    let mut conn = state.inner.store.reader().await.expect("reader");
    sql::session_by_id(&mut conn, id)
        .await
        .expect("query")
        .expect("row")
}

/// The `session_ended` entries of one session.
async fn ended_entries(state: &AppState, id: &str) -> Vec<Value> {
    let filter = sql::AuditFilter {
        kind: Some("session_ended".into()),
        session_id: Some(id.to_owned()),
        limit: 100,
        ..sql::AuditFilter::default()
    };
    let entries = state.inner.store.audit_log(&filter).await.expect("audit");
    entries
        .into_iter()
        .map(|e| serde_json::to_value(e).expect("json"))
        .collect()
}

/// Listens to one session's pushes: resolves with the `terminated` reason and whether the
/// end was already stored, read the moment the push arrived.
fn watch(state: &AppState, id: &str) -> tokio::task::JoinHandle<(Reason, bool)> {
    let mut rx = state.inner.store.subscribe(id);
    let state = state.clone();
    let id = id.to_owned();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(Push::Terminated(reason)) => {
                    let committed = stored(&state, &id).await.ended_at.is_some();
                    return (reason, committed);
                }
                Ok(_) => {}
                Err(e) => panic!("stream of {id} closed without `terminated`: {e}"),
            }
        }
    })
}

/// The one rule: ended for `reason`, one `session_ended` entry saying so, and the push
/// `terminated` with the same reason, sent only once the end was stored.
async fn assert_ended_once(
    state: &AppState,
    id: &str,
    reason: Reason,
    push: tokio::task::JoinHandle<(Reason, bool)>,
) {
    let row = stored(state, id).await;
    assert!(row.ended_at.is_some(), "{id} ended");
    assert_eq!(row.end_reason, Some(reason.clone()), "{id} stored reason");
    let entries = ended_entries(state, id).await;
    assert_eq!(
        entries.len(),
        1,
        "{id}: one session_ended entry: {entries:?}"
    );
    assert_eq!(entries[0]["detail"]["reason"], json!(reason.wire_name()));
    let (pushed, committed) = tokio::time::timeout(Duration::from_secs(5), push)
        .await
        .expect("push arrived")
        .expect("listener");
    assert_eq!(pushed, reason, "{id} pushed reason");
    assert!(committed, "{id}: the push came after the commit");
}

#[tokio::test]
async fn every_path_that_ends_a_session_ends_it_once_audited_and_pushed_after_commit() {
    // Files, not memory: the listener then reads on a reader of its own, which would see
    // the end missing if the push went out before the commit.
    let dbs = [
        TempDb::new("ends"),
        TempDb::new("deadlines"),
        TempDb::new("consent"),
    ];
    // Sign-out.
    let (state, _) = state_with(&dbs[0].path(), |_| {}).await;
    let viewer = login(&state, "viewer").await;
    let id = session_id(&state, &viewer).await;
    let push = watch(&state, &id);
    let (status, _) = call(&state, Method::POST, "/api/logout", Some(&viewer), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_ended_once(&state, &id, Reason::LoggedOut, push).await;

    // The session a browser held before a new sign-in.
    let old = login(&state, "viewer").await;
    let id = session_id(&state, &old).await;
    let push = watch(&state, &id);
    login_from(&state, "viewer", Some(&old)).await;
    assert_ended_once(&state, &id, Reason::LoggedOut, push).await;

    // An administrator ends one session, then the emergency panel ends a user's.
    let admin = login(&state, "admin").await;
    let viewer = login(&state, "viewer").await;
    let id = session_id(&state, &viewer).await;
    let push = watch(&state, &id);
    let path = format!("/api/admin/sessions/{id}");
    let (status, _) = call(&state, Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_ended_once(&state, &id, Reason::RemoteTerminated, push).await;
    let viewer = login(&state, "viewer").await;
    let id = session_id(&state, &viewer).await;
    let push = watch(&state, &id);
    // The viewer's two live sessions: this one and the one that replaced `old`.
    let target = json!({ "target": "user", "user_id": 3 });
    let (status, body) = call(
        &state,
        Method::POST,
        "/api/admin/terminate-sessions",
        Some(&admin),
        Some(target),
    )
    .await;
    assert_eq!(
        (status, body["terminated"].clone()),
        (StatusCode::OK, json!(2))
    );
    assert_ended_once(&state, &id, Reason::RemoteTerminated, push).await;

    // Suspension, and a downgrade through a group (operator leaves Operators).
    let viewer = login(&state, "viewer").await;
    let id = session_id(&state, &viewer).await;
    let push = watch(&state, &id);
    let (status, _) = call(
        &state,
        Method::POST,
        "/api/admin/users/3/suspend",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_ended_once(&state, &id, Reason::Suspended, push).await;
    let operator = login(&state, "operator").await;
    let id = session_id(&state, &operator).await;
    let push = watch(&state, &id);
    let path = "/api/admin/groups/1/members/2";
    let (status, _) = call(&state, Method::DELETE, path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_ended_once(&state, &id, Reason::RoleChanged, push).await;

    // Deadlines, found by the sweep: idle (privileged) and absolute (anyone).
    let (state, clock) = state_with(&dbs[1].path(), |_| {}).await;
    let admin = login(&state, "admin").await;
    let idle = session_id(&state, &admin).await;
    let idle_push = watch(&state, &idle);
    clock.advance(IDLE_MS);
    // The background sweeper may get there first: the outcome is what counts.
    assert!(state.sweep().await.expect("sweep") <= 1);
    assert_ended_once(&state, &idle, Reason::IdleTimeout, idle_push).await;
    let viewer = login(&state, "viewer").await;
    let expired = session_id(&state, &viewer).await;
    let expired_push = watch(&state, &expired);
    clock.advance(LIFETIME_MS);
    // The background sweeper may get there first: the outcome is what counts.
    assert!(state.sweep().await.expect("sweep") <= 1);
    assert_ended_once(&state, &expired, Reason::SessionExpired, expired_push).await;
    // ... and by the request that finds it overdue before the sweep does.
    let viewer = login(&state, "viewer").await;
    let id = session_id(&state, &viewer).await;
    let push = watch(&state, &id);
    clock.advance(LIFETIME_MS);
    let (status, body) = call(&state, Method::GET, "/api/session", Some(&viewer), None).await;
    assert_eq!(
        (status, body["reason"].clone()),
        (StatusCode::UNAUTHORIZED, json!("session_expired"))
    );
    assert_ended_once(&state, &id, Reason::SessionExpired, push).await;

    // Recording consent declined, or never given in time.
    let (state, clock) = state_with(&dbs[2].path(), |c| {
        c.recording = Recording::Privileged;
        // Shorter than the idle timeout, so not answering is what ends the session.
        c.consent_timeout = Duration::from_secs(30);
    })
    .await;
    let operator = login(&state, "operator").await;
    let id = session_id(&state, &operator).await;
    let push = watch(&state, &id);
    let answer = json!({ "accepted": false });
    let (status, _) = call(
        &state,
        Method::POST,
        "/api/session/consent",
        Some(&operator),
        Some(answer),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_ended_once(&state, &id, Reason::ConsentDeclined, push).await;
    let operator = login(&state, "operator").await;
    let id = session_id(&state, &operator).await;
    let push = watch(&state, &id);
    clock.advance(state.inner.store.policy.consent_ms);
    // The background sweeper may get there first: the outcome is what counts.
    assert!(state.sweep().await.expect("sweep") <= 1);
    assert_ended_once(&state, &id, Reason::ConsentDeclined, push).await;
}

/// A scratch database file, deleted on drop.
struct TempDb(std::path::PathBuf);

impl TempDb {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "sg-store-{tag}-{}-{}",
            std::process::id(),
            SystemNanos::now()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    fn path(&self) -> String {
        self.0.join("sg.sqlite").to_string_lossy().into_owned()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Nanoseconds of the wall clock, to name scratch folders apart.
struct SystemNanos;

impl SystemNanos {
    fn now() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_sweeping_one_database_end_each_overdue_session_once() {
    let db = TempDb::new("sweep");
    let (a, clock) = state_with(&db.path(), |_| {}).await;
    let mut config = Config::for_tests();
    config.db = db.path();
    config.idle_timeout = Duration::from_millis(IDLE_MS.unsigned_abs());
    config.session_lifetime = Duration::from_millis(LIFETIME_MS.unsigned_abs());
    config.recording = Recording::Off;
    let b = AppState::with_clock(&config, clock.clone())
        .await
        .expect("second store on the same file");
    let mut ids = Vec::new();
    for _ in 0..5 {
        let cookie = login(&a, "admin").await;
        ids.push(session_id(&a, &cookie).await);
    }
    for _ in 0..5 {
        let cookie = login(&b, "operator").await;
        ids.push(session_id(&b, &cookie).await);
    }
    clock.advance(IDLE_MS);
    // Both sweep at once, several times (their background sweepers may join in too).
    let mut ended = 0;
    for _ in 0..3 {
        let (from_a, from_b) = tokio::join!(a.sweep(), b.sweep());
        ended += from_a.expect("sweep a") + from_b.expect("sweep b");
    }
    assert!(ended <= ids.len(), "no session ended twice ({ended})");
    for id in &ids {
        let row = stored(&a, id).await;
        assert_eq!(row.end_reason, Some(Reason::IdleTimeout), "{id}");
        let entries = ended_entries(&b, id).await;
        assert_eq!(entries.len(), 1, "{id}: exactly one session_ended entry");
    }
}

#[tokio::test]
async fn an_overdue_end_loses_to_a_keepalive_that_came_in_between() {
    let (state, clock) = state_with(":memory:", |_| {}).await;
    let admin = login(&state, "admin").await;
    let id = session_id(&state, &admin).await;
    let seen = stored(&state, &id).await.last_activity_at;
    clock.advance(IDLE_MS - 1);
    // Another instance's keepalive lands after this sweep read the row.
    let (status, _) = call(
        &state,
        Method::POST,
        "/api/session/activity",
        Some(&admin),
        Some(json!({ "idle_ms": 0 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut tx = state.inner.store.begin().await.expect("tx");
    let which = Sessions::Overdue {
        id: &id,
        last_activity_at: seen,
    };
    let ended = tx
        .end_sessions(which, Reason::IdleTimeout, None)
        .await
        .expect("end");
    tx.commit().await.expect("commit");
    assert!(ended.is_empty(), "the stale judgement ends nothing");
    assert_eq!(stored(&state, &id).await.ended_at, None);
    assert!(ended_entries(&state, &id).await.is_empty());
}

#[tokio::test]
async fn the_sweep_follows_privilege_gained_or_lost_through_a_group() {
    let (state, clock) = state_with(":memory:", |_| {}).await;
    let live = |s: SessionRow| (s.ended_at, s.end_reason);
    let viewer = login(&state, "viewer").await;
    let id = session_id(&state, &viewer).await;
    // Not privileged: no idle deadline, only the lifetime.
    clock.advance(IDLE_MS * 2);
    state.sweep().await.expect("sweep");
    assert_eq!(live(stored(&state, &id).await), (None, None));
    // Privileged through a new group holding the Operator role (id 2): the idle timeout
    // applies from the change on, not from the old activity.
    let admin = login(&state, "admin").await;
    let (status, group) = call(
        &state,
        Method::POST,
        "/api/admin/groups",
        Some(&admin),
        Some(json!({ "name": "Night shift" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let gid = group["id"].as_i64().expect("group id");
    for path in [
        format!("/api/admin/groups/{gid}/members/3"),
        format!("/api/admin/groups/{gid}/roles/2"),
    ] {
        let (status, _) = call(&state, Method::POST, &path, Some(&admin), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}");
    }
    let mut conn = state.inner.store.reader().await.expect("reader");
    let stored_privilege: (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT privileged, next_deadline FROM sessions WHERE id = $1")
            .bind(&id)
            .fetch_one(&mut *conn)
            .await
            .expect("columns");
    drop(conn);
    assert_eq!(stored_privilege, (Some(1), Some(clock.now_ms() + IDLE_MS)));
    clock.advance(IDLE_MS - 1);
    state.sweep().await.expect("sweep");
    assert_eq!(live(stored(&state, &id).await), (None, None));
    let push = watch(&state, &id);
    clock.advance(1);
    state.sweep().await.expect("sweep");
    assert_ended_once(&state, &id, Reason::IdleTimeout, push).await;

    // Losing it through the group ends the session at once (role_changed), and the
    // next one, unprivileged again, has no idle deadline.
    let admin = login(&state, "admin").await;
    let viewer = login(&state, "viewer").await;
    let id = session_id(&state, &viewer).await;
    let push = watch(&state, &id);
    let path = format!("/api/admin/groups/{gid}/roles/2");
    let (status, _) = call(&state, Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_ended_once(&state, &id, Reason::RoleChanged, push).await;
    let viewer = login(&state, "viewer").await;
    let id = session_id(&state, &viewer).await;
    clock.advance(IDLE_MS * 2);
    state.sweep().await.expect("sweep");
    assert_eq!(live(stored(&state, &id).await), (None, None));
}

#[tokio::test]
async fn rows_without_stored_deadlines_are_worked_out_by_the_sweep() {
    // A bulk import (or an older server) writes sessions without privilege or deadline.
    let (state, clock) = state_with(":memory:", |_| {}).await;
    let mut tx = state.inner.store.begin().await.expect("tx");
    for (id, user) in [("ses_import_admin", 1), ("ses_import_viewer", 3)] {
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_id, issued_at, expires_at,
                                   last_activity_at, recording_required, consent)
             VALUES ($1, $2, $3, $4, $5, $4, 0, 'not_required')",
        )
        .bind(id)
        .bind(format!("hash-{id}"))
        .bind(user)
        .bind(T0)
        .bind(T0 + LIFETIME_MS)
        .execute(tx.conn())
        .await
        .expect("import");
    }
    tx.commit().await.expect("commit");
    clock.advance(IDLE_MS);
    // The background sweeper may get there first: the outcome is what counts.
    assert!(state.sweep().await.expect("sweep") <= 1);
    assert_eq!(
        stored(&state, "ses_import_admin").await.end_reason,
        Some(Reason::IdleTimeout)
    );
    assert_eq!(stored(&state, "ses_import_viewer").await.ended_at, None);
    // Worked out once: the viewer's row now carries its deadline, the lifetime.
    clock.advance(LIFETIME_MS - IDLE_MS - 1);
    assert_eq!(state.sweep().await.expect("sweep"), 0);
    clock.advance(1);
    // The background sweeper may get there first: the outcome is what counts.
    assert!(state.sweep().await.expect("sweep") <= 1);
    assert_eq!(
        stored(&state, "ses_import_viewer").await.end_reason,
        Some(Reason::SessionExpired)
    );
}

#[tokio::test]
async fn the_stores_enums_survive_the_database() {
    let (state, _) = state_with(":memory:", |_| {}).await;
    let store = &state.inner.store;
    // Every consent state and every end reason, written and read back.
    for (n, reason) in Reason::KNOWN.iter().enumerate() {
        let consent = [
            ConsentState::NotRequired,
            ConsentState::Pending,
            ConsentState::Accepted,
        ][n % 3];
        let session = SessionRow {
            id: format!("ses_enum_{n}"),
            user_id: 3,
            issued_at: T0,
            expires_at: T0 + LIFETIME_MS,
            last_activity_at: T0,
            recording_required: consent != ConsentState::NotRequired,
            consent,
            ended_at: None,
            end_reason: None,
        };
        let mut tx = store.begin().await.expect("tx");
        let hash = format!("hash-enum-{n}");
        sql::insert_session(
            tx.conn(),
            &session,
            &hash,
            (false, T0),
            sql::Origin::default(),
        )
        .await
        .expect("insert");
        let ended = tx
            .end_sessions(Sessions::One(&session.id), reason.clone(), None)
            .await
            .expect("end");
        tx.commit().await.expect("commit");
        assert_eq!(ended.len(), 1);
        let back = stored(&state, &session.id).await;
        assert_eq!(back.consent, consent);
        assert_eq!(back.end_reason.as_ref(), Some(reason));
    }
    // Every audit kind, written and read back through the audit query.
    let mut tx = store.begin().await.expect("tx");
    for kind in AuditKind::ALL {
        tx.audit(&NewAudit::of(*kind)).await.expect("audit");
    }
    tx.commit().await.expect("commit");
    for kind in AuditKind::ALL {
        let filter = sql::AuditFilter {
            kind: Some(kind.as_str().to_owned()),
            limit: 1000,
            ..sql::AuditFilter::default()
        };
        let entries = store.audit_log(&filter).await.expect("audit log");
        assert!(entries.iter().any(|e| e.kind == *kind), "{kind} read back");
    }
}

#[tokio::test]
async fn an_end_whose_commit_fails_is_neither_stored_nor_pushed() {
    let (state, _) = state_with(":memory:", |_| {}).await;
    let viewer = login(&state, "viewer").await;
    let id = session_id(&state, &viewer).await;
    let mut rx = state.inner.store.subscribe(&id);
    let mut tx = state.inner.store.begin().await.expect("tx");
    // A foreign key checked only at COMMIT (a tab of a session that does not exist), so
    // everything before the commit succeeds and the commit itself fails.
    sqlx::raw_sql("PRAGMA defer_foreign_keys = ON")
        .execute(tx.conn())
        .await
        .expect("defer");
    sqlx::query(
        "INSERT INTO session_tabs (session_id, tab_id, registered_at)
         VALUES ('ses_missing', 'tab-orphan-1', 0)",
    )
    .execute(tx.conn())
    .await
    .expect("orphan tab");
    let ended = tx
        .end_sessions(Sessions::One(&id), Reason::RemoteTerminated, Some(1))
        .await
        .expect("end in the transaction");
    assert_eq!(ended.len(), 1);
    assert!(tx.commit().await.is_err(), "the commit fails");
    assert!(
        matches!(
            rx.try_recv(),
            Err(tokio::sync::broadcast::error::TryRecvError::Empty)
        ),
        "nothing was pushed"
    );
    assert_eq!(stored(&state, &id).await.ended_at, None);
    assert!(ended_entries(&state, &id).await.is_empty());
}

#[tokio::test]
async fn ending_more_sessions_than_one_audit_statement_holds_audits_each_once_in_start_order() {
    let database_url = postgres_if_configured().await;
    let (state, _) = state_with(":memory:", |config| config.database_url = database_url).await;
    let store = &state.inner.store;
    let admin_cookie = login(&state, "admin").await;
    let admin_session = session_id(&state, &admin_cookie).await;
    let mut conn = store.reader().await.expect("reader");
    let admin = sql::user_by_username(&mut conn, "admin")
        .await
        .expect("query")
        .expect("admin");
    let viewer = sql::user_by_username(&mut conn, "viewer")
        .await
        .expect("query")
        .expect("viewer");
    drop(conn);
    // More than two audit statements' worth, inserted latest start first; pairs share a
    // start time, so the order within a pair is the insertion order.
    let count = 1_203;
    let mut tx = store.begin().await.expect("tx");
    let mut expected = Vec::with_capacity(count);
    for n in 0..count {
        let issued_at = T0 + i64::try_from((count - n) / 2).expect("small");
        let session = SessionRow {
            id: format!("ses_bulk_{:04}", count - n),
            user_id: viewer.id,
            issued_at,
            expires_at: issued_at + LIFETIME_MS,
            last_activity_at: issued_at,
            recording_required: false,
            consent: ConsentState::NotRequired,
            ended_at: None,
            end_reason: None,
        };
        sql::insert_session(
            tx.conn(),
            &session,
            &format!("hash-bulk-{n}"),
            (false, session.expires_at),
            sql::Origin::default(),
        )
        .await
        .expect("insert");
        expected.push((issued_at, n, session.id));
    }
    tx.commit().await.expect("commit");
    expected.sort_unstable();
    let expected: Vec<String> = expected.into_iter().map(|(_, _, id)| id).collect();
    let watched = watch(&state, &expected[0]);

    let mut tx = store.begin().await.expect("tx");
    let ended = tx
        .end_sessions(
            Sessions::AllBut(admin.id),
            Reason::RemoteTerminated,
            Some(admin.id),
        )
        .await
        .expect("end");
    // A second ender in the same transaction finds nothing left to end.
    let again = tx
        .end_sessions(Sessions::OfUser(viewer.id), Reason::Suspended, None)
        .await
        .expect("end again");
    tx.commit().await.expect("commit");

    assert!(again.is_empty());
    let ended_ids: Vec<&str> = ended.iter().map(|e| e.session_id.as_str()).collect();
    assert_eq!(ended_ids, expected, "every session once, in start order");
    assert!(ended
        .iter()
        .all(|e| e.user_id == viewer.id && e.reason == Reason::RemoteTerminated));
    assert_eq!(
        watched.await.expect("watcher"),
        (Reason::RemoteTerminated, true)
    );
    assert_eq!(stored(&state, &admin_session).await.ended_at, None);
    let filter = sql::AuditFilter {
        kind: Some("session_ended".into()),
        limit: 10_000,
        ..sql::AuditFilter::default()
    };
    let mut entries = store.audit_log(&filter).await.expect("audit");
    entries.reverse();
    let audited: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.session_id.as_deref())
        .collect();
    assert_eq!(audited, expected, "one entry per session, in start order");
    for entry in &entries {
        assert_eq!(entry.actor_user_id, Some(admin.id));
        assert_eq!(
            entry.detail,
            json!({ "reason": "remote_terminated", "user_id": viewer.id })
        );
        let id = entry.session_id.as_deref().expect("session");
        assert_eq!(
            stored(&state, id).await.end_reason,
            Some(Reason::RemoteTerminated)
        );
    }
}
