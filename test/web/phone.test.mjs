// The web app calls a phone number through the SIP trunk: `wac serve` with
// trunk.address on SIPp (Debian's sip-tester) playing the trunk on
// loopback, answering and echoing the RTP it gets (-rtp_echo). Alice dials
// the number on the dial pad; the browser's fake microphone (a beep) goes
// to the phone as G.711 and comes back, and the test reads the energy of
// the audio the browser decodes from the phone's track: it grows while
// Alice's microphone is on and stops growing while she is muted. Then the
// hang-up reaches SIPp as BYE (its scenario passes), a number typed in
// the Name or number box goes out as tel: too unless it is someone's
// alias, and the history shows the calls as phone calls. Then SIPp calls
// Alice's number as a phone: she answers on the page that rang. Last,
// Alice schedules a meeting (its dial-in number and PIN show) and joins it
// with her camera on; the call screen shows the room's number, SIPp dials
// it and echoes, and she hears her beep back from the phone.
//
//   cd test/web && npm ci && node --test phone.test.mjs
//   UPDATE_SCREENSHOTS=1 node --test phone.test.mjs   (rewrites docs/screenshots/dialpad.png ...)
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { browserAvailable, chromiumPath, freePort, launchBrowser, openPage, repo, startWac, waitFor } from './lib.mjs';

const screenshotDir = process.env.UPDATE_SCREENSHOTS ? join(repo, 'docs', 'screenshots') : mkdtempSync(join(tmpdir(), 'wac-shots-'));
const NUMBER = '+34986999888';

