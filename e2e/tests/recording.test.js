// Session recording end to end: a privileged user works in two tabs (the second opened by
// Ctrl+click), an administrator finds both recorded tabs with the opener link between them
// in Admin Console › Remote sessions, replays them, and the replay at an instant looks as
// the live tab did at that instant (pixel comparison). Also: a typed value never reaches
// a chunk, viewing and deleting are audited, and the player replays a hostile recording
// without a single request leaving the replayed document.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pixelmatch from 'pixelmatch';
import { PNG } from 'pngjs';
import {
  adminCall,
  artifactsDir,
  expectAccessible,
  scenario,
  signIn,
  sleep,
} from '../lib/harness.js';
import { confirmImpact, recordedChunkTexts } from '../lib/admin.js';

// The live tab's viewport; the administrator's window is larger, so that the replay
// (shown at the recorded size) fits in it whole.
const LIVE = { width: 1024, height: 700 };
const ADMIN = { width: 1440, height: 1100 };
// A value typed into a masked input: it must never reach a chunk.
const SECRET = 'Pa55word-Never-Recorded-7f3k';
// pixelmatch's per-pixel colour distance (0..1; its default is 0.1) and the share of
// pixels allowed to differ between the live screenshot and the replay's. Text is
// rasterised by the same Chromium in both, so the difference is anti-aliasing at most.
const PIXEL_THRESHOLD = 0.1;
const MAX_DIFFERING = 0.01;
// The guard cuts a chunk every 5 s; this leaves time for the cut and the upload.
const CHUNK_WAIT_MS = 7_000;

const recordingArtifacts = join(artifactsDir, 'recording');

/** Every request of `page` (any frame), with the frame it came from. */
function watchRequests(page) {
  const requests = [];
  page.on('request', (request) => {
    requests.push({ url: request.url(), main: request.frame() === page.mainFrame() });
  });
  return requests;
}

/** The replay iframe of the player, once rrweb has built it. */
async function replayFrame(page) {
  const iframe = page.locator('.replay-stage iframe');
  await iframe.waitFor();
  const handle = await iframe.elementHandle();
  return { iframe, frame: await handle.contentFrame() };
}

/** Waits until the player is ready (or fails with what it said). */
async function playerReady(page) {
  await page.waitForFunction(
    () =>
      document.querySelector('#replay-toggle:not([disabled])') ||
      document.querySelector('.player [role=alert]'),
    null,
    { timeout: 20_000 },
  );
  const alert = page.locator('.player p[role=alert]');
  if ((await alert.count()) > 0) {
    throw new Error(`the player failed: ${await alert.innerText()}`);
  }
}

/** Seeks the player to server time `at` (ms) and waits for the replay to settle there. */
async function seekTo(page, at) {
  const clock = page.locator('#replay-clock');
  const start = Number(await clock.getAttribute('data-start-ms'));
  const offset = Number(await clock.getAttribute('data-clock-offset-ms'));
  const end = Number(await page.locator('#replay-seek').getAttribute('max'));
  // After the last event nothing changed: the end shows the page as it was then.
  const position = Math.min(Math.round(at - offset - start), end);
  assert.ok(position > 0, `the instant is after the recording's start (position ${position} ms)`);
  await page.locator('#replay-seek').fill(String(position));
  await page.waitForFunction(
    (p) => Math.abs(Number(document.querySelector('#replay-clock').dataset.positionMs) - p) < 2,
    position,
  );
  // rrweb rebuilds synchronously; one more frame for the iframe to paint.
  await sleep(500);
  return position;
}

