//! The idle deadline lands on the user's own last activity, whatever the network did to the
//! answers the tab learned its clock from (issue 14): the clock offset, and the least the
//! server's clock can read, come from the view that travelled fastest, not the latest one.
//! One tab and a server exchanging requests that take time, each way its own, on a
//! simulated clock.

use crate::core::harness::{Server, SESSION_ID};
use crate::core::{
    DurationMs, Effect, Engine, EngineConfig, LocalTime, Millis, Now, PeerBody, PeerMessage, Reason,
};
use session_guard_contract::api::ACTIVITY_CLAIM_WINDOW;

const T0: Millis = 1_764_000_000_000;
/// The tab's wall clock runs this far ahead of the server's (= real time).
const SKEW: Millis = 7_000;
/// The bench's short policy.
const IDLE: Millis = 4_000;
const LEAD: Millis = 3_000;
/// The user's last activity, real time.
const ACTED: Millis = T0 + 1_500;
/// The engine's wake-up for an ending comes this much after the deadline, for the clocks'
/// readings being whole milliseconds.
const TIMER_RESOLUTION: Millis = 1;

/// A request the tab sent, as the server gets it.
#[derive(Debug, Clone)]
enum Request {
    Fetch,
    /// `fastest`: the shortest round trip of the answers the tab had when it sent it.
    Keepalive {
        idle_ms: Millis,
        claimed: Millis,
        fastest: Option<Millis>,
    },
    End(Reason),
}

#[derive(Debug)]
enum Event {
    /// The user does something in the tab.
    Activity,
    /// A request reaches the server; its answer takes `down` to come back.
    AtServer {
        request: Request,
        asked: Now,
        down: Millis,
    },
    /// An answer reaches the tab: a view (stamped at this real time), or the session's
    /// ending.
    AtTab {
        answer: Result<Millis, Reason>,
        asked: Now,
    },
}

/// How long each request takes to reach the server and its answer to come back, by the
/// request's number (0 is the first `GET /api/session`).
type Latency = Box<dyn Fn(usize) -> (Millis, Millis)>;

struct Sim {
    real: Millis,
    engine: Engine,
    server: Server,
    events: Vec<(Millis, usize, Event)>,
    sequence: usize,
    requests: usize,
    latency: Latency,
    /// Real time of the tab's redirect, and why.
    redirected: Option<(Millis, Option<Reason>)>,
    /// Server time and reason of the server's own ending.
    server_ended: Option<(Millis, Reason)>,
    /// The instant (engine time) of the latest activity the tab broadcast.
    activity_broadcast: Option<Millis>,
    /// The shortest round trip of the views that have reached the tab: the fastest view
    /// its offset can come from.
    fastest_answer: Option<Millis>,
    /// The claim the server's last activity comes from: that instant (server time), and
    /// the fastest answer the tab had when it sent the claim (the claim lies early by at
    /// most that round trip).
    accepted_claim: Option<(Millis, Option<Millis>)>,
}

impl Sim {
    fn new(latency: impl Fn(usize) -> (Millis, Millis) + 'static) -> Sim {
        let mut server = Server::privileged(T0);
        server.idle_timeout = IDLE;
        server.warning_lead = LEAD;
        let mut engine = Engine::new(EngineConfig::new("tab_me00"));
        let now = clocks(T0);
        engine.handle_leadership(true, now);
        let mut sim = Sim {
            real: T0,
            engine,
            server,
            events: Vec::new(),
            sequence: 0,
            requests: 0,
            latency: Box::new(latency),
            redirected: None,
            server_ended: None,
            activity_broadcast: None,
            fastest_answer: None,
            accepted_claim: None,
        };
        sim.send(Request::Fetch);
        sim
    }

    fn at(&mut self, real: Millis, event: Event) {
        self.sequence += 1;
        self.events.push((real, self.sequence, event));
    }

    fn send(&mut self, request: Request) {
        let (up, down) = (self.latency)(self.requests);
        self.requests += 1;
        let asked = clocks(self.real);
        self.at(
            self.real + up,
            Event::AtServer {
                request,
                asked,
                down,
            },
        );
    }

    /// The server's idle deadline, server time.
    fn server_deadline(&self) -> Millis {
        self.server.last_activity + self.server.idle_timeout
    }

