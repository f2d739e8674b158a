//! The session state machine. See the module docs of [`crate::core`] for the driving loop.

use std::collections::VecDeque;

use super::config::{EngineConfig, LeaderMode};
use super::peer::{self, PeerBody, PeerFields};
use super::recording::{
    ChunkContext, ChunkUpload, RecorderBatch, Recording, RecordingStatus, UploadOutcome,
};
use super::time::{elapsed, ClockOffset};
use super::view::{ConsentState, SessionPolicy, SessionView, UserView};
use super::{CoreError, DurationMs, LocalTime, Reason, ServerTime};

/// Spacing floor for configured intervals: a zero interval would make the engine ask to be
/// woken up again at the instant it was woken, a busy loop in the browser.
const MIN_INTERVAL: DurationMs = DurationMs::from_millis(100);
/// A follower takes over from a leader that has been silent for this many heartbeat
/// intervals (a stalled leader: frozen tab, debugger pause, an `alert()` left open).
const MISSED_HEARTBEATS: i64 = 2;
/// How far the wall clock may run ahead of the monotonic clock between two inputs before
/// the difference counts as a jump: NTP slewing stays far below this over any gap.
const FORWARD_JUMP_TOLERANCE: DurationMs = DurationMs::SECOND;
/// How long an ending deadline waits for the server's answer before the tab ends on its
/// own (fail closed): longer than the browser layer's request timeout.
const CONFIRM_WAIT: DurationMs = DurationMs::from_millis(15_000);
/// How long before an ending deadline the tab asks the server for the session, so that the
/// answer is in hand when the deadline comes and the ending costs no round trip: a view
/// this fresh whose server clock, advanced by the monotonic time since it arrived, has
/// passed the deadline is the server's own agreement (see [`Engine::check_ending`]).
const CONFIRM_AHEAD: DurationMs = DurationMs::SECOND;
/// How long a visible leader's keepalive waits at least after the activity it reports
/// (about one frame), so that what the activity changes on screen comes first: this tab's
/// redraw and the other tabs' hearing of it. Started in the same task as the leader's
/// message to the other tabs, the request delayed their hearing of it (Chromium, 2 cores,
/// the bench's warning closing: median transit 1.2 ms; 0.7 ms with the request 16 ms
/// later). It counts from the first activity the server has not heard of, so that activity
/// going on does not put the report off, and a report that falls due later (a keepalive
/// slot) does not wait. It does not wait when the server's deadline is near
/// (1 s, `CONFIRM_AHEAD`: the time the engine already allows a request before a deadline), nor
/// in a hidden tab, whose timers the browser may hold back for a second.
pub const REPORT_SETTLE: DurationMs = DurationMs::from_millis(16);
/// How long the leader waits before opening again a push stream the browser gave up on
/// (the server refused it, or it could not be created); polling covers the gap.
pub const PUSH_REOPEN_DELAY: DurationMs = DurationMs::from_millis(5_000);
/// How long a tab waits before registering again after its registration was lost to a
/// network blip or a server error, so the tab is not left out of the session's audit.
pub const REGISTRATION_RETRY_DELAY: DurationMs = DurationMs::SECOND;
/// How long the server may hold a [`Effect::AwaitSessionChange`] request: long enough that
/// an idle session asks less often than the 5 s poll did, short enough that proxies keep
/// the request open.
pub const SESSION_WAIT: DurationMs = DurationMs::from_millis(25_000);
/// Least spacing between the starts of two held requests: a server that answers at once
/// (one that does not hold requests, or a burst of view changes) costs at most one request
/// a second instead of a busy loop.
const SESSION_WAIT_SPACING: DurationMs = DurationMs::SECOND;
/// The most two clocks (the server's, this tab's monotonic one) may drift apart: one part
/// in this many (100 ppm, well above the drift of a working quartz clock). A clock offset
/// or a server-time floor learned that long ago is trusted that much less.
const CLOCK_DRIFT_PARTS: i64 = 10_000;
/// Before any instant the engine can see: the start value of its stored instants.
const EARLIEST: ServerTime = ServerTime::from_millis(i64::MIN);
/// After any instant the engine can see: "never" where a minimum is taken.
const LATEST: ServerTime = ServerTime::from_millis(i64::MAX);
/// How long before the absolute end of the session the lifetime notice shows, longest
/// first: the lifetime cannot be extended, so the user gets two chances to save their work.
pub const LIFETIME_WARNING_LEADS: [DurationMs; 2] = [
    DurationMs::from_millis(10 * 60_000),
    DurationMs::from_millis(2 * 60_000),
];

/// The absolute end of the session is near (see [`LIFETIME_WARNING_LEADS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifetimeWarning {
    /// When the session ends, in local time (the clock passed as `now`).
    pub ends_at: LocalTime,
    /// The lead whose instant has passed: the session ends in at most this long.
    pub within: DurationMs,
}

impl LifetimeWarning {
    /// The notice's text, with `ends_at` already formatted as a local clock time.
    pub fn message(&self, ends_at: &str) -> String {
        let mut text = String::from("Your session ends at ");
        text.push_str(ends_at);
        text.push_str(", in less than ");
        text.push_str(&super::reason::describe_duration(self.within.as_millis()));
        text.push_str(
            ". It cannot be extended: save your work now, then sign in again to continue.",
        );
        text
    }
}

/// The clocks at the instant of an input: the wall clock (`Date.now()`), which the engine
/// maps to server time, and optionally a monotonic clock (`performance.now()`), which
/// bounds how fast that time may advance. A [`LocalTime`] converts into a reading without a
/// monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Local wall-clock time.
    pub wall: LocalTime,
    /// A monotonic clock: the time elapsed since an origin fixed for the engine's life.
    pub monotonic: Option<DurationMs>,
}

impl From<LocalTime> for Now {
    fn from(wall: LocalTime) -> Now {
        Now {
            wall,
            monotonic: None,
        }
    }
}

/// What the UI should show.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// No session view yet: render nothing (fail closed).
    Starting,
    /// Recording is required and the user has not accepted it yet.
    AwaitingConsent,
    /// Signed in.
    Active,
    /// Signed in, and the idle deadline is near.
    Warning {
        /// Idle deadline in local time (the clock passed as `now`).
        deadline: LocalTime,
    },
    /// The session is over; sticky. `reason` is `None` when the server said "not signed in"
    /// without a reason, so the login page shows no message.
    Ended {
        /// Why it ended.
        reason: Option<Reason>,
    },
}

/// Something the browser layer must do, drained with [`Engine::poll_effect`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Effect {
    /// The session is known: open the session's cross-tab channel (its messages come back
    /// through [`Engine::handle_peer`]); emitted once per engine, before any broadcast
    /// needs it delivered.
    JoinSession {
        /// The session whose channel and leader lock this tab joins.
        session_id: String,
    },
    /// Lock mode: queue for the session's leader lock (Web Locks, no `steal`) and report a
    /// grant or a loss through [`Engine::handle_leadership`]. Emitted on joining and again
    /// after another tab took the lock over.
    QueueForLeadership,
    /// This tab leads: open the session's push stream (SSE), replacing any stream still
    /// held, and report it through [`Engine::handle_push_stream`] and
    /// [`Engine::handle_push_stream_closed`]. One stream per session, not per tab: browsers
    /// allow six connections per host over HTTP/1.1, so a stream per tab would leave the
    /// seventh tab waiting forever; the leader relays what it hears to the other tabs.
    OpenPush,
    /// This tab no longer leads: close its push stream.
    ClosePush,
    /// Register this tab with the server as its own sub-session (`POST /api/session/tabs`);
    /// report a failure worth retrying through [`Engine::handle_tab_registration_lost`].
    /// Emitted once the session is in use (consent settled), and again after the page came
    /// back from [`Engine::handle_page_left`].
    RegisterTab,
    /// The page is going away: tell the server this tab left (`sendBeacon`).
    CloseTab,
    /// Send this encoded [`super::PeerMessage`] to the other tabs.
    Broadcast(String),
    /// `POST /api/session/activity {"idle_ms", "last_activity_at"}`; only ever emitted by
    /// the leader.
    SendKeepalive {
        /// How long ago the user was last active in any tab.
        idle_ms: DurationMs,
        /// The same instant in engine (server) time: the server takes it within bounds, so
        /// its idle deadline is the tabs' own instead of one request transit later.
        last_activity_at: ServerTime,
    },
    /// `POST /api/session/consent {"accepted"}`; only by the tab where the user decided.
    SendConsent {
        /// The user's decision.
        accepted: bool,
    },
    /// `POST /api/logout {"reason"}` for endings decided in this tab.
    EndServerSession {
        /// Why the session ended.
        reason: Reason,
    },
    /// `GET /api/session` and feed the answer back.
    FetchSession,
    /// The leader's push stream is down: `GET /api/session?wait=<ms>`, which the server
    /// holds until the session changes (it ends, consent, a new view) or `wait` elapses.
    /// Feed the answer back as for [`Effect::FetchSession`], then report that the request
    /// is over through [`Engine::handle_session_wait_over`], whatever its outcome. Only one
    /// is outstanding at a time.
    AwaitSessionChange {
        /// How long the server may hold the request.
        wait: DurationMs,
    },
    /// Lock mode: the leader has been silent for too long (a stalled tab keeps its lock),
    /// so take the leader lock from it (Web Locks `steal`) and report the grant through
    /// [`Engine::handle_leadership`]; the tab that loses the lock reports `false`.
    TakeOverLeadership,
    /// Load and start the session recorder in this page (rrweb), and report it through
    /// [`Engine::handle_recorder_started`] or [`Engine::handle_recorder_failed`]; its
    /// events go to [`Engine::handle_recorder_events`]. Emitted when the session requires
    /// recording, consent is given and the content shows, and again after a failure.
    StartRecorder,
    /// Stop the recorder. What it captured since its last batch is not kept: as the page
    /// goes away the browser layer hands that over before [`Engine::handle_page_left`].
    StopRecorder,
    /// Upload one chunk of the recording and report how it ended through
    /// [`Engine::handle_upload_result`]. One at a time, in `seq` order (except the
    /// `keepalive` ones sent as the page goes away, which expect no answer).
    UploadChunk(ChunkUpload),
    /// An administrator ended this tab: forget its id (`window.name`), which the server
    /// never registers again, so the browser tab comes back as a new sub-session. Emitted
    /// just before the redirect.
    ForgetTabIdentity,
    /// The session is over: release every session resource (channel, lock, push stream,
    /// listeners) and go to the login page, with `?reason=` when there is one; emitted
    /// once per engine, and nothing follows it.
    Redirect {
        /// Why the session ended, `None` for "not signed in".
        reason: Option<Reason>,
        /// The inactivity limit that was in force, for the login page's message about an
        /// idle timeout; `None` for sessions without one (or before any view).
        idle_limit: Option<DurationMs>,
    },
}

