//! The server's own record of the API requests of recorded sessions (contract "Session
//! recording", "Server-side API actions"), kept off the request path.
//!
//! Authentication reads the session row anyway, so it decides whether a request is one of
//! a recorded session; the edge hands [`RequestLog::offer`] those requests, their session
//! already known, and nothing of the sessions that are not recorded. Only a request with a
//! session cookie that authentication did not decide on (rejected before it: a body too
//! large, the wrong content type, a bad path parameter; an unknown path; sign-out; a stale
//! cookie; consent still pending) comes with its cookie's hash, for the writer to look up
//! as before. `offer` never waits: it puts the request in a bounded queue (and drops it,
//! counted, when the queue is full). One background writer takes what is queued, a batch
//! at a time, and stores it in one short transaction per batch. A keepalive therefore
//! never waits for the log, and the log costs the database one write per batch instead of
//! one per request, and no read for a session that is not recorded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::store::{Dropped, RegisteredTabs, RequestSession, SeenRequest, Store};

/// Requests that may wait for the writer; beyond that they are dropped, not waited for.
/// The writer stores a batch of 256 in one short transaction, so only a database that
/// stops taking writes fills this (at a thousand requests a second, after about 16 s);
/// requests must not wait on the log then, and a stopped writer fails keepalives anyway.
const QUEUE: usize = 16_384;
/// Most requests stored in one transaction.
const BATCH: usize = 256;
/// How long the writer gathers a batch after its first request: one write per fifth of a
/// second at most, however busy the server.
const LINGER: Duration = Duration::from_millis(200);
/// Longest path stored (an unknown path can be long).
const MAX_PATH: usize = 512;
/// Most sessions (or cookies) whose dropped requests are kept for gap markers at once;
/// the drops of any others are only counted in the server's log.
const MAX_GAPS: usize = 1_024;

enum Entry {
    Seen(SeenRequest),
    /// Answered once everything queued before it is stored.
    Flush(oneshot::Sender<()>),
}

/// Requests the full queue dropped, per session (or cookie), until the writer stores
/// their gap markers.
type Gaps = Arc<Mutex<HashMap<RequestSession, Dropped>>>;

/// The queue in front of the writer.
pub(crate) struct RequestLog {
    queue: mpsc::Sender<Entry>,
    dropped: AtomicU64,
    gaps: Gaps,
}

