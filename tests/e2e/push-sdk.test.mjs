// Push registration through the SDK, end to end: a page loads the npm package, bob's client
// registers a push subscription with `enablePush` (a subscription made by the loopback push
// service below with a real P-256 key pair and auth secret: Chromium's own pushManager cannot
// reach a vendor's push service from here), bob goes offline, alice posts, and the push
// service receives the Web Push from the server's built-in app server: it verifies the VAPID
// JWT and decrypts the payload, which names the room, the sender and carries the body. Then
// `disablePush` → no more pushes for that subscription; a second one with includeBody=false
// gets no message text.
//
// "No more pushes" is shown without waiting for silence: one account's pushes go out in order,
// so when the next push is for the marker message posted afterwards, nothing came in between.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { watchPage } from './lib/browser.mjs';
import { pushSuite } from './lib/push-suite.mjs';
import { WAIT, waitReady } from './lib/app.mjs';
import { nodeFor } from './lib/push-service.mjs';

const ROOM = `push-${randomBytes(4).toString('hex')}@conference.localhost`;

let page;
let watch;
const env = pushSuite(() => `--- page ---\n${watch?.log.slice(-60).join('\n')}`);
const { step } = env;

// The server logs each session's end once the router has forgotten it.
async function sessionEnded(full) {
  const deadline = Date.now() + WAIT;
  const ended = () => env.server.output.replace(/\x1b\[[0-9;]*m/g, '').split('\n')
    .some((l) => l.includes('session ended') && l.includes(full));
  while (!ended()) {
    if (Date.now() > deadline) throw new Error(`${full} never ended`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Alice's copy of her own message: once she has it, the room has processed (and fanned out) it.
async function aliceSaw(body) {
  return page.evaluate(({ body, wait }) => new Promise((resolve, reject) => {
    const seen = window.seen.find((e) => e.body === body);
    if (seen) return resolve(seen);
    const t = setTimeout(() => reject(new Error(`alice never saw ${body}`)), wait);
    window.seenWaiters.push((e) => {
      if (e.body === body) { clearTimeout(t); resolve(e); return true; }
      return false;
    });
  }), { body, wait: WAIT });
}

async function alicePosts(body) {
  await page.evaluate(({ room, body }) => window.alice.send(room, body), { room: ROOM, body });
  return aliceSaw(body);
}

test('enablePush registers the browser, offline messages arrive as Web Push, disablePush stops them', async (t) => {
  const sub1 = env.svc.subscribe('bob-1');
  const sub2 = env.svc.subscribe('bob-2');
  const vapid = await (await fetch(`${env.server.httpUrl}push/vapid`)).json();
  env.svc.expectedKey = vapid.publicKey;

  await t.test('the page loads the SDK; alice makes the room, bob subscribes', () => step(async () => {
    const context = await env.browser.newContext();
    page = await context.newPage();
    watch = watchPage(page, 'page');
    // A page the server serves (the app, which stays on its sign-in form): the SDK is all
    // this test uses. (A page made up by the test would not be of the loopback address space,
    // and Chromium would block its WebSocket to the server.)
    await page.goto(env.server.httpUrl);
    await waitReady(page);
    await page.evaluate(async ({ url, room }) => {
      const mod = await import('/pkg/mucsub.js');
      await mod.default();
      window.mucsub = mod;
      window.seen = [];
      window.seenWaiters = [];
      window.alice = new mod.MucSubClient({ url, jid: 'alice@localhost', password: 'pw', store: 'push-alice' });
      window.alice.on('event', (e) => {
        if (e.room !== room || e.kind !== 'message') return;
        window.seen.push(e);
        window.seenWaiters = window.seenWaiters.filter((w) => !w(e));
      });
      await window.alice.connect();
      await window.alice.subscribe(room, { nick: 'alice' });
      window.bob = new mod.MucSubClient({ url, jid: 'bob@localhost', password: 'pw', store: 'push-bob', resource: 'web' });
      await window.bob.connect();
      await window.bob.subscribe(room, { nick: 'bob' });
    }, { url: env.server.wsUrl, room: ROOM });
  }));

  await t.test('pushInfo gives the VAPID key; enablePush registers the device', () => step(async () => {
    const { info, reg, errors } = await page.evaluate(async (sub) => {
      const errors = {};
      const code = async (p) => p.then(() => 'resolved', (e) => e.code);
      errors.noKeys = await code(window.bob.enablePush({ endpoint: sub.endpoint }));
      errors.notUrl = await code(window.bob.enablePush({ endpoint: 'mailto:x', keys: sub.keys }));
      errors.otherService = await code(window.bob.enablePush(sub, { service: 'push.example.org' }));
      errors.noneToDisable = await code(new window.mucsub.MucSubClient({
        url: 'ws://127.0.0.1:1/ws', jid: 'bob@localhost', password: 'pw', store: 'unused',
      }).disablePush());
      const info = await window.bob.pushInfo();
      // A PushSubscription is read through its toJSON(), as the browser's would be.
      const reg = await window.bob.enablePush({ toJSON: () => sub }, { includeBody: true });
      return { info, reg, errors };
    }, sub1);
    assert.deepEqual(errors, {
      noKeys: 'bad-request',
      notUrl: 'bad-request',
      otherService: 'item-not-found',
      noneToDisable: 'bad-request',
    });
    assert.deepEqual(info, { service: 'push.localhost', publicKey: vapid.publicKey });
    assert.deepEqual(reg, { service: 'push.localhost', node: nodeFor(sub1.endpoint) });
    // Nothing was pushed while bob is online.
    assert.equal(env.svc.received.length, 0);
  }));

  await t.test('bob goes offline; alice posts; the push service gets the encrypted push', () => step(async () => {
    await page.evaluate(() => window.bob.close());
    await sessionEnded('bob@localhost/web');
    const ev = await alicePosts('hello offline bob');
    const got = await env.svc.nth(0);
    assert.equal(got.subscription, 'bob-1');
    assert.equal(got.claims.aud, env.svc.origin);
    assert.equal(got.json.kind, 'message');
    assert.equal(got.json.room, ROOM);
    assert.equal(got.json.sender, 'alice');
    assert.equal(got.json.body, 'hello offline bob');
    assert.equal(got.json.id, ev.stanzaId);
    assert.ok(got.topic, 'a per-room Topic lets the push service coalesce');
  }));

  await t.test('disablePush stops the pushes; includeBody=false keeps the text out', () => step(async () => {
    // A fresh client, never connected: registration does not need the live connection.
    await page.evaluate(async ({ url, sub }) => {
      window.bob2 = new window.mucsub.MucSubClient({ url, jid: 'bob@localhost', password: 'pw', store: 'push-bob-2' });
      await window.bob2.enablePush(sub, { includeBody: true }); // the same device again: replaced
      await window.bob2.disablePush();
    }, { url: env.server.wsUrl, sub: sub1 });
    await alicePosts('after disable');
    await page.evaluate((sub) => window.bob2.enablePush(sub, { includeBody: false }), sub2);
    const marker = await alicePosts('marker with a secret');
    const got = await env.svc.nth(1);
    assert.equal(got.subscription, 'bob-2', 'the disabled subscription got no push');
    assert.equal(got.json.id, marker.stanzaId);
    assert.equal(got.json.room, ROOM);
    assert.equal(got.json.sender, 'alice');
    assert.equal(got.json.body, undefined);
    assert.ok(!got.plaintext.includes('secret'), got.plaintext);
    assert.equal(env.svc.received.filter((r) => r.subscription === 'bob-1').length, 1);
    await page.evaluate(async () => {
      await window.bob2.close();
      await window.alice.close();
    });
    assert.deepEqual(watch.errors, []);
  }));
});
