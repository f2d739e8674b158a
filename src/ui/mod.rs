//! The Leptos view layer (wasm32 only): the [`SessionGuard`] component, the hooks and the
//! parts the component shows.
//!
//! ```text
//! view! {
//!     <SessionGuard options=UseSessionGuardOptions::default().login_path("/sign-in")>
//!         <Console />
//!     </SessionGuard>
//! }
//! ```
//! Inside, [`use_session`] gives the state, countdown, recording flag and the actions.
//! Without the component, [`use_session_guard`] (defaults) or
//! [`use_session_guard_with_options`] start the guard, and the app shows [`ConsentModal`],
//! [`IdleWarning`], [`LifetimeNotice`] and [`RecordingIndicator`] itself.
//! `examples/embedding.rs` is a complete, compiled use of both.

mod dialogs;
mod dom;
mod guard;
mod notices;
mod parts;

pub use dialogs::{ConsentModal, IdleWarning};
pub use guard::{
    recording_paused_text, use_session, use_session_guard, use_session_guard_with_options,
    SessionGuard, UseSessionGuardOptions, UseSessionGuardReturn, RECORDING_BLOCKED_TEXT,
};
pub use notices::{
    login_return_path, LifetimeNotice, LogoutNotice, RecordingIndicator, DEFAULT_IDLE_TIMEOUT_MS,
};

// What the component tests compare the rendered text with.
#[cfg(feature = "test-support")]
pub use dialogs::{format_countdown, RECORDING_SCOPE_TEXT};
#[cfg(feature = "test-support")]
pub use notices::{clock_time_text, format_clock_time};
