//! [`GuardRuntime`]: one engine driven by the browser adapters.
//!
//! Every input follows the same path: read the clock, feed the engine, publish the new
//! snapshot (so an ended session hides protected content before anything else happens),
//! carry out the effects, re-arm the single deadline timer.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;

use super::{
    clocks, current_path, forget_tab_identity, navigate_to_login, now_ms, page_visible,
    tab_identity, ActivityListener, BrowserError, ChannelKind, DeadlineTimer, HttpSessionServer,
    LeaderLock, PageListeners, PushEvent, PushStream, RecordingMarker, SessionReply, SessionServer,
    TabChannel, TabIdentity, TabRegistration, Wake, DEFAULT_ACTIVITY_EVENTS, DEFAULT_THROTTLE_MS,
};
use crate::core::{
    Effect, Engine, EngineConfig, LeaderMode, LifetimeWarning, Millis, Now, PolicyOverride, Reason,
    SessionView, State, UserView,
};
use crate::redirect::login_url;

/// How long to wait before reopening a push stream the browser gave up on; polling covers
/// the gap.
const PUSH_REOPEN_DELAY_MS: u32 = 5_000;

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
    /// Whether this session is being recorded (consent given, not ended).
    pub is_recording: bool,
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

struct Inner {
    engine: RefCell<Engine>,
    leader_mode: LeaderMode,
    options: GuardOptions,
    tab: TabIdentity,
    timer: RefCell<DeadlineTimer>,
    channel: RefCell<Option<TabChannel>>,
    push: RefCell<Option<PushStream>>,
    push_reopen: RefCell<Option<Timeout>>,
    /// Whether this tab should hold the push stream (it leads).
    push_wanted: Cell<bool>,
    lock: RefCell<Option<LeaderLock>>,
    activity: RefCell<Option<ActivityListener>>,
    page: RefCell<Option<PageListeners>>,
    recording: RefCell<Option<RecordingMarker>>,
    connected_session: RefCell<Option<String>>,
    /// The session this tab registered with, once its consent was settled.
    registered_session: RefCell<Option<String>>,
    /// The page went away (`pagehide`) and was not shown again: timers still firing
    /// while it is torn down must not register it again after it said it closed.
    left: Cell<bool>,
    redirect_to: RefCell<Option<String>>,
    /// Who is signed in, from the latest view of this session (the engine keeps only what
    /// decides timing).
    identity: RefCell<Option<(UserView, Vec<String>)>>,
    last_snapshot: RefCell<Option<GuardSnapshot>>,
    on_change: SnapshotListener,
    before_logout: Option<BeforeLogout>,
    stopped: Cell<bool>,
}

/// A running guard for this tab. Dropping the last handle (or calling
/// [`GuardRuntime::stop`]) removes every listener, timer, channel, stream and lock.
#[derive(Clone)]
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
        let leader_mode = config.leader_mode;
        let inner = Rc::new(Inner {
            engine: RefCell::new(Engine::new(config)),
            leader_mode,
            options,
            tab,
            timer: RefCell::new(DeadlineTimer::new()),
            channel: RefCell::new(None),
            push: RefCell::new(None),
            push_reopen: RefCell::new(None),
            push_wanted: Cell::new(false),
            lock: RefCell::new(None),
            activity: RefCell::new(None),
            page: RefCell::new(None),
            recording: RefCell::new(None),
            connected_session: RefCell::new(None),
            registered_session: RefCell::new(None),
            left: Cell::new(false),
            redirect_to: RefCell::new(None),
            identity: RefCell::new(None),
            last_snapshot: RefCell::new(None),
            on_change,
            before_logout,
            stopped: Cell::new(false),
        });
        let weak = Rc::downgrade(&inner);
        *inner.page.borrow_mut() = Some(PageListeners::new(Rc::new({
            let weak = weak.clone();
            move |wake: Wake| {
                if let Some(inner) = weak.upgrade() {
                    match wake {
                        Wake::Left => {
                            inner.leave();
                            return;
                        }
                        // Shown again (restored from the back/forward cache, or back in
                        // front): it may register again.
                        Wake::Resumed | Wake::UserReturned => inner.left.set(false),
                        Wake::Hidden => {}
                    }
                }
                Inner::input_weak(&weak, move |engine, now| {
                    engine.handle_page_visibility(page_visible(), now);
                    if wake == Wake::Hidden {
                        return;
                    }
                    // Deadlines first: a tab coming back after its session ran out must end,
                    // not be revived by the user's return.
                    engine.handle_visible(now);
                    if wake == Wake::UserReturned {
                        engine.handle_activity(now);
                    }
                })
            }
        }))?);
        *inner.activity.borrow_mut() = Some(ActivityListener::new(
            &inner.options.activity_events,
            inner.options.throttle_ms,
            Rc::new({
                let weak = weak.clone();
                move || Inner::input_weak(&weak, |engine, now| engine.handle_activity(now))
            }),
        )?);
        let visible = page_visible();
        inner.input(move |engine, now| engine.handle_page_visibility(visible, now));
        inner.fetch_session();
        inner.publish();
        Ok(GuardRuntime { inner })
    }

    /// The latest snapshot.
    #[cfg(feature = "test-support")]
    pub fn snapshot(&self) -> GuardSnapshot {
        self.inner.snapshot()
    }

    /// The user is active (the activity listener calls this too).
    #[cfg(feature = "test-support")]
    pub fn activity(&self) {
        self.inner.input(|engine, now| engine.handle_activity(now));
    }

    /// The "Stay signed in" button.
    pub fn stay_signed_in(&self) {
        self.inner
            .input(|engine, now| engine.handle_stay_signed_in(now));
    }

    /// The user signs out (in every tab).
    pub fn logout(&self) {
        self.inner.input(|engine, now| engine.handle_logout(now));
    }

    /// The user's answer to the recording consent dialog.
    pub fn consent(&self, accepted: bool) {
        self.inner
            .input(move |engine, now| engine.handle_consent(accepted, now));
    }

    /// Milliseconds until the session's next ending deadline, for countdowns.
    pub fn remaining_ms(&self) -> Option<Millis> {
        self.inner
            .engine
            .try_borrow()
            .ok()
            .and_then(|engine| engine.remaining_ms(now_ms()))
    }

    /// Stops guarding this tab: every listener, timer, channel, stream and lock is released.
    pub fn stop(&self) {
        self.inner.stop();
    }
}

