// The recording a tab captures, as the server stores it: chunks arrive while the badge
// shows, and what the user typed into fields (a password above all) is not in them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recordedChunkTexts, recordedTab } from '../lib/admin.js';
import { adminCall, scenario, signIn, sleep } from '../lib/harness.js';

const SECRET = 'typed-secret-pw-9731';
const NAME = 'typed-name-4242';

test('a recorded tab uploads masked chunks that the server stores in order', () =>
  scenario('recording capture', {}, async ({ server, browser }) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, server, 'admin', { path: '/admin' });
    await page.locator('.sg-recording[role=status]').waitFor();
    const password = page.locator('#new-user-password');
    await password.waitFor();
    await page.locator('#new-user-username').pressSequentially(NAME);
    await password.pressSequentially(SECRET);
    // Chunks are cut every 5 s; give the last one time to arrive.
    await sleep(7_000);
    assert.equal(await page.locator('.sg-recording-paused').count(), 0);
    assert.equal(await page.locator('.sg-recording[role=status]').count(), 1);

    const { tab, detail, bodies } = await recordedTab(context, server, 'admin', 0);
    // The guard names its tab on its own session requests, so the server's record of the
    // session's API actions attributes them to this tab.
    const guardActions = detail.actions.filter(
      (a) => a.tab_id === tab.tab_id && a.path.startsWith('/api/session') && !a.path.includes('/recording/'),
    );
    assert.ok(guardActions.length > 0, JSON.stringify(detail.actions));
    const text = bodies.join('\n');
    const { events } = JSON.parse(bodies[0]);
    assert.ok(events.some((e) => e.type === 2), 'the first chunk has a full snapshot');
    const meta = events.find((e) => e.type === 4);
    assert.equal(meta?.data?.href, '/admin', 'the page, by its path only');
    assert.ok(text.includes('"tag":"sg.key"'), 'key presses are recorded as such');
    assert.ok(!text.includes(SECRET), 'the typed password is not in any chunk');
    assert.ok(!text.includes(NAME), 'typed values are masked');
  }));

test('a tab that closes still delivers what it recorded last', () =>
  scenario('recording at close', {}, async ({ server, browser }) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, server, 'operator');
    await page.locator('.sg-recording[role=status]').waitFor();
    // Shown well inside one chunk's 5 s, so only the flush at `pagehide` can carry it.
    await sleep(1_000);
    await page.evaluate(() => {
      const last = document.createElement('p');
      last.textContent = 'last-words-5150';
      document.body.append(last);
    });
    await sleep(300);
    await page.close();

    const admin = await browser.newContext();
    await signIn(await admin.newPage(), server, 'admin');
    let text = '';
    for (let attempt = 0; attempt < 20 && !text.includes('last-words-5150'); attempt += 1) {
      await sleep(250);
      const sessions = await adminCall(admin, server, 'GET', '/api/admin/recordings');
      const operator = sessions.find((s) => s.username === 'operator');
      const bodies = [];
      for (const tab of operator?.tabs ?? []) {
        const seqs = Array.from({ length: tab.chunks }, (_, seq) => seq);
        bodies.push(...(await recordedChunkTexts(admin, server, operator.session_id, tab.tab_id, seqs)));
      }
      text = bodies.join('\n');
    }
    assert.ok(text.includes('last-words-5150'), 'the last chunk arrived after the tab closed');
  }));

test('a page whose pagehide chunk was lost renumbers on the server word and keeps recording', () =>
  scenario('recording after a lost pagehide chunk', {}, async ({ server, browser }) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, server, 'admin', { path: '/admin' });
    await page.locator('.sg-recording[role=status]').waitFor();
    // Chunk 0 (the full snapshot) is cut after 5 s and stored.
    await sleep(6_500);
    // The tab's note of the chunks it sent says one more than the server got, as when the
    // `keepalive` chunk sent at pagehide is lost on the way (an aborted route does not
    // stop a keepalive request here, so the loss is made in the note, before the next
    // page's scripts run).
    await page.addInitScript(() => {
      const key = 'session-guard:recording-next-seq';
      const note = sessionStorage.getItem(key);
      if (note && !sessionStorage.getItem('e2e-bumped')) {
        const [tab, next] = note.split(' ');
        sessionStorage.setItem(key, `${tab} ${Number(next) + 1}`);
        sessionStorage.setItem('e2e-bumped', '1');
      }
    });
    await page.reload();
    // The next page starts one past the lost chunk: the server answers 409 with next_seq,
    // the guard renumbers, and the indicator stays on (never "paused", never blocked).
    await page.locator('.sg-recording[role=status]').waitFor();
    await sleep(7_000);
    assert.equal(await page.locator('.sg-recording-paused').count(), 0);
    assert.equal(await page.locator('.sg-recording[role=status]').count(), 1);

    const { bodies } = await recordedTab(context, server, 'admin', 1);
    const gaps = bodies.filter((body) => body.includes('"tag":"sg.gap"'));
    assert.equal(gaps.length, 1, 'one renumbered chunk marks the gap');
    const { events } = JSON.parse(gaps[0]);
    assert.deepEqual(
      events[0].data,
      { tag: 'sg.gap', payload: { chunks: 1 } },
      'the next page marks where the recording is missing',
    );
  }));
