//! Session recording in one tab, sans-IO: when the recorder runs, how its events are cut
//! into chunks, and how the chunks reach the server (in order, one at a time, retried with
//! back-off, nothing dropped), and what the tab shows meanwhile ([`RecordingStatus`]).
//!
//! The recorder itself (rrweb, in the browser layer) hands over its events in batches
//! ([`RecorderBatch`]) as JSON text it wrote itself: the engine never parses them, it only
//! joins them into the chunk body of `docs/CONTRACT.md` ("Session recording", the
//! contract's `RecordingChunk`).
//!
//! Fail closed: when the session requires recording and this tab has not been capturing and
//! delivering for longer than [`RecordingLimits::stall_limit`], or holds more undelivered
//! bytes than [`RecordingLimits::buffer_limit`], the status is [`RecordingStatus::Blocked`]
//! and the protected content is hidden until delivery resumes.

use std::collections::VecDeque;

use super::engine::Effect;
use super::time::ClockOffset;
use super::{DurationMs, LocalTime, ServerTime};

use session_guard_contract::json::ObjectWriter;
use session_guard_contract::recording::{FORMAT, FORMAT_VERSION};

/// A chunk is cut at most this long after its first event arrived (the default of
/// [`RecordingLimits::chunk_span`])...
pub const CHUNK_SPAN: DurationMs = DurationMs::from_millis(5_000);
/// ...or as soon as its events reach this many bytes of JSON, whichever comes first. A
/// single batch larger than this (a full snapshot of a large page) makes one chunk alone.
pub const CHUNK_BYTES: usize = 256 * 1024;
/// The first wait before an upload or a recorder start is tried again; each failure in a
/// row doubles it, up to [`MAX_RETRY_DELAY`].
pub const FIRST_RETRY_DELAY: DurationMs = DurationMs::from_millis(500);
/// The longest wait between two tries: well inside the default stall limit, so a network
/// blip costs at most this long once the network is back.
pub const MAX_RETRY_DELAY: DurationMs = DurationMs::from_millis(5_000);

/// The fail-closed bounds of recording (options of the guard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingLimits {
    /// How long the tab may go without capturing and delivering before the protected
    /// content is hidden (default 30 s).
    pub stall_limit: DurationMs,
    /// How many bytes of undelivered events the tab may hold before the protected content
    /// is hidden and the recorder stops until the backlog is delivered (default 4 MiB).
    pub buffer_limit: usize,
    /// How long after its first event a chunk is cut (default [`CHUNK_SPAN`], at least
    /// 100 ms): what a tab that goes away without its `pagehide` can lose at most.
    pub chunk_span: DurationMs,
}

impl Default for RecordingLimits {
    fn default() -> Self {
        RecordingLimits {
            stall_limit: DurationMs::from_millis(30_000),
            buffer_limit: 4 * 1024 * 1024,
            chunk_span: CHUNK_SPAN,
        }
    }
}

/// Why recording is not running in this tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseReason {
    /// The recorder could not be loaded or started, or it stopped with an error; it is
    /// started again after a back-off.
    RecorderFailed,
    /// The recording could not be delivered to the server lately; it is kept and sent
    /// again, in order.
    Undelivered,
    /// The undelivered recording reached the buffer limit: the recorder is stopped until
    /// the backlog is delivered.
    BufferFull,
}

impl PauseReason {
    /// The words after "Recording paused: ".
    pub fn message(self) -> &'static str {
        match self {
            PauseReason::RecorderFailed => "the recorder could not start in this tab",
            PauseReason::Undelivered => "the recording cannot reach the server",
            PauseReason::BufferFull => "too much of the recording is waiting to be sent",
        }
    }
}

/// What this tab's recording is doing. The recording indicator shows exactly while it is
/// [`RecordingStatus::Running`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingStatus {
    /// The session is not recorded in this tab (not required, no consent yet, ended, or the
    /// page went away).
    Off,
    /// The recorder is being loaded and started.
    Starting,
    /// Capturing, and every chunk so far was delivered or is on its way.
    Running,
    /// Not capturing or not delivering, for less than the limits allow.
    Paused(PauseReason),
    /// Not capturing or not delivering beyond the limits: the protected content is hidden
    /// until delivery resumes.
    Blocked(PauseReason),
}

/// Events the recorder captured since its previous batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderBatch {
    /// The events as JSON values separated by commas (a JSON array's text without its
    /// brackets), exactly as the recorder wrote them.
    pub events: String,
    /// The wall-clock time of the first event (its rrweb `timestamp`).
    pub first_at: LocalTime,
    /// The wall-clock time of the last event.
    pub last_at: LocalTime,
}

