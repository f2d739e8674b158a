//! The `use_session_guard` hook, the `<SessionGuard>` component and `use_session`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo_timers::callback::Timeout;
use leptos::prelude::*;
use leptos::reactive::owner::WeakOwner;
use leptos::tachys::html::node_ref::NodeRefContainer;

use super::parts::GuardParts;
use crate::browser::{BeforeLogout, GuardOptions, GuardRuntime, GuardSnapshot, HttpSessionServer};
#[cfg(feature = "test-support")]
use crate::browser::{ChannelKind, SessionServer, TabIdentity};
use crate::core::{
    DurationMs, LifetimeWarning, Millis, PolicyOverride, Reason, RecordingStatus, State, UserView,
};

/// How often the warning's countdown refreshes.
const COUNTDOWN_TICK_MS: u32 = 1_000;

/// Everything [`use_session_guard_with_options`] and [`SessionGuard`] can be told: start
/// from [`default()`](Default::default) and set only what differs, each setter taking and
/// returning the options.
///
/// The defaults: the session API on the page's own origin, ended sessions sent to `/login`,
/// activity from pointer, keyboard, wheel, touch and scroll events reported at most every
/// 500 ms, the server's own limits, Web Locks where the browser has them, and navigation
/// to the login page when the session ends.
///
/// ```
/// use session_guard::ui::UseSessionGuardOptions;
///
/// let options = UseSessionGuardOptions::default()
///     .server_base("https://sessions.example.com")
///     .login_path("/sign-in")
///     .activity_events(["pointerdown", "keydown"])
///     .on_before_logout(|reason| save_drafts(reason));
/// # fn save_drafts(_: &session_guard::core::Reason) {}
/// ```
#[derive(Default)]
pub struct UseSessionGuardOptions {
    guard: GuardOptions,
    on_before_logout: Option<BeforeLogout>,
}

impl UseSessionGuardOptions {
    /// Base URL of the session API (`{base}/api/session`, ...); the default, empty, is the
    /// page's own origin.
    ///
    /// ```
    /// # use session_guard::ui::UseSessionGuardOptions;
    /// let options = UseSessionGuardOptions::default().server_base("https://sessions.example.com");
    /// ```
    pub fn server_base(mut self, base: impl Into<String>) -> Self {
        self.guard.server = Rc::new(HttpSessionServer::new(base));
        self
    }

    /// Same-origin path of the login page that ended sessions are sent to, with the
    /// reason and the page to come back to in its query (default `/login`).
    ///
    /// ```
    /// # use session_guard::ui::UseSessionGuardOptions;
    /// let options = UseSessionGuardOptions::default().login_path("/sign-in");
    /// ```
    pub fn login_path(mut self, path: impl Into<String>) -> Self {
        self.guard.login_path = path.into();
        self
    }

    /// DOM events (listened to on the window, capture phase) that count as the user being
    /// active. The default: `pointerdown`, `pointermove`, `keydown`, `wheel`, `touchstart`,
    /// `scroll`. Coming back to the tab or window always counts.
    ///
    /// ```
    /// # use session_guard::ui::UseSessionGuardOptions;
    /// let options = UseSessionGuardOptions::default().activity_events(["pointerdown", "keydown"]);
    /// ```
    pub fn activity_events<E: Into<String>>(mut self, events: impl IntoIterator<Item = E>) -> Self {
        self.guard.activity_events = events.into_iter().map(Into::into).collect();
        self
    }

    /// At most one activity report to the engine per this many milliseconds (default 500).
    ///
    /// ```
    /// # use session_guard::ui::UseSessionGuardOptions;
    /// let options = UseSessionGuardOptions::default().throttle_ms(1_000);
    /// ```
    pub fn throttle_ms(mut self, throttle_ms: Millis) -> Self {
        self.guard.throttle_ms = throttle_ms;
        self
    }

