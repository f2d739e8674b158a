//! Session recording (contract "Session recording"): the chunk a tab uploads, the answer,
//! and the admin API's recordings list, detail, chunk metadata and server-side API actions.
//!
//! A chunk is read only through validation: [`RecordingChunk::from_json_slice`], serde, or
//! `TryFrom<`[`RawRecordingChunk`]`>` all check the same rules, so a value of this type
//! parsed from untrusted bytes always satisfies the contract. The rrweb events themselves
//! are kept as the JSON text that arrived ([`RawValue`]): the server stores the chunk's
//! bytes as they came and never rebuilds them, and the guard can embed the recorder's JSON
//! without parsing it into a tree.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::ids;
use crate::reason::Reason;
use crate::time::{DurationMs, ServerTime};

/// The request header naming the tab a request comes from. It is the contract's one
/// acting-tab header (`X-Session-Guard-Tab`, [`crate::api::TAB_HEADER`]); the recording
/// design's "`X-SG-Tab`" is this header, so the audit log and the API request recording
/// read the same value. The server uses it only when the tab is registered to the session
/// of the request's cookie.
pub const TAB_HEADER: &str = crate::api::TAB_HEADER;

/// The recording format of every chunk: rrweb's `eventWithTime` objects.
pub const FORMAT: &str = "rrweb";
/// The version of the chunk envelope and of what the recorder puts in it (masking, the
/// custom events). A change either side must follow bumps it.
pub const FORMAT_VERSION: u32 = 1;

/// Largest chunk body on the wire (gzip-compressed): 512 KiB; more is `413`.
pub const MAX_CHUNK_COMPRESSED_BYTES: usize = 512 * 1024;
/// Largest chunk once decompressed: 8 MiB; the server stops decompressing there (`413`),
/// so a small body that inflates without end (a "zip bomb") costs it nothing more.
pub const MAX_CHUNK_DECOMPRESSED_BYTES: usize = 8 * 1024 * 1024;
/// Most recorded sessions `GET /api/admin/recordings` answers with (newest first).
pub const LIST_LIMIT: usize = 200;
/// Most server-side API actions one recording detail lists (oldest first).
pub const MAX_DETAIL_ACTIONS: usize = 10_000;
/// How long after its tab closed (its `pagehide` beacon) a chunk may still arrive: the
/// guard sends the last chunk and the beacon together as the tab goes, and either may
/// arrive first. Later uploads to a closed tab are `409`; to a tab an administrator ended,
/// at once.
pub const CLOSED_TAB_GRACE: DurationMs = DurationMs::from_millis(10_000);
/// The `Content-Type` of a chunk upload.
pub const CHUNK_CONTENT_TYPE: &str = "application/gzip";

/// The scope that opens the recordings list, details and chunks (viewing is audited).
pub const READ_SCOPE: &str = "recordings:read";
/// The scope that lets an administrator delete one tab's recording (audited).
pub const DELETE_SCOPE: &str = "recordings:delete";

/// The path a tab uploads chunk `seq` to: `POST /api/session/tabs/{tab_id}/recording/{seq}`.
pub fn upload_path(tab_id: &str, seq: u32) -> String {
    // Written without `format!`: the guard builds it for every chunk, and its page then
    // carries no integer formatting for it.
    let mut path = String::from("/api/session/tabs/");
    path.push_str(tab_id);
    path.push_str("/recording/");
    crate::json::push_int(&mut path, i64::from(seq));
    path
}

/// The admin path of one tab's recording detail (and of its `DELETE`).
pub fn admin_tab_path(session_id: &str, tab_id: &str) -> String {
    format!("/api/admin/recordings/{session_id}/tabs/{tab_id}")
}

/// The admin path of one stored chunk (answered gzip-encoded).
pub fn admin_chunk_path(session_id: &str, tab_id: &str, seq: u32) -> String {
    format!("{}/chunks/{seq}", admin_tab_path(session_id, tab_id))
}

/// One uploaded piece of a tab's recording: the body of
/// `POST /api/session/tabs/{tab_id}/recording/{seq}`, gzip-compressed UTF-8 JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawRecordingChunk")]
pub struct RecordingChunk {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Position of the chunk in the tab's recording, from 0; equal to the path's.
    pub seq: u32,
    /// The recording tab ([`ids::is_tab_id`]); equal to the path's.
    pub tab_id: String,
    /// When the first event of the chunk happened, on the server's clock (the guard
    /// converts with its clock offset).
    pub started_at: ServerTime,
    /// When the last event happened, server clock; never before `started_at`.
    pub ended_at: ServerTime,
    /// The guard's estimate of server time minus its local time when it cut the chunk:
    /// added to an event's local `timestamp` it gives server time, which lines the events
    /// up with the server's API actions.
    pub clock_offset_ms: DurationMs,
    /// rrweb `eventWithTime` objects (`{"type", "data", "timestamp", ...}`), each kept as
    /// the JSON text that arrived; every one is a JSON object.
    pub events: Vec<Box<RawValue>>,
}

