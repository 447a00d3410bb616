#!/usr/bin/env node
// The browser benchmark of the SDK (issue 10), in headless Chromium against the bundled
// server on loopback:
//   1. size of the npm package: wasm + JS glue, raw, `gzip -9` and brotli;
//   2. resync: an account subscribed to R rooms misses M messages in each; time from
//      open() until every room is caught up, every message stored;
//   3. live events: N wrapped MucSub events as the server sent them, held at the socket and
//      released at once, until the SDK has stored each in IndexedDB — against a raw batched
//      IndexedDB `put` of the same events, one record each, in the same page;
//   4. tabs (tabs.mjs): leader → follower event callback latency (p50/p99), and the resync
//      of 2 with 1 and with 3 tabs of the app open.
// The browser has no debugger attached but for the pipe that drives it (cdp.mjs): DevTools'
// Network domain, which Playwright turns on, doubles the resync; a row measures that too.
// Medians of --runs runs. No pass/fail on speed: --smoke only checks that every event was
// stored (tests/e2e/browser-bench-smoke.test.mjs). Usage: bench/browser/run.sh (full) or
//   node bench/browser/run.mjs --pkg DIR [--smoke] [--runs N] [--rooms R] [--messages M]
//     [--events N] [--batch B] [--page P] [--json FILE] [--profile DIR]
//     [--engine chromium|firefox|webkit] [--throttle R] [--skip devtools,tabs,resync]
// --throttle R (Chromium only; 4 in a full run, 0 = off) also times the resync, and the bare
// client's text-matching read, with DevTools' Emulation.setCPUThrottlingRate at R× on the
// page: a phone stand-in (a mid-range phone is 3–5× slower than this machine).
// --skip leaves rows out of a run (`devtools`: the resync with the Network domain on;
// `tabs`: the tabs rows; `resync`: everything but the live rows), for interleaved
// comparisons of the other rows.
// --engine runs it in Firefox ESR or WebKitGTK instead (over WebDriver: no DevTools row).
// --page sets the resync's MAM page size (the SDK's `pageSize` option; default: the SDK's).
// --profile records Chrome CPU profiles of the first resync and live run (DIR/*.cpuprofile)
// and prints the functions with the most self time; use a package whose wasm keeps its
// name section (run.sh --profile builds one) to see Rust function names.
import { readFileSync, statSync, appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { serverBin } from '../../tests/e2e/lib/paths.mjs';
import { launchPipeBrowser } from './cdp.mjs';
import { startHarnessServer, openPipeHarness, openHarness, disposeServer } from './lib.mjs';
import { broadcastLatency, resyncWithTabs } from './tabs.mjs';

export const ENGINES = ['chromium', 'firefox', 'webkit'];

// The browser and a way to open a fresh harness page in it. Chromium: driven over a pipe
// (cdp.mjs), nothing else attached. Firefox ESR and WebKitGTK: over WebDriver (the e2e
// tests' adapter, tests/e2e/lib/webdriver.mjs), one window per page; there is no DevTools
// row or CPU profile for them.
async function launchEngine(engine, server, log) {
  if (engine === 'chromium') {
    const browser = await launchPipeBrowser({ log });
    return { open: (name) => openPipeHarness(browser, server, name), close: () => browser.close() };
  }
  // Loaded only here: it needs tests/e2e's node_modules, the Chromium run does not.
  const { WebDriverBrowser } = await import('../../tests/e2e/lib/webdriver.mjs');
  const browser = await WebDriverBrowser.launch(engine);
  try {
    const ctx = await browser.newContext();
    // Pages of one context are windows of one browser profile (the tabs rows need that),
    // with cdp.mjs's waitFor for the code that also drives Chromium's pipe pages.
    const open = async () => {
      const page = await openHarness(ctx, server);
      page.waitFor = (fn, timeout = 60_000) => page.waitForFunction(fn, null, { timeout });
      return page;
    };
    return { open, close: () => browser.close() };
  } catch (e) {
    await browser.close();
    throw e;
  }
}

export const FULL = { runs: 5, rooms: 50, messages: 200, events: 2000, batch: 100, size: 100, throttle: 4 };
export const SMOKE = { runs: 1, rooms: 3, messages: 20, events: 30, batch: 10, size: 100, throttle: 0 };

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// `gzip -9` as scripts/build-sdk.sh measures it (Node's zlib comes out ~3 % larger on the
// wasm), Node's zlib when there is no gzip; brotli for what a server could send instead.
function gzipSize(path) {
  try {
    return execFileSync('gzip', ['-9c', path], { maxBuffer: 1 << 28 }).length;
  } catch {
    return gzipSync(readFileSync(path), { level: 9 }).length;
  }
}

export function packageSizes(pkgDir) {
  const out = {};
  for (const f of ['mucsub_bg.wasm', 'mucsub.js']) {
    const path = join(pkgDir, f);
    out[f] = {
      raw: statSync(path).size,
      gzip: gzipSize(path),
      brotli: brotliCompressSync(readFileSync(path)).length,
    };
  }
  out.total = Object.fromEntries(['raw', 'gzip', 'brotli']
    .map((k) => [k, out['mucsub_bg.wasm'][k] + out['mucsub.js'][k]]));
  return out;
}

// Chrome's sampling profiler over CDP around `fn` (the page's main thread: JS, wasm, and
// how long it sat idle waiting for IndexedDB or the network). Writes DIR/NAME.cpuprofile
// (open it in DevTools) and returns the functions with the most self time.
async function profiled(page, dir, name, fn) {
  if (!dir) return { value: await fn(), top: null };
  await page.cmd('Profiler.enable');
  await page.cmd('Profiler.setSamplingInterval', { interval: 200 });
  await page.cmd('Profiler.start');
  const value = await fn();
  const { profile } = await page.cmd('Profiler.stop');
  await page.cmd('Profiler.disable');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
  const self = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const dt = profile.timeDeltas ?? [];
  let total = 0;
  profile.samples.forEach((id, i) => {
    const n = byId.get(id);
    const f = n.callFrame;
    const key = f.functionName || (f.url ? `(anonymous) ${f.url.split('/').pop()}:${f.lineNumber}` : '(anonymous)');
    const us = dt[i] ?? 0;
    total += us;
    self.set(key, (self.get(key) ?? 0) + us);
  });
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25)
    .map(([fnName, us]) => ({ fn: fnName, ms: us / 1000, pct: (100 * us) / total }));
  return { value, top, totalMs: total / 1000 };
}

