// The web app in headless Chromium against `wac serve`: calls between
// devices (mute and hold included), declines and timeouts, a quick
// conference of three, a blind transfer, guests by a shared link, a meeting
// scheduled on the Meetings page and joined by a guest through its link, and the
// admin pages. Any console error or failed request fails the test.
//
//   cd test/web && npm ci && npm test          (WAC_BIN=... to skip go build)
//   UPDATE_SCREENSHOTS=1 npm test              (rewrites docs/screenshots/*.png)
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { browserAvailable, chromiumPath, launchBrowser, mediaStats, openPage, repo, startWac, waitFor } from './lib.mjs';

const screenshotDir = process.env.UPDATE_SCREENSHOTS ? join(repo, 'docs', 'screenshots') : mkdtempSync(join(tmpdir(), 'wac-shots-'));
const RING_TIMEOUT_MS = 8000;
const REMOVE_AFTER_MS = 600000;

let server;
let browser;
const errors = [];
const pages = {};

async function shot(page, name) {
  await page.screenshot({ path: join(screenshotDir, `${name}.png`) });
}

async function login(page, username, password) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

async function device(name, username, password) {
  const page = await openPage(browser, server, name, errors);
  await login(page, username, password);
  pages[name] = page;
  return page;
}

// historyRows opens the call history and reads its rows, newest first:
// the texts of the columns When, With, Direction, Outcome and Duration.
async function historyRows(page) {
  await page.getByRole('link', { name: 'History' }).click();
  const rows = page.locator('table.history tbody tr');
  await rows.first().waitFor();
  return rows.evaluateAll((trs) => trs.map((tr) => [...tr.cells].slice(0, 5).map((td) => td.innerText.trim())));
}

// The With column's names, sorted.
const names = (cell) => cell.split(', ').sort();

const incoming = (page) => page.getByRole('alertdialog');
const callScreen = (page) => page.locator('section.call');

// receives waits until a page decodes video and audio from `count` remote streams.
function receives(page, count) {
  return waitFor(`${count} remote streams with decoded video and audio`, async () => {
    const s = await mediaStats(page);
    return s.filter((x) => x.frames > 0 && x.samples > 0).length >= count;
  }, 45000);
}

// sentTracks lists, by kind, whether each track a page sends is enabled.
function sentTracks(page) {
  return page.evaluate(() => {
    const out = { audio: [], video: [] };
    for (const pc of window.__pcs) {
      if (pc.connectionState === 'closed') continue;
      for (const s of pc.getSenders()) if (s.track) out[s.track.kind].push(s.track.enabled);
    }
    return out;
  });
}

// notice waits for a message in the page's notice area; failing, it tells
// what the page showed instead.
async function notice(page, text) {
  try {
    await page.locator('.notice', { hasText: text }).first().waitFor();
  } catch (err) {
    err.message += `\nthe page shows:\n${await page.locator('body').innerText()}`;
    throw err;
  }
}

// In CI a missing browser is a failure, not a skip: the suite must run there.
if (process.env.CI && !browserAvailable()) throw new Error(`${chromiumPath} is missing: .ci/web.sh installs Debian's chromium`);

