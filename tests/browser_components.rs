//! The Leptos components in a real page: consent dialog, recording marks, idle warning and
//! the login page's notice.
#![cfg(target_arch = "wasm32")]

#[path = "support/fake_server.rs"]
mod fake_server;
#[path = "support/recorder_script.rs"]
mod recorder_script;
#[path = "support/wait.rs"]
mod wait;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use fake_server::{FakeServer, ViewSpec};
use leptos::prelude::*;
use session_guard::browser::{SessionServer, DEFAULT_ACTIVITY_EVENTS, RECORDING_TITLE_PREFIX};
use session_guard::core::{
    ConsentState, DurationMs, LifetimeWarning, LocalTime, Millis, PolicyOverride, Reason,
};
use session_guard::ui::{
    clock_time_text, format_clock_time, format_countdown, use_session,
    use_session_guard_with_options, LifetimeNotice, LogoutNotice, SessionGuard,
    UseSessionGuardOptions, RECORDING_SCOPE_TEXT,
};
use wait::{unique, wait_for};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|w| w.document())
        .expect("document")
}

/// A fresh container in the body for one test's view.
fn container() -> web_sys::HtmlElement {
    let element = document().create_element("div").expect("div");
    document()
        .body()
        .expect("body")
        .append_child(&element)
        .expect("append");
    element.unchecked_into()
}

fn find(root: &web_sys::Element, selector: &str) -> Option<web_sys::Element> {
    root.query_selector(selector).ok().flatten()
}

fn click(element: &web_sys::Element) {
    element.unchecked_ref::<web_sys::HtmlElement>().click();
}

fn press(target: &web_sys::Element, key: &str) {
    press_with_shift(target, key, false);
}

fn press_with_shift(target: &web_sys::Element, key: &str, shift: bool) {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key(key);
    init.set_shift_key(shift);
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init)
        .expect("keyboard event");
    target.dispatch_event(&event).expect("dispatch");
}

fn guarded(
    server: Rc<FakeServer>,
    policy: Option<PolicyOverride>,
) -> (web_sys::HtmlElement, impl Drop) {
    guarded_with_events(server, policy, Vec::new())
}

/// Mounts a guard listening for `activity_events` (none: the test decides when the user is
/// active).
fn guarded_with_events(
    server: Rc<FakeServer>,
    policy: Option<PolicyOverride>,
    activity_events: Vec<String>,
) -> (web_sys::HtmlElement, impl Drop) {
    guarded_with_recorder(
        server,
        policy,
        activity_events,
        recorder_script::recorder_url(),
    )
}

/// Mounts a guard that loads the recorder from `recorder_url`.
fn guarded_with_recorder(
    server: Rc<FakeServer>,
    policy: Option<PolicyOverride>,
    activity_events: Vec<String>,
    recorder_url: String,
) -> (web_sys::HtmlElement, impl Drop) {
    let root = container();
    let handle = leptos::mount::mount_to(root.clone(), move || {
        let server: Rc<dyn SessionServer> = server;
        let options = UseSessionGuardOptions::default()
            .server(server)
            .navigate(false)
            .activity_events(activity_events)
            .recorder_url(recorder_url)
            .policy_override(policy.unwrap_or_default());
        view! {
            <SessionGuard options=options>
                <p id="protected">"Privileged content"</p>
            </SessionGuard>
        }
    });
    (root, handle)
}

fn recording_spec() -> ViewSpec {
    let mut spec = ViewSpec::privileged(&unique("ses"));
    spec.recording_required = true;
    spec.consent = ConsentState::Pending;
    spec
}

