//! The session under a stalled leader, a jumping clock and an unreachable server
//! (issue 16), on the multi-tab harness.

use crate::core::harness::{local, Harness, Server, MINUTE};
use crate::core::{DurationMs, LeaderMode, Millis, Reason, State};

const T0: Millis = 1_764_000_000_000;
/// The engine's default heartbeat interval, and the silence after which a leader is
/// replaced (two intervals).
const HEARTBEAT: Millis = 1_000;
const TAKEOVER: Millis = 2 * HEARTBEAT;

/// The end-to-end suite's short policy: 6 s idle, 3 s warning, keepalives 2 s apart.
fn short_server() -> Server {
    let mut server = Server::privileged(T0);
    server.idle_timeout = 6_000;
    server.warning_lead = 3_000;
    server.keepalive_interval = 2_000;
    server
}

fn leaders(h: &Harness) -> Vec<usize> {
    (0..h.tabs.len())
        .filter(|i| h.tabs[*i].engine.is_leader())
        .collect()
}

/// Real time plus activity in the given tabs every 500 ms until `end`, checking after every
/// step that the server's own idle deadline has not passed.
fn work_until(h: &mut Harness, tabs: &[usize], end: Millis) {
    let mut turn = 0;
    while h.now < end {
        let next = (h.now + 500).min(end);
        h.run_until(next);
        h.activity(tabs[turn % tabs.len()]);
        turn += 1;
        assert!(
            h.server.last_activity + h.server.idle_timeout > h.now,
            "the server's idle deadline passed at {} although the user was active",
            h.now - T0
        );
    }
}

#[test]
fn a_stalled_lock_leader_is_replaced_and_every_tabs_activity_reaches_the_server() {
    let mut h = Harness::new(short_server(), 3, LeaderMode::Lock, |_| {});
    h.start_all();
    h.run_until(T0 + 1_000);
    assert_eq!(leaders(&h), [0]);
    h.stall(0);
    let stalled_at = h.now;
    work_until(&mut h, &[1, 2], stalled_at + TAKEOVER);
    // Both followers noticed the silence at once and stole the lock; the last steal stands.
    let holder = h
        .lock_holder
        .filter(|i| *i != 0)
        .expect("taken over in two heartbeats");
    assert_eq!(
        leaders(&h),
        [0, holder],
        "tab 0 does not know yet: it is not running"
    );
    work_until(&mut h, &[1, 2], T0 + 12_000);
    assert_eq!(h.lock_holder, Some(holder));
    assert_eq!(h.server.ended, None);
    assert!(h.tabs[holder].keepalives > 0);
    for tab in &h.tabs[1..] {
        assert_eq!(tab.engine.state(), &State::Active);
    }
}

#[test]
fn a_server_ending_reaches_every_tab_within_the_bound_while_the_leader_is_stalled() {
    let mut h = Harness::new(short_server(), 3, LeaderMode::Lock, |_| {});
    h.start_all();
    h.run_until(T0 + 1_000);
    h.stall(0);
    work_until(&mut h, &[1, 2], T0 + 1_500);
    // Pushed to the stalled leader's stream only, which reads nothing now.
    h.terminate(Reason::RemoteTerminated);
    let ended = h.now;
    h.run_until(ended + 5_000);
    for tab in &h.tabs[1..] {
        assert_eq!(tab.engine.state(), &ended_with(Reason::RemoteTerminated));
        let late = tab.ended_at.expect("ended") - ended;
        assert!(
            late <= TAKEOVER,
            "protected content {late} ms after the ending"
        );
    }
    assert!(h.tabs[0].ended_at.is_none());
    h.resume(0);
    assert_eq!(
        h.tabs[0].engine.state(),
        &ended_with(Reason::RemoteTerminated)
    );
}

#[test]
fn a_resumed_lock_leader_rejoins_as_a_follower_without_disturbing_the_others() {
    let mut h = Harness::new(short_server(), 3, LeaderMode::Lock, |_| {});
    h.start_all();
    h.run_until(T0 + 1_000);
    h.stall(0);
    work_until(&mut h, &[1, 2], T0 + 8_000);
    let holder = h.lock_holder.filter(|i| *i != 0).expect("taken over");
    h.resume(0);
    assert_eq!(leaders(&h), [holder]);
    work_until(&mut h, &[0, 1, 2], T0 + 30_000);
    assert_eq!(leaders(&h), [holder], "no tab took the lead back");
    assert_eq!(h.lock_holder, Some(holder));
    assert_eq!(h.server.ended, None);
    assert_eq!(h.states(), vec![State::Active; 3]);
    assert!(h.tabs.iter().all(|t| t.redirects.is_empty()));
}

