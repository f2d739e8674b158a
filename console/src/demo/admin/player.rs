//! The player of Remote sessions (`/admin/replay?session=…&tab=…`): one tab's recording
//! replayed by rrweb's Replayer (`@rrweb/replay`, loaded on this page only from
//! `/sg-replay.js` and `/sg-replay.css`), with a timeline of navigations, clicks and the
//! server's record of the session's API requests, and play, pause, seek and speed.
//!
//! A recording is outside input. Every chunk's envelope is checked (a bad chunk is listed,
//! never replayed), every event goes through [`crate::replay_safety`] (nothing in the
//! replayed document may fetch), the Replayer's iframe is sandboxed without scripts
//! (`UNSAFE_replayCanvas` off), and the page has its own strict Content-Security-Policy
//! (the server's `REPLAY_POLICY`). Recorded text reaches the page only as text nodes.

use leptos::html::Div;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;
use session_guard::core::GAP_EVENT_TAG;
use session_guard::ui::use_session;
use wasm_bindgen::prelude::*;

use session_guard_contract::recording::RecordingChunk;

use super::api::{self, ApiError, RecordedAction, RecordingDetail};
use super::recordings::{duration_text, size_text};
use super::{format_time, RECORDINGS_READ_SCOPE};
use crate::replay_safety::Sanitizer;

/// rrweb's player script and style sheet, copied into `dist/` by the build.
const REPLAY_SCRIPT: &str = "/sg-replay.js";
/// See [`REPLAY_SCRIPT`].
const REPLAY_STYLES: &str = "/sg-replay.css";
/// The speeds offered.
const SPEEDS: [u32; 4] = [1, 2, 4, 8];
/// How often the position is read while playing.
const TICK_MS: u64 = 200;
/// The timeline shows at most this many marks (a long recording has many clicks).
const MAX_MARKS: usize = 1000;

#[wasm_bindgen]
extern "C" {
    /// `rrwebReplay.Replayer` of `@rrweb/replay` 2.1.6 (global of its UMD build).
    #[wasm_bindgen(js_namespace = rrwebReplay)]
    type Replayer;

    #[wasm_bindgen(constructor, js_namespace = rrwebReplay, js_class = "Replayer", catch)]
    fn new(events: &JsValue, config: &JsValue) -> Result<Replayer, JsValue>;

    /// Plays from `offset` ms after the first event.
    #[wasm_bindgen(method, catch, js_class = "Replayer")]
    fn play(this: &Replayer, offset: f64) -> Result<(), JsValue>;

    /// Shows the document as it was `offset` ms after the first event, paused.
    #[wasm_bindgen(method, catch, js_class = "Replayer")]
    fn pause(this: &Replayer, offset: f64) -> Result<(), JsValue>;

    /// The position, in ms after the first event.
    #[wasm_bindgen(method, js_class = "Replayer", js_name = getCurrentTime)]
    fn current_time(this: &Replayer) -> f64;

    #[wasm_bindgen(method, catch, js_class = "Replayer", js_name = setConfig)]
    fn set_config(this: &Replayer, config: &JsValue) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch, js_class = "Replayer")]
    fn destroy(this: &Replayer) -> Result<(), JsValue>;
}

/// One mark of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mark {
    /// Position, ms after the first event.
    at: i64,
    /// What happened, as text.
    what: String,
    /// `navigation`, `click`, `api` or `gap` (part of the recording missing), for styling
    /// and tests.
    kind: &'static str,
}

/// The player's loading state.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    Loading(&'static str),
    Ready,
    Failed(String),
}

/// A page path from a recorded address, never more (no origin, query or fragment).
fn path_of(href: &str) -> String {
    let after_scheme = href.split_once("://").map_or(href, |(_, rest)| rest);
    let path = after_scheme
        .find('/')
        .map_or("/", |slash| &after_scheme[slash..]);
    path.split(['?', '#']).next().unwrap_or("/").to_string()
}

