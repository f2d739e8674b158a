//! The session state machine. See the module docs of [`crate::core`] for the driving loop.

use std::collections::VecDeque;

use super::config::{EngineConfig, LeaderMode};
use super::peer::{self, PeerBody};
use super::view::{ConsentState, SessionPolicy, SessionView};
use super::{Millis, Reason};

/// Spacing floor for configured intervals: a zero interval would make the engine ask to be
/// woken up again at the instant it was woken, a busy loop in the browser.
const MIN_INTERVAL: Millis = 100;
/// A follower takes over from a leader that has been silent for this many heartbeat
/// intervals (a stalled leader: frozen tab, debugger pause, an `alert()` left open).
const MISSED_HEARTBEATS: Millis = 2;
/// How far the wall clock may run ahead of the monotonic clock between two inputs before
/// the difference counts as a jump: NTP slewing stays far below this over any gap.
const FORWARD_JUMP_TOLERANCE: Millis = 1_000;
/// How long an ending deadline waits for the server's answer before the tab ends on its
/// own (fail closed): longer than the browser layer's request timeout.
const CONFIRM_WAIT: Millis = 15_000;
/// How long before the absolute end of the session the lifetime notice shows, longest
/// first: the lifetime cannot be extended, so the user gets two chances to save their work.
pub const LIFETIME_WARNING_LEADS: [Millis; 2] = [10 * 60_000, 2 * 60_000];

/// The absolute end of the session is near (see [`LIFETIME_WARNING_LEADS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifetimeWarning {
    /// When the session ends, in local time (the clock passed as `now`).
    pub ends_at: Millis,
    /// The lead whose instant has passed: the session ends in at most this long.
    pub within: Millis,
}

impl LifetimeWarning {
    /// The notice's text, with `ends_at` already formatted as a local clock time.
    pub fn message(&self, ends_at: &str) -> String {
        format!(
            "Your session ends at {ends_at}, in less than {}. It cannot be extended: \
             save your work now, then sign in again to continue.",
            super::reason::describe_duration(self.within)
        )
    }
}

/// The clocks at the instant of an input: the wall clock (`Date.now()`), which the engine
/// maps to server time, and optionally a monotonic clock (`performance.now()`), which
/// bounds how fast that time may advance. A plain [`Millis`] converts into a reading
/// without a monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Local wall-clock time, epoch milliseconds.
    pub wall: Millis,
    /// A monotonic clock in milliseconds from any origin, fixed for the engine's life.
    pub monotonic: Option<Millis>,
}

impl From<Millis> for Now {
    fn from(wall: Millis) -> Now {
        Now {
            wall,
            monotonic: None,
        }
    }
}

/// What the UI should show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// No session view yet: render nothing (fail closed).
    Starting,
    /// Recording is required and the user has not accepted it yet.
    AwaitingConsent,
    /// Signed in.
    Active,
    /// Signed in, and the idle deadline is near.
    Warning {
        /// Idle deadline in local time (the clock passed as `now`).
        deadline: Millis,
    },
    /// The session is over; sticky. `reason` is `None` when the server said "not signed in"
    /// without a reason, so the login page shows no message.
    Ended {
        /// Why it ended.
        reason: Option<Reason>,
    },
}

/// Something the browser layer must do, drained with [`Engine::poll_effect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send this encoded [`super::PeerMessage`] to the other tabs.
    Broadcast(String),
    /// `POST /api/session/activity {"idle_ms"}`; only ever emitted by the leader.
    SendKeepalive {
        /// How long ago the user was last active in any tab.
        idle_ms: Millis,
    },
    /// `POST /api/session/consent {"accepted"}`; only by the tab where the user decided.
    SendConsent {
        /// The user's decision.
        accepted: bool,
    },
    /// `POST /api/logout {"reason"}` for endings decided in this tab.
    EndServerSession {
        /// Why the session ended.
        reason: Reason,
    },
    /// `GET /api/session` and feed the answer back.
    FetchSession,
    /// Lock mode: the leader has been silent for too long (a stalled tab keeps its lock),
    /// so take the leader lock from it (Web Locks `steal`) and report the grant through
    /// [`Engine::handle_leadership`]; the tab that loses the lock reports `false`.
    TakeOverLeadership,
    /// Go to the login page, with `?reason=` when there is one; emitted once per engine.
    Redirect {
        /// Why the session ended, `None` for "not signed in".
        reason: Option<Reason>,
    },
}

/// Who must hear about an ending besides this tab.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Notify {
    /// Decided here: tell the other tabs and the server.
    Everyone,
    /// The server already knows: tell the other tabs.
    Peers,
    /// A peer told us, or there is nothing to tell.
    Nobody,
}