    /// Shorter limits for tests and demos. It never lengthens what the server set, and the
    /// server still ends the session on its own limits.
    ///
    /// ```
    /// # use session_guard::ui::UseSessionGuardOptions;
    /// use session_guard::core::PolicyOverride;
    ///
    /// let short = PolicyOverride { idle_timeout: Some(60_000), ..PolicyOverride::default() };
    /// let options = UseSessionGuardOptions::default().policy_override(short);
    /// ```
    pub fn policy_override(mut self, policy: impl Into<Option<PolicyOverride>>) -> Self {
        self.guard.policy_override = policy.into();
        self
    }

    /// Elect the tab that sends keepalives with the Web Locks API where the browser has it
    /// (default `true`); with `false`, or without the API, tabs elect it by heartbeats.
    ///
    /// ```
    /// # use session_guard::ui::UseSessionGuardOptions;
    /// let options = UseSessionGuardOptions::default().use_web_locks(false);
    /// ```
    pub fn use_web_locks(mut self, use_web_locks: bool) -> Self {
        self.guard.use_web_locks = use_web_locks;
        self
    }

    /// Navigate to the login page when the session ends (default `true`). With `false` the
    /// app navigates itself, reading [`UseSessionGuardReturn::snapshot`]'s `redirect_to`;
    /// protected content is hidden either way.
    ///
    /// ```
    /// # use session_guard::ui::UseSessionGuardOptions;
    /// let options = UseSessionGuardOptions::default().navigate(false);
    /// ```
    pub fn navigate(mut self, navigate: bool) -> Self {
        self.guard.navigate = navigate;
        self
    }

    /// Where the session recorder's script is loaded from, only when the session is
    /// recorded (default `/sg-record.js`, which trunk serves beside the console).
    ///
    /// ```
    /// # use session_guard::ui::UseSessionGuardOptions;
    /// let options = UseSessionGuardOptions::default().recorder_url("/assets/sg-record.js");
    /// ```
    pub fn recorder_url(mut self, url: impl Into<String>) -> Self {
        self.guard.recorder_url = url.into();
        self
    }

    /// How long a recorded tab may go without capturing and delivering its recording
    /// before it hides the protected content, in milliseconds (default 30 s). A network
    /// blip shorter than this loses nothing: the recording is kept and sent in order.
    ///
    /// ```
    /// # use session_guard::ui::UseSessionGuardOptions;
    /// let options = UseSessionGuardOptions::default().recording_stall_limit(60_000);
    /// ```
    pub fn recording_stall_limit(mut self, limit_ms: Millis) -> Self {
        self.guard.recording_limits.stall_limit = DurationMs::from_millis(limit_ms.max(0));
        self
    }

    /// How many bytes of undelivered recording a tab may hold before it hides the
    /// protected content and stops recording until the backlog is delivered (default
    /// 4 MiB).
    ///
    /// ```
    /// # use session_guard::ui::UseSessionGuardOptions;
    /// let options = UseSessionGuardOptions::default().recording_buffer_limit(8 * 1024 * 1024);
    /// ```
    pub fn recording_buffer_limit(mut self, limit_bytes: usize) -> Self {
        self.guard.recording_limits.buffer_limit = limit_bytes;
        self
    }

    /// Runs just before the tab leaves for the login page, with the reason the session
    /// ended: save drafts here. It runs in every tab of the session.
    ///
    /// ```
    /// # use session_guard::ui::UseSessionGuardOptions;
    /// let options = UseSessionGuardOptions::default()
    ///     .on_before_logout(|reason| web_sys::console::log_1(&reason.wire_name().into()));
    /// ```
    pub fn on_before_logout(mut self, hook: impl Fn(&Reason) + 'static) -> Self {
        self.on_before_logout = Some(Box::new(hook));
        self
    }

    /// A session API client to use instead of HTTP against
    /// [`server_base`](Self::server_base) (the browser suites' fake server).
    #[cfg(feature = "test-support")]
    pub fn server(mut self, server: Rc<dyn SessionServer>) -> Self {
        self.guard.server = server;
        self
    }

