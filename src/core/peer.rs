//! The cross-tab protocol (contract "Cross-tab protocol"): versioned, internally tagged JSON.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use session_guard_contract::ids;
use session_guard_contract::json::ObjectWriter;

use super::{CoreError, Reason, ServerTime};

/// Version carried in the `v` field; messages of any other version are ignored.
pub const PROTOCOL_VERSION: u32 = 1;
/// Longer messages are rejected unparsed: the largest legitimate one is a few hundred bytes.
pub const MAX_PEER_MESSAGE_BYTES: usize = 4 * 1024;

/// One cross-tab message: the envelope fields of the contract plus the typed body.
/// Serializes flat, e.g. `{"v":1,"session_id":"s","tab_id":"t","type":"hello"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerMessage {
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub v: u32,
    /// Session the message belongs to.
    pub session_id: String,
    /// Sending tab.
    pub tab_id: String,
    /// What the message says.
    #[serde(flatten)]
    pub body: PeerBody,
}

/// The typed part of a [`PeerMessage`]; times are server time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PeerBody {
    /// The user was active in the sender at `at`.
    Activity {
        /// Server time of the activity.
        at: ServerTime,
    },
    /// The user clicked "stay signed in" in the sender at `at`.
    StaySignedIn {
        /// Server time of the click.
        at: ServerTime,
    },
    /// The session ended; every tab must end with this reason.
    Logout {
        /// Why it ended.
        reason: Reason,
    },
    /// The user decided on recording in the sender.
    Consent {
        /// Whether recording was accepted.
        accepted: bool,
    },
    /// A new tab joined and asks for the current state.
    Hello,
    /// The leader is alive and running: sent every heartbeat interval by the leader, in
    /// both election modes, so that a leader that stops running is noticed and replaced.
    LeaderHeartbeat {
        /// Server time of the heartbeat.
        at: ServerTime,
    },
    /// Whether the session server answered the sender's last request: a connection
    /// problem is the session's, so every tab shows it and clears it.
    Connection {
        /// `false` when a request failed at the network level, `true` when the server
        /// answered again.
        reachable: bool,
        /// Server time of that request's outcome; the latest outcome wins.
        at: ServerTime,
    },
    /// The leader heard from the server (SSE `tab_ended`) that an administrator ended one
    /// tab: that tab, and only it, ends with [`Reason::TabTerminated`].
    TabEnded {
        /// The tab that was ended.
        target_tab_id: String,
    },
}

/// The fields of a cross-tab message as a JSON reader found them, before any check; only
/// [`PeerMessage::decode`] and [`Engine::handle_peer_with`](super::Engine::handle_peer_with)
/// turn them into a message. Natively serde reads them (borrowing, so decoding the common
/// messages allocates nothing); the guard's wasm fills them from the browser's `JSON.parse`
/// and reaches the same checks.
#[derive(Debug, Clone, Deserialize)]
pub struct PeerFields<'a> {
    /// `v`, the protocol version.
    pub v: u32,
    /// `session_id`.
    #[serde(borrow)]
    pub session_id: Cow<'a, str>,
    /// `tab_id`, the sender.
    #[serde(borrow)]
    pub tab_id: Cow<'a, str>,
    /// `type`.
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// `at`, where the type has it.
    #[serde(default)]
    pub at: Option<ServerTime>,
    /// `reason`, where the type has it.
    #[serde(default, borrow)]
    pub reason: Option<Cow<'a, str>>,
    /// `accepted`, where the type has it.
    #[serde(default)]
    pub accepted: Option<bool>,
    /// `reachable`, where the type has it.
    #[serde(default)]
    pub reachable: Option<bool>,
    /// `target_tab_id`, where the type has it.
    #[serde(default, borrow)]
    pub target_tab_id: Option<Cow<'a, str>>,
}

/// Reads a message's fields with serde_json (the native reader; see [`PeerFields`]).
pub fn read_fields(text: &str) -> Result<PeerFields<'_>, CoreError> {
    Ok(serde_json::from_str(text)?)
}

