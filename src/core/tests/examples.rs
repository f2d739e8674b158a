//! One example per input and per reason, on one engine or through the harness.

use crate::core::harness::{local, Harness, Server, MINUTE, SESSION_ID};
use crate::core::Millis;
use crate::core::{
    ConsentState, DurationMs, Effect, Engine, EngineConfig, LeaderMode, LifetimeWarning, LocalTime,
    PeerBody, PeerMessage, PolicyOverride, Reason, RecordingStatus, ServerTime, State,
    PROTOCOL_VERSION, REPORT_SETTLE, SESSION_WAIT,
};

const T0: i64 = 1_764_000_000_000;

/// A follower tab's engine with a view. Its leader heartbeat check is pushed out of the way
/// (one a day): these examples are about other rules, and `resilience.rs` covers the leader.
fn engine(server: &Server) -> Engine {
    let mut engine = Engine::new(EngineConfig {
        heartbeat_interval: DurationMs::from_millis(24 * 60 * MINUTE),
        ..EngineConfig::new("tab_me00")
    });
    engine.handle_server_view(server.view(T0), local(T0));
    engine.handle_push_stream(true, local(T0));
    drain(&mut engine);
    engine
}

fn drain(engine: &mut Engine) -> Vec<Effect> {
    std::iter::from_fn(|| engine.poll_effect()).collect()
}

fn peer(body: PeerBody) -> String {
    peer_from("tab_other", body)
}

fn peer_from(tab: &str, body: PeerBody) -> String {
    PeerMessage {
        v: PROTOCOL_VERSION,
        session_id: SESSION_ID.into(),
        tab_id: tab.into(),
        body,
    }
    .encode()
}

fn decoded(effects: &[Effect]) -> Vec<PeerBody> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Broadcast(text) => PeerMessage::decode(text, SESSION_ID).ok().map(|m| m.body),
            _ => None,
        })
        .collect()
}

fn ended(reason: Reason) -> State {
    State::Ended {
        reason: Some(reason),
    }
}

#[test]
fn starting_renders_nothing_and_retries_when_unreachable() {
    let mut engine = Engine::new(EngineConfig::new("tab_me00"));
    assert_eq!(engine.poll_timeout().map(LocalTime::as_millis), None);
    engine.handle_server_unreachable(local(T0));
    assert_eq!(engine.state(), &State::Starting);
    assert!(engine.connection_problem());
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 5_000)
    );
    engine.handle_timeout(local(T0 + 5_000));
    assert_eq!(drain(&mut engine), [Effect::FetchSession]);
    engine.handle_server_view(Server::privileged(T0).view(T0 + 5_100), local(T0 + 5_100));
    assert_eq!(engine.state(), &State::Active);
    assert!(!engine.connection_problem());
    assert_eq!(
        decoded(&drain(&mut engine)),
        [
            PeerBody::Connection {
                reachable: true,
                at: ServerTime::from_millis(T0 + 5_100)
            },
            PeerBody::Hello
        ]
    );
}

#[test]
fn idle_session_warns_then_ends_everywhere() {
    let mut h = Harness::new(Server::privileged(T0), 2, LeaderMode::Lock, |_| {});
    h.start_all();
    h.run_until(T0 + 14 * MINUTE);
    assert_eq!(h.tabs[1].warnings, [(T0 + 14 * MINUTE, T0 + 15 * MINUTE)]);
    assert_eq!(
        h.tabs[0]
            .engine
            .remaining_ms(local(h.now))
            .map(DurationMs::as_millis),
        Some(MINUTE)
    );
    h.run_until(T0 + 16 * MINUTE);
    for tab in &h.tabs {
        assert_eq!(tab.engine.state(), &ended(Reason::IdleTimeout));
        assert_eq!(tab.ended_at, Some(T0 + 15 * MINUTE));
        assert_eq!(tab.redirects, [Some(Reason::IdleTimeout)]);
    }
    assert_eq!(h.server.ended, Some(Reason::IdleTimeout));
}

#[test]
fn an_idle_deadline_asks_the_server_and_ends_with_its_answer() {
    let server = Server::privileged(T0);
    let mut engine = engine(&server);
    engine.handle_timeout(local(T0 + 15 * MINUTE));
    assert_eq!(drain(&mut engine), [Effect::FetchSession]);
    assert!(matches!(engine.state(), State::Warning { .. }));
    engine.handle_server_terminated(Reason::IdleTimeout, local(T0 + 15 * MINUTE + 30));
    let effects = drain(&mut engine);
    assert_eq!(
        decoded(&effects),
        [PeerBody::Logout {
            reason: Reason::IdleTimeout
        }]
    );
    assert_eq!(
        effects[1..],
        [Effect::Redirect {
            reason: Some(Reason::IdleTimeout),
            idle_limit: Some(DurationMs::from_millis(15 * MINUTE)),
        }],
        "the server ended it: no logout request"
    );
}

#[test]
fn idle_ending_without_a_server_tells_peers_and_server_then_redirects() {
    let server = Server::privileged(T0);
    let mut engine = engine(&server);
    engine.handle_timeout(local(T0 + 15 * MINUTE));
    assert_eq!(drain(&mut engine), [Effect::FetchSession]);
    engine.handle_server_unreachable(local(T0 + 15 * MINUTE + 10));
    let effects = drain(&mut engine);
    assert_eq!(
        decoded(&effects),
        [
            PeerBody::Connection {
                reachable: false,
                at: ServerTime::from_millis(T0 + 15 * MINUTE + 10)
            },
            PeerBody::Logout {
                reason: Reason::IdleTimeout
            }
        ]
    );
    assert_eq!(
        effects[2..],
        [
            Effect::EndServerSession {
                reason: Reason::IdleTimeout
            },
            Effect::Redirect {
                reason: Some(Reason::IdleTimeout),
                idle_limit: Some(DurationMs::from_millis(15 * MINUTE)),
            }
        ]
    );
}

