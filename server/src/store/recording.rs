//! The recording operations of the store: storing uploaded chunks in order, the server's
//! own record of API requests, the review queries, deleting and the retention purge.

use std::collections::{HashMap, HashSet};

use serde_json::json;
use session_guard_contract::recording::{
    RecordedSession, RecordingDetail, RecordingQuery, CLOSED_TAB_GRACE, LIST_LIMIT,
    MAX_DETAIL_ACTIONS,
};
use session_guard_contract::AuditKind;

use super::sql::recording::{self as rec, ActionRow, NewChunk, TabState};
use super::sql::NewAudit;
use super::Store;
use crate::error::AppError;

/// How an upload was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkOutcome {
    /// Stored now (`201`).
    Stored,
    /// The same content was already stored under this `seq` (`200`, a retry).
    AlreadyStored,
}

/// Whose API request the edge hands to the request log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum RequestSession {
    /// Authentication found this session live, required to be recorded and with consent
    /// given: the fast path, stored without looking anything up.
    Recorded(String),
    /// The request carried a session cookie but authentication did not decide (it never
    /// ran: rejected at the edge or by an extractor before it, an unknown path, sign-out;
    /// or it refused the cookie: a stale one; or consent was still pending): the SHA-256
    /// of the cookie secret, whose session the writer looks up.
    Cookie(String),
}

/// One API request of a session that is (or may be) recorded, as the edge saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeenRequest {
    /// Its session, or the cookie to find it by.
    pub session: RequestSession,
    /// The acting tab the request named (shape-checked, not yet checked against the
    /// session).
    pub tab_id: Option<String>,
    /// When it reached the server: a request looked up by its cookie is its session's
    /// when the session was live then (the request that ends it, sign-out or a deadline
    /// found passed, included).
    pub arrived_at: i64,
    /// When it was answered (what is stored).
    pub at: i64,
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// Tabs known to be registered to their session, so the request log's writer looks each
/// up once instead of once per batch (a registration is never undone: a closed or ended
/// tab stays registered). Bounded: past [`RegisteredTabs::LIMIT`] pairs it starts over.
#[derive(Debug, Default)]
pub(crate) struct RegisteredTabs(HashSet<(String, String)>);

impl RegisteredTabs {
    /// Most pairs kept (a few hundred kilobytes).
    const LIMIT: usize = 4_096;

    fn contains(&self, key: &(String, String)) -> bool {
        self.0.contains(key)
    }

    fn insert(&mut self, key: (String, String)) {
        if self.0.len() >= Self::LIMIT {
            self.0.clear();
        }
        self.0.insert(key);
    }
}

/// Requests of one session that the request log's full queue dropped: how many, and
/// when the first and the last were answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub requests: u64,
    pub from: i64,
    pub until: i64,
}

impl Dropped {
    /// One request, answered at `at`.
    pub fn one(at: i64) -> Self {
        Self {
            requests: 1,
            from: at,
            until: at,
        }
    }

    /// Adds `other`'s requests and widens the span to cover both.
    pub fn merge(&mut self, other: Self) {
        self.requests = self.requests.saturating_add(other.requests);
        self.from = self.from.min(other.from);
        self.until = self.until.max(other.until);
    }
}

/// What one batch of [`Store::record_requests`] looked up: its reader (taken on first
/// use), the sessions of cookies and the tabs found not registered.
#[derive(Default)]
struct Lookup {
    conn: Option<sqlx::pool::PoolConnection<sqlx::Any>>,
    sessions: HashMap<String, Option<(String, Option<i64>)>>,
    unregistered: HashSet<(String, String)>,
}

