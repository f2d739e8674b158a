//! [`GuardRuntime`]: one engine driven by the browser adapters.
//!
//! Every input follows the same path: queue it, and unless another input is being carried
//! out, take the inputs in order: read the clock, feed the engine, drain its effects, publish
//! the new snapshot (so an ended session hides protected content before anything else
//! happens), carry out the effects, re-arm the single deadline timer. The adapter decides
//! nothing about the session: every rule lives in the engine, which says what to do.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use super::{
    clocks, forget_tab_identity, json, navigate_to_login, now_ms, page_visible, tab_identity,
    ActivityListener, ActivityRequest, BrowserError, ChannelKind, DeadlineTimer, HttpSessionServer,
    LeaderLock, LocalFuture, PageListeners, PushEvent, PushStream, Recorder, RecordingMarker,
    ReturnPath, SessionReply, SessionServer, TabChannel, TabIdentity, TabRegistration, Wake,
    DEFAULT_ACTIVITY_EVENTS, DEFAULT_RECORDER_URL, DEFAULT_THROTTLE_MS,
};
use crate::core::{
    ChunkUpload, DurationMs, Effect, Engine, EngineConfig, LeaderMode, LifetimeWarning, LocalTime,
    Millis, Now, PolicyOverride, Reason, RecorderBatch, RecordingLimits, RecordingStatus,
    SessionView, State, UploadOutcome, UserView,
};
use crate::redirect::login_url;

/// The host's hook that runs just before the tab leaves for the login page.
pub type BeforeLogout = Box<dyn Fn(&Reason)>;

/// Receives every new snapshot.
pub type SnapshotListener = Box<dyn Fn(&GuardSnapshot)>;

/// Everything a [`GuardRuntime`] needs from its host.
pub struct GuardOptions {
    /// The session API.
    pub server: Rc<dyn SessionServer>,
    /// Where ended sessions are sent (a same-origin path).
    pub login_path: String,
    /// DOM events that count as activity.
    pub activity_events: Vec<String>,
    /// At most one activity report to the engine per this many milliseconds.
    pub throttle_ms: Millis,
    /// Shorter limits for tests and demos; never lengthens the server's.
    pub policy_override: Option<PolicyOverride>,
    /// The cross-tab transport.
    pub channel: ChannelKind,
    /// Use the Web Locks API for leader election where the browser has it; otherwise (or
    /// when false) tabs elect a leader by heartbeats.
    pub use_web_locks: bool,
    /// Navigate to the login page when the session ends. Tests turn it off and read
    /// [`GuardSnapshot::redirect_to`] instead.
    pub navigate: bool,
    /// This tab's identity; `None` works it out from the page ([`tab_identity`]). Tests
    /// running several guards in one page give each its own.
    pub tab: Option<TabIdentity>,
    /// Where the recorder script is loaded from when the session is recorded: rrweb's
    /// recorder followed by the guard's `record-bridge.js`, as `tools/copy-rrweb.sh`
    /// builds `/sg-record.js`.
    pub recorder_url: String,
    /// The fail-closed bounds of recording.
    pub recording_limits: RecordingLimits,
}

impl Default for GuardOptions {
    /// The page's own origin over HTTP, `/login`, the default activity events throttled to
    /// one report per [`DEFAULT_THROTTLE_MS`], BroadcastChannel and Web Locks where available.
    fn default() -> Self {
        GuardOptions {
            server: Rc::new(HttpSessionServer::new("")),
            login_path: "/login".to_string(),
            activity_events: DEFAULT_ACTIVITY_EVENTS
                .iter()
                .map(|event| event.to_string())
                .collect(),
            throttle_ms: DEFAULT_THROTTLE_MS,
            policy_override: None,
            channel: ChannelKind::Auto,
            use_web_locks: true,
            navigate: true,
            tab: None,
            recorder_url: DEFAULT_RECORDER_URL.to_string(),
            recording_limits: RecordingLimits::default(),
        }
    }
}

/// What the UI shows, published after every input that changed it.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardSnapshot {
    /// The engine's state.
    pub state: State,
    /// Whether this tab is the one that talks keepalives to the server.
    pub is_leader: bool,
    /// Whether this tab is being recorded: exactly while `recording` is `Running`.
    pub is_recording: bool,
    /// What this tab's recording is doing; `Blocked` hides the protected content.
    pub recording: RecordingStatus,
    /// The server could not be reached lately; not a logout.
    pub connection_problem: bool,
    /// The absolute end of the session is near.
    pub lifetime_warning: Option<LifetimeWarning>,
    /// The inactivity limit, `None` for non-privileged sessions.
    pub idle_timeout: Option<Millis>,
    /// The absolute lifetime (login to end), once the server confirmed the session.
    pub lifetime: Option<Millis>,
    /// Whether the user is privileged.
    pub privileged: bool,
    /// The signed-in user, once the server confirmed the session.
    pub user: Option<UserView>,
    /// The user's scopes.
    pub scopes: Vec<String>,
    /// This tab's identity.
    pub tab_id: String,
    /// The login URL this tab was sent to, once the session ended.
    pub redirect_to: Option<String>,
}

