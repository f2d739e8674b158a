//! Two guards in one page, each with its own tab identity, talking over BroadcastChannel
//! to a scripted server.
#![cfg(target_arch = "wasm32")]

#[path = "support/fake_server.rs"]
mod fake_server;
#[path = "support/recorder_script.rs"]
mod recorder_script;
#[path = "support/wait.rs"]
mod wait;

use std::cell::RefCell;
use std::rc::Rc;

use fake_server::{FakeServer, ViewSpec};
use session_guard::browser::{
    BeforeLogout, ChannelKind, GuardOptions, GuardRuntime, SessionServer, TabIdentity,
};
use session_guard::core::{ConsentState, Millis, PolicyOverride, Reason, RecordingLimits, State};
use wait::{unique, wait_for};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn start(
    server: Rc<FakeServer>,
    tab: &str,
    policy: Option<PolicyOverride>,
    locks: bool,
) -> GuardRuntime {
    start_with_hook(server, tab, policy, locks, None)
}

fn start_with_hook(
    server: Rc<FakeServer>,
    tab: &str,
    policy: Option<PolicyOverride>,
    locks: bool,
    before_logout: Option<BeforeLogout>,
) -> GuardRuntime {
    let options = GuardOptions {
        server: server as Rc<dyn SessionServer>,
        login_path: "/login".to_string(),
        // No DOM events: the tests decide when there is activity.
        activity_events: Vec::new(),
        throttle_ms: 0,
        policy_override: policy,
        channel: ChannelKind::Auto,
        use_web_locks: locks,
        navigate: false,
        tab: Some(TabIdentity {
            tab_id: tab.to_string(),
            opener_tab_id: None,
        }),
        recorder_url: recorder_script::recorder_url(),
        recording_limits: RecordingLimits::default(),
    };
    match GuardRuntime::start(options, Box::new(|_| {}), before_logout) {
        Ok(runtime) => runtime,
        Err(error) => panic!("guard did not start: {error}"),
    }
}

fn is_active(guard: &GuardRuntime) -> bool {
    guard.snapshot().state == State::Active
}

fn ended_with(guard: &GuardRuntime, reason: Reason) -> bool {
    guard.snapshot().state
        == State::Ended {
            reason: Some(reason),
        }
}

#[wasm_bindgen_test]
async fn logout_in_one_tab_ends_the_other() {
    let server = FakeServer::new(ViewSpec::privileged(&unique("ses")));
    let a = start(server.clone(), "tab_aaaaaaaa", None, true);
    let b = start(server.clone(), "tab_bbbbbbbb", None, true);
    assert!(wait_for(2_000, || is_active(&a) && is_active(&b)).await);

    a.logout();
    assert!(ended_with(&a, Reason::LoggedOut));
    assert!(wait_for(2_000, || ended_with(&b, Reason::LoggedOut)).await);
    let redirect = b.snapshot().redirect_to.unwrap_or_default();
    assert!(
        redirect.starts_with("/login?reason=logged_out&return_to=/"),
        "{redirect}"
    );
    let logouts = server
        .calls()
        .iter()
        .filter(|c| c.starts_with("logout:"))
        .count();
    assert_eq!(
        logouts, 1,
        "only the tab where the user signed out tells the server"
    );
}

#[wasm_bindgen_test]
async fn a_tab_ended_by_another_publishes_its_end_once_with_the_redirect_already_under_way() {
    let server = FakeServer::new(ViewSpec::privileged(&unique("ses")));
    let a = start(server.clone(), "tab_aaaaaaaa", None, true);
    let seen = Rc::new(RefCell::new(Vec::<(State, Option<String>)>::new()));
    let options = GuardOptions {
        server: server.clone() as Rc<dyn SessionServer>,
        activity_events: Vec::new(),
        throttle_ms: 0,
        use_web_locks: true,
        navigate: false,
        tab: Some(TabIdentity {
            tab_id: "tab_bbbbbbbb".to_string(),
            opener_tab_id: None,
        }),
        ..GuardOptions::default()
    };
    let record = seen.clone();
    let b = match GuardRuntime::start(
        options,
        Box::new(move |snapshot| {
            record
                .borrow_mut()
                .push((snapshot.state.clone(), snapshot.redirect_to.clone()))
        }),
        None,
    ) {
        Ok(runtime) => runtime,
        Err(error) => panic!("guard did not start: {error}"),
    };
    assert!(wait_for(2_000, || is_active(&a) && is_active(&b)).await);
    a.logout();
    assert!(wait_for(2_000, || ended_with(&b, Reason::LoggedOut)).await);
    let ended: Vec<_> = seen
        .borrow()
        .iter()
        .filter(|(state, _)| matches!(state, State::Ended { .. }))
        .cloned()
        .collect();
    assert_eq!(ended.len(), 1, "one re-render on the way out: {ended:?}");
    assert!(
        ended[0].1.is_some(),
        "the redirect was under way when the end was published: {ended:?}"
    );
}

