// Storage eviction (issue 25): a browser may delete a site's IndexedDB between two visits
// (WebKit does for sites not used for a while; any browser under storage pressure, or a
// person clearing site data). bob's store is deleted while his tab is closed; when he opens
// the app again it asks for his password — the device's sign-in token went with the database
// and the password is stored nowhere (issue 26) — and once he gave it the SDK finds an empty
// database, resyncs from the server (his subscriptions and each room's newest messages) and
// the app shows the room as before: no error event, no error toast (the app shows each SDK
// `error` event as one), only the resync. When the database is deleted while the page is
// open, the SDK makes it again and goes on (it holds its token in memory).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appSuite } from './lib/app-suite.mjs';
import { PHONE, watchPage, screenshot } from './lib/browser.mjs';
import {
  WAIT, signIn, subscribe, post, bodies, messages, waitForBodyCount, waitOnline,
} from './lib/app.mjs';

const ROOM = `evict-${randomBytes(4).toString('hex')}@conference.localhost`;
const STORE = 'mucsub-bob@localhost'; // the demo app's store name for bob
const BEFORE = ['one', 'two', 'three'];
const WHILE_AWAY = ['four', 'five'];

const env = appSuite();
const { logs, step } = env;
let alice;
let bobContext;

// Whether the database exists, asked without creating it (an open that would create it is
// aborted in its upgrade), and its object stores when it does.
async function storeInfo(page) {
  return page.evaluate((name) => new Promise((resolve, reject) => {
    const req = indexedDB.open(name);
    let absent = false;
    req.onupgradeneeded = () => { absent = true; req.transaction.abort(); };
    req.onsuccess = () => {
      const db = req.result;
      const info = { version: db.version, stores: [...db.objectStoreNames].sort() };
      db.close();
      resolve(info);
    };
    req.onerror = (e) => {
      if (absent) { e.preventDefault(); resolve(null); } else reject(req.error);
    };
  }), STORE);
}

// Deletes bob's database from `page` (another page of his origin, on a file of the site, as
// eviction would): 'deleted', 'deleted once unblocked' when a connection held it open for a
// while (`blocked`), or the error.
async function deleteStore(page) {
  await page.goto(`${env.server.httpUrl}icon.svg`);
  return page.evaluate((name) => new Promise((resolve) => {
    let blocked = false;
    const req = indexedDB.deleteDatabase(name);
    req.onblocked = () => { blocked = true; };
    req.onsuccess = () => resolve(blocked ? 'deleted once unblocked' : 'deleted');
    req.onerror = () => resolve(`error: ${req.error}`);
  }), STORE);
}

