//! The idle deadline lands where the tab and the server agree, with no round trip after it
//! (issue 14): the tab asks the server shortly before the deadline, and that fresh view,
//! carried forward by the monotonic clock, confirms the ending when it comes. One engine
//! driven by hand, so that requests take time.

use crate::core::harness::{local, Server, MINUTE};
use crate::core::{
    DurationMs, Effect, Engine, EngineConfig, LocalTime, Millis, Now, Reason, State,
};

const T0: Millis = 1_764_000_000_000;
/// The tab's wall clock runs this far ahead of the server's (and of real time).
const SKEW: Millis = 7_000;
/// The user's last activity, real (= server) time.
const ACTED: Millis = T0 + 1_000;
/// The server's idle deadline for that activity.
const DEADLINE: Millis = ACTED + 15 * MINUTE;
/// How long a server view takes to reach the tab.
const TRANSIT: Millis = 10;

/// The tab's clocks at real time `real`, its wall clock `jump` ms ahead of where it should be.
fn at(real: Millis, jump: Millis) -> Now {
    Now {
        wall: local(real + SKEW + jump),
        monotonic: Some(DurationMs::from_millis(real - T0)),
    }
}

fn drain(engine: &mut Engine) -> Vec<Effect> {
    std::iter::from_fn(|| engine.poll_effect()).collect()
}

fn ended(engine: &Engine) -> bool {
    matches!(engine.state(), State::Ended { .. })
}

/// A follower tab whose user was last active at `ACTED`, which the server knows, just
/// after it asked the server ahead of the deadline and got the answer: returns the engine
/// and the server. The view is stamped at `DEADLINE - 980` and arrives `TRANSIT` later.
fn asked_ahead() -> (Engine, Server) {
    let mut server = Server::privileged(T0);
    let mut engine = Engine::new(EngineConfig {
        heartbeat_interval: DurationMs::from_millis(24 * 60 * MINUTE),
        ..EngineConfig::new("tab_me00")
    });
    engine.handle_server_view(server.view(T0), at(T0 + TRANSIT, 0));
    engine.handle_push_stream(true, at(T0 + TRANSIT, 0));
    engine.handle_activity(at(ACTED, 0));
    server.last_activity = ACTED;
    drain(&mut engine);
    engine.handle_timeout(at(DEADLINE - 60_000, 0));
    assert!(matches!(engine.state(), State::Warning { .. }));
    assert!(!drain(&mut engine).contains(&Effect::FetchSession));
    // One second ahead, the tab asks.
    let ask = engine.poll_timeout().map(LocalTime::as_millis);
    assert_eq!(ask, Some(DEADLINE - 1_000 + SKEW), "asks one second ahead");
    engine.handle_timeout(at(DEADLINE - 1_000, 0));
    assert_eq!(drain(&mut engine), [Effect::FetchSession]);
    assert!(!ended(&engine));
    let stamped = DEADLINE - 980;
    engine.handle_server_view(server.view(stamped), at(stamped + TRANSIT, 0));
    assert!(drain(&mut engine).is_empty());
    assert!(!ended(&engine));
    (engine, server)
}

#[test]
fn the_idle_deadline_ends_on_the_view_fetched_ahead_without_a_round_trip() {
    let (mut engine, _server) = asked_ahead();
    // The tab's time lags the server's by the view's transit, so its deadline falls that
    // much after the server's: the server has passed its own deadline by then. The wake-up
    // comes a millisecond later still, for the clocks' rounding (`Engine::floor_lag`).
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(DEADLINE + TRANSIT + SKEW + 1)
    );
    engine.handle_timeout(at(DEADLINE + TRANSIT, 0));
    assert_eq!(
        engine.state(),
        &State::Ended {
            reason: Some(Reason::IdleTimeout)
        }
    );
    let effects = drain(&mut engine);
    assert!(
        !effects.contains(&Effect::FetchSession),
        "no question at the deadline: {effects:?}"
    );
    assert!(effects.contains(&Effect::EndServerSession {
        reason: Reason::IdleTimeout
    }));
    assert!(effects.contains(&Effect::Redirect {
        reason: Some(Reason::IdleTimeout),
        idle_limit: Some(DurationMs::from_millis(15 * MINUTE)),
    }));
}

