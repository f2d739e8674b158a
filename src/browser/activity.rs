//! User activity from DOM events, throttled before it reaches the engine.

use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsCast;

use super::BrowserError;
use crate::core::Millis;

/// The events that count as activity, listened to on the window in the capture phase.
///
/// Focus is deliberately absent: code moves focus too (the idle warning focuses its own
/// button, which would dismiss it at once), and a user moving focus does so with a key or a
/// pointer, which count. The user coming back to the tab or window counts as activity
/// through [`super::PageListeners`].
pub const DEFAULT_ACTIVITY_EVENTS: &[&str] = &[
    "pointerdown",
    "pointermove",
    "keydown",
    "wheel",
    "touchstart",
    "scroll",
];

/// Default spacing of activity reports to the engine: far below any deadline, far above
/// the rate of pointer events.
pub const DEFAULT_THROTTLE_MS: Millis = 500;

// The per-event filter runs in JavaScript: calling into wasm costs several hundred
// nanoseconds per event, while this check costs a clock read. Only the first event of each
// throttle window crosses into Rust. Shipped as a wasm-bindgen snippet (a module file), so it
// works under a Content-Security-Policy without 'unsafe-eval'.
//
// `scroll` counts only for the document itself: an auto-scrolling log pane scrolls by code
// and must not keep a session alive forever, while a user scrolling such a pane uses the
// wheel, touch, keys or a pointer, which count. A clock set back (negative gap) lets the
// event through rather than going deaf until the clock catches up.
#[wasm_bindgen(inline_js = r#"
export function throttled_activity(throttleMs, onActivity) {
  let last = -Infinity;
  return function (event) {
    if (event.type === 'scroll' && event.target !== document) return;
    const now = Date.now();
    const since = now - last;
    if (since >= 0 && since < throttleMs) return;
    last = now;
    onActivity();
  };
}
"#)]
extern "C" {
    fn throttled_activity(throttle_ms: f64, on_activity: &js_sys::Function) -> js_sys::Function;
}

/// Passive, throttled activity listeners on the window; dropping it removes them.
///
/// A storm of `pointermove` costs one clock read and one comparison per event in
/// JavaScript: only the first event in each throttle window reaches the engine, and nothing
/// here writes to a Leptos signal.
#[must_use = "the listeners are removed when this handle is dropped"]
pub struct ActivityListener {
    window: web_sys::Window,
    events: Vec<String>,
    filter: js_sys::Function,
    _on_activity: Closure<dyn FnMut()>,
}

impl ActivityListener {
    /// Listens for `events` and calls `on_activity` at most once per `throttle_ms`.
    pub fn new(
        events: &[String],
        throttle_ms: Millis,
        on_activity: Rc<dyn Fn()>,
    ) -> Result<Self, BrowserError> {
        let window = super::window()?;
        let on_activity = Closure::<dyn FnMut()>::new(move || on_activity());
        let filter = throttled_activity(
            throttle_ms.max(0) as f64,
            on_activity.as_ref().unchecked_ref(),
        );
        let options = web_sys::AddEventListenerOptions::new();
        options.set_capture(true);
        options.set_passive(true);
        for event in events {
            window
                .add_event_listener_with_callback_and_add_event_listener_options(
                    event, &filter, &options,
                )
                .map_err(BrowserError::from_js)?;
        }
        Ok(ActivityListener {
            window,
            events: events.to_vec(),
            filter,
            _on_activity: on_activity,
        })
    }
}

impl Drop for ActivityListener {
    fn drop(&mut self) {
        for event in &self.events {
            let _ =
                self.window
                    .remove_event_listener_with_callback_and_bool(event, &self.filter, true);
        }
    }
}
