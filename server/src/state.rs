//! Shared state: the store, the clock, the sign-in defences and the background enforcer.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use session_guard_contract::ConsentState;

use crate::auth::{self, Passwords};
use crate::config::{Config, Recording as RecordingPolicy};
use crate::edge::Recording;
use crate::error::{AppError, InitError};
use crate::store::sql::{SessionRow, UserRow};
use crate::store::Store;

/// How often the background task looks for sessions past a deadline. Four times a second
/// keeps the contract's "within a second" for pushed `terminated` events.
const SWEEP_EVERY: Duration = Duration::from_millis(250);

/// Source of "now" in epoch milliseconds; replaceable so that tests control time.
pub trait Clock: Send + Sync + 'static {
    /// Current time in epoch milliseconds (UTC).
    fn now_ms(&self) -> i64;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to: deterministic timeout tests.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// Starts at `start_ms`.
    pub fn new(start_ms: i64) -> Self {
        Self(AtomicI64::new(start_ms))
    }

    /// Moves time forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Policy values in milliseconds, derived once from the config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub idle_ms: i64,
    pub lifetime_ms: i64,
    pub warning_lead_ms: i64,
    pub keepalive_ms: i64,
    pub recording: RecordingPolicy,
    /// How long a recorded session may wait for consent before it ends.
    pub consent_ms: i64,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) struct Inner {
    /// The database, the push hub and the session policy.
    pub store: Arc<Store>,
    pub passwords: Passwords,
    pub hash_pool: crate::login::HashPool,
    pub login_throttle: crate::login::LoginThrottle,
    pub edge: crate::edge::EdgeSettings,
    pub audit_retention_ms: i64,
    pub recording_retention_ms: i64,
    /// The API requests of recorded sessions, on their way to the store.
    pub request_log: crate::request_log::RequestLog,
}

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

/// The signed-in caller of a request, after the deadlines were checked.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub session: SessionRow,
    pub user: UserRow,
    pub scopes: BTreeSet<String>,
}

impl AppState {
    /// Opens the database named by the config, migrates and seeds it, and starts the
    /// background deadline enforcer.
    pub async fn new(config: &Config) -> Result<Self, InitError> {
        Self::with_clock(config, Arc::new(SystemClock)).await
    }

    /// Like [`AppState::new`] with a caller-supplied clock (tests use [`ManualClock`]).
    pub async fn with_clock(config: &Config, clock: Arc<dyn Clock>) -> Result<Self, InitError> {
        config.validate().map_err(InitError::Config)?;
        let passwords = Passwords::new(
            config.fast_password_hashing,
            config.argon2_memory_kib,
            config.argon2_iterations,
        )?;
        let hash_pool = crate::login::HashPool::new(config.hash_workers(), config.hash_queue)
            .map_err(|e| InitError::Other(format!("cannot start hash workers: {e}")))?;
        let policy = Policy {
            idle_ms: ms(config.idle_timeout),
            lifetime_ms: ms(config.session_lifetime),
            warning_lead_ms: ms(config.warning_lead),
            keepalive_ms: ms(config.keepalive_interval),
            recording: config.recording,
            consent_ms: ms(config.consent_timeout),
        };
        let store = Arc::new(match &config.database_url {
            Some(url) => Store::open_postgres(url, policy, clock).await?,
            None => Store::open(&config.db, policy, clock).await?,
        });
        store.start_listening();
        let request_log = crate::request_log::RequestLog::start(store.clone());
        let inner = Arc::new(Inner {
            store,
            passwords,
            hash_pool,
            login_throttle: crate::login::LoginThrottle::default(),
            edge: crate::edge::EdgeSettings {
                trust_proxy: config.trust_proxy,
                always_secure: config.secure_cookies,
            },
            audit_retention_ms: ms(config.audit_retention),
            recording_retention_ms: ms(config.recording_retention),
            request_log,
        });
        if config.seed_demo {
            crate::seed::seed_demo(&inner).await?;
        }
        tokio::spawn(sweeper(Arc::downgrade(&inner)));
        Ok(Self { inner })
    }

    /// Ends every session whose idle (privileged users), consent or absolute deadline has
    /// passed and pushes `terminated` to its streams. The background task calls this every
    /// 250 ms; tests with a manual clock call it directly. Returns how many ended.
    pub async fn sweep(&self) -> Result<usize, AppError> {
        self.inner.store.sweep().await
    }

    /// Closes every open event stream, so that graceful shutdown is not held up by
    /// long-lived SSE connections.
    pub fn close_streams(&self) {
        self.inner.store.close_streams();
    }

    /// Waits until every API request the server answered so far is in the request log's
    /// store (recorded sessions' API actions are written in batches, off the request
    /// path). Shutdown calls it so that the last requests are not lost; tests, to read
    /// what was recorded.
    pub async fn flush_request_log(&self) {
        self.inner.request_log.flush().await;
    }

