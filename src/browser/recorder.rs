//! The session recorder in the page: rrweb's recorder (`@rrweb/record`, pinned in
//! `tools/package.json`, served at `/sg-record.js`), loaded lazily with a `<script>`
//! element only when the session is recorded, so unrecorded sessions never download it.
//!
//! The rrweb calls, the events and their batching stay in JavaScript, in the recorder
//! script itself (`record-bridge.js`, which `tools/copy-rrweb.sh` appends to rrweb's
//! recorder), with the chunks' compression and upload and the tab's recording marks: the
//! page carries only the loader (a wasm-bindgen snippet) until a session is recorded. The
//! events are never parsed in Rust, a batch crosses into wasm once a second as
//! the text of `JSON.stringify`, and the engine joins batches into chunks. Capture settings
//! (`docs/CONTRACT.md`, "Session recording"): every input value masked, passwords always,
//! `[data-sg-record="hide"]` blocked, scripts and comments left out of snapshots, pointer
//! moves and scrolls sampled, `Meta` hrefs reduced to the path; custom events for a key
//! press (never which key), focus and visibility changes and navigations (the path only),
//! with a new full snapshot after each navigation.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::BrowserError;
use crate::core::{LocalTime, RecorderBatch};

/// Where the recorder script is served by default (trunk's hook puts it in `dist/`).
pub const DEFAULT_RECORDER_URL: &str = "/sg-record.js";

#[wasm_bindgen(inline_js = r#"
let loading = null;
const bridge = () => globalThis.sgRecordBridge;
const loaded = () =>
  typeof globalThis.rrwebRecord?.record === 'function' && typeof bridge()?.Recorder === 'function';

// One `<script>` at a time however many tabs' guards start; a failed load is tried again
// by the next start (the engine retries with a back-off).
function loadRecorder(url) {
  if (loaded()) return Promise.resolve();
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = url;
      script.async = true;
      script.onload = () => (loaded() ? resolve() : reject(new Error('no recorder in ' + url)));
      script.onerror = () => {
        script.remove();
        reject(new Error('recorder not loaded'));
      };
      document.head.appendChild(script);
    }).finally(() => {
      loading = null;
    });
  }
  return loading;
}

// The tab's recorder until the script is loaded, then the bridge's (`record-bridge.js`).
export class SgRecorder {
  constructor(url, onStarted, onFailed, onBatch) {
    this.inner = null;
    this.stopped = false;
    loadRecorder(url).then(() => {
      if (this.stopped) return;
      this.inner = new (bridge().Recorder)(onBatch);
      this.inner.begin(onStarted, onFailed);
    }, () => {
      if (!this.stopped) onFailed();
    });
  }

  take() {
    return this.inner ? this.inner.take() : undefined;
  }

  get first() {
    return this.inner ? this.inner.first : 0;
  }

  get last() {
    return this.inner ? this.inner.last : 0;
  }

  stop() {
    this.stopped = true;
    if (this.inner) this.inner.stop();
    this.inner = null;
  }
}

// The bridge, once the recorder script is loaded.
export function sg_bridge() {
  return loaded() ? bridge() : undefined;
}
"#)]
extern "C" {
    /// The recorder of one tab, in JavaScript.
    type SgRecorder;

    /// Starts loading the recorder from `url`; `on_batch` runs one second after the first
    /// event since the last batch was taken (never while the page is still).
    #[wasm_bindgen(constructor, catch)]
    fn new(
        url: &str,
        on_started: &js_sys::Function,
        on_failed: &js_sys::Function,
        on_batch: &js_sys::Function,
    ) -> Result<SgRecorder, JsValue>;

    /// The events captured since the last call, as a JSON array's text without its
    /// brackets; `None` when there are none.
    #[wasm_bindgen(method)]
    fn take(this: &SgRecorder) -> Option<String>;

    /// The `timestamp` of the first event of the last batch taken.
    #[wasm_bindgen(method, getter)]
    fn first(this: &SgRecorder) -> f64;

    /// The `timestamp` of the last event of the last batch taken.
    #[wasm_bindgen(method, getter)]
    fn last(this: &SgRecorder) -> f64;

    #[wasm_bindgen(method)]
    fn stop(this: &SgRecorder);

    /// The code only a recorded tab runs (`record-bridge.js`, appended to rrweb's recorder
    /// in the recorder script by `tools/copy-rrweb.sh`).
    type Bridge;

    /// The bridge, `None` until the recorder script is loaded.
    fn sg_bridge() -> Option<Bridge>;

    /// Gzips `text` (UTF-8) with the browser's `CompressionStream`; resolves to the bytes.
    #[cfg(feature = "test-support")]
    #[wasm_bindgen(method)]
    fn gzip(this: &Bridge, text: &str) -> js_sys::Promise;

    /// Gzips `text` at once as stored (uncompressed) deflate blocks.
    #[cfg(feature = "test-support")]
    #[wasm_bindgen(method, js_name = gzipStored)]
    fn gzip_stored(this: &Bridge, text: &str) -> js_sys::Uint8Array;

    /// Gzips `text` and posts it (with `keepalive`, framed at once without compressing, so
    /// the request leaves before the page does); resolves to `{status, body}`: the HTTP
    /// status, `0` when no answer came (or the timeout aborted it), `-1` when the browser
    /// cannot compress; the body's text on a `409`, else empty.
    #[wasm_bindgen(method, js_name = postChunk)]
    fn post_chunk(
        this: &Bridge,
        url: &str,
        header: &str,
        tab_id: &str,
        text: &str,
        keepalive: bool,
        timeout_ms: u32,
    ) -> js_sys::Promise;

    /// Marks the tab as recorded (title prefix, favicon); returns the function that
    /// removes the marks.
    #[wasm_bindgen(method, catch, js_name = markTab)]
    fn mark_tab(this: &Bridge) -> Result<js_sys::Function, JsValue>;
}