/// Where this tab's push stream is, as the engine asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PushStream {
    /// No stream held ([`Effect::ClosePush`], or never opened).
    Closed,
    /// [`Effect::OpenPush`] was emitted and the browser has not given up on it.
    Open,
    /// The browser gave up on the stream; it is opened again at this engine instant.
    ReopenAt(ServerTime),
}

/// This tab's registration with the server as a sub-session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Registration {
    /// Not registered: registers as soon as the session is in use.
    Unregistered,
    /// [`Effect::RegisterTab`] was emitted (a refusal is final).
    Sent,
    /// Lost to a blip: registers again at this engine instant.
    RetryAt(ServerTime),
}

/// Every wake-up the engine can ask for: [`Engine::poll_timeout`] is the earliest of their
/// deadlines and [`Engine::handle_timeout`] acts on those that fell due, from this one list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// The idle or absolute end of the session; [`CONFIRM_AHEAD`] before it, asks the
    /// server for the session so that its answer confirms the ending when it comes.
    Ending,
    /// The server did not confirm an ending in time: the tab ends on its own.
    ConfirmWait,
    /// `FetchSession` while the push stream is down, and start-up retries.
    Poll,
    /// The idle warning starts.
    IdleWarning,
    /// The next lifetime notice starts.
    LifetimeNotice,
    /// A throttled activity broadcast is owed to the other tabs.
    ActivityBroadcast,
    /// The leader owes the server a keepalive.
    Keepalive,
    /// The leader's heartbeat, or a follower's check for a silent leader.
    Heartbeat,
    /// The leader opens again the push stream the browser gave up on.
    PushReopen,
    /// The tab registers again after losing its registration to a blip.
    RegistrationRetry,
    /// A recording chunk is cut, an upload or the recorder is tried again, or a stall
    /// reaches its limit.
    Recording,
}

impl Timer {
    /// Endings first: a late wake-up must never let anything else act on a session that
    /// is over.
    /// The heartbeat goes before the keepalive: it may change which tab leads, and only
    /// the leader sends keepalives.
    const ALL: [Timer; 11] = [
        Timer::Ending,
        Timer::ConfirmWait,
        Timer::Poll,
        Timer::Heartbeat,
        Timer::ActivityBroadcast,
        Timer::Keepalive,
        Timer::IdleWarning,
        Timer::LifetimeNotice,
        Timer::PushReopen,
        Timer::RegistrationRetry,
        Timer::Recording,
    ];
}

/// The policy's timing, typed.
#[derive(Debug, Clone, Copy)]
struct Limits {
    expires_at: ServerTime,
    idle_timeout: Option<DurationMs>,
    warning_lead: DurationMs,
    keepalive_interval: DurationMs,
}

impl Limits {
    fn of(policy: &SessionPolicy) -> Limits {
        Limits {
            expires_at: ServerTime::from_millis(policy.expires_at),
            idle_timeout: policy.idle_timeout.map(DurationMs::from_millis),
            warning_lead: DurationMs::from_millis(policy.warning_lead),
            keepalive_interval: DurationMs::from_millis(policy.keepalive_interval),
        }
    }
}

/// Who must hear about an ending besides this tab.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Notify {
    /// Decided here: tell the other tabs and the server.
    Everyone,
    /// The server already knows: tell the other tabs.
    Peers,
    /// A peer told us, or there is nothing to tell.
    Nobody,
}

/// The sans-IO session engine of one tab.
///
/// Internally every instant is server time (local `now` plus the offset learned from the last
/// view), so tabs with different clocks agree. Clock guarantee (invariant 7), with `J` the size
/// of a local clock jump:
/// - forward jump: with a monotonic clock in the input ([`Now::monotonic`]), a wall clock
///   that ran more than 1 s ahead of the monotonic one since the previous input is not
///   followed: engine time advances by the monotonic time elapsed, and the server is asked
///   for a view at once, which re-anchors the clock to the server's. Without a monotonic clock the engine's time runs
///   ahead, so deadlines are reached earlier; when the next view reveals the lead, every
///   stored instant moves back by it.
/// - backward jump: engine time never goes back; the jump is detected at the first input after
///   it and time resumes from the last instant seen, so an ending is delayed by at most
///   `min(J, gap between the inputs around the jump)`, and no later than the first server view
///   after the deadline (the view re-anchors the clock and ends the session at once).
///
/// Whatever the clocks say, a local idle or lifetime deadline ends the session only once the
/// server confirms it: the tab asks (`FetchSession`) 1 s (`CONFIRM_AHEAD`) before the deadline,
/// and a view that fresh, carried forward by the monotonic clock past the deadline, is the
/// server's agreement, so the ending costs no round trip; otherwise it asks at the deadline
/// and ends with the server's reason. It ends on its own only when the server cannot be
/// reached, does not answer within 15 s, or answers with a view whose own clock is already
/// past the (locally shortened) deadline.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    state: State,
    effects: VecDeque<Effect>,
    /// Server time minus local time; `None` before the first view. The highest the views
    /// prove, from the one that travelled fastest (see [`Engine::learn_offset`]).
    offset: Option<ClockOffset>,
    /// Whether `offset` came from views alone since an answer (a view with a round trip)
    /// last confirmed it; `false` when a clock jump shifted it or only pushed views were
    /// seen, in which case the next view replaces it as it comes.
    offset_checked: bool,
    /// Engine time at which `offset` was learned: it is trusted less, by
    /// [`CLOCK_DRIFT_PARTS`], as it ages.
    offset_learned_at: ServerTime,
    /// Latest server instant seen, so a local clock going back never moves time back.
    high_water: ServerTime,
    session_id: Option<String>,
    policy: Option<SessionPolicy>,
    /// The policy's timing, typed; set with `policy`.
    limits: Option<Limits>,
    consent_accepted: bool,
    /// Latest activity in any tab, server time.
    last_activity: ServerTime,
    /// Latest activity in this tab (or `EARLIEST`), server time as stamped.
    own_activity: ServerTime,
    /// Latest activity the server is known to have heard of.
    reported_activity: ServerTime,
    /// The first activity the server has not heard of (meaningful while `last_activity`
    /// is later than `reported_activity`): a keepalive's settle counts from it.
    unreported_since: ServerTime,
    /// Latest activity the server must hear of at once rather than at the next keepalive
    /// slot (it ended a warning, or a user asked to stay signed in); done once
    /// `reported_activity` reaches it.
    prompt_report: ServerTime,
    last_keepalive: Option<ServerTime>,
    last_activity_broadcast: Option<ServerTime>,
    activity_broadcast_pending: bool,
    leader: bool,
    heartbeat_sent: ServerTime,
    heartbeat_heard: ServerTime,
    /// The monotonic clock and engine time at the previous input, to bound forward jumps.
    monotonic_anchor: Option<(DurationMs, ServerTime)>,
    /// The server's stamp (`server_time`) on the latest view: how fresh the tab's
    /// knowledge of the session is.
    anchored_at: ServerTime,
    /// The least the server's clock can read, as a view's stamp and the monotonic clock
    /// when that view arrived (the server's clock has run at least as long since, whatever
    /// the wall clock says): of all views, the one that puts the server's clock latest,
    /// which is the one that travelled fastest.
    floor: Option<(ServerTime, DurationMs)>,
    /// Engine time at which the tab last asked the server ahead of an ending deadline.
    asked_ahead_at: ServerTime,
    /// A confirmed ending waits for the monotonic clock to reach its deadline: the engine
    /// time at which it will, when the wall clock ran slightly ahead.
    ending_wait: Option<ServerTime>,
    /// Engine time at which an ending deadline asked the server to confirm it. Meanwhile no
    /// activity counts: only the server's answer can keep the session.
    confirming: Option<ServerTime>,
    /// Engine time of the latest known outcome of a request (this tab's or a peer's).
    connection_at: ServerTime,
    /// The page is hidden: as a follower it leaves a silent leader alone.
    hidden: bool,
    push_connected: bool,
    /// The push stream this tab holds (only the leader does).
    push: PushStream,
    /// Whether [`Effect::JoinSession`] was emitted.
    joined: bool,
    registration: Registration,
    /// The page went away ([`Engine::handle_page_left`]) and was not shown again: timers
    /// still firing while it is torn down must not register it again.
    page_left: bool,
    /// Who is signed in, from the latest view of this session.
    user: Option<UserView>,
    /// The user's scopes, from the latest view of this session.
    scopes: Vec<String>,
    /// Next `FetchSession`: polling while the push stream is down, start-up retries. While
    /// the leader's stream is down and the server is reachable, the poll is a held request
    /// ([`Effect::AwaitSessionChange`]) instead.
    next_poll: Option<ServerTime>,
    /// Engine time at which the outstanding [`Effect::AwaitSessionChange`] started.
    session_wait: Option<ServerTime>,
    connection_problem: bool,
    /// This tab's recording.
    recording: Recording,
    /// The tab id as a JSON string, for the recording's chunks.
    tab_id_json: String,
}

