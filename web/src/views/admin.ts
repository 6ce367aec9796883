// The admin pages: domains, users (capabilities, receiveCalls), credentials,
// groups, sessions and alarms of the domains the admin administers.
import type { Api, Domain } from '@openwac/sdk';
import type { App } from '../app';
import { dateTime, field, h, replace, type Child } from '../dom';
import { describeError } from '../messages';

export const adminTabs = ['users', 'domains', 'credentials', 'groups', 'sessions', 'alarms'] as const;
export type AdminTab = (typeof adminTabs)[number];

const titles: Record<AdminTab, string> = {
  users: 'Users', domains: 'Domains', credentials: 'Credentials', groups: 'Groups', sessions: 'Sessions', alarms: 'Alarms',
};

export function adminView(app: App, tab: AdminTab): HTMLElement {
  const status = h('p', { className: 'status', role: 'status' });
  const content = h('div', { 'aria-busy': 'true' });
  const ctx: Ctx = {
    api: app.wac.api,
    status,
    /** Runs a change, tells how it went, and reloads the page's data. */
    async act(what: string, work: () => Promise<unknown>) {
      status.className = 'status';
      status.textContent = `${what}…`;
      try {
        await work();
        status.textContent = `${what}: done.`;
        await load();
      } catch (err) {
        status.className = 'status error';
        status.textContent = `${what} failed: ${describeError(err)}`;
      }
    },
  };
  const load = async () => {
    try {
      replace(content, ...(await pages[tab](ctx)));
    } catch (err) {
      replace(content, h('p', { className: 'error', role: 'alert' }, `This page cannot be loaded: ${describeError(err)}`));
    }
    content.removeAttribute('aria-busy');
  };
  void load();
  return h('section', { className: 'card wide admin', 'aria-labelledby': 'admin-title' },
    h('h1', { id: 'admin-title' }, `Administration: ${titles[tab]}`),
    h('nav', { className: 'tabs', 'aria-label': 'Administration' },
      ...adminTabs.map((t) => h('a', { href: `/admin/${t}`, 'aria-current': t === tab ? 'page' : undefined }, titles[t]))),
    status,
    content);
}

interface Ctx {
  api: Api;
  status: HTMLElement;
  act(what: string, work: () => Promise<unknown>): Promise<void>;
}

function table(caption: string, head: string[], rows: Child[][]): HTMLElement {
  return h('div', { className: 'table-wrap' }, h('table', {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, ...head.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, ...(rows.length ? rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))
      : [h('tr', {}, h('td', { colSpan: head.length, className: 'muted' }, 'None.'))]))));
}

function form(title: string, onsubmit: () => void, ...fields: Child[]): HTMLElement {
  return h('form', {
    className: 'admin-form',
    'aria-label': title,
    onsubmit: (ev: Event) => {
      ev.preventDefault();
      onsubmit();
    },
  }, h('h2', {}, title), ...fields, h('button', { type: 'submit', className: 'primary' }, title));
}

function input(props: Record<string, unknown> = {}): HTMLInputElement {
  return h('input', { type: 'text', ...props });
}

