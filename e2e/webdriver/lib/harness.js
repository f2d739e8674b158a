// The multi-tab scenarios in Chromium, Firefox and WebKit through W3C WebDriver
// (selenium-webdriver).
//
// playwright-core drives Firefox and WebKit only through its own patched builds of them,
// which cannot be downloaded here; Debian's Chromium, Firefox ESR and WebKitGTK each come
// with a W3C WebDriver server (chromedriver, geckodriver, WebKitWebDriver). This harness
// starts the engine's driver on a free port itself and connects to it (selenium's own
// driver download never runs), one driver process per browser: one WebKitWebDriver holds
// one session, so a second browser is a second isolated profile, like a second playwright
// context.
//
// The engine comes from SG_ENGINE: `chromium` (chromedriver, headless), `firefox`
// (geckodriver, headless Firefox ESR) or `webkit` (WebKitWebDriver and its MiniBrowser,
// which has no headless mode: it needs an X display in DISPLAY). Servers and screenshots
// on failure work as in the playwright harness.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Builder, By, until } from 'selenium-webdriver';
import { ACCOUNTS, artifactsDir, sleep, startServer } from '../../lib/harness.js';

export { ACCOUNTS, sleep };

export const ENGINE = process.env.SG_ENGINE || 'firefox';

/** The first of `candidates` that exists, or the bare name for PATH. */
function pick(envName, candidates, fallback) {
  return process.env[envName] || candidates.find((path) => existsSync(path)) || fallback;
}

const ENGINES = {
  firefox: {
    driver: () => pick('GECKODRIVER', [join(process.env.HOME || '', '.cargo/bin/geckodriver')], 'geckodriver'),
    args: (port) => ['--host', '127.0.0.1', '--port', String(port)],
    capabilities: () => ({
      browserName: 'firefox',
      'moz:firefoxOptions': {
        binary: pick('FIREFOX_PATH', ['/usr/bin/firefox-esr', '/usr/bin/firefox'], 'firefox'),
        args: ['-headless', '-width', '1280', '-height', '900'],
      },
    }),
  },
  webkit: {
    driver: () => pick('WEBKIT_WEBDRIVER', ['/usr/bin/WebKitWebDriver'], 'WebKitWebDriver'),
    args: (port) => [`--port=${port}`],
    // No headless mode: MiniBrowser needs the X display in DISPLAY (xtask starts an Xvfb).
    capabilities: () => ({ browserName: 'MiniBrowser' }),
  },
  chromium: {
    driver: () => pick('CHROMEDRIVER', ['/usr/bin/chromedriver'], 'chromedriver'),
    args: (port) => [`--port=${port}`],
    capabilities: () => ({
      browserName: 'chrome',
      'goog:chromeOptions': {
        binary: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
        args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
      },
    }),
  },
};

function engine() {
  const chosen = ENGINES[ENGINE];
  if (!chosen) {
    throw new Error(`SG_ENGINE=${ENGINE}: expected one of ${Object.keys(ENGINES).join(', ')}`);
  }
  if (ENGINE === 'webkit' && !process.env.DISPLAY) {
    throw new Error('WebKit needs an X display: run through `cargo xtask test`, or set DISPLAY');
  }
  return chosen;
}

/** A port the kernel had free a moment ago (drivers take a port number, not 0). */
function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolvePort(port));
    });
  });
}

// Driver processes still running: a scenario that timed out may leave one behind, and it
// must neither keep node waiting nor outlive the run.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts the engine's WebDriver server and waits until it answers `/status`. */
async function startDriver() {
  // The free port may be taken in the instant before the driver binds it; the driver then
  // exits at once, and another port is tried.
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startDriverOn(await freePort());
    } catch (error) {
      if (!error.exitedEarly || attempt === 3) throw error;
    }
  }
}

