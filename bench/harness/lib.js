// Helpers for the bench harness: statistics, the reference server, page bundles, sizes.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';

/** Progress goes to stderr; stdout carries only the JSON report. */
export function log(...parts) {
  process.stderr.write(`[bench] ${parts.join(' ')}\n`);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function median(values) {
  return percentile(values, 50);
}

/** Nearest-rank percentile of `values` (unsorted), or null when there are none. */
export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

const round1 = (x) => (x === null ? null : Math.round(x * 10) / 10);

/** `{p50, p95, min, max, n, failed}` of latency samples in ms. */
export function summary(samples, failed = 0) {
  return {
    p50: round1(percentile(samples, 50)),
    p95: round1(percentile(samples, 95)),
    min: round1(samples.length ? Math.min(...samples) : null),
    max: round1(samples.length ? Math.max(...samples) : null),
    n: samples.length,
    failed,
  };
}

/** Runs `tasks` (functions returning promises) with at most `limit` at a time. */
export async function pool(tasks, limit) {
  const results = new Array(tasks.length);
  let next = 0;
  async function worker() {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]();
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

/** Runs `attempt` `count` times through `pool`; returns the numbers and how many threw. */
export async function sampled(name, count, limit, attempt) {
  const tasks = Array.from({ length: count }, (_, i) => async () => {
    try {
      return await attempt(i);
    } catch (error) {
      log(`${name} sample ${i} failed: ${String(error.message || error).split('\n')[0]}`);
      return null;
    }
  });
  const results = await pool(tasks, limit);
  const samples = results.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return { samples, failed: count - samples.length };
}

/** A free TCP port in 8100-8199 (the range this bench may use). */
export async function freePort(exclude = []) {
  for (let port = 8100; port <= 8199; port++) {
    if (exclude.includes(port)) continue;
    const free = await new Promise((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port in 8100-8199');
}

/** Every process this harness started, so that `stopAll` ends them and nothing else. */
const children = new Set();

/** Starts the reference server and waits until it answers. */
/** The latest lines each started server wrote to stderr, by base URL (for failures). */
const serverStderr = new Map();

/** What the servers this harness started last wrote to stderr, to explain a failed step. */
export function serverErrors() {
  return [...serverStderr].map(([base, tail]) => `${base}:\n${tail() || '(nothing)'}`).join('\n');
}

export async function startServer({ binary, port, staticDir, args, recording = 'off' }) {
  const argv = [
    '--addr', `127.0.0.1:${port}`,
    '--db', ':memory:',
    '--static-dir', staticDir,
    '--recording', recording,
    '--fast-password-hashing',
    ...args,
  ];
  const child = spawn(binary, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  child.on('exit', () => children.delete(child));
  const base = `http://127.0.0.1:${port}`;
  serverStderr.set(base, () => stderr);
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`server exited: ${stderr}`);
    try {
      const response = await fetch(`${base}/api/session`);
      if (response.status === 401) return { base, child, argv };
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`server on ${port} did not start: ${stderr}`);
}

/** Ends every process this harness started (by its own handle, never by name). */
export async function stopAll() {
  const waits = [...children].map(
    (child) =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.kill('SIGTERM');
        setTimeout(() => {
          if (child.exitCode === null) child.kill('SIGKILL');
          resolve();
        }, 3000).unref();
      }),
  );
  await Promise.all(waits);
}

/**
 * The JS and wasm files one built page loads: its wasm, its top-level scripts, and of
 * wasm-bindgen's `snippets/` (the libraries' own JS glue) only those its scripts import,
 * followed from import to import. Trunk copies every snippet the build ever wrote, also
 * those of code the page does not link (and those of code that is gone), so counting the
 * folder would charge the plain page with the guard's glue and hide it from the guard's
 * figure. Raw and gzip (level 9) bytes. Files named in `except` (paths relative to `dir`)
 * are left out: the console's lazily loaded rrweb scripts are reported on their own.
 */
export function pageBytes(dir, except = []) {
  const all = fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .filter((name) => /\.(js|mjs|wasm)$/.test(name) && !except.includes(name))
    .filter((name) => fs.statSync(path.join(dir, name)).isFile());
  const isSnippet = (name) => name.split(path.sep)[0] === 'snippets';
  const loaded = new Set(all.filter((name) => !isSnippet(name)));
  const pending = [...loaded].filter((name) => !name.endsWith('.wasm'));
  while (pending.length > 0) {
    const script = pending.pop();
    const text = fs.readFileSync(path.join(dir, script), 'utf8');
    for (const [, spec] of text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = path.normalize(path.join(path.dirname(script), spec));
      if (!loaded.has(target) && all.includes(target)) {
        loaded.add(target);
        pending.push(target);
      }
    }
  }
  const files = [...loaded].sort().map((name) => path.join(dir, name));
  if (files.length === 0) throw new Error(`no JS or wasm in ${dir}`);
  const out = { raw: 0, gzip: 0, js_raw: 0, js_gzip: 0, wasm_raw: 0, wasm_gzip: 0, files: [] };
  for (const file of files) {
    const bytes = fs.readFileSync(file);
    const gz = zlib.gzipSync(bytes, { level: 9 }).length;
    const kind = file.endsWith('.wasm') ? 'wasm' : 'js';
    out.raw += bytes.length;
    out.gzip += gz;
    out[`${kind}_raw`] += bytes.length;
    out[`${kind}_gzip`] += gz;
    out.files.push(path.relative(dir, file));
  }
  return out;
}

/** One file's raw and gzip (level 9) bytes. */
export function fileBytes(file) {
  const bytes = fs.readFileSync(file);
  return { raw: bytes.length, gzip: zlib.gzipSync(bytes, { level: 9 }).length };
}

/** Copies `from` (files and folders) into `to`. */
export function copyFiles(from, to) {
  // Folders too: the console imports wasm-bindgen's `snippets/`, without which it never
  // starts (the recording figures use the whole console, not only its login page).
  fs.cpSync(from, to, { recursive: true });
}

/** Bundles the React pages with esbuild (production React, minified) into `siteDir`. */
export async function buildPeerPages(benchDir, siteDir) {
  const esbuild = await import('esbuild');
  const pages = [
    { entry: 'peer/peer.jsx', dir: 'peer', title: 'Bench page (react-idle-timer)' },
    { entry: 'peer/plain.jsx', dir: 'peer-plain', title: 'Bench page (React)' },
  ];
  for (const page of pages) {
    const outDir = path.join(siteDir, page.dir);
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.mkdirSync(outDir, { recursive: true });
    await esbuild.build({
      entryPoints: [path.join(benchDir, page.entry)],
      bundle: true,
      minify: true,
      format: 'esm',
      target: 'es2020',
      jsx: 'automatic',
      legalComments: 'none',
      define: { 'process.env.NODE_ENV': '"production"' },
      outfile: path.join(outDir, 'app.js'),
      logLevel: 'warning',
    });
    fs.writeFileSync(
      path.join(outDir, 'index.html'),
      `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>${page.title}</title>
    <link rel="icon" href="data:," />
    <script type="module" src="/${page.dir}/app.js"></script>
  </head>
  <body><div id="root"></div></body>
</html>
`,
    );
  }
}

/**
 * An HTTPS + HTTP/2 front for `upstream` (how a console is deployed: TLS terminates at a
 * proxy that speaks HTTP/2 to browsers). Over plain HTTP/1.1 Chromium opens at most 6
 * connections per host, and every guard tab holds one for its push stream; over HTTP/2 all
 * tabs share one connection. The certificate is self-signed, made with openssl for this run.
 */
export async function startHttp2Proxy({ port, upstream, certDir }) {
  const http2 = await import('node:http2');
  const http = await import('node:http');
  const { execFileSync } = await import('node:child_process');
  fs.mkdirSync(certDir, { recursive: true });
  const key = path.join(certDir, 'key.pem');
  const cert = path.join(certDir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });
  const target = new URL(upstream);
  const server = http2.createSecureServer({
    key: fs.readFileSync(key),
    cert: fs.readFileSync(cert),
    allowHTTP1: true, // the harness's own API client speaks HTTP/1.1; Chromium picks h2
  });
  // The compatibility API serves both protocols with one handler.
  server.on('request', (req, res) => {
    const forwarded = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!name.startsWith(':') && !['connection', 'keep-alive', 'host'].includes(name)) forwarded[name] = value;
    }
    forwarded.host = target.host;
    forwarded['x-forwarded-proto'] = 'https';
    const upstreamRequest = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: forwarded },
      (response) => {
        const out = {};
        for (const [name, value] of Object.entries(response.headers)) {
          if (!['connection', 'keep-alive', 'transfer-encoding', 'upgrade'].includes(name)) out[name] = value;
        }
        res.writeHead(response.statusCode, out);
        response.pipe(res);
      },
    );
    upstreamRequest.on('error', () => res.destroy());
    res.on('close', () => upstreamRequest.destroy());
    req.pipe(upstreamRequest);
  });
  server.on('sessionError', () => {});
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    base: `https://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        setTimeout(resolve, 2000).unref();
      }),
  };
}