function sippAvailable() {
  try {
    execFileSync('sipp', ['-v'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // sipp -v exits non-zero on some versions; only a missing program counts.
    return err.code !== 'ENOENT';
  }
}

// In CI (.ci/run exports WAC_TEST_NEED_PROGRAMS) a missing browser or SIPp
// is a failure, not a skip: the test must run there.
const required = process.env.CI || process.env.WAC_TEST_NEED_PROGRAMS;
if (required && !browserAvailable()) throw new Error(`${chromiumPath} is missing: .ci/web.sh installs Debian's chromium`);
if (required && !sippAvailable()) throw new Error('sipp is missing: .ci/run installs Debian\'s sip-tester');
const skip = (!browserAvailable() && `${chromiumPath} is missing (apt-get install chromium)`)
  || (!sippAvailable() && 'sipp is missing (apt-get install sip-tester)');

// runSipp runs a SIPp scenario of internal/sip/testdata/sipp (with its
// words replaced) in a directory of its own under dir. done resolves to
// the process's outcome: null when every call passed the scenario.
function runSipp(dir, scenario, words, args) {
  let text = readFileSync(join(repo, 'internal', 'sip', 'testdata', 'sipp', scenario), 'utf8');
  for (const [k, v] of Object.entries(words)) text = text.replaceAll(k, v);
  const work = mkdtempSync(join(dir, 'sipp-'));
  const file = join(work, scenario);
  writeFileSync(file, text);
  const child = spawn('sipp', ['-sf', file, '-i', '127.0.0.1', '-mi', '127.0.0.1', '-timeout', '120s', '-timeout_error',
    '-trace_err', '-error_file', join(work, 'errors.log'), '-nostdin', ...args],
  { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise((ok) => child.once('exit', (code) => {
    let errs = '';
    try { errs = readFileSync(join(work, 'errors.log'), 'utf8').split('\n').filter((l) => !l.includes('epoll')).join('\n').slice(-2000); } catch { /* none */ }
    ok(code === 0 ? null : `sipp ${scenario} exited with ${code}: ${stderr.slice(-1000)}\n${errs}`);
  }));
  return { child, done };
}

// startTrunk runs SIPp as the trunk: it answers `calls` INVITEs with
// PCMU, echoes the RTP it gets and waits for each BYE.
async function startTrunk(dir, port, calls) {
  return runSipp(dir, 'uas_answer.xml', { FORMATS: '0' },
    ['-m', String(calls), '-p', String(port), '-mp', String(await freePort('udp')), '-rtp_echo']);
}

// receivedAudio sums what the page decodes from its remote audio tracks:
// totalAudioEnergy (the integral of the squared level) and the seconds
// of audio decoded (totalSamplesDuration; the sample rate is the codec's).
function receivedAudio(page) {
  return page.evaluate(async () => {
    let energy = 0;
    let seconds = 0;
    let tracks = 0;
    for (const pc of window.__pcs) {
      if (pc.connectionState === 'closed') continue;
      (await pc.getStats()).forEach((r) => {
        if (r.type !== 'inbound-rtp' || r.kind !== 'audio') return;
        tracks++;
        energy += r.totalAudioEnergy || 0;
        seconds += r.totalSamplesDuration || 0;
      });
    }
    return { energy, seconds, tracks };
  });
}

// energyOver measures the received audio energy over a window of decoded
// audio (seconds of samples, whatever the wall clock does).
async function energyOver(page, seconds) {
  const start = await receivedAudio(page);
  const end = await waitFor(`${seconds} s more of decoded audio`, async () => {
    const now = await receivedAudio(page);
    return now.seconds - start.seconds >= seconds ? now : null;
  }, 30000);
  return end.energy - start.energy;
}

describe('the web app calls a phone through the SIP trunk', { skip }, () => {
  let server;
  let browser;
  let dir;
  let trunk;
  let phone;
  let sipListen;
  let page;
  const errors = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wac-web-sipp-'));
    const trunkPort = await freePort('udp');
    trunk = await startTrunk(dir, trunkPort, 2);
    const rtp = await freePort('udp');
    sipListen = await freePort('udp');
    server = await startWac({
      WAC_TRUNK_ADDRESS: '127.0.0.1', WAC_TRUNK_PORT: String(trunkPort),
      WAC_TRUNK_LISTEN_ADDRESS: '127.0.0.1', WAC_TRUNK_LISTEN_PORT: String(sipListen),
      WAC_TRUNK_RTP_PORT_MIN: String(rtp), WAC_TRUNK_RTP_PORT_MAX: String(rtp),
      WAC_TRUNK_MEDIA_TIMEOUT: '0', WAC_MEETINGS_PSTN_EXTENSION: '+34999999999',
    });
    const alice = await server.createUser('alice', 'alice-password-1');
    // Alice's SIP identity towards the trunk (the INVITE's From).
    await server.api('POST', '/sapi/sipMappings', { ownerUri: `wac-user:${alice.id}`, credential: { username: '205' } });
    // Bob's alias is a number: typed in the box, it calls Bob, not a phone.
    await server.createUser('bob', 'bob-password-1', { alias: '555' });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    for (const p of [trunk, phone]) if (p && p.child.exitCode === null) p.child.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (!process.env.UPDATE_SCREENSHOTS) rmSync(screenshotDir, { recursive: true, force: true });
  });

  let t0 = Date.now();
  const mark = (what) => console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);

  test('Alice dials a number on the pad, SIPp answers and echoes, she hears her microphone back', async () => {
    t0 = Date.now();
    page = await openPage(browser, server, 'alice', errors);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('alice-password-1');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('button', { name: 'Log out' }).waitFor();

    // Dial on the keys, with a wrong digit taken back.
    const pad = page.getByRole('form', { name: 'Dial pad' });
    await pad.getByRole('button', { name: 'Dial +' }).click();
    for (const k of `${NUMBER.slice(1)}7`) await pad.getByRole('button', { name: `Dial ${k}` }).click();
    await pad.getByRole('button', { name: 'Backspace' }).click();
    assert.equal(await pad.getByLabel('Phone number').inputValue(), NUMBER);
    await page.screenshot({ path: join(screenshotDir, 'dialpad.png') });
    await pad.getByRole('button', { name: 'Call the number' }).click();
    mark('dialled');

    const screen = page.locator('section.call');
    await screen.waitFor();
    await screen.getByText(/In call with/).waitFor({ timeout: 30000 });
    mark('answered');
    // The phone's track decodes: G.711 from SIPp's echo.
    await waitFor('audio from the phone', async () => (await receivedAudio(page)).seconds > 1, 30000);
    mark('audio decoded');
    const { tracks } = await receivedAudio(page);
    assert.equal(tracks, 1, 'one remote audio track: the phone');
    // One tile for the phone: its participant and its feed together.
    assert.deepEqual(await screen.locator('figure.tile figcaption').evaluateAll((els) => els.map((e) => e.firstChild.textContent)), [NUMBER]);

    // The echo carries Alice's beep: energy while her microphone is on ...
    const on = await energyOver(page, 3);
    // ... and next to none while she is muted (what still arrives is the
    // echo of the last moments before the mute).
    await screen.getByRole('button', { name: 'Mute' }).click();
    await screen.getByRole('button', { name: 'Unmute', pressed: true }).waitFor();
    await energyOver(page, 1);
    const muted = await energyOver(page, 3);
    await screen.getByRole('button', { name: 'Unmute' }).click();
    const again = await energyOver(page, 3);
    console.log(`received audio energy over 3 s: microphone on ${on.toExponential(3)}, muted ${muted.toExponential(3)}, on again ${again.toExponential(3)}`);
    assert.ok(on > 1e-3, `the phone's audio carries the echoed beep (energy ${on})`);
    assert.ok(muted < on / 20, `muted, the echo goes quiet (energy ${muted} against ${on})`);
    assert.ok(again > on / 4, `unmuted, the echo comes back (energy ${again} against ${on})`);

    // Hanging up sends BYE (SIPp's scenario waits for it).
    await screen.getByRole('button', { name: 'Hang up' }).click();
    await screen.waitFor({ state: 'detached' });
    mark('hung up');

    // A number typed in the "Name or number" box, with separators, goes
    // out as tel: too (nobody in the directory is called that).
    const box = page.getByRole('form', { name: 'Call', exact: true });
    await box.getByLabel('Name or number').fill('+34 986-999-888');
    await box.getByRole('button', { name: 'Audio call' }).click();
    await screen.getByText(`In call with ${NUMBER}`).waitFor({ timeout: 30000 });
    await waitFor('audio from the phone', async () => (await receivedAudio(page)).seconds > 1, 30000);
    assert.ok(await energyOver(page, 2) > 1e-3, 'the second call carries the echoed beep');
    await screen.getByRole('button', { name: 'Hang up' }).click();
    await screen.waitFor({ state: 'detached' });
    const outcome = await trunk.done;
    assert.equal(outcome, null, `${outcome}\nwac's log:\n${server.log.slice(-40).join('\n')}`);
    mark('SIPp answered both calls and got both BYEs');

    // The history shows both as phone calls to the number dialled.
    await page.getByRole('link', { name: 'History' }).click();
    const rows = page.locator('table.history tbody tr');
    await rows.nth(1).waitFor();
    assert.equal(await rows.count(), 2);
    for (const row of await rows.all()) {
      const cells = await row.evaluate((tr) => [...tr.cells].slice(1, 4).map((td) => td.innerText.trim()));
      assert.deepEqual(cells.slice(1), ['outgoing', 'answered']);
      assert.equal(cells[0].replace(/^\u260E\s*/, ''), NUMBER);
      await row.getByRole('img', { name: 'Phone call' }).waitFor();
      await row.getByRole('button', { name: `Call ${NUMBER} back` }).waitFor();
    }
    await page.screenshot({ path: join(screenshotDir, 'history-phone.png') });

    // A number that is someone's alias calls them: Bob (not logged in) is
    // unreachable, where tel:555 would have gone to the trunk.
    await page.getByRole('link', { name: 'Contacts' }).click();
    await box.getByLabel('Name or number').fill('555');
    await box.getByRole('button', { name: 'Audio call' }).click();
    await page.locator('.notice', { hasText: 'unreachable: not connected' }).first().waitFor();
    assert.deepEqual(errors, [], 'console errors or failed requests');
  });

  test('a phone calls Alice\'s number: her page rings "from a phone", she answers, the phone hangs up', async () => {
    await page.getByRole('link', { name: 'Contacts' }).click();
    phone = runSipp(dir, 'uac_call.xml', { PAUSE: '4000' },
      ['-s', '205', '-m', '1', '-p', String(await freePort('udp')), '-mp', String(await freePort('udp')), `127.0.0.1:${sipListen}`]);
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor({ timeout: 30000 });
    assert.match(await dialog.innerText(), /is calling you from a phone\./);
    await dialog.getByRole('button', { name: 'Answer audio only' }).click();
    const screen = page.locator('section.call');
    await screen.getByText(/In call with/).waitFor({ timeout: 30000 });
    // The phone hangs up (BYE): Alice's call screen closes.
    await screen.waitFor({ state: 'detached', timeout: 30000 });
    const outcome = await phone.done;
    assert.equal(outcome, null, `${outcome}\nwac's log:\n${server.log.slice(-40).join('\n')}`);

    await page.getByRole('link', { name: 'History' }).click();
    const row = page.locator('table.history tbody tr').first();
    await row.waitFor();
    const cells = await row.evaluate((tr) => [...tr.cells].slice(1, 4).map((td) => td.innerText.trim()));
    assert.deepEqual(cells.slice(1), ['incoming', 'answered']);
    assert.equal(cells[0].replace(/^\u260E\s*/, ''), '0034986999888', 'the caller\'s number, + as 00');
    await row.getByRole('img', { name: 'Phone call' }).waitFor();
    assert.deepEqual(errors, [], 'console errors or failed requests');
  });

  test('Alice joins a meeting: its dial-in shows, a phone dials the room\'s number, joins, and echoes her back', async () => {
    await page.goto(server.base + '/meetings');
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'Schedule a meeting' }) });
    await form.getByLabel('Name').fill('Phone review');
    const start = await page.evaluate(() => {
      const ms = Date.now() - 60000;
      return new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    });
    await form.getByLabel('Starts').fill(start);
    await form.getByLabel('Participants (users, emails, phone numbers)').fill('bob');
    await form.getByRole('button', { name: 'Schedule' }).click();
    const item = page.locator('.meetings .meeting', { hasText: 'Phone review' });
    await item.waitFor();
    assert.match(await item.innerText(), /Dial \+34999999999, PIN \d{8}/);
    await item.getByRole('button', { name: 'Join Phone review' }).click();
    const screen = page.locator('section.call');
    await screen.waitFor();
    // The room's number, from its sipUri: what a phone dials to join.
    const number = await screen.locator('.dial-in code').innerText();
    assert.match(number, /^888\d{8}$/);
    phone = runSipp(dir, 'uac_dtmf.xml', { PAUSE: '12000' },
      ['-s', number, '-m', '1', '-p', String(await freePort('udp')), '-mp', String(await freePort('udp')), '-rtp_echo', `127.0.0.1:${sipListen}`]);
    await waitFor('audio from the phone', async () => (await receivedAudio(page)).seconds > 1, 30000).catch(async (err) => {
      const outcome = await Promise.race([phone.done, new Promise((r) => setTimeout(() => r('still running'), 100))]);
      const text = await screen.innerText();
      await page.screenshot({ path: join(screenshotDir, 'dial-in-failed.png') });
      throw new Error(`${err.message}; the phone: ${outcome}; screen: ${text}; audio ${JSON.stringify(await receivedAudio(page))}\nwac's log:\n${server.log.slice(-40).join('\n')}`);
    });
    assert.ok(await energyOver(page, 2) > 1e-3, 'the phone in the meeting echoes Alice\'s beep');
    assert.deepEqual(await screen.locator('figure.tile figcaption').evaluateAll((els) => els.map((e) => e.firstChild.textContent)), [NUMBER]);
    await page.screenshot({ path: join(screenshotDir, 'dial-in.png') });
    const outcome = await phone.done;
    assert.equal(outcome, null, `${outcome}\nwac's log:\n${server.log.slice(-40).join('\n')}`);
    await screen.getByRole('button', { name: 'Hang up' }).click();
    await screen.waitFor({ state: 'detached' });
    assert.deepEqual(errors, [], 'console errors or failed requests');
  });
});
