//! A simulated browser with N tabs and a reference server, for multi-tab tests.
//!
//! str0m-style: the harness owns the engines and one real-time clock, delivers every
//! `Broadcast` to the other tabs, answers HTTP effects like the reference server, and
//! advances time straight to the earliest requested wake-up. Each tab's local clock is the
//! real time plus its `skew`, which tests may change to simulate clock jumps; its monotonic
//! clock is the real time. In lock mode the harness holds the one leader lock and lets a
//! tab take it over. A tab can be stalled (it runs nothing: no timers, no messages; what it
//! would have received waits) and resumed, like a tab blocked in `alert()`.

use std::collections::VecDeque;

use session_guard_contract::api::ACTIVITY_CLAIM_WINDOW;

use super::{
    ConsentState, DurationMs, Effect, Engine, EngineConfig, LeaderMode, LocalTime, Millis, Now,
    Reason, RecorderBatch, RecordingView, ServerTime, SessionView, State, UploadOutcome, UserView,
};

/// The reference server's session, reduced to what the engine sees.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    /// Server clock = real time + `offset`.
    pub offset: Millis,
    pub privileged: bool,
    pub expires_at: Millis,
    pub idle_timeout: Millis,
    pub warning_lead: Millis,
    pub keepalive_interval: Millis,
    pub recording_required: bool,
    pub consent: ConsentState,
    pub last_activity: Millis,
    pub ended: Option<Reason>,
    pub issued_at: Millis,
    /// `false` makes every request fail at the network level.
    pub reachable: bool,
    /// `false` makes every recording upload fail (the rest of the API still answers).
    pub recording_reachable: bool,
    /// The recording chunks stored per tab, in seq order: (seq, body).
    pub chunks: Vec<Vec<(u32, String)>>,
}

/// A reading of a tab's wall clock, for tests that drive one engine by hand.
pub(crate) const fn local(ms: Millis) -> LocalTime {
    LocalTime::from_millis(ms)
}

pub(crate) const SESSION_ID: &str = "ses_test";
pub(crate) const MINUTE: Millis = 60_000;

impl Server {
    /// A privileged 24 h session issued at server time `issued_at`: 15 min idle, 1 min lead.
    pub fn privileged(issued_at: Millis) -> Server {
        Server {
            offset: 0,
            privileged: true,
            expires_at: issued_at + 24 * 60 * MINUTE,
            idle_timeout: 15 * MINUTE,
            warning_lead: MINUTE,
            keepalive_interval: MINUTE,
            recording_required: false,
            consent: ConsentState::NotRequired,
            last_activity: issued_at,
            ended: None,
            issued_at,
            reachable: true,
            recording_reachable: true,
            chunks: Vec::new(),
        }
    }

    pub fn view(&self, real: Millis) -> SessionView {
        SessionView {
            session_id: SESSION_ID.into(),
            user: UserView {
                id: 1,
                username: "admin".into(),
                display_name: "Ada Admin".into(),
            },
            privileged: self.privileged,
            scopes: vec!["admin:manage".into()],
            issued_at: ServerTime::from_millis(self.issued_at),
            expires_at: ServerTime::from_millis(self.expires_at),
            idle_timeout_ms: self
                .privileged
                .then_some(DurationMs::from_millis(self.idle_timeout)),
            warning_lead_ms: DurationMs::from_millis(self.warning_lead),
            keepalive_interval_ms: DurationMs::from_millis(self.keepalive_interval),
            last_activity_at: ServerTime::from_millis(self.last_activity),
            recording: RecordingView {
                required: self.recording_required,
                consent: self.consent,
            },
            server_time: ServerTime::from_millis(real + self.offset),
        }
    }

    /// Enforces the deadlines on a request, as the real server does.
    fn check(&mut self, real: Millis) -> Option<Reason> {
        let now = real + self.offset;
        if self.ended.is_none() {
            if now >= self.expires_at {
                self.ended = Some(Reason::SessionExpired);
            } else if self.privileged && now >= self.last_activity + self.idle_timeout {
                self.ended = Some(Reason::IdleTimeout);
            }
        }
        self.ended.clone()
    }
}

