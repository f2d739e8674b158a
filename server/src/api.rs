//! The session endpoints: login, logout, view, keepalive, consent, tabs and events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, Stream};
use serde_json::json;
use session_guard_contract::api::{
    ActivityRequest, ConsentRequest, LoginRequest, LogoutRequest, TabEndedEvent, TabRegistered,
    TabRegistration, TerminatedEvent,
};
use session_guard_contract::{ids, AuditKind, ConsentState};
use tokio::sync::broadcast::error::RecvError;

use crate::auth;
use crate::db::{self, NewAudit, SessionRow};
use crate::error::{AppError, Reason};
use crate::extract::{ConsentPending, JsonBody, OptionalJson, PathParam, CONSENT_PENDING};
use crate::state::{end_with_audit, AppState, Current, Effects, Push};

/// Longest username or password considered at all; longer input cannot match and is
/// refused before hashing so it cannot be used to burn CPU.
const MAX_CREDENTIAL_LEN: usize = 1024;

/// `POST /api/login`.
///
/// Order matters for the defences: a throttled account or address is refused before any
/// hashing; the hash runs on the bounded pool (a full pool answers `503` at once); an
/// unknown username does the same work as a known one, with the parameters of a stored
/// hash; every failure counts towards both throttles.
pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Response, AppError> {
    let inner = state.inner.clone();
    let client_addr = crate::edge::current().client_addr;
    let now = inner.now();
    let refuse = |user_id: Option<i64>, why: &str| -> Result<(), AppError> {
        let mut detail = json!({ "username": truncate(&req.username, 64), "why": why });
        if let Some(id) = user_id {
            detail["user_id"] = json!(id);
        }
        // No actor: the request proves nobody's identity, whichever account it names.
        db::audit(
            &inner.db(),
            now,
            &NewAudit {
                detail,
                ..NewAudit::of(AuditKind::LoginRefused)
            },
        )?;
        Ok(())
    };
    // Refused before any hashing or database work; the start of each block was audited
    // (`login_throttled`), so a flood of refusals writes nothing more.
    let attempt = inner
        .login_throttle
        .begin(&req.username, client_addr, now)
        .map_err(|(_, ms)| AppError::TooManyRequests(ms))?;
    let oversized =
        req.username.len() > MAX_CREDENTIAL_LEN || req.password.len() > MAX_CREDENTIAL_LEN;
    let (user, target) = {
        let conn = inner.db();
        let user = if oversized {
            None
        } else {
            db::user_by_username(&conn, req.username.trim())?
        };
        let target = match &user {
            Some(u) => auth::Target::Stored(u.password_hash.clone()),
            None => {
                let count = u64::try_from(db::count_users(&conn)?).unwrap_or(0);
                let index = inner.passwords.dummy_index(req.username.trim(), count);
                let sample = db::password_hash_at(&conn, index)?;
                inner.passwords.dummy_like(sample.as_deref())
            }
        };
        (user, target)
    };
    let verify_inner = inner.clone();
    let password = req.password.clone();
    let verdict = inner
        .hash_pool
        .run(move |memory| verify_inner.passwords.verify(&password, &target, memory))
        .await?;

    let user = match user {
        Some(user) if verdict.matched => user,
        other => {
            let user_id = other.as_ref().map(|u| u.id);
            let why = if user_id.is_some() {
                "wrong_password"
            } else {
                "unknown_user"
            };
            refuse(user_id, why)?;
            for (scope, ms) in inner.login_throttle.fail(&attempt, now) {
                db::audit(
                    &inner.db(),
                    now,
                    &NewAudit {
                        detail: json!({
                            "username": truncate(&req.username, 64),
                            "throttle": scope.as_str(),
                            "retry_after_ms": ms,
                        }),
                        ..NewAudit::of(AuditKind::LoginThrottled)
                    },
                )?;
            }
            return Err(AppError::InvalidCredentials);
        }
    };
    inner.login_throttle.succeed(&attempt);
    drop(attempt);
    if user.suspended {
        refuse(Some(user.id), "suspended")?;
        return Err(AppError::Suspended);
    }
    if verdict.outdated {
        // Older parameters: store a hash with the current ones now that the password is
        // known. A busy pool only postpones this to a later sign-in.
        let rehash_inner = inner.clone();
        let password = req.password.clone();
        if let Ok(Ok(hash)) = inner
            .hash_pool
            .run(move |_| rehash_inner.passwords.hash(&password))
            .await
        {
            db::set_password_hash(&inner.db(), user.id, &hash)?;
        }
    }

    // Rotation: the session this browser held before is replaced, so end it rather than
    // leave it alive, unreachable, until it times out.
    if let Some(old_secret) = auth::session_secret(&headers) {
        let old = db::session_by_token_hash(&inner.db(), &auth::secret_hash(&old_secret))?;
        if let Some(old) = old.filter(|s| s.ended_at.is_none()) {
            inner.end_now(
                &old,
                Reason::LoggedOut,
                Some(old.user_id),
                AuditKind::Logout,
            )?;
        }
    }

    let secret = auth::new_secret()?;
    // Recording follows the user type (`--recording`): decided from the scopes held now.
    let privileged = !db::user_scopes(&inner.db(), user.id)?.is_empty();
    let recorded = inner.policy.recording.applies_to(privileged);
    let session = SessionRow {
        id: auth::new_session_id()?,
        user_id: user.id,
        issued_at: now,
        expires_at: now.saturating_add(inner.policy.lifetime_ms),
        last_activity_at: now,
        recording_required: recorded,
        consent: if recorded {
            ConsentState::Pending
        } else {
            ConsentState::NotRequired
        }
        .as_str()
        .to_owned(),
        ended_at: None,
        end_reason: None,
    };
    let current = {
        let mut conn = inner.db();
        let tx = conn.transaction()?;
        db::insert_session(&tx, &session, &auth::secret_hash(&secret))?;
        let context = crate::edge::current();
        db::set_session_origin(
            &tx,
            &session.id,
            context.client_addr.map(|a| a.to_string()).as_deref(),
            context.user_agent.as_deref(),
        )?;
        db::audit(
            &tx,
            now,
            &NewAudit {
                actor_user_id: Some(user.id),
                session_id: Some(&session.id),
                detail: json!({ "username": user.username }),
                ..NewAudit::of(AuditKind::Login)
            },
        )?;
        let scopes = db::user_scopes(&tx, user.id)?;
        tx.commit()?;
        Current {
            session,
            user,
            scopes,
        }
    };
    let cookie = auth::set_cookie(&secret, crate::edge::current().secure);
    Ok(([(SET_COOKIE, cookie)], Json(inner.view(&current))).into_response())
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Whether the server's own state confirms a client-declared ending reason: an idle or
/// lifetime ending only once the server's own deadline for it has passed (a tab whose clock
/// jumped forward must not put a false reason on record), a declined consent only while
/// consent is pending.
fn confirms(state: &AppState, session: &SessionRow, reason: &Reason) -> Result<bool, AppError> {
    let now = state.inner.now();
    Ok(match reason {
        Reason::IdleTimeout => {
            let privileged = !db::user_scopes(&state.inner.db(), session.user_id)?.is_empty();
            privileged
                && session
                    .last_activity_at
                    .saturating_add(state.inner.policy.idle_ms)
                    <= now
        }
        Reason::SessionExpired => session.expires_at <= now,
        Reason::ConsentDeclined => session.consent == CONSENT_PENDING,
        _ => true,
    })
}

/// `POST /api/logout`: `204` and a cleared cookie, so signing out is idempotent even when
/// the session already ended on the server. A declared reason that the server's own state
/// contradicts is recorded as a plain `logged_out`: the tab that sent it has already left
/// (fail closed), but the record says only what the server knows.
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalJson(req): OptionalJson<LogoutRequest>,
) -> Result<Response, AppError> {
    let declared = match req.reason.as_deref() {
        None => Reason::LoggedOut,
        Some(name) => match Reason::known(name) {
            Some(
                r @ (Reason::LoggedOut
                | Reason::IdleTimeout
                | Reason::SessionExpired
                | Reason::ConsentDeclined),
            ) => r,
            _ => return Err(AppError::BadRequest(
                "reason must be one of logged_out, idle_timeout, session_expired, consent_declined"
                    .into(),
            )),
        },
    };
    if let Some(secret) = auth::session_secret(&headers) {
        let hash = auth::secret_hash(&secret);
        let session = db::session_by_token_hash(&state.inner.db(), &hash)?;
        if let Some(session) = session.filter(|s| s.ended_at.is_none()) {
            let reason = if confirms(&state, &session, &declared)? {
                declared
            } else {
                Reason::LoggedOut
            };
            state
                .inner
                .end_now(&session, reason, Some(session.user_id), AuditKind::Logout)?;
        }
    }
    let cookie = auth::clear_cookie(crate::edge::current().secure);
    Ok((StatusCode::NO_CONTENT, [(SET_COOKIE, cookie)]).into_response())
}