    /// The cross-tab transport (default: BroadcastChannel, the storage fallback where the
    /// browser lacks it).
    #[cfg(feature = "test-support")]
    pub fn channel(mut self, channel: ChannelKind) -> Self {
        self.guard.channel = channel;
        self
    }

    /// Every recording bound at once, including the chunk span (short spans for tests).
    #[cfg(feature = "test-support")]
    pub fn recording_limits(mut self, limits: crate::core::RecordingLimits) -> Self {
        self.guard.recording_limits = limits;
        self
    }

    /// This tab's identity instead of the page's own (several guards in one test page).
    #[cfg(feature = "test-support")]
    pub fn tab(mut self, tab: TabIdentity) -> Self {
        self.guard.tab = Some(tab);
        self
    }
}

/// What [`use_session_guard`], [`use_session_guard_with_options`] and [`use_session`]
/// return: signals to read and actions to call. Cheap to copy.
///
/// ```
/// use leptos::prelude::*;
/// use session_guard::ui::use_session;
///
/// #[component]
/// fn Header() -> impl IntoView {
///     let session = use_session();
///     let name = move || session.user.get().map(|user| user.display_name).unwrap_or_default();
///     view! {
///         <span>{name}</span>
///         <Show when=move || session.is_recording.get()>" (recorded)"</Show>
///         <button on:click=move |_| session.logout.run(())>"Sign out"</button>
///     }
/// }
/// ```
#[derive(Clone, Copy)]
pub struct UseSessionGuardReturn {
    /// The session's state.
    pub state: Signal<State>,
    /// Milliseconds until the session's next ending deadline; refreshed every second while
    /// the idle warning shows.
    pub remaining_ms: Signal<Option<Millis>>,
    /// Why the session ended, once it has.
    pub reason: Signal<Option<Reason>>,
    /// Whether this tab is being recorded: its recorder runs and delivers (the recording
    /// indicator shows exactly then).
    pub is_recording: Signal<bool>,
    /// What this tab's recording is doing: off, starting, running, paused (with why) or
    /// blocked (the protected content is hidden until delivery resumes).
    pub recording: Signal<RecordingStatus>,
    /// Whether this tab sends the keepalives.
    pub is_leader: Signal<bool>,
    /// The server could not be reached lately (not a logout).
    pub connection_problem: Signal<bool>,
    /// The absolute end of the session is near (10, then 2 minutes before it).
    pub lifetime_warning: Signal<Option<LifetimeWarning>>,
    /// The signed-in user.
    pub user: Signal<Option<UserView>>,
    /// Whether the user is privileged (Admin Console access).
    pub privileged: Signal<bool>,
    /// The inactivity limit, `None` when there is none.
    pub idle_timeout: Signal<Option<Millis>>,
    /// The absolute lifetime of the session, once the server confirmed it.
    pub lifetime: Signal<Option<Millis>>,
    /// Everything at once.
    pub snapshot: Signal<GuardSnapshot>,
    /// Keep the session alive ("Stay signed in").
    pub stay_signed_in: Callback<()>,
    /// Sign out in every tab.
    pub logout: Callback<()>,
    /// Answer the recording consent dialog.
    pub consent: Callback<bool>,
}

/// The context [`SessionGuard`] provides to its children.
#[derive(Clone, Copy)]
struct SessionContext(UseSessionGuardReturn);

/// What the hook keeps for the running guard, in one stored value: one reactive storage
/// type for the page instead of one per field.
#[derive(Default)]
pub(super) struct GuardCells {
    /// The running guard (`None` if it could not start, or once stopped).
    runtime: RefCell<Option<GuardRuntime>>,
    /// The time left, as the countdown last read it.
    remaining: Cell<Option<Millis>>,
    /// The warning's next countdown refresh, while the warning shows.
    ticker: RefCell<Option<Timeout>>,
    /// [`SessionGuard`]'s renderer, once its element exists.
    parts: RefCell<Option<Rc<GuardParts>>>,
}

/// Where the hook keeps the running guard.
pub(super) type Runtime = StoredValue<GuardCells, LocalStorage>;

