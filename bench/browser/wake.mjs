#!/usr/bin/env node
// The wake benchmark in the browser (issue 26, BENCHMARKS.md "Waking up in the browser"):
// headless Chromium, the SDK over WebSocket through a latency relay (tests/e2e/lib/relay.mjs:
// each direction delayed by half the round trip, order kept) that stands for the phone's
// network. The page's client is subscribed to R rooms; the relay cuts its connection and
// refuses new ones while another account posts M messages over the rooms; then the page
// wakes (`visibilitychange`) and the clock runs until the client is online, and until it
// has stored every missed message (and, where it resyncs, every room is caught up).
//
// Paths, per server:
//   resume — what the SDK does on its own: on our server SASL2 + FAST token + inline
//            XEP-0198 resumption; on the reference ejabberd 23.01 (no SASL2) SASL and
//            XEP-0198 `<resume/>`;
//   full   — the login of before issue 26: the page hides SASL2, XEP-0198 and SCRAM from
//            the SDK (page/wake.mjs, legacyFeatures), so it signs in with SASL PLAIN, binds
//            a new session and resyncs every room from the archive (MAM).
// Round trips come from the page's frame log. No pass/fail on speed: the run only checks
// that each wake took the path it is labelled with and stored every missed message once.
// Usage: bench/browser/wake.sh (builds, uses the reference ejabberd under its lock) or
//   node bench/browser/wake.mjs --pkg DIR [--smoke] [--runs N] [--rooms R] [--rtts 0,100]
//     [--missed 0,100] [--servers mucsub,ejabberd] [--json FILE] [--frames FILE]
// --frames appends every wake's frame log (`{ t, dir, text }`, ms after the wake) to FILE.
import { appendFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { serverBin } from '../../tests/e2e/lib/paths.mjs';
import { Relay } from '../../tests/e2e/lib/relay.mjs';
import { launchPipeBrowser } from './cdp.mjs';
import { startHarnessServer, openPipeHarness, disposeServer } from './lib.mjs';

export const FULL = { runs: 7, rooms: 10, rtts: [0, 100], missed: [0, 100], servers: ['mucsub', 'ejabberd'] };
export const SMOKE = { runs: 1, rooms: 2, rtts: [0, 20], missed: [0, 4], servers: ['mucsub'] };
export const PATHS = ['full', 'resume'];

// The reference ejabberd of ../shared/tools/ejabberd-ref (accounts with password "pw").
export const EJABBERD = { wsPort: 15280, api: 'http://127.0.0.1:15280/api' };

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return null;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i];
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function stats(xs) {
  return { p50: median(xs), p90: quantile(xs, 0.9), min: Math.min(...xs), max: Math.max(...xs) };
}

function check(cond, what) {
  if (!cond) throw new Error(`wake benchmark check failed: ${what}`);
}

// Round trips in a wake's frame log (`{ t, dir, text }`, t in ms after the wake), from
// the socket's `open` up to `until`:
// - `exchanges`: how often the client waited for an answer to what it had sent — each
//   run of frames out followed by a frame in counts once. What the protocol costs in
//   sequence, whatever the network (with requests in flight side by side it can
//   over-count: a second answer after a new request counts again);
// - `waits` (only when the round trip is not 0): the frames in that came after at least
//   half a round trip of silence — the round trips the clock actually waited for.
export function roundTrips(frames, until, rttMs) {
  const open = frames.findIndex((f) => f.dir === 'open');
  let exchanges = 0;
  let waits = 0;
  let out = false;
  let prev = null;
  for (const f of frames.slice(open + 1)) {
    if (f.t > until) break;
    if (f.dir === 'out') out = true;
    if (f.dir === 'in') {
      if (out) exchanges++;
      out = false;
      if (rttMs > 0 && prev !== null && f.t - prev >= rttMs / 2) waits++;
    }
    prev = f.t;
  }
  return { exchanges, waits: rttMs > 0 ? waits : null };
}

