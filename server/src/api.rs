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
    ActivityRequest, ConsentRequest, LoginRequest, LogoutRequest, SessionQuery, TabEndedEvent,
    TabRegistered, TabRegistration, TerminatedEvent, ACTIVITY_CLAIM_WINDOW, MAX_SESSION_WAIT_MS,
};
use session_guard_contract::{ids, AuditKind};
use tokio::sync::broadcast::error::RecvError;

use crate::auth;
use crate::error::{AppError, Reason};
use crate::extract::{ConsentPending, JsonBody, OptionalJson, PathParam, QueryParam};
use crate::state::{AppState, Current};
use crate::store::sql::NewAudit;
use crate::store::{ConsentOutcome, Push};

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
    let refuse = |user_id: Option<i64>, why: &'static str| {
        let mut detail = json!({ "username": truncate(&req.username, 64), "why": why });
        if let Some(id) = user_id {
            detail["user_id"] = json!(id);
        }
        // No actor: the request proves nobody's identity, whichever account it names.
        NewAudit {
            detail,
            ..NewAudit::of(AuditKind::LoginRefused)
        }
    };
    // Refused before any hashing or database work; the start of each block was audited
    // (`login_throttled`), so a flood of refusals writes nothing more.
    let attempt = inner
        .login_throttle
        .begin(&req.username, client_addr, now)
        .map_err(|(_, ms)| AppError::TooManyRequests(ms))?;
    let oversized =
        req.username.len() > MAX_CREDENTIAL_LEN || req.password.len() > MAX_CREDENTIAL_LEN;
    let username = (!oversized).then(|| req.username.trim());
    let dummy_name = req.username.trim();
    let found = inner
        .store
        .login_user(username, |count| {
            inner.passwords.dummy_index(dummy_name, count)
        })
        .await?;
    let user = found.user;
    let target = match &user {
        Some(u) => auth::Target::Stored(u.password_hash.clone()),
        None => inner.passwords.dummy_like(found.sample_hash.as_deref()),
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
            inner.store.record(&refuse(user_id, why)).await?;
            for (scope, ms) in inner.login_throttle.fail(&attempt, now) {
                inner
                    .store
                    .record(&NewAudit {
                        detail: json!({
                            "username": truncate(&req.username, 64),
                            "throttle": scope.as_str(),
                            "retry_after_ms": ms,
                        }),
                        ..NewAudit::of(AuditKind::LoginThrottled)
                    })
                    .await?;
            }
            return Err(AppError::InvalidCredentials);
        }
    };
    inner.login_throttle.succeed(&attempt);
    drop(attempt);
    if user.suspended {
        inner
            .store
            .record(&refuse(Some(user.id), "suspended"))
            .await?;
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
            inner.store.set_password_hash(user.id, &hash).await?;
        }
    }

    // Rotation: the session this browser held before is replaced, so it ends (as a
    // sign-out) in the transaction that starts the new one.
    let replaced = auth::session_secret(&headers).map(|old| auth::secret_hash(&old));
    let secret = auth::new_secret()?;
    let current = inner
        .store
        .sign_in(
            user,
            auth::new_session_id()?,
            &auth::secret_hash(&secret),
            replaced.as_deref(),
        )
        .await?;
    let cookie = auth::set_cookie(&secret, crate::edge::current().secure);
    Ok(([(SET_COOKIE, cookie)], Json(inner.store.view(&current))).into_response())
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
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
        state
            .inner
            .store
            .sign_out(&auth::secret_hash(&secret), declared)
            .await?;
    }
    let cookie = auth::clear_cookie(crate::edge::current().secure);
    Ok((StatusCode::NO_CONTENT, [(SET_COOKIE, cookie)]).into_response())
}

