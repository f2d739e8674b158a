//! Shared state: the database, the clock, the SSE hub and the background enforcer.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use rusqlite::Connection;
use serde_json::Value;
use session_guard_contract::admin::ImpactPreview;
use session_guard_contract::{
    AuditKind, ConsentState, DurationMs, RecordingView, ServerTime, SessionView, UserView,
};
use tokio::sync::broadcast;

use crate::auth::{self, Passwords};
use crate::config::{Config, Recording};
use crate::db::{self, NewAudit, SessionRow, UserRow};
use crate::error::{AppError, InitError, Reason};
use crate::extract::CONSENT_PENDING;

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

/// What a session's SSE streams receive.
#[derive(Debug, Clone)]
pub(crate) enum Push {
    /// The session ended; the stream sends `event: terminated` and closes.
    Terminated(Reason),
    /// The session view changed; the stream sends `event: session`.
    Session(Arc<Value>),
    /// An administrator ended this tab of the session; the stream sends `event:
    /// tab_ended` and stays open (the session and its other tabs continue).
    TabEnded(Arc<str>),
}

/// One broadcast channel per session with open streams, so every tab hears the end.
#[derive(Default)]
struct Hub {
    channels: Mutex<HashMap<String, broadcast::Sender<Push>>>,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, broadcast::Sender<Push>>> {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn subscribe(&self, session_id: &str) -> broadcast::Receiver<Push> {
        let mut map = self.lock();
        if let Some(tx) = map.get(session_id) {
            return tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(16);
        map.insert(session_id.to_owned(), tx);
        rx
    }

    fn send(&self, session_id: &str, push: Push) {
        let mut map = self.lock();
        let terminal = matches!(push, Push::Terminated(_));
        if let Some(tx) = map.get(session_id) {
            // No receivers is fine: nobody is listening.
            let _ = tx.send(push);
        }
        if terminal {
            // Dropping the sender closes every stream once it has read the event.
            map.remove(session_id);
        }
    }

    fn prune(&self) {
        self.lock().retain(|_, tx| tx.receiver_count() > 0);
    }

    fn close_all(&self) {
        self.lock().clear();
    }
}

/// Policy values in milliseconds, derived once from the config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub idle_ms: i64,
    pub lifetime_ms: i64,
    pub warning_lead_ms: i64,
    pub keepalive_ms: i64,
    pub recording: Recording,
    /// How long a recorded session may wait for consent before it ends.
    pub consent_ms: i64,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) struct Inner {
    pub policy: Policy,
    db: Mutex<Connection>,
    hub: Hub,
    clock: Arc<dyn Clock>,
    pub passwords: Passwords,
    pub hash_pool: crate::login::HashPool,
    pub login_throttle: crate::login::LoginThrottle,
    pub edge: crate::edge::EdgeSettings,
    pub audit_retention_ms: i64,
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

/// Sessions ended and users whose view changed during one operation; published after the
/// database transaction commits so that no stream hears of an end that was rolled back.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub ended: Vec<(String, Reason)>,
    pub changed_users: Vec<i64>,
}

impl AppState {
    /// Opens the database named by the config, migrates and seeds it, and starts the
    /// background deadline enforcer when called inside a Tokio runtime.
    pub fn new(config: &Config) -> Result<Self, InitError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// Like [`AppState::new`] with a caller-supplied clock (tests use [`ManualClock`]).
    pub fn with_clock(config: &Config, clock: Arc<dyn Clock>) -> Result<Self, InitError> {
        config.validate().map_err(InitError::Config)?;
        let conn = db::open(&config.db)?;
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
        let inner = Arc::new(Inner {
            policy,
            db: Mutex::new(conn),
            hub: Hub::default(),
            clock,
            passwords,
            hash_pool,
            login_throttle: crate::login::LoginThrottle::default(),
            edge: crate::edge::EdgeSettings {
                trust_proxy: config.trust_proxy,
                always_secure: config.secure_cookies,
            },
            audit_retention_ms: ms(config.audit_retention),
        });
        if config.seed_demo {
            crate::seed::seed_demo(&inner)?;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(sweeper(Arc::downgrade(&inner)));
        }
        Ok(Self { inner })
    }

    /// Ends every session whose idle (privileged users) or absolute deadline has passed
    /// and pushes `terminated` to its streams. The background task calls this every
    /// 250 ms; tests with a manual clock call it directly. Returns how many ended.
    pub fn sweep(&self) -> usize {
        self.inner.sweep()
    }