impl Engine {
    /// A new engine in [`State::Starting`]. Intervals below 100 ms are raised to 100 ms.
    pub fn new(mut config: EngineConfig) -> Engine {
        config.poll_interval = config.poll_interval.max(MIN_INTERVAL);
        config.activity_broadcast_interval = config.activity_broadcast_interval.max(MIN_INTERVAL);
        config.heartbeat_interval = config.heartbeat_interval.max(MIN_INTERVAL);
        config.max_peer_skew = config.max_peer_skew.max(DurationMs::ZERO);
        let tab_id_json = session_guard_contract::json::string(&config.tab_id);
        let recording = Recording::new(config.recording_limits, config.recording_first_seq);
        Engine {
            recording,
            tab_id_json,
            config,
            state: State::Starting,
            effects: VecDeque::new(),
            offset: None,
            offset_checked: false,
            offset_learned_at: EARLIEST,
            high_water: EARLIEST,
            session_id: None,
            policy: None,
            limits: None,
            consent_accepted: false,
            last_activity: EARLIEST,
            own_activity: EARLIEST,
            reported_activity: EARLIEST,
            prompt_report: EARLIEST,
            unreported_since: EARLIEST,
            last_keepalive: None,
            last_activity_broadcast: None,
            activity_broadcast_pending: false,
            leader: false,
            heartbeat_sent: EARLIEST,
            heartbeat_heard: EARLIEST,
            monotonic_anchor: None,
            anchored_at: EARLIEST,
            floor: None,
            asked_ahead_at: EARLIEST,
            ending_wait: None,
            confirming: None,
            connection_at: EARLIEST,
            hidden: false,
            push_connected: false,
            push: PushStream::Closed,
            joined: false,
            registration: Registration::Unregistered,
            page_left: false,
            user: None,
            scopes: Vec::new(),
            next_poll: None,
            session_wait: None,
            connection_problem: false,
        }
    }

    // ----- inputs -------------------------------------------------------------------------

    /// A session view pushed by the server (an SSE `session` event), or any view whose
    /// request's start is unknown. Learns the policy, and the clock offset only as far as
    /// a view of unknown transit can tell: the server's clock reads at least its stamp.
    /// Ignored once ended.
    pub fn handle_server_view(&mut self, view: SessionView, now: impl Into<Now>) {
        self.server_view(view, None, now.into());
    }

    /// A session view answering a request this tab sent at `asked` (`GET /api/session`,
    /// a keepalive, consent): as [`Engine::handle_server_view`], and the round trip bounds
    /// the clock offset from above too, so a clock that stepped is followed (contract,
    /// "Clock rules").
    pub fn handle_server_answer(
        &mut self,
        view: SessionView,
        asked: impl Into<Now>,
        now: impl Into<Now>,
    ) {
        self.server_view(view, Some(asked.into()), now.into());
    }

    fn server_view(&mut self, view: SessionView, asked: Option<Now>, now: Now) {
        let Some(predicted) = self.begin(now) else {
            return;
        };
        if self
            .session_id
            .as_deref()
            .is_some_and(|id| id != view.session_id)
        {
            // The cookie now belongs to another session (a login elsewhere): this page's
            // session is gone and its state must not carry over.
            self.end(None, Notify::Nobody);
            return;
        }
        let was_starting = self.state == State::Starting;
        let was_awaiting = self.state == State::AwaitingConsent;
        let stamped = view.server_time;
        let was_checked = self.offset_checked;
        let (offset, learned) = self.learn_offset(stamped, asked, now, predicted);
        let t = offset.to_server(now.wall);
        if self.offset.is_some() && predicted > t {
            self.rebase(predicted.since(t));
        }
        if learned && was_checked && t > predicted && self.last_activity == self.own_activity {
            // A view proved the server's clock further on than the one this tab's latest
            // activity was stamped with: that activity happened this much later on the
            // server's clock. Its claim is corrected in the next keepalive (the server
            // heard the early one), so the idle deadline is the user's own, not one slow
            // view's transit early.
            let later = self.own_activity.saturating_add(t.since(predicted)).min(t);
            self.own_activity = later;
            self.note_activity(later);
        }
        self.offset = Some(offset);
        if learned {
            self.offset_learned_at = t;
        }
        self.high_water = t;
        self.monotonic_anchor = now.monotonic.map(|mono| (mono, t));
        self.anchored_at = stamped;
        if let Some(mono) = now.monotonic {
            if self
                .server_time_at_least()
                .is_none_or(|floor| stamped >= floor)
            {
                self.floor = Some((stamped, mono));
            }
        }
        self.confirming = None;

        let policy = SessionPolicy::from_view(&view);
        let policy = match &self.config.policy_override {
            Some(shorter) => shorter.apply(policy),
            None => policy,
        };
        let recording_required = policy.recording_required;
        self.limits = Some(Limits::of(&policy));
        self.policy = Some(policy);
        self.session_id = Some(view.session_id);
        self.user = Some(view.user);
        self.scopes = view.scopes;
        if self.connection_problem {
            self.connection_problem = false;
            self.broadcast(PeerBody::Connection {
                reachable: true,
                at: t,
            });
        }
        self.connection_at = self.connection_at.max(t);
        let last_activity_at = view.last_activity_at;
        self.last_activity = self.last_activity.max(last_activity_at).min(t);
        self.reported_activity = self.reported_activity.max(last_activity_at).min(t);
        if view.recording.consent == ConsentState::Accepted {
            self.consent_accepted = true;
        }
        self.state = if recording_required && !self.consent_accepted {
            State::AwaitingConsent
        } else if matches!(self.state, State::Starting | State::AwaitingConsent) {
            State::Active
        } else {
            self.state.clone()
        };
        self.next_poll =
            (!self.push_connected).then(|| t.saturating_add(self.config.poll_interval));
        if was_starting {
            self.heartbeat_heard = t;
            self.broadcast(PeerBody::Hello);
        }
        if was_awaiting && recording_required && self.consent_accepted {
            // The server has stored the consent: the other tabs may start too.
            self.broadcast(PeerBody::Consent { accepted: true });
        }
        self.tick(t);
    }

    /// The server said the session ended (`401 {reason}` or SSE `terminated`).
    pub fn handle_server_terminated(&mut self, reason: Reason, now: impl Into<Now>) {
        if self.begin(now).is_some() {
            self.end(Some(reason), Notify::Peers);
        }
    }

    /// The server said an administrator ended one tab of the session (SSE `tab_ended`,
    /// heard by the leader, which holds the stream). This tab ends with
    /// [`Reason::TabTerminated`] when it is the one; otherwise the news goes to the other
    /// tabs over the channel, where only the named tab ends. The session itself continues,
    /// so neither the server nor the other tabs are told of an ending.
    pub fn handle_server_tab_ended(&mut self, tab_id: &str, now: impl Into<Now>) {
        if self.begin(now).is_none() || self.is_ended() {
            return;
        }
        if tab_id == self.config.tab_id {
            self.end(Some(Reason::TabTerminated), Notify::Nobody);
        } else {
            self.broadcast(PeerBody::TabEnded {
                target_tab_id: tab_id.to_owned(),
            });
        }
    }

    /// The server answered `401` without a reason: not signed in. Ends with no reason.
    pub fn handle_server_unauthenticated(&mut self, now: impl Into<Now>) {
        if self.begin(now).is_some() {
            self.end(None, Notify::Nobody);
        }
    }

    /// A request failed at the network level. Not a logout: flags a connection problem in
    /// every tab (over the channel) until a view arrives. Before the first view the engine
    /// stays in `Starting` (nothing is rendered) and retries every poll interval. An ending
    /// deadline waiting for the server's confirmation ends the session now (fail closed).
    pub fn handle_server_unreachable(&mut self, now: impl Into<Now>) {
        let Some(t) = self.begin(now) else { return };
        self.connection_problem = true;
        self.connection_at = self.connection_at.max(t);
        self.broadcast(PeerBody::Connection {
            reachable: false,
            at: t,
        });
        if self.confirming.is_some() {
            if let Some((reason, _)) = self.due_ending(t) {
                self.end(Some(reason), Notify::Everyone);
                return;
            }
        }
        // Before the first view every tab retries; afterwards the leader polls until an
        // answer clears the problem, even with the push stream up (it may carry nothing for
        // hours), so the banner goes away without waiting for the user to do something.
        if self.next_poll.is_none() {
            self.next_poll = Some(t.saturating_add(self.config.poll_interval));
        }
    }

    /// The leader's push stream (SSE) connected or dropped; while it is down the leader
    /// polls. Other tabs hold no stream: the leader relays endings to them.
    pub fn handle_push_stream(&mut self, connected: bool, now: impl Into<Now>) {
        if let Some(t) = self.begin(now) {
            self.push_status(connected, t);
        }
    }

