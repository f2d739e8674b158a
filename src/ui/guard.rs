//! The `use_session_guard` hook, the `<SessionGuard>` component and `use_session`.

use std::rc::Rc;

use gloo_timers::callback::Interval;
use leptos::prelude::*;
use send_wrapper::SendWrapper;

use super::{ConsentModal, IdleWarning, LifetimeNotice, RecordingIndicator};
use crate::browser::{
    BeforeLogout, ChannelKind, GuardOptions, GuardRuntime, GuardSnapshot, HttpSessionServer,
    SessionServer, DEFAULT_THROTTLE_MS,
};
use crate::core::{LifetimeWarning, Millis, PolicyOverride, Reason, State, UserView};

/// How often the warning's countdown refreshes.
const COUNTDOWN_TICK_MS: u32 = 1_000;

/// Options of [`use_session_guard`].
#[derive(Default)]
pub struct UseSessionGuardOptions {
    /// How the guard talks to the server and the other tabs, and what counts as activity.
    pub guard: GuardOptions,
    /// Runs just before the tab leaves for the login page (save drafts here).
    pub on_before_logout: Option<Callback<Reason>>,
}

/// What [`use_session_guard`] and [`use_session`] return: signals to read and actions to
/// call. Cheap to copy.
#[derive(Clone, Copy)]
pub struct UseSessionGuardReturn {
    /// The session's state.
    pub state: Signal<State>,
    /// Milliseconds until the session's next ending deadline; refreshed every second while
    /// the idle warning shows.
    pub remaining_ms: Signal<Option<Millis>>,
    /// Why the session ended, once it has.
    pub reason: Signal<Option<Reason>>,
    /// Whether this session is being recorded.
    pub is_recording: Signal<bool>,
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
pub struct SessionContext(pub UseSessionGuardReturn);

/// Runs `action` on the running guard; does nothing once it was stopped and disposed.
fn with_runtime(
    runtime: StoredValue<Option<GuardRuntime>, LocalStorage>,
    action: impl FnOnce(&GuardRuntime),
) {
    runtime.try_with_value(|rt| {
        if let Some(rt) = rt {
            action(rt);
        }
    });
}

/// Starts guarding this tab for the lifetime of the calling component: the engine, its
/// browser adapters and the signals the UI reads. Everything is released in `on_cleanup`.
pub fn use_session_guard(options: UseSessionGuardOptions) -> UseSessionGuardReturn {
    let snapshot = RwSignal::new(GuardSnapshot::starting(String::new()));
    let runtime = StoredValue::new_local(None::<GuardRuntime>);
    let remaining = RwSignal::new(None::<Millis>);
    let on_change = Box::new(move |next: &GuardSnapshot| snapshot.set(next.clone()));
    let before_logout = options
        .on_before_logout
        .map(|hook| Box::new(move |reason: &Reason| hook.run(reason.clone())) as BeforeLogout);
    match GuardRuntime::start(options.guard, on_change, before_logout) {
        Ok(started) => runtime.set_value(Some(started)),
        Err(error) => {
            // Fail closed: the state stays Starting and nothing protected renders.
            web_sys::console::error_1(&format!("session-guard could not start: {error}").into());
        }
    }

    let state = Memo::new(move |_| snapshot.with(|s| s.state.clone()));
    let in_warning = Memo::new(move |_| matches!(state.get(), State::Warning { .. }));

    // The countdown ticks only while the warning shows: an idle tab has no timers but the
    // engine's single deadline.
    let ticker = StoredValue::new_local(None::<Interval>);
    Effect::new(move |_| {
        let refresh = move || {
            let left = runtime
                .try_with_value(|rt| rt.as_ref().and_then(GuardRuntime::remaining_ms))
                .flatten();
            remaining.set(left);
        };
        refresh();
        let interval = in_warning
            .get()
            .then(|| Interval::new(COUNTDOWN_TICK_MS, refresh));
        ticker.set_value(interval);
    });

    let cleanup = SendWrapper::new((runtime, ticker));
    on_cleanup(move || {
        let (runtime, ticker) = cleanup.take();
        let _ = ticker.try_set_value(None);
        if let Some(Some(rt)) = runtime.try_update_value(Option::take) {
            rt.stop();
        }
    });

    UseSessionGuardReturn {
        state: state.into(),
        remaining_ms: remaining.into(),
        reason: Signal::derive(move || match state.get() {
            State::Ended { reason } => reason,
            _ => None,
        }),
        is_recording: Memo::new(move |_| snapshot.with(|s| s.is_recording)).into(),
        is_leader: Memo::new(move |_| snapshot.with(|s| s.is_leader)).into(),
        connection_problem: Memo::new(move |_| snapshot.with(|s| s.connection_problem)).into(),
        lifetime_warning: Memo::new(move |_| snapshot.with(|s| s.lifetime_warning)).into(),
        user: Memo::new(move |_| snapshot.with(|s| s.user.clone())).into(),
        privileged: Memo::new(move |_| snapshot.with(|s| s.privileged)).into(),
        idle_timeout: Memo::new(move |_| snapshot.with(|s| s.idle_timeout)).into(),
        lifetime: Memo::new(move |_| snapshot.with(|s| s.lifetime)).into(),
        snapshot: snapshot.into(),
        stay_signed_in: Callback::new(move |()| {
            with_runtime(runtime, GuardRuntime::stay_signed_in)
        }),
        logout: Callback::new(move |()| with_runtime(runtime, GuardRuntime::logout)),
        consent: Callback::new(move |accepted: bool| {
            with_runtime(runtime, |rt| rt.consent(accepted))
        }),
    }
}

/// The guard's signals and actions from inside a [`SessionGuard`].
///
/// Outside one it returns a detached value that stays `Starting` (so nothing protected
/// renders) with actions that do nothing, and logs a warning: a misplaced call must not
/// take the page down.
pub fn use_session() -> UseSessionGuardReturn {
    if let Some(SessionContext(guard)) = use_context::<SessionContext>() {
        return guard;
    }
    web_sys::console::warn_1(&"session-guard: use_session() called outside <SessionGuard>".into());
    let snapshot = Signal::stored(GuardSnapshot::starting(String::new()));
    UseSessionGuardReturn {
        state: Signal::stored(State::Starting),
        remaining_ms: Signal::stored(None),
        reason: Signal::stored(None),
        is_recording: Signal::stored(false),
        is_leader: Signal::stored(false),
        connection_problem: Signal::stored(false),
        lifetime_warning: Signal::stored(None),
        user: Signal::stored(None),
        privileged: Signal::stored(false),
        idle_timeout: Signal::stored(None),
        lifetime: Signal::stored(None),
        snapshot,
        stay_signed_in: Callback::new(|()| {}),
        logout: Callback::new(|()| {}),
        consent: Callback::new(|_: bool| {}),
    }
}

/// Guards the protected app: renders its children only while the server-confirmed session
/// is live (and recording consent, where required, was given), shows the consent dialog,
/// the idle warning, the lifetime notice and the recording indicator, and provides
/// [`use_session`].
#[component]
pub fn SessionGuard(
    /// Base URL of the session API; empty for the page's own origin.
    #[prop(optional, into)]
    api_base: String,
    /// Path of the login page that ended sessions are sent to.
    #[prop(default = "/login".to_string(), into)]
    login_path: String,
    /// Shorter limits for tests and demos; never lengthens the server's.
    #[prop(optional)]
    policy_override: Option<PolicyOverride>,
    /// DOM events that count as activity (default: pointer, keyboard, wheel, touch, scroll,
    /// focus).
    #[prop(optional)]
    activity_events: Option<Vec<String>>,
    /// At most one activity report per this many milliseconds.
    #[prop(default = DEFAULT_THROTTLE_MS)]
    throttle_ms: Millis,
    /// Runs just before the tab leaves for the login page, so the app can save drafts.
    #[prop(optional)]
    on_before_logout: Option<Callback<Reason>>,
    /// A session API client to use instead of HTTP against `api_base` (tests).
    #[prop(optional)]
    server: Option<Rc<dyn SessionServer>>,
    /// The cross-tab transport (default: BroadcastChannel, storage events where missing).
    #[prop(optional)]
    channel: ChannelKind,
    /// Elect the keepalive leader with Web Locks where available (default true).
    #[prop(default = true)]
    use_web_locks: bool,
    /// Navigate to the login page when the session ends (default true; tests turn it off).
    #[prop(default = true)]
    navigate: bool,
    /// Show the recording badge (default true). Turn it off when the app places
    /// `<RecordingIndicator />` itself, in its header for example, while
    /// [`UseSessionGuardReturn::is_recording`] holds; the title prefix and favicon stay.
    #[prop(default = true)]
    recording_badge: bool,
    /// The protected app.
    children: ChildrenFn,
) -> impl IntoView {
    let defaults = GuardOptions::default();
    let guard = use_session_guard(UseSessionGuardOptions {
        guard: GuardOptions {
            server: server.unwrap_or_else(|| Rc::new(HttpSessionServer::new(api_base))),
            login_path,
            activity_events: activity_events.unwrap_or(defaults.activity_events),
            throttle_ms,
            policy_override,
            channel,
            use_web_locks,
            navigate,
            tab: None,
        },
        on_before_logout,
    });
    provide_context(SessionContext(guard));

    let state = guard.state;
    let content_allowed =
        Memo::new(move |_| matches!(state.get(), State::Active | State::Warning { .. }));
    let awaiting_consent = Memo::new(move |_| state.get() == State::AwaitingConsent);
    let in_warning = Memo::new(move |_| matches!(state.get(), State::Warning { .. }));
    let starting = Memo::new(move |_| state.get() == State::Starting);
    let ended = Memo::new(move |_| matches!(state.get(), State::Ended { .. }));

    view! {
        <div class="sg-guard">
            <Show when=move || recording_badge && guard.is_recording.get()>
                <RecordingIndicator />
            </Show>
            <Show when=move || guard.connection_problem.get()>
                <p class="sg-connection" role="status">
                    "Connection problem: the session server cannot be reached. Your session stays open; retrying."
                </p>
            </Show>
            <LifetimeNotice warning=guard.lifetime_warning />
            <Show when=move || starting.get()>
                <p class="sg-status" role="status">"Checking your session…"</p>
            </Show>
            <Show when=move || ended.get()>
                <p class="sg-status" role="status">"Your session has ended. Redirecting to sign in…"</p>
            </Show>
            <Show when=move || awaiting_consent.get()>
                <ConsentModal on_answer=guard.consent />
            </Show>
            <Show when=move || content_allowed.get()>
                <div class="sg-protected">{children()}</div>
            </Show>
            <Show when=move || in_warning.get()>
                <IdleWarning
                    remaining_ms=guard.remaining_ms
                    on_stay=guard.stay_signed_in
                    on_logout=guard.logout
                />
            </Show>
        </div>
    }
}