test('a store deleted between two page loads is rebuilt by a resync, with no error', async (t) => {
  let bob;
  await t.test('bob follows a room and reads it', () => step(async () => {
    alice = await (await env.browser.newContext(PHONE)).newPage();
    logs.push(watchPage(alice, 'alice'));
    await alice.goto(env.server.httpUrl);
    await signIn(alice, { jid: 'alice@localhost', password: 'pw' });
    await subscribe(alice, ROOM, 'alice', { create: true });

    bobContext = await env.browser.newContext(PHONE);
    bob = await bobContext.newPage();
    logs.push(watchPage(bob, 'bob'));
    await bob.goto(env.server.httpUrl);
    await signIn(bob, { jid: 'bob@localhost', password: 'pw' });
    await subscribe(bob, ROOM, 'bob');
    await bob.evaluate(() => window.mucsubApp.client.resync());
    for (const body of BEFORE) await post(alice, body);
    // Subscribing opened the room.
    await waitForBodyCount(bob, BEFORE.length);
    assert.deepEqual(await bodies(bob), BEFORE);
    assert.ok(await storeInfo(bob), 'the SDK made its database');
  }));

  await t.test('the tab is closed and the browser evicts its database', () => step(async () => {
    await bob.close();
    for (const body of WHILE_AWAY) await post(alice, body);
    await alice.waitForFunction((n) => [...document.querySelectorAll('#messages li.msg:not([data-pending])')]
      .filter((el) => el.dataset.stanzaId).length >= n, BEFORE.length + WHILE_AWAY.length, { timeout: WAIT });
    // Another page of bob's origin deletes the database, as eviction would: nothing may
    // hold it open (the closed tab's connection is gone), so the delete is not blocked.
    const evictor = await bobContext.newPage();
    assert.equal(await deleteStore(evictor), 'deleted');
    assert.equal(await storeInfo(evictor), null, 'the database is gone');
    await evictor.close();
  }));

  await t.test('bob opens the app again, signs in again: resynced, the room shows every message, no error', () => step(async () => {
    bob = await bobContext.newPage();
    const watch = watchPage(bob, 'bob-again');
    logs.push(watch);
    await bob.goto(`${env.server.httpUrl}#/room/${encodeURIComponent(ROOM)}`);
    // The saved token was in the evicted database: the app asks for the password (the
    // address is filled in), then the SDK starts from an empty store.
    await bob.waitForSelector('body[data-ready="1"]', { timeout: WAIT });
    await bob.waitForSelector('#signin-form', { timeout: WAIT });
    assert.equal(await bob.inputValue('#signin-form input[name=jid]'), 'bob@localhost');
    await signIn(bob, { jid: 'bob@localhost', password: 'pw' });
    await bob.evaluate((room) => { location.hash = `#/room/${encodeURIComponent(room)}`; }, ROOM);
    const summary = await bob.evaluate(() => window.mucsubApp.client.resync());
    assert.equal(summary.rooms, 1, `one room in sync: ${JSON.stringify(summary)}`);
    await waitForBodyCount(bob, BEFORE.length + WHILE_AWAY.length);
    const shown = await messages(bob);
    assert.deepEqual(shown.map((m) => m.body), [...BEFORE, ...WHILE_AWAY]);
    for (const m of shown) assert.notEqual(m.source, 'live', `${m.body} came from the archive, not live`);
    await bob.waitForSelector('#banner', { state: 'hidden', timeout: WAIT });
    const subs = await bob.evaluate(async () => (await window.mucsubApp.client.subscriptions()).map((s) => s.room));
    assert.deepEqual(subs, [ROOM], 'the subscription came back from the server');
    // The app shows every SDK `error` event as a toast.
    assert.equal(await bob.$$eval('#toasts .toast', (els) => els.length), 0, 'no error toast');
    const info = await storeInfo(bob);
    assert.ok(info && info.stores.includes('chunks'), `the SDK made a new database: ${JSON.stringify(info)}`);
    await screenshot(bob, 'eviction-room-after-resync');
  }));

  await t.test('the store is deleted while the page is open: it is made again, no error', () => step(async () => {
    const evictor = await bobContext.newPage();
    // Not blocked: the SDK closes its connection when another page deletes the database.
    assert.equal(await deleteStore(evictor), 'deleted');
    await evictor.close();
    await post(alice, 'after the delete');
    await bob.waitForFunction(() => [...document.querySelectorAll('#messages li.msg:not([data-pending]) .body')]
      .some((el) => el.textContent === 'after the delete'), null, { timeout: WAIT });
    // The SDK stored it in a database it made again.
    const stored = await bob.evaluate(async (room) =>
      (await window.mucsubApp.client.history(room, { limit: 100 })).events
        .filter((e) => e.kind === 'message').map((e) => e.body), ROOM);
    assert.deepEqual(stored, [...BEFORE, ...WHILE_AWAY, 'after the delete']);
    const info = await storeInfo(bob);
    assert.ok(info && info.stores.includes('chunks'), `the SDK made the database again: ${JSON.stringify(info)}`);
    assert.equal(await bob.$$eval('#toasts .toast', (els) => els.length), 0, 'no error toast');
    assert.deepEqual(logs.flatMap((l) => l.errors), []);
  }));
});
