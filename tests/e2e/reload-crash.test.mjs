// SDK crash safety (issue 11): bob's page is reloaded at random points of a long resync, 20
// times, and what IndexedDB holds in the end is exactly the server's archive — same ids,
// same order, no duplicate, no hole, no recorded gap.
//
// The server keeps MAM pages and the offline queue small, so the backlog takes many pages.
// The page (bench/browser/page/, `?auto=1`) starts the SDK on load and reloads itself after
// its K-th stored resync page, J ms later (K and J drawn from a seeded generator: counting
// pages rather than watching the clock keeps the reload inside the resync on a loaded
// machine), and lets at most ROUND_PAGES archive pages reach the SDK in a round. The
// archive is read independently of the SDK, by a bare XMPP-over-WebSocket client in the
// page (bench/browser/page/rawxmpp.mjs). Replay a failure with the seed it
// prints: CRASH_SEED=<seed> node --test tests/e2e/reload-crash.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { launchBrowser, watchPage, annotate } from './lib/browser.mjs';
import { wwwDist } from './lib/paths.mjs';
import { startHarnessServer, openHarness, disposeServer } from '../../bench/browser/lib.mjs';

const ROUNDS = 20;
const ROOMS = 6;
const PAGE = 10; // the server's MAM page cap and the SDK's page size
const MAX_K = 3; // pages stored before a reload: 1..MAX_K
const MAX_JITTER_MS = 12;
// Archive pages the page lets through in a round (bench/browser/page/harness.mjs frameGate):
// the K-th, and as many again as the SDK asks for at once (ResyncConfig::max_in_flight, 4),
// so a delayed reload can land in the transaction of a page after the K-th. Without this
// cap a round's progress would depend on how long the engine takes to commit (the SDK
// stores every page that arrived meanwhile in its next batch): Firefox and WebKit stored
// up to ~1,000 messages in a round where Chromium stored ~40.
const ROUND_PAGES = MAX_K + 4;
// Every round must reload inside the resync: 20 rounds take at most ROUNDS * ROUND_PAGES
// pages (1,400 messages) plus the 5 of the offline queue, whatever the engine, so a backlog
// a quarter larger is enough (the fewer messages, the sooner it is posted).
const PER_ROOM = Math.ceil((ROUNDS * ROUND_PAGES * PAGE * 1.25) / ROOMS / PAGE) * PAGE;
// Messages posted back to back, then 2 ms of quiet: fewer than PAGE messages share an archive
// millisecond. The SDK resumes a room with `start=<cursor time>` (ms) and records a gap when
// that page does not reach the cursor, so a burst of more than PAGE messages in the cursor's
// millisecond would give a spurious gap (reported to the SDK's owners), not a lost message.
const CHUNK = 5;
const STORE = 'crash-bob';
const WAIT = 90_000;

const seed = Number(process.env.CRASH_SEED ?? randomBytes(4).readUInt32LE(0));
const tag = randomBytes(3).toString('hex');
const rooms = Array.from({ length: ROOMS }, (_, i) => `crash-${tag}-${i}@conference.localhost`);

// mulberry32: small, seedable, good enough to pick reload points.
function rng(s) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// A short account of how the stored ids differ from the archive's, for the failure message.
function difference(have, want) {
  const got = new Set(have.ids);
  const missing = want.map((id, i) => [id, i]).filter(([id]) => !got.has(id));
  const known = new Set(want);
  const extra = have.ids.filter((id) => !known.has(id));
  const firstDiff = want.findIndex((id, i) => have.ids[i] !== id);
  const runs = [];
  for (const [, i] of missing) {
    const last = runs.at(-1);
    if (last && last[1] === i - 1) last[1] = i;
    else runs.push([i, i]);
  }
  return `stored ${have.ids.length} of ${want.length}; missing archive positions `
    + `${runs.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',') || 'none'}; `
    + `${extra.length} not in the archive; first difference at ${firstDiff}; `
    + `${have.gaps} gaps recorded; cursor ${have.cursor}`;
}

