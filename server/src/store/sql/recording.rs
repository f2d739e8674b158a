//! The statements of session recording: uploaded chunks, the server's record of API
//! requests, the review queries and retention.

use std::collections::HashMap;

use session_guard_contract::recording::{
    ChunkMeta, NotRecorded, RecordedAction, RecordedTab, RecordingQuery, RecordingSession, TabEnd,
};
use session_guard_contract::{DurationMs, Reason, ServerTime};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Conn, Result};
use crate::store::Backend;

/// Where a tab stands for an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TabState {
    /// Not registered to the session.
    Unknown,
    /// Registered and open.
    Open,
    /// Closed by its own beacon at this instant (it may register again).
    Closed(i64),
    /// Ended by an administrator: closed for good.
    Ended,
}

/// The state of one tab of one session.
pub async fn tab_state(c: &mut Conn, session_id: &str, tab_id: &str) -> Result<TabState> {
    let row = sqlx::query(
        "SELECT closed_at, ended_by FROM session_tabs WHERE session_id = $1 AND tab_id = $2",
    )
    .bind(session_id)
    .bind(tab_id)
    .fetch_optional(&mut *c)
    .await?;
    let Some(row) = row else {
        return Ok(TabState::Unknown);
    };
    let closed_at: Option<i64> = row.try_get(0)?;
    let ended_by: Option<i64> = row.try_get(1)?;
    Ok(match (closed_at, ended_by) {
        (_, Some(_)) => TabState::Ended,
        (Some(at), None) => TabState::Closed(at),
        (None, None) => TabState::Open,
    })
}

/// One chunk to store.
#[derive(Debug, Clone, Copy)]
pub struct NewChunk<'a> {
    pub session_id: &'a str,
    pub tab_id: &'a str,
    pub seq: u32,
    pub started_at: i64,
    pub ended_at: i64,
    /// SHA-256 (hex) of the decompressed content.
    pub digest: &'a str,
    /// The body as it arrived (gzip).
    pub body: &'a [u8],
}

/// The digest of the stored chunk `seq` of a tab, if there is one.
pub async fn chunk_digest(
    c: &mut Conn,
    session_id: &str,
    tab_id: &str,
    seq: u32,
) -> Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT digest FROM recording_chunks WHERE session_id = $1 AND tab_id = $2 AND seq = $3",
    )
    .bind(session_id)
    .bind(tab_id)
    .bind(i64::from(seq))
    .fetch_optional(&mut *c)
    .await
}

/// The `seq` the tab's next chunk must have: one past the last stored, 0 for none.
pub async fn next_seq(c: &mut Conn, session_id: &str, tab_id: &str) -> Result<i64> {
    sqlx::query_scalar(
        "SELECT COALESCE(MAX(seq) + 1, 0) FROM recording_chunks
         WHERE session_id = $1 AND tab_id = $2",
    )
    .bind(session_id)
    .bind(tab_id)
    .fetch_one(&mut *c)
    .await
}

/// Stores a chunk; false when one with its `seq` is already there (a concurrent upload).
pub async fn insert_chunk(c: &mut Conn, chunk: &NewChunk<'_>, now: i64) -> Result<bool> {
    let size = i64::try_from(chunk.body.len()).unwrap_or(i64::MAX);
    let done = sqlx::query(
        "INSERT INTO recording_chunks
             (session_id, tab_id, seq, started_at, ended_at, stored_at, size, digest, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
    )
    .bind(chunk.session_id)
    .bind(chunk.tab_id)
    .bind(i64::from(chunk.seq))
    .bind(chunk.started_at)
    .bind(chunk.ended_at)
    .bind(now)
    .bind(size)
    .bind(chunk.digest)
    .bind(chunk.body.to_vec())
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// One API request of a recorded session, or a gap marker, to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRow {
    pub session_id: String,
    pub tab_id: Option<String>,
    pub at: i64,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// A gap marker's lost requests (method and path empty, status 0, no tab).
    pub not_recorded: Option<NotRecorded>,
}

impl ActionRow {
    /// The marker of `requests` requests of `session_id` not recorded from `from` to
    /// `until`.
    pub fn gap(session_id: String, requests: u64, (from, until): (i64, i64)) -> Self {
        Self {
            session_id,
            tab_id: None,
            at: from,
            method: String::new(),
            path: String::new(),
            status: 0,
            not_recorded: Some(NotRecorded {
                requests,
                until: ServerTime::from_millis(until),
            }),
        }
    }
}

/// Rows per `INSERT` of actions: far below either database's parameter limit.
const ACTIONS_PER_INSERT: usize = 100;

/// Stores API actions, a hundred rows per statement.
pub async fn insert_actions(c: &mut Conn, rows: &[ActionRow]) -> Result<()> {
    for batch in rows.chunks(ACTIONS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO recording_actions
                 (session_id, tab_id, at, method, path, status, gap_requests, gap_until) VALUES ",
        );
        for i in 0..batch.len() {
            let p = i * 8;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6,
                p + 7,
                p + 8
            ));
        }
        let mut query = sqlx::query(&sql);
        for row in batch {
            query = query
                .bind(row.session_id.as_str())
                .bind(row.tab_id.as_deref())
                .bind(row.at)
                .bind(row.method.as_str())
                .bind(row.path.as_str())
                .bind(i64::from(row.status))
                .bind(
                    row.not_recorded
                        .map(|gap| i64::try_from(gap.requests).unwrap_or(i64::MAX)),
                )
                .bind(row.not_recorded.map(|gap| gap.until.as_millis()));
        }
        query.execute(&mut *c).await?;
    }
    Ok(())
}

