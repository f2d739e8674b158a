// cargo xtask bench: measures the session guard and react-idle-timer side by side in headless
// Chromium, with the same harness, the same event counts and interleaved runs, and prints
// one JSON report on stdout (progress on stderr). Exits non-zero only when a figure could
// not be measured at all.
//
// Expects (cargo xtask bench does all of this first):
//   dist/                      the release console (trunk build --release)
//   bench/out/site/guard/      the Leptos bench page with the guard    (bench/pages)
//   bench/out/site/plain/      the same Leptos page without the guard  (bench/pages)
//   target/release/session-guard-server
//
// Usage: node bench/harness/main.js [--root DIR] [--quick] [--only WORD,WORD]
//   --quick  fewer samples and shorter windows (a smoke run, not for the README)
//   --only   measure only the figures whose step name contains one of the words

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, request } from 'playwright-core';

import {
  buildPeerPages,
  copyFiles,
  freePort,
  log,
  median,
  pageBytes,
  fileBytes,
  sampled,
  serverErrors,
  sleep,
  startHttp2Proxy,
  startServer,
  stopAll,
  summary,
} from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const rootArg = args.indexOf('--root');
const ROOT = rootArg >= 0 ? path.resolve(args[rootArg + 1]) : path.resolve(here, '..', '..');
const QUICK = args.includes('--quick');
const onlyArg = args.indexOf('--only');
const ONLY = onlyArg >= 0 ? args[onlyArg + 1].split(',') : null;
const BENCH = path.join(ROOT, 'bench');
const SITE = path.join(BENCH, 'out', 'site');
const SERVER_BIN = path.join(ROOT, 'target', 'release', 'session-guard-server');

// Sample counts: modest, so that the whole run stays within about a quarter of an hour on 2
// cores. The latencies compared with the peer take 60 samples per library (cross-tab: three
// rounds of 20, alternating between the libraries): with 20, a p95 is the second-largest
// sample, and it moved by 2-4 ms from one run to the next in both columns.
const N = {
  events: 200_000,
  eventRounds: QUICK ? 3 : 9,
  crossTab: QUICK ? 4 : 20,
  warning: QUICK ? 4 : 20,
  crossTabRounds: QUICK ? 1 : 3,
  deadline: QUICK ? 4 : 60,
  remoteSse: QUICK ? 4 : 20,
  remotePoll: QUICK ? 4 : 20,
  remoteTabs: 3,
  keepaliveWindowMs: QUICK ? 15_000 : 60_000,
  wakeupWindowMs: QUICK ? 15_000 : 60_000,
};

// Server policies. "long": the contract's 15 min idle timeout, keepalive interval shortened to
// 10 s so that a one-minute window sees several. "short": idle 4 s with a 3 s warning, so that
// warnings and idle endings happen within seconds (the peer gets the same numbers).
const LONG = { idleMs: 15 * 60_000, leadMs: 60_000, keepaliveMs: 10_000 };
const SHORT = { idleMs: 4_000, leadMs: 3_000 };

const USERS = {
  operator: { username: 'operator', password: 'operator-demo-pass' },
  admin: { username: 'admin', password: 'admin-demo-pass' },
};

const LAUNCH = {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
};

// Runs in every page before its own scripts: when the document was created, and (through the
// Navigation API, which sees location.replace/assign) when the page started to leave. The
// leave time goes to sessionStorage, which survives the same-origin navigation to /login.
// Times that cross pages are `performance.timeOrigin + performance.now()`: epoch
// milliseconds like Date.now(), with sub-millisecond resolution.
// It also marks when the page last heard a cross-tab message (a listener added before the
// library's own), so the report can split a cross-tab latency into the channel's transit
// and the receiving page's own work.
function benchInit() {
  window.__benchLoadedAt = Date.now();
  const now = () => performance.timeOrigin + performance.now();
  window.__benchNow = now;
  try {
    const Native = window.BroadcastChannel;
    window.BroadcastChannel = class extends Native {
      constructor(name) {
        super(name);
        super.addEventListener('message', () => {
          window.__benchMessageAt = now();
        });
      }
    };
  } catch {
    // no BroadcastChannel: nothing to mark
  }
  try {
    window.navigation.addEventListener('navigate', () => {
      sessionStorage.setItem('__bench_nav_at', String(now()));
      sessionStorage.setItem('__bench_nav_message_at', String(window.__benchMessageAt ?? ''));
    });
  } catch {
    // no Navigation API: the harness reports the sample as failed
  }
}

// Counts timer callbacks (setTimeout, setInterval, requestAnimationFrame) and cross-tab
// messages sent, by wrapping the globals before any page script runs.
function countWakeups() {
  const counts = { timeout: 0, interval: 0, animationFrame: 0, broadcast: 0 };
  window.__benchWakeups = counts;
  const wrap = (name, key) => {
    const original = window[name];
    window[name] = function (callback, ...rest) {
      if (typeof callback !== 'function') return original.call(window, callback, ...rest);
      return original.call(
        window,
        function (...callbackArgs) {
          counts[key] += 1;
          return callback.apply(this, callbackArgs);
        },
        ...rest,
      );
    };
  };
  wrap('setTimeout', 'timeout');
  wrap('setInterval', 'interval');
  wrap('requestAnimationFrame', 'animationFrame');
  const post = BroadcastChannel.prototype.postMessage;
  BroadcastChannel.prototype.postMessage = function (message) {
    counts.broadcast += 1;
    return post.call(this, message);
  };
}

