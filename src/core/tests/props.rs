//! One property test per invariant, on a simulated clock.

use proptest::prelude::*;

use crate::core::harness::{Harness, Server, MINUTE, SESSION_ID};
use crate::core::{
    ConsentState, Engine, EngineConfig, LeaderMode, Millis, PeerBody, PeerMessage, Reason, State,
    PROTOCOL_VERSION,
};

const T0: Millis = 1_764_000_000_000;

fn mode() -> impl Strategy<Value = LeaderMode> {
    prop_oneof![Just(LeaderMode::Lock), Just(LeaderMode::Heartbeat)]
}

/// A privileged server whose idle timeout and lead are drawn; the lead stays above the
/// activity broadcast interval, as any real policy's does.
fn server(idle_minutes: i64, lead_seconds: i64, life_minutes: i64) -> Server {
    let mut server = Server::privileged(T0);
    server.idle_timeout = idle_minutes * MINUTE;
    server.warning_lead = (lead_seconds * 1_000).min(server.idle_timeout / 2);
    server.keepalive_interval = MINUTE.min(server.idle_timeout / 2);
    server.expires_at = T0 + life_minutes * MINUTE;
    server
}

/// (tab, gap since the previous activity in seconds) schedules.
/// Bursts (gaps of a few seconds, inside the broadcast throttle) mixed with long pauses.
fn schedule(max_gap_s: i64) -> impl Strategy<Value = Vec<(usize, i64)>> {
    let gap = prop_oneof![0i64..4, 0..max_gap_s];
    prop::collection::vec((0usize..4, gap), 0..40)
}

fn reason_of(state: &State) -> Option<&Reason> {
    match state {
        State::Ended { reason } => reason.as_ref(),
        _ => None,
    }
}

