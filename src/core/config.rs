//! Engine configuration: per-tab identity and the timing knobs of the cross-tab protocol.

use super::view::clamp_lead;
use super::{DurationMs, Millis, RecordingLimits, SessionPolicy};

/// How the tab that talks to the server (sends keepalives) is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderMode {
    /// The browser holds a Web Lock and reports it through `Engine::handle_leadership`.
    Lock,
    /// No Web Locks: tabs elect a leader with heartbeats over the cross-tab channel.
    Heartbeat,
}

/// Lets tests and the demo shorten the server's policy. It can only shorten: a longer value
/// than the server's is ignored, so an override can never keep a session alive longer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PolicyOverride {
    /// Idle timeout to use instead of the server's, if shorter (privileged sessions only).
    pub idle_timeout: Option<Millis>,
    /// Warning lead to use instead of the server's, if shorter.
    pub warning_lead: Option<Millis>,
}

impl PolicyOverride {
    pub(crate) fn apply(&self, mut policy: SessionPolicy) -> SessionPolicy {
        if let (Some(idle), Some(shorter)) = (policy.idle_timeout, self.idle_timeout) {
            policy.idle_timeout = Some(idle.min(shorter.max(1)));
        }
        if let Some(shorter) = self.warning_lead {
            policy.warning_lead = policy.warning_lead.min(shorter.max(1));
        }
        if let Some(idle) = policy.idle_timeout {
            policy.warning_lead = clamp_lead(policy.warning_lead, idle);
        }
        policy
    }
}

/// Configuration of one tab's engine. There is no `Default`: every tab needs its own id, and
/// two engines sharing one would take each other's messages for their own echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// This tab's id, carried in every cross-tab message; also the heartbeat tie-breaker.
    pub tab_id: String,
    /// How the leader is chosen.
    pub leader_mode: LeaderMode,
    /// Spacing of `FetchSession` while the push stream is down (and of start-up retries).
    pub poll_interval: DurationMs,
    /// Minimum spacing of activity broadcasts to other tabs.
    pub activity_broadcast_interval: DurationMs,
    /// Spacing of the leader's heartbeats (both modes); a leader silent for two intervals
    /// is replaced.
    pub heartbeat_interval: DurationMs,
    /// Peer messages stamped further than this in the future are ignored.
    pub max_peer_skew: DurationMs,
    /// Optional shortening of the server policy.
    pub policy_override: Option<PolicyOverride>,
    /// The fail-closed bounds of session recording.
    pub recording_limits: RecordingLimits,
}

impl EngineConfig {
    /// The contract's defaults for a tab with the given id, in [`LeaderMode::Lock`].
    pub fn new(tab_id: impl Into<String>) -> EngineConfig {
        EngineConfig {
            tab_id: tab_id.into(),
            leader_mode: LeaderMode::Lock,
            poll_interval: DurationMs::from_millis(5_000),
            activity_broadcast_interval: DurationMs::from_millis(2_000),
            heartbeat_interval: DurationMs::SECOND,
            max_peer_skew: DurationMs::from_millis(5_000),
            policy_override: None,
            recording_limits: RecordingLimits::default(),
        }
    }
}