/// One simulated tab and what the harness observed of it.
#[derive(Debug)]
pub(crate) struct Tab {
    pub engine: Engine,
    /// Local clock = real time + `skew`.
    pub skew: Millis,
    /// Real time at which the engine entered `Ended`.
    pub ended_at: Option<Millis>,
    /// (real time, local deadline) of every entry into `Warning`.
    pub warnings: Vec<(Millis, Millis)>,
    pub redirects: Vec<Option<Reason>>,
    pub keepalives: usize,
    /// `FetchSession` and `AwaitSessionChange` requests made.
    pub session_reads: usize,
    /// Whether the tab's push stream, when it holds one, is up.
    pub push_connected: bool,
    /// Whether the tab holds a push stream (`OpenPush` .. `ClosePush` or its redirect).
    pub push_open: bool,
    /// How many times the tab opened its push stream.
    pub push_opens: usize,
    /// `JoinSession` effects seen, with their session ids.
    pub joins: Vec<String>,
    /// `RegisterTab` and `CloseTab` effects seen, in order (`true` for a registration).
    pub registrations: Vec<bool>,
    /// Whether the tab was told to forget its id (`ForgetTabIdentity`).
    pub forgot_identity: bool,
    /// A stalled tab runs nothing; its inputs wait in `held` until it resumes.
    pub stalled: bool,
    /// Whether the tab's inputs carry its monotonic clock (browsers with `performance`).
    pub monotonic: bool,
    /// Whether the tab's recorder runs (`StartRecorder` .. `StopRecorder` or its redirect).
    pub recorder_running: bool,
    /// `false` makes the recorder fail to start.
    pub recorder_loads: bool,
    held: VecDeque<Input>,
}

#[derive(Debug)]
enum Input {
    View,
    Terminated(Reason),
    TabEnded(String),
    Unreachable,
    Peer(String),
    Leadership(bool),
    /// The held request of `AwaitSessionChange` is over.
    WaitOver,
    /// The recorder started (`true`) or failed.
    Recorder(bool),
    /// The upload of a recording chunk ended.
    Uploaded(u32, UploadOutcome),
}

/// N tabs of one session, one server, one real clock.
pub(crate) struct Harness {
    pub now: Millis,
    pub tabs: Vec<Tab>,
    pub server: Server,
    /// Lock mode: the tab holding the leader lock.
    pub lock_holder: Option<usize>,
    /// Held `AwaitSessionChange` requests: (tab, real time at which the wait elapses).
    pub waits: Vec<(usize, Millis)>,
    queue: VecDeque<(usize, Input)>,
}

impl Harness {
    /// `n` tabs (ids `tab_00`...) configured by `configure`; none has its view yet.
    pub fn new(
        server: Server,
        n: usize,
        mode: LeaderMode,
        configure: impl Fn(&mut EngineConfig),
    ) -> Harness {
        let tabs = (0..n)
            .map(|i| {
                let mut config = EngineConfig::new(format!("tab_{i:04}"));
                config.leader_mode = mode;
                configure(&mut config);
                Tab {
                    engine: Engine::new(config),
                    skew: 0,
                    ended_at: None,
                    warnings: Vec::new(),
                    redirects: Vec::new(),
                    keepalives: 0,
                    session_reads: 0,
                    push_connected: true,
                    push_open: false,
                    push_opens: 0,
                    joins: Vec::new(),
                    registrations: Vec::new(),
                    forgot_identity: false,
                    stalled: false,
                    monotonic: true,
                    recorder_running: false,
                    recorder_loads: true,
                    held: VecDeque::new(),
                }
            })
            .collect();
        let mut server = server;
        server.chunks = vec![Vec::new(); n];
        Harness {
            now: server.issued_at - server.offset,
            tabs,
            server,
            lock_holder: None,
            waits: Vec::new(),
            queue: VecDeque::new(),
        }
    }

    /// Opens every tab: first view, push stream up, tab 0 holds the lock in lock mode.
    pub fn start_all(&mut self) {
        for i in 0..self.tabs.len() {
            self.start(i);
        }
        self.lock_holder = Some(0);
        self.input(0, |engine, now| engine.handle_leadership(true, now));
    }

    /// Tab `i` stops running (an `alert()` left open): no timers, no messages.
    pub fn stall(&mut self, i: usize) {
        self.tabs[i].stalled = true;
    }

    /// Tab `i` runs again: its overdue timer fires first, then what it was sent meanwhile.
    pub fn resume(&mut self, i: usize) {
        self.tabs[i].stalled = false;
        if self.wake_at(i).is_some_and(|at| at <= self.now) {
            self.wake(i);
        }
        while let Some(input) = self.tabs[i].held.pop_front() {
            self.queue.push_back((i, input));
            self.deliver();
        }
    }

