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

/// The stream's events the guard listens to.
const STREAM_EVENTS: &[&str] = &["open", "error", "terminated", "tab_ended", "session"];

/// What `event` (one of [`STREAM_EVENTS`]) of `source` reports, when it is valid.
fn read_event(
    event: &str,
    heard: &web_sys::Event,
    source: &web_sys::EventSource,
) -> Option<PushEvent> {
    match event {
        "open" => return Some(PushEvent::Up),
        "error" => {
            let closed = source.ready_state() == web_sys::EventSource::CLOSED;
            return Some(PushEvent::Down { closed });
        }
        _ => {}
    }
    // The stream's named events are `MessageEvent`s: `data` is read as it is, and anything
    // but a string is ignored.
    let data = heard
        .unchecked_ref::<web_sys::MessageEvent>()
        .data()
        .as_string()?;
    if data.len() > MAX_EVENT_BYTES {
        return None;
    }
    match event {
        "terminated" => Some(PushEvent::Terminated(json::terminated_event(&data)?.reason)),
        "tab_ended" => {
            let tab_id = json::tab_ended_event(&data)?.tab_id;
            // Any other id than the contract's tab id shape is ignored.
            ids::is_tab_id(&tab_id).then_some(PushEvent::TabEnded(tab_id))
        }
        _ => json::session_view(&data).map(PushEvent::View),
    }
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
        let mut listeners = Vec::with_capacity(STREAM_EVENTS.len());
        // One closure type for every event of the stream: the page carries its call and
        // drop code once.
        for &event in STREAM_EVENTS {
            let on_event = on_event.clone();
            let watched = source.clone();
            listeners.push(EventListener::new(
                &source,
                event,
                Box::new(move |heard| {
                    if let Some(news) = read_event(event, &heard, &watched) {
                        on_event(news);
                    }
                }),
            )?);
        }
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
