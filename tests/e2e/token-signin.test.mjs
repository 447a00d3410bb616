// Signing in to the demo app with a token instead of a password: the token is minted by
// `mucsub-server token mint` (what an app's backend would do) for a server that accepts
// tokens beside passwords; the app hands it to the SDK's `credentials` callback. A refused
// token (expired) is reported on the form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { appSuite } from './lib/app-suite.mjs';
import { serverBin } from './lib/paths.mjs';
import { PHONE, watchPage } from './lib/browser.mjs';
import { WAIT, waitReady, waitOnline, subscribe, post, bodies, waitForBodyCount } from './lib/app.mjs';

const run = promisify(execFile);
const ROOM = `tokens-${randomBytes(4).toString('hex')}@conference.localhost`;

const secret = randomBytes(32).toString('hex');
const env = appSuite({
  users: [['alice', 'pw']],
  config: `[auth]\nmethods = ["password", "jwt"]\n[auth.jwt]\nsecret = "${secret}"\n`,
});
const { logs, step } = env;

async function mint(user, ttl) {
  const { stdout } = await run(serverBin,
    ['token', 'mint', user, '--config', env.server.configPath, '--ttl', String(ttl)], { timeout: 60_000 });
  return stdout.trim();
}

async function fillTokenForm(page, jid, token) {
  await waitReady(page);
  await page.waitForSelector('#signin-form', { timeout: WAIT });
  await page.fill('#signin-form input[name=jid]', jid);
  await page.selectOption('#signin-method', 'token');
  await page.fill('#signin-form input[name=password]', token);
  await page.click('#signin-submit');
}

test('a minted token signs in; an expired one is refused on the form', async (t) => {
  await t.test('an expired token is refused', () => step(async () => {
    const ctx = await env.browser.newContext(PHONE);
    const page = await ctx.newPage();
    logs.push(watchPage(page, 'expired'));
    await page.goto(env.server.httpUrl);
    await fillTokenForm(page, 'alice@localhost', await mint('alice', -60));
    await page.waitForFunction(() => document.querySelector('#signin-error')?.textContent.includes('token was refused'),
      null, { timeout: WAIT });
    await ctx.close();
  }));

  await t.test('a fresh token signs in, and the account chats as usual', () => step(async () => {
    const ctx = await env.browser.newContext(PHONE);
    const page = await ctx.newPage();
    const watched = watchPage(page, 'alice');
    logs.push(watched);
    await page.goto(env.server.httpUrl);
    await fillTokenForm(page, 'alice@localhost', await mint('alice', 600));
    await page.waitForSelector('#room-list', { timeout: WAIT });
    await waitOnline(page);
    await subscribe(page, ROOM, 'alice', { create: true });
    await post(page, 'signed in with a token');
    await waitForBodyCount(page, 1);
    assert.deepEqual(await bodies(page), ['signed in with a token']);
    // A reload resumes the session with the stored token, as with a password.
    await page.reload();
    await waitReady(page);
    await waitOnline(page);
    assert.deepEqual(watched.errors, []);
    await ctx.close();
  }));
});
