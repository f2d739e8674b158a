//! The session operations of the store: authentication, sign-in and sign-out, the view,
//! keepalives, consent, tabs, the deadline sweep, retention and the read-only queries of
//! the admin API.

use serde_json::json;
use session_guard_contract::admin::{AdminTab, AdminUser, AuditEntry, EndedSession, Group, Role};
use session_guard_contract::{
    AuditKind, ConsentState, DurationMs, RecordingView, ServerTime, SessionView, UserView,
};

use super::sql::{self, Conn, NewAudit, SessionRow, UserRow};
use super::{Sessions, Store, Tx};
use crate::config::Recording;
use crate::error::{AppError, Reason};
use crate::retention::Purged;
use crate::state::{Current, Policy};

/// A live session's deadlines with the reason each would end it for: the absolute
/// lifetime, the idle timeout (privileged users only) and the consent timeout (while
/// consent is pending).
///
/// A session waiting for consent has `consent_ms` from the moment it started waiting to
/// answer; not answering counts as declining (`consent_declined`). That moment is its
/// `last_activity_at`: it is set when the wait starts (login, or the change that made
/// the user privileged) and cannot move while consent is pending, because keepalives
/// are refused until then.
fn deadlines(
    session: &SessionRow,
    privileged: bool,
    policy: &Policy,
) -> impl Iterator<Item = (i64, Reason)> {
    let since = session.last_activity_at;
    [
        Some((session.expires_at, Reason::SessionExpired)),
        privileged.then(|| (since.saturating_add(policy.idle_ms), Reason::IdleTimeout)),
        (session.consent == ConsentState::Pending).then(|| {
            (
                since.saturating_add(policy.consent_ms),
                Reason::ConsentDeclined,
            )
        }),
    ]
    .into_iter()
    .flatten()
}

/// Which deadline, if any, a live session has passed: the earliest one is the cause (on
/// a tie, the absolute lifetime).
pub(crate) fn overdue(
    session: &SessionRow,
    privileged: bool,
    now: i64,
    policy: &Policy,
) -> Option<Reason> {
    deadlines(session, privileged, policy)
        .filter(|(deadline, _)| *deadline <= now)
        .min_by_key(|(deadline, _)| *deadline)
        .map(|(_, reason)| reason)
}

/// The earliest deadline of a live session: when the sweep must look at it next.
fn next_deadline(session: &SessionRow, privileged: bool, policy: &Policy) -> i64 {
    deadlines(session, privileged, policy)
        .map(|(deadline, _)| deadline)
        .min()
        .unwrap_or(session.expires_at)
}

/// Re-reads a session and its user (after an update) for a fresh view.
pub(crate) async fn reload(conn: &mut Conn, session_id: &str) -> Result<Option<Current>, AppError> {
    let Some(session) = sql::session_by_id(conn, session_id).await? else {
        return Ok(None);
    };
    let Some(user) = sql::user_by_id(conn, session.user_id).await? else {
        return Ok(None);
    };
    let scopes = sql::user_scopes(conn, user.id).await?;
    Ok(Some(Current {
        session,
        user,
        scopes,
    }))
}

/// A session reloaded after its request was authenticated may have ended in between (a
/// deadline, an administrator, another tab): `401 {reason}` then, never a view of it.
fn still_live(current: Current) -> Result<Current, AppError> {
    match current.session.ended_at {
        None => Ok(current),
        Some(_) => Err(AppError::Unauthenticated(current.session.end_reason)),
    }
}

/// The account a sign-in names, and the stored hash an unknown name is checked against
/// (so that it costs what a known one costs).
pub(crate) struct LoginUser {
    pub user: Option<UserRow>,
    /// The password hash of the user at the dummy index, when the name is unknown.
    pub sample_hash: Option<String>,
}

/// What answering the consent question did.
pub(crate) enum ConsentOutcome {
    /// Declined (or a plain sign-out): the session ended.
    Ended,
    /// Accepted (or already accepted): the fresh view.
    View(Box<Current>),
}

