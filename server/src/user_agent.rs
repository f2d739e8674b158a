//! A short browser description ("Firefox 128 on Linux") from a `User-Agent` header, for
//! the Admin Console's session list.
//!
//! Hand-written rather than a parser crate: the console needs only the family, major
//! version and platform of the common browsers, while the full parsers (`uaparser`,
//! `woothee`) carry large regex databases and their update churn. The raw header is
//! shown next to it, so an unknown browser loses nothing.

/// Browser families in the order they must be tried: Edge and Opera also say "Chrome",
/// headless Chrome's token ends in "Chrome/", Chrome also says "Safari".
const FAMILIES: &[(&str, &str)] = &[
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("HeadlessChrome/", "Headless Chrome"),
    ("Chrome/", "Chrome"),
];

/// Platforms, most specific first (Android also says "Linux", iOS "Mac OS X").
const PLATFORMS: &[(&str, &str)] = &[
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
];

/// "Family Major on Platform", or "Unknown browser" when nothing is recognised.
pub(crate) fn describe(user_agent: &str) -> String {
    let family = FAMILIES
        .iter()
        .find_map(|(token, name)| version_after(user_agent, token).map(|v| (*name, v)))
        .or_else(|| {
            // Safari names its version in "Version/x" and says "Safari/".
            user_agent
                .contains("Safari/")
                .then(|| version_after(user_agent, "Version/").map(|v| ("Safari", v)))
                .flatten()
        });
    let platform = PLATFORMS
        .iter()
        .find(|(token, _)| user_agent.contains(token))
        .map(|(_, name)| *name);
    match (family, platform) {
        (Some((name, version)), Some(platform)) => format!("{name} {version} on {platform}"),
        (Some((name, version)), None) => format!("{name} {version}"),
        (None, Some(platform)) => format!("Unknown browser on {platform}"),
        (None, None) => "Unknown browser".to_owned(),
    }
}

/// The major version that follows `token`, when it is a number.
fn version_after<'a>(user_agent: &'a str, token: &str) -> Option<&'a str> {
    let start = user_agent.find(token)? + token.len();
    let rest = &user_agent[start..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn common_browsers_are_named() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox 128 on Linux"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome 131 on Windows"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86", "Edge 131 on Windows"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15", "Safari 17 on macOS"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1", "Safari 17 on iOS"),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome 131 on Android"),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "Headless Chrome 131 on Linux"),
            ("curl/8.5.0", "Unknown browser"),
            ("", "Unknown browser"),
            ("Firefox/", "Unknown browser"),
        ];
        for (ua, expected) in cases {
            assert_eq!(describe(ua), expected, "{ua}");
        }
    }
}
