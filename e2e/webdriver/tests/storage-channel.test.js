// The storage fallback channel between two real tabs, with the `storage` events the
// browser fires, in the engine SG_ENGINE names. Each tab runs the probe page
// (examples/storage_channel_probe.rs): one storage-fallback TabChannel and nothing else,
// so the listening tab touches localStorage only as the channel itself does.
//
// Two tabs, not an iframe: WebKit subscribes a web process to `storage` events once a
// document in it has read or written localStorage, and an iframe shares its page's
// process. Before the fix, a WebKit tab that only listened heard nothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENGINE, onTab, openBrowser } from '../lib/harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const page = join(here, '..', 'probe', 'index.html');
// What wasm-bindgen made of the probe: its JS, its wasm and the snippets it imports.
const built = resolve(here, '..', '..', '..', 'target', 'storage-channel-probe');
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };

/** Serves the probe page on 127.0.0.1, on a port the kernel picks. */
async function serveProbe() {
  const wasm = join(built, 'storage_channel_probe_bg.wasm');
  if (!existsSync(wasm)) {
    throw new Error(`${wasm} is missing: run \`cargo xtask test\`, which builds the probe first`);
  }
  const server = createServer((request, response) => {
    const path = new URL(request.url, 'http://probe').pathname;
    const file = path === '/' ? page : join(built, path);
    if ((file !== page && !file.startsWith(`${built}/`)) || !existsSync(file)) {
      response.writeHead(404).end();
      return;
    }
    const type = TYPES[extname(file)] || 'application/octet-stream';
    response.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
    response.end(readFileSync(file));
  });
  await new Promise((listening) => server.listen(0, '127.0.0.1', listening));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    stop: () => new Promise((closed) => server.close(closed)),
  };
}

/** Loads the probe for `session` in the current tab and waits until its channel is open. */
async function loadProbe(driver, url, session) {
  await driver.get(`${url}/#${session}`);
  await driver.wait(
    async () => (await driver.getTitle()) !== 'probe loading',
    10_000,
    'the probe page never started',
  );
  assert.equal(await driver.getTitle(), 'probe ready');
}

const receivedIn = (driver) => driver.executeScript('return Array.from(window.probeReceived);');

test(`[${ENGINE}] the storage fallback carries messages between two real tabs both ways`, { timeout: 120_000 }, async () => {
  const probe = await serveProbe();
  const browser = await openBrowser();
  const { driver } = browser;
  try {
    const session = `ses_${Date.now()}`;
    // The listener opens first and never posts before it has heard the other tab.
    await loadProbe(driver, probe.url, session);
    const listener = await driver.getWindowHandle();
    await driver.switchTo().newWindow('tab');
    await loadProbe(driver, probe.url, session);
    const sender = await driver.getWindowHandle();

    assert.equal(await driver.executeScript('return window.probePost("from the sender");'), true);
    await onTab(driver, listener);
    let heard = [];
    await driver
      .wait(async () => {
        heard = await receivedIn(driver);
        return heard.length > 0;
      }, 5_000)
      .catch(() => {});
    assert.deepEqual(heard, ['from the sender'], 'the listening tab hears the other tab');

    assert.equal(await driver.executeScript('return window.probePost("from the listener");'), true);
    await onTab(driver, sender);
    await driver
      .wait(async () => {
        heard = await receivedIn(driver);
        return heard.length > 0;
      }, 5_000)
      .catch(() => {});
    assert.deepEqual(heard, ['from the listener'], 'and the other way, never its own posts');
  } catch (error) {
    await browser.screenshots('storage-channel');
    throw error;
  } finally {
    await browser.quit();
    await probe.stop();
  }
});