/// The sans-IO session engine of one tab.
///
/// Internally every instant is server time (local `now` plus the offset learned from the last
/// view), so tabs with different clocks agree. Clock guarantee (invariant 7), with `J` the size
/// of a local clock jump:
/// - forward jump: with a monotonic clock in the input ([`Now::monotonic`]), a wall clock
///   that ran more than 1 s ahead of the monotonic one since the previous input is not
///   followed: engine time advances by the monotonic time elapsed, and the server is asked
///   for a view at once, which re-anchors the clock to the server's. Without a monotonic clock the engine's time runs
///   ahead, so deadlines are reached earlier; when the next view reveals the lead, every
///   stored instant moves back by it.
/// - backward jump: engine time never goes back; the jump is detected at the first input after
///   it and time resumes from the last instant seen, so an ending is delayed by at most
///   `min(J, gap between the inputs around the jump)`, and no later than the first server view
///   after the deadline (the view re-anchors the clock and ends the session at once).
///
/// Whatever the clocks say, a local idle or lifetime deadline ends the session only once the
/// server confirms it: the tab asks (`FetchSession`) and ends with the server's reason; it
/// ends on its own only when the server cannot be reached, does not answer within 15 s, or
/// answers with a view whose own clock is already past the (locally shortened) deadline.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    state: State,
    effects: VecDeque<Effect>,
    /// Server time minus local time; `None` before the first view.
    offset: Option<Millis>,
    /// Latest server instant seen, so a local clock going back never moves time back.
    high_water: Millis,
    session_id: Option<String>,
    policy: Option<SessionPolicy>,
    consent_accepted: bool,
    /// Latest activity in any tab, server time.
    last_activity: Millis,
    /// Latest activity the server is known to have heard of.
    reported_activity: Millis,
    last_keepalive: Option<Millis>,
    last_activity_broadcast: Option<Millis>,
    activity_broadcast_pending: bool,
    leader: bool,
    heartbeat_sent: Millis,
    heartbeat_heard: Millis,
    /// The monotonic clock and engine time at the previous input, to bound forward jumps.
    monotonic_anchor: Option<(Millis, Millis)>,
    /// Engine time of the latest server view: the instant the clock was last confirmed.
    anchored_at: Millis,
    /// Engine time at which an ending deadline asked the server to confirm it. Meanwhile no
    /// activity counts: only the server's answer can keep the session.
    confirming: Option<Millis>,
    /// Engine time of the latest known outcome of a request (this tab's or a peer's).
    connection_at: Millis,
    /// The page is hidden: as a follower it leaves a silent leader alone.
    hidden: bool,
    push_connected: bool,
    /// Next `FetchSession`: polling while the push stream is down, start-up retries.
    next_poll: Option<Millis>,
    connection_problem: bool,
}

impl Engine {
    /// A new engine in [`State::Starting`]. Intervals below 100 ms are raised to 100 ms.
    pub fn new(mut config: EngineConfig) -> Engine {
        config.poll_interval = config.poll_interval.max(MIN_INTERVAL);
        config.activity_broadcast_interval = config.activity_broadcast_interval.max(MIN_INTERVAL);
        config.heartbeat_interval = config.heartbeat_interval.max(MIN_INTERVAL);
        config.max_peer_skew = config.max_peer_skew.max(0);
        Engine {
            config,
            state: State::Starting,
            effects: VecDeque::new(),
            offset: None,
            high_water: Millis::MIN,
            session_id: None,
            policy: None,
            consent_accepted: false,
            last_activity: Millis::MIN,
            reported_activity: Millis::MIN,
            last_keepalive: None,
            last_activity_broadcast: None,
            activity_broadcast_pending: false,
            leader: false,
            heartbeat_sent: Millis::MIN,
            heartbeat_heard: Millis::MIN,
            monotonic_anchor: None,
            anchored_at: Millis::MIN,
            confirming: None,
            connection_at: Millis::MIN,
            hidden: false,
            push_connected: false,
            next_poll: None,
            connection_problem: false,
        }
    }

    // ----- inputs -------------------------------------------------------------------------