// With BENCH_TRACE set, the idle-deadline samples also record, in page time
// (performance.timeOrigin + performance.now()), every fetch (start and answer), timer
// (armed, its delay, fired), beacon and the navigation, and print them for each sample
// relative to the activity event: where the time between the deadline and the page leaving
// goes. Off by default: the wrappers cost a little on every call.
function traceTimeline() {
  const now = () => performance.timeOrigin + performance.now();
  const trace = [];
  window.__benchTrace = trace;
  const note = (what) => trace.push([now(), what]);
  const fetch = window.fetch;
  window.fetch = function (input, init) {
    const url = String(input instanceof Request ? input.url : input).replace(location.origin, '');
    const method = (input instanceof Request ? input.method : init?.method) || 'GET';
    note(`fetch ${method} ${url}`);
    return fetch.call(this, input, init).then((response) => {
      note(`answer ${response.status} ${method} ${url}`);
      return response;
    });
  };
  const setTimeout = window.setTimeout;
  window.setTimeout = function (callback, delay, ...rest) {
    if (typeof callback !== 'function') return setTimeout.call(window, callback, delay, ...rest);
    const id = trace.length;
    note(`timer #${id} armed ${delay} ms`);
    return setTimeout.call(
      window,
      function (...args) {
        note(`timer #${id} fired`);
        return callback.apply(this, args);
      },
      delay,
      ...rest,
    );
  };
  const beacon = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = (url, data) => {
    note(`beacon ${url}`);
    return beacon(url, data);
  };
  window.navigation?.addEventListener('navigate', () => {
    note('navigate');
    sessionStorage.setItem('__bench_trace', JSON.stringify(trace.slice(-40)));
  });
}

// ---- the two libraries under test -------------------------------------------------------

/** How each library's page is opened, recognised as ready and signed in. */
const LIBS = {
  guard: {
    label: 'session-guard',
    needsLogin: true,
    url: () => '/guard/',
    ready: '.sg-protected #count',
  },
  peer: {
    label: 'react-idle-timer',
    needsLogin: false,
    url: (policy) => `/peer/?timeout=${policy.idleMs}&prompt=${policy.leadMs}`,
    ready: '#count',
  },
};

class Bench {
  constructor(browser, servers) {
    this.browser = browser;
    this.servers = servers;
  }

  /** A fresh browser context (its own cookies and storage) on `server`, signed in if asked. */
  async context(server, { login = null, countTimers = false, trace = false } = {}) {
    const context = await this.browser.newContext({ baseURL: server.base, ignoreHTTPSErrors: true });
    await context.addInitScript(benchInit);
    if (trace) await context.addInitScript(traceTimeline);
    if (countTimers) await context.addInitScript(countWakeups);
    if (login) await signIn(context.request, login);
    return context;
  }

  /** Opens `count` tabs of `lib` in `context` and waits until each is ready. */
  async openTabs(context, lib, policy, count) {
    const pages = await this.openTabsAllowingStuck(context, lib, policy, count);
    const stuck = pages.filter((page) => !page.ready).length;
    if (stuck > 0) throw new Error(`${stuck} of ${count} tabs never became ready`);
    return pages;
  }

  /** Like `openTabs`, but a tab that is not ready in time is kept, marked `ready = false`. */
  async openTabsAllowingStuck(context, lib, policy, count) {
    const pages = [];
    for (let i = 0; i < count; i++) {
      const page = await context.newPage();
      await page.goto(LIBS[lib].url(policy));
      pages.push(page);
    }
    await Promise.all(
      pages.map(async (page) => {
        page.ready = await page
          .waitForSelector(LIBS[lib].ready, { timeout: 20_000 })
          .then(() => true, () => false);
      }),
    );
    return pages;
  }

  /** A context with `tabs` ready tabs of `lib`; the guard's is signed in as operator. */
  async session(server, lib, policy, tabs, options = {}) {
    const context = await this.context(server, {
      ...options,
      login: LIBS[lib].needsLogin ? USERS.operator : null,
    });
    const pages = await this.openTabs(context, lib, policy, tabs);
    return { context, pages };
  }
}

async function signIn(api, user) {
  const response = await api.post('/api/login', { data: user });
  if (response.status() !== 200) {
    throw new Error(
      `login ${user.username}: ${response.status()} ${await response.text()}\n${serverErrors()}`,
    );
  }
}

/** Waits until `page` is on the login page; returns when it started leaving (page clock). */
async function leftAt(page, timeout) {
  await page.waitForURL(/\/login\?/, { timeout, waitUntil: 'commit' });
  await page.waitForFunction(() => window.__benchLoadedAt !== undefined, null, { timeout });
  const at = await page.evaluate(() => Number(sessionStorage.getItem('__bench_nav_at')));
  if (!at) throw new Error('no navigation time recorded');
  return at;
}

/** Dispatches one activity event (keydown: both libraries listen to it) and returns when. */
function dispatchActivity(page) {
  return page.evaluate(() => {
    const at = window.__benchNow();
    document.body.dispatchEvent(new KeyboardEvent('keydown', { bubbles: true }));
    return at;
  });
}

// ---- the figures --------------------------------------------------------------------------

/** The console's rrweb scripts (`tools/copy-rrweb.sh`), outside its own size. */
const RRWEB_SCRIPTS = ['sg-record.js', 'sg-replay.js'];

