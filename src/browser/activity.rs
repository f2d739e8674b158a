//! User activity from DOM events, throttled before it reaches the engine.

use std::cell::Cell;
use std::rc::Rc;

use gloo_events::{EventListener, EventListenerOptions, EventListenerPhase};
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

/// Whether `event` is the user's doing. `scroll` counts only for the document itself: an
/// auto-scrolling log pane scrolls by code and must not keep a session alive forever, while
/// a user scrolling such a pane uses the wheel, touch, keys or a pointer, which count.
fn is_user_activity(event: &web_sys::Event) -> bool {
    event.type_() != "scroll"
        || event
            .target()
            .is_some_and(|target| target.has_type::<web_sys::Document>())
}

/// Passive, throttled activity listeners; dropping it removes them.
///
/// A storm of `pointermove` costs one clock read and one comparison per event: only the
/// first event in each throttle window reaches the engine, and nothing here writes to a
/// Leptos signal.
pub struct ActivityListener {
    _listeners: Vec<EventListener>,
}

impl ActivityListener {
    /// Listens for `events` and calls `on_activity` at most once per `throttle_ms`.
    pub fn new(
        events: &[String],
        throttle_ms: Millis,
        on_activity: Rc<dyn Fn()>,
    ) -> Result<Self, BrowserError> {
        let window = super::window()?;
        // Starts far enough in the past that the first event always gets through.
        let last_forwarded = Rc::new(Cell::new(f64::MIN));
        let throttle = throttle_ms.max(0) as f64;
        let options = EventListenerOptions {
            phase: EventListenerPhase::Capture,
            passive: true,
        };
        let listeners = events
            .iter()
            .map(|event| {
                let last_forwarded = last_forwarded.clone();
                let on_activity = on_activity.clone();
                EventListener::new_with_options(&window, event.clone(), options, move |event| {
                    let now = js_sys::Date::now();
                    let since = now - last_forwarded.get();
                    // A negative gap is a clock set back: forward rather than go deaf.
                    if !(0.0..throttle).contains(&since) && is_user_activity(event) {
                        last_forwarded.set(now);
                        on_activity();
                    }
                })
            })
            .collect();
        Ok(ActivityListener {
            _listeners: listeners,
        })
    }
}
