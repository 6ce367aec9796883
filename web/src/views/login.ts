// The login screen, and the guest entry of conference links.
import { ApiError } from '@openwac/sdk';
import { field, h } from '../dom';
import { describeError } from '../messages';
import { unlockAudio } from '../ringtone';

export interface LoginHandlers {
  password(username: string, password: string): Promise<void>;
  /** Present when the link names a domain whose guests may join. */
  guest?: { domain: string; join(): Promise<void> };
  /** Why the user is on this screen (a session that ended, say). */
  reason?: string;
  /** External identity providers to sign in with (GET /sapi/o/providers). */
  providers?: LoginProvider[];
}

export interface LoginProvider {
  name: string;
  displayName: string;
  /** Where the login at the provider starts (a page of the server). */
  start: string;
}

export function loginView(handlers: LoginHandlers): HTMLElement {
  const error = h('p', { className: 'error', role: 'alert' }, handlers.reason ?? '');
  const user = h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true, autofocus: true, placeholder: 'alice@example' });
  const pass = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', className: 'primary' }, 'Log in');
  const busy = async (btn: HTMLButtonElement, work: () => Promise<void>, refused: string) => {
    unlockAudio();
    error.textContent = '';
    btn.disabled = true;
    try {
      await work();
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 400 && err.oauthError === 'invalid_grant'
        ? refused
        : describeError(err);
    } finally {
      btn.disabled = false;
    }
  };
  const form = h('form', {
    className: 'card login',
    'aria-labelledby': 'login-title',
    onsubmit: (ev: Event) => {
      ev.preventDefault();
      void busy(submit, () => handlers.password(user.value.trim(), pass.value), 'Wrong username or password.');
    },
  },
  h('h1', { id: 'login-title' }, 'OpenWAC'),
  h('p', { className: 'muted' }, handlers.guest ? 'Log in, or join as a guest.' : 'Log in to call and meet.'),
  field('Username', user, 'user@domain; a bare name means the default domain'),
  field('Password', pass),
  error,
  submit);
  if (handlers.providers?.length) {
    const sso = h('div', { className: 'sso', role: 'group', 'aria-label': 'Single sign-on' },
      h('p', { className: 'muted' }, 'Or use your organisation\'s account:'));
    for (const p of handlers.providers) {
      const btn = h('button', { type: 'button' }, `Sign in with ${p.displayName}`);
      btn.onclick = () => {
        btn.disabled = true;
        location.assign(`${p.start}?return_to=${encodeURIComponent(location.pathname)}`);
      };
      sso.append(btn);
    }
    form.append(sso);
  }
  if (handlers.guest) {
    const guest = handlers.guest;
    const btn = h('button', { type: 'button' }, 'Join as guest');
    btn.onclick = () => void busy(btn, () => guest.join(), `${guest.domain} does not let guests in: log in instead.`);
    form.append(h('div', { className: 'guest' }, h('p', {}, `Guests of ${guest.domain} may join without an account.`), btn));
  }
  return h('main', { className: 'center', id: 'main' }, form);
}