impl PeerMessage {
    /// Encodes the message as the JSON string other tabs receive.
    pub fn encode(&self) -> String {
        encode(&self.session_id, &self.tab_id, &self.body)
    }

    /// Decodes a message meant for `session_id`. Rejects oversize input, malformed JSON,
    /// another version or session, unknown types and missing fields.
    pub fn decode(text: &str, session_id: &str) -> Result<PeerMessage, CoreError> {
        Self::decode_with(text, session_id, read_fields)
    }

    /// [`PeerMessage::decode`] with another JSON reader for the fields (see
    /// [`PeerFields`]); the same checks apply to what it reads.
    pub fn decode_with<'a>(
        text: &'a str,
        session_id: &str,
        read: impl FnOnce(&'a str) -> Result<PeerFields<'a>, CoreError>,
    ) -> Result<PeerMessage, CoreError> {
        let (tab_id, body) = parse(text, session_id, read)?;
        Ok(PeerMessage {
            v: PROTOCOL_VERSION,
            session_id: session_id.to_owned(),
            tab_id: tab_id.into_owned(),
            body,
        })
    }
}

pub(crate) fn encode(session_id: &str, tab_id: &str, body: &PeerBody) -> String {
    // The field order of `PeerMessage`'s `Serialize`; a test pins that both write the same.
    let message = ObjectWriter::new()
        .int("v", i64::from(PROTOCOL_VERSION))
        .string("session_id", session_id)
        .string("tab_id", tab_id);
    match body {
        PeerBody::Activity { at } => message.string("type", "activity").int("at", at.as_millis()),
        PeerBody::StaySignedIn { at } => message
            .string("type", "stay_signed_in")
            .int("at", at.as_millis()),
        PeerBody::Logout { reason } => message
            .string("type", "logout")
            .string("reason", reason.wire_name()),
        PeerBody::Consent { accepted } => message
            .string("type", "consent")
            .bool("accepted", *accepted),
        PeerBody::Hello => message.string("type", "hello"),
        PeerBody::LeaderHeartbeat { at } => message
            .string("type", "leader_heartbeat")
            .int("at", at.as_millis()),
        PeerBody::Connection { reachable, at } => message
            .string("type", "connection")
            .bool("reachable", *reachable)
            .int("at", at.as_millis()),
        PeerBody::TabEnded { target_tab_id } => message
            .string("type", "tab_ended")
            .string("target_tab_id", target_tab_id),
    }
    .finish()
}

