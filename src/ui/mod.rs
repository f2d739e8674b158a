//! The Leptos view layer (wasm32 only): the [`SessionGuard`] component and its parts.
//!
//! ```text
//! view! {
//!     <SessionGuard login_path="/login">
//!         <Console />
//!     </SessionGuard>
//! }
//! ```
//! Inside, [`use_session`] gives the state, countdown, recording flag and the actions.

mod dialogs;
mod guard;
mod notices;

pub use dialogs::{format_countdown, ConsentModal, IdleWarning, RECORDING_SCOPE_TEXT};
pub use guard::{
    use_session, use_session_guard, SessionContext, SessionGuard, UseSessionGuardOptions,
    UseSessionGuardReturn,
};
pub use notices::{
    format_clock_time, login_return_path, LifetimeNotice, LogoutNotice, RecordingIndicator,
    DEFAULT_IDLE_TIMEOUT_MS,
};