#[wasm_bindgen_test]
async fn the_host_saves_drafts_in_every_tab_before_it_leaves() {
    let server = FakeServer::new(ViewSpec::privileged(&unique("ses")));
    let saved = Rc::new(RefCell::new(Vec::<(String, Option<String>)>::new()));
    let hook = |tab: &'static str| -> Option<BeforeLogout> {
        let saved = saved.clone();
        Some(Box::new(move |reason: &Reason| {
            saved
                .borrow_mut()
                .push((tab.to_string(), Some(reason.wire_name().to_string())));
        }))
    };
    let a = start_with_hook(server.clone(), "tab_aaaaaaaa", None, true, hook("a"));
    let b = start_with_hook(server.clone(), "tab_bbbbbbbb", None, true, hook("b"));
    assert!(wait_for(2_000, || is_active(&a) && is_active(&b)).await);
    a.logout();
    assert!(wait_for(2_000, || ended_with(&b, Reason::LoggedOut)).await);
    let mut calls = saved.borrow().clone();
    calls.sort();
    assert_eq!(
        calls,
        vec![
            ("a".to_string(), Some("logged_out".to_string())),
            ("b".to_string(), Some("logged_out".to_string())),
        ],
        "once per tab, before it leaves"
    );
}

#[wasm_bindgen_test]
async fn activity_in_one_tab_closes_the_warning_in_every_tab() {
    let server = FakeServer::new(ViewSpec::privileged(&unique("ses")));
    let short = Some(PolicyOverride {
        idle_timeout: Some(4_000),
        warning_lead: Some(3_000),
    });
    let a = start(server.clone(), "tab_aaaaaaaa", short, true);
    let b = start(server.clone(), "tab_bbbbbbbb", short, true);
    let warned = |g: &GuardRuntime| matches!(g.snapshot().state, State::Warning { .. });
    assert!(
        wait_for(3_000, || warned(&a) && warned(&b)).await,
        "both tabs warn"
    );

    a.activity();
    assert!(is_active(&a));
    assert!(
        wait_for(1_000, || is_active(&b)).await,
        "the other tab's warning closes"
    );
}

/// A privileged session whose server heard no activity since now, and the short policy
/// (1.5 s inactivity, warning 1 s before) that ends it soon.
fn idle_soon() -> (Rc<FakeServer>, Option<PolicyOverride>) {
    let server = FakeServer::new(ViewSpec {
        last_activity_at: Some(js_sys::Date::now() as Millis),
        ..ViewSpec::privileged(&unique("ses"))
    });
    let short = Some(PolicyOverride {
        idle_timeout: Some(1_500),
        warning_lead: Some(1_000),
    });
    (server, short)
}

#[wasm_bindgen_test]
async fn idle_timeout_ends_every_tab_with_the_timeout_reason() {
    // The server heard no activity since the sign-in: asked at the shortened deadline, its
    // view confirms the clock and the tabs end the session.
    let (server, short) = idle_soon();
    let a = start(server.clone(), "tab_aaaaaaaa", short, true);
    let b = start(server.clone(), "tab_bbbbbbbb", short, true);
    assert!(
        wait_for(4_000, || ended_with(&a, Reason::IdleTimeout)
            && ended_with(&b, Reason::IdleTimeout))
        .await
    );
}