/// Runs `action` on the running guard; does nothing once it was stopped and disposed.
/// Not generic, so every caller shares one copy.
pub(super) fn with_runtime(runtime: Runtime, action: &dyn Fn(&GuardRuntime)) {
    runtime.try_with_value(|cells| {
        if let Ok(rt) = cells.runtime.try_borrow() {
            if let Some(rt) = rt.as_ref() {
                action(rt);
            }
        }
    });
}

/// Starts guarding this tab with the default options ([`UseSessionGuardOptions::default`])
/// for the lifetime of the calling component.
///
/// Most apps wrap their content in [`SessionGuard`] instead, which calls this hook, shows the
/// guard's dialogs and notices, and hides protected content until the session is confirmed.
/// Call it directly to build that UI yourself.
///
/// ```
/// use leptos::prelude::*;
/// use session_guard::ui::use_session_guard;
///
/// #[component]
/// fn Console() -> impl IntoView {
///     let session = use_session_guard();
///     view! { <button on:click=move |_| session.logout.run(())>"Sign out"</button> }
/// }
/// ```
pub fn use_session_guard() -> UseSessionGuardReturn {
    use_session_guard_with_options(UseSessionGuardOptions::default())
}

/// Starts guarding this tab with `options` for the lifetime of the calling component: the
/// engine, its browser adapters and the signals the UI reads. Everything is released in
/// `on_cleanup`. If the guard cannot start (no window), the state stays `Starting`, so
/// nothing protected renders.
///
/// ```
/// use leptos::prelude::*;
/// use session_guard::ui::{use_session_guard_with_options, UseSessionGuardOptions};
///
/// #[component]
/// fn Console() -> impl IntoView {
///     let session = use_session_guard_with_options(
///         UseSessionGuardOptions::default().login_path("/sign-in"),
///     );
///     view! { <p>{move || format!("{:?}", session.state.get())}</p> }
/// }
/// ```
pub fn use_session_guard_with_options(options: UseSessionGuardOptions) -> UseSessionGuardReturn {
    let (snapshot, tick, runtime) = start_guard(options);
    session_return(snapshot, tick, runtime)
}

/// The running guard behind the hook: its snapshot, countdown and runtime, which
/// [`SessionGuard`] reads directly rather than through the public signals.
type StartedGuard = (RwSignal<GuardSnapshot>, Tick, Runtime);

/// Starts the guard for [`use_session_guard_with_options`].
fn start_guard(options: UseSessionGuardOptions) -> StartedGuard {
    let snapshot = RwSignal::new(GuardSnapshot::starting(String::new()));
    let tick = new_tick();
    let runtime = StoredValue::new_local(GuardCells::default());
    // The countdown ticks only while the warning shows: an idle tab has no timers but the
    // engine's single deadline. It is started and stopped as the snapshots arrive, when the
    // warning comes or goes (the runtime never holds the engine across this callback).
    let showed = Cell::new(false);
    let on_change = Box::new(move |next: &GuardSnapshot| {
        let warning = matches!(next.state, State::Warning { .. });
        let toggled = showed.replace(warning) != warning;
        // Drawn here, in the input that changed the snapshot, before the input's other
        // effects run and before any reader is told: a request the input starts is then
        // begun (about 1 ms in Chromium) after the dialogs and the content changed and
        // after mutation observers and the focus return saw it, not before. The value is
        // written first, without telling, so that the app's view built by this drawing
        // reads the new snapshot.
        if toggled {
            read_remaining(runtime);
        }
        snapshot.try_update_untracked(|current| *current = next.clone());
        draw(runtime, next);
        snapshot.notify();
        if toggled {
            arm_countdown(runtime, tick, warning);
        }
    });
    match GuardRuntime::start(options.guard, on_change, options.on_before_logout) {
        Ok(started) => runtime.with_value(|cells| *cells.runtime.borrow_mut() = Some(started)),
        Err(error) => {
            // Fail closed: the state stays Starting and nothing protected renders.
            error.report("could not start");
        }
    }

    on_cleanup(move || {
        runtime.try_with_value(|cells| {
            cells.ticker.take();
            cells.parts.take();
            if let Some(rt) = cells.runtime.take() {
                rt.stop();
            }
        });
    });
    (snapshot, tick, runtime)
}

