//! The login redirect: building `/login?reason=..&return_to=..` and accepting `return_to`
//! back only as a same-origin path.
//!
//! Plain Rust, like the core, so the sanitising rules are tested natively and in browsers.

use crate::core::{push_number, Millis, Reason};

/// Where a rejected `return_to` sends the user.
pub const DEFAULT_RETURN: &str = "/";

/// Longest `return_to` kept; a longer one is replaced, not cut (a cut path may mean something
/// else).
const MAX_RETURN_LEN: usize = 2048;

/// Returns `candidate` when it is a same-origin absolute path, otherwise [`DEFAULT_RETURN`].
///
/// Accepted: a single leading `/` followed by a path, query or fragment. Rejected: `//host`,
/// `/\host` and every other backslash, schemes (`javascript:`, `https:`), control
/// characters (browsers drop tabs and newlines, turning `/\t/host` into `//host`), and
/// percent-encoded forms of any of these (checked on the decoded text too, repeatedly, so
/// double encoding does not slip through).
///
/// The path is judged as the browser will navigate to it: its dot segments (`.`, `..` and
/// their encoded forms `%2e`, `.%2E`, ...) are removed the way the URL parser removes them,
/// and a path that then starts with `//` is rejected: `/.//evil.example` becomes
/// `//evil.example`, which a link or a redirect would take as another host.
///
/// ```
/// use session_guard::redirect::same_origin_path;
/// assert_eq!(same_origin_path("/admin/sessions?page=2"), "/admin/sessions?page=2");
/// assert_eq!(same_origin_path("//evil.example/"), "/");
/// assert_eq!(same_origin_path("/%2F%2Fevil.example"), "/");
/// assert_eq!(same_origin_path("/.//evil.example"), "/");
/// ```
pub fn same_origin_path(candidate: &str) -> &str {
    if candidate.len() <= MAX_RETURN_LEN && is_safe_path(candidate) {
        candidate
    } else {
        DEFAULT_RETURN
    }
}

fn is_safe_path(candidate: &str) -> bool {
    let mut text = candidate.to_string();
    // Each round peels one layer of percent-encoding; a path that still decodes after a few
    // rounds is hostile or broken, and either way not a place to send anyone.
    for _ in 0..4 {
        if !is_safe_decoded(&text) {
            return false;
        }
        match percent_decode(&text) {
            Some(decoded) if decoded == text => return true,
            Some(decoded) => text = decoded,
            None => return false,
        }
    }
    false
}

fn is_safe_decoded(text: &str) -> bool {
    let mut chars = text.chars();
    if chars.next() != Some('/') {
        return false;
    }
    if matches!(chars.next(), Some('/') | Some('\\')) {
        return false;
    }
    if normalized_path(text).starts_with("//") {
        return false;
    }
    if text.chars().any(|c| c == '\\' || c.is_control()) {
        return false;
    }
    // A scheme can only hide before the first '/', '?' or '#'; a leading '/' already rules
    // it out, but a ':' in the first segment still confuses some URL parsers.
    let first_segment = text
        .strip_prefix('/')
        .and_then(|rest| rest.split(['/', '?', '#']).next())
        .unwrap_or("");
    !first_segment.contains(':')
}

/// The path of `text` (an absolute path, possibly with a query or fragment) after the URL
/// parser's dot-segment removal (WHATWG URL, "path state"): `.` and `%2e` segments vanish,
/// `..` and its encoded forms remove the segment before them, and a dot segment at the end
/// leaves an empty last segment. Backslashes are rejected before this is asked.
pub fn normalized_path(text: &str) -> String {
    let path = text.split(['?', '#']).next().unwrap_or("");
    let is_any =
        |segment: &str, names: &[&str]| names.iter().any(|name| segment.eq_ignore_ascii_case(name));
    let mut out: Vec<&str> = Vec::new();
    let mut ended_on_dot = false;
    for segment in path.strip_prefix('/').unwrap_or(path).split('/') {
        let double = is_any(segment, &["..", ".%2e", "%2e.", "%2e%2e"]);
        let single = is_any(segment, &[".", "%2e"]);
        if double {
            out.pop();
        }
        ended_on_dot = double || single;
        if !ended_on_dot {
            out.push(segment);
        }
    }
    if ended_on_dot {
        out.push("");
    }
    let mut normalized = String::with_capacity(path.len() + 1);
    for segment in &out {
        normalized.push('/');
        normalized.push_str(segment);
    }
    if out.is_empty() {
        normalized.push('/');
    }
    normalized
}