    fn push_status(&mut self, connected: bool, t: ServerTime) {
        self.push_connected = connected;
        if self.state == State::Starting {
            return;
        }
        if connected && !self.connection_problem {
            self.next_poll = None;
        } else if !self.connection_problem {
            // The held request replaces the stream at once (when none is outstanding): it
            // costs no more than the stream did, and an ending must not wait for a poll.
            self.next_poll = Some(t);
        } else if self.next_poll.is_none() {
            self.next_poll = Some(t.saturating_add(self.config.poll_interval));
        }
    }

    /// The request of [`Effect::AwaitSessionChange`] is over, whatever its outcome (fed
    /// before this as for [`Effect::FetchSession`]). The next one starts at once, or one
    /// `SESSION_WAIT_SPACING` (1 s) after this one started; after a failure the connection
    /// problem's polling takes over until the server answers again.
    pub fn handle_session_wait_over(&mut self, now: impl Into<Now>) {
        let Some(started) = self.session_wait.take() else {
            return;
        };
        let Some(t) = self.begin(now) else { return };
        if self.connection_problem {
            if self.next_poll.is_none() {
                self.next_poll = Some(t.saturating_add(self.config.poll_interval));
            }
        } else if self.waits_for_changes() {
            self.next_poll = Some(t.max(started.saturating_add(SESSION_WAIT_SPACING)));
        }
        self.tick(t);
    }

    /// The browser gave up on the leader's push stream (the server refused it) or could not
    /// create it: the leader polls meanwhile and opens it again after [`PUSH_REOPEN_DELAY`].
    pub fn handle_push_stream_closed(&mut self, now: impl Into<Now>) {
        let Some(t) = self.begin(now) else { return };
        if self.push == PushStream::Open {
            self.push = PushStream::ReopenAt(t.saturating_add(PUSH_REOPEN_DELAY));
        }
        self.push_status(false, t);
    }

    /// This tab's registration ([`Effect::RegisterTab`]) failed at the network level or
    /// with a server error: it registers again after [`REGISTRATION_RETRY_DELAY`], so a
    /// blip does not leave the tab unregistered (unaudited) for the rest of the session.
    /// A refusal (`4xx`) is final and is not reported.
    pub fn handle_tab_registration_lost(&mut self, now: impl Into<Now>) {
        let Some(t) = self.begin(now) else { return };
        if self.registration == Registration::Sent {
            self.registration = Registration::RetryAt(t.saturating_add(REGISTRATION_RETRY_DELAY));
        }
    }

    /// The page is going away (`pagehide`): a tab that sent its registration (whether or
    /// not the answer came back) tells the server it left
    /// ([`Effect::CloseTab`]). Until the page is shown again ([`Engine::handle_visible`],
    /// e.g. restored from the back/forward cache) it does not register again.
    pub fn handle_page_left(&mut self, now: impl Into<Now>) {
        if self.begin(now).is_none() {
            return;
        }
        self.page_left = true;
        // The recording goes first: the server takes no chunk for a tab that closed.
        let t = self.high_water;
        let ctx = ChunkContext {
            tab_id_json: &self.tab_id_json,
            offset_ms: self.offset.unwrap_or(ClockOffset::ZERO).as_millis(),
        };
        self.recording.flush_on_exit(&ctx, t, &mut self.effects);
        // A registration lost to a blip may still have reached the server (a timeout, an
        // answer lost on its way back): the tab is closed then too, which costs nothing
        // when the server never heard of it.
        if self.registration != Registration::Unregistered {
            self.effects.push_back(Effect::CloseTab);
            self.registration = Registration::Unregistered;
        }
    }

    /// The recorder runs ([`Effect::StartRecorder`] succeeded: it took its full snapshot).
    pub fn handle_recorder_started(&mut self, now: impl Into<Now>) {
        if let Some(t) = self.begin(now) {
            self.recording.recorder_started(t);
            self.tick(t);
        }
    }

    /// The recorder could not be loaded or started, or stopped with an error: it is
    /// started again after a back-off; meanwhile the tab says recording is paused, and
    /// past the stall limit it hides the protected content.
    pub fn handle_recorder_failed(&mut self, now: impl Into<Now>) {
        if let Some(t) = self.begin(now) {
            self.recording.recorder_failed(t);
            self.tick(t);
        }
    }

    /// Events the recorder captured. They join the open chunk, which is cut every
    /// [`super::CHUNK_SPAN`] or [`super::CHUNK_BYTES`] and uploaded in order.
    pub fn handle_recorder_events(&mut self, batch: RecorderBatch, now: impl Into<Now>) {
        let Some(t) = self.begin(now) else { return };
        let offset = self.offset.unwrap_or(ClockOffset::ZERO);
        let ctx = ChunkContext {
            tab_id_json: &self.tab_id_json,
            offset_ms: offset.as_millis(),
        };
        self.recording
            .events(batch, offset, &ctx, t, &mut self.effects);
        self.tick(t);
    }

    /// The upload of chunk `seq` ([`Effect::UploadChunk`]) ended.
    pub fn handle_upload_result(&mut self, seq: u32, outcome: UploadOutcome, now: impl Into<Now>) {
        if let Some(t) = self.begin(now) {
            self.recording
                .upload_result(seq, outcome, t, &mut self.effects);
            self.tick(t);
        }
    }

    /// The server refused a keepalive with `403`: the session was made to wait for
    /// recording consent meanwhile, and the view says so, so the tab asks for it. Only a
    /// keepalive's refusal asks: `GET /api/session` is never refused this way, so this
    /// cannot loop.
    pub fn handle_keepalive_refused(&mut self, now: impl Into<Now>) {
        if self.begin(now).is_some() {
            self.effects.push_back(Effect::FetchSession);
        }
    }

    /// The user did something in this tab (pointer, key, scroll...).
    pub fn handle_activity(&mut self, now: impl Into<Now>) {
        let Some(t) = self.begin(now) else { return };
        if !self.is_live() || self.confirming.is_some() {
            return;
        }
        let warning = matches!(self.state, State::Warning { .. });
        self.note_activity(t);
        self.own_activity = t;
        let throttled = self
            .last_activity_broadcast
            .is_some_and(|at| t < at.saturating_add(self.config.activity_broadcast_interval));
        if warning || !throttled {
            self.broadcast_activity(PeerBody::Activity { at: t }, t);
        } else {
            self.activity_broadcast_pending = true;
        }
        if warning {
            self.report_promptly();
        }
        self.tick(t);
    }

    /// The user clicked "stay signed in" on the warning.
    pub fn handle_stay_signed_in(&mut self, now: impl Into<Now>) {
        let Some(t) = self.begin(now) else { return };
        if !matches!(self.state, State::Active | State::Warning { .. }) || self.confirming.is_some()
        {
            return;
        }
        self.note_activity(t);
        self.own_activity = t;
        self.broadcast_activity(PeerBody::StaySignedIn { at: t }, t);
        self.report_promptly();
        self.tick(t);
    }

    /// The user clicked "sign out".
    pub fn handle_logout(&mut self, now: impl Into<Now>) {
        if self.begin(now).is_some() {
            self.end(Some(Reason::LoggedOut), Notify::Everyone);
        }
    }

    /// The user answered the recording consent prompt.
    pub fn handle_consent(&mut self, accepted: bool, now: impl Into<Now>) {
        let Some(t) = self.begin(now) else { return };
        if self.state != State::AwaitingConsent {
            return;
        }
        self.effects.push_back(Effect::SendConsent { accepted });
        if accepted {
            // Answering is activity, and the server records it with the consent (it
            // refused keepalives until now): nothing is left to report in a keepalive that
            // could overtake the consent and be refused.
            self.last_activity = self.last_activity.max(t);
            self.own_activity = t;
            self.reported_activity = self.last_activity;
            // The session starts when the server's answer says it stored the consent
            // (`handle_server_view`), not before: the server refuses everything but the
            // view while consent is pending, so protected content that started earlier
            // would race the consent and be refused. Asking again is harmless.
            self.tick(t);
        } else {
            // The server ends the session itself when consent is declined.
            self.end(Some(Reason::ConsentDeclined), Notify::Peers);
        }
    }

    /// The tab became visible, focused, was restored or went online: timers may have been
    /// throttled, so deadlines are checked at once and the view is refreshed.
    pub fn handle_visible(&mut self, now: impl Into<Now>) {
        if let Some(t) = self.begin(now) {
            // Shown again (restored from the back/forward cache, or back in front): the
            // page did not go away after all, so it may register again.
            self.page_left = false;
            if self.confirming.is_none() {
                self.effects.push_back(Effect::FetchSession);
            }
            self.tick(t);
        }
    }

    /// The page was shown (`true`) or hidden. A hidden follower does not take over from a
    /// silent leader: it shows nothing, nobody works in it, and browsers throttle hidden
    /// pages' timers so much that hidden tabs would keep taking the lead from each other.
    /// Shown again, it takes over at once if the leader is still silent.
    pub fn handle_page_visibility(&mut self, visible: bool, now: impl Into<Now>) {
        self.hidden = !visible;
        self.begin(now);
    }

    /// A raw message from another tab. Anything invalid is ignored without a state change.
    pub fn handle_peer(&mut self, message: &str, now: impl Into<Now>) {
        self.handle_peer_with(message, peer::read_fields, now);
    }