/// `GET /api/session`, also while consent is pending (the guard learns it must ask).
pub(crate) async fn session(
    State(state): State<AppState>,
    ConsentPending(current): ConsentPending,
) -> Response {
    Json(state.inner.view(&current)).into_response()
}

/// `POST /api/session/activity`: the client reports how long ago the user was last
/// active, so its clock never has to agree with ours. A session waiting for consent is
/// refused (the `Current` extractor), so keepalives cannot stretch the consent deadline.
pub(crate) async fn activity(
    State(state): State<AppState>,
    current: Current,
    JsonBody(req): JsonBody<ActivityRequest>,
) -> Result<Response, AppError> {
    let inner = &state.inner;
    let now = inner.now();
    let idle = req.idle_ms.as_millis().clamp(0, inner.policy.idle_ms);
    let at = now.saturating_sub(idle);
    let conn = inner.db();
    db::set_last_activity(&conn, &current.session.id, at)?;
    let current = inner
        .reload(&conn, &current.session.id)?
        .ok_or(AppError::Unauthenticated(None))?;
    drop(conn);
    let current = still_live(current)?;
    Ok(Json(inner.view(&current)).into_response())
}

/// A session reloaded after its request was authenticated may have ended in between (a
/// deadline, an administrator, another tab): `401 {reason}` then, never a view of it.
fn still_live(current: Current) -> Result<Current, AppError> {
    match current.session.ended_at {
        None => Ok(current),
        Some(_) => Err(AppError::Unauthenticated(
            current
                .session
                .end_reason
                .as_deref()
                .and_then(Reason::known),
        )),
    }
}