    /// Closes every open event stream, so that graceful shutdown is not held up by
    /// long-lived SSE connections.
    pub fn close_streams(&self) {
        self.inner.hub.close_all();
    }

    /// The database schema version (for diagnostics and the migration test).
    pub fn schema_version(&self) -> Result<i64, AppError> {
        Ok(db::schema_version(&self.inner.db())?)
    }
}

async fn sweeper(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // The task ends with the last handle to the state.
        let Some(inner) = inner.upgrade() else { break };
        inner.sweep();
        inner.hub.prune();
    }
}

/// Which deadline, if any, a live session has passed: the earliest one is the cause (on
/// a tie, the absolute lifetime).
///
/// A session waiting for consent has `consent_ms` from the moment it started waiting to
/// answer; not answering counts as declining (`consent_declined`). That moment is its
/// `last_activity_at`: it is set when the wait starts (login, or the change that made
/// the user privileged) and cannot move while consent is pending, because keepalives
/// are refused until then.
fn overdue(session: &SessionRow, privileged: bool, now: i64, policy: &Policy) -> Option<Reason> {
    let since = session.last_activity_at;
    let deadlines = [
        Some((session.expires_at, Reason::SessionExpired)),
        privileged.then(|| (since.saturating_add(policy.idle_ms), Reason::IdleTimeout)),
        (session.consent == CONSENT_PENDING).then(|| {
            (
                since.saturating_add(policy.consent_ms),
                Reason::ConsentDeclined,
            )
        }),
    ];
    deadlines
        .into_iter()
        .flatten()
        .filter(|(deadline, _)| *deadline <= now)
        .min_by_key(|(deadline, _)| *deadline)
        .map(|(_, reason)| reason)
}

impl Inner {
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The database, recovering from a poisoned lock: SQLite rolls back any transaction
    /// a panicking holder left open, so the connection is still consistent.
    pub fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn subscribe(&self, session_id: &str) -> broadcast::Receiver<Push> {
        self.hub.subscribe(session_id)
    }

    fn sweep(&self) -> usize {
        let now = self.now();
        let policy = self.policy;
        let ended = {
            let mut conn = self.db();
            let result = (|| -> Result<Vec<(String, Reason)>, AppError> {
                // Every end and its audit entry commit together (or not at all).
                let tx = conn.transaction()?;
                let mut ended = Vec::new();
                for (session, privileged) in
                    db::overdue_sessions(&tx, now, policy.idle_ms, policy.consent_ms)?
                {
                    if let Some(reason) = overdue(&session, privileged, now, &policy) {
                        end_with_audit(&tx, &session, &reason, None, now)?;
                        ended.push((session.id, reason));
                    }
                }
                tx.commit()?;
                Ok(ended)
            })();
            match result {
                Ok(ended) => ended,
                Err(e) => {
                    eprintln!("session-guard-server: sweep failed: {e:?}");
                    Vec::new()
                }
            }
        };
        let count = ended.len();
        self.publish(Effects {
            ended,
            changed_users: Vec::new(),
        });
        count
    }

    /// Resolves the request's cookie to a live session, ending it first when a deadline
    /// has passed (the server enforces the limits itself, whatever the client does).
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Current, AppError> {
        let secret = auth::session_secret(headers).ok_or(AppError::Unauthenticated(None))?;
        let hash = auth::secret_hash(&secret);
        let now = self.now();
        let mut effects = Effects::default();
        let result = {
            let conn = self.db();
            (|| {
                let session = db::session_by_token_hash(&conn, &hash)?
                    .ok_or(AppError::Unauthenticated(None))?;
                if session.ended_at.is_some() {
                    let reason = session.end_reason.as_deref().and_then(Reason::known);
                    return Err(AppError::Unauthenticated(reason));
                }
                let user = db::user_by_id(&conn, session.user_id)?
                    .ok_or(AppError::Unauthenticated(None))?;
                let scopes = db::user_scopes(&conn, user.id)?;
                let reason = if user.suspended {
                    Some(Reason::Suspended)
                } else {
                    overdue(&session, !scopes.is_empty(), now, &self.policy)
                };
                if let Some(reason) = reason {
                    let tx = conn.unchecked_transaction()?;
                    end_with_audit(&tx, &session, &reason, None, now)?;
                    tx.commit()?;
                    effects.ended.push((session.id.clone(), reason.clone()));
                    return Err(AppError::Unauthenticated(Some(reason)));
                }
                Ok(Current {
                    session,
                    user,
                    scopes,
                })
            })()
        };
        self.publish(effects);
        result
    }