impl GuardSnapshot {
    /// Before the server confirmed anything: `Starting`, so nothing protected renders.
    pub fn starting(tab_id: String) -> GuardSnapshot {
        GuardSnapshot {
            state: State::Starting,
            is_leader: false,
            is_recording: false,
            recording: RecordingStatus::Off,
            connection_problem: false,
            lifetime_warning: None,
            idle_timeout: None,
            lifetime: None,
            privileged: false,
            user: None,
            scopes: Vec::new(),
            tab_id,
            redirect_to: None,
        }
    }
}

/// One input to the engine. Inputs are queued, so one that arrives while another is carried
/// out (a browser callback fired by an effect) runs right after it instead of inside it or
/// not at all.
enum Input {
    /// The page's visibility at start-up.
    Visibility(bool),
    /// The page woke up, was hidden or is going away; `visible` as the page says now.
    Wake {
        wake: Wake,
        visible: bool,
    },
    Activity,
    StaySignedIn,
    Logout,
    Consent(bool),
    /// A pushed view.
    View(SessionView),
    /// A view answering a request sent at `asked`: its round trip bounds the clock offset.
    Answer {
        view: SessionView,
        asked: Now,
    },
    Terminated(Reason),
    Unauthenticated,
    Unreachable,
    KeepaliveRefused,
    TabEnded(String),
    Peer(String),
    Leadership(bool),
    PushStream(bool),
    PushStreamClosed,
    RegistrationLost,
    SessionWaitOver,
    RecorderStarted,
    RecorderFailed,
    RecorderEvents(RecorderBatch),
    Uploaded(u32, UploadOutcome),
    Timeout,
}

/// Feeds one input to the engine at `now`.
fn feed(engine: &mut Engine, input: Input, now: Now) {
    match input {
        Input::Visibility(visible) => engine.handle_page_visibility(visible, now),
        Input::Wake {
            wake: Wake::Left, ..
        } => engine.handle_page_left(now),
        Input::Wake { wake, visible } => {
            engine.handle_page_visibility(visible, now);
            if wake != Wake::Hidden {
                // Deadlines first: a tab coming back after its session ran out must end,
                // not be revived by the user's return.
                engine.handle_visible(now);
            }
            if wake == Wake::UserReturned {
                engine.handle_activity(now);
            }
        }
        Input::Activity => engine.handle_activity(now),
        Input::StaySignedIn => engine.handle_stay_signed_in(now),
        Input::Logout => engine.handle_logout(now),
        Input::Consent(accepted) => engine.handle_consent(accepted, now),
        Input::View(view) => engine.handle_server_view(view, now),
        Input::Answer { view, asked } => engine.handle_server_answer(view, asked, now),
        Input::Terminated(reason) => engine.handle_server_terminated(reason, now),
        Input::Unauthenticated => engine.handle_server_unauthenticated(now),
        Input::Unreachable => engine.handle_server_unreachable(now),
        Input::KeepaliveRefused => engine.handle_keepalive_refused(now),
        Input::TabEnded(tab_id) => engine.handle_server_tab_ended(&tab_id, now),
        Input::Peer(message) => engine.handle_peer_with(&message, json::peer_fields, now),
        Input::Leadership(held) => engine.handle_leadership(held, now),
        Input::PushStream(connected) => engine.handle_push_stream(connected, now),
        Input::PushStreamClosed => engine.handle_push_stream_closed(now),
        Input::RegistrationLost => engine.handle_tab_registration_lost(now),
        Input::SessionWaitOver => engine.handle_session_wait_over(now),
        Input::RecorderStarted => engine.handle_recorder_started(now),
        Input::RecorderFailed => engine.handle_recorder_failed(now),
        Input::RecorderEvents(batch) => engine.handle_recorder_events(batch, now),
        Input::Uploaded(seq, outcome) => engine.handle_upload_result(seq, outcome, now),
        Input::Timeout => engine.handle_timeout(now),
    }
}

