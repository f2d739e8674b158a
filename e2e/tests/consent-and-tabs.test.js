// Recording consent, and the recording marks in every tab of a session.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminCall, expectLoggedOut, openTab, scenario, signIn } from '../lib/harness.js';

const REC = '● REC ';

test('declining recording starts no session', () =>
  scenario('consent decline', {}, async ({ server, browser }) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, server, 'operator', { consent: 'decline' });
    const notice = await expectLoggedOut(page, 'consent_declined');
    assert.match(notice, /recording was declined/);
    // Nothing protected was ever shown, and the session is really gone.
    await page.goto(`${server.url}/dashboard`);
    await page.waitForURL(/\/login\?/);
    assert.equal(await page.locator('h1', { hasText: 'Dashboard' }).count(), 0);
  }));

test('the consent dialog holds back protected content until accepted', () =>
  scenario('consent gate', {}, async ({ server, browser }) => {
    const page = await (await browser.newContext()).newPage();
    await signIn(page, server, 'operator', { consent: 'none' });
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    assert.equal(await dialog.getAttribute('aria-modal'), 'true');
    assert.match(await dialog.innerText(), /will be recorded/);
    // It says what recording captures, what is masked, the server's own record and the
    // retention, and claims nothing more.
    const text = await dialog.innerText();
    assert.match(text, /what you see and do in each browser tab/);
    assert.match(text, /never which key/);
    assert.match(text, /masked \(passwords always\)/);
    assert.match(text, /The server also records every request/);
    assert.match(text, /kept for 90 days/);
    assert.doesNotMatch(text, /not captured/);
    assert.equal(await page.getByRole('heading', { name: 'Dashboard' }).count(), 0);
    // The focus starts on the dialog itself: Enter there accepts nothing.
    const focused = await page.evaluate(() => document.activeElement?.getAttribute('role'));
    assert.equal(focused, 'dialog');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Escape');
    await page.mouse.click(5, 5);
    assert.equal(await dialog.isVisible(), true, 'Escape and outside clicks do not dismiss');
    await page.getByRole('button', { name: 'Accept and continue' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  }));

test('every tab shows the recording badge and title, including one opened from a link', () =>
  scenario('recording in every tab', {}, async ({ server, browser }) => {
    const context = await browser.newContext();
    const first = await context.newPage();
    await signIn(first, server, 'operator');
    const second = await openTab(context, server, '/dashboard');
    const [linked] = await Promise.all([
      context.waitForEvent('page'),
      first.getByRole('link', { name: 'Open in new tab' }).click(),
    ]);
    await linked.waitForLoadState();
    for (const page of [first, second, linked]) {
      const badge = page.locator('.sg-recording[role=status]');
      await badge.waitFor();
      assert.match(await badge.innerText(), /Recording/);
      assert.equal(await page.getByRole('dialog').count(), 0, 'consent is asked once per session');
      await page.waitForFunction((prefix) => document.title.startsWith(prefix), REC);
      const icon = await page.locator('link[rel~=icon]').getAttribute('href');
      assert.ok(icon.startsWith('data:image/svg+xml'), icon);
    }
    // Each tab is its own recorded sub-session; the linked one knows its opener.
    const admin = await browser.newContext();
    await signIn(await admin.newPage(), server, 'admin');
    const sessions = await adminCall(admin, server, 'GET', '/api/admin/sessions');
    const operator = sessions.find((s) => s.username === 'operator');
    assert.ok(operator, JSON.stringify(sessions));
    assert.equal(operator.tabs.length, 3, JSON.stringify(operator.tabs));
    assert.ok(
      operator.tabs.some((t) => t.opener_tab_id),
      `the linked tab names its opener: ${JSON.stringify(operator.tabs)}`,
    );
  }));

test('more tabs than the six connections a browser allows per host all start', () =>
  scenario('many tabs', {}, async ({ server, browser }) => {
    // Plain HTTP/1.1: a push stream per tab would hold every connection from the seventh on.
    const context = await browser.newContext();
    const first = await context.newPage();
    await signIn(first, server, 'operator');
    const tabs = [first];
    for (let i = 0; i < 9; i += 1) {
      tabs.push(await openTab(context, server));
    }
    for (const [i, page] of tabs.entries()) {
      await page
        .getByRole('heading', { name: 'Dashboard' })
        .waitFor({ timeout: 5_000 })
        .catch(() => {
          throw new Error(`tab ${i + 1} of ${tabs.length} never started`);
        });
    }
    // And an ending still reaches all of them.
    await tabs[4].getByRole('button', { name: 'Sign out' }).click();
    for (const page of tabs) {
      await page.waitForURL((u) => u.searchParams.get('reason') === 'logged_out');
    }
  }));

test('a tab opened by Ctrl+click, middle click or a plain target=_blank link records its opener', () =>
  scenario('opener hand-off', {}, async ({ server, browser }) => {
    const context = await browser.newContext();
    const first = await context.newPage();
    await signIn(first, server, 'operator');
    await first.locator('.sg-recording[role=status]').waitFor();
    // A plain `target=_blank` link (browsers open it without an opener, so no session
    // storage is copied), as any page of the console might have.
    await first.evaluate(() => {
      const link = document.createElement('a');
      link.id = 'plain-blank';
      link.href = '/dashboard?via=blank';
      link.target = '_blank';
      link.textContent = 'plain new-tab link';
      document.body.append(link);
    });
    const opened = async (click) => {
      const [page] = await Promise.all([context.waitForEvent('page'), click()]);
      await page.waitForLoadState();
      await page.locator('.sg-recording[role=status]').waitFor();
      return page;
    };
    const nav = first.getByRole('navigation');
    await opened(() => nav.getByRole('link', { name: 'Dashboard', exact: true }).click({ modifiers: ['ControlOrMeta'] }));
    await opened(() => nav.getByRole('link', { name: 'Admin Console' }).click({ button: 'middle' }));
    await opened(() => first.locator('#plain-blank').click());

    const admin = await browser.newContext();
    await signIn(await admin.newPage(), server, 'admin');
    let tabs = [];
    for (let i = 0; i < 50 && tabs.length < 4; i += 1) {
      const sessions = await adminCall(admin, server, 'GET', '/api/admin/sessions');
      tabs = sessions.find((s) => s.username === 'operator')?.tabs ?? [];
      if (tabs.length < 4) await new Promise((done) => setTimeout(done, 100));
    }
    assert.equal(tabs.length, 4, JSON.stringify(tabs));
    const roots = tabs.filter((t) => t.opener_tab_id === null);
    assert.equal(roots.length, 1, `only the first tab has no opener: ${JSON.stringify(tabs)}`);
    for (const tab of tabs.filter((t) => t !== roots[0])) {
      assert.equal(tab.opener_tab_id, roots[0].tab_id, JSON.stringify(tabs));
    }
  }));