function printTop(log, title, prof) {
  if (!prof.top) return;
  log(`[profile] ${title}: ${prof.totalMs.toFixed(0)} ms sampled; top self time:`);
  for (const t of prof.top) log(`[profile]   ${t.pct.toFixed(1).padStart(5)} %  ${t.ms.toFixed(0).padStart(6)} ms  ${t.fn.slice(0, 110)}`);
}

function check(cond, what) {
  if (!cond) throw new Error(`benchmark check failed: ${what}`);
}

// Runs everything; returns the per-run figures and their medians. Throws when an expected
// event or message is missing (the smoke test relies on that), never on speed.
export async function runBench({ engine = 'chromium', pkgDir, runs, rooms, messages, events, batch, size, page: pageSize = undefined, profileDir = null, throttle = 0, skip = [], log = console.log }) {
  if (!ENGINES.includes(engine)) throw new Error(`unknown engine ${engine} (${ENGINES.join(', ')})`);
  const sizes = packageSizes(pkgDir);
  // --skip resync: only the live rows (no backlog, no resync, no bare read, no tabs).
  const skipResync = skip.includes('resync');
  if (skipResync) skip = [...skip, 'devtools', 'tabs'];
  const bobs = Array.from({ length: skipResync ? 0 : runs }, (_, i) => `bob${i}`);
  // The same resync with DevTools' Network domain on, as under Playwright (Chromium only).
  const devtoolsBobs = engine === 'chromium' && !skip.includes('devtools') ? Array.from({ length: runs }, (_, i) => `dbob${i}`) : [];
  // The same resync with the CPU throttled (Chromium only: a DevTools command).
  if (engine !== 'chromium') throttle = 0;
  const slowBobs = throttle > 1 && !skipResync ? Array.from({ length: runs }, (_, i) => `sbob${i}`) : [];
  if (engine !== 'chromium') profileDir = null;
  // The same resync in 1 and in 3 tabs of the app (tabs.mjs), one account per run.
  const tabBobs = skip.includes('tabs') ? [] : Array.from({ length: runs }, (_, i) => [`tbob${i}-1`, `tbob${i}-3`]).flat();
  const server = await startHarnessServer({ pkgDir, users: ['alice', 'carol', 'tlat', ...bobs, ...devtoolsBobs, ...slowBobs, ...tabBobs] });
  let browser;
  try {
    browser = await launchEngine(engine, server, log);
  } catch (e) {
    await disposeServer(server);
    throw e;
  }
  const tag = randomBytes(3).toString('hex');
  const roomList = Array.from({ length: rooms }, (_, i) => `rs-${tag}-${i}@conference.localhost`);
  const openPage = (b, name) => b.open(name);
  const result = { engine, sizes, throttle, resync: [], resyncDevtools: [], resyncThrottled: [], rawResync: [], rawThrottled: [], live: [], tabs: { resync1: [], resync3: [], latency: null } };
  try {
    // The SDK reports warnings (refused or odd input) on the console, which cdp.mjs logs.
    const setup = await browser.open('setup');

    // Resync: every run has its own account and store, all subscribed before the backlog.
    log(`[bench] ${bobs.length + devtoolsBobs.length + slowBobs.length + tabBobs.length} accounts subscribe to ${rooms} rooms`);
    for (const bob of [...bobs, ...devtoolsBobs, ...slowBobs, ...tabBobs]) {
      await setup.evaluate(({ jid, rooms }) =>
        window.harness.subscribeAll({ jid, store: `rs-${jid}`, rooms, nick: jid.split('@')[0] }),
      { jid: `${bob}@localhost`, rooms: roomList });
    }
    if (!skipResync) {
      log(`[bench] alice posts ${messages} messages to each room (${rooms * messages} in all)`);
      const tPost = Date.now();
      await setup.evaluate(({ rooms, n, size }) =>
        window.harness.postBacklog({ user: 'alice', rooms, perRoom: n, size }), { rooms: roomList, n: messages, size });
      log(`[bench] backlog posted in ${((Date.now() - tPost) / 1000).toFixed(1)} s`);
    }
    await setup.close();

    for (let i = 0; i < (skipResync ? 0 : runs); i++) {
      const modes = [['plain', bobs], ['devtools', devtoolsBobs], ['throttled', slowBobs]].filter(([, b]) => b.length);
      for (const [mode, accounts] of modes) {
        const bob = accounts[i];
        // A fresh page per run: a new wasm instance, as after the phone woke the tab.
        const page = await browser.open(bob);
        if (mode === 'devtools') await page.enableNetwork();
        if (mode === 'throttled') await page.cmd('Emulation.setCPUThrottlingRate', { rate: throttle });
        const prof = await profiled(page, i === 0 && mode === 'plain' && profileDir, 'resync', () => page.evaluate(({ jid, rooms, pageSize }) =>
          window.harness.timedResync({ jid, store: `rs-${jid}`, rooms, pageSize }), { jid: `${bob}@localhost`, rooms: roomList, pageSize }));
        printTop(log, `resync ${bob}`, prof);
        const r = prof.value;
        await page.close();
        check(r.stored === rooms * messages, `${bob}: stored ${r.stored} of ${rooms * messages} messages`);
        check(r.gaps === 0, `${bob}: ${r.gaps} gaps recorded`);
        check(r.errors.length === 0, `${bob}: SDK errors ${r.errors.join('; ')}`);
        const how = { plain: '', devtools: ' (DevTools Network domain on)', throttled: ` (CPU throttled ${throttle}×)` }[mode];
        log(`[bench] resync ${bob}${how}: ${r.ms.toFixed(0)} ms (online after ${r.onlineMs.toFixed(0)} ms, ${r.pages} pages)`);
        ({ plain: result.resync, devtools: result.resyncDevtools, throttled: result.resyncThrottled })[mode].push(r);
      }
    }

    // The same resync with 1 and with 3 tabs of the app open, alternating.
    for (let i = 0; i < (tabBobs.length ? runs : 0); i++) {
      for (const n of [1, 3]) {
        const jid = `tbob${i}-${n}@localhost`;
        const r = await resyncWithTabs({ browser, openPage, jid, store: `rs-${jid}`, rooms: roomList, pageSize, n, log });
        check(r.stored === rooms * messages, `${jid}: stored ${r.stored} of ${rooms * messages} messages`);
        result.tabs[`resync${n}`].push(r);
      }
    }

    // The floor: the same archives read by a bare client that stores nothing, parsing each
    // stanza with DOMParser ('dom') or only matching frames as text ('text').
    if (!skipResync) {
      const page = await browser.open('bare');
      for (let i = 0; i < runs; i++) {
        const row = {};
        for (const parse of ['text', 'dom']) {
          const r = await page.evaluate((a) => window.harness.rawResync(a),
            { user: bobs[0], rooms: roomList, pageSize: pageSize ?? 100, parse });
          check(r.messages === rooms * messages, `raw ${parse} resync read ${r.messages} of ${rooms * messages} messages`);
          row[parse] = r.ms;
        }
        log(`[bench] a bare client reading the same archives: ${row.text.toFixed(0)} ms matching frames as text, ${row.dom.toFixed(0)} ms with DOMParser`);
        result.rawResync.push(row);
      }
      await page.close();
      // The text-matching read again with the CPU throttled as for the throttled resync.
      if (throttle > 1) {
        const slow = await browser.open('bare-throttled');
        await slow.cmd('Emulation.setCPUThrottlingRate', { rate: throttle });
        for (let i = 0; i < runs; i++) {
          const r = await slow.evaluate((a) => window.harness.rawResync(a),
            { user: bobs[0], rooms: roomList, pageSize: pageSize ?? 100, parse: 'text' });
          check(r.messages === rooms * messages, `raw throttled resync read ${r.messages} of ${rooms * messages} messages`);
          log(`[bench] the bare client's text-matching read, CPU throttled ${throttle}×: ${r.ms.toFixed(0)} ms`);
          result.rawThrottled.push(r.ms);
        }
        await slow.close();
      }
    }

    // Live events, then the raw baseline on the same records, in the same page.
    for (let i = 0; i < runs; i++) {
      const page = await browser.open(`live${i}`);
      const room = `live-${tag}-${i}@conference.localhost`;
      const store = `live-${tag}-${i}`;
      await page.evaluate((a) => window.harness.prepareLive(a),
        { jid: 'carol@localhost', store, room, n: events, size, sender: 'alice' });
      const prof = await profiled(page, i === 0 && profileDir, 'live',
        () => page.evaluate(() => window.harness.releaseLive()));
      printTop(log, 'live events', prof);
      const sdkRun = prof.value;
      check(sdkRun.frames >= events, `live run ${i}: only ${sdkRun.frames} frames were held`);
      check(sdkRun.n === events, `live run ${i}: ${sdkRun.n} of ${events} events stored`);
      check(sdkRun.errors.length === 0, `live run ${i}: SDK errors ${sdkRun.errors.join('; ')}`);
      const rawRun = await page.evaluate((a) => window.harness.rawPut(a),
        { store, room, batch, target: `${store}-raw` });
      check(rawRun.n === events, `raw run ${i}: ${rawRun.n} of ${events} records`);
      // The SDK's layout (chunks) written in plain JS: what the storage itself costs.
      const chunked = await page.evaluate((a) => window.harness.rawPut(a),
        { store, room, batch, target: `${store}-chunked`, pattern: 'chunked' });
      await page.evaluate((s) => window.harness.deleteDb(s), store);
      await page.close();
      const r = {
        sdkPerSec: (events / sdkRun.ms) * 1000,
        rawPerSec: (events / rawRun.ms) * 1000,
        sdkMs: sdkRun.ms,
        rawMs: rawRun.ms,
        avgRecordBytes: rawRun.avgRecordBytes,
        chunkedPerSec: (events / chunked.ms) * 1000,
      };
      r.ratio = r.sdkPerSec / r.rawPerSec;
      log(`[bench] live run ${i}: SDK ${r.sdkPerSec.toFixed(0)}/s, raw put ${r.rawPerSec.toFixed(0)}/s (${(r.ratio * 100).toFixed(1)} %); `
        + `raw, ${batch} events to a record ${r.chunkedPerSec.toFixed(0)} events/s`);
      result.live.push(r);
    }
    // Leader → follower callback latency.
    if (!skip.includes('tabs')) result.tabs.latency = await broadcastLatency({ browser, openPage,
      jid: 'tlat@localhost', room: `lat-${tag}@conference.localhost`, events, log });
  } finally {
    await browser.close();
    await disposeServer(server);
  }
  result.median = {
    resyncMs: median(result.resync.map((r) => r.ms)),
    resyncOnlineMs: median(result.resync.map((r) => r.onlineMs)),
    resyncDevtoolsMs: median(result.resyncDevtools.map((r) => r.ms)),
    resyncThrottledMs: median(result.resyncThrottled.map((r) => r.ms)),
    rawThrottledMs: median(result.rawThrottled),
    rawTextMs: median(result.rawResync.map((r) => r.text)),
    rawDomMs: median(result.rawResync.map((r) => r.dom)),
    sdkPerSec: median(result.live.map((r) => r.sdkPerSec)),
    rawPerSec: median(result.live.map((r) => r.rawPerSec)),
    ratio: median(result.live.map((r) => r.ratio)),
    chunkedPerSec: median(result.live.map((r) => r.chunkedPerSec)),
    chunkedRatio: median(result.live.map((r) => r.sdkPerSec / r.chunkedPerSec)),
    resync1TabMs: median(result.tabs.resync1.map((r) => r.ms)),
    resync3TabsMs: median(result.tabs.resync3.map((r) => r.ms)),
  };
  return result;
}

