// The call history: GET /sapi/calls, newest first; and the recordings one
// took part in (GET /sapi/recordings), each playable in the page.
import type { CallRecord, User } from '@openwac/sdk';
import type { App } from '../app';
import { dateTime, duration, h, replace } from '../dom';
import { describeError } from '../messages';
import { isPhoneId, numberOfPhoneId, numberOfTarget, phoneNumber, phoneUserId, telUri } from '../phone-number';

export function historyView(app: App): HTMLElement {
  const body = h('div', { 'aria-busy': 'true' }, h('p', { className: 'muted' }, 'Loading…'));
  const section = h('section', { className: 'card wide', 'aria-labelledby': 'history-title' },
    h('h1', { id: 'history-title' }, 'Call history'), body, recordingsView(app));
  Promise.all([app.wac.api.calls.list({ limit: 100 }), app.directory()]).then(([calls, users]) => {
    body.removeAttribute('aria-busy');
    if (calls.length === 0) {
      replace(body, h('p', { className: 'muted' }, 'No calls yet.'));
      return;
    }
    calls.sort((a, b) => b.created - a.created);
    replace(body, h('table', { className: 'history' },
      h('thead', {}, h('tr', {}, ...['When', 'With', 'Direction', 'Outcome', 'Duration', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, ...calls.map((c) => row(app, c, users)))));
  }, (err: unknown) => {
    body.removeAttribute('aria-busy');
    replace(body, h('p', { className: 'error', role: 'alert' }, `The history cannot be loaded: ${describeError(err)}`));
  });
  return section;
}

function row(app: App, c: CallRecord, users: Map<string, User>): HTMLElement {
  const me = app.me.id;
  // Phones are participants "phone-<number>" (docs/sip.md); a number the
  // caller dialled (tel:...) names its phone as it was dialled.
  const dialled = new Map<string, string>();
  for (const i of c.invites ?? []) {
    const n = numberOfTarget(i.target);
    if (n) dialled.set(phoneUserId(n), n);
  }
  const name = (id: string) => isPhoneId(id)
    ? dialled.get(id) ?? numberOfPhoneId(id)
    : users.get(id)?.username ?? (id === me ? 'you' : 'a guest');
  // Ids only: an invitation's from and to (those rung) are user ids; its
  // target is what the caller dialled, shown only when no one was rung.
  const others = new Set<string>();
  for (const p of c.participants ?? []) others.add(p.user);
  for (const i of c.invites ?? []) for (const id of [i.from, ...(i.to ?? '').split(',')]) others.add(id);
  others.delete(me);
  others.delete('');
  const invite = (c.invites ?? []).find((i) => i.kind !== 'inviteRequest');
  // A phone call: a phone took part, called or was dialled.
  for (const id of dialled.keys()) others.add(id);
  const phones = [...others].filter(isPhoneId);
  // Who started it: the caller of a call, the creator of a conference
  // (records older than the creator field fall back to the owner).
  const outgoing = invite ? invite.from === me : (c.creator || c.owner) === me;
  const mine = (c.participants ?? []).filter((p) => p.user === me);
  const talked = mine.length > 0 && others.size > 0 && (c.participants ?? []).some((p) => p.user !== me);
  const outcome = talked ? 'answered' : invite ? outcomeOf(invite.state, outgoing) : 'no one joined';
  const joined = Math.min(...mine.map((p) => p.joined));
  const left = Math.max(...mine.map((p) => p.left || c.finished || Date.now()));
  const peer = [...others].map(name).join(', ') || (invite ? invite.target : '');
  const back = [...others].map((id) => users.get(id)).find((u) => u);
  const backPhone = !back && phones.length ? name(phones[0]) : '';
  let callBack: HTMLElement | null = null;
  if (back) {
    callBack = h('button', {
      type: 'button', 'aria-label': `Call ${back.username} back`, onclick: () => app.call(back.domain === app.me.domain ? back.username : `${back.username}@${back.domain}`, true),
    }, 'Call back');
  } else if (backPhone && phoneNumber(backPhone)) {
    callBack = h('button', { type: 'button', 'aria-label': `Call ${backPhone} back`, onclick: () => app.call(telUri(phoneNumber(backPhone) ?? backPhone), false) }, 'Call back');
  }
  return h('tr', { className: [talked ? '' : 'unanswered', phones.length ? 'phone' : ''].filter(Boolean).join(' ') },
    h('td', {}, dateTime(c.created)),
    h('td', {}, phones.length ? h('span', { className: 'phone-tag', role: 'img', 'aria-label': 'Phone call', title: 'Phone call' }, '\u260E') : null, peer),
    h('td', {}, outgoing ? 'outgoing' : 'incoming'),
    h('td', {}, outcome),
    h('td', {}, talked && mine.length ? duration(left - joined) : ''),
    h('td', {}, callBack));
}

function outcomeOf(state: string, outgoing: boolean): string {
  switch (state) {
    case 'declined':
      return 'declined';
    case 'timeout':
      return outgoing ? 'not answered' : 'missed';
    case 'cancelled':
      return outgoing ? 'cancelled' : 'missed';
    case 'failed':
      return 'failed';
    default:
      return state;
  }
}

/** A recording as GET /sapi/recordings gives it (the fields the page shows). */
interface Recording {
  id: string;
  room: string;
  status: string;
  started: number;
  duration: number;
  note?: string;
  startedBy?: string;
  media: { playUrl?: string; type: string } | null;
  users: string[];
}

const STATUS: Record<string, string> = {
  recording: 'recording now',
  stopped: 'being processed',
  composing: 'being processed',
  ready: 'ready',
  tracks: 'kept as separate tracks',
  interrupted: 'interrupted',
};

/** The recordings one took part in, each with a Play button. */
function recordingsView(app: App): HTMLElement {
  const body = h('div', { 'aria-busy': 'true' }, h('p', { className: 'muted' }, 'Loading…'));
  const section = h('section', { className: 'recordings', 'aria-labelledby': 'recordings-title' },
    h('h2', { id: 'recordings-title' }, 'Recordings'), body);
  Promise.all([app.wac.api.request<Recording[]>('GET', '/sapi/recordings?limit=100'), app.directory()]).then(([list, users]) => {
    body.removeAttribute('aria-busy');
    if (list.length === 0) {
      replace(body, h('p', { className: 'muted' }, 'No recordings.'));
      return;
    }
    const player = h('div', { className: 'player' });
    const name = (id: string) => users.get(id)?.username ?? (id === app.me.id ? 'you' : 'a guest');
    replace(body, h('table', { className: 'history recordings-list' },
      h('thead', {}, h('tr', {}, ...['When', 'With', 'Length', 'Status', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, ...list.map((r) => h('tr', {},
        h('td', {}, dateTime(r.started)),
        h('td', {}, r.users.filter((u) => u !== app.me.id).map(name).join(', ')),
        h('td', {}, r.duration ? duration(r.duration) : ''),
        h('td', { title: r.note ?? '' }, STATUS[r.status] ?? r.status),
        h('td', {}, r.media?.playUrl ? h('button', {
          type: 'button', 'aria-label': `Play the recording of ${dateTime(r.started)}`,
          onclick: () => play(player, r),
        }, 'Play') : null))))),
      player);
  }, (err: unknown) => {
    body.removeAttribute('aria-busy');
    replace(body, h('p', { className: 'error', role: 'alert' }, `The recordings cannot be loaded: ${describeError(err)}`));
  });
  return section;
}

/** Plays a recording's composed file from its signed link (a video element sends no token). */
function play(player: HTMLElement, r: Recording): void {
  const video = h('video', { controls: true, autoplay: true, preload: 'metadata', 'aria-label': `Recording of ${dateTime(r.started)}` });
  video.src = r.media?.playUrl ?? '';
  replace(player, video);
  video.focus();
}
