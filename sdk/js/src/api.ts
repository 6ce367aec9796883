import { Emitter } from './emitter';
import { ApiError } from './errors';
import type {
  Alarm, CallRecord, Capabilities, Credential, CredentialInput, Domain, Group, Meeting, MeetingInput, Permission, Session, Tokens, User,
  UserInput,
} from './types';

/** The fetch function the client uses (the global one by default). */
export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

export type ApiEvents = {
  /** New tokens: after a login or a refresh (apps may keep them to restore the login). */
  tokens: [Tokens];
  /** The login ended: logged out, or the tokens expired and could not be refreshed. */
  loggedOut: [reason: string];
};

/** Options of {@link Api}. */
export interface ApiOptions {
  fetch?: FetchFn;
  /** Refresh this many seconds before the access token expires (default 60). */
  refreshMargin?: number;
}

/**
 * The REST API (SAPI) of one server for one login: tokens (password and
 * anonymous logins, refresh before expiry, logout) and typed calls of every
 * resource.
 */
export class Api extends Emitter<ApiEvents> {
  /** The server's base URL, e.g. `http://127.0.0.1:8000`. */
  readonly server: string;
  private readonly fetchFn: FetchFn;
  private readonly refreshMargin: number;
  private current: Tokens | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshing: Promise<void> | null = null;
  private expiresAt = 0;

  constructor(server: string, options: ApiOptions = {}) {
    super();
    this.server = server.replace(/\/+$/, '');
    this.fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
    this.refreshMargin = options.refreshMargin ?? 60;
  }

  /** The current tokens (null before login and after logout). */
  get tokens(): Tokens | null {
    return this.current;
  }

  /** The current access token, or "" when logged out. */
  get accessToken(): string {
    return this.current?.access_token ?? '';
  }

  /** Logs in with a password; `username` is `user@domain` (a bare name means the default domain). */
  async login(username: string, password: string): Promise<Tokens> {
    return this.grant({ grant_type: 'password', username, password });
  }

  /** Logs in as an anonymous visitor of a domain that allows it. */
  async loginAnonymous(domain: string): Promise<Tokens> {
    return this.grant({ grant_type: 'anonymous', username: '@' + domain.replace(/^@/, '') });
  }

  /** Uses tokens kept from an earlier login (refreshing them at once if they expired). */
  async restore(tokens: Tokens, obtainedAt: number): Promise<void> {
    const expiresAt = obtainedAt + tokens.expires_in * 1000;
    this.setTokens(tokens, expiresAt);
    if (expiresAt - Date.now() < this.refreshMargin * 1000) await this.refresh();
  }

  /** Exchanges the refresh token for new tokens (the signaling session stays). */
  refresh(): Promise<void> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  /** Makes sure the access token is valid for a while, refreshing it if needed. */
  async fresh(): Promise<string> {
    if (this.current && this.expiresAt - Date.now() < this.refreshMargin * 1000 && this.current.refresh_token) {
      await this.refresh();
    }
    return this.accessToken;
  }

  /** Ends the login on the server (the grant and its sessions end too). */
  async logout(): Promise<void> {
    if (!this.current) return;
    try {
      await this.request('POST', '/sapi/o/revoke', {});
    } finally {
      this.drop('logged out');
    }
  }