/// The sender's tab id and the rest of a message that starts exactly as [`encode`] writes
/// one for `session_id` (the rest follows the quote that closes the tab id).
fn own_envelope<'a>(text: &'a str, session_id: &str) -> Option<(&'a str, &'a str)> {
    // The literal prefix names version 1; a new version must update it.
    const _: () = assert!(PROTOCOL_VERSION == 1);
    let rest = text.strip_prefix(r#"{"v":1,"session_id":""#)?;
    let rest = rest.strip_prefix(session_id)?;
    let rest = rest.strip_prefix(r#"","tab_id":""#)?;
    // `split_once` rather than slicing at a found index: no char-boundary panic path (and
    // its formatting code) in the wasm.
    let (tab_id, rest) = rest.split_once('"')?;
    ids::is_tab_id(tab_id).then_some((tab_id, rest))
}

/// Reads an activity message in exactly the form [`encode`] writes it, without a JSON
/// parser: activity is the one message a busy tab sends every couple of seconds to every
/// other tab. Anything that deviates in the slightest (other key order, white space,
/// escapes, another type) returns `None` and takes the full parser, which accepts a
/// superset of these messages and yields the same result for them.
fn parse_own_activity<'a>(text: &'a str, session_id: &str) -> Option<(&'a str, ServerTime)> {
    let (tab_id, rest) = own_envelope(text, session_id)?;
    let digits = rest
        .strip_prefix(r#","type":"activity","at":"#)?
        .strip_suffix('}')?;
    let unsigned = digits.strip_prefix('-').unwrap_or(digits);
    if unsigned.is_empty()
        || unsigned.len() > 1 && unsigned.starts_with('0')
        || !unsigned.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some((tab_id, ServerTime::from_millis(digits.parse().ok()?)))
}

/// Reads a logout with a known reason in exactly the form [`encode`] writes it, without a
/// JSON parser, like [`parse_own_activity`]: a sign-out in one tab is the message the other
/// tabs must act on fastest. Known reasons' wire names need no escaping; any other form
/// takes the full parser.
fn parse_own_logout<'a>(text: &'a str, session_id: &str) -> Option<(&'a str, Reason)> {
    let (tab_id, rest) = own_envelope(text, session_id)?;
    let name = rest
        .strip_prefix(r#","type":"logout","reason":""#)?
        .strip_suffix(r#""}"#)?;
    Some((tab_id, Reason::known(name)?))
}

/// The ending `body`, sent by another tab, brings to tab `tab_id`: a logout, a declined
/// consent, or an administrator ending this very tab. The engine ends on exactly these.
pub(crate) fn ending_of(body: &PeerBody, tab_id: &str) -> Option<Reason> {
    match body {
        PeerBody::Logout { reason } => Some(reason.clone()),
        PeerBody::Consent { accepted: false } => Some(Reason::ConsentDeclined),
        PeerBody::TabEnded { target_tab_id } if target_tab_id == tab_id => {
            Some(Reason::TabTerminated)
        }
        _ => None,
    }
}

/// The ending a raw cross-tab message brings to tab `tab_id` of live session `session_id`:
/// a logout, a declined consent, or an administrator ending this very tab; `None` for any
/// other message, this tab's own, and anything invalid.
/// The engine ends the same way when it is given the message
/// ([`crate::core::Engine::handle_peer`]); the browser layer asks first, to start the
/// navigation to the login page before anything else runs.
pub fn ending_for(text: &str, session_id: &str, tab_id: &str) -> Option<Reason> {
    ending_for_with(text, session_id, tab_id, read_fields)
}

/// [`ending_for`] with another JSON reader for the fields of a message the fast paths do
/// not take (see [`PeerFields`]), as [`crate::core::Engine::handle_peer_with`].
pub fn ending_for_with<'a>(
    text: &'a str,
    session_id: &str,
    tab_id: &str,
    read: impl FnOnce(&'a str) -> Result<PeerFields<'a>, CoreError>,
) -> Option<Reason> {
    let (sender, body) = parse(text, session_id, read).ok()?;
    if sender == tab_id {
        return None;
    }
    ending_of(&body, tab_id)
}

/// Decodes and checks a message, returning the sender's tab id and the body; `read` is the
/// JSON reader for any message the fast paths do not take ([`read_fields`] natively).
pub(crate) fn parse<'a>(
    text: &'a str,
    session_id: &str,
    read: impl FnOnce(&'a str) -> Result<PeerFields<'a>, CoreError>,
) -> Result<(Cow<'a, str>, PeerBody), CoreError> {
    if text.len() > MAX_PEER_MESSAGE_BYTES {
        return Err(CoreError::TooLarge {
            size: text.len(),
            limit: MAX_PEER_MESSAGE_BYTES,
        });
    }
    // A session id that would need escaping never matches the raw prefix, so the fast path
    // cannot accept what the full parser would reject.
    if let Some((tab_id, at)) = parse_own_activity(text, session_id) {
        return Ok((Cow::Borrowed(tab_id), PeerBody::Activity { at }));
    }
    if let Some((tab_id, reason)) = parse_own_logout(text, session_id) {
        return Ok((Cow::Borrowed(tab_id), PeerBody::Logout { reason }));
    }
    check(read(text)?, session_id)
}

/// The full parser: any valid JSON shape of the contract's messages.
#[cfg(all(test, not(target_arch = "wasm32")))]
fn parse_any<'a>(text: &'a str, session_id: &str) -> Result<(Cow<'a, str>, PeerBody), CoreError> {
    check(read_fields(text)?, session_id)
}

/// The contract's rules on a message's fields, whichever reader found them.
fn check<'a>(
    wire: PeerFields<'a>,
    session_id: &str,
) -> Result<(Cow<'a, str>, PeerBody), CoreError> {
    if wire.v != PROTOCOL_VERSION {
        return Err(CoreError::PeerRejected("unsupported protocol version"));
    }
    if wire.session_id != session_id {
        return Err(CoreError::PeerRejected("message for another session"));
    }
    if !ids::is_tab_id(&wire.tab_id) {
        return Err(CoreError::PeerRejected("invalid tab_id"));
    }
    let missing = CoreError::PeerRejected("missing field for message type");
    let body = match wire.kind.as_ref() {
        "activity" => PeerBody::Activity {
            at: wire.at.ok_or(missing)?,
        },
        "stay_signed_in" => PeerBody::StaySignedIn {
            at: wire.at.ok_or(missing)?,
        },
        "leader_heartbeat" => PeerBody::LeaderHeartbeat {
            at: wire.at.ok_or(missing)?,
        },
        "logout" => PeerBody::Logout {
            reason: Reason::from_wire(wire.reason.as_deref().ok_or(missing)?),
        },
        "consent" => PeerBody::Consent {
            accepted: wire.accepted.ok_or(missing)?,
        },
        "hello" => PeerBody::Hello,
        "connection" => match (wire.reachable, wire.at) {
            (Some(reachable), Some(at)) => PeerBody::Connection { reachable, at },
            _ => return Err(missing),
        },
        "tab_ended" => match wire.target_tab_id {
            Some(target) if ids::is_tab_id(&target) => PeerBody::TabEnded {
                target_tab_id: target.into_owned(),
            },
            Some(_) => return Err(CoreError::PeerRejected("invalid target_tab_id")),
            None => return Err(missing),
        },
        _ => return Err(CoreError::PeerRejected("unknown message type")),
    };
    Ok((wire.tab_id, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_takes_encoded_activity_and_nothing_it_should_not() {
        let sent = PeerMessage {
            v: PROTOCOL_VERSION,
            session_id: "ses_1".into(),
            tab_id: "tab_aaaa".into(),
            body: PeerBody::Activity {
                at: ServerTime::from_millis(-42),
            },
        }
        .encode();
        assert_eq!(
            parse_own_activity(&sent, "ses_1"),
            Some(("tab_aaaa", ServerTime::from_millis(-42)))
        );
        for other in [
            sent.replace("ses_1", "ses_2"),
            sent.replace(r#""v":1"#, r#""v":2"#),
            sent.replace("-42", "042"),
            sent.replace("-42", "-"),
            sent.replace("-42", "99999999999999999999"),
            sent.replace("tab_aaaa", ""),
            sent.replace("tab_aaaa", "tab_\\u0061aaa"),
            sent.replace("activity", "stay_signed_in"),
            sent.replace(',', ", "),
            format!("{sent} "),
        ] {
            assert_eq!(parse_own_activity(&other, "ses_1"), None, "{other}");
        }
    }

    fn message(body: PeerBody) -> PeerMessage {
        PeerMessage {
            v: PROTOCOL_VERSION,
            session_id: "ses_1".into(),
            tab_id: "tab_aaaa".into(),
            body,
        }
    }

    #[test]
    fn every_type_round_trips() {
        for body in [
            PeerBody::Activity {
                at: ServerTime::from_millis(5),
            },
            PeerBody::StaySignedIn {
                at: ServerTime::from_millis(6),
            },
            PeerBody::Logout {
                reason: Reason::IdleTimeout,
            },
            PeerBody::Consent { accepted: true },
            PeerBody::Hello,
            PeerBody::LeaderHeartbeat {
                at: ServerTime::from_millis(7),
            },
            PeerBody::Connection {
                reachable: false,
                at: ServerTime::from_millis(8),
            },
            PeerBody::TabEnded {
                target_tab_id: "tab_bbbb".into(),
            },
        ] {
            let sent = message(body);
            assert_eq!(PeerMessage::decode(&sent.encode(), "ses_1").unwrap(), sent);
            // The writer and the `Serialize` derive agree on every type.
            assert_eq!(sent.encode(), serde_json::to_string(&sent).unwrap());
        }
    }

    #[test]
    fn matches_the_contract_text() {
        let text = r#"{"v":1,"session_id":"ses_1","tab_id":"tab_1111","type":"logout","reason":"idle_timeout"}"#;
        let decoded = PeerMessage::decode(text, "ses_1").unwrap();
        assert_eq!(
            decoded.body,
            PeerBody::Logout {
                reason: Reason::IdleTimeout
            }
        );
        assert_eq!(
            message(PeerBody::Activity {
                at: ServerTime::from_millis(42)
            })
            .encode(),
            r#"{"v":1,"session_id":"ses_1","tab_id":"tab_aaaa","type":"activity","at":42}"#
        );
    }

    #[test]
    fn rejects_what_the_contract_says_to_ignore() {
        let ok = r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"hello"}"#;
        assert!(PeerMessage::decode(ok, "ses_1").is_ok());
        assert!(PeerMessage::decode(ok, "ses_2").is_err());
        for bad in [
            r#"{"v":2,"session_id":"ses_1","tab_id":"tab_tttt","type":"hello"}"#,
            r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"reboot"}"#,
            r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"activity"}"#,
            r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"connection","at":1}"#,
            r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"connection","reachable":true}"#,
            r#"{"v":1,"session_id":"ses_1","tab_id":"","type":"hello"}"#,
            // Tab ids follow the contract's one rule (`ids::is_tab_id`).
            r#"{"v":1,"session_id":"ses_1","tab_id":"t","type":"hello"}"#,
            r#"{"v":1,"session_id":"ses_1","tab_id":"tab/../x","type":"hello"}"#,
            r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"tab_ended","target_tab_id":"short"}"#,
            r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"tab_ended"}"#,
            r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"tab_ended","target_tab_id":""}"#,
            r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"tab_ended","target_tab_id":7}"#,
            r#"{"v":1,"session_id":"ses_1","type":"hello"}"#,
            r#"{"v":1,"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"hello"}"#,
            "[1,2]",
            "",
        ] {
            assert!(PeerMessage::decode(bad, "ses_1").is_err(), "{bad}");
        }
        let padded = format!(
            r#"{{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"hello","pad":"{}"}}"#,
            "x".repeat(MAX_PEER_MESSAGE_BYTES)
        );
        assert!(matches!(
            PeerMessage::decode(&padded, "ses_1"),
            Err(CoreError::TooLarge { .. })
        ));
    }

    #[test]
    fn tab_ids_follow_the_contracts_one_rule() {
        let hello = |tab: &str| {
            format!(r#"{{"v":1,"session_id":"ses_1","tab_id":"{tab}","type":"hello"}}"#)
        };
        let ended = |target: &str| {
            format!(
                r#"{{"v":1,"session_id":"ses_1","tab_id":"tab_0000","type":"tab_ended","target_tab_id":"{target}"}}"#
            )
        };
        for (id, valid) in [
            ("a".repeat(7), false),
            ("a".repeat(8), true),
            ("a".repeat(64), true),
            ("a".repeat(65), false),
            ("tab.0000".to_owned(), false),
        ] {
            assert_eq!(ids::is_tab_id(&id), valid, "{id}");
            assert_eq!(
                PeerMessage::decode(&hello(&id), "ses_1").is_ok(),
                valid,
                "{id}"
            );
            assert_eq!(
                PeerMessage::decode(&ended(&id), "ses_1").is_ok(),
                valid,
                "{id}"
            );
            let activity = message(PeerBody::Activity {
                at: ServerTime::from_millis(1),
            })
            .encode()
            .replace("tab_aaaa", &id);
            assert_eq!(
                parse_own_activity(&activity, "ses_1").is_some(),
                valid,
                "{id}"
            );
        }
    }
}

