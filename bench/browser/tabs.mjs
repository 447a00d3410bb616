// The tabs part of the browser benchmark (issue 21): several pages of one browser share one
// client per store (the leader holds the store's Web Lock and broadcasts its callbacks).
//   - broadcast latency: alice posts messages one by one; for each, the time from the
//     leader's `event` callback (after its IndexedDB commit) to the same event's callback in
//     a follower tab, p50 and p99;
//   - resync with 1 and with 3 tabs open: every tab's app calls connect() at once; time
//     until the last tab has seen every room caught up (the work is the leader's alone, so
//     the two should be the same within noise).
// Page side: harness.timedTab / syncedAt / clock (page/harness.mjs).

function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function check(cond, what) {
  if (!cond) throw new Error(`benchmark check failed: ${what}`);
}

// Opens `n` pages with a timed client each on `store`, in order (the first leads).
async function openTabs(browser, openPage, { jid, store, pageSize, n, name }) {
  const pages = [];
  for (let i = 0; i < n; i++) {
    const page = await openPage(browser, `${name}-${i}`);
    await page.evaluate((o) => window.harness.timedTab(o), { jid, store, pageSize });
    await page.waitFor(() => window.timed.client.role !== undefined);
    pages.push(page);
  }
  const roles = await Promise.all(pages.map((p) => p.evaluate(() => window.timed.client.role)));
  check(roles[0] === 'leader' && roles.slice(1).every((r) => r === 'follower'), `${name}: roles ${roles}`);
  return pages;
}

// Broadcast latency over `events` messages posted `gapMs` apart to a room both tabs follow.
// `jid` is an account of its own (its connect resyncs nothing else).
export async function broadcastLatency({ browser, openPage, jid, room, events, gapMs = 5, log }) {
  const store = `tabs-latency-${room}`;
  const nick = jid.split('@')[0];
  const [leader, follower] = await openTabs(browser, openPage, { jid, store, n: 2, name: 'latency' });
  try {
    await Promise.all([leader, follower].map((p) => p.evaluate(() => window.timed.client.connect())));
    await follower.evaluate(({ room, nick }) => window.timed.client.subscribe(room, { nick }).then(() => null), { room, nick });
    await leader.evaluate(async ({ room, events, gapMs }) => {
      const x = await window.harness.raw('alice');
      try {
        await x.subscribe(room, 'alice', []);
        for (let i = 0; i < events; i++) {
          x.post(room, [`lat${i}`]);
          await new Promise((r) => setTimeout(r, gapMs));
        }
      } finally {
        x.close();
      }
    }, { room, events, gapMs });
    const count = () => Object.keys(window.timed.at).length;
    for (const p of [leader, follower]) {
      await p.waitFor(new Function(`return (${count.toString()})() >= ${events}`));
    }
    const [a, b] = await Promise.all([leader, follower].map((p) => p.evaluate(() => window.timed.at)));
    const ms = Object.keys(a).map((id) => b[id] - a[id]);
    check(ms.length === events && ms.every((x) => Number.isFinite(x)), `latency: ${ms.length} of ${events} events in both tabs`);
    const errors = await Promise.all([leader, follower].map((p) => p.evaluate(() => window.timed.errors)));
    check(errors.flat().length === 0, `latency: SDK errors ${errors.flat().join('; ')}`);
    const r = { n: ms.length, p50: percentile(ms, 50), p99: percentile(ms, 99), max: Math.max(...ms) };
    log(`[bench] leader → follower event callback over ${r.n} events: p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(2)} ms`);
    return r;
  } finally {
    for (const p of [follower, leader]) await p.close();
  }
}

// The resync of `jid`'s store (subscribed to `rooms`, which hold a backlog) with `n` tabs.
export async function resyncWithTabs({ browser, openPage, jid, store, rooms, pageSize, n, log }) {
  const pages = await openTabs(browser, openPage, { jid, store, pageSize, n, name: `resync${n}` });
  try {
    const t0 = await pages[0].evaluate(() => window.harness.clock());
    await Promise.all(pages.map((p) => p.evaluate(() => window.timed.client.connect())));
    const done = [];
    for (const p of pages) {
      await p.waitFor(new Function(`return window.harness.syncedAt(${JSON.stringify(rooms)}) !== null`), 120_000);
      done.push(await p.evaluate((r) => window.harness.syncedAt(r), rooms));
    }
    const errors = await Promise.all(pages.map((p) => p.evaluate(() => window.timed.errors)));
    check(errors.flat().length === 0, `resync with ${n} tabs: SDK errors ${errors.flat().join('; ')}`);
    const dump = await pages[0].evaluate(({ store, rooms }) => window.harness.dumpStore(store, rooms), { store, rooms });
    const stored = Object.values(dump).reduce((k, r) => k + r.ids.length, 0);
    const ms = Math.max(...done) - t0;
    log(`[bench] resync with ${n} tab(s) open (${jid}): ${ms.toFixed(0)} ms until every tab saw every room caught up, ${stored} stored`);
    return { ms, stored, tabs: n };
  } finally {
    for (const p of pages.reverse()) await p.close();
  }
}
