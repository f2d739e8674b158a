//! The identifier rules of the contract, with one set of limits for every place that checks
//! them: the server (request bodies, paths, the acting-tab header, audit filters) and the
//! guard (session views, server-sent events, cross-tab messages).

use std::ops::RangeInclusive;

/// Longest session id, tab id or scope name.
pub const MAX_ID_LEN: usize = 64;
/// Length of a tab id (`^[A-Za-z0-9_-]{8,64}$`): long enough to be unguessable when minted
/// at random, short enough for a path segment and an audit column.
pub const TAB_ID_LEN: RangeInclusive<usize> = 8..=MAX_ID_LEN;
/// Length of a session id (`^[A-Za-z0-9_-]{1,64}$`; the server mints 28 characters).
pub const SESSION_ID_LEN: RangeInclusive<usize> = 1..=MAX_ID_LEN;

/// Whether every byte is one of `[A-Za-z0-9_-]`: safe in a URL path, a channel name, a
/// storage key and HTML attributes without escaping.
fn plain(id: &str) -> bool {
    id.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A tab id: `^[A-Za-z0-9_-]{8,64}$`.
pub fn is_tab_id(id: &str) -> bool {
    TAB_ID_LEN.contains(&id.len()) && plain(id)
}

/// A session id: `^[A-Za-z0-9_-]{1,64}$`.
pub fn is_session_id(id: &str) -> bool {
    SESSION_ID_LEN.contains(&id.len()) && plain(id)
}

/// A scope name: `^[a-z][a-z0-9_.:-]{0,63}$`.
pub fn is_scope(scope: &str) -> bool {
    let mut bytes = scope.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && scope.len() <= MAX_ID_LEN
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b':' | b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_ids_are_8_to_64_plain_characters() {
        for ok in ["tab_0000", "abcdefgh", "A-_9aaaa", &"a".repeat(64)] {
            assert!(is_tab_id(ok), "{ok}");
        }
        for bad in [
            "",
            "short",
            "tab_000",
            &"a".repeat(65),
            "tab_00 0",
            "tab/../x",
            "tab_000é",
            "tab%2e%2e",
        ] {
            assert!(!is_tab_id(bad), "{bad}");
        }
    }

    #[test]
    fn session_ids_are_1_to_64_plain_characters() {
        for ok in ["s", "ses_1", "ses_3kTq-_", &"a".repeat(64)] {
            assert!(is_session_id(ok), "{ok}");
        }
        for bad in ["", &"a".repeat(65), "ses/../x", "ses 1", "ses\"1", "sés"] {
            assert!(!is_session_id(bad), "{bad}");
        }
    }

    #[test]
    fn scopes_validate() {
        for ok in [
            "a",
            "admin:manage",
            "console.access",
            "x-1_2",
            &"a".repeat(64),
        ] {
            assert!(is_scope(ok), "{ok}");
        }
        for bad in ["", "A", "1a", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(!is_scope(bad), "{bad}");
        }
    }
}
