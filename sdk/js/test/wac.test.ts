import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Wac } from '../src/wac';
import { Emitter } from '../src/emitter';
import { outgoingStateOf } from '../src/invitations';
import type { ConferenceMedia, MediaEvents, RemoteStream } from '../src/media';
import type { IncomingInvitation, IncomingInviteRequest } from '../src/invitations';
import type { AttendedTransferRequest } from '../src/wac';
import { event, fakeFetch, sessionEvent, socketFactory, type FakeSocket } from './fakes';

// Node has no MediaStream: calls without capture use an empty one.
(globalThis as { MediaStream?: unknown }).MediaStream ??= class { getTracks() { return []; } };

/** Media that records what the conference asks of it. */
class FakeMedia extends Emitter<MediaEvents> implements ConferenceMedia {
  localStreams = [];
  remoteStreams: RemoteStream[] = [];
  calls: string[] = [];
  async start() { this.calls.push('start'); }
  setMuted(kind: string, muted: boolean) { this.calls.push(`mute ${kind} ${muted}`); }
  async setHold(hold: boolean) { this.calls.push(`hold ${hold}`); }
  async shareScreen(): Promise<never> { throw new Error('no screen'); }
  stopScreenShare() {}
  async switchInput() {}
  close() { this.calls.push('close'); }
  addRemote(r: RemoteStream) { this.remoteStreams.push(r); this.emit('remoteStreamAdded', r); }
}

const room = (id: string, token = 'grant') => ({
  id: 'rec-' + id, uuid: id, room: id, owner: '', record: false, number: '1234', sipUri: '', bitrate: 1024, serverUuid: 'n',
  server: { https: 'http://sfu/janus', wss: 'ws://sfu/janus' }, timestamp: 1, participantsLimit: 100, ice: [], token, participants: [],
});

async function loggedIn() {
  const ws = socketFactory();
  const { fetch } = fakeFetch(() => ({ status: 200, body: { access_token: 'at', refresh_token: 'rt', expires_in: 3600, token_type: 'Bearer' } }));
  const media: FakeMedia[] = [];
  const wac = await Wac.login('alice', 'pw', {
    server: 'http://wac', fetch, webSocket: ws.factory,
    createMedia: () => {
      const m = new FakeMedia();
      media.push(m);
      return m;
    },
  });
  const sock = ws.nextSocket();
  const connected = wac.connect();
  const s = await sock;
  s.open();
  s.deliver(sessionEvent('sess-1'));
  await connected;
  assert.equal(new URL(s.url).origin, 'ws://wac');
  return { wac, s, media };
}

/** Answers the next request of that name with a payload. */
async function answer(s: FakeSocket, name: string, payload: unknown) {
  const f = await s.request(name);
  s.deliver({ answer: name, requestID: f.requestID, payload });
  return f;
}