/// Which session request [`Inner::follow`] waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Asked {
    /// `GET /api/session`.
    Session,
    /// `GET /api/session?wait=`: the engine hears when it is over.
    Wait,
    /// A keepalive, which the server may refuse (`403`) while consent is pending.
    Keepalive,
}

/// A callback that feeds one fixed input: every such callback the guard hands an adapter
/// is this one closure type, so the page carries its call and drop code once.
fn feeder(weak: &Weak<Inner>, input: fn() -> Input) -> Rc<dyn Fn()> {
    let weak = weak.clone();
    Rc::new(move || Inner::input_weak(&weak, input()))
}

/// When [`Inner::run`] carries out an effect: 0 first (joining the channel and telling
/// the other tabs), 1 next (leaving for the login page), 2 last (everything else); 1
/// before 0 when the tab's own timer ended the session.
fn phase(effect: &Effect) -> u8 {
    match effect {
        Effect::JoinSession { .. } | Effect::QueueForLeadership | Effect::Broadcast(_) => 0,
        Effect::ForgetTabIdentity | Effect::Redirect { .. } => 1,
        _ => 2,
    }
}

/// The browser resources the guard holds; each releases itself on drop.
#[derive(Default)]
struct Handles {
    timer: DeadlineTimer,
    /// The session this tab joined ([`Effect::JoinSession`]): names its leader lock.
    session_id: Option<String>,
    channel: Option<TabChannel>,
    push: Option<PushStream>,
    lock: Option<LeaderLock>,
    activity: Option<ActivityListener>,
    page: Option<PageListeners>,
    recording: Option<RecordingMarker>,
    recorder: Option<Recorder>,
}

struct Inner {
    engine: RefCell<Engine>,
    /// Inputs waiting for the one being carried out.
    queue: RefCell<VecDeque<Input>>,
    /// An input is being carried out: new ones wait in `queue`.
    busy: Cell<bool>,
    handles: RefCell<Handles>,
    options: GuardOptions,
    tab: TabIdentity,
    redirect_to: RefCell<Option<String>>,
    /// The login URL's return path, kept for the moment the session ends.
    return_path: ReturnPath,
    last_snapshot: RefCell<GuardSnapshot>,
    on_change: SnapshotListener,
    before_logout: Option<BeforeLogout>,
    stopped: Cell<bool>,
}

/// A running guard for this tab. Dropping the last handle (or calling
/// [`GuardRuntime::stop`]) removes every listener, timer, channel, stream and lock.
#[derive(Clone)]
#[must_use = "dropping the last handle stops guarding the tab"]
pub struct GuardRuntime {
    inner: Rc<Inner>,
}

impl GuardRuntime {
    /// Starts guarding: listens for activity and wake-ups and asks the server for the
    /// session. `on_change` receives every new snapshot; `before_logout` runs once, just
    /// before the tab leaves for the login page (the host's chance to save drafts).
    pub fn start(
        options: GuardOptions,
        on_change: SnapshotListener,
        before_logout: Option<BeforeLogout>,
    ) -> Result<GuardRuntime, BrowserError> {
        let tab = match options.tab.clone() {
            Some(tab) => tab,
            None => tab_identity()?,
        };
        let mut config = EngineConfig::new(tab.tab_id.clone());
        config.leader_mode = if options.use_web_locks && LeaderLock::supported() {
            LeaderMode::Lock
        } else {
            LeaderMode::Heartbeat
        };
        config.policy_override = options.policy_override;
        config.recording_limits = options.recording_limits;
        config.recording_first_seq = recording_next_seq(&tab.tab_id).unwrap_or(0);
        options.server.name_tab(&tab.tab_id);
        let inner = Rc::new(Inner {
            engine: RefCell::new(Engine::new(config)),
            queue: RefCell::new(VecDeque::new()),
            busy: Cell::new(false),
            handles: RefCell::new(Handles::default()),
            last_snapshot: RefCell::new(GuardSnapshot::starting(tab.tab_id.clone())),
            options,
            tab,
            redirect_to: RefCell::new(None),
            return_path: ReturnPath::default(),
            on_change,
            before_logout,
            stopped: Cell::new(false),
        });
        let weak = Rc::downgrade(&inner);
        let page = PageListeners::new(Rc::new({
            let weak = weak.clone();
            move |wake: Wake| {
                let visible = page_visible();
                if wake == Wake::Left {
                    // What the recorder holds goes into the last chunks the engine sends
                    // as the page goes away.
                    Inner::take_recorded(&weak);
                }
                Inner::input_weak(&weak, Input::Wake { wake, visible });
            }
        }))?;
        let activity = ActivityListener::new(
            &inner.options.activity_events,
            inner.options.throttle_ms,
            feeder(&weak, || Input::Activity),
        )?;
        {
            let mut handles = inner.handles.borrow_mut();
            handles.page = Some(page);
            handles.activity = Some(activity);
        }
        inner.input(Input::Visibility(page_visible()));
        inner.fetch_session();
        // Worked out now, while nothing waits for it: the tab that has to leave finds it.
        inner.return_path.get();
        inner.publish();
        Ok(GuardRuntime { inner })
    }

