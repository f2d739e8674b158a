// Session visibility and control in the Admin Console: what the live list shows, closed
// tabs, the history of ended sessions, the emergency panel's targets, and confirmation
// with the server's impact preview before every destructive action.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  adminCall,
  adminContext,
  expectAccessible,
  expectLoggedOut,
  openTab,
  scenario,
  signIn,
  sleep,
  wiggle,
} from '../lib/harness.js';
import { confirmImpact } from '../lib/admin.js';

/** The live sessions table row of `username` (the first one). */
const sessionRow = (page, username) =>
  page.locator(`#sessions tr[data-username="${username}"]`).first();

test('live sessions show who, from where, which browser, open tabs and "this is you"', () =>
  scenario('session visibility', {}, async ({ server, browser }) => {
    const context = await browser.newContext();
    const first = await context.newPage();
    await signIn(first, server, 'operator');
    // Opened from the first tab's link, so it knows its opener.
    const [second] = await Promise.all([
      context.waitForEvent('page'),
      first.getByRole('link', { name: 'Open in new tab' }).click(),
    ]);
    await second.getByRole('heading', { name: 'Dashboard' }).waitFor();

    const admin = await adminContext(browser, server);
    await admin.page.goto(`${server.url}/admin`);
    const mine = sessionRow(admin.page, 'admin');
    await mine.waitFor();
    assert.match(await mine.locator('th').innerText(), /This is you/);
    const row = sessionRow(admin.page, 'operator');
    await row.waitFor();
    assert.doesNotMatch(await row.locator('th').innerText(), /This is you/);
    assert.match(await row.locator('th').innerText(), /Otto Operator \(operator\)/);
    assert.match(await row.locator('.address').innerText(), /127\.0\.0\.1/);
    assert.match(await row.locator('.browser').innerText(), /Chrome \d+ on Linux/);
    // Times carry their zone; ids are shortened, the full one on demand.
    assert.match(await row.locator('td').nth(2).innerText(), /\d{2}:\d{2}:\d{2} UTC/);
    const sessions = await adminCall(admin.context, server, 'GET', '/api/admin/sessions');
    const operatorSession = sessions.find((s) => s.username === 'operator');
    const shortId = row.locator('td.wide').first();
    assert.doesNotMatch(await shortId.innerText(), new RegExp(operatorSession.session_id));
    await shortId.locator('summary').click();
    assert.match(await shortId.innerText(), new RegExp(operatorSession.session_id));
    // Both tabs, the second opened from the first.
    await admin.page.waitForFunction(
      () => document.querySelector('#sessions tr[data-username="operator"] .count')
        ?.textContent === '2 tabs',
    );
    assert.match(await row.locator('.tab-list').innerText(), /from tab/);

    // A closed tab drops out of the live list. (`runBeforeUnload` closes it the way a
    // user does, with its unload events; without it the page is simply destroyed.)
    await second.close({ runBeforeUnload: true });
    await admin.page.waitForFunction(async () => {
      const response = await fetch('/api/admin/sessions');
      const list = await response.json();
      return list.find((s) => s.username === 'operator')?.tabs.length === 1;
    });
    await admin.page.getByRole('button', { name: 'Refresh sessions' }).click();
    await admin.page.waitForFunction(
      () => document.querySelector('#sessions tr[data-username="operator"] .count')
        ?.textContent === '1 tab',
    );

    // Ending it: the history says why and who.
    await row.locator('button.terminate').click();
    await confirmImpact(admin.page, /This signs out 1 user in 1 session\./);
    await admin.page.locator('#confirm-reason').fill('Shared screen left unlocked');
    await admin.page.locator('#confirm-run').click();
    await expectLoggedOut(first, 'remote_terminated');
    const ended = admin.page.locator(
      `#history tr[data-session-id="${operatorSession.session_id}"]`,
    );
    await ended.waitFor();
    assert.match(await ended.locator('.end-reason').innerText(), /Ended by an administrator/);
    assert.equal(await ended.locator('.ended-by').innerText(), 'admin');
    const audit = await adminCall(
      admin.context, server, 'GET', '/api/admin/audit?kind=admin_session_terminated',
    );
    assert.equal(audit[0].detail.reason, 'Shared screen left unlocked');
  }));