test('a call creates a room, joins it, rings, and reports the outcome', async () => {
  const { wac, s, media } = await loggedIn();
  const placing = wac.call('bob', { audio: false, video: false });
  await answer(s, 'createRoom', room('r1'));
  assert.deepEqual((await answer(s, 'joinRoom', room('r1'))).payload, { room: 'r1' });
  await answer(s, 'getRoom', { ...room('r1'), participantsDetails: [{ id: 'u-alice', username: 'alice', domain: 'quobis', sessions: [], joined: 1, hold: false }] });
  const inv = await s.request('invitation');
  assert.equal(inv.to, 'bob');
  assert.deepEqual(inv.payload, { room: 'r1', mediatypes: { audio: false, video: false }, context: { contextInfo: {} } });
  const { conference, invitation } = await placing;
  assert.deepEqual(media[0]!.calls, ['start']);
  assert.equal(conference.status, 'joined');
  assert.equal(invitation.state, 'calling');
  const states: string[] = [];
  invitation.on('state', (st) => states.push(st));
  s.deliver(event('outgoingInvitation', { room: 'r1', requestID: inv.requestID, state: 'ringing', code: 0 }));
  s.deliver({ answer: 'invitation', requestID: inv.requestID, from: 'u-bob', whoAccepted: 'u-bob', session: 'sess-b2' });
  assert.equal(await invitation.done, 'accepted');
  assert.deepEqual(states, ['ringing', 'accepted']);
  assert.equal(invitation.acceptedSession, 'sess-b2');

  const events: string[] = [];
  for (const name of ['participantAdded', 'participantRemoved', 'participantHold', 'participantUnhold', 'remoteParticipants', 'remoteStreamAdded', 'remoteStreams', 'destroyed', 'status'] as const) {
    conference.on(name, (...args: unknown[]) => events.push(`${name} ${JSON.stringify(args[0]).slice(0, 40)}`));
  }
  const bob = { id: 'u-bob', username: 'bob', domain: 'quobis', sessions: ['sess-b2'], joined: 2, hold: false };
  s.deliver(event('participantAdded', { room: 'r1', participant: bob }));
  s.deliver(event('participantHold', { room: 'r1', participant: 'u-bob', username: 'bob' }));
  assert.equal(conference.remoteParticipants[0]!.hold, true);
  s.deliver(event('participantUnhold', { room: 'r1', participant: 'u-bob', username: 'bob' }));
  media[0]!.addRemote({ feed: 9, participant: 'u-bob', username: 'bob', kind: 'camera', stream: {} as MediaStream, getStats: async () => new Map() as unknown as RTCStatsReport });
  s.deliver(event('participantAdded', { room: 'other-room', participant: { ...bob, id: 'u-eve' } }));
  s.deliver(event('destroyed', { room: 'r1', by: 'u-bob', reason: 'destroyed by bob' }));
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(events.map((e) => e.split(' ')[0]), [
    'participantAdded', 'remoteParticipants', 'participantHold', 'participantUnhold', 'remoteStreamAdded', 'remoteStreams', 'status', 'destroyed']);
  assert.equal(conference.status, 'destroyed');
  assert.ok(media[0]!.calls.includes('close'));
  assert.deepEqual(wac.activeConferences, []);
});

test('outcome codes map to states the app can explain', () => {
  assert.deepEqual([603, 486, 480, 404, 403, 408, 487, 500].map(outgoingStateOf),
    ['declined', 'busy', 'unreachable', 'notFound', 'forbidden', 'timeout', 'cancelled', 'failed']);
});

test('a declined call and an unanswered call end the invitation with their state', async () => {
  const { wac, s } = await loggedIn();
  const conf = (await (async () => {
    const p = wac.createConference();
    await answer(s, 'createRoom', room('r2'));
    return p;
  })());
  const declined = conf.invite('bob');
  const timedOut = conf.invite('carol', { audio: true });
  const f1 = await s.request('invitation');
  const f2 = await s.request('invitation');
  s.deliver({ answer: 'invitation', requestID: f1.requestID, from: 'u-bob', error: 603 });
  s.deliver({ cancel: 'invitation', requestID: f2.requestID, error: 408, message: 'nobody answered' });
  assert.equal(await declined.done, 'declined');
  assert.equal(await timedOut.done, 'timeout');
  assert.equal(timedOut.message, 'nobody answered');
  assert.deepEqual(conf.outgoingInvitations.map((i) => i.pending), [false, false]);
});

test('an incoming call rings until answered elsewhere; accepting answers and joins', async () => {
  const { wac, s, media } = await loggedIn();
  const rings: IncomingInvitation[] = [];
  wac.on('invitation', (inv) => rings.push(inv));
  const frame = (id: string) => ({
    request: 'invitation', requestID: id, to: 'u-alice', from: 'u-bob', fromType: 'user',
    fromDetails: { contactName: 'bob@quobis', displayName: 'bob', username: 'bob' },
    mediatypes: { audio: true, video: true }, context: { contextInfo: { subject: 'hi' } }, payload: room('r3', 'my-grant'),
  });
  s.deliver(frame('srv-1'));
  const first = rings[0]!;
  assert.equal(first.callerName, 'bob');
  assert.deepEqual(first.context, { subject: 'hi' });
  const ended = new Promise<string>((ok) => first.on('ended', (st) => ok(st)));
  s.deliver({ cancel: 'invitation', requestID: 'srv-1', error: 400, message: '999 is not a code' }); // still rings
  assert.equal(first.state, 'ringing');
  s.deliver({ cancel: 'invitation', requestID: 'srv-1', error: 200, message: 'answered elsewhere' });
  assert.equal(await ended, 'answeredElsewhere');

  s.deliver(frame('srv-2'));
  const second = rings[1]!;
  const accepting = wac.accept(second, { audio: false, video: false });
  assert.deepEqual(await s.next((f) => f.answer === 'invitation'), { answer: 'invitation', requestID: 'srv-2' });
  await answer(s, 'joinRoom', room('r3', 'my-grant'));
  await answer(s, 'getRoom', room('r3', 'my-grant'));
  const conference = await accepting;
  assert.equal(conference.room.token, 'my-grant');
  assert.equal(media.length, 1);

  s.deliver(frame('srv-3'));
  rings[2]!.decline();
  assert.deepEqual(await s.next((f) => f.cancel === 'invitation'), { cancel: 'invitation', requestID: 'srv-3', error: 603 });
  assert.equal(rings[2]!.state, 'declined');
});