/// Writes the time left into `remaining`, then arms or stops the ticking
/// ([`arm_countdown`]).
fn refresh_countdown(runtime: Runtime, tick: Tick, again: bool) {
    read_remaining(runtime);
    arm_countdown(runtime, tick, again);
}

/// While the warning shows (`again`), arms the next refresh a tick later; otherwise stops
/// the ticking; then tells the countdown's readers. A timeout re-armed each tick rather than
/// an interval: the browser adapters already import setTimeout.
fn arm_countdown(runtime: Runtime, tick: Tick, again: bool) {
    runtime.try_with_value(|cells| {
        if let Ok(mut ticker) = cells.ticker.try_borrow_mut() {
            *ticker = again.then(|| {
                Timeout::new(COUNTDOWN_TICK_MS, move || {
                    refresh_countdown(runtime, tick, true);
                })
            });
        }
    });
    tick.notify();
}

/// Reads the time left from the running guard into the hook's cells.
fn read_remaining(runtime: Runtime) {
    let left = Cell::new(None);
    with_runtime(runtime, &|rt| left.set(rt.remaining_ms()));
    runtime.try_with_value(|cells| cells.remaining.set(left.get()));
}

/// Draws `snapshot` with [`SessionGuard`]'s renderer, once its element exists.
fn draw(runtime: Runtime, snapshot: &GuardSnapshot) {
    let drawn = runtime
        .try_with_value(|cells| cells.parts.try_borrow().ok()?.clone())
        .flatten();
    if let Some(drawn) = drawn {
        drawn.render(snapshot, remaining(runtime));
    }
}

/// What the countdown notifies each second. An `RwSignal` of the snapshot's own type whose
/// value is never read, rather than a `Trigger` or a signal of the time left: those are
/// another kind of reactive node for the page to carry (measured about 400 B gzip more);
/// and not the snapshot signal itself, whose readers would then all run every second.
type Tick = RwSignal<GuardSnapshot>;

/// A new [`Tick`].
fn new_tick() -> Tick {
    RwSignal::new(GuardSnapshot::starting(String::new()))
}

/// The time left, as the countdown last read it.
fn remaining(runtime: Runtime) -> Option<Millis> {
    runtime
        .try_with_value(|cells| cells.remaining.get())
        .flatten()
}

/// A signal reading one field of the snapshot: one closure type per field type, not per
/// field.
fn snapshot_field<T: Send + Sync + 'static>(
    snapshot: RwSignal<GuardSnapshot>,
    read: fn(&GuardSnapshot) -> T,
) -> Signal<T> {
    Signal::derive(move || snapshot.with(read))
}

/// An action on the running guard, as a callback: one closure type for every action
/// without an argument.
fn runtime_action(runtime: Runtime, action: fn(&GuardRuntime)) -> Callback<()> {
    Callback::new(move |()| with_runtime(runtime, &action))
}

