//! Thin browser adapters around the [`core`](crate::core) engine (wasm32 only).
//!
//! Each adapter turns one browser facility into engine inputs or carries out one kind of
//! engine effect, and owns a handle that undoes its work on drop (listeners removed,
//! timers cancelled, channels closed, locks released). No `JsValue` crosses into the core:
//! adapters hand it strings and numbers.
//!
//! `GuardRuntime` wires them together; the Leptos layer (`ui`) wraps it in signals.
//!
//! Embedders use the `ui` layer; what they may need from here is public: the snapshot the
//! `ui` hooks publish ([`GuardSnapshot`]), this tab's identity ([`tab_identity`], to name
//! the tab in the app's own requests) and the page's path as a safe same-origin link
//! ([`current_path`]). The adapters themselves are crate-private; the `test-support`
//! feature makes them public for the browser test suites.

mod activity;
mod channel;
pub(crate) mod dom;
mod guard;
#[cfg(feature = "test-support")]
pub mod json;
#[cfg(not(feature = "test-support"))]
mod json;
mod leader;
mod page;
mod push;
mod recorder;
mod server;
mod timer;

/// The hooks publish it as [`UseSessionGuardReturn::snapshot`](crate::ui::UseSessionGuardReturn::snapshot).
///
/// ```
/// # use leptos::prelude::*;
/// # use session_guard::ui::use_session;
/// # #[component] fn TabLabel() -> impl IntoView {
/// let session = use_session();
/// let tab = move || session.snapshot.with(|snapshot| snapshot.tab_id.clone());
/// view! { <small>"Tab " {tab}</small> }
/// # }
/// ```
pub use guard::GuardSnapshot;
/// A link to the page the user is on, for example to open it in a new tab of the same
/// session (`rel="opener"` lets the browser copy the tab's session storage, so the new tab
/// records its opener):
///
/// ```
/// # use leptos::prelude::*;
/// # #[component] fn NewTabLink() -> impl IntoView {
/// let here = session_guard::browser::current_path();
/// view! { <a href=here target="_blank" rel="opener">"Open in a new tab"</a> }
/// # }
/// ```
pub use page::current_path;
/// Names this tab in the app's own requests, as the contract's `X-Session-Guard-Tab`
/// header (the demo console's admin client does so for the audit log):
///
/// ```
/// # fn tab_header() -> Option<(&'static str, String)> {
/// match session_guard::browser::tab_identity() {
///     Ok(tab) => Some(("X-Session-Guard-Tab", tab.tab_id)),
///     // No window or no session storage: send the request without it.
///     Err(_error) => None,
/// }
/// # }
/// ```
pub use page::{tab_identity, TabIdentity};

#[cfg(feature = "test-support")]
pub use activity::{ActivityListener, DEFAULT_ACTIVITY_EVENTS, DEFAULT_THROTTLE_MS};
#[cfg(feature = "test-support")]
pub use channel::{ChannelKind, TabChannel};
#[cfg(feature = "test-support")]
pub use guard::{BeforeLogout, GuardOptions, GuardRuntime, SnapshotListener};
#[cfg(feature = "test-support")]
pub use leader::LeaderLock;
#[cfg(feature = "test-support")]
pub use page::{
    forget_tab_identity, navigate_to_login, page_visible, same_origin_target, PageListeners,
    RecordingMarker, ReturnPath, Wake, RECORDING_TITLE_PREFIX,
};
#[cfg(feature = "test-support")]
pub use push::{PushEvent, PushStream};
#[cfg(feature = "test-support")]
pub use recorder::{gzip, gzip_stored, Recorder};
#[cfg(feature = "test-support")]
pub use server::{
    ActivityRequest, HttpSessionServer, LocalFuture, SessionReply, SessionServer, TabRegistration,
};
#[cfg(feature = "test-support")]
pub use timer::DeadlineTimer;

#[cfg(not(feature = "test-support"))]
pub(crate) use activity::{ActivityListener, DEFAULT_ACTIVITY_EVENTS, DEFAULT_THROTTLE_MS};
#[cfg(not(feature = "test-support"))]
pub(crate) use channel::{ChannelKind, TabChannel};
#[cfg(not(feature = "test-support"))]
pub(crate) use guard::{BeforeLogout, GuardOptions, GuardRuntime};
#[cfg(not(feature = "test-support"))]
pub(crate) use leader::LeaderLock;
#[cfg(not(feature = "test-support"))]
pub(crate) use page::{
    forget_tab_identity, navigate_to_login, page_visible, same_origin_target, PageListeners,
    RecordingMarker, ReturnPath, Wake,
};
#[cfg(not(feature = "test-support"))]
pub(crate) use push::{PushEvent, PushStream};
#[cfg(not(feature = "test-support"))]
pub(crate) use recorder::Recorder;
/// Where the recorder script is served by default: `UseSessionGuardOptions::recorder_url`.
pub use recorder::DEFAULT_RECORDER_URL;
#[cfg(not(feature = "test-support"))]
pub(crate) use server::{
    ActivityRequest, HttpSessionServer, LocalFuture, SessionReply, SessionServer, TabRegistration,
};
#[cfg(not(feature = "test-support"))]
pub(crate) use timer::DeadlineTimer;

use wasm_bindgen::{JsCast, JsValue};