#[test]
fn an_unanswered_deadline_ends_after_the_confirmation_wait() {
    let mut engine = engine(&Server::privileged(T0));
    engine.handle_timeout(local(T0 + 15 * MINUTE));
    assert_eq!(drain(&mut engine), [Effect::FetchSession]);
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 15 * MINUTE + 15_000)
    );
    engine.handle_timeout(local(T0 + 15 * MINUTE + 15_000));
    assert_eq!(engine.state(), &ended(Reason::IdleTimeout));
    assert!(drain(&mut engine).contains(&Effect::EndServerSession {
        reason: Reason::IdleTimeout
    }));
}

#[test]
fn a_shortened_local_deadline_ends_once_a_view_confirms_the_clock() {
    let mut engine = Engine::new(EngineConfig {
        policy_override: Some(PolicyOverride {
            idle_timeout: Some(2 * MINUTE),
            warning_lead: None,
        }),
        heartbeat_interval: DurationMs::from_millis(24 * 60 * MINUTE),
        ..EngineConfig::new("tab_me00")
    });
    let server = Server::privileged(T0);
    engine.handle_server_view(server.view(T0), local(T0));
    drain(&mut engine);
    engine.handle_timeout(local(T0 + 2 * MINUTE));
    assert_eq!(drain(&mut engine), [Effect::FetchSession]);
    // The server's deadline is 13 minutes away, so it answers with a view; the view's own
    // clock is past the shortened deadline, which is then the tab's to enforce.
    engine.handle_server_view(
        server.view(T0 + 2 * MINUTE + 40),
        local(T0 + 2 * MINUTE + 40),
    );
    assert_eq!(engine.state(), &ended(Reason::IdleTimeout));
}

#[test]
fn activity_in_one_tab_cancels_the_warning_in_all() {
    let mut h = Harness::new(Server::privileged(T0), 3, LeaderMode::Lock, |_| {});
    h.start_all();
    h.run_until(T0 + 14 * MINUTE + 10_000);
    assert!(h
        .states()
        .iter()
        .all(|s| matches!(s, State::Warning { .. })));
    h.activity(2);
    assert_eq!(h.states(), vec![State::Active; 3]);
    // The server's deadline is 50 s away: the leader lets the tabs redraw first.
    assert_eq!(h.tabs[0].keepalives, 0);
    let settle = REPORT_SETTLE.as_millis();
    h.run_until(T0 + 14 * MINUTE + 10_000 + settle - 1);
    assert_eq!(h.tabs[0].keepalives, 0);
    h.run_until(T0 + 14 * MINUTE + 10_000 + settle);
    assert_eq!(
        h.tabs[0].keepalives, 1,
        "the leader reports the rescue one settle after it"
    );
    h.run_until(T0 + 29 * MINUTE);
    assert!(h.states().iter().all(|s| *s != State::Active));
    assert!(h.tabs.iter().all(|t| t.ended_at.is_none()));
}

#[test]
fn stay_signed_in_from_a_follower_reaches_the_server_at_once() {
    let mut h = Harness::new(Server::privileged(T0), 2, LeaderMode::Lock, |_| {});
    h.start_all();
    h.run_until(T0 + 14 * MINUTE + 30_000);
    h.input(1, |engine, now| engine.handle_stay_signed_in(now));
    h.run_until(T0 + 14 * MINUTE + 30_000 + REPORT_SETTLE.as_millis());
    assert_eq!(h.tabs[1].keepalives, 0, "only the leader sends keepalives");
    assert_eq!(h.tabs[0].keepalives, 1);
    assert_eq!(h.server.last_activity, T0 + 14 * MINUTE + 30_000);
    assert_eq!(h.states(), vec![State::Active; 2]);
}

#[test]
fn keepalives_are_spaced_and_carry_idle_time() {
    let server = Server::privileged(T0);
    let mut engine = engine(&server);
    engine.handle_leadership(true, local(T0));
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 14 * MINUTE)
    );
    engine.handle_activity(local(T0 + 1_000));
    let effects = drain(&mut engine);
    assert!(!effects
        .iter()
        .any(|e| matches!(e, Effect::SendKeepalive { .. })));
    // The report waits one settle, so the tabs redraw before the request starts; it says
    // how long ago the activity was and when it was.
    let settle = REPORT_SETTLE.as_millis();
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 1_000 + settle)
    );
    engine.handle_timeout(local(T0 + 1_000 + settle));
    assert_eq!(
        drain(&mut engine),
        [Effect::SendKeepalive {
            idle_ms: DurationMs::from_millis(settle),
            last_activity_at: ServerTime::from_millis(T0 + 1_000),
        }]
    );
    engine.handle_activity(local(T0 + 2_000));
    assert!(drain(&mut engine).is_empty());
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 3_000),
        "trailing broadcast"
    );
    engine.handle_timeout(local(T0 + 3_000));
    assert_eq!(
        decoded(&drain(&mut engine)),
        [PeerBody::Activity {
            at: ServerTime::from_millis(T0 + 2_000)
        }]
    );
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 61_000 + settle),
        "next keepalive slot"
    );
    engine.handle_timeout(local(T0 + 61_000 + settle));
    assert_eq!(
        drain(&mut engine),
        [Effect::SendKeepalive {
            idle_ms: DurationMs::from_millis(59_000 + settle),
            last_activity_at: ServerTime::from_millis(T0 + 2_000),
        }]
    );
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 2_000 + 14 * MINUTE)
    );
}

/// How many keepalives `engine` sends in the input `act` feeds it.
fn keepalives_at_once(engine: &mut Engine, act: impl FnOnce(&mut Engine)) -> usize {
    drain(engine);
    act(engine);
    drain(engine)
        .iter()
        .filter(|e| matches!(e, Effect::SendKeepalive { .. }))
        .count()
}