    /// [`Engine::handle_peer`] with another JSON reader for the message's fields (the
    /// guard's wasm uses the browser's `JSON.parse`); the same checks apply to what it reads.
    pub fn handle_peer_with<'a>(
        &mut self,
        message: &'a str,
        read: impl FnOnce(&'a str) -> Result<PeerFields<'a>, CoreError>,
        now: impl Into<Now>,
    ) {
        let Some(t) = self.begin(now) else { return };
        let Some(session_id) = self.session_id.as_deref() else {
            return;
        };
        let Ok((tab_id, body)) = peer::parse(message, session_id, read) else {
            return;
        };
        if tab_id == self.config.tab_id {
            return;
        }
        let future = |at: ServerTime| at > t.saturating_add(self.config.max_peer_skew);
        match body {
            PeerBody::Activity { at } | PeerBody::StaySignedIn { at } => {
                // A deadline waiting for the server is the server's to decide.
                if future(at) || self.confirming.is_some() {
                    return;
                }
                let warning = matches!(self.state, State::Warning { .. });
                let newer = at.min(t) > self.last_activity;
                self.note_activity(at.min(t));
                let asked = matches!(body, PeerBody::StaySignedIn { .. });
                if asked || (warning && newer) {
                    // The sender's user wants to stay: the server must hear it now, not at
                    // the next keepalive slot, which may come after the server's deadline.
                    self.report_promptly();
                }
            }
            PeerBody::LeaderHeartbeat { at } => {
                if future(at) {
                    return;
                }
                self.heartbeat_heard = self.heartbeat_heard.max(t);
                // In lock mode the lock decides: a tab that lost it to a steal hears so from
                // the browser, not from heartbeats.
                if self.config.leader_mode == LeaderMode::Heartbeat
                    && self.leader
                    && tab_id.as_ref() < self.config.tab_id.as_str()
                {
                    self.leader = false;
                }
            }
            PeerBody::Connection { reachable, at } => {
                if future(at) {
                    return;
                }
                let at = at.min(t);
                // The latest outcome wins; of two at the same instant, the failure.
                if at > self.connection_at {
                    self.connection_at = at;
                    self.connection_problem = !reachable;
                } else if at == self.connection_at && !reachable {
                    self.connection_problem = true;
                }
                // Should this tab lead, it polls until the problem clears.
                if self.connection_problem && self.next_poll.is_none() {
                    self.next_poll = Some(t.saturating_add(self.config.poll_interval));
                }
            }
            // A logout, a declined consent, or this very tab ended by an administrator (only
            // the named tab ends; the session and every other tab carry on): the browser
            // layer decides to navigate on the same rule (`peer::ending_for`).
            PeerBody::Logout { .. }
            | PeerBody::Consent { accepted: false }
            | PeerBody::TabEnded { .. } => {
                if let Some(reason) = peer::ending_of(&body, &self.config.tab_id) {
                    self.end(Some(reason), Notify::Nobody);
                    return;
                }
            }
            PeerBody::Consent { accepted: true } => {
                self.consent_accepted = true;
                if self.state == State::AwaitingConsent {
                    self.state = State::Active;
                }
            }
            PeerBody::Hello => self.greet(t),
        }
        self.tick(t);
    }

    /// Lock mode: this tab acquired (`true`) or lost the leader lock (also when another tab
    /// took it over from this one). Ignored in heartbeat mode, where the engine elects itself.
    pub fn handle_leadership(&mut self, is_leader: bool, now: impl Into<Now>) {
        let Some(t) = self.begin(now) else { return };
        if self.config.leader_mode == LeaderMode::Lock {
            if is_leader && !self.leader {
                self.become_leader(t);
            } else if !is_leader {
                // Give the tab that took over a full heartbeat bound to be heard, and queue
                // for the lock again as a follower.
                self.leader = false;
                self.heartbeat_heard = self.heartbeat_heard.max(t);
                self.effects.push_back(Effect::QueueForLeadership);
            }
            self.tick(t);
        }
    }

    /// The wake-up requested by [`Engine::poll_timeout`] (or any earlier one: a wake-up before
    /// anything is due changes nothing).
    pub fn handle_timeout(&mut self, now: impl Into<Now>) {
        self.begin(now);
    }

    // ----- outputs ------------------------------------------------------------------------

    /// The next local instant at which [`Engine::handle_timeout`] must be called, or `None`
    /// when nothing is pending. May lie in the past, meaning "as soon as possible".
    pub fn poll_timeout(&self) -> Option<LocalTime> {
        if self.is_ended() {
            return None;
        }
        Timer::ALL
            .into_iter()
            .filter_map(|timer| self.deadline(timer))
            .min()
            .map(|at| self.to_local(at))
    }