/// `POST /api/session/consent`: accepting records consent and tells the other tabs;
/// declining ends the session with `consent_declined`.
pub(crate) async fn consent(
    State(state): State<AppState>,
    ConsentPending(current): ConsentPending,
    JsonBody(req): JsonBody<ConsentRequest>,
) -> Result<Response, AppError> {
    let inner = &state.inner;
    let now = inner.now();
    let audit = NewAudit {
        actor_user_id: Some(current.user.id),
        session_id: Some(&current.session.id),
        detail: json!({ "accepted": req.accepted }),
        ..NewAudit::of(AuditKind::Consent)
    };
    if !req.accepted {
        // Declining what was never asked (or was already accepted) is a plain sign-out: the
        // record says only what the server's state supports.
        let reason = if current.session.consent == CONSENT_PENDING {
            Reason::ConsentDeclined
        } else {
            Reason::LoggedOut
        };
        let mut effects = Effects::default();
        {
            let mut conn = inner.db();
            let tx = conn.transaction()?;
            db::audit(&tx, now, &audit)?;
            if end_with_audit(&tx, &current.session, &reason, Some(current.user.id), now)? {
                effects.ended.push((current.session.id.clone(), reason));
            }
            tx.commit()?;
        }
        inner.publish(effects);
        let cookie = auth::clear_cookie(crate::edge::current().secure);
        return Ok((StatusCode::NO_CONTENT, [(SET_COOKIE, cookie)]).into_response());
    }
    let (changed, current) = {
        let mut conn = inner.db();
        // Consent and its audit entry are one fact: both are stored or neither.
        let tx = conn.transaction()?;
        let changed = db::accept_consent(&tx, &current.session.id)?;
        if changed {
            // Answering is activity; keepalives were refused until now.
            db::set_last_activity(&tx, &current.session.id, now)?;
            db::audit(&tx, now, &audit)?;
        }
        let current = inner
            .reload(&tx, &current.session.id)?
            .ok_or(AppError::Unauthenticated(None))?;
        tx.commit()?;
        (changed, current)
    };
    let current = still_live(current)?;
    if changed {
        inner.push_view(&current);
    }
    Ok(Json(inner.view(&current)).into_response())
}