/// One chunk to upload (`POST /api/session/tabs/{tab_id}/recording/{seq}`, the body
/// gzipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkUpload {
    /// The chunk's sequence number: 0 for the tab's first, then one more each.
    pub seq: u32,
    /// The chunk as JSON (the contract's `RecordingChunk`); the same bytes on every try, so
    /// a retry of a chunk the server already stored is recognised as one.
    pub body: String,
    /// The page is going away: send with `fetch(..., {keepalive: true})`, and expect no
    /// answer.
    pub keepalive: bool,
}

/// How an upload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadOutcome {
    /// The server stored the chunk (`201`), or had stored these bytes already (`200`).
    Stored,
    /// The server refused the chunk for its sequence (`409` with `next_seq`: a gap, or its
    /// `seq` already taken by other content) and stores the tab's next chunk under
    /// `next_seq`. A tab keeps one sequence across its page loads, and a page's last chunk
    /// leaves in a `keepalive` request whose answer nobody reads: when that one is lost, or
    /// lands after the next page took its seq, the server is the authority on where the
    /// sequence goes on. Every chunk still held is renumbered from `next_seq` and sent at
    /// once; a `next_seq` that does not move the head's seq, or a second renumbering before
    /// anything was stored, counts as [`UploadOutcome::Failed`] as well (no loop).
    OutOfSequence {
        /// The `seq` the server stores next for this tab.
        next_seq: u32,
    },
    /// Anything else: no answer, a server error, a refusal. The chunk is kept and sent
    /// again after a back-off; a refusal that lasts ends in [`RecordingStatus::Blocked`].
    Failed,
}

/// The recorder in the page, as the engine asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recorder {
    /// Not asked to run.
    Stopped,
    /// [`Effect::StartRecorder`] was emitted; not yet reported running.
    Starting,
    /// Reported running.
    Running,
    /// Failed; started again at this instant.
    Failed { retry_at: ServerTime },
    /// Stopped because the buffer is full; started again once the backlog is delivered.
    HeldForBuffer,
}

/// The tag of the custom rrweb event (`{"type":5,"data":{"tag":..,"payload":{"chunks":n}}}`)
/// that opens a chunk renumbered past chunks the server never got: `n` chunks of this tab
/// are missing just before it (a page's last chunk, lost as the page went away). The
/// player marks the spot.
pub const GAP_EVENT_TAG: &str = "sg.gap";

/// A chunk cut and waiting for delivery.
#[derive(Debug, Clone)]
struct Chunk {
    /// Its seq: may still change when the server renumbers
    /// ([`UploadOutcome::OutOfSequence`]); the rest never does.
    seq: u32,
    /// The tab id as a JSON string.
    tab_id_json: String,
    started_at: i64,
    ended_at: i64,
    /// Server time minus local time when it was cut, in ms.
    offset_ms: i64,
    /// Its events, as the recorder wrote them.
    events: String,
    /// How many chunks the server lacks just before this one (found when renumbering).
    missing_before: u32,
    /// Bytes of events it holds (what the buffer limit counts).
    bytes: usize,
}

impl Chunk {
    /// The chunk as JSON, the same bytes on every try under the same seq.
    fn body(&self) -> String {
        let writer = ObjectWriter::new()
            .string("format", FORMAT)
            .int("format_version", i64::from(FORMAT_VERSION))
            .int("seq", i64::from(self.seq))
            .raw("tab_id", &self.tab_id_json)
            .int("started_at", self.started_at)
            .int("ended_at", self.ended_at)
            .int("clock_offset_ms", self.offset_ms);
        if self.missing_before == 0 {
            return writer.raw_array("events", &self.events).finish();
        }
        // At the chunk's first event, on the tab's clock.
        let payload = ObjectWriter::new()
            .int("chunks", i64::from(self.missing_before))
            .finish();
        let data = ObjectWriter::new()
            .string("tag", GAP_EVENT_TAG)
            .raw("payload", &payload)
            .finish();
        let mut events = ObjectWriter::new()
            .int("type", 5)
            .raw("data", &data)
            .int("timestamp", self.started_at.saturating_sub(self.offset_ms))
            .finish();
        events.push(',');
        events.push_str(&self.events);
        writer.raw_array("events", &events).finish()
    }

    fn upload(&self, keepalive: bool) -> ChunkUpload {
        ChunkUpload {
            seq: self.seq,
            body: self.body(),
            keepalive,
        }
    }
}