    /// The latest snapshot.
    #[cfg(feature = "test-support")]
    pub fn snapshot(&self) -> GuardSnapshot {
        self.inner.last_snapshot.borrow().clone()
    }

    /// The user is active (the activity listener calls this too).
    #[cfg(feature = "test-support")]
    pub fn activity(&self) {
        self.inner.input(Input::Activity);
    }

    /// The "Stay signed in" button.
    pub fn stay_signed_in(&self) {
        self.inner.input(Input::StaySignedIn);
    }

    /// The user signs out (in every tab).
    pub fn logout(&self) {
        self.inner.input(Input::Logout);
    }

    /// The user's answer to the recording consent dialog.
    pub fn consent(&self, accepted: bool) {
        self.inner.input(Input::Consent(accepted));
    }

    /// Milliseconds until the session's next ending deadline, for countdowns.
    pub fn remaining_ms(&self) -> Option<Millis> {
        // A read: while an input holds the engine (never across a callback) there is
        // simply no fresher answer than the snapshot's.
        self.inner
            .engine
            .try_borrow()
            .ok()
            .and_then(|engine| engine.remaining_ms(LocalTime::from_millis(now_ms())))
            .map(DurationMs::as_millis)
    }

    /// Stops guarding this tab: every listener, timer, channel, stream and lock is released.
    pub fn stop(&self) {
        self.inner.stop();
    }
}

impl Inner {
    fn input_weak(weak: &Weak<Inner>, input: Input) {
        if let Some(inner) = weak.upgrade() {
            inner.input(input);
        }
    }

    /// Queues `input` and, unless an input is being carried out already (this one was
    /// caused by it), carries out every queued input in order.
    fn input(self: &Rc<Self>, input: Input) {
        if self.stopped.get() {
            return;
        }
        self.queue.borrow_mut().push_back(input);
        if self.busy.replace(true) {
            return;
        }
        loop {
            let next = self.queue.borrow_mut().pop_front();
            let Some(next) = next else { break };
            if !self.run(next) {
                break;
            }
        }
        self.busy.set(false);
    }

    /// Carries out one input; `false` when the engine was not free, in which case the input
    /// went back to the head of the queue and the queue is taken up again on the next turn.
    fn run(self: &Rc<Self>, input: Input) -> bool {
        if self.stopped.get() {
            return true;
        }
        let now = clocks();
        let by_the_clock = matches!(input, Input::Timeout);
        let (mut effects, wake) = {
            // Inputs are queued while one runs and nothing but the engine runs while it is
            // borrowed, so the borrow is free; should it not be, the input waits for the
            // next turn instead of being lost.
            let Ok(mut engine) = self.engine.try_borrow_mut() else {
                self.queue.borrow_mut().push_front(input);
                let weak = Rc::downgrade(self);
                super::spawn(Box::pin(async move {
                    Inner::input_weak(&weak, Input::Timeout);
                }));
                return false;
            };
            feed(&mut engine, input, now);
            let mut effects = Vec::new();
            while let Some(effect) = engine.poll_effect() {
                effects.push(Some(effect));
            }
            (effects, engine.poll_timeout())
        };
        // Other tabs hear first (posting is cheap and only speeds up their endings; the
        // engine joins the channel before it says anything on it); then publish, so an
        // ended session hides protected content before any other effect of this tab runs.
        // A redirect is the exception: the navigation starts first and the content is
        // hidden right after, in this same task, so no frame shows it in between, and the
        // page re-renders once instead of twice before it leaves. What the server must
        // still hear of the ending (the logout beacon) goes out after the navigation
        // started, in this same task: a beacon outlives the page, and the user does not
        // wait for it.
        // An ending the clock decided (this tab's timer: the inactivity or the lifetime
        // deadline, which every tab of the session reaches at the same instant by its own
        // timer) also leaves before it tells the other tabs, in this same task: the channel
        // stays open until the page goes, and posting took 0.2-4 ms in Chromium under load.
        // An ending another input caused (a sign-out) is told first: the other tabs end only
        // because they hear it.
        let leaving = effects.iter().flatten().any(|effect| phase(effect) == 1);
        let passes = if by_the_clock && leaving {
            [1, 0, 2]
        } else {
            [0, 1, 2]
        };
        for pass in passes {
            if pass == 1 && !leaving {
                self.publish();
            }
            for slot in effects.iter_mut() {
                if let Some(effect) = slot.take_if(|effect| phase(effect) == pass) {
                    self.carry_out(effect);
                }
            }
        }
        self.publish();
        self.rearm(wake.map(LocalTime::as_millis));
        true
    }

