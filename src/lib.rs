//! session-guard: a session guard for privileged web consoles.
//!
//! Three layers, each usable on its own:
//! - [`core`]: the sans-IO session engine. Plain Rust, no clock, no browser: every timeout,
//!   warning, cross-tab merge and logout reason is decided here and tested natively.
//! - `browser` (wasm32 only): thin adapters that feed the engine from the DOM,
//!   BroadcastChannel, timers and the server, and carry out its effects.
//! - `ui` (wasm32 only): the Leptos components (`SessionGuard`, consent modal, idle warning,
//!   recording indicator, logout notice) and the `use_session` hook.
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