test('hold and mute reach the server and the media; leaving tolerates being out of the ACL', async () => {
  const { wac, s, media } = await loggedIn();
  const joining = wac.quickConference('wac-conf12345678901234567890', { audio: false, video: false });
  assert.deepEqual((await answer(s, 'quickConference', room('r4'))).payload, { conferenceUri: 'wac-conf12345678901234567890' });
  await answer(s, 'getRoom', room('r4'));
  const conf = await joining;
  const holding = conf.hold();
  await answer(s, 'hold', { room: 'r4' });
  await holding;
  conf.muteAudio(true);
  assert.deepEqual(media[0]!.calls, ['start', 'hold true', 'mute audio true']);
  assert.equal(conf.held, true);
  const leaving = conf.leave();
  const f = await s.request('leaveRoom');
  assert.deepEqual(f.payload, { room: 'r4', code: 200 });
  s.deliver({ cancel: 'leaveRoom', requestID: f.requestID, error: 403, message: 'user not included into ACL' });
  await leaving;
  assert.equal(conf.status, 'left');
});

test('a phone\'s keys arrive as dtmf events; sendDTMF asks the server with the room', async () => {
  const { wac, s } = await loggedIn();
  const joining = wac.quickConference('wac-conf12345678901234567891', { audio: false, video: false });
  await answer(s, 'quickConference', room('r7'));
  await answer(s, 'getRoom', room('r7'));
  const conf = await joining;
  const keys: string[] = [];
  conf.on('dtmf', (e) => keys.push(`${e.from} ${e.digit}`));
  s.deliver(event('dtmf', { room: 'r7', from: 'phone-0034986999888', digit: '#' }));
  s.deliver(event('dtmf', { room: 'other-room', from: 'phone-1', digit: '1' }));
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(keys, ['phone-0034986999888 #']);
  const sending = conf.sendDTMF('12*', 80);
  assert.deepEqual((await answer(s, 'sendDTMF', { room: 'r7', digits: '12*' })).payload, { room: 'r7', digits: '12*', duration: 80 });
  await sending;
  const plain = conf.sendDTMF('9');
  assert.deepEqual((await answer(s, 'sendDTMF', { room: 'r7', digits: '9' })).payload, { room: 'r7', digits: '9' });
  await plain;
});

test('joinMeeting asks for the meeting\'s URI, whether given the URI or the id, and joins its room', async () => {
  const { wac, s } = await loggedIn();
  const joining = wac.joinMeeting('6b0376c072be4c2dc7d28ae1', { audio: false, video: false });
  assert.deepEqual((await answer(s, 'joinMeeting', room('r5'))).payload, { meetingUri: 'wac-meeting:6b0376c072be4c2dc7d28ae1' });
  await answer(s, 'getRoom', room('r5'));
  const conf = await joining;
  assert.equal(conf.room.room, 'r5');
  const again = wac.joinMeeting('wac-meeting:6b0376c072be4c2dc7d28ae1', { audio: false, video: false });
  assert.deepEqual((await answer(s, 'joinMeeting', room('r5'))).payload, { meetingUri: 'wac-meeting:6b0376c072be4c2dc7d28ae1' });
  await answer(s, 'getRoom', room('r5'));
  await again;
});

test('a new quick conference URI has 20 digits', () => {
  assert.match(Wac.newConferenceUri(), /^wac-conf\d{20}$/);
});

/** A quick conference the test has joined, in room `id`. */
async function inConference(wac: Wac, s: FakeSocket, id: string) {
  const joining = wac.quickConference('wac-conf12345678901234567890', { audio: false, video: false });
  await answer(s, 'quickConference', room(id));
  await answer(s, 'getRoom', room(id));
  return joining;
}

