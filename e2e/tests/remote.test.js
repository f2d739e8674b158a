// Endings decided elsewhere: sign-out in another tab, an administrator ending sessions,
// suspension.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  adminCall,
  adminContext,
  allLoggedOut,
  expectLoggedOut,
  scenario,
  signedInTabs,
} from '../lib/harness.js';
import { confirmImpact, endSessionFromList } from '../lib/admin.js';

test('signing out in one tab signs out every tab', () =>
  scenario('logout everywhere', {}, async ({ server, browser }) => {
    const { pages } = await signedInTabs(browser, server, 'operator', 3);
    await pages[1].getByRole('button', { name: 'Sign out' }).click();
    for (const page of pages) {
      assert.match(await expectLoggedOut(page, 'logged_out'), /signed out/);
    }
  }));

test('an administrator ending a session reaches every tab within a second', () =>
  scenario('remote terminate', {}, async ({ server, browser }) => {
    const { pages } = await signedInTabs(browser, server, 'operator', 2);
    const admin = await adminContext(browser, server);
    await admin.page.goto(`${server.url}/admin`);
    const started = await endSessionFromList(admin.page, 'operator');
    const slowest = await allLoggedOut(pages, 'remote_terminated', started);
    assert.ok(slowest < 1_000, `every tab on the login page after ${slowest} ms`);
    assert.match(await pages[0].locator('.sg-notice').innerText(), /administrator ended your session/);
  }));

test('the emergency panel ends every session of a user', () =>
  scenario('emergency terminate', {}, async ({ server, browser }) => {
    const one = await signedInTabs(browser, server, 'operator', 1);
    const two = await signedInTabs(browser, server, 'operator', 1);
    const admin = await adminContext(browser, server);
    await admin.page.goto(`${server.url}/admin`);
    const users = await adminCall(admin.context, server, 'GET', '/api/admin/users');
    const operator = users.find((u) => u.username === 'operator');
    await admin.page.locator('#emergency-user').selectOption(String(operator.id));
    await admin.page.locator('#emergency-terminate').click();
    await confirmImpact(admin.page, /This signs out 1 user in 2 sessions\./);
    const started = Date.now();
    await admin.page.locator('#confirm-run').click();
    const slowest = await allLoggedOut([...one.pages, ...two.pages], 'remote_terminated', started);
    assert.ok(slowest < 1_000, `${slowest} ms`);
    assert.match(await admin.page.locator('#emergency-result').innerText(), /2/);
  }));

test('a suspended user is signed out at once and refused at sign-in', () =>
  scenario('suspension', {}, async ({ server, browser }) => {
    const { pages } = await signedInTabs(browser, server, 'operator', 2);
    const admin = await adminContext(browser, server);
    const users = await adminCall(admin.context, server, 'GET', '/api/admin/users');
    const operator = users.find((u) => u.username === 'operator');
    await adminCall(admin.context, server, 'POST', `/api/admin/users/${operator.id}/suspend`);
    for (const page of pages) {
      assert.match(await expectLoggedOut(page, 'suspended'), /suspended/);
    }
    const page = pages[0];
    await page.getByLabel('Username').fill('operator');
    await page.getByLabel('Password').fill('operator-demo-pass');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const refusal = page.locator('.form-error[role=alert]');
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /suspended/);
    assert.equal(new URL(page.url()).pathname, '/login');

    await adminCall(admin.context, server, 'POST', `/api/admin/users/${operator.id}/unsuspend`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((url) => url.pathname === '/dashboard');
  }));
