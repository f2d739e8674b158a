//! Cost of the two hot inputs: throttled activity and a peer activity merge.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use session_guard::core::{
    Engine, EngineConfig, LocalTime, PeerBody, PeerMessage, ServerTime, SessionView,
};

const VIEW: &str = r#"{
  "session_id": "ses_bench", "privileged": true, "scopes": ["admin:manage"],
  "user": { "id": 1, "username": "admin", "display_name": "Ada Admin" },
  "issued_at": 0, "expires_at": 86400000, "idle_timeout_ms": 900000,
  "warning_lead_ms": 60000, "keepalive_interval_ms": 60000, "last_activity_at": 0,
  "recording": { "required": false, "consent": "not_required" }, "server_time": 0
}"#;

fn engine() -> Engine {
    let view = SessionView::from_json(VIEW).expect("bench view is valid");
    let mut engine = Engine::new(EngineConfig::new("tab_bench"));
    engine.handle_server_view(view, LocalTime::from_millis(0));
    engine.handle_push_stream(true, LocalTime::from_millis(0));
    engine.handle_activity(LocalTime::from_millis(1));
    while engine.poll_effect().is_some() {}
    engine
}

fn benches(c: &mut Criterion) {
    // Every call lands inside the broadcast throttle window, so nothing is emitted: the
    // path a mouse-move storm takes.
    let mut throttled = engine();
    c.bench_function("handle_activity (throttled)", |b| {
        b.iter(|| throttled.handle_activity(black_box(LocalTime::from_millis(1_000))))
    });

    let mut merging = engine();
    let message = PeerMessage {
        v: 1,
        session_id: "ses_bench".into(),
        tab_id: "tab_other".into(),
        body: PeerBody::Activity {
            at: ServerTime::from_millis(900),
        },
    }
    .encode();
    c.bench_function("handle_peer (activity merge)", |b| {
        b.iter(|| {
            merging.handle_peer(
                black_box(&message),
                black_box(LocalTime::from_millis(1_000)),
            )
        })
    });
    assert!(throttled.poll_effect().is_none() && merging.poll_effect().is_none());
}

criterion_group! {
    name = engine_benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(engine_benches);
