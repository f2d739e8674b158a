// Every way of losing privileged access signs the user out at once with the role-change
// message; the user can sign in again straight away with the new (lesser) permissions.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  adminCall, adminContext, expectAccessible, expectLoggedOut, scenario, signIn,
} from '../lib/harness.js';
import { confirmImpact } from '../lib/admin.js';

const PASSWORD = 'e2e-user-pass';

/** A fresh privileged user, through a role of its own or a group of its own. */
async function privilegedUser(admin, server, n, viaGroup) {
  const username = `e2e_user_${n}`;
  const user = await adminCall(admin, server, 'POST', '/api/admin/users', {
    username,
    display_name: `E2E User ${n}`,
    password: PASSWORD,
  });
  const role = await adminCall(admin, server, 'POST', '/api/admin/roles', {
    name: `e2e-role-${n}`,
    scopes: ['console:access'],
  });
  let group = null;
  if (viaGroup) {
    group = await adminCall(admin, server, 'POST', '/api/admin/groups', { name: `e2e-group-${n}` });
    await adminCall(admin, server, 'POST', `/api/admin/groups/${group.id}/members/${user.id}`);
    await adminCall(admin, server, 'POST', `/api/admin/groups/${group.id}/roles/${role.id}`);
  } else {
    await adminCall(admin, server, 'POST', `/api/admin/users/${user.id}/roles/${role.id}`);
  }
  return { username, user, role, group };
}

const PATHS = [
  ['unassigned from the role', false, (u) => ['DELETE', `/api/admin/users/${u.user.id}/roles/${u.role.id}`]],
  ['the role loses its scopes', false, (u) => ['DELETE', `/api/admin/roles/${u.role.id}/scopes/console:access`]],
  ['the role is deleted', false, (u) => ['DELETE', `/api/admin/roles/${u.role.id}`]],
  ['removed from the group', true, (u) => ['DELETE', `/api/admin/groups/${u.group.id}/members/${u.user.id}`]],
  ['the group is unassigned from the role', true, (u) => ['DELETE', `/api/admin/groups/${u.group.id}/roles/${u.role.id}`]],
  ['the group is deleted', true, (u) => ['DELETE', `/api/admin/groups/${u.group.id}`]],
  ["the group's role loses its scopes", true, (u) => ['DELETE', `/api/admin/roles/${u.role.id}/scopes/console:access`]],
  ["the group's role is deleted", true, (u) => ['DELETE', `/api/admin/roles/${u.role.id}`]],
];

test('each way of losing privileged access ends the session with the role-change message', () =>
  scenario('role change paths', {}, async ({ server, browser }) => {
    const admin = await adminContext(browser, server);
    let n = 0;
    for (const [path, viaGroup, change] of PATHS) {
      n += 1;
      const setup = await privilegedUser(admin.context, server, n, viaGroup);
      const context = await browser.newContext();
      const page = await context.newPage();
      await signIn(page, server, setup.username, { password: PASSWORD });
      await page.getByRole('link', { name: 'Admin Console' }).waitFor();

      const [method, url] = change(setup);
      await adminCall(admin.context, server, method, url);
      const notice = await expectLoggedOut(page, 'role_changed', 2_000).catch((error) => {
        throw new Error(`${path}: ${error.message}`);
      });
      assert.match(notice, /role permissions were updated/, path);

      // Not suspended: signs in again at once, now without privileged access.
      await page.getByLabel('Username').fill(setup.username);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL((u) => u.pathname === '/dashboard');
      // No longer privileged, so no longer recorded: no consent dialog.
      await page.getByText('no inactivity timeout').waitFor();
      assert.equal(await page.getByRole('dialog').count(), 0, path);
      assert.equal(await page.getByRole('link', { name: 'Admin Console' }).count(), 0, path);
      await context.close();
    }
  }));

test('a change that keeps every scope ends nothing', () =>
  scenario('role change keeps', {}, async ({ server, browser }) => {
    const admin = await adminContext(browser, server);
    const setup = await privilegedUser(admin.context, server, 99, false);
    // A second role with the same scope: unassigning the first removes nothing.
    const second = await adminCall(admin.context, server, 'POST', '/api/admin/roles', {
      name: 'e2e-second-role',
      scopes: ['console:access'],
    });
    await adminCall(admin.context, server, 'POST', `/api/admin/users/${setup.user.id}/roles/${second.id}`);
    const page = await (await browser.newContext()).newPage();
    await signIn(page, server, setup.username, { password: PASSWORD });
    await adminCall(admin.context, server, 'DELETE', `/api/admin/users/${setup.user.id}/roles/${setup.role.id}`);
    await new Promise((done) => setTimeout(done, 1_500));
    assert.equal(new URL(page.url()).pathname, '/dashboard');
    await page.getByRole('link', { name: 'Admin Console' }).waitFor();
  }));

test('losing one scope of several signs the user out with the role-change message', () =>
  scenario('role change one scope', {}, async ({ server, browser }) => {
    // The seeded operator holds console:access and sessions:terminate; the open Admin
    // Console shows live sessions with Terminate buttons until the scope goes.
    const context = await browser.newContext();
    const tab = await context.newPage();
    await signIn(tab, server, 'operator', { path: '/admin' });
    await tab.locator('#sessions button.terminate').first().waitFor();
    const admin = await adminContext(browser, server);
    const roles = await adminCall(admin.context, server, 'GET', '/api/admin/roles');
    const operatorRole = roles.find((r) => r.name === 'Operator');
    await adminCall(admin.context, server, 'DELETE', `/api/admin/roles/${operatorRole.id}/scopes/sessions:terminate`);
    assert.match(await expectLoggedOut(tab, 'role_changed', 2_000), /role permissions were updated/);
    // Signed in again: still privileged, but the sessions section is gone.
    await tab.getByLabel('Username').fill('operator');
    await tab.getByLabel('Password').fill('operator-demo-pass');
    await tab.getByRole('button', { name: 'Sign in' }).click();
    await tab.getByRole('button', { name: 'Accept and continue' }).click();
    await tab.getByRole('heading', { name: 'Admin Console' }).waitFor();
    await tab.getByText('Your roles open no part of the Admin Console').waitFor();
    assert.equal(await tab.locator('#sessions').count(), 0);
  }));

test('removing a member in the Admin Console signs that member out everywhere', () =>
  scenario('role change through the console', {}, async ({ server, browser }) => {
    // The seeded operator is privileged only through the Operators group.
    const context = await browser.newContext();
    const tab = await context.newPage();
    await signIn(tab, server, 'operator');
    const admin = await adminContext(browser, server);
    await admin.page.goto(`${server.url}/admin`);
    await admin.page
      .locator('#groups tr[data-group-name="Operators"] button.remove-member[data-username="operator"]')
      .click();
    // Removing a member takes access away: it asks first and says whom it signs out.
    await confirmImpact(admin.page, /^This signs out 1 user in 1 session\.$/);
    assert.match(
      await admin.page.getByRole('alertdialog').innerText(),
      /Remove operator from group Operators\?/,
    );
    await expectAccessible(admin.page, 'the remove-member confirmation');
    assert.equal(new URL(tab.url()).pathname, '/dashboard', 'nothing happens before confirming');
    await admin.page.locator('#confirm-run').click();
    assert.match(await expectLoggedOut(tab, 'role_changed', 2_000), /role permissions were updated/);
  }));
