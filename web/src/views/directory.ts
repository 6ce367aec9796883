// The directory: call by name or number, a dial pad for phone numbers, the
// users and groups of one's domain, and conferences by link.
import { Wac, type Group, type User } from '@openwac/sdk';
import type { App } from '../app';
import { field, h, replace } from '../dom';
import { describeError } from '../messages';
import { DIAL_KEYS, phoneNumber, telUri } from '../phone-number';
import { navigate } from '../router';

/**
 * What the "Name or number" box calls: a username or alias of someone in
 * the directory as typed; otherwise a text that looks like a phone number
 * (phoneNumber) as tel:<number>, which the server sends to its trunk;
 * anything else as typed (user@domain, a group, an alias of another domain).
 */
export async function dialTarget(app: App, text: string): Promise<string> {
  const number = phoneNumber(text);
  if (!number) return text;
  const users = await app.directory().catch(() => new Map<string, User>());
  for (const u of users.values()) if (u.username === text || u.alias === text) return text;
  return telUri(number);
}

export function directoryView(app: App): HTMLElement {
  const target = h('input', { type: 'text', required: true, autocomplete: 'off', placeholder: 'username, user@domain, alias or number' });
  const dial = h('form', { className: 'card dial', 'aria-labelledby': 'dial-title', onsubmit: (ev: Event) => ev.preventDefault() },
    h('h2', { id: 'dial-title' }, 'Call'),
    field('Name or number', target),
    h('div', { className: 'actions' },
      h('button', { type: 'submit', className: 'primary', onclick: () => void callTyped(app, target.value, true) }, 'Video call'),
      h('button', { type: 'submit', onclick: () => void callTyped(app, target.value, false) }, 'Audio call')));

  const link = h('input', { type: 'text', required: true, autocomplete: 'off', placeholder: 'a conference link or wac-conf… URI' });
  const conf = h('form', {
    className: 'card',
    'aria-labelledby': 'conf-title',
    onsubmit: (ev: Event) => {
      ev.preventDefault();
      const uri = /wac-conf\d{20}/.exec(link.value)?.[0];
      if (uri) navigate(`/conference/${uri}`);
      else app.notify('That is not a conference link: it should contain wac-conf and 20 digits.', 'error');
    },
  },
  h('h2', { id: 'conf-title' }, 'Conference'),
  h('p', {}, h('button', { type: 'button', className: 'primary', onclick: () => navigate(`/conference/${Wac.newConferenceUri()}`) }, 'Start a new conference')),
  field('Join by link', link),
  h('button', { type: 'submit' }, 'Join'));

  const search = h('input', { type: 'search', placeholder: 'Filter', 'aria-label': 'Filter the directory' });
  const list = h('ul', { className: 'contacts', 'aria-label': 'Users and groups', 'aria-busy': 'true' });
  const people = h('section', { className: 'card', 'aria-labelledby': 'dir-title' },
    h('h2', { id: 'dir-title' }, 'Directory'), search, list);

  let users: User[] = [];
  let groups: Group[] = [];
  const render = () => {
    const q = search.value.trim().toLowerCase();
    const match = (...s: (string | undefined)[]) => !q || s.some((x) => x?.toLowerCase().includes(q));
    const rows = [
      ...groups.filter((g) => match(g.name)).map((g) => entry(app, g.name, `Group of ${g.participants.length}`, g.uri)),
      ...users.filter((u) => u.id !== app.me.id && match(u.username, u.alias, u.email))
        .map((u) => entry(app, u.username, [u.alias, u.email].filter(Boolean).join(' · '), u.domain === app.me.domain ? u.username : `${u.username}@${u.domain}`)),
    ];
    replace(list, rows.length ? rows : h('li', { className: 'muted' }, q ? 'Nobody matches.' : 'Nobody else is in your domain yet.'));
  };
  search.oninput = render;
  Promise.all([app.directory(), app.wac.api.groups.list().catch(() => [] as Group[])]).then(([byId, g]) => {
    users = [...byId.values()].filter((u) => u.role !== 'anonymous').sort((a, b) => a.username.localeCompare(b.username));
    groups = g;
    list.removeAttribute('aria-busy');
    render();
  }, (err: unknown) => {
    list.removeAttribute('aria-busy');
    replace(list, h('li', { className: 'error', role: 'alert' }, `The directory cannot be loaded: ${describeError(err)}`));
  });

  return h('div', { className: 'columns' }, h('div', {}, dial, dialPad(app), conf), people);
}

async function callTyped(app: App, text: string, video: boolean): Promise<void> {
  const typed = text.trim();
  if (typed) app.call(await dialTarget(app, typed), video);
}

/**
 * The dial pad: a number field, the keys 0-9, * and #, + and backspace,
 * and Call, which calls tel:<number> with audio (the phone network).
 */
function dialPad(app: App): HTMLElement {
  const number = h('input', {
    id: 'pad-number', type: 'tel', autocomplete: 'off', inputMode: 'tel', placeholder: '+34 986 999 888', 'aria-describedby': 'pad-hint',
  });
  const hint = h('small', { id: 'pad-hint', className: 'muted' }, 'Calls go out to the phone network.');
  const press = (key: string) => {
    number.value += key;
    number.focus();
  };
  const backspace = () => {
    number.value = number.value.slice(0, -1);
    number.focus();
  };
  const call = () => {
    const n = phoneNumber(number.value);
    if (n) app.call(telUri(n), false);
    else app.notify(number.value.trim() ? 'That is not a phone number: use digits, *, # and a leading +.' : 'Dial a number first.', 'error');
  };
  const keys = DIAL_KEYS.map((k) => h('button', { type: 'button', className: 'key', 'aria-label': `Dial ${k}`, onclick: () => press(k) }, k));
  return h('form', {
    className: 'card dialpad', 'aria-labelledby': 'pad-title',
    onsubmit: (ev: Event) => {
      ev.preventDefault();
      call();
    },
  },
  h('h2', { id: 'pad-title' }, 'Dial pad'),
  h('div', { className: 'field' }, h('label', { htmlFor: 'pad-number' }, 'Phone number'), number, hint),
  h('div', { className: 'keys', role: 'group', 'aria-label': 'Keys' }, ...keys,
    h('button', { type: 'button', className: 'key', 'aria-label': 'Dial +', onclick: () => press('+') }, '+'),
    h('button', { type: 'button', className: 'key', 'aria-label': 'Backspace', onclick: backspace }, '⌫'),
    h('button', { type: 'submit', className: 'key primary', 'aria-label': 'Call the number' }, 'Call')));
}

function entry(app: App, name: string, detail: string, callTo: string): HTMLElement {
  return h('li', { className: 'contact' },
    h('span', { className: 'avatar', 'aria-hidden': 'true' }, name.slice(0, 1).toUpperCase()),
    h('span', { className: 'who' }, h('strong', {}, name), detail ? h('small', {}, detail) : null),
    h('button', { type: 'button', className: 'primary', 'aria-label': `Video call ${name}`, onclick: () => app.call(callTo, true) }, 'Video'),
    h('button', { type: 'button', 'aria-label': `Audio call ${name}`, onclick: () => app.call(callTo, false) }, 'Audio'));
}
