// The console's finish (issue 15): titles per page, header, skip link, navigation, the
// recording badge in the header, 390 px layouts, axe-core on every page and dialog, and
// screenshots of the main pages at desktop and mobile widths; and the session behaviour
// users expect: the lifetime warning and sub-minute policies.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkAndCapture,
  expectAccessible,
  openTab,
  scenario,
  signIn,
  sleep,
  wiggle,
} from '../lib/harness.js';

const PRODUCT = 'Secure Access Console';
const REC = '● REC ';

test('every page and dialog: titles, header, skip link, 390 px, axe, screenshots', () =>
  scenario('finish pages', {}, async ({ server, browser }) => {
    const context = await browser.newContext();
    const page = await context.newPage();

    // The login page after a downgrade, as the user lands on it.
    await page.goto(`${server.url}/login?reason=role_changed`);
    await page.locator('.sg-notice[role=alert]').waitFor();
    assert.equal(await page.title(), `Sign in — ${PRODUCT}`);
    await checkAndCapture(page, 'login-role-changed');

    // The consent dialog.
    await page.goto(`${server.url}/dashboard`);
    await page.waitForURL(/\/login\?/);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('admin-demo-pass');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Accept and continue' }).waitFor();
    await checkAndCapture(page, 'consent-dialog');
    await page.getByRole('button', { name: 'Accept and continue' }).click();

    // The dashboard of a recorded session: the badge sits in the header.
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    const header = page.locator('header.shell-header');
    await header.locator('.sg-recording[role=status]').waitFor();
    assert.equal(await page.locator('.sg-recording').count(), 1, 'one badge, in the header');
    assert.equal(await header.locator('.brand').innerText(), PRODUCT);
    await page.waitForFunction((t) => document.title === t, `${REC}Dashboard — ${PRODUCT}`);
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.equal(
      await nav.getByRole('link', { name: 'Dashboard' }).getAttribute('aria-current'),
      'page',
    );
    assert.equal(
      await nav.getByRole('link', { name: 'Admin Console' }).getAttribute('aria-current'),
      null,
    );
    // The skip link is the first stop of the keyboard and leads to the main landmark.
    await page.keyboard.press('Tab');
    const skip = page.getByRole('link', { name: 'Skip to main content' });
    assert.ok(await skip.evaluate((link) => link === document.activeElement));
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.id === 'main');
    await checkAndCapture(page, 'dashboard-recording');

    // The Admin Console: its title follows the section in the fragment.
    await page.goto(`${server.url}/admin#sessions`);
    await page.getByRole('heading', { name: 'Admin Console' }).waitFor();
    await page.waitForFunction(
      (t) => document.title === t,
      `${REC}Sessions · Admin Console — ${PRODUCT}`,
    );
    assert.equal(
      await nav.getByRole('link', { name: 'Admin Console' }).getAttribute('aria-current'),
      'page',
    );
    await page.locator('#sessions table tbody tr').first().waitFor();
    await checkAndCapture(page, 'admin-sessions');
    await page.evaluate(() => {
      window.location.hash = 'audit';
    });
    await page.waitForFunction(
      (t) => document.title === t,
      `${REC}Audit log · Admin Console — ${PRODUCT}`,
    );
    await checkAndCapture(page, 'admin-audit');

    // A page that does not exist.
    await page.goto(`${server.url}/no-such-page`);
    await page.getByRole('heading', { name: 'Not found' }).waitFor();
    await page.waitForFunction((t) => document.title === t, `${REC}Not found — ${PRODUCT}`);
    await checkAndCapture(page, 'not-found');
  }));