/// Errors of the browser layer; [`tab_identity`] returns one where the page has no window
/// or no session storage.
///
/// ```
/// # use session_guard::browser::{tab_identity, BrowserError};
/// if let Err(BrowserError::Js(why)) = tab_identity() {
///     web_sys::console::warn_1(&format!("no tab identity: {why}").into());
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrowserError {
    /// A browser API threw or is missing (no window, storage disabled, ...).
    #[error("browser API failed: {0}")]
    Js(&'static str),
    /// The request did not reach the server or got no answer in time.
    #[error("network error: {0}")]
    Network(&'static str),
    /// The server answered with a status the guard does not act on.
    #[error("unexpected HTTP status {0}")]
    Status(u16),
    /// The server's answer failed validation.
    #[error("invalid server response: {0}")]
    InvalidResponse(&'static str),
    /// The server refused a recording chunk for its sequence (`409` with `next_seq`): it
    /// stores the tab's next chunk under this seq.
    #[error("recording chunk out of sequence; the server expects {0}")]
    OutOfSequence(u32),
}

impl BrowserError {
    /// A thrown JavaScript value. Its message is not kept: copying and formatting it on
    /// every failure costs the page more than it tells, and the report names the operation.
    pub(crate) fn from_js(_thrown: JsValue) -> Self {
        BrowserError::Js("exception")
    }

    /// Logs the error to the console after `what` failed, as separate console arguments,
    /// so the page carries no formatting code for it. The guard keeps running.
    pub(crate) fn report(&self, what: &str) {
        let (kind, detail): (&str, JsValue) = match self {
            BrowserError::Js(code) => ("browser API failed", (*code).into()),
            BrowserError::Network(code) => ("network error", (*code).into()),
            BrowserError::Status(status) => ("unexpected HTTP status", (*status).into()),
            BrowserError::InvalidResponse(code) => ("invalid server response", (*code).into()),
            BrowserError::OutOfSequence(next_seq) => {
                ("recording chunk out of sequence", (*next_seq).into())
            }
        };
        web_sys::console::warn_4(
            &"session-guard:".into(),
            &what.into(),
            &kind.into(),
            &detail,
        );
    }
}

/// Wall-clock now in epoch milliseconds.
///
/// `Date.now()` is what the engine maps to server time; the monotonic clock
/// ([`monotonic_ms`]) beside it only bounds forward jumps (it stops while a laptop sleeps
/// in some browsers, so alone it would let a session outlive its deadline). The engine
/// itself refuses to let time run backwards.
pub(crate) fn now_ms() -> crate::core::Millis {
    // Epoch milliseconds fit an i64 for the next 290 million years; `as` truncates the
    // fraction, which is what a millisecond clock means.
    js_sys::Date::now() as crate::core::Millis
}

/// `performance.now()` in whole milliseconds, where the page has it.
pub(crate) fn monotonic_ms() -> Option<crate::core::Millis> {
    // Milliseconds since the page's time origin: far below i64's range.
    // Read by name (`dom`): two bindings fewer for the page.
    let performance = dom::get(web_sys::window()?.as_ref(), "performance");
    dom::call(&performance, "now", &JsValue::UNDEFINED)
        .as_f64()
        .map(|now| now as crate::core::Millis)
}

/// Both clocks, as the engine takes them.
pub(crate) fn clocks() -> crate::core::Now {
    crate::core::Now {
        wall: crate::core::LocalTime::from_millis(now_ms()),
        monotonic: monotonic_ms().map(crate::core::DurationMs::from_millis),
    }
}

/// Runs `future` on the page's event loop. Every future the adapters start goes through
/// here as one boxed type, so the page carries the spawning code (a task, and the
/// promise-based path for JSPI contexts) once rather than once per future.
#[inline(never)]
pub(crate) fn spawn(future: LocalFuture<()>) {
    wasm_bindgen_futures::spawn_local(future);
}

/// `callback` as a JavaScript function of no arguments: every such function the adapters
/// hand the browser is this one closure type, so the page carries its code once.
pub(crate) fn js_callback(
    callback: std::rc::Rc<dyn Fn()>,
) -> wasm_bindgen::closure::Closure<dyn FnMut()> {
    wasm_bindgen::closure::Closure::new(move || callback())
}

/// Calls a JavaScript function that takes nothing (a stop, an undo, a lock's `resolve`),
/// ignoring what it returns or throws: through `Function.call` with one argument, the
/// binding the views use, which passes `undefined`.
pub(crate) fn call(function: &js_sys::Function) {
    let _ = function.call1(&JsValue::UNDEFINED, &JsValue::UNDEFINED);
}

/// An event listener on a target, removed on drop.
///
/// Added and removed through the same `addEventListener`/`removeEventListener` bindings
/// the Leptos views use, so the page carries one import of each, and every listener of the
/// guard is this one type with one boxed callback signature.
#[must_use = "the listener is removed when this handle is dropped"]
pub(crate) struct EventListener {
    target: web_sys::EventTarget,
    event: &'static str,
    callback: wasm_bindgen::closure::Closure<dyn FnMut(web_sys::Event)>,
}

impl EventListener {
    /// Listens for `event` on `target` (bubbling phase) until dropped.
    pub(crate) fn new(
        target: &web_sys::EventTarget,
        event: &'static str,
        on_event: Box<dyn FnMut(web_sys::Event)>,
    ) -> Result<Self, BrowserError> {
        let callback = wasm_bindgen::closure::Closure::wrap(on_event);
        target
            .add_event_listener_with_callback(event, callback.as_ref().unchecked_ref())
            .map_err(BrowserError::from_js)?;
        Ok(EventListener {
            target: target.clone(),
            event,
            callback,
        })
    }
}

impl Drop for EventListener {
    fn drop(&mut self) {
        let _ = self.target.remove_event_listener_with_callback(
            self.event,
            self.callback.as_ref().unchecked_ref(),
        );
    }
}

/// The window, or an error where there is none (a worker).
pub(crate) fn window() -> Result<web_sys::Window, BrowserError> {
    web_sys::window().ok_or(BrowserError::Js("no window"))
}
