// The guard under a stalled leader, a clock jump in one tab, crafted paths and an
// unreachable server (issue 16).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  adminCall,
  adminContext,
  expectLoggedOut,
  scenario,
  signedInTabs,
  sleep,
  wiggle,
} from '../lib/harness.js';

const SHORT = { 'idle-timeout': '6s', 'warning-lead': '3s', 'keepalive-interval': '2s' };

/**
 * Blocks `page`'s JavaScript in an `alert()`: the tab keeps its Web Lock and connections but
 * runs nothing. Resolves with the dialog once it is open; `dialog.accept()` resumes the tab.
 */
async function stall(page) {
  const opened = new Promise((resolve) => page.once('dialog', resolve));
  await page.evaluate(() => {
    setTimeout(() => alert('stalled'), 0);
  });
  return opened;
}

async function operatorSessionId(admin, server) {
  const sessions = await adminCall(admin.context, server, 'GET', '/api/admin/sessions');
  return sessions.find((s) => s.username === 'operator').session_id;
}

test('a stalled leader: the other tabs keep the session alive, and it rejoins quietly', () =>
  scenario('stalled leader', SHORT, async ({ server, browser }) => {
    const { pages } = await signedInTabs(browser, server, 'operator', 3);
    const [leader, b, c] = pages;
    const dialog = await stall(leader);
    // 11 s of work in the other two tabs: almost twice the 6 s idle timeout.
    const until = Date.now() + 11_000;
    let turn = 0;
    while (Date.now() < until) {
      await wiggle(turn % 2 === 0 ? b : c);
      turn += 1;
      await sleep(500);
    }
    for (const page of [b, c]) {
      assert.equal(new URL(page.url()).pathname, '/dashboard', 'still signed in');
      assert.equal(await page.getByRole('alertdialog').count(), 0, 'no idle warning');
    }
    await dialog.accept();
    // The resumed tab joins as a follower; nobody is signed out, the session stays alive.
    const quiet = Date.now() + 6_000;
    while (Date.now() < quiet) {
      await wiggle(c);
      await sleep(500);
    }
    for (const page of pages) {
      assert.equal(new URL(page.url()).pathname, '/dashboard');
      assert.equal(await page.getByRole('alertdialog').count(), 0);
    }
    const status = await leader.evaluate(async () => (await fetch('/api/session')).status);
    assert.equal(status, 200);
  }));

test('a server-side ending reaches every running tab while the leader is stalled', () =>
  scenario('stalled leader ending', {}, async ({ server, browser }) => {
    const admin = await adminContext(browser, server);
    const { pages } = await signedInTabs(browser, server, 'operator', 3);
    const [leader, b, c] = pages;
    const id = await operatorSessionId(admin, server);
    const dialog = await stall(leader);
    const since = Date.now();
    await adminCall(admin.context, server, 'DELETE', `/api/admin/sessions/${id}`);
    const late = await Promise.all(
      [b, c].map(async (page) => {
        await expectLoggedOut(page, 'remote_terminated', 6_000);
        return Date.now() - since;
      }),
    );
    // Two silent heartbeats (2 s) and one request, with room for a loaded machine.
    assert.ok(Math.max(...late) <= 3_500, `protected content for ${late} ms after the ending`);
    await dialog.accept();
    await expectLoggedOut(leader, 'remote_terminated');
  }));

test('a clock jumping forward in one tab signs nobody out', () =>
  scenario('clock jump', SHORT, async ({ server, browser }) => {
    const { pages } = await signedInTabs(browser, server, 'operator', 2);
    const [a, b] = pages;
    // Tab B's wall clock jumps two hours ahead (a machine waking with a corrected clock);
    // its monotonic clock does not.
    await b.evaluate(() => {
      const realNow = Date.now.bind(Date);
      Date.now = () => realNow() + 2 * 3600 * 1000;
    });
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      await wiggle(a);
      await sleep(500);
      for (const page of [a, b]) {
        assert.equal(new URL(page.url()).pathname, '/dashboard', 'still signed in');
      }
    }
    assert.equal(await b.getByRole('alertdialog').count(), 0, 'no idle warning in B');
    const status = await a.evaluate(async () => (await fetch('/api/session')).status);
    assert.equal(status, 200, 'the server kept the session');
  }));