// proptest is a native dev-dependency; the wasm build runs the example tests above.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod fast_path_props {
    use proptest::prelude::*;

    use super::*;

    /// Encoded activity and logout messages with drawn ids, times and reasons, and small
    /// corruptions of them.
    fn candidate() -> impl Strategy<Value = String> {
        let id = prop_oneof!["[A-Za-z0-9_-]{0,130}", "\\PC{0,12}"];
        let reason = prop_oneof!["[a-z_]{0,20}", "\\PC{0,8}"];
        let body = prop_oneof![
            any::<i64>().prop_map(|at| PeerBody::Activity {
                at: ServerTime::from_millis(at)
            }),
            reason.prop_map(|name| PeerBody::Logout {
                reason: Reason::from_wire(&name)
            }),
        ];
        (id, body, 0usize..6, any::<u8>()).prop_map(|(tab_id, body, edit, byte)| {
            let text = PeerMessage {
                v: PROTOCOL_VERSION,
                session_id: "ses_p".into(),
                tab_id,
                body,
            }
            .encode();
            let mut bytes = text.into_bytes();
            if edit > 0 && !bytes.is_empty() {
                let at = usize::from(byte) % bytes.len();
                match edit {
                    1 => bytes[at] = byte,
                    2 => bytes.insert(at, byte),
                    3 => {
                        bytes.remove(at);
                    }
                    _ => {}
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// The writer escapes drawn ids exactly as the `Serialize` derive does.
        #[test]
        fn encoding_agrees_with_serde(session_id in "\\PC{0,12}", tab_id in "\\PC{0,12}", code in 0u32..0x30) {
            let odd = char::from_u32(code).unwrap_or('x');
            let message = PeerMessage {
                v: PROTOCOL_VERSION,
                session_id: format!("{session_id}{odd}"),
                tab_id: format!("{odd}{tab_id}"),
                body: PeerBody::TabEnded { target_tab_id: format!("{tab_id}{odd}\"") },
            };
            prop_assert_eq!(message.encode(), serde_json::to_string(&message).unwrap());
        }

        /// Whatever the fast path accepts, the full parser accepts with the same result; and
        /// every message the engine itself encodes with a plain tab id takes the fast path.
        #[test]
        fn fast_path_agrees_with_the_full_parser(text in candidate()) {
            if let Some((tab_id, at)) = parse_own_activity(&text, "ses_p") {
                let (full_tab, full_body) = parse_any(&text, "ses_p").expect("full parser accepts");
                prop_assert_eq!(full_tab.as_ref(), tab_id);
                prop_assert_eq!(full_body, PeerBody::Activity { at });
            } else if let Ok((tab_id, PeerBody::Activity { at })) = parse_any(&text, "ses_p") {
                let canonical = PeerMessage {
                    v: PROTOCOL_VERSION,
                    session_id: "ses_p".into(),
                    tab_id: tab_id.clone().into_owned(),
                    body: PeerBody::Activity { at },
                }
                .encode();
                let plain = tab_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                prop_assert!(text != canonical || !plain, "missed the fast path: {}", text);
            }
        }

        /// The same for logouts: what the fast path accepts, the full parser accepts alike,
        /// and every logout the engine encodes with a plain tab id and a known reason takes
        /// the fast path.
        #[test]
        fn logout_fast_path_agrees_with_the_full_parser(text in candidate()) {
            if let Some((tab_id, reason)) = parse_own_logout(&text, "ses_p") {
                let (full_tab, full_body) = parse_any(&text, "ses_p").expect("full parser accepts");
                prop_assert_eq!(full_tab.as_ref(), tab_id);
                prop_assert_eq!(full_body, PeerBody::Logout { reason });
            } else if let Ok((tab_id, PeerBody::Logout { reason })) = parse_any(&text, "ses_p") {
                let canonical = PeerMessage {
                    v: PROTOCOL_VERSION,
                    session_id: "ses_p".into(),
                    tab_id: tab_id.clone().into_owned(),
                    body: PeerBody::Logout { reason: reason.clone() },
                }
                .encode();
                let plain = tab_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                let known = Reason::known(reason.wire_name()).is_some();
                prop_assert!(text != canonical || !plain || !known, "missed the fast path: {}", text);
            }
        }
    }
}
