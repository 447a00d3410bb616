// A woken page proves its WebSocket alive before trusting it (the SDK's wake-up ping,
// src/wasm/socket.rs), and only the answer to that ping counts. bob's connection dies in his
// phone's sleep — no close of any kind reaches the browser — while the server's last frames
// are still on their way; on waking they arrive, right behind his ping. Those frames were
// sent before the death and prove nothing: bob must take the connection for dead, reconnect
// by himself and have alice's message once. (A page that took any frame for the answer
// stayed "online" on the dead socket for good; the story's step 6 failed that way in Firefox
// whenever the server's answer to a read marker was still on its way when it stopped.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appSuite } from './lib/app-suite.mjs';
import { PHONE } from './lib/browser.mjs';
import { WAIT, signIn, subscribe, post, waitOnline } from './lib/app.mjs';

const ROOM = `probe-${randomBytes(4).toString('hex')}@conference.localhost`;

const env = appSuite({}, { relay: true });
const { logs, step } = env;

async function storedBodies(page) {
  return page.evaluate(async (room) =>
    (await window.mucsubApp.client.history(room, { limit: 50 })).events
      .filter((e) => e.kind === 'message').map((e) => e.body), ROOM);
}

test('frames sent before a silent connection death do not pass for the answer to the wake-up ping', () => step(async () => {
  const alice = await env.open('alice', PHONE);
  await signIn(alice, { jid: 'alice@localhost', password: 'pw' });
  await subscribe(alice, ROOM, 'alice', { create: true });

  // bob's page and its WebSocket go through the relay (his phone's network).
  const bob = await env.open('bob', PHONE, env.relay.httpUrl);
  await signIn(bob, { jid: 'bob@localhost', password: 'pw' });
  await subscribe(bob, ROOM, 'bob');
  await bob.evaluate(() => window.mucsubApp.client.resync());

  // The connection dies silently; alice's next message is on its way to bob.
  const kept = env.relay.stallWebSocket();
  await post(alice, 'sent before the drop');
  await kept;

  // Every connection state bob's page shows from now on, however briefly: the relay passes
  // his new connection, and resuming with a token takes one round trip, so on a loaded
  // machine he could be offline and online again between two polls of a waitForSelector
  // (it once timed out that way with the server's log showing the resumed session).
  await bob.evaluate(() => {
    window.connShown = [];
    new MutationObserver((records) => {
      for (const r of records) window.connShown.push(r.oldValue, document.body.dataset.conn);
    }).observe(document.body, { attributes: true, attributeFilter: ['data-conn'], attributeOldValue: true });
  });

  // bob's tab comes back to the front: his ping goes out, the old frames come in.
  env.relay.wakeStalled();
  await bob.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  // He takes the connection for dead: his page leaves "online".
  await bob.waitForFunction(() => window.connShown.some((c) => c !== 'online'), null, { timeout: WAIT });
  assert.ok(env.relay.stalledWoke, 'the frames from before the death reached bob after he woke');

  // A new connection (the relay passes it): bob is back, with alice's message once.
  await waitOnline(bob);
  await post(alice, 'after the reconnect');
  await bob.waitForFunction(async (room) =>
    (await window.mucsubApp.client.history(room, { limit: 50 })).events
      .some((e) => e.body === 'after the reconnect'), ROOM, { timeout: WAIT });
  assert.deepEqual(await storedBodies(bob), ['sent before the drop', 'after the reconnect']);
  assert.deepEqual(logs.flatMap((l) => l.errors), []);
}));