// What a wake's frames say about the path it took.
function pathOf(frames) {
  const out = frames.filter((f) => f.dir === 'out').map((f) => f.text);
  const inn = frames.filter((f) => f.dir === 'in').map((f) => f.text);
  const mech = out.map((t) => /mechanism=["']([^"']+)["']/.exec(t)?.[1]).find(Boolean) ?? null;
  return {
    mechanism: mech,
    sasl2: out.some((t) => t.startsWith('<authenticate')),
    resumed: inn.some((t) => /<resumed\b/.test(t) || /<success\b[\s\S]*<resumed\b/.test(t)),
    bound: out.some((t) => /<bind\b/.test(t)),
    mamQueries: out.filter((t) => t.includes('urn:xmpp:mam:2') && t.includes('<query')).length,
    framesIn: inn.length,
    framesOut: out.length,
  };
}

async function ejabberdApi(command, args) {
  const res = await fetch(`${EJABBERD.api}/${command}`, { method: 'POST', body: JSON.stringify(args) });
  if (!res.ok) throw new Error(`ejabberd ${command}: HTTP ${res.status} ${await res.text()}`);
}

// Destroys the rooms and the account this run made on the reference ejabberd (it keeps
// them otherwise).
async function cleanEjabberd(target, log) {
  for (const room of target.rooms) {
    const [name, service] = room.split('@');
    await ejabberdApi('destroy_room', { name, service }).catch((e) => log(`[wake] ${e.message}`));
  }
  await ejabberdApi('unregister', { user: target.user, host: 'localhost' }).catch((e) => log(`[wake] ${e.message}`));
}