    fn rearm(self: &Rc<Self>, wake: Option<Millis>) {
        let weak = Rc::downgrade(self);
        self.handles.borrow_mut().timer.arm(wake, move || {
            if let Some(inner) = weak.upgrade() {
                inner.handles.borrow_mut().timer.fired();
                inner.timer_fired();
            }
        });
    }

    /// The deadline timer fired. When the clock alone ends the session now (the idle or
    /// lifetime deadline: the engine's own rule, `Engine::clock_ending`), the navigation to
    /// the login page starts first, before the engine runs (0.2-0.4 ms in Chromium here);
    /// the engine then takes the wake-up as always and ends the same way, and its redirect
    /// finds the navigation under way.
    fn timer_fired(self: &Rc<Self>) {
        // Only between inputs: a wake-up while an input runs waits its turn behind it.
        let ending = self
            .engine
            .try_borrow()
            .ok()
            .filter(|_| !self.busy.get() && !self.stopped.get())
            .and_then(|engine| engine.clock_ending(clocks()));
        if let Some((reason, idle_limit)) = ending {
            self.leave_for_login(Some(reason), idle_limit.map(DurationMs::as_millis));
        }
        self.input(Input::Timeout);
    }

    fn carry_out(self: &Rc<Self>, effect: Effect) {
        match effect {
            Effect::Broadcast(message) => {
                if let Some(channel) = self.handles.borrow().channel.as_ref() {
                    if let Err(error) = channel.post(&message) {
                        error.report("broadcast failed");
                    }
                }
            }
            Effect::SendKeepalive {
                idle_ms,
                last_activity_at,
            } => {
                let asked = clocks();
                let pending = self.options.server.send_activity(ActivityRequest {
                    idle_ms,
                    last_activity_at: Some(last_activity_at),
                });
                self.follow(pending, asked, Asked::Keepalive);
            }
            Effect::SendConsent { accepted } => {
                let asked = clocks();
                let pending = self.options.server.send_consent(accepted);
                let weak = Rc::downgrade(self);
                super::spawn(Box::pin(async move {
                    match pending.await {
                        Ok(Some(reply)) => Inner::apply_reply(&weak, Ok(reply), asked),
                        // Declining ended the session; the engine already knows.
                        Ok(None) => {}
                        Err(error) => Inner::apply_reply(&weak, Err(error), asked),
                    }
                }));
            }
            Effect::EndServerSession { reason } => self.options.server.end_session(&reason),
            Effect::FetchSession => self.fetch_session(),
            Effect::AwaitSessionChange { wait } => self.await_session_change(wait),
            Effect::JoinSession { session_id } => self.join(session_id),
            Effect::QueueForLeadership => self.request_lock(false),
            Effect::TakeOverLeadership => self.request_lock(true),
            Effect::OpenPush => self.open_push(),
            Effect::ClosePush => {
                let stream = self.handles.borrow_mut().push.take();
                drop(stream);
            }
            Effect::RegisterTab => self.register_tab(),
            Effect::CloseTab => self.options.server.close_tab(&self.tab.tab_id),
            Effect::ForgetTabIdentity => forget_tab_identity(),
            Effect::StartRecorder => self.start_recorder(),
            Effect::StopRecorder => {
                let recorder = self.handles.borrow_mut().recorder.take();
                drop(recorder);
            }
            Effect::UploadChunk(upload) => self.upload_chunk(upload),
            Effect::Redirect { reason, idle_limit } => {
                self.leave_for_login(reason, idle_limit.map(DurationMs::as_millis))
            }
        }
    }

    /// Loads and starts the recorder (replacing one that failed); how that went and what
    /// it captures go to the engine.
    fn start_recorder(self: &Rc<Self>) {
        let previous = self.handles.borrow_mut().recorder.take();
        drop(previous);
        let weak = Rc::downgrade(self);
        let started = feeder(&weak, || Input::RecorderStarted);
        let failed = feeder(&weak, || Input::RecorderFailed);
        let events = Rc::new(move |batch| Inner::input_weak(&weak, Input::RecorderEvents(batch)));
        match Recorder::start(&self.options.recorder_url, started, failed, events) {
            Ok(recorder) => self.handles.borrow_mut().recorder = Some(recorder),
            Err(error) => {
                error.report("recorder unavailable");
                self.input(Input::RecorderFailed);
            }
        }
    }