function measureSizes() {
  const dir = (name) => path.join(SITE, name);
  const pages = {
    leptos_plain: pageBytes(dir('plain')),
    leptos_with_guard: pageBytes(dir('guard')),
    react_plain: pageBytes(dir('peer-plain')),
    react_with_react_idle_timer: pageBytes(dir('peer')),
    demo_console: pageBytes(path.join(ROOT, 'dist'), RRWEB_SCRIPTS),
  };
  const delta = (a, b) => ({
    raw: pages[a].raw - pages[b].raw,
    gzip: pages[a].gzip - pages[b].gzip,
  });
  return {
    guard: delta('leptos_with_guard', 'leptos_plain'),
    react_idle_timer: delta('react_with_react_idle_timer', 'react_plain'),
    // Loaded only in a recorded session (the recorder) or by the player (the replayer).
    rrweb: Object.fromEntries(
      RRWEB_SCRIPTS.map((name) => [name, fileBytes(path.join(ROOT, 'dist', name))]),
    ),
    pages,
  };
}

/**
 * Cost per activity event: 200,000 dispatches of one reused Event on each of four pages (with
 * and without each library), rounds interleaved and rotated; medians per page, then the
 * library page minus its baseline page.
 */
async function measureEventCost(bench) {
  const server = bench.servers.long;
  const setups = {
    guard: { lib: 'guard', login: USERS.operator, url: '/guard/', ready: '.sg-protected #count' },
    leptos_plain: { url: '/plain/', ready: '#count' },
    peer: { url: LIBS.peer.url(LONG), ready: '#count' },
    react_plain: { url: '/peer-plain/', ready: '#count' },
  };
  const pages = {};
  const contexts = [];
  for (const [name, setup] of Object.entries(setups)) {
    const context = await bench.context(server, { login: setup.login || null });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(setup.url);
    await page.waitForSelector(setup.ready, { timeout: 20_000 });
    pages[name] = page;
  }
  await sleep(1000);
  const run = (page) =>
    page.evaluate((count) => {
      const target = document.body;
      const event = new Event('keydown', { bubbles: true });
      const start = performance.now();
      for (let i = 0; i < count; i++) target.dispatchEvent(event);
      return performance.now() - start;
    }, N.events);
  const names = Object.keys(pages);
  for (const name of names) await run(pages[name]); // warm-up
  const times = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < N.eventRounds; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const name of order) times[name].push(await run(pages[name]));
  }
  // Still signed in and not redirected: the guard handled the events while Active.
  const guardUrl = pages.guard.url();
  for (const context of contexts) await context.close();
  if (!guardUrl.includes('/guard/')) throw new Error(`guard page left during the run: ${guardUrl}`);
  const med = Object.fromEntries(names.map((name) => [name, median(times[name])]));
  const ns = (lib, base) => Math.round(((med[lib] - med[base]) / N.events) * 1e6 * 10) / 10;
  return {
    guard_ns: ns('guard', 'leptos_plain'),
    react_idle_timer_ns: ns('peer', 'react_plain'),
    median_run_ms: Object.fromEntries(names.map((n) => [n, Math.round(med[n] * 10) / 10])),
    events_per_run: N.events,
    rounds: N.eventRounds,
  };
}

/**
 * A cross-tab latency of both libraries, `measure(bench, lib, receiving)` run in rounds that
 * alternate between them, so that the machine growing busier or quieter during the step
 * moves both columns alike; also the receiving tab's own share (`receiving`).
 */
async function crossTabFigure(bench, measure) {
  const taken = { guard: [], peer: [] };
  const shares = { guard: [], peer: [] };
  const failed = { guard: 0, peer: 0 };
  for (let round = 0; round < N.crossTabRounds; round++) {
    for (const lib of ['guard', 'peer']) {
      const result = await measure(bench, lib, shares[lib]);
      taken[lib].push(...result.samples);
      failed[lib] += result.failed;
    }
  }
  const out = {};
  for (const lib of ['guard', 'peer']) {
    const key = lib === 'guard' ? 'guard' : 'react_idle_timer';
    out[key] = summary(taken[lib], failed[lib]);
    if (shares[lib].length > 0) out[`${key}_receiving_tab`] = summary(shares[lib]);
  }
  return out;
}

/** Sign-out in tab A to tab B starting its navigation to the login page. */
async function measureCrossTabLogout(bench, lib, receiving) {
  const server = bench.servers.long;
  return sampled(`cross-tab logout (${lib})`, N.crossTab, 1, async () => {
    const { context, pages } = await bench.session(server, lib, LONG, 2);
    try {
      const [a, b] = pages;
      await sleep(300);
      await b.evaluate(() => sessionStorage.removeItem('__bench_nav_at'));
      const clickedAt = await a.evaluate(() => {
        const at = window.__benchNow();
        document.getElementById('sign-out').click();
        return at;
      });
      const left = await leftAt(b, 10_000);
      const heard = await b.evaluate(() => Number(sessionStorage.getItem('__bench_nav_message_at')));
      if (heard) receiving.push(left - heard);
      return left - clickedAt;
    } finally {
      await context.close();
    }
  });
}

