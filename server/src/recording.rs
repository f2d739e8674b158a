//! Session recording endpoints (contract "Session recording"): a tab's chunk upload, and
//! the admin API that lists, shows, serves and deletes recordings.

use std::io::Read as _;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use flate2::read::GzDecoder;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use session_guard_contract::ids;
use session_guard_contract::recording::{
    ChunkStored, RecordingChunk, RecordingQuery, MAX_CHUNK_COMPRESSED_BYTES,
    MAX_CHUNK_DECOMPRESSED_BYTES,
};
use sha2::{Digest, Sha256};

use crate::api::check_tab_id;
use crate::error::AppError;
use crate::extract::{PathParam, QueryParam, RecordingsDeleter, RecordingsReader};
use crate::state::{AppState, Current};
use crate::store::sql::recording::NewChunk;
use crate::store::ChunkOutcome;

fn check_session_id(session_id: &str) -> Result<(), AppError> {
    if ids::is_session_id(session_id) {
        Ok(())
    } else {
        Err(AppError::BadRequest(format!(
            "session_id must match {}",
            ids::SESSION_ID_PATTERN
        )))
    }
}

/// Why a body could not be inflated.
#[derive(Debug, PartialEq, Eq)]
enum Inflate {
    /// It inflates past `limit` bytes.
    TooLarge,
    /// It is not gzip (or is truncated or corrupt).
    NotGzip,
}

/// Inflates a gzip body, reading at most one byte past `limit`: however much the body
/// claims to hold, no more than that is ever produced.
fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, Inflate> {
    let bound = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    GzDecoder::new(body)
        .take(bound)
        .read_to_end(&mut out)
        .map_err(|_| Inflate::NotGzip)?;
    if out.len() > limit {
        return Err(Inflate::TooLarge);
    }
    Ok(out)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `POST /api/session/tabs/{tab_id}/recording/{seq}`: one gzip chunk of a tab's
/// recording. The edge already refused a wrong `Content-Type` (`415`) and a declared
/// length over the limit; here the body is read up to the limit, inflated up to its own
/// limit (off the async runtime), validated against the path and stored in order.
pub(crate) async fn upload_chunk(
    State(state): State<AppState>,
    current: Current,
    PathParam((tab_id, seq)): PathParam<(String, u32)>,
    body: Body,
) -> Result<Response, AppError> {
    if !current.session.recording_required {
        return Err(AppError::Forbidden);
    }
    check_tab_id("tab_id", &tab_id)?;
    let compressed = match Limited::new(body, MAX_CHUNK_COMPRESSED_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => return Err(AppError::PayloadTooLarge),
        Err(_) => {
            return Err(AppError::BadRequest(
                "The request body could not be read.".into(),
            ))
        }
    };
    let inflating = compressed.clone();
    let json =
        tokio::task::spawn_blocking(move || gunzip(&inflating, MAX_CHUNK_DECOMPRESSED_BYTES))
            .await
            .map_err(|e| AppError::Internal(format!("inflate task: {e}")))?
            .map_err(|e| match e {
                Inflate::TooLarge => AppError::PayloadTooLarge,
                Inflate::NotGzip => AppError::BadRequest("The body must be gzip.".into()),
            })?;
    let chunk =
        RecordingChunk::from_json_slice(&json).map_err(|e| AppError::BadRequest(e.to_string()))?;
    if !chunk.is_at(&tab_id, seq) {
        return Err(AppError::BadRequest(
            "The chunk's tab_id and seq must be those of the path.".into(),
        ));
    }
    let digest = sha256_hex(&json);
    let outcome = state
        .inner
        .store
        .store_chunk(&NewChunk {
            session_id: &current.session.id,
            tab_id: &tab_id,
            seq,
            started_at: chunk.started_at.as_millis(),
            ended_at: chunk.ended_at.as_millis(),
            digest: &digest,
            body: &compressed,
        })
        .await?;
    let status = match outcome {
        ChunkOutcome::Stored => StatusCode::CREATED,
        ChunkOutcome::AlreadyStored => StatusCode::OK,
    };
    Ok((status, Json(ChunkStored { seq })).into_response())
}

/// `GET /api/admin/recordings?user_id=&from=&to=`.
pub(crate) async fn list(
    State(state): State<AppState>,
    RecordingsReader(_): RecordingsReader,
    QueryParam(query): QueryParam<RecordingQuery>,
) -> Result<Response, AppError> {
    Ok(Json(state.inner.store.recordings(&query).await?).into_response())
}

/// `GET /api/admin/recordings/{session_id}/tabs/{tab_id}`: audited as `recording_viewed`.
pub(crate) async fn detail(
    State(state): State<AppState>,
    RecordingsReader(admin): RecordingsReader,
    PathParam((session_id, tab_id)): PathParam<(String, String)>,
) -> Result<Response, AppError> {
    check_session_id(&session_id)?;
    check_tab_id("tab_id", &tab_id)?;
    let detail = state
        .inner
        .store
        .recording_detail(admin.user.id, &session_id, &tab_id)
        .await?;
    Ok(Json(detail).into_response())
}

/// `GET /api/admin/recordings/{session_id}/tabs/{tab_id}/chunks/{seq}`: the stored gzip
/// bytes, labelled so that the browser inflates them itself.
pub(crate) async fn chunk(
    State(state): State<AppState>,
    RecordingsReader(_): RecordingsReader,
    PathParam((session_id, tab_id, seq)): PathParam<(String, String, u32)>,
) -> Result<Response, AppError> {
    check_session_id(&session_id)?;
    check_tab_id("tab_id", &tab_id)?;
    let body = state
        .inner
        .store
        .recording_chunk(&session_id, &tab_id, seq)
        .await?;
    Ok((
        [
            (CONTENT_TYPE, "application/json"),
            (CONTENT_ENCODING, "gzip"),
            (CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

/// `DELETE /api/admin/recordings/{session_id}/tabs/{tab_id}`: audited as
/// `recording_deleted`; a live tab is `409`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    RecordingsDeleter(admin): RecordingsDeleter,
    PathParam((session_id, tab_id)): PathParam<(String, String)>,
) -> Result<Response, AppError> {
    check_session_id(&session_id)?;
    check_tab_id("tab_id", &tab_id)?;
    state
        .inner
        .store
        .delete_recording(admin.user.id, &session_id, &tab_id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).expect("write");
        encoder.finish().expect("finish")
    }

    #[test]
    fn inflation_stops_at_the_limit() {
        let text = b"{\"a\":1}";
        assert_eq!(gunzip(&gzip(text), 64), Ok(text.to_vec()));
        assert_eq!(gunzip(&gzip(text), text.len()), Ok(text.to_vec()));
        assert_eq!(gunzip(&gzip(text), text.len() - 1), Err(Inflate::TooLarge));
        // A small body that inflates to far more than the limit is cut off there.
        let bomb = gzip(&vec![0u8; 64 * 1024 * 1024]);
        assert!(bomb.len() < 128 * 1024, "{}", bomb.len());
        assert_eq!(gunzip(&bomb, 1024), Err(Inflate::TooLarge));
        assert_eq!(gunzip(b"{\"a\":1}", 64), Err(Inflate::NotGzip));
        let whole = gzip(text);
        assert_eq!(gunzip(&whole[..whole.len() - 4], 64), Err(Inflate::NotGzip));
    }
}
