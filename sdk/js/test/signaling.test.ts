import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Signaling } from '../src/signaling';
import { SignalingError } from '../src/errors';
import { event, sessionEvent, socketFactory } from './fakes';

function client(opts: { requestTimeout?: number } = {}) {
  const ws = socketFactory();
  const sig = new Signaling({
    url: 'ws://server/qss', token: async () => 'tok-1', webSocket: ws.factory, reconnectDelays: [5], ...opts,
    device: { platform: 'web', deviceId: 'laptop' },
  });
  return { sig, ws };
}

async function connected(opts: { requestTimeout?: number } = {}) {
  const { sig, ws } = client(opts);
  const sock = ws.nextSocket();
  const done = sig.connect();
  const s = await sock;
  s.open();
  s.deliver(sessionEvent('sess-1'));
  await done;
  return { sig, ws, s };
}

test('connect sends the token and device, and waits for the session event', async () => {
  const { sig, s } = await connected();
  const u = new URL(s.url);
  assert.equal(u.pathname, '/qss');
  assert.equal(u.searchParams.get('token'), 'tok-1');
  assert.equal(u.searchParams.get('deviceId'), 'laptop');
  assert.equal(u.searchParams.get('session'), null);
  assert.equal(sig.session?.session, 'sess-1');
  assert.equal(sig.state, 'connected');
});

test('a request resolves with its answer and rejects with the SIP code of a cancel', async () => {
  const { sig, s } = await connected();
  const ok = sig.request('createRoom', {});
  const f = await s.request('createRoom');
  s.deliver({ answer: 'createRoom', requestID: f.requestID, payload: { room: 'r1' } });
  assert.deepEqual((await ok).payload, { room: 'r1' });

  const refused = sig.request('joinRoom', { room: 'r2' });
  const j = await s.request('joinRoom');
  assert.deepEqual(j.payload, { room: 'r2' });
  s.deliver({ cancel: 'joinRoom', requestID: j.requestID, error: 403, message: 'user not included into ACL' });
  await assert.rejects(refused, (e: unknown) => e instanceof SignalingError && e.code === 403 && /ACL/.test(e.message));
});

test('an answer carrying an error (a rejected invitation) rejects', async () => {
  const { sig, s } = await connected();
  const inv = sig.start('invitation', { room: 'r' }, { to: 'bob' });
  const f = await s.request('invitation');
  assert.equal(f.to, 'bob');
  s.deliver({ answer: 'invitation', requestID: inv.requestID, from: 'u-bob', error: 603 });
  await assert.rejects(inv.done, (e: unknown) => e instanceof SignalingError && e.code === 603);
});

test('a request without answer times out with 408', async () => {
  const { sig } = await connected({ requestTimeout: 20 });
  await assert.rejects(sig.request('getRoom', { room: 'x' }), (e: unknown) => e instanceof SignalingError && e.code === 408 && e.timedOut);
});

test('server events, requests and cancels of requests reach the app', async () => {
  const { sig, s } = await connected();
  const seen: string[] = [];
  sig.on('event', (name, p) => seen.push(`event ${name} ${JSON.stringify(p)}`));
  sig.on('request', (f) => seen.push(`request ${f.request} ${f.requestID}`));
  sig.on('requestCancelled', (f) => seen.push(`cancelled ${f.requestID} ${f.error}`));
  s.deliver(event('participantHold', { room: 'r', participant: 'u2' }));
  s.deliver({ request: 'invitation', requestID: 'srv-1', payload: {} });
  s.deliver({ cancel: 'invitation', requestID: 'srv-1', error: 200, message: 'answered elsewhere' });
  assert.deepEqual(seen, ['event participantHold {"room":"r","participant":"u2"}', 'request invitation srv-1', 'cancelled srv-1 200']);
  sig.answer({ request: 'invitation', requestID: 'srv-2' });
  sig.decline({ request: 'invitation', requestID: 'srv-3' }, 603);
  assert.deepEqual(await s.next((f) => f.answer === 'invitation'), { answer: 'invitation', requestID: 'srv-2' });
  assert.deepEqual(await s.next((f) => f.cancel === 'invitation'), { cancel: 'invitation', requestID: 'srv-3', error: 603 });
});

test('a dropped connection reconnects with ?session= and resumes: what was sent meanwhile goes out', async () => {
  const { sig, ws, s } = await connected();
  const states: string[] = [];
  sig.on('state', (st) => states.push(st));
  const pending = sig.start('invitation', { room: 'r' }, { to: 'bob' });
  await s.request('invitation');
  const again = ws.nextSocket();
  s.drop();
  const s2 = await again;
  assert.equal(new URL(s2.url).searchParams.get('session'), 'sess-1');
  sig.decline({ request: 'invitation', requestID: 'srv-9' }, 486); // queued while reconnecting
  s2.open();
  s2.deliver(sessionEvent('sess-1', true));
  assert.deepEqual(await s2.next((f) => f.cancel === 'invitation'), { cancel: 'invitation', requestID: 'srv-9', error: 486 });
  // The invitation's outcome still arrives on the resumed session.
  s2.deliver({ answer: 'invitation', requestID: pending.requestID, whoAccepted: 'u-bob' });
  assert.equal((await pending.done).whoAccepted, 'u-bob');
  assert.deepEqual(states, ['reconnecting', 'connected']);
});

test('a session that could not be resumed fails what was pending', async () => {
  const { sig, ws, s } = await connected();
  const pending = sig.start('invitation', { room: 'r' }, { to: 'bob' });
  const again = ws.nextSocket();
  s.drop();
  const s2 = await again;
  s2.open();
  s2.deliver(sessionEvent('sess-2', false));
  await assert.rejects(pending.done, (e: unknown) => e instanceof SignalingError && e.code === 0 && /could not be resumed/.test(e.message));
  assert.equal(sig.session?.session, 'sess-2');
});

test('close() closes with 1000, which the server takes as the user leaving: it ends the session at once', async () => {
  const { sig, ws, s } = await connected();
  sig.close();
  assert.deepEqual(s.closedWith, { code: 1000, reason: 'bye' });
  assert.equal(sig.state, 'closed');
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(ws.sockets.length, 1, 'reconnected after close()');
});

test('a session ended by the server (4001) does not reconnect', async () => {
  const { sig, ws, s } = await connected();
  const ended = new Promise<string>((ok) => sig.on('ended', ok));
  s.deliver(event('sessionEnded', { session: 'sess-1', reason: 'exclusive login' }));
  s.drop(4001, 'exclusive login: the user logged in elsewhere');
  assert.match(await ended, /exclusive login/);
  assert.equal(sig.state, 'closed');
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(ws.sockets.length, 1);
});