    /// The database schema version (for diagnostics and the migration test).
    pub async fn schema_version(&self) -> Result<i64, AppError> {
        self.inner.store.schema_version().await
    }
}

async fn sweeper(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // The task ends with the last handle to the state.
        let Some(inner) = inner.upgrade() else { break };
        if let Err(e) = inner.store.sweep().await {
            eprintln!("session-guard-server: sweep failed: {e:?}");
        }
        inner.store.prune_streams();
    }
}

impl Inner {
    pub fn now(&self) -> i64 {
        self.store.now()
    }

    /// Resolves the request's cookie to a live session (see [`Store::authenticate`]), and
    /// tells the edge whether the request is one of a recorded session (the row says so:
    /// the request log then needs no lookup of its own).
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Current, AppError> {
        let secret = auth::session_secret(headers).ok_or(AppError::Unauthenticated(None))?;
        let current = self.store.authenticate(&auth::secret_hash(&secret)).await?;
        let session = &current.session;
        let decision = match (session.recording_required, session.consent) {
            (true, ConsentState::Accepted) => Some(Recording::Recorded {
                session_id: session.id.clone(),
            }),
            // This very request may be the consent that starts the recording: the request
            // log looks the session up once the request was answered.
            (true, ConsentState::Pending) => None,
            _ => Some(Recording::NotRecorded),
        };
        if let Some(decision) = decision {
            crate::edge::current().decide_recording(decision);
        }
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Reason;
    use crate::store::tests::stored;
    use crate::store::{sql, AdminChange};
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use session_guard_contract::ConsentState;
    use tower::ServiceExt;

    /// A well-formed cookie secret (43 base64url characters).
    const SECRET: &str = "transaction-test-secret-0123456789abcdefghi";

    /// A state on a manual clock with one live, consent-pending session of the seeded
    /// admin (cookie secret [`SECRET`]), and a trigger that makes every audit insert fail.
    async fn state_with_failing_audit() -> (AppState, Arc<ManualClock>, SessionRow) {
        let clock = Arc::new(ManualClock::new(1_764_000_000_000));
        let state = AppState::with_clock(&Config::for_tests(), clock.clone())
            .await
            .expect("state");
        let now = clock.now_ms();
        let session = SessionRow {
            id: "ses_transaction_test".into(),
            user_id: 1,
            issued_at: now,
            expires_at: now + 60_000,
            last_activity_at: now,
            recording_required: true,
            consent: ConsentState::Pending,
            ended_at: None,
            end_reason: None,
        };
        let mut tx = state.inner.store.begin().await.expect("tx");
        let hash = auth::secret_hash(SECRET);
        let deadline = (true, session.expires_at);
        sql::insert_session(tx.conn(), &session, &hash, deadline, sql::Origin::default())
            .await
            .expect("session");
        sqlx::raw_sql(
            "CREATE TRIGGER audit_down BEFORE INSERT ON audit
             BEGIN SELECT RAISE(ABORT, 'audit unavailable'); END;",
        )
        .execute(tx.conn())
        .await
        .expect("trigger");
        tx.commit().await.expect("commit");
        (state, clock, session)
    }

    fn cookie_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        let cookie = format!("{}={SECRET}", auth::COOKIE_NAME);
        headers.insert(header::COOKIE, cookie.parse().expect("header"));
        headers
    }

    #[tokio::test]
    async fn an_end_without_its_audit_entry_is_rolled_back() {
        let (state, clock, session) = state_with_failing_audit().await;
        let store = &state.inner.store;
        // Sign-out (and the replaced session at sign-in) end through `sign_out`'s path.
        let result = store
            .sign_out(&auth::secret_hash(SECRET), Reason::LoggedOut)
            .await;
        assert!(result.is_err());
        assert_eq!(stored(&state, &session.id).await.ended_at, None);

        // The background sweep and the per-request check end overdue sessions.
        clock.advance(60_000);
        assert!(state.sweep().await.is_err());
        assert_eq!(stored(&state, &session.id).await.ended_at, None);
        assert!(matches!(
            state.inner.authenticate(&cookie_headers()).await,
            Err(AppError::Internal(_))
        ));
        assert_eq!(stored(&state, &session.id).await.ended_at, None);

        // An admin change that ends sessions rolls back as a whole.
        let change = AdminChange::EndSession {
            session_id: session.id.clone(),
            reason: None,
        };
        assert!(store.admin_change(1, change).await.is_err());
        assert_eq!(stored(&state, &session.id).await.ended_at, None);
    }

    #[tokio::test]
    async fn consent_without_its_audit_entry_is_rolled_back() {
        let (state, _clock, session) = state_with_failing_audit().await;
        let req = Request::post("/api/session/consent")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, format!("{}={SECRET}", auth::COOKIE_NAME))
            .body(Body::from(r#"{"accepted":true}"#))
            .expect("request");
        let resp = crate::app(state.clone())
            .oneshot(req)
            .await
            .expect("response");
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            stored(&state, &session.id).await.consent,
            ConsentState::Pending
        );
    }
}