/// `POST /api/session/tabs`: each tab is audited as its own recorded sub-session.
pub(crate) async fn register_tab(
    State(state): State<AppState>,
    current: Current,
    JsonBody(req): JsonBody<TabRegistration>,
) -> Result<Response, AppError> {
    if !ids::is_tab_id(&req.tab_id) {
        return Err(AppError::BadRequest(format!(
            "tab_id must match {}",
            ids::TAB_ID_PATTERN
        )));
    }
    if let Some(opener) = &req.opener_tab_id {
        if !ids::is_tab_id(opener) {
            return Err(AppError::BadRequest(format!(
                "opener_tab_id must match {}",
                ids::TAB_ID_PATTERN
            )));
        }
    }
    let inner = &state.inner;
    let now = inner.now();
    let created = {
        let mut conn = inner.db();
        let tx = conn.transaction()?;
        if db::tab_was_ended(&tx, &current.session.id, &req.tab_id)? {
            return Err(AppError::Conflict(
                "An administrator ended this tab; it cannot register again under this id.".into(),
            ));
        }
        let created = db::insert_tab(
            &tx,
            &current.session.id,
            &req.tab_id,
            req.opener_tab_id.as_deref(),
            now,
        )?;
        if created {
            db::audit(
                &tx,
                now,
                &NewAudit {
                    actor_user_id: Some(current.user.id),
                    kind: AuditKind::TabRegistered,
                    session_id: Some(&current.session.id),
                    tab_id: Some(&req.tab_id),
                    detail: json!({ "opener_tab_id": req.opener_tab_id }),
                },
            )?;
        }
        tx.commit()?;
        created
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = TabRegistered {
        tab_id: req.tab_id,
        recording: current.session.recording_required,
    };
    Ok((status, Json(body)).into_response())
}

/// `POST /api/session/tabs/{tab_id}/close`: the tab was closed or left (the guard's
/// beacon on `pagehide`), so it drops out of the live list. `204` whether or not the tab
/// was open: a beacon cannot act on the answer. A tab restored from the back/forward
/// cache registers again and is open again.
pub(crate) async fn close_tab(
    State(state): State<AppState>,
    current: Current,
    PathParam(tab_id): PathParam<String>,
) -> Result<Response, AppError> {
    if !ids::is_tab_id(&tab_id) {
        return Err(AppError::BadRequest(format!(
            "tab_id must match {}",
            ids::TAB_ID_PATTERN
        )));
    }
    let inner = &state.inner;
    let now = inner.now();
    let mut conn = inner.db();
    let tx = conn.transaction()?;
    if db::close_tab(&tx, &current.session.id, &tab_id, now)? {
        db::audit(
            &tx,
            now,
            &NewAudit {
                actor_user_id: Some(current.user.id),
                kind: AuditKind::TabClosed,
                session_id: Some(&current.session.id),
                tab_id: Some(&tab_id),
                detail: json!({}),
            },
        )?;
    }
    tx.commit()?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The JSON data of one event. Strings and numbers always serialize; should that ever
/// fail, an empty `data` is ignored by the guard like any malformed event.
fn event_data(data: &impl serde::Serialize) -> String {
    serde_json::to_string(data).unwrap_or_default()
}

/// `GET /api/session/events`: `terminated` and `session` events, `: ping` every 15 s.
pub(crate) async fn events(
    State(state): State<AppState>,
    ConsentPending(current): ConsentPending,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let inner = &state.inner;
    // Subscribe first, then re-check: an end between the cookie check and the
    // subscription is then either seen here or delivered on the channel.
    let rx = inner.subscribe(&current.session.id);
    let still_live = db::session_by_id(&inner.db(), &current.session.id)?;
    match still_live {
        Some(s) if s.ended_at.is_none() => {}
        Some(s) => {
            return Err(AppError::Unauthenticated(
                s.end_reason.as_deref().and_then(Reason::known),
            ))
        }
        None => return Err(AppError::Unauthenticated(None)),
    }
    let stream = stream::unfold(Some(rx), |rx| async move {
        let mut rx = rx?;
        loop {
            match rx.recv().await {
                Ok(Push::Terminated(reason)) => {
                    let event = Event::default()
                        .event("terminated")
                        .data(event_data(&TerminatedEvent { reason }));
                    // `None` as the next state ends the stream after this event.
                    return Some((Ok(event), None));
                }
                Ok(Push::TabEnded(tab_id)) => {
                    let event =
                        Event::default()
                            .event("tab_ended")
                            .data(event_data(&TabEndedEvent {
                                tab_id: tab_id.to_string(),
                            }));
                    return Some((Ok(event), Some(rx)));
                }
                Ok(Push::Session(view)) => {
                    let event = Event::default().event("session").data(view.to_string());
                    return Some((Ok(event), Some(rx)));
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text(" ping"),
    ))
}