/** Activity in tab A, while both tabs show the idle warning, to B's warning leaving the DOM. */
async function measureWarningClose(bench, lib, receiving) {
  const server = bench.servers.short;
  const perContext = 5;
  const contexts = Math.ceil(N.warning / perContext);
  const samples = [];
  let failed = 0;
  for (let c = 0; c < contexts; c++) {
    const result = await sampled(`warning close (${lib})`, 1, 1, async () => {
      const { context, pages } = await bench.session(server, lib, SHORT, 2);
      const [a, b] = pages;
      try {
        for (let i = 0; i < perContext && samples.length < N.warning; i++) {
          await Promise.all(
            pages.map((p) => p.waitForSelector('[role=alertdialog]', { timeout: 10_000 })),
          );
          await b.evaluate(() => {
            window.__benchClosedAt = undefined;
            const gone = () => !document.querySelector('[role=alertdialog]');
            const observer = new MutationObserver(() => {
              if (gone()) {
                window.__benchClosedAt = window.__benchNow();
                observer.disconnect();
              }
            });
            observer.observe(document.body, { childList: true, subtree: true });
          });
          const actedAt = await dispatchActivity(a);
          await b.waitForFunction(() => window.__benchClosedAt !== undefined, null, {
            timeout: 2_500,
          });
          const [closedAt, heardAt] = await b.evaluate(() => [
            window.__benchClosedAt,
            window.__benchMessageAt,
          ]);
          samples.push(closedAt - actedAt);
          if (heardAt) receiving.push(closedAt - heardAt);
        }
        return 0;
      } finally {
        await context.close();
      }
    });
    failed += result.failed;
  }
  return { samples, failed };
}

/** One activity event at a known instant, then nothing: logout time minus the deadline. */
async function measureDeadline(bench) {
  const server = bench.servers.short;
  const visibility = new Set();
  const tasks = [];
  for (let i = 0; i < N.deadline; i++) tasks.push('guard', 'peer');
  const byLib = { guard: [], peer: [] };
  const failed = { guard: 0, peer: 0 };
  const result = await sampled('idle deadline', tasks.length, 6, async (i) => {
    const lib = tasks[i];
    await sleep((i % 6) * 300); // stagger the endings of concurrent samples
    const trace = Boolean(process.env.BENCH_TRACE);
    const { context, pages } = await bench.session(server, lib, SHORT, 1, { trace });
    const seen = [];
    if (process.env.BENCH_DEBUG) context.on('request', (r) => seen.push(`${Date.now() % 100000} ${r.method()} ${r.url().slice(22)} ${r.postData() || ''}`));
    try {
      const [page] = pages;
      await sleep(800); // past both throttles (guard 500 ms, react-idle-timer 200 ms)
      visibility.add(await page.evaluate(() => document.visibilityState));
      await page.evaluate(() => sessionStorage.removeItem('__bench_nav_at'));
      const actedAt = await dispatchActivity(page);
      const error = (await leftAt(page, SHORT.idleMs + 10_000)) - (actedAt + SHORT.idleMs);
      byLib[lib].push(error);
      if (trace) {
        const events = JSON.parse((await page.evaluate(() => sessionStorage.getItem('__bench_trace'))) || '[]');
        const lines = events
          .filter(([at]) => at >= actedAt - 50)
          .map(([at, what]) => `  ${(at - actedAt - SHORT.idleMs).toFixed(1).padStart(8)} ${what}`);
        log(`${lib} sample ${i}: error ${error.toFixed(1)} ms; times from the deadline:\n${lines.join('\n')}`);
      }
      return error;
    } catch (e) {
      failed[lib] += 1;
      if (process.env.BENCH_DEBUG) log(lib, pages[0].url(), seen.join('\n'));
      throw e;
    } finally {
      await context.close();
    }
  });
  if ([...visibility].some((v) => v !== 'visible')) {
    throw new Error(`deadline samples ran in a tab that was ${[...visibility]}`);
  }
  void result;
  return { guard: summary(byLib.guard, failed.guard), react_idle_timer: summary(byLib.peer, failed.peer) };
}

/**
 * An administrator ends the session (DELETE /api/admin/sessions/{id}) while the user has
 * three tabs open: time until every tab shows the login page. `polling` aborts the push
 * stream so that the guard falls back to polling GET /api/session.
 */
async function measureRemote(bench, admin, polling) {
  const server = bench.servers.long;
  const count = polling ? N.remotePoll : N.remoteSse;
  return sampled(`remote termination (${polling ? 'polling' : 'SSE'})`, count, polling ? 4 : 1, async (i) => {
    const context = await bench.context(server, { login: USERS.operator });
    try {
      if (polling) await context.route('**/api/session/events', (route) => route.abort());
      const pages = await bench.openTabs(context, 'guard', LONG, N.remoteTabs);
      const view = await (await context.request.get('/api/session')).json();
      // Settle; with polling, spread the termination over the poll cycle.
      await sleep(polling ? 1000 + ((i * 1237) % 5000) : 500);
      const terminatedAt = Date.now();
      const response = await admin.delete(`/api/admin/sessions/${view.session_id}`, {
        headers: { 'content-type': 'application/json' },
        data: {},
      });
      if (response.status() !== 204) throw new Error(`terminate: ${response.status()}`);
      const arrived = await Promise.all(
        pages.map(async (page) => {
          await page.waitForURL(/\/login\?reason=remote_terminated/, { timeout: 15_000, waitUntil: 'commit' });
          await page.waitForFunction(() => window.__benchLoadedAt !== undefined, null, { timeout: 5_000 });
          return page.evaluate(() => window.__benchLoadedAt);
        }),
      );
      return Math.max(...arrived) - terminatedAt;
    } finally {
      await context.close();
    }
  });
}