function kb(n) {
  return `${(n / 1024).toFixed(1)} KB`;
}

export function table(res, opts) {
  const m = res.median;
  const s = res.sizes;
  return [
    `| measurement (${res.engine ?? 'chromium'}) | result | target |`,
    `|---|---|---|`,
    `| wasm (mucsub_bg.wasm) | ${kb(s['mucsub_bg.wasm'].raw)} raw, ${kb(s['mucsub_bg.wasm'].gzip)} gzipped | |`,
    `| JS glue (mucsub.js) | ${kb(s['mucsub.js'].raw)} raw, ${kb(s['mucsub.js'].gzip)} gzipped | |`,
    `| wasm + JS | ${kb(s.total.raw)} raw, **${kb(s.total.gzip)} gzipped** (${kb(s.total.brotli)} brotli) | ≤ 300 KB gzipped ${s.total.gzip <= 300 * 1024 ? '✔' : '✘'} |`,
    `| resync, ${opts.rooms * opts.messages} missed messages over ${opts.rooms} rooms (median of ${res.resync.length}) | **${m.resyncMs.toFixed(0)} ms** (online after ${m.resyncOnlineMs.toFixed(0)} ms) | < 2 s ${m.resyncMs < 2000 ? '✔' : '✘'} |`,
    ...(res.resyncDevtools.length ? [`| the same resync with DevTools' Network domain on, as under Playwright (median of ${res.resyncDevtools.length}) | ${m.resyncDevtoolsMs.toFixed(0)} ms | |`] : []),
    `| the same archives read by a bare JS client, 4 rooms in flight, nothing stored: frames matched as text / parsed by DOMParser | ${m.rawTextMs.toFixed(0)} ms / ${m.rawDomMs.toFixed(0)} ms | |`,
    `| resync ÷ the bare client's text-matching read | **${(m.resyncMs / m.rawTextMs).toFixed(2)}×** | ≤ 2× ${m.resyncMs <= 2 * m.rawTextMs ? '✔' : '✘'} |`,
    ...(res.resyncThrottled.length ? [`| the resync / the bare client's text read with the CPU throttled ${res.throttle}× (Emulation.setCPUThrottlingRate; median of ${res.resyncThrottled.length}) | ${m.resyncThrottledMs.toFixed(0)} ms / ${m.rawThrottledMs.toFixed(0)} ms (${(m.resyncThrottledMs / m.rawThrottledMs).toFixed(2)}×) | |`] : []),
    `| live events stored by the SDK, ${opts.events} events (median of ${res.live.length}) | ${m.sdkPerSec.toFixed(0)} events/s | |`,
    `| raw IndexedDB put of the same events, one record each (a history and a dedup index), ${opts.batch} per transaction | ${m.rawPerSec.toFixed(0)} records/s | |`,
    `| SDK / raw | **${(m.ratio * 100).toFixed(1)} %** | ≥ 80 % ${m.ratio >= 0.8 ? '✔' : '✘'} |`,
    `| raw, the same events ${opts.batch} to a record (the SDK's chunk layout in plain JS, one put per transaction) | ${m.chunkedPerSec.toFixed(0)} events/s | |`,
    `| SDK / raw chunked | **${(100 * m.chunkedRatio).toFixed(1)} %** | ≥ 80 % ${m.chunkedRatio >= 0.8 ? '✔' : '✘'} |`,
    ...(res.tabs.latency ? [
      `| tabs: resync of the same backlog with 1 / 3 tabs of the app open, until every tab saw every room caught up (median of ${res.tabs.resync1.length}) | ${m.resync1TabMs.toFixed(0)} ms / ${m.resync3TabsMs.toFixed(0)} ms | the same within noise |`,
      `| tabs: leader → follower \`event\` callback, ${res.tabs.latency.n} events | p50 ${res.tabs.latency.p50.toFixed(2)} ms, p99 ${res.tabs.latency.p99.toFixed(2)} ms | |`,
    ] : []),
  ].join('\n');
}

