// The absolute lifetime, returning to the same page, and hostile login URLs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  adminCall,
  adminContext,
  expectLoggedOut,
  scenario,
  signIn,
  sleep,
  wiggle,
} from '../lib/harness.js';

test('the absolute lifetime ends a session despite activity', () =>
  scenario('absolute lifetime', { 'session-lifetime': '8s' }, async ({ server, browser }) => {
    const page = await (await browser.newContext()).newPage();
    await signIn(page, server, 'admin');
    const until = Date.now() + 12_000;
    let ended = false;
    while (!ended && Date.now() < until) {
      await wiggle(page);
      await sleep(400);
      ended = new URL(page.url()).pathname === '/login';
    }
    const notice = await expectLoggedOut(page, 'session_expired');
    assert.match(notice, /maximum length/);
  }));

test('signing in again returns to the page the session ended on', () =>
  scenario('return to page', {}, async ({ server, browser }) => {
    const page = await (await browser.newContext()).newPage();
    await signIn(page, server, 'operator', { path: '/admin?section=sessions' });
    await page.waitForURL((u) => u.pathname === '/admin' && u.search === '?section=sessions');
    const admin = await adminContext(browser, server);
    const sessions = await adminCall(admin.context, server, 'GET', '/api/admin/sessions');
    const mine = sessions.find((s) => s.username === 'operator');
    await adminCall(admin.context, server, 'DELETE', `/api/admin/sessions/${mine.session_id}`);
    await expectLoggedOut(page, 'remote_terminated');
    assert.equal(new URL(page.url()).searchParams.get('return_to'), '/admin?section=sessions');
    await page.getByLabel('Username').fill('operator');
    await page.getByLabel('Password').fill('operator-demo-pass');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname === '/admin' && u.search === '?section=sessions');
  }));

test('hostile reason and return_to values are neither shown nor followed', () =>
  scenario('hostile login urls', {}, async ({ server, browser }) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    let dialogs = 0;
    page.on('dialog', (dialog) => {
      dialogs += 1;
      dialog.dismiss().catch(() => {});
    });
    const hostile = [
      ['%3Cscript%3Ealert(1)%3C%2Fscript%3E', '%2F%2Fevil.example%2F'],
      ['%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E', 'javascript%3Aalert(1)'],
      ['Call%20555-0100%20to%20restore%20access', 'https%3A%2F%2Fevil.example'],
      ['role_changed', '%2F%5Cevil.example'],
      ['idle_timeout', '%2F%252F%252Fevil.example'],
    ];
    for (const [reason, returnTo] of hostile) {
      await page.goto(`${server.url}/login?reason=${reason}&return_to=${returnTo}`);
      const notice = page.locator('.sg-notice[role=alert]');
      await notice.waitFor();
      const text = await notice.innerText();
      assert.doesNotMatch(text, /script|img|555/, text);
      assert.equal(await page.locator('.sg-notice script, .sg-notice img').count(), 0);
    }
    // Signing in from the last hostile URL stays on this origin.
    for (const [, returnTo] of hostile) {
      // Leave the signed-in page first: its guard, finding the cookie gone, would send the
      // tab to the login page itself, racing the navigation below.
      await page.goto('about:blank');
      await context.clearCookies();
      await page.goto(`${server.url}/login?return_to=${returnTo}`);
      await page.getByLabel('Username').fill('viewer');
      await page.getByLabel('Password').fill('viewer-demo-pass');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL((u) => u.pathname !== '/login');
      assert.equal(new URL(page.url()).origin, server.url, returnTo);
      assert.equal(new URL(page.url()).pathname, '/', returnTo);
    }
    assert.equal(dialogs, 0, 'no script ran');
  }));