/// Drives the schedule through the harness; returns the real times of delivered activity.
fn play(h: &mut Harness, plan: &[(usize, i64)]) -> Vec<Millis> {
    let mut done = Vec::new();
    let mut at = h.now;
    for &(tab, gap_s) in plan {
        at += gap_s * 1_000;
        h.run_until(at);
        let tab = tab % h.tabs.len();
        if !matches!(h.tabs[tab].engine.state(), State::Ended { .. }) {
            h.activity(tab);
            done.push(at);
        }
    }
    done
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Invariant 1: no idle logout while some tab's activity is within the idle timeout.
    #[test]
    fn inv1_no_idle_logout_while_any_tab_is_active(
        tabs in 1usize..5, mode in mode(), idle in 2i64..20, lead in 5i64..120,
        keepalive_percent in 1i64..100, plan in schedule(25 * 60),
    ) {
        let mut server = server(idle, lead, 24 * 60);
        // Spacing up to the whole idle timeout: the leader must still report in time.
        server.keepalive_interval = (server.idle_timeout * keepalive_percent / 100).max(1_000);
        let mut h = Harness::new(server, tabs, mode, |_| {});
        h.start_all();
        let activity = play(&mut h, &plan);
        h.run_until(h.now + 2 * idle * MINUTE);
        for tab in &h.tabs {
            if reason_of(tab.engine.state()) == Some(&Reason::IdleTimeout) {
                let end = tab.ended_at.unwrap_or(Millis::MAX);
                let last = activity.iter().copied().filter(|a| *a <= end).max().unwrap_or(T0);
                prop_assert!(last + idle * MINUTE <= end, "ended at {end}, active at {last}");
            }
        }
        prop_assert!(h.tabs.iter().all(|t| t.ended_at.is_some()), "idle sessions must end");
    }

    /// Invariant 2: the first input at or after a deadline ends the session once the server
    /// confirms it, or at once when the server cannot be reached (here it never can), whatever
    /// the inputs before it; and the engine always asks to be woken no later than the deadline.
    #[test]
    fn inv2_ends_at_first_wakeup_after_deadline(
        idle in 2i64..20, life in 5i64..60,
        steps in prop::collection::vec((0u8..6, 0i64..400_000, -60_000i64..6_000), 1..60),
    ) {
        let server = server(idle, 60, life);
        let mut engine = Engine::new(quiet_config());
        engine.handle_server_view(server.view(T0), T0);
        let mut last = T0;
        let mut now = T0;
        for (kind, gap, peer_at) in steps {
            now += gap;
            let deadline = server.expires_at.min(last + server.idle_timeout);
            if let Some(wake) = engine.poll_timeout() {
                prop_assert!(wake <= deadline, "wake-up {wake} after deadline {deadline}");
            }
            match kind {
                0 => engine.handle_activity(now),
                1 => engine.handle_peer(&peer("tab_x000", PeerBody::Activity { at: now + peer_at }), now),
                2 => engine.handle_visible(now),
                3 => engine.handle_stay_signed_in(now),
                4 => engine.handle_push_stream(peer_at > 0, now),
                _ => engine.handle_timeout(now),
            }
            while engine.poll_effect().is_some() {}
            if now >= deadline {
                engine.handle_server_unreachable(now);
                let expected = if last + server.idle_timeout < server.expires_at {
                    Reason::IdleTimeout
                } else {
                    Reason::SessionExpired
                };
                prop_assert_eq!(reason_of(engine.state()), Some(&expected));
                break;
            }
            prop_assert!(!matches!(engine.state(), State::Ended { .. }), "ended before {}", deadline);
            match kind {
                0 | 3 => last = now,
                1 if peer_at <= 5_000 => last = last.max((now + peer_at).min(now)),
                _ => {}
            }
        }
    }

    /// Invariant 3: non-privileged sessions never end for idleness; the absolute expiry ends
    /// every session, exactly at `expires_at`, and activity cannot extend it.
    #[test]
    fn inv3_expiry_ends_everyone_and_idleness_only_privileged(
        tabs in 1usize..4, privileged in any::<bool>(), life in 10i64..90,
        plan in schedule(10 * 60),
    ) {
        let mut server = server(15, 60, life);
        server.privileged = privileged;
        let expires = server.expires_at;
        let mut h = Harness::new(server, tabs, LeaderMode::Lock, |_| {});
        h.start_all();
        play(&mut h, &plan);
        h.run_until(expires + MINUTE);
        for tab in &h.tabs {
            let reason = reason_of(tab.engine.state());
            prop_assert!(tab.ended_at.is_some_and(|at| at <= expires));
            if privileged {
                prop_assert!(
                    tab.ended_at == Some(expires) || reason == Some(&Reason::IdleTimeout)
                );
            } else {
                prop_assert_eq!(reason, Some(&Reason::SessionExpired));
                prop_assert_eq!(tab.ended_at, Some(expires));
            }
        }
    }

    /// Invariant 8: every live tab shows the lifetime warning from exactly 10 minutes before
    /// the absolute end (server time, whatever its own clock), and its 2-minute stage from
    /// exactly 2 minutes before; activity changes neither.
    #[test]
    fn inv8_lifetime_warning_from_ten_then_two_minutes_before_the_end_in_every_tab(
        tabs in 1usize..4, privileged in any::<bool>(), life in 3i64..40,
        skews in prop::collection::vec(-600i64..600, 4), plan in schedule(90),
    ) {
        let mut server = server(15, 60, life);
        server.privileged = privileged;
        let expires = server.expires_at;
        let mut h = Harness::new(server, tabs, LeaderMode::Lock, |_| {});
        for (tab, skew) in h.tabs.iter_mut().zip(&skews) {
            tab.skew = skew * 1_000;
        }
        h.start_all();
        let mut at = h.now;
        let mut steps = plan.iter().cycle();
        while at < expires {
            let &(tab, gap_s) = steps.next().unwrap_or(&(0, 30));
            at = (at + gap_s.max(1) * 1_000).min(expires - 1);
            h.run_until(at);
            for t in &h.tabs {
                if !matches!(t.engine.state(), State::Active | State::Warning { .. }) {
                    prop_assert_eq!(t.engine.lifetime_warning(), None);
                    continue;
                }
                let expected = if at >= expires - 2 * MINUTE {
                    Some(2 * MINUTE)
                } else if at >= expires - 10 * MINUTE {
                    Some(10 * MINUTE)
                } else {
                    None
                };
                let warning = t.engine.lifetime_warning();
                prop_assert_eq!(warning.map(|w| w.within), expected, "at {}", at - T0);
                if let Some(w) = warning {
                    prop_assert_eq!(w.ends_at, expires + t.skew);
                }
            }
            let tab = tab % h.tabs.len();
            if !matches!(h.tabs[tab].engine.state(), State::Ended { .. }) {
                h.activity(tab);
            }
            if at == expires - 1 {
                break;
            }
        }
    }

    /// Invariant 4: the warning appears once per idle period, exactly at deadline - lead, and
    /// activity in any tab takes every tab out of it.
    #[test]
    fn inv4_warning_once_per_period_and_cancelled_everywhere(
        tabs in 1usize..5, mode in mode(), idle in 2i64..10, lead in 5i64..100,
        plan in schedule(10 * 60),
    ) {
        let server = server(idle, lead, 24 * 60);
        let lead = server.warning_lead;
        let mut h = Harness::new(server, tabs, mode, |_| {});
        h.start_all();
        let mut at = h.now;
        for &(tab, gap_s) in &plan {
            at += gap_s * 1_000;
            h.run_until(at);
            let tab = tab % tabs;
            if matches!(h.tabs[tab].engine.state(), State::Ended { .. }) {
                break;
            }
            h.activity(tab);
            for state in h.states() {
                prop_assert!(matches!(state, State::Active | State::Ended { .. }), "{state:?}");
            }
        }
        h.run_until(h.now + 2 * idle * MINUTE);
        for tab in &h.tabs {
            let mut deadlines: Vec<Millis> = tab.warnings.iter().map(|w| w.1).collect();
            for &(shown, deadline) in &tab.warnings {
                prop_assert_eq!(shown, deadline - lead);
            }
            deadlines.dedup();
            prop_assert_eq!(deadlines.len(), tab.warnings.len(), "a period warned twice");
        }
    }

    /// Invariant 5: any permutation or duplication of peer messages yields the same state.
    #[test]
    fn inv5_peer_merge_is_order_independent_and_idempotent(
        mode in mode(), leader in any::<bool>(), idle_ago in 0i64..15 * MINUTE,
        ending in 0u8..4,
        bodies in prop::collection::vec((0u8..7, -20 * MINUTE..8_000i64, 0usize..4), 0..12)
            .prop_flat_map(|b| { let n = b.len(); (Just(b.clone()), Just(b).prop_shuffle(), prop::collection::vec(0..n.max(1), 0..6)) }),
    ) {
        let (original, shuffled, duplicates) = bodies;
        let now = T0 + 6_000;
        let to_messages = |list: &[(u8, i64, usize)]| -> Vec<String> {
            let mut out: Vec<String> = list.iter().map(|&(kind, dt, tab)| {
                let tab = ["tab_a000", "tab_k000", "tab_z000", "tab_q000"][tab];
                let body = match kind {
                    0 => PeerBody::Activity { at: now + dt },
                    1 => PeerBody::StaySignedIn { at: now + dt },
                    2 => PeerBody::Consent { accepted: true },
                    3 => PeerBody::LeaderHeartbeat { at: now + dt },
                    // Times collide often, so ties between outcomes are drawn too.
                    4 | 5 => PeerBody::Connection { reachable: kind == 4, at: now + dt / 60_000 * 1_000 },
                    _ => PeerBody::Hello,
                };
                peer(tab, body)
            }).collect();
            // At most one kind of ending per case: with two different reasons the contract
            // lets the first one win, which is order-dependent by design.
            match ending {
                1 => out.push(peer("tab_k000", PeerBody::Logout { reason: Reason::RoleChanged })),
                2 => out.push(peer("tab_k000", PeerBody::Consent { accepted: false })),
                _ => {}
            }
            out
        };
        let mut server = Server::privileged(T0);
        server.recording_required = true;
        server.consent = ConsentState::Pending;
        server.last_activity = T0 - idle_ago;
        let run = |messages: &[String]| {
            let mut engine = Engine::new(EngineConfig { leader_mode: mode, ..EngineConfig::new("tab_m000") });
            engine.handle_server_view(server.view(T0), T0);
            engine.handle_leadership(leader, T0);
            engine.handle_timeout(now);
            for message in messages {
                engine.handle_peer(message, now);
            }
            (engine.state().clone(), engine.is_leader(), engine.is_recording(), engine.remaining_ms(now), engine.connection_problem())
        };
        let reference = run(&to_messages(&original));
        let mut again = to_messages(&shuffled);
        let copies: Vec<String> = duplicates.iter().filter_map(|&i| again.get(i).cloned()).collect();
        again.extend(copies);
        let half = again.len() / 2;
        again.rotate_left(half);
        prop_assert_eq!(run(&again), reference);
    }

    /// Invariant 6: arbitrary text fed as a peer message never panics, never changes state
    /// and never produces an effect.
    #[test]
    fn inv6_garbage_peer_messages_change_nothing(
        garbage in prop_oneof![
            any::<String>(),
            prop::collection::vec(any::<u8>(), 0..300).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            (any::<u32>(), "[a-z_]{0,20}", any::<i64>()).prop_map(|(v, kind, at)| format!(
                r#"{{"v":{v},"session_id":"{SESSION_ID}","tab_id00":"tab_x000","type":"{kind}","at":{at}}}"#)),
            (".{0,12}", any::<i64>()).prop_map(|(sid, at)| format!(
                r#"{{"v":1,"session_id":{sid:?},"tab_id00":"tab_x000","type":"logout","reason":"idle_timeout","at":{at}}}"#)),
            (0usize..6000).prop_map(|n| format!(
                r#"{{"v":1,"session_id":"{SESSION_ID}","tab_id00":"tab_x000","type":"hello","pad":"{}"}}"#, "x".repeat(n))),
        ],
    ) {
        let mut engine = Engine::new(EngineConfig::new("tab_me00"));
        engine.handle_server_view(Server::privileged(T0).view(T0), T0);
        while engine.poll_effect().is_some() {}
        let before = (engine.state().clone(), engine.poll_timeout(), engine.remaining_ms(T0));
        engine.handle_peer(&garbage, T0);
        let valid_hello = garbage.len() <= crate::core::MAX_PEER_MESSAGE_BYTES
            && PeerMessage::decode(&garbage, SESSION_ID).is_ok_and(|m| m.body == PeerBody::Hello);
        if !valid_hello {
            prop_assert!(engine.poll_effect().is_none());
        }
        prop_assert_eq!((engine.state().clone(), engine.poll_timeout(), engine.remaining_ms(T0)), before);
    }

    /// Invariant 7: a clock jump on one tab cannot extend the session beyond the server's
    /// deadlines. Forward jumps never delay an ending; a backward jump of `J` delays it by at
    /// most `J`, and never past the first server view after the deadline.
    #[test]
    fn inv7_clock_jumps_cannot_extend_the_session(
        idle in 2i64..30, life in 10i64..120,
        jump in -120 * MINUTE..120 * MINUTE, jump_at in 0i64..40 * MINUTE,
        activity in prop::collection::vec(0i64..40 * MINUTE, 0..10),
        views in prop::collection::vec(prop_oneof![0i64..45 * MINUTE, 0..200 * MINUTE], 0..20),
    ) {
        let server = server(idle, 60, life);
        let mut engine = Engine::new(quiet_config());
        engine.handle_server_view(server.view(T0), T0);
        let mut events: Vec<(Millis, u8)> = activity.iter().map(|a| (T0 + a, 0)).collect();
        events.extend(views.iter().map(|v| (T0 + v, 1)));
        events.push((T0 + jump_at, 2));
        events.sort();
        let mut skew = 0;
        let mut last_active = T0;
        // A browser timer fires after a fixed real delay whatever the wall clock does.
        let rearm = |engine: &Engine, real: Millis, skew: Millis| {
            engine.poll_timeout().map(|local| real + (local - (real + skew)).max(0))
        };
        let mut wake = rearm(&engine, T0, skew);
        let mut events = events.into_iter().peekable();
        let mut ended_at = None;
        for _ in 0..10_000 {
            let next_event = events.peek().map(|e| e.0);
            let real = match (wake, next_event) {
                (Some(w), Some(e)) => w.min(e),
                (w, e) => match w.or(e) { Some(t) => t, None => break },
            };
            let deadline = server.expires_at.min(last_active + server.idle_timeout);
            if wake == Some(real) {
                engine.handle_timeout(real + skew);
            } else if let Some((at, kind)) = events.next() {
                match kind {
                    0 => {
                        engine.handle_activity(at + skew);
                        if !matches!(engine.state(), State::Ended { .. }) {
                            last_active = at;
                        }
                    }
                    1 => {
                        engine.handle_server_view(server.view(at), at + skew);
                        if at >= deadline {
                            prop_assert!(matches!(engine.state(), State::Ended { .. }), "view after deadline kept it alive");
                        }
                    }
                    _ => skew += jump,
                }
            }
            // The server is unreachable but for the views above: an ending deadline that
            // asks it is not confirmed and ends at once.
            let asked = std::iter::from_fn(|| engine.poll_effect())
                .any(|e| e == crate::core::Effect::FetchSession);
            if asked {
                engine.handle_server_unreachable(real + skew);
                while engine.poll_effect().is_some() {}
            }
            if ended_at.is_none() && matches!(engine.state(), State::Ended { .. }) {
                ended_at = Some(real);
                prop_assert!(real <= deadline + (-jump).max(0), "ended at {real}, deadline {deadline}");
            }
            wake = rearm(&engine, real, skew);
        }
        prop_assert!(ended_at.is_some(), "the session never ended");
    }
}

/// A single follower engine whose leader check is out of the way (one a day): these
/// properties are about deadlines and clocks, not about the leader.
fn quiet_config() -> EngineConfig {
    EngineConfig {
        heartbeat_interval: 24 * 60 * MINUTE,
        ..EngineConfig::new("tab_me00")
    }
}

fn peer(tab: &str, body: PeerBody) -> String {
    PeerMessage {
        v: PROTOCOL_VERSION,
        session_id: SESSION_ID.into(),
        tab_id: tab.into(),
        body,
    }
    .encode()
}
