// Shared pieces of the end-to-end suite: a reference server per scenario (with the timing
// the scenario needs), Debian's Chromium through playwright-core, sign-in helpers, the
// axe-core accessibility check, page screenshots at desktop and mobile widths, and
// screenshots of every open tab when a scenario fails.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const serverBinary = join(root, 'target', 'release', 'session-guard-server');
const distDir = join(root, 'dist');
export const artifactsDir = join(root, 'e2e', 'artifacts');

// Ports 8200-8299 belong to this suite; each scenario takes the next one.

export const ACCOUNTS = {
  admin: 'admin-demo-pass',
  operator: 'operator-demo-pass',
  viewer: 'viewer-demo-pass',
};

/**
 * Starts the reference server with `flags`; resolves once it listens. Its store is a fresh
 * SQLite file, unless `flags['database-url']` names a PostgreSQL database (several
 * servers may share one).
 */
export async function startServer(flags = {}) {
  for (const path of [serverBinary, join(distDir, 'index.html')]) {
    if (!existsSync(path)) {
      throw new Error(`${path} is missing: run \`cargo xtask test\`, which builds it first`);
    }
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'sg-e2e-'));
  const args = [
    // Port 0: the kernel picks a free port, so suites running side by side never collide.
    '--addr', '127.0.0.1:0',
    '--static-dir', distDir,
    '--fast-password-hashing',
  ];
  if (!('database-url' in flags)) {
    args.push('--db', join(dataDir, 'e2e.sqlite'));
  }
  for (const [flag, value] of Object.entries(flags)) {
    args.push(`--${flag}`, String(value));
  }
  const child = spawn(serverBinary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const port = await new Promise((resolveListening, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 15_000);
    const watch = (chunk) => {
      output += chunk;
      const listening = output.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (listening) {
        clearTimeout(timer);
        resolveListening(Number(listening[1]));
      }
    };
    child.stdout.on('data', watch);
    child.stderr.on('data', watch);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  child.removeAllListeners('exit');
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGINT');
        await new Promise((done) => {
          const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
          child.on('exit', () => {
            clearTimeout(force);
            done();
          });
        });
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Headless Debian Chromium, with the flags this machine's closed network needs. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
}

/**
 * Makes every context of `browser` report Content-Security-Policy violations: a
 * `securitypolicyviolation` listener installed before any page script, and Chromium's own
 * console message. Returns the list the violations are collected in.
 */
export function watchCsp(browser) {
  const violations = [];
  const newContext = browser.newContext.bind(browser);
  // `browser.newPage()` goes through `newContext` too.
  browser.newContext = async (options) => {
    const context = await newContext(options);
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => {
        console.error(
          `CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || 'inline'}`,
        );
      });
    });
    context.on('console', (message) => {
      const text = message.text();
      if (/CSP violation|Content Security Policy/.test(text)) {
        violations.push(`${message.page()?.url() ?? '?'}: ${text}`);
      }
    });
    return context;
  };
  return violations;
}

/**
 * Runs `body` with a server and a browser; on failure saves a screenshot of every open tab
 * under e2e/artifacts/ before rethrowing, and always stops what it started. Every scenario
 * also fails on any Content-Security-Policy violation in any page it opened.
 */
export async function scenario(name, serverFlags, body) {
  const server = await startServer(serverFlags);
  const browser = await launchBrowser();
  const cspViolations = watchCsp(browser);
  try {
    await body({ server, browser, cspViolations });
    if (cspViolations.length > 0) {
      throw new Error(`Content-Security-Policy violations:\n${cspViolations.join('\n')}`);
    }
  } catch (error) {
    mkdirSync(artifactsDir, { recursive: true });
    const safe = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
    let n = 0;
    for (const context of browser.contexts()) {
      for (const page of context.pages()) {
        n += 1;
        await page
          .screenshot({ path: join(artifactsDir, `${safe}-${n}.png`), fullPage: true })
          .catch(() => {});
      }
    }
    throw error;
  } finally {
    await browser.close().catch(() => {});
    await server.stop();
  }
}