#[test]
fn a_report_waits_one_settle_unless_the_servers_deadline_is_near_or_the_tab_is_hidden() {
    let server = Server::privileged(T0);
    let in_warning = |at: Millis| {
        let mut engine = engine(&server);
        engine.handle_leadership(true, local(T0));
        engine.handle_timeout(local(at));
        assert!(matches!(engine.state(), State::Warning { .. }));
        engine
    };
    // 50 s before the server's deadline: the tabs redraw first.
    let far = T0 + 14 * MINUTE + 10_000;
    let mut engine = in_warning(far);
    assert_eq!(
        keepalives_at_once(&mut engine, |e| e.handle_activity(local(far))),
        0
    );
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(far + REPORT_SETTLE.as_millis())
    );
    // Half a second before it: waiting could let the report arrive too late.
    let near = T0 + 15 * MINUTE - 500;
    let mut engine = in_warning(near);
    assert_eq!(
        keepalives_at_once(&mut engine, |e| e.handle_activity(local(near))),
        1
    );
    // The edge: a report that would arrive a settle later waits only while the server's
    // deadline is more than a second after it.
    let settle = REPORT_SETTLE.as_millis();
    let last_to_wait = T0 + 15 * MINUTE - 1_000 - settle - 1;
    let mut engine = in_warning(last_to_wait);
    assert_eq!(
        keepalives_at_once(&mut engine, |e| e.handle_activity(local(last_to_wait))),
        0
    );
    let mut engine = in_warning(last_to_wait + 1);
    assert_eq!(
        keepalives_at_once(&mut engine, |e| e.handle_activity(local(last_to_wait + 1))),
        1
    );
    // A hidden leader hears another tab's rescue: the browser may hold its timers back.
    let mut engine = in_warning(far);
    engine.handle_page_visibility(false, local(far));
    let rescue = peer(PeerBody::Activity {
        at: ServerTime::from_millis(far),
    });
    assert_eq!(
        keepalives_at_once(&mut engine, |e| e.handle_peer(&rescue, local(far))),
        1
    );
    // The same message in a visible leader waits one settle.
    let mut engine = in_warning(far);
    assert_eq!(
        keepalives_at_once(&mut engine, |e| e.handle_peer(&rescue, local(far))),
        0
    );
    engine.handle_timeout(local(far + REPORT_SETTLE.as_millis()));
    assert!(drain(&mut engine)
        .iter()
        .any(|e| matches!(e, Effect::SendKeepalive { .. })));
}

#[test]
fn a_prompt_report_does_not_wait_for_the_keepalive_slot_nor_for_activity_to_stop() {
    let server = Server::privileged(T0);
    let settle = REPORT_SETTLE.as_millis();
    let mut engine = engine(&server);
    engine.handle_leadership(true, local(T0));
    engine.handle_activity(local(T0 + 1_000));
    engine.handle_timeout(local(T0 + 1_000 + settle));
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 1_000 + 14 * MINUTE),
        "nothing left to report before the warning"
    );
    // Another tab's user asks to stay signed in, well before the next keepalive slot (a
    // minute after the last) and before any warning: the report goes one settle later.
    let asked = T0 + 5_000;
    let stay = peer(PeerBody::StaySignedIn {
        at: ServerTime::from_millis(asked),
    });
    assert_eq!(
        keepalives_at_once(&mut engine, |e| e.handle_peer(&stay, local(asked))),
        0
    );
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(asked + settle)
    );
    engine.handle_timeout(local(asked + settle));
    assert!(drain(&mut engine)
        .iter()
        .any(|e| matches!(e, Effect::SendKeepalive { .. })));

    // Activity that goes on (a throttle of zero: an event every few milliseconds) does
    // not put off the report that ends a warning; it carries the latest activity.
    let far = T0 + 5_000 + 14 * MINUTE + 10_000;
    engine.handle_timeout(local(far));
    assert!(matches!(engine.state(), State::Warning { .. }));
    drain(&mut engine);
    for step in 0..4 {
        engine.handle_activity(local(far + 5 * step));
    }
    assert!(!drain(&mut engine)
        .iter()
        .any(|e| matches!(e, Effect::SendKeepalive { .. })));
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(far + settle)
    );
    engine.handle_timeout(local(far + settle));
    assert!(drain(&mut engine).contains(&Effect::SendKeepalive {
        idle_ms: DurationMs::from_millis(settle - 15),
        last_activity_at: ServerTime::from_millis(far + 15),
    }));
}

#[test]
fn no_keepalive_while_consent_is_pending_and_the_session_starts_when_the_server_stored_it() {
    let mut server = Server::privileged(T0);
    server.recording_required = true;
    server.consent = ConsentState::Pending;
    let mut engine = engine_awaiting(&server);
    engine.handle_leadership(true, local(T0));
    engine.handle_activity(local(T0 + 1_000));
    engine.handle_timeout(local(T0 + 2 * MINUTE));
    assert!(!drain(&mut engine)
        .iter()
        .any(|e| matches!(e, Effect::SendKeepalive { .. })));
    // Accepting is activity that the consent request itself reports (the server sets
    // `last_activity_at` when it stores consent): no keepalive races it.
    engine.handle_consent(true, local(T0 + 2 * MINUTE));
    let effects = drain(&mut engine);
    assert!(effects.contains(&Effect::SendConsent { accepted: true }));
    assert!(!effects
        .iter()
        .any(|e| matches!(e, Effect::SendKeepalive { .. })));
    // Nothing protected starts before the server's answer says consent is stored (it
    // refuses everything else until then), and the other tabs hear of it only then.
    assert_eq!(engine.state(), &State::AwaitingConsent);
    assert!(decoded(&effects).is_empty());
    server.consent = ConsentState::Accepted;
    server.last_activity = T0 + 2 * MINUTE;
    engine.handle_server_view(server.view(T0 + 2 * MINUTE), local(T0 + 2 * MINUTE));
    assert_eq!(engine.state(), &State::Active);
    let effects = drain(&mut engine);
    assert_eq!(decoded(&effects), [PeerBody::Consent { accepted: true }]);
    // The recorder starts with the session; the tab says it records once it runs.
    assert!(effects.contains(&Effect::StartRecorder));
    assert_eq!(engine.recording_status(), RecordingStatus::Starting);
    assert!(!engine.is_recording());
    engine.handle_recorder_started(local(T0 + 2 * MINUTE));
    assert!(engine.is_recording());
    assert_eq!(
        engine
            .remaining_ms(local(T0 + 2 * MINUTE))
            .map(DurationMs::as_millis),
        Some(15 * MINUTE)
    );
    // Later activity is reported as usual.
    engine.handle_activity(local(T0 + 3 * MINUTE));
    engine.handle_timeout(local(T0 + 3 * MINUTE + REPORT_SETTLE.as_millis()));
    assert!(drain(&mut engine).iter().any(|e| matches!(
        e,
        Effect::SendKeepalive { idle_ms, .. } if *idle_ms == REPORT_SETTLE
    )));
}