test('the emergency panel ends everyone but the administrator, with a reason', () =>
  scenario('emergency everyone else', {}, async ({ server, browser }) => {
    const operator = await (await browser.newContext()).newPage();
    await signIn(operator, server, 'operator');
    const viewer = await (await browser.newContext()).newPage();
    await signIn(viewer, server, 'viewer', { consent: 'none' });
    const admin = await adminContext(browser, server);
    await admin.page.goto(`${server.url}/admin`);
    await sessionRow(admin.page, 'viewer').waitFor();

    await admin.page.getByLabel('Everyone except me').check();
    await admin.page.locator('#emergency-terminate').click();
    await confirmImpact(admin.page, /^This signs out 2 users in 2 sessions\.$/);
    await admin.page.locator('#confirm-reason').fill('Incident 7: credential leak');
    await admin.page.locator('#confirm-run').click();
    await expectLoggedOut(operator, 'remote_terminated');
    await expectLoggedOut(viewer, 'remote_terminated');
    assert.match(await admin.page.locator('#emergency-result').innerText(), /Ended 2 sessions/);
    // The administrator carries on.
    await sessionRow(admin.page, 'admin').waitFor();
    const [entry] = await adminCall(
      admin.context, server, 'GET', '/api/admin/audit?kind=admin_sessions_terminated',
    );
    assert.equal(entry.detail.target, 'everyone_else');
    assert.equal(entry.detail.reason, 'Incident 7: credential leak');
  }));

test('deleting a group asks first, says its impact, and Escape cancels it', () =>
  scenario('confirm group deletion', {}, async ({ server, browser }) => {
    const operator = await (await browser.newContext()).newPage();
    await signIn(operator, server, 'operator');
    const admin = await adminContext(browser, server);
    await admin.page.goto(`${server.url}/admin`);
    const remove = admin.page.getByRole('button', { name: 'Delete group Operators' });
    await remove.click();
    await confirmImpact(admin.page, /This signs out 1 user in 1 session\./);
    // Tab stays inside the dialog.
    await admin.page.keyboard.press('Tab');
    assert.equal(await admin.page.evaluate(() => document.activeElement?.id), 'confirm-run');
    await admin.page.keyboard.press('Tab');
    assert.equal(await admin.page.evaluate(() => document.activeElement?.id), 'confirm-cancel');
    await admin.page.keyboard.press('Escape');
    await admin.page.getByRole('alertdialog').waitFor({ state: 'detached' });
    // Nothing happened, and the focus is back on the button that asked.
    assert.equal(
      await admin.page.evaluate(() => document.activeElement?.getAttribute('aria-label')),
      'Delete group Operators',
    );
    const groups = await adminCall(admin.context, server, 'GET', '/api/admin/groups');
    assert.ok(groups.some((g) => g.name === 'Operators'));

    await remove.click();
    await confirmImpact(admin.page, /This signs out 1 user in 1 session\./);
    await admin.page.locator('#confirm-run').click();
    await expectLoggedOut(operator, 'role_changed');
    await admin.page.getByRole('button', { name: 'Delete group Operators' })
      .waitFor({ state: 'detached' });
  }));

