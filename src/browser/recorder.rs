//! The session recorder in the page: rrweb's recorder (`@rrweb/record`, pinned in
//! `tools/package.json`, served at `/sg-record.js`), loaded lazily with a `<script>`
//! element only when the session is recorded, so unrecorded sessions never download it.
//!
//! The rrweb calls, the events and their batching stay in JavaScript (a wasm-bindgen
//! snippet): the events are never parsed in Rust, a batch crosses into wasm once a second as
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
const BATCH_MS = 1000;
let loading = null;
const loaded = () => typeof globalThis.rrwebRecord?.record === 'function';

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

const pathOf = (href) => {
  try {
    return new URL(href, location.href).pathname;
  } catch {
    return '/';
  }
};

export class SgRecorder {
  constructor(url, onStarted, onFailed, onBatch) {
    this.events = [];
    this.onBatch = onBatch;
    this.timer = null;
    this.first = 0;
    this.last = 0;
    this.stopped = false;
    this.stopRecording = null;
    this.cleanups = [];
    loadRecorder(url).then(() => this.begin(onStarted, onFailed), () => {
      if (!this.stopped) onFailed();
    });
  }

  begin(onStarted, onFailed) {
    if (this.stopped) return;
    if (!loaded()) {
      onFailed();
      return;
    }
    const record = globalThis.rrwebRecord.record;
    try {
      this.stopRecording = record({
        emit: (event) => {
          if (event.type === 4 && event.data && typeof event.data.href === 'string') {
            event.data.href = pathOf(event.data.href);
          }
          this.events.push(event);
          // One hand-over a second while events come, none while the page is still.
          if (this.timer === null) {
            this.timer = setTimeout(() => {
              this.timer = null;
              this.onBatch();
            }, BATCH_MS);
          }
        },
        maskAllInputs: true,
        maskInputOptions: { password: true },
        blockSelector: '[data-sg-record="hide"]',
        slimDOMOptions: { script: true, comment: true },
        sampling: { mousemove: 50, scroll: 150, input: 'last' },
      });
    } catch {
      this.stopRecording = null;
    }
    if (!this.stopRecording) {
      onFailed();
      return;
    }
    const custom = (tag, payload) => {
      try {
        record.addCustomEvent(tag, payload);
      } catch {}
    };
    this.path = location.pathname;
    const on = (target, type, listener) => {
      target.addEventListener(type, listener, { capture: true, passive: true });
      this.cleanups.push(() => target.removeEventListener(type, listener, { capture: true }));
    };
    on(window, 'keydown', () => custom('sg.key', {}));
    on(window, 'focus', () => custom('sg.focus', { focused: true }));
    on(window, 'blur', () => custom('sg.focus', { focused: false }));
    on(document, 'visibilitychange', () =>
      custom('sg.visibility', { visible: document.visibilityState === 'visible' }));
    on(window, 'popstate', () => this.checkPath());
    onStarted();
  }

  checkPath() {
    if (!this.stopRecording || location.pathname === this.path) return;
    this.path = location.pathname;
    const record = globalThis.rrwebRecord.record;
    try {
      record.addCustomEvent('sg.navigation', { path: this.path });
      record.takeFullSnapshot(true);
    } catch {}
  }

  take() {
    this.checkPath();
    const events = this.events;
    if (events.length === 0) return undefined;
    this.events = [];
    this.first = events[0].timestamp;
    this.last = events[events.length - 1].timestamp;
    return JSON.stringify(events).slice(1, -1);
  }

  stop() {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const cleanup of this.cleanups) cleanup();
    this.cleanups = [];
    if (this.stopRecording) {
      try {
        this.stopRecording();
      } catch {}
    }
    this.stopRecording = null;
    this.events = [];
  }
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
        let on_started = Closure::<dyn FnMut()>::new(move || on_started());
        let on_failed = Closure::<dyn FnMut()>::new(move || on_failed());
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