async function startDriverOn(port) {
  const chosen = engine();
  const child = spawn(chosen.driver(), chosen.args(port), { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.on('exit', () => running.delete(child));
  child.unref();
  let output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk) => { output += chunk; });
    stream.unref();
  }
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      const error = new Error(`${chosen.driver()} exited with ${child.exitCode}:\n${output}`);
      error.exitedEarly = true;
      throw error;
    }
    const ready = await fetch(`${url}/status`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${chosen.driver()} did not answer on ${url}:\n${output}`);
    }
    await sleep(100);
  }
  return {
    url,
    stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
    },
  };
}

/** One browser: its own driver process and profile. `quit()` ends both. */
export async function openBrowser() {
  const server = await startDriver();
  let driver;
  try {
    driver = await new Builder()
      .usingServer(server.url)
      .withCapabilities(engine().capabilities())
      .build();
    await driver.manage().setTimeouts({ pageLoad: 15_000, script: 10_000 });
  } catch (error) {
    server.stop();
    throw error;
  }
  return {
    driver,
    /** Saves a screenshot of every window under e2e/artifacts/, named after `name`. */
    async screenshots(name) {
      mkdirSync(artifactsDir, { recursive: true });
      const safe = `${ENGINE}-${name}`.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
      const handles = await driver.getAllWindowHandles().catch(() => []);
      for (const [i, handle] of handles.entries()) {
        try {
          await driver.switchTo().window(handle);
          // WebKit never answers a screenshot of a background tab: give up after a while.
          const png = await Promise.race([
            driver.takeScreenshot(),
            sleep(5_000).then(() => {
              throw new Error('no screenshot');
            }),
          ]);
          writeFileSync(join(artifactsDir, `${safe}-${i + 1}.png`), png, 'base64');
        } catch {
          // A window that is gone or cannot be captured: the others still are.
        }
      }
    },
    async quit() {
      await driver.quit().catch(() => {});
      server.stop();
    },
  };
}

/**
 * Runs `body` with a server and a way to open browsers; on failure saves a screenshot of
 * every window of every browser under e2e/artifacts/ before rethrowing, and always stops
 * what it started.
 */
export async function scenario(name, serverFlags, body) {
  const server = await startServer(serverFlags);
  const browsers = [];
  const open = async () => {
    const browser = await openBrowser();
    browsers.push(browser);
    return browser.driver;
  };
  try {
    await body({ server, openBrowser: open });
  } catch (error) {
    for (const [i, browser] of browsers.entries()) {
      await browser.screenshots(`${name}-browser-${i + 1}`);
    }
    throw error;
  } finally {
    for (const browser of browsers) {
      await browser.quit();
    }
    await server.stop();
  }
}

/** XPath string literal for `text` (the labels used here hold no quotes). */
const button = (label) => By.xpath(`//button[normalize-space()='${label}']`);
const link = (label) => By.xpath(`//a[normalize-space()='${label}']`);
export const locate = { button, link };

/** Waits until the current tab's URL satisfies `predicate`. */
export async function waitForUrl(driver, predicate, timeout = 5_000, what = 'the expected URL') {
  let last = '';
  await driver
    .wait(async () => {
      last = await driver.getCurrentUrl();
      return predicate(new URL(last));
    }, timeout)
    .catch(() => {
      throw new Error(`waited ${timeout} ms for ${what}; still on ${last}`);
    });
}

/** Waits for an element in the current tab and returns it. */
export async function waitFor(driver, locator, timeout = 5_000) {
  return driver.wait(until.elementLocated(locator), timeout, `no ${locator} after ${timeout} ms`);
}

/** Signs `user` in on the current tab (at `path`, following the login redirect). */
export async function signIn(
  driver,
  server,
  user,
  { path = '/dashboard', consent = 'accept', password = ACCOUNTS[user] } = {},
) {
  await driver.get(`${server.url}${path}`);
  await waitForUrl(driver, (url) => url.pathname === '/login', 5_000, 'the login page');
  await (await waitFor(driver, By.id('username'))).sendKeys(user);
  await driver.findElement(By.id('password')).sendKeys(password);
  await driver.findElement(button('Sign in')).click();
  await waitForUrl(driver, (url) => !url.pathname.startsWith('/login'), 5_000, 'the signed-in page');
  if (consent === 'accept') {
    await (await waitFor(driver, button('Accept and continue'))).click();
  }
}

/** Opens a new tab in the same browser at `path` and returns its handle (now current). */
export async function openTab(driver, server, path = '/dashboard') {
  await driver.switchTo().newWindow('tab');
  await driver.get(`${server.url}${path}`);
  return driver.getWindowHandle();
}

/** Switches to the tab `handle` (which the user returning to it counts as activity). */
export async function onTab(driver, handle) {
  await driver.switchTo().window(handle);
}

/** Waits for the current tab to land on the login page with `reason`; returns the notice. */
export async function expectLoggedOut(driver, reason, timeout = 5_000) {
  await waitForUrl(
    driver,
    (url) => url.pathname === '/login' && url.searchParams.get('reason') === reason,
    timeout,
    `the login page with reason=${reason}`,
  );
  return (await waitFor(driver, By.css('.sg-notice[role=alert]'), timeout)).getText();
}

/**
 * Starts a record, kept in the tab's sessionStorage across its navigation to the login
 * page, of when an idle warning first showed and when the page was left. Watching this
 * way, instead of switching to the tab, leaves the tab alone: a tab coming to the front is
 * the user returning, which the guard rightly counts as activity.
 */
export async function watchTab(driver) {
  await driver.executeScript(`
    const note = (key) => { if (!sessionStorage.getItem(key)) sessionStorage.setItem(key, String(Date.now())); };
    const look = () => { if (document.querySelector('[role=alertdialog]')) note('e2e-warning-at'); };
    new MutationObserver(look).observe(document.documentElement, { childList: true, subtree: true });
    look();
    addEventListener('pagehide', () => note('e2e-left-at'));
  `);
}

/** What `watchTab` recorded in the current tab: epoch ms or null for each. */
export async function watched(driver) {
  return driver.executeScript(`
    const at = (key) => { const v = sessionStorage.getItem(key); return v === null ? null : Number(v); };
    return { warningAt: at('e2e-warning-at'), leftAt: at('e2e-left-at') };
  `);
}

/** A small pointer movement in the current tab: user activity as the browser reports it. */
export async function wiggle(driver) {
  const x = 100 + Math.floor(Math.random() * 200);
  const y = 100 + Math.floor(Math.random() * 200);
  await driver.actions().move({ x, y }).move({ x: x + 5, y: y + 5 }).perform();
}

/**
 * An administrator's API client, signed in from node (no browser needed for admin
 * actions): `call(method, path, body)` returns the parsed JSON answer.
 */
export async function adminClient(server) {
  const login = await fetch(`${server.url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: ACCOUNTS.admin }),
  });
  if (!login.ok) {
    throw new Error(`admin sign-in: ${login.status} ${await login.text()}`);
  }
  const cookie = login.headers
    .getSetCookie()
    .map((line) => line.split(';')[0])
    .join('; ');
  await fetch(`${server.url}/api/session/consent`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie },
    body: JSON.stringify({ accepted: true }),
  });
  return {
    async call(method, path, body = {}) {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', cookie },
        body: method === 'GET' ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      if (!response.ok) {
        throw new Error(`${method} ${path}: ${response.status} ${text}`);
      }
      return text ? JSON.parse(text) : null;
    },
  };
}
