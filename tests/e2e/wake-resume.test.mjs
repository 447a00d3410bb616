// Waking without the password (issue 26), in headless Chromium (its DevTools protocol gives
// the WebSocket frame log). bob signs in to the demo app once with his password; his page
// talks to the server through a relay that stands for the phone's network. The network
// cuts his connection and stays down while alice posts; when it is back and the page
// wakes, the SDK signs in with its FAST token and resumes the stream in one round trip once
// the socket is open — the frame log shows the `<authenticate/>` right behind the `<open/>`,
// no password exchange and a `<resumed/>` — and IndexedDB holds
// every message once, no gap. A reload signs in with the token again. Then a scan of
// localStorage, sessionStorage and every IndexedDB record finds no trace of the password.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appSuite } from './lib/app-suite.mjs';
import { launchChromium, watchPage } from './lib/browser.mjs';
import { WAIT, signIn, subscribe, waitOnline, waitReady } from './lib/app.mjs';

const ROOM = `wake-${randomBytes(4).toString('hex')}@conference.localhost`;
// Distinctive, so that a scan for it cannot match anything else.
const BOB_PW = `horse-${randomBytes(6).toString('hex')}`;
const BEFORE = ['one', 'two', 'three'];
const AWAY = Array.from({ length: 12 }, (_, i) => `while asleep ${String(i + 1).padStart(2, '0')}`);

const env = appSuite({ users: [['alice', 'pw'], ['bob', BOB_PW]] }, { launch: launchChromium, relay: true });
const { logs, step } = env;

// Every WebSocket frame of `page`, in order: `{ dir: 'out' | 'in', text }`.
function recordFrames(page) {
  const frames = [];
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => frames.push({ dir: 'out', text: String(f.payload) }));
    ws.on('framereceived', (f) => frames.push({ dir: 'in', text: String(f.payload) }));
  });
  return frames;
}

// What would give the password away on the wire: PLAIN's or SCRAM's first message.
function passwordExchanges(frames) {
  const plain = Buffer.from(`\0bob\0${BOB_PW}`).toString('base64');
  return frames.filter((f) => f.dir === 'out' &&
    (f.text.includes(plain) || /mechanism=["'](PLAIN|SCRAM-[^"']*)["']/.test(f.text)));
}

async function storedBodies(page) {
  return page.evaluate(async (room) =>
    (await window.mucsubApp.client.history(room, { limit: 200 })).events
      .filter((e) => e.kind === 'message').map((e) => e.body), ROOM);
}

async function waitStored(page, n) {
  await page.waitForFunction(async ({ room, n }) =>
    (await window.mucsubApp.client.history(room, { limit: 200 })).events
      .filter((e) => e.kind === 'message').length >= n, { room: ROOM, n }, { timeout: WAIT, polling: 200 });
}