/**
 * Keepalives (POST /api/session/activity) per minute with 1, 5 and 20 tabs of one session,
 * each tab active (one activity event per second in every tab), counted from the browser's
 * network events; also which tabs sent them and every other API request.
 */
async function measureKeepalives(bench, server) {
  const groups = {};
  for (const tabs of [1, 5, 20]) {
    const context = await bench.context(server, { login: USERS.operator });
    const pages = await bench.openTabsAllowingStuck(context, 'guard', LONG, tabs);
    groups[tabs] = { context, pages, keepalives: 0, senders: new Set(), other: 0, counting: false };
  }
  await sleep(2000);
  let stop = false;
  const activity = Object.values(groups).map(async (group) => {
    while (!stop) {
      await Promise.all(group.pages.map((page) => dispatchActivity(page).catch(() => {})));
      await sleep(1000);
    }
  });
  for (const group of Object.values(groups)) {
    group.context.on('request', (req) => {
      if (!group.counting || !new URL(req.url()).pathname.startsWith('/api/')) return;
      if (new URL(req.url()).pathname === '/api/session/activity' && req.method() === 'POST') {
        group.keepalives += 1;
        const page = req.frame()?.page();
        group.senders.add(group.pages.indexOf(page));
      } else {
        group.other += 1;
      }
    });
    group.counting = true;
  }
  await sleep(N.keepaliveWindowMs);
  for (const group of Object.values(groups)) group.counting = false;
  stop = true;
  await Promise.all(activity);
  const perMinute = (n) => Math.round((n * 60_000 * 10) / N.keepaliveWindowMs) / 10;
  const out = {};
  for (const [tabs, group] of Object.entries(groups)) {
    const ended = group.pages.filter((p) => !p.url().includes('/guard/')).length;
    out[`tabs_${tabs}`] = {
      keepalives_per_min: perMinute(group.keepalives),
      tabs_that_sent: group.senders.size,
      other_api_requests_per_min: perMinute(group.other),
      tabs_signed_out: ended,
      // Tabs that never got past "Checking your session…" (see the README: HTTP/1.1 allows
      // 6 connections per host and every guard tab holds one for its push stream).
      tabs_never_ready: group.pages.filter((p) => !p.ready).length,
    };
    await group.context.close();
  }
  return out;
}

/** Timer callbacks per minute in idle tabs with no warning shown (two tabs of one session). */
async function measureWakeups(bench) {
  const server = bench.servers.long;
  const sessions = {};
  for (const lib of ['guard', 'peer']) {
    sessions[lib] = await bench.session(server, lib, LONG, 2, { countTimers: true });
  }
  await sleep(3000);
  const read = (page) => page.evaluate(() => ({ ...window.__benchWakeups }));
  const before = {};
  for (const lib of Object.keys(sessions)) before[lib] = await Promise.all(sessions[lib].pages.map(read));
  await sleep(N.wakeupWindowMs);
  const out = {};
  for (const [lib, { context, pages }] of Object.entries(sessions)) {
    const after = await Promise.all(pages.map(read));
    const warning = await Promise.all(pages.map((p) => p.$('[role=alertdialog]')));
    if (warning.some(Boolean)) throw new Error(`${lib}: a warning showed during the idle window`);
    const perTab = after.map((a, i) => {
      const b = before[lib][i];
      const minutes = N.wakeupWindowMs / 60_000;
      const rate = (key) => Math.round(((a[key] - b[key]) / minutes) * 10) / 10;
      return {
        timers: rate('timeout') + rate('interval'),
        animation_frames: rate('animationFrame'),
        broadcasts_sent: rate('broadcast'),
      };
    });
    out[lib === 'guard' ? 'guard' : 'react_idle_timer'] = {
      timer_callbacks_per_min_per_tab: Math.max(...perTab.map((t) => t.timers + t.animation_frames)),
      tabs: perTab,
    };
    await context.close();
  }
  return out;
}

// ---- session recording (issue 11) -----------------------------------------------------------

/** How long the scripted admin work lasts (the recording figures' minute). */
const RECORDING_WORK_MS = QUICK ? 15_000 : 60_000;
/** The synthetic long recording for the replay start time: the minute, this many times. */
const REPLAY_MINUTES = 10;
/** Replay start samples. */
const REPLAY_SAMPLES = QUICK ? 2 : 5;
/** The guard cuts a chunk every 5 s: this leaves time for the last cut and its upload. */
const FLUSH_WAIT_MS = 7_000;

/**
 * The scripted minute of admin work in the demo console, the same step by step with and
 * without recording: the sections through the table of contents, scrolling, typing into
 * a filter, opening a confirmation dialog (its impact preview asks the server) and
 * cancelling it. One step every 500 ms of work plus its own time, until `ms` is over.
 */