    /// A session view from the server (`GET /api/session`, a keepalive answer, an SSE
    /// `session` event). Re-learns the clock offset and the policy; ignored once ended.
    pub fn handle_server_view(&mut self, view: SessionView, now: impl Into<Now>) {
        let now = now.into();
        let Some(predicted) = self.begin(now) else {
            return;
        };
        if self
            .session_id
            .as_deref()
            .is_some_and(|id| id != view.session_id)
        {
            // The cookie now belongs to another session (a login elsewhere): this page's
            // session is gone and its state must not carry over.
            self.end(None, Notify::Nobody);
            return;
        }
        let was_starting = self.state == State::Starting;
        let was_awaiting = self.state == State::AwaitingConsent;
        let t = view.server_time.as_millis();
        if self.offset.is_some() && predicted > t {
            self.rebase(predicted.saturating_sub(t));
        }
        self.offset = Some(t.saturating_sub(now.wall));
        self.high_water = t;
        self.monotonic_anchor = now.monotonic.map(|mono| (mono, t));
        self.anchored_at = t;
        self.confirming = None;

        let policy = SessionPolicy::from_view(&view);
        let policy = match &self.config.policy_override {
            Some(shorter) => shorter.apply(policy),
            None => policy,
        };
        let recording_required = policy.recording_required;
        self.policy = Some(policy);
        self.session_id = Some(view.session_id);
        if self.connection_problem {
            self.connection_problem = false;
            self.broadcast(PeerBody::Connection {
                reachable: true,
                at: t,
            });
        }
        self.connection_at = self.connection_at.max(t);
        let last_activity_at = view.last_activity_at.as_millis();
        self.last_activity = self.last_activity.max(last_activity_at).min(t);
        self.reported_activity = self.reported_activity.max(last_activity_at).min(t);
        if view.recording.consent == ConsentState::Accepted {
            self.consent_accepted = true;
        }
        self.state = if recording_required && !self.consent_accepted {
            State::AwaitingConsent
        } else if matches!(self.state, State::Starting | State::AwaitingConsent) {
            State::Active
        } else {
            self.state.clone()
        };
        self.next_poll =
            (!self.push_connected).then(|| t.saturating_add(self.config.poll_interval));
        if was_starting {
            self.heartbeat_heard = t;
            self.broadcast(PeerBody::Hello);
        }
        if was_awaiting && recording_required && self.consent_accepted {
            // The server has stored the consent: the other tabs may start too.
            self.broadcast(PeerBody::Consent { accepted: true });
        }
        self.tick(t);
    }

    /// The server said the session ended (`401 {reason}` or SSE `terminated`).
    pub fn handle_server_terminated(&mut self, reason: Reason, now: impl Into<Now>) {
        if self.begin(now).is_some() {
            self.end(Some(reason), Notify::Peers);
        }
    }

    /// The server said an administrator ended one tab of the session (SSE `tab_ended`,
    /// heard by the leader, which holds the stream). This tab ends with
    /// [`Reason::TabTerminated`] when it is the one; otherwise the news goes to the other
    /// tabs over the channel, where only the named tab ends. The session itself continues,
    /// so neither the server nor the other tabs are told of an ending.
    pub fn handle_server_tab_ended(&mut self, tab_id: &str, now: impl Into<Now>) {
        if self.begin(now).is_none() || self.is_ended() {
            return;
        }
        if tab_id == self.config.tab_id {
            self.end(Some(Reason::TabTerminated), Notify::Nobody);
        } else {
            self.broadcast(PeerBody::TabEnded {
                target_tab_id: tab_id.to_owned(),
            });
        }
    }

    /// The server answered `401` without a reason: not signed in. Ends with no reason.
    pub fn handle_server_unauthenticated(&mut self, now: impl Into<Now>) {
        if self.begin(now).is_some() {
            self.end(None, Notify::Nobody);
        }
    }

    /// A request failed at the network level. Not a logout: flags a connection problem in
    /// every tab (over the channel) until a view arrives. Before the first view the engine
    /// stays in `Starting` (nothing is rendered) and retries every poll interval. An ending
    /// deadline waiting for the server's confirmation ends the session now (fail closed).
    pub fn handle_server_unreachable(&mut self, now: impl Into<Now>) {
        let Some(t) = self.begin(now) else { return };
        self.connection_problem = true;
        self.connection_at = self.connection_at.max(t);
        self.broadcast(PeerBody::Connection {
            reachable: false,
            at: t,
        });
        if self.confirming.is_some() {
            if let Some((reason, _)) = self.due_ending(t) {
                self.end(Some(reason), Notify::Everyone);
                return;
            }
        }
        // Before the first view every tab retries; afterwards the leader polls until an
        // answer clears the problem, even with the push stream up (it may carry nothing for
        // hours), so the banner goes away without waiting for the user to do something.
        if self.next_poll.is_none() {
            self.next_poll = Some(t.saturating_add(self.config.poll_interval));
        }
    }