/// The chunk being filled.
#[derive(Debug, Clone)]
struct OpenChunk {
    events: String,
    started_at: ServerTime,
    ended_at: ServerTime,
    /// When its first batch arrived: it is cut one chunk span later.
    opened_at: ServerTime,
}

/// One tab's recording. The engine owns it, feeds it, and folds its deadline into its one
/// timer.
#[derive(Debug, Clone)]
pub(crate) struct Recording {
    limits: RecordingLimits,
    /// Whether the session wants this tab recorded now.
    wanted: bool,
    recorder: Recorder,
    next_seq: u32,
    open: Option<OpenChunk>,
    queue: VecDeque<Chunk>,
    /// Bytes of events in `open` and `queue`.
    buffered: usize,
    /// The seq of the upload on its way, if any.
    in_flight: Option<u32>,
    /// The next upload waits until then after a failure.
    retry_at: Option<ServerTime>,
    /// The wait after the next failure.
    backoff: DurationMs,
    /// The latest upload failed and none succeeded since.
    undelivered: bool,
    /// The chunks were renumbered on the server's word and none was stored since.
    renumbered: bool,
    /// Since when the tab has not been capturing and delivering.
    stalled_since: Option<ServerTime>,
    /// The latest instant seen, for the status.
    now: ServerTime,
}

impl Recording {
    pub(crate) fn new(limits: RecordingLimits, first_seq: u32) -> Recording {
        Recording {
            limits: RecordingLimits {
                stall_limit: limits.stall_limit.max(DurationMs::ZERO),
                buffer_limit: limits.buffer_limit,
                chunk_span: limits.chunk_span.max(DurationMs::from_millis(100)),
            },
            wanted: false,
            recorder: Recorder::Stopped,
            next_seq: first_seq,
            open: None,
            queue: VecDeque::new(),
            buffered: 0,
            in_flight: None,
            retry_at: None,
            backoff: FIRST_RETRY_DELAY,
            undelivered: false,
            renumbered: false,
            stalled_since: None,
            now: ServerTime::from_millis(i64::MIN),
        }
    }

    /// What the tab shows about its recording at `now` (the engine's latest instant).
    pub(crate) fn status(&self, now: ServerTime) -> RecordingStatus {
        if !self.wanted {
            return RecordingStatus::Off;
        }
        let reason = match self.recorder {
            Recorder::HeldForBuffer => return RecordingStatus::Blocked(PauseReason::BufferFull),
            _ if self.buffered > self.limits.buffer_limit => PauseReason::BufferFull,
            Recorder::Failed { .. } => PauseReason::RecorderFailed,
            _ if self.undelivered => PauseReason::Undelivered,
            Recorder::Starting => PauseReason::RecorderFailed,
            Recorder::Running => return RecordingStatus::Running,
            Recorder::Stopped => return RecordingStatus::Off,
        };
        let over = self.buffered > self.limits.buffer_limit
            || self
                .stalled_since
                .is_some_and(|since| now >= since.saturating_add(self.limits.stall_limit));
        match (over, self.recorder) {
            (true, _) => RecordingStatus::Blocked(reason),
            (false, Recorder::Starting) => RecordingStatus::Starting,
            (false, _) => RecordingStatus::Paused(reason),
        }
    }

    /// The session wants this tab recorded (`true`: required, consented, content shown,
    /// page present) or not. Starts or stops the recorder accordingly.
    pub(crate) fn set_wanted(
        &mut self,
        wanted: bool,
        t: ServerTime,
        effects: &mut VecDeque<Effect>,
    ) {
        self.now = self.now.max(t);
        if wanted == self.wanted {
            return;
        }
        self.wanted = wanted;
        if wanted {
            self.start(t, effects);
        } else {
            if matches!(self.recorder, Recorder::Starting | Recorder::Running) {
                effects.push_back(Effect::StopRecorder);
            }
            self.recorder = Recorder::Stopped;
            self.stalled_since = None;
        }
    }

    fn start(&mut self, t: ServerTime, effects: &mut VecDeque<Effect>) {
        self.recorder = Recorder::Starting;
        // Starting counts against the stall limit: a recorder that never comes up must not
        // leave the content shown unrecorded.
        self.stalled_since.get_or_insert(t);
        effects.push_back(Effect::StartRecorder);
    }

    /// The recorder runs (it took its first full snapshot).
    pub(crate) fn recorder_started(&mut self, t: ServerTime) {
        self.now = self.now.max(t);
        if self.recorder == Recorder::Starting {
            self.recorder = Recorder::Running;
            self.backoff = FIRST_RETRY_DELAY;
            self.update_stall();
        }
    }

