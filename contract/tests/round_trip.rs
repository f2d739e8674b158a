//! Every body of the contract survives serialize → parse unchanged, with the optional
//! fields both present and absent, and serializes with the contract's field names.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use session_guard_contract::admin::{
    AdminSession, AdminTab, AdminUser, AuditEntry, EndRequest, EndedSession, Group, ImpactPreview,
    NewGroup, NewRole, NewScope, NewUser, Role, Target, TerminateRequest, TerminatedCount,
};
use session_guard_contract::api::{
    ActivityRequest, ConsentRequest, ErrorBody, ErrorCode, LoginRequest, LogoutRequest,
    TabEndedEvent, TabRegistered, TabRegistration, TerminatedEvent,
};
use session_guard_contract::{
    AuditKind, ConsentState, DurationMs, Reason, RecordingView, ServerTime, SessionView, UserView,
};

fn at(ms: i64) -> ServerTime {
    ServerTime::from_millis(ms)
}

/// Serializes `value`, checks its JSON keys, parses it back and compares.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T, keys: &[&str]) {
    let text = serde_json::to_string(value).expect("serializes");
    let json: Value = serde_json::from_str(&text).expect("JSON");
    if let Value::Object(map) = &json {
        let mut got: Vec<&str> = map.keys().map(String::as_str).collect();
        let mut want = keys.to_vec();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "field names of {text}");
    }
    let back: T = serde_json::from_str(&text).expect("parses back");
    assert_eq!(&back, value, "{text}");
}

fn tab() -> AdminTab {
    AdminTab {
        tab_id: "tab_0000".into(),
        opener_tab_id: Some("tab_opener".into()),
        registered_at: at(1_764_000_000_100),
    }
}