    /// The leader's push stream (SSE) connected or dropped; while it is down the leader
    /// polls. Other tabs hold no stream: the leader relays endings to them.
    pub fn handle_push_stream(&mut self, connected: bool, now: impl Into<Now>) {
        let Some(t) = self.begin(now) else { return };
        self.push_connected = connected;
        if self.state == State::Starting {
            return;
        }
        if connected && !self.connection_problem {
            self.next_poll = None;
        } else if self.next_poll.is_none() {
            self.next_poll = Some(t.saturating_add(self.config.poll_interval));
        }
    }

    /// The user did something in this tab (pointer, key, scroll...).
    pub fn handle_activity(&mut self, now: impl Into<Now>) {
        let Some(t) = self.begin(now) else { return };
        if !self.is_live() || self.confirming.is_some() {
            return;
        }
        let warning = matches!(self.state, State::Warning { .. });
        self.last_activity = self.last_activity.max(t);
        let throttled = self
            .last_activity_broadcast
            .is_some_and(|at| t < at.saturating_add(self.config.activity_broadcast_interval));
        if warning || !throttled {
            self.broadcast_activity(PeerBody::Activity { at: t }, t);
        } else {
            self.activity_broadcast_pending = true;
        }
        if warning {
            self.send_keepalive(t);
        }
        self.tick(t);
    }

    /// The user clicked "stay signed in" on the warning.
    pub fn handle_stay_signed_in(&mut self, now: impl Into<Now>) {
        let Some(t) = self.begin(now) else { return };
        if !matches!(self.state, State::Active | State::Warning { .. }) || self.confirming.is_some()
        {
            return;
        }
        self.last_activity = self.last_activity.max(t);
        self.broadcast_activity(PeerBody::StaySignedIn { at: t }, t);
        self.send_keepalive(t);
        self.tick(t);
    }

    /// The user clicked "sign out".
    pub fn handle_logout(&mut self, now: impl Into<Now>) {
        if self.begin(now).is_some() {
            self.end(Some(Reason::LoggedOut), Notify::Everyone);
        }
    }

    /// The user answered the recording consent prompt.
    pub fn handle_consent(&mut self, accepted: bool, now: impl Into<Now>) {
        let Some(t) = self.begin(now) else { return };
        if self.state != State::AwaitingConsent {
            return;
        }
        self.effects.push_back(Effect::SendConsent { accepted });
        if accepted {
            // Answering is activity, and the server records it with the consent (it
            // refused keepalives until now): nothing is left to report in a keepalive that
            // could overtake the consent and be refused.
            self.last_activity = self.last_activity.max(t);
            self.reported_activity = self.last_activity;
            // The session starts when the server's answer says it stored the consent
            // (`handle_server_view`), not before: the server refuses everything but the
            // view while consent is pending, so protected content that started earlier
            // would race the consent and be refused. Asking again is harmless.
            self.tick(t);
        } else {
            // The server ends the session itself when consent is declined.
            self.end(Some(Reason::ConsentDeclined), Notify::Peers);
        }
    }

    /// The tab became visible, focused, was restored or went online: timers may have been
    /// throttled, so deadlines are checked at once and the view is refreshed.
    pub fn handle_visible(&mut self, now: impl Into<Now>) {
        if let Some(t) = self.begin(now) {
            if self.confirming.is_none() {
                self.effects.push_back(Effect::FetchSession);
            }
            self.tick(t);
        }
    }

    /// The page was shown (`true`) or hidden. A hidden follower does not take over from a
    /// silent leader: it shows nothing, nobody works in it, and browsers throttle hidden
    /// pages' timers so much that hidden tabs would keep taking the lead from each other.
    /// Shown again, it takes over at once if the leader is still silent.
    pub fn handle_page_visibility(&mut self, visible: bool, now: impl Into<Now>) {
        self.hidden = !visible;
        self.begin(now);
    }