#[wasm_bindgen_test]
async fn consent_dialog_must_be_answered_and_decline_renders_nothing() {
    let server = FakeServer::new(recording_spec());
    let (root, _handle) = guarded(server.clone(), None);
    assert!(wait_for(2_000, || find(&root, "[role=dialog]").is_some()).await);
    let dialog = find(&root, "[role=dialog]").expect("dialog");
    assert_eq!(dialog.get_attribute("aria-modal").as_deref(), Some("true"));
    // It states exactly what recording captures (the recorder's settings), what is
    // masked, that the server records the session's requests, and the retention.
    let text = dialog.text_content().unwrap_or_default();
    assert!(text.contains(RECORDING_SCOPE_TEXT), "{text}");
    for claim in [
        "what you see and do in each browser tab",
        "that a key was pressed (never which key)",
        "(their path only)",
        "What you type into fields is masked (passwords always)",
        "parts of a page marked private are left out",
        "The server also records every request this session makes",
        "kept for 90 days",
    ] {
        assert!(text.contains(claim), "{claim}: {text}");
    }
    assert!(!text.contains("not captured"), "{text}");
    assert!(
        find(&root, "#protected").is_none(),
        "nothing protected before consent"
    );

    // Escape and clicks outside do not dismiss it.
    press(&dialog, "Escape");
    click(&find(&root, ".sg-backdrop").expect("backdrop"));
    wait::sleep(100).await;
    assert!(find(&root, "[role=dialog]").is_some());

    // Focus starts on the dialog itself (read first, not accepted by a stray Enter),
    // and Tab from there moves into the buttons, never out of the dialog.
    assert!(
        wait_for(1_000, || document().active_element().as_ref()
            == Some(&dialog))
        .await
    );
    let active = || document().active_element().and_then(|e| e.text_content());
    press(&dialog, "Tab");
    assert_eq!(active().as_deref(), Some("Decline"));
    // Tab on the last button wraps to the first, Shift+Tab on the first to the last.
    let accept = find(&root, ".sg-dialog button.sg-primary").expect("accept");
    accept
        .dyn_ref::<web_sys::HtmlElement>()
        .expect("button")
        .focus()
        .expect("focus");
    press(&accept, "Tab");
    assert_eq!(active().as_deref(), Some("Decline"));
    let first = document().active_element().expect("focused");
    press_with_shift(&first, "Tab", true);
    assert_eq!(active().as_deref(), Some("Accept and continue"));

    let decline = find(&root, ".sg-dialog button.sg-secondary").expect("decline");
    click(&decline);
    assert!(wait_for(2_000, || find(&root, "[role=dialog]").is_none()).await);
    assert!(
        find(&root, "#protected").is_none(),
        "declined: nothing protected"
    );
    assert!(server.calls().iter().any(|c| c == "consent:false"));
}

#[wasm_bindgen_test]
async fn accepted_recording_shows_badge_title_and_favicon_until_unmounted() {
    let original_title = "Console test";
    document().set_title(original_title);
    let server = FakeServer::new(recording_spec());
    let (root, handle) = guarded(server.clone(), None);
    assert!(wait_for(2_000, || find(&root, "[role=dialog]").is_some()).await);
    click(&find(&root, ".sg-dialog button.sg-primary").expect("accept"));

    assert!(wait_for(2_000, || find(&root, "#protected").is_some()).await);
    // The badge shows once the recorder runs, and only then.
    assert!(wait_for(3_000, || find(&root, ".sg-recording").is_some()).await);
    assert!(find(&root, ".sg-recording-paused").is_none());
    let badge = find(&root, ".sg-recording[role=status]").expect("badge");
    assert!(badge
        .text_content()
        .unwrap_or_default()
        .contains("Recording"));
    assert_eq!(
        document().title(),
        format!("{RECORDING_TITLE_PREFIX}{original_title}")
    );
    let icon = document()
        .query_selector("link[rel~='icon']")
        .ok()
        .flatten()
        .and_then(|l| l.get_attribute("href"))
        .unwrap_or_default();
    assert!(icon.starts_with("data:image/svg+xml"), "{icon}");

    // A host app retitling the page keeps the prefix.
    document().set_title("Other page");
    assert!(
        wait_for(1_000, || document().title()
            == format!("{RECORDING_TITLE_PREFIX}Other page"))
        .await
    );

    drop(handle);
    assert!(wait_for(1_000, || document().title() == "Other page").await);
}