impl PartialEq for RecordingChunk {
    fn eq(&self, other: &Self) -> bool {
        self.format == other.format
            && self.format_version == other.format_version
            && self.seq == other.seq
            && self.tab_id == other.tab_id
            && self.started_at == other.started_at
            && self.ended_at == other.ended_at
            && self.clock_offset_ms == other.clock_offset_ms
            && self.events.len() == other.events.len()
            && self
                .events
                .iter()
                .zip(&other.events)
                .all(|(a, b)| a.get() == b.get())
    }
}

/// A chunk exactly as it arrived, before any rule was checked. Only
/// [`RecordingChunk`]'s `TryFrom` turns it into a chunk.
#[derive(Debug, Deserialize)]
pub struct RawRecordingChunk {
    format: String,
    format_version: u32,
    seq: u32,
    tab_id: String,
    started_at: ServerTime,
    ended_at: ServerTime,
    clock_offset_ms: DurationMs,
    events: Vec<Box<RawValue>>,
}

/// Why a chunk was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// The bytes were not JSON of the chunk's shape (or `events` was not an array).
    #[error("malformed recording chunk: {0}")]
    Json(#[from] serde_json::Error),
    /// The chunk parsed but breaks a rule of the contract.
    #[error("invalid recording chunk: {0}")]
    Invalid(&'static str),
}

impl RecordingChunk {
    /// Parses and validates decompressed chunk bytes (see the `TryFrom<RawRecordingChunk>`).
    pub fn from_json_slice(bytes: &[u8]) -> Result<RecordingChunk, ChunkError> {
        let raw: RawRecordingChunk = serde_json::from_slice(bytes)?;
        RecordingChunk::try_from(raw)
    }

    /// Whether the chunk is the one the upload path names.
    pub fn is_at(&self, tab_id: &str, seq: u32) -> bool {
        self.tab_id == tab_id && self.seq == seq
    }
}

impl TryFrom<RawRecordingChunk> for RecordingChunk {
    type Error = ChunkError;

    fn try_from(raw: RawRecordingChunk) -> Result<Self, ChunkError> {
        let invalid = |what| Err(ChunkError::Invalid(what));
        if raw.format != FORMAT {
            return invalid("format must be \"rrweb\"");
        }
        if raw.format_version != FORMAT_VERSION {
            return invalid("format_version must be 1");
        }
        if !ids::is_tab_id(&raw.tab_id) {
            return invalid("tab_id must match ^[A-Za-z0-9_-]{8,64}$");
        }
        if raw.started_at.as_millis() < 0 {
            return invalid("started_at must be epoch milliseconds");
        }
        if raw.ended_at < raw.started_at {
            return invalid("ended_at must not be before started_at");
        }
        if !raw.events.iter().all(|e| e.get().starts_with('{')) {
            return invalid("every event must be a JSON object");
        }
        Ok(RecordingChunk {
            format: raw.format,
            format_version: raw.format_version,
            seq: raw.seq,
            tab_id: raw.tab_id,
            started_at: raw.started_at,
            ended_at: raw.ended_at,
            clock_offset_ms: raw.clock_offset_ms,
            events: raw.events,
        })
    }
}

/// The answer to a chunk upload: `201` stored now, `200` the same bytes were already
/// stored under this `seq` (a retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkStored {
    /// The chunk's position.
    pub seq: u32,
}

/// How a tab's recorded sub-session ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TabEnd {
    /// The tab was closed or left (its `pagehide` beacon): `tab_closed`.
    Closed,
    /// The session ended (the session's reason), or an administrator ended this one tab
    /// ([`Reason::TabTerminated`], `tab_terminated`).
    Reason(Reason),
}

impl TabEnd {
    /// The wire name of a closed tab.
    pub const CLOSED: &'static str = "tab_closed";

    /// The wire name: `tab_closed` or the reason's.
    pub fn wire_name(&self) -> &str {
        match self {
            Self::Closed => Self::CLOSED,
            Self::Reason(reason) => reason.wire_name(),
        }
    }

