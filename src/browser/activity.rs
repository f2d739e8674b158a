//! User activity from DOM events, throttled before it reaches the engine.

use std::cell::Cell;
use std::rc::Rc;

use gloo_events::{EventListener, EventListenerOptions, EventListenerPhase};

use super::BrowserError;
use crate::core::Millis;

/// The events that count as activity. Listened to on the window in the capture phase, so
/// events that do not bubble (scroll inside an element, focus) are seen too.
pub const DEFAULT_ACTIVITY_EVENTS: &[&str] = &[
    "pointerdown",
    "pointermove",
    "keydown",
    "wheel",
    "touchstart",
    "scroll",
    "focus",
];

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
                EventListener::new_with_options(&window, event.clone(), options, move |_| {
                    let now = js_sys::Date::now();
                    let since = now - last_forwarded.get();
                    // A negative gap is a clock set back: forward rather than go deaf.
                    if !(0.0..throttle).contains(&since) {
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
