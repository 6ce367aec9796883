// The web app's entry: login, the shell (navigation, notices, connection
// banner), the routes, and the phone.
import { Wac, type User } from '@openwac/sdk';
import type { App } from './app';
import { h, replace } from './dom';
import { clearLogin, isSSO, loadLogin, markSSO, saveLogin } from './login-store';
import { describeError } from './messages';
import { Phone } from './phone';
import { interceptLinks, startRouter } from './router';
import { adminTabs, adminView, type AdminTab } from './views/admin';
import { directoryView } from './views/directory';
import { historyView } from './views/history';
import { loginView, type LoginProvider } from './views/login';
import { meetingsView } from './views/meetings';

const root = document.getElementById('app') as HTMLElement;
interceptLinks(root);

const CONFERENCE = /^\/conference\/(wac-conf\d{20})$/;
const MEETING = /^\/meeting\/([0-9a-f]{24})$/;

let app: App | null = null;

/** Starts a logged-in app: signaling session, phone, shell. */
async function start(wac: Wac, anonymous: boolean): Promise<void> {
  wac.api.on('tokens', (t) => {
    if (!anonymous) saveLogin(t);
  });
  if (wac.tokens && !anonymous) saveLogin(wac.tokens);
  const session = await wac.connect();
  const me: User = anonymous
    ? { id: session.user, username: session.username, domain: session.domain, role: 'anonymous', uri: `wac-user:${session.user}` }
    : await wac.api.users.me();
  const banner = h('div', { className: 'banner', role: 'status', hidden: true });
  const notices = h('div', { className: 'notices', 'aria-live': 'polite' });
  const layer = h('div', { className: 'call-layer' });
  const main = h('main', { id: 'main', tabIndex: -1 });
  let directory: Promise<Map<string, User>> | null = null;
  const notify = (message: string, kind: 'info' | 'error' = 'info') => {
    const n = h('div', { className: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
      h('span', {}, message),
      h('button', { type: 'button', className: 'small', 'aria-label': 'Dismiss', onclick: () => n.remove() }, '×'));
    notices.prepend(n);
    while (notices.children.length > 3) notices.lastElementChild?.remove();
  };
  // A link to a conference lets guests in when one's domain allows them.
  const guestDomain = anonymous
    ? session.domain
    : await wac.api.domains.list().then(
        (ds) => ds.find((d) => d.enableAnonymous && (d.id === me.domain || d.domain === me.domain))?.domain,
        () => undefined,
      );
  const phone = new Phone(wac, layer, notify, guestDomain);
  const current: App = {
    wac, me, anonymous,
    isAdmin: me.role === 'admin',
    notify,
    directory: () => {
      directory ??= wac.api.users.list({ limit: 1000 }).then((list) => new Map(list.map((u) => [u.id, u])));
      directory.catch(() => {
        directory = null;
      });
      return directory;
    },
    call: (to, video) => void phone.call(to, video),
    joinConference: (uri) => void phone.joinConference(uri),
  };
  app = current;
  wac.on('connection', (state) => {
    banner.hidden = state === 'connected';
    banner.textContent = state === 'reconnecting' ? 'The network connection was lost. Reconnecting…' : '';
  });
  wac.on('sessionEnded', (reason) => void stop(`You were signed out: ${reason}.`));
  wac.on('loggedOut', (reason) => void stop(`You were signed out: ${reason}.`));

  const nav = h('nav', { className: 'top', 'aria-label': 'Main' },
    h('a', { href: '/', className: 'brand' }, 'OpenWAC'),
    anonymous ? null : h('a', { href: '/' }, 'Contacts'),
    anonymous ? null : h('a', { href: '/meetings' }, 'Meetings'),
    anonymous ? null : h('a', { href: '/history' }, 'History'),
    current.isAdmin ? h('a', { href: '/admin/users' }, 'Admin') : null,
    h('span', { className: 'me' }, anonymous ? 'Guest' : `${me.username}@${me.domain}`),
    h('button', { type: 'button', onclick: () => void logout() }, anonymous ? 'Leave' : 'Log out'));
  replace(root,
    h('a', { href: '#main', className: 'skip' }, 'Skip to content'),
    h('header', {}, nav), banner, notices, layer, main);

  startRouter((path) => {
    for (const a of nav.querySelectorAll('a:not(.brand)')) {
      const target = a.getAttribute('href') ?? '';
      if (target === path || (target !== '/' && path.startsWith(target.replace(/\/users$/, '/')))) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    const conf = CONFERENCE.exec(path);
    if (conf) {
      const uri = conf[1] as string;
      replace(main, h('section', { className: 'card', 'aria-labelledby': 'conf-page' },
        h('h1', { id: 'conf-page' }, 'Conference'),
        h('p', {}, 'Anyone with this link may join: ', h('code', {}, `${location.origin}/conference/${uri}`)),
        h('button', { type: 'button', className: 'primary', onclick: () => current.joinConference(uri) }, 'Join again')));
      current.joinConference(uri);
      return;
    }
    const meeting = MEETING.exec(path);
    if (meeting) {
      const uri = `wac-meeting:${meeting[1] as string}`;
      replace(main, h('section', { className: 'card', 'aria-labelledby': 'meeting-page' },
        h('h1', { id: 'meeting-page' }, 'Meeting'),
        h('p', {}, 'The meeting\'s link: ', h('code', {}, location.href)),
        h('button', { type: 'button', className: 'primary', onclick: () => current.joinConference(uri) }, 'Join again')));
      current.joinConference(uri);
      return;
    }
    if (anonymous) {
      replace(main, h('section', { className: 'card' }, h('h1', {}, 'Guest'), h('p', {}, 'Open a conference or meeting link to join.')));
      return;
    }
    if (path === '/history') replace(main, historyView(current));
    else if (path === '/meetings') replace(main, meetingsView(current));
    else if (path.startsWith('/admin')) {
      const tab = (adminTabs as readonly string[]).includes(path.split('/')[2] ?? '') ? path.split('/')[2] as AdminTab : 'users';
      replace(main, current.isAdmin ? adminView(current, tab) : h('p', { className: 'error', role: 'alert' }, 'Only administrators may see this page.'));
    } else replace(main, directoryView(current));
    document.title = `OpenWAC`;
  });
}

async function logout(): Promise<void> {
  const a = app;
  app = null;
  const sso = isSSO();
  clearLogin();
  if (a && sso) {
    // A login through an identity provider ends there too (RP-initiated
    // logout): the server ends ours and says where the provider's ends.
    await a.wac.disconnect().catch(() => undefined);
    const out = await a.wac.api.request<{ endSessionUrl: string }>('POST', '/sapi/o/federation/logout', {}).catch(() => null);
    if (out?.endSessionUrl) {
      location.assign(out.endSessionUrl);
      return;
    }
  } else if (a) await a.wac.logout().catch(() => undefined);
  showLogin('');
}

async function stop(message: string): Promise<void> {
  const a = app;
  if (!a) return;
  app = null;
  clearLogin();
  await a.wac.disconnect().catch(() => undefined);
  showLogin(message);
}

/** The identity providers the login page offers. */
async function loginProviders(): Promise<LoginProvider[]> {
  try {
    const r = await fetch('/sapi/o/providers');
    return r.ok ? (await r.json() as LoginProvider[]) : [];
  } catch {
    return [];
  }
}

function showLogin(reason: string): void {
  void loginProviders().then((providers) => {
    if (!app) renderLogin(reason, providers);
  });
}

function renderLogin(reason: string, providers: LoginProvider[]): void {
  const conf = CONFERENCE.exec(location.pathname) ?? MEETING.exec(location.pathname);
  const guestDomain = conf ? new URLSearchParams(location.search).get('domain') : null;
  replace(root, loginView({
    reason,
    providers,
    password: async (username, password) => {
      const wac = await Wac.login(username, password);
      await start(wac, false).catch((err: unknown) => {
        void wac.disconnect();
        throw err;
      });
    },
    guest: guestDomain ? {
      domain: guestDomain,
      join: async () => {
        const wac = await Wac.loginAnonymous(guestDomain);
        await start(wac, true);
      },
    } : undefined,
  }));
  if (!conf && location.pathname !== '/') history.replaceState(null, '', '/');
}

/**
 * A login through an identity provider ends at the app with OpenWAC's
 * tokens (or the error) in the fragment: take them and clear the address.
 */
async function ssoReturn(): Promise<boolean> {
  const got = new URLSearchParams(location.hash.slice(1));
  if (!got.has('sso_access_token') && !got.has('sso_error')) return false;
  history.replaceState(null, '', location.pathname + location.search);
  if (got.has('sso_error')) {
    showLogin(`Single sign-on failed: ${got.get('sso_error_description') || got.get('sso_error')}`);
    return true;
  }
  const wac = new Wac();
  try {
    await wac.api.restore({
      access_token: got.get('sso_access_token') ?? '',
      refresh_token: got.get('sso_refresh_token') ?? undefined,
      expires_in: Number(got.get('sso_expires_in') ?? '0'),
      token_type: 'Bearer',
    }, Date.now());
    markSSO();
    await start(wac, false);
  } catch (err) {
    clearLogin();
    showLogin(`Please log in again (${describeError(err)})`);
  }
  return true;
}

async function boot(): Promise<void> {
  if (await ssoReturn()) return;
  const stored = loadLogin();
  if (stored) {
    const wac = new Wac();
    try {
      await wac.api.restore(stored.tokens, stored.obtainedAt);
      await start(wac, false);
      return;
    } catch (err) {
      clearLogin();
      showLogin(`Please log in again (${describeError(err)})`);
      return;
    }
  }
  showLogin('');
}

// A page that goes away (closed, reloaded, navigated elsewhere) ends its
// session at once: the close code 1000 tells the server the user left, so
// the device is not kept as "reconnecting" until removeAfter. A page the
// browser kept and shows again starts afresh, its session being gone.
addEventListener('pagehide', () => app?.wac.signaling.close());
addEventListener('pageshow', (ev) => {
  if (ev.persisted) location.reload();
});

void boot();