#[test]
fn activity_broadcasts_are_throttled_without_ticking() {
    let server = Server::privileged(T0);
    let mut engine = engine(&server);
    engine.handle_activity(local(T0 + 100));
    assert_eq!(
        decoded(&drain(&mut engine)),
        [PeerBody::Activity {
            at: ServerTime::from_millis(T0 + 100)
        }]
    );
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 100 + 14 * MINUTE)
    );
    engine.handle_activity(local(T0 + 2_099));
    assert!(drain(&mut engine).is_empty());
    engine.handle_timeout(local(T0 + 2_099));
    assert!(drain(&mut engine).is_empty(), "spurious wake-up is a no-op");
    // The trailing flush falls due first and carries the activity it was waiting for.
    engine.handle_activity(local(T0 + 2_100));
    assert_eq!(
        decoded(&drain(&mut engine)),
        [PeerBody::Activity {
            at: ServerTime::from_millis(T0 + 2_099)
        }]
    );
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 4_100)
    );
}

#[test]
fn absolute_expiry_ends_even_an_active_session() {
    let mut server = Server::privileged(T0);
    server.expires_at = T0 + 10 * MINUTE;
    let mut h = Harness::new(server, 2, LeaderMode::Lock, |_| {});
    h.start_all();
    for minute in 1..12 {
        h.run_until(T0 + minute * MINUTE);
        h.activity(minute as usize % 2);
    }
    for tab in &h.tabs {
        assert_eq!(tab.engine.state(), &ended(Reason::SessionExpired));
        assert_eq!(tab.ended_at, Some(T0 + 10 * MINUTE));
    }
}

#[test]
fn non_privileged_sessions_never_idle_out() {
    let mut server = Server::privileged(T0);
    server.privileged = false;
    let mut engine = engine(&server);
    assert_eq!(engine.policy().and_then(|p| p.idle_timeout), None);
    // The only wake-up is the lifetime warning's, 10 minutes before the absolute end.
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(server.expires_at - 10 * MINUTE)
    );
    engine.handle_timeout(local(T0 + 23 * 60 * MINUTE));
    assert_eq!(engine.state(), &State::Active);
    engine.handle_timeout(local(server.expires_at));
    assert_eq!(drain(&mut engine), [Effect::FetchSession]);
    engine.handle_server_terminated(Reason::SessionExpired, local(server.expires_at + 20));
    assert_eq!(engine.state(), &ended(Reason::SessionExpired));
}

#[test]
fn server_terminations_end_without_telling_the_server() {
    for reason in [
        Reason::RoleChanged,
        Reason::Suspended,
        Reason::RemoteTerminated,
        Reason::from_wire("future_reason"),
    ] {
        let mut h = Harness::new(Server::privileged(T0), 2, LeaderMode::Lock, |_| {});
        h.start_all();
        h.tabs[1].push_connected = false;
        let r = reason.clone();
        h.input(0, move |engine, now| {
            engine.handle_server_terminated(r, now)
        });
        assert_eq!(h.server.ended, None, "no logout request for {reason:?}");
        assert_eq!(h.states(), vec![ended(reason.clone()); 2]);
        assert_eq!(h.tabs[1].redirects, [Some(reason)]);
    }
}

#[test]
fn unauthenticated_redirects_without_reason() {
    let mut engine = engine(&Server::privileged(T0));
    engine.handle_server_unauthenticated(local(T0 + 1));
    assert_eq!(engine.state(), &State::Ended { reason: None });
    assert_eq!(
        drain(&mut engine),
        [Effect::Redirect {
            reason: None,
            idle_limit: Some(DurationMs::from_millis(15 * MINUTE)),
        }]
    );
}

#[test]
fn unreachable_server_is_not_a_logout() {
    let mut engine = engine(&Server::privileged(T0));
    engine.handle_server_unreachable(local(T0 + 1));
    assert!(engine.connection_problem());
    assert_eq!(engine.state(), &State::Active);
    assert_eq!(
        decoded(&drain(&mut engine)),
        [PeerBody::Connection {
            reachable: false,
            at: ServerTime::from_millis(T0 + 1)
        }],
        "only the other tabs hear of it"
    );
    engine.handle_server_view(Server::privileged(T0).view(T0 + 2), local(T0 + 2));
    assert!(!engine.connection_problem());
    assert_eq!(
        decoded(&drain(&mut engine)),
        [PeerBody::Connection {
            reachable: true,
            at: ServerTime::from_millis(T0 + 2)
        }]
    );
}