impl Inner {
    fn input_weak(weak: &Weak<Inner>, step: impl FnOnce(&mut Engine, Now) + 'static) {
        if let Some(inner) = weak.upgrade() {
            inner.input(step);
        }
    }

    fn input(self: &Rc<Self>, step: impl FnOnce(&mut Engine, Now) + 'static) {
        if self.stopped.get() {
            return;
        }
        let now = clocks();
        let effects = {
            let Ok(mut engine) = self.engine.try_borrow_mut() else {
                // Only reachable if a browser callback fired inside an engine call; replay
                // the input once the current one has finished instead of panicking.
                let weak = Rc::downgrade(self);
                wasm_bindgen_futures::spawn_local(async move {
                    Inner::input_weak(&weak, step);
                });
                return;
            };
            step(&mut engine, now);
            std::iter::from_fn(|| engine.poll_effect()).collect::<Vec<_>>()
        };
        self.connect_session();
        self.register_tab();
        self.sync_push();
        // Other tabs hear first (posting is cheap and only speeds up their endings); then
        // publish, so an ended session hides protected content before the redirect or any
        // other effect of this tab runs.
        let (broadcasts, effects): (Vec<_>, Vec<_>) = effects
            .into_iter()
            .partition(|effect| matches!(effect, Effect::Broadcast(_)));
        for effect in broadcasts {
            self.carry_out(effect);
        }
        self.publish();
        for effect in effects {
            self.carry_out(effect);
        }
        self.publish();
        self.rearm(now.wall);
    }

    fn rearm(self: &Rc<Self>, now: Millis) {
        let wake = match self.engine.try_borrow() {
            Ok(engine) => engine.poll_timeout(),
            Err(_) => return,
        };
        let weak = Rc::downgrade(self);
        self.timer.borrow_mut().arm(wake, now, move || {
            if let Some(inner) = weak.upgrade() {
                inner.timer.borrow_mut().fired();
                inner.input(|engine, now| engine.handle_timeout(now));
            }
        });
    }

    /// Opens the channel, push stream and leader lock once the session id is known.
    fn connect_session(self: &Rc<Self>) {
        let session_id = match self.engine.try_borrow() {
            Ok(engine) if !matches!(engine.state(), State::Ended { .. }) => {
                engine.session_id().map(str::to_string)
            }
            _ => None,
        };
        let Some(session_id) = session_id else {
            return;
        };
        if self.connected_session.borrow().as_deref() == Some(session_id.as_str()) {
            return;
        }
        *self.connected_session.borrow_mut() = Some(session_id.clone());
        let weak = Rc::downgrade(self);
        match TabChannel::open(
            &session_id,
            self.options.channel,
            Rc::new({
                let weak = weak.clone();
                move |message: String| {
                    Inner::input_weak(&weak, move |engine, now| engine.handle_peer(&message, now))
                }
            }),
        ) {
            Ok(channel) => *self.channel.borrow_mut() = Some(channel),
            Err(error) => report("cross-tab channel unavailable", &error),
        }
        if self.leader_mode == LeaderMode::Lock {
            self.request_lock(false);
        }
    }