#[test]
fn admin_answers_round_trip() {
    let tab_keys = ["tab_id", "opener_tab_id", "registered_at"];
    round_trip(&tab(), &tab_keys);
    round_trip(
        &AdminTab {
            opener_tab_id: None,
            ..tab()
        },
        &tab_keys,
    );

    let session = AdminSession {
        session_id: "ses_3kTq".into(),
        user_id: 1,
        username: "admin".into(),
        display_name: "Ada Admin".into(),
        current: true,
        client_addr: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0".into()),
        browser: Some("Firefox 128 on Linux".into()),
        issued_at: at(1_764_000_000_000),
        expires_at: at(1_764_086_400_000),
        last_activity_at: at(1_764_000_300_000),
        recording_required: true,
        recording_consent: ConsentState::Accepted,
        tabs: vec![tab()],
    };
    let session_keys = [
        "session_id",
        "user_id",
        "username",
        "display_name",
        "current",
        "client_addr",
        "user_agent",
        "browser",
        "issued_at",
        "expires_at",
        "last_activity_at",
        "recording_required",
        "recording_consent",
        "tabs",
    ];
    round_trip(&session, &session_keys);
    for consent in [ConsentState::NotRequired, ConsentState::Pending] {
        round_trip(
            &AdminSession {
                client_addr: None,
                user_agent: None,
                browser: None,
                recording_required: consent == ConsentState::Pending,
                recording_consent: consent,
                tabs: Vec::new(),
                ..session.clone()
            },
            &session_keys,
        );
    }

    let ended = EndedSession {
        session_id: "ses_3kTq".into(),
        user_id: 2,
        username: Some("operator".into()),
        display_name: Some("Otto Operator".into()),
        issued_at: at(1_764_000_000_000),
        ended_at: at(1_764_000_600_000),
        end_reason: Some(Reason::RemoteTerminated),
        ended_by_user_id: Some(1),
        ended_by_username: Some("admin".into()),
        client_addr: Some("::1".into()),
        user_agent: Some("curl/8".into()),
        browser: Some("Unknown browser".into()),
    };
    let ended_keys = [
        "session_id",
        "user_id",
        "username",
        "display_name",
        "issued_at",
        "ended_at",
        "end_reason",
        "ended_by_user_id",
        "ended_by_username",
        "client_addr",
        "user_agent",
        "browser",
    ];
    round_trip(&ended, &ended_keys);
    for reason in Reason::KNOWN
        .into_iter()
        .chain([Reason::Other("from_a_newer_server".into())])
    {
        round_trip(
            &EndedSession {
                end_reason: Some(reason),
                ended_by_user_id: None,
                ended_by_username: None,
                ..ended.clone()
            },
            &ended_keys,
        );
    }
    round_trip(
        &EndedSession {
            username: None,
            display_name: None,
            end_reason: None,
            client_addr: None,
            user_agent: None,
            browser: None,
            ..ended
        },
        &ended_keys,
    );

    let user_keys = [
        "id",
        "username",
        "display_name",
        "suspended",
        "privileged",
        "roles",
        "groups",
    ];
    round_trip(
        &AdminUser {
            id: 3,
            username: "viewer".into(),
            display_name: "Vera Viewer".into(),
            suspended: true,
            privileged: false,
            roles: vec![],
            groups: vec![1, 2],
        },
        &user_keys,
    );
    round_trip(
        &Role {
            id: 1,
            name: "Administrator".into(),
            scopes: vec!["admin:manage".into(), "audit:read".into()],
        },
        &["id", "name", "scopes"],
    );
    round_trip(
        &Group {
            id: 1,
            name: "Night shift".into(),
            members: vec![2, 3],
            roles: vec![1],
        },
        &["id", "name", "members", "roles"],
    );

    let entry = AuditEntry {
        id: 42,
        at: at(1_764_000_000_000),
        actor_user_id: Some(1),
        actor_username: Some("admin".into()),
        kind: AuditKind::AdminTabTerminated,
        session_id: Some("ses_3kTq".into()),
        session_username: Some("operator".into()),
        tab_id: Some("tab_0000".into()),
        detail: json!({ "user_id": 2, "reason": "left open" }),
        client_addr: Some("127.0.0.1".into()),
        user_agent: Some("Mozilla/5.0".into()),
        actor_session_id: Some("ses_admin".into()),
        actor_tab_id: Some("tab_admin0".into()),
    };
    let entry_keys = [
        "id",
        "at",
        "actor_user_id",
        "actor_username",
        "kind",
        "session_id",
        "session_username",
        "tab_id",
        "detail",
        "client_addr",
        "user_agent",
        "actor_session_id",
        "actor_tab_id",
    ];
    round_trip(&entry, &entry_keys);
    for &kind in AuditKind::ALL {
        round_trip(
            &AuditEntry {
                kind,
                actor_user_id: None,
                actor_username: None,
                session_id: None,
                session_username: None,
                tab_id: None,
                detail: json!({}),
                client_addr: None,
                user_agent: None,
                actor_session_id: None,
                actor_tab_id: None,
                ..entry.clone()
            },
            &entry_keys,
        );
    }

    let impact = ImpactPreview {
        dry_run: true,
        users: 3,
        sessions: 5,
        tabs: 0,
        includes_you: false,
    };
    // `tabs` is sent only when a tab is ended on its own.
    round_trip(&impact, &["dry_run", "users", "sessions", "includes_you"]);
    round_trip(
        &ImpactPreview {
            users: 0,
            sessions: 0,
            tabs: 1,
            includes_you: true,
            ..impact
        },
        &["dry_run", "users", "sessions", "tabs", "includes_you"],
    );
    round_trip(&TerminatedCount { terminated: 7 }, &["terminated"]);
}

#[test]
fn admin_requests_round_trip() {
    round_trip(
        &EndRequest {
            reason: Some("left open".into()),
        },
        &["reason"],
    );
    round_trip(&EndRequest::default(), &["reason"]);
    for (target, keys) in [
        (
            Target::User { user_id: 2 },
            vec!["target", "user_id", "reason"],
        ),
        (
            Target::Role { role_id: 1 },
            vec!["target", "role_id", "reason"],
        ),
        (Target::EveryoneElse, vec!["target", "reason"]),
    ] {
        round_trip(
            &TerminateRequest {
                target,
                reason: Some("incident 7".into()),
            },
            &keys,
        );
    }
    assert_eq!(
        serde_json::to_value(TerminateRequest {
            target: Target::EveryoneElse,
            reason: None
        })
        .unwrap(),
        json!({ "target": "everyone_else", "reason": null })
    );
    round_trip(
        &NewUser {
            username: "nina".into(),
            display_name: "Nina".into(),
            password: "correct horse".into(),
        },
        &["username", "display_name", "password"],
    );
    round_trip(
        &NewRole {
            name: "Auditor".into(),
            scopes: vec!["audit:read".into()],
        },
        &["name", "scopes"],
    );
    round_trip(
        &NewScope {
            scope: "audit:read".into(),
        },
        &["scope"],
    );
    round_trip(
        &NewGroup {
            name: "Night shift".into(),
        },
        &["name"],
    );
}