    /// Hands the events the recorder holds to the engine now.
    fn take_recorded(weak: &Weak<Inner>) {
        let Some(inner) = weak.upgrade() else { return };
        let batch = inner
            .handles
            .borrow()
            .recorder
            .as_ref()
            .and_then(Recorder::take);
        if let Some(batch) = batch {
            inner.input(Input::RecorderEvents(batch));
        }
    }

    /// Uploads one chunk; the outcome goes to the engine (none is expected for the
    /// `keepalive` ones sent as the page goes away).
    fn upload_chunk(self: &Rc<Self>, upload: ChunkUpload) {
        let ChunkUpload {
            seq,
            body,
            keepalive,
        } = upload;
        // Before it leaves: the next page of this tab goes on from the chunk after it.
        remember_recording_seq(&self.tab.tab_id, seq);
        let pending = self
            .options
            .server
            .upload_chunk(&self.tab.tab_id, seq, body, keepalive);
        let weak = Rc::downgrade(self);
        super::spawn(Box::pin(async move {
            let outcome = match pending.await {
                Ok(()) => UploadOutcome::Stored,
                // The server's word on where the tab's sequence goes on (a page's last chunk
                // was lost, or landed after the next page took its seq): the engine renumbers.
                Err(BrowserError::OutOfSequence(next_seq)) => {
                    UploadOutcome::OutOfSequence { next_seq }
                }
                Err(error) => {
                    error.report("recording upload failed");
                    UploadOutcome::Failed
                }
            };
            if !keepalive {
                Inner::input_weak(&weak, Input::Uploaded(seq, outcome));
            }
        }));
    }

    /// Opens the session's cross-tab channel.
    fn join(self: &Rc<Self>, session_id: String) {
        let weak = Rc::downgrade(self);
        let channel = TabChannel::open(
            &session_id,
            self.options.channel,
            Rc::new(move |message: String| {
                if let Some(inner) = weak.upgrade() {
                    inner.peer_message(message);
                }
            }),
        );
        let mut handles = self.handles.borrow_mut();
        handles.session_id = Some(session_id);
        match channel {
            Ok(channel) => handles.channel = Some(channel),
            Err(error) => error.report("cross-tab channel unavailable"),
        }
    }

    /// A message from another tab. One that ends this tab (a sign-out, a declined consent,
    /// an administrator ending this tab: the engine's own rule, `core::ending_for`) starts
    /// the navigation to the login page at once, before the engine, the UI or anything
    /// else runs; the engine then takes the message as any other and ends the same way,
    /// and its redirect finds the navigation under way.
    fn peer_message(self: &Rc<Self>, message: String) {
        if self.stopped.get() {
            return;
        }
        let ending = {
            let handles = self.handles.borrow();
            handles.session_id.as_deref().and_then(|session_id| {
                crate::core::ending_for_with(
                    &message,
                    session_id,
                    &self.tab.tab_id,
                    json::peer_fields,
                )
            })
        };
        if let Some(reason) = ending {
            // Only a message that arrived between inputs: one that arrives while an input
            // runs waits its turn behind it, like every input.
            let idle_limit = self
                .engine
                .try_borrow()
                .ok()
                .filter(|_| !self.busy.get())
                .map(|engine| engine.policy().and_then(|policy| policy.idle_timeout));
            if let Some(idle_limit) = idle_limit {
                self.leave_for_login(Some(reason), idle_limit);
            }
        }
        self.input(Input::Peer(message));
    }

    /// Registers this tab with the server as its own sub-session. A blip (network error or
    /// server error) is reported to the engine, which tries again; a refusal (4xx) is final.
    fn register_tab(self: &Rc<Self>) {
        let registration = TabRegistration {
            tab_id: self.tab.tab_id.clone(),
            opener_tab_id: self.tab.opener_tab_id.clone(),
        };
        let pending = self.options.server.register_tab(&registration);
        let weak = Rc::downgrade(self);
        super::spawn(Box::pin(async move {
            if let Err(error) = pending.await {
                error.report("tab registration failed");
                let transient = match error {
                    BrowserError::Network(_) => true,
                    BrowserError::Status(status) => status >= 500,
                    _ => false,
                };
                if transient {
                    Inner::input_weak(&weak, Input::RegistrationLost);
                }
            }
        }));
    }