test('an administrator ends one tab: it lands on the login page, the other tab keeps working', () =>
  scenario('end one tab', {}, async ({ server, browser }) => {
    const context = await browser.newContext();
    const kept = await context.newPage();
    await signIn(kept, server, 'operator');
    const ended = await openTab(context, server);
    await ended.getByRole('heading', { name: 'Dashboard' }).waitFor();
    // The guard keeps each tab's id in `window.name` ("sg-tab:<id>").
    const tabId = (await ended.evaluate(() => window.name)).replace(/^sg-tab:/, '');
    assert.match(tabId, /^[A-Za-z0-9_-]{8,64}$/);

    const admin = await adminContext(browser, server);
    await admin.page.goto(`${server.url}/admin`);
    await admin.page.waitForFunction(
      () => document.querySelector('#sessions tr[data-username="operator"] .count')
        ?.textContent === '2 tabs',
    );
    await expectAccessible(admin.page, 'the sessions table with its End tab buttons');
    await sessionRow(admin.page, 'operator')
      .locator(`button.end-tab[data-tab-id="${tabId}"]`).click();
    await confirmImpact(
      admin.page,
      /^This closes 1 tab; the session and its other tabs stay signed in\.$/,
    );
    await expectAccessible(admin.page, 'the End tab confirmation');
    await admin.page.locator('#confirm-reason').fill('Left open on the kiosk');
    await admin.page.locator('#confirm-run').click();

    const notice = await expectLoggedOut(ended, 'tab_terminated');
    assert.equal(
      notice,
      "An administrator closed this tab's session. Your other tabs are still signed in.",
    );
    // The other tab stays on its page, signed in, and its activity still reaches the server.
    await sleep(3_000);
    assert.equal(new URL(kept.url()).pathname, '/dashboard');
    await kept.getByRole('heading', { name: 'Dashboard' }).waitFor();
    await wiggle(kept);
    const status = await kept.evaluate(async () => (await fetch('/api/session')).status);
    assert.equal(status, 200);
    await admin.page.getByRole('button', { name: 'Refresh sessions' }).click();
    await admin.page.waitForFunction(
      () => document.querySelector('#sessions tr[data-username="operator"] .count')
        ?.textContent === '1 tab',
    );
    const [entry] = await adminCall(
      admin.context, server, 'GET', '/api/admin/audit?kind=admin_tab_terminated',
    );
    assert.equal(entry.tab_id, tabId);
    assert.equal(entry.detail.reason, 'Left open on the kiosk');
  }));

test('long users, roles and groups tables page and filter', () =>
  scenario('admin tables page', {}, async ({ server, browser }) => {
    const admin = await adminContext(browser, server);
    // 3 seeded users + 25 = 28: two pages of 20.
    for (let n = 0; n < 25; n += 1) {
      const id = String(n).padStart(2, '0');
      await adminCall(admin.context, server, 'POST', '/api/admin/users', {
        username: `paged_${id}`,
        display_name: `Paged User ${id}`,
        password: 'paged-user-pass',
      });
    }
    await admin.page.goto(`${server.url}/admin#users`);
    const users = admin.page.locator('#users');
    const status = users.locator('.table-controls [role=status]');
    const rows = users.locator('tr[data-username]');
    await admin.page.waitForFunction(
      () => document.querySelector('#users .table-controls [role=status]')
        ?.textContent === 'Page 1 of 2 (28 users)',
    );
    assert.equal(await rows.count(), 20);
    await expectAccessible(admin.page, 'the paged users table');
    await admin.page.locator('#users-next').click();
    assert.equal(await status.innerText(), 'Page 2 of 2 (28 users)');
    assert.equal(await rows.count(), 8);
    await admin.page.locator('#users-filter').fill('Paged User 07');
    assert.equal(await status.innerText(), 'Page 1 of 1 (1 users)');
    assert.deepEqual(await rows.evaluateAll((r) => r.map((row) => row.dataset.username)), ['paged_07']);
    // The roles and groups tables have the same controls.
    await admin.page.locator('#roles-filter').fill('operator');
    await admin.page.waitForFunction(
      () => document.querySelectorAll('#roles tbody tr').length === 1,
    );
    await admin.page.locator('#groups-filter').fill('no such group');
    assert.equal(
      await admin.page.locator('#groups .table-controls [role=status]').innerText(),
      'Page 1 of 1 (0 groups)',
    );
  }));