/// The signals and actions over one snapshot signal: every field reads the snapshot, so the
/// page carries one signal type and no memo per field. Every field, the snapshot and the
/// countdown too, is a derived signal: a signal made from an `RwSignal` is a second kind of
/// signal for the page to carry (measured 535 B gzip more).
fn session_return(
    snapshot: RwSignal<GuardSnapshot>,
    tick: Tick,
    runtime: Runtime,
) -> UseSessionGuardReturn {
    UseSessionGuardReturn {
        state: snapshot_field(snapshot, |s| s.state.clone()),
        remaining_ms: Signal::derive(move || {
            tick.track();
            remaining(runtime)
        }),
        reason: snapshot_field(snapshot, |s| match &s.state {
            State::Ended { reason } => reason.clone(),
            _ => None,
        }),
        is_recording: snapshot_field(snapshot, |s| s.is_recording),
        recording: snapshot_field(snapshot, |s| s.recording),
        is_leader: snapshot_field(snapshot, |s| s.is_leader),
        connection_problem: snapshot_field(snapshot, |s| s.connection_problem),
        lifetime_warning: snapshot_field(snapshot, |s| s.lifetime_warning),
        user: snapshot_field(snapshot, |s| s.user.clone()),
        privileged: snapshot_field(snapshot, |s| s.privileged),
        idle_timeout: snapshot_field(snapshot, |s| s.idle_timeout),
        lifetime: snapshot_field(snapshot, |s| s.lifetime),
        snapshot: snapshot_field(snapshot, GuardSnapshot::clone),
        stay_signed_in: runtime_action(runtime, GuardRuntime::stay_signed_in),
        logout: runtime_action(runtime, GuardRuntime::logout),
        consent: Callback::new(move |accepted: bool| {
            with_runtime(runtime, &|rt| rt.consent(accepted))
        }),
    }
}

/// The guard's signals and actions from inside a [`SessionGuard`].
///
/// Outside one it returns a detached value that stays `Starting` (so nothing protected
/// renders) with actions that do nothing, and logs a warning: a misplaced call must not
/// take the page down.
///
/// ```
/// use leptos::prelude::*;
/// use session_guard::ui::use_session;
///
/// #[component]
/// fn SignOut() -> impl IntoView {
///     let session = use_session();
///     view! { <button on:click=move |_| session.logout.run(())>"Sign out"</button> }
/// }
/// ```
pub fn use_session() -> UseSessionGuardReturn {
    if let Some(SessionContext(guard)) = use_context::<SessionContext>() {
        return guard;
    }
    // Four arguments, which the console joins with spaces: the browser adapters' reports
    // use this console.warn already, so the page imports no other.
    web_sys::console::warn_4(
        &"session-guard:".into(),
        &"use_session() called".into(),
        &"outside".into(),
        &"<SessionGuard>".into(),
    );
    // No runtime: the state stays Starting and the actions find nothing to run. Nothing
    // ticks either, so the snapshot signal serves as the tick.
    let snapshot = RwSignal::new(GuardSnapshot::starting(String::new()));
    session_return(
        snapshot,
        snapshot,
        StoredValue::new_local(GuardCells::default()),
    )
}

/// Guards the protected app: renders its children only while the server-confirmed session
/// is live (and recording consent, where required, was given), shows the consent dialog,
/// the idle warning, the lifetime notice, the connection-problem banner and the recording
/// badge, and provides [`use_session`] to everything inside.
///
/// ```
/// use leptos::prelude::*;
/// use session_guard::ui::{SessionGuard, UseSessionGuardOptions};
///
/// #[component]
/// fn App() -> impl IntoView {
///     let options = UseSessionGuardOptions::default().login_path("/sign-in");
///     view! {
///         <SessionGuard options=options>
///             <p>"Only a signed-in user sees this."</p>
///         </SessionGuard>
///     }
/// }
/// ```
#[component]
pub fn SessionGuard(
    /// How the guard talks to the server and the other tabs, what counts as activity and
    /// where ended sessions go (default: [`UseSessionGuardOptions::default`]).
    ///
    /// ```
    /// # use leptos::prelude::*;
    /// # use session_guard::ui::{SessionGuard, UseSessionGuardOptions};
    /// # #[component] fn App() -> impl IntoView {
    /// view! {
    ///     <SessionGuard options=UseSessionGuardOptions::default().server_base("https://sessions.example.com")>
    ///         <p>"Protected"</p>
    ///     </SessionGuard>
    /// }
    /// # }
    /// ```
    #[prop(optional)]
    options: UseSessionGuardOptions,
    /// Show the recording badge (default `true`). Turn it off when the app places
    /// [`RecordingIndicator`] itself, in its header for example, while
    /// [`UseSessionGuardReturn::is_recording`] holds; the title prefix and favicon stay.
    /// A matter of layout, not of the guard, so a prop beside the options.
    ///
    /// ```
    /// # use leptos::prelude::*;
    /// # use session_guard::ui::SessionGuard;
    /// # #[component] fn App() -> impl IntoView {
    /// view! { <SessionGuard recording_badge=false><p>"Protected"</p></SessionGuard> }
    /// # }
    /// ```
    #[prop(default = true)]
    recording_badge: bool,
    /// The protected app: rendered only while the session is live and, where recording is
    /// required, consented to.
    children: ChildrenFn,
) -> impl IntoView {
    let (snapshot, tick, runtime) = start_guard(options);
    let guard = session_return(snapshot, tick, runtime);
    provide_context(SessionContext(guard));

    // Everything inside is drawn by one renderer ([`GuardParts`]): at once by the hook's
    // snapshot callback, and by the render effect below; the view is only the element it
    // goes in, handed to the renderer when tachys builds it.
    let root = GuardRoot {
        runtime,
        tick,
        recording_badge,
        children,
        // Weak: the renderer lives in this owner, so a strong handle would keep it alive.
        owner: Owner::current().map(|owner| owner.downgrade()),
    };
    // A render effect: it runs at once (before the element exists, only subscribing), again
    // after the element was handed over, for each countdown tick, and after each new
    // snapshot (which the callback drew already, unless a render was under way then); its
    // machinery is the one the views already carry.
    let drawing = RenderEffect::new(move |_| {
        tick.track();
        // A copy, so that nothing the app's view does while it is built can meet a borrowed
        // snapshot.
        let snapshot = snapshot.get();
        draw(runtime, &snapshot);
    });
    on_cleanup(move || drop(drawing));
    view! { <div class="sg-guard" node_ref=root></div> }
}