test('a blind transfer asks the server and ends our part of the call; a failed one keeps it', async () => {
  const { wac, s, media } = await loggedIn();
  const conf = await inConference(wac, s, 'r5');
  const failing = conf.transfer('u-bob', 'nobody');
  const f1 = await s.request('transfer');
  assert.deepEqual(f1.payload, { room: 'r5', participant: 'u-bob', to: 'nobody' });
  s.deliver({ cancel: 'transfer', requestID: f1.requestID, error: 404, message: 'user nobody not found' });
  await assert.rejects(failing, (err: { code?: number }) => err.code === 404);
  assert.equal(conf.status, 'joined');

  const transferring = conf.transfer('u-bob', 'carol');
  const f2 = await s.request('transfer');
  assert.deepEqual(f2.payload, { room: 'r5', participant: 'u-bob', to: 'carol' });
  s.deliver({ answer: 'transfer', requestID: f2.requestID, payload: { room: 'r5' } });
  await transferring;
  assert.equal(conf.status, 'transferred');
  assert.equal(media[0]!.calls.at(-1), 'close');
});

test('an attended transfer moves us: we answer, leave the old room and join the new one', async () => {
  const { wac, s, media } = await loggedIn();
  const old = await inConference(wac, s, 'r6');
  const requests: AttendedTransferRequest[] = [];
  wac.on('attendedTransfer', (r) => requests.push(r));
  s.deliver({ request: 'transferring-attended-transfer', requestID: 'srv-7', from: 'u-carol', payload: { previousRoom: 'r6', room: room('r7', 'r7-grant') } });
  const req = requests[0]!;
  assert.equal(req.previousRoom, 'r6');
  assert.equal(req.from, 'u-carol');
  const moving = req.accept({ audio: false, video: false });
  assert.deepEqual(await s.next((f) => f.answer === 'transferring-attended-transfer'), { answer: 'transferring-attended-transfer', requestID: 'srv-7' });
  const leave = await s.request('leaveRoom');
  assert.equal((leave.payload as { room: string }).room, 'r6');
  s.deliver({ answer: 'leaveRoom', requestID: leave.requestID, payload: {} });
  await answer(s, 'joinRoom', room('r7', 'r7-grant'));
  await answer(s, 'getRoom', room('r7', 'r7-grant'));
  const moved = await moving;
  assert.equal(old.status, 'left');
  assert.equal(moved.id, 'r7');
  assert.equal(moved.room.token, 'r7-grant');
  assert.equal(media.length, 2);
});

test('an inviteRequest is answered with the room we create for the requester; unknown requests get 405', async () => {
  const { wac, s } = await loggedIn();
  const asks: IncomingInviteRequest[] = [];
  wac.on('inviteRequest', (r) => asks.push(r));
  s.deliver({ request: 'inviteRequest', requestID: 'srv-8', from: 'u-guest', fromType: 'anonymous', mediatypes: { audio: true, video: false }, context: { contextInfo: {} }, payload: {} });
  assert.equal(asks.length, 1);
  const accepting = wac.acceptInviteRequest(asks[0]!, { audio: false, video: false });
  await answer(s, 'createRoom', room('r8'));
  await answer(s, 'joinRoom', room('r8'));
  await answer(s, 'getRoom', room('r8'));
  const conf = await accepting;
  assert.equal(conf.id, 'r8');
  assert.deepEqual(await s.next((f) => f.answer === 'inviteRequest'), { answer: 'inviteRequest', requestID: 'srv-8', payload: { room: 'r8' } });
  assert.equal(asks[0]!.state, 'accepted');

  // The requester's side: the request resolves into the room it is let in.
  const requesting = wac.inviteRequest('bob', { audio: false, video: false });
  const f = await s.request('inviteRequest');
  assert.equal(f.to, 'bob');
  s.deliver({ answer: 'inviteRequest', requestID: f.requestID, payload: room('r9') });
  await answer(s, 'joinRoom', room('r9'));
  await answer(s, 'getRoom', room('r9'));
  assert.equal((await requesting).id, 'r9');

  s.deliver({ request: 'somethingNew', requestID: 'srv-9' });
  assert.deepEqual(await s.next((f) => f.cancel === 'somethingNew'), { cancel: 'somethingNew', requestID: 'srv-9', error: 405 });
});
