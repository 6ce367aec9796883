import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JanusConnection } from '../src/janus';
import { MediaError } from '../src/errors';
import { socketFactory, type FakeSocket } from './fakes';

/** Plays a Janus server: create and attach succeed, messages are acked then answered by `answer`. */
function janusServer(s: FakeSocket, answer: (body: Record<string, unknown>) => Record<string, unknown>) {
  s.onSend = (f) => {
    const tx = f.transaction;
    switch (f.janus) {
      case 'create':
        s.deliver({ janus: 'success', transaction: tx, data: { id: 77 } });
        break;
      case 'attach':
        s.deliver({ janus: 'success', transaction: tx, session_id: 77, data: { id: 900 } });
        break;
      case 'message':
        s.deliver({ janus: 'ack', transaction: tx, session_id: 77 });
        s.deliver({ janus: 'event', transaction: tx, session_id: 77, sender: 900,
          plugindata: { plugin: 'janus.plugin.videoroom', data: answer(f.body as Record<string, unknown>) } });
        break;
      default:
        s.deliver({ janus: 'ack', transaction: tx, session_id: 77 });
    }
  };
}

async function connect(answer: (body: Record<string, unknown>) => Record<string, unknown>, keepAlive = 25000) {
  const ws = socketFactory();
  const sock = ws.nextSocket();
  const conn = JanusConnection.connect({ url: 'ws://sfu/janus', token: 'grant-1', webSocket: ws.factory, keepAlive });
  const s = await sock;
  janusServer(s, answer);
  s.open();
  return { conn: await conn, s };
}

test('connects with the janus-protocol subprotocol and sends the grant on every message', async () => {
  const { conn, s } = await connect((b) => ({ videoroom: 'joined', room: b.room, id: 5, publishers: [] }));
  assert.equal(s.protocol, 'janus-protocol');
  const h = await conn.attach();
  assert.equal(h.id, 900);
  const { data } = await h.request({ request: 'join', ptype: 'publisher', room: 1234, token: 'grant-1' });
  assert.equal(data.videoroom, 'joined');
  assert.equal(data.room, 1234);
  conn.close();
  assert.equal((await s.next((f) => f.janus === 'destroy')).session_id, 77);
});

test('every frame carries the session and the core-level token', async () => {
  const frames: Record<string, unknown>[] = [];
  const { conn, s } = await connect(() => ({ videoroom: 'event', configured: 'ok' }));
  const serve = s.onSend;
  s.onSend = (f) => { frames.push(f); serve?.(f); };
  const h = await conn.attach();
  await h.request({ request: 'publish' }, { type: 'offer', sdp: 'v=0' });
  h.trickle({ candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 });
  h.trickle(null);
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(frames.map((f) => [f.janus, f.session_id, f.token]), [
    ['attach', 77, 'grant-1'], ['message', 77, 'grant-1'], ['trickle', 77, 'grant-1'], ['trickle', 77, 'grant-1']]);
  assert.deepEqual(frames[1]!.jsep, { type: 'offer', sdp: 'v=0' });
  assert.deepEqual(frames[3]!.candidate, { completed: true });
  conn.close();
});

test('a VideoRoom error rejects with its code', async () => {
  const { conn } = await connect(() => ({ videoroom: 'event', error_code: 433, error: 'Unauthorized (no token)' }));
  const h = await conn.attach();
  await assert.rejects(h.request({ request: 'join', ptype: 'publisher', room: 1 }),
    (e: unknown) => e instanceof MediaError && e.code === 433 && /Unauthorized/.test(e.message));
  conn.close();
});

test('keepalives go out periodically, events reach their handle, and a lost connection is reported', async () => {
  const { conn, s } = await connect(() => ({}), 10);
  await s.next((f) => f.janus === 'keepalive');
  const h = await conn.attach();
  const got = new Promise<unknown>((ok) => h.on('event', (d) => ok(d)));
  s.deliver({ janus: 'event', session_id: 77, sender: 900, plugindata: { plugin: 'janus.plugin.videoroom', data: { videoroom: 'event', unpublished: 12 } } });
  assert.deepEqual(await got, { videoroom: 'event', unpublished: 12 });
  const closed = new Promise<string>((ok) => conn.on('closed', ok));
  s.drop();
  assert.match(await closed, /lost/);
});
