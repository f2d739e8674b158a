// Two server instances on one PostgreSQL database, serving the same console: the user's
// tabs talk to instance A, the administrator to instance B. An ending decided on B reaches
// the event streams held by A through PostgreSQL's LISTEN/NOTIFY.
//
// `cargo xtask test` starts a throwaway PostgreSQL cluster and passes a database of it in
// SG_E2E_DATABASE_URL; without it these scenarios fail (they never pass on SQLite).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  adminCall,
  adminContext,
  allLoggedOut,
  artifactsDir,
  launchBrowser,
  signedInTabs,
  startServer,
} from '../lib/harness.js';
import { endSessionFromList } from '../lib/admin.js';

const databaseUrl = process.env.SG_E2E_DATABASE_URL;

/** Runs `body` with instances A and B on the PostgreSQL database and one browser. */
async function twoInstances(name, body) {
  assert.ok(
    databaseUrl,
    'SG_E2E_DATABASE_URL must name a PostgreSQL database (cargo xtask test provides one)',
  );
  // One after the other: the first one creates the schema and the demo accounts.
  const a = await startServer({ 'database-url': databaseUrl });
  const b = await startServer({ 'database-url': databaseUrl }).catch(async (error) => {
    await a.stop();
    throw error;
  });
  const browser = await launchBrowser();
  try {
    await body({ a, b, browser });
  } catch (error) {
    mkdirSync(artifactsDir, { recursive: true });
    let n = 0;
    for (const context of browser.contexts()) {
      for (const page of context.pages()) {
        n += 1;
        await page
          .screenshot({ path: join(artifactsDir, `${name}-${n}.png`), fullPage: true })
          .catch(() => {});
      }
    }
    throw error;
  } finally {
    await browser.close().catch(() => {});
    await a.stop();
    await b.stop();
  }
}

test('an administrator on instance B ends a session whose tabs are on instance A within a second', () =>
  twoInstances('two-instances-terminate', async ({ a, b, browser }) => {
    const { pages } = await signedInTabs(browser, a, 'operator', 3);
    const admin = await adminContext(browser, b);
    await admin.page.goto(`${b.url}/admin`);
    // Instance B lists the session that instance A created.
    const started = await endSessionFromList(admin.page, 'operator');
    const slowest = await allLoggedOut(pages, 'remote_terminated', started);
    assert.ok(slowest < 1_000, `every tab on the login page after ${slowest} ms`);
    for (const page of pages) {
      assert.match(await page.locator('.sg-notice').innerText(), /administrator ended your session/);
    }
  }));

test('a suspension on instance B signs out the tabs on instance A within a second', () =>
  twoInstances('two-instances-suspend', async ({ a, b, browser }) => {
    const { pages } = await signedInTabs(browser, a, 'operator', 2);
    const admin = await adminContext(browser, b);
    const users = await adminCall(admin.context, b, 'GET', '/api/admin/users');
    const operator = users.find((u) => u.username === 'operator');
    const started = Date.now();
    try {
      await adminCall(admin.context, b, 'POST', `/api/admin/users/${operator.id}/suspend`);
      const slowest = await allLoggedOut(pages, 'suspended', started);
      assert.ok(slowest < 1_000, `every tab on the login page after ${slowest} ms`);
    } finally {
      // The database outlives the scenario: leave the demo operator usable.
      await adminCall(admin.context, b, 'POST', `/api/admin/users/${operator.id}/unsuspend`);
    }
  }));