#[test]
fn only_the_leader_polls_and_only_while_its_push_stream_is_down() {
    let mut follower = engine(&Server::privileged(T0));
    follower.handle_push_stream(false, local(T0 + 1_000));
    assert_eq!(
        follower.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 14 * MINUTE),
        "a follower hears of endings from the leader"
    );

    let mut engine = engine(&Server::privileged(T0));
    engine.handle_leadership(true, local(T0 + 500));
    drain(&mut engine);
    engine.handle_push_stream(false, local(T0 + 1_000));
    // The stream is down: a held request at once instead of a poll every 5 s.
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 1_000)
    );
    engine.handle_timeout(local(T0 + 1_000));
    let wait = || Effect::AwaitSessionChange { wait: SESSION_WAIT };
    assert_eq!(drain(&mut engine), [wait()]);
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 14 * MINUTE),
        "nothing to poll while the request is held"
    );
    // The wait elapsed: the server answered with the view, the next request starts at once.
    engine.handle_server_view(Server::privileged(T0).view(T0 + 26_000), local(T0 + 26_000));
    engine.handle_session_wait_over(local(T0 + 26_000));
    engine.handle_timeout(local(T0 + 26_000));
    assert_eq!(drain(&mut engine), [wait()]);
    // A quick answer (a view change): the next one waits for the spacing.
    engine.handle_session_wait_over(local(T0 + 26_100));
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 27_000)
    );
    engine.handle_timeout(local(T0 + 27_000));
    assert_eq!(drain(&mut engine), [wait()]);
    // The request failed: plain polling until the server answers again.
    engine.handle_server_unreachable(local(T0 + 28_000));
    engine.handle_session_wait_over(local(T0 + 28_000));
    drain(&mut engine);
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 33_000)
    );
    engine.handle_timeout(local(T0 + 33_000));
    assert_eq!(drain(&mut engine), [Effect::FetchSession]);
    engine.handle_push_stream(true, local(T0 + 34_000));
    engine.handle_server_view(Server::privileged(T0).view(T0 + 34_000), local(T0 + 34_000));
    drain(&mut engine);
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 14 * MINUTE)
    );
}

#[test]
fn with_the_push_stream_blocked_a_termination_reaches_every_tab_at_once_and_idle_costs_less() {
    let mut h = Harness::new(Server::privileged(T0), 3, LeaderMode::Lock, |_| {});
    for tab in &mut h.tabs {
        tab.push_connected = false;
    }
    h.start_all();
    h.run_until(T0 + 10 * MINUTE);
    assert_eq!(h.states(), vec![State::Active; 3]);
    // Idle for ten minutes: one held request per 25 s, where polling made one per 5 s.
    let reads = h.tabs[0].session_reads;
    assert!(
        (20..=26).contains(&reads),
        "{reads} reads of the session in ten minutes"
    );
    assert!(h.tabs[1..].iter().all(|tab| tab.session_reads == 0));
    h.terminate(Reason::RemoteTerminated);
    assert_eq!(h.states(), vec![ended(Reason::RemoteTerminated); 3]);
    for tab in &h.tabs {
        assert_eq!(
            tab.ended_at,
            Some(T0 + 10 * MINUTE),
            "at once, not at the next poll"
        );
    }
}

#[test]
fn logout_ends_every_tab_and_the_server_session() {
    let mut h = Harness::new(Server::privileged(T0), 3, LeaderMode::Lock, |_| {});
    h.start_all();
    h.input(1, |engine, now| engine.handle_logout(now));
    assert_eq!(h.server.ended, Some(Reason::LoggedOut));
    assert_eq!(h.states(), vec![ended(Reason::LoggedOut); 3]);
    assert!(h
        .tabs
        .iter()
        .all(|t| t.redirects == [Some(Reason::LoggedOut)]));
}

#[test]
fn visible_checks_deadlines_at_once_and_refreshes() {
    let mut engine = engine(&Server::privileged(T0));
    engine.handle_visible(local(T0 + MINUTE));
    assert_eq!(drain(&mut engine), [Effect::FetchSession]);
    // A throttled background tab wakes up late: the old state must not act first, and the
    // user's return (activity) cannot revive what the server has to decide.
    engine.handle_visible(local(T0 + 40 * MINUTE));
    engine.handle_activity(local(T0 + 40 * MINUTE));
    engine.handle_stay_signed_in(local(T0 + 40 * MINUTE));
    assert_eq!(drain(&mut engine), [Effect::FetchSession], "one question");
    engine.handle_server_unreachable(local(T0 + 40 * MINUTE + 5));
    assert_eq!(engine.state(), &ended(Reason::IdleTimeout));
}

#[test]
fn consent_accepted_in_one_tab_starts_all() {
    let mut server = Server::privileged(T0);
    server.recording_required = true;
    server.consent = ConsentState::Pending;
    let mut h = Harness::new(server, 2, LeaderMode::Lock, |_| {});
    h.start_all();
    assert_eq!(h.states(), vec![State::AwaitingConsent; 2]);
    assert!(!h.tabs[0].engine.is_recording());
    h.input(1, |engine, now| engine.handle_consent(true, now));
    assert_eq!(h.states(), vec![State::Active; 2]);
    assert!(h.tabs.iter().all(|t| t.engine.is_recording()));
    assert_eq!(h.server.consent, ConsentState::Accepted);
}

#[test]
fn consent_declined_ends_every_tab() {
    let mut server = Server::privileged(T0);
    server.recording_required = true;
    server.consent = ConsentState::Pending;
    let mut engine = engine(&server);
    engine.handle_consent(false, local(T0 + 1));
    let effects = drain(&mut engine);
    assert_eq!(effects[0], Effect::SendConsent { accepted: false });
    assert_eq!(
        decoded(&effects),
        [PeerBody::Logout {
            reason: Reason::ConsentDeclined
        }]
    );
    assert_eq!(
        effects.last(),
        Some(&Effect::Redirect {
            reason: Some(Reason::ConsentDeclined),
            idle_limit: Some(DurationMs::from_millis(15 * MINUTE)),
        })
    );
    assert!(!effects
        .iter()
        .any(|e| matches!(e, Effect::EndServerSession { .. })));

    let mut other = engine_awaiting(&server);
    other.handle_peer(&peer(PeerBody::Consent { accepted: false }), local(T0 + 2));
    assert_eq!(other.state(), &ended(Reason::ConsentDeclined));
}