    /// Opens one tab: first view, then its push stream state.
    pub fn start(&mut self, i: usize) {
        let view = self.server.view(self.now);
        let connected = self.tabs[i].push_connected;
        self.input(i, |engine, now| {
            engine.handle_server_view(view, now);
            engine.handle_push_stream(connected, now);
        });
    }

    pub fn local(&self, i: usize) -> Millis {
        self.now + self.tabs[i].skew
    }

    /// What tab `i`'s clocks read now.
    pub fn clocks(&self, i: usize) -> Now {
        Now {
            wall: local(self.local(i)),
            monotonic: self.tabs[i]
                .monotonic
                .then_some(DurationMs::from_millis(self.now)),
        }
    }

    /// Feeds an input to tab `i` at its local time and delivers all consequences.
    pub fn input(&mut self, i: usize, f: impl FnOnce(&mut Engine, Now)) {
        let local = self.clocks(i);
        let before = self.tabs[i].engine.state().clone();
        f(&mut self.tabs[i].engine, local);
        self.after(i, before);
        self.deliver();
    }

    pub fn activity(&mut self, i: usize) {
        self.input(i, |engine, now| engine.handle_activity(now));
    }

    /// The real time at which tab `i` wants to be woken.
    pub fn wake_at(&self, i: usize) -> Option<Millis> {
        let tab = &self.tabs[i];
        tab.engine
            .poll_timeout()
            .map(|local| local.as_millis() - tab.skew)
    }

    /// Wakes tab `i` by its timer. What the engine foretold a wake-up now would end
    /// ([`Engine::clock_ending`], on which the browser layer starts leaving before it feeds
    /// the engine) must be exactly what the wake-up does: the same ending, or none.
    fn wake(&mut self, i: usize) {
        self.input(i, |engine, now| {
            let foretold = engine.clock_ending(now).map(|(reason, _)| Some(reason));
            let was_ended = matches!(engine.state(), State::Ended { .. });
            engine.handle_timeout(now);
            let ended = match engine.state() {
                State::Ended { reason } if !was_ended => Some(reason.clone()),
                _ => None,
            };
            assert_eq!(
                foretold, ended,
                "the ending foretold for a wake-up at {now:?}"
            );
        });
    }

    /// Advances real time to `end`, waking tabs exactly when they asked.
    pub fn run_until(&mut self, end: Millis) {
        for _ in 0..1_000_000 {
            self.release_waits();
            let running = |i: &usize| !self.tabs[*i].stalled;
            let next = (0..self.tabs.len())
                .filter(running)
                .filter_map(|i| self.wake_at(i))
                .chain(self.waits.iter().map(|(_, until)| *until))
                .min();
            match next {
                Some(at) if at <= end => {
                    self.now = self.now.max(at);
                    self.release_waits();
                    for i in 0..self.tabs.len() {
                        if !self.tabs[i].stalled && self.wake_at(i).is_some_and(|at| at <= self.now)
                        {
                            self.wake(i);
                            if let Some(again) = self.wake_at(i) {
                                assert!(again > self.now, "tab {i} re-armed a past wake-up");
                            }
                        }
                    }
                }
                _ => {
                    self.now = self.now.max(end);
                    return;
                }
            }
        }
        panic!("simulation did not reach {end}");
    }

    pub fn states(&self) -> Vec<State> {
        self.tabs.iter().map(|t| t.engine.state().clone()).collect()
    }

