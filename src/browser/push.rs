//! Server push over server-sent events: immediate termination and view updates.

use std::rc::Rc;

use session_guard_contract::ids;
use wasm_bindgen::JsCast;

use super::{json, BrowserError, EventListener};
use crate::core::{Reason, SessionView};

/// Event data larger than this is ignored.
const MAX_EVENT_BYTES: usize = 64 * 1024;

/// What the stream reported.
#[derive(Debug, Clone, PartialEq)]
pub enum PushEvent {
    /// The stream is connected.
    Up,
    /// The stream dropped; `closed` is true when the browser will not reconnect by itself
    /// (the server refused it), false while it retries.
    Down {
        /// Whether the browser gave up on this stream.
        closed: bool,
    },
    /// `event: terminated`: the session ended for this reason.
    Terminated(Reason),
    /// `event: session`: the session's view changed.
    View(SessionView),
    /// `event: tab_ended`: an administrator ended this tab of the session (only that tab
    /// ends; the others carry on).
    TabEnded(String),
}

/// An open EventSource; dropping it closes the connection.
#[must_use = "the stream closes when this handle is dropped"]
pub struct PushStream {
    source: web_sys::EventSource,
    _listeners: Vec<EventListener>,
}

impl PushStream {
    /// Connects to `url`; `on_event` receives validated events only.
    pub fn connect(url: &str, on_event: Rc<dyn Fn(PushEvent)>) -> Result<Self, BrowserError> {
        let source = web_sys::EventSource::new(url).map_err(BrowserError::from_js)?;
        // The stream's named events are `MessageEvent`s: `data` is read as it is, and
        // anything but a string is ignored.
        let data_of = |event: &web_sys::Event| -> Option<String> {
            let data = event
                .unchecked_ref::<web_sys::MessageEvent>()
                .data()
                .as_string()?;
            (data.len() <= MAX_EVENT_BYTES).then_some(data)
        };
        let target: &web_sys::EventTarget = &source;
        let listeners = vec![
            {
                let on_event = on_event.clone();
                EventListener::new(target, "open", Box::new(move |_| on_event(PushEvent::Up)))?
            },
            {
                let on_event = on_event.clone();
                let watched = source.clone();
                EventListener::new(
                    target,
                    "error",
                    Box::new(move |_| {
                        let closed = watched.ready_state() == web_sys::EventSource::CLOSED;
                        on_event(PushEvent::Down { closed });
                    }),
                )?
            },
            {
                let on_event = on_event.clone();
                EventListener::new(
                    target,
                    "terminated",
                    Box::new(move |event| {
                        if let Some(data) = data_of(&event) {
                            if let Some(parsed) = json::terminated_event(&data) {
                                on_event(PushEvent::Terminated(parsed.reason));
                            }
                        }
                    }),
                )?
            },
            {
                let on_event = on_event.clone();
                EventListener::new(
                    target,
                    "tab_ended",
                    Box::new(move |event| {
                        if let Some(data) = data_of(&event) {
                            if let Some(parsed) = json::tab_ended_event(&data) {
                                // Any other id than the contract's tab id shape is ignored.
                                if ids::is_tab_id(&parsed.tab_id) {
                                    on_event(PushEvent::TabEnded(parsed.tab_id));
                                }
                            }
                        }
                    }),
                )?
            },
            EventListener::new(
                target,
                "session",
                Box::new(move |event| {
                    if let Some(data) = data_of(&event) {
                        if let Some(view) = json::session_view(&data) {
                            on_event(PushEvent::View(view));
                        }
                    }
                }),
            )?,
        ];
        Ok(PushStream {
            source,
            _listeners: listeners,
        })
    }
}

impl Drop for PushStream {
    fn drop(&mut self) {
        super::close(&self.source);
    }
}
