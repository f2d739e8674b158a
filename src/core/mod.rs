//! The sans-IO session engine.
//!
//! Plain Rust with no clock and no I/O: the browser layer feeds inputs through the
//! `handle_*` methods of [`Engine`], each carrying the tab's clocks `now` ([`Now`]: its wall
//! clock as a [`LocalTime`], and a monotonic reading where it has one), and carries out what
//! the engine asks for: it drains [`Engine::poll_effect`] after every input and arms a single
//! timer for [`Engine::poll_timeout`], whose expiry is fed back as [`Engine::handle_timeout`].
//! Inside, every instant is a [`ServerTime`] and every span a [`DurationMs`]; local time, server
//! time and durations are distinct types, so one cannot be passed for another. The wire
//! shapes follow `docs/CONTRACT.md`.
//!
//! ```
//! use session_guard::core::{Effect, Engine, EngineConfig, LocalTime, SessionView, State};
//!
//! let view = SessionView::from_json(r#"{
//!     "session_id": "ses_demo", "privileged": true, "scopes": ["admin:manage"],
//!     "user": { "id": 1, "username": "admin", "display_name": "Ada Admin" },
//!     "issued_at": 0, "expires_at": 86400000, "idle_timeout_ms": 900000,
//!     "warning_lead_ms": 60000, "keepalive_interval_ms": 60000, "last_activity_at": 0,
//!     "recording": { "required": false, "consent": "not_required" }, "server_time": 0
//! }"#).unwrap();
//!
//! let mut engine = Engine::new(EngineConfig::new("tab_one"));
//! let mut now = LocalTime::from_millis(0); // the browser passes Date.now()
//! engine.handle_server_view(view, now);
//! assert_eq!(engine.state(), &State::Active);
//!
//! // The driving loop: feed an input, carry out every effect, re-arm the one timer.
//! let mut redirected = None;
//! while redirected.is_none() {
//!     while let Some(effect) = engine.poll_effect() {
//!         match effect {
//!             Effect::Broadcast(_message) => { /* BroadcastChannel.postMessage */ }
//!             Effect::Redirect { reason, .. } => redirected = Some(reason),
//!             // The server's answer once its own idle deadline has passed.
//!             Effect::FetchSession if now.as_millis() >= 900_000 => {
//!                 engine.handle_server_terminated(session_guard::core::Reason::IdleTimeout, now)
//!             }
//!             // HTTP requests, whose answers come back as handle_server_*; the channel,
//!             // lock and push stream, whose news come back as handle_peer and friends.
//!             _ => {}
//!         }
//!     }
//!     let Some(wake_at) = engine.poll_timeout() else { break };
//!     now = wake_at.max(now); // setTimeout(wake_at - Date.now())
//!     engine.handle_timeout(now);
//! }
//! // Nobody touched the page: the warning showed at 14 min; at 15 the engine asked the
//! // server, which confirmed the ending.
//! assert_eq!(now, LocalTime::from_millis(900_000));
//! assert_eq!(redirected, Some(Some(session_guard::core::Reason::IdleTimeout)));
//! ```

mod config;
mod engine;
mod error;
// The simulated-clock harness and the property tests run natively (proptest is a native
// dev-dependency); the browser suites cover the wasm build.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod harness;
mod peer;
mod reason;
mod recording;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
mod time;
mod view;

pub use config::{EngineConfig, LeaderMode, PolicyOverride};
pub use engine::{
    Effect, Engine, LifetimeWarning, Now, State, LIFETIME_WARNING_LEADS, PUSH_REOPEN_DELAY,
    REGISTRATION_RETRY_DELAY, REPORT_SETTLE, SESSION_WAIT,
};
pub use error::CoreError;
pub use peer::{
    ending_for, ending_for_with, read_fields, PeerBody, PeerFields, PeerMessage,
    MAX_PEER_MESSAGE_BYTES, PROTOCOL_VERSION,
};
pub(crate) use reason::push_number;
pub use reason::{describe_duration, Reason};
pub use recording::{
    ChunkUpload, PauseReason, RecorderBatch, RecordingLimits, RecordingStatus, UploadOutcome,
    CHUNK_BYTES, CHUNK_SPAN, FIRST_RETRY_DELAY, GAP_EVENT_TAG, MAX_RETRY_DELAY,
};
pub use time::LocalTime;
pub use view::{
    ConsentState, DurationMs, RecordingView, ServerTime, SessionPolicy, SessionView, UserView,
    ViewError, DEFAULT_IDLE_TIMEOUT,
};

/// Epoch milliseconds, or a duration in milliseconds.
pub type Millis = i64;
