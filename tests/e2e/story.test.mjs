// The product's story in a real browser against the bundled server: bob follows a room he
// never joins, his phone puts the tab to sleep while alice talks, and when he comes back every
// message is there exactly once, in order — still readable with the server gone, and the
// app reconnects by itself when the server is back, also when its connection died silently
// during the sleep.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TestServer } from './lib/server.mjs';
import { launchBrowser, PHONE, watchPage, screenshot, annotate } from './lib/browser.mjs';
import {
  WAIT, signIn, subscribe, post, bodies, messages, waitForBodyCount, waitOnline,
  scrollToBeginning, unreadOf,
} from './lib/app.mjs';

const ROOM = `story-${randomBytes(4).toString('hex')}@conference.localhost`;
const FIRST = 'hello bob, are you there?';
const BURST = Array.from({ length: 50 }, (_, i) => `burst message ${String(i + 1).padStart(2, '0')}`);

let server;
let browser;
let alice;
let bobContext;
let bob;
const logs = [];

function openBobPage() {
  return bobContext.newPage().then((page) => {
    logs.push(watchPage(page, 'bob'));
    return page;
  });
}

// Waits until the service worker's cache holds every file of the app shell.
async function waitForOfflineCopy(page) {
  const missing = () => page.evaluate(async () => {
    const { files } = await (await fetch('precache.json', { cache: 'no-store' })).json();
    const name = (await caches.keys()).find((k) => k.startsWith('mucsub-app-'));
    const cache = name && await caches.open(name);
    const have = new Set(cache ? (await cache.keys()).map((r) => r.url) : []);
    return ['./', ...files].filter((f) => !have.has(new URL(f, location.href).href));
  });
  const deadline = Date.now() + WAIT;
  let left = await missing();
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    left = await missing();
  }
  assert.deepEqual(left, [], 'the service worker keeps a complete copy of the app');
}

// Failure messages carry what the pages and the server said.
async function step(fn) {
  try {
    await fn();
  } catch (err) {
    const pageLog = logs.flatMap((l) => l.log).slice(-80).join('\n');
    throw annotate(err, `\n--- pages ---\n${pageLog}\n--- server ---\n${server?.output.slice(-4000)}`);
  }
}