#[wasm_bindgen_test]
async fn a_recorder_that_cannot_load_shows_no_badge_and_says_recording_is_paused() {
    let original_title = "Console test";
    document().set_title(original_title);
    let mut spec = recording_spec();
    spec.consent = ConsentState::Accepted;
    let server = FakeServer::new(spec);
    // An earlier test of this page loaded the recorder: take it away, so the guard has to
    // load it from the (missing) URL.
    let global = js_sys::global();
    let loaded = js_sys::Reflect::get(&global, &"rrwebRecord".into()).expect("global");
    js_sys::Reflect::set(&global, &"rrwebRecord".into(), &JsValue::UNDEFINED).expect("unset");
    let (root, handle) =
        guarded_with_recorder(server, None, Vec::new(), "/no-such-recorder.js".to_string());
    assert!(wait_for(2_000, || find(&root, "#protected").is_some()).await);
    let paused = || find(&root, ".sg-recording-paused[role=status]").and_then(|p| p.text_content());
    assert!(
        wait_for(3_000, || paused().as_deref()
            == Some(
                "Recording paused: the recorder could not start in this tab."
            ))
        .await,
        "{:?}",
        paused()
    );
    assert!(find(&root, ".sg-recording").is_none(), "no badge");
    assert_eq!(document().title(), original_title, "no title prefix");
    drop(handle);
    js_sys::Reflect::set(&global, &"rrwebRecord".into(), &loaded).expect("restore");
}

#[wasm_bindgen_test]
async fn idle_warning_counts_down_and_stay_signed_in_closes_it() {
    let server = FakeServer::new(ViewSpec::privileged(&unique("ses")));
    let policy = PolicyOverride {
        idle_timeout: Some(5_000),
        warning_lead: Some(4_000),
    };
    let (root, _handle) = guarded(server.clone(), Some(policy));
    assert!(wait_for(2_000, || find(&root, "#protected").is_some()).await);
    assert!(wait_for(3_000, || find(&root, "[role=alertdialog]").is_some()).await);
    // The countdown is written once the dialog is in the document.
    let countdown = || {
        find(&root, ".sg-countdown")
            .and_then(|c| c.text_content())
            .unwrap_or_default()
    };
    assert!(
        wait_for(500, || countdown().starts_with("0:0")).await,
        "{}",
        countdown()
    );
    // It ticks: a second later it shows one second less.
    let first = countdown();
    assert!(
        wait_for(1_500, || {
            let now = countdown();
            now.starts_with("0:0") && now < first
        })
        .await,
        "{first} then {}",
        countdown()
    );
    assert!(
        find(&root, "#protected").is_some(),
        "content stays during the warning"
    );

    let stay = find(&root, "[role=alertdialog] button.sg-primary").expect("stay");
    assert_eq!(stay.text_content().as_deref(), Some("Stay signed in"));
    click(&stay);
    // Drawn in the click's own task, before the keepalive it causes is sent: no wait.
    assert!(
        find(&root, "[role=alertdialog]").is_none(),
        "the warning closes within the click"
    );
    assert!(find(&root, "#protected").is_some());
    // The server's deadline is seconds away, so the keepalive follows one settle later.
    assert!(
        wait_for(1_000, || server
            .calls
            .borrow()
            .iter()
            .any(|c| c.starts_with("activity:")))
        .await,
        "the keepalive was asked for: {:?}",
        server.calls.borrow()
    );
}

/// A guarded page whose idle warning (under `policy`) opened while a field of the protected
/// content had the focus: the page, its handle, the field, and the warning's "Stay signed
/// in", which is checked to have taken the focus.
async fn warning_over_a_focused_field(
    server: Rc<FakeServer>,
    policy: PolicyOverride,
) -> (
    web_sys::HtmlElement,
    impl Drop,
    web_sys::Element,
    web_sys::Element,
) {
    let (root, handle) = guarded(server, Some(policy));
    assert!(wait_for(2_000, || find(&root, "#protected").is_some()).await);
    let field = document().create_element("input").expect("input");
    find(&root, "#protected")
        .expect("protected")
        .append_child(&field)
        .expect("append");
    field
        .dyn_ref::<web_sys::HtmlElement>()
        .expect("input")
        .focus()
        .expect("focus");
    assert!(wait_for(3_000, || find(&root, "[role=alertdialog]").is_some()).await);
    let stay = find(&root, "[role=alertdialog] button.sg-primary").expect("stay");
    assert_eq!(
        document().active_element(),
        Some(stay.clone()),
        "the warning focuses Stay signed in"
    );
    (root, handle, field, stay)
}

