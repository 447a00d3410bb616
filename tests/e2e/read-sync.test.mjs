// Two devices of one account (issue 22), in headless Chromium: bob's "phone" and "desktop"
// are two browser contexts (two IndexedDB stores) signed in to the demo app, the phone
// through a relay that stands for its network. (a) Reading on the phone brings the
// desktop's unread count to 0 (XEP-0490 through the account's PEP, the SDK's `read`
// event), with the desktop not looking at the room (so it does not mark it itself). (b) An
// edit and a reaction alice makes while the phone sleeps (its socket cut, no signal) show
// correctly once it wakes: the message once in its store, corrected once, with the
// reaction, and no change listed as a message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appSuite } from './lib/app-suite.mjs';
import { launchChromium } from './lib/browser.mjs';
import { WAIT, signIn, subscribe, waitOnline } from './lib/app.mjs';

const ROOM = `reads-${randomBytes(4).toString('hex')}@conference.localhost`;

const env = appSuite({ users: [['alice', 'pw'], ['bob', 'pw']] }, { launch: launchChromium, relay: true });
const { logs, step } = env;

async function device(url, name, jid, nick, opts) {
  const page = await env.open(name, {}, url);
  await signIn(page, { jid, password: 'pw' });
  await subscribe(page, ROOM, nick, opts);
  // Every `read` event the SDK gives the app.
  await page.evaluate(() => {
    window.readEvents = [];
    window.mucsubApp.client.on('read', (r) => window.readEvents.push(r));
  });
  return page;
}

const send = (page, body) => page.evaluate(({ room, body }) =>
  window.mucsubApp.client.send(room, body).then((r) => r.id), { room: ROOM, body });

// The stored messages of the room (changes are folded, never listed).
const history = (page) => page.evaluate(async (room) =>
  (await window.mucsubApp.client.history(room, { limit: 200 })).events, ROOM);

async function waitMessages(page, n) {
  await page.waitForFunction(async ({ room, n }) =>
    (await window.mucsubApp.client.history(room, { limit: 200 })).events
      .filter((e) => e.kind === 'message').length >= n, { room: ROOM, n }, { timeout: WAIT, polling: 200 });
}

const unread = (page) => page.evaluate(async (room) =>
  (await window.mucsubApp.client.subscriptions()).find((s) => s.room === room)?.unread, ROOM);

test('read on one device is read on the other; changes made while the phone sleeps show once after it wakes', () => step(async () => {
  const alice = await device(env.server.httpUrl, 'alice', 'alice@localhost', 'alice', { create: true });
  const phone = await device(env.relay.httpUrl, 'phone', 'bob@localhost', 'bob');
  const desktop = await device(env.server.httpUrl, 'desktop', 'bob@localhost', 'bob');
  // The desktop shows the room list, not the room: it marks nothing read by itself.
  await desktop.evaluate(() => { location.hash = '#/'; });
  await desktop.waitForFunction(() => !document.body.classList.contains('view-room'), null, { timeout: WAIT });

  const bodies = ['one', 'two', 'three'];
  for (const b of bodies) await send(alice, b);
  await waitMessages(phone, bodies.length);
  await waitMessages(desktop, bodies.length);
  await desktop.waitForFunction(async (room) =>
    (await window.mucsubApp.client.subscriptions()).find((s) => s.room === room)?.unread === 3,
  ROOM, { timeout: WAIT, polling: 200 });

  // (a) The phone reads the room.
  await phone.evaluate((room) => window.mucsubApp.client.markRead(room), ROOM);
  await desktop.waitForFunction((room) => window.readEvents.some((r) => r.room === room && r.unread === 0),
    ROOM, { timeout: WAIT, polling: 200 });
  assert.equal(await unread(desktop), 0, 'read on the phone, read on the desktop');

  // (b) The phone loses its network; alice corrects "one" and reacts to it meanwhile.
  const one = (await history(alice)).find((e) => e.kind === 'message' && e.body === 'one');
  assert.ok(one?.stanzaId, 'archived');
  env.relay.hold();
  env.relay.cut();
  await phone.waitForSelector('body:not([data-conn=online])', { timeout: WAIT });
  await alice.evaluate(({ room, id }) => window.mucsubApp.client.edit(room, id, 'one!'), { room: ROOM, id: one.id });
  await alice.evaluate(({ room, id }) => window.mucsubApp.client.react(room, id, ['👍']), { room: ROOM, id: one.stanzaId });
  await alice.waitForFunction(async ({ room, sid }) => {
    const m = (await window.mucsubApp.client.history(room, { limit: 200 })).events
      .find((e) => e.stanzaId === sid);
    return m?.body === 'one!' && m.reactions?.['👍']?.length === 1;
  }, { room: ROOM, sid: one.stanzaId }, { timeout: WAIT, polling: 200 });

  // Signal again; the page wakes.
  env.relay.release();
  await phone.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await waitOnline(phone);
  await phone.waitForFunction(async ({ room, sid }) => {
    const m = (await window.mucsubApp.client.history(room, { limit: 200 })).events
      .find((e) => e.stanzaId === sid);
    return m?.body === 'one!' && Object.keys(m.reactions ?? {}).length > 0;
  }, { room: ROOM, sid: one.stanzaId }, { timeout: WAIT, polling: 200 });
  const events = await history(phone);
  const copies = events.filter((e) => e.stanzaId === one.stanzaId);
  assert.equal(copies.length, 1, `stored once: ${JSON.stringify(copies)}`);
  const [m] = copies;
  assert.equal(m.body, 'one!');
  assert.deepEqual(m.edited, ['one'], 'corrected once');
  assert.deepEqual(Object.keys(m.reactions), ['👍']);
  assert.equal(m.reactions['👍'].length, 1, 'one reaction');
  assert.equal(m.reactions['👍'][0], one.occupantId, "alice's, by her occupant-id");
  assert.deepEqual(events.filter((e) => e.kind === 'message').map((e) => e.body), ['one!', 'two', 'three'],
    'no change listed as a message, nothing twice');
  assert.deepEqual(logs.flatMap((l) => l.errors), []);
}));