/// The session a cookie's secret hash belongs to, when it is recorded (recording required
/// and accepted), with the instant it ended (none while live).
pub async fn recorded_session_by_token_hash(
    c: &mut Conn,
    token_hash: &str,
) -> Result<Option<(String, Option<i64>)>> {
    let row = sqlx::query(
        "SELECT id, ended_at FROM sessions
         WHERE token_hash = $1 AND recording_required <> 0 AND consent = 'accepted'",
    )
    .bind(token_hash)
    .fetch_optional(&mut *c)
    .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}

/// Whether the tab is registered to the session (open or not).
pub async fn tab_registered(c: &mut Conn, session_id: &str, tab_id: &str) -> Result<bool> {
    Ok(tab_state(c, session_id, tab_id).await? != TabState::Unknown)
}

fn session_from_row(r: &AnyRow) -> Result<RecordingSession> {
    let end_reason: Option<String> = r.try_get(6)?;
    Ok(RecordingSession {
        session_id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        username: r.try_get(2)?,
        display_name: r.try_get(3)?,
        started_at: ServerTime::from_millis(r.try_get(4)?),
        ended_at: r.try_get::<Option<i64>, _>(5)?.map(ServerTime::from_millis),
        end_reason: end_reason.as_deref().map(Reason::from_wire),
    })
}

const SESSION_COLUMNS: &str =
    "s.id, s.user_id, u.username, u.display_name, s.issued_at, s.ended_at, s.end_reason";

/// Recorded sessions matching `query`, newest first: those that require recording and
/// are live or still have something recorded.
pub async fn recorded_sessions(
    c: &mut Conn,
    backend: Backend,
    query: &RecordingQuery,
    limit: i64,
) -> Result<Vec<RecordingSession>> {
    let rows = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS}
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.recording_required <> 0
           AND ($1 IS NULL OR s.user_id = $1)
           AND ($2 IS NULL OR s.issued_at >= $2)
           AND ($3 IS NULL OR s.issued_at < $3)
           AND (s.ended_at IS NULL
                OR EXISTS (SELECT 1 FROM recording_chunks k WHERE k.session_id = s.id)
                OR EXISTS (SELECT 1 FROM recording_actions a WHERE a.session_id = s.id))
         ORDER BY s.issued_at DESC, {} DESC LIMIT $4",
        backend.insertion_order("s")
    ))
    .bind(query.user_id)
    .bind(query.from.map(ServerTime::as_millis))
    .bind(query.to.map(ServerTime::as_millis))
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    rows.iter().map(session_from_row).collect()
}

/// One recorded session by id (`None` when unknown or not recorded).
pub async fn recorded_session(c: &mut Conn, session_id: &str) -> Result<Option<RecordingSession>> {
    let row = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS}
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.id = $1 AND s.recording_required <> 0"
    ))
    .bind(session_id)
    .fetch_optional(&mut *c)
    .await?;
    row.as_ref().map(session_from_row).transpose()
}