fn engine_awaiting(server: &Server) -> Engine {
    let engine = engine(server);
    assert_eq!(engine.state(), &State::AwaitingConsent);
    engine
}

#[test]
fn a_late_tab_learns_consent_and_activity_from_hello() {
    let mut server = Server::privileged(T0);
    server.recording_required = true;
    server.consent = ConsentState::Pending;
    let mut h = Harness::new(server, 2, LeaderMode::Lock, |_| {});
    h.start(0);
    h.input(0, |engine, now| engine.handle_consent(true, now));
    h.run_until(T0 + 5 * MINUTE);
    h.activity(0);
    // The second tab's view is stale: it predates consent and the activity.
    h.server.consent = ConsentState::Pending;
    h.start(1);
    assert_eq!(h.tabs[1].engine.state(), &State::Active);
    assert_eq!(
        h.tabs[1]
            .engine
            .remaining_ms(local(h.now))
            .map(DurationMs::as_millis),
        Some(15 * MINUTE)
    );
}

#[test]
fn heartbeat_mode_elects_the_lowest_tab() {
    let mut h = Harness::new(Server::privileged(T0), 3, LeaderMode::Heartbeat, |_| {});
    for i in [2, 1, 0] {
        h.start(i);
    }
    h.run_until(T0 + MINUTE);
    let leaders: Vec<bool> = h.tabs.iter().map(|t| t.engine.is_leader()).collect();
    assert_eq!(leaders, [true, false, false]);
    // Lock mode ignores the election input in heartbeat mode and vice versa.
    h.input(1, |engine, now| engine.handle_leadership(true, now));
    assert!(!h.tabs[1].engine.is_leader());
}

#[test]
fn a_lone_heartbeat_tab_claims_after_two_silent_intervals() {
    let mut engine = Engine::new(EngineConfig {
        leader_mode: LeaderMode::Heartbeat,
        ..EngineConfig::new("tab_me00")
    });
    engine.handle_server_view(Server::privileged(T0).view(T0), local(T0));
    engine.handle_push_stream(true, local(T0));
    drain(&mut engine);
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 2_000)
    );
    engine.handle_timeout(local(T0 + 2_000));
    assert!(engine.is_leader());
    assert_eq!(
        drain(&mut engine),
        [
            Effect::Broadcast(peer_from(
                "tab_me00",
                PeerBody::LeaderHeartbeat {
                    at: ServerTime::from_millis(T0 + 2_000)
                }
            )),
            Effect::FetchSession,
            Effect::OpenPush
        ],
        "a new leader announces itself, checks the session and holds the push stream"
    );
    engine.handle_peer(
        &peer(PeerBody::LeaderHeartbeat {
            at: ServerTime::from_millis(T0 + 2_500),
        }),
        local(T0 + 2_500),
    );
    assert!(engine.is_leader(), "tab_me < tab_other keeps the lead");
    let lower = PeerMessage {
        v: PROTOCOL_VERSION,
        session_id: SESSION_ID.into(),
        tab_id: "tab_a000".into(),
        body: PeerBody::LeaderHeartbeat {
            at: ServerTime::from_millis(T0 + 2_800),
        },
    };
    engine.handle_peer(&lower.encode(), local(T0 + 2_800));
    assert!(!engine.is_leader(), "tab_a < tab_me takes over");
}

#[test]
fn a_hidden_follower_leaves_a_silent_leader_alone_until_it_is_shown() {
    let mut engine = Engine::new(EngineConfig::new("tab_me00"));
    engine.handle_server_view(Server::privileged(T0).view(T0), local(T0));
    engine.handle_push_stream(true, local(T0));
    engine.handle_page_visibility(false, local(T0 + 500));
    drain(&mut engine);
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 14 * MINUTE),
        "no leader check"
    );
    engine.handle_timeout(local(T0 + MINUTE));
    assert!(drain(&mut engine).is_empty());
    engine.handle_page_visibility(true, local(T0 + MINUTE + 1));
    assert_eq!(
        drain(&mut engine),
        [Effect::TakeOverLeadership, Effect::FetchSession],
        "shown again, it takes over from the silent leader at once"
    );
}

#[test]
fn lock_mode_only_the_leader_sends_keepalives() {
    let mut engine = engine(&Server::privileged(T0));
    engine.handle_activity(local(T0 + 1));
    engine.handle_timeout(local(T0 + 10 * MINUTE));
    assert!(!drain(&mut engine)
        .iter()
        .any(|e| matches!(e, Effect::SendKeepalive { .. })));
    engine.handle_leadership(true, local(T0 + 10 * MINUTE));
    assert_eq!(
        drain(&mut engine),
        [
            Effect::Broadcast(peer_from(
                "tab_me00",
                PeerBody::LeaderHeartbeat {
                    at: ServerTime::from_millis(T0 + 10 * MINUTE)
                }
            )),
            Effect::FetchSession,
            Effect::SendKeepalive {
                idle_ms: DurationMs::from_millis(10 * MINUTE - 1),
                last_activity_at: ServerTime::from_millis(T0 + 1),
            },
            Effect::OpenPush
        ]
    );
    engine.handle_leadership(false, local(T0 + 10 * MINUTE));
    assert!(!engine.is_leader());
}

#[test]
fn ended_is_sticky_and_silent() {
    let server = Server::privileged(T0);
    let mut engine = engine(&server);
    engine.handle_server_terminated(Reason::Suspended, local(T0 + 1));
    drain(&mut engine);
    engine.handle_logout(local(T0 + 2));
    engine.handle_activity(local(T0 + 3));
    engine.handle_visible(local(T0 + 4));
    engine.handle_server_view(server.view(T0 + 5), local(T0 + 5));
    engine.handle_peer(
        &peer(PeerBody::Logout {
            reason: Reason::LoggedOut,
        }),
        local(T0 + 6),
    );
    engine.handle_timeout(local(T0 + 99 * MINUTE));
    assert_eq!(engine.state(), &ended(Reason::Suspended));
    assert!(drain(&mut engine).is_empty());
    assert_eq!(engine.poll_timeout().map(LocalTime::as_millis), None);
    assert_eq!(
        engine
            .remaining_ms(local(T0 + 7))
            .map(DurationMs::as_millis),
        None
    );
}

