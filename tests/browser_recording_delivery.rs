//! The session recorder in a real page, delivery: chunks kept through an outage arrive
//! later in order, and past the stall bound `<SessionGuard>` hides (never unmounts) the
//! protected content until delivery resumes.
#![cfg(target_arch = "wasm32")]

#[path = "support/fake_server.rs"]
mod fake_server;
#[path = "support/recorder_script.rs"]
mod recorder_script;
#[path = "support/recording_page.rs"]
mod recording_page;
#[path = "support/wait.rs"]
mod wait;

use std::rc::Rc;

use leptos::prelude::*;
use recording_page::{
    chunks, delivered_text, document, fixture, recorded_server, short_chunks, start, status,
};
use session_guard::browser::{SessionServer, TabIdentity};
use session_guard::core::{DurationMs, PauseReason, RecordingLimits, RecordingStatus};
use session_guard::ui::{SessionGuard, UseSessionGuardOptions, RECORDING_BLOCKED_TEXT};
use wait::wait_for;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn chunks_kept_through_an_outage_arrive_later_in_order_with_none_lost() {
    let page = fixture("<p>outage-page</p>");
    let server = recorded_server();
    let tab = "tab_outage";
    let guard = start(server.clone(), tab);
    assert!(wait_for(5_000, || guard.snapshot().is_recording).await);
    server.refusing_chunks.set(true);
    let marks = [
        "during-outage-one",
        "during-outage-two",
        "during-outage-three",
    ];
    for mark in marks {
        let added = document().create_element("p").expect("p");
        added.set_text_content(Some(mark));
        page.append_child(&added).expect("append");
        wait::sleep(800).await;
    }
    assert_eq!(
        status(&guard),
        RecordingStatus::Paused(PauseReason::Undelivered),
        "an outage under the bound pauses the indicator, never the content"
    );
    assert!(!guard.snapshot().is_recording);
    assert!(server.chunks.borrow().iter().all(|(t, ..)| t != tab));
    server.refusing_chunks.set(false);
    assert!(wait_for(12_000, || guard.snapshot().is_recording).await);
    assert!(
        wait_for(8_000, || {
            let text = delivered_text(&server, tab);
            marks.iter().all(|mark| text.contains(mark))
        })
        .await
    );
    let seqs: Vec<u32> = chunks(&server, tab).iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (0..seqs.len() as u32).collect::<Vec<_>>());
    guard.stop();
    page.remove();
}

#[wasm_bindgen_test]
async fn past_the_bound_the_content_is_hidden_not_unmounted_and_comes_back_as_it_was() {
    let server = recorded_server();
    server.refusing_chunks.set(true);
    let root = fixture("");
    let handle = leptos::mount::mount_to(root.clone(), {
        let server = server.clone();
        move || {
            let server: Rc<dyn SessionServer> = server;
            let options = UseSessionGuardOptions::default()
                .server(server)
                .navigate(false)
                .activity_events(Vec::<String>::new())
                .tab(TabIdentity {
                    tab_id: "tab_failclosed".to_string(),
                    opener_tab_id: None,
                })
                .recorder_url(recorder_script::recorder_url())
                .recording_limits(RecordingLimits {
                    stall_limit: DurationMs::from_millis(1_500),
                    ..short_chunks()
                });
            view! {
                <SessionGuard options=options>
                    <input id="draft" type="text" />
                </SessionGuard>
            }
        }
    });
    let find = |selector: &str| root.query_selector(selector).ok().flatten();
    assert!(wait_for(5_000, || find("#draft").is_some()).await);
    let draft: web_sys::HtmlInputElement = find("#draft").expect("draft").unchecked_into();
    draft.set_value("unsaved draft");
    let protected = find(".sg-protected").expect("protected");
    // The first chunk cannot be delivered: 1.5 s later the tab hides its content behind
    // the notice.
    assert!(wait_for(12_000, || find(".sg-recording-blocked").is_some()).await);
    let notice = find(".sg-recording-blocked").expect("notice");
    assert_eq!(
        notice.text_content().as_deref(),
        Some(RECORDING_BLOCKED_TEXT)
    );
    assert!(protected.has_attribute("hidden") && protected.has_attribute("inert"));
    let paused = find(".sg-recording-paused").and_then(|p| p.text_content());
    assert_eq!(
        paused.as_deref(),
        Some("Recording paused: the recording cannot reach the server.")
    );
    assert!(find(".sg-recording").is_none(), "no indicator while paused");
    // Hidden, not signed out: the session goes on.
    assert!(!server.calls().iter().any(|c| c.starts_with("logout")));

    server.refusing_chunks.set(false);
    assert!(wait_for(10_000, || find(".sg-recording-blocked").is_none()).await);
    assert!(!protected.has_attribute("hidden") && !protected.has_attribute("inert"));
    let again: web_sys::HtmlInputElement = find("#draft").expect("draft").unchecked_into();
    assert!(
        again.is_same_node(Some(&draft)),
        "the same element, never rebuilt"
    );
    assert_eq!(again.value(), "unsaved draft");
    assert!(wait_for(2_000, || find(".sg-recording").is_some()).await);
    assert!(find(".sg-recording-paused").is_none());
    drop(handle);
    root.remove();
}

