//! Browser adapters on their own: the storage fallback channel (with synthetic events, and
//! with real ones between two documents), the login redirect rules in a real URL parser, the
//! deadline timer.
#![cfg(target_arch = "wasm32")]

#[path = "support/wait.rs"]
mod wait;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use session_guard::browser::{
    current_path, forget_tab_identity, same_origin_target, tab_identity, ActivityListener,
    ChannelKind, DeadlineTimer, PageListeners, ReturnPath, TabChannel,
};
use session_guard::redirect::{login_url, same_origin_path};
use wait::{unique, wait_for};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn storage_fallback_writes_envelopes_and_reads_other_tabs_messages() {
    let session = unique("ses");
    let received = Rc::new(RefCell::new(Vec::<String>::new()));
    let sink = received.clone();
    let channel = TabChannel::open(
        &session,
        ChannelKind::Storage,
        Rc::new(move |m: String| sink.borrow_mut().push(m)),
    )
    .expect("channel");
    assert_eq!(channel.kind(), ChannelKind::Storage);

    // Sending: an envelope with a fresh nonce each time, so repeats still fire events.
    let storage = web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .expect("localStorage");
    let key = format!("session-guard:{session}");
    channel.post("hello").expect("post");
    let first = storage.get_item(&key).ok().flatten().expect("written");
    channel.post("hello").expect("post");
    let second = storage.get_item(&key).ok().flatten().expect("written");
    assert_ne!(first, second);
    assert!(first.contains("\"msg\":\"hello\""), "{first}");

    // Receiving: `storage` events only fire in other tabs, so play one.
    let deliver = |key: &str, value: Option<&str>| {
        let init = web_sys::StorageEventInit::new();
        init.set_key(Some(key));
        init.set_new_value(value);
        let event =
            web_sys::StorageEvent::new_with_event_init_dict("storage", &init).expect("event");
        web_sys::window()
            .expect("window")
            .dispatch_event(&event)
            .expect("dispatch");
    };
    deliver(&key, Some(r#"{"nonce":"1","msg":"from another tab"}"#));
    deliver(&key, Some("not an envelope"));
    deliver(&key, None);
    deliver("some-other-key", Some(r#"{"nonce":"2","msg":"not ours"}"#));
    assert!(wait_for(500, || !received.borrow().is_empty()).await);
    assert_eq!(
        received.borrow().as_slice(),
        ["from another tab".to_string()]
    );

    drop(channel);
    assert_eq!(
        storage.get_item(&key).ok().flatten(),
        None,
        "cleaned up on drop"
    );
}

/// A same-origin iframe: another document with its own window, sharing this origin's
/// `localStorage`, so its writes fire real `storage` events in this page.
fn other_document() -> web_sys::Window {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("document");
    let frame = document.create_element("iframe").expect("iframe");
    document
        .body()
        .expect("body")
        .append_child(&frame)
        .expect("append");
    let window =
        js_sys::Reflect::get(&frame, &JsValue::from_str("contentWindow")).expect("contentWindow");
    assert!(window.is_object(), "the iframe has a window");
    // The iframe's Window comes from another realm, so `instanceof Window` (what
    // `dyn_into` checks) is false for it; it is a Window all the same.
    window.unchecked_into::<web_sys::Window>()
}

/// A real `storage` event, fired by the browser for another document's write. An iframe
/// shares its page's process, so this cannot show WebKit's per-process subscription (a tab
/// that has not used localStorage itself hears nothing); the probe page in
/// e2e/webdriver/tests/storage-channel.test.js covers that, both ways, between real tabs.
#[wasm_bindgen_test]
async fn storage_fallback_hears_real_storage_events_from_another_document() {
    let session = unique("ses");
    let key = format!("session-guard:{session}");
    let received = Rc::new(RefCell::new(Vec::<String>::new()));
    let sink = received.clone();
    let channel = TabChannel::open(
        &session,
        ChannelKind::Storage,
        Rc::new(move |m: String| sink.borrow_mut().push(m)),
    )
    .expect("channel");

    let other = other_document();
    let other_storage = other
        .local_storage()
        .ok()
        .flatten()
        .expect("the other document's localStorage");
    // The other document writes an envelope, as another tab's channel would.
    other_storage
        .set_item(&key, r#"{"nonce":"n1","msg":"from the other document"}"#)
        .expect("write in the other document");
    assert!(
        wait_for(3_000, || !received.borrow().is_empty()).await,
        "the channel never received the other document's storage event"
    );
    assert_eq!(
        received.borrow().as_slice(),
        ["from the other document".to_string()]
    );

    channel.post("to the other document").expect("post");
    wait::sleep(100).await;
    assert_eq!(
        received.borrow().len(),
        1,
        "a channel never hears its own posts"
    );
}

#[wasm_bindgen_test]
async fn broadcast_channel_delivers_to_other_instances_only() {
    let session = unique("ses");
    let got_a = Rc::new(RefCell::new(Vec::<String>::new()));
    let got_b = Rc::new(RefCell::new(Vec::<String>::new()));
    let (sink_a, sink_b) = (got_a.clone(), got_b.clone());
    let a = TabChannel::open(
        &session,
        ChannelKind::Auto,
        Rc::new(move |m| sink_a.borrow_mut().push(m)),
    )
    .expect("a");
    let b = TabChannel::open(
        &session,
        ChannelKind::Auto,
        Rc::new(move |m| sink_b.borrow_mut().push(m)),
    )
    .expect("b");
    a.post("ping").expect("post");
    assert!(wait_for(1_000, || !got_b.borrow().is_empty()).await);
    assert_eq!(got_b.borrow().as_slice(), ["ping".to_string()]);
    assert!(got_a.borrow().is_empty());
    drop(b);
}

#[wasm_bindgen_test]
fn return_to_is_same_origin_in_the_browsers_own_url_parser() {
    let base = "https://console.example/login";
    let origin = "https://console.example";
    for candidate in [
        "/admin",
        "//evil.example",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "https://evil.example",
        "/.//evil.example",
        "/%2E//evil.example",
        "/..//evil.example",
        "/%2e%2e/%2e%2e//evil.example",
        "/.%2e//evil.example",
        "/a/./..//evil.example",
    ] {
        let kept = same_origin_path(candidate);
        let resolved = web_sys::Url::new_with_base(kept, base).expect("url");
        assert_eq!(resolved.origin(), origin, "{candidate:?} -> {kept:?}");
        // The browser's normalised path, used as a link, must not name another host.
        let path = resolved.pathname();
        assert!(
            !path.starts_with("//"),
            "{candidate:?} -> {kept:?} -> {path}"
        );
        let as_link = web_sys::Url::new_with_base(&path, base).expect("url");
        assert_eq!(as_link.origin(), origin, "{candidate:?} -> {path}");
        let url = login_url("/login", None, None, candidate);
        let resolved = web_sys::Url::new_with_base(&url, base).expect("url");
        let back = resolved
            .search_params()
            .get("return_to")
            .unwrap_or_default();
        let target = web_sys::Url::new_with_base(&back, base).expect("url");
        assert_eq!(target.origin(), origin, "{candidate:?} via {url}");
    }
}

#[wasm_bindgen_test]
fn link_targets_are_resolved_and_checked_by_the_browsers_url_parser() {
    for (candidate, target) in [
        ("/admin?x=1#top", "/admin?x=1#top"),
        ("/a/../b", "/b"),
        ("/.//evil.example", "/"),
        ("//evil.example", "/"),
        ("/%2E//evil.example", "/"),
        ("https://evil.example/", "/"),
    ] {
        assert_eq!(same_origin_target(candidate), target, "{candidate:?}");
    }
    assert!(!current_path().starts_with("//"));
}

#[wasm_bindgen_test]
fn the_kept_return_path_follows_the_pages_address() {
    let history = web_sys::window()
        .expect("window")
        .history()
        .expect("history");
    let original = current_path();
    let kept = ReturnPath::default();
    assert_eq!(kept.get(), original);
    // The app moved on without a page load (a router): the next read is the new address,
    // checked as `current_path` checks it.
    let moved = unique("/return-path");
    history
        .replace_state_with_url(&JsValue::NULL, "", Some(&format!("{moved}?q=1#here")))
        .expect("replaceState");
    assert_eq!(kept.get(), format!("{moved}?q=1#here"));
    assert_eq!(kept.get(), current_path());
    history
        .replace_state_with_url(&JsValue::NULL, "", Some(&original))
        .expect("replaceState");
    assert_eq!(kept.get(), original);
}

#[wasm_bindgen_test]
async fn deadline_timer_fires_once_and_rearming_cancels() {
    let fired = Rc::new(RefCell::new(Vec::<&str>::new()));
    let mut timer = DeadlineTimer::default();
    // Wall-clock epoch milliseconds, as the guard reads them.
    let now = js_sys::Date::now() as session_guard::core::Millis;
    let log = fired.clone();
    timer.arm(Some(now + 50), move || log.borrow_mut().push("first"));
    let log = fired.clone();
    timer.arm(Some(now + 100), move || log.borrow_mut().push("second"));
    // Same instant again: keeps the running timer.
    timer.arm(Some(now + 100), || panic!("not re-armed"));
    assert_eq!(timer.armed_at(), Some(now + 100));
    wait::sleep(250).await;
    assert_eq!(fired.borrow().as_slice(), ["second"]);
    let log = fired.clone();
    timer.arm(Some(now + 10_000), move || log.borrow_mut().push("third"));
    drop(timer);
    wait::sleep(50).await;
    assert_eq!(fired.borrow().len(), 1);
}

#[wasm_bindgen_test]
async fn deadline_timer_counts_its_delay_from_when_it_is_armed() {
    // The guard arms its timer at the end of an input; an input that ran long (a loaded
    // machine) must not push the wake-up back by its own duration. Here the instant comes
    // while the "input" still runs, so the timer must fire at once, before a timer of 15 ms
    // armed after it (timers fire in the order of their due times).
    let started = js_sys::Date::now() as session_guard::core::Millis;
    let at = started + 30;
    while (js_sys::Date::now() as session_guard::core::Millis) < at + 1 {}
    let fired = Rc::new(Cell::new(false));
    let log = fired.clone();
    let mut timer = DeadlineTimer::default();
    timer.arm(Some(at), move || log.set(true));
    wait::sleep(15).await;
    assert!(fired.get(), "fired before the 15 ms timer armed after it");
}

#[wasm_bindgen_test]
async fn activity_is_throttled_and_element_scrolling_is_ignored() {
    let count = Rc::new(Cell::new(0u32));
    let counter = count.clone();
    let events = ["pointermove".to_string(), "scroll".to_string()];
    let listener = ActivityListener::new(
        &events,
        300,
        Rc::new(move || counter.set(counter.get() + 1)),
    )
    .expect("listener");
    let window = web_sys::window().expect("window");
    let document = window.document().expect("document");
    let dispatch = |target: &web_sys::EventTarget, kind: &str| {
        target
            .dispatch_event(&web_sys::Event::new(kind).expect("event"))
            .expect("dispatch");
    };
    for _ in 0..1_000 {
        dispatch(&window, "pointermove");
    }
    assert_eq!(count.get(), 1, "a storm reaches Rust once per window");

    wait::sleep(350).await;
    let pane = document.create_element("div").expect("div");
    dispatch(&pane, "scroll");
    assert_eq!(
        count.get(),
        1,
        "an element scrolling by itself is not the user"
    );
    dispatch(&document, "scroll");
    assert_eq!(count.get(), 2, "the document scrolling is");

    drop(listener);
    wait::sleep(350).await;
    dispatch(&window, "pointermove");
    assert_eq!(count.get(), 2, "removed on drop");
}

#[wasm_bindgen_test]
async fn activity_the_report_itself_causes_is_not_reported_and_a_report_may_stop_the_listening() {
    let window = web_sys::window().expect("window");
    let count = Rc::new(Cell::new(0u32));
    let slot: Rc<RefCell<Option<ActivityListener>>> = Rc::default();
    let (counter, own, target) = (count.clone(), slot.clone(), window.clone());
    let keydown = || web_sys::Event::new("keydown").expect("event");
    let listener = ActivityListener::new(
        &["keydown".to_string()],
        300,
        Rc::new(move || {
            counter.set(counter.get() + 1);
            if counter.get() == 1 {
                // The report causes another activity event while it runs.
                target.dispatch_event(&keydown()).expect("dispatch");
            } else {
                // The report ends the guarding (a session found over): the listener goes.
                drop(own.borrow_mut().take());
            }
        }),
    )
    .expect("listener");
    *slot.borrow_mut() = Some(listener);
    window.dispatch_event(&keydown()).expect("dispatch");
    assert_eq!(
        count.get(),
        1,
        "the event the report caused is not reported"
    );

    wait::sleep(350).await;
    window.dispatch_event(&keydown()).expect("dispatch");
    assert_eq!(count.get(), 2, "the next window's first event is");
    assert!(slot.borrow().is_none(), "that report dropped the listener");

    wait::sleep(350).await;
    let reads = Rc::new(Cell::new(0u32));
    window
        .dispatch_event(&counted_event("keydown", &reads))
        .expect("dispatch");
    assert_eq!(
        reads.get(),
        0,
        "nothing re-attached a listener after its window"
    );
    assert_eq!(count.get(), 2);
}

/// An event whose `type` property counts how often a listener reads it: the dispatch itself
/// uses the event's internal type, so only listeners touch the property.
fn counted_event(kind: &str, reads: &Rc<Cell<u32>>) -> web_sys::Event {
    let event = web_sys::Event::new(kind).expect("event");
    let reads = reads.clone();
    let kind = kind.to_owned();
    let getter = wasm_bindgen::closure::Closure::<dyn FnMut() -> JsValue>::new(move || {
        reads.set(reads.get() + 1);
        JsValue::from_str(&kind)
    });
    let descriptor = js_sys::Object::new();
    js_sys::Reflect::set(&descriptor, &"get".into(), getter.as_ref()).expect("descriptor");
    js_sys::Object::define_property(&event, &"type".into(), &descriptor);
    getter.forget();
    event
}

#[wasm_bindgen_test]
async fn during_the_throttle_window_no_listener_hears_activity() {
    let count = Rc::new(Cell::new(0u32));
    let counter = count.clone();
    let events = ["keydown".to_string()];
    let listener = ActivityListener::new(
        &events,
        300,
        Rc::new(move || counter.set(counter.get() + 1)),
    )
    .expect("listener");
    let window = web_sys::window().expect("window");
    let reads = Rc::new(Cell::new(0u32));
    let dispatch = |reads: &Rc<Cell<u32>>| {
        window
            .dispatch_event(&counted_event("keydown", reads))
            .expect("dispatch");
    };
    dispatch(&reads);
    assert_eq!(count.get(), 1, "the first event is reported at once");
    assert!(reads.get() >= 1, "the listener looked at the first event");

    let during = Rc::new(Cell::new(0u32));
    for _ in 0..100 {
        dispatch(&during);
    }
    assert_eq!(during.get(), 0, "no listener runs during the window");
    assert_eq!(count.get(), 1);

    wait::sleep(350).await;
    dispatch(&reads);
    assert_eq!(
        count.get(),
        2,
        "the first event after the window is reported at once"
    );

    // Dropped during a window: the pending re-attachment is cancelled too.
    drop(listener);
    wait::sleep(350).await;
    let after = Rc::new(Cell::new(0u32));
    dispatch(&after);
    assert_eq!(after.get(), 0, "nothing listens after the drop");
    assert_eq!(count.get(), 2);
}

#[wasm_bindgen_test]
fn a_tab_ended_by_an_administrator_comes_back_under_a_new_id() {
    let window = web_sys::window().expect("window");
    let name_before = window.name().expect("name");
    let first = tab_identity().expect("identity");
    // Stable across reloads and navigation while the tab keeps it.
    assert_eq!(tab_identity().expect("identity").tab_id, first.tab_id);
    forget_tab_identity();
    let second = tab_identity().expect("identity");
    assert_ne!(second.tab_id, first.tab_id);
    window.set_name(&name_before).expect("restore the name");
}

const HANDOFF_KEY: &str = "session-guard:opener-handoff";

/// This page's path and query, as a note names the page a link opens.
fn here() -> String {
    let location = web_sys::window().expect("window").location();
    format!(
        "{}{}",
        location.pathname().expect("path"),
        location.search().expect("search")
    )
}

#[wasm_bindgen_test]
fn a_new_tab_claims_the_newest_fresh_note_for_its_own_address() {
    let window = web_sys::window().expect("window");
    let local = window.local_storage().ok().flatten().expect("localStorage");
    let session = window
        .session_storage()
        .ok()
        .flatten()
        .expect("sessionStorage");
    let name_before = window.name().expect("name");
    let now = js_sys::Date::now();
    let note = |opener: &str, path: &str, at: f64| {
        format!(r#"{{"opener_tab_id":"{opener}","path":"{path}","at":{at}}}"#)
    };
    let notes = [
        note("t_stale_opener_1", &here(), now - 60_000.0),
        note("t_other_address", "/elsewhere", now),
        note("t_older_opener_1", &here(), now - 1_000.0),
        note("t_newest_opener", &here(), now),
    ];
    local
        .set_item(HANDOFF_KEY, &format!("[{}]", notes.join(",")))
        .expect("write notes");
    // A new tab: no id in `window.name`, no session storage copied from an opener.
    window.set_name("").expect("fresh name");
    session.remove_item("session-guard:tab").expect("no copy");
    let identity = tab_identity().expect("identity");
    assert_eq!(identity.opener_tab_id.as_deref(), Some("t_newest_opener"));
    // Claimed notes go, stale ones are dropped; the other address's and the older one stay.
    let left = local
        .get_item(HANDOFF_KEY)
        .ok()
        .flatten()
        .expect("notes left");
    assert!(
        !left.contains("t_newest_opener") && !left.contains("t_stale_opener_1"),
        "{left}"
    );
    assert!(
        left.contains("t_other_address") && left.contains("t_older_opener_1"),
        "{left}"
    );
    // The same tab again (a reload): it keeps its id and claims nothing.
    let again = tab_identity().expect("identity");
    assert_eq!(again.tab_id, identity.tab_id);
    assert_eq!(again.opener_tab_id, None);
    assert!(local
        .get_item(HANDOFF_KEY)
        .ok()
        .flatten()
        .is_some_and(|l| l.contains("t_older_opener_1")));
    // Garbage in the key is ignored, never trusted.
    window.set_name("").expect("fresh name");
    session.remove_item("session-guard:tab").expect("no copy");
    local
        .set_item(HANDOFF_KEY, &format!("[{}]", note("../../x", &here(), now)))
        .expect("write");
    assert_eq!(tab_identity().expect("identity").opener_tab_id, None);
    local.set_item(HANDOFF_KEY, "not json").expect("write");
    assert_eq!(tab_identity().expect("identity").opener_tab_id, None);
    local.remove_item(HANDOFF_KEY).expect("clean up");
    window.set_name(&name_before).expect("restore the name");
}

#[wasm_bindgen_test]
fn a_middle_click_on_a_same_origin_link_leaves_a_note_for_the_new_tab() {
    let window = web_sys::window().expect("window");
    let document = window.document().expect("document");
    let local = window.local_storage().ok().flatten().expect("localStorage");
    local.remove_item(HANDOFF_KEY).expect("clean");
    let name_before = window.name().expect("name");
    let opener = tab_identity().expect("identity").tab_id;
    let _listeners = PageListeners::new(Rc::new(|_| {})).expect("listeners");
    // WebKit follows a link on a synthetic middle click (the test page would leave and the
    // run would hang): a window listener added after the guard's cancels that default
    // action once the guard has seen the event.
    let stay =
        wasm_bindgen::closure::Closure::<dyn Fn(web_sys::Event)>::new(|event: web_sys::Event| {
            event.prevent_default()
        });
    window
        .add_event_listener_with_callback("auxclick", stay.as_ref().unchecked_ref())
        .expect("listener");
    let link = |href: &str| {
        let a = document.create_element("a").expect("a");
        a.set_attribute("href", href).expect("href");
        a.set_inner_html("<span>link</span>");
        document
            .body()
            .expect("body")
            .append_child(&a)
            .expect("append");
        a
    };
    let middle_click = |target: &web_sys::Element, button: i16| {
        let init = web_sys::MouseEventInit::new();
        init.set_bubbles(true);
        init.set_cancelable(true);
        init.set_button(button);
        let event =
            web_sys::MouseEvent::new_with_mouse_event_init_dict("auxclick", &init).expect("event");
        target.dispatch_event(&event).expect("dispatch");
    };
    let same = link("/opened/by/middle?x=1#frag");
    let foreign = link("https://elsewhere.example/page");
    middle_click(&foreign, 1);
    assert_eq!(
        local.get_item(HANDOFF_KEY).ok().flatten(),
        None,
        "foreign link"
    );
    middle_click(&same, 2);
    assert_eq!(
        local.get_item(HANDOFF_KEY).ok().flatten(),
        None,
        "right button"
    );
    // Clicked on the link's child: the link is found from it.
    middle_click(&same.first_element_child().expect("span"), 1);
    let notes = local.get_item(HANDOFF_KEY).ok().flatten().expect("a note");
    assert!(
        notes.contains(&format!(r#""opener_tab_id":"{opener}""#)),
        "{notes}"
    );
    assert!(
        notes.contains(r#""path":"/opened/by/middle?x=1""#),
        "{notes}"
    );
    same.remove();
    foreign.remove();
    window
        .remove_event_listener_with_callback("auxclick", stay.as_ref().unchecked_ref())
        .expect("listener removed");
    local.remove_item(HANDOFF_KEY).expect("clean up");
    window.set_name(&name_before).expect("restore the name");
}