    /// Re-reads the caller's session and user (after an update) for a fresh view.
    pub fn reload(&self, conn: &Connection, session_id: &str) -> Result<Option<Current>, AppError> {
        let Some(session) = db::session_by_id(conn, session_id)? else {
            return Ok(None);
        };
        let Some(user) = db::user_by_id(conn, session.user_id)? else {
            return Ok(None);
        };
        let scopes = db::user_scopes(conn, user.id)?;
        Ok(Some(Current {
            session,
            user,
            scopes,
        }))
    }

    /// The contract's session view of the caller (`GET /api/session` and the other
    /// session answers, and the pushed `session` event).
    pub fn view(&self, cur: &Current) -> SessionView {
        let privileged = !cur.scopes.is_empty();
        let s = &cur.session;
        SessionView {
            session_id: s.id.clone(),
            user: UserView {
                id: cur.user.id,
                username: cur.user.username.clone(),
                display_name: cur.user.display_name.clone(),
            },
            privileged,
            scopes: cur.scopes.iter().cloned().collect(),
            issued_at: ServerTime::from_millis(s.issued_at),
            expires_at: ServerTime::from_millis(s.expires_at),
            idle_timeout_ms: privileged.then_some(DurationMs::from_millis(self.policy.idle_ms)),
            warning_lead_ms: DurationMs::from_millis(self.policy.warning_lead_ms),
            keepalive_interval_ms: DurationMs::from_millis(self.policy.keepalive_ms),
            last_activity_at: ServerTime::from_millis(s.last_activity_at),
            recording: RecordingView {
                required: s.recording_required,
                // Only the three contract values are ever stored; anything else would be
                // a damaged row, and asking for consent again fails closed.
                consent: ConsentState::from_wire(&s.consent).unwrap_or(ConsentState::Pending),
            },
            server_time: ServerTime::from_millis(self.now()),
        }
    }

    /// Sends `terminated` for every ended session and a fresh `session` view to every live
    /// session of each user whose permissions changed.
    pub fn publish(&self, effects: Effects) {
        for (session_id, reason) in effects.ended {
            self.hub.send(&session_id, Push::Terminated(reason));
        }
        if effects.changed_users.is_empty() {
            return;
        }
        let mut views = Vec::new();
        {
            let conn = self.db();
            for user_id in effects.changed_users {
                let sessions = match db::live_session_ids_of_user(&conn, user_id) {
                    Ok(ids) => ids,
                    Err(e) => {
                        eprintln!("session-guard-server: view push failed: {e}");
                        continue;
                    }
                };
                for session_id in sessions {
                    if let Ok(Some(cur)) = self.reload(&conn, &session_id) {
                        if let Ok(value) = serde_json::to_value(self.view(&cur)) {
                            views.push((session_id, value));
                        }
                    }
                }
            }
        }
        for (session_id, value) in views {
            self.hub.send(&session_id, Push::Session(Arc::new(value)));
        }
    }

    /// Tells the session's streams that one of its tabs was ended (after the commit).
    pub fn push_tab_ended(&self, session_id: &str, tab_id: &str) {
        self.hub.send(session_id, Push::TabEnded(Arc::from(tab_id)));
    }

    /// Pushes the current view of one session to its streams (consent given in one tab
    /// reaches the others).
    pub fn push_view(&self, cur: &Current) {
        if let Ok(value) = serde_json::to_value(self.view(cur)) {
            self.hub
                .send(&cur.session.id, Push::Session(Arc::new(value)));
        }
    }

    /// Runs one admin change in a transaction, then recomputes the privilege of every
    /// user with a live session and applies the product rule:
    /// - suspended: every session ends with `suspended`;
    /// - at least one scope of the user's effective set removed: every session ends with
    ///   `role_changed` (a downgrade, even one that leaves other scopes);
    /// - scopes only added: nothing ends, views are pushed (and a user who just became
    ///   privileged is asked for recording consent when privileged sessions are recorded).
    ///
    /// A change that would leave no active (not suspended) user holding `admin:manage`
    /// is refused with `409 conflict` and rolled back, whichever path it takes.
    ///
    /// Diffing before/after over all signed-in users, rather than reasoning per action,
    /// covers every path (direct role, group membership, group role, scope removal,
    /// deletions) with one piece of code.
    pub fn admin_change<R>(
        &self,
        actor: i64,
        f: impl FnOnce(&Connection, i64, &mut Effects) -> Result<R, AppError>,
    ) -> Result<R, AppError> {
        self.run_admin_change(actor, true, f)
            .map(|(result, _)| result)
    }