/// What `<SessionGuard>`'s element is handed to when tachys builds it: it creates the
/// renderer there. A node reference of our own, so the page carries no signal of the
/// element.
#[derive(Clone)]
struct GuardRoot {
    /// Where the renderer is kept, and the guard its buttons act on.
    runtime: Runtime,
    /// Notified once the renderer exists, so that the render effect draws.
    tick: Tick,
    /// The `recording_badge` prop.
    recording_badge: bool,
    /// The protected app.
    children: ChildrenFn,
    /// The `<SessionGuard>`'s owner.
    owner: Option<WeakOwner>,
}

impl NodeRefContainer<leptos::html::Div> for GuardRoot {
    fn load(self, element: &web_sys::Element) {
        let GuardRoot {
            runtime,
            tick,
            recording_badge,
            children,
            owner,
        } = self;
        let parts = GuardParts::new(element.clone(), runtime, recording_badge, children, owner);
        runtime.try_with_value(|cells| {
            if let Ok(mut shown) = cells.parts.try_borrow_mut() {
                *shown = Some(parts);
            }
        });
        // The element is in the document once the effect runs again.
        tick.notify();
    }
}

/// What the fail-closed notice says while the protected content is hidden.
pub const RECORDING_BLOCKED_TEXT: &str = "This session must be recorded, and this tab's \
    recording cannot be delivered, so its content is hidden. It shows again, as you left \
    it, as soon as the recording reaches the server.";

/// "Recording paused: <why>" while the session requires recording and this tab's recording
/// is not running (starting, paused or blocked); `None` while it runs or is off.
/// [`SessionGuard`] shows it; an app using the hook alone places it itself.
///
/// ```
/// # use leptos::prelude::*;
/// # use session_guard::ui::{recording_paused_text, use_session};
/// # #[component] fn Header() -> impl IntoView {
/// let session = use_session();
/// view! { <p role="status">{move || recording_paused_text(session.recording.get())}</p> }
/// # }
/// ```
pub fn recording_paused_text(status: RecordingStatus) -> Option<String> {
    let why = match status {
        RecordingStatus::Off | RecordingStatus::Running => return None,
        RecordingStatus::Starting => "the recorder is starting",
        RecordingStatus::Paused(reason) | RecordingStatus::Blocked(reason) => reason.message(),
    };
    Some(format!("Recording paused: {why}."))
}
