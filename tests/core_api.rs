//! Black-box checks of the public core API as the browser layer uses it.

use session_guard::core::{
    CoreError, DurationMs, Effect, Engine, EngineConfig, LocalTime, PeerBody, PeerMessage, Reason,
    RecordingStatus, SessionPolicy, SessionView, State, ViewError,
};

const VIEW: &str = r#"{
  "session_id": "ses_api", "privileged": true, "scopes": ["console:access"],
  "user": { "id": 7, "username": "ops", "display_name": "Ops" },
  "issued_at": 1000, "expires_at": 86401000, "idle_timeout_ms": null,
  "warning_lead_ms": 60000, "keepalive_interval_ms": 60000, "last_activity_at": 1000,
  "recording": { "required": true, "consent": "pending" }, "server_time": 1000
}"#;

#[test]
fn consent_flow_through_the_public_api() {
    let view = SessionView::from_json(VIEW).expect("contract view");
    assert_eq!(SessionPolicy::from_view(&view).idle_timeout, Some(900_000));
    let mut engine = Engine::new(EngineConfig::new("tab_api0"));
    engine.handle_server_view(view, LocalTime::from_millis(50));
    assert_eq!(engine.state(), &State::AwaitingConsent);
    assert_eq!(engine.session_id(), Some("ses_api"));
    assert_eq!(
        engine
            .remaining_ms(LocalTime::from_millis(50))
            .map(DurationMs::as_millis),
        None
    );
    // The channel is joined (and the lock queued for) before the hello is said on it; the
    // tab registers only once consent is settled.
    assert_eq!(
        engine.poll_effect(),
        Some(Effect::JoinSession {
            session_id: "ses_api".into()
        })
    );
    assert_eq!(engine.poll_effect(), Some(Effect::QueueForLeadership));
    let hello = engine.poll_effect();
    assert!(matches!(hello, Some(Effect::Broadcast(_))));
    assert_eq!(engine.poll_effect(), None);
    engine.handle_consent(true, LocalTime::from_millis(60));
    assert_eq!(
        engine.poll_effect(),
        Some(Effect::SendConsent { accepted: true })
    );
    // The session starts when the server's answer says the consent is stored.
    assert_eq!(engine.state(), &State::AwaitingConsent);
    assert!(!engine.is_recording());
    let stored = VIEW
        .replace(r#""consent": "pending""#, r#""consent": "accepted""#)
        .replace(r#""last_activity_at": 1000"#, r#""last_activity_at": 1010"#)
        .replace(r#""server_time": 1000"#, r#""server_time": 1010"#);
    engine.handle_server_view(
        SessionView::from_json(&stored).expect("view"),
        LocalTime::from_millis(60),
    );
    assert_eq!(engine.state(), &State::Active);
    let Some(Effect::Broadcast(text)) = engine.poll_effect() else {
        panic!("consent is broadcast");
    };
    assert_eq!(
        PeerMessage::decode(&text, "ses_api").map(|m| m.body).ok(),
        Some(PeerBody::Consent { accepted: true })
    );
    assert_eq!(engine.poll_effect(), Some(Effect::RegisterTab));
    // The recorder starts with the session; the tab says it records once it runs.
    assert_eq!(engine.poll_effect(), Some(Effect::StartRecorder));
    assert_eq!(engine.recording_status(), RecordingStatus::Starting);
    assert!(!engine.is_recording());
    engine.handle_recorder_started(LocalTime::from_millis(60));
    assert!(engine.is_recording());
    // Local time 60 is server time 1010, when consent (activity) was stored: 15 minutes
    // of idleness are left.
    assert_eq!(
        engine
            .remaining_ms(LocalTime::from_millis(60))
            .map(DurationMs::as_millis),
        Some(900_000)
    );
}

#[test]
fn errors_are_values() {
    assert!(matches!(
        SessionView::from_json("{}"),
        Err(ViewError::Json(_))
    ));
    assert!(matches!(
        PeerMessage::decode(
            r#"{"v":9,"session_id":"s","tab_id":"tab_tttt","type":"hello"}"#,
            "s"
        ),
        Err(CoreError::PeerRejected(_))
    ));
    assert_eq!(
        Reason::from_wire("remote_terminated").message(None),
        "An administrator ended your session."
    );
}