describe('web app in Chromium', { skip: !browserAvailable() && `${chromiumPath} is missing (apt-get install chromium)` }, () => {
  before(async () => {
    server = await startWac({
      WAC_WATCHDOG_INVITES_EXPIRATION: String(RING_TIMEOUT_MS), WAC_WATCHDOG_INVITES_PERIOD: '250',
      // A dropped session is kept this long for a resume: far longer than
      // any wait here, so that a session a page left behind stays listed.
      WAC_ROOMS_REMOVE_AFTER: String(REMOVE_AFTER_MS), WAC_INVITES_BASIC_REMOVE_AFTER: String(REMOVE_AFTER_MS),
    });
    for (const u of ['alice', 'bob', 'carol']) await server.createUser(u, `${u}-password-1`);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    if (!process.env.UPDATE_SCREENSHOTS) rmSync(screenshotDir, { recursive: true, force: true });
  });

  afterEach(() => {
    const found = errors.splice(0);
    assert.deepEqual(found, [], 'console errors or failed requests');
  });

  test('a video call rings both of Bob\'s devices, one answers, both sides see each other, history', async () => {
    const alice = await openPage(browser, server, 'alice', errors);
    await alice.getByLabel('Username').waitFor();
    await shot(alice, 'login');
    await login(alice, 'alice', 'alice-password-1');
    pages.alice = alice;
    const bob1 = await device('bob1', 'bob', 'bob-password-1');
    const bob2 = await device('bob2', 'bob', 'bob-password-1');
    await alice.getByRole('button', { name: 'Video call bob' }).waitFor();
    await shot(alice, 'directory');

    await alice.getByRole('button', { name: 'Video call bob' }).click();
    await incoming(bob1).waitFor();
    await incoming(bob2).waitFor();
    assert.match(await incoming(bob1).innerText(), /alice is calling you/);
    await callScreen(alice).getByText('Ringing bob').waitFor();
    await shot(bob1, 'incoming-call');

    await bob1.getByRole('button', { name: 'Answer with video' }).click();
    await incoming(bob2).waitFor({ state: 'detached' });
    await notice(bob2, 'answered on another device');
    await receives(alice, 1);
    await receives(bob1, 1);
    await callScreen(alice).getByText('In call with bob').waitFor();
    await shot(alice, 'call');

    // Mute: Alice's microphone track is off until she unmutes.
    await callScreen(alice).getByRole('button', { name: 'Mute' }).click();
    await callScreen(alice).getByRole('button', { name: 'Unmute', pressed: true }).waitFor();
    assert.deepEqual(await sentTracks(alice), { audio: [false], video: [true] });
    await callScreen(alice).getByRole('button', { name: 'Unmute' }).click();
    await callScreen(alice).getByRole('button', { name: 'Mute', pressed: false }).waitFor();
    assert.deepEqual(await sentTracks(alice), { audio: [true], video: [true] });

    // Hold: Bob is told and Alice sends nothing until she resumes.
    await callScreen(alice).getByRole('button', { name: 'Hold' }).click();
    await callScreen(alice).getByText('You put the call on hold.').waitFor();
    await callScreen(bob1).getByText(/alice put the call on hold\.|On hold\./).waitFor();
    assert.deepEqual(await sentTracks(alice), { audio: [false], video: [false] });
    await callScreen(alice).getByRole('button', { name: 'Resume', pressed: true }).click();
    await callScreen(alice).getByText('In call with bob').waitFor();
    await callScreen(bob1).getByText('In call with alice').waitFor();
    assert.deepEqual(await sentTracks(alice), { audio: [true], video: [true] });

    await callScreen(alice).getByRole('button', { name: 'Hang up' }).click();
    await callScreen(alice).waitFor({ state: 'detached' });
    await callScreen(bob1).waitFor({ state: 'detached' });
    await notice(bob1, 'alice ended the call');

    // The history names the other by username (a registered user, not "a
    // guest": the record's target is the dialled name, not a user id).
    for (const [page, other, direction] of [[alice, 'bob', 'outgoing'], [bob1, 'alice', 'incoming']]) {
      const [row] = await historyRows(page);
      assert.deepEqual(row.slice(1, 4), [other, direction, 'answered'], `${other}'s call in the history`);
    }
  });

  test('Alice sees "declined" only after Bob declined on both devices; nobody answering times out', async () => {
    const { alice, bob1, bob2 } = pages;
    await alice.getByRole('link', { name: 'Contacts' }).click();
    await alice.getByRole('button', { name: 'Audio call bob' }).click();
    await incoming(bob1).waitFor();
    await incoming(bob2).waitFor();
    assert.match(await incoming(bob1).innerText(), /Incoming audio call/);
    await bob1.getByRole('button', { name: 'Decline' }).click();
    await incoming(bob1).waitFor({ state: 'detached' });
    // The other device still rings, and Alice is told nothing yet.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await incoming(bob2).count(), 1, 'bob2 stopped ringing after bob1 declined');
    assert.equal(await alice.getByText('declined').count(), 0, 'Alice was told before the last device declined');
    await callScreen(alice).getByText('Ringing bob').waitFor();
    await bob2.getByRole('button', { name: 'Decline' }).click();
    await notice(alice, 'bob declined the call.');
    await callScreen(alice).waitFor({ state: 'detached' });

    await alice.getByRole('button', { name: 'Video call bob' }).click();
    await incoming(bob1).waitFor();
    await incoming(bob2).waitFor();
    await notice(alice, 'bob did not answer.');
    await incoming(bob1).waitFor({ state: 'detached' });
    await incoming(bob2).waitFor({ state: 'detached' });
    await notice(bob1, 'Missed call from alice');
  });

  test('three users in a quick conference all receive each other\'s audio and video', async () => {
    const { alice, bob1 } = pages;
    await bob1.getByRole('link', { name: 'Contacts' }).click();
    const carol = await device('carol', 'carol', 'carol-password-1');
    await alice.getByRole('button', { name: 'Start a new conference' }).click();
    await callScreen(alice).waitFor();
    const link = await callScreen(alice).locator('.share a').getAttribute('href');
    assert.match(link, /\/conference\/wac-conf\d{20}$/);
    const before = await server.api('GET', '/sapi/sessions');
    await bob1.goto(link);
    await carol.goto(link);
    for (const page of [alice, bob1, carol]) await receives(page, 2);
    await callScreen(carol).getByText(/In call with (alice, bob|bob, alice)/).waitFor();
    await shot(alice, 'conference');
    // The pages that navigated away ended their sessions: none is left
    // behind as a "reconnecting" device for removeAfter.
    await waitFor('the sessions of the pages that went away to end', async () => {
      const now = await server.api('GET', '/sapi/sessions');
      const gone = before.filter((s) => !now.some((n) => n.id === s.id)).map((s) => s.username).sort();
      return gone.join() === 'bob,carol' && now.every((s) => s.connected);
    });
    for (const page of [carol, bob1, alice]) {
      await callScreen(page).getByRole('button', { name: 'Hang up' }).click();
      await callScreen(page).waitFor({ state: 'detached' });
    }
    // Alice started the conference: outgoing for her, incoming for Carol.
    const [mine] = await historyRows(alice);
    assert.deepEqual([names(mine[1]), mine[2], mine[3]], [['bob', 'carol'], 'outgoing', 'answered'], 'the conference in Alice\'s history');
    const [carols] = await historyRows(carol);
    assert.deepEqual([names(carols[1]), carols[2], carols[3]], [['alice', 'bob'], 'incoming', 'answered'], 'the conference in Carol\'s history');
    const dismiss = alice.locator('.notices').getByRole('button', { name: 'Dismiss' });
    while (await dismiss.count() > 0) await dismiss.first().click();
    await shot(alice, 'history');
  });

  test('Alice transfers her call with Bob to Carol: Carol rings, answers, and talks with Bob', async () => {
    const { alice, bob1, carol } = pages;
    await alice.getByRole('link', { name: 'Contacts' }).click();
    await alice.getByRole('button', { name: 'Video call bob' }).click();
    await incoming(bob1).waitFor();
    await bob1.getByRole('button', { name: 'Answer with video' }).click();
    await callScreen(alice).getByText('In call with bob').waitFor();

    await callScreen(alice).getByRole('button', { name: 'Transfer' }).click();
    const form = callScreen(alice).getByRole('form', { name: 'Transfer the call' });
    await form.getByLabel('Transfer to').fill('carol');
    await form.getByRole('button', { name: 'Transfer' }).click();
    await incoming(carol).waitFor();
    assert.match(await incoming(carol).innerText(), /\(transferred\)/);
    await carol.getByRole('button', { name: 'Answer with video' }).click();
    await notice(alice, 'The call was transferred to carol.');
    await callScreen(alice).waitFor({ state: 'detached' });
    // Bob stays: Alice's tile goes, Carol's comes (his status line may ask
    // for a click to play her audio: the page's autoplay allowance).
    await callScreen(bob1).locator('figcaption', { hasText: 'carol' }).waitFor();
    await callScreen(bob1).locator('figcaption', { hasText: 'alice' }).waitFor({ state: 'detached' });
    await callScreen(carol).getByText('In call with bob').waitFor();
    await receives(carol, 1);
    for (const page of [carol, bob1]) {
      await callScreen(page).getByRole('button', { name: 'Hang up' }).click();
      await callScreen(page).waitFor({ state: 'detached' });
    }
  });

  test('an admin creates a user in the admin pages, and that user logs in (also on a phone\'s width)', async () => {
    const admin = await device('admin', 'admin@wac', 'admin-secret-1');
    await admin.getByRole('link', { name: 'Admin' }).click();
    const form = admin.getByRole('form', { name: 'Create user' });
    await form.getByLabel('Username').fill('dave');
    await form.getByLabel('Password').fill('dave-password-1');
    await form.getByLabel('Email').fill('dave@example.com');
    await form.getByRole('button', { name: 'Create user' }).click();
    await admin.getByRole('cell', { name: 'dave', exact: true }).waitFor();
    await admin.getByRole('checkbox', { name: 'dave receives calls' }).waitFor();
    await shot(admin, 'admin-users');
    for (const tab of ['Domains', 'Credentials', 'Groups', 'Sessions', 'Alarms']) {
      await admin.getByRole('navigation', { name: 'Administration' }).getByRole('link', { name: tab }).click();
      await admin.getByRole('heading', { name: `Administration: ${tab}` }).waitFor();
      await admin.locator('table').first().waitFor();
      if (tab === 'Sessions') {
        // Every page open is one live device; the pages that navigated
        // away earlier left none behind.
        assert.equal(await admin.getByRole('cell', { name: 'yes', exact: true }).count(), Object.keys(pages).length);
        assert.equal(await admin.getByRole('cell', { name: 'reconnecting' }).count(), 0, 'a stale session is listed');
      }
    }

    const dave = await openPage(browser, server, 'dave', errors, { width: 390, height: 800 });
    await login(dave, 'dave', 'dave-password-1');
    await dave.getByText('dave@wac').waitFor();
    await dave.getByRole('button', { name: 'Video call alice' }).waitFor();
    const overflow = await dave.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the directory is ${overflow} px wider than a phone's screen`);
    await shot(dave, 'directory-phone');
  });

  test('a guest joins a conference by the link a user shares, where the domain allows anonymous users', async () => {
    const { alice } = pages;
    const [wac] = (await server.api('GET', '/sapi/domains')).filter((d) => d.domain === 'wac');
    await server.api('PUT', `/sapi/domains/${wac.id}`, { ...wac, enableAnonymous: true });
    await alice.goto(server.base + '/'); // the app reads its domain's settings when it starts
    await alice.getByRole('button', { name: 'Start a new conference' }).click();
    await callScreen(alice).waitFor();
    const link = await callScreen(alice).locator('.share a').getAttribute('href');
    assert.match(link, /\/conference\/wac-conf\d{20}\?domain=wac$/);
    const guest = await openPage(browser, server, 'guest', errors);
    await guest.goto(link);
    await guest.getByRole('button', { name: 'Join as guest' }).click();
    await receives(guest, 1);
    await receives(alice, 1);
    await shot(guest, 'guest');
    for (const page of [guest, alice]) {
      await callScreen(page).getByRole('button', { name: 'Hang up' }).click();
      await callScreen(page).waitFor({ state: 'detached' });
    }
  });
  test('Alice schedules a meeting on the Meetings page, joins it, and a guest joins by its link', async () => {
    const alice = pages.alice ?? await device('alice', 'alice', 'alice-password-1');
    const [wac] = (await server.api('GET', '/sapi/domains')).filter((d) => d.domain === 'wac');
    await server.api('PUT', `/sapi/domains/${wac.id}`, { ...wac, enableAnonymous: true });
    await alice.goto(server.base + '/meetings');
    const form = alice.locator('form', { has: alice.getByRole('heading', { name: 'Schedule a meeting' }) });
    await form.getByLabel('Name').fill('Design review');
    // Open now: it started a minute ago.
    const start = await alice.evaluate(() => {
      const ms = Date.now() - 60000;
      return new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    });
    await form.getByLabel('Starts').fill(start);
    await form.getByLabel('Participants (users, emails, phone numbers)').fill('bob, guest@example.org');
    await form.getByRole('button', { name: 'Schedule' }).click();
    await notice(alice, 'scheduled');
    const item = alice.locator('.meetings .meeting', { hasText: 'Design review' });
    await item.waitFor();
    assert.match(await item.innerText(), /bob, guest@example\.org/);
    const [meeting] = (await server.api('GET', '/sapi/meetings')).filter((m) => m.name === 'Design review');
    assert.match(meeting.url, /\/meeting\/[0-9a-f]{24}\?domain=wac$/);
    await item.getByRole('button', { name: 'Join Design review' }).click();
    await callScreen(alice).waitFor();
    const guest = await openPage(browser, server, 'meeting-guest', errors);
    await guest.goto(server.base + new URL(meeting.url, server.base).pathname + '?domain=wac');
    await guest.getByRole('button', { name: 'Join as guest' }).click();
    await receives(guest, 1);
    await receives(alice, 1);
    await shot(alice, 'meeting');
    for (const page of [guest, alice]) {
      await callScreen(page).getByRole('button', { name: 'Hang up' }).click();
      await callScreen(page).waitFor({ state: 'detached' });
    }
  });

  test('Alice records a call: both see the indicator, and she plays the recording from her history', async () => {
    const { alice, bob1 } = pages;
    await alice.goto(server.base + '/');
    await alice.getByRole('button', { name: 'Video call bob' }).click();
    await incoming(bob1).waitFor();
    await bob1.getByRole('button', { name: 'Answer with video' }).click();
    await receives(alice, 1);
    await receives(bob1, 1);
    const indicator = (page) => callScreen(page).locator('.rec-indicator');
    assert.equal(await indicator(alice).isVisible(), false, 'recording shown before it started');

    await callScreen(alice).getByRole('button', { name: 'Record' }).click();
    for (const page of [alice, bob1]) await indicator(page).getByText('Recording').waitFor();
    await callScreen(alice).getByRole('button', { name: 'Stop recording', pressed: true }).waitFor();
    await shot(bob1, 'call-recording');
    await new Promise((r) => setTimeout(r, 4000));
    await callScreen(bob1).getByRole('button', { name: 'Stop recording' }).click();
    for (const page of [alice, bob1]) await indicator(page).waitFor({ state: 'hidden' });
    await callScreen(alice).getByRole('button', { name: 'Hang up' }).click();
    await callScreen(bob1).waitFor({ state: 'detached' });

    // The recording is composed in the background: the history lists it
    // as ready, and Play plays it in the page.
    await waitFor('the recording to be ready', async () => {
      await alice.getByRole('link', { name: 'History' }).click();
      await alice.locator('.recordings-list tbody tr').first().waitFor();
      return (await alice.locator('.recordings-list tbody tr').first().innerText()).includes('ready');
    }, 60000);
    const row = alice.locator('.recordings-list tbody tr').first();
    assert.match(await row.innerText(), /bob/);
    await row.getByRole('button', { name: /^Play the recording/ }).click();
    const video = alice.locator('.recordings video');
    await waitFor('the recording to play', () => video.evaluate((v) => v.readyState >= 2 && v.currentTime > 0.5), 30000);
    const info = await video.evaluate((v) => ({ duration: v.duration, width: v.videoWidth }));
    assert.ok(info.duration > 3 && info.duration < 8, `the recording lasts ${info.duration} s`);
    assert.ok(info.width > 0, 'the recording has no picture');
    await shot(alice, 'history-recordings');
  });
});