/// Every BroadcastChannel post from now on, as "post <message>", in one list with the
/// entries `hook_into` adds.
fn spy_on_channel_posts() -> js_sys::Array {
    let log = js_sys::Array::new();
    let install = js_sys::Function::new_with_args(
        "log",
        "const proto = BroadcastChannel.prototype;
         if (!proto.postMessage.__sgSpy) {
           const post = proto.postMessage;
           const spy = function (message) {
             if (globalThis.__sgPosts) globalThis.__sgPosts.push('post ' + message);
             return post.call(this, message);
           };
           spy.__sgSpy = true;
           proto.postMessage = spy;
         }
         globalThis.__sgPosts = log;",
    );
    install.call1(&JsValue::NULL, &log).expect("spy installed");
    log
}

/// A `before_logout` hook that notes "leave" in `log` (the tab starts leaving then).
fn hook_into(log: &js_sys::Array) -> Option<BeforeLogout> {
    let log = log.clone();
    Some(Box::new(move |_: &Reason| {
        log.push(&JsValue::from_str("leave"));
    }))
}

/// Where in `log` the tab started leaving and where it posted its logout (both must be there).
fn leave_and_logout_post(log: &js_sys::Array) -> (usize, usize) {
    let entries: Vec<String> = log.iter().filter_map(|entry| entry.as_string()).collect();
    let leave = entries.iter().position(|entry| entry == "leave");
    let post = entries
        .iter()
        .position(|entry| entry.starts_with("post ") && entry.contains(r#""type":"logout""#));
    let (Some(leave), Some(post)) = (leave, post) else {
        panic!("no leave or no logout post: {entries:?}");
    };
    (leave, post)
}

#[wasm_bindgen_test]
async fn a_tab_ended_by_its_idle_timer_leaves_before_it_tells_the_other_tabs() {
    // Every tab reaches the idle deadline by its own timer: the one whose timer fires
    // starts its navigation first and posts the logout right after, in the same task.
    let log = spy_on_channel_posts();
    let (server, short) = idle_soon();
    let a = start_with_hook(server.clone(), "tab_aaaaaaaa", short, true, hook_into(&log));
    assert!(wait_for(4_000, || ended_with(&a, Reason::IdleTimeout)).await);
    let (leave, post) = leave_and_logout_post(&log);
    assert!(leave < post, "left first, then told: {:?}", log.to_vec());
}

#[wasm_bindgen_test]
async fn a_tab_ended_by_its_idle_timer_leaves_before_its_engine_takes_the_wake_up() {
    // The timer's callback asks the engine whether the clock alone ends the session now
    // and, since it does, starts leaving before it feeds the engine: when the tab starts
    // leaving, its engine still counts down (no time left) instead of having ended.
    let (server, short) = idle_soon();
    let runtime: Rc<RefCell<Option<GuardRuntime>>> = Rc::default();
    let seen: Rc<RefCell<Vec<Option<Millis>>>> = Rc::default();
    let hook: BeforeLogout = {
        let (runtime, seen) = (runtime.clone(), seen.clone());
        Box::new(move |_: &Reason| {
            let left = runtime
                .borrow()
                .as_ref()
                .and_then(GuardRuntime::remaining_ms);
            seen.borrow_mut().push(left);
        })
    };
    let a = start_with_hook(server, "tab_aaaaaaaa", short, true, Some(hook));
    *runtime.borrow_mut() = Some(a.clone());
    assert!(wait_for(4_000, || ended_with(&a, Reason::IdleTimeout)).await);
    // The hook held the runtime: let it go.
    runtime.borrow_mut().take();
    assert_eq!(*seen.borrow(), [Some(0)], "left while the engine still ran");
}

#[wasm_bindgen_test]
async fn a_tab_signed_out_by_the_user_tells_the_other_tabs_before_it_leaves() {
    // The other tabs end only because they hear it: the post goes out first.
    let log = spy_on_channel_posts();
    let server = FakeServer::new(ViewSpec::privileged(&unique("ses")));
    let a = start_with_hook(server.clone(), "tab_aaaaaaaa", None, true, hook_into(&log));
    assert!(wait_for(2_000, || is_active(&a)).await);
    a.logout();
    assert!(ended_with(&a, Reason::LoggedOut));
    let (leave, post) = leave_and_logout_post(&log);
    assert!(post < leave, "told first, then left: {:?}", log.to_vec());
}

#[wasm_bindgen_test]
async fn server_termination_reaches_every_tab() {
    let server = FakeServer::new(ViewSpec::privileged(&unique("ses")));
    let a = start(server.clone(), "tab_aaaaaaaa", None, true);
    let b = start(server.clone(), "tab_bbbbbbbb", None, true);
    assert!(wait_for(2_000, || is_active(&a) && is_active(&b)).await);

    *server.ended.borrow_mut() = Some(Some("role_changed".to_string()));
    // A wake-up (focus) makes the guard ask the server again.
    let window = web_sys::window().expect("window");
    let focus = web_sys::Event::new("focus").expect("event");
    window.dispatch_event(&focus).expect("dispatch");
    assert!(
        wait_for(2_000, || ended_with(&a, Reason::RoleChanged)
            && ended_with(&b, Reason::RoleChanged))
        .await
    );
    let redirect = a.snapshot().redirect_to.unwrap_or_default();
    assert!(redirect.contains("reason=role_changed"), "{redirect}");
}

#[wasm_bindgen_test]
async fn a_network_error_is_a_connection_problem_not_a_logout() {
    let server = FakeServer::new(ViewSpec::privileged(&unique("ses")));
    let a = start(server.clone(), "tab_aaaaaaaa", None, true);
    assert!(wait_for(2_000, || is_active(&a)).await);
    server.unreachable.set(true);
    let window = web_sys::window().expect("window");
    window
        .dispatch_event(&web_sys::Event::new("online").expect("event"))
        .expect("dispatch");
    assert!(wait_for(2_000, || a.snapshot().connection_problem).await);
    assert!(is_active(&a));
    server.unreachable.set(false);
    window
        .dispatch_event(&web_sys::Event::new("online").expect("event"))
        .expect("dispatch");
    assert!(wait_for(2_000, || !a.snapshot().connection_problem).await);
}

#[wasm_bindgen_test]
async fn malformed_channel_messages_change_nothing() {
    let session = unique("ses");
    let server = FakeServer::new(ViewSpec::privileged(&session));
    let a = start(server.clone(), "tab_aaaaaaaa", None, true);
    // Settled: signed in, and leading (the lock is granted asynchronously).
    assert!(wait_for(2_000, || is_active(&a) && a.snapshot().is_leader).await);
    let before = a.snapshot();

    let raw = web_sys::BroadcastChannel::new(&format!("session-guard:{session}")).expect("channel");
    let hostile = [
        JsValue::from_str("not json"),
        JsValue::from_str("{}"),
        JsValue::from_str(
            r#"{"v":1,"session_id":"other","tab_id":"tab_xxxxxxxx","type":"logout","reason":"suspended"}"#,
        ),
        JsValue::from_str(&format!(
            r#"{{"v":2,"session_id":"{session}","tab_id":"tab_xxxxxxxx","type":"logout","reason":"suspended"}}"#
        )),
        JsValue::from_str(&format!(
            r#"{{"v":1,"session_id":"{session}","tab_id":"tab_xxxxxxxx","type":"explode"}}"#
        )),
        JsValue::from_str(&"x".repeat(100_000)),
        JsValue::from_f64(42.0),
        JsValue::NULL,
    ];
    for message in hostile {
        raw.post_message(&message).expect("post");
    }
    wait::sleep(300).await;
    assert_eq!(a.snapshot(), before, "{:?}", server.calls());

    // A well-formed logout from a peer of the same session is obeyed, so the channel
    // itself works.
    raw.post_message(&JsValue::from_str(&format!(
        r#"{{"v":1,"session_id":"{session}","tab_id":"tab_xxxxxxxx","type":"logout","reason":"suspended"}}"#
    )))
    .expect("post");
    assert!(wait_for(2_000, || ended_with(&a, Reason::Suspended)).await);
    raw.close();
}

#[wasm_bindgen_test]
async fn exactly_one_tab_leads_with_web_locks_and_with_heartbeats() {
    for locks in [true, false] {
        let server = FakeServer::new(ViewSpec::privileged(&unique("ses")));
        let a = start(server.clone(), "tab_aaaaaaaa", None, locks);
        let b = start(server.clone(), "tab_bbbbbbbb", None, locks);
        let one_leader = || a.snapshot().is_leader != b.snapshot().is_leader;
        assert!(
            wait_for(8_000, one_leader).await,
            "one leader (web locks: {locks})"
        );

        // The leader goes away; the other tab takes over.
        let (leader, follower) = if a.snapshot().is_leader {
            (a, b)
        } else {
            (b, a)
        };
        leader.stop();
        drop(leader);
        assert!(
            wait_for(10_000, || follower.snapshot().is_leader).await,
            "the follower takes over (web locks: {locks})"
        );
        follower.stop();
    }
}

#[wasm_bindgen_test]
async fn a_new_tab_joins_with_consent_given_and_registers_itself() {
    let mut spec = ViewSpec::privileged(&unique("ses"));
    spec.recording_required = true;
    spec.consent = ConsentState::Pending;
    let server = FakeServer::new(spec);
    let a = start(server.clone(), "tab_aaaaaaaa", None, true);
    assert!(wait_for(2_000, || a.snapshot().state == State::AwaitingConsent).await);
    // The server refuses tab registration while consent is pending: the tab does not
    // even try until consent is given.
    wait::sleep(200).await;
    let tried = |server: &FakeServer| server.calls().iter().any(|c| c.contains("tab_aaaaaaaa"));
    assert!(!tried(&server), "{:?}", server.calls());
    a.consent(true);
    assert!(wait_for(2_000, || is_active(&a) && a.snapshot().is_recording).await);
    // The session starts once the server stored the consent; the tab registers then.
    let registered = |server: &FakeServer| {
        server
            .calls()
            .iter()
            .any(|c| c.starts_with("tab:tab_aaaaaaaa:"))
    };
    assert!(
        wait_for(3_000, || registered(&server)).await,
        "registers once accepted: {:?}",
        server.calls()
    );

    let b = start(server.clone(), "tab_bbbbbbbb", None, true);
    assert!(wait_for(2_000, || is_active(&b) && b.snapshot().is_recording).await);
    let calls = server.calls();
    assert!(calls.iter().any(|c| c == "tab:tab_bbbbbbbb:"), "{calls:?}");
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("consent:")).count(),
        1
    );
    a.stop();
    b.stop();
}