before(async () => {
  // The server records every stanza the pages send: bob must never join the room.
  server = await TestServer.start({ traceStanzas: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

test('bob follows a room through sleep, resync, an offline reload and a reconnect', async (t) => {
  await t.test('alice and bob subscribe; bob sees alice live without joining', () => step(async () => {
    const aliceContext = await browser.newContext(PHONE);
    alice = await aliceContext.newPage();
    logs.push(watchPage(alice, 'alice'));
    bobContext = await browser.newContext(PHONE);
    bob = await openBobPage();

    await alice.goto(server.httpUrl);
    await signIn(alice, { jid: 'alice@localhost', password: 'pw' });
    await subscribe(alice, ROOM, 'alice', { create: true });

    await bob.goto(server.httpUrl);
    await signIn(bob, { jid: 'bob@localhost', password: 'pw' });
    await subscribe(bob, ROOM, 'bob');
    // A new subscription starts a resync of the room; once it is over, what alice posts can
    // only reach bob as a live event (not by an archive query racing with it).
    await bob.evaluate(() => window.mucsubApp.client.resync());

    await post(alice, FIRST);
    await waitForBodyCount(bob, 1);
    const seen = await messages(bob);
    assert.deepEqual(seen.map((m) => m.body), [FIRST]);
    assert.equal(seen[0].source, 'live');
    await screenshot(bob, 'story-1-live-message');
  }));

  await t.test('bob\'s tab sleeps while alice posts 50 messages', () => step(async () => {
    await bob.close();
    for (const body of BURST) await post(alice, body);
    // Every one is accepted by the room once alice sees its echo with an archive id.
    await alice.waitForFunction((n) => [...document.querySelectorAll('#messages li.msg:not([data-pending])')]
      .filter((el) => el.dataset.stanzaId).length >= n, BURST.length + 1, { timeout: WAIT });
    assert.deepEqual(await bodies(alice), [FIRST, ...BURST]);
  }));

  await t.test('bob comes back: all 50 arrive, once each and in order', () => step(async () => {
    bob = await openBobPage();
    await bob.goto(server.httpUrl);
    await waitOnline(bob);
    // The resync delivers them as events while the room is not open: the badge counts each.
    await bob.waitForFunction(({ room, n }) => {
      const item = document.querySelector(`.room-item[data-room="${room}"]`);
      return item && Number(item.dataset.unread) >= n;
    }, { room: ROOM, n: BURST.length }, { timeout: WAIT });
    await bob.waitForSelector('#banner', { state: 'hidden', timeout: WAIT });
    assert.equal(await unreadOf(bob, ROOM), BURST.length);
    assert.match(await bob.textContent(`.room-item[data-room="${ROOM}"] .last`), /burst message 50$/);
    await screenshot(bob, 'story-3-room-list-after-sleep');

    await bob.click(`.room-item[data-room="${ROOM}"]`);
    await waitForBodyCount(bob, BURST.length);
    await scrollToBeginning(bob);
    const after = await messages(bob);
    assert.deepEqual(after.map((m) => m.body), [FIRST, ...BURST]);
    // Live from the resumed stream (the closed tab's stream waited on the server and the new
    // page resumed it with its token, XEP-0198) or by the resync when it could not: either
    // way once each, in order.
    assert.equal(new Set(after.map((m) => m.stanzaId)).size, after.length, 'archive ids are unique');

    // A second resync delivers no event again and records no gap; nothing shows twice.
    const again = await bob.evaluate(async () => {
      const client = window.mucsubApp.client;
      const seen = [];
      const onEvent = (ev) => seen.push(`${ev.kind}: ${ev.body ?? ''}`);
      client.on('event', onEvent);
      try {
        return { summary: await client.resync(), seen };
      } finally {
        client.off('event', onEvent);
      }
    });
    assert.deepEqual(again.seen, []);
    assert.equal(again.summary.gaps, 0);
    assert.deepEqual(await bodies(bob), [FIRST, ...BURST]);
    // Opening the room marked it read; the badge follows once the app has listed the rooms.
    await bob.waitForFunction((room) =>
      document.querySelector(`.room-item[data-room="${room}"]`)?.dataset.unread === '0', ROOM, { timeout: WAIT });
    // The badge is the SDK's count: opening the room moved the SDK's read marker.
    const sdkUnread = await bob.evaluate(async (room) =>
      (await window.mucsubApp.client.subscriptions()).find((s) => s.room === room)?.unread, ROOM);
    assert.equal(sdkUnread, 0, 'the SDK counts nothing unread once the room was read');
    await bob.$eval('#messages', (el) => { el.scrollTop = el.scrollHeight; });
    await screenshot(bob, 'story-3-room-after-resync');

    const fromBob = server.stanzasIn.filter((s) => s.jid.startsWith('bob@localhost/'));
    assert.ok(fromBob.length > 0, 'the server recorded what bob sent');
    const joins = fromBob.filter((s) => /<presence\b[^>]*\bto=["'][^"']*@conference\.localhost/.test(s.xml));
    assert.deepEqual(joins, [], 'bob never sends presence to the room (he never joins)');
  }));

  await t.test('with the server stopped, a reload still shows the history from IndexedDB', () => step(async () => {
    // An offline start needs the service worker's copy of the app: a phone has it long
    // before it goes offline; here, wait until it is complete (precache.json lists it).
    await waitForOfflineCopy(bob);
    await server.stop();
    await bob.reload();
    try {
      await bob.waitForSelector('body[data-ready="1"]', { timeout: WAIT });
    } catch (err) {
      // What the browser shows instead (its error page says why the service worker failed).
      const shown = await bob.evaluate(() => `${location.href}: ${document.body?.innerText?.slice(0, 300)}`)
        .catch((e) => `(page unreadable: ${e.message})`);
      throw annotate(err, `\n--- page after the reload ---\n${shown}`);
    }
    // Connecting fails: the banner says the app is offline (or retrying) over the stored history.
    await bob.waitForSelector('body:not([data-conn=online]) #banner:not([hidden])', { timeout: WAIT });
    await waitForBodyCount(bob, BURST.length);
    await scrollToBeginning(bob);
    assert.deepEqual(await bodies(bob), [FIRST, ...BURST]);
    await bob.$eval('#messages', (el) => { el.scrollTop = el.scrollHeight; });
    await screenshot(bob, 'story-4-offline-reload');
  }));

  await t.test('the server comes back: bob reconnects by himself and gets what he missed', () => step(async () => {
    await server.restart();
    // What the browser fires when a phone's network returns.
    for (const page of [bob, alice]) {
      await page.evaluate(() => window.dispatchEvent(new Event('online')));
      await waitOnline(page);
    }
    await post(alice, 'welcome back');
    await bob.waitForFunction(() => [...document.querySelectorAll('#messages li.msg:not([data-pending]) .body')]
      .some((el) => el.textContent === 'welcome back'), null, { timeout: WAIT });
    await bob.waitForSelector('#banner', { state: 'hidden', timeout: WAIT });
    assert.deepEqual(await bodies(bob), [FIRST, ...BURST, 'welcome back']);
  }));

  await t.test('the connection died silently in the sleep: on waking bob reconnects and catches up', () => step(async () => {
    // The server stops answering with bob's socket still open: the browser sees no close.
    await server.pause();
    try {
      // The tab comes back to the front (the event a phone's browser fires on wake).
      await bob.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
      // Only the SDK's ping on waking can tell the socket is dead.
      await bob.waitForSelector('body:not([data-conn=online])', { state: 'attached', timeout: WAIT });
    } finally {
      server.resume();
    }
    await post(alice, 'after the silent drop');
    await waitOnline(bob);
    await bob.waitForFunction(() => [...document.querySelectorAll('#messages li.msg:not([data-pending]) .body')]
      .some((el) => el.textContent === 'after the silent drop'), null, { timeout: WAIT });
    await bob.waitForSelector('#banner', { state: 'hidden', timeout: WAIT });
    assert.deepEqual(await bodies(bob), [FIRST, ...BURST, 'welcome back', 'after the silent drop']);
    const uncaught = logs.flatMap((l) => l.errors);
    assert.deepEqual(uncaught, []);
  }));
});