async function adminWork(page, ms) {
  const sections = ['Sessions', 'Users', 'Roles', 'Groups', 'Audit log', 'Emergency'];
  const until = Date.now() + ms;
  let steps = 0;
  for (let i = 0; Date.now() < until; i++) {
    const toc = page.locator('nav.admin-toc');
    switch (i % 5) {
      case 0:
        await toc.getByRole('link', { name: sections[(i / 5) % sections.length | 0], exact: true }).click();
        break;
      case 1:
        await page.mouse.move(200 + (i % 7) * 40, 300 + (i % 3) * 60, { steps: 5 });
        await page.mouse.wheel(0, i % 2 ? 400 : -300);
        break;
      case 2:
        await page.locator('#users-filter').fill('');
        await page.locator('#users-filter').pressSequentially('view', { delay: 40 });
        break;
      case 3:
        await page.locator('#users tr[data-username="viewer"] button', { hasText: 'Suspend' }).click();
        await page.locator('#confirm-cancel').waitFor();
        await sleep(200);
        await page.locator('#confirm-cancel').click();
        break;
      default:
        await page.locator('#users-filter').fill('');
        await page.mouse.wheel(0, 600);
    }
    steps += 1;
    await sleep(500);
  }
  return steps;
}

/** Main-thread task time (s) and JS heap (bytes) of `page`, from the DevTools protocol. */
async function metrics(cdp) {
  const { metrics: list } = await cdp.send('Performance.getMetrics');
  const get = (name) => list.find((m) => m.name === name)?.value ?? 0;
  return { task: get('TaskDuration'), heap: get('JSHeapUsedSize') };
}

/** One run of the scripted work as admin on `server`; recording decides the consent step. */
async function recordedMinute(bench, server, recorded) {
  const context = await bench.context(server, { login: USERS.admin });
  const page = await context.newPage();
  try {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto('/admin');
    if (recorded) {
      await page.getByRole('button', { name: 'Accept and continue' }).click();
    }
    await page.locator('#users tr[data-username="viewer"]').waitFor({ timeout: 20_000 });
    if (recorded) await page.locator('.sg-recording[role=status]').waitFor({ timeout: 20_000 });
    await sleep(1000);
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const before = await metrics(cdp);
    const started = Date.now();
    const steps = await adminWork(page, RECORDING_WORK_MS);
    const wallMs = Date.now() - started;
    const after = await metrics(cdp);
    const view = await (await context.request.get('/api/session')).json();
    let tab = null;
    if (recorded) {
      await sleep(FLUSH_WAIT_MS);
      tab = { session_id: view.session_id, url: page.url() };
    }
    return {
      context,
      page,
      tab,
      steps,
      wall_ms: wallMs,
      main_thread_ms_per_s: ((after.task - before.task) * 1000) / (wallMs / 1000),
      heap_bytes: after.heap,
    };
  } catch (error) {
    // What the page showed, for the log's reader.
    await page.screenshot({ path: path.join(BENCH, 'out', 'recording-failure.png') }).catch(() => {});
    await context.close();
    throw error;
  }
}

/**
 * Recording overhead on the demo console: the scripted minute as admin on a server that
 * records (consent accepted) and on one that does not, interleaved twice; then what the
 * server stored for the recorded tab, and the player's start on a 10-minute recording
 * built from that minute.
 */
async function measureRecording(bench) {
  const runs = { recorded: [], plain: [] };
  let stored = null;
  let minuteEvents = null;
  for (const order of [['plain', 'recorded'], ['recorded', 'plain']]) {
    for (const kind of order) {
      const server = kind === 'recorded' ? bench.servers.recorded : bench.servers.long;
      const run = await recordedMinute(bench, server, kind === 'recorded');
      runs[kind].push(run);
      if (kind === 'recorded' && !stored) {
        ({ stored, minuteEvents } = await storedRecording(bench.recordedAdmin, run));
      }
      // Keep the recorded context until its tab is closed, then drop it.
      await run.context.close();
    }
  }
  const med = (kind, key) => median(runs[kind].map((r) => r[key]));
  const mainThread = {
    recorded_ms_per_s: round1(med('recorded', 'main_thread_ms_per_s')),
    not_recorded_ms_per_s: round1(med('plain', 'main_thread_ms_per_s')),
  };
  mainThread.added_ms_per_s = round1(mainThread.recorded_ms_per_s - mainThread.not_recorded_ms_per_s);
  // Of one second of the main thread's time: 50 ms/s is 5%.
  mainThread.added_percent = round1(mainThread.added_ms_per_s / 10);
  const replay = await measureReplayStart(bench, minuteEvents);
  return {
    script: `admin console, ${RECORDING_WORK_MS / 1000} s of scripted work (sections, scrolling, typing, a confirmation dialog), twice with and twice without recording, interleaved`,
    steps_per_run: runs.recorded.map((r) => r.steps),
    main_thread: mainThread,
    js_heap_mb: {
      recorded: round1(med('recorded', 'heap_bytes') / 1e6),
      not_recorded: round1(med('plain', 'heap_bytes') / 1e6),
    },
    stored,
    replay_start_ms: replay,
    targets: { main_thread_added_percent_below: 5, kb_per_minute_per_tab_below: 100 },
  };
}

const round1 = (x) => (x === null || x === undefined ? null : Math.round(x * 10) / 10);

/** What the server stored for the recorded run's tab, per minute, and its events. */
async function storedRecording(admin, run) {
  const list = await (await admin.get('/api/admin/recordings')).json();
  const session = list.find((s) => s.session_id === run.tab.session_id);
  if (!session || session.tabs.length === 0) throw new Error('the recorded session is not listed');
  const tab = session.tabs[0];
  if (!tab.chunks) throw new Error('the recorded tab stored no chunk');
  const base = `/api/admin/recordings/${session.session_id}/tabs/${tab.tab_id}`;
  const detail = await (await admin.get(base)).json();
  const events = [];
  let decompressed = 0;
  for (const chunk of detail.chunks) {
    const text = await (await admin.get(`${base}/chunks/${chunk.seq}`)).text();
    decompressed += text.length;
    events.push(...JSON.parse(text).events);
  }
  const bytes = detail.chunks.reduce((sum, c) => sum + c.bytes, 0);
  const minutes = run.wall_ms / 60_000;
  return {
    stored: {
      chunks: detail.chunks.length,
      compressed_bytes: bytes,
      decompressed_bytes: decompressed,
      events: events.length,
      kb_per_minute_per_tab: round1(bytes / 1000 / minutes),
    },
    minuteEvents: events,
  };
}

