//! The engine's single wake-up, on a browser timer.

use gloo_timers::callback::Timeout;

use crate::core::Millis;

/// setTimeout fires at once for delays above 2^31-1 ms; a longer wait is split, and the
/// early wake-up is a spurious timeout the engine ignores.
const MAX_DELAY_MS: Millis = i32::MAX as Millis;

/// Holds at most one pending timeout; re-arming or dropping it cancels the previous one.
#[derive(Default)]
#[must_use = "the pending wake-up is cancelled when this timer is dropped"]
pub struct DeadlineTimer {
    armed: Option<(Millis, Timeout)>,
}

impl DeadlineTimer {
    /// Makes `at` (local epoch ms) the one pending wake-up, calling `on_fire` then; `None`
    /// cancels. Asking again for the instant already armed keeps the running timer, so an
    /// activity storm does not churn timers.
    ///
    /// The delay is counted from the clock as it reads now, when the timer is armed, not
    /// from the instant the caller's input began: an input that took a few milliseconds
    /// (a loaded machine) would otherwise make the wake-up late by as much. The clock reads
    /// whole milliseconds rounded down, so the timer does not fire before `at` by it (and a
    /// wake-up before a deadline changes nothing: the engine asks for it again).
    pub fn arm(&mut self, at: Option<Millis>, on_fire: impl FnOnce() + 'static) {
        match at {
            None => self.armed = None,
            Some(at) if self.armed_at() == Some(at) => {}
            Some(at) => {
                let delay = at.saturating_sub(super::now_ms()).clamp(0, MAX_DELAY_MS);
                // The clamp above keeps the value within u32.
                let timeout = Timeout::new(delay as u32, on_fire);
                self.armed = Some((at, timeout));
            }
        }
    }

    /// The instant currently armed, if any.
    pub fn armed_at(&self) -> Option<Millis> {
        self.armed.as_ref().map(|(at, _)| *at)
    }

    /// Forgets the timer that just fired, so the next `arm` for the same instant re-arms.
    pub fn fired(&mut self) {
        self.armed = None;
    }
}
