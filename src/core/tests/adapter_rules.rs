//! The rules the browser adapter used to decide for itself (issue 13), now engine effects:
//! joining the session, who holds the push stream and when it reopens, the tab's
//! registration, the redirect's idle limit and who is signed in.

use crate::core::harness::{local, Harness, Server, MINUTE, SESSION_ID};
use crate::core::{
    ConsentState, DurationMs, Effect, Engine, EngineConfig, LeaderMode, LocalTime, Millis, Reason,
    State, PUSH_REOPEN_DELAY, REGISTRATION_RETRY_DELAY, SESSION_WAIT,
};

const T0: Millis = 1_764_000_000_000;

fn drain(engine: &mut Engine) -> Vec<Effect> {
    std::iter::from_fn(|| engine.poll_effect()).collect()
}

/// The effects that are not cross-tab messages.
fn actions(engine: &mut Engine) -> Vec<Effect> {
    drain(engine)
        .into_iter()
        .filter(|e| !matches!(e, Effect::Broadcast(_)))
        .collect()
}

/// A lock-mode tab that was granted the lock, with everything it did so far drained. Its
/// heartbeat is pushed out of the way (one a day) so the wake-ups are the ones under test.
fn leader() -> Engine {
    let mut engine = Engine::new(EngineConfig {
        heartbeat_interval: DurationMs::from_millis(24 * 60 * MINUTE),
        ..EngineConfig::new("tab_me")
    });
    engine.handle_server_view(Server::privileged(T0).view(T0), local(T0));
    engine.handle_leadership(true, local(T0));
    engine.handle_push_stream(true, local(T0 + 10));
    drain(&mut engine);
    engine
}

#[test]
fn the_first_view_joins_the_session_once_and_queues_for_the_lock_in_lock_mode() {
    for mode in [LeaderMode::Lock, LeaderMode::Heartbeat] {
        let mut engine = Engine::new(EngineConfig {
            leader_mode: mode,
            ..EngineConfig::new("tab_me")
        });
        engine.handle_server_unreachable(local(T0));
        assert_eq!(actions(&mut engine), [], "nothing to join before a view");
        engine.handle_server_view(Server::privileged(T0).view(T0), local(T0));
        let mut expected = vec![Effect::JoinSession {
            session_id: SESSION_ID.into(),
        }];
        if mode == LeaderMode::Lock {
            expected.push(Effect::QueueForLeadership);
        }
        expected.push(Effect::RegisterTab);
        assert_eq!(actions(&mut engine), expected, "{mode:?}");
        engine.handle_server_view(Server::privileged(T0).view(T0 + 5), local(T0 + 5));
        assert_eq!(actions(&mut engine), [], "{mode:?}: joined once");
    }
}

#[test]
fn a_tab_registers_only_once_consent_is_settled() {
    let mut server = Server::privileged(T0);
    server.recording_required = true;
    server.consent = ConsentState::Pending;
    let mut engine = Engine::new(EngineConfig::new("tab_me"));
    engine.handle_server_view(server.view(T0), local(T0));
    assert_eq!(engine.state(), &State::AwaitingConsent);
    assert!(!actions(&mut engine).contains(&Effect::RegisterTab));
    engine.handle_consent(true, local(T0 + 100));
    assert_eq!(
        actions(&mut engine),
        [Effect::SendConsent { accepted: true }],
        "the server refuses registrations until it stored the consent"
    );
    server.consent = ConsentState::Accepted;
    engine.handle_server_view(server.view(T0 + 200), local(T0 + 200));
    assert_eq!(engine.state(), &State::Active);
    assert_eq!(
        actions(&mut engine),
        [Effect::RegisterTab, Effect::StartRecorder]
    );
}

#[test]
fn a_registration_lost_to_a_blip_is_sent_again_after_the_retry_delay() {
    let mut engine = leader();
    engine.handle_tab_registration_lost(local(T0 + 1_000));
    assert_eq!(actions(&mut engine), []);
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(T0 + 1_000 + REGISTRATION_RETRY_DELAY.as_millis()),
        "the retry is the next wake-up"
    );
    engine.handle_timeout(local(T0 + 1_000 + REGISTRATION_RETRY_DELAY.as_millis() - 1));
    assert!(!actions(&mut engine).contains(&Effect::RegisterTab));
    engine.handle_timeout(local(T0 + 1_000 + REGISTRATION_RETRY_DELAY.as_millis()));
    assert!(actions(&mut engine).contains(&Effect::RegisterTab));
    engine.handle_timeout(local(T0 + 10_000));
    assert!(!actions(&mut engine).contains(&Effect::RegisterTab), "once");
}