const TAB_COLUMNS: &str = "t.session_id, t.tab_id, t.opener_tab_id, t.registered_at, t.closed_at,
     t.ended_by, s.ended_at, s.end_reason,
     (SELECT COUNT(*) FROM recording_chunks k
      WHERE k.session_id = t.session_id AND k.tab_id = t.tab_id),
     (SELECT CAST(COALESCE(SUM(k.size), 0) AS BIGINT) FROM recording_chunks k
      WHERE k.session_id = t.session_id AND k.tab_id = t.tab_id),
     (SELECT MIN(k.started_at) FROM recording_chunks k
      WHERE k.session_id = t.session_id AND k.tab_id = t.tab_id),
     (SELECT MAX(k.ended_at) FROM recording_chunks k
      WHERE k.session_id = t.session_id AND k.tab_id = t.tab_id)";

fn tab_from_row(r: &AnyRow) -> Result<RecordedTab> {
    let closed_at: Option<i64> = r.try_get(4)?;
    let ended_by: Option<i64> = r.try_get(5)?;
    let session_ended_at: Option<i64> = r.try_get(6)?;
    let session_reason: Option<String> = r.try_get(7)?;
    let (ended_at, end_reason) = match (closed_at, ended_by, session_ended_at) {
        (Some(at), Some(_), _) => (Some(at), Some(TabEnd::Reason(Reason::TabTerminated))),
        (Some(at), None, _) => (Some(at), Some(TabEnd::Closed)),
        (None, _, Some(at)) => (
            Some(at),
            session_reason
                .as_deref()
                .map(|r| TabEnd::Reason(Reason::from_wire(r))),
        ),
        (None, _, None) => (None, None),
    };
    let first: Option<i64> = r.try_get(10)?;
    let last: Option<i64> = r.try_get(11)?;
    let duration = match (first, last) {
        (Some(first), Some(last)) => last.saturating_sub(first).max(0),
        _ => 0,
    };
    Ok(RecordedTab {
        tab_id: r.try_get(1)?,
        opener_tab_id: r.try_get(2)?,
        started_at: ServerTime::from_millis(r.try_get(3)?),
        ended_at: ended_at.map(ServerTime::from_millis),
        end_reason,
        duration_ms: DurationMs::from_millis(duration),
        chunks: u64::try_from(r.try_get::<i64, _>(8)?).unwrap_or(0),
        bytes: u64::try_from(r.try_get::<i64, _>(9)?).unwrap_or(0),
    })
}

/// The tabs of the given sessions with their recording's size, by session, in
/// registration order.
pub async fn recorded_tabs(
    c: &mut Conn,
    session_ids: &[String],
) -> Result<HashMap<String, Vec<RecordedTab>>> {
    let mut out: HashMap<String, Vec<RecordedTab>> = HashMap::new();
    if session_ids.is_empty() {
        return Ok(out);
    }
    let params: Vec<String> = (1..=session_ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {TAB_COLUMNS}
         FROM session_tabs t JOIN sessions s ON s.id = t.session_id
         WHERE t.session_id IN ({})
         ORDER BY t.registered_at, t.tab_id",
        params.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for id in session_ids {
        query = query.bind(id.as_str());
    }
    for row in query.fetch_all(&mut *c).await? {
        let session_id: String = row.try_get(0)?;
        out.entry(session_id).or_default().push(tab_from_row(&row)?);
    }
    Ok(out)
}

/// One tab with its recording's size.
pub async fn recorded_tab(
    c: &mut Conn,
    session_id: &str,
    tab_id: &str,
) -> Result<Option<RecordedTab>> {
    let row = sqlx::query(&format!(
        "SELECT {TAB_COLUMNS}
         FROM session_tabs t JOIN sessions s ON s.id = t.session_id
         WHERE t.session_id = $1 AND t.tab_id = $2"
    ))
    .bind(session_id)
    .bind(tab_id)
    .fetch_optional(&mut *c)
    .await?;
    row.as_ref().map(tab_from_row).transpose()
}

/// The stored chunks of a tab, in order.
pub async fn chunk_metas(c: &mut Conn, session_id: &str, tab_id: &str) -> Result<Vec<ChunkMeta>> {
    let rows = sqlx::query(
        "SELECT seq, started_at, ended_at, size FROM recording_chunks
         WHERE session_id = $1 AND tab_id = $2 ORDER BY seq",
    )
    .bind(session_id)
    .bind(tab_id)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ChunkMeta {
                seq: u32::try_from(r.try_get::<i64, _>(0)?).unwrap_or(u32::MAX),
                started_at: ServerTime::from_millis(r.try_get(1)?),
                ended_at: ServerTime::from_millis(r.try_get(2)?),
                bytes: u64::try_from(r.try_get::<i64, _>(3)?).unwrap_or(0),
            })
        })
        .collect()
}

