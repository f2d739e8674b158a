//! Session recording: chunks, delivery in order across failures, fail-closed bounds.

use proptest::prelude::*;
use session_guard_contract::recording::RecordingChunk;

use crate::core::harness::{Harness, Server, MINUTE};
use crate::core::{
    ConsentState, DurationMs, Effect, EngineConfig, LeaderMode, Millis, PauseReason,
    RecordingLimits, RecordingStatus, State, CHUNK_BYTES, CHUNK_SPAN, GAP_EVENT_TAG,
    MAX_RETRY_DELAY,
};

const T0: Millis = 1_764_000_000_000;
const STALL: Millis = 30_000;

/// One tab of a recorded session whose consent is already accepted.
fn recorded(limits: RecordingLimits) -> Harness {
    recorded_with(|config| config.recording_limits = limits)
}

fn recorded_with(configure: impl Fn(&mut EngineConfig)) -> Harness {
    recorded_tabs(1, configure)
}

fn recorded_tabs(n: usize, configure: impl Fn(&mut EngineConfig)) -> Harness {
    let mut server = Server::privileged(T0);
    server.recording_required = true;
    server.consent = ConsentState::Accepted;
    let mut h = Harness::new(server, n, LeaderMode::Lock, configure);
    h.start_all();
    h
}

fn status(h: &Harness) -> RecordingStatus {
    h.tabs[0].engine.recording_status()
}

/// The stored chunks of tab 0, parsed: (seq, the `n` of every event, started_at, ended_at).
fn stored(h: &Harness) -> Vec<(u64, Vec<u64>, i64, i64)> {
    stored_of(h, 0)
}

/// The stored chunks of tab `i`, parsed as [`stored`] does.
fn stored_of(h: &Harness, i: usize) -> Vec<(u64, Vec<u64>, i64, i64)> {
    h.server.chunks[i]
        .iter()
        .map(|(seq, body)| {
            // What the server reads: the contract's validating parser.
            let chunk = RecordingChunk::from_json_slice(body.as_bytes()).expect("a valid chunk");
            assert_eq!(chunk.seq, *seq);
            assert_eq!(chunk.tab_id, format!("tab_{i:04}"));
            assert_eq!(chunk.clock_offset_ms.as_millis(), 0);
            let numbers = chunk
                .events
                .iter()
                .map(|e| {
                    let event: serde_json::Value = serde_json::from_str(e.get()).expect("JSON");
                    event["n"].as_u64().expect("n")
                })
                .collect();
            (
                u64::from(*seq),
                numbers,
                chunk.started_at.as_millis(),
                chunk.ended_at.as_millis(),
            )
        })
        .collect()
}

fn all_events(h: &Harness) -> Vec<u64> {
    all_events_of(h, 0)
}

fn all_events_of(h: &Harness, i: usize) -> Vec<u64> {
    stored_of(h, i)
        .into_iter()
        .flat_map(|(_, n, _, _)| n)
        .collect()
}

#[test]
fn the_recorder_starts_with_the_session_and_the_indicator_shows_once_it_runs() {
    let h = recorded(RecordingLimits::default());
    assert!(h.tabs[0].recorder_running);
    assert_eq!(status(&h), RecordingStatus::Running);
    assert!(h.tabs[0].engine.is_recording());
}

#[test]
fn a_session_that_is_not_recorded_never_starts_the_recorder() {
    let mut h = Harness::new(Server::privileged(T0), 1, LeaderMode::Lock, |_| {});
    h.start_all();
    h.run_until(T0 + MINUTE);
    assert!(!h.tabs[0].recorder_running);
    assert_eq!(status(&h), RecordingStatus::Off);
    assert!(!h.tabs[0].engine.is_recording());
}