/// Waits for the warning to leave and checks that the focus went back to `field`: in a
/// microtask of its own, queued as the warning was taken out, so a test that clicked
/// synchronously sees it once it yields.
async fn assert_the_warning_closes_returning_the_focus_to(
    root: &web_sys::HtmlElement,
    field: web_sys::Element,
) {
    assert!(wait_for(1_000, || find(root, "[role=alertdialog]").is_none()).await);
    wait::sleep(0).await;
    assert_eq!(
        document().active_element(),
        Some(field),
        "the focus is back in the field"
    );
}

#[wasm_bindgen_test]
async fn another_part_coming_and_going_during_the_warning_leaves_the_focus_return_alone() {
    let server = FakeServer::new(ViewSpec::privileged(&unique("ses")));
    let policy = PolicyOverride {
        idle_timeout: Some(10_000),
        warning_lead: Some(9_000),
    };
    let (root, _handle, field, stay) = warning_over_a_focused_field(server.clone(), policy).await;
    // The connection banner comes and goes while the warning has the focus.
    let window = web_sys::window().expect("window");
    let online = || {
        window
            .dispatch_event(&web_sys::Event::new("online").expect("event"))
            .expect("dispatch");
    };
    server.unreachable.set(true);
    online();
    assert!(wait_for(2_000, || find(&root, ".sg-connection").is_some()).await);
    server.unreachable.set(false);
    online();
    assert!(wait_for(2_000, || find(&root, ".sg-connection").is_none()).await);
    // The server's answer may have closed the warning already; otherwise the user does.
    if find(&root, "[role=alertdialog]").is_some() {
        click(&stay);
    }
    assert_the_warning_closes_returning_the_focus_to(&root, field).await;
}

#[wasm_bindgen_test]
async fn the_idle_warning_takes_the_focus_and_returns_it_where_it_was_when_it_closes() {
    let server = FakeServer::new(ViewSpec::privileged(&unique("ses")));
    let policy = PolicyOverride {
        idle_timeout: Some(5_000),
        warning_lead: Some(4_000),
    };
    let (root, _handle, field, stay) = warning_over_a_focused_field(server, policy).await;
    // Escape does not dismiss it.
    press(&stay, "Escape");
    wait::sleep(100).await;
    assert!(find(&root, "[role=alertdialog]").is_some());
    click(&stay);
    assert_the_warning_closes_returning_the_focus_to(&root, field).await;
}

#[wasm_bindgen_test]
async fn the_guard_shows_the_lifetime_notice_in_its_live_region_until_dismissed() {
    // A session that ends in 9 minutes: the 10-minute notice is due at once.
    let server = FakeServer::new(ViewSpec {
        lifetime_ms: 9 * 60_000,
        ..ViewSpec::privileged(&unique("ses"))
    });
    let (root, _handle) = guarded(server, None);
    assert!(wait_for(2_000, || find(&root, "#protected").is_some()).await);
    let region = find(
        &root,
        ".sg-guard > .sg-lifetime-region[role=status][aria-live=polite][aria-atomic=true]",
    )
    .expect("region");
    assert!(wait_for(2_000, || find(&region, ".sg-lifetime p").is_some()).await);
    let text = region.text_content().unwrap_or_default();
    assert!(text.contains("in less than 10 minutes"), "{text}");
    assert!(text.contains("cannot be extended"), "{text}");

    click(&find(&region, ".sg-lifetime button").expect("dismiss"));
    assert!(wait_for(1_000, || find(&region, ".sg-lifetime").is_none()).await);
    assert!(region.is_connected(), "the live region stays");
    assert!(find(&root, "#protected").is_some(), "the content stays");
}