test('a woken page resumes with its token, a reload signs in with it, and no password is stored', () => step(async () => {
  const alice = await env.open('alice');
  await signIn(alice, { jid: 'alice@localhost', password: 'pw' });
  await subscribe(alice, ROOM, 'alice', { create: true });

  const bob = await (await env.browser.newContext()).newPage();
  logs.push(watchPage(bob, 'bob'));
  const frames = recordFrames(bob);
  await bob.goto(env.relay.httpUrl);
  await signIn(bob, { jid: 'bob@localhost', password: BOB_PW });
  await subscribe(bob, ROOM, 'bob');
  assert.equal(passwordExchanges(frames).length, 1, 'the first sign-in uses the password, once');
  assert.ok(frames.some((f) => f.dir === 'out' && f.text.includes('<request-token')),
    'and asks for a token');
  for (const b of BEFORE) await alice.evaluate(({ room, b }) => window.mucsubApp.client.send(room, b), { room: ROOM, b });
  await waitStored(bob, BEFORE.length);

  // The network drops bob's connection and stays down while alice posts.
  const mark = frames.length;
  env.relay.hold();
  env.relay.cut();
  await bob.waitForSelector('body:not([data-conn=online])', { timeout: WAIT });
  for (const b of AWAY) await alice.evaluate(({ room, b }) => window.mucsubApp.client.send(room, b), { room: ROOM, b });
  await alice.waitForFunction((n) => document.querySelectorAll('#messages li.msg:not([data-pending])').length >= n,
    BEFORE.length + AWAY.length, { timeout: WAIT });

  // Signal again; the page wakes (what the browser fires when the phone is picked up).
  env.relay.release();
  await bob.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await waitOnline(bob);
  await waitStored(bob, BEFORE.length + AWAY.length);
  const woke = frames.slice(mark);
  assert.deepEqual(passwordExchanges(woke).map((f) => f.text), [], 'no password on wake');
  const auth = woke.find((f) => f.dir === 'out' && f.text.includes('<authenticate'));
  assert.ok(auth, 'a SASL2 sign-in on wake');
  assert.match(auth.text, /HT-SHA-256-NONE/);
  assert.match(auth.text, /<resume /, 'with the resumption inline');
  assert.ok(woke.some((f) => f.dir === 'in' && f.text.includes('<resumed')), 'resumed, not bound anew');
  // One round trip once the socket is open: the sign-in goes right behind `<open/>`,
  // before the server's header and features, and the features bring no second one.
  const authAt = woke.findIndex((f) => f.dir === 'out' && f.text.startsWith('<authenticate'));
  const openAt = woke.findLastIndex((f, i) => i < authAt && f.dir === 'out' && f.text.startsWith('<open'));
  const show = (fs) => fs.map((f) => `${f.dir} ${f.text.slice(0, 60)}`).join(' | ');
  assert.ok(openAt >= 0 && authAt === openAt + 1,
    `the <authenticate/> goes right behind the <open/>: ${show(woke.slice(Math.max(openAt, 0), authAt + 3))}`);
  assert.equal(woke.filter((f) => f.dir === 'out' && f.text.startsWith('<authenticate')).length, 1, 'one sign-in');
  const success = woke.findIndex((f) => f.dir === 'in' && f.text.startsWith('<success'));
  assert.ok(success > authAt && woke.slice(authAt + 1, success).every((f) => f.dir === 'in'),
    `the header, the features and the answer come back with nothing written in between: ${show(woke.slice(authAt, success + 1))}`);
  const stored = await storedBodies(bob);
  assert.deepEqual(stored, [...BEFORE, ...AWAY], 'each message once, none missing, in order');

  // A reload: the token again (and the stream the last page saved, or a new bind).
  const reloadMark = frames.length;
  await bob.reload();
  await waitReady(bob);
  await waitOnline(bob);
  const reloaded = frames.slice(reloadMark);
  assert.deepEqual(passwordExchanges(reloaded).map((f) => f.text), [], 'no password on reload');
  assert.ok(reloaded.some((f) => f.dir === 'out' && /<authenticate[^>]*HT-SHA-256-NONE/.test(f.text)));
  assert.deepEqual(await storedBodies(bob), [...BEFORE, ...AWAY], 'still each once');

  // Nothing the page keeps holds the password, in any form.
  const found = await bob.evaluate(async (needles) => {
    const hits = [];
    const check = (where, text) => {
      for (const n of needles) if (text.includes(n)) hits.push(`${where}: ${n}`);
    };
    for (const store of [localStorage, sessionStorage]) {
      for (let i = 0; i < store.length; i++) {
        const k = store.key(i);
        check(`web storage ${k}`, `${k}=${store.getItem(k)}`);
      }
    }
    for (const { name } of await indexedDB.databases()) {
      const db = await new Promise((res, rej) => {
        const r = indexedDB.open(name);
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      for (const s of db.objectStoreNames) {
        const all = await new Promise((res, rej) => {
          const r = db.transaction(s).objectStore(s).getAll();
          r.onsuccess = () => res(r.result);
          r.onerror = () => rej(r.error);
        });
        check(`indexeddb ${name}/${s}`, JSON.stringify(all));
      }
      db.close();
    }
    return hits;
  }, [BOB_PW, Buffer.from(BOB_PW).toString('base64'), Buffer.from(`\0bob\0${BOB_PW}`).toString('base64')]);
  assert.deepEqual(found, [], 'the password is stored nowhere');
  // And the device state is there: what made the above possible.
  const device = await bob.evaluate(() => new Promise((res) => {
    const r = indexedDB.open('mucsub-bob@localhost');
    r.onsuccess = () => {
      const t = r.result.transaction('device').objectStore('device').get('wake');
      t.onsuccess = () => { res(t.result?.value ?? null); r.result.close(); };
    };
  }));
  assert.ok(device && JSON.parse(device).token?.token, `a saved token: ${device}`);
  assert.deepEqual(logs.flatMap((l) => l.errors), []);
}));