    fn after(&mut self, i: usize, before: State) {
        let now = self.now;
        let tab = &mut self.tabs[i];
        match tab.engine.state() {
            State::Warning { deadline } if !matches!(before, State::Warning { .. }) => {
                tab.warnings.push((now, deadline.as_millis()));
            }
            State::Ended { .. } if tab.ended_at.is_none() => tab.ended_at = Some(now),
            _ => {}
        }
        while let Some(effect) = self.tabs[i].engine.poll_effect() {
            if matches!(
                effect,
                Effect::FetchSession | Effect::AwaitSessionChange { .. }
            ) {
                self.tabs[i].session_reads += 1;
            }
            match effect {
                Effect::Broadcast(text) => {
                    for j in (0..self.tabs.len()).filter(|j| *j != i) {
                        self.queue.push_back((j, Input::Peer(text.clone())));
                    }
                }
                Effect::SendKeepalive { .. } | Effect::FetchSession if !self.server.reachable => {
                    self.queue.push_back((i, Input::Unreachable));
                }
                Effect::SendKeepalive {
                    idle_ms,
                    last_activity_at,
                } => {
                    self.tabs[i].keepalives += 1;
                    if self.server.check(now).is_none() {
                        // Like the reference server: the claimed instant within bounds.
                        let server_now = now + self.server.offset;
                        let idle_ms = idle_ms.as_millis().clamp(0, self.server.idle_timeout);
                        let measured = server_now - idle_ms;
                        let at = last_activity_at
                            .as_millis()
                            .clamp(measured - ACTIVITY_CLAIM_WINDOW.as_millis(), measured);
                        self.server.last_activity = self.server.last_activity.max(at);
                    }
                    self.respond(i);
                }
                Effect::FetchSession => {
                    self.server.check(now);
                    self.respond(i);
                }
                Effect::AwaitSessionChange { .. } if !self.server.reachable => {
                    self.queue.push_back((i, Input::Unreachable));
                    self.queue.push_back((i, Input::WaitOver));
                }
                Effect::AwaitSessionChange { wait } => {
                    // Held like the reference server does: answered when the session ends
                    // (`end_server`) or when the wait elapses (`release_waits`).
                    if self.server.check(now).is_some() {
                        self.respond(i);
                        self.queue.push_back((i, Input::WaitOver));
                    } else {
                        self.waits.push((i, now + wait.as_millis()));
                    }
                }
                Effect::TakeOverLeadership => {
                    // Web Locks `steal`: the holder loses the lock, the taker gets it.
                    if let Some(holder) = self.lock_holder.filter(|h| *h != i) {
                        self.queue.push_back((holder, Input::Leadership(false)));
                    }
                    self.lock_holder = Some(i);
                    self.queue.push_back((i, Input::Leadership(true)));
                }
                Effect::SendConsent { accepted: true } => {
                    if self.server.check(now).is_none() {
                        // Like the reference server: answering counts as activity.
                        self.server.consent = ConsentState::Accepted;
                        self.server.last_activity = self.server.last_activity.max(now);
                        for j in 0..self.tabs.len() {
                            self.queue.push_back((j, Input::View));
                        }
                    }
                }
                Effect::SendConsent { accepted: false } => {
                    self.end_server(Reason::ConsentDeclined, i);
                }
                Effect::EndServerSession { reason } => self.end_server(reason, i),
                Effect::Redirect { reason, .. } => {
                    // The browser layer releases everything on the way to the login page.
                    self.tabs[i].push_open = false;
                    self.tabs[i].recorder_running = false;
                    self.tabs[i].redirects.push(reason);
                }
                Effect::JoinSession { session_id } => self.tabs[i].joins.push(session_id),
                // The harness hands the lock out itself (`start_all`, `TakeOverLeadership`).
                Effect::QueueForLeadership => {}
                Effect::OpenPush => {
                    self.tabs[i].push_open = true;
                    self.tabs[i].push_opens += 1;
                }
                Effect::ClosePush => self.tabs[i].push_open = false,
                Effect::RegisterTab => self.tabs[i].registrations.push(true),
                Effect::CloseTab => self.tabs[i].registrations.push(false),
                Effect::ForgetTabIdentity => self.tabs[i].forgot_identity = true,
                Effect::StartRecorder => {
                    let loads = self.tabs[i].recorder_loads;
                    self.tabs[i].recorder_running = loads;
                    self.queue.push_back((i, Input::Recorder(loads)));
                }
                Effect::StopRecorder => self.tabs[i].recorder_running = false,
                Effect::UploadChunk(upload) => {
                    let outcome = self.store_chunk(i, upload.seq, upload.body);
                    if !upload.keepalive {
                        self.queue
                            .push_back((i, Input::Uploaded(upload.seq, outcome)));
                    }
                }
            }
        }
    }