    /// The reference server's rules at the instant a request reaches it: its own
    /// deadline first, then the request (a keepalive's claim within its bounds; an ending
    /// the server's state contradicts is recorded as `logged_out`).
    fn serve(&mut self, request: Request, asked: Now, down: Millis) {
        let now = self.real + self.server.offset;
        if self.server_ended.is_none() && now >= self.server_deadline() {
            self.server_ended = Some((now, Reason::IdleTimeout));
        }
        if self.server_ended.is_none() {
            match request {
                Request::Fetch => {}
                Request::Keepalive {
                    idle_ms,
                    claimed,
                    fastest,
                } => {
                    let measured = now - idle_ms.clamp(0, IDLE);
                    let at = claimed.clamp(measured - ACTIVITY_CLAIM_WINDOW.as_millis(), measured);
                    if at >= self.server.last_activity {
                        self.server.last_activity = at;
                        self.accepted_claim = Some((at, fastest));
                    }
                }
                Request::End(reason) => {
                    let agreed = reason != Reason::IdleTimeout || now >= self.server_deadline();
                    let recorded = if agreed { reason } else { Reason::LoggedOut };
                    self.server_ended = Some((now, recorded));
                }
            }
        }
        // The view stamps the server's clock (`Server::view` adds its offset to real time).
        let answer = match &self.server_ended {
            Some((_, reason)) => Err(reason.clone()),
            None => Ok(self.real),
        };
        self.at(self.real + down, Event::AtTab { answer, asked });
    }

    fn carry_out(&mut self) {
        while let Some(effect) = self.engine.poll_effect() {
            match effect {
                Effect::FetchSession => self.send(Request::Fetch),
                Effect::SendKeepalive {
                    idle_ms,
                    last_activity_at,
                } => self.send(Request::Keepalive {
                    idle_ms: idle_ms.as_millis(),
                    claimed: last_activity_at.as_millis(),
                    fastest: self.fastest_answer,
                }),
                Effect::EndServerSession { reason } => self.send(Request::End(reason)),
                Effect::Redirect { reason, .. } => self.redirected = Some((self.real, reason)),
                Effect::Broadcast(text) => {
                    if let Ok(PeerMessage {
                        body: PeerBody::Activity { at },
                        ..
                    }) = PeerMessage::decode(&text, SESSION_ID)
                    {
                        self.activity_broadcast = Some(at.as_millis());
                    }
                }
                _ => {}
            }
        }
    }

    /// Runs every wake-up and event up to `until` (real time).
    fn run(&mut self, until: Millis) {
        loop {
            let wake = self
                .engine
                .poll_timeout()
                .map(|local| (local.as_millis() - SKEW).max(self.real));
            self.events.sort_by_key(|(at, seq, _)| (*at, *seq));
            let next = self.events.first().map(|(at, _, _)| *at);
            if wake
                .into_iter()
                .chain(next)
                .min()
                .is_none_or(|at| at > until)
            {
                return;
            }
            match (wake, next) {
                (Some(wake), next) if next.is_none_or(|at| wake < at) => {
                    self.real = wake;
                    self.engine.handle_timeout(clocks(wake));
                }
                (_, Some(_)) => {
                    let (at, _, event) = self.events.remove(0);
                    self.real = at;
                    let now = clocks(at);
                    match event {
                        Event::Activity => self.engine.handle_activity(now),
                        Event::AtServer {
                            request,
                            asked,
                            down,
                        } => self.serve(request, asked, down),
                        Event::AtTab {
                            answer: Ok(real),
                            asked,
                        } => {
                            let round_trip = at - real_time(asked);
                            self.fastest_answer = Some(
                                self.fastest_answer
                                    .map_or(round_trip, |fastest| fastest.min(round_trip)),
                            );
                            self.engine
                                .handle_server_answer(self.server.view(real), asked, now)
                        }
                        Event::AtTab {
                            answer: Err(reason),
                            ..
                        } => self.engine.handle_server_terminated(reason, now),
                    }
                }
                (_, None) => return,
            }
            self.carry_out();
        }
    }
}

/// The tab's clocks at real time `real`.
fn clocks(real: Millis) -> Now {
    Now {
        wall: LocalTime::from_millis(real + SKEW),
        monotonic: Some(DurationMs::from_millis(real - T0)),
    }
}

/// The real time at which the tab read `now` (the inverse of [`clocks`]).
fn real_time(now: Now) -> Millis {
    now.wall.as_millis() - SKEW
}

/// The user acts once at `ACTED` (and once before, so a keepalive goes out early); the
/// tab must end no earlier than the server's deadline, with the server agreeing on the
/// reason, no later than the user's own deadline (give or take the timer's resolution), and
/// no earlier than the offset's error bound before it: the round trip of the fastest
/// answer the tab had when it sent the claim the server's deadline comes from (the claimed
/// instant lies early by at most that; a correction that reaches the server after its
/// deadline cannot help), and no earlier than `bound` where the test knows a tighter one.
fn ends_on_time(latency: impl Fn(usize) -> (Millis, Millis) + 'static, bound: Millis) {
    ends_on_time_acting_at(&[T0 + 400, ACTED], latency, Some(bound));
}

