#!/usr/bin/env node
// What one chunk record costs IndexedDB's `put` for each index the SDK's chunk store has
// (issue 24: the put is the largest item of the resync's profile the SDK controls). In the
// harness page of headless Chromium: records shaped like the SDK's chunks of `--events`
// messages (schema v6: `evs` JSON text; `pos` and `shown` positions; `dk` dedup keys, 3 per
// message; `fk` fold keys), `--records` per run, one transaction per record as a resync
// page writes, into fresh databases that index (a) pos + shown + dk + fk with 3 fold keys
// per message (stanza-id, message id, origin-id: the SDK's v6 before issue 24), (b) the
// same with one (`v6own`: the message's own id only, what the SDK writes since issue 24 for
// a message whose id is its origin-id; its stanza-id is found through `dk`), (c) the same
// with none (`v6none`: a chunk of messages nothing names by another id), (d) pos + shown +
// dk (v5, before the fold index), (e) pos + dk. Layouts
// alternate (in reverse order every other run), `--runs` times; medians. Not a test.
// Usage: node bench/browser/putcost.mjs --pkg DIR [--runs 5] [--records 100] [--events 100]
import { launchPipeBrowser } from './cdp.mjs';
import { startHarnessServer, openPipeHarness, disposeServer } from './lib.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const pkgDir = opt('--pkg');
if (!pkgDir) {
  console.error('--pkg DIR is required');
  process.exit(2);
}
const runs = Number(opt('--runs', 5));
const records = Number(opt('--records', 100));
const events = Number(opt('--events', 100));

const server = await startHarnessServer({ pkgDir, users: ['alice'] });
const browser = await launchPipeBrowser({ log: console.log });
try {
  const page = await openPipeHarness(browser, server, 'putcost');
  const res = await page.evaluate(async ({ runs, records, events }) => {
    const all = ['pos', 'shown', 'dk', 'fk'];
    // Index key paths, and how many fold keys each message gets.
    const layouts = {
      v6: [all, 3], v6own: [all, 1], v6none: [all, 0],
      v5: [['pos', 'shown', 'dk'], 0], posdk: [['pos', 'dk'], 0],
    };
    const room = 'rs-putcost@conference.localhost';
    const body = 'x'.repeat(100);
    let seq = 0;
    const chunk = (folds) => {
      const slots = [];
      const rec = { room, pos: [], shown: [], dk: [], fk: [] };
      for (let i = 0; i < events; i++) {
        const n = ++seq;
        const sid = `${(1700000000000000 + n).toString(16)}`;
        const ts = 1700000000000 + n;
        slots.push({ seq: n, ord: 0, ev: { room, kind: { type: 'message', body }, stanza_id: sid, origin_id: `o${n}`, message_id: `m${n}`, nick: 'alice', timestamp: ts * 1000, source: 'archive' } });
        rec.pos.push([room, ts, 0]);
        rec.shown.push([room, ts, 0]);
        rec.dk.push(`${room}\0sid:${sid}`, `${room}\0oid:alice\0o${n}`, `${room}\0mid:alice\0m${n}`);
        rec.fk.push(...[`${room}\0m:m${n}`, `${room}\0m:${sid}`, `${room}\0m:o${n}`].slice(0, folds));
      }
      rec.evs = JSON.stringify(slots);
      return rec;
    };
    const open = (name, indexes) => new Promise((resolve, reject) => {
      const del = indexedDB.deleteDatabase(name);
      del.onsuccess = del.onerror = () => {
        const req = indexedDB.open(name, 1);
        req.onupgradeneeded = () => {
          const s = req.result.createObjectStore('chunks', { keyPath: 'id', autoIncrement: true });
          for (const f of indexes) s.createIndex(f, f, { multiEntry: true });
        };
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      };
    });
    const times = Object.fromEntries(Object.keys(layouts).map((k) => [k, []]));
    for (let r = 0; r < runs; r++) {
      // Alternate the order, so no layout always runs first.
      const order = r % 2 ? Object.entries(layouts).reverse() : Object.entries(layouts);
      for (const [name, [indexes, folds]] of order) {
        const recs = Array.from({ length: records }, () => chunk(folds));
        const db = await open(`putcost-${name}`, indexes);
        const t0 = performance.now();
        await Promise.all(recs.map((rec) => new Promise((resolve, reject) => {
          const tx = db.transaction('chunks', 'readwrite');
          tx.objectStore('chunks').put(rec);
          tx.oncomplete = resolve;
          tx.onerror = () => reject(tx.error);
        })));
        times[name].push(performance.now() - t0);
        db.close();
      }
    }
    return times;
  }, { runs, records, events });
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  for (const [name, xs] of Object.entries(res)) {
    console.log(`${name.padEnd(6)} median ${median(xs).toFixed(0)} ms for ${records} records of ${events} events (runs ${xs.map((x) => x.toFixed(0)).join(', ')})`);
  }
} finally {
  await browser.close();
  await disposeServer(server);
}