/// The timeline marks of the (sanitised, sorted) events and the session's API actions of
/// this tab, positions relative to `start` (local ms of the first event).
fn marks(
    events: &[Value],
    actions: &[RecordedAction],
    tab_id: &str,
    start: i64,
    offset: i64,
) -> Vec<Mark> {
    let mut marks = Vec::new();
    for event in events {
        let at = event
            .get("timestamp")
            .and_then(Value::as_f64)
            .unwrap_or(0.0) as i64
            - start;
        let data = event.get("data");
        let field = |key: &str| data.and_then(|d| d.get(key));
        match event.get("type").and_then(Value::as_i64) {
            Some(4) => {
                let href = field("href").and_then(Value::as_str).unwrap_or_default();
                marks.push(Mark {
                    at,
                    what: format!("Page {}", path_of(href)),
                    kind: "navigation",
                });
            }
            Some(5) => {
                let tag = field("tag").and_then(Value::as_str).unwrap_or_default();
                if tag == GAP_EVENT_TAG {
                    // The guard renumbered past chunks the server never got (a page's last
                    // chunk, lost as the page went away): say so where it happened.
                    let missing = field("payload")
                        .and_then(|p| p.get("chunks").and_then(Value::as_u64))
                        .unwrap_or(1);
                    marks.push(Mark {
                        at,
                        what: format!("Recording missing here ({missing} chunk(s) lost)"),
                        kind: "gap",
                    });
                } else if tag.contains("navigat") {
                    let path = field("payload")
                        .and_then(|p| p.get("path").and_then(Value::as_str))
                        .map(path_of)
                        .unwrap_or_default();
                    marks.push(Mark {
                        at,
                        what: format!("Navigated to {path}"),
                        kind: "navigation",
                    });
                }
            }
            Some(3)
                if field("source").and_then(Value::as_i64) == Some(2)
                    && field("type").and_then(Value::as_i64) == Some(2) =>
            {
                marks.push(Mark {
                    at,
                    what: "Click".to_string(),
                    kind: "click",
                });
            }
            _ => {}
        }
    }
    for action in actions {
        if action.tab_id.as_deref().is_some_and(|t| t != tab_id) {
            continue;
        }
        // Server time → the tab's clock → position.
        let at = action.at.as_millis() - offset - start;
        if let Some(lost) = &action.not_recorded {
            // The server's request log was full: say where its record has a hole.
            let until = lost.until.as_millis() - offset - start;
            marks.push(Mark {
                at,
                what: format!("{} (until {})", lost.describe(), clock(until)),
                kind: "gap",
            });
            continue;
        }
        marks.push(Mark {
            at,
            what: format!("API {} {} → {}", action.method, action.path, action.status),
            kind: "api",
        });
    }
    marks.sort_by_key(|m| m.at);
    marks.truncate(MAX_MARKS);
    marks
}

/// `mm:ss` (or `h:mm:ss`) of a position; before the start shows as `-0:03`.
fn clock(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let seconds = ms.unsigned_abs() / 1000;
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{sign}{h}:{m:02}:{s:02}")
    } else {
        format!("{sign}{m}:{s:02}")
    }
}

/// Adds `<script src>` for rrweb's player once, and waits for it.
async fn load_player() -> Result<(), String> {
    let global = js_sys::global();
    if js_sys::Reflect::has(&global, &"rrwebReplay".into()).unwrap_or(false) {
        return Ok(());
    }
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let head = document.head().ok_or("no head")?;
    let styles = document
        .create_element("link")
        .map_err(|_| "cannot create a link")?;
    let _ = styles.set_attribute("rel", "stylesheet");
    let _ = styles.set_attribute("href", REPLAY_STYLES);
    let _ = head.append_child(&styles);
    let script = document
        .create_element("script")
        .map_err(|_| "cannot create a script")?;
    let loaded = js_sys::Promise::new(&mut |resolve, reject| {
        let _ = js_sys::Reflect::set(&script, &"onload".into(), &resolve);
        let _ = js_sys::Reflect::set(&script, &"onerror".into(), &reject);
    });
    let _ = script.set_attribute("src", REPLAY_SCRIPT);
    head.append_child(&script)
        .map_err(|_| "cannot add the player script")?;
    wasm_bindgen_futures::JsFuture::from(loaded)
        .await
        .map(drop)
        .map_err(|_| "the player script did not load".to_string())
}

/// The chunk in `text` when it passes the contract's validation and is the one asked for;
/// else why not, for the list of chunks that are not replayed.
fn checked_chunk(text: &str, seq: u32, tab_id: &str) -> Result<RecordingChunk, String> {
    let chunk = RecordingChunk::from_json_slice(text.as_bytes()).map_err(|e| e.to_string())?;
    if chunk.is_at(tab_id, seq) {
        Ok(chunk)
    } else {
        Err("it is not the chunk asked for (another tab or position)".to_string())
    }
}