#[test]
fn a_stalled_heartbeat_leader_is_replaced_and_rejoins_as_a_follower() {
    let mut h = Harness::new(short_server(), 3, LeaderMode::Heartbeat, |_| {});
    h.start_all();
    h.run_until(T0 + 3_000);
    assert_eq!(leaders(&h), [0]);
    h.stall(0);
    let stalled_at = h.now;
    work_until(&mut h, &[1, 2], stalled_at + TAKEOVER);
    assert!(leaders(&h).contains(&1), "taken over within two heartbeats");
    work_until(&mut h, &[1, 2], T0 + 10_000);
    h.resume(0);
    assert_eq!(
        leaders(&h),
        [1],
        "the lowest tab id does not take the lead back"
    );
    work_until(&mut h, &[0, 1, 2], T0 + 30_000);
    assert_eq!(leaders(&h), [1]);
    assert_eq!(h.server.ended, None);
    assert_eq!(h.states(), vec![State::Active; 3]);
}

#[test]
fn a_forward_clock_jump_in_one_tab_ends_nothing() {
    for monotonic in [true, false] {
        let mut h = Harness::new(Server::privileged(T0), 2, LeaderMode::Lock, |_| {});
        h.tabs[1].monotonic = monotonic;
        h.start_all();
        let mut t = T0;
        while t < T0 + 10 * MINUTE {
            t += 30_000;
            h.run_until(t);
            h.activity(0);
            if t == T0 + 5 * MINUTE {
                // Tab 1's machine wakes with its clock corrected two hours forward.
                h.tabs[1].skew += 120 * MINUTE;
            }
        }
        assert_eq!(h.server.ended, None, "monotonic: {monotonic}");
        assert_eq!(h.states(), vec![State::Active; 2], "monotonic: {monotonic}");
        assert!(h.tabs.iter().all(|t| t.redirects.is_empty()));
        let left = h.tabs[1]
            .engine
            .remaining_ms(local(h.local(1)))
            .map(DurationMs::as_millis);
        assert!(left > Some(14 * MINUTE), "{left:?}, monotonic: {monotonic}");
        if monotonic {
            assert!(h.tabs[1].warnings.is_empty(), "no warning either");
        }
    }
}

#[test]
fn an_offline_forward_clock_jump_follows_the_monotonic_clock() {
    let mut h = Harness::new(Server::privileged(T0), 2, LeaderMode::Lock, |_| {});
    h.start_all();
    h.run_until(T0 + MINUTE);
    h.activity(1);
    h.server.reachable = false;
    h.tabs[1].skew += 120 * MINUTE;
    h.run_until(T0 + 2 * MINUTE);
    h.activity(0);
    assert_eq!(h.states(), vec![State::Active; 2]);
    assert!(h.tabs[1].engine.connection_problem());
    // The real idle deadline still ends the session, offline or not.
    h.run_until(T0 + 20 * MINUTE);
    for tab in &h.tabs {
        assert_eq!(tab.engine.state(), &ended_with(Reason::IdleTimeout));
        assert_eq!(tab.ended_at, Some(T0 + 17 * MINUTE));
    }
}

#[test]
fn a_connection_problem_shows_in_every_tab_and_clears_when_the_server_answers() {
    let mut h = Harness::new(Server::privileged(T0), 3, LeaderMode::Lock, |_| {});
    // The leader's push stream is down, so it polls every 5 s.
    h.tabs[0].push_connected = false;
    h.start_all();
    h.run_until(T0 + 1_000);
    h.server.reachable = false;
    h.run_until(T0 + 5_000);
    let problem = |h: &Harness| {
        h.tabs
            .iter()
            .map(|t| t.engine.connection_problem())
            .collect::<Vec<_>>()
    };
    assert_eq!(problem(&h), [true; 3], "the leader's failed poll");
    h.server.reachable = true;
    h.run_until(T0 + 10_000);
    assert_eq!(problem(&h), [false; 3], "the leader's next poll answered");
    assert_eq!(h.states(), vec![State::Active; 3]);
}

fn ended_with(reason: Reason) -> State {
    State::Ended {
        reason: Some(reason),
    }
}
