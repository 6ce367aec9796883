import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Api } from '../src/api';
import { ApiError } from '../src/errors';
import { fakeFetch } from './fakes';

const tokens = (n: number) => ({ access_token: `at-${n}`, refresh_token: `rt-${n}`, expires_in: 3600, token_type: 'Bearer' });

test('password login stores the tokens and calls resources with them', async () => {
  const { fetch, calls } = fakeFetch((url) => url.endsWith('/sapi/o/token')
    ? { status: 200, body: tokens(1) }
    : { status: 200, body: [{ id: 'u1', username: 'bob' }] });
  const api = new Api('http://wac/', { fetch });
  const seen: string[] = [];
  api.on('tokens', (t) => seen.push(t.access_token));
  await api.login('alice@quobis', 'pw');
  assert.deepEqual(calls[0]!.body, { grant_type: 'password', username: 'alice@quobis', password: 'pw' });
  const users = await api.users.list({ search: 'bo', limit: 10 });
  assert.equal(users[0]!.username, 'bob');
  assert.equal(calls[1]!.url, 'http://wac/sapi/users?search=bo&limit=10');
  assert.equal(calls[1]!.headers.Authorization, 'Bearer at-1');
  assert.deepEqual(seen, ['at-1']);
});

test('anonymous login asks for @domain', async () => {
  const { fetch, calls } = fakeFetch(() => ({ status: 200, body: { access_token: 'anon', expires_in: 60, token_type: 'Bearer' } }));
  const api = new Api('http://wac', { fetch });
  await api.loginAnonymous('guests.example');
  assert.deepEqual(calls[0]!.body, { grant_type: 'anonymous', username: '@guests.example' });
  assert.equal(api.accessToken, 'anon');
});

test('errors carry the status, the message, the field and the OAuth2 error', async () => {
  const { fetch } = fakeFetch((url) => url.endsWith('/sapi/o/token')
    ? { status: 400, body: { error: 'invalid_grant', error_description: 'invalid username or password', code: 400, message: 'invalid username or password' } }
    : { status: 422, body: { code: 422, message: 'username is required', field: 'username' } });
  const api = new Api('http://wac', { fetch });
  await assert.rejects(api.login('x', 'y'), (e: unknown) =>
    e instanceof ApiError && e.status === 400 && e.oauthError === 'invalid_grant' && e.message === 'invalid username or password');
  await assert.rejects(api.users.create({}), (e: unknown) => e instanceof ApiError && e.status === 422 && e.field === 'username');
});

test('an unreachable server is an ApiError with status 0', async () => {
  const api = new Api('http://wac', { fetch: async () => { throw new TypeError('fetch failed'); } });
  await assert.rejects(api.login('a', 'b'), (e: unknown) => e instanceof ApiError && e.status === 0 && /cannot be reached/.test(e.message));
});

test('a 401 refreshes the tokens once and retries', async () => {
  let n = 0;
  const { fetch, calls } = fakeFetch((url, init) => {
    if (url.endsWith('/sapi/o/token')) return { status: 200, body: tokens(++n) };
    const auth = (init.headers as Record<string, string>).Authorization;
    return auth === 'Bearer at-2' ? { status: 200, body: { id: 'me' } } : { status: 401, body: { code: 401, message: 'expired' } };
  });
  const api = new Api('http://wac', { fetch });
  await api.login('alice', 'pw');
  assert.equal((await api.users.me()).id, 'me');
  assert.deepEqual(calls.map((c) => c.body?.grant_type ?? c.url), ['password', 'http://wac/sapi/users/me', 'refresh_token', 'http://wac/sapi/users/me']);
  assert.equal(calls[2]!.body?.refresh_token, 'rt-1');
});

test('restore refreshes expired tokens; a refused refresh logs out', async () => {
  const { fetch } = fakeFetch(() => ({ status: 400, body: { error: 'invalid_grant', message: 'expired' } }));
  const api = new Api('http://wac', { fetch });
  const out = new Promise<string>((ok) => api.on('loggedOut', ok));
  await assert.rejects(api.restore(tokens(1), Date.now() - 4000 * 1000));
  assert.match(await out, /expired/);
  assert.equal(api.tokens, null);
});