/// Everything the Replayer needs, fetched and checked.
struct Loaded {
    detail: RecordingDetail,
    events: Vec<Value>,
    clock_offset_ms: i64,
    problems: Vec<String>,
}

/// Fetches the tab's detail and every chunk; bad chunks become problems, good ones
/// sanitised events in time order.
async fn fetch_recording(session_id: &str, tab_id: &str) -> Result<Loaded, ApiError> {
    let detail = api::recording(session_id, tab_id).await?;
    let mut sanitizer = Sanitizer::new();
    let mut events = Vec::new();
    let mut problems = Vec::new();
    let mut clock_offset_ms = None;
    for meta in &detail.chunks {
        let checked = match api::recording_chunk(session_id, tab_id, meta.seq).await {
            Ok(text) => checked_chunk(&text, meta.seq, tab_id),
            Err(ApiError::Failed(message)) => Err(message),
            Err(other) => return Err(other),
        };
        match checked {
            Ok(chunk) => {
                clock_offset_ms.get_or_insert(chunk.clock_offset_ms.as_millis());
                let before = events.len();
                let parsed = chunk
                    .events
                    .iter()
                    .filter_map(|raw| serde_json::from_str::<Value>(raw.get()).ok());
                events.extend(parsed.filter_map(|e| sanitizer.event(e)));
                if events.len() == before {
                    problems.push(format!(
                        "Chunk {} holds no event that can be replayed.",
                        meta.seq
                    ));
                }
            }
            Err(why) => problems.push(format!("Chunk {} is not replayed: {why}.", meta.seq)),
        }
    }
    let time = |e: &Value| e.get("timestamp").and_then(Value::as_f64).unwrap_or(0.0) as i64;
    events.sort_by_key(time);
    Ok(Loaded {
        detail,
        events,
        clock_offset_ms: clock_offset_ms.unwrap_or(0),
        problems,
    })
}

/// The Replayer's settings: into `root`, no scripts, no canvas replay, no warnings in the
/// console, the pointer shown without its trail.
fn config(root: &web_sys::Element, speed: u32) -> JsValue {
    let config = js_sys::Object::new();
    let set = |key: &str, value: &JsValue| {
        let _ = js_sys::Reflect::set(&config, &key.into(), value);
    };
    set("root", root);
    set("speed", &speed.into());
    set("UNSAFE_replayCanvas", &false.into());
    set("mouseTail", &false.into());
    set("showWarning", &false.into());
    set("skipInactive", &false.into());
    set("triggerFocus", &false.into());
    config.into()
}

/// The player page: the recording named by the query, for a holder of `recordings:read`.
#[component]
pub fn ReplayPage() -> impl IntoView {
    let session = use_session();
    let allowed = Signal::derive(move || {
        session
            .snapshot
            .with(|s| s.scopes.iter().any(|h| h == RECORDINGS_READ_SCOPE))
    });
    let query = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    let param = |name: &str| -> Option<String> {
        query
            .trim_start_matches('?')
            .split('&')
            .find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                (key == name).then(|| js_sys::decode_uri_component(value).ok())?
            })
            .map(String::from)
            .filter(|v| is_id(v))
    };
    let ids = param("session").zip(param("tab"));
    view! {
        <h1>"Replay"</h1>
        <p><a href="/admin#recordings">"Back to Remote sessions"</a></p>
        <Show
            when=move || allowed.get()
            fallback=|| view! {
                <p class="access-denied" role="alert">
                    "Replaying a recording needs the recordings:read scope."
                </p>
            }
        >
            {match ids.clone() {
                Some((session_id, tab_id)) => view! { <Player session_id tab_id /> }.into_any(),
                None => view! {
                    <p class="form-error" role="alert">"This address names no recording."</p>
                }
                .into_any(),
            }}
        </Show>
    }
}