    /// Reads a wire name (an unknown one becomes a sanitized [`Reason::Other`]).
    pub fn from_wire(s: &str) -> Self {
        if s == Self::CLOSED {
            Self::Closed
        } else {
            Self::Reason(Reason::from_wire(s))
        }
    }
}

impl fmt::Display for TabEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name())
    }
}

impl Serialize for TabEnd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.wire_name())
    }
}

impl<'de> Deserialize<'de> for TabEnd {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(Self::from_wire(&text))
    }
}

/// A recorded session as the admin API names it (without its tabs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingSession {
    /// Public session id.
    pub session_id: String,
    /// Whose session it is (id).
    pub user_id: i64,
    /// Their login name.
    pub username: String,
    /// Their display name.
    pub display_name: String,
    /// Sign-in time.
    pub started_at: ServerTime,
    /// When the session ended; `None` while live.
    pub ended_at: Option<ServerTime>,
    /// Why it ended; `None` while live.
    pub end_reason: Option<Reason>,
}

/// One tab's recorded sub-session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedTab {
    /// The tab's id.
    pub tab_id: String,
    /// The tab of the same session it was opened from, if any.
    pub opener_tab_id: Option<String>,
    /// When it registered.
    pub started_at: ServerTime,
    /// When it ended (closed, ended by an administrator, or with its session); `None`
    /// while live.
    pub ended_at: Option<ServerTime>,
    /// How it ended; `None` while live.
    pub end_reason: Option<TabEnd>,
    /// From the first chunk's `started_at` to the last chunk's `ended_at` (0 without
    /// chunks).
    pub duration_ms: DurationMs,
    /// Stored bytes (compressed) of its chunks.
    pub bytes: u64,
    /// How many chunks are stored.
    pub chunks: u64,
}

/// One item of `GET /api/admin/recordings`: a recorded session and its tabs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedSession {
    /// The session.
    #[serde(flatten)]
    pub session: RecordingSession,
    /// Its tabs, in registration order.
    pub tabs: Vec<RecordedTab>,
}

/// One stored chunk of a tab's recording (the chunk itself is
/// `GET /api/admin/recordings/{session_id}/tabs/{tab_id}/chunks/{seq}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkMeta {
    /// Its position, from 0.
    pub seq: u32,
    /// Its first event, server clock.
    pub started_at: ServerTime,
    /// Its last event, server clock.
    pub ended_at: ServerTime,
    /// Stored (compressed) size.
    pub bytes: u64,
}

/// One API request of the session, recorded by the server on its own; or, with
/// [`not_recorded`](Self::not_recorded), a gap marker where requests went unrecorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedAction {
    /// When the server answered it (a gap marker: the first request not recorded).
    pub at: ServerTime,
    /// HTTP method (empty in a gap marker).
    pub method: String,
    /// Path, without the query (empty in a gap marker).
    pub path: String,
    /// The answer's status code (0 in a gap marker).
    pub status: u16,
    /// The tab that sent it ([`TAB_HEADER`]), when registered to the session (none in a
    /// gap marker: which tabs sent the lost requests is not known).
    pub tab_id: Option<String>,
    /// Only in a gap marker: the session's requests the server answered but could not
    /// record (its request log was full), absent in a recorded request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_recorded: Option<NotRecorded>,
}

/// Requests of a session the server answered but did not record, from the marker's `at`
/// to `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotRecorded {
    /// How many.
    pub requests: u64,
    /// When the server answered the last of them.
    pub until: ServerTime,
}

impl NotRecorded {
    /// What a player says at the gap: "12 API requests not recorded".
    pub fn describe(&self) -> String {
        let plural = if self.requests == 1 { "" } else { "s" };
        format!("{} API request{plural} not recorded", self.requests)
    }
}

/// `GET /api/admin/recordings/{session_id}/tabs/{tab_id}`: what a player needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingDetail {
    /// The session.
    pub session: RecordingSession,
    /// The tab.
    pub tab: RecordedTab,
    /// Its chunks in order.
    pub chunks: Vec<ChunkMeta>,
    /// The session's API requests from this tab or naming no tab, during the tab's
    /// lifetime, oldest first (at most [`MAX_DETAIL_ACTIONS`]).
    pub actions: Vec<RecordedAction>,
}

/// The query of `GET /api/admin/recordings`; every filter optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingQuery {
    /// Only this user's sessions.
    #[serde(default)]
    pub user_id: Option<i64>,
    /// Only sessions that started at or after this instant.
    #[serde(default)]
    pub from: Option<ServerTime>,
    /// Only sessions that started before this instant.
    #[serde(default)]
    pub to: Option<ServerTime>,
}