impl Store {
    /// Stores chunk `chunk.seq` of a tab of `chunk.session_id`, in order: the tab must be
    /// registered to the session (`404`) and neither ended by an administrator nor closed
    /// for longer than [`CLOSED_TAB_GRACE`] (`409`); the same `seq` again is a retry when
    /// its content is the same (`AlreadyStored`) and a conflict when not; a `seq` past the
    /// next expected one is a gap (`409`). Both sequence refusals name the `seq` the tab's
    /// next stored chunk must have ([`AppError::ChunkOutOfSequence`]).
    pub async fn store_chunk(&self, chunk: &NewChunk<'_>) -> Result<ChunkOutcome, AppError> {
        let mut tx = self.begin().await?;
        let now = tx.now;
        match rec::tab_state(tx.conn(), chunk.session_id, chunk.tab_id).await? {
            TabState::Unknown => {
                return Err(AppError::NotFound(
                    "No such tab in this session; register it first.".into(),
                ))
            }
            TabState::Ended => {
                return Err(AppError::Conflict(
                    "An administrator ended this tab; its recording is closed.".into(),
                ))
            }
            TabState::Closed(at) if now.saturating_sub(at) > CLOSED_TAB_GRACE.as_millis() => {
                return Err(AppError::Conflict(
                    "This tab was closed; its recording is closed.".into(),
                ))
            }
            TabState::Closed(_) | TabState::Open => {}
        }
        if let Some(outcome) = same_or_conflict(&mut tx, chunk).await? {
            return Ok(outcome);
        }
        let next = next_seq(&mut tx, chunk).await?;
        if chunk.seq != next {
            return Err(AppError::ChunkOutOfSequence {
                next_seq: next,
                message: format!("Chunks are stored in order: the next one of this tab is {next}."),
            });
        }
        if !rec::insert_chunk(tx.conn(), chunk, now).await? {
            // Another upload of the same seq won the race (PostgreSQL): judge against it.
            if let Some(outcome) = same_or_conflict(&mut tx, chunk).await? {
                return Ok(outcome);
            }
        }
        tx.commit().await?;
        Ok(ChunkOutcome::Stored)
    }

    /// Stores the requests of recorded sessions among `seen` (the others are dropped),
    /// and a gap marker for each recorded session among `dropped`. A
    /// [`RequestSession::Recorded`] request is stored as it is; for a
    /// [`RequestSession::Cookie`] one, the session is the one of the cookie when it
    /// requires recording, consent was given (by the time of the lookup: the consent
    /// answer is recorded) and it was live when the request arrived. The tab is
    /// kept only when registered to that session (`tabs` remembers those, so a batch of
    /// recorded sessions' requests from known tabs looks nothing up). The lookups run on a
    /// reader, the inserts in one short write transaction. Returns how many rows were
    /// stored.
    pub async fn record_requests(
        &self,
        seen: Vec<SeenRequest>,
        dropped: Vec<(RequestSession, Dropped)>,
        tabs: &mut RegisteredTabs,
    ) -> Result<usize, AppError> {
        let mut rows = Vec::with_capacity(seen.len() + dropped.len());
        {
            let mut lookup = Lookup::default();
            for request in seen {
                let Some(mut session_id) = self
                    .resolve(&mut lookup, request.session, request.arrived_at)
                    .await?
                else {
                    continue;
                };
                let mut tab_id = None;
                if let Some(tab) = request.tab_id {
                    let key = (session_id, tab);
                    let registered = if tabs.contains(&key) {
                        true
                    } else if lookup.unregistered.contains(&key) {
                        false
                    } else {
                        let conn = self.lazy_reader(&mut lookup.conn).await?;
                        let found = rec::tab_registered(conn, &key.0, &key.1).await?;
                        if found {
                            tabs.insert(key.clone());
                        } else {
                            lookup.unregistered.insert(key.clone());
                        }
                        found
                    };
                    let (session, tab) = key;
                    session_id = session;
                    tab_id = registered.then_some(tab);
                }
                rows.push(ActionRow {
                    session_id,
                    tab_id,
                    at: request.at,
                    method: request.method,
                    path: request.path,
                    status: request.status,
                    not_recorded: None,
                });
            }
            // A session's gap is one marker, whichever way its lost requests came.
            let mut gaps: HashMap<String, Dropped> = HashMap::new();
            for (session, lost) in dropped {
                if let Some(session_id) = self.resolve(&mut lookup, session, lost.from).await? {
                    gaps.entry(session_id)
                        .and_modify(|gap| gap.merge(lost))
                        .or_insert(lost);
                }
            }
            rows.extend(gaps.into_iter().map(|(session_id, lost)| {
                ActionRow::gap(session_id, lost.requests, (lost.from, lost.until))
            }));
        }
        if rows.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        rec::insert_actions(tx.conn(), &rows).await?;
        tx.commit().await?;
        Ok(rows.len())
    }