    /// Runs the change exactly like [`Inner::admin_change`] (the same checks, the same
    /// refusals) and rolls it back: how many sessions of how many users it would end.
    /// Nothing is stored, audited or pushed.
    pub fn admin_preview<R>(
        &self,
        actor: i64,
        f: impl FnOnce(&Connection, i64, &mut Effects) -> Result<R, AppError>,
    ) -> Result<ImpactPreview, AppError> {
        self.run_admin_change(actor, false, f)
            .map(|(_, impact)| impact)
    }

    fn run_admin_change<R>(
        &self,
        actor: i64,
        commit: bool,
        f: impl FnOnce(&Connection, i64, &mut Effects) -> Result<R, AppError>,
    ) -> Result<(R, ImpactPreview), AppError> {
        let now = self.now();
        let mut effects = Effects::default();
        let outcome = {
            let mut conn = self.db();
            let tx = conn.transaction()?;
            let users = db::users_with_live_sessions(&tx)?;
            let before = db::privileges(&tx, &users)?;
            let administrators_before = db::active_administrators(&tx)?;
            let result = f(&tx, now, &mut effects)?;
            if administrators_before > 0 && db::active_administrators(&tx)? == 0 {
                // Dropping `tx` rolls the change back.
                return Err(AppError::Conflict(
                    "Refused: after this change no active user would hold admin:manage, so \
                     nobody could administer users, roles or groups any more. Give another \
                     active user admin:manage first."
                        .into(),
                ));
            }
            let after = db::privileges(&tx, &users)?;
            for user_id in users {
                let (Some((scopes_before, _)), Some((scopes_after, suspended))) =
                    (before.get(&user_id), after.get(&user_id))
                else {
                    continue;
                };
                let end_reason = if *suspended {
                    Some(Reason::Suspended)
                } else if !scopes_before.is_subset(scopes_after) {
                    Some(Reason::RoleChanged)
                } else {
                    None
                };
                if let Some(reason) = end_reason {
                    for session_id in db::live_session_ids_of_user(&tx, user_id)? {
                        if let Some(session) = db::session_by_id(&tx, &session_id)? {
                            end_with_audit(&tx, &session, &reason, Some(actor), now)?;
                            effects.ended.push((session_id, reason.clone()));
                        }
                    }
                } else if scopes_before != scopes_after {
                    if scopes_before.is_empty() {
                        self.newly_privileged(&tx, user_id, now)?;
                    }
                    effects.changed_users.push(user_id);
                }
            }
            let impact = impact_of(&tx, actor, &effects)?;
            if !commit {
                // Dropping `tx` rolls the change back.
                return Ok((result, impact));
            }
            tx.commit()?;
            (result, impact)
        };
        self.publish(effects);
        Ok(outcome)
    }

    /// A signed-in user just became privileged. The idle timeout starts now, not at the
    /// session's last recorded activity, so the raise ends nothing; and when privileged
    /// sessions are recorded, a session that was not recorded now waits for consent
    /// (from now, for the consent timeout) before it can be used again.
    fn newly_privileged(&self, conn: &Connection, user_id: i64, now: i64) -> Result<(), AppError> {
        let now_recorded = self.policy.recording == Recording::Privileged;
        for session_id in db::live_session_ids_of_user(conn, user_id)? {
            db::set_last_activity(conn, &session_id, now)?;
            if now_recorded {
                db::require_recording(conn, &session_id)?;
            }
        }
        Ok(())
    }

    /// Ends one session with `reason` (no-op when already ended) and records why.
    pub fn end_now(
        &self,
        session: &SessionRow,
        reason: Reason,
        actor: Option<i64>,
        kind: AuditKind,
    ) -> Result<(), AppError> {
        let now = self.now();
        let ended = {
            let mut conn = self.db();
            // The end and its audit entry are one fact: both are stored or neither.
            let tx = conn.transaction()?;
            let ended = db::end_session(&tx, &session.id, &reason, actor, now)?;
            if ended {
                db::audit(
                    &tx,
                    now,
                    &NewAudit {
                        actor_user_id: actor,
                        session_id: Some(&session.id),
                        detail: serde_json::json!({ "reason": reason }),
                        ..NewAudit::of(kind)
                    },
                )?;
            }
            tx.commit()?;
            ended
        };
        if ended {
            self.publish(Effects {
                ended: vec![(session.id.clone(), reason)],
                changed_users: Vec::new(),
            });
        }
        Ok(())
    }
}