    /// Takes the next effect to carry out, in order. Drain it after every input: the
    /// effects that follow from where the input left the session (joining it, the push
    /// stream following leadership, registering the tab) are decided here, after the
    /// input's own.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        if self.effects.is_empty() {
            self.settle();
        }
        self.effects.pop_front()
    }

    /// What the UI should show.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether this tab is the one that sends keepalives; never once ended (the browser
    /// layer should then release the leader lock).
    pub fn is_leader(&self) -> bool {
        self.leader && !self.is_ended()
    }

    /// Whether this tab is being recorded: exactly while [`Engine::recording_status`] is
    /// [`RecordingStatus::Running`] (the recording indicator shows then, and only then).
    pub fn is_recording(&self) -> bool {
        self.recording_status() == RecordingStatus::Running
    }

    /// What this tab's recording is doing; [`RecordingStatus::Off`] once ended.
    pub fn recording_status(&self) -> RecordingStatus {
        if self.is_ended() {
            return RecordingStatus::Off;
        }
        self.recording.status(self.high_water)
    }

    /// Whether the latest known request of any tab failed at the network level (cleared by
    /// the next answer any tab gets); never once ended.
    pub fn connection_problem(&self) -> bool {
        self.connection_problem && !self.is_ended()
    }

    /// The lifetime notice to show, once the latest instant the engine has seen lies within
    /// the longest of [`LIFETIME_WARNING_LEADS`] of the absolute end; `None` unless `Active`
    /// or `Warning`. The engine wakes up at each lead's instant, so the notice changes only
    /// after an input.
    pub fn lifetime_warning(&self) -> Option<LifetimeWarning> {
        if !self.shows_content() {
            return None;
        }
        let expires_at = self.limits()?.expires_at;
        let within = LIFETIME_WARNING_LEADS
            .iter()
            .copied()
            .filter(|lead| self.high_water >= expires_at.saturating_sub(*lead))
            .min()?;
        Some(LifetimeWarning {
            ends_at: self.to_local(expires_at),
            within,
        })
    }

    /// Time left until the next ending deadline (idle or absolute); `None` unless `Active` or
    /// `Warning`.
    pub fn remaining_ms(&self, now: LocalTime) -> Option<DurationMs> {
        if !matches!(self.state, State::Active | State::Warning { .. }) {
            return None;
        }
        let expires_at = self.limits()?.expires_at;
        let deadline = self
            .idle_deadline()
            .map_or(expires_at, |idle| idle.min(expires_at));
        Some(deadline.since(self.peek_clock(now)).max(DurationMs::ZERO))
    }

    fn limits(&self) -> Option<Limits> {
        self.limits
    }

    /// The policy in force, once a view arrived.
    pub fn policy(&self) -> Option<&SessionPolicy> {
        self.policy.as_ref()
    }

    /// The session id, once a view arrived.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The signed-in user, from the latest view of this session.
    pub fn user(&self) -> Option<&UserView> {
        self.user.as_ref()
    }

    /// The user's scopes, from the latest view of this session.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    // ----- internals ----------------------------------------------------------------------

    /// Every input starts here: advance the clock and act on whatever fell due, so a late
    /// wake-up never lets stale state act. Returns the server time, or `None` once ended.
    fn begin(&mut self, now: impl Into<Now>) -> Option<ServerTime> {
        if self.is_ended() {
            return None;
        }
        let t = self.clock(now.into());
        self.tick(t);
        (!self.is_ended()).then_some(t)
    }

    fn clock(&mut self, now: Now) -> ServerTime {
        let Some(reading) = self.read_clock(now) else {
            return ClockOffset::ZERO.to_server(now.wall);
        };
        let (t, offset, jumped, went_back) = reading;
        if jumped || went_back {
            // How far the offset is off is unknown until the next answer.
            self.offset = Some(offset);
            self.offset_checked = false;
        }
        if jumped {
            self.effects.push_back(Effect::FetchSession);
        }
        self.high_water = t;
        self.monotonic_anchor = now.monotonic.map(|mono| (mono, t));
        t
    }

    /// What [`Engine::clock`] makes of `now`, without keeping anything: engine time, the
    /// offset from then on, whether the wall clock jumped ahead and whether it went back.
    /// `None` before the first view (engine time is then the wall clock, and nothing is kept).
    fn read_clock(&self, now: Now) -> Option<(ServerTime, ClockOffset, bool, bool)> {
        let mut offset = self.offset?;
        let mut raw = offset.to_server(now.wall);
        let mut jumped = false;
        if let (Some(mono), Some((anchor_mono, anchor_t))) = (now.monotonic, self.monotonic_anchor)
        {
            let monotonic = anchor_t.saturating_add(elapsed(anchor_mono, mono));
            if raw > monotonic.saturating_add(FORWARD_JUMP_TOLERANCE) {
                // The wall clock ran ahead of the monotonic one: a clock correction, or a sleep
                // on a platform whose monotonic clock pauses. Only the server can tell, so time
                // follows the monotonic clock and the server is asked for its own.
                offset = offset.shifted(monotonic.since(raw));
                raw = monotonic;
                jumped = true;
            }
        }
        // The local clock went back: shift the offset so time resumes where it was.
        let went_back = raw < self.high_water;
        if went_back {
            offset = offset.shifted(self.high_water.since(raw));
        }
        Some((raw.max(self.high_water), offset, jumped, went_back))
    }

    fn peek_clock(&self, now: LocalTime) -> ServerTime {
        self.offset
            .map_or(ClockOffset::ZERO.to_server(now), |offset| {
                offset.to_server(now).max(self.high_water)
            })
    }

    fn to_local(&self, server: ServerTime) -> LocalTime {
        self.offset.unwrap_or(ClockOffset::ZERO).to_local(server)
    }

    /// Our clock ran `lead` ahead of the server: move every instant we stamped back by it.
    /// That can only bring deadlines and wake-ups closer, never push them out.
    fn rebase(&mut self, lead: DurationMs) {
        let back = |at: ServerTime| at.saturating_sub(lead);
        self.last_activity = back(self.last_activity);
        self.own_activity = back(self.own_activity);
        self.reported_activity = back(self.reported_activity);
        self.prompt_report = back(self.prompt_report);
        self.unreported_since = back(self.unreported_since);
        self.last_keepalive = self.last_keepalive.map(back);
        self.last_activity_broadcast = self.last_activity_broadcast.map(back);
        self.heartbeat_sent = back(self.heartbeat_sent);
        self.heartbeat_heard = back(self.heartbeat_heard);
        self.next_poll = self.next_poll.map(back);
        self.session_wait = self.session_wait.map(back);
        self.anchored_at = back(self.anchored_at);
        self.offset_learned_at = back(self.offset_learned_at);
        self.asked_ahead_at = back(self.asked_ahead_at);
        self.ending_wait = self.ending_wait.map(back);
        self.confirming = self.confirming.map(back);
        self.connection_at = back(self.connection_at);
        if let PushStream::ReopenAt(at) = self.push {
            self.push = PushStream::ReopenAt(back(at));
        }
        if let Registration::RetryAt(at) = self.registration {
            self.registration = Registration::RetryAt(back(at));
        }
        self.recording.rebase(lead);
    }

    /// Acts on everything due at `t`, in the order of [`Timer::ALL`] (endings first), then
    /// refreshes the warning state.
    fn tick(&mut self, t: ServerTime) {
        // The ending check runs at every input, due or not: it also drops a confirmation
        // whose ending is no longer due.
        if self.check_ending(t) {
            return;
        }
        for timer in Timer::ALL {
            if self.deadline(timer).is_some_and(|at| t >= at) {
                self.fire(timer, t);
            }
        }
        if let State::Active | State::Warning { .. } = self.state {
            self.state = match (self.warning_at(), self.idle_deadline()) {
                (Some(warn), Some(deadline)) if t >= warn => State::Warning {
                    deadline: self.to_local(deadline),
                },
                _ => State::Active,
            };
        }
    }

    /// The engine instant at which `timer` falls due, `None` while it does not run.
    fn deadline(&self, timer: Timer) -> Option<ServerTime> {
        if self.is_ended() {
            return None;
        }
        match timer {
            Timer::Poll => self.poll_due(),
            // Every other timer belongs to a session the server confirmed.
            _ if self.policy.is_none() => None,
            // Once the deadlines have passed, what is left is waiting for the server.
            Timer::Ending => match self.confirming {
                Some(_) => None,
                None => {
                    let expires_at = self.limits()?.expires_at;
                    let end = self
                        .idle_deadline()
                        .map_or(expires_at, |idle| idle.min(expires_at));
                    let ask_at = end.saturating_sub(CONFIRM_AHEAD);
                    if self.anchored_at < ask_at && self.asked_ahead_at < ask_at {
                        Some(ask_at)
                    } else {
                        // With the server's answer in hand, wake when the least its clock
                        // can read gets there, not before: a second wake-up would add a
                        // timer's lateness to the ending.
                        let fresh = self.anchored_at >= ask_at;
                        let wake = end.saturating_add(if fresh {
                            self.floor_lag()
                        } else {
                            DurationMs::ZERO
                        });
                        Some(self.ending_wait.map_or(wake, |wait| wait.max(wake)))
                    }
                }
            },
            Timer::ConfirmWait => self
                .confirming
                .map(|asked| asked.saturating_add(CONFIRM_WAIT)),
            Timer::IdleWarning => (self.state == State::Active)
                .then(|| self.warning_at())
                .flatten(),
            Timer::LifetimeNotice => self
                .shows_content()
                .then(|| self.next_lifetime_warning())
                .flatten(),
            Timer::ActivityBroadcast => self.broadcast_due(),
            Timer::Keepalive => self.keepalive_due(),
            Timer::Heartbeat => self.watches_leader().then(|| self.heartbeat_due()),
            Timer::PushReopen => match self.push {
                PushStream::ReopenAt(at) => Some(at),
                PushStream::Closed | PushStream::Open => None,
            },
            Timer::RegistrationRetry => match self.registration {
                Registration::RetryAt(at) => Some(at),
                Registration::Unregistered | Registration::Sent => None,
            },
            Timer::Recording => self.recording.deadline(),
        }
    }

    /// Acts on a timer that fell due at `t`.
    fn fire(&mut self, timer: Timer, t: ServerTime) {
        match timer {
            // Before the deadline: ask the server now, so that its answer is in hand when
            // the deadline comes. The deadline itself is checked first, at every input
            // (`check_ending`).
            Timer::Ending => {
                if self.due_ending(t).is_none() {
                    self.asked_ahead_at = t;
                    self.effects.push_back(Effect::FetchSession);
                }
            }
            Timer::ConfirmWait => {}
            Timer::Poll if self.waits_for_changes() => {
                self.effects
                    .push_back(Effect::AwaitSessionChange { wait: SESSION_WAIT });
                self.session_wait = Some(t);
                // Started again when this one is over (`handle_session_wait_over`).
                self.next_poll = None;
            }
            Timer::Poll => {
                self.effects.push_back(Effect::FetchSession);
                self.next_poll = Some(t.saturating_add(self.config.poll_interval));
            }
            // Wake-ups only: the state and the notice are worked out from the clock.
            Timer::IdleWarning | Timer::LifetimeNotice => {}
            Timer::ActivityBroadcast => self.broadcast_activity(
                PeerBody::Activity {
                    at: self.last_activity,
                },
                t,
            ),
            Timer::Keepalive => self.send_keepalive(t),
            Timer::Heartbeat => self.heartbeat_due_now(t),
            Timer::PushReopen => {
                // Still leading: open it again; otherwise `settle` lets it go.
                if self.leader {
                    self.push = PushStream::Open;
                    self.effects.push_back(Effect::OpenPush);
                }
            }
            Timer::RegistrationRetry => self.registration = Registration::Unregistered,
            Timer::Recording => {
                let ctx = ChunkContext {
                    tab_id_json: &self.tab_id_json,
                    offset_ms: self.offset.unwrap_or(ClockOffset::ZERO).as_millis(),
                };
                self.recording.timeout(&ctx, t, &mut self.effects);
            }
        }
    }

    /// Ends the session if an ending is due and either the server already passed it or
    /// left the question unanswered too long; otherwise asks the server once. Returns
    /// whether the session ended.
    fn check_ending(&mut self, t: ServerTime) -> bool {
        self.ending_wait = None;
        let monotonic = self.monotonic_anchor.map(|(monotonic, _)| monotonic);
        match self.due_ending(t) {
            Some((reason, deadline)) => {
                if self.ends_at(t, monotonic, deadline) {
                    self.end(Some(reason), Notify::Everyone);
                    return true;
                }
                if self.confirming.is_none() {
                    // The wall clock ran ahead of the monotonic one by less than a jump
                    // (rounding, slewing): wait for the monotonic clock to get there.
                    let fresh = self.anchored_at >= deadline.saturating_sub(CONFIRM_AHEAD);
                    let behind = self
                        .server_time_at_least()
                        .filter(|_| fresh)
                        .map(|at| deadline.since(at))
                        .filter(|lag| *lag <= FORWARD_JUMP_TOLERANCE);
                    if let Some(lag) = behind {
                        self.ending_wait = Some(t.saturating_add(lag));
                        return false;
                    }
                    self.confirming = Some(t);
                    self.effects.push_back(Effect::FetchSession);
                }
            }
            None => self.confirming = None,
        }
        false
    }

    /// Whether an ending due at engine time `t` with `deadline`, the monotonic clock reading
    /// `monotonic`, ends the session without another word from the server.
    ///
    /// A deadline the server's own clock already passed ends here: a view came after it, or
    /// a view from at most `CONFIRM_AHEAD` before it, with the same activity and policy, and
    /// the monotonic time since that view arrived carries the server's clock past it (the
    /// server stamped the view before it arrived, so its clock is at least that far on). So
    /// is one the server left unanswered for too long. Any other is a question to the server
    /// first, whose answer decides.
    fn ends_at(&self, t: ServerTime, monotonic: Option<DurationMs>, deadline: ServerTime) -> bool {
        let fresh = self.anchored_at >= deadline.saturating_sub(CONFIRM_AHEAD);
        let answered = deadline <= self.anchored_at
            || (fresh
                && self
                    .server_time_at(monotonic)
                    .is_some_and(|at| deadline <= at));
        let unanswered = self
            .confirming
            .is_some_and(|asked| t >= asked.saturating_add(CONFIRM_WAIT));
        answered || unanswered
    }

    /// The ending a wake-up ([`Engine::handle_timeout`]) at `now` would carry out, and the
    /// inactivity limit its [`Effect::Redirect`] would carry: `None` when it would not end
    /// the session. A pure query, so that the browser layer can start leaving for the login
    /// page the moment its timer fires and feed the engine right after, which then ends
    /// the same way (the same rule as [`Engine::handle_timeout`], by the same code).
    pub fn clock_ending(&self, now: impl Into<Now>) -> Option<(Reason, Option<DurationMs>)> {
        if self.is_ended() {
            return None;
        }
        let now = now.into();
        let t = self.read_clock(now)?.0;
        let (reason, deadline) = self.due_ending(t)?;
        self.ends_at(t, now.monotonic, deadline)
            .then(|| (reason, self.limits().and_then(|limits| limits.idle_timeout)))
    }

    /// The least the server's clock can read now: the floor view's `server_time` plus the
    /// monotonic time since that view arrived, less what the clocks may have drifted
    /// apart meanwhile. `None` without a monotonic clock.
    fn server_time_at_least(&self) -> Option<ServerTime> {
        self.server_time_at(self.monotonic_anchor.map(|(monotonic, _)| monotonic))
    }

    /// [`Engine::server_time_at_least`] when the monotonic clock reads `monotonic`.
    fn server_time_at(&self, monotonic: Option<DurationMs>) -> Option<ServerTime> {
        let (stamped, arrived) = self.floor?;
        let run = elapsed(arrived, monotonic?).as_millis();
        Some(stamped.saturating_add(DurationMs::from_millis(run - run / CLOCK_DRIFT_PARTS)))
    }

    /// How far the least the server's clock can read trailed engine time at the latest
    /// input (both then run with the monotonic clock), plus a millisecond for the two
    /// clocks' readings being whole milliseconds, each rounded down at its own phase; zero
    /// without a floor, or when it trails by more than a jump (the ending asks the server).
    fn floor_lag(&self) -> DurationMs {
        match (self.monotonic_anchor, self.server_time_at_least()) {
            (Some((_, t)), Some(floor)) if t.since(floor) <= FORWARD_JUMP_TOLERANCE => {
                let lag = t.since(floor).max(DurationMs::ZERO).as_millis();
                DurationMs::from_millis(lag + 1)
            }
            _ => DurationMs::ZERO,
        }
    }

    /// The clock offset after a view stamped `stamped` arrived at `now` (asked at `asked`
    /// when it answers a request; engine time `predicted` by the offset held so far), and
    /// whether it was learned from this view.
    ///
    /// NTP-style, one-sided: the server stamped the view before it arrived, so the offset
    /// is at least `stamped - now` (the lowest), and for an answer at most that plus the
    /// round trip (the highest). The tab keeps the highest lowest seen, the view that
    /// travelled fastest (its claimed instants then lie early by that view's transit, and
    /// the least the server's clock can read, taken from the same view, lags by the same,
    /// so an ending waits for nothing more), lowered by the drift since it was learned,
    /// until a view proves more, or an answer's highest lies below it (a clock stepped, or
    /// drifted beyond the allowance): then the answer's lowest is taken, and every stored
    /// instant moves back with it. Before any answer (pushed views only), or after a jump
    /// shifted it, the latest view's lowest replaces it, as it comes.
    fn learn_offset(
        &mut self,
        stamped: ServerTime,
        asked: Option<Now>,
        now: Now,
        predicted: ServerTime,
    ) -> (ClockOffset, bool) {
        let lowest = ClockOffset::between(now.wall, stamped);
        let round_trip = asked.and_then(|asked| match (asked.monotonic, now.monotonic) {
            (Some(sent), Some(received)) => Some(elapsed(sent, received)),
            // Without a monotonic clock a wall clock that went back leaves no round trip.
            _ => Some(now.wall.since(asked.wall)).filter(|rtt| *rtt >= DurationMs::ZERO),
        });
        let highest = round_trip.map(|rtt| lowest.shifted(rtt));
        let kept = self.offset.filter(|_| self.offset_checked).map(|offset| {
            let age = predicted
                .since(self.offset_learned_at)
                .max(DurationMs::ZERO);
            offset.shifted(DurationMs::from_millis(
                -(age.as_millis() / CLOCK_DRIFT_PARTS),
            ))
        });
        let (offset, learned) = match (kept, highest) {
            (Some(kept), highest)
                if lowest <= kept && highest.is_none_or(|highest| kept <= highest) =>
            {
                (self.offset.unwrap_or(kept), false)
            }
            _ => (lowest, true),
        };
        // Once an answer confirmed it, a view can only raise it (or an answer replace it).
        self.offset_checked |= highest.is_some();
        (offset, learned)
    }

    /// Emits what follows from where the inputs left the session: joining its channel (and
    /// lock queue) once it is known, the push stream following leadership, and the tab's
    /// registration once the session is in use. Nothing follows an ending: the redirect
    /// releases everything.
    fn settle(&mut self) {
        if self.is_ended() {
            self.push = PushStream::Closed;
            return;
        }
        if self.session_id.is_none() {
            return;
        }
        self.join();
        match (self.leader, self.push) {
            (true, PushStream::Closed) => {
                self.push = PushStream::Open;
                self.effects.push_back(Effect::OpenPush);
            }
            (false, PushStream::Open | PushStream::ReopenAt(_)) => {
                self.push = PushStream::Closed;
                self.effects.push_back(Effect::ClosePush);
            }
            _ => {}
        }
        if self.shows_content()
            && !self.page_left
            && self.registration == Registration::Unregistered
        {
            self.registration = Registration::Sent;
            self.effects.push_back(Effect::RegisterTab);
        }
        let recorded = self.shows_content()
            && !self.page_left
            && self.consent_accepted
            && self.policy.as_ref().is_some_and(|p| p.recording_required);
        self.recording
            .set_wanted(recorded, self.high_water, &mut self.effects);
    }

    /// The ending that is due at `t`, with its deadline.
    fn due_ending(&self, t: ServerTime) -> Option<(Reason, ServerTime)> {
        let expires_at = self.limits()?.expires_at;
        let expired = t >= expires_at;
        match (expired, self.idle_deadline().filter(|d| t >= *d)) {
            (true, Some(idle)) if idle < expires_at => Some((Reason::IdleTimeout, idle)),
            (true, _) => Some((Reason::SessionExpired, expires_at)),
            (false, Some(idle)) => Some((Reason::IdleTimeout, idle)),
            (false, None) => None,
        }
    }

    /// The heartbeat timer fell due: the leader says it is alive; a follower has not heard
    /// from the leader for [`MISSED_HEARTBEATS`] intervals and takes over.
    fn heartbeat_due_now(&mut self, t: ServerTime) {
        let interval = self.config.heartbeat_interval;
        if self.leader {
            if self.config.leader_mode == LeaderMode::Heartbeat
                && t >= self
                    .heartbeat_sent
                    .saturating_add(interval.times(MISSED_HEARTBEATS))
            {
                // This leader itself stopped running for so long that another tab has taken
                // over: it rejoins as a follower instead of fighting for the lead.
                self.leader = false;
                self.heartbeat_heard = t;
                return;
            }
            self.heartbeat_sent = t;
            self.broadcast(PeerBody::LeaderHeartbeat { at: t });
            return;
        }
        // Silent leader: retry only after another full bound.
        self.heartbeat_heard = t;
        match self.config.leader_mode {
            LeaderMode::Heartbeat => self.become_leader(t),
            LeaderMode::Lock => {
                self.effects.push_back(Effect::TakeOverLeadership);
                // Until the lock is granted, this tab checks the session itself: the silent
                // leader may have missed an ending.
                self.effects.push_back(Effect::FetchSession);
            }
        }
    }

    /// This tab starts leading: it announces itself and checks the session at once, since
    /// it cannot know what the previous leader missed.
    fn become_leader(&mut self, t: ServerTime) {
        self.leader = true;
        self.heartbeat_sent = t;
        self.broadcast(PeerBody::LeaderHeartbeat { at: t });
        self.effects.push_back(Effect::FetchSession);
    }

    /// When to poll the server. Only the leader holds the push stream (browsers allow six
    /// connections per host over HTTP/1.1, so a stream per tab would starve the seventh tab),
    /// so only the leader polls while it is down; the others hear of endings from the
    /// leader's broadcast. Before the first view every tab retries on its own.
    fn poll_due(&self) -> Option<ServerTime> {
        if self.session_wait.is_some() && self.waits_for_changes() {
            // The held request is the poll: the server answers it when anything changes.
            return None;
        }
        self.next_poll
            .filter(|_| self.leader || self.state == State::Starting)
    }

    /// Whether the leader's poll is a held request ([`Effect::AwaitSessionChange`]): its
    /// push stream is down, the server answers, and the session is known.
    fn waits_for_changes(&self) -> bool {
        self.leader
            && !self.push_connected
            && !self.connection_problem
            && self.policy.is_some()
            && self.state != State::Starting
    }

    fn idle_deadline(&self) -> Option<ServerTime> {
        let idle = self.limits()?.idle_timeout?;
        Some(self.last_activity.saturating_add(idle))
    }

    fn warning_at(&self) -> Option<ServerTime> {
        let lead = self.limits()?.warning_lead;
        Some(self.idle_deadline()?.saturating_sub(lead))
    }

    /// The next lifetime-warning instant still ahead, server time.
    fn next_lifetime_warning(&self) -> Option<ServerTime> {
        let expires_at = self.limits()?.expires_at;
        LIFETIME_WARNING_LEADS
            .iter()
            .map(|lead| expires_at.saturating_sub(*lead))
            .filter(|at| *at > self.high_water)
            .min()
    }

    fn broadcast_due(&self) -> Option<ServerTime> {
        if !self.activity_broadcast_pending {
            return None;
        }
        let last = self.last_activity_broadcast?;
        Some(last.saturating_add(self.config.activity_broadcast_interval))
    }

    /// When the leader owes the server a keepalive: after activity it has not reported, once
    /// the keepalive interval has passed, sooner if the server's own idle deadline (as of
    /// the last report) is about to enter its warning window, at once for activity that
    /// must be reported promptly; in a visible tab, not before [`REPORT_SETTLE`] after the
    /// first activity it reports, unless the server's deadline is near.
    /// None while consent is pending: the server refuses keepalives then (a pending session
    /// cannot be kept alive), and the activity is reported once consent is given.
    fn keepalive_due(&self) -> Option<ServerTime> {
        let limits = self.limits()?;
        if !self.leader
            || self.last_activity <= self.reported_activity
            || self.state == State::AwaitingConsent
        {
            return None;
        }
        let by_interval = self
            .last_keepalive
            .map_or(EARLIEST, |at| at.saturating_add(limits.keepalive_interval));
        let server_deadline = limits
            .idle_timeout
            .map_or(LATEST, |idle| self.reported_activity.saturating_add(idle));
        let by_server_deadline = server_deadline.saturating_sub(limits.warning_lead);
        let by_prompt = if self.prompt_report > self.reported_activity {
            EARLIEST
        } else {
            LATEST
        };
        let due = by_interval
            .min(by_server_deadline)
            .min(by_prompt)
            .max(self.last_activity);
        let settled = self.unreported_since.saturating_add(REPORT_SETTLE);
        if self.hidden || settled.saturating_add(CONFIRM_AHEAD) >= server_deadline {
            Some(due)
        } else {
            Some(due.max(settled))
        }
    }

    /// Activity at `at` in any tab; the first the server has not heard of starts the
    /// keepalive's settle.
    fn note_activity(&mut self, at: ServerTime) {
        if self.last_activity <= self.reported_activity {
            self.unreported_since = at;
        }
        self.last_activity = self.last_activity.max(at);
    }

    /// The activity so far must reach the server at once, not at the next keepalive slot,
    /// which may come after the server's deadline ([`Engine::keepalive_due`]).
    fn report_promptly(&mut self) {
        self.prompt_report = self.last_activity;
    }

    fn heartbeat_due(&self) -> ServerTime {
        let interval = self.config.heartbeat_interval;
        if self.leader {
            self.heartbeat_sent.saturating_add(interval)
        } else {
            self.heartbeat_heard
                .saturating_add(interval.times(MISSED_HEARTBEATS))
        }
    }

    /// Whether the heartbeat timer runs: the leader's, or a visible follower's.
    fn watches_leader(&self) -> bool {
        self.is_live() && (self.leader || !self.hidden)
    }

    fn is_live(&self) -> bool {
        matches!(
            self.state,
            State::AwaitingConsent | State::Active | State::Warning { .. }
        )
    }

    /// Whether the protected content shows: signed in, consent given where required.
    fn shows_content(&self) -> bool {
        matches!(self.state, State::Active | State::Warning { .. })
    }

    fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended { .. })
    }

    fn send_keepalive(&mut self, t: ServerTime) {
        if !self.leader {
            return;
        }
        self.effects.push_back(Effect::SendKeepalive {
            idle_ms: t.since(self.last_activity).max(DurationMs::ZERO),
            last_activity_at: self.last_activity.min(t),
        });
        self.last_keepalive = Some(t);
        self.reported_activity = self.last_activity;
    }

    fn broadcast_activity(&mut self, body: PeerBody, t: ServerTime) {
        self.broadcast(body);
        self.last_activity_broadcast = Some(t);
        self.activity_broadcast_pending = false;
    }

    /// Answers a new tab's hello so it joins with the current state.
    fn greet(&mut self, t: ServerTime) {
        self.broadcast(PeerBody::Activity {
            at: self.last_activity,
        });
        if self.consent_accepted && self.policy.as_ref().is_some_and(|p| p.recording_required) {
            self.broadcast(PeerBody::Consent { accepted: true });
        }
        if self.leader {
            self.heartbeat_sent = t;
            self.broadcast(PeerBody::LeaderHeartbeat { at: t });
        }
        if self.connection_problem {
            self.broadcast(PeerBody::Connection {
                reachable: false,
                at: self.connection_at,
            });
        }
    }

    /// Joins the session's channel (and in lock mode its lock queue) once its id is known.
    fn join(&mut self) {
        let Some(session_id) = self.session_id.as_ref().filter(|_| !self.joined) else {
            return;
        };
        self.joined = true;
        self.effects.push_back(Effect::JoinSession {
            session_id: session_id.clone(),
        });
        if self.config.leader_mode == LeaderMode::Lock {
            self.effects.push_back(Effect::QueueForLeadership);
        }
    }

    fn broadcast(&mut self, body: PeerBody) {
        // The channel is joined before anything is said on it.
        self.join();
        if let Some(session_id) = &self.session_id {
            let text = peer::encode(session_id, &self.config.tab_id, &body);
            self.effects.push_back(Effect::Broadcast(text));
        }
    }

    fn end(&mut self, reason: Option<Reason>, notify: Notify) {
        if self.is_ended() {
            return;
        }
        if let Some(reason) = &reason {
            if notify != Notify::Nobody {
                self.broadcast(PeerBody::Logout {
                    reason: reason.clone(),
                });
            }
            if notify == Notify::Everyone {
                self.effects.push_back(Effect::EndServerSession {
                    reason: reason.clone(),
                });
            }
        }
        if reason == Some(Reason::TabTerminated) {
            // The server never registers an ended tab's id again: should the user come
            // back to a protected page in this browser tab, it starts as a new sub-session.
            self.effects.push_back(Effect::ForgetTabIdentity);
        }
        self.effects.push_back(Effect::Redirect {
            reason: reason.clone(),
            idle_limit: self.limits().and_then(|limits| limits.idle_timeout),
        });
        self.state = State::Ended { reason };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{ConsentState, RecordingView};

    fn view(at: i64) -> SessionView {
        SessionView {
            session_id: "ses_rebase".into(),
            user: UserView {
                id: 1,
                username: "admin".into(),
                display_name: "Ada Admin".into(),
            },
            privileged: true,
            scopes: vec!["admin:manage".into()],
            issued_at: ServerTime::from_millis(0),
            expires_at: ServerTime::from_millis(24 * 3_600_000),
            idle_timeout_ms: Some(DurationMs::MINUTE.times(15)),
            warning_lead_ms: DurationMs::MINUTE,
            keepalive_interval_ms: DurationMs::MINUTE,
            last_activity_at: ServerTime::from_millis(0),
            recording: RecordingView {
                required: false,
                consent: ConsentState::NotRequired,
            },
            server_time: ServerTime::from_millis(at),
        }
    }

    /// A view that reveals the local clock ran ahead moves every timer of the one list that
    /// hangs on an instant this tab stamped back by the lead, and none out: a stored instant
    /// that `rebase` forgot would show here.
    #[test]
    fn a_rebase_moves_every_running_timer_back_by_the_lead() {
        let local = LocalTime::from_millis;
        let mut engine = Engine::new(EngineConfig::new("tab_rebase"));
        engine.handle_server_view(view(0), local(0));
        engine.handle_leadership(true, local(10));
        // Carried out: the stream opened and the tab registered.
        while engine.poll_effect().is_some() {}
        engine.handle_push_stream_closed(local(20));
        engine.handle_tab_registration_lost(local(30));
        engine.handle_activity(local(40));
        // The keepalive for it goes out one settle later; the next activity waits for its slot.
        engine.handle_timeout(local(40 + REPORT_SETTLE.as_millis()));
        engine.handle_activity(local(57));
        engine.handle_server_unreachable(local(60));
        while engine.poll_effect().is_some() {}
        let running = |engine: &Engine| Timer::ALL.map(|timer| engine.deadline(timer));
        let before = running(&engine);
        for timer in [
            Timer::Ending,
            Timer::Poll,
            Timer::Heartbeat,
            Timer::ActivityBroadcast,
            Timer::Keepalive,
            Timer::IdleWarning,
            Timer::PushReopen,
            Timer::RegistrationRetry,
        ] {
            let at = Timer::ALL.iter().position(|t| *t == timer).unwrap_or(0);
            assert!(before[at].is_some(), "{timer:?} runs in this state");
        }
        let lead = DurationMs::from_millis(7);
        engine.rebase(lead);
        for (timer, (was, now)) in Timer::ALL.iter().zip(before.iter().zip(running(&engine))) {
            match (was, now) {
                (Some(was), Some(now)) => {
                    assert!(now <= *was, "{timer:?} moved out: {was:?} -> {now:?}");
                    // The lifetime notices hang on the server's own expiry, which no local
                    // clock stamped; every other timer hangs on an instant this tab stamped.
                    if *timer != Timer::LifetimeNotice {
                        assert_eq!(now, was.saturating_sub(lead), "{timer:?}");
                    }
                }
                (None, None) => {}
                _ => panic!("{timer:?} started or stopped: {was:?} -> {now:?}"),
            }
        }
    }
}