    /// Queues for the leader lock of the joined session, or with `steal` takes it from a
    /// tab that stopped running. Losing the lock to another tab's steal is reported to the
    /// engine, which queues again.
    fn request_lock(self: &Rc<Self>, steal: bool) {
        // The previous request goes first: dropping it releases the lock or makes a queued
        // grant release itself at once.
        let (previous, session_id) = {
            let mut handles = self.handles.borrow_mut();
            (handles.lock.take(), handles.session_id.clone())
        };
        drop(previous);
        let Some(session_id) = session_id else {
            return;
        };
        let weak = Rc::downgrade(self);
        let granted = feeder(&weak, || Input::Leadership(true));
        let lost = feeder(&weak, || Input::Leadership(false));
        match LeaderLock::request(&session_id, steal, granted, lost) {
            Ok(lock) => self.handles.borrow_mut().lock = Some(lock),
            Err(error) => error.report("leader lock unavailable"),
        }
    }

    /// Opens the push stream, replacing any stream still held; its news go to the engine.
    fn open_push(self: &Rc<Self>) {
        let previous = self.handles.borrow_mut().push.take();
        drop(previous);
        let Some(url) = self.options.server.events_url() else {
            // No push channel at all: the leader polls.
            self.input(Input::PushStream(false));
            return;
        };
        let weak = Rc::downgrade(self);
        let on_event = Rc::new(move |event: PushEvent| {
            let input = match event {
                PushEvent::Up => Input::PushStream(true),
                PushEvent::Down { closed: false } => Input::PushStream(false),
                PushEvent::Down { closed: true } => Input::PushStreamClosed,
                PushEvent::Terminated(reason) => Input::Terminated(reason),
                PushEvent::View(view) => Input::View(view),
                PushEvent::TabEnded(tab_id) => Input::TabEnded(tab_id),
            };
            Inner::input_weak(&weak, input);
        });
        match PushStream::connect(&url, on_event) {
            Ok(stream) => self.handles.borrow_mut().push = Some(stream),
            Err(error) => {
                error.report("push stream unavailable");
                self.input(Input::PushStreamClosed);
            }
        }
    }

    fn fetch_session(self: &Rc<Self>) {
        let asked = clocks();
        let pending = self.options.server.fetch_session();
        self.follow(pending, asked, Asked::Session);
    }

    fn await_session_change(self: &Rc<Self>, wait: DurationMs) {
        let asked = clocks();
        let pending = self.options.server.await_session_change(wait.as_millis());
        self.follow(pending, asked, Asked::Wait);
    }

    /// Feeds the answer to the session request `pending`, sent at `asked`, once it comes.
    /// Every such request waits in this one future, so the page carries its code once.
    fn follow(
        self: &Rc<Self>,
        pending: LocalFuture<Result<SessionReply, BrowserError>>,
        asked: Now,
        what: Asked,
    ) {
        let weak = Rc::downgrade(self);
        super::spawn(Box::pin(async move {
            match (what, pending.await) {
                // The server answered, so it is reachable; `403` to a keepalive is
                // `consent_required`, which the engine acts on.
                (Asked::Keepalive, Err(BrowserError::Status(403))) => {
                    Inner::input_weak(&weak, Input::KeepaliveRefused)
                }
                (_, reply) => Inner::apply_reply(&weak, reply, asked),
            }
            if what == Asked::Wait {
                // A held request's round trip is long, so the engine keeps a faster
                // answer's offset over it; it still bounds the offset when nothing faster
                // came. Whatever its outcome, the engine hears that the request is over.
                Inner::input_weak(&weak, Input::SessionWaitOver);
            }
        }));
    }

    /// Feeds the answer to a request sent at `asked`.
    fn apply_reply(weak: &Weak<Inner>, reply: Result<SessionReply, BrowserError>, asked: Now) {
        let input = match reply {
            Ok(SessionReply::View(view)) => Input::Answer { view, asked },
            Ok(SessionReply::Ended(Some(reason))) => Input::Terminated(reason),
            Ok(SessionReply::Ended(None)) => Input::Unauthenticated,
            Err(error) => {
                error.report("session server unreachable");
                Input::Unreachable
            }
        };
        Inner::input_weak(weak, input);
    }

    fn leave_for_login(self: &Rc<Self>, reason: Option<Reason>, idle_limit: Option<Millis>) {
        if self.redirect_to.borrow().is_some() {
            return;
        }
        if let (Some(hook), Some(reason)) = (&self.before_logout, &reason) {
            hook(reason);
        }
        let url = login_url(
            &self.options.login_path,
            reason.as_ref(),
            idle_limit,
            &self.return_path.get(),
        );
        *self.redirect_to.borrow_mut() = Some(url.clone());
        if self.options.navigate {
            if let Err(error) = navigate_to_login(&url) {
                error.report("navigation to login failed");
            }
        }
        // Nothing more to coordinate: release everything before the page goes away (the
        // navigation has only started; the document stays until the login page commits).
        self.release_adapters();
    }