/** Pixels that differ between two PNG buffers (which must be the same size). */
function compare(livePng, replayPng, name) {
  const live = PNG.sync.read(livePng);
  const replay = PNG.sync.read(replayPng);
  mkdirSync(recordingArtifacts, { recursive: true });
  writeFileSync(join(recordingArtifacts, `${name}-live.png`), livePng);
  writeFileSync(join(recordingArtifacts, `${name}-replay.png`), replayPng);
  assert.deepEqual(
    [replay.width, replay.height],
    [live.width, live.height],
    'the replay has the live viewport size',
  );
  const diff = new PNG({ width: live.width, height: live.height });
  const differing = pixelmatch(live.data, replay.data, diff.data, live.width, live.height, {
    threshold: PIXEL_THRESHOLD,
  });
  writeFileSync(join(recordingArtifacts, `${name}-diff.png`), PNG.sync.write(diff));
  return differing / (live.width * live.height);
}

/** Brings the live page to rest: nothing focused, no hover, nothing moving. */
async function atRest(page) {
  await page.mouse.move(LIVE.width - 2, LIVE.height - 2);
  await page.evaluate(() => document.activeElement?.blur());
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => done())));
  await sleep(1_000);
}

test('an administrator replays both tabs of a recorded session and sees what the user saw', () =>
  scenario('recording end to end', {}, async ({ server, browser }) => {
    // The user: privileged, recorded, accepts.
    const user = await browser.newContext({ viewport: LIVE });
    const first = await user.newPage();
    await signIn(first, server, 'operator');
    await first.getByRole('heading', { name: 'Dashboard' }).waitFor();
    await first.locator('.sg-recording[role=status]').waitFor();
    await first.getByRole('link', { name: 'Admin Console' }).click();
    await first.locator('#sessions tr[data-username="operator"]').first().waitFor();

    // A dialog, a password-like value typed into its (masked) reason field, then Cancel.
    await first.locator('#sessions tr[data-username="operator"] button.terminate').first().click();
    await first.locator('#confirm-reason').waitFor();
    await first.locator('#confirm-reason').pressSequentially(SECRET, { delay: 10 });
    await first.locator('#confirm-cancel').click();
    await first.getByRole('alertdialog').waitFor({ state: 'detached' });

    // The second tab, opened with Ctrl+click on a link of the session.
    const [second] = await Promise.all([
      user.waitForEvent('page'),
      first.getByRole('link', { name: 'Dashboard' }).click({ modifiers: ['Control'] }),
    ]);
    await second.getByRole('heading', { name: 'Dashboard' }).waitFor();
    await second.locator('.sg-recording[role=status]').waitFor();
    await second.mouse.click(300, 400);
    await second.mouse.wheel(0, 200);

    // The instant T: the live first tab, at rest, as the user saw it.
    await first.bringToFront();
    await first.evaluate(() => window.scrollTo(0, 0));
    await atRest(first);
    // `caret: 'initial'`: hiding the caret would inject a style element, which the
    // console's policy refuses (nothing is focused anyway).
    const livePng = await first.screenshot({ caret: 'initial' });
    const instant = Date.now();
    await sleep(CHUNK_WAIT_MS);
    await second.close({ runBeforeUnload: true });
    await first.close({ runBeforeUnload: true });

    // The administrator.
    const admin = await browser.newContext({ viewport: ADMIN });
    const page = await admin.newPage();
    await signIn(page, server, 'admin');
    await page.goto(`${server.url}/admin#recordings`);
    const rows = page.locator('#recordings tbody tr');
    const operatorRows = rows.filter({ hasText: '(operator)' });
    await operatorRows.nth(1).waitFor();
    assert.equal(await operatorRows.count(), 2, 'one row per tab');
    await expectAccessible(page, 'Remote sessions');
    const tabs = await operatorRows.evaluateAll((trs) =>
      trs.map((tr) => ({
        session: tr.dataset.sessionId,
        tab: tr.dataset.tabId,
        opener: tr.querySelector('td.opener').dataset.openerTabId,
      })),
    );
    assert.equal(tabs[0].session, tabs[1].session, 'both tabs are of one session');
    const opened = tabs.find((t) => t.opener);
    const opener = tabs.find((t) => !t.opener);
    assert.ok(opened && opener, `one tab names its opener: ${JSON.stringify(tabs)}`);
    assert.equal(opened.opener, opener.tab, 'the Ctrl+clicked tab names the first as its opener');

    // The typed value is in no chunk of either tab (read through the admin API, which
    // sends the stored chunks gzip-encoded; the client decodes them).
    const list = await adminCall(admin, server, 'GET', '/api/admin/recordings');
    for (const { session, tab } of tabs) {
      const meta = list
        .find((s) => s.session_id === session)
        .tabs.find((t) => t.tab_id === tab);
      assert.ok(meta.chunks > 0, `tab ${tab} has chunks`);
      const seqs = Array.from({ length: meta.chunks }, (_, seq) => seq);
      const texts = await recordedChunkTexts(admin, server, session, tab, seqs);
      for (const [seq, text] of texts.entries()) {
        assert.match(text, /"format":"rrweb"/);
        assert.ok(!text.includes(SECRET), `chunk ${seq} of tab ${tab} holds the typed value`);
      }
    }

    // Replay the first tab: the player page has its own policy, the iframe no scripts.
    const requests = watchRequests(page);
    const [response] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/admin/replay'),
      page.locator(`#recordings tr[data-tab-id="${opener.tab}"] a.replay`).click(),
    ]);
    const policy = response.headers()['content-security-policy'];
    assert.match(policy, /img-src data:;/);
    assert.match(policy, /font-src data:;/);
    assert.doesNotMatch(policy, /'unsafe-eval'/);
    await playerReady(page);
    const { iframe, frame } = await replayFrame(page);
    await expectAccessible(page, 'the player');
    const sandbox = await iframe.getAttribute('sandbox');
    assert.ok(sandbox !== null && !sandbox.includes('allow-scripts'), `sandbox="${sandbox}"`);
    const marks = await page.locator('.replay-timeline li').allInnerTexts();
    // The tab loaded the Dashboard, then the Admin Console (a full page load in the same
    // tab): both pages are in its recording, and the server took every chunk it sent.
    for (const path of ['/dashboard', '/admin']) {
      assert.ok(
        marks.some((m) => m.endsWith(`Page ${path}`)),
        `a navigation mark for ${path}: ${JSON.stringify(marks)}`,
      );
    }
    const refused = marks.filter((m) => /\/recording\/\d+ → (?!20[01])/.test(m));
    assert.deepEqual(refused, [], 'every chunk upload of the tab was stored');
    assert.ok((await page.locator('.replay-timeline li[data-kind=click]').count()) > 0, 'a click');
    assert.ok((await page.locator('.replay-timeline li[data-kind=api]').count()) > 0, 'API actions');

    // Play from the start, pause, choose a speed.
    await page.locator('#replay-toggle').click();
    await page.waitForFunction(() => Number(document.querySelector('#replay-clock').dataset.positionMs) > 0);
    await page.locator('#replay-toggle').click();
    assert.equal(await page.locator('#replay-toggle').innerText(), 'Play');
    for (const speed of ['8', '4', '2', '1']) {
      await page.locator('#replay-speed').selectOption(speed);
    }
    await seekTo(page, instant);
    assert.ok(frame, 'the replay iframe has a document');
    // The iframe may sit at a fractional position in the player's layout: the clip is the
    // recorded viewport from its rounded corner.
    const box = await iframe.boundingBox();
    const replayPng = await page.screenshot({
      clip: { x: Math.round(box.x), y: Math.round(box.y), width: LIVE.width, height: LIVE.height },
      // rrweb's pointer is drawn over the iframe; the live screenshot has none.
      style: '.replayer-mouse, .replayer-mouse-tail { display: none !important; }',
    });
    const share = compare(livePng, replayPng, 'first-tab');
    console.log(`live and replay at T: ${(share * 100).toFixed(3)}% of pixels differ`);
    assert.ok(
      share <= MAX_DIFFERING,
      `${(share * 100).toFixed(2)}% of pixels differ (at most ${MAX_DIFFERING * 100}%): see e2e/artifacts/recording/`,
    );
    const leaked = requests.filter((r) => !r.main);
    assert.deepEqual(leaked, [], 'no request left the replayed document');

    // The second tab replays too.
    await page.goto(`${server.url}/admin#recordings`);
    await page.locator(`#recordings tr[data-tab-id="${opened.tab}"] a.replay`).click();
    await playerReady(page);
    await replayFrame(page);

    // Viewing is audited, once per opened recording.
    const viewed = await adminCall(admin, server, 'GET', '/api/admin/audit?kind=recording_viewed');
    for (const { tab } of [opener, opened]) {
      assert.ok(
        viewed.some((e) => e.tab_id === tab || e.detail?.tab_id === tab),
        `viewing tab ${tab} is audited: ${JSON.stringify(viewed)}`,
      );
    }

    // Deleting one recording, through the confirmation dialog, is audited.
    await page.goto(`${server.url}/admin#recordings`);
    const row = page.locator(`#recordings tr[data-tab-id="${opened.tab}"]`);
    await row.locator('button.delete-recording').click();
    await confirmImpact(page, /deletes the tab's recording/);
    await page.locator('#confirm-run').click();
    // The tab stays listed (it was a sub-session of the session), with nothing stored.
    await page.locator(`#recordings tr[data-tab-id="${opened.tab}"][data-chunks="0"]`).waitFor();
    assert.equal(await row.locator('a.replay, button.delete-recording').count(), 0);
    assert.match(await row.innerText(), /Nothing stored/);
    await page.locator(`#recordings tr[data-tab-id="${opener.tab}"] a.replay`).waitFor();
    const deleted = await adminCall(admin, server, 'GET', '/api/admin/audit?kind=recording_deleted');
    assert.ok(
      deleted.some((e) => e.tab_id === opened.tab || e.detail?.tab_id === opened.tab),
      `the deletion is audited: ${JSON.stringify(deleted)}`,
    );
  }));

