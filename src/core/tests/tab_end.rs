//! An administrator ends one tab (issue 15): only that tab ends, the others carry on.

use crate::core::harness::{Harness, Server, SESSION_ID};
use crate::core::{LeaderMode, Millis, PeerBody, PeerMessage, Reason, State, PROTOCOL_VERSION};

const T0: Millis = 1_764_000_000_000;

fn tab_terminated() -> State {
    State::Ended {
        reason: Some(Reason::TabTerminated),
    }
}

fn started(mode: LeaderMode) -> Harness {
    let mut h = Harness::new(Server::privileged(T0), 3, mode, |_| {});
    h.start_all();
    h.run_until(T0 + 3_000);
    h
}

#[test]
fn only_the_targeted_follower_ends_and_the_others_keep_working() {
    for mode in [LeaderMode::Lock, LeaderMode::Heartbeat] {
        let mut h = started(mode);
        let leader = (0..3)
            .find(|i| h.tabs[*i].engine.is_leader())
            .expect("a leader");
        let target = (0..3).find(|i| *i != leader).expect("a follower");
        h.end_tab(&format!("tab_{target:04}"));
        assert_eq!(h.tabs[target].engine.state(), &tab_terminated(), "{mode:?}");
        assert_eq!(h.tabs[target].redirects, [Some(Reason::TabTerminated)]);
        // Nothing told the server to end the session, and a minute of use later every
        // other tab is still signed in.
        for step in 1..=60 {
            h.run_until(T0 + 3_000 + step * 1_000);
            h.activity(leader);
        }
        assert_eq!(h.server.ended, None, "{mode:?}");
        for i in (0..3).filter(|i| *i != target) {
            assert_eq!(h.tabs[i].engine.state(), &State::Active, "{mode:?} tab {i}");
            assert!(h.tabs[i].redirects.is_empty());
        }
    }
}

#[test]
fn the_leader_itself_can_be_ended_and_another_tab_takes_over() {
    let mut h = started(LeaderMode::Lock);
    assert_eq!(h.lock_holder, Some(0));
    h.end_tab("tab_0000");
    assert_eq!(h.tabs[0].engine.state(), &tab_terminated());
    // The ended page goes away and releases the lock; a follower takes over.
    h.lock_holder = None;
    h.tabs[0].stalled = true;
    for step in 1..=20 {
        h.run_until(T0 + 3_000 + step * 500);
        h.activity(1);
    }
    assert_eq!(h.server.ended, None);
    assert!(h.tabs[1].engine.is_leader() || h.tabs[2].engine.is_leader());
    for tab in &h.tabs[1..] {
        assert_eq!(tab.engine.state(), &State::Active);
    }
}

#[test]
fn an_unknown_target_or_a_message_of_another_session_ends_nothing() {
    let mut h = started(LeaderMode::Lock);
    h.end_tab("tab_0099");
    let forged = |session_id: &str, target: &str| {
        PeerMessage {
            v: PROTOCOL_VERSION,
            session_id: session_id.into(),
            tab_id: "tab_0001".into(),
            body: PeerBody::TabEnded {
                target_tab_id: target.into(),
            },
        }
        .encode()
    };
    let other_session = forged("ses_other", "tab_0002");
    let malformed = forged(SESSION_ID, "tab_0002").replace("target_tab_id", "target");
    let oversized = forged(SESSION_ID, &"x".repeat(200));
    for text in [other_session, malformed, oversized] {
        h.input(2, |engine, now| engine.handle_peer(&text, now));
    }
    h.run_until(T0 + 10_000);
    assert_eq!(h.server.ended, None);
    for tab in &h.tabs {
        assert_eq!(tab.engine.state(), &State::Active);
        assert!(tab.redirects.is_empty());
    }
}