// One cell: a fresh page and store, subscribed to fresh rooms, then `runs` wakes.
async function runCell({ browser, server, relay, target, path, rttMs, missed, rooms, runs, framesFile, log }) {
  const tag = randomBytes(3).toString('hex');
  const roomList = Array.from({ length: rooms }, (_, i) => `wakebench-${tag}-${i}@conference.localhost`);
  target.rooms.push(...roomList);
  const page = await openPipeHarness(browser, server, `${target.name}-${path}-${rttMs}-${missed}`);
  const samples = [];
  try {
    await page.evaluate(() => import('./wake.mjs').then(() => true));
    relay.delayMs = 0; // the set-up is not measured
    const setUp = await page.evaluate((a) => window.wakeBench.setUp(a), {
      url: relay.wsUrl, jid: `${target.user}@localhost`, password: 'pw', store: `wake-${tag}`,
      rooms: roomList, nick: target.user, legacy: path === 'full',
    });
    check(setUp.errors.length === 0, `set-up: SDK errors ${setUp.errors.join('; ')}`);
    const perRoom = Math.ceil(missed / rooms);
    for (let i = 0; i < runs; i++) {
      // The phone loses its network: the connection is cut and no new one gets through.
      relay.hold();
      relay.cut();
      relay.delayMs = rttMs / 2;
      await page.waitFor(() => window.wakeBench.state() !== 'online');
      const wave = `w${i}-${randomBytes(2).toString('hex')}`;
      const posted = await page.evaluate((a) => window.wakeBench.post(a), {
        url: target.postUrl, user: 'alice', password: 'pw', rooms: roomList, perRoom, tag: wave,
      });
      const expect = Array.from({ length: rooms }, (_, r) => Array.from({ length: perRoom }, (_, k) => `${wave} r${r} ${k}`)).flat();
      check(posted === expect.length, `posted ${posted} of ${expect.length}`);
      // Let what the server routes to the sleeping session settle before the clock starts.
      await new Promise((r) => setTimeout(r, 200));
      relay.release();
      const r = await page.evaluate((a) => window.wakeBench.wake(a), { expect, resync: path === 'full' });
      const p = pathOf(r.frames);
      const toOnline = roundTrips(r.frames, r.onlineMs, rttMs);
      const toCaughtUp = roundTrips(r.frames, r.caughtUpMs, rttMs);
      const what = `${target.name} ${path} rtt ${rttMs} missed ${missed} wake ${i}`;
      check(r.stored === expect.length, `${what}: stored ${r.stored} of ${expect.length}`);
      check(r.duplicates === 0, `${what}: ${r.duplicates} messages stored twice`);
      check(r.errors.length === 0, `${what}: SDK errors ${r.errors.join('; ')}`);
      if (path === 'full') {
        check(p.mechanism === 'PLAIN' && !p.sasl2 && !p.resumed && p.bound, `${what}: not a PLAIN login and bind: ${JSON.stringify(p)}`);
      } else {
        check(p.resumed, `${what}: not resumed: ${JSON.stringify(p)}`);
        if (target.name === 'mucsub') check(p.sasl2 && p.mechanism === 'HT-SHA-256-NONE', `${what}: not FAST: ${JSON.stringify(p)}`);
      }
      const s = {
        openMs: r.openMs, onlineMs: r.onlineMs, caughtUpMs: r.caughtUpMs,
        exchangesOnline: toOnline.exchanges, exchangesCaughtUp: toCaughtUp.exchanges,
        waitsOnline: toOnline.waits, waitsCaughtUp: toCaughtUp.waits, resyncedRooms: r.resynced, ...p,
      };
      log(`[wake] ${what}: open ${r.openMs.toFixed(0)} ms, online ${r.onlineMs.toFixed(0)} ms, caught up ${r.caughtUpMs.toFixed(0)} ms; `
        + `${p.mechanism}${p.resumed ? ' resumed' : ''}, ${toOnline.exchanges}/${toCaughtUp.exchanges} exchanges`
        + `${rttMs ? `, ${toOnline.waits}/${toCaughtUp.waits} waits` : ''}, ${p.mamQueries} MAM queries`);
      samples.push(s);
      if (framesFile) appendFileSync(framesFile, `${JSON.stringify({ cell: what, frames: r.frames })}\n`);
    }
    await page.evaluate(() => window.wakeBench.tearDown());
  } finally {
    await page.close();
  }
  const pick = (k) => samples.map((s) => s[k]);
  return {
    server: target.name, path, rttMs, missed, rooms, runs,
    open: stats(pick('openMs')), online: stats(pick('onlineMs')), caughtUp: stats(pick('caughtUpMs')),
    exchangesOnline: median(pick('exchangesOnline')), exchangesCaughtUp: median(pick('exchangesCaughtUp')),
    waitsOnline: rttMs ? median(pick('waitsOnline')) : null, waitsCaughtUp: rttMs ? median(pick('waitsCaughtUp')) : null,
    mechanism: samples[0].mechanism, mamQueries: median(pick('mamQueries')),
    samples,
  };
}

// Every cell of the matrix; returns their figures. Throws when a wake took another path
// than its cell's or lost or doubled a message (the smoke test relies on that).
// `framesFile`: every wake's frame log is appended there, one JSON line per wake.
export async function runWake({ pkgDir, runs, rooms, rtts, missed, servers, framesFile = null, log = console.log }) {
  // The woken account: its own, so that no subscription of another run or suite is in its
  // list (a full login resyncs every room of the list).
  const user = `wakebob${randomBytes(3).toString('hex')}`;
  const server = await startHarnessServer({ pkgDir, users: ['alice', user] });
  const targets = [];
  let browser;
  const cells = [];
  try {
    for (const name of servers) {
      const port = name === 'mucsub' ? server.httpPort : EJABBERD.wsPort;
      const relay = await Relay.start(port);
      targets.push({
        name, relay, rooms: [], user,
        postUrl: name === 'mucsub' ? server.wsUrl : `ws://127.0.0.1:${EJABBERD.wsPort}/ws`,
      });
      if (name === 'ejabberd') await ejabberdApi('register', { user, host: 'localhost', password: 'pw' });
    }
    browser = await launchPipeBrowser({ log });
    for (const target of targets) {
      for (const rttMs of rtts) {
        for (const m of missed) {
          for (const path of PATHS) {
            cells.push(await runCell({ browser, server, relay: target.relay, target, path, rttMs, missed: m, rooms, runs, framesFile, log }));
          }
        }
      }
    }
  } finally {
    await browser?.close();
    for (const t of targets) {
      await t.relay.close();
      if (t.name === 'ejabberd') await cleanEjabberd(t, log);
    }
    await disposeServer(server);
  }
  return cells;
}

