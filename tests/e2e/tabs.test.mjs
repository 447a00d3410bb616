// One connection per browser (issue 21): tabs of one app on one store share one session and
// one IndexedDB writer. Several pages of one browser context each make their client as an
// app would (the SDK harness page, bench/browser/page/, `harness.tab`); the server's
// `/metrics` gauge `mucsub_sessions{transport="websocket"}` counts the sessions, a bare
// XMPP client in the page (rawxmpp.mjs) posts as alice and reads the archive, and
// IndexedDB is read without the SDK (`harness.dumpStore`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { engine, launchBrowser, watchPage, annotate } from './lib/browser.mjs';
import { wwwDist } from './lib/paths.mjs';
import { startHarnessServer, openHarness, disposeServer } from '../../bench/browser/lib.mjs';

const WAIT = 30_000;
const tag = randomBytes(3).toString('hex');
const roomName = (n) => `tabs-${tag}-${n}@conference.localhost`;

let server;
let browser;
const logs = [];

before(async () => {
  server = await startHarnessServer({ pkgDir: join(wwwDist, 'pkg'), users: ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await disposeServer(server);
});

function context() {
  const pageLog = logs.flatMap((l) => l.log).slice(-80).join('\n');
  return `\n--- pages ---\n${pageLog}\n--- server ---\n${server?.output.slice(-3000)}`;
}

// The server's count of bound WebSocket sessions.
async function sessions() {
  const text = await (await fetch(`${server.httpUrl}metrics`)).text();
  const m = text.match(/^mucsub_sessions\{transport="websocket"\} (\d+)/m);
  assert.ok(m, `no websocket session gauge in /metrics:\n${text.slice(0, 2000)}`);
  return Number(m[1]);
}

async function until(check, what, timeoutMs = WAIT) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Opens `n` tabs of `jid`'s app on `store` in `ctx`, one after the other (the first leads).
async function openTabs(ctx, n, { jid, store, label }) {
  const pages = [];
  for (let i = 0; i < n; i++) {
    const page = await openHarness(ctx, server);
    logs.push(watchPage(page, `${label}${i}`));
    await page.evaluate((o) => window.harness.tab(o), { jid, store });
    await page.waitForFunction(() => window.tab.client.role !== undefined, null, { timeout: WAIT });
    pages.push(page);
  }
  return pages;
}

const role = (page) => page.evaluate(() => window.tab.client.role);
// The stanza ids of the message events `room` fired in this tab, in order.
const seenIds = (page, room) => page.evaluate((r) => window.tab.events
  .filter((e) => e.room === r && e.kind === 'message').map((e) => e.stanzaId), room);
const seenBodies = (page, room) => page.evaluate((r) => window.tab.events
  .filter((e) => e.room === r && e.kind === 'message').map((e) => e.body), room);

// alice posts `bodies` to `room` from a bare client (subscribed without nodes), and waits
// until the archive has them.
async function post(page, room, bodies, pauseMs = 0) {
  await page.evaluate(async ({ room, bodies, pauseMs }) => {
    const x = await window.harness.raw('alice');
    try {
      await x.subscribe(room, 'alice', []);
      const start = await x.archiveCount(room);
      for (const b of bodies) {
        x.post(room, [b]);
        if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
      }
      for (let i = 0; (await x.archiveCount(room)) < start + bodies.length; i++) {
        if (i > 3000) throw new Error('the archive did not get the posts');
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      x.close();
    }
  }, { room, bodies, pauseMs });
}

const archive = (page, room) => page.evaluate((r) => window.harness.archiveIds('alice', [r]).then((a) => a[r]), room);

test('three tabs of one account share one session, one writer and every event once', async () => {
  const ctx = await browser.newContext();
  const store = `tabs-bob-${tag}`;
  const room = roomName('three');
  try {
    const tabs = await openTabs(ctx, 3, { jid: 'bob@localhost', store, label: 'bob' });
    assert.deepEqual(await Promise.all(tabs.map(role)), ['leader', 'follower', 'follower']);
    assert.deepEqual(await tabs[0].evaluate(() => window.tab.roles.map((r) => r.role)), ['leader']);

    // Every tab's app connects, as it would in its own tab: one session for the three.
    await Promise.all(tabs.map((p) => p.evaluate(() => window.tab.client.connect())));
    assert.equal(await sessions(), 1, 'the server sees one session for three tabs');
    // Followers hear the leader's connection state.
    for (const p of tabs.slice(1)) {
      await p.waitForFunction(() => window.tab.states.at(-1) === 'online', null, { timeout: WAIT });
    }

    // subscribe from a follower; every tab sees the result's effect.
    const sub = await tabs[1].evaluate((r) => window.tab.client.subscribe(r, { nick: 'bob' }), room);
    assert.equal(sub.room, room);
    assert.equal(sub.nick, 'bob');
    const listed = await tabs[2].evaluate(() => window.tab.client.subscriptions());
    assert.ok(listed.some((s) => s.room === room), `another follower lists the subscription: ${JSON.stringify(listed)}`);
    // The leader's `subscription` callback reaches every tab, once.
    const changes = (p) => p.evaluate((r) => window.tab.subscriptions.filter((c) => c.room === r), room);
    for (const p of tabs) {
      await until(async () => (await changes(p)).length >= 1, 'the subscription change in each tab');
    }
    for (const [i, p] of tabs.entries()) {
      const got = await changes(p);
      assert.deepEqual(got.map((c) => [c.subscribed, c.nick]), [[true, 'bob']], `tab ${i}: ${JSON.stringify(got)}`);
    }

    // A message from someone else reaches each tab's event callback once, in order.
    await post(tabs[0], room, ['a1', 'a2', 'a3']);
    for (const p of tabs) {
      await until(async () => (await seenBodies(p, room)).length >= 3, 'three events in each tab');
    }

    // send from a follower: posted once, its echo seen once in each tab.
    const sent = await tabs[2].evaluate((r) => window.tab.client.send(r, 'from tab 2'), room);
    assert.equal(typeof sent.id, 'string');
    for (const p of tabs) {
      await until(async () => (await seenBodies(p, room)).length >= 4, 'the echo of the send in each tab');
    }

    // markRead from a follower: the leader stored the marker, another tab reads it.
    const before = await tabs[0].evaluate((r) => window.tab.client.subscriptions()
      .then((s) => s.find((x) => x.room === r).unread), room);
    assert.equal(before, 3, 'alice\'s three messages are unread');
    await tabs[1].evaluate((r) => window.tab.client.markRead(r), room);
    const afterRead = await tabs[2].evaluate((r) => window.tab.client.subscriptions()
      .then((s) => s.find((x) => x.room === r).unread), room);
    assert.equal(afterRead, 0, 'a follower\'s markRead is seen by the other tabs');

    // A follower's error comes back with its code.
    const err = await tabs[1].evaluate((r) => window.tab.client.markRead(r, 'no-such-id')
      .then(() => 'resolved', (e) => e.code), room);
    assert.equal(err, 'item-not-found');

    const want = await archive(tabs[0], room);
    assert.equal(want.length, 4);
    for (const [i, p] of tabs.entries()) {
      assert.deepEqual(await seenIds(p, room), want, `tab ${i} saw each archived message once, in order`);
      assert.deepEqual(await seenBodies(p, room), ['a1', 'a2', 'a3', 'from tab 2'], `tab ${i}`);
    }
    const stored = await tabs[0].evaluate(({ store, room }) => window.harness.dumpStore(store, [room]), { store, room });
    assert.deepEqual(stored[room].ids, want, 'IndexedDB holds each event once, in the archive\'s order');
    assert.equal(await sessions(), 1, 'still one session');
    for (const p of tabs) assert.deepEqual(await p.evaluate(() => window.tab.errors), []);
  } catch (err) {
    throw annotate(err, context());
  } finally {
    await ctx.close();
  }
});

// The leader goes away while alice posts: a follower takes the lock, connects with its own
// password, resyncs from the stored cursors, and every remaining tab ends with the archive.
// Each test signs in its own account: the server keeps an account's subscriptions between
// tests, and its resync would bring the other tests' rooms along. The crash is DevTools'
// `Page.crash`, which only Chromium has (WebDriver classic can close a window, not crash
// its renderer): the crash variant runs in Chromium, the close in every engine.
const handoffs = [['closes', 'erin'], ...(engine === 'chromium' ? [['crashes', 'frank']] : [])];
for (const [how, user] of handoffs) {
  test(`when the leader tab ${how} mid-stream, a follower leads and the others end with the archive`, async () => {
    const ctx = await browser.newContext();
    const store = `tabs-handoff-${how}-${tag}`;
    const room = roomName(`handoff-${how}`);
    try {
      const tabs = await openTabs(ctx, 3, { jid: `${user}@localhost`, store, label: `${how}` });
      const poster = await openHarness(ctx, server);
      logs.push(watchPage(poster, `${how}-poster`));
      await Promise.all(tabs.map((p) => p.evaluate(() => window.tab.client.connect())));
      await tabs[1].evaluate(({ r, nick }) => window.tab.client.subscribe(r, { nick }), { r: room, nick: user });

      const N = 40;
      const bodies = Array.from({ length: N }, (_, i) => `m${String(i).padStart(3, '0')}`);
      const posting = post(poster, room, bodies, 25);
      // Some events have reached the followers when the leader goes.
      await until(async () => (await seenBodies(tabs[1], room)).length >= 5, 'the first events in a follower');
      const goneAt = Date.now();
      if (how === 'closes') {
        await tabs[0].close();
      } else {
        const cdp = await ctx.newCDPSession(tabs[0]);
        cdp.send('Page.crash').catch(() => {}); // the page dies with the call
      }
      const rest = tabs.slice(1);
      const lead = await until(async () => {
        for (const p of rest) {
          const r = await p.evaluate(() => window.tab.roles.at(-1));
          if (r?.role === 'leader') return { page: p, at: r.at };
        }
        return null;
      }, 'a follower to take the lead');
      console.log(`# ${how}: a follower led ${lead.at - goneAt} ms after the leader went`);
      await posting;
      const want = await archive(poster, room);
      assert.equal(want.length, N);
      // Each event once: the ones the old leader had broadcast, then the new leader's (live
      // ones, and the ones its resync fetched from the archive, in the order it got them,
      // as after any reconnect).
      for (const [i, p] of rest.entries()) {
        await until(async () => (await seenIds(p, room)).length >= N, `tab ${i + 1} to see ${N} events`)
          .catch(async (e) => {
            const t = await p.evaluate(() => ({ roles: window.tab.roles, states: window.tab.states, errors: window.tab.errors }));
            throw new Error(`${e.message}: saw ${JSON.stringify(await seenBodies(p, room))}; tab: ${JSON.stringify(t)}`);
          });
        const seen = await seenIds(p, room);
        assert.equal(new Set(seen).size, seen.length, `tab ${i + 1} saw no event twice: ${seen}`);
        assert.deepEqual([...seen].sort(), [...want].sort(), `tab ${i + 1} saw exactly the archive`);
      }
      const stored = await rest[0].evaluate(({ store, room }) => window.harness.dumpStore(store, [room]), { store, room });
      assert.deepEqual(stored[room].ids, want, 'IndexedDB holds exactly the archive');
      assert.equal(stored[room].gaps, 0);
      // One session again (the poster's bare client has closed).
      await until(async () => (await sessions()) === 1, 'one session after the hand-off', 10_000);
      // A call from the remaining follower goes to the new leader.
      const follower = rest.find((p) => p !== lead.page);
      assert.equal(await role(follower), 'follower');
      const sent = await follower.evaluate((r) => window.tab.client.send(r, 'after hand-off'), room);
      assert.equal(typeof sent.id, 'string');
      for (const p of rest) {
        await until(async () => (await seenBodies(p, room)).includes('after hand-off'), 'the post-hand-off echo');
      }
    } catch (err) {
      throw annotate(err, context());
    } finally {
      await ctx.close();
    }
  });
}

test('two accounts with two tabs each: two sessions, no cross-talk', async () => {
  const ctx = await browser.newContext();
  const carolRoom = roomName('carol-only');
  const daveRoom = roomName('dave-only');
  try {
    const carol = await openTabs(ctx, 2, { jid: 'carol@localhost', store: `tabs-two-carol-${tag}`, label: 'carol' });
    const dave = await openTabs(ctx, 2, { jid: 'dave@localhost', store: `tabs-two-dave-${tag}`, label: 'dave' });
    assert.deepEqual(await Promise.all([...carol, ...dave].map(role)), ['leader', 'follower', 'leader', 'follower']);
    await Promise.all([...carol, ...dave].map((p) => p.evaluate(() => window.tab.client.connect())));
    assert.equal(await sessions(), 2, 'one session per account');
    // Each follower subscribes its own account.
    await carol[1].evaluate((r) => window.tab.client.subscribe(r, { nick: 'carol' }), carolRoom);
    await dave[1].evaluate((r) => window.tab.client.subscribe(r, { nick: 'dave' }), daveRoom);
    await post(carol[0], carolRoom, ['to carol']);
    await post(dave[0], daveRoom, ['to dave']);
    for (const p of carol) await until(async () => (await seenBodies(p, carolRoom)).length === 1, 'carol\'s event');
    for (const p of dave) await until(async () => (await seenBodies(p, daveRoom)).length === 1, 'dave\'s event');
    for (const p of carol) {
      const rooms = await p.evaluate(() => [...new Set(window.tab.events.map((e) => e.room))]);
      assert.deepEqual(rooms, [carolRoom], 'carol\'s tabs see only carol\'s room');
      const subs = await p.evaluate(() => window.tab.client.subscriptions().then((s) => s.map((x) => x.room)));
      assert.ok(subs.includes(carolRoom) && !subs.includes(daveRoom), JSON.stringify(subs));
    }
    for (const p of dave) {
      const rooms = await p.evaluate(() => [...new Set(window.tab.events.map((e) => e.room))]);
      assert.deepEqual(rooms, [daveRoom], 'dave\'s tabs see only dave\'s room');
      const subs = await p.evaluate(() => window.tab.client.subscriptions().then((s) => s.map((x) => x.room)));
      assert.ok(subs.includes(daveRoom) && !subs.includes(carolRoom), JSON.stringify(subs));
    }
  } catch (err) {
    throw annotate(err, context());
  } finally {
    await ctx.close();
  }
});