#[wasm_bindgen_test]
async fn a_tab_registration_lost_to_a_network_blip_is_sent_again() {
    let server = FakeServer::new(ViewSpec::privileged(&unique("ses")));
    server.failing_registrations.set(1);
    let a = start(server.clone(), "tab_cccccccc", None, true);
    assert!(wait_for(2_000, || is_active(&a)).await);
    // The next input (the leader's heartbeat at the latest) tries again.
    assert!(
        wait_for(3_000, || server
            .calls()
            .iter()
            .any(|c| c.starts_with("tab:tab_cccccccc:")))
        .await,
        "{:?}",
        server.calls()
    );
    let calls = server.calls();
    assert_eq!(
        calls
            .iter()
            .filter(|c| *c == "tab-lost:tab_cccccccc")
            .count(),
        1,
        "{calls:?}"
    );
    a.stop();
}

#[wasm_bindgen_test]
async fn a_leaving_tab_closes_itself_and_registers_again_when_restored() {
    let server = FakeServer::new(ViewSpec::privileged(&unique("ses")));
    let guard = start(server.clone(), "tab_leaving1", None, true);
    let count = |server: &FakeServer, call: &str| {
        server.calls().iter().filter(|c| c.as_str() == call).count()
    };
    assert!(wait_for(3_000, || count(&server, "tab:tab_leaving1:") == 1).await);
    let window = web_sys::window().expect("window");
    let fire = |name: &str| {
        let event = web_sys::Event::new(name).expect("event");
        window.dispatch_event(&event).expect("dispatch");
    };
    // Closed, or put in the back/forward cache: the server drops the tab from the list.
    fire("pagehide");
    assert_eq!(
        count(&server, "tab-closed:tab_leaving1"),
        1,
        "{:?}",
        server.calls()
    );
    fire("pagehide");
    assert_eq!(count(&server, "tab-closed:tab_leaving1"), 1, "closes once");
    // The timers that still run while the page is torn down (the leader's heartbeat
    // every second) do not register it again.
    wait::sleep(1_500).await;
    assert_eq!(
        count(&server, "tab:tab_leaving1:"),
        1,
        "{:?}",
        server.calls()
    );
    // Restored from the cache: it registers again.
    fire("pageshow");
    assert!(
        wait_for(3_000, || count(&server, "tab:tab_leaving1:") == 2).await,
        "{:?}",
        server.calls()
    );
    guard.stop();
}

