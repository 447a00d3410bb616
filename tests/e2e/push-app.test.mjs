// The demo app's Notifications switch, end to end: bob turns notifications on in the room list
// (permission, service worker, the server's VAPID key, pushManager.subscribe, enablePush), closes
// the app, alice posts, and the loopback push service gets the Web Push (VAPID checked, payload
// decrypted: room and sender, no text since bob did not allow it). Turning it off unregisters.
//
// Chromium's pushManager needs the browser vendor's push service, which is unreachable here, so
// the page's PushManager hands out a subscription the loopback push service made (real P-256
// keys and auth secret) and records the applicationServerKey it was asked for. Everything else
// (permission, service worker, the SDK, the server and its app server) is the real thing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PHONE, DESKTOP, watchPage } from './lib/browser.mjs';
import { pushSuite } from './lib/push-suite.mjs';
import { WAIT, signIn, subscribe, post, waitOnline } from './lib/app.mjs';
import { b64url } from './lib/push-service.mjs';

const ROOM = `alerts-${randomBytes(4).toString('hex')}@conference.localhost`;

const logs = [];
// Chromium only: Playwright grants the notification permission and replaces pushManager
// before the app's scripts run (grantPermissions, addInitScript: no WebDriver classic twin).
const env = pushSuite(() => `--- pages ---\n${logs.flatMap((l) => l.log).slice(-60).join('\n')}`, { chromiumOnly: true });
const { step } = env;

// Stands in for the browser's push service client: the subscription comes from the loopback
// push service; the key the app subscribes with is kept for the test to check.
function fakePushManager(sub) {
  // The subscription outlives the page, as a real one does: kept in localStorage.
  const KEY = 'test.fake-push-key';
  window.pushCalls = { subscribe: [], unsubscribe: 0 };
  const make = (bytes) => ({
    endpoint: sub.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: new Uint8Array(bytes).buffer },
    toJSON: () => sub,
    unsubscribe: async () => {
      localStorage.removeItem(KEY);
      window.pushCalls.unsubscribe += 1;
      return true;
    },
  });
  PushManager.prototype.subscribe = async function subscribe(opts) {
    const bytes = [...new Uint8Array(opts.applicationServerKey)];
    window.pushCalls.subscribe.push({ userVisibleOnly: opts.userVisibleOnly, key: bytes });
    localStorage.setItem(KEY, JSON.stringify(bytes));
    return make(bytes);
  };
  PushManager.prototype.getSubscription = async function getSubscription() {
    const stored = localStorage.getItem(KEY);
    return stored ? make(JSON.parse(stored)) : null;
  };
}

// Sessions of bob's app (not the short registration sessions) that the server saw end, or
// wait to be resumed (the app's stream is resumable, XEP-0198: a closed tab leaves it
// waiting, which counts as inactive for push just as an ended one).
function bobSessionsEnded() {
  return env.server.output.replace(/\x1b\[[0-9;]*m/g, '').split('\n')
    .filter((l) => (l.includes('session ended') || l.includes('the session waits to be resumed'))
      && /bob@localhost\/(?!push-)/.test(l)).length;
}

async function waitSessionsEnded(n) {
  const deadline = Date.now() + WAIT;
  while (bobSessionsEnded() < n) {
    if (Date.now() > deadline) throw new Error(`bob's app session never ended (${bobSessionsEnded()} of ${n})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Alice posts and waits until the room has stored it; returns its stanza-id.
async function alicePosts(alice, body) {
  await post(alice, body);
  const li = await alice.waitForSelector(`#messages li.msg:not([data-pending])[data-stanza-id] >> text=${body}`, { timeout: WAIT });
  return li.evaluate((el) => el.closest('li').dataset.stanzaId);
}

async function setNotifications(page, on) {
  await page.click('#show-notifications');
  await page.waitForSelector('#notify-form', { timeout: WAIT });
  assert.equal(await page.getAttribute('#notify-form', 'data-enabled'), String(!on));
  await page.click('#notify-toggle');
  await page.waitForSelector('#notify-form', { state: 'detached', timeout: WAIT });
}

test('the Notifications switch registers this browser for pushes and unregisters it', async (t) => {
  const sub = env.svc.subscribe('bob-app');
  const later = env.svc.subscribe('bob-later');
  const vapid = await (await fetch(`${env.server.httpUrl}push/vapid`)).json();
  env.svc.expectedKey = vapid.publicKey;
  let alice;
  let bobContext;

  await t.test('alice makes the room; bob subscribes and turns notifications on', () => step(async () => {
    alice = await (await env.browser.newContext(DESKTOP)).newPage();
    logs.push(watchPage(alice, 'alice'));
    await alice.goto(env.server.httpUrl);
    await signIn(alice, { jid: 'alice@localhost', password: 'pw' });
    await subscribe(alice, ROOM, 'alice', { create: true });

    bobContext = await env.browser.newContext(PHONE);
    await bobContext.grantPermissions(['notifications'], { origin: env.server.httpUrl.replace(/\/$/, '') });
    await bobContext.addInitScript(fakePushManager, sub);
    const bob = await bobContext.newPage();
    logs.push(watchPage(bob, 'bob'));
    await bob.goto(env.server.httpUrl);
    await signIn(bob, { jid: 'bob@localhost', password: 'pw' });
    await subscribe(bob, ROOM, 'bob');
    await bob.goto(`${env.server.httpUrl}#/`);
    await bob.waitForSelector('#room-list', { timeout: WAIT });
    await setNotifications(bob, true);
    const calls = await bob.evaluate(() => window.pushCalls);
    assert.equal(calls.subscribe.length, 1);
    assert.equal(calls.subscribe[0].userVisibleOnly, true);
    assert.equal(b64url(Buffer.from(calls.subscribe[0].key)), vapid.publicKey);
    assert.ok(await bob.evaluate(() => navigator.serviceWorker.controller !== null
      || navigator.serviceWorker.getRegistration().then((r) => Boolean(r))));
    await bob.close();
    await waitSessionsEnded(1);
  }));

  await t.test('with the app closed, alice\'s message arrives as a push without its text', () => step(async () => {
    const id = await alicePosts(alice, 'psst bob');
    const got = await env.svc.nth(0);
    assert.equal(got.subscription, 'bob-app');
    assert.equal(got.json.room, ROOM);
    assert.equal(got.json.sender, 'alice');
    assert.equal(got.json.id, id);
    assert.equal(got.json.body, undefined);
    assert.ok(!got.plaintext.includes('psst'), got.plaintext);
  }));

  await t.test('turning it off unregisters this browser', () => step(async () => {
    const bob = await bobContext.newPage();
    logs.push(watchPage(bob, 'bob-again'));
    await bob.goto(env.server.httpUrl);
    await waitOnline(bob);
    await bob.waitForSelector('#room-list', { timeout: WAIT });
    await setNotifications(bob, false);
    assert.equal((await bob.evaluate(() => window.pushCalls)).unsubscribe, 1);
    // Another device of bob's registers, so the next push shows what the first one still gets.
    await bob.evaluate((s) => window.mucsubApp.client.enablePush(s, { includeBody: true }), later);
    await bob.close();
    await waitSessionsEnded(2);
    await alicePosts(alice, 'second message');
    const got = await env.svc.nth(1);
    assert.equal(got.subscription, 'bob-later', 'the switched-off browser got no push');
    assert.equal(got.json.body, 'second message');
    for (const l of logs) assert.deepEqual(l.errors, []);
    // The reopened app renewed the registration quietly at start (and nothing failed).
    assert.deepEqual(logs.flatMap((l) => l.log).filter((line) => line.includes('push:')), []);
  }));
});
