// session-guard's recorder bridge: the code that only a recorded tab runs. `tools/copy-rrweb.sh`
// appends it to rrweb's recorder in `/sg-record.js`, which the guard loads with a `<script>`
// element only when the session is recorded (`src/browser/recorder.rs`), so an unrecorded
// page never downloads it. It holds no policy: the engine (`src/core/recording.rs`) decides
// when to start and stop, cuts the chunks, numbers, retries and fails closed; this file only
// drives rrweb, batches its events for the engine, compresses and posts the chunks the
// engine hands it, and marks the tab while the engine says it is recorded.
;(() => {
  const BATCH_MS = 1000;

  const pathOf = (href) => {
    try {
      return new URL(href, location.href).pathname;
    } catch {
      return '/';
    }
  };

  // One tab's rrweb recording. Capture settings: docs/CONTRACT.md, "Session recording".
  class Recorder {
    constructor(onBatch) {
      this.events = [];
      this.onBatch = onBatch;
      this.timer = null;
      this.first = 0;
      this.last = 0;
      this.stopRecording = null;
      this.cleanups = [];
    }

    begin(onStarted, onFailed) {
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

    // The events since the last call as a JSON array's text without its brackets, or
    // `undefined` when there are none.
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

  async function gzip(text) {
    const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  let crcTable = null;

  // CRC-32 of the gzip trailer (RFC 1952). The browser has no synchronous CRC or deflate,
  // and a library for these few lines would be larger than they are.
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
  function gzipStored(text) {
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

  // Gzips `text` and posts it; resolves to `{status, body}`: the HTTP status, `0` when no
  // answer came (or the timeout aborted it), `-1` when the browser cannot compress; the
  // body's text on a `409`, else empty.
  async function postChunk(url, header, tabId, text, keepalive, timeoutMs) {
    let body;
    try {
      // With `keepalive` the request must leave in this turn: no await before `fetch`.
      body = keepalive ? gzipStored(text) : await gzip(text);
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

  // `RECORDING_TITLE_PREFIX` in src/browser/page.rs.
  const TITLE_PREFIX = '\u25cf REC ';
  const FAVICON =
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='8' cy='8' r='7' fill='%23d40000'/%3E%3C/svg%3E";

  const prefixTitle = () => {
    if (!document.title.startsWith(TITLE_PREFIX)) document.title = TITLE_PREFIX + document.title;
  };

  // Marks the tab as recorded (title prefix, red-dot favicon); returns the function that
  // restores both. A host app that changes the title later gets the prefix re-applied: our
  // own write wakes the observer once more and finds the prefix in place, so it settles.
  function markTab() {
    prefixTitle();
    let favicon = document.querySelector("link[rel~='icon']");
    const created = !favicon;
    const previousHref = favicon ? favicon.getAttribute('href') : null;
    if (created) {
      favicon = document.createElement('link');
      favicon.setAttribute('rel', 'icon');
      if (document.head) document.head.appendChild(favicon);
    }
    favicon.setAttribute('href', FAVICON);
    let observer = null;
    if (document.head) {
      observer = new MutationObserver(prefixTitle);
      observer.observe(document.head, { childList: true, characterData: true, subtree: true });
    }
    return () => {
      if (observer) observer.disconnect();
      if (document.title.startsWith(TITLE_PREFIX)) {
        document.title = document.title.slice(TITLE_PREFIX.length);
      }
      if (created) favicon.remove();
      else if (previousHref !== null) favicon.setAttribute('href', previousHref);
      else favicon.removeAttribute('href');
    };
  }

  globalThis.sgRecordBridge = Object.freeze({ Recorder, gzip, gzipStored, postChunk, markTab });
})();