/// The running recorder of this tab; dropping it stops the recording and removes its
/// listeners (events not yet taken are discarded: take them first).
#[must_use = "the recorder stops when this handle is dropped"]
pub struct Recorder {
    js: Rc<SgRecorder>,
    _on_started: Closure<dyn FnMut()>,
    _on_failed: Closure<dyn FnMut()>,
    _on_batch: Closure<dyn FnMut()>,
}

impl Recorder {
    /// Loads the recorder script from `url` (once per page) and starts recording;
    /// `on_started` or `on_failed` says how that went, and the events go to `on_events`
    /// in batches, one second after the first event of each (no timer while the page is
    /// still).
    pub fn start(
        url: &str,
        on_started: Rc<dyn Fn()>,
        on_failed: Rc<dyn Fn()>,
        on_events: Rc<dyn Fn(RecorderBatch)>,
    ) -> Result<Recorder, BrowserError> {
        let on_started = super::js_callback(on_started);
        let on_failed = super::js_callback(on_failed);
        // The batch callback reads the recorder it belongs to, which exists only once the
        // constructor returned: it reaches it through this cell.
        let cell: Rc<std::cell::OnceCell<Rc<SgRecorder>>> = Rc::default();
        let on_batch = Closure::<dyn FnMut()>::new({
            let cell = cell.clone();
            move || {
                if let Some(batch) = cell.get().and_then(|js| take(js)) {
                    on_events(batch);
                }
            }
        });
        let js = Rc::new(
            SgRecorder::new(
                url,
                on_started.as_ref().unchecked_ref(),
                on_failed.as_ref().unchecked_ref(),
                on_batch.as_ref().unchecked_ref(),
            )
            .map_err(BrowserError::from_js)?,
        );
        let _ = cell.set(js.clone());
        Ok(Recorder {
            js,
            _on_started: on_started,
            _on_failed: on_failed,
            _on_batch: on_batch,
        })
    }

    /// The events captured since the last batch, if any.
    pub fn take(&self) -> Option<RecorderBatch> {
        take(&self.js)
    }
}

fn take(js: &SgRecorder) -> Option<RecorderBatch> {
    let events = js.take()?;
    // rrweb timestamps are `Date.now()` values: whole epoch milliseconds.
    Some(RecorderBatch {
        events,
        first_at: LocalTime::from_millis(js.first() as i64),
        last_at: LocalTime::from_millis(js.last() as i64),
    })
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.js.stop();
    }
}

/// The bridge, or why there is none.
fn bridge() -> Result<Bridge, BrowserError> {
    sg_bridge().ok_or(BrowserError::Js("recorder script not loaded"))
}

/// Marks the tab as recorded through the recorder script; the returned function removes
/// the marks.
pub(crate) fn mark_tab() -> Result<js_sys::Function, BrowserError> {
    bridge()?.mark_tab().map_err(BrowserError::from_js)
}

/// Gzips `text` the way chunks are uploaded (the browser suites read them back).
#[cfg(feature = "test-support")]
pub async fn gzip(text: &str) -> Result<Vec<u8>, BrowserError> {
    let bytes = wasm_bindgen_futures::JsFuture::from(bridge()?.gzip(text))
        .await
        .map_err(|_| BrowserError::Js("CompressionStream"))?;
    Ok(js_sys::Uint8Array::new(&bytes).to_vec())
}

/// Gzips `text` the way the last chunks are sent as the page goes away: stored blocks,
/// written at once (the browser suites read them back).
#[cfg(feature = "test-support")]
pub fn gzip_stored(text: &str) -> Result<Vec<u8>, BrowserError> {
    Ok(bridge()?.gzip_stored(text).to_vec())
}

/// The answer to a chunk upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkAnswer {
    /// The HTTP status.
    pub(crate) status: u16,
    /// On a `409` for the chunk's sequence: the seq the server stores next for the tab.
    pub(crate) next_seq: Option<u32>,
}

/// Uploads one chunk, gzipped, to `url` with the acting-tab header; the answer's status
/// (and, on a `409`, the seq the server expects next, when it names one).
pub(crate) async fn post_chunk(
    url: &str,
    tab_id: &str,
    chunk: &str,
    keepalive: bool,
    timeout_ms: u32,
) -> Result<ChunkAnswer, BrowserError> {
    let answer = wasm_bindgen_futures::JsFuture::from(bridge()?.post_chunk(
        url,
        session_guard_contract::api::TAB_HEADER,
        tab_id,
        chunk,
        keepalive,
        timeout_ms,
    ))
    .await
    .unwrap_or(JsValue::UNDEFINED);
    let field = |key: &str| js_sys::Reflect::get(&answer, &JsValue::from_str(key)).ok();
    let status = field("status")
        .and_then(|status| status.as_f64())
        .unwrap_or(0.0);
    match status as i32 {
        -1 => Err(BrowserError::Js("CompressionStream")),
        status @ 1..=599 => Ok(ChunkAnswer {
            status: status as u16,
            next_seq: field("body")
                .and_then(|body| body.as_string())
                .and_then(|body| super::json::error_next_seq(&body)),
        }),
        _ => Err(BrowserError::Network("chunk upload failed")),
    }
}