function parseArgs(argv) {
  const opts = { ...FULL };
  let json = null;
  let pkgDir = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--smoke') Object.assign(opts, SMOKE);
    else if (a === '--pkg') pkgDir = val();
    else if (a === '--engine') opts.engine = val();
    else if (a === '--json') json = val();
    else if (a === '--profile') opts.profileDir = val();
    else if (a === '--skip') opts.skip = val().split(',');
    else if (a === '--throttle') {
      const n = Number(val());
      if (!(n >= 0)) throw new Error('--throttle takes a rate (0: off)');
      opts.throttle = n;
    }
    else if (['--runs', '--rooms', '--messages', '--events', '--batch', '--size', '--page'].includes(a)) {
      const n = Number(val());
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a} takes a positive integer`);
      opts[a.slice(2)] = n;
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!pkgDir) throw new Error('--pkg DIR (an SDK package built by scripts/build-sdk.sh) is required');
  return { opts, json, pkgDir };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`[bench] ${e.message}`);
    process.exit(2);
  }
  const { opts, json, pkgDir } = args;
  console.log(`[bench] server ${serverBin}, package ${pkgDir}, ${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const res = await runBench({ pkgDir, ...opts });
  console.log(`\n${table(res, opts)}\n`);
  if (json) {
    appendFileSync(json, `${JSON.stringify({ at: new Date().toISOString(), opts, load: loadavg(), ...res })}\n`);
  }
}