test('a sub-minute idle limit reads in seconds; a viewer has no recording badge', () =>
  scenario('sub-minute policy', { 'idle-timeout': '20s', 'warning-lead': '5s' }, async ({ server, browser }) => {
    const page = await (await browser.newContext()).newPage();
    await signIn(page, server, 'operator');
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    assert.equal(await page.locator('#dashboard-idle-limit').innerText(), '20 seconds');
    await page.getByText('You are signed out after 20 seconds of inactivity.').waitFor();
    const viewer = await (await browser.newContext()).newPage();
    await signIn(viewer, server, 'viewer', { consent: 'none' });
    await viewer.getByRole('heading', { name: 'Dashboard' }).waitFor();
    assert.equal(await viewer.title(), `Dashboard — ${PRODUCT}`);
    assert.equal(await viewer.locator('.sg-recording').count(), 0);
    await expectAccessible(viewer, 'the viewer dashboard');
  }));

/** The lifetime notice's text in `page`, or null while none shows. */
async function lifetimeNotice(page) {
  const notice = page.locator('.sg-lifetime-region[role=status] .sg-lifetime p');
  return (await notice.count()) === 0 ? null : notice.innerText();
}

test('the lifetime warning: when it ends, that it cannot be extended, again 2 minutes before', () =>
  scenario(
    'lifetime warning',
    // 2 min 30 s: the 10-minute notice shows at once, the 2-minute one 30 s in. The idle
    // timeout is short so the idle warning dialog can be checked with axe too.
    { 'session-lifetime': '150s', 'idle-timeout': '30s', 'warning-lead': '20s' },
    async ({ server, browser }) => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const signedInAt = Date.now();
      await signIn(page, server, 'admin');
      await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
      const region = page.locator('.sg-lifetime-region[role=status]');
      assert.equal(await region.getAttribute('aria-live'), 'polite');
      await region.locator('.sg-lifetime').waitFor();
      assert.equal(
        await page.locator('#dashboard-lifetime').innerText(),
        'Your session lasts 2 minutes 30 seconds from sign-in; it cannot be extended.',
      );
      const first = await lifetimeNotice(page);
      assert.match(first, /in less than 10 minutes/);
      assert.match(first, /cannot be extended/);
      assert.match(first, /save your work/);
      // It names the server's end of the session, in local time with the zone.
      const expected = await page.evaluate(async () => {
        const view = await (await fetch('/api/session')).json();
        const end = new Date(view.expires_at);
        const two = (n) => String(n).padStart(2, '0');
        const east = -end.getTimezoneOffset();
        const zone = `${east < 0 ? '-' : '+'}${two(Math.floor(Math.abs(east) / 60))}:${two(Math.abs(east) % 60)}`;
        return `${two(end.getHours())}:${two(end.getMinutes())} (UTC${zone})`;
      });
      assert.ok(first.includes(`ends at ${expected}`), `${first} does not name ${expected}`);
      await expectAccessible(page, 'the dashboard with the lifetime notice');

      // Every tab shows it.
      const second = await openTab(context, server);
      await second.locator('.sg-lifetime').waitFor();

      // Dismissed, it stays away until the next notice.
      await page.getByRole('button', { name: 'Dismiss' }).click();
      assert.equal(await lifetimeNotice(page), null);

      // The idle warning dialog, checked with axe; then the user stays.
      const dialog = page.getByRole('alertdialog');
      await dialog.waitFor({ timeout: 20_000 });
      await expectAccessible(page, 'the idle warning dialog');
      await checkAndCapture(page, 'idle-warning');
      // A dispatched click: moving the pointer there would itself be activity, which closes
      // the warning before the click lands.
      await dialog.getByRole('button', { name: 'Stay signed in' }).dispatchEvent('click');
      await dialog.waitFor({ state: 'detached' });

      // Working on: at 2 minutes before the end the notice comes back, with the new lead.
      while (Date.now() < signedInAt + 40_000 && (await lifetimeNotice(page)) === null) {
        await wiggle(page);
        await sleep(500);
      }
      const last = await lifetimeNotice(page);
      assert.ok(last, 'the 2-minute notice shows');
      assert.match(last, /in less than 2 minutes/);
      assert.ok(Date.now() >= signedInAt + 29_000, 'not before 2 minutes before the end');
      assert.match(await lifetimeNotice(second), /in less than 2 minutes/);
      await checkAndCapture(page, 'lifetime-warning');
    },
  ));