// A recording built to fetch: every kind of fetching attribute, CSS that imports and
// loads images, and markup as text. The API answers are the test's own (the routes are
// intercepted), so this is about the player alone.
const HOSTILE_TAB = 'tab_hostile01';
const HOSTILE_SESSION = 'ses_hostile01';

function hostileChunk(seq, tabId, start) {
  const element = (id, tagName, attributes, childNodes = []) => ({
    type: 2, id, tagName, attributes, childNodes,
  });
  const text = (id, textContent, isStyle) =>
    isStyle ? { type: 3, id, textContent, isStyle: true } : { type: 3, id, textContent };
  const node = {
    type: 0,
    id: 1,
    childNodes: [
      { type: 1, id: 2, name: 'html', publicId: '', systemId: '' },
      element(3, 'html', {}, [
        element(4, 'head', {}, [
          element(5, 'link', { rel: 'stylesheet', href: '/leak/link.css' }),
          element(6, 'style', {}, [
            text(7, '@import url(/leak/import.css); body { background: url(/leak/bg.png); }', true),
          ]),
          element(8, 'meta', { 'http-equiv': 'refresh', content: '0;url=/leak/refresh' }),
        ]),
        element(9, 'body', {}, [
          element(10, 'p', { id: 'markup' }, [text(11, '<b>not bold</b><img src=/leak/inline.png>')]),
          element(12, 'img', { src: '/leak/img.png', srcset: '/leak/srcset.png 2x', alt: 'x' }),
          element(13, 'video', { poster: '/leak/poster.png', src: '/leak/video.mp4' }),
          element(14, 'div', { style: 'background-image: url(/leak/style.png); height: 10px' }),
          element(15, 'iframe', { src: '/leak/frame.html' }),
        ]),
      ]),
    ],
  };
  const events = [
    { type: 4, timestamp: start, data: { href: 'http://example.invalid/hostile?q=1', width: 800, height: 600 } },
    { type: 2, timestamp: start + 1, data: { node, initialOffset: { top: 0, left: 0 } } },
    {
      type: 3,
      timestamp: start + 500,
      data: {
        source: 0,
        texts: [],
        removes: [],
        attributes: [{ id: 12, attributes: { src: '/leak/later.png' } }],
        adds: [{ parentId: 9, nextId: null, node: element(16, 'img', { src: '/leak/added.png' }) }],
      },
    },
    { type: 3, timestamp: start + 600, data: { source: 2, type: 2, id: 10, x: 5, y: 5 } },
  ];
  return {
    format: 'rrweb', format_version: 1, seq, tab_id: tabId,
    started_at: start, ended_at: start + 600, clock_offset_ms: 0, events,
  };
}

