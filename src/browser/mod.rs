//! Thin browser adapters around the [`core`](crate::core) engine (wasm32 only).
//!
//! Each adapter turns one browser facility into engine inputs or carries out one kind of
//! engine effect, and owns a handle that undoes its work on drop (listeners removed,
//! timers cancelled, channels closed, locks released). No `JsValue` crosses into the core:
//! adapters hand it strings and numbers.
//!
//! [`GuardRuntime`] wires them together; the Leptos layer (`ui`) wraps it in signals.

mod activity;
mod channel;
mod guard;
mod leader;
mod page;
mod push;
mod server;
mod timer;

pub use activity::{ActivityListener, DEFAULT_ACTIVITY_EVENTS, DEFAULT_THROTTLE_MS};
pub use channel::{ChannelKind, TabChannel};
pub use guard::{BeforeLogout, GuardOptions, GuardRuntime, GuardSnapshot, SnapshotListener};
pub use leader::LeaderLock;
pub use page::{
    current_path, forget_tab_identity, navigate_to_login, page_visible, same_origin_target,
    tab_identity, PageListeners, RecordingMarker, TabIdentity, Wake, RECORDING_TITLE_PREFIX,
};
pub use push::{PushEvent, PushStream};
pub use server::{HttpSessionServer, LocalFuture, SessionReply, SessionServer, TabRegistration};
pub use timer::DeadlineTimer;

use wasm_bindgen::JsValue;

/// Errors of the browser layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrowserError {
    /// A browser API threw or is missing (no window, storage disabled, ...).
    #[error("browser API failed: {0}")]
    Js(String),
    /// The request did not reach the server or got no answer in time.
    #[error("network error: {0}")]
    Network(String),
    /// The server answered with a status the guard does not act on.
    #[error("unexpected HTTP status {0}")]
    Status(u16),
    /// The server's answer failed validation.
    #[error("invalid server response: {0}")]
    InvalidResponse(String),
}

impl BrowserError {
    /// Describes a thrown JavaScript value without trusting its shape.
    pub(crate) fn from_js(value: JsValue) -> Self {
        let text = value
            .as_string()
            .or_else(|| {
                js_sys::Reflect::get(&value, &JsValue::from_str("message"))
                    .ok()
                    .and_then(|m| m.as_string())
            })
            .unwrap_or_else(|| "unknown error".to_string());
        BrowserError::Js(text)
    }
}

/// Wall-clock now in epoch milliseconds.
///
/// `Date.now()` is what the engine maps to server time; the monotonic clock
/// ([`monotonic_ms`]) beside it only bounds forward jumps (it stops while a laptop sleeps
/// in some browsers, so alone it would let a session outlive its deadline). The engine
/// itself refuses to let time run backwards.
pub fn now_ms() -> crate::core::Millis {
    // Epoch milliseconds fit an i64 for the next 290 million years; `as` truncates the
    // fraction, which is what a millisecond clock means.
    js_sys::Date::now() as crate::core::Millis
}

/// `performance.now()` in whole milliseconds, where the page has it.
pub fn monotonic_ms() -> Option<crate::core::Millis> {
    // Milliseconds since the page's time origin: far below i64's range.
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now() as crate::core::Millis)
}

/// Both clocks, as the engine takes them.
pub fn clocks() -> crate::core::Now {
    crate::core::Now {
        wall: crate::core::LocalTime::from_millis(now_ms()),
        monotonic: monotonic_ms().map(crate::core::DurationMs::from_millis),
    }
}

/// The window, or an error where there is none (a worker).
pub(crate) fn window() -> Result<web_sys::Window, BrowserError> {
    web_sys::window().ok_or_else(|| BrowserError::Js("no window".to_string()))
}