/// A `data:` URL whose body is `body` with the given content type: what an `EventSource`
/// reads as the server's stream.
fn stream_url(body: &str, content_type: &str) -> String {
    let encoded: String = js_sys::encode_uri_component(body).into();
    format!("data:{content_type};charset=utf-8,{encoded}")
}

/// Whether this browser streams server-sent events from a `data:` URL: Chromium does,
/// Firefox refuses such a stream. The probe uses a bare `EventSource`, not the guard.
async fn streams_from_data_urls() -> bool {
    let Ok(source) = web_sys::EventSource::new(&stream_url(": probe\n\n", "text/event-stream"))
    else {
        return false;
    };
    let opened = Rc::new(std::cell::Cell::new(false));
    let _listener = gloo_events::EventListener::new(&source, "open", {
        let opened = opened.clone();
        move |_| opened.set(true)
    });
    let streams = wait_for(2_000, || opened.get()).await;
    source.close();
    streams
}

#[wasm_bindgen_test]
async fn a_termination_pushed_through_the_leaders_stream_ends_every_tab() {
    if !streams_from_data_urls().await {
        web_sys::console::log_1(
            &"skipped: this browser opens no event stream from a data: URL".into(),
        );
        return;
    }
    let server = FakeServer::new(ViewSpec::privileged(&unique("ses")));
    // The stream says the session ended; the scripted server itself keeps answering with
    // the view, so the ending can only have come through the stream.
    *server.events.borrow_mut() = Some(stream_url(
        "event: terminated\ndata: {\"reason\":\"suspended\"}\n\n",
        "text/event-stream",
    ));
    let a = start(server.clone(), "tab_push_aaa", None, true);
    let b = start(server.clone(), "tab_push_bbb", None, true);
    assert!(
        wait_for(5_000, || ended_with(&a, Reason::Suspended)
            && ended_with(&b, Reason::Suspended))
        .await,
        "{:?} {:?} {:?}",
        a.snapshot().state,
        b.snapshot().state,
        server.calls()
    );
    let calls = server.calls();
    assert!(calls.iter().any(|c| c == "events"), "{calls:?}");
    assert!(
        !calls.iter().any(|c| c.starts_with("logout:")),
        "the server ended it: {calls:?}"
    );
    assert_eq!(*server.ended.borrow(), None);
    a.stop();
    b.stop();
}

#[wasm_bindgen_test]
async fn a_stream_the_browser_gives_up_on_is_opened_again_after_the_back_off() {
    let server = FakeServer::new(ViewSpec::privileged(&unique("ses")));
    // Not an event stream: the browser fails the connection and does not retry.
    *server.events.borrow_mut() = Some(stream_url("nothing", "text/plain"));
    let a = start(server.clone(), "tab_reopen_a", None, true);
    let opened = |server: &FakeServer| server.calls().iter().filter(|c| *c == "events").count();
    assert!(wait_for(3_000, || opened(&server) == 1).await);
    // The stream is opened again 5 s later (the engine's back-off), not before.
    wait::sleep(3_000).await;
    assert_eq!(opened(&server), 1, "{:?}", server.calls());
    assert!(
        wait_for(4_000, || opened(&server) == 2).await,
        "{:?}",
        server.calls()
    );
    assert!(is_active(&a));
    a.stop();
}