#[wasm_bindgen_test]
async fn the_warning_focusing_its_button_is_not_activity_but_the_user_is() {
    let server = FakeServer::new(ViewSpec::privileged(&unique("ses")));
    let policy = PolicyOverride {
        idle_timeout: Some(6_000),
        warning_lead: Some(5_000),
    };
    let events = DEFAULT_ACTIVITY_EVENTS
        .iter()
        .map(|e| e.to_string())
        .collect();
    let (root, _handle) = guarded_with_events(server, Some(policy), events);
    assert!(wait_for(3_000, || find(&root, "[role=alertdialog]").is_some()).await);
    // The dialog moved focus to its own button; that must not count as the user.
    wait::sleep(600).await;
    assert!(find(&root, "[role=alertdialog]").is_some());
    // Scrolling inside an element by code is not the user either.
    let pane = document().create_element("div").expect("div");
    root.append_child(&pane).expect("append");
    pane.dispatch_event(&web_sys::Event::new("scroll").expect("event"))
        .expect("dispatch");
    wait::sleep(200).await;
    assert!(find(&root, "[role=alertdialog]").is_some());
    // A pointer moving is.
    let window = web_sys::window().expect("window");
    window
        .dispatch_event(&web_sys::Event::new("pointermove").expect("event"))
        .expect("dispatch");
    assert!(wait_for(1_000, || find(&root, "[role=alertdialog]").is_none()).await);
}

#[wasm_bindgen_test]
async fn ended_session_removes_protected_content() {
    // A server that heard no activity since the sign-in: it confirms the clock, and the
    // shortened local limit then ends the session.
    let server = FakeServer::new(ViewSpec {
        last_activity_at: Some(js_sys::Date::now() as Millis),
        ..ViewSpec::privileged(&unique("ses"))
    });
    let policy = PolicyOverride {
        idle_timeout: Some(1_000),
        warning_lead: Some(500),
    };
    let (root, _handle) = guarded(server, Some(policy));
    assert!(wait_for(2_000, || find(&root, "#protected").is_some()).await);
    assert!(wait_for(3_000, || find(&root, "#protected").is_none()).await);
    assert!(root
        .text_content()
        .unwrap_or_default()
        .contains("Your session has ended"));
}

#[wasm_bindgen_test]
async fn the_hooks_countdown_ticks_without_running_the_other_fields_readers_again() {
    // The hook alone: `remaining_ms` counts down every second during the warning, and a
    // reader of another field (here `state`) is not run again by those ticks.
    let server = FakeServer::new(ViewSpec::privileged(&unique("ses")));
    let state_reads = Arc::new(AtomicU32::new(0));
    let reads = state_reads.clone();
    let root = container();
    let _handle = leptos::mount::mount_to(root.clone(), move || {
        let server: Rc<dyn SessionServer> = server;
        let options = UseSessionGuardOptions::default()
            .server(server)
            .navigate(false)
            .activity_events(Vec::<String>::new())
            .policy_override(PolicyOverride {
                idle_timeout: Some(6_000),
                warning_lead: Some(5_000),
            });
        let session = use_session_guard_with_options(options);
        let state = move || {
            reads.fetch_add(1, Ordering::Relaxed);
            format!("{:?}", session.state.get())
        };
        let left = move || {
            session
                .remaining_ms
                .get()
                .map(|ms| (ms / 1_000).to_string())
        };
        view! {
            <p id="state">{state}</p>
            <p id="left">{left}</p>
        }
    });
    let text = |id: &str| {
        find(&root, id)
            .and_then(|p| p.text_content())
            .unwrap_or_default()
    };
    assert!(wait_for(3_000, || text("#state").starts_with("Warning")).await);
    assert!(wait_for(500, || !text("#left").is_empty()).await);
    let reads_before = state_reads.load(Ordering::Relaxed);
    let first: Millis = text("#left").parse().expect("seconds");
    // Two ticks later it shows two seconds less.
    assert!(
        wait_for(2_500, || text("#left")
            .parse::<Millis>()
            .is_ok_and(|left| left <= first - 2))
        .await,
        "{first} then {}",
        text("#left")
    );
    assert!(text("#state").starts_with("Warning"));
    assert_eq!(
        state_reads.load(Ordering::Relaxed),
        reads_before,
        "the ticks ran the state's reader again"
    );
}