/// The stored bytes (gzip) of one chunk.
pub async fn chunk_body(
    c: &mut Conn,
    session_id: &str,
    tab_id: &str,
    seq: u32,
) -> Result<Option<Vec<u8>>> {
    sqlx::query_scalar(
        "SELECT body FROM recording_chunks WHERE session_id = $1 AND tab_id = $2 AND seq = $3",
    )
    .bind(session_id)
    .bind(tab_id)
    .bind(i64::from(seq))
    .fetch_optional(&mut *c)
    .await
}

/// The session's API actions from `tab_id` or naming no tab, from `from` to `to`
/// (inclusive; open-ended without `to`), oldest first, at most `limit`.
pub async fn actions(
    c: &mut Conn,
    backend: Backend,
    session_id: &str,
    tab_id: &str,
    (from, to): (i64, Option<i64>),
    limit: i64,
) -> Result<Vec<RecordedAction>> {
    let rows = sqlx::query(&format!(
        "SELECT at, method, path, status, tab_id, gap_requests, gap_until
         FROM recording_actions
         WHERE session_id = $1 AND (tab_id = $2 OR tab_id IS NULL)
           AND at >= $3 AND ($4 IS NULL OR at <= $4)
         ORDER BY at, {} LIMIT $5",
        backend.insertion_column()
    ))
    .bind(session_id)
    .bind(tab_id)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RecordedAction {
                at: ServerTime::from_millis(r.try_get(0)?),
                method: r.try_get(1)?,
                path: r.try_get(2)?,
                status: u16::try_from(r.try_get::<i64, _>(3)?).unwrap_or(0),
                tab_id: r.try_get(4)?,
                not_recorded: match (r.try_get::<Option<i64>, _>(5)?, r.try_get(6)?) {
                    (Some(requests), Some(until)) => Some(NotRecorded {
                        requests: u64::try_from(requests).unwrap_or(0),
                        until: ServerTime::from_millis(until),
                    }),
                    _ => None,
                },
            })
        })
        .collect()
}

/// What deleting one tab's recording removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    pub chunks: u64,
    pub bytes: u64,
    pub actions: u64,
}

/// Deletes one tab's chunks and API actions.
pub async fn delete_recording(c: &mut Conn, session_id: &str, tab_id: &str) -> Result<Deleted> {
    let bytes: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM recording_chunks
         WHERE session_id = $1 AND tab_id = $2",
    )
    .bind(session_id)
    .bind(tab_id)
    .fetch_one(&mut *c)
    .await?;
    let chunks = sqlx::query("DELETE FROM recording_chunks WHERE session_id = $1 AND tab_id = $2")
        .bind(session_id)
        .bind(tab_id)
        .execute(&mut *c)
        .await?
        .rows_affected();
    let actions =
        sqlx::query("DELETE FROM recording_actions WHERE session_id = $1 AND tab_id = $2")
            .bind(session_id)
            .bind(tab_id)
            .execute(&mut *c)
            .await?
            .rows_affected();
    Ok(Deleted {
        chunks,
        bytes: u64::try_from(bytes).unwrap_or(0),
        actions,
    })
}

/// Tabs whose sub-session ended before `cutoff` (closed, ended by an administrator, or
/// with their session) and that still have a recording: `(session_id, tab_id, user_id)`.
pub async fn expired_recordings(c: &mut Conn, cutoff: i64) -> Result<Vec<(String, String, i64)>> {
    let rows = sqlx::query(
        "SELECT t.session_id, t.tab_id, s.user_id
         FROM session_tabs t JOIN sessions s ON s.id = t.session_id
         WHERE COALESCE(t.closed_at, s.ended_at) < $1
           AND (EXISTS (SELECT 1 FROM recording_chunks k
                        WHERE k.session_id = t.session_id AND k.tab_id = t.tab_id)
                OR EXISTS (SELECT 1 FROM recording_actions a
                           WHERE a.session_id = t.session_id AND a.tab_id = t.tab_id))
         ORDER BY t.session_id, t.tab_id",
    )
    .bind(cutoff)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

/// Deletes every API action recorded before `cutoff` (also those naming no tab).
pub async fn delete_actions_before(c: &mut Conn, cutoff: i64) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM recording_actions WHERE at < $1")
        .bind(cutoff)
        .execute(&mut *c)
        .await?
        .rows_affected())
}