    /// The recorder could not load or start, or stopped with an error.
    pub(crate) fn recorder_failed(&mut self, t: ServerTime) {
        self.now = self.now.max(t);
        if matches!(self.recorder, Recorder::Starting | Recorder::Running) {
            self.recorder = Recorder::Failed {
                retry_at: t.saturating_add(self.backoff),
            };
            self.backoff = self.backoff.times(2).min(MAX_RETRY_DELAY);
            self.stalled_since.get_or_insert(t);
        }
    }

    /// Events from the recorder. Ignored unless the recorder is wanted and running.
    pub(crate) fn events(
        &mut self,
        batch: RecorderBatch,
        offset: ClockOffset,
        ctx: &ChunkContext<'_>,
        t: ServerTime,
        effects: &mut VecDeque<Effect>,
    ) {
        self.now = self.now.max(t);
        if !self.wanted || self.recorder != Recorder::Running || batch.events.is_empty() {
            return;
        }
        let first = offset.to_server(batch.first_at);
        let last = offset.to_server(batch.last_at).max(first);
        self.buffered += batch.events.len();
        match &mut self.open {
            Some(open) => {
                open.events.push(',');
                open.events.push_str(&batch.events);
                open.ended_at = open.ended_at.max(last);
            }
            None => {
                self.open = Some(OpenChunk {
                    events: batch.events,
                    started_at: first,
                    ended_at: last,
                    opened_at: t,
                })
            }
        }
        if self
            .open
            .as_ref()
            .is_some_and(|o| o.events.len() >= CHUNK_BYTES)
        {
            self.cut(ctx);
        }
        if self.buffered > self.limits.buffer_limit && self.recorder == Recorder::Running {
            // Stop capturing what could not be kept: the content is hidden meanwhile, and
            // the recorder starts again (with a full snapshot) once the backlog is out.
            self.recorder = Recorder::HeldForBuffer;
            self.stalled_since.get_or_insert(t);
            effects.push_back(Effect::StopRecorder);
        }
        self.send_next(t, effects);
    }

    /// The upload of chunk `seq` ended.
    pub(crate) fn upload_result(
        &mut self,
        seq: u32,
        outcome: UploadOutcome,
        t: ServerTime,
        effects: &mut VecDeque<Effect>,
    ) {
        self.now = self.now.max(t);
        // Only the chunk at the head can be the answer: the server refuses any seq after a
        // missing one, and a stale answer (a keepalive flush answered after the page came
        // back) about a chunk already delivered changes nothing.
        if self.queue.front().map(|c| c.seq) != Some(seq) {
            return;
        }
        if self.in_flight == Some(seq) {
            self.in_flight = None;
        }
        let outcome = match outcome {
            UploadOutcome::OutOfSequence { next_seq } if next_seq != seq => {
                self.renumber(next_seq);
                if std::mem::replace(&mut self.renumbered, true) {
                    // Renumbered twice without a chunk stored: back off as after any
                    // failure rather than follow the server around in a tight loop.
                    UploadOutcome::Failed
                } else {
                    self.retry_at = None;
                    self.send_next(t, effects);
                    return;
                }
            }
            UploadOutcome::OutOfSequence { .. } => UploadOutcome::Failed,
            outcome => outcome,
        };
        match outcome {
            UploadOutcome::Stored => {
                if let Some(chunk) = self.queue.pop_front() {
                    self.buffered = self.buffered.saturating_sub(chunk.bytes);
                }
                self.undelivered = false;
                self.renumbered = false;
                self.retry_at = None;
                self.backoff = FIRST_RETRY_DELAY;
                if self.recorder == Recorder::HeldForBuffer
                    && self.buffered <= self.limits.buffer_limit / 2
                    && self.wanted
                {
                    self.start(t, effects);
                }
                self.update_stall();
            }
            UploadOutcome::Failed | UploadOutcome::OutOfSequence { .. } => {
                self.undelivered = true;
                self.retry_at = Some(t.saturating_add(self.backoff));
                self.backoff = self.backoff.times(2).min(MAX_RETRY_DELAY);
                self.stalled_since.get_or_insert(t);
            }
        }
        self.send_next(t, effects);
    }

    /// The page is going away: cut what is open and send every chunk not yet on its way
    /// with `keepalive`, then stop the recorder. Should the page come back, every chunk
    /// still queued is sent again from the head (the server takes a repeat of stored bytes
    /// as a success).
    pub(crate) fn flush_on_exit(
        &mut self,
        ctx: &ChunkContext<'_>,
        t: ServerTime,
        effects: &mut VecDeque<Effect>,
    ) {
        self.now = self.now.max(t);
        self.cut(ctx);
        for chunk in &self.queue {
            if self.in_flight != Some(chunk.seq) {
                effects.push_back(Effect::UploadChunk(chunk.upload(true)));
            }
        }
        self.in_flight = None;
        self.retry_at = None;
        self.set_wanted(false, t, effects);
    }