#[test]
fn a_leaving_page_closes_its_tab_once_and_registers_again_only_when_shown() {
    let mut engine = leader();
    engine.handle_page_left(local(T0 + 1_000));
    assert_eq!(actions(&mut engine), [Effect::CloseTab]);
    engine.handle_page_left(local(T0 + 1_001));
    assert_eq!(actions(&mut engine), [], "closes once");
    // Timers still fire while the page is torn down: they do not register it again.
    for at in (2..10).map(|s| T0 + s * 1_000) {
        engine.handle_timeout(local(at));
        assert!(!actions(&mut engine).contains(&Effect::RegisterTab));
    }
    // Restored from the back/forward cache.
    engine.handle_visible(local(T0 + 10_000));
    assert!(actions(&mut engine).contains(&Effect::RegisterTab));
}

/// A registration whose request failed may still have registered the tab (the server took
/// it and the answer was lost): a page that leaves before the retry closes the tab anyway.
#[test]
fn a_page_that_leaves_while_its_registration_waits_for_a_retry_closes_its_tab() {
    let mut engine = leader();
    engine.handle_tab_registration_lost(local(T0 + 1_000));
    assert_eq!(actions(&mut engine), []);
    engine.handle_page_left(local(T0 + 1_500));
    assert_eq!(actions(&mut engine), [Effect::CloseTab]);
    engine.handle_timeout(local(T0 + 1_000 + REGISTRATION_RETRY_DELAY.as_millis()));
    assert!(
        !actions(&mut engine).contains(&Effect::RegisterTab),
        "a page that left does not register again"
    );
}

#[test]
fn a_page_that_leaves_before_registering_closes_nothing() {
    let mut engine = Engine::new(EngineConfig::new("tab_me"));
    engine.handle_page_left(local(T0));
    engine.handle_server_view(Server::privileged(T0).view(T0), local(T0));
    let effects = actions(&mut engine);
    assert!(!effects.contains(&Effect::CloseTab));
    assert!(!effects.contains(&Effect::RegisterTab), "{effects:?}");
}

#[test]
fn the_push_stream_opens_with_the_lead_and_closes_without_it() {
    let mut engine = Engine::new(EngineConfig::new("tab_me"));
    engine.handle_server_view(Server::privileged(T0).view(T0), local(T0));
    assert!(
        !actions(&mut engine).contains(&Effect::OpenPush),
        "followers hold none"
    );
    engine.handle_leadership(true, local(T0 + 10));
    assert_eq!(
        actions(&mut engine),
        [Effect::FetchSession, Effect::OpenPush]
    );
    engine.handle_leadership(false, local(T0 + 20));
    assert_eq!(
        actions(&mut engine),
        [Effect::QueueForLeadership, Effect::ClosePush],
        "a tab whose lock was taken queues again and lets the stream go"
    );
}

#[test]
fn a_stream_the_browser_gave_up_on_reopens_after_the_delay_while_a_held_request_covers_the_gap() {
    let mut engine = leader();
    let closed_at = T0 + 1_000;
    engine.handle_push_stream_closed(local(closed_at));
    assert_eq!(actions(&mut engine), []);
    let reopen_at = closed_at + PUSH_REOPEN_DELAY.as_millis();
    // A held request covers the gap from the start, not a poll 5 s later.
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(closed_at)
    );
    engine.handle_timeout(local(closed_at));
    assert_eq!(
        actions(&mut engine),
        [Effect::AwaitSessionChange { wait: SESSION_WAIT }]
    );
    engine.handle_timeout(local(reopen_at - 1));
    assert_eq!(actions(&mut engine), [], "one held request at a time");
    engine.handle_timeout(local(reopen_at));
    assert_eq!(actions(&mut engine), [Effect::OpenPush]);
    // It closes again at once: the back-off starts over from there.
    engine.handle_push_stream_closed(local(reopen_at + 50));
    engine.handle_timeout(local(reopen_at + 50 + PUSH_REOPEN_DELAY.as_millis() - 1));
    assert_eq!(actions(&mut engine), [], "the held request is still out");
    engine.handle_timeout(local(reopen_at + 50 + PUSH_REOPEN_DELAY.as_millis()));
    assert!(actions(&mut engine).contains(&Effect::OpenPush));
    // Up again: the held request ends and none follows it.
    engine.handle_push_stream(true, local(reopen_at + 6_000));
    engine.handle_server_view(
        Server::privileged(T0).view(reopen_at + 6_100),
        local(reopen_at + 6_100),
    );
    engine.handle_session_wait_over(local(reopen_at + 6_100));
    drain(&mut engine);
    engine.handle_timeout(local(reopen_at + 60_000));
    let asked = actions(&mut engine);
    assert!(!asked.contains(&Effect::FetchSession), "{asked:?}");
    assert!(
        !asked.contains(&Effect::AwaitSessionChange { wait: SESSION_WAIT }),
        "{asked:?}"
    );
}