/**
 * The player's start on a 10-minute recording: the recorded minute repeated ten times with
 * its timestamps shifted by a minute each time (so its full snapshot comes back every
 * minute, as after a navigation), served as ten chunks through intercepted admin API
 * routes; from opening the player page to the player being ready (first frame built).
 */
async function measureReplayStart(bench, minuteEvents) {
  if (!minuteEvents || minuteEvents.length === 0) throw new Error('no recorded minute');
  const first = minuteEvents[0].timestamp;
  const span = Math.max(60_000, minuteEvents[minuteEvents.length - 1].timestamp - first + 1);
  const tabId = 'tab_bench_long';
  const sessionId = 'ses_bench_long';
  const chunks = [];
  for (let m = 0; m < REPLAY_MINUTES; m++) {
    const events = minuteEvents.map((e) => ({ ...e, timestamp: e.timestamp + m * span }));
    chunks.push(JSON.stringify({
      format: 'rrweb', format_version: 1, seq: m, tab_id: tabId,
      started_at: first + m * span, ended_at: first + (m + 1) * span - 1, clock_offset_ms: 0, events,
    }));
  }
  const detail = {
    session: { session_id: sessionId, user_id: 1, username: 'admin', display_name: 'Admin', started_at: first, ended_at: null, end_reason: null },
    tab: { tab_id: tabId, opener_tab_id: null, started_at: first, ended_at: first + REPLAY_MINUTES * span, end_reason: 'tab_closed', duration_ms: REPLAY_MINUTES * span, bytes: 0, chunks: REPLAY_MINUTES },
    chunks: chunks.map((_, seq) => ({ seq, started_at: first + seq * span, ended_at: first + (seq + 1) * span - 1, bytes: 0 })),
    actions: [],
  };
  const context = await bench.context(bench.servers.long, { login: USERS.admin });
  try {
    const base = `/api/admin/recordings/${sessionId}/tabs/${tabId}`;
    await context.route(`**${base}`, (route) =>
      route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(detail) }));
    await context.route(`**${base}/chunks/*`, (route) => {
      const seq = Number(route.request().url().split('/').pop());
      return route.fulfill({ status: 200, contentType: 'application/json', body: chunks[seq] });
    });
    const samples = [];
    const page = await context.newPage();
    await page.setViewportSize({ width: 1440, height: 1000 });
    for (let i = 0; i < REPLAY_SAMPLES; i++) {
      const started = Date.now();
      await page.goto(`/admin/replay?session=${sessionId}&tab=${tabId}`);
      await page.waitForSelector('#replay-toggle:not([disabled])', { timeout: 60_000 });
      await page.waitForSelector('.replay-stage iframe', { timeout: 60_000 });
      samples.push(Date.now() - started);
    }
    const end = await page.evaluate(() => Number(document.querySelector('#replay-seek').max));
    const seekStarted = Date.now();
    await page.locator('#replay-seek').fill(String(end));
    await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => done())));
    const seekToEnd = Date.now() - seekStarted;
    return {
      recording_minutes: REPLAY_MINUTES,
      events: REPLAY_MINUTES * minuteEvents.length,
      chunk_bytes_json: chunks.reduce((sum, c) => sum + c.length, 0),
      page_open_to_ready: summary(samples),
      seek_to_end_ms: seekToEnd,
      built_from: 'the recorded minute repeated 10 times with its timestamps shifted by a minute each time, served through intercepted admin API routes',
    };
  } finally {
    await context.close();
  }
}