    /// The earliest instant at which [`Recording::timeout`] has something to do.
    pub(crate) fn deadline(&self) -> Option<ServerTime> {
        let cut = self
            .open
            .as_ref()
            .map(|open| open.opened_at.saturating_add(self.limits.chunk_span));
        let retry = self
            .retry_at
            .filter(|_| self.in_flight.is_none() && !self.queue.is_empty());
        let restart = match self.recorder {
            Recorder::Failed { retry_at } if self.wanted => Some(retry_at),
            _ => None,
        };
        // The instant the status turns to `Blocked`, so the content is hidden on time (a
        // hidden follower has no other wake-up).
        let block = self
            .stalled_since
            .map(|since| since.saturating_add(self.limits.stall_limit))
            .filter(|at| self.wanted && *at > self.now);
        [cut, retry, restart, block].into_iter().flatten().min()
    }

    /// Acts on whatever fell due at `t`.
    pub(crate) fn timeout(
        &mut self,
        ctx: &ChunkContext<'_>,
        t: ServerTime,
        effects: &mut VecDeque<Effect>,
    ) {
        self.now = self.now.max(t);
        if self
            .open
            .as_ref()
            .is_some_and(|open| t >= open.opened_at.saturating_add(self.limits.chunk_span))
        {
            self.cut(ctx);
        }
        if let Recorder::Failed { retry_at } = self.recorder {
            if self.wanted && t >= retry_at {
                self.start(t, effects);
            }
        }
        self.send_next(t, effects);
    }

    /// Moves every stored instant back by `lead` (the engine's clock ran ahead).
    pub(crate) fn rebase(&mut self, lead: DurationMs) {
        let back = |at: ServerTime| at.saturating_sub(lead);
        self.retry_at = self.retry_at.map(back);
        self.stalled_since = self.stalled_since.map(back);
        if let Some(open) = &mut self.open {
            open.opened_at = back(open.opened_at);
        }
        if let Recorder::Failed { retry_at } = self.recorder {
            self.recorder = Recorder::Failed {
                retry_at: back(retry_at),
            };
        }
    }

    /// Gives the queued chunks the seqs from `first` on, and the next cut chunk the one
    /// after them. When `first` is below the head's seq, the server never got the chunks
    /// in between (sent by the page before, as it went away): the head says so with a gap
    /// event. When it is above, chunks the head thought missing did arrive, and it does not.
    fn renumber(&mut self, first: u32) {
        if let Some(head) = self.queue.front_mut() {
            head.missing_before = head.seq.saturating_sub(first);
        }
        let mut seq = first;
        for chunk in &mut self.queue {
            chunk.seq = seq;
            seq = seq.saturating_add(1);
        }
        self.next_seq = seq;
    }

    /// Cuts the open chunk into the upload queue.
    fn cut(&mut self, ctx: &ChunkContext<'_>) {
        let Some(open) = self.open.take() else { return };
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        let bytes = open.events.len();
        self.queue.push_back(Chunk {
            seq,
            tab_id_json: ctx.tab_id_json.to_owned(),
            started_at: open.started_at.as_millis(),
            ended_at: open.ended_at.as_millis(),
            offset_ms: ctx.offset_ms,
            events: open.events,
            missing_before: 0,
            bytes,
        });
    }

    /// Sends the chunk at the head when nothing is on its way and no back-off is running.
    fn send_next(&mut self, t: ServerTime, effects: &mut VecDeque<Effect>) {
        if self.in_flight.is_some() || self.retry_at.is_some_and(|at| t < at) {
            return;
        }
        let Some(chunk) = self.queue.front() else {
            return;
        };
        self.retry_at = None;
        self.in_flight = Some(chunk.seq);
        effects.push_back(Effect::UploadChunk(chunk.upload(false)));
    }

    /// Ends a stall once the recorder runs and nothing failed since.
    fn update_stall(&mut self) {
        if self.recorder == Recorder::Running
            && !self.undelivered
            && self.buffered <= self.limits.buffer_limit
        {
            self.stalled_since = None;
        }
    }
}

/// What a chunk's body needs from the engine.
#[derive(Debug, Clone)]
pub(crate) struct ChunkContext<'a> {
    /// The tab id as a JSON string.
    pub(crate) tab_id_json: &'a str,
    /// Server time minus local time, in ms.
    pub(crate) offset_ms: i64,
}
