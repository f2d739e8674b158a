//! The guard's wasm reads untrusted JSON with the browser's `JSON.parse`
//! (`session_guard::browser::json`): it must take exactly what serde reads and the
//! contract's validation accepts, and refuse every input the native tests refuse.
#![cfg(target_arch = "wasm32")]

use session_guard::browser::json;
use session_guard::core::{PeerMessage, Reason, SessionView, MAX_PEER_MESSAGE_BYTES};
use session_guard_contract::view::{EXAMPLE_VIEW_JSON, MAX_VIEW_BYTES};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The contract's example view with one field replaced (or removed, for `None`).
fn view_with(field: &str, value: Option<&str>) -> String {
    let mut json: serde_json::Value = serde_json::from_str(EXAMPLE_VIEW_JSON).unwrap();
    match value {
        Some(value) => json[field] = serde_json::from_str(value).unwrap(),
        None => {
            json.as_object_mut().unwrap().remove(field);
        }
    }
    json.to_string()
}

#[wasm_bindgen_test]
fn views_read_by_the_browser_equal_views_read_by_serde() {
    let serde = SessionView::from_json(EXAMPLE_VIEW_JSON).unwrap();
    assert_eq!(json::session_view(EXAMPLE_VIEW_JSON), Some(serde));
    // Accepted and repaired alike: no idle timeout, a lead clamped, future activity pulled
    // back, unknown fields ignored, escapes decoded.
    for (field, value) in [
        ("idle_timeout_ms", Some("null")),
        ("idle_timeout_ms", None),
        ("warning_lead_ms", Some("900000")),
        ("last_activity_at", Some("1864000000000")),
        ("unknown", Some(r#"{"x":[1,2]}"#)),
        (
            "user",
            Some(r#"{"id":7,"username":"a\"b","display_name":"\u00e9\n"}"#),
        ),
        ("scopes", Some("[]")),
        ("privileged", Some("false")),
    ] {
        let text = view_with(field, value);
        let serde = SessionView::from_json(&text).unwrap();
        assert_eq!(json::session_view(&text), Some(serde), "{field}={value:?}");
    }
}

#[wasm_bindgen_test]
fn views_serde_or_the_contract_refuses_are_refused() {
    let long_id = format!("\"{}\"", "a".repeat(65));
    let too_many = serde_json::to_string(&vec!["a"; 257]).unwrap();
    let cases: Vec<(&str, Option<&str>)> = vec![
        // The contract's rules (`contract/src/view.rs`).
        ("session_id", Some(r#""""#)),
        ("session_id", Some(r#""ses/../x""#)),
        ("session_id", Some(&long_id)),
        ("expires_at", Some("1764000000000")),
        ("expires_at", Some("1766678400001")),
        ("idle_timeout_ms", Some("0")),
        ("idle_timeout_ms", Some("604800001")),
        ("keepalive_interval_ms", Some("-5")),
        ("keepalive_interval_ms", Some("86400001")),
        ("warning_lead_ms", Some("0")),
        ("issued_at", Some("-1")),
        ("scopes", Some(r#"[""]"#)),
        ("scopes", Some(r#"["Admin"]"#)),
        ("scopes", Some(&too_many)),
        // The shape serde demands.
        (
            "recording",
            Some(r#"{"required":true,"consent":"declined"}"#),
        ),
        (
            "recording",
            Some(r#"{"required":"yes","consent":"pending"}"#),
        ),
        ("recording", Some(r#"{"consent":"pending"}"#)),
        ("recording", Some("[]")),
        ("server_time", Some(r#""now""#)),
        ("server_time", Some("1.5")),
        ("server_time", Some("null")),
        ("server_time", None),
        ("session_id", Some("7")),
        ("session_id", None),
        ("privileged", Some("1")),
        ("scopes", Some(r#"["a",7]"#)),
        ("scopes", Some(r#""a""#)),
        ("scopes", None),
        (
            "user",
            Some(r#"{"id":"1","username":"a","display_name":"b"}"#),
        ),
        ("user", Some(r#"{"id":1,"username":"a"}"#)),
        ("user", Some("null")),
        ("idle_timeout_ms", Some(r#""900000""#)),
        // Beyond 2^53: serde_json would read it, `JSON.parse` cannot hold it exactly.
        ("last_activity_at", Some("9007199254740993")),
    ];
    for (field, value) in cases {
        let text = view_with(field, value);
        assert_eq!(json::session_view(&text), None, "{field}={value:?}");
    }
    for text in ["", "not json", "null", "[]", "7", r#""view""#] {
        assert_eq!(json::session_view(text), None, "{text}");
    }
    let padded = EXAMPLE_VIEW_JSON.replacen(
        '{',
        &format!("{{\"pad\":\"{}\",", "x".repeat(MAX_VIEW_BYTES)),
        1,
    );
    assert!(SessionView::from_json(&padded).is_err());
    assert_eq!(json::session_view(&padded), None);
}

#[wasm_bindgen_test]
fn inherited_properties_are_not_fields() {
    // A page that polluted `Object.prototype` does not supply a missing field.
    let text = view_with("server_time", None);
    let prototype = js_sys::Object::get_prototype_of(&js_sys::Object::new());
    js_sys::Reflect::set(
        &prototype,
        &"server_time".into(),
        &1_764_000_312_345.0.into(),
    )
    .unwrap();
    let read = json::session_view(&text);
    js_sys::Reflect::delete_property(&prototype, &"server_time".into()).unwrap();
    assert_eq!(read, None);
}

#[wasm_bindgen_test]
fn error_bodies_and_events_are_read_like_serde() {
    assert_eq!(
        json::error_reason(r#"{"error":"unauthenticated","message":"m","reason":"role_changed"}"#),
        Some(Reason::RoleChanged)
    );
    for no_reason in [
        r#"{"error":"unauthenticated","message":"m"}"#,
        r#"{"reason":null}"#,
        r#"{"reason":7}"#,
        "[]",
        "",
    ] {
        assert_eq!(json::error_reason(no_reason), None, "{no_reason}");
    }
    // A sequence refusal of a recording chunk names the seq the server stores next.
    assert_eq!(
        json::error_next_seq(r#"{"error":"conflict","message":"m","next_seq":4}"#),
        Some(4)
    );
    assert_eq!(
        json::error_next_seq(r#"{"next_seq":4294967295}"#),
        Some(u32::MAX)
    );
    for no_seq in [
        r#"{"error":"conflict","message":"m"}"#,
        r#"{"next_seq":null}"#,
        r#"{"next_seq":"4"}"#,
        r#"{"next_seq":-1}"#,
        r#"{"next_seq":1.5}"#,
        r#"{"next_seq":4294967296}"#,
        r#"{"next_seq":1e300}"#,
        "[4]",
        "",
    ] {
        assert_eq!(json::error_next_seq(no_seq), None, "{no_seq}");
    }
    // Unknown names are sanitised by the one rule, `Reason::from_wire`.
    assert_eq!(
        json::error_reason(r#"{"reason":"Fancy-<script>_x9"}"#),
        Some(Reason::Other("ancyscript_x9".into()))
    );
    assert_eq!(
        json::terminated_event(r#"{"reason":"suspended"}"#).map(|event| event.reason),
        Some(Reason::Suspended)
    );
    for bad in [r#"{}"#, r#"{"reason":null}"#, r#"{"reason":1}"#, "x"] {
        assert_eq!(json::terminated_event(bad), None, "{bad}");
    }
    assert_eq!(
        json::tab_ended_event(r#"{"tab_id":"tab_0000"}"#).map(|event| event.tab_id),
        Some("tab_0000".to_owned())
    );
    for bad in [r#"{}"#, r#"{"tab_id":7}"#, "null"] {
        assert!(json::tab_ended_event(bad).is_none(), "{bad}");
    }
}

#[wasm_bindgen_test]
fn peer_messages_are_checked_alike_whichever_reader_reads_them() {
    let decode = |text: &str| PeerMessage::decode_with(text, "ses_1", json::peer_fields);
    for ok in [
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"hello"}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_1111","type":"logout","reason":"idle_timeout"}"#,
        r#"{"type":"activity","at":42,"tab_id":"tab_tttt","session_id":"ses_1","v":1}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"connection","reachable":false,"at":8}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"consent","accepted":true,"x":null}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"tab_ended","target_tab_id":"tab_bbbb"}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"stay_signed_in","at":6}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"leader_heartbeat","at":7}"#,
    ] {
        assert_eq!(
            decode(ok).ok(),
            PeerMessage::decode(ok, "ses_1").ok(),
            "{ok}"
        );
        assert!(decode(ok).is_ok(), "{ok}");
    }
    let padded = format!(
        r#"{{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"hello","pad":"{}"}}"#,
        "x".repeat(MAX_PEER_MESSAGE_BYTES)
    );
    for bad in [
        r#"{"v":2,"session_id":"ses_1","tab_id":"tab_tttt","type":"hello"}"#,
        r#"{"v":1,"session_id":"ses_2","tab_id":"tab_tttt","type":"hello"}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"reboot"}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"activity"}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"activity","at":"1"}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"activity","at":1.5}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"connection","at":1}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"connection","reachable":true}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"consent","accepted":"yes"}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"logout","reason":7}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"","type":"hello"}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"t","type":"hello"}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab/../x","type":"hello"}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"tab_ended","target_tab_id":"short"}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"tab_ended"}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"tab_ended","target_tab_id":""}"#,
        r#"{"v":1,"session_id":"ses_1","tab_id":"tab_tttt","type":"tab_ended","target_tab_id":7}"#,
        r#"{"v":1,"session_id":"ses_1","type":"hello"}"#,
        r#"{"v":"1","session_id":"ses_1","tab_id":"tab_tttt","type":"hello"}"#,
        r#"{"v":-1,"session_id":"ses_1","tab_id":"tab_tttt","type":"hello"}"#,
        r#"{"v":1,"session_id":null,"tab_id":"tab_tttt","type":"hello"}"#,
        "[1,2]",
        "null",
        "",
        &padded,
    ] {
        assert!(PeerMessage::decode(bad, "ses_1").is_err(), "serde: {bad}");
        assert!(decode(bad).is_err(), "JSON.parse: {bad}");
    }
}

#[wasm_bindgen_test]
fn arrays_of_objects_are_read_whole_or_not_at_all() {
    let notes = json::objects(r#"[{"path":"/a","at":1764000000000},{"path":"/b","at":1.5}]"#)
        .expect("two objects");
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[0].string("path"), Ok("/a".to_owned()));
    assert_eq!(notes[0].number("at"), Ok(1_764_000_000_000.0));
    assert_eq!(notes[1].number("at"), Ok(1.5));
    assert!(notes[1].number("path").is_err());
    assert!(notes[1].string("at").is_err());
    assert!(notes[1].string("missing").is_err());
    assert_eq!(json::objects("[]").map(|all| all.len()), Some(0));
    for bad in [
        r#"[{"path":"/a"},7]"#,
        r#"[{"path":"/a"},null]"#,
        r#"{"path":"/a"}"#,
        "[",
        "",
    ] {
        assert!(json::objects(bad).is_none(), "{bad}");
    }
}