/** Signs `user` in on `page` (at `path`, following the login redirect) and answers consent. */
export async function signIn(
  page,
  server,
  user,
  { path = '/dashboard', consent = 'accept', password = ACCOUNTS[user] } = {},
) {
  await page.goto(`${server.url}${path}`);
  await page.waitForURL(/\/login\?/);
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/login'));
  if (consent === 'accept') {
    const accept = page.getByRole('button', { name: 'Accept and continue' });
    await accept.click();
    // The dialog closes once the server has stored the consent; until then every other
    // API call of this session is refused (`403 consent_required`).
    await accept.waitFor({ state: 'detached' });
  } else if (consent === 'decline') {
    await page.getByRole('button', { name: 'Decline' }).click();
  }
}

/** Opens another tab of the same browser context (same cookies, same channel). */
export async function openTab(context, server, path = '/dashboard') {
  const page = await context.newPage();
  await page.goto(`${server.url}${path}`);
  return page;
}

/** `count` tabs of one session of `user` in a new browser context; the first signs in. */
export async function signedInTabs(browser, server, user, count = 2) {
  const context = await browser.newContext();
  const first = await context.newPage();
  await signIn(first, server, user);
  const pages = [first];
  for (let i = 1; i < count; i += 1) {
    const page = await openTab(context, server);
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    pages.push(page);
  }
  return { context, pages };
}

/** Waits for the tab to land on the login page with `reason`; returns the notice text. */
export async function expectLoggedOut(page, reason, timeout = 5_000) {
  await page.waitForURL(
    (url) => url.pathname === '/login' && url.searchParams.get('reason') === reason,
    { timeout },
  );
  const notice = page.locator('.sg-notice[role=alert]');
  await notice.waitFor({ timeout });
  return notice.innerText();
}

/** Waits until every tab shows the login page for `reason`; returns the slowest time. */
export async function allLoggedOut(pages, reason, since) {
  const times = await Promise.all(
    pages.map(async (page) => {
      await expectLoggedOut(page, reason);
      return Date.now() - since;
    }),
  );
  return Math.max(...times);
}

/** A small pointer movement: user activity as the browser reports it. */
export async function wiggle(page) {
  const x = 100 + Math.floor(Math.random() * 200);
  const y = 100 + Math.floor(Math.random() * 200);
  await page.mouse.move(x, y);
  await page.mouse.move(x + 5, y + 5);
}

/** Calls the admin API from `context` (an admin's signed-in browser context). */
export async function adminCall(context, server, method, path, body = {}) {
  const response = await context.request.fetch(`${server.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    data: method === 'GET' ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok()) {
    throw new Error(`${method} ${path}: ${response.status()} ${text}`);
  }
  return text ? JSON.parse(text) : null;
}

/** An admin's own browser context, signed in, for admin actions. */
export async function adminContext(browser, server) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, server, 'admin');
  return { context, page };
}

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

const require = createRequire(import.meta.url);
let axeSource;

/**
 * Runs axe-core (pinned in package-lock.json) over the whole `page` as it is now, dialogs
 * included, and throws listing every violation, so any scenario can check any page or
 * dialog it reaches. The script goes in through the DevTools protocol (`page.evaluate`),
 * not a `<script>` tag, so the console's Content-Security-Policy stays as strict as it is.
 */
export async function expectAccessible(page, what) {
  axeSource ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(axeSource);
  }
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map(
      (v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
    );
  });
  if (violations.length > 0) {
    throw new Error(`axe-core found violations in ${what}:\n${violations.join('\n')}`);
  }
}

/** The widths every page is checked and photographed at. */
export const WIDTHS = [
  { label: 'desktop', width: 1280, height: 800 },
  { label: 'mobile', width: 390, height: 844 },
];

/**
 * At each of WIDTHS: checks `page` with axe-core, checks that nothing makes the page wider
 * than the window, and saves a screenshot as e2e/artifacts/screens/{name}-{width label}.png.
 * Leaves the page at the desktop width.
 */
export async function checkAndCapture(page, name) {
  const dir = join(artifactsDir, 'screens');
  mkdirSync(dir, { recursive: true });
  for (const { label, width, height } of WIDTHS) {
    await page.setViewportSize({ width, height });
    // One frame for the layout to settle at the new width.
    await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => done())));
    await expectAccessible(page, `${name} at ${width} px`);
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    if (overflow > 0) {
      throw new Error(`${name} at ${width} px is ${overflow} px wider than the window`);
    }
    await page.screenshot({ path: join(dir, `${name}-${label}.png`) });
  }
  await page.setViewportSize({ width: WIDTHS[0].width, height: WIDTHS[0].height });
}