#[wasm_bindgen_test]
async fn a_lost_pagehide_chunk_of_the_page_before_does_not_lock_the_tab_out() {
    let page = fixture("<p>page-after-a-lost-chunk</p>");
    let server = recorded_server();
    let tab = "tab_lost_pagehide";
    // The page before in this tab stored chunks 0 to 2, and its pagehide chunk 3 was lost:
    // its note in sessionStorage says this page goes on at 4.
    for seq in 0..3 {
        server
            .chunks
            .borrow_mut()
            .push((tab.to_owned(), seq, format!("page before, chunk {seq}")));
    }
    let storage = web_sys::window()
        .and_then(|w| w.session_storage().ok().flatten())
        .expect("sessionStorage");
    storage
        .set_item("session-guard:recording-next-seq", &format!("{tab} 4"))
        .expect("set_item");
    let guard = start(server.clone(), tab);
    assert!(wait_for(5_000, || guard.snapshot().is_recording).await);
    // The server answers the first chunk (seq 4) with 409 naming 3: renumbered, stored,
    // and the tab's note goes back to 4 so that the next page goes on from there.
    assert!(
        wait_for(8_000, || {
            let stored_three = server
                .chunks
                .borrow()
                .iter()
                .any(|(t, seq, _)| t == tab && *seq == 3);
            stored_three
                && storage
                    .get_item("session-guard:recording-next-seq")
                    .ok()
                    .flatten()
                    == Some(format!("{tab} 4"))
        })
        .await,
        "{:?}",
        storage.get_item("session-guard:recording-next-seq")
    );
    assert!(
        wait_for(8_000, || delivered_text(&server, tab)
            .contains("page-after-a-lost-chunk"))
        .await
    );
    let seqs: Vec<u32> = server
        .chunks
        .borrow()
        .iter()
        .filter(|(t, ..)| t == tab)
        .map(|(_, seq, _)| *seq)
        .collect();
    assert_eq!(&seqs[..4], [0, 1, 2, 3], "{seqs:?}");
    let body = server
        .chunks
        .borrow()
        .iter()
        .find(|(t, seq, _)| t == tab && *seq == 3)
        .map(|(.., body)| body.clone())
        .expect("chunk 3");
    let renumbered =
        session_guard_contract::recording::RecordingChunk::from_json_slice(body.as_bytes())
            .expect("a valid chunk");
    assert_eq!(renumbered.seq, 3);
    let first: serde_json::Value = serde_json::from_str(renumbered.events[0].get()).expect("JSON");
    assert_eq!(
        first["data"],
        serde_json::json!({"tag": "sg.gap", "payload": {"chunks": 1}}),
        "it opens with the mark of the lost chunk"
    );
    assert_eq!(seqs, (0..seqs.len() as u32).collect::<Vec<_>>());
    assert_eq!(status(&guard), RecordingStatus::Running);
    guard.stop();
    let _ = storage.remove_item("session-guard:recording-next-seq");
    page.remove();
}