test('the player replays a hostile recording without a request, and reports bad chunks', () =>
  scenario('recording hostile replay', {}, async ({ server, browser }) => {
    const admin = await browser.newContext({ viewport: ADMIN });
    const page = await admin.newPage();
    await signIn(page, server, 'admin');
    const start = Date.now() - 60_000;
    const tab = {
      tab_id: HOSTILE_TAB, opener_tab_id: null, started_at: start, ended_at: start + 1000,
      end_reason: 'tab_closed', duration_ms: 1000, bytes: 300, chunks: 3,
    };
    const detail = {
      session: {
        session_id: HOSTILE_SESSION, user_id: 2, username: 'operator', display_name: 'Olive Operator',
        started_at: start, ended_at: null, end_reason: null,
      },
      tab,
      chunks: [0, 1, 2].map((seq) => ({ seq, started_at: start, ended_at: start + 600, bytes: 100 })),
      actions: [{ at: start + 550, method: 'GET', path: '/api/<script>', status: 200, tab_id: HOSTILE_TAB }],
    };
    const base = `/api/admin/recordings/${HOSTILE_SESSION}/tabs/${HOSTILE_TAB}`;
    await page.route(`**${base}`, (route) =>
      route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(detail) }));
    await page.route(`**${base}/chunks/*`, (route) => {
      const seq = Number(route.request().url().split('/').pop());
      const body = [
        JSON.stringify(hostileChunk(0, HOSTILE_TAB, start)),
        JSON.stringify(hostileChunk(1, 'tab_another01', start)),
        'not json at all',
      ][seq];
      return route.fulfill({ status: 200, contentType: 'application/json', body });
    });
    const requests = watchRequests(page);
    await page.goto(`${server.url}/admin/replay?session=${HOSTILE_SESSION}&tab=${HOSTILE_TAB}`);
    await playerReady(page);
    const { frame } = await replayFrame(page);

    // Chunks 1 and 2 are reported, not replayed.
    const problems = await page.locator('.replay-problems li').allInnerTexts();
    assert.equal(problems.length, 2, JSON.stringify(problems));
    assert.match(problems[0], /^Chunk 1 /);
    assert.match(problems[1], /^Chunk 2 /);

    // Recorded markup is text, in the replay and in the timeline.
    await page.locator('#replay-toggle').click();
    await sleep(1_500);
    const markup = frame.locator('#markup');
    await markup.waitFor({ state: 'attached' });
    assert.equal(await markup.textContent(), '<b>not bold</b><img src=/leak/inline.png>');
    assert.equal(await frame.locator('#markup b, #markup img').count(), 0);
    assert.equal(await page.locator('.replay-timeline script').count(), 0);
    assert.ok((await page.locator('.replay-timeline li', { hasText: 'GET /api/<script>' }).count()) === 1);
    assert.ok((await page.locator('.replay-timeline li', { hasText: 'Page /hostile' }).count()) === 1);

    // Nothing was fetched by the replayed document, and nothing named /leak/ at all
    // (a request the policy blocked would also fail the scenario as a violation).
    await sleep(500);
    assert.deepEqual(requests.filter((r) => r.url.includes('/leak/')), []);
    assert.deepEqual(requests.filter((r) => !r.main), []);
    const left = frame.locator('[src], [srcset], [poster], link[href], meta[http-equiv]');
    assert.equal(await left.count(), 0, 'no fetching attribute is left in the replay');
  }));