function select(options: [string, string][], value = ''): HTMLSelectElement {
  return h('select', {}, ...options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}

function list(s: string): string[] {
  return s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
}

function danger(label: string, what: string, onclick: () => void): HTMLButtonElement {
  return h('button', {
    type: 'button', className: 'danger small', 'aria-label': label,
    onclick: () => {
      if (confirm(`${what}?`)) onclick();
    },
  }, 'Delete');
}

const pages: Record<AdminTab, (ctx: Ctx) => Promise<Child[]>> = {
  async users(ctx) {
    const [users, domains] = await Promise.all([ctx.api.users.list({ limit: 1000 }), ctx.api.domains.list()]);
    const receive = await Promise.all(users.map((u) => ctx.api.permissions.user(u.id).catch(() => null)));
    const username = input({ required: true, pattern: '[a-z0-9][a-z0-9._+\\-]{0,63}', autocomplete: 'off' });
    const password = input({ type: 'password', required: true, minLength: 8, autocomplete: 'new-password' });
    const email = input({ type: 'email' });
    const domain = select(domains.map((d) => [d.domain, d.domain]));
    const role = select([['user', 'user'], ['admin', 'admin']]);
    const caps = input({ placeholder: '+video-call -chat' });
    const rows = users.map((u, i) => {
      const r = receive[i];
      const toggle = h('input', {
        type: 'checkbox', checked: r ? r.receiveCalls.enabled : true, 'aria-label': `${u.username} receives calls`,
        onchange: (ev: Event) => void ctx.act(`receiveCalls of ${u.username}`,
          () => ctx.api.permissions.setUser(u.id, (ev.target as HTMLInputElement).checked)),
      });
      const capField = input({ value: (u.capabilities ?? []).join(' '), 'aria-label': `Capabilities of ${u.username}`, size: 18 });
      return [
        h('strong', {}, u.username), u.domain, u.email ?? '', u.role,
        h('span', { className: 'inline' }, capField, h('button', {
          type: 'button', className: 'small', 'aria-label': `Save the capabilities of ${u.username}`,
          onclick: () => void ctx.act(`Capabilities of ${u.username}`, () => ctx.api.users.update(u.id, { capabilities: list(capField.value) })),
        }, 'Save')),
        h('label', { className: 'inline' }, toggle, r?.receiveCalls.inherited ? ' (inherited)' : ''),
        dateTime(u.lastLogin ?? 0),
        danger(`Delete ${u.username}`, `Delete the user ${u.username}`, () => void ctx.act(`Deleting ${u.username}`, () => ctx.api.users.remove(u.id))),
      ];
    });
    return [
      table('Users', ['Username', 'Domain', 'Email', 'Role', 'Capabilities (+forced −pruned)', 'Receives calls', 'Last login', ''], rows),
      form('Create user', () => void ctx.act(`Creating ${username.value}`, () => ctx.api.users.create({
        username: username.value.trim(), password: password.value, email: email.value.trim() || undefined,
        domain: domain.value, role: role.value as 'user' | 'admin', capabilities: list(caps.value),
      })),
      field('Username', username, 'lower case letters, digits and . _ + -'), field('Password', password, 'at least 8 characters'),
      field('Email', email), field('Domain', domain), field('Role', role), field('Capabilities', caps, 'optional: +capability forces, -capability prunes')),
    ];
  },

  async domains(ctx) {
    const domains = await ctx.api.domains.list();
    const name = input({ required: true, autocomplete: 'off' });
    const parent = select([['', '(top level)'], ...domains.map((d): [string, string] => [d.domain, d.domain])]);
    const anon = h('input', { type: 'checkbox' });
    const replaceWith = (d: Domain, change: Partial<Domain>) => {
      const { id: _id, created: _c, updated: _u, ...rest } = { ...d, ...change };
      return ctx.api.domains.replace(d.id, rest);
    };
    return [
      table('Domains', ['Domain', 'Parent', 'Guests allowed', 'Origins', 'Created', ''], domains.map((d) => [
        h('strong', {}, d.domain), d.parent ?? '',
        h('input', {
          type: 'checkbox', checked: d.enableAnonymous, 'aria-label': `Guests may join ${d.domain}`,
          onchange: (ev: Event) => void ctx.act(`Guests of ${d.domain}`,
            () => replaceWith(d, { enableAnonymous: (ev.target as HTMLInputElement).checked })),
        }),
        (d.origins ?? []).join(', '), dateTime(d.created),
        danger(`Delete ${d.domain}`, `Delete the domain ${d.domain}`, () => void ctx.act(`Deleting ${d.domain}`, () => ctx.api.domains.remove(d.id))),
      ])),
      form('Create domain', () => void ctx.act(`Creating ${name.value}`, () => ctx.api.domains.create({
        domain: name.value.trim(), parent: parent.value || null, enableAnonymous: anon.checked,
      })), field('Name', name), field('Parent', parent), h('label', { className: 'check' }, anon, ' Guests (anonymous users) may join')),
    ];
  },

  async credentials(ctx) {
    const [creds, users] = await Promise.all([ctx.api.credentials.list(), ctx.api.users.list({ limit: 1000 })]);
    const byId = new Map(users.map((u) => [u.id, u]));
    const user = select(users.map((u) => [u.id, `${u.username}@${u.domain}`]));
    const type = select([['basic', 'basic (password)'], ['ims', 'ims (SIP gateway)']]);
    const secret = input({ type: 'password', required: true, autocomplete: 'new-password' });
    const imsUser = input({ placeholder: 'sip:alice@ims.example' });
    return [
      table('Credentials', ['Type', 'User', 'Domain', 'Source', 'Data', 'Updated', ''], creds.map((c) => [
        c.type, c.user ? (byId.get(c.user)?.username ?? c.user) : (c.holder ? `pool (held by ${c.holder})` : 'pool'),
        c.domain, c.source, Object.keys(c.data ?? {}).join(', '), dateTime(c.updated || c.created),
        danger(`Delete the ${c.type} credential of ${byId.get(c.user ?? '')?.username ?? c.id}`, 'Delete this credential',
          () => void ctx.act('Deleting the credential', () => ctx.api.credentials.remove(c.id))),
      ])),
      form('Create credential', () => void ctx.act('Creating the credential', () => ctx.api.credentials.create({
        type: type.value, user: user.value,
        data: type.value === 'basic' ? { password: secret.value } : { username: imsUser.value, password: secret.value },
      })), field('User', user), field('Type', type), field('Password', secret), field('SIP username (ims)', imsUser)),
    ];
  },

  async groups(ctx) {
    const [groups, users] = await Promise.all([ctx.api.groups.list(), ctx.api.users.list({ limit: 1000 })]);
    const byId = new Map(users.map((u) => [u.id, u.username]));
    const name = input({ required: true, autocomplete: 'off' });
    const members = input({ placeholder: 'alice, bob' });
    return [
      table('Groups (hunt groups: a call rings every member)', ['Name', 'Domain', 'Members', 'Add members', ''], groups.map((g) => {
        const more = input({ 'aria-label': `Members to add to ${g.name}`, size: 12 });
        return [
          h('strong', {}, g.name), g.domain, g.participants.map((p) => byId.get(p) ?? p).join(', '),
          h('span', { className: 'inline' }, more, h('button', {
            type: 'button', className: 'small', 'aria-label': `Add members to ${g.name}`,
            onclick: () => void ctx.act(`Adding to ${g.name}`, () => ctx.api.groups.addParticipants(g.id, list(more.value))),
          }, 'Add')),
          danger(`Delete ${g.name}`, `Delete the group ${g.name}`, () => void ctx.act(`Deleting ${g.name}`, () => ctx.api.groups.remove(g.id))),
        ];
      })),
      form('Create group', () => void ctx.act(`Creating ${name.value}`,
        () => ctx.api.groups.create({ name: name.value.trim(), participants: list(members.value) })),
      field('Name', name), field('Members', members, 'usernames, separated by commas')),
    ];
  },

  async sessions(ctx) {
    const sessions = await ctx.api.sessions.list();
    return [table('Live sessions (devices)', ['User', 'Domain', 'Platform', 'Browser', 'Since', 'Connected', ''], sessions.map((s) => [
      h('strong', {}, s.username), s.domain, s.platform, h('small', {}, s.userAgent), dateTime(s.created), s.connected ? 'yes' : 'reconnecting',
      h('button', {
        type: 'button', className: 'danger small', 'aria-label': `End the session of ${s.username} on ${s.platform || 'a device'}`,
        onclick: () => void ctx.act(`Ending the session of ${s.username}`, () => ctx.api.sessions.end(s.id)),
      }, 'End'),
    ]))];
  },

  async alarms(ctx) {
    const alarms = await ctx.api.alarms.list({ limit: 200 });
    return [table('Alarms, newest first', ['When', 'Type', 'Domain', 'User', 'Message'], alarms.map((a) => [
      dateTime(a.created), a.type, a.domain, a.user, a.message,
    ]))];
  },
};