#[test]
fn a_view_of_another_session_ends_this_one() {
    let server = Server::privileged(T0);
    let mut engine = engine(&server);
    let mut other = server.view(T0 + 1);
    other.session_id = "ses_other".into();
    engine.handle_server_view(other, local(T0 + 1));
    assert_eq!(engine.state(), &State::Ended { reason: None });
}

#[test]
fn peer_times_too_far_ahead_are_ignored() {
    let mut engine = engine(&Server::privileged(T0));
    engine.handle_peer(
        &peer(PeerBody::Activity {
            at: ServerTime::from_millis(T0 + 5_001),
        }),
        local(T0),
    );
    assert_eq!(
        engine.remaining_ms(local(T0)).map(DurationMs::as_millis),
        Some(15 * MINUTE)
    );
    engine.handle_peer(
        &peer(PeerBody::Activity {
            at: ServerTime::from_millis(T0 + 4_000),
        }),
        local(T0),
    );
    // Accepted, but never counted later than the receiver's own now.
    assert_eq!(
        engine.remaining_ms(local(T0)).map(DurationMs::as_millis),
        Some(15 * MINUTE)
    );
    engine.handle_peer(
        &peer(PeerBody::Activity {
            at: ServerTime::from_millis(T0 + 4_000),
        }),
        local(T0 + 4_000),
    );
    assert_eq!(
        engine
            .remaining_ms(local(T0 + 4_000))
            .map(DurationMs::as_millis),
        Some(15 * MINUTE)
    );
}

#[test]
fn own_echo_and_foreign_sessions_are_ignored() {
    let mut engine = engine(&Server::privileged(T0));
    let own = PeerMessage {
        v: PROTOCOL_VERSION,
        session_id: SESSION_ID.into(),
        tab_id: "tab_me00".into(),
        body: PeerBody::Logout {
            reason: Reason::LoggedOut,
        },
    };
    engine.handle_peer(&own.encode(), local(T0 + 1));
    let foreign = PeerMessage {
        session_id: "ses_other".into(),
        tab_id: "tab_x000".into(),
        ..own
    };
    engine.handle_peer(&foreign.encode(), local(T0 + 1));
    assert_eq!(engine.state(), &State::Active);
}

#[test]
fn policy_override_only_shortens() {
    let server = Server::privileged(T0);
    for (idle, expected) in [
        (Some(2 * MINUTE), 2 * MINUTE),
        (Some(60 * MINUTE), 15 * MINUTE),
    ] {
        let mut engine = Engine::new(EngineConfig {
            policy_override: Some(PolicyOverride {
                idle_timeout: idle,
                warning_lead: Some(10_000),
            }),
            ..EngineConfig::new("tab_me00")
        });
        engine.handle_server_view(server.view(T0), local(T0));
        let policy = engine.policy().cloned().unwrap();
        assert_eq!(policy.idle_timeout, Some(expected));
        assert_eq!(policy.warning_lead, 10_000);
    }
}

#[test]
fn skewed_local_clock_ends_at_the_right_real_time() {
    let mut h = Harness::new(Server::privileged(T0), 2, LeaderMode::Lock, |_| {});
    h.tabs[1].skew = -3 * 60 * MINUTE;
    h.server.offset = 17_000;
    h.now -= 17_000;
    h.server.last_activity = h.now + h.server.offset;
    let start = h.now;
    h.start_all();
    h.run_until(start + 20 * MINUTE);
    for tab in &h.tabs {
        assert_eq!(tab.ended_at, Some(start + 15 * MINUTE));
        assert_eq!(tab.warnings[0].0, start + 14 * MINUTE);
    }
    assert_eq!(
        h.tabs[1].warnings[0].1,
        start + 15 * MINUTE - 3 * 60 * MINUTE
    );
}

#[test]
fn a_backward_clock_jump_resumes_from_the_last_instant() {
    let mut engine = engine(&Server::privileged(T0));
    engine.handle_activity(local(T0 + MINUTE));
    // The wall clock goes back an hour; the browser timer still fires on time (real 15 min).
    let jumped = T0 + 15 * MINUTE - 60 * MINUTE;
    engine.handle_timeout(local(jumped));
    assert_eq!(engine.state(), &State::Active);
    // Time resumed at the last instant seen (1 min) instead of freezing for an hour.
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(jumped + 14 * MINUTE)
    );
    engine.handle_timeout(local(jumped + 15 * MINUTE));
    engine.handle_server_unreachable(local(jumped + 15 * MINUTE));
    assert_eq!(engine.state(), &ended(Reason::IdleTimeout));
}

#[test]
fn a_view_after_a_forward_jump_pulls_deadlines_back() {
    let mut engine = engine(&Server::privileged(T0));
    let ahead = 10 * MINUTE;
    engine.handle_activity(local(T0 + MINUTE + ahead));
    // The server's clock says only 2 min passed: the activity stamped 10 min ahead moves back.
    engine.handle_server_view(
        Server::privileged(T0).view(T0 + 2 * MINUTE),
        local(T0 + 2 * MINUTE + ahead),
    );
    assert_eq!(
        engine
            .remaining_ms(local(T0 + 2 * MINUTE + ahead))
            .map(DurationMs::as_millis),
        Some(14 * MINUTE)
    );
}

