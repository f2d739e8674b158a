// Inactivity: the warning, the logout in every tab, and what keeps a session alive.
// The server runs with a 6 s idle timeout and a 3 s warning.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expectLoggedOut, openTab, scenario, signIn, sleep, wiggle } from '../lib/harness.js';

const SHORT = { 'idle-timeout': '6s', 'warning-lead': '3s', 'keepalive-interval': '2s' };

async function twoTabs(browser, server, user = 'admin') {
  const context = await browser.newContext();
  const a = await context.newPage();
  await signIn(a, server, user);
  const b = await openTab(context, server);
  await b.getByRole('heading', { name: 'Dashboard' }).waitFor();
  return { context, a, b };
}

test('idle warning, then logout in every tab with the timeout message', () =>
  scenario('idle logout', SHORT, async ({ server, browser }) => {
    const { a, b } = await twoTabs(browser, server);
    for (const page of [a, b]) {
      const warning = page.getByRole('alertdialog');
      await warning.waitFor({ timeout: 6_000 });
      assert.match(await warning.innerText(), /signed out in \d:\d\d/);
    }
    for (const page of [a, b]) {
      const notice = await expectLoggedOut(page, 'idle_timeout', 6_000);
      assert.match(notice, /after 6 seconds of inactivity/);
    }
  }));

test('stay signed in from one tab closes the warning in every tab', () =>
  scenario('stay signed in', SHORT, async ({ server, browser }) => {
    const { a, b } = await twoTabs(browser, server);
    await a.getByRole('alertdialog').waitFor({ timeout: 6_000 });
    await b.getByRole('alertdialog').waitFor({ timeout: 6_000 });
    // Moving the pointer there would already count as activity and close the warning, so
    // press the button without a pointer, as a screen reader or switch user would.
    await a.getByRole('button', { name: 'Stay signed in' }).dispatchEvent('click');
    await a.getByRole('alertdialog').waitFor({ state: 'detached', timeout: 1_000 });
    await b.getByRole('alertdialog').waitFor({ state: 'detached', timeout: 1_000 });
    await sleep(1_000);
    for (const page of [a, b]) {
      assert.equal(new URL(page.url()).pathname, '/dashboard');
    }
  }));

test('activity in one tab keeps the other tabs alive', () =>
  scenario('activity elsewhere', SHORT, async ({ server, browser }) => {
    const { a, b } = await twoTabs(browser, server);
    const until = Date.now() + 12_000;
    while (Date.now() < until) {
      await wiggle(a);
      assert.equal(await b.getByRole('alertdialog').count(), 0, 'no warning in the quiet tab');
      await sleep(700);
    }
    for (const page of [a, b]) {
      assert.equal(new URL(page.url()).pathname, '/dashboard');
    }
  }));

test('a non-privileged user never times out for inactivity', () =>
  scenario('viewer stays', SHORT, async ({ server, browser }) => {
    const page = await (await browser.newContext()).newPage();
    // Only privileged sessions are recorded: the viewer is not asked for consent.
    await signIn(page, server, 'viewer', { consent: 'none' });
    await page.getByText('no inactivity timeout').waitFor();
    assert.equal(await page.getByRole('dialog').count(), 0);
    await sleep(10_000);
    assert.equal(new URL(page.url()).pathname, '/dashboard');
    assert.equal(await page.getByRole('alertdialog').count(), 0);
    await page.reload();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  }));
