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

// Between reports no listener is attached at all: an event nobody listens to costs the page
// nothing, while even an empty passive listener costs Chromium hundreds of nanoseconds per
// event. The first event of a throttle window is reported and detaches the listeners; one
// timer re-attaches them when the window ends, so the first event after it is heard at once.
// While the user is idle the listeners are attached and no timer runs. The report comes
// before the detaching, which updates the browser's event handler registry (about 0.1 ms
// in Chromium here) and can wait until the other tabs were told; an event the report itself
// causes falls in the window already open and is not reported again. Written in
// JavaScript because calling into wasm costs several hundred nanoseconds per event, and
// shipped as a wasm-bindgen snippet (a module file), so it works under a
// Content-Security-Policy without 'unsafe-eval'. The returned function removes the
// listeners and cancels a pending re-attachment.
//
// `scroll` counts only for the document itself: an auto-scrolling log pane scrolls by code
// and must not keep a session alive forever, while a user scrolling such a pane uses the
// wheel, touch, keys or a pointer, which count.
#[wasm_bindgen(inline_js = r#"
export function listen_for_activity(target, events, throttleMs, onActivity) {
  const options = { capture: true, passive: true };
  let timer = null;
  const attach = () => {
    for (const type of events) target.addEventListener(type, heard, options);
  };
  const detach = () => {
    for (const type of events) target.removeEventListener(type, heard, options);
  };
  function heard(event) {
    if (timer !== null || (event.type === 'scroll' && event.target !== document)) return;
    const open = (timer = {});
    try {
      onActivity();
    } finally {
      // Unless the report stopped the listening (the returned function ran).
      if (timer === open) {
        detach();
        timer = setTimeout(() => {
          timer = null;
          attach();
        }, throttleMs);
      }
    }
  }
  attach();
  return () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    detach();
  };
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn listen_for_activity(
        target: &web_sys::EventTarget,
        events: &js_sys::Array,
        throttle_ms: f64,
        on_activity: &js_sys::Function,
    ) -> Result<js_sys::Function, wasm_bindgen::JsValue>;
}

/// Passive, throttled activity listeners on the window; dropping it removes them.
///
/// The first event of each throttle window reaches the engine and detaches the listeners
/// until the window ends, so a storm of `pointermove` reaches no listener at all; nothing
/// here writes to a Leptos signal.
#[must_use = "the listeners are removed when this handle is dropped"]
pub struct ActivityListener {
    stop: js_sys::Function,
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
        let on_activity = super::js_callback(on_activity);
        let types = js_sys::Array::new();
        for event in events {
            types.push(&wasm_bindgen::JsValue::from_str(event));
        }
        let stop = listen_for_activity(
            &window,
            &types,
            throttle_ms.max(0) as f64,
            on_activity.as_ref().unchecked_ref(),
        )
        .map_err(BrowserError::from_js)?;
        Ok(ActivityListener {
            stop,
            _on_activity: on_activity,
        })
    }
}

impl Drop for ActivityListener {
    fn drop(&mut self) {
        super::call(&self.stop);
    }
}