/// Percent-decodes `text`; `None` when the result is not UTF-8 or an escape is malformed.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = hex_digit(*bytes.get(i + 1)?)?;
            let low = hex_digit(*bytes.get(i + 2)?)?;
            out.push(high << 4 | low);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The value of one hexadecimal digit of a percent escape.
fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Percent-encodes everything but unreserved characters, for a query value.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(byte >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(byte & 0xf)]));
        }
    }
    out
}

/// Shortest and longest inactivity limit a login URL may name; anything else is ignored,
/// so a crafted link cannot make the notice say something absurd.
const IDLE_LIMIT_RANGE: std::ops::RangeInclusive<Millis> = 1_000..=7 * 24 * 3_600_000;

/// The login URL for an ended session: `{login_path}?reason=..&idle_ms=..&return_to=..`.
///
/// `reason` is `None` when the user simply is not signed in. `idle_timeout` is added for an
/// idle timeout only, so the login page names the limit that really applied. `return_to`
/// is sanitised with [`same_origin_path`] here too, so a caller cannot build an open
/// redirect by mistake.
///
/// ```
/// use session_guard::core::Reason;
/// use session_guard::redirect::login_url;
/// assert_eq!(
///     login_url("/login", Some(&Reason::IdleTimeout), Some(900_000), "/admin?tab=users"),
///     "/login?reason=idle_timeout&idle_ms=900000&return_to=/admin%3Ftab%3Dusers"
/// );
/// ```
pub fn login_url(
    login_path: &str,
    reason: Option<&Reason>,
    idle_timeout: Option<Millis>,
    return_to: &str,
) -> String {
    let login_path = same_origin_path(login_path);
    let mut url = String::from(login_path);
    url.push('?');
    if let Some(reason) = reason {
        url.push_str("reason=");
        url.push_str(&percent_encode(reason.wire_name()));
        url.push('&');
        let limit = idle_timeout.filter(|ms| IDLE_LIMIT_RANGE.contains(ms));
        if let (Reason::IdleTimeout, Some(limit)) = (reason, limit) {
            url.push_str("idle_ms=");
            push_number(&mut url, limit, 1);
            url.push('&');
        }
    }
    url.push_str("return_to=");
    url.push_str(&percent_encode(same_origin_path(return_to)));
    url
}

/// The inactivity limit a login URL names (`idle_ms`), if it is a plausible one.
pub fn idle_limit_param(search: &str) -> Option<Millis> {
    query_param(search, "idle_ms")
        .filter(|text| {
            !text.is_empty() && text.len() <= 12 && text.bytes().all(|b| b.is_ascii_digit())
        })
        .and_then(|text| text.parse().ok())
        .filter(|ms| IDLE_LIMIT_RANGE.contains(ms))
}

