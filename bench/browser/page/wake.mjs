// The page side of the wake benchmark (bench/browser/wake.mjs, issue 26), loaded by Node
// with `import('./wake.mjs')` into the harness page once `window.harness.ready`: an SDK
// client whose WebSocket goes through the Node relay (the phone's network) and logs every
// frame with its time, a poster that fills the rooms while the page sleeps, and one
// timed wake. Nothing here decides pass or fail.
import { MucSubClient } from './pkg/mucsub.js';
import { RawXmpp } from './rawxmpp.mjs';

const RealWebSocket = window.WebSocket;

// What the SDK would see from a server without SASL2 (XEP-0388), without XEP-0198 and
// without SCRAM: it then signs in as before issue 26 — SASL PLAIN, stream restart, bind —
// and, with no stream to resume, resyncs every room from the archive after each wake.
// Only the features the server announces are edited; the server itself is unchanged.
function legacyFeatures(text) {
  if (!/^<(stream:)?features/.test(text)) return text;
  return text
    .replace(/<authentication\b[^>]*xmlns=['"]urn:xmpp:sasl:2['"][^>]*(\/>|>[\s\S]*?<\/authentication>)/g, '')
    .replace(/<sm\b[^>]*xmlns=['"]urn:xmpp:sm:3['"][^>]*(\/>|>[\s\S]*?<\/sm>)/g, '')
    .replace(/<mechanism>SCRAM-[^<]*<\/mechanism>/g, '');
}

// The SDK's WebSocket (it sets `onopen`, `onmessage`, `onclose`, `onerror` and calls
// `send`/`close`): every frame is logged as `{ t, dir, text }` (performance.now()), with
// `{ t, dir: 'open' | 'close' }` marks; in `legacy` mode the announced features are
// edited as above before the SDK reads them.
class LoggedSocket {
  static log = [];
  static legacy = false;

  constructor(url, protocols) {
    const log = LoggedSocket.log;
    this.ws = new RealWebSocket(url, protocols);
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this.onerror = null;
    this.ws.onopen = (e) => {
      log.push({ t: performance.now(), dir: 'open' });
      this.onopen?.(e);
    };
    this.ws.onclose = (e) => {
      log.push({ t: performance.now(), dir: 'close' });
      this.onclose?.(e);
    };
    this.ws.onerror = (e) => this.onerror?.(e);
    this.ws.onmessage = (e) => {
      log.push({ t: performance.now(), dir: 'in', text: String(e.data) });
      if (LoggedSocket.legacy && typeof e.data === 'string') {
        this.onmessage?.(new MessageEvent('message', { data: legacyFeatures(e.data) }));
      } else this.onmessage?.(e);
    };
  }

  get readyState() { return this.ws.readyState; }
  get protocol() { return this.ws.protocol; }
  get url() { return this.ws.url; }
  get bufferedAmount() { return this.ws.bufferedAmount; }
  get binaryType() { return this.ws.binaryType; }
  set binaryType(v) { this.ws.binaryType = v; }
  send(data) {
    LoggedSocket.log.push({ t: performance.now(), dir: 'out', text: String(data) });
    this.ws.send(data);
  }
  close(code, reason) { this.ws.close(code, reason); }
}
LoggedSocket.CONNECTING = 0;
LoggedSocket.OPEN = 1;
LoggedSocket.CLOSING = 2;
LoggedSocket.CLOSED = 3;

function until(check, what, timeoutMs = 120_000) {
  const deadline = performance.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = () => {
      let v;
      try {
        v = check();
      } catch (e) {
        reject(e);
        return;
      }
      if (v) resolve(v);
      else if (performance.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(poll, 2);
    };
    poll();
  });
}

let bench = null;

// A client of `jid` on a fresh store, through `url` (the relay), subscribed to `rooms`
// and caught up once. `legacy`: see legacyFeatures. It stays open for the wakes.
async function setUp({ url, jid, password, store, rooms, nick, legacy }) {
  LoggedSocket.legacy = legacy;
  LoggedSocket.log = [];
  window.WebSocket = LoggedSocket;
  const c = new MucSubClient({ url, jid, password, store });
  const b = { c, rooms, states: [], events: [], syncs: [], errors: [] };
  c.on('error', (e) => b.errors.push(`${e.code}: ${e.message}`));
  c.on('connection', (s) => b.states.push({ t: performance.now(), s }));
  c.on('event', (e) => {
    if (e.kind === 'message') b.events.push({ t: performance.now(), body: e.body });
  });
  c.on('sync', (p) => {
    if (p.complete) b.syncs.push({ t: performance.now(), room: p.room });
  });
  await c.connect();
  for (const room of rooms) await c.subscribe(room, { nick });
  await c.resync();
  b.state = () => b.states.at(-1)?.s;
  bench = b;
  return { errors: b.errors, state: b.state() };
}

// The client's connection state (the relay has just cut it: anything but `online`).
function state() {
  return bench.state();
}

// `user` posts `perRoom` messages to each room over its own socket to `url` (not
// through the relay), tagged `tag`, and waits until the archive of each room holds them.
async function post({ url, user, password, rooms, perRoom, tag }) {
  if (!perRoom) return 0;
  const x = new RawXmpp(url);
  await x.login(user, password, `poster-${Math.random().toString(36).slice(2, 8)}`);
  try {
    for (const room of rooms) await x.subscribe(room, user, []);
    const before = {};
    for (const room of rooms) before[room] = await x.archiveCount(room);
    for (const [r, room] of rooms.entries()) {
      x.post(room, Array.from({ length: perRoom }, (_, i) => `${tag} r${r} ${i}`));
    }
    for (const room of rooms) {
      for (let tries = 0; (await x.archiveCount(room)) < before[room] + perRoom; tries++) {
        if (tries > 3000) throw new Error(`${room}: the posts never reached the archive`);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    return perRoom * rooms.length;
  } finally {
    x.close();
  }
}

// One wake: the page becomes visible (as when the phone is picked up) and the SDK
// reconnects at once. `expect`: the bodies posted while it slept. Times are ms after the
// wake: `open` (the WebSocket is open), `online` (the `connection` callback says so) and
// `caughtUp` (every expected message stored — its `event` callback fires after the
// IndexedDB commit — and, when the SDK resynced, every room reported complete). Then
// `settleMs` of quiet to see that nothing more comes (a duplicate or a late resync).
// `resync`: the path resyncs after the wake (a new session), so caught up waits for it.
async function wake({ expect, resync, settleMs = 300 }) {
  const b = bench;
  const mark = LoggedSocket.log.length;
  const events = b.events.length;
  const syncs = b.syncs.length;
  const t0 = performance.now();
  document.dispatchEvent(new Event('visibilitychange'));
  const want = new Set(expect);
  const seen = () => b.events.slice(events).filter((e) => want.has(e.body));
  const online = () => b.states.find((s) => s.t >= t0 && s.s === 'online');
  // A resync after the wake is done when every room reported complete.
  const resynced = (needed) => {
    const after = b.syncs.slice(syncs);
    if (!after.length) return needed ? null : { t: 0 };
    const rooms = new Set(after.map((s) => s.room));
    return b.rooms.every((r) => rooms.has(r)) ? { t: Math.max(...after.map((s) => s.t)) } : null;
  };
  const done = () => {
    if (!online() || new Set(seen().map((e) => e.body)).size < want.size) return null;
    return resynced(resync);
  };
  await until(done, `online and ${want.size} messages stored`).catch((e) => {
    throw new Error(`${e.message}: state ${b.state()}, ${seen().length} of ${want.size} stored, `
      + `${b.syncs.length - syncs} rooms synced, errors: ${b.errors.join('; ') || 'none'}`);
  });
  await new Promise((r) => setTimeout(r, settleMs));
  // Again after the quiet: a resync that started late counts, to its end.
  const sync = await until(() => resynced(false), 'the late resync');
  const got = seen();
  const tOnline = online().t;
  const tLast = Math.max(tOnline, ...got.map((e) => e.t), sync.t);
  const frames = LoggedSocket.log.slice(mark).map((f) => ({ ...f, t: f.t - t0 }));
  return {
    openMs: (frames.find((f) => f.dir === 'open')?.t) ?? null,
    onlineMs: tOnline - t0,
    caughtUpMs: tLast - t0,
    stored: new Set(got.map((e) => e.body)).size,
    duplicates: got.length - new Set(got.map((e) => e.body)).size,
    resynced: b.syncs.length - syncs,
    frames,
    errors: b.errors.splice(0),
  };
}

// Unsubscribes the rooms (the next cell's full login would resync them too) and closes.
async function tearDown() {
  const b = bench;
  bench = null;
  window.WebSocket = RealWebSocket;
  if (!b) return;
  for (const room of b.rooms) await b.c.unsubscribe(room);
  await b.c.close();
  b.c.free();
}

window.wakeBench = { setUp, state, post, wake, tearDown };