// ---- main ---------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  for (const need of [path.join(ROOT, 'dist', 'index.html'), path.join(SITE, 'guard', 'index.html'), path.join(SITE, 'plain', 'index.html'), SERVER_BIN]) {
    if (!fs.existsSync(need)) throw new Error(`missing ${need}: run \`cargo xtask bench\``);
  }
  log('bundling the React pages with esbuild');
  await buildPeerPages(BENCH, SITE);
  copyFiles(path.join(ROOT, 'dist'), SITE); // the console, for /login

  const longPort = await freePort();
  const shortPort = await freePort([longPort]);
  const policyArgs = (p) => [
    // The HTTPS figures go through a local TLS proxy that sets X-Forwarded-Proto.
    '--trust-proxy',
    '--idle-timeout', `${p.idleMs}ms`,
    '--warning-lead', `${p.leadMs}ms`,
    ...(p.keepaliveMs ? ['--keepalive-interval', `${p.keepaliveMs}ms`] : []),
  ];
  const servers = {
    long: await startServer({ binary: SERVER_BIN, port: longPort, staticDir: SITE, args: policyArgs(LONG) }),
    short: await startServer({ binary: SERVER_BIN, port: shortPort, staticDir: SITE, args: policyArgs(SHORT) }),
  };
  // Session recording: the same console and policy, with recording on (admin is recorded).
  if (!ONLY || ONLY.some((word) => 'recording'.includes(word))) {
    servers.recorded = await startServer({
      binary: SERVER_BIN,
      port: await freePort([longPort, shortPort]),
      staticDir: SITE,
      args: policyArgs(LONG),
      recording: 'privileged',
    });
  }
  servers.longHttp2 = await startHttp2Proxy({
    port: await freePort([longPort, shortPort]),
    upstream: servers.long.base,
    certDir: path.join(BENCH, 'out', 'tls'),
  });
  const browser = await chromium.launch(LAUNCH);
  const bench = new Bench(browser, servers);
  const admin = await request.newContext({ baseURL: servers.long.base });
  await signIn(admin, USERS.admin);
  if (servers.recorded) {
    // An administrator of the recording server, for its recordings API (accepts consent).
    bench.recordedAdmin = await request.newContext({ baseURL: servers.recorded.base });
    await signIn(bench.recordedAdmin, USERS.admin);
    const consent = await bench.recordedAdmin.post('/api/session/consent', { data: { accepted: true } });
    if (!consent.ok()) throw new Error(`consent: ${consent.status()}`);
  }
  const report = {
    command: 'cargo xtask bench',
    measured_at: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpu_model: os.cpus()[0]?.model ?? 'unknown',
      browser: `Chromium ${browser.version()} (headless)`,
      node: process.version,
    },
    policies: {
      long: { idle_timeout_ms: LONG.idleMs, warning_lead_ms: LONG.leadMs, keepalive_interval_ms: LONG.keepaliveMs },
      short: { idle_timeout_ms: SHORT.idleMs, warning_lead_ms: SHORT.leadMs },
    },
    peer_config: 'react-idle-timer 5.7.3, crossTab: true, syncTimers: 200, same timeout and prompt as the server policy',
  };
  const missing = [];
  const step = async (name, fn) => {
    if (ONLY && !ONLY.some((word) => name.includes(word))) return null;
    log(`measuring ${name}`);
    try {
      return await fn();
    } catch (error) {
      log(`${name} could not be measured: ${error.stack || error}`);
      missing.push(name);
      return null;
    }
  };
  try {
    report.bytes = await step('bytes', async () => measureSizes());
    report.activity_event_cost = await step('cost per activity event', () => measureEventCost(bench));
    // Diagnostic beside each: the receiving tab's last channel message to its navigation
    // or to the warning leaving.
    report.cross_tab_logout_to_redirect_ms = await step('cross-tab logout', () =>
      crossTabFigure(bench, measureCrossTabLogout),
    );
    report.cross_tab_activity_to_warning_closed_ms = await step('cross-tab warning close', () =>
      crossTabFigure(bench, measureWarningClose),
    );
    report.idle_deadline_error_ms = await step('idle deadline accuracy', () => measureDeadline(bench));
    report.remote_termination_ms = await step('remote termination', async () => {
      const sse = await measureRemote(bench, admin, false);
      const poll = await measureRemote(bench, admin, true);
      return {
        tabs: N.remoteTabs,
        guard_sse: summary(sse.samples, sse.failed),
        guard_polling: summary(poll.samples, poll.failed),
        react_idle_timer: null,
      };
    });
    const [keepalivesHttp1, wakeups] = await Promise.all([
      step('keepalives (HTTP/1.1)', () => measureKeepalives(bench, servers.long)),
      step('idle wake-ups', () => measureWakeups(bench)),
    ]);
    const keepalivesHttp2 = await step('keepalives (HTTPS, HTTP/2 proxy)', () =>
      measureKeepalives(bench, servers.longHttp2),
    );
    report.keepalives = {
      window_ms: N.keepaliveWindowMs,
      guard_http1: keepalivesHttp1,
      guard_http2: keepalivesHttp2,
      react_idle_timer: null,
    };
    report.idle_wakeups = wakeups && { window_ms: N.wakeupWindowMs, ...wakeups };
    report.recording = await step('recording', () => measureRecording(bench));
  } finally {
    await bench.recordedAdmin?.dispose().catch(() => {});
    await admin.dispose().catch(() => {});
    await browser.close().catch(() => {});
    await servers.longHttp2.close();
    await stopAll();
  }
  // A figure with no valid sample at all was not measured.
  const empty = (obj, where) => {
    if (!obj || typeof obj !== 'object') return;
    if ('n' in obj && obj.n === 0) missing.push(where);
    for (const [k, v] of Object.entries(obj)) if (v && typeof v === 'object' && k !== 'pages') empty(v, `${where}.${k}`);
  };
  empty(report, 'report');
  report.duration_s = Math.round((Date.now() - started) / 1000);
  report.not_measured = missing;
  const text = JSON.stringify(report, null, 2);
  fs.mkdirSync(path.join(BENCH, 'out'), { recursive: true });
  fs.writeFileSync(path.join(BENCH, 'out', 'report.json'), `${text}\n`);
  process.stdout.write(`${text}\n`);
  if (missing.length > 0) {
    log(`not measured: ${missing.join(', ')}`);
    process.exitCode = 1;
  }
}

const stopOnSignal = (signal) => {
  log(`${signal}: stopping`);
  stopAll().finally(() => process.exit(130));
};
process.once('SIGINT', stopOnSignal);
process.once('SIGTERM', stopOnSignal);

main().catch(async (error) => {
  log(`failed: ${error.stack || error}`);
  await stopAll();
  process.exitCode = 1;
});
