//! Why a session ended: the contract's [`Reason`] (wire names and login-page texts live in
//! `session-guard-contract`), and durations in words for the notices.

pub use session_guard_contract::Reason;

use super::Millis;

/// A duration in words, exact to the second: "20 seconds", "15 minutes", "1 minute 30
/// seconds", "24 hours". Sub-minute policies (shortened demos and tests) read correctly
/// instead of rounding down to "0 minutes".
pub fn describe_duration(ms: Millis) -> String {
    let seconds = ms.max(0).saturating_add(500) / 1_000;
    let parts = [
        (seconds / 3_600, "hour"),
        (seconds / 60 % 60, "minute"),
        (seconds % 60, "second"),
    ];
    let words: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}{}", if *n == 1 { "" } else { "s" }))
        .collect();
    if words.is_empty() {
        "0 seconds".into()
    } else {
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_exactly_below_a_minute_too() {
        assert_eq!(describe_duration(20_000), "20 seconds");
        assert_eq!(describe_duration(1_000), "1 second");
        assert_eq!(describe_duration(0), "0 seconds");
        assert_eq!(describe_duration(60_000), "1 minute");
        assert_eq!(describe_duration(90_000), "1 minute 30 seconds");
        assert_eq!(describe_duration(15 * 60_000), "15 minutes");
        assert_eq!(describe_duration(24 * 3_600_000), "24 hours");
        assert_eq!(describe_duration(3_600_000 + 1_000), "1 hour 1 second");
    }
}