#[test]
fn a_tab_that_stops_leading_during_the_back_off_does_not_reopen() {
    let mut engine = leader();
    engine.handle_push_stream_closed(local(T0 + 1_000));
    engine.handle_timeout(local(T0 + 1_000));
    assert_eq!(
        actions(&mut engine),
        [Effect::AwaitSessionChange { wait: SESSION_WAIT }]
    );
    engine.handle_leadership(false, local(T0 + 2_000));
    assert_eq!(
        actions(&mut engine),
        [Effect::QueueForLeadership, Effect::ClosePush]
    );
    engine.handle_timeout(local(T0 + 1_000 + PUSH_REOPEN_DELAY.as_millis()));
    assert!(!actions(&mut engine).contains(&Effect::OpenPush));
    // Its held request comes back: a follower does not start another one.
    engine.handle_session_wait_over(local(T0 + 26_000));
    engine.handle_timeout(local(T0 + 60_000));
    assert!(!actions(&mut engine).contains(&Effect::AwaitSessionChange { wait: SESSION_WAIT }));
}

#[test]
fn an_ending_releases_through_the_redirect_alone() {
    let mut engine = leader();
    engine.handle_server_terminated(Reason::Suspended, local(T0 + 1_000));
    assert_eq!(
        actions(&mut engine),
        [Effect::Redirect {
            reason: Some(Reason::Suspended),
            idle_limit: Some(DurationMs::from_millis(15 * MINUTE)),
        }]
    );
    engine.handle_leadership(true, local(T0 + 2_000));
    engine.handle_page_left(local(T0 + 3_000));
    assert_eq!(drain(&mut engine), [], "nothing follows the redirect");
}

#[test]
fn the_redirect_carries_the_idle_limit_of_the_session_only_when_it_has_one() {
    let mut short = Server::privileged(T0);
    short.idle_timeout = 5 * MINUTE;
    let mut plain = Server::privileged(T0);
    plain.privileged = false;
    for (server, limit) in [(short, Some(DurationMs::MINUTE.times(5))), (plain, None)] {
        let mut engine = Engine::new(EngineConfig::new("tab_me"));
        engine.handle_server_view(server.view(T0), local(T0));
        engine.handle_logout(local(T0 + 1));
        assert_eq!(
            actions(&mut engine).last(),
            Some(&Effect::Redirect {
                reason: Some(Reason::LoggedOut),
                idle_limit: limit,
            })
        );
    }
    let mut unknown = Engine::new(EngineConfig::new("tab_me"));
    unknown.handle_server_unauthenticated(local(T0));
    assert_eq!(
        drain(&mut unknown),
        [Effect::Redirect {
            reason: None,
            idle_limit: None
        }]
    );
}

#[test]
fn the_signed_in_user_comes_from_views_of_this_session_only() {
    let mut engine = Engine::new(EngineConfig::new("tab_me"));
    assert_eq!(engine.user(), None);
    let server = Server::privileged(T0);
    engine.handle_server_view(server.view(T0), local(T0));
    assert_eq!(engine.user().map(|u| u.username.as_str()), Some("admin"));
    assert_eq!(engine.scopes(), ["admin:manage".to_string()]);
    let mut other = server.view(T0 + 1);
    other.session_id = "ses_other".into();
    other.user.username = "mallory".into();
    other.scopes = vec!["everything".into()];
    engine.handle_server_view(other, local(T0 + 1));
    assert_eq!(engine.state(), &State::Ended { reason: None });
    assert_eq!(engine.user().map(|u| u.username.as_str()), Some("admin"));
    assert_eq!(engine.scopes(), ["admin:manage".to_string()]);
}

#[test]
fn a_refused_keepalive_asks_for_the_view() {
    let mut engine = leader();
    engine.handle_keepalive_refused(local(T0 + 1_000));
    assert_eq!(actions(&mut engine), [Effect::FetchSession]);
}

