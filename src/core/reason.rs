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
    let mut words = String::new();
    for (n, unit) in parts.into_iter().filter(|(n, _)| *n > 0) {
        if !words.is_empty() {
            words.push(' ');
        }
        push_number(&mut words, n, 1);
        words.push(' ');
        words.push_str(unit);
        if n != 1 {
            words.push('s');
        }
    }
    if words.is_empty() {
        "0 seconds".into()
    } else {
        words
    }
}

/// Appends `n` (negative counts as 0) in decimal with at least `width` digits, leading
/// zeros first: the notices' numbers without the formatting machinery.
pub(crate) fn push_number(out: &mut String, n: i64, width: usize) {
    let value = n.max(0).unsigned_abs();
    let mut divisor = 1u64;
    let mut digits = 1;
    while value / divisor >= 10 {
        divisor *= 10;
        digits += 1;
    }
    for _ in digits..width {
        out.push('0');
    }
    while divisor > 0 {
        out.push(char::from(b'0' + (value / divisor % 10) as u8));
        divisor /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_with_leading_zeros_to_the_width() {
        for (n, width, text) in [
            (0, 1, "0"),
            (0, 2, "00"),
            (7, 2, "07"),
            (59, 2, "59"),
            (123, 2, "123"),
            (-5, 2, "00"),
            (i64::MAX, 1, "9223372036854775807"),
        ] {
            let mut out = String::new();
            push_number(&mut out, n, width);
            assert_eq!(out, text);
        }
    }

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
