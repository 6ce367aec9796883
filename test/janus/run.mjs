// The browser test of the media server: janus.js (npm janus-gateway) in
// headless Chromium publishes a camera in one page and subscribes to it in
// another, against our server (wac serve) and, when it is installed and a
// test network namespace gives it an interface, against Debian's Janus.
// The subscriber's video must decode frames; any console error fails.
//
//   node test/janus/run.mjs            (from the repository root)
//
// Environment: WAC_BIN (a built wac, else it is built), CHROMIUM
// (default /usr/bin/chromium), JANUS_ICE_IFACE (the interface Janus may
// use; .ci/media.sh sets it inside its network namespace).
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { readFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { here, tempDir, wacBinary, startWac, startJanus, janusInstalled, janusInterface } from './lib.mjs';

const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!existsSync(chromiumPath)) {
  console.log(`SKIP: ${chromiumPath} is missing; the janus.js browser test needs Chromium (apt-get install chromium)`);
  process.exit(0);
}

const files = {
  '/page.html': [join(here, 'page.html'), 'text/html'],
  '/janus.es.js': [join(here, 'node_modules/janus-gateway/npm/dist/janus.es.js'), 'text/javascript'],
  '/adapter.js': [join(here, 'node_modules/webrtc-adapter/out/adapter.js'), 'text/javascript'],
};

function serveStatic() {
  const srv = createServer((req, res) => {
    const f = files[new URL(req.url, 'http://x').pathname];
    if (!f) { res.writeHead(req.url === '/favicon.ico' ? 204 : 404); res.end(); return; }
    res.writeHead(200, { 'Content-Type': f[1] });
    res.end(readFileSync(f[0]));
  });
  return new Promise((ok) => srv.listen(0, '127.0.0.1', () => ok(srv)));
}

async function check(browser, base, server) {
  const room = 1000 + Math.floor(Math.random() * 1e6);
  const token = server.grant(room, 'browser-user');
  const errors = [];
  const context = await browser.newContext();
  const pages = [await context.newPage(), await context.newPage()];
  for (const [i, page] of pages.entries()) {
    const who = i === 0 ? 'publisher' : 'subscriber';
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`${who} console: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`${who} page error: ${e.message}`));
    await page.goto(`${base}/page.html`);
    await page.waitForFunction(() => window.ready === true);
  }
  const started = Date.now();
  const feed = await pages[0].evaluate((o) => window.publish(o), { server: server.ws, room, token });
  await pages[1].evaluate((o) => window.subscribe(o), { server: server.ws, room, token, feed });
  let frames = 0;
  while (Date.now() - started < 30000) {
    frames = await pages[1].evaluate(() => window.framesDecoded());
    if (frames > 0) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  await context.close();
  if (frames <= 0) errors.push('the subscriber decoded no video frame within 30 s');
  return { frames, errors, ms: Date.now() - started };
}

const work = tempDir('wac-browser-test-');
let passed = 0;
let failed = 0;
const targets = [];
let browser;
let web;
try {
  const bin = wacBinary(work);
  web = await serveStatic();
  const base = `http://127.0.0.1:${web.address().port}`;
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'],
  });
  targets.push(() => startWac(bin));
  if (!janusInstalled()) {
    console.log('SKIP janus: /usr/bin/janus is not installed (apt-get install janus)');
  } else if (!janusInterface()) {
    console.log('SKIP janus: Janus gathers no candidate on loopback; run the test as .ci/media.sh does, in a network namespace with JANUS_ICE_IFACE set');
  } else {
    targets.push(() => startJanus(janusInterface()));
  }
  for (const start of targets) {
    let server;
    try {
      server = await start();
      const r = await check(browser, base, server);
      if (r.errors.length === 0) {
        passed++;
        console.log(`ok   ${server.name}: janus.js published and subscribed, ${r.frames} frames decoded after ${r.ms} ms`);
      } else {
        failed++;
        console.log(`FAIL ${server.name}:\n  ${r.errors.join('\n  ')}`);
        console.log(server.log.slice(-80).join('\n'));
      }
    } catch (e) {
      failed++;
      console.log(`FAIL ${server ? server.name : 'start'}: ${e.stack || e}`);
      if (server) console.log(server.log.slice(-80).join('\n'));
    } finally {
      if (server) await server.stop();
    }
  }
} finally {
  if (browser) await browser.close();
  if (web) web.close();
  rmSync(work, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
