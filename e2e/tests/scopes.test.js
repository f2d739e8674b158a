// Scopes mean something: every privileged user reaches the Admin Console, and it shows only
// the sections the user's scopes open; the server refuses the rest.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expectLoggedOut, scenario, signIn } from '../lib/harness.js';
import { confirmImpact } from '../lib/admin.js';

test('the operator sees only live sessions in the Admin Console and can end one', () =>
  scenario('operator scopes', {}, async ({ server, browser }) => {
    // A viewer is signed in (not privileged, so not asked for consent).
    const viewerPage = await (await browser.newContext()).newPage();
    await signIn(viewerPage, server, 'viewer', { consent: 'none' });
    await viewerPage.getByRole('heading', { name: 'Dashboard' }).waitFor();
    assert.equal(await viewerPage.getByRole('dialog').count(), 0, 'the viewer is not asked');
    assert.equal(await viewerPage.getByRole('link', { name: 'Admin Console' }).count(), 0);

    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, server, 'operator');
    await page.getByRole('link', { name: 'Admin Console' }).click();
    await page.getByRole('heading', { name: 'Admin Console' }).waitFor();
    const row = page.locator('#sessions tr[data-username="viewer"]');
    await row.waitFor();
    const nav = page.getByRole('navigation', { name: 'Admin Console sections' });
    assert.deepEqual(
      await nav.getByRole('link').allInnerTexts(),
      ['Sessions', 'Emergency'],
    );
    for (const id of ['users', 'roles', 'groups', 'audit']) {
      assert.equal(await page.locator(`#${id}`).count(), 0, `no #${id} section`);
    }
    assert.equal(await page.locator('.access-denied').count(), 0, 'no refusal shown');
    // The server agrees: user management is refused to the operator.
    const refused = await context.request.get(`${server.url}/api/admin/users`);
    assert.equal(refused.status(), 403);

    // The emergency panel offers the signed-in users.
    const options = await page.locator('#emergency-user option').allInnerTexts();
    assert.ok(options.includes('viewer'), options.join(','));

    await row.locator('button.terminate').click();
    await confirmImpact(page, /This signs out 1 user in 1 session\./);
    await page.locator('#confirm-run').click();
    assert.match(await expectLoggedOut(viewerPage, 'remote_terminated'), /administrator ended/);
  }));
