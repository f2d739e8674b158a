//! What the recorder suites share: a recorded session on the scripted server, a guard
//! with short chunks, page fixtures, and the chunks the server stored.

use std::rc::Rc;

use session_guard::browser::{ChannelKind, GuardOptions, GuardRuntime, SessionServer, TabIdentity};
use session_guard::core::{ConsentState, DurationMs, RecordingLimits, RecordingStatus};
use session_guard_contract::recording::RecordingChunk;
use wasm_bindgen::JsCast;

use super::fake_server::{FakeServer, ViewSpec};
use super::recorder_script;
use super::wait::unique;

pub fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|w| w.document())
        .expect("document")
}

/// A recorded session whose consent is already given.
pub fn recorded_server() -> Rc<FakeServer> {
    let mut spec = ViewSpec::privileged(&unique("ses"));
    spec.recording_required = true;
    spec.consent = ConsentState::Accepted;
    FakeServer::new(spec)
}

/// Chunks cut every 500 ms instead of 5 s: each suite must finish within the test
/// runner's 20 s.
pub fn short_chunks() -> RecordingLimits {
    RecordingLimits {
        chunk_span: DurationMs::from_millis(500),
        ..RecordingLimits::default()
    }
}

pub fn start(server: Rc<FakeServer>, tab: &str) -> GuardRuntime {
    let options = GuardOptions {
        server: server as Rc<dyn SessionServer>,
        activity_events: Vec::new(),
        throttle_ms: 0,
        channel: ChannelKind::Auto,
        navigate: false,
        tab: Some(TabIdentity {
            tab_id: tab.to_string(),
            opener_tab_id: None,
        }),
        recorder_url: recorder_script::recorder_url(),
        recording_limits: short_chunks(),
        ..GuardOptions::default()
    };
    match GuardRuntime::start(options, Box::new(|_| {}), None) {
        Ok(runtime) => runtime,
        Err(error) => panic!("guard did not start: {error}"),
    }
}

/// A fresh element in the body with `html` inside.
pub fn fixture(html: &str) -> web_sys::HtmlElement {
    let element: web_sys::HtmlElement = document()
        .create_element("div")
        .expect("div")
        .unchecked_into();
    element.set_inner_html(html);
    document()
        .body()
        .expect("body")
        .append_child(&element)
        .expect("append");
    element
}

/// The chunks `tab` delivered, parsed by the contract's validating parser, in the order
/// the server stored them.
pub fn chunks(server: &FakeServer, tab: &str) -> Vec<RecordingChunk> {
    server
        .chunks
        .borrow()
        .iter()
        .filter(|(t, ..)| t == tab)
        .map(|(_, _, body)| RecordingChunk::from_json_slice(body.as_bytes()).expect("valid chunk"))
        .collect()
}

/// Every byte `tab` delivered, as text.
pub fn delivered_text(server: &FakeServer, tab: &str) -> String {
    server
        .chunks
        .borrow()
        .iter()
        .filter(|(t, ..)| t == tab)
        .map(|(_, _, body)| body.as_str())
        .collect()
}

pub fn status(guard: &GuardRuntime) -> RecordingStatus {
    guard.snapshot().recording
}