const CRAFTED_RETURN_TO = [
  '/.//evil.example',
  '%2F.%2F%2Fevil.example',
  '/%2E//evil.example',
  '/..//evil.example',
  '/%2e%2e/%2e%2e//evil.example',
];

/** Every link on the page resolves to `origin`. */
async function linksStayOn(page, origin) {
  const hrefs = await page.locator('a[href]').evaluateAll((links) =>
    links.map((link) => link.href),
  );
  assert.ok(hrefs.length > 0);
  for (const href of hrefs) {
    assert.equal(new URL(href).origin, origin, `${page.url()} links to ${href}`);
  }
}

test('crafted return_to values and paths never lead off the origin', () =>
  scenario('crafted paths', {}, async ({ server, browser }) => {
    const context = await browser.newContext();
    const offOrigin = [];
    context.on('request', (request) => {
      if (new URL(request.url()).origin !== server.url) {
        offOrigin.push(request.url());
      }
    });
    const page = await context.newPage();
    for (const returnTo of CRAFTED_RETURN_TO) {
      await context.clearCookies();
      await page.goto(`${server.url}/login?return_to=${returnTo}`);
      await page.getByLabel('Username').fill('viewer');
      await page.getByLabel('Password').fill('viewer-demo-pass');
      await page.getByRole('button', { name: 'Sign in' }).click();
      // The viewer is not privileged, so not recorded: no consent dialog.
      await page.waitForURL((u) => u.pathname !== '/login');
      await page.getByRole('link', { name: 'Open in new tab' }).waitFor();
      const url = new URL(page.url());
      assert.equal(url.origin, server.url, returnTo);
      assert.equal(url.pathname, '/', returnTo);
      await linksStayOn(page, server.url);
    }
    // Opening a path that starts with `//` directly: the page's own links stay here too.
    await page.goto(`${server.url}//evil.example`);
    const open = page.getByRole('link', { name: 'Open in new tab' });
    await open.waitFor();
    await linksStayOn(page, server.url);
    const [opened] = await Promise.all([context.waitForEvent('page'), open.click()]);
    await opened.waitForLoadState();
    assert.equal(new URL(opened.url()).origin, server.url, opened.url());
    assert.deepEqual(offOrigin, [], 'no request left the origin');
  }));

test('every tab shows a connection problem and clears it when the server answers', () =>
  scenario('connection problem', { 'keepalive-interval': '2s' }, async ({ server, browser }) => {
    const { context, pages } = await signedInTabs(browser, server, 'operator', 2);
    const [leader, follower] = pages;
    const banner = (page) => page.locator('.sg-connection');
    await context.setOffline(true);
    // The user works in the follower; the leader's keepalive for it fails, and the follower,
    // which sends no request itself, hears of the problem over the channel.
    const until = Date.now() + 10_000;
    while (Date.now() < until && (await banner(follower).count()) === 0) {
      await wiggle(follower);
      await sleep(500);
    }
    for (const page of [leader, follower]) {
      await banner(page).waitFor({ timeout: 1_000 });
    }
    await context.setOffline(false);
    for (const page of pages) {
      await banner(page).waitFor({ state: 'detached', timeout: 8_000 });
      assert.equal(new URL(page.url()).pathname, '/dashboard');
    }
  }));

test('the connection-problem banner clears when the server answers again, with no input', () =>
  scenario('connection clears by itself', { 'keepalive-interval': '2s' }, async ({ server, browser }) => {
    const { pages } = await signedInTabs(browser, server, 'operator', 1);
    const [page] = pages;
    const banner = page.locator('.sg-connection');
    // Only the keepalives fail: the push stream stays up and carries nothing but pings, so
    // nothing but the guard's own polling can learn that the server answers again.
    await page.route('**/api/session/activity', (route) => route.abort('connectionrefused'));
    const until = Date.now() + 10_000;
    while (Date.now() < until && (await banner.count()) === 0) {
      await wiggle(page);
      await sleep(500);
    }
    await banner.waitFor({ timeout: 1_000 });
    await page.unroute('**/api/session/activity');
    // No input from here on: the poll (every 5 s) clears it.
    await banner.waitFor({ state: 'detached', timeout: 8_000 });
    assert.equal(new URL(page.url()).pathname, '/dashboard');
  }));