impl RecordingQuery {
    /// The query string (without `?`) of the filters that are set.
    pub fn to_query_string(&self) -> String {
        [
            ("user_id", self.user_id),
            ("from", self.from.map(ServerTime::as_millis)),
            ("to", self.to.map(ServerTime::as_millis)),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|value| format!("{name}={value}")))
        .collect::<Vec<_>>()
        .join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"format":"rrweb","format_version":1,"seq":3,"tab_id":"tab_0000",
        "started_at":1764000000000,"ended_at":1764000005000,"clock_offset_ms":-250,
        "events":[{"type":4,"data":{"href":"/admin","width":1280,"height":720},"timestamp":1764000000250},
                  {"type":2,"data":{},"timestamp":1764000000251}]}"#;

    fn with(field: &str, value: &str) -> String {
        let mut json: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        json[field] = serde_json::from_str(value).unwrap();
        json.to_string()
    }

    #[test]
    fn parses_and_round_trips_the_example() {
        let chunk = RecordingChunk::from_json_slice(EXAMPLE.as_bytes()).unwrap();
        assert!(chunk.is_at("tab_0000", 3));
        assert!(!chunk.is_at("tab_0000", 4));
        assert!(!chunk.is_at("tab_0001", 3));
        assert_eq!(chunk.clock_offset_ms, DurationMs::from_millis(-250));
        assert_eq!(chunk.events.len(), 2);
        // Events are kept as the text that arrived.
        assert!(chunk.events[0].get().contains(r#""href":"/admin""#));
        let text = serde_json::to_string(&chunk).unwrap();
        let again: RecordingChunk = serde_json::from_str(&text).unwrap();
        assert_eq!(again, chunk);
    }

    #[test]
    fn rejects_contract_violations() {
        for (field, value) in [
            ("format", r#""rrweb2""#),
            ("format_version", "2"),
            ("seq", "-1"),
            ("seq", "4294967296"),
            ("tab_id", r#""short""#),
            ("tab_id", r#""tab/../x0""#),
            ("started_at", "-1"),
            ("ended_at", "1763999999999"),
            ("events", r#"{"type":2}"#),
            ("events", r#"[1, 2]"#),
            ("events", r#"[[]]"#),
            ("clock_offset_ms", "1.5"),
        ] {
            let text = with(field, value);
            assert!(
                RecordingChunk::from_json_slice(text.as_bytes()).is_err(),
                "{field}={value} was accepted"
            );
            assert!(
                serde_json::from_str::<RecordingChunk>(&text).is_err(),
                "{field}={value} was accepted by serde"
            );
        }
        assert!(matches!(
            RecordingChunk::from_json_slice(b"\x1f\x8b not json"),
            Err(ChunkError::Json(_))
        ));
        assert!(matches!(
            RecordingChunk::from_json_slice(with("format_version", "2").as_bytes()),
            Err(ChunkError::Invalid(_))
        ));
        // An empty chunk is valid (a tab that saw nothing for a while).
        assert!(RecordingChunk::from_json_slice(with("events", "[]").as_bytes()).is_ok());
    }

    #[test]
    fn tab_ends_have_wire_names() {
        assert_eq!(TabEnd::Closed.wire_name(), "tab_closed");
        assert_eq!(
            TabEnd::Reason(Reason::TabTerminated).wire_name(),
            "tab_terminated"
        );
        for end in [
            TabEnd::Closed,
            TabEnd::Reason(Reason::TabTerminated),
            TabEnd::Reason(Reason::IdleTimeout),
        ] {
            let json = serde_json::to_string(&end).unwrap();
            assert_eq!(json, format!("\"{end}\""));
            assert_eq!(serde_json::from_str::<TabEnd>(&json).unwrap(), end);
        }
    }

    #[test]
    fn paths_and_queries() {
        assert_eq!(
            upload_path("tab_0000", 7),
            "/api/session/tabs/tab_0000/recording/7"
        );
        assert_eq!(
            admin_chunk_path("ses_1", "tab_0000", 2),
            "/api/admin/recordings/ses_1/tabs/tab_0000/chunks/2"
        );
        assert_eq!(RecordingQuery::default().to_query_string(), "");
        let query = RecordingQuery {
            user_id: Some(4),
            from: Some(ServerTime::from_millis(10)),
            to: Some(ServerTime::from_millis(20)),
        };
        assert_eq!(query.to_query_string(), "user_id=4&from=10&to=20");
        assert_eq!(TAB_HEADER, crate::api::TAB_HEADER);
    }
}
