// Helpers of the web app's browser tests and benchmark: build and start
// `wac serve`, create users through the REST API, and open pages in
// headless Chromium that record every console error and failed request.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '..', '..');
export const ADMIN_PASSWORD = 'admin-secret-1';

export const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

export function freePort(kind) {
  return new Promise((ok, fail) => {
    if (kind === 'udp') {
      const s = createSocket('udp4');
      s.on('error', fail);
      s.bind(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => ok(port));
      });
      return;
    }
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

let builtBinary = '';

// wacBinary builds cmd/wac once per run (or takes $WAC_BIN).
export function wacBinary() {
  if (process.env.WAC_BIN) return process.env.WAC_BIN;
  if (!builtBinary) {
    const dir = mkdtempSync(join(tmpdir(), 'wac-web-bin-'));
    builtBinary = join(dir, 'wac');
    execFileSync('go', ['build', '-o', builtBinary, './cmd/wac'], { cwd: repo, stdio: 'inherit' });
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return builtBinary;
}

// startWac runs `wac serve` on free ports with a temporary data directory:
// media on 127.0.0.1 only, TURN off. env adds configuration overrides.
export async function startWac(env = {}) {
  const data = mkdtempSync(join(tmpdir(), 'wac-web-data-'));
  const port = await freePort('tcp');
  const udp = await freePort('udp');
  const child = spawn(wacBinary(), ['serve', '--data', data, '--listen', `127.0.0.1:${port}`], {
    env: {
      ...process.env,
      WAC_ADMIN_PASSWORD: ADMIN_PASSWORD,
      WAC_HTTP_DDOS_PROTECTION: 'false',
      WAC_MEDIA_LISTEN_IP: '127.0.0.1',
      WAC_MEDIA_UDP_PORT: String(udp),
      WAC_TURN_ENABLED: 'false',
      WAC_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (d) => {
      for (const l of d.split('\n')) if (l) log.push(l);
      if (log.length > 2000) log.splice(0, log.length - 2000);
    });
  }
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wac serve exited with ${child.exitCode}:\n${log.join('\n')}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error('wac serve did not start within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const server = {
    base, log,
    async token(username, password) {
      const r = await fetch(`${base}/sapi/o/token`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ grant_type: 'password', username, password }),
      });
      if (!r.ok) throw new Error(`login ${username}: ${r.status} ${await r.text()}`);
      return (await r.json()).access_token;
    },
    // api calls the REST API as the admin.
    async api(method, path, body) {
      server.adminToken ??= await server.token('admin@wac', ADMIN_PASSWORD);
      const r = await fetch(base + path, {
        method, headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${server.adminToken}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    },
    createUser(username, password, extra = {}) {
      return server.api('POST', '/sapi/users', { username, password, email: `${username}@example.com`, ...extra });
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      rmSync(data, { recursive: true, force: true });
    },
  };
  return server;
}

// launchBrowser starts headless Chromium with fake camera and microphone.
// Loopback ICE candidates are allowed because the media server listens on
// 127.0.0.1 only.
export function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'],
  });
}

// Every RTCPeerConnection a page makes is kept in window.__pcs, so the tests
// can read what the app receives (getStats) without hooks in the app.
function trackPeerConnections() {
  const Native = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__pcs.push(this);
    }
  };
}

// openPage opens a page in a new browser context (a device of its own) and
// records into errors every console error, uncaught exception, failed
// request and HTTP error answer.
export async function openPage(browser, server, name, errors, viewport = { width: 1100, height: 760 }) {
  const context = await browser.newContext({ viewport });
  await context.addInitScript(trackPeerConnections);
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${name}: console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`${name}: page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // net::ERR_ABORTED is the browser cancelling a request itself (the
    // page navigated while its icon loaded); a server that fails answers
    // with an HTTP error (below) or another network error.
    const why = r.failure()?.errorText;
    if (!page.isClosed() && why !== 'net::ERR_ABORTED') errors.push(`${name}: request failed: ${r.method()} ${r.url()} ${why}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`${name}: HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
  });
  await page.goto(server.base + '/');
  return page;
}

// mediaStats sums what a page's PeerConnections receive: decoded video
// frames and audio samples per remote stream (inbound-rtp).
export function mediaStats(page) {
  return page.evaluate(async () => {
    const out = [];
    for (const pc of window.__pcs) {
      if (pc.connectionState === 'closed') continue;
      const stats = await pc.getStats();
      let frames = 0;
      let samples = 0;
      let inbound = false;
      stats.forEach((r) => {
        if (r.type !== 'inbound-rtp') return;
        inbound = true;
        if (r.kind === 'video') frames += r.framesDecoded || 0;
        if (r.kind === 'audio') samples += r.totalSamplesReceived || 0;
      });
      if (inbound) out.push({ frames, samples });
    }
    return out;
  });
}

// waitFor polls cond until it is truthy (no timed assertion: only a limit).
export async function waitFor(what, cond, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await cond();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function browserAvailable() {
  return existsSync(chromiumPath);
}
