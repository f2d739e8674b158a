// The console under its Content-Security-Policy, and the audit log as an administrator
// reads it: names, words, the acting tab, filters and pages.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminCall, scenario, signIn } from '../lib/harness.js';
import { confirmImpact } from '../lib/admin.js';

test('the built console runs under its Content-Security-Policy without a violation', () =>
  scenario('csp', {}, async ({ server, browser, cspViolations }) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const response = await page.goto(`${server.url}/login`);
    const csp = response.headers()['content-security-policy'];
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval' 'sha256-/);
    assert.doesNotMatch(csp, /'unsafe-eval'|'unsafe-inline'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(response.headers()['x-content-type-options'], 'nosniff');
    assert.equal(response.headers()['referrer-policy'], 'same-origin');

    await signIn(page, server, 'admin');
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    await page.goto(`${server.url}/admin`);
    await page.locator('#sessions tr[data-username="admin"]').first().waitFor();
    await page.locator('#audit tr[data-kind="login"]').first().waitFor();
    assert.deepEqual(cspViolations, []);

    // The watch itself works: an injected inline script is refused and reported.
    await page.addScriptTag({ content: 'window.injected = true;' }).catch(() => {});
    assert.equal(await page.evaluate(() => window.injected === true), false);
    for (let i = 0; i < 100 && cspViolations.length === 0; i += 1) {
      await new Promise((done) => setTimeout(done, 20));
    }
    assert.ok(cspViolations.length > 0, 'the injected inline script was not reported');
    cspViolations.length = 0;
  }));

test('the audit page names people, says what happened, filters and pages', () =>
  scenario('audit page', {}, async ({ server, browser }) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, server, 'admin');
    await page.goto(`${server.url}/admin`);
    const viewerRow = page.locator('#users tr[data-username="viewer"]');
    await viewerRow.waitFor();
    // From the console: the request names this tab.
    await viewerRow.getByRole('button', { name: 'Suspend viewer' }).click();
    await confirmImpact(page, /This signs out nobody/);
    await page.locator('#confirm-run').click();
    const suspended = page.locator('#audit tr[data-kind="admin_user_suspended"]').first();
    await suspended.waitFor();
    const text = await suspended.innerText();
    assert.match(text, /User suspended/);
    assert.match(text, /user viewer/);
    assert.match(text, /admin from 127\.0\.0\.1/);
    assert.match(text, /acting: ses_[^,]+, tab t_/);
    assert.doesNotMatch(text, /[{}"]/, 'details in words, not JSON');
    const signedIn = await page.locator('#audit tr[data-kind="login"]').first().innerText();
    assert.match(signedIn, /admin’s session ses_/);

    // Enough entries for more than one page of 20.
    const users = await adminCall(context, server, 'GET', '/api/admin/users');
    const viewerId = users.find((u) => u.username === 'viewer').id;
    for (let i = 0; i < 12; i += 1) {
      await adminCall(context, server, 'POST', `/api/admin/users/${viewerId}/unsuspend`);
      await adminCall(context, server, 'POST', `/api/admin/users/${viewerId}/suspend`);
    }
    await page.getByRole('button', { name: 'Refresh audit log' }).click();
    await page.waitForFunction(
      () => document.querySelectorAll('#audit tbody tr').length === 20,
    );
    // The oldest entry (the seed) is on the second page only.
    const seeded = page.locator('#audit tr[data-kind="seeded"]');
    assert.equal(await seeded.count(), 0);
    await page.getByRole('button', { name: 'Older' }).click();
    await page.locator('#audit').getByText('Page 2', { exact: true }).waitFor();
    await seeded.waitFor();
    await page.getByRole('button', { name: 'Newer' }).click();
    await page.locator('#audit').getByText('Page 1', { exact: true }).waitFor();
    await seeded.waitFor({ state: 'detached' });

    // Filter by kind: only unsuspensions remain.
    await page.getByLabel('Kind').selectOption({ label: 'User unsuspended' });
    await page.waitForFunction(() => {
      const kinds = [...document.querySelectorAll('#audit tbody tr')].map((r) => r.dataset.kind);
      return kinds.length === 12 && kinds.every((k) => k === 'admin_user_unsuspended');
    });
  }));