    /// Registers this tab with the server as its own sub-session, once per session and
    /// only when the session is in use: the server refuses registration while recording
    /// consent is pending, so a tab that starts at the consent dialog registers when it
    /// is accepted (the engine starts only once the server stored the acceptance).
    fn register_tab(self: &Rc<Self>) {
        let session_id = match self.engine.try_borrow() {
            Ok(engine) if matches!(engine.state(), State::Active | State::Warning { .. }) => {
                engine.session_id().map(str::to_string)
            }
            _ => None,
        };
        let Some(session_id) = session_id.filter(|_| !self.left.get()) else {
            return;
        };
        if self.registered_session.borrow().as_deref() == Some(session_id.as_str()) {
            return;
        }
        *self.registered_session.borrow_mut() = Some(session_id);
        let registration = TabRegistration {
            tab_id: self.tab.tab_id.clone(),
            opener_tab_id: self.tab.opener_tab_id.clone(),
        };
        let pending = self.options.server.register_tab(&registration);
        let weak = Rc::downgrade(self);
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(error) = pending.await {
                report("tab registration failed", &error);
                // A blip must not leave the tab unregistered (unaudited) for the rest of the
                // session: the next input tries again. A refusal (4xx) is final.
                let transient = match error {
                    BrowserError::Network(_) => true,
                    BrowserError::Status(status) => status >= 500,
                    _ => false,
                };
                if let Some(inner) = weak.upgrade().filter(|_| transient) {
                    inner.registered_session.borrow_mut().take();
                }
            }
        });
    }

    /// The page is going away: the server drops this tab from the session's live tabs.
    /// Forgetting the registration makes a tab restored from the back/forward cache
    /// register again at its `pageshow`.
    fn leave(&self) {
        self.left.set(true);
        if self.registered_session.borrow_mut().take().is_some() {
            self.options.server.close_tab(&self.tab.tab_id);
        }
    }

    /// Queues for the leader lock, or with `steal` takes it from a tab that stopped running
    /// (the engine asks for that). Losing the lock to another tab's steal is reported to the
    /// engine, and the tab queues again as a follower.
    fn request_lock(self: &Rc<Self>, steal: bool) {
        let ended = self
            .engine
            .try_borrow()
            .map(|engine| matches!(engine.state(), State::Ended { .. }))
            .unwrap_or(false);
        let session_id = self.connected_session.borrow().clone();
        let Some(session_id) = session_id.filter(|_| !ended && !self.stopped.get()) else {
            return;
        };
        // The previous request goes first: dropping it releases the lock or makes a queued
        // grant release itself at once.
        self.lock.borrow_mut().take();
        let weak = Rc::downgrade(self);
        let granted = Rc::new({
            let weak = weak.clone();
            move || Inner::input_weak(&weak, |engine, now| engine.handle_leadership(true, now))
        });
        let lost = Rc::new(move || {
            if let Some(inner) = weak.upgrade() {
                inner.input(|engine, now| engine.handle_leadership(false, now));
                inner.request_lock(false);
            }
        });
        match LeaderLock::request(&session_id, steal, granted, lost) {
            Ok(lock) => *self.lock.borrow_mut() = Some(lock),
            Err(error) => report("leader lock unavailable", &error),
        }
    }

    /// Holds the push stream while this tab leads and drops it when it stops leading: one
    /// stream per session, not per tab, because browsers allow six connections per host over
    /// HTTP/1.1 and a stream per tab would leave the seventh tab waiting forever. The leader
    /// relays endings to the other tabs over the channel.
    fn sync_push(self: &Rc<Self>) {
        let leading = self.connected_session.borrow().is_some()
            && self
                .engine
                .try_borrow()
                .map(|engine| engine.is_leader())
                .unwrap_or(false);
        if leading == self.push_wanted.get() {
            return;
        }
        self.push_wanted.set(leading);
        if leading {
            self.open_push();
        } else {
            self.push_reopen.borrow_mut().take();
            self.push.borrow_mut().take();
        }
    }

    fn open_push(self: &Rc<Self>) {
        let Some(url) = self.options.server.events_url() else {
            // No push channel at all: the leader polls.
            let weak = Rc::downgrade(self);
            wasm_bindgen_futures::spawn_local(async move {
                Inner::input_weak(&weak, |engine, now| engine.handle_push_stream(false, now));
            });
            return;
        };
        let weak = Rc::downgrade(self);
        let on_event = Rc::new(move |event: PushEvent| {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            match event {
                PushEvent::Up => inner.input(|engine, now| engine.handle_push_stream(true, now)),
                PushEvent::Down { closed } => {
                    inner.input(|engine, now| engine.handle_push_stream(false, now));
                    if closed {
                        inner.schedule_push_reopen();
                    }
                }
                PushEvent::Terminated(reason) => {
                    inner.input(move |engine, now| engine.handle_server_terminated(reason, now))
                }
                PushEvent::View(view) => inner.accept_view(view),
                PushEvent::TabEnded(tab_id) => {
                    inner.input(move |engine, now| engine.handle_server_tab_ended(&tab_id, now))
                }
            }
        });
        match PushStream::connect(&url, on_event) {
            Ok(stream) => *self.push.borrow_mut() = Some(stream),
            Err(error) => {
                report("push stream unavailable", &error);
                self.schedule_push_reopen();
            }
        }
    }

    fn schedule_push_reopen(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let reopen = Timeout::new(PUSH_REOPEN_DELAY_MS, move || {
            if let Some(inner) = weak.upgrade() {
                let ended = inner
                    .engine
                    .try_borrow()
                    .map(|engine| matches!(engine.state(), State::Ended { .. }))
                    .unwrap_or(true);
                if !ended && !inner.stopped.get() && inner.push_wanted.get() {
                    inner.push.borrow_mut().take();
                    inner.open_push();
                }
            }
        });
        *self.push_reopen.borrow_mut() = Some(reopen);
    }

    fn carry_out(self: &Rc<Self>, effect: Effect) {
        match effect {
            Effect::Broadcast(message) => {
                if let Some(channel) = self.channel.borrow().as_ref() {
                    if let Err(error) = channel.post(&message) {
                        report("broadcast failed", &error);
                    }
                }
            }
            Effect::SendKeepalive { idle_ms } => {
                let pending = self.options.server.send_activity(idle_ms);
                let weak = Rc::downgrade(self);
                wasm_bindgen_futures::spawn_local(async move {
                    match pending.await {
                        // The server answered, so it is reachable: `403` to a keepalive is
                        // `consent_required` (the session was made to wait for recording
                        // consent meanwhile), and the view says so. Only a keepalive asks:
                        // `GET /api/session` is never refused this way, so this cannot loop.
                        Err(BrowserError::Status(403)) => {
                            if let Some(inner) = weak.upgrade() {
                                inner.fetch_session();
                            }
                        }
                        reply => Inner::apply_reply(&weak, reply),
                    }
                });
            }
            Effect::SendConsent { accepted } => {
                let pending = self.options.server.send_consent(accepted);
                let weak = Rc::downgrade(self);
                wasm_bindgen_futures::spawn_local(async move {
                    match pending.await {
                        Ok(Some(reply)) => Inner::apply_reply(&weak, Ok(reply)),
                        // Declining ended the session; the engine already knows.
                        Ok(None) => {}
                        Err(error) => Inner::apply_reply(&weak, Err(error)),
                    }
                });
            }
            Effect::EndServerSession { reason } => self.options.server.end_session(&reason),
            Effect::FetchSession => self.fetch_session(),
            Effect::TakeOverLeadership => {
                if self.leader_mode == LeaderMode::Lock {
                    self.request_lock(true);
                }
            }
            Effect::Redirect { reason } => self.leave_for_login(reason),
        }
    }

    fn fetch_session(self: &Rc<Self>) {
        let pending = self.options.server.fetch_session();
        self.await_reply(pending);
    }

    fn await_reply(
        self: &Rc<Self>,
        pending: impl std::future::Future<Output = Result<SessionReply, BrowserError>> + 'static,
    ) {
        let weak = Rc::downgrade(self);
        wasm_bindgen_futures::spawn_local(async move {
            let reply = pending.await;
            Inner::apply_reply(&weak, reply);
        });
    }

    /// Feeds a view to the engine, keeping who is signed in for the UI.
    fn accept_view(self: &Rc<Self>, view: SessionView) {
        let same_session = self
            .engine
            .try_borrow()
            .map(|engine| engine.session_id().is_none_or(|id| id == view.session_id))
            .unwrap_or(false);
        if same_session {
            *self.identity.borrow_mut() = Some((view.user.clone(), view.scopes.clone()));
        }
        self.input(move |engine, now| engine.handle_server_view(view, now));
    }

    fn apply_reply(weak: &Weak<Inner>, reply: Result<SessionReply, BrowserError>) {
        match reply {
            Ok(SessionReply::View(view)) => {
                if let Some(inner) = weak.upgrade() {
                    inner.accept_view(view);
                }
            }
            Ok(SessionReply::Ended(Some(reason))) => Inner::input_weak(weak, move |engine, now| {
                engine.handle_server_terminated(reason, now)
            }),
            Ok(SessionReply::Ended(None)) => Inner::input_weak(weak, |engine, now| {
                engine.handle_server_unauthenticated(now)
            }),
            Err(error) => {
                report("session server unreachable", &error);
                Inner::input_weak(weak, |engine, now| engine.handle_server_unreachable(now))
            }
        }
    }

    fn leave_for_login(self: &Rc<Self>, reason: Option<Reason>) {
        if self.redirect_to.borrow().is_some() {
            return;
        }
        if let (Some(hook), Some(reason)) = (&self.before_logout, &reason) {
            hook(reason);
        }
        let idle_timeout = self
            .engine
            .try_borrow()
            .ok()
            .and_then(|engine| engine.policy().and_then(|p| p.idle_timeout));
        let url = login_url(
            &self.options.login_path,
            reason.as_ref(),
            idle_timeout,
            &current_path(),
        );
        *self.redirect_to.borrow_mut() = Some(url.clone());
        if reason == Some(Reason::TabTerminated) {
            forget_tab_identity();
        }
        // Nothing more to coordinate: release everything before the page goes away.
        self.release_adapters();
        if self.options.navigate {
            if let Err(error) = navigate_to_login(&url) {
                report("navigation to login failed", &error);
            }
        }
    }

    fn snapshot(&self) -> GuardSnapshot {
        let redirect_to = self.redirect_to.borrow().clone();
        match self.engine.try_borrow() {
            Ok(engine) => {
                let policy = engine.policy();
                let identity = self.identity.borrow();
                GuardSnapshot {
                    state: engine.state().clone(),
                    is_leader: engine.is_leader(),
                    is_recording: engine.is_recording(),
                    connection_problem: engine.connection_problem(),
                    lifetime_warning: engine.lifetime_warning(),
                    idle_timeout: policy.and_then(|p| p.idle_timeout),
                    lifetime: policy.map(|p| p.expires_at.saturating_sub(p.issued_at)),
                    privileged: policy.map(|p| p.privileged).unwrap_or(false),
                    user: identity.as_ref().map(|(user, _)| user.clone()),
                    scopes: identity
                        .as_ref()
                        .map(|(_, scopes)| scopes.clone())
                        .unwrap_or_default(),
                    tab_id: self.tab.tab_id.clone(),
                    redirect_to,
                }
            }
            Err(_) => self
                .last_snapshot
                .borrow()
                .clone()
                .unwrap_or_else(|| GuardSnapshot {
                    redirect_to,
                    ..GuardSnapshot::starting(self.tab.tab_id.clone())
                }),
        }
    }

    fn publish(&self) {
        let snapshot = self.snapshot();
        if self.last_snapshot.borrow().as_ref() == Some(&snapshot) {
            return;
        }
        let recording = snapshot.is_recording && !self.stopped.get();
        let marked = self.recording.borrow().is_some();
        if recording && !marked {
            match RecordingMarker::apply() {
                Ok(marker) => *self.recording.borrow_mut() = Some(marker),
                Err(error) => report("recording marks unavailable", &error),
            }
        } else if !recording && marked {
            self.recording.borrow_mut().take();
        }
        *self.last_snapshot.borrow_mut() = Some(snapshot.clone());
        (self.on_change)(&snapshot);
    }

    fn release_adapters(&self) {
        self.timer.borrow_mut().arm(None, 0, || {});
        self.push_reopen.borrow_mut().take();
        self.push.borrow_mut().take();
        self.lock.borrow_mut().take();
        self.activity.borrow_mut().take();
        self.page.borrow_mut().take();
        // The channel stays open until the next turn so the logout broadcast queued in the
        // same input is delivered first; BroadcastChannel sends asynchronously anyway.
    }

    fn stop(&self) {
        self.stopped.set(true);
        self.release_adapters();
        self.channel.borrow_mut().take();
        self.recording.borrow_mut().take();
    }
}

/// Logs a browser-layer problem to the console; the guard keeps running.
fn report(what: &str, error: &BrowserError) {
    web_sys::console::warn_1(&format!("session-guard: {what}: {error}").into());
}
