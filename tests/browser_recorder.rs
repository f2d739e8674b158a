//! The session recorder in a real page, capture: rrweb loaded through the guard's
//! `<script>` path, the full snapshot and mutations, masking, opt-out, custom events and
//! gzip. Delivery (outages, fail closed) is `browser_recording_delivery.rs`; each suite
//! must finish within the test runner's 20 s.
#![cfg(target_arch = "wasm32")]

#[path = "support/fake_server.rs"]
mod fake_server;
#[path = "support/recorder_script.rs"]
mod recorder_script;
#[path = "support/recording_page.rs"]
mod recording_page;
#[path = "support/wait.rs"]
mod wait;

use recording_page::{chunks, delivered_text, document, fixture, recorded_server, start, status};
use session_guard::browser::{gzip, gzip_stored};
use session_guard::core::RecordingStatus;
use session_guard_contract::recording::RecordingChunk;
use wait::wait_for;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn events(chunk: &RecordingChunk) -> Vec<serde_json::Value> {
    chunk
        .events
        .iter()
        .map(|e| serde_json::from_str(e.get()).expect("an event"))
        .collect()
}

fn type_into(input: &web_sys::HtmlInputElement, value: &str) {
    input.set_value(value);
    let event = web_sys::Event::new("input").expect("event");
    input.dispatch_event(&event).expect("dispatch");
}

#[wasm_bindgen_test]
async fn the_first_chunk_starts_with_a_full_snapshot_and_mutations_follow() {
    // A query and a fragment the recording must not carry.
    let history = web_sys::window()
        .expect("window")
        .history()
        .expect("history");
    let before = web_sys::window()
        .expect("window")
        .location()
        .href()
        .expect("href");
    history
        .replace_state_with_url(
            &wasm_bindgen::JsValue::NULL,
            "",
            Some("?token=query-secret#frag-secret"),
        )
        .expect("replaceState");
    let page = fixture("<p>before-the-snapshot</p>");
    let server = recorded_server();
    let tab = "tab_snapshot";
    let guard = start(server.clone(), tab);
    assert!(
        wait_for(5_000, || guard.snapshot().is_recording).await,
        "{:?}",
        status(&guard)
    );
    assert_eq!(status(&guard), RecordingStatus::Running);
    let added = document().create_element("span").expect("span");
    added.set_text_content(Some("added-after-start"));
    page.append_child(&added).expect("append");
    assert!(wait_for(9_000, || !chunks(&server, tab).is_empty()).await);
    history
        .replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&before))
        .expect("replaceState");

    let first = &chunks(&server, tab)[0];
    assert_eq!((first.seq, first.tab_id.as_str()), (0, tab));
    assert!(first.ended_at >= first.started_at);
    let events = events(first);
    let meta = events
        .iter()
        .find(|e| e["type"] == 4)
        .expect("a Meta event");
    let href = meta["data"]["href"].as_str().expect("href");
    assert!(href.starts_with('/'), "the path only: {href}");
    let full = events
        .iter()
        .position(|e| e["type"] == 2)
        .expect("a full snapshot");
    let snapshot = events[full].to_string();
    assert!(
        snapshot.contains("before-the-snapshot"),
        "the page as it was"
    );
    assert!(!snapshot.contains("added-after-start"));
    let mutation = events[full..].iter().any(|e| {
        e["type"] == 3 && e["data"]["source"] == 0 && e.to_string().contains("added-after-start")
    });
    assert!(mutation, "the added text arrives as a mutation");
    let text = delivered_text(&server, tab);
    assert!(!text.contains("query-secret") && !text.contains("frag-secret"));
    // The tab registered, and every request of the guard names it.
    assert!(server
        .calls()
        .iter()
        .any(|c| c.starts_with("tab:tab_snapshot:")));
    assert_eq!(server.named_tab.borrow().as_deref(), Some(tab));
    guard.stop();
    page.remove();
}

#[wasm_bindgen_test]
async fn typed_passwords_masked_inputs_and_hidden_parts_never_reach_a_chunk() {
    let page = fixture(
        r#"<input id="rec-password" type="password">
           <input id="rec-text" type="text" value="preset-field-value">
           <div data-sg-record="hide"><p>opted-out-content</p></div>
           <script type="text/plain">script-body-content</script>"#,
    );
    let input = |id: &str| -> web_sys::HtmlInputElement {
        document()
            .get_element_by_id(id)
            .expect("input")
            .unchecked_into()
    };
    let server = recorded_server();
    let tab = "tab_masking";
    let guard = start(server.clone(), tab);
    assert!(wait_for(5_000, || guard.snapshot().is_recording).await);
    type_into(&input("rec-password"), "hunter2-typed-password");
    type_into(&input("rec-text"), "typed-field-value");
    // A key press is recorded as such, never which key.
    let init = web_sys::KeyboardEventInit::new();
    init.set_key("Q");
    init.set_code("KeyQ");
    let key = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init)
        .expect("keydown");
    input("rec-text").dispatch_event(&key).expect("dispatch");
    assert!(wait_for(9_000, || !chunks(&server, tab).is_empty()).await);

    let text = delivered_text(&server, tab);
    for secret in [
        "hunter2-typed-password",
        "typed-field-value",
        "preset-field-value",
        "opted-out-content",
        "script-body-content",
        "KeyQ",
    ] {
        assert!(!text.contains(secret), "{secret} was recorded");
    }
    // The inputs are there, masked: the recording shows that something was typed.
    assert!(text.contains("rec-password") && text.contains("rec-text"));
    assert!(
        text.contains(r#""tag":"sg.key""#),
        "the key press is recorded"
    );
    // The uploaded bytes are the gzip of these: what the browser inflates is the same text.
    let body = &server.chunks.borrow()[0].2.clone();
    let inflated = inflate(&gzip(body).await.expect("gzip")).await;
    assert_eq!(&inflated, body);
    // So are the stored blocks of the last chunks sent as the page goes away, also past
    // one block's 65,535 bytes and with text beyond ASCII.
    let long = format!("{body}{}", "é→".repeat(40_000));
    for text in [body.as_str(), "", long.as_str()] {
        assert_eq!(
            inflate(&gzip_stored(text).expect("stored gzip")).await,
            text
        );
    }
    guard.stop();
    page.remove();
}

/// Gunzips with the browser's `DecompressionStream`.
async fn inflate(bytes: &[u8]) -> String {
    let array = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&array);
    let blob = web_sys::Blob::new_with_u8_array_sequence(&parts).expect("blob");
    let stream = js_sys::Reflect::get(&blob, &"stream".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| f.call0(&blob).ok())
        .expect("blob stream");
    let decompress = js_sys::Reflect::get(&js_sys::global(), &"DecompressionStream".into())
        .expect("DecompressionStream")
        .dyn_into::<js_sys::Function>()
        .expect("constructor");
    let transform = js_sys::Reflect::construct(&decompress, &js_sys::Array::of1(&"gzip".into()))
        .expect("a decompressor");
    let pipe = js_sys::Reflect::get(&stream, &"pipeThrough".into())
        .expect("pipeThrough")
        .dyn_into::<js_sys::Function>()
        .expect("function");
    let inflated = pipe.call1(&stream, &transform).expect("piped");
    let response = web_sys::Response::new_with_opt_readable_stream(Some(inflated.unchecked_ref()))
        .expect("response");
    let text = wasm_bindgen_futures::JsFuture::from(response.text().expect("text"))
        .await
        .expect("inflated text");
    text.as_string().expect("a string")
}