// What IndexedDB holds (harness.dumpStore) is exactly each room's archive of `perRoom`
// messages: same ids, same order, no duplicate, no gap, the cursor at the newest.
function assertStoreIsArchive(stored, archive, rooms, perRoom) {
  for (const room of rooms) {
    const want = archive[room];
    const have = stored[room];
    assert.equal(want.length, perRoom, `${room}: the archive holds the whole backlog`);
    assert.equal(new Set(have.ids).size, have.ids.length, `${room}: no duplicate in the store`);
    assert.deepEqual(have.ids, want, `${room}: the store holds the archive's ids in its order: ${difference(have, want)}`);
    assert.equal(have.gaps, 0, `${room}: no gap recorded`);
    assert.equal(have.cursor, want.at(-1), `${room}: the cursor is at the newest archived message`);
  }
}

let server;
let browser;
const logs = [];

before(async () => {
  server = await startHarnessServer({
    pkgDir: join(wwwDist, 'pkg'),
    users: ['alice', 'bob', 'carol'],
    limits: { offline_max_per_account: 5 },
    muc: { mam_max_page: PAGE },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await disposeServer(server);
});

function context() {
  const pageLog = logs.flatMap((l) => l.log).slice(-60).join('\n');
  return `\n(seed ${seed}: replay with CRASH_SEED=${seed})\n--- pages ---\n${pageLog}\n--- server ---\n${server?.output.slice(-3000)}`;
}

test(`reloading mid-resync ${ROUNDS} times leaves IndexedDB equal to the archive`, async () => {
  console.log(`# reload-crash seed ${seed} (replay with CRASH_SEED=${seed})`);
  const next = rng(seed);
  const ctx = await browser.newContext();
  try {
    const setup = await openHarness(ctx, server);
    logs.push(watchPage(setup, 'setup'));
    // bob follows the rooms (empty: his cursors start at the beginning), then goes away
    // while alice posts the backlog.
    await setup.evaluate(({ rooms, store, page }) =>
      window.harness.subscribeAll({ jid: 'bob@localhost', store, rooms, nick: 'bob', pageSize: page }),
    { rooms, store: STORE, page: PAGE });
    await setup.evaluate(({ rooms, n, chunk }) =>
      window.harness.postBacklog({ user: 'alice', rooms, perRoom: n, size: 40, chunk, pauseMs: 2 }),
    { rooms, n: PER_ROOM, chunk: CHUNK });
    await setup.close();

    const page = await ctx.newPage();
    logs.push(watchPage(page, 'bob'));
    const base = `${server.httpUrl}index.html?auto=1&jid=bob@localhost&store=${STORE}&pageSize=${PAGE}`;
    const progress = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const k = 1 + Math.floor(next() * MAX_K);
      const jitter = next() < 0.5 ? 0 : Math.floor(next() * MAX_JITTER_MS);
      await page.goto(`${base}&round=${round}&reloadAfter=${k}&jitter=${jitter}&budget=${ROUND_PAGES}`);
      // The reloaded page reports what survived in the database.
      await page.waitForFunction((r) => {
        const s = window.crashState;
        return s && (s.phase === 'reloaded' || s.phase === 'complete' || s.phase === 'failed')
          && new URLSearchParams(location.search).get('round') === String(r);
      }, round, { timeout: WAIT });
      const state = await page.evaluate(() => window.crashState);
      assert.equal(state.phase, 'reloaded',
        `round ${round} (K=${k}, J=${jitter}ms) must reload before the resync ends: ${JSON.stringify(state)}`);
      progress.push(state.storedAtStart);
      // What a committed page wrote is never lost to a later reload.
      if (progress.length > 1) {
        assert.ok(progress.at(-1) >= progress.at(-2),
          `stored messages went down after round ${round}: ${progress.join(' → ')} (${JSON.stringify(state)})`);
      }
    }
    console.log(`# stored after each reload: ${progress.join(' ')} (of ${ROOMS * PER_ROOM})`);
    assert.ok(progress.at(-1) < ROOMS * PER_ROOM,
      `the last reload must still be inside the resync (stored after each reload: ${progress.join(' ')})`);

    // The last start runs the resync to its end.
    await page.goto(`${base}&round=final`);
    await page.waitForFunction(() => ['complete', 'failed'].includes(window.crashState?.phase),
      null, { timeout: WAIT });
    const final = await page.evaluate(() => window.crashState);
    assert.equal(final.phase, 'complete', JSON.stringify(final));
    assert.deepEqual(final.errors, [], 'the SDK reported no errors');

    const stored = await page.evaluate(({ store, rooms }) => window.harness.dumpStore(store, rooms),
      { store: STORE, rooms });
    const archive = await page.evaluate((rooms) => window.harness.archiveIds('alice', rooms), rooms);
    assertStoreIsArchive(stored, archive, rooms, PER_ROOM);
  } catch (err) {
    throw annotate(err, context());
  } finally {
    await ctx.close();
  }
});

// The same with three tabs of carol's app on one store (issue 21): only the leader writes.
// Each tab runs the harness's tabs crash mode: while it leads, it reloads itself K stored
// resync pages after it took the lead, so the lock passes to another tab, which resumes the
// resync from the stored cursors; TAB_ROUNDS reloads in all, then the resync runs to its end.
// A leading document receives at most ROUND_PAGES archive pages before its reload, and
// nothing from it on (frameGate), as in the test above: without that cap WebKit stored the
// whole backlog before the 8th reload.
const TAB_ROUNDS = 8;
const TAB_ROOMS = 4;
const TAB_PER_ROOM = 300;

test(`reloading the leader among three tabs ${TAB_ROUNDS} times mid-resync leaves IndexedDB equal to the archive`, async () => {
  const store = 'crash-carol-tabs';
  const rooms = Array.from({ length: TAB_ROOMS }, (_, i) => `crash-tabs-${tag}-${i}@conference.localhost`);
  const ctx = await browser.newContext();
  try {
    const setup = await openHarness(ctx, server);
    logs.push(watchPage(setup, 'tabs-setup'));
    await setup.evaluate(({ rooms, store, page }) =>
      window.harness.subscribeAll({ jid: 'carol@localhost', store, rooms, nick: 'carol', pageSize: page }),
    { rooms, store, page: PAGE });
    await setup.evaluate(({ rooms, n, chunk }) =>
      window.harness.postBacklog({ user: 'alice', rooms, perRoom: n, size: 40, chunk, pauseMs: 2 }),
    { rooms, n: TAB_PER_ROOM, chunk: CHUNK });

    const url = `${server.httpUrl}index.html?tabs=1&jid=carol@localhost&store=${store}&pageSize=${PAGE}`
      + `&rounds=${TAB_ROUNDS}&seed=${seed}&budget=${ROUND_PAGES}`;
    const pages = [];
    for (let i = 0; i < 3; i++) {
      const page = await ctx.newPage();
      logs.push(watchPage(page, `carol${i}`));
      await page.goto(url);
      pages.push(page);
    }
    const reloads = () => setup.evaluate((s) => Number(localStorage.getItem(`tabs-reloads-${s}`) ?? 0), store);
    for (let i = 0; (await reloads()) < TAB_ROUNDS; i++) {
      if (i > WAIT / 50) throw new Error(`only ${await reloads()} of ${TAB_ROUNDS} leader reloads`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const storedAfter = await setup.evaluate((s) => window.harness.countStored(s), store);
    console.log(`# tabs: stored after ${TAB_ROUNDS} leader reloads: ${storedAfter} of ${TAB_ROOMS * TAB_PER_ROOM}`);
    assert.ok(storedAfter < TAB_ROOMS * TAB_PER_ROOM, 'the last reload must still be inside the resync');

    // Every tab's resync() resolves once the leader has caught up. Right after a hand-off
    // the new leader may still be connecting: resync() then rejects with not-connected, as
    // it does in one tab during a reconnect, and the app asks again.
    for (const p of pages) {
      await p.waitForFunction(() => window.tab?.client.role !== undefined, null, { timeout: WAIT });
      await p.evaluate(async () => {
        for (let i = 0; ; i++) {
          try {
            return await window.tab.client.resync();
          } catch (e) {
            if (e.code !== 'not-connected' || i > 200) throw e;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      });
    }
    for (const p of pages) assert.deepEqual(await p.evaluate(() => window.tab.errors), [], 'no SDK errors');
    const stored = await setup.evaluate(({ store, rooms }) => window.harness.dumpStore(store, rooms), { store, rooms });
    const archive = await setup.evaluate((rooms) => window.harness.archiveIds('alice', rooms), rooms);
    assertStoreIsArchive(stored, archive, rooms, TAB_PER_ROOM);
  } catch (err) {
    throw annotate(err, context());
  } finally {
    await ctx.close();
  }
});
