//! The session state machine. See the module docs of [`crate::core`] for the driving loop.

use std::collections::VecDeque;

use super::config::{EngineConfig, LeaderMode};
use super::peer::{self, PeerBody};
use super::view::{ConsentState, SessionPolicy, SessionView};
use super::{Millis, Reason};

/// Spacing floor for configured intervals: a zero interval would make the engine ask to be
/// woken up again at the instant it was woken, a busy loop in the browser.
const MIN_INTERVAL: Millis = 100;
/// A heartbeat follower claims leadership after this many silent heartbeat intervals.
const MISSED_HEARTBEATS: Millis = 3;

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
/// - forward jump: the engine's time runs ahead, so deadlines are reached earlier; when the
///   next view reveals the lead, every stored instant moves back by it, which again only
///   brings deadlines closer. A forward jump never delays an ending.
/// - backward jump: engine time never goes back; the jump is detected at the first input after
///   it and time resumes from the last instant seen, so an ending is delayed by at most
///   `min(J, gap between the inputs around the jump)`, and no later than the first server view
///   after the deadline (the view re-anchors the clock and ends the session at once).
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
            push_connected: false,
            next_poll: None,
            connection_problem: false,
        }
    }

    // ----- inputs -------------------------------------------------------------------------

    /// A session view from the server (`GET /api/session`, a keepalive answer, an SSE
    /// `session` event). Re-learns the clock offset and the policy; ignored once ended.
    pub fn handle_server_view(&mut self, view: SessionView, now: Millis) {
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
        let t = view.server_time;
        if self.offset.is_some() && predicted > t {
            self.rebase(predicted.saturating_sub(t));
        }
        self.offset = Some(t.saturating_sub(now));
        self.high_water = t;

        let policy = SessionPolicy::from_view(&view);
        let policy = match &self.config.policy_override {
            Some(shorter) => shorter.apply(policy),
            None => policy,
        };
        let recording_required = policy.recording_required;
        self.policy = Some(policy);
        self.session_id = Some(view.session_id);
        self.connection_problem = false;
        self.last_activity = self.last_activity.max(view.last_activity_at).min(t);
        self.reported_activity = self.reported_activity.max(view.last_activity_at).min(t);
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
    pub fn handle_server_terminated(&mut self, reason: Reason, now: Millis) {
        if self.begin(now).is_some() {
            self.end(Some(reason), Notify::Peers);
        }
    }

    /// The server answered `401` without a reason: not signed in. Ends with no reason.
    pub fn handle_server_unauthenticated(&mut self, now: Millis) {
        if self.begin(now).is_some() {
            self.end(None, Notify::Nobody);
        }
    }

    /// A request failed at the network level. Not a logout: only flags a connection problem
    /// until the next view. Before the first view the engine stays in `Starting` (nothing is
    /// rendered) and retries every poll interval.
    pub fn handle_server_unreachable(&mut self, now: Millis) {
        let Some(t) = self.begin(now) else { return };
        self.connection_problem = true;
        if self.state == State::Starting && self.next_poll.is_none() {
            self.next_poll = Some(t.saturating_add(self.config.poll_interval));
        }
    }

    /// The leader's push stream (SSE) connected or dropped; while it is down the leader
    /// polls. Other tabs hold no stream: the leader relays endings to them.
    pub fn handle_push_stream(&mut self, connected: bool, now: Millis) {
        let Some(t) = self.begin(now) else { return };
        self.push_connected = connected;
        if self.state == State::Starting {
            return;
        }
        if connected {
            self.next_poll = None;
        } else if self.next_poll.is_none() {
            self.next_poll = Some(t.saturating_add(self.config.poll_interval));
        }
    }

    /// The user did something in this tab (pointer, key, scroll...).
    pub fn handle_activity(&mut self, now: Millis) {
        let Some(t) = self.begin(now) else { return };
        if !self.is_live() {
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
    pub fn handle_stay_signed_in(&mut self, now: Millis) {
        let Some(t) = self.begin(now) else { return };
        if !matches!(self.state, State::Active | State::Warning { .. }) {
            return;
        }
        self.last_activity = self.last_activity.max(t);
        self.broadcast_activity(PeerBody::StaySignedIn { at: t }, t);
        self.send_keepalive(t);
        self.tick(t);
    }

    /// The user clicked "sign out".
    pub fn handle_logout(&mut self, now: Millis) {
        if self.begin(now).is_some() {
            self.end(Some(Reason::LoggedOut), Notify::Everyone);
        }
    }

    /// The user answered the recording consent prompt.
    pub fn handle_consent(&mut self, accepted: bool, now: Millis) {
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
    pub fn handle_visible(&mut self, now: Millis) {
        if let Some(t) = self.begin(now) {
            self.effects.push_back(Effect::FetchSession);
            self.tick(t);
        }
    }

    /// A raw message from another tab. Anything invalid is ignored without a state change.
    pub fn handle_peer(&mut self, message: &str, now: Millis) {
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
                if future(at) {
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
                if self.config.leader_mode != LeaderMode::Heartbeat || future(at) {
                    return;
                }
                self.heartbeat_heard = self.heartbeat_heard.max(t);
                if self.leader && tab_id.as_ref() < self.config.tab_id.as_str() {
                    self.leader = false;
                }
            }
            PeerBody::Logout { reason } => {
                self.end(Some(reason), Notify::Nobody);
                return;
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

    /// Lock mode: this tab acquired (`true`) or lost the leader lock. Ignored in heartbeat
    /// mode, where the engine elects itself.
    pub fn handle_leadership(&mut self, is_leader: bool, now: Millis) {
        let Some(t) = self.begin(now) else { return };
        if self.config.leader_mode == LeaderMode::Lock {
            self.leader = is_leader;
            self.tick(t);
        }
    }

    /// The wake-up requested by [`Engine::poll_timeout`] (or any earlier one: a wake-up before
    /// anything is due changes nothing).
    pub fn handle_timeout(&mut self, now: Millis) {
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
            consider(Some(policy.expires_at));
            consider(self.idle_deadline());
            if self.state == State::Active {
                consider(self.warning_at());
            }
            consider(self.broadcast_due());
            consider(self.keepalive_due());
            if self.config.leader_mode == LeaderMode::Heartbeat {
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

    /// Whether the last request failed at the network level (cleared by the next view).
    pub fn connection_problem(&self) -> bool {
        self.connection_problem
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
    fn begin(&mut self, now: Millis) -> Option<Millis> {
        if self.is_ended() {
            return None;
        }
        let t = self.clock(now);
        self.tick(t);
        (!self.is_ended()).then_some(t)
    }

    fn clock(&mut self, now: Millis) -> Millis {
        let Some(offset) = self.offset else {
            return now;
        };
        let raw = now.saturating_add(offset);
        if raw < self.high_water {
            // The local clock went back: shift the offset so time resumes where it was.
            self.offset = Some(offset.saturating_add(self.high_water.saturating_sub(raw)));
            return self.high_water;
        }
        self.high_water = raw;
        raw
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
    }

    /// Acts on everything due at `t`, endings first, then refreshes the warning state.
    fn tick(&mut self, t: Millis) {
        if let Some(reason) = self.due_ending(t) {
            self.end(Some(reason), Notify::Everyone);
            return;
        }
        if self.poll_due().is_some_and(|at| t >= at) {
            self.effects.push_back(Effect::FetchSession);
            self.next_poll = Some(t.saturating_add(self.config.poll_interval));
        }
        if self.policy.is_none() {
            return;
        }
        if self.config.leader_mode == LeaderMode::Heartbeat && t >= self.heartbeat_due() {
            self.leader = true;
            self.heartbeat_sent = t;
            self.broadcast(PeerBody::LeaderHeartbeat { at: t });
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

    fn due_ending(&self, t: Millis) -> Option<Reason> {
        let policy = self.policy.as_ref()?;
        let expired = t >= policy.expires_at;
        match (expired, self.idle_deadline().filter(|d| t >= *d)) {
            (true, Some(idle)) if idle < policy.expires_at => Some(Reason::IdleTimeout),
            (true, _) => Some(Reason::SessionExpired),
            (false, Some(_)) => Some(Reason::IdleTimeout),
            (false, None) => None,
        }
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

    fn is_live(&self) -> bool {
        matches!(
            self.state,
            State::AwaitingConsent | State::Active | State::Warning { .. }
        )
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
        if self.leader && self.config.leader_mode == LeaderMode::Heartbeat {
            self.heartbeat_sent = t;
            self.broadcast(PeerBody::LeaderHeartbeat { at: t });
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