#[test]
fn the_leader_polls_while_the_server_is_unreachable_even_with_the_push_stream_up() {
    let server = Server::privileged(T0);
    let mut engine = engine(&server);
    engine.handle_leadership(true, local(T0));
    drain(&mut engine);
    // A keepalive fails; the push stream still counts as connected.
    engine.handle_server_unreachable(local(T0 + 1_000));
    drain(&mut engine);
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 6_000)
    );
    engine.handle_timeout(local(T0 + 6_000));
    assert!(drain(&mut engine).contains(&Effect::FetchSession));
    engine.handle_server_unreachable(local(T0 + 6_100));
    engine.handle_timeout(local(T0 + 11_000));
    assert!(
        drain(&mut engine).contains(&Effect::FetchSession),
        "it keeps polling"
    );
    // The answer clears the problem without any activity, and the polling stops.
    engine.handle_server_view(server.view(T0 + 11_100), local(T0 + 11_100));
    assert!(!engine.connection_problem());
    drain(&mut engine);
    engine.handle_timeout(local(T0 + 20_000));
    assert!(!drain(&mut engine).contains(&Effect::FetchSession));
}

#[test]
fn a_follower_that_hears_of_a_connection_problem_polls_once_it_leads() {
    let server = Server::privileged(T0);
    let mut engine = engine(&server);
    engine.handle_peer(
        &peer(PeerBody::Connection {
            reachable: false,
            at: ServerTime::from_millis(T0 + 1_000),
        }),
        local(T0 + 1_000),
    );
    assert!(engine.connection_problem());
    engine.handle_leadership(true, local(T0 + 2_000));
    drain(&mut engine);
    engine.handle_timeout(local(T0 + 6_000));
    assert!(drain(&mut engine).contains(&Effect::FetchSession));
}

#[test]
fn the_lifetime_warning_shows_ten_and_two_minutes_before_the_end() {
    let mut server = Server::privileged(T0);
    server.privileged = false;
    server.expires_at = T0 + 30 * MINUTE;
    let mut engine = engine(&server);
    assert_eq!(engine.lifetime_warning(), None);
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 20 * MINUTE)
    );
    engine.handle_timeout(local(T0 + 20 * MINUTE - 1));
    assert_eq!(engine.lifetime_warning(), None);
    engine.handle_timeout(local(T0 + 20 * MINUTE));
    assert_eq!(
        engine.lifetime_warning(),
        Some(LifetimeWarning {
            ends_at: local(T0 + 30 * MINUTE),
            within: DurationMs::from_millis(10 * MINUTE)
        })
    );
    // Activity cannot extend it.
    engine.handle_activity(local(T0 + 21 * MINUTE));
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 28 * MINUTE)
    );
    engine.handle_timeout(local(T0 + 28 * MINUTE));
    assert_eq!(
        engine.lifetime_warning().map(|w| w.within.as_millis()),
        Some(2 * MINUTE)
    );
    // At the end the server confirms, and the notice goes with the session.
    engine.handle_timeout(local(T0 + 30 * MINUTE));
    assert!(drain(&mut engine).contains(&Effect::FetchSession));
    engine.handle_server_terminated(Reason::SessionExpired, local(T0 + 30 * MINUTE + 50));
    assert_eq!(engine.lifetime_warning(), None);
}

#[test]
fn a_session_shorter_than_the_leads_warns_from_its_start_but_not_before_consent() {
    let mut server = Server::privileged(T0);
    server.expires_at = T0 + 5 * MINUTE;
    server.recording_required = true;
    server.consent = ConsentState::Pending;
    let mut engine = engine(&server);
    assert_eq!(engine.state(), &State::AwaitingConsent);
    assert_eq!(engine.lifetime_warning(), None);
    server.consent = ConsentState::Accepted;
    engine.handle_server_view(server.view(T0 + 1_000), local(T0 + 1_000));
    assert_eq!(
        engine.lifetime_warning().map(|w| w.within.as_millis()),
        Some(10 * MINUTE)
    );
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 3 * MINUTE)
    );
}

#[test]
fn every_tab_warns_of_the_lifetime_end_at_the_same_instant_whatever_its_clock() {
    let mut server = Server::privileged(T0);
    server.expires_at = T0 + 40 * MINUTE;
    let mut h = Harness::new(server, 3, LeaderMode::Lock, |_| {});
    h.tabs[2].skew = 3 * MINUTE;
    h.start_all();
    // The user keeps working: activity never moves the absolute end.
    let mut turn = 0;
    let mut work_until = |h: &mut Harness, end: Millis| {
        while h.now < end {
            h.run_until((h.now + 30_000).min(end));
            h.activity(turn % 3);
            turn += 1;
        }
    };
    work_until(&mut h, T0 + 30 * MINUTE - 1);
    assert!(h.tabs.iter().all(|t| t.engine.lifetime_warning().is_none()));
    h.run_until(T0 + 30 * MINUTE);
    for (i, tab) in h.tabs.iter().enumerate() {
        assert_eq!(
            tab.engine.lifetime_warning(),
            Some(LifetimeWarning {
                ends_at: local(T0 + 40 * MINUTE + tab.skew),
                within: DurationMs::from_millis(10 * MINUTE)
            }),
            "tab {i}"
        );
    }
    work_until(&mut h, T0 + 38 * MINUTE);
    for tab in &h.tabs {
        assert_eq!(
            tab.engine.lifetime_warning().map(|w| w.within.as_millis()),
            Some(2 * MINUTE)
        );
    }
    work_until(&mut h, T0 + 41 * MINUTE);
    for tab in &h.tabs {
        assert_eq!(tab.engine.state(), &ended(Reason::SessionExpired));
        assert_eq!(tab.engine.lifetime_warning(), None);
    }
}

#[test]
fn the_lifetime_warning_says_when_and_that_it_cannot_be_extended() {
    let warning = LifetimeWarning {
        ends_at: local(T0),
        within: DurationMs::from_millis(2 * MINUTE),
    };
    assert_eq!(
        warning.message("14:05 (UTC+01:00)"),
        "Your session ends at 14:05 (UTC+01:00), in less than 2 minutes. It cannot be \
         extended: save your work now, then sign in again to continue."
    );
}