    /// Answers the held requests whose wait elapsed (with the view, or the ending the
    /// server found meanwhile), and every one while the server is unreachable (the
    /// connection breaks).
    fn release_waits(&mut self) {
        let now = self.now;
        let reachable = self.server.reachable;
        let (over, held): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waits)
            .into_iter()
            .partition(|(_, until)| !reachable || *until <= now);
        self.waits = held;
        for (i, _) in over {
            if reachable {
                self.server.check(now);
                self.respond(i);
            } else {
                self.queue.push_back((i, Input::Unreachable));
            }
            self.queue.push_back((i, Input::WaitOver));
        }
        self.deliver();
    }

    /// The reference server's chunk upload: the next seq is stored, a repeat of stored
    /// bytes is a success, a gap or other bytes under a stored seq is refused naming the seq
    /// expected next (`409` with `next_seq`), anything else (no consent, unreachable) fails.
    fn store_chunk(&mut self, i: usize, seq: u32, body: String) -> UploadOutcome {
        let live = self.server.ended.is_none()
            && self.server.consent == ConsentState::Accepted
            && self.server.reachable
            && self.server.recording_reachable;
        let stored = &mut self.server.chunks[i];
        if !live {
            return UploadOutcome::Failed;
        }
        let next_seq = u32::try_from(stored.len()).expect("fewer than 2^32 chunks");
        match stored.get(seq as usize) {
            Some((_, same)) if *same == body => UploadOutcome::Stored,
            None if seq == next_seq => {
                stored.push((seq, body));
                UploadOutcome::Stored
            }
            Some(_) | None => UploadOutcome::OutOfSequence { next_seq },
        }
    }

    /// Tab `i`'s recorder hands over `events` (JSON values separated by commas), captured
    /// at its local time now.
    pub fn record(&mut self, i: usize, events: &str) {
        let at = local(self.local(i));
        let batch = RecorderBatch {
            events: events.to_owned(),
            first_at: at,
            last_at: at,
        };
        self.input(i, |engine, now| engine.handle_recorder_events(batch, now));
    }

    fn respond(&mut self, i: usize) {
        let input = match &self.server.ended {
            Some(reason) => Input::Terminated(reason.clone()),
            None => Input::View,
        };
        self.queue.push_back((i, input));
    }

    /// The server ends the session by itself (an administrator, a suspension) and pushes
    /// `terminated` to every tab with a stream.
    pub fn terminate(&mut self, reason: Reason) {
        self.end_server(reason, self.tabs.len());
        self.deliver();
    }

    /// An administrator ends one tab: the server pushes `tab_ended` to the session's
    /// streams (the tabs whose engine opened one); the session itself continues.
    pub fn end_tab(&mut self, tab_id: &str) {
        let streams = |j: &usize| self.tabs[*j].push_open && self.tabs[*j].push_connected;
        for j in (0..self.tabs.len()).filter(streams) {
            self.queue
                .push_back((j, Input::TabEnded(tab_id.to_owned())));
        }
        self.deliver();
    }

    /// Ends the server session and pushes `terminated` to every other tab's stream (the
    /// tabs whose engine opened one).
    fn end_server(&mut self, reason: Reason, from: usize) {
        if self.server.ended.is_none() {
            self.server.ended = Some(reason);
        }
        if let Some(reason) = self.server.ended.clone() {
            let streams =
                |j: &usize| *j != from && self.tabs[*j].push_open && self.tabs[*j].push_connected;
            for j in (0..self.tabs.len()).filter(streams) {
                self.queue.push_back((j, Input::Terminated(reason.clone())));
            }
            // The held requests return with the ending too.
            for (j, _) in std::mem::take(&mut self.waits) {
                self.queue.push_back((j, Input::Terminated(reason.clone())));
                self.queue.push_back((j, Input::WaitOver));
            }
        }
    }

    fn deliver(&mut self) {
        while let Some((j, input)) = self.queue.pop_front() {
            if self.tabs[j].stalled {
                self.tabs[j].held.push_back(input);
                continue;
            }
            let local = self.clocks(j);
            let before = self.tabs[j].engine.state().clone();
            let view = self.server.view(self.now);
            let engine = &mut self.tabs[j].engine;
            match input {
                Input::View => engine.handle_server_view(view, local),
                Input::Terminated(reason) => engine.handle_server_terminated(reason, local),
                Input::TabEnded(tab_id) => engine.handle_server_tab_ended(&tab_id, local),
                Input::Unreachable => engine.handle_server_unreachable(local),
                Input::Peer(text) => engine.handle_peer(&text, local),
                Input::Leadership(held) => engine.handle_leadership(held, local),
                Input::WaitOver => engine.handle_session_wait_over(local),
                Input::Recorder(true) => engine.handle_recorder_started(local),
                Input::Recorder(false) => engine.handle_recorder_failed(local),
                Input::Uploaded(seq, outcome) => engine.handle_upload_result(seq, outcome, local),
            }
            self.after(j, before);
        }
    }
}
