// Single sign-on in headless Chromium: two `wac serve`, one the identity
// provider of the other. The web app's login page of b offers "Sign in
// with Node A"; a's login and consent pages (server-rendered, under a
// strict Content-Security-Policy) log the user in; the app of b opens
// with an OpenWAC token of b; logging out ends a's session too. Any
// console error or failed request fails the test.
//
//   cd test/web && npm ci && npm test          (WAC_BIN=... to skip go build)
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { browserAvailable, chromiumPath, launchBrowser, openPage, repo, startWac } from './lib.mjs';

if (process.env.CI && !browserAvailable()) throw new Error(`${chromiumPath} is missing: .ci/web.sh installs Debian's chromium`);

describe('single sign-on in Chromium', { skip: !browserAvailable() && `${chromiumPath} is missing (apt-get install chromium)` }, () => {
  let a;
  let b;
  let browser;
  const errors = [];

  before(async () => {
    a = await startWac();
    b = await startWac({ WAC_LOGIN_CREATE_OAUTH_USER: 'true' });
    await a.createUser('alice', 'alice-password-1');
    const client = await a.api('POST', '/sapi/clients', {
      name: 'Node B', redirectUris: [`${b.base}/sapi/o/federation/callback`], postLogoutRedirectUris: [`${b.base}/`],
    });
    await b.api('POST', '/sapi/domains', { domain: 'corp' });
    await b.api('POST', '/sapi/providers', {
      name: 'wac-a', displayName: 'Node A', domain: 'corp', issuer: a.base,
      clientId: client.id, clientSecret: client.client_secret, listed: true,
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await a?.stop();
    await b?.stop();
  });

  test('a user signs in to b through a, and signs out of both', async () => {
    const page = await openPage(browser, b, 'b', errors);
    await page.getByRole('button', { name: 'Sign in with Node A' }).waitFor();
    if (process.env.UPDATE_SCREENSHOTS) await page.screenshot({ path: join(repo, 'docs', 'screenshots', 'login-sso.png') });
    await page.getByRole('button', { name: 'Sign in with Node A' }).click();
    await page.waitForURL(`${a.base}/sapi/o/authorize?**`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('alice-password-1');
    if (process.env.UPDATE_SCREENSHOTS) await page.screenshot({ path: join(repo, 'docs', 'screenshots', 'sso-login.png') });
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.getByRole('button', { name: 'Log out' }).waitFor();
    await page.getByText('alice@corp').waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the tokens were left in the address bar');

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Sign in with Node A' }).waitFor();
    assert.equal(new URL(page.url()).origin, b.base);
    // a's session ended with b's login: a asks for the password again.
    await page.getByRole('button', { name: 'Sign in with Node A' }).click();
    await page.getByLabel('Password').waitFor();
    assert.deepEqual(errors, [], 'console errors or failed requests');
  });
});