/// Push stream ownership follows leadership across tabs, and an ending pushed to the new
/// owner's stream reaches every tab.
#[test]
fn the_push_stream_moves_with_leadership_and_carries_the_ending() {
    for mode in [LeaderMode::Lock, LeaderMode::Heartbeat] {
        let mut h = Harness::new(Server::privileged(T0), 3, mode, |_| {});
        h.start_all();
        h.run_until(T0 + 5_000);
        let holders = |h: &Harness| (0..3).filter(|i| h.tabs[*i].push_open).collect::<Vec<_>>();
        let leaders = |h: &Harness| {
            (0..3)
                .filter(|i| h.tabs[*i].engine.is_leader())
                .collect::<Vec<_>>()
        };
        assert_eq!(holders(&h), leaders(&h), "{mode:?}");
        assert_eq!(holders(&h).len(), 1, "{mode:?}: one stream per session");
        let first = holders(&h)[0];
        for tab in &h.tabs {
            assert_eq!(tab.joins, [SESSION_ID.to_string()], "{mode:?}");
            assert_eq!(tab.registrations, [true], "{mode:?}");
        }
        // The leader stops running; another tab takes over and opens its own stream.
        h.stall(first);
        h.run_until(T0 + 10_000);
        let second = leaders(&h)
            .into_iter()
            .find(|i| *i != first)
            .expect("a tab took over");
        assert!(h.tabs[second].push_open, "{mode:?}");
        assert_eq!(h.tabs[second].push_opens, 1, "{mode:?}");
        // Running again, the old leader steps down and lets its stream go.
        h.resume(first);
        h.run_until(T0 + 15_000);
        assert_eq!(holders(&h), [second], "{mode:?}");
        assert_eq!(leaders(&h), [second], "{mode:?}");
        // The server pushes the ending to the one stream; the leader relays it.
        h.terminate(Reason::RemoteTerminated);
        for (i, tab) in h.tabs.iter().enumerate() {
            assert_eq!(
                tab.engine.state(),
                &State::Ended {
                    reason: Some(Reason::RemoteTerminated)
                },
                "{mode:?} tab {i}"
            );
            assert_eq!(tab.ended_at, Some(T0 + 15_000), "{mode:?} tab {i}");
            assert!(!tab.push_open, "{mode:?} tab {i}");
        }
    }
}

/// The browser layer navigates on a cross-tab message before the engine sees it
/// (`peer::ending_for`, issue 14): it must name exactly the endings the engine then reaches
/// from the same message, with the same reason, for every kind of message, in either
/// encoding (the fast literal form and any other valid JSON), and nothing for this tab's own
/// messages, another session's or invalid ones.
#[test]
fn the_adapters_early_navigation_agrees_with_the_engines_ending() {
    use crate::core::{ending_for, PeerBody, PeerMessage, ServerTime, PROTOCOL_VERSION};
    let at = ServerTime::from_millis(T0 + 5);
    let bodies = [
        PeerBody::Activity { at },
        PeerBody::StaySignedIn { at },
        PeerBody::LeaderHeartbeat { at },
        PeerBody::Connection {
            reachable: false,
            at,
        },
        PeerBody::Hello,
        PeerBody::Consent { accepted: true },
        PeerBody::Consent { accepted: false },
        PeerBody::TabEnded {
            target_tab_id: "tab_mine".into(),
        },
        PeerBody::TabEnded {
            target_tab_id: "tab_other".into(),
        },
    ]
    .into_iter()
    .chain(
        Reason::KNOWN
            .into_iter()
            .chain([Reason::Other("new_reason".into())])
            .map(|reason| PeerBody::Logout { reason }),
    );
    let mut checked = 0;
    for body in bodies {
        for (session_id, tab_id) in [
            (SESSION_ID, "tab_peer"),
            (SESSION_ID, "tab_me"),
            ("ses_other", "tab_peer"),
        ] {
            let message = PeerMessage {
                v: PROTOCOL_VERSION,
                session_id: session_id.into(),
                tab_id: tab_id.into(),
                body: body.clone(),
            };
            let fast = message.encode();
            // The same message as other valid JSON: spaces after the separators.
            let spaced = fast.replace("\":", "\": ").replace(",\"", ", \"");
            for text in [fast, spaced, "{\"v\":1".into()] {
                let mut engine = Engine::new(EngineConfig::new("tab_mine"));
                engine.handle_server_view(Server::privileged(T0).view(T0), local(T0));
                engine.handle_peer(&text, local(T0 + 10));
                let ended = match engine.state() {
                    State::Ended { reason } => reason.clone(),
                    _ => None,
                };
                assert_eq!(ending_for(&text, SESSION_ID, "tab_mine"), ended, "{text}");
                checked += usize::from(ended.is_some());
            }
        }
    }
    // Every known reason, the unknown one, the declined consent and this tab's end, in
    // both encodings, from the other tab of this session.
    assert_eq!(checked, 2 * (Reason::KNOWN.len() + 3));
}