const ms = (x) => `${x.toFixed(0)}`;

export function table(cells) {
  const rows = [
    '| server | path | RTT | missed | wake → open | wake → online p50 (p90, min) | wake → caught up p50 (p90, min) | exchanges to online / caught up | waits to online / caught up | MAM queries |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const c of cells) {
    const label = c.path === 'full' ? `full login (${c.mechanism}, bind, resync)`
      : `resume (${c.mechanism}${c.server === 'mucsub' ? ', SASL2 inline' : ', XEP-0198'})`;
    rows.push(`| ${c.server} | ${label} | ${c.rttMs} ms | ${c.missed} | ${ms(c.open.p50)} ms | **${ms(c.online.p50)}** (${ms(c.online.p90)}, ${ms(c.online.min)}) ms `
      + `| **${ms(c.caughtUp.p50)}** (${ms(c.caughtUp.p90)}, ${ms(c.caughtUp.min)}) ms | ${c.exchangesOnline} / ${c.exchangesCaughtUp} `
      + `| ${c.waitsOnline === null ? '—' : `${c.waitsOnline} / ${c.waitsCaughtUp}`} | ${c.mamQueries} |`);
  }
  // Full login over resume, caught up, per server, round trip and load.
  const ratios = [];
  for (const c of cells.filter((x) => x.path === 'resume')) {
    const full = cells.find((x) => x.path === 'full' && x.server === c.server && x.rttMs === c.rttMs && x.missed === c.missed);
    if (full) ratios.push(`${c.server} ${c.rttMs} ms ${c.missed} missed: ${(full.caughtUp.p50 / c.caughtUp.p50).toFixed(1)}×`);
  }
  return `${rows.join('\n')}\n\nfull login / resume, caught up (p50): ${ratios.join('; ')}`;
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
    const numbers = () => val().split(',').map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${a} takes non-negative integers`);
      return n;
    });
    if (a === '--smoke') Object.assign(opts, SMOKE);
    else if (a === '--pkg') pkgDir = val();
    else if (a === '--json') json = val();
    else if (a === '--frames') opts.framesFile = val();
    else if (a === '--runs' || a === '--rooms') [opts[a.slice(2)]] = numbers();
    else if (a === '--rtts' || a === '--missed') opts[a.slice(2)] = numbers();
    else if (a === '--servers') opts.servers = val().split(',');
    else throw new Error(`unknown argument ${a}`);
  }
  if (!pkgDir) throw new Error('--pkg DIR (an SDK package built by scripts/build-sdk.sh) is required');
  for (const s of opts.servers) if (!['mucsub', 'ejabberd'].includes(s)) throw new Error(`unknown server ${s}`);
  return { opts, json, pkgDir };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`[wake] ${e.message}`);
    process.exit(2);
  }
  const { opts, json, pkgDir } = args;
  const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');
  const at = new Date().toISOString();
  console.log(`[wake] ${at} server ${serverBin}, package ${pkgDir}, ${cpus().length} CPUs, load ${load()}`);
  const cells = await runWake({ pkgDir, ...opts });
  console.log(`\n[wake] load average at the end: ${load()}\n\n${table(cells)}\n`);
  if (json) {
    for (const c of cells) appendFileSync(json, `${JSON.stringify({ bench: 'wake-browser', at, end: new Date().toISOString(), load: loadavg(), ...c })}\n`);
  }
}
