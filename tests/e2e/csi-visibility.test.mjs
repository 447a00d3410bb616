// XEP-0352 CSI from the browser SDK, end to end: bob's page registers Web Push, then its tab
// is hidden (`visibilitychange` with `document.visibilityState` = "hidden"; headless Chromium
// never hides a page by itself, so the test sets the state the SDK reads and fires the event
// the browser would). The SDK says `<inactive/>`; the server then pushes room messages
// although bob's WebSocket stays open and still delivers them. Visible again → `<active/>`
// → no push. Alice posts from a second, always visible page.
//
// "No push" is shown without waiting for silence: one account's pushes go out in order, so
// when the next push is for a message posted later, nothing came in between.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { watchPage } from './lib/browser.mjs';
import { pushSuite } from './lib/push-suite.mjs';
import { WAIT, waitReady } from './lib/app.mjs';

const ROOM = `csi-${randomBytes(4).toString('hex')}@conference.localhost`;

let alicePage;
let bobPage;
const watches = [];
const env = pushSuite(() => `--- pages ---\n${watches.flatMap((w) => w.log.slice(-40)).join('\n')}`);
const { step } = env;

// A page the server serves (the demo app, left on its sign-in form) with the SDK loaded and
// one client that records the room's messages in `window.seen`; `hidden`: the tab is in the
// background from the start.
async function openClient(name, { jid, resource, hidden = false }) {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  watches.push(watchPage(page, name));
  await page.goto(env.server.httpUrl);
  await waitReady(page);
  await page.evaluate(async ({ url, room, jid, resource, nick, hidden }) => {
    if (hidden) {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    }
    const mod = await import('/pkg/mucsub.js');
    await mod.default();
    window.seen = [];
    window.seenWaiters = [];
    window.states = [];
    window.client = new mod.MucSubClient({ url, jid, password: 'pw', store: `csi-${nick}`, resource });
    window.client.on('connection', (s) => window.states.push(s));
    window.client.on('event', (e) => {
      if (e.room !== room || e.kind !== 'message') return;
      window.seen.push(e);
      window.seenWaiters = window.seenWaiters.filter((w) => !w(e));
    });
    await window.client.connect();
    await window.client.subscribe(room, { nick });
  }, { url: env.server.wsUrl, room: ROOM, jid, resource, nick: jid.split('@')[0], hidden });
  return page;
}

// The page's client stored and reported the message `body`.
function saw(page, body) {
  return page.evaluate(({ body, wait }) => new Promise((resolve, reject) => {
    const seen = window.seen.find((e) => e.body === body);
    if (seen) return resolve(seen);
    const t = setTimeout(() => reject(new Error(`never saw ${body}`)), wait);
    window.seenWaiters.push((e) => {
      if (e.body === body) { clearTimeout(t); resolve(e); return true; }
      return false;
    });
  }), { body, wait: WAIT });
}

// Alice posts; bob's still-open session gets it either way.
async function alicePosts(body) {
  await alicePage.evaluate(({ room, body }) => window.client.send(room, body), { room: ROOM, body });
  await saw(alicePage, body);
  return saw(bobPage, body);
}

// What the browser does when the tab is hidden or shown, then a round trip on bob's
// connection: the SDK handles the change before the command and the server reads one
// session's input in order, so once `subscribers` answers, the new state is in effect.
async function setBobVisibility(state) {
  await bobPage.evaluate(async ({ state, room }) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => state === 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
    await window.client.subscribers(room);
  }, { state, room: ROOM });
}

test('a hidden tab says inactive and gets Web Push while connected; visible again gets none', async (t) => {
  const sub = env.svc.subscribe('bob-tab');
  const vapid = await (await fetch(`${env.server.httpUrl}push/vapid`)).json();
  env.svc.expectedKey = vapid.publicKey;

  await t.test('alice and bob connect in two pages; bob enables push', () => step(async () => {
    alicePage = await openClient('alice', { jid: 'alice@localhost', resource: 'desk' });
    bobPage = await openClient('bob', { jid: 'bob@localhost', resource: 'tab' });
    await bobPage.evaluate((sub) => window.client.enablePush(sub, { includeBody: true }), sub);
  }));

  await t.test('visible: delivered, not pushed; hidden: delivered and pushed', () => step(async () => {
    await alicePosts('seen in the open tab');
    await setBobVisibility('hidden');
    const ev = await alicePosts('while the tab is hidden');
    const got = await env.svc.nth(0);
    assert.equal(got.json.body, 'while the tab is hidden', 'the visible-tab message was not pushed');
    assert.equal(got.subscription, 'bob-tab');
    assert.equal(got.json.room, ROOM);
    assert.equal(got.json.sender, 'alice');
    assert.equal(got.json.id, ev.stanzaId);
    // The same connection all along: hiding the tab neither closes nor reconnects it.
    const states = await bobPage.evaluate(() => window.states);
    assert.deepEqual(states.slice(states.indexOf('online')), ['online'], JSON.stringify(states));
  }));

  await t.test('visible again: no push; hidden again: pushed', () => step(async () => {
    await setBobVisibility('visible');
    await alicePosts('back in the tab');
    await setBobVisibility('hidden');
    await alicePosts('marker');
    const got = await env.svc.nth(1);
    assert.equal(got.json.body, 'marker', 'nothing was pushed while the tab was visible');
    assert.equal(env.svc.received.length, 2, JSON.stringify(env.svc.received));
  }));

  await t.test('a tab opened in the background is inactive from its first session', () => step(async () => {
    await bobPage.evaluate(() => window.client.close());
    // Were the new session active, bob would count as looking and nothing would be pushed
    // (also while the closed one lingers: it said inactive).
    bobPage = await openClient('bob-background', { jid: 'bob@localhost', resource: 'bg', hidden: true });
    await bobPage.evaluate((room) => window.client.subscribers(room), ROOM);
    await alicePosts('to a background tab');
    const got = await env.svc.nth(2);
    assert.equal(got.json.body, 'to a background tab');
    await bobPage.evaluate(() => window.client.close());
    await alicePage.evaluate(() => window.client.close());
    assert.deepEqual(watches.flatMap((w) => w.errors), []);
  }));
});