    /// The recorded session a request that reached the server at `arrived_at` belongs to:
    /// known, or looked up by its cookie (once per cookie and batch), when it was live
    /// then.
    async fn resolve(
        &self,
        lookup: &mut Lookup,
        session: RequestSession,
        arrived_at: i64,
    ) -> Result<Option<String>, AppError> {
        let secret_hash = match session {
            RequestSession::Recorded(session_id) => return Ok(Some(session_id)),
            RequestSession::Cookie(secret_hash) => secret_hash,
        };
        let found = match lookup.sessions.get(&secret_hash) {
            Some(known) => known.clone(),
            None => {
                let conn = self.lazy_reader(&mut lookup.conn).await?;
                let found = rec::recorded_session_by_token_hash(conn, &secret_hash).await?;
                lookup.sessions.insert(secret_hash, found.clone());
                found
            }
        };
        Ok(found
            .filter(|(_, ended_at)| ended_at.is_none_or(|ended_at| ended_at >= arrived_at))
            .map(|(session_id, _)| session_id))
    }

    /// The reader in `slot`, acquired on first use (a batch that looks nothing up takes
    /// no connection).
    async fn lazy_reader<'c>(
        &self,
        slot: &'c mut Option<sqlx::pool::PoolConnection<sqlx::Any>>,
    ) -> Result<&'c mut super::sql::Conn, AppError> {
        let conn = match slot.take() {
            Some(conn) => conn,
            None => self.reader().await?,
        };
        Ok(&mut **slot.insert(conn))
    }

    /// Recorded sessions matching `query` with their tabs, newest first, at most
    /// [`LIST_LIMIT`].
    pub async fn recordings(
        &self,
        query: &RecordingQuery,
    ) -> Result<Vec<RecordedSession>, AppError> {
        let mut conn = self.reader().await?;
        let limit = i64::try_from(LIST_LIMIT).unwrap_or(i64::MAX);
        let sessions = rec::recorded_sessions(&mut conn, self.backend, query, limit).await?;
        let ids: Vec<String> = sessions.iter().map(|s| s.session_id.clone()).collect();
        let mut tabs = rec::recorded_tabs(&mut conn, &ids).await?;
        Ok(sessions
            .into_iter()
            .map(|session| RecordedSession {
                tabs: tabs.remove(&session.session_id).unwrap_or_default(),
                session,
            })
            .collect())
    }

    /// One tab's recording for a player, audited as `recording_viewed` by `actor` (the
    /// entry is committed before anything is answered).
    pub async fn recording_detail(
        &self,
        actor: i64,
        session_id: &str,
        tab_id: &str,
    ) -> Result<RecordingDetail, AppError> {
        let detail = {
            let mut conn = self.reader().await?;
            let not_found = || AppError::NotFound("No such recording.".into());
            let session = rec::recorded_session(&mut conn, session_id)
                .await?
                .ok_or_else(not_found)?;
            let tab = rec::recorded_tab(&mut conn, session_id, tab_id)
                .await?
                .ok_or_else(not_found)?;
            let chunks = rec::chunk_metas(&mut conn, session_id, tab_id).await?;
            let span = (
                tab.started_at.as_millis(),
                tab.ended_at.map(|at| at.as_millis()),
            );
            let limit = i64::try_from(MAX_DETAIL_ACTIONS).unwrap_or(i64::MAX);
            let actions =
                rec::actions(&mut conn, self.backend, session_id, tab_id, span, limit).await?;
            RecordingDetail {
                session,
                tab,
                chunks,
                actions,
            }
        };
        let mut tx = self.begin().await?;
        tx.audit(&NewAudit {
            actor_user_id: Some(actor),
            kind: AuditKind::RecordingViewed,
            session_id: Some(session_id),
            tab_id: Some(tab_id),
            detail: json!({ "user_id": detail.session.user_id }),
        })
        .await?;
        tx.commit().await?;
        Ok(detail)
    }

    /// The stored bytes (gzip) of one chunk of a recorded session's tab.
    pub async fn recording_chunk(
        &self,
        session_id: &str,
        tab_id: &str,
        seq: u32,
    ) -> Result<Vec<u8>, AppError> {
        let mut conn = self.reader().await?;
        let recorded = rec::recorded_session(&mut conn, session_id)
            .await?
            .is_some();
        let body = if recorded {
            rec::chunk_body(&mut conn, session_id, tab_id, seq).await?
        } else {
            None
        };
        body.ok_or_else(|| AppError::NotFound("No such chunk.".into()))
    }

    /// Deletes one tab's recording (chunks and API actions), audited as
    /// `recording_deleted`. A live tab (open, in a live session) is still being recorded:
    /// `409`.
    pub async fn delete_recording(
        &self,
        actor: i64,
        session_id: &str,
        tab_id: &str,
    ) -> Result<(), AppError> {
        let mut tx = self.begin().await?;
        let not_found = || AppError::NotFound("No such recording.".into());
        let session = rec::recorded_session(tx.conn(), session_id)
            .await?
            .ok_or_else(not_found)?;
        let tab = rec::recorded_tab(tx.conn(), session_id, tab_id)
            .await?
            .ok_or_else(not_found)?;
        if tab.ended_at.is_none() {
            return Err(AppError::Conflict(
                "This tab is still being recorded; end it first.".into(),
            ));
        }
        let deleted = rec::delete_recording(tx.conn(), session_id, tab_id).await?;
        tx.audit(&NewAudit {
            actor_user_id: Some(actor),
            kind: AuditKind::RecordingDeleted,
            session_id: Some(session_id),
            tab_id: Some(tab_id),
            detail: json!({
                "user_id": session.user_id,
                "chunks": deleted.chunks,
                "bytes": deleted.bytes,
                "actions": deleted.actions,
            }),
        })
        .await?;
        tx.commit().await
    }

    /// Deletes the recording of every tab whose sub-session ended before `cutoff`, one
    /// `recording_purged` entry each, and every API action older than `cutoff`, in one
    /// transaction. Returns how many tab recordings went.
    pub async fn purge_recordings_before(&self, cutoff: i64) -> Result<usize, AppError> {
        let mut tx = self.begin().await?;
        let expired = rec::expired_recordings(tx.conn(), cutoff).await?;
        for (session_id, tab_id, user_id) in &expired {
            let deleted = rec::delete_recording(tx.conn(), session_id, tab_id).await?;
            tx.audit(&NewAudit {
                actor_user_id: None,
                kind: AuditKind::RecordingPurged,
                session_id: Some(session_id),
                tab_id: Some(tab_id),
                detail: json!({
                    "user_id": user_id,
                    "before": cutoff,
                    "chunks": deleted.chunks,
                    "bytes": deleted.bytes,
                    "actions": deleted.actions,
                }),
            })
            .await?;
        }
        rec::delete_actions_before(tx.conn(), cutoff).await?;
        tx.commit().await?;
        Ok(expired.len())
    }
}

/// For a `seq` already stored: `AlreadyStored` when the content is the same, `409` when
/// not; `None` when nothing is stored under it.
async fn same_or_conflict(
    tx: &mut super::Tx<'_>,
    chunk: &NewChunk<'_>,
) -> Result<Option<ChunkOutcome>, AppError> {
    match rec::chunk_digest(tx.conn(), chunk.session_id, chunk.tab_id, chunk.seq).await? {
        Some(digest) if digest == chunk.digest => Ok(Some(ChunkOutcome::AlreadyStored)),
        Some(_) => Err(AppError::ChunkOutOfSequence {
            next_seq: next_seq(tx, chunk).await?,
            message: format!(
                "Chunk {} of this tab is already stored with other content.",
                chunk.seq
            ),
        }),
        None => Ok(None),
    }
}

/// The `seq` the tab's next stored chunk must have (one past its last, 0 for none).
async fn next_seq(tx: &mut super::Tx<'_>, chunk: &NewChunk<'_>) -> Result<u32, AppError> {
    let next = rec::next_seq(tx.conn(), chunk.session_id, chunk.tab_id).await?;
    u32::try_from(next).map_err(|_| AppError::Internal(format!("chunk seq out of range: {next}")))
}