#[test]
fn session_bodies_round_trip() {
    round_trip(
        &LoginRequest {
            username: "admin".into(),
            password: "admin-demo-pass".into(),
        },
        &["username", "password"],
    );
    round_trip(
        &LogoutRequest {
            reason: Some("idle_timeout".into()),
        },
        &["reason"],
    );
    round_trip(
        &ActivityRequest {
            idle_ms: DurationMs::from_millis(1_500),
            last_activity_at: None,
        },
        &["idle_ms"],
    );
    round_trip(
        &ActivityRequest {
            idle_ms: DurationMs::from_millis(1_500),
            last_activity_at: Some(ServerTime::from_millis(1_764_000_000_000)),
        },
        &["idle_ms", "last_activity_at"],
    );
    round_trip(&ConsentRequest { accepted: false }, &["accepted"]);
    round_trip(
        &TabRegistration {
            tab_id: "tab_0000".into(),
            opener_tab_id: Some("tab_0001".into()),
        },
        &["tab_id", "opener_tab_id"],
    );
    round_trip(
        &TabRegistered {
            tab_id: "tab_0000".into(),
            recording: true,
        },
        &["tab_id", "recording"],
    );
    round_trip(
        &ErrorBody {
            error: ErrorCode::Unauthenticated,
            message: "Your session has ended.".into(),
            reason: Some(Reason::TabTerminated),
            next_seq: None,
        },
        &["error", "message", "reason"],
    );
    round_trip(
        &ErrorBody {
            error: ErrorCode::Conflict,
            message: "Chunks are stored in order: the next one of this tab is 4.".into(),
            reason: None,
            next_seq: Some(4),
        },
        &["error", "message", "next_seq"],
    );
    round_trip(
        &TerminatedEvent {
            reason: Reason::RoleChanged,
        },
        &["reason"],
    );
    round_trip(
        &TabEndedEvent {
            tab_id: "tab_0000".into(),
        },
        &["tab_id"],
    );
    let view = SessionView {
        session_id: "ses_3kTq".into(),
        user: UserView {
            id: 1,
            username: "admin".into(),
            display_name: "Ada <b>Admin</b>".into(),
        },
        privileged: true,
        scopes: vec!["admin:manage".into()],
        issued_at: at(1_764_000_000_000),
        expires_at: at(1_764_086_400_000),
        idle_timeout_ms: Some(DurationMs::MINUTE.times(15)),
        warning_lead_ms: DurationMs::MINUTE,
        keepalive_interval_ms: DurationMs::MINUTE,
        last_activity_at: at(1_764_000_300_000),
        recording: RecordingView {
            required: true,
            consent: ConsentState::Pending,
        },
        server_time: at(1_764_000_312_345),
    };
    round_trip(
        &view,
        &[
            "session_id",
            "user",
            "privileged",
            "scopes",
            "issued_at",
            "expires_at",
            "idle_timeout_ms",
            "warning_lead_ms",
            "keepalive_interval_ms",
            "last_activity_at",
            "recording",
            "server_time",
        ],
    );
}