/// `GET /api/session`, also while consent is pending (the guard learns it must ask).
///
/// With `?wait=<ms>` (the guard's fallback while its push stream is blocked) the request
/// is held on the session's push hub, the one the event stream listens on (fed across
/// instances on PostgreSQL), until the session ends or changes or the wait elapses; then
/// the session is read again and answered as without `wait` (`401 {reason}` once ended).
pub(crate) async fn session(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryParam(query): QueryParam<SessionQuery>,
    ConsentPending(current): ConsentPending,
) -> Result<Response, AppError> {
    let inner = &state.inner;
    let Some(wait) = query.wait.filter(|wait| *wait > 0) else {
        return Ok(Json(inner.store.view(&current)).into_response());
    };
    let wait = Duration::from_millis(wait.min(MAX_SESSION_WAIT_MS));
    // Subscribe first, then re-check: an end between the cookie check and the
    // subscription is then either seen here or delivered on the channel.
    let mut rx = inner.store.subscribe(&current.session.id);
    inner.store.live_or_reason(&current.session.id).await?;
    let changed = async {
        loop {
            match rx.recv().await {
                // Another tab's ending leaves this session and its view as they were.
                Ok(Push::TabEnded(_)) => continue,
                Ok(Push::Terminated(_) | Push::Session(_)) | Err(RecvError::Lagged(_)) => break,
                // The hub is gone (shutting down): answer with what the store says.
                Err(RecvError::Closed) => break,
            }
        }
    };
    // The wait elapsing is an answer too: the session did not change meanwhile.
    let _ = tokio::time::timeout(wait, changed).await;
    let current = inner.authenticate(&headers).await?;
    Ok(Json(inner.store.view(&current)).into_response())
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
    let idle = req.idle_ms.as_millis().clamp(0, inner.store.policy.idle_ms);
    let measured = now.saturating_sub(idle);
    // The client's own reckoning of the instant, in our time, is taken within bounds: never
    // later than measured (that would stretch the session), at most the window before.
    let at = req.last_activity_at.map_or(measured, |claimed| {
        claimed.as_millis().clamp(
            measured.saturating_sub(ACTIVITY_CLAIM_WINDOW.as_millis()),
            measured,
        )
    });
    let current = inner.store.keepalive(current, at).await?;
    Ok(Json(inner.store.view(&current)).into_response())
}

/// `POST /api/session/consent`: accepting records consent and tells the other tabs;
/// declining ends the session with `consent_declined`.
pub(crate) async fn consent(
    State(state): State<AppState>,
    ConsentPending(current): ConsentPending,
    JsonBody(req): JsonBody<ConsentRequest>,
) -> Result<Response, AppError> {
    let store = &state.inner.store;
    match store.answer_consent(&current, req.accepted).await? {
        ConsentOutcome::Ended => {
            let cookie = auth::clear_cookie(crate::edge::current().secure);
            Ok((StatusCode::NO_CONTENT, [(SET_COOKIE, cookie)]).into_response())
        }
        ConsentOutcome::View(current) => Ok(Json(store.view(&current)).into_response()),
    }
}

/// `400` unless `value` (the field `field` of a request) is a tab id by the contract's one
/// rule.
pub(crate) fn check_tab_id(field: &str, value: &str) -> Result<(), AppError> {
    if ids::is_tab_id(value) {
        Ok(())
    } else {
        Err(AppError::BadRequest(format!(
            "{field} must match {}",
            ids::TAB_ID_PATTERN
        )))
    }
}

/// `POST /api/session/tabs`: each tab is audited as its own recorded sub-session.
pub(crate) async fn register_tab(
    State(state): State<AppState>,
    current: Current,
    JsonBody(req): JsonBody<TabRegistration>,
) -> Result<Response, AppError> {
    check_tab_id("tab_id", &req.tab_id)?;
    if let Some(opener) = &req.opener_tab_id {
        check_tab_id("opener_tab_id", opener)?;
    }
    let created = state
        .inner
        .store
        .register_tab(&current, &req.tab_id, req.opener_tab_id.as_deref())
        .await?;
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
    check_tab_id("tab_id", &tab_id)?;
    state.inner.store.close_tab(&current, &tab_id).await?;
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
    let store = &state.inner.store;
    // Subscribe first, then re-check: an end between the cookie check and the
    // subscription is then either seen here or delivered on the channel.
    let rx = store.subscribe(&current.session.id);
    store.live_or_reason(&current.session.id).await?;
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