  /**
   * Calls the REST API with the access token. Errors are {@link ApiError}s;
   * a 401 is retried once after a refresh.
   */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res = await this.send(method, path, body, await this.fresh());
    if (res.status === 401 && this.current?.refresh_token) {
      await this.refresh();
      res = await this.send(method, path, body, this.accessToken);
    }
    return this.decode<T>(res);
  }

  private async grant(body: Record<string, string>): Promise<Tokens> {
    const res = await this.send('POST', '/sapi/o/token', body, '');
    const tokens = await this.decode<Tokens>(res);
    this.setTokens(tokens, Date.now() + tokens.expires_in * 1000);
    return tokens;
  }

  private async doRefresh(): Promise<void> {
    const rt = this.current?.refresh_token;
    if (!rt) throw new ApiError(401, 'this login cannot be refreshed');
    try {
      await this.grant({ grant_type: 'refresh_token', refresh_token: rt });
    } catch (err) {
      if (err instanceof ApiError && err.status >= 400 && err.status < 500) this.drop('the login expired');
      throw err;
    }
  }

  private setTokens(tokens: Tokens, expiresAt: number): void {
    this.current = tokens;
    this.expiresAt = expiresAt;
    clearTimeout(this.refreshTimer);
    if (tokens.refresh_token) {
      const wait = Math.max(1000, expiresAt - Date.now() - this.refreshMargin * 1000);
      this.refreshTimer = setTimeout(() => {
        this.refresh().catch(() => {
          // A failed refresh is retried by the next request, or ends the login (loggedOut).
        });
      }, wait);
      // In Node.js, a pending refresh alone does not keep the process running.
      (this.refreshTimer as { unref?: () => void }).unref?.();
    }
    this.emit('tokens', tokens);
  }

  private drop(reason: string): void {
    clearTimeout(this.refreshTimer);
    this.current = null;
    this.expiresAt = 0;
    this.emit('loggedOut', reason);
  }

  private async send(method: string, path: string, body: unknown, token: string): Promise<Response> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = `Bearer ${token}`;
    try {
      return await this.fetchFn(this.server + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, `the server cannot be reached (${(err as Error).message})`);
    }
  }

  private async decode<T>(res: Response): Promise<T> {
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (!res.ok) {
      const e = (data ?? {}) as { message?: string; field?: string; error?: string; error_description?: string };
      const message = e.message || e.error_description || text.trim() || res.statusText || `HTTP ${res.status}`;
      throw new ApiError(res.status, message, e.field ?? '', e.error ?? '');
    }
    return data as T;
  }

  // The resources, typed.

  /** Users: the directory of one's domain (users), or the users an admin administers. */
  readonly users = {
    list: (query: { search?: string; domain?: string; role?: string; limit?: number; offset?: number } = {}) =>
      this.request<User[]>('GET', '/sapi/users' + queryString(query)),
    me: () => this.request<User>('GET', '/sapi/users/me'),
    get: (id: string) => this.request<User>('GET', `/sapi/users/${enc(id)}`),
    resolve: (target: string) => this.request<User>('GET', `/sapi/users/resolve/${enc(target)}`),
    create: (user: UserInput) => this.request<User>('POST', '/sapi/users', user),
    update: (id: string, fields: UserInput) => this.request<User>('PATCH', `/sapi/users/${enc(id)}`, fields),
    remove: (id: string) => this.request<void>('DELETE', `/sapi/users/${enc(id)}`),
  };

  readonly domains = {
    list: () => this.request<Domain[]>('GET', '/sapi/domains'),
    get: (id: string) => this.request<Domain>('GET', `/sapi/domains/${enc(id)}`),
    create: (domain: Partial<Domain> & { domain: string }) => this.request<Domain>('POST', '/sapi/domains', domain),
    replace: (id: string, domain: Partial<Domain> & { domain: string }) =>
      this.request<Domain>('PUT', `/sapi/domains/${enc(id)}`, domain),
    remove: (id: string) => this.request<void>('DELETE', `/sapi/domains/${enc(id)}`),
  };

  /** Hunt groups (usersGroup). */
  readonly groups = {
    list: (mine = false) => this.request<Group[]>('GET', '/sapi/usersGroup' + (mine ? '?mine=true' : '')),
    get: (id: string) => this.request<Group>('GET', `/sapi/usersGroup/${enc(id)}`),
    create: (group: { name: string; domain?: string; participants?: string[] }) =>
      this.request<Group>('POST', '/sapi/usersGroup', group),
    update: (id: string, group: { name?: string; owner?: string; participants?: string[] }) =>
      this.request<Group>('PUT', `/sapi/usersGroup/${enc(id)}`, group),
    addParticipants: (id: string, participants: string[]) =>
      this.request<Group>('POST', `/sapi/usersGroup/${enc(id)}/participants`, { participants }),
    removeParticipants: (id: string, participants: string[]) =>
      this.request<Group>('DELETE', `/sapi/usersGroup/${enc(id)}/participants`, { participants }),
    leave: (id: string) => this.request<void>('DELETE', `/sapi/usersGroup/${enc(id)}/leave`),
    remove: (id: string) => this.request<void>('DELETE', `/sapi/usersGroup/${enc(id)}`),
  };

  /** Scheduled meetings: those one owns or is invited to (admins: their domains'). */
  readonly meetings = {
    list: (query: { user?: string; from?: number; to?: number; limit?: number; offset?: number } = {}) =>
      this.request<Meeting[]>('GET', '/sapi/meetings' + queryString(query)),
    get: (id: string) => this.request<Meeting>('GET', `/sapi/meetings/${enc(id)}`),
    create: (meeting: MeetingInput & { name: string; validSince: number; validUntil: number }) =>
      this.request<Meeting>('POST', '/sapi/meetings', meeting),
    update: (id: string, meeting: MeetingInput) => this.request<Meeting>('PUT', `/sapi/meetings/${enc(id)}`, meeting),
    remove: (id: string) => this.request<void>('DELETE', `/sapi/meetings/${enc(id)}`),
  };

  /** Call history. */
  readonly calls = {
    list: (query: { user?: string; limit?: number; offset?: number } = {}) =>
      this.request<CallRecord[]>('GET', '/sapi/calls' + queryString(query)),
    get: (id: string) => this.request<CallRecord>('GET', `/sapi/calls/${enc(id)}`),
  };

  /** Live signaling sessions (devices). */
  readonly sessions = {
    list: (user?: string) => this.request<Session[]>('GET', '/sapi/sessions' + queryString({ user })),
    end: (id: string) => this.request<void>('DELETE', `/sapi/sessions/${enc(id)}`),
  };

  readonly credentials = {
    list: (user?: string) => this.request<Credential[]>('GET', '/sapi/credentials' + queryString({ user })),
    create: (credential: CredentialInput) => this.request<Credential>('POST', '/sapi/credentials', credential),
    replace: (id: string, credential: CredentialInput) =>
      this.request<Credential>('PUT', `/sapi/credentials/${enc(id)}`, credential),
    remove: (id: string) => this.request<void>('DELETE', `/sapi/credentials/${enc(id)}`),
  };

  /** The receiveCalls permission of users and domains. */
  readonly permissions = {
    user: (id: string) => this.request<Permission>('GET', `/sapi/permissions/user/${enc(id)}`),
    setUser: (id: string, receiveCalls: boolean) =>
      this.request<Permission>('POST', `/sapi/permissions/user/${enc(id)}`, { receiveCalls: { enabled: receiveCalls } }),
    domain: (id: string) => this.request<Permission>('GET', `/sapi/permissions/domain/${enc(id)}`),
    setDomain: (id: string, receiveCalls: boolean) =>
      this.request<Permission>('POST', `/sapi/permissions/domain/${enc(id)}`, { receiveCalls: { enabled: receiveCalls } }),
  };

  readonly capabilities = () => this.request<Capabilities>('GET', '/sapi/capabilities');

  readonly alarms = {
    list: (query: { limit?: number; offset?: number } = {}) =>
      this.request<Alarm[]>('GET', '/sapi/alarms' + queryString(query)),
  };
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

function queryString(query: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? '?' + s : '';
}