#[test]
fn events_are_cut_into_chunks_every_span_with_server_times() {
    let mut h = recorded(RecordingLimits::default());
    h.record(0, r#"{"n":0}"#);
    h.run_until(T0 + 1_000);
    h.record(0, r#"{"n":1},{"n":2}"#);
    h.run_until(T0 + CHUNK_SPAN.as_millis() - 1);
    assert!(h.server.chunks[0].is_empty(), "not before the span");
    h.run_until(T0 + CHUNK_SPAN.as_millis());
    assert_eq!(stored(&h), [(0, vec![0, 1, 2], T0, T0 + 1_000)]);
    h.run_until(T0 + 6_000);
    h.record(0, r#"{"n":3}"#);
    h.run_until(T0 + 12_000);
    assert_eq!(all_events(&h), [0, 1, 2, 3]);
    assert_eq!(h.server.chunks[0].len(), 2);
}

#[test]
fn the_chunk_span_is_configurable() {
    let mut h = recorded(RecordingLimits {
        chunk_span: DurationMs::SECOND,
        ..RecordingLimits::default()
    });
    h.record(0, r#"{"n":0}"#);
    h.run_until(T0 + 999);
    assert!(h.server.chunks[0].is_empty());
    h.run_until(T0 + 1_000);
    assert_eq!(all_events(&h), [0]);
}

#[test]
fn a_chunk_is_cut_at_once_when_its_events_reach_the_byte_bound() {
    let mut h = recorded(RecordingLimits::default());
    let padding = "x".repeat(CHUNK_BYTES);
    h.record(0, &format!(r#"{{"n":0,"pad":"{padding}"}}"#));
    assert_eq!(all_events(&h), [0], "uploaded without waiting for the span");
}

#[test]
fn a_blip_shorter_than_the_bound_pauses_the_indicator_and_loses_nothing() {
    let mut h = recorded(RecordingLimits::default());
    h.server.recording_reachable = false;
    for n in 0..20 {
        h.record(0, &format!(r#"{{"n":{n}}}"#));
        h.run_until(T0 + (n + 1) * 1_000);
        if n >= 5 {
            assert_eq!(
                status(&h),
                RecordingStatus::Paused(PauseReason::Undelivered)
            );
            assert!(!h.tabs[0].engine.is_recording());
        }
        assert!(matches!(h.tabs[0].engine.state(), State::Active));
    }
    h.server.recording_reachable = true;
    h.run_until(T0 + 20_000 + MAX_RETRY_DELAY.as_millis());
    assert_eq!(status(&h), RecordingStatus::Running);
    assert_eq!(all_events(&h), (0..20).collect::<Vec<_>>());
}

#[test]
fn undelivered_past_the_stall_limit_blocks_on_time_until_delivery_resumes() {
    // No heartbeats: the recording's own wake-ups are the only ones, so the block comes
    // on time only if the engine asks to be woken for it.
    let mut h = recorded_with(|config| {
        config.heartbeat_interval = DurationMs::DAY;
    });

    h.server.recording_reachable = false;
    h.record(0, r#"{"n":0}"#);
    // The first upload fails when the chunk is cut; the bound counts from there.
    let failed_at = T0 + CHUNK_SPAN.as_millis();
    h.run_until(failed_at + STALL - 1);
    assert_eq!(
        status(&h),
        RecordingStatus::Paused(PauseReason::Undelivered)
    );
    h.run_until(failed_at + STALL);
    assert_eq!(
        status(&h),
        RecordingStatus::Blocked(PauseReason::Undelivered),
        "blocked on time: the engine woke up for it"
    );
    h.server.recording_reachable = true;
    h.run_until(failed_at + STALL + MAX_RETRY_DELAY.as_millis());
    assert_eq!(status(&h), RecordingStatus::Running);
    assert_eq!(all_events(&h), [0]);
}

#[test]
fn a_full_buffer_stops_the_recorder_and_blocks_until_the_backlog_is_out() {
    let mut h = recorded(RecordingLimits {
        stall_limit: DurationMs::from_millis(10 * MINUTE),
        buffer_limit: 1_000,
        ..RecordingLimits::default()
    });
    h.server.recording_reachable = false;
    let padding = "x".repeat(100);
    let mut n = 0;
    while h.tabs[0].recorder_running {
        h.record(0, &format!(r#"{{"n":{n},"p":"{padding}"}}"#));
        n += 1;
        h.run_until(T0 + n * 500);
    }
    assert_eq!(
        status(&h),
        RecordingStatus::Blocked(PauseReason::BufferFull)
    );
    h.server.recording_reachable = true;
    h.run_until(T0 + n * 500 + 2 * MAX_RETRY_DELAY.as_millis());
    assert!(
        h.tabs[0].recorder_running,
        "started again, with a new snapshot"
    );
    assert_eq!(status(&h), RecordingStatus::Running);
    assert_eq!(all_events(&h), (0..n as u64).collect::<Vec<_>>());
}

#[test]
fn a_recorder_that_cannot_load_is_retried_and_blocks_past_the_bound() {
    let mut server = Server::privileged(T0);
    server.recording_required = true;
    server.consent = ConsentState::Accepted;
    let mut h = Harness::new(server, 1, LeaderMode::Lock, |_| {});
    h.tabs[0].recorder_loads = false;
    h.start_all();
    assert_eq!(
        status(&h),
        RecordingStatus::Paused(PauseReason::RecorderFailed)
    );
    h.run_until(T0 + STALL);
    assert_eq!(
        status(&h),
        RecordingStatus::Blocked(PauseReason::RecorderFailed)
    );
    h.tabs[0].recorder_loads = true;
    h.run_until(T0 + STALL + MAX_RETRY_DELAY.as_millis());
    assert!(h.tabs[0].recorder_running);
    assert_eq!(status(&h), RecordingStatus::Running);
}

#[test]
fn leaving_the_page_sends_what_is_open_before_closing_the_tab() {
    let mut h = recorded(RecordingLimits::default());
    h.record(0, r#"{"n":0}"#);
    h.run_until(T0 + 1_000);
    let engine = &mut h.tabs[0].engine;
    engine.handle_page_left(crate::core::harness::local(T0 + 1_000));
    let effects: Vec<Effect> = std::iter::from_fn(|| engine.poll_effect()).collect();
    let upload = effects
        .iter()
        .position(|e| matches!(e, Effect::UploadChunk(u) if u.seq == 0 && u.keepalive));
    let close = effects.iter().position(|e| *e == Effect::CloseTab);
    assert!(upload.is_some() && close.is_some(), "{effects:?}");
    assert!(upload < close, "the chunk goes before the tab closes");
    assert!(effects.contains(&Effect::StopRecorder));
    assert_eq!(status(&h), RecordingStatus::Off);
}

#[test]
fn each_tab_records_its_own_chunks_from_seq_zero() {
    let mut server = Server::privileged(T0);
    server.recording_required = true;
    server.consent = ConsentState::Pending;
    let mut h = Harness::new(server, 2, LeaderMode::Lock, |_| {});
    h.start_all();
    assert!(
        h.tabs.iter().all(|t| !t.recorder_running),
        "not before consent"
    );
    h.input(1, |engine, now| engine.handle_consent(true, now));
    assert!(h.tabs.iter().all(|t| t.recorder_running));
    h.record(0, r#"{"n":0}"#);
    h.record(1, r#"{"n":1}"#);
    h.run_until(T0 + 10_000);
    assert_eq!(h.server.chunks[0].len(), 1);
    assert_eq!(h.server.chunks[1].len(), 1);
    assert!(h.server.chunks[1][0].1.contains(r#""tab_id":"tab_0001""#));
    assert!(h.server.chunks[1][0].1.contains(r#"{"n":1}"#));
}

#[test]
fn the_session_ending_stops_the_recording() {
    let mut h = recorded(RecordingLimits::default());
    h.input(0, |engine, now| engine.handle_logout(now));
    assert!(!h.tabs[0].recorder_running);
    assert_eq!(status(&h), RecordingStatus::Off);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever the pattern of upload failures, every event each tab's recorder handed
    /// over is stored once, in order, in that tab's chunks numbered 0, 1, 2... When each
    /// outage is shorter than the stall bound (less the longest back-off, so the retry
    /// after it lands in time) no tab hides its content. At every step each tab's
    /// indicator shows exactly while its status is `Running`, and only while its recorder
    /// runs.
    #[test]
    fn chunks_arrive_in_order_with_no_loss_or_duplicate_across_failures(
        tabs in 1usize..4,
        pattern in prop::collection::vec((0i64..40_000, 6_000i64..20_000), 1..6),
        step in 200i64..1_500,
    ) {
        let mut h = recorded_tabs(tabs, |_| {});
        let short = pattern.iter().all(|(down, _)| *down < STALL - MAX_RETRY_DELAY.as_millis());
        let mut t = T0;
        let mut fed = vec![Vec::new(); tabs];
        let mut n = 0u64;
        for (down, up) in pattern {
            for (reachable, span) in [(false, down), (true, up)] {
                h.server.recording_reachable = reachable;
                let end = t + span;
                while t < end {
                    for (i, fed) in fed.iter_mut().enumerate() {
                        if h.tabs[i].recorder_running {
                            h.record(i, &format!(r#"{{"n":{n}}}"#));
                            fed.push(n);
                            n += 1;
                        }
                    }
                    t += step;
                    h.run_until(t);
                    for tab in &h.tabs {
                        let status = tab.engine.recording_status();
                        let running = status == RecordingStatus::Running;
                        prop_assert_eq!(tab.engine.is_recording(), running);
                        prop_assert!(!running || tab.recorder_running);
                        if short {
                            prop_assert!(!matches!(status, RecordingStatus::Blocked(_)));
                        }
                    }
                }
            }
        }
        h.server.recording_reachable = true;
        h.run_until(t + 2 * MAX_RETRY_DELAY.as_millis() + CHUNK_SPAN.as_millis());
        for (i, fed) in fed.iter().enumerate() {
            let seqs: Vec<u64> = stored_of(&h, i).iter().map(|(seq, ..)| *seq).collect();
            prop_assert_eq!(seqs, (0..h.server.chunks[i].len() as u64).collect::<Vec<_>>());
            prop_assert_eq!(&all_events_of(&h, i), fed);
            prop_assert_eq!(h.tabs[i].engine.recording_status(), RecordingStatus::Running);
        }
    }
}

#[test]
fn a_page_that_follows_another_in_the_same_tab_continues_its_sequence() {
    // The page before sent chunks 0 to 2 (a tab keeps its id across page loads).
    let mut h = recorded_with(|config| config.recording_first_seq = 3);
    h.server.chunks[0] = (0..3)
        .map(|seq| (seq, format!("page one, chunk {seq}")))
        .collect();
    h.record(0, r#"{"n":7}"#);
    h.run_until(T0 + CHUNK_SPAN.as_millis() + 1_000);
    let seqs: Vec<u32> = h.server.chunks[0].iter().map(|(seq, _)| *seq).collect();
    assert_eq!(
        seqs,
        [0, 1, 2, 3],
        "the new page's first chunk is stored as seq 3"
    );
    assert_eq!(status(&h), RecordingStatus::Running);
}

/// Runs the harness to `end`, reading tab 0's recording status every 250 ms.
fn statuses_until(h: &mut Harness, end: Millis) -> Vec<RecordingStatus> {
    let mut seen = Vec::new();
    while h.now < end {
        let next = (h.now + 250).min(end);
        h.run_until(next);
        seen.push(status(h));
    }
    seen
}

/// Stored chunk `seq` of tab 0 as the server reads it: its seq, the `n` of its events,
/// and the chunks its leading gap event says are missing before it (`None` without one).
fn stored_chunk(h: &Harness, seq: usize) -> (u32, Vec<u64>, Option<u64>) {
    let (stored_seq, body) = &h.server.chunks[0][seq];
    let chunk = RecordingChunk::from_json_slice(body.as_bytes()).expect("a valid chunk");
    assert_eq!(chunk.seq, *stored_seq, "the body's seq is the path's");
    let mut events: Vec<serde_json::Value> = chunk
        .events
        .iter()
        .map(|e| serde_json::from_str(e.get()).expect("JSON"))
        .collect();
    let gap = match events.first() {
        Some(first) if first["data"]["tag"] == GAP_EVENT_TAG => {
            assert_eq!(first["type"], 5, "an rrweb custom event");
            // At the chunk's first event, on the tab's clock (the harness's offset is 0).
            assert_eq!(first["timestamp"], chunk.started_at.as_millis());
            let missing = first["data"]["payload"]["chunks"].as_u64();
            events.remove(0);
            missing
        }
        _ => None,
    };
    let numbers = events
        .iter()
        .map(|event| event["n"].as_u64().expect("n"))
        .collect();
    (chunk.seq, numbers, gap)
}

#[test]
fn a_lost_pagehide_chunk_is_renumbered_past_and_never_locks_the_tab_out() {
    // The page before sent chunks 0 to 3; its last, 3, left at pagehide in a keepalive
    // request nobody reads, and was lost: the server holds 0 to 2, this page starts at 4.
    let mut h = recorded_with(|config| config.recording_first_seq = 4);
    h.server.chunks[0] = (0..3)
        .map(|seq| (seq, format!("page one, chunk {seq}")))
        .collect();
    h.record(0, r#"{"n":7}"#);
    let seen = statuses_until(&mut h, T0 + STALL + 10_000);
    // The server answered 409 naming seq 3: the chunk was renumbered and stored at once.
    let seqs: Vec<u32> = h.server.chunks[0].iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3]);
    assert_eq!(
        stored_chunk(&h, 3),
        (3, vec![7], Some(1)),
        "it opens with the mark of the one chunk missing before it"
    );
    assert!(
        seen.iter().all(|s| *s == RecordingStatus::Running),
        "never paused, never blocked: {seen:?}"
    );
    // And the sequence goes on from there.
    h.record(0, r#"{"n":8}"#);
    h.run_until(T0 + STALL + 10_000 + CHUNK_SPAN.as_millis() + 1_000);
    assert_eq!(stored_chunk(&h, 4), (4, vec![8], None));
    assert_eq!(status(&h), RecordingStatus::Running);
}

#[test]
fn a_backlog_held_through_an_outage_is_renumbered_whole_in_order() {
    // As above, and the network is also down when this page starts: two chunks wait.
    let mut h = recorded_with(|config| config.recording_first_seq = 4);
    h.server.chunks[0] = (0..3)
        .map(|seq| (seq, format!("page one, chunk {seq}")))
        .collect();
    h.server.recording_reachable = false;
    h.record(0, r#"{"n":7}"#);
    h.run_until(T0 + CHUNK_SPAN.as_millis() + 100);
    h.record(0, r#"{"n":8}"#);
    h.run_until(T0 + 2 * CHUNK_SPAN.as_millis() + 200);
    assert_eq!(
        status(&h),
        RecordingStatus::Paused(PauseReason::Undelivered)
    );
    h.server.recording_reachable = true;
    let seen = statuses_until(
        &mut h,
        T0 + 2 * CHUNK_SPAN.as_millis() + 3 * MAX_RETRY_DELAY.as_millis(),
    );
    assert!(
        !seen
            .iter()
            .any(|s| matches!(s, RecordingStatus::Blocked(_))),
        "{seen:?}"
    );
    let seqs: Vec<u32> = h.server.chunks[0].iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4], "renumbered 4, 5 to 3, 4");
    assert_eq!(stored_chunk(&h, 3), (3, vec![7], Some(1)));
    assert_eq!(stored_chunk(&h, 4), (4, vec![8], None));
    assert_eq!(status(&h), RecordingStatus::Running);
}

#[test]
fn a_pagehide_chunk_that_lands_after_the_next_page_took_its_seq_moves_the_page_on() {
    // The page before sent 0 to 2 and then 3 at pagehide; this page starts at 3 (its
    // sessionStorage note came from chunk 2), and chunk 3 of the page before lands first.
    let mut h = recorded_with(|config| config.recording_first_seq = 3);
    h.server.chunks[0] = (0..4)
        .map(|seq| (seq, format!("page one, chunk {seq}")))
        .collect();
    h.record(0, r#"{"n":7}"#);
    let seen = statuses_until(&mut h, T0 + STALL + 10_000);
    let seqs: Vec<u32> = h.server.chunks[0].iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
    assert_eq!(
        h.server.chunks[0][3].1, "page one, chunk 3",
        "kept as it landed"
    );
    assert_eq!(
        stored_chunk(&h, 4),
        (4, vec![7], None),
        "nothing is missing"
    );
    assert!(
        seen.iter().all(|s| *s == RecordingStatus::Running),
        "{seen:?}"
    );
}

#[test]
fn renumbering_happens_once_per_answer_and_never_loops() {
    let mut h = recorded(RecordingLimits::default());
    h.server.recording_reachable = false;
    h.record(0, r#"{"n":0}"#);
    h.run_until(T0 + CHUNK_SPAN.as_millis() + 100);
    let at = crate::core::harness::local(T0 + CHUNK_SPAN.as_millis() + 100);
    let engine = &mut h.tabs[0].engine;
    let uploads = |engine: &mut crate::core::Engine| -> Vec<(u32, String)> {
        std::iter::from_fn(|| engine.poll_effect())
            .filter_map(|e| match e {
                Effect::UploadChunk(u) => Some((u.seq, u.body)),
                _ => None,
            })
            .collect()
    };
    let _ = uploads(engine);
    // A stale answer about another seq changes nothing.
    engine.handle_upload_result(
        7,
        crate::core::UploadOutcome::OutOfSequence { next_seq: 2 },
        at,
    );
    assert!(uploads(engine).is_empty());
    // The server's word moves the head from 0 to 5: renumbered and sent again at once.
    engine.handle_upload_result(
        0,
        crate::core::UploadOutcome::OutOfSequence { next_seq: 5 },
        at,
    );
    let sent = uploads(engine);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, 5);
    let chunk = RecordingChunk::from_json_slice(sent[0].1.as_bytes()).expect("a valid chunk");
    assert_eq!(chunk.seq, 5, "the body says the new seq too");
    assert!(
        !sent[0].1.contains(GAP_EVENT_TAG),
        "moved up: nothing missing"
    );
    // A second renumbering before anything was stored: renumbered, but sent only after a
    // back-off, as after any failure.
    engine.handle_upload_result(
        5,
        crate::core::UploadOutcome::OutOfSequence { next_seq: 9 },
        at,
    );
    assert!(uploads(engine).is_empty(), "no tight loop");
    assert_eq!(
        engine.recording_status(),
        RecordingStatus::Paused(PauseReason::Undelivered)
    );
    // An answer that does not move the seq is a failure, never a renumbering.
    engine.handle_upload_result(
        9,
        crate::core::UploadOutcome::OutOfSequence { next_seq: 9 },
        at,
    );
    assert!(uploads(engine).is_empty());
    // Once the server takes it, the chunk is stored under the last seq it named.
    h.server.chunks[0] = (0..9).map(|seq| (seq, format!("chunk {seq}"))).collect();
    h.server.recording_reachable = true;
    h.run_until(T0 + CHUNK_SPAN.as_millis() + 3 * MAX_RETRY_DELAY.as_millis());
    assert_eq!(stored_chunk(&h, 9), (9, vec![0], None));
    assert_eq!(status(&h), RecordingStatus::Running);
}