/// Session and tab ids are short and plain; anything else is not looked up.
fn is_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// One tab's recording, replayed.
#[component]
fn Player(
    /// The recorded session.
    session_id: String,
    /// The recorded tab.
    tab_id: String,
) -> impl IntoView {
    let status = RwSignal::new(Status::Loading("Loading the player…"));
    let problems = RwSignal::new(Vec::<String>::new());
    let detail = RwSignal::new(None::<RecordingDetail>);
    let timeline = RwSignal::new(Vec::<Mark>::new());
    let total = RwSignal::new(0_i64);
    let position = RwSignal::new(0_i64);
    let playing = RwSignal::new(false);
    let speed = RwSignal::new(1_u32);
    // Local ms of the first event, and server − local: together they turn a position
    // into server time (the scenario's screenshots and the API actions use server time).
    let start = RwSignal::new(0_i64);
    let clock_offset = RwSignal::new(0_i64);
    let stage = NodeRef::<Div>::new();
    let replayer = StoredValue::new_local(None::<Replayer>);

    {
        let tab_id = tab_id.clone();
        spawn_local(async move {
            if let Err(why) = load_player().await {
                status.try_set(Status::Failed(format!(
                    "The player could not start: {why}."
                )));
                return;
            }
            status.try_set(Status::Loading("Loading the recording…"));
            let loaded = match fetch_recording(&session_id, &tab_id).await {
                Ok(loaded) => loaded,
                Err(ApiError::Failed(message)) => {
                    status.try_set(Status::Failed(message));
                    return;
                }
                Err(ApiError::Forbidden) => {
                    status.try_set(Status::Failed(
                        "Your permissions no longer allow replaying recordings.".into(),
                    ));
                    return;
                }
                Err(ApiError::Unauthenticated) => {
                    status.try_set(Status::Failed("Your session has ended.".into()));
                    return;
                }
            };
            problems.try_set(loaded.problems);
            let has_snapshot = loaded
                .events
                .iter()
                .any(|e| e.get("type").and_then(Value::as_i64) == Some(2));
            let time = |e: Option<&Value>| {
                e.and_then(|e| e.get("timestamp"))
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0) as i64
            };
            let first = time(loaded.events.first());
            let last = time(loaded.events.last());
            start.try_set(first);
            clock_offset.try_set(loaded.clock_offset_ms);
            total.try_set(last - first);
            timeline.try_set(marks(
                &loaded.events,
                &loaded.detail.actions,
                &loaded.detail.tab.tab_id,
                first,
                loaded.clock_offset_ms,
            ));
            detail.try_set(Some(loaded.detail));
            if !has_snapshot {
                status.try_set(Status::Failed(
                    "This recording holds no full snapshot of the page: there is nothing to replay."
                        .into(),
                ));
                return;
            }
            let Some(root) = stage.get_untracked() else {
                return;
            };
            let events = match serde_json::to_string(&loaded.events)
                .ok()
                .and_then(|text| js_sys::JSON::parse(&text).ok())
            {
                Some(events) => events,
                None => {
                    status.try_set(Status::Failed(
                        "The recording could not be prepared.".into(),
                    ));
                    return;
                }
            };
            match Replayer::new(&events, &config(&root, speed.get_untracked())) {
                Ok(player) => {
                    // rrweb's iframe has no name; assistive technology needs one.
                    if let Ok(Some(frame)) = root.query_selector("iframe") {
                        let _ = frame.set_attribute("title", "The recorded page, replayed");
                    }
                    let _ = player.pause(0.0);
                    replayer.set_value(Some(player));
                    status.try_set(Status::Ready);
                }
                Err(_) => {
                    status.try_set(Status::Failed(
                        "The player could not read this recording.".into(),
                    ));
                }
            }
        });
    }

    let ticker = set_interval_with_handle(
        move || {
            if !playing.get_untracked() {
                return;
            }
            replayer.with_value(|r| {
                if let Some(r) = r {
                    let now = r.current_time() as i64;
                    position.set(now.min(total.get_untracked()));
                    if now >= total.get_untracked() {
                        playing.set(false);
                    }
                }
            });
        },
        std::time::Duration::from_millis(TICK_MS),
    )
    .ok();
    on_cleanup(move || {
        if let Some(ticker) = ticker {
            ticker.clear();
        }
        replayer.with_value(|r| {
            if let Some(r) = r {
                let _ = r.destroy();
            }
        });
    });

    let seek = move |to: i64| {
        let to = to.clamp(0, total.get_untracked());
        position.set(to);
        replayer.with_value(|r| {
            if let Some(r) = r {
                let _ = if playing.get_untracked() {
                    r.play(to as f64)
                } else {
                    r.pause(to as f64)
                };
            }
        });
    };
    let toggle = move |_| {
        let now = position.get_untracked();
        let play = !playing.get_untracked();
        // At the end, play starts again from the beginning.
        let from = if play && now >= total.get_untracked() {
            0
        } else {
            now
        };
        playing.set(play);
        seek(from);
    };
    let set_speed = move |value: u32| {
        speed.set(value);
        replayer.with_value(|r| {
            if let Some(r) = r {
                let config = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&config, &"speed".into(), &value.into());
                let _ = r.set_config(&config.into());
            }
        });
    };
    let server_time = move || start.get() + clock_offset.get() + position.get();
    let summary = move || {
        detail.with(|d| {
            d.as_ref().map(|d| {
                format!(
                    "{} ({}) · tab {} · started {} · {} · {} in {} chunks",
                    d.session.display_name,
                    d.session.username,
                    d.tab.tab_id,
                    format_time(d.tab.started_at.as_millis()),
                    duration_text(d.tab.duration_ms.as_millis()),
                    size_text(d.tab.bytes),
                    d.tab.chunks
                )
            })
        })
    };
    view! {
        <section class="player" aria-labelledby="player-title">
            <h2 id="player-title">"Recording"</h2>
            <p class="muted">{summary}</p>
            {move || match status.get() {
                Status::Loading(text) => view! { <p class="muted" role="status">{text}</p> }.into_any(),
                Status::Failed(text) => view! { <p class="form-error" role="alert">{text}</p> }.into_any(),
                Status::Ready => ().into_any(),
            }}
            <Show when=move || problems.with(|p| !p.is_empty())>
                <ul class="form-error replay-problems" role="alert">
                    <For
                        each=move || problems.get()
                        key=|p| p.clone()
                        children=|p| view! { <li>{p}</li> }
                    />
                </ul>
            </Show>
            <div class="player-controls" role="group" aria-label="Playback">
                <button
                    id="replay-toggle"
                    type="button"
                    disabled=move || status.get() != Status::Ready
                    on:click=toggle
                >
                    {move || if playing.get() { "Pause" } else { "Play" }}
                </button>
                <label for="replay-seek">"Position"</label>
                <input
                    id="replay-seek"
                    type="range"
                    min="0"
                    step="1"
                    max=move || total.get().to_string()
                    prop:value=move || position.get().to_string()
                    disabled=move || status.get() != Status::Ready
                    on:input=move |ev| {
                        if let Ok(to) = event_target_value(&ev).parse::<i64>() {
                            seek(to);
                        }
                    }
                />
                <span
                    id="replay-clock"
                    role="status"
                    data-position-ms=move || position.get().to_string()
                    data-start-ms=move || start.get().to_string()
                    data-clock-offset-ms=move || clock_offset.get().to_string()
                >
                    {move || format!("{} / {}", clock(position.get()), clock(total.get()))}
                    " · server time "
                    {move || format_time(server_time())}
                </span>
                <label for="replay-speed">"Speed"</label>
                <select
                    id="replay-speed"
                    on:change=move |ev| {
                        if let Ok(value) = event_target_value(&ev).parse::<u32>() {
                            if SPEEDS.contains(&value) {
                                set_speed(value);
                            }
                        }
                    }
                >
                    {SPEEDS
                        .iter()
                        .map(|s| view! { <option value=s.to_string()>{format!("{s}×")}</option> })
                        .collect_view()}
                </select>
            </div>
            // Not recorded itself: an administrator's own recording must not copy the
            // recordings they review.
            <div class="replay-stage" data-sg-record="hide" node_ref=stage></div>
            <h3>"Timeline"</h3>
            <ol class="replay-timeline">
                // Two marks can be alike (two clicks in one millisecond): keyed by position.
                <For
                    each=move || timeline.get().into_iter().enumerate()
                    key=|(index, _)| *index
                    children=move |(_, mark)| {
                        let at = mark.at;
                        view! {
                            <li data-kind=mark.kind>
                                <button type="button" class="sg-secondary" on:click=move |_| seek(at)>
                                    {clock(at)}
                                </button>
                                " "
                                {mark.what}
                            </li>
                        }
                    }
                />
            </ol>
        </section>
    }
}