#[wasm_bindgen(inline_js = r#"
export async function sg_gzip(text) {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

let crcTable = null;

function crc32(bytes) {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// A gzip member of stored (uncompressed) deflate blocks, written at once: as the page goes
// away there is no later turn for CompressionStream to finish in, so the last chunks are
// framed as gzip without compressing them (RFC 1951 section 3.2.4, RFC 1952).
export function sg_gzip_stored(text) {
  const data = new TextEncoder().encode(text);
  const blocks = Math.max(1, Math.ceil(data.length / 65535));
  const out = new Uint8Array(10 + blocks * 5 + data.length + 8);
  out.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
  let at = 10;
  for (let i = 0; i < blocks; i++) {
    const part = data.subarray(i * 65535, (i + 1) * 65535);
    const n = part.length;
    out.set([i === blocks - 1 ? 1 : 0, n & 255, n >>> 8, ~n & 255, (~n >>> 8) & 255], at);
    out.set(part, at + 5);
    at += 5 + n;
  }
  const crc = crc32(data);
  const size = data.length;
  out.set([crc, crc >>> 8, crc >>> 16, crc >>> 24, size, size >>> 8, size >>> 16, size >>> 24].map((b) => b & 255), at);
  return out;
}

export async function sg_post_chunk(url, header, tabId, text, keepalive, timeoutMs) {
  let body;
  try {
    // With `keepalive` the request must leave in this turn: no await before `fetch`.
    body = keepalive ? sg_gzip_stored(text) : await sg_gzip(text);
  } catch {
    return { status: -1, body: '' };
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/gzip', [header]: tabId },
      body,
      keepalive,
      signal: controller.signal,
    });
    // A 409 may name the seq the server stores next (a sequence refusal): its body is
    // read for that, up to the same deadline.
    const text = response.status === 409 ? await response.text() : '';
    return { status: response.status, body: text };
  } catch {
    return { status: 0, body: '' };
  } finally {
    clearTimeout(timer);
  }
}
"#)]
extern "C" {
    /// Gzips `text` (UTF-8) with the browser's `CompressionStream`; resolves to the bytes.
    #[wasm_bindgen(js_name = sg_gzip)]
    fn gzip_js(text: &str) -> js_sys::Promise;

    /// Gzips `text` at once as stored (uncompressed) deflate blocks.
    #[cfg(feature = "test-support")]
    #[wasm_bindgen(js_name = sg_gzip_stored)]
    fn gzip_stored_js(text: &str) -> js_sys::Uint8Array;

    /// Gzips `text` and posts it (with `keepalive`, framed at once without compressing, so
    /// the request leaves before the page does); resolves to `{status, body}`: the HTTP
    /// status, `0` when no answer came (or the timeout aborted it), `-1` when the browser
    /// cannot compress; the body's text on a `409`, else empty.
    #[wasm_bindgen(js_name = sg_post_chunk)]
    fn post_chunk_js(
        url: &str,
        header: &str,
        tab_id: &str,
        text: &str,
        keepalive: bool,
        timeout_ms: u32,
    ) -> js_sys::Promise;
}

/// Gzips `text` the way chunks are uploaded (the browser suites read them back).
#[cfg(feature = "test-support")]
pub async fn gzip(text: &str) -> Result<Vec<u8>, BrowserError> {
    let bytes = wasm_bindgen_futures::JsFuture::from(gzip_js(text))
        .await
        .map_err(|_| BrowserError::Js("CompressionStream"))?;
    Ok(js_sys::Uint8Array::new(&bytes).to_vec())
}

/// Gzips `text` the way the last chunks are sent as the page goes away: stored blocks,
/// written at once (the browser suites read them back).
#[cfg(feature = "test-support")]
pub fn gzip_stored(text: &str) -> Vec<u8> {
    gzip_stored_js(text).to_vec()
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
    let answer = wasm_bindgen_futures::JsFuture::from(post_chunk_js(
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
