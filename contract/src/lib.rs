//! The wire contract of session-guard, in code.
//!
//! Every shape of `docs/CONTRACT.md` is defined here once and used by both sides: the
//! guard (the root crate, natively and in wasm) and the reference server (`server/`). A
//! field renamed here changes both, so a server that drifts from the guard no longer
//! compiles, and the native tests of this crate pin the wire names.
//!
//! - [`time`]: typed wire time, [`ServerTime`] (an instant on the server's clock) and
//!   [`DurationMs`].
//! - [`reason`]: why a session ended ([`Reason`]), with its wire name and login-page text.
//! - [`ids`]: the one rule for session ids, tab ids and scope names, with one set of limits.
//! - [`view`]: the session view ([`SessionView`]), parsed only through validation.
//! - [`api`]: request bodies of the session endpoints, the error body, server-sent events.
//! - [`admin`]: request and response bodies of the admin API.
//! - [`json`]: the writer the guard sends its bodies with (equal to serde_json's output).
//! - [`audit`]: the audit entry kinds ([`AuditKind`]).
//! - [`recording`]: session recording: the uploaded chunk, its limits, and the admin
//!   API's recordings.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod admin;
pub mod api;
pub mod audit;
pub mod ids;
pub mod json;
pub mod reason;
pub mod recording;
pub mod time;
pub mod view;

pub use audit::AuditKind;
pub use reason::Reason;
pub use time::{DurationMs, ServerTime};
pub use view::{ConsentState, RecordingView, SessionView, UserView, ViewError};