    /// A raw message from another tab. Anything invalid is ignored without a state change.
    pub fn handle_peer(&mut self, message: &str, now: impl Into<Now>) {
        let Some(t) = self.begin(now) else { return };
        let Some(session_id) = self.session_id.as_deref() else {
            return;
        };
        let Ok((tab_id, body)) = peer::parse(message, session_id) else {
            return;
        };
        if tab_id == self.config.tab_id {
            return;
        }
        let future = |at: Millis| at > t.saturating_add(self.config.max_peer_skew);
        match body {
            PeerBody::Activity { at } | PeerBody::StaySignedIn { at } => {
                // A deadline waiting for the server is the server's to decide.
                if future(at) || self.confirming.is_some() {
                    return;
                }
                let warning = matches!(self.state, State::Warning { .. });
                let newer = at.min(t) > self.last_activity;
                self.last_activity = self.last_activity.max(at.min(t));
                let asked = matches!(body, PeerBody::StaySignedIn { .. });
                if asked || (warning && newer) {
                    // The sender's user wants to stay: the server must hear it now, not at
                    // the next keepalive slot, which may come after the server's deadline.
                    self.send_keepalive(t);
                }
            }
            PeerBody::LeaderHeartbeat { at } => {
                if future(at) {
                    return;
                }
                self.heartbeat_heard = self.heartbeat_heard.max(t);
                // In lock mode the lock decides: a tab that lost it to a steal hears so from
                // the browser, not from heartbeats.
                if self.config.leader_mode == LeaderMode::Heartbeat
                    && self.leader
                    && tab_id.as_ref() < self.config.tab_id.as_str()
                {
                    self.leader = false;
                }
            }
            PeerBody::Connection { reachable, at } => {
                if future(at) {
                    return;
                }
                let at = at.min(t);
                // The latest outcome wins; of two at the same instant, the failure.
                if at > self.connection_at {
                    self.connection_at = at;
                    self.connection_problem = !reachable;
                } else if at == self.connection_at && !reachable {
                    self.connection_problem = true;
                }
                // Should this tab lead, it polls until the problem clears.
                if self.connection_problem && self.next_poll.is_none() {
                    self.next_poll = Some(t.saturating_add(self.config.poll_interval));
                }
            }
            PeerBody::Logout { reason } => {
                self.end(Some(reason), Notify::Nobody);
                return;
            }
            PeerBody::TabEnded { target_tab_id } => {
                // Only the named tab ends; the session and every other tab carry on.
                if target_tab_id == self.config.tab_id {
                    self.end(Some(Reason::TabTerminated), Notify::Nobody);
                    return;
                }
            }
            PeerBody::Consent { accepted: false } => {
                self.end(Some(Reason::ConsentDeclined), Notify::Nobody);
                return;
            }
            PeerBody::Consent { accepted: true } => {
                self.consent_accepted = true;
                if self.state == State::AwaitingConsent {
                    self.state = State::Active;
                }
            }
            PeerBody::Hello => self.greet(t),
        }
        self.tick(t);
    }

    /// Lock mode: this tab acquired (`true`) or lost the leader lock (also when another tab
    /// took it over from this one). Ignored in heartbeat mode, where the engine elects itself.
    pub fn handle_leadership(&mut self, is_leader: bool, now: impl Into<Now>) {
        let Some(t) = self.begin(now) else { return };
        if self.config.leader_mode == LeaderMode::Lock {
            if is_leader && !self.leader {
                self.become_leader(t);
            } else if !is_leader {
                // Give the tab that took over a full heartbeat bound to be heard.
                self.leader = false;
                self.heartbeat_heard = self.heartbeat_heard.max(t);
            }
            self.tick(t);
        }
    }

    /// The wake-up requested by [`Engine::poll_timeout`] (or any earlier one: a wake-up before
    /// anything is due changes nothing).
    pub fn handle_timeout(&mut self, now: impl Into<Now>) {
        self.begin(now);
    }

    // ----- outputs ------------------------------------------------------------------------