    /// The snapshot of the engine as it is now; the latest published one while an input
    /// holds the engine.
    fn snapshot(&self) -> GuardSnapshot {
        let Ok(engine) = self.engine.try_borrow() else {
            return self.last_snapshot.borrow().clone();
        };
        let policy = engine.policy();
        GuardSnapshot {
            state: engine.state().clone(),
            is_leader: engine.is_leader(),
            is_recording: engine.is_recording(),
            recording: engine.recording_status(),
            connection_problem: engine.connection_problem(),
            lifetime_warning: engine.lifetime_warning(),
            idle_timeout: policy.and_then(|p| p.idle_timeout),
            lifetime: policy.map(|p| p.expires_at.saturating_sub(p.issued_at)),
            privileged: policy.map(|p| p.privileged).unwrap_or(false),
            user: engine.user().cloned(),
            scopes: engine.scopes().to_vec(),
            tab_id: self.tab.tab_id.clone(),
            redirect_to: self.redirect_to.borrow().clone(),
        }
    }

    fn publish(&self) {
        let snapshot = self.snapshot();
        if *self.last_snapshot.borrow() == snapshot {
            return;
        }
        let recording = snapshot.is_recording && !self.stopped.get();
        let marked = self.handles.borrow().recording.is_some();
        if recording && !marked {
            match RecordingMarker::apply() {
                Ok(marker) => self.handles.borrow_mut().recording = Some(marker),
                Err(error) => error.report("recording marks unavailable"),
            }
        } else if !recording && marked {
            let marker = self.handles.borrow_mut().recording.take();
            drop(marker);
        }
        *self.last_snapshot.borrow_mut() = snapshot.clone();
        (self.on_change)(&snapshot);
    }

    /// Releases everything but the channel (and the recording marks) before the page goes
    /// away. The channel stays open until the next turn so the logout broadcast queued in
    /// the same input is delivered first; BroadcastChannel sends asynchronously anyway.
    fn release_adapters(&self) {
        let released = {
            let mut handles = self.handles.borrow_mut();
            (
                std::mem::take(&mut handles.timer),
                handles.push.take(),
                handles.lock.take(),
                handles.activity.take(),
                handles.page.take(),
                handles.recorder.take(),
            )
        };
        drop(released);
    }

    fn stop(&self) {
        self.stopped.set(true);
        self.queue.borrow_mut().clear();
        self.release_adapters();
        let released = {
            let mut handles = self.handles.borrow_mut();
            (handles.channel.take(), handles.recording.take())
        };
        drop(released);
    }
}

/// `sessionStorage` key (per tab, so per tab id) of the seq the tab's next recording chunk
/// takes: the server keeps one sequence per tab, across the tab's page loads.
const RECORDING_NEXT_SEQ_KEY: &str = "session-guard:recording-next-seq";

/// The seq the next chunk of `tab_id` takes, when a page before this one in the tab sent
/// chunks (anything unreadable counts as none).
fn recording_next_seq(tab_id: &str) -> Option<u32> {
    let storage = super::dom::storage("sessionStorage")?;
    let stored = super::dom::storage_get(&storage, RECORDING_NEXT_SEQ_KEY)?;
    let (stored_tab, seq) = stored.split_once(' ')?;
    (stored_tab == tab_id).then(|| seq.parse().ok())?
}

/// Notes that chunk `seq` of `tab_id` was sent, so that the next page starts after it.
/// The latest send wins even when its seq is lower: after the server renumbered this
/// page's chunks down (a chunk of the page before was lost), the next page must go on
/// from here, not from the seq the lost chunk would have had, or it would find, and mark
/// in the recording, a gap that is not there.
fn remember_recording_seq(tab_id: &str, seq: u32) {
    let next = seq.saturating_add(1);
    if let Some(storage) = super::dom::storage("sessionStorage") {
        // Written with the notices' number writer: no integer formatting in the wasm.
        let mut note = String::with_capacity(tab_id.len() + 11);
        note.push_str(tab_id);
        note.push(' ');
        crate::core::push_number(&mut note, i64::from(next), 1);
        let _ = super::dom::storage_set(&storage, RECORDING_NEXT_SEQ_KEY, &note);
    }
}