#[wasm_bindgen_test]
fn use_session_outside_a_guard_stays_starting_and_its_actions_do_nothing() {
    let root = container();
    let _handle = leptos::mount::mount_to(root.clone(), || {
        let session = use_session();
        session.logout.run(());
        session.stay_signed_in.run(());
        session.consent.run(true);
        let shown = move || {
            format!(
                "{:?} {:?} {}",
                session.state.get(),
                session.remaining_ms.get(),
                session.is_recording.get()
            )
        };
        view! { <p id="outside">{shown}</p> }
    });
    assert_eq!(
        find(&root, "#outside")
            .and_then(|p| p.text_content())
            .as_deref(),
        Some("Starting None false")
    );
}

#[wasm_bindgen_test]
async fn the_hook_takes_its_options_login_path_and_before_logout_hook() {
    // The same ending as above, through the hook alone: the options' login path and hook
    // must reach the running guard.
    let server = FakeServer::new(ViewSpec {
        last_activity_at: Some(js_sys::Date::now() as Millis),
        ..ViewSpec::privileged(&unique("ses"))
    });
    let reasons = Rc::new(RefCell::new(Vec::<Reason>::new()));
    let sink = reasons.clone();
    let root = container();
    let _handle = leptos::mount::mount_to(root.clone(), move || {
        let server: Rc<dyn SessionServer> = server;
        let options = UseSessionGuardOptions::default()
            .server(server)
            .navigate(false)
            .activity_events(Vec::<String>::new())
            .login_path("/sign-in")
            .policy_override(PolicyOverride {
                idle_timeout: Some(1_000),
                warning_lead: Some(500),
            })
            .on_before_logout(move |reason| sink.borrow_mut().push(reason.clone()));
        let session = use_session_guard_with_options(options);
        view! { <p id="redirect">{move || session.snapshot.get().redirect_to}</p> }
    });
    assert!(wait_for(4_000, || !reasons.borrow().is_empty()).await);
    assert_eq!(*reasons.borrow(), vec![Reason::IdleTimeout]);
    let redirect = find(&root, "#redirect")
        .and_then(|p| p.text_content())
        .unwrap_or_default();
    assert!(redirect.starts_with("/sign-in?"), "{redirect}");
    assert!(redirect.contains("reason=idle_timeout"), "{redirect}");
}

fn notice_text(search: &str) -> (String, Option<String>, bool) {
    let root = container();
    let search = search.to_string();
    let handle = leptos::mount::mount_to(root.clone(), move || {
        view! { <LogoutNotice search=search /> }
    });
    let notice = find(&root, ".sg-notice[role=alert]");
    let result = (
        notice
            .as_ref()
            .and_then(|n| n.text_content())
            .unwrap_or_default(),
        notice.as_ref().and_then(|n| n.get_attribute("data-reason")),
        find(&root, "script, img, b").is_some(),
    );
    drop(handle);
    result
}

#[wasm_bindgen_test]
fn logout_notice_shows_fixed_messages_and_never_echoes_the_parameter() {
    let (text, kind, _) = notice_text("?reason=role_changed&return_to=/admin");
    assert!(text.contains("role permissions were updated"), "{text}");
    assert_eq!(kind.as_deref(), Some("role_changed"));

    let (text, _, _) = notice_text("?reason=idle_timeout");
    assert!(text.contains("15 minutes"), "{text}");
    let (text, _, _) = notice_text("?reason=idle_timeout&idle_ms=360000");
    assert!(text.contains("6 minutes"), "the limit that applied: {text}");
    let (text, _, _) = notice_text("?reason=idle_timeout&idle_ms=%3Cb%3E9%3C%2Fb%3E");
    assert!(
        text.contains("15 minutes"),
        "a bad limit is ignored: {text}"
    );

    for hostile in [
        "?reason=%3Cscript%3Ealert(1)%3C/script%3E",
        "?reason=%3Cimg%20src=x%20onerror=alert(1)%3E",
        "?reason=Your%20account%20was%20hacked,%20call%20555",
    ] {
        let (text, kind, injected) = notice_text(hostile);
        assert!(!injected, "{hostile}");
        assert!(
            !text.contains("script") && !text.contains("img") && !text.contains("555"),
            "{text}"
        );
        assert_eq!(kind.as_deref(), Some("other"));
        assert!(text.contains("Your session has ended"), "{text}");
    }

    let (text, _, _) = notice_text("?return_to=/admin");
    assert!(text.is_empty(), "no reason, no notice");
}

