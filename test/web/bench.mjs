// The web app's measurements (docs/benchmarks.md, "Web app and SDK"): time
// from Alice's click to Bob's ring, from Bob's answer to the first remote
// video frame shown on each side, the bundle sizes, and the first load.
//
//   cd test/web && npm ci && node bench.mjs [rounds]   (WAC_BIN=... to skip go build)
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { launchBrowser, openPage, repo, startWac } from './lib.mjs';

const rounds = Number(process.argv[2] || 10);

// Timestamps in the page: when an incoming dialog appears, and when each
// remote video shows its first frame (requestVideoFrameCallback).
function instrument() {
  window.__marks = {};
  new MutationObserver(() => {
    if (!window.__marks.ring && document.querySelector('[role="alertdialog"]')) window.__marks.ring = Date.now();
    for (const v of document.querySelectorAll('.tile video')) {
      if (v.__watched) continue;
      v.__watched = true;
      v.requestVideoFrameCallback(() => { window.__marks.frame ??= Date.now(); });
    }
  }).observe(document.body, { childList: true, subtree: true });
}

const clickButton = (page, label) => page.evaluate((l) => {
  const b = [...document.querySelectorAll('button')].find((x) => (x.getAttribute('aria-label') || x.textContent) === l);
  const t = Date.now();
  b.click();
  return t;
}, label);

async function mark(page, name) {
  await page.waitForFunction((n) => window.__marks?.[n], name, { timeout: 30000 });
  return page.evaluate((n) => window.__marks[n], name);
}

async function login(page, u, p) {
  await page.getByLabel('Username').fill(u);
  await page.getByLabel('Password').fill(p);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const stats = (xs) => `median ${median(xs)} ms, min ${Math.min(...xs)}, max ${Math.max(...xs)}`;

const server = await startWac();
const browser = await launchBrowser();
const errors = [];
try {
  await server.createUser('alice', 'alice-password-1');
  await server.createUser('bob', 'bob-password-1');
  const alice = await openPage(browser, server, 'alice', errors);
  const bob = await openPage(browser, server, 'bob', errors);
  await login(alice, 'alice', 'alice-password-1');
  await login(bob, 'bob', 'bob-password-1');
  const ring = [];
  const frameAlice = [];
  const frameBob = [];
  for (let i = 0; i < rounds; i++) {
    await alice.evaluate(instrument);
    await bob.evaluate(instrument);
    const clicked = await clickButton(alice, 'Video call bob');
    ring.push((await mark(bob, 'ring')) - clicked);
    await bob.getByRole('button', { name: 'Answer with video' }).waitFor();
    const answered = await clickButton(bob, 'Answer with video');
    frameAlice.push((await mark(alice, 'frame')) - answered);
    frameBob.push((await mark(bob, 'frame')) - answered);
    await alice.getByRole('button', { name: 'Hang up' }).click();
    await bob.locator('section.call').waitFor({ state: 'detached' });
    await alice.locator('section.call').waitFor({ state: 'detached' });
  }
  const loads = [];
  for (let i = 0; i < rounds; i++) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const t0 = Date.now();
    await page.goto(server.base + '/');
    await page.getByLabel('Username').waitFor();
    const shown = Date.now() - t0;
    const nav = await page.evaluate(() => performance.getEntriesByType('navigation')[0].toJSON());
    loads.push({ shown, load: Math.round(nav.loadEventEnd), bytes: nav.transferSize });
    await ctx.close();
  }
  const gz = (f) => gzipSync(readFileSync(f), { level: 9 }).length;
  const sdk = join(repo, 'sdk/js/dist/openwac.js');
  const assets = readdirSync(join(repo, 'web/dist/assets')).map((f) => join(repo, 'web/dist/assets', f));
  const app = [join(repo, 'web/dist/index.html'), ...assets];
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  const sum = (fs, fn) => fs.reduce((a, f) => a + fn(f), 0);
  console.log(`rounds: ${rounds}`);
  console.log(`click to ring (Alice's click to Bob's incoming dialog): ${stats(ring)}`);
  console.log(`answer to first remote frame on Alice's side: ${stats(frameAlice)}`);
  console.log(`answer to first remote frame on Bob's side: ${stats(frameBob)}`);
  console.log(`SDK bundle sdk/js/dist/openwac.js: ${kb(readFileSync(sdk).length)}, gzipped ${kb(gz(sdk))}`);
  console.log(`web app (index.html + assets, SDK included): ${kb(sum(app, (f) => readFileSync(f).length))}, gzipped ${kb(sum(app, gz))}`);
  console.log(`first load, cold cache, to the login form shown: ${stats(loads.map((l) => l.shown))}; load event ${stats(loads.map((l) => l.load))}`);
  if (errors.length) {
    // Figures from a run with page errors are not to be recorded.
    console.log(`page errors:\n${errors.join('\n')}`);
    process.exitCode = 1;
  }
} finally {
  await browser.close();
  await server.stop();
}
