#!/usr/bin/env node
// Where the page's main thread spends a resync, by Chrome trace event rather than by JS
// function: the sampling profile (run.mjs --profile) shows the browser's own task handling
// only as "(program)", while the trace names it (RunTask, IDBRequest::SendResult, the
// WebSocket message task, IDBObjectStore::putRequestSetup, GC). Not a test; prints the
// total time per event name and the self time per event with its two parents.
//   node bench/browser/trace.mjs --pkg DIR [--rooms 20] [--messages 200]
// MUCSUB_SERVER_BIN picks the server (as for run.mjs).
import { randomBytes } from 'node:crypto';
import { launchPipeBrowser } from './cdp.mjs';
import { startHarnessServer, openPipeHarness, disposeServer } from './lib.mjs';

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const pkgDir = arg('--pkg');
if (!pkgDir) throw new Error('--pkg DIR is required');
const nRooms = Number(arg('--rooms', 20));
const perRoom = Number(arg('--messages', 200));

const server = await startHarnessServer({ pkgDir, users: ['alice', 'bob0'] });
const browser = await launchPipeBrowser({ log: console.log });
const tag = randomBytes(3).toString('hex');
const rooms = Array.from({ length: nRooms }, (_, i) => `tr-${tag}-${i}@conference.localhost`);
const jid = 'bob0@localhost';
try {
  const setup = await openPipeHarness(browser, server, 'setup');
  await setup.evaluate((a) => window.harness.subscribeAll({ ...a, store: `rs-${a.jid}`, nick: 'bob0' }), { jid, rooms });
  await setup.evaluate((a) => window.harness.postBacklog({ user: 'alice', ...a, size: 100 }), { rooms, perRoom });
  await setup.close();

  const page = await openPipeHarness(browser, server, 'bob0');
  const events = [];
  page.on('Tracing.dataCollected', (d) => events.push(...d.value));
  const done = new Promise((r) => page.on('Tracing.tracingComplete', r));
  await page.cmd('Tracing.start', {
    categories: 'devtools.timeline,v8,blink,IndexedDB,disabled-by-default-devtools.timeline',
    transferMode: 'ReportEvents',
  });
  const r = await page.evaluate((a) => window.harness.timedResync({ ...a, store: `rs-${a.jid}` }), { jid, rooms });
  await page.cmd('Tracing.end');
  await done;
  console.log(`resync of ${r.stored} messages over ${nRooms} rooms: ${r.ms.toFixed(0)} ms`);

  const main = events.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
  const sel = events.filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === 'X' && e.dur)
    .sort((a, b) => a.ts - b.ts || b.dur - a.dur);
  const add = (map, k, us) => {
    const a = map.get(k) ?? { n: 0, us: 0 };
    a.n += 1;
    a.us += us;
    map.set(k, a);
  };
  const total = new Map();
  const stack = [];
  for (const e of sel) {
    add(total, e.name, e.dur);
    while (stack.length && stack.at(-1).ts + stack.at(-1).dur <= e.ts) stack.pop();
    if (stack.length) stack.at(-1).childUs = (stack.at(-1).childUs ?? 0) + e.dur;
    e.chain = [...stack.slice(-2).map((x) => x.name), e.name].join(' > ');
    stack.push(e);
  }
  const self = new Map();
  for (const e of sel) add(self, e.chain, e.dur - (e.childUs ?? 0));
  const print = (title, map, n) => {
    console.log(title);
    for (const [k, v] of [...map].sort((a, b) => b[1].us - a[1].us).slice(0, n)) {
      console.log(`${(v.us / 1000).toFixed(0).padStart(7)} ms ${String(v.n).padStart(7)}x  ${k}`);
    }
  };
  print('--- total time per trace event (nested events counted in each)', total, 12);
  print('--- self time per event, with its two parents', self, 20);
} finally {
  await browser.close();
  await disposeServer(server);
}
