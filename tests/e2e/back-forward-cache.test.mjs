// The back/forward cache (issue 25): bob leaves the app for another page in the same tab
// while his SDK is storing a burst of messages, so the app's page is frozen in the cache with
// whatever it had in flight. In WebKit a frozen page's IndexedDB transaction blocks every
// other page's transactions on the database until the cached page is evicted: without the
// SDK parking its connection on `pagehide` (src/wasm/idb_conn.rs), the app opened again in a
// new tab never got past opening its store. It must start, and show every message once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appSuite } from './lib/app-suite.mjs';
import { PHONE, watchPage } from './lib/browser.mjs';
import { WAIT, signIn, subscribe, post, bodies, waitForBodyCount, waitReady, waitOnline } from './lib/app.mjs';

const ROOM = `bfcache-${randomBytes(4).toString('hex')}@conference.localhost`;
const BURST = Array.from({ length: 30 }, (_, i) => `while leaving ${String(i + 1).padStart(2, '0')}`);

const env = appSuite();
const { logs, step } = env;

test('a page left for another while storing does not block the app in a new tab', () => step(async () => {
  const alice = await (await env.browser.newContext(PHONE)).newPage();
  logs.push(watchPage(alice, 'alice'));
  await alice.goto(env.server.httpUrl);
  await signIn(alice, { jid: 'alice@localhost', password: 'pw' });
  await subscribe(alice, ROOM, 'alice', { create: true });

  const bobContext = await env.browser.newContext(PHONE);
  const bob = await bobContext.newPage();
  logs.push(watchPage(bob, 'bob'));
  await bob.goto(env.server.httpUrl);
  await signIn(bob, { jid: 'bob@localhost', password: 'pw' });
  await subscribe(bob, ROOM, 'bob');
  await bob.evaluate(() => window.mucsubApp.client.resync());

  // alice's burst reaches bob while he navigates away: his page goes into the cache in
  // the middle of storing it, with the app's own store calls in flight too — what a burst
  // shown in the open room makes (a markRead per message, the room's history) — dozens of
  // transactions at once, all of which the SDK must release (it once kept only the last 16
  // to abort: one older transaction left open blocked the new tab for good).
  await alice.evaluate(({ room, burst }) => Promise.all(burst.map((b) => window.mucsubApp.client.send(room, b))),
    { room: ROOM, burst: BURST });
  await bob.evaluate(({ room, url, calls }) => {
    const client = window.mucsubApp.client;
    for (let i = 0; i < calls; i++) {
      client.markRead(room).catch(() => {});
      client.history(room, { limit: 20 }).catch(() => {});
    }
    // Left in the next task: every one of them is still in flight.
    setTimeout(() => { location.href = url; }, 0);
  }, { room: ROOM, url: `${env.server.httpUrl}icon.svg`, calls: 40 });
  await bob.waitForFunction(() => location.pathname.endsWith('/icon.svg'), null, { timeout: WAIT });

  // The app again, in a new tab of the same browser.
  const again = await bobContext.newPage();
  logs.push(watchPage(again, 'bob-again'));
  await again.goto(`${env.server.httpUrl}#/room/${encodeURIComponent(ROOM)}`);
  await waitReady(again);
  await waitOnline(again);
  await waitForBodyCount(again, BURST.length);
  // The store holds each message once, in the archive's order. (The demo app appends an
  // event that arrives after newer ones at the end of the list until the room is opened
  // again, so the screen is checked for each message once, not for its order.)
  const stored = await again.evaluate(async (room) =>
    (await window.mucsubApp.client.history(room, { limit: 100 })).events
      .filter((e) => e.kind === 'message').map((e) => e.body), ROOM);
  assert.deepEqual(stored, BURST);
  assert.deepEqual([...await bodies(again)].sort(), [...BURST].sort());
  await post(again, 'back again');
  await alice.waitForFunction(() => [...document.querySelectorAll('#messages li.msg:not([data-pending]) .body')]
    .some((el) => el.textContent === 'back again'), null, { timeout: WAIT });
  assert.deepEqual(logs.flatMap((l) => l.errors), []);
}));