    /// The next local instant at which [`Engine::handle_timeout`] must be called, or `None`
    /// when nothing is pending. May lie in the past, meaning "as soon as possible".
    pub fn poll_timeout(&self) -> Option<Millis> {
        if self.is_ended() {
            return None;
        }
        let mut next = self.poll_due();
        let mut consider = |at: Option<Millis>| {
            next = match (next, at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        };
        if let Some(policy) = &self.policy {
            match self.confirming {
                // The deadlines have passed; what is left is waiting for the server.
                Some(asked) => consider(Some(asked.saturating_add(CONFIRM_WAIT))),
                None => {
                    consider(Some(policy.expires_at));
                    consider(self.idle_deadline());
                }
            }
            if self.state == State::Active {
                consider(self.warning_at());
            }
            if self.shows_content() {
                consider(self.next_lifetime_warning());
            }
            consider(self.broadcast_due());
            consider(self.keepalive_due());
            if self.watches_leader() {
                consider(Some(self.heartbeat_due()));
            }
        }
        next.map(|at| self.to_local(at))
    }

    /// Takes the next effect to carry out, in order.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// What the UI should show.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether this tab is the one that sends keepalives; never once ended (the browser
    /// layer should then release the leader lock).
    pub fn is_leader(&self) -> bool {
        self.leader && !self.is_ended()
    }

    /// Whether the session is being recorded: required, accepted and not ended.
    pub fn is_recording(&self) -> bool {
        self.policy.as_ref().is_some_and(|p| p.recording_required)
            && self.consent_accepted
            && matches!(self.state, State::Active | State::Warning { .. })
    }

    /// Whether the latest known request of any tab failed at the network level (cleared by
    /// the next answer any tab gets); never once ended.
    pub fn connection_problem(&self) -> bool {
        self.connection_problem && !self.is_ended()
    }

    /// The lifetime notice to show, once the latest instant the engine has seen lies within
    /// the longest of [`LIFETIME_WARNING_LEADS`] of the absolute end; `None` unless `Active`
    /// or `Warning`. The engine wakes up at each lead's instant, so the notice changes only
    /// after an input.
    pub fn lifetime_warning(&self) -> Option<LifetimeWarning> {
        if !self.shows_content() {
            return None;
        }
        let expires_at = self.policy.as_ref()?.expires_at;
        let within = LIFETIME_WARNING_LEADS
            .iter()
            .copied()
            .filter(|lead| self.high_water >= expires_at.saturating_sub(*lead))
            .min()?;
        Some(LifetimeWarning {
            ends_at: self.to_local(expires_at),
            within,
        })
    }

    /// Time left until the next ending deadline (idle or absolute); `None` unless `Active` or
    /// `Warning`.
    pub fn remaining_ms(&self, now: Millis) -> Option<Millis> {
        if !matches!(self.state, State::Active | State::Warning { .. }) {
            return None;
        }
        let policy = self.policy.as_ref()?;
        let deadline = self
            .idle_deadline()
            .map_or(policy.expires_at, |idle| idle.min(policy.expires_at));
        Some(deadline.saturating_sub(self.peek_clock(now)).max(0))
    }

    /// The policy in force, once a view arrived.
    pub fn policy(&self) -> Option<&SessionPolicy> {
        self.policy.as_ref()
    }

    /// The session id, once a view arrived.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    // ----- internals ----------------------------------------------------------------------

    /// Every input starts here: advance the clock and act on whatever fell due, so a late
    /// wake-up never lets stale state act. Returns the server time, or `None` once ended.
    fn begin(&mut self, now: impl Into<Now>) -> Option<Millis> {
        if self.is_ended() {
            return None;
        }
        let t = self.clock(now.into());
        self.tick(t);
        (!self.is_ended()).then_some(t)
    }

    fn clock(&mut self, now: Now) -> Millis {
        let Some(mut offset) = self.offset else {
            return now.wall;
        };
        let mut raw = now.wall.saturating_add(offset);
        if let (Some(mono), Some((anchor_mono, anchor_t))) = (now.monotonic, self.monotonic_anchor)
        {
            let monotonic = anchor_t.saturating_add(mono.saturating_sub(anchor_mono).max(0));
            if raw > monotonic.saturating_add(FORWARD_JUMP_TOLERANCE) {
                // The wall clock ran ahead of the monotonic one: a clock correction, or a sleep
                // on a platform whose monotonic clock pauses. Only the server can tell, so time
                // follows the monotonic clock and the server is asked for its own.
                offset = offset.saturating_sub(raw.saturating_sub(monotonic));
                self.offset = Some(offset);
                raw = monotonic;
                self.effects.push_back(Effect::FetchSession);
            }
        }
        let t = if raw < self.high_water {
            // The local clock went back: shift the offset so time resumes where it was.
            self.offset = Some(offset.saturating_add(self.high_water.saturating_sub(raw)));
            self.high_water
        } else {
            self.high_water = raw;
            raw
        };
        self.monotonic_anchor = now.monotonic.map(|mono| (mono, t));
        t
    }

    fn peek_clock(&self, now: Millis) -> Millis {
        self.offset.map_or(now, |offset| {
            now.saturating_add(offset).max(self.high_water)
        })
    }

    fn to_local(&self, server: Millis) -> Millis {
        server.saturating_sub(self.offset.unwrap_or(0))
    }

    /// Our clock ran `lead` ahead of the server: move every instant we stamped back by it.
    /// That can only bring deadlines and wake-ups closer, never push them out.
    fn rebase(&mut self, lead: Millis) {
        let back = |at: Millis| at.saturating_sub(lead);
        self.last_activity = back(self.last_activity);
        self.reported_activity = back(self.reported_activity);
        self.last_keepalive = self.last_keepalive.map(back);
        self.last_activity_broadcast = self.last_activity_broadcast.map(back);
        self.heartbeat_sent = back(self.heartbeat_sent);
        self.heartbeat_heard = back(self.heartbeat_heard);
        self.next_poll = self.next_poll.map(back);
        self.anchored_at = back(self.anchored_at);
        self.confirming = self.confirming.map(back);
        self.connection_at = back(self.connection_at);
    }

    /// Acts on everything due at `t`, endings first, then refreshes the warning state.
    fn tick(&mut self, t: Millis) {
        match self.due_ending(t) {
            Some((reason, deadline)) => {
                // A deadline the server's own clock already passed (a view came after it), or
                // one the server left unanswered for too long, ends here; any other is a
                // question to the server first, whose answer decides.
                let answered = deadline <= self.anchored_at;
                let unanswered = self
                    .confirming
                    .is_some_and(|asked| t >= asked.saturating_add(CONFIRM_WAIT));
                if answered || unanswered {
                    self.end(Some(reason), Notify::Everyone);
                    return;
                }
                if self.confirming.is_none() {
                    self.confirming = Some(t);
                    self.effects.push_back(Effect::FetchSession);
                }
            }
            None => self.confirming = None,
        }
        if self.poll_due().is_some_and(|at| t >= at) {
            self.effects.push_back(Effect::FetchSession);
            self.next_poll = Some(t.saturating_add(self.config.poll_interval));
        }
        if self.policy.is_none() {
            return;
        }
        if self.watches_leader() && t >= self.heartbeat_due() {
            self.heartbeat_due_now(t);
        }
        if self.broadcast_due().is_some_and(|at| t >= at) {
            self.broadcast_activity(
                PeerBody::Activity {
                    at: self.last_activity,
                },
                t,
            );
        }
        if self.keepalive_due().is_some_and(|at| t >= at) {
            self.send_keepalive(t);
        }
        if let State::Active | State::Warning { .. } = self.state {
            self.state = match (self.warning_at(), self.idle_deadline()) {
                (Some(warn), Some(deadline)) if t >= warn => State::Warning {
                    deadline: self.to_local(deadline),
                },
                _ => State::Active,
            };
        }
    }

    /// The ending that is due at `t`, with its deadline.
    fn due_ending(&self, t: Millis) -> Option<(Reason, Millis)> {
        let policy = self.policy.as_ref()?;
        let expired = t >= policy.expires_at;
        match (expired, self.idle_deadline().filter(|d| t >= *d)) {
            (true, Some(idle)) if idle < policy.expires_at => Some((Reason::IdleTimeout, idle)),
            (true, _) => Some((Reason::SessionExpired, policy.expires_at)),
            (false, Some(idle)) => Some((Reason::IdleTimeout, idle)),
            (false, None) => None,
        }
    }

    /// The heartbeat timer fell due: the leader says it is alive; a follower has not heard
    /// from the leader for [`MISSED_HEARTBEATS`] intervals and takes over.
    fn heartbeat_due_now(&mut self, t: Millis) {
        let interval = self.config.heartbeat_interval;
        if self.leader {
            if self.config.leader_mode == LeaderMode::Heartbeat
                && t >= self
                    .heartbeat_sent
                    .saturating_add(interval.saturating_mul(MISSED_HEARTBEATS))
            {
                // This leader itself stopped running for so long that another tab has taken
                // over: it rejoins as a follower instead of fighting for the lead.
                self.leader = false;
                self.heartbeat_heard = t;
                return;
            }
            self.heartbeat_sent = t;
            self.broadcast(PeerBody::LeaderHeartbeat { at: t });
            return;
        }
        // Silent leader: retry only after another full bound.
        self.heartbeat_heard = t;
        match self.config.leader_mode {
            LeaderMode::Heartbeat => self.become_leader(t),
            LeaderMode::Lock => {
                self.effects.push_back(Effect::TakeOverLeadership);
                // Until the lock is granted, this tab checks the session itself: the silent
                // leader may have missed an ending.
                self.effects.push_back(Effect::FetchSession);
            }
        }
    }

    /// This tab starts leading: it announces itself and checks the session at once, since
    /// it cannot know what the previous leader missed.
    fn become_leader(&mut self, t: Millis) {
        self.leader = true;
        self.heartbeat_sent = t;
        self.broadcast(PeerBody::LeaderHeartbeat { at: t });
        self.effects.push_back(Effect::FetchSession);
    }

    /// When to poll the server. Only the leader holds the push stream (browsers allow six
    /// connections per host over HTTP/1.1, so a stream per tab would starve the seventh tab),
    /// so only the leader polls while it is down; the others hear of endings from the
    /// leader's broadcast. Before the first view every tab retries on its own.
    fn poll_due(&self) -> Option<Millis> {
        self.next_poll
            .filter(|_| self.leader || self.state == State::Starting)
    }

    fn idle_deadline(&self) -> Option<Millis> {
        let idle = self.policy.as_ref()?.idle_timeout?;
        Some(self.last_activity.saturating_add(idle))
    }

    fn warning_at(&self) -> Option<Millis> {
        let lead = self.policy.as_ref()?.warning_lead;
        Some(self.idle_deadline()?.saturating_sub(lead))
    }

    /// The next lifetime-warning instant still ahead, server time.
    fn next_lifetime_warning(&self) -> Option<Millis> {
        let expires_at = self.policy.as_ref()?.expires_at;
        LIFETIME_WARNING_LEADS
            .iter()
            .map(|lead| expires_at.saturating_sub(*lead))
            .filter(|at| *at > self.high_water)
            .min()
    }

    fn broadcast_due(&self) -> Option<Millis> {
        if !self.activity_broadcast_pending {
            return None;
        }
        let last = self.last_activity_broadcast?;
        Some(last.saturating_add(self.config.activity_broadcast_interval))
    }

    /// When the leader owes the server a keepalive: after activity it has not reported, once
    /// the keepalive interval has passed, or sooner if the server's own idle deadline (as of
    /// the last report) is about to enter its warning window.
    /// None while consent is pending: the server refuses keepalives then (a pending session
    /// cannot be kept alive), and the activity is reported once consent is given.
    fn keepalive_due(&self) -> Option<Millis> {
        let policy = self.policy.as_ref()?;
        if !self.leader
            || self.last_activity <= self.reported_activity
            || self.state == State::AwaitingConsent
        {
            return None;
        }
        let by_interval = self.last_keepalive.map_or(Millis::MIN, |at| {
            at.saturating_add(policy.keepalive_interval)
        });
        let by_server_deadline = policy.idle_timeout.map_or(Millis::MAX, |idle| {
            self.reported_activity
                .saturating_add(idle)
                .saturating_sub(policy.warning_lead)
        });
        Some(by_interval.min(by_server_deadline).max(self.last_activity))
    }

    fn heartbeat_due(&self) -> Millis {
        let interval = self.config.heartbeat_interval;
        if self.leader {
            self.heartbeat_sent.saturating_add(interval)
        } else {
            self.heartbeat_heard
                .saturating_add(interval.saturating_mul(MISSED_HEARTBEATS))
        }
    }

    /// Whether the heartbeat timer runs: the leader's, or a visible follower's.
    fn watches_leader(&self) -> bool {
        self.is_live() && (self.leader || !self.hidden)
    }

    fn is_live(&self) -> bool {
        matches!(
            self.state,
            State::AwaitingConsent | State::Active | State::Warning { .. }
        )
    }

    /// Whether the protected content shows: signed in, consent given where required.
    fn shows_content(&self) -> bool {
        matches!(self.state, State::Active | State::Warning { .. })
    }

    fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended { .. })
    }

    fn send_keepalive(&mut self, t: Millis) {
        if !self.leader {
            return;
        }
        self.effects.push_back(Effect::SendKeepalive {
            idle_ms: t.saturating_sub(self.last_activity).max(0),
        });
        self.last_keepalive = Some(t);
        self.reported_activity = self.last_activity;
    }

    fn broadcast_activity(&mut self, body: PeerBody, t: Millis) {
        self.broadcast(body);
        self.last_activity_broadcast = Some(t);
        self.activity_broadcast_pending = false;
    }

    /// Answers a new tab's hello so it joins with the current state.
    fn greet(&mut self, t: Millis) {
        self.broadcast(PeerBody::Activity {
            at: self.last_activity,
        });
        if self.consent_accepted && self.policy.as_ref().is_some_and(|p| p.recording_required) {
            self.broadcast(PeerBody::Consent { accepted: true });
        }
        if self.leader {
            self.heartbeat_sent = t;
            self.broadcast(PeerBody::LeaderHeartbeat { at: t });
        }
        if self.connection_problem {
            self.broadcast(PeerBody::Connection {
                reachable: false,
                at: self.connection_at,
            });
        }
    }

    fn broadcast(&mut self, body: PeerBody) {
        if let Some(session_id) = &self.session_id {
            let text = peer::encode(session_id, &self.config.tab_id, &body);
            self.effects.push_back(Effect::Broadcast(text));
        }
    }

    fn end(&mut self, reason: Option<Reason>, notify: Notify) {
        if self.is_ended() {
            return;
        }
        if let Some(reason) = &reason {
            if notify != Notify::Nobody {
                self.broadcast(PeerBody::Logout {
                    reason: reason.clone(),
                });
            }
            if notify == Notify::Everyone {
                self.effects.push_back(Effect::EndServerSession {
                    reason: reason.clone(),
                });
            }
        }
        self.effects.push_back(Effect::Redirect {
            reason: reason.clone(),
        });
        self.state = State::Ended { reason };
    }
}