impl RequestLog {
    /// Starts the writer on `store`; it ends when the log is dropped.
    pub fn start(store: Arc<Store>) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        let gaps = Gaps::default();
        tokio::spawn(writer(store, rx, gaps.clone()));
        Self {
            queue,
            dropped: AtomicU64::new(0),
            gaps,
        }
    }

    /// Queues one request without waiting. A full queue drops it, notes it for its
    /// session's gap marker (stored with the writer's next batch, once the queue moves
    /// again) and says so in the server's log once per thousand drops.
    pub fn offer(&self, mut seen: SeenRequest) {
        if seen.path.len() > MAX_PATH {
            let mut end = MAX_PATH;
            while !seen.path.is_char_boundary(end) {
                end -= 1;
            }
            seen.path.truncate(end);
        }
        if let Err(full) = self.queue.try_send(Entry::Seen(seen)) {
            if let Entry::Seen(seen) = full.into_inner() {
                let mut gaps = self.gaps.lock().unwrap_or_else(PoisonError::into_inner);
                let lost = Dropped::one(seen.at);
                if let Some(gap) = gaps.get_mut(&seen.session) {
                    gap.merge(lost);
                } else if gaps.len() < MAX_GAPS {
                    gaps.insert(seen.session, lost);
                }
            }
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped % 1000 == 1 {
                eprintln!(
                    "session-guard-server: request log queue full; {dropped} requests not recorded so far"
                );
            }
        }
    }

    /// Waits until every request queued before this call is stored (or failed to be).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.queue.send(Entry::Flush(done)).await.is_ok() {
            // An error means the writer is gone: nothing more will be stored anyway.
            let _ = wait.await;
        }
    }

    /// How many requests wait in the queue (not yet taken by the writer).
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// How many requests the full queue dropped.
    #[cfg(test)]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn writer(store: Arc<Store>, mut rx: mpsc::Receiver<Entry>, gaps: Gaps) {
    let mut tabs = RegisteredTabs::default();
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        let deadline = tokio::time::Instant::now() + LINGER;
        while let Some(entry) = next.take() {
            match entry {
                Entry::Seen(seen) => batch.push(seen),
                Entry::Flush(done) => flushes.push(done),
            }
            if batch.len() >= BATCH || !flushes.is_empty() {
                break;
            }
            next = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .ok()
                .flatten();
        }
        // Requests dropped while the queue was full: the queue moves again, so their gap
        // markers go with this batch.
        let dropped: Vec<(RequestSession, Dropped)> =
            std::mem::take(&mut *gaps.lock().unwrap_or_else(PoisonError::into_inner))
                .into_iter()
                .collect();
        if !batch.is_empty() || !dropped.is_empty() {
            if let Err(e) = store.record_requests(batch, dropped, &mut tabs).await {
                eprintln!("session-guard-server: storing API requests failed: {e:?}");
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use tower::ServiceExt;

    use session_guard_contract::recording::RecordedAction;

    use super::{LINGER, QUEUE};
    use crate::store::{sql, Backend};
    use crate::{app, AppState, Config};

    async fn call(router: &axum::Router, req: Request<Body>) -> axum::response::Response {
        router.clone().oneshot(req).await.expect("infallible")
    }

    /// A state on its own SQLite file (a held write transaction then stops the log's
    /// writer), its router, and the folder to delete.
    async fn sqlite_app(tag: &str) -> (AppState, axum::Router, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "sg-request-log-{tag}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = Config {
            db: dir.join("store.sqlite").display().to_string(),
            ..Config::for_tests()
        };
        let state = AppState::new(&config).await.expect("state");
        let router = app(state.clone());
        (state, router, dir)
    }

    /// Signs `username` in, accepting recording when asked; returns the cookie pair.
    async fn sign_in(router: &axum::Router, username: &str) -> String {
        let login = call(
            router,
            Request::post("/api/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(format!(
                    r#"{{"username":"{username}","password":"{username}-demo-pass"}}"#
                )))
                .expect("request"),
        )
        .await;
        assert_eq!(login.status(), StatusCode::OK);
        let cookie = login.headers()[header::SET_COOKIE]
            .to_str()
            .expect("cookie")
            .split(';')
            .next()
            .expect("pair")
            .to_owned();
        let consent = call(
            router,
            Request::post("/api/session/consent")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::COOKIE, &cookie)
                .body(Body::from(r#"{"accepted":true}"#))
                .expect("request"),
        )
        .await;
        // `403 forbidden` for a session that is not recorded: nothing to answer.
        assert!(
            [StatusCode::OK, StatusCode::FORBIDDEN].contains(&consent.status()),
            "{}",
            consent.status()
        );
        cookie
    }

    async fn view(router: &axum::Router, cookie: &str) {
        let view = call(
            router,
            Request::get("/api/session")
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(view.status(), StatusCode::OK);
    }

    async fn stored(state: &AppState, username: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM recording_actions a JOIN sessions s ON s.id = a.session_id
             JOIN users u ON u.id = s.user_id
             WHERE a.path = '/api/session' AND u.username = $1",
        )
        .bind(username)
        .fetch_one(&mut *state.inner.store.reader().await.expect("reader"))
        .await
        .expect("count")
    }

    /// Authentication decides: a session that is not recorded never reaches the log, and a
    /// recorded session's requests reach it with their session known, so the writer looks
    /// nothing up (it stores them even when their cookie no longer finds the session).
    #[tokio::test]
    async fn only_recorded_sessions_reach_the_log_already_resolved() {
        let (state, router, dir) = sqlite_app("decided").await;
        let admin = sign_in(&router, "admin").await;
        let viewer = sign_in(&router, "viewer").await;
        state.flush_request_log().await;
        let log = &state.inner.request_log;

        let mut held = state.inner.store.begin().await.expect("writer");
        // The writer takes this one and waits for the held transaction with it.
        view(&router, &admin).await;
        tokio::time::sleep(LINGER * 3).await;
        assert_eq!(log.queued(), 0);
        for _ in 0..20 {
            view(&router, &viewer).await;
        }
        assert_eq!(
            log.queued(),
            0,
            "a session that is not recorded reached the log"
        );
        for _ in 0..20 {
            view(&router, &admin).await;
        }
        assert_eq!(log.queued(), 20);
        // The cookie no longer finds the session: a lookup by cookie would store nothing.
        sqlx::query(
            "UPDATE sessions SET token_hash = 'rotated-' || id
             WHERE user_id = (SELECT id FROM users WHERE username = 'admin')",
        )
        .execute(held.conn())
        .await
        .expect("rotate");
        held.commit().await.expect("commit");
        state.flush_request_log().await;
        assert_eq!(stored(&state, "admin").await, 21);
        assert_eq!(stored(&state, "viewer").await, 0);
        drop(state);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The log's writer is stuck (another transaction holds SQLite's one writer): requests
    /// are still answered at once, past the queue's capacity; what does not fit is dropped
    /// and counted, and everything else is stored once the writer can go on, with one gap
    /// marker saying how many of the session's requests were not recorded and when.
    #[tokio::test]
    async fn requests_never_wait_for_the_log() {
        let (state, router, dir) = sqlite_app("full").await;
        let cookie = sign_in(&router, "admin").await;
        state.flush_request_log().await;
        let first = state.inner.now();

        let held = state.inner.store.begin().await.expect("writer");
        let requests = QUEUE + 300;
        let all = async {
            for _ in 0..requests {
                view(&router, &cookie).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), all)
            .await
            .expect("requests answered while the log's writer waits");
        let dropped = state.inner.request_log.dropped();
        assert!(dropped > 0, "the queue never filled");
        drop(held);
        state.flush_request_log().await;
        let last = state.inner.now();
        let stored = stored(&state, "admin").await;
        assert_eq!(
            u64::try_from(stored).expect("count") + dropped,
            u64::try_from(requests).expect("count")
        );

        let mut conn = state.inner.store.reader().await.expect("reader");
        let (session_id, gap_at): (String, i64) = sqlx::query_as(
            "SELECT session_id, at FROM recording_actions WHERE gap_requests IS NOT NULL",
        )
        .fetch_one(&mut *conn)
        .await
        .expect("one gap marker");
        // As a player gets it: after the requests stored before the queue filled.
        let actions = sql::recording::actions(
            &mut conn,
            Backend::Sqlite,
            &session_id,
            "no_such_tab",
            (gap_at, None),
            i64::try_from(QUEUE).expect("limit"),
        )
        .await
        .expect("actions");
        let gaps: Vec<&RecordedAction> = actions
            .iter()
            .filter(|a| a.not_recorded.is_some())
            .collect();
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        let gap = gaps[0];
        let lost = gap.not_recorded.expect("gap");
        assert_eq!(lost.requests, dropped);
        assert!(first <= gap.at.as_millis(), "{gap:?}");
        assert!(
            gap.at <= lost.until && lost.until.as_millis() <= last,
            "{gap:?}"
        );
        assert_eq!(
            (
                gap.method.as_str(),
                gap.path.as_str(),
                gap.status,
                &gap.tab_id
            ),
            ("", "", 0, &None)
        );
        drop(conn);
        drop(state);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