#[test]
fn recording_bodies_round_trip() {
    use session_guard_contract::recording::{
        ChunkMeta, ChunkStored, NotRecorded, RecordedAction, RecordedSession, RecordedTab,
        RecordingChunk, RecordingDetail, RecordingQuery, RecordingSession, TabEnd,
    };

    let chunk_keys = [
        "format",
        "format_version",
        "seq",
        "tab_id",
        "started_at",
        "ended_at",
        "clock_offset_ms",
        "events",
    ];
    let chunk = RecordingChunk::from_json_slice(
        br#"{"format":"rrweb","format_version":1,"seq":0,"tab_id":"tab_0000",
            "started_at":1764000000000,"ended_at":1764000000000,"clock_offset_ms":12,
            "events":[{"type":5,"data":{"tag":"sg-key","payload":{}},"timestamp":1}]}"#,
    )
    .expect("valid chunk");
    round_trip(&chunk, &chunk_keys);
    round_trip(&ChunkStored { seq: 7 }, &["seq"]);

    let session = RecordingSession {
        session_id: "ses_3kTq".into(),
        user_id: 1,
        username: "admin".into(),
        display_name: "Ada Admin".into(),
        started_at: at(1_764_000_000_000),
        ended_at: Some(at(1_764_000_600_000)),
        end_reason: Some(Reason::LoggedOut),
    };
    let session_keys = [
        "session_id",
        "user_id",
        "username",
        "display_name",
        "started_at",
        "ended_at",
        "end_reason",
    ];
    round_trip(&session, &session_keys);
    let live = RecordingSession {
        ended_at: None,
        end_reason: None,
        ..session.clone()
    };
    round_trip(&live, &session_keys);

    let tab = RecordedTab {
        tab_id: "tab_0001".into(),
        opener_tab_id: Some("tab_0000".into()),
        started_at: at(1_764_000_000_100),
        ended_at: Some(at(1_764_000_500_000)),
        end_reason: Some(TabEnd::Closed),
        duration_ms: DurationMs::from_millis(499_000),
        bytes: 40_960,
        chunks: 12,
    };
    let tab_keys = [
        "tab_id",
        "opener_tab_id",
        "started_at",
        "ended_at",
        "end_reason",
        "duration_ms",
        "bytes",
        "chunks",
    ];
    round_trip(&tab, &tab_keys);
    for end in [
        None,
        Some(TabEnd::Reason(Reason::TabTerminated)),
        Some(TabEnd::Reason(Reason::IdleTimeout)),
    ] {
        round_trip(
            &RecordedTab {
                opener_tab_id: None,
                ended_at: end.as_ref().map(|_| at(1_764_000_500_000)),
                end_reason: end,
                ..tab.clone()
            },
            &tab_keys,
        );
    }

    let mut item_keys = session_keys.to_vec();
    item_keys.push("tabs");
    round_trip(
        &RecordedSession {
            session: session.clone(),
            tabs: vec![tab.clone()],
        },
        &item_keys,
    );
    round_trip(
        &RecordedSession {
            session: live,
            tabs: vec![],
        },
        &item_keys,
    );

    let action = RecordedAction {
        at: at(1_764_000_000_200),
        method: "POST".into(),
        path: "/api/admin/users/3/suspend".into(),
        status: 200,
        tab_id: Some("tab_0001".into()),
        not_recorded: None,
    };
    let action_keys = ["at", "method", "path", "status", "tab_id"];
    round_trip(&action, &action_keys);
    round_trip(
        &RecordedAction {
            tab_id: None,
            ..action.clone()
        },
        &action_keys,
    );
    let gap = NotRecorded {
        requests: 12,
        until: at(1_764_000_003_000),
    };
    round_trip(&gap, &["requests", "until"]);
    round_trip(
        &RecordedAction {
            at: at(1_764_000_000_300),
            method: String::new(),
            path: String::new(),
            status: 0,
            tab_id: None,
            not_recorded: Some(gap),
        },
        &["at", "method", "path", "status", "tab_id", "not_recorded"],
    );
    assert_eq!(gap.describe(), "12 API requests not recorded");
    assert_eq!(
        NotRecorded { requests: 1, ..gap }.describe(),
        "1 API request not recorded"
    );
    let meta = ChunkMeta {
        seq: 0,
        started_at: at(1_764_000_000_100),
        ended_at: at(1_764_000_005_100),
        bytes: 2_048,
    };
    round_trip(&meta, &["seq", "started_at", "ended_at", "bytes"]);
    round_trip(
        &RecordingDetail {
            session,
            tab,
            chunks: vec![meta],
            actions: vec![action],
        },
        &["session", "tab", "chunks", "actions"],
    );
    round_trip(
        &RecordingQuery {
            user_id: Some(1),
            from: Some(at(1)),
            to: None,
        },
        &["user_id", "from", "to"],
    );
}