impl Store {
    /// The contract's session view of `cur` at the clock's now (`GET /api/session`, the
    /// other session answers, and the pushed `session` event).
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
                consent: s.consent,
            },
            server_time: ServerTime::from_millis(self.now()),
        }
    }

    /// Resolves a cookie's secret hash to a live session, ending it first when a deadline
    /// has passed or its user is suspended (the server enforces the limits itself,
    /// whatever the client does).
    pub async fn authenticate(&self, secret_hash: &str) -> Result<Current, AppError> {
        let now = self.now();
        let current = {
            // One statement: every request is authenticated, keepalives included.
            let mut conn = self.reader().await?;
            let (session, user, scopes) =
                sql::session_user_and_scopes_by_token_hash(&mut conn, secret_hash)
                    .await?
                    .ok_or(AppError::Unauthenticated(None))?;
            if session.ended_at.is_some() {
                let reason = session.end_reason.clone();
                return Err(AppError::Unauthenticated(reason));
            }
            let user = user.ok_or(AppError::Unauthenticated(None))?;
            Current {
                session,
                user,
                scopes,
            }
        };
        let reason = if current.user.suspended {
            Some(Reason::Suspended)
        } else {
            overdue(
                &current.session,
                !current.scopes.is_empty(),
                now,
                &self.policy,
            )
        };
        let Some(reason) = reason else {
            return Ok(current);
        };
        let mut tx = self.begin().await?;
        let ended = tx
            .end_sessions(Sessions::One(&current.session.id), reason.clone(), None)
            .await?;
        tx.commit().await?;
        if ended.is_empty() {
            // Someone else ended it first: report the reason that was stored.
            let mut conn = self.reader().await?;
            let stored = sql::session_by_id(&mut conn, &current.session.id).await?;
            let reason = stored.and_then(|s| s.end_reason);
            return Err(AppError::Unauthenticated(reason));
        }
        Err(AppError::Unauthenticated(Some(reason)))
    }

    /// Whether the session is still live (the event stream re-checks after subscribing).
    pub async fn live_or_reason(&self, session_id: &str) -> Result<(), AppError> {
        let mut conn = self.reader().await?;
        match sql::session_by_id(&mut conn, session_id).await? {
            Some(s) if s.ended_at.is_none() => Ok(()),
            Some(s) => Err(AppError::Unauthenticated(s.end_reason)),
            None => Err(AppError::Unauthenticated(None)),
        }
    }

    /// The account a sign-in names; for an unknown name, the stored hash at the index
    /// `dummy_index(user count)` picks.
    pub async fn login_user(
        &self,
        username: Option<&str>,
        dummy_index: impl FnOnce(u64) -> u64,
    ) -> Result<LoginUser, AppError> {
        let mut conn = self.reader().await?;
        let user = match username {
            Some(name) => sql::user_by_username(&mut conn, name).await?,
            None => None,
        };
        let sample_hash = if user.is_some() {
            None
        } else {
            let count = u64::try_from(sql::count_users(&mut conn).await?).unwrap_or(0);
            sql::password_hash_at(&mut conn, dummy_index(count)).await?
        };
        Ok(LoginUser { user, sample_hash })
    }

    /// Records one audit entry on its own (refused and throttled sign-ins).
    pub async fn record(&self, entry: &NewAudit<'_>) -> Result<(), AppError> {
        let mut tx = self.begin().await?;
        tx.audit(entry).await?;
        tx.commit().await
    }

    /// Stores a password hash with the current parameters.
    pub async fn set_password_hash(&self, user_id: i64, hash: &str) -> Result<(), AppError> {
        let mut tx = self.begin().await?;
        sql::set_password_hash(tx.conn(), user_id, hash).await?;
        tx.commit().await
    }

    /// Starts a session for `user` (the password was checked), in one transaction with
    /// its `login` entry; the session the browser held before (`replaced`, a secret
    /// hash) is ended as a sign-out first, rather than left alive and unreachable.
    pub async fn sign_in(
        &self,
        user: UserRow,
        session_id: String,
        secret_hash: &str,
        replaced: Option<&str>,
    ) -> Result<Current, AppError> {
        let mut tx = self.begin().await?;
        if let Some(old_hash) = replaced {
            if let Some(old) = sql::session_by_token_hash(tx.conn(), old_hash).await? {
                if old.ended_at.is_none() {
                    end_as_sign_out(&mut tx, &old, Reason::LoggedOut).await?;
                }
            }
        }
        let now = tx.now;
        // Recording follows the user type (`--recording`): decided from the scopes held now.
        let scopes = sql::user_scopes(tx.conn(), user.id).await?;
        let privileged = !scopes.is_empty();
        let recorded = self.policy.recording.applies_to(privileged);
        let session = SessionRow {
            id: session_id,
            user_id: user.id,
            issued_at: now,
            expires_at: now.saturating_add(self.policy.lifetime_ms),
            last_activity_at: now,
            recording_required: recorded,
            consent: if recorded {
                ConsentState::Pending
            } else {
                ConsentState::NotRequired
            },
            ended_at: None,
            end_reason: None,
        };
        let context = crate::edge::current();
        let client_addr = context.client_addr.map(|a| a.to_string());
        let origin = sql::Origin {
            client_addr: client_addr.as_deref(),
            user_agent: context.user_agent.as_deref(),
        };
        let deadline = next_deadline(&session, privileged, &self.policy);
        sql::insert_session(
            tx.conn(),
            &session,
            secret_hash,
            (privileged, deadline),
            origin,
        )
        .await?;
        tx.audit(&NewAudit {
            actor_user_id: Some(user.id),
            session_id: Some(&session.id),
            detail: json!({ "username": user.username }),
            ..NewAudit::of(AuditKind::Login)
        })
        .await?;
        tx.commit().await?;
        Ok(Current {
            session,
            user,
            scopes,
        })
    }

    /// Signs out the session of `secret_hash`, if it is live. A declared reason that the
    /// server's own state contradicts is recorded as a plain `logged_out`.
    pub async fn sign_out(&self, secret_hash: &str, declared: Reason) -> Result<(), AppError> {
        let mut tx = self.begin().await?;
        let Some(session) = sql::session_by_token_hash(tx.conn(), secret_hash).await? else {
            return Ok(());
        };
        if session.ended_at.is_some() {
            return Ok(());
        }
        let reason = if self.confirms(&mut tx, &session, &declared).await? {
            declared
        } else {
            Reason::LoggedOut
        };
        end_as_sign_out(&mut tx, &session, reason).await?;
        tx.commit().await
    }

    /// Whether the server's own state confirms a client-declared ending reason: an idle or
    /// lifetime ending only once the server's own deadline for it has passed (a tab whose
    /// clock jumped forward must not put a false reason on record), a declined consent
    /// only while consent is pending.
    async fn confirms(
        &self,
        tx: &mut Tx<'_>,
        session: &SessionRow,
        reason: &Reason,
    ) -> Result<bool, AppError> {
        let now = tx.now;
        Ok(match reason {
            Reason::IdleTimeout => {
                let privileged = !sql::user_scopes(tx.conn(), session.user_id)
                    .await?
                    .is_empty();
                privileged && session.last_activity_at.saturating_add(self.policy.idle_ms) <= now
            }
            Reason::SessionExpired => session.expires_at <= now,
            Reason::ConsentDeclined => session.consent == ConsentState::Pending,
            _ => true,
        })
    }

    /// A keepalive: the user was last active at `at` (never moved back). Answers the
    /// fresh view, or `401 {reason}` when the session ended meanwhile. One statement on
    /// the writer, outside any transaction: it ends nothing and audits nothing, and the
    /// writer is the one resource every keepalive shares. The user and scopes are those
    /// the request was just authenticated with.
    pub async fn keepalive(&self, current: Current, at: i64) -> Result<Current, AppError> {
        let session = {
            let mut conn = self.write.acquire().await?;
            sql::touch(
                &mut conn,
                self.backend,
                &self.policy,
                &current.session.id,
                at,
            )
            .await?
        }
        .ok_or(AppError::Unauthenticated(None))?;
        still_live(Current { session, ..current })
    }

    /// The answer to the recording question. Accepting stores consent with its `consent`
    /// entry (one fact) and tells the other tabs; declining ends the session with
    /// `consent_declined` (a plain sign-out when consent was not pending).
    pub async fn answer_consent(
        &self,
        current: &Current,
        accepted: bool,
    ) -> Result<ConsentOutcome, AppError> {
        let mut tx = self.begin().await?;
        let session_id = current.session.id.as_str();
        let entry = NewAudit {
            actor_user_id: Some(current.user.id),
            session_id: Some(session_id),
            detail: json!({ "accepted": accepted }),
            ..NewAudit::of(AuditKind::Consent)
        };
        if !accepted {
            let reason = if current.session.consent == ConsentState::Pending {
                Reason::ConsentDeclined
            } else {
                Reason::LoggedOut
            };
            tx.audit(&entry).await?;
            tx.end_sessions(Sessions::One(session_id), reason, Some(current.user.id))
                .await?;
            tx.commit().await?;
            return Ok(ConsentOutcome::Ended);
        }
        let changed = sql::accept_consent(tx.conn(), session_id).await?;
        if changed {
            let now = tx.now;
            // Answering is activity; keepalives were refused until now. The consent
            // deadline is gone and the idle one counts from now.
            let backend = tx.backend();
            sql::set_last_activity(tx.conn(), backend, &self.policy, session_id, now).await?;
            sql::refresh_deadline(tx.conn(), backend, &self.policy, session_id).await?;
            tx.audit(&entry).await?;
            tx.effects.changed_sessions.push(session_id.to_owned());
        }
        let fresh = reload(tx.conn(), session_id)
            .await?
            .ok_or(AppError::Unauthenticated(None))?;
        tx.commit().await?;
        Ok(ConsentOutcome::View(Box::new(still_live(fresh)?)))
    }

    /// Registers a tab of the caller's session (audited as its own recorded sub-session);
    /// `true` when it is new. A tab an administrator ended cannot come back (`409`). The
    /// opener is kept only when it is a tab of the same session: a client cannot link its
    /// tab to another session's.
    pub async fn register_tab(
        &self,
        current: &Current,
        tab_id: &str,
        opener: Option<&str>,
    ) -> Result<bool, AppError> {
        let mut tx = self.begin().await?;
        let session_id = current.session.id.as_str();
        if sql::tab_was_ended(tx.conn(), session_id, tab_id).await? {
            return Err(AppError::Conflict(
                "An administrator ended this tab; it cannot register again under this id.".into(),
            ));
        }
        let opener = match opener {
            Some(opener)
                if opener != tab_id
                    && sql::recording::tab_registered(tx.conn(), session_id, opener).await? =>
            {
                Some(opener)
            }
            _ => None,
        };
        let now = tx.now;
        let created = sql::insert_tab(tx.conn(), session_id, tab_id, opener, now).await?;
        if created {
            tx.audit(&NewAudit {
                actor_user_id: Some(current.user.id),
                kind: AuditKind::TabRegistered,
                session_id: Some(session_id),
                tab_id: Some(tab_id),
                detail: json!({ "opener_tab_id": opener }),
            })
            .await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    /// A tab of the caller's session closed (its `pagehide` beacon).
    pub async fn close_tab(&self, current: &Current, tab_id: &str) -> Result<(), AppError> {
        let mut tx = self.begin().await?;
        let session_id = current.session.id.as_str();
        let now = tx.now;
        if sql::close_tab(tx.conn(), session_id, tab_id, now).await? {
            tx.audit(&NewAudit {
                actor_user_id: Some(current.user.id),
                kind: AuditKind::TabClosed,
                session_id: Some(session_id),
                tab_id: Some(tab_id),
                detail: json!({}),
            })
            .await?;
        }
        tx.commit().await
    }

    /// Ends every live session past a deadline and pushes `terminated` to its streams;
    /// returns how many ended. An idle store costs one indexed probe on a reader; the
    /// sessions due are judged from their rows (privilege and deadlines are stored), and
    /// each end is conditional, so several instances sweeping one database end each
    /// session once.
    pub async fn sweep(&self) -> Result<usize, AppError> {
        let now = self.now();
        if !sql::any_due(&mut *self.reader().await?, now).await? {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let now = tx.now;
        let mut count = 0;
        for (session, stored) in sql::due_sessions(tx.conn(), now).await? {
            let privileged = match stored {
                Some(privileged) => privileged,
                // A row written without it (an older server, a bulk import).
                None => !sql::user_scopes(tx.conn(), session.user_id)
                    .await?
                    .is_empty(),
            };
            match overdue(&session, privileged, now, &self.policy) {
                Some(reason) => {
                    let which = Sessions::Overdue {
                        id: &session.id,
                        last_activity_at: session.last_activity_at,
                    };
                    count += tx.end_sessions(which, reason, None).await?.len();
                }
                None => {
                    let next = next_deadline(&session, privileged, &self.policy);
                    sql::set_deadline(tx.conn(), &session.id, privileged, next).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(count)
    }

    /// Deletes audit entries and ended sessions older than `cutoff`, in one transaction
    /// with the `audit_purged` entry that records it (none when nothing was old enough).
    pub async fn purge_before(&self, cutoff: i64) -> Result<Purged, AppError> {
        let mut tx = self.begin().await?;
        let (audit_entries, sessions) = sql::purge_before(tx.conn(), cutoff).await?;
        if audit_entries + sessions > 0 {
            tx.audit(&NewAudit {
                detail: json!({
                    "before": cutoff,
                    "audit_entries": audit_entries,
                    "sessions": sessions,
                }),
                ..NewAudit::of(AuditKind::AuditPurged)
            })
            .await?;
        }
        tx.commit().await?;
        Ok(Purged {
            audit_entries: usize::try_from(audit_entries).unwrap_or(usize::MAX),
            sessions: usize::try_from(sessions).unwrap_or(usize::MAX),
            recordings: 0,
        })
    }

    /// Live sessions with their users, origins and open tabs (the admin list).
    pub async fn live_sessions(
        &self,
    ) -> Result<
        (
            Vec<sql::LiveSession>,
            std::collections::HashMap<String, Vec<AdminTab>>,
        ),
        AppError,
    > {
        let mut conn = self.reader().await?;
        let sessions = sql::live_sessions(&mut conn, self.backend).await?;
        let tabs = sql::open_tabs_of_live_sessions(&mut conn).await?;
        Ok((sessions, tabs))
    }

    /// Ended sessions, most recently ended first.
    pub async fn session_history(&self, limit: i64) -> Result<Vec<EndedSession>, AppError> {
        let mut conn = self.reader().await?;
        Ok(sql::ended_sessions(&mut conn, self.backend, limit).await?)
    }

    /// Every user as the admin API shows it.
    pub async fn users(&self) -> Result<Vec<AdminUser>, AppError> {
        let mut conn = self.reader().await?;
        let mut out = Vec::new();
        for user in sql::all_users(&mut conn).await? {
            out.push(sql::admin_user(&mut conn, &user).await?);
        }
        Ok(out)
    }

    /// Every role with its scopes.
    pub async fn roles(&self) -> Result<Vec<Role>, AppError> {
        let mut conn = self.reader().await?;
        Ok(sql::all_roles(&mut conn).await?)
    }

    /// Every group with its members and roles.
    pub async fn groups(&self) -> Result<Vec<Group>, AppError> {
        let mut conn = self.reader().await?;
        Ok(sql::all_groups(&mut conn).await?)
    }

    /// Audit entries matching `filter`, newest first.
    pub async fn audit_log(&self, filter: &sql::AuditFilter) -> Result<Vec<AuditEntry>, AppError> {
        let mut conn = self.reader().await?;
        Ok(sql::audit_log(&mut conn, self.backend, filter).await?)
    }

    /// Whether any user exists (the demo accounts are seeded only into an empty store).
    pub async fn users_exist(&self) -> Result<bool, AppError> {
        let mut conn = self.reader().await?;
        Ok(sql::count_users(&mut conn).await? > 0)
    }

    /// A user just became privileged. The idle timeout starts now, not at the session's
    /// last recorded activity, so the raise ends nothing; and when privileged sessions
    /// are recorded, a session that was not recorded now waits for consent (from now, for
    /// the consent timeout) before it can be used again.
    pub(super) async fn newly_privileged(
        &self,
        tx: &mut Tx<'_>,
        user_id: i64,
    ) -> Result<(), AppError> {
        let now_recorded = self.policy.recording == Recording::Privileged;
        let now = tx.now;
        let backend = tx.backend();
        for session_id in sql::live_session_ids_of_user(tx.conn(), backend, user_id).await? {
            sql::set_last_activity(tx.conn(), backend, &self.policy, &session_id, now).await?;
            if now_recorded {
                sql::require_recording(tx.conn(), &session_id).await?;
            }
        }
        Ok(())
    }
}

/// A sign-out (the user's own, or the replaced session at sign-in): the `logout` entry
/// says the user acted, and the end itself goes through [`Tx::end_sessions`].
async fn end_as_sign_out(
    tx: &mut Tx<'_>,
    session: &SessionRow,
    reason: Reason,
) -> Result<(), AppError> {
    let ended = tx
        .end_sessions(
            Sessions::One(&session.id),
            reason.clone(),
            Some(session.user_id),
        )
        .await?;
    if !ended.is_empty() {
        tx.audit(&NewAudit {
            actor_user_id: Some(session.user_id),
            session_id: Some(&session.id),
            detail: json!({ "reason": reason }),
            ..NewAudit::of(AuditKind::Logout)
        })
        .await?;
    }
    Ok(())
}
