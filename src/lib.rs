//! session-guard: a session guard for privileged web consoles.
//!
//! Three layers, each usable on its own:
//! - [`core`]: the sans-IO session engine. Plain Rust, no clock, no browser: every timeout,
//!   warning, cross-tab merge and logout reason is decided here and tested natively.
//! - `browser` (wasm32 only): thin adapters that feed the engine from the DOM,
//!   BroadcastChannel, timers and the server, and carry out its effects. Crate-private but
//!   for the snapshot type and the tab's identity; the `test-support` feature opens the
//!   adapters to the browser test suites.
//! - `ui` (wasm32 only): the Leptos components (`SessionGuard`, consent modal, idle warning,
//!   recording indicator, logout notice), `UseSessionGuardOptions` and the hooks
//!   `use_session_guard`, `use_session_guard_with_options` and `use_session`.
//!   `examples/embedding/` uses them as the README shows.
//!
//! The wire contract shared with the reference server lives in `docs/CONTRACT.md`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod core;
pub mod redirect;

#[cfg(target_arch = "wasm32")]
pub mod browser;
#[cfg(target_arch = "wasm32")]
pub mod ui;