/// One query parameter of `search` (with or without the leading `?`), percent-decoded
/// (`+` as space). The first occurrence wins.
pub fn query_param(search: &str, name: &str) -> Option<String> {
    search
        .trim_start_matches('?')
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| percent_decode(&value.replace('+', " ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_same_origin_paths() {
        for path in [
            "/",
            "/dashboard",
            "/admin/sessions?page=2#top",
            "/a/b%20c",
            "/search?q=a:b",
        ] {
            assert_eq!(same_origin_path(path), path, "{path}");
        }
    }

    #[test]
    fn rejects_everything_that_can_leave_the_origin() {
        for hostile in [
            "",
            "dashboard",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "/javascript:alert(1)",
            "/%2F%2Fevil.example",
            "/%2fevil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "/%252F%252Fevil.example",
            "/%25252F%25252Fevil.example%2525252F",
            "/\t/evil.example",
            "/%09/evil.example",
            // Dot segments: the browser removes them and is left with `//evil.example`.
            "/.//evil.example",
            "/./%2Fevil.example",
            "/%2E//evil.example",
            "/%2e//evil.example",
            "/..//evil.example",
            "/a/..//evil.example",
            "/%2e%2e/%2e%2e//evil.example",
            "/.%2E//evil.example",
            "/%2E.//evil.example",
            "/%252E//evil.example",
            "/%2F.%2F%2Fevil.example",
            "%2F.%2F%2Fevil.example",
            "/./\\evil.example",
            "/.//evil.example?x=1#y",
            "/..//evil.example/",
            "/%E0%A4%A",
            "/%ff",
            "/\u{0000}",
        ] {
            assert_eq!(same_origin_path(hostile), DEFAULT_RETURN, "{hostile:?}");
        }
        assert_eq!(same_origin_path(&format!("/{}", "a".repeat(5000))), "/");
    }

    #[test]
    fn keeps_paths_whose_dot_segments_stay_on_the_origin() {
        for path in [
            "/a/./b",
            "/a/../b",
            "/./admin",
            "/../dashboard",
            "/%2e%2e/admin?x=//evil.example",
            "/admin#//evil.example",
            "/a/b/..",
            "/search?q=/../..//x",
        ] {
            assert_eq!(same_origin_path(path), path, "{path}");
        }
    }

    #[test]
    fn normalizes_dot_segments_like_the_url_parser() {
        for (raw, normalized) in [
            ("/", "/"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/..", "/"),
            ("/../../x", "/x"),
            ("/.//evil.example", "//evil.example"),
            ("/%2E//evil.example", "//evil.example"),
            ("/%2e%2e/%2e%2e//evil.example", "//evil.example"),
            ("/a/.%2E/b", "/b"),
            ("/a%2Fb/../c", "/c"),
            ("/a?b/../..//c", "/a"),
            ("/a#/../..//c", "/a"),
        ] {
            assert_eq!(normalized_path(raw), normalized, "{raw}");
        }
    }

    #[test]
    fn login_url_encodes_and_sanitises() {
        assert_eq!(
            login_url("/login", None, Some(900_000), "//evil.example"),
            "/login?return_to=/"
        );
        assert_eq!(
            login_url(
                "/login",
                Some(&Reason::RoleChanged),
                Some(900_000),
                "/admin"
            ),
            "/login?reason=role_changed&return_to=/admin"
        );
        assert_eq!(
            login_url("https://evil.example/login", None, None, "/"),
            "/?return_to=/"
        );
        assert_eq!(
            login_url("/login", None, None, "//evil.example"),
            "/login?return_to=/",
            "the path of http://host//evil.example"
        );
        assert_eq!(
            login_url("/./%2F/evil.example", None, None, "/"),
            "/?return_to=/"
        );
        assert_eq!(
            login_url("/login", Some(&Reason::IdleTimeout), Some(5), "/"),
            "/login?reason=idle_timeout&return_to=/",
            "an implausible limit is left out"
        );
    }

    #[test]
    fn login_url_round_trips_through_query_param() {
        let url = login_url("/login", Some(&Reason::Suspended), None, "/a?b=c&d=e f#g");
        let search = url.split_once('?').map(|(_, s)| s).unwrap_or("");
        assert_eq!(query_param(search, "reason").as_deref(), Some("suspended"));
        assert_eq!(
            query_param(search, "return_to").as_deref(),
            Some("/a?b=c&d=e f#g")
        );
    }

    #[test]
    fn idle_limit_param_accepts_only_plausible_numbers() {
        let url = login_url("/login", Some(&Reason::IdleTimeout), Some(360_000), "/");
        let search = url.split_once('?').map(|(_, s)| s).unwrap_or("");
        assert_eq!(idle_limit_param(search), Some(360_000));
        for hostile in [
            "idle_ms=",
            "idle_ms=-5",
            "idle_ms=5",
            "idle_ms=1e9",
            "idle_ms=%3Cscript%3E",
            "idle_ms=99999999999999999999",
            "idle_ms=999999999999",
        ] {
            assert_eq!(idle_limit_param(hostile), None, "{hostile}");
        }
    }

    #[test]
    fn query_param_handles_odd_input() {
        assert_eq!(query_param("?a=1&a=2", "a").as_deref(), Some("1"));
        assert_eq!(query_param("flag&x=%41", "x").as_deref(), Some("A"));
        assert_eq!(query_param("flag", "flag").as_deref(), Some(""));
        assert_eq!(query_param("x=%zz", "x"), None);
        assert_eq!(query_param("", "x"), None);
    }
}