#[wasm_bindgen_test]
fn countdown_formats_minutes_and_seconds() {
    assert_eq!(format_countdown(61_000), "1:01");
    assert_eq!(format_countdown(999), "0:01");
    assert_eq!(format_countdown(-5), "0:00");
    assert_eq!(format_countdown(600_000), "10:00");
    // The clock time: "HH:MM (UTC±HH:MM)" in the page's zone, whatever the locale.
    let at = 1_764_000_312_345;
    let date = js_sys::Date::new(&(at as f64).into());
    let east = -(date.get_timezone_offset() as i64);
    let expected = format!(
        "{:02}:{:02} (UTC{}{:02}:{:02})",
        date.get_hours(),
        date.get_minutes(),
        if east < 0 { '-' } else { '+' },
        east.abs() / 60,
        east.abs() % 60
    );
    assert_eq!(format_clock_time(at), expected);
    // The hours and minutes are the UTC ones moved by the zone's offset, across midnight
    // both ways and for zones a fraction of an hour from UTC. `at` is 16:05:12 UTC.
    assert_eq!(clock_time_text(at, 0), "16:05 (UTC+00:00)");
    assert_eq!(clock_time_text(at, 330), "21:35 (UTC+05:30)");
    assert_eq!(clock_time_text(at, 8 * 60 + 45), "00:50 (UTC+08:45)");
    assert_eq!(clock_time_text(at, -(16 * 60 + 30)), "23:35 (UTC-16:30)");
    assert_eq!(clock_time_text(at, -210), "12:35 (UTC-03:30)");
    assert_eq!(clock_time_text(0, 0), "00:00 (UTC+00:00)");
    assert_eq!(clock_time_text(-1, 0), "23:59 (UTC+00:00)");
}

#[wasm_bindgen_test]
async fn the_lifetime_notice_is_a_live_region_that_says_when_and_comes_back_after_dismissal() {
    let warning = RwSignal::new(None::<LifetimeWarning>);
    let root = container();
    let handle = leptos::mount::mount_to(root.clone(), move || {
        view! { <LifetimeNotice warning=warning /> }
    });
    let region = find(&root, ".sg-lifetime-region").expect("region");
    assert_eq!(region.get_attribute("role").as_deref(), Some("status"));
    assert_eq!(region.get_attribute("aria-live").as_deref(), Some("polite"));
    assert!(
        find(&root, ".sg-lifetime").is_none(),
        "nothing before the warning"
    );

    let ends_at = js_sys::Date::now() as Millis + 9 * 60_000;
    warning.set(Some(LifetimeWarning {
        ends_at: LocalTime::from_millis(ends_at),
        within: DurationMs::MINUTE.times(10),
    }));
    assert!(wait_for(1_000, || find(&root, ".sg-lifetime").is_some()).await);
    let text = region.text_content().unwrap_or_default();
    assert!(
        text.contains(&format!("ends at {}", format_clock_time(ends_at))),
        "{text}"
    );
    assert!(text.contains("in less than 10 minutes"), "{text}");
    assert!(text.contains("cannot be extended"), "{text}");

    click(&find(&root, ".sg-lifetime button").expect("dismiss"));
    assert!(wait_for(1_000, || find(&root, ".sg-lifetime").is_none()).await);
    assert!(
        find(&root, ".sg-lifetime-region").is_some(),
        "the live region stays"
    );
    warning.set(Some(LifetimeWarning {
        ends_at: LocalTime::from_millis(ends_at),
        within: DurationMs::MINUTE.times(2),
    }));
    assert!(wait_for(1_000, || find(&root, ".sg-lifetime").is_some()).await);
    assert!(region
        .text_content()
        .unwrap_or_default()
        .contains("in less than 2 minutes"));
    drop(handle);
}
