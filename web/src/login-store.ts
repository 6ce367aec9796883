// The login kept across page reloads, in this tab only (sessionStorage):
// each tab is a device of its own with its own tokens.
import type { Tokens } from '@openwac/sdk';

const KEY = 'openwac.login';

export interface StoredLogin {
  tokens: Tokens;
  obtainedAt: number;
}

export function loadLogin(): StoredLogin | null {
  try {
    const s = sessionStorage.getItem(KEY);
    return s ? (JSON.parse(s) as StoredLogin) : null;
  } catch {
    return null;
  }
}

/** Keeps tokens; the same tokens saved again keep the time they were obtained. */
export function saveLogin(tokens: Tokens): void {
  const prev = loadLogin();
  const obtainedAt = prev && prev.tokens.access_token === tokens.access_token ? prev.obtainedAt : Date.now();
  sessionStorage.setItem(KEY, JSON.stringify({ tokens, obtainedAt }));
}

export function clearLogin(): void {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(SSO_KEY);
}

const SSO_KEY = 'openwac.sso';

/** Remembers that this tab's login came through an identity provider. */
export function markSSO(): void {
  sessionStorage.setItem(SSO_KEY, '1');
}

/** Whether this tab's login came through an identity provider (its logout ends the provider's session too). */
export function isSSO(): boolean {
  return sessionStorage.getItem(SSO_KEY) === '1';
}