/// [`ends_on_time`] with the user acting at `acts` (the last one at `ACTED`).
fn ends_on_time_acting_at(
    acts: &[Millis],
    latency: impl Fn(usize) -> (Millis, Millis) + 'static,
    bound: Option<Millis>,
) {
    let mut sim = Sim::new(latency);
    for at in acts {
        sim.at(*at, Event::Activity);
    }
    sim.run(ACTED + IDLE + 10_000);
    let Some((left, reason)) = sim.redirected.clone() else {
        panic!("the tab never ended");
    };
    assert_eq!(reason, Some(Reason::IdleTimeout));
    let (server_end, server_reason) = sim.server_ended.clone().expect("the server ended");
    assert_eq!(
        server_reason,
        Reason::IdleTimeout,
        "the server agrees on the reason"
    );
    let server_deadline = sim.server_deadline();
    assert!(
        left >= server_deadline,
        "the tab ended {} ms before the server's deadline",
        server_deadline - left
    );
    assert!(server_end >= server_deadline);
    let lateness = left - (ACTED + IDLE);
    let (claimed, fastest) = sim.accepted_claim.expect("the server heard the activity");
    assert_eq!(claimed, sim.server.last_activity);
    let fastest = fastest.expect("the claim was sent after an answer");
    let bound = bound.map_or(fastest, |bound| bound.min(fastest));
    assert!(
        (-bound..=TIMER_RESOLUTION).contains(&lateness),
        "ended {lateness} ms after the user's deadline; the offset bound is {bound} ms"
    );
}

/// The keepalive's answer after the first activity is slow to come back: the old offset
/// (from the latest view) took its 400 ms into the claimed instant and the tab ended
/// 400 ms early, with the server.
#[test]
fn a_slow_answer_does_not_move_the_claimed_instant() {
    ends_on_time(|n| if n == 1 { (2, 400) } else { (1, 1) }, 2);
}

/// The answer fetched one second ahead of the deadline (request 4, after the first view
/// and three keepalives) is the slow one: the least the server's clock can read came from
/// it, 600 ms behind, and the tab ended that late.
#[test]
fn a_slow_answer_ahead_of_the_deadline_does_not_delay_the_ending() {
    ends_on_time(|n| if n == 4 { (1, 600) } else { (1, 1) }, 2);
}

/// The first answer comes back slowly (the page was busy starting), so the one activity is
/// stamped, and claimed, 130 ms early; the keepalive's fast answer then proves the server's
/// clock further on: the activity moves with it, a keepalive corrects the claim, and the
/// tab ends on the user's own deadline instead of 130 ms early.
#[test]
fn a_slow_first_answer_does_not_end_the_session_early() {
    // Requests 0 and 1: the page's first `GET /api/session`, and the one the tab makes on
    // becoming the leader.
    ends_on_time_acting_at(
        &[ACTED],
        |n| if n <= 1 { (1, 130) } else { (1, 1) },
        Some(2),
    );
}

/// Requests slow one way or the other, in turns and varying in size.
#[test]
fn asymmetric_and_varying_latency_ends_on_time() {
    ends_on_time(
        |n| [(3, 2), (1, 350), (480, 1), (2, 3), (40, 260), (300, 1)][n % 6],
        5,
    );
    ends_on_time(|n| [(1, 1), (250, 3), (2, 700), (9, 9), (1, 500)][n % 5], 2);
    ends_on_time(
        |n| ((n as Millis * 37) % 120 + 1, (n as Millis * 53) % 300 + 1),
        2,
    );
}

/// The server's clock is stepped 2 s ahead after the tab learned its offset: the next
/// answer proves a higher offset, so the tab follows the server although that answer is
/// slower, and the instants it stamps are right again on the server's clock, early by at
/// most that answer's round trip. Stepped back again, the next answer's highest lies below
/// the kept offset, and the tab follows it back.
#[test]
fn a_stepped_server_clock_is_followed_by_a_slower_answer() {
    let mut sim = Sim::new(|n| if n == 0 { (1, 1) } else { (5, 60) });
    sim.run(T0 + 100);
    for (step, acted) in [(2_000, T0 + 400), (0, T0 + 2_600)] {
        sim.server.offset = step;
        // Shown again: the tab asks the server.
        sim.engine.handle_visible(clocks(sim.real));
        sim.carry_out();
        sim.run(acted - 1);
        sim.at(acted, Event::Activity);
        sim.run(acted);
        let stamped = sim
            .activity_broadcast
            .take()
            .expect("the activity is broadcast");
        let error = stamped - (acted + step);
        assert!(
            (-65..=0).contains(&error),
            "stamped {error} ms off the server's clock stepped to {step} ms"
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Any latencies, each way its own, varying from request to request: the tab never
    /// ends before the server's deadline, the server agrees on the reason, and the ending
    /// lies within the timer's resolution after the user's deadline and no further before
    /// it than the shortest round trip of the answers it had when it sent the claim the
    /// server ends on (the fastest view the offset can come from; a faster answer still on
    /// its way, or a correction that reaches the server too late, cannot help).
    #[test]
    fn any_latency_ends_on_time(
        latencies in proptest::collection::vec((1i64..400, 1i64..400), 1..8),
        early_activity in proptest::bool::ANY,
    ) {
        let acts: &[Millis] = if early_activity { &[T0 + 400, ACTED] } else { &[ACTED] };
        ends_on_time_acting_at(acts, move |n| latencies[n % latencies.len()], None);
    }
}