/// What an admin change ends, counted by the server: how many distinct users and
/// sessions `effects` ends, and whether the acting administrator is among the users.
fn impact_of(conn: &Connection, actor: i64, effects: &Effects) -> Result<ImpactPreview, AppError> {
    let mut sessions = BTreeSet::new();
    let mut users = BTreeSet::new();
    for (session_id, _) in &effects.ended {
        if sessions.insert(session_id.as_str()) {
            if let Some(s) = db::session_by_id(conn, session_id)? {
                users.insert(s.user_id);
            }
        }
    }
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    Ok(ImpactPreview {
        dry_run: true,
        users: count(users.len()),
        sessions: count(sessions.len()),
        tabs: 0,
        includes_you: users.contains(&actor),
    })
}

/// Ends `session` and writes the `session_ended` audit entry in the caller's transaction.
pub(crate) fn end_with_audit(
    conn: &Connection,
    session: &SessionRow,
    reason: &Reason,
    actor: Option<i64>,
    now: i64,
) -> Result<bool, AppError> {
    let ended = db::end_session(conn, &session.id, reason, actor, now)?;
    if ended {
        db::audit(
            conn,
            now,
            &NewAudit {
                actor_user_id: actor,
                session_id: Some(&session.id),
                detail: serde_json::json!({ "reason": reason, "user_id": session.user_id }),
                ..NewAudit::of(AuditKind::SessionEnded)
            },
        )?;
    }
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use tower::ServiceExt;

    /// A well-formed cookie secret (43 base64url characters).
    const SECRET: &str = "transaction-test-secret-0123456789abcdefghi";

    /// A state on a manual clock with one live, consent-pending session of the seeded
    /// admin (cookie secret [`SECRET`]), and a trigger that makes every audit insert fail.
    fn state_with_failing_audit() -> (AppState, Arc<ManualClock>, SessionRow) {
        let clock = Arc::new(ManualClock::new(1_764_000_000_000));
        let state = AppState::with_clock(&Config::for_tests(), clock.clone()).expect("state");
        let now = clock.now_ms();
        let session = SessionRow {
            id: "ses_transaction_test".into(),
            user_id: 1,
            issued_at: now,
            expires_at: now + 60_000,
            last_activity_at: now,
            recording_required: true,
            consent: CONSENT_PENDING.into(),
            ended_at: None,
            end_reason: None,
        };
        let conn = state.inner.db();
        db::insert_session(&conn, &session, &auth::secret_hash(SECRET)).expect("session");
        conn.execute_batch(
            "CREATE TRIGGER audit_down BEFORE INSERT ON audit
             BEGIN SELECT RAISE(ABORT, 'audit unavailable'); END;",
        )
        .expect("trigger");
        drop(conn);
        (state, clock, session)
    }

    fn stored(state: &AppState, id: &str) -> SessionRow {
        db::session_by_id(&state.inner.db(), id)
            .expect("query")
            .expect("row")
    }

    fn cookie_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        let cookie = format!("{}={SECRET}", auth::COOKIE_NAME);
        headers.insert(header::COOKIE, cookie.parse().expect("header"));
        headers
    }

    #[test]
    fn an_end_without_its_audit_entry_is_rolled_back() {
        let (state, clock, session) = state_with_failing_audit();
        // Sign-out (and login rotation) end through `end_now`.
        let result = state
            .inner
            .end_now(&session, Reason::LoggedOut, Some(1), AuditKind::Logout);
        assert!(result.is_err());
        assert_eq!(stored(&state, &session.id).ended_at, None);

        // The background sweep and the per-request check end overdue sessions.
        clock.advance(60_000);
        assert_eq!(state.sweep(), 0);
        assert_eq!(stored(&state, &session.id).ended_at, None);
        assert!(matches!(
            state.inner.authenticate(&cookie_headers()),
            Err(AppError::Internal(_))
        ));
        assert_eq!(stored(&state, &session.id).ended_at, None);

        // An admin change that ends sessions rolls back as a whole.
        let result = state.inner.admin_change(1, |conn, now, effects| {
            end_with_audit(conn, &session, &Reason::RemoteTerminated, Some(1), now)?;
            effects
                .ended
                .push((session.id.clone(), Reason::RemoteTerminated));
            Ok(())
        });
        assert!(result.is_err());
        assert_eq!(stored(&state, &session.id).ended_at, None);
    }

    #[tokio::test]
    async fn consent_without_its_audit_entry_is_rolled_back() {
        let (state, _clock, session) = state_with_failing_audit();
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
        assert_eq!(stored(&state, &session.id).consent, CONSENT_PENDING);
    }
}