#[test]
fn a_small_forward_jump_after_the_view_waits_for_the_monotonic_clock() {
    let (mut engine, _server) = asked_ahead();
    // The wall clock jumps 600 ms ahead (less than a jump the engine would notice): the
    // wall-clock deadline comes 600 ms early, but the server's clock is not there yet.
    let early = DEADLINE + TRANSIT - 600;
    engine.handle_timeout(at(early, 600));
    assert!(!ended(&engine), "ended {} ms early", DEADLINE - early);
    assert!(drain(&mut engine).is_empty(), "nothing to ask: it waits");
    assert_eq!(
        engine.poll_timeout().map(LocalTime::as_millis),
        Some(DEADLINE + TRANSIT + SKEW + 600 + 1),
        "woken when the monotonic clock gets there (and a millisecond for rounding)"
    );
    engine.handle_timeout(at(DEADLINE + TRANSIT - 1, 600));
    assert!(!ended(&engine));
    engine.handle_timeout(at(DEADLINE + TRANSIT, 600));
    assert_eq!(
        engine.state(),
        &State::Ended {
            reason: Some(Reason::IdleTimeout)
        }
    );
}

#[test]
fn a_large_forward_jump_after_the_view_asks_the_server_and_ends_nothing_early() {
    let (mut engine, mut server) = asked_ahead();
    let real = DEADLINE - 900;
    engine.handle_timeout(at(real, 5_000));
    assert!(!ended(&engine));
    assert_eq!(
        drain(&mut engine),
        [Effect::FetchSession],
        "the server decides"
    );
    // The server says the session lives: nothing ends before the real deadline.
    engine.handle_server_view(server.view(real + 5), at(real + 5 + TRANSIT, 5_000));
    drain(&mut engine);
    engine.handle_timeout(at(DEADLINE - 1, 5_000));
    assert!(!ended(&engine));
    // Activity just before the deadline keeps the session.
    engine.handle_activity(at(DEADLINE - 1, 5_000));
    server.last_activity = DEADLINE - 1;
    engine.handle_timeout(at(DEADLINE + TRANSIT, 5_000));
    assert!(!ended(&engine));
}

#[test]
fn without_a_fresh_view_the_deadline_still_asks_the_server() {
    let mut server = Server::privileged(T0);
    let mut engine = Engine::new(EngineConfig {
        heartbeat_interval: DurationMs::from_millis(24 * 60 * MINUTE),
        ..EngineConfig::new("tab_me00")
    });
    engine.handle_server_view(server.view(T0), at(T0 + TRANSIT, 0));
    engine.handle_push_stream(true, at(T0 + TRANSIT, 0));
    engine.handle_activity(at(ACTED, 0));
    server.last_activity = ACTED;
    engine.handle_timeout(at(DEADLINE - 1_000, 0));
    assert!(drain(&mut engine).contains(&Effect::FetchSession));
    // The answer to the early question never comes: at the deadline the old view is not
    // enough, the tab asks again and waits for the server.
    engine.handle_timeout(at(DEADLINE + TRANSIT, 0));
    assert!(!ended(&engine));
    assert_eq!(drain(&mut engine), [Effect::FetchSession]);
}

#[test]
fn the_ending_a_wake_up_would_carry_out_is_foretold_exactly() {
    let (mut engine, _server) = asked_ahead();
    // Before the server's clock can be past the deadline, nothing is foretold, not even
    // with the wall clock 600 ms ahead (the wake-up would wait for the monotonic clock)...
    for jump in [0, 600] {
        assert_eq!(engine.clock_ending(at(DEADLINE + TRANSIT - 1, jump)), None);
    }
    assert_eq!(engine.clock_ending(at(DEADLINE, 0)), None);
    // ...nor with a jump the engine notices (it would ask the server).
    assert_eq!(engine.clock_ending(at(DEADLINE + TRANSIT - 1, 5_000)), None);
    // At the instant it ends, the query names the ending and the limit the engine's own
    // redirect then carries.
    let foretold = engine.clock_ending(at(DEADLINE + TRANSIT, 0));
    let limit = Some(DurationMs::from_millis(15 * MINUTE));
    assert_eq!(foretold, Some((Reason::IdleTimeout, limit)));
    assert!(!ended(&engine), "a query changes nothing");
    engine.handle_timeout(at(DEADLINE + TRANSIT, 0));
    assert!(drain(&mut engine).contains(&Effect::Redirect {
        reason: Some(Reason::IdleTimeout),
        idle_limit: limit,
    }));
    // Once ended, nothing more is foretold.
    assert_eq!(engine.clock_ending(at(DEADLINE + TRANSIT + 1, 0)), None);
}
