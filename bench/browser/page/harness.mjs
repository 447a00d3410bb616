// The SDK harness page: the npm package (./pkg/) driven by the browser benchmark
// (bench/browser/run.mjs), the reload crash test (tests/e2e/reload-crash.test.mjs) and the
// tabs test (tests/e2e/tabs.test.mjs) through `window.harness`. Node calls these functions
// with page.evaluate; nothing here measures unless asked, and nothing decides pass or fail.
import init, { MucSubClient } from './pkg/mucsub.js';
import { RawXmpp } from './rawxmpp.mjs';

const RealWebSocket = window.WebSocket;
const MESSAGES_NODE = 'urn:xmpp:mucsub:nodes:messages';

// A WebSocket the SDK gets instead of the real one while a benchmark holds its input: frames
// from the server wait in `held` until `release()` hands them all to the SDK at once, so
// the time measured is the SDK's own (unwrap, dedup, IndexedDB) and not the server's or
// the sender's. Output and every other callback pass straight through.
class HoldableSocket {
  static last = null;

  constructor(url, protocols) {
    this.ws = new RealWebSocket(url, protocols);
    this.holding = false;
    this.held = [];
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this.onerror = null;
    this.ws.onopen = (e) => this.onopen?.(e);
    this.ws.onclose = (e) => this.onclose?.(e);
    this.ws.onerror = (e) => this.onerror?.(e);
    this.ws.onmessage = (e) => {
      if (this.holding) this.held.push(e.data);
      else this.onmessage?.(e);
    };
    HoldableSocket.last = this;
  }

  get readyState() { return this.ws.readyState; }
  get protocol() { return this.ws.protocol; }
  send(data) { this.ws.send(data); }
  close(code, reason) { this.ws.close(code, reason); }

  release() {
    this.holding = false;
    const frames = this.held.splice(0);
    for (const data of frames) this.onmessage?.(new MessageEvent('message', { data }));
    return frames.length;
  }
}
HoldableSocket.CONNECTING = 0;
HoldableSocket.OPEN = 1;
HoldableSocket.CLOSING = 2;
HoldableSocket.CLOSED = 3;

function wsUrl() {
  return `ws://${location.host}/ws`;
}

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
      else setTimeout(poll, 5);
    };
    poll();
  });
}

function sdk({ jid, store, pageSize, password = 'pw' }) {
  const opts = { url: wsUrl(), jid, password, store };
  if (pageSize) opts.pageSize = pageSize;
  const client = new MucSubClient(opts);
  const errors = [];
  client.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
  client.errors = errors;
  return client;
}

function idbRequest(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function txDone(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
  });
}

// Opens an existing database at whatever version it has, or resolves null when there is
// none; never creates one (an empty database made here would break the SDK's migrations):
// an open that would create it is aborted inside its upgrade.
function openExisting(name) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name);
    let absent = false;
    req.onupgradeneeded = () => {
      absent = true;
      req.transaction.abort();
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = (e) => {
      if (absent) {
        e.preventDefault();
        resolve(null);
      } else reject(req.error);
    };
  });
}

function roomRange(room) {
  return IDBKeyRange.bound([room], [room, []]);
}

// The SDK's history-order index over `[room, ts, …]` in a per-event layout: `by_order`
// (schema v3: archive order within a millisecond) or, in older databases, `by_time`.
function historyIndex(messages) {
  const name = messages.indexNames.contains('by_order') ? 'by_order' : 'by_time';
  return messages.index(name);
}

// Every record of the `chunks` store (schema v4), or null in an older database.
async function chunkRecords(db) {
  if (!db.objectStoreNames.contains('chunks')) return null;
  return idbRequest(db.transaction('chunks', 'readonly').objectStore('chunks').getAll());
}

// Every event the SDK stored for `room`, in history order, as `{ seq, ts, ord, ev }`, read
// straight from IndexedDB (not through the SDK): from the `chunks` of schema v4 (many
// events to a record, their events one JSON text) or the `messages` of schema v1-v3.
// `chunks`: chunkRecords(db), when the caller already read them (one read for many rooms).
async function storedEvents(db, room, chunks = undefined) {
  if (chunks === undefined) chunks = await chunkRecords(db);
  if (chunks) {
    return chunks
      .filter((c) => c.room === room)
      .flatMap((c) => JSON.parse(c.evs).map((s) => ({ seq: s.seq, ts: s.ev.timestamp, ord: s.ord, ev: s.ev })))
      .sort((a, b) => a.ts - b.ts || a.ord - b.ord);
  }
  const messages = db.transaction('messages', 'readonly').objectStore('messages');
  const records = await idbRequest(historyIndex(messages).getAll(roomRange(room)));
  return records.map((r) => ({ seq: r.seq, ts: r.ts, ord: r.ord ?? r.seq, ev: r.ev }));
}

// What the SDK stored: per room, the archive ids of its messages in history order, how
// many events have no archive id, its cursor's id and its recorded gaps.
async function dumpStore(name, rooms) {
  const db = await openExisting(name);
  if (!db) return null;
  try {
    const out = {};
    const chunks = await chunkRecords(db);
    for (const room of rooms) {
      const events = await storedEvents(db, room, chunks);
      const ids = events.filter((e) => e.ev.stanza_id).map((e) => e.ev.stanza_id);
      const tx = db.transaction(['cursors', 'gaps'], 'readonly');
      const cursor = await idbRequest(tx.objectStore('cursors').get(room));
      const gaps = (await idbRequest(tx.objectStore('gaps').index('by_room').getAll(room))).length;
      out[room] = { ids, withoutId: events.length - ids.length, cursor: cursor?.cursor?.id ?? null, gaps };
    }
    return out;
  } finally {
    db.close();
  }
}

// How many events the SDK stored, all rooms together.
async function countStored(name) {
  const db = await openExisting(name);
  if (!db) return -1;
  try {
    const chunks = await chunkRecords(db);
    if (chunks) return chunks.reduce((n, c) => n + c.pos.length, 0);
    return await idbRequest(db.transaction('messages', 'readonly').objectStore('messages').count());
  } finally {
    db.close();
  }
}

async function deleteDb(name) {
  await idbRequest(indexedDB.deleteDatabase(name));
}

async function raw(user, password = 'pw') {
  const x = new RawXmpp(wsUrl());
  await x.login(user, password, `raw-${Math.random().toString(36).slice(2, 8)}`);
  return x;
}

// `user` posts `perRoom` messages of `size` characters to each room (subscribing first, with
// no nodes, so nothing comes back), then waits until every one is archived. Messages go out
// in chunks of `chunk`, each confirmed by the archive count and followed by `pauseMs` of
// quiet, which bounds how many messages share one archive millisecond.
async function postBacklog({ user, rooms, perRoom, size = 100, tag = 'm', chunk = 200, pauseMs = 0 }) {
  const x = await raw(user);
  try {
    for (const room of rooms) await x.subscribe(room, user, []);
    const before = {};
    for (const room of rooms) before[room] = await x.archiveCount(room);
    const pad = 'x'.repeat(size);
    for (const room of rooms) {
      // In chunks, each confirmed by the archive count, so no room queue overflows.
      for (let from = 0; from < perRoom; from += chunk) {
        const n = Math.min(chunk, perRoom - from);
        const bodies = Array.from({ length: n }, (_, i) => {
          const label = `${tag}${String(from + i).padStart(6, '0')} `;
          return (label + pad).slice(0, Math.max(size, label.length));
        });
        x.post(room, bodies);
        const want = before[room] + from + n;
        for (let tries = 0; ; tries++) {
          const have = await x.archiveCount(room);
          if (have >= want) break;
          if (tries > 6000) throw new Error(`${room}: archive stuck at ${have} of ${want}`);
          await new Promise((r) => setTimeout(r, 10));
        }
        if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
      }
    }
  } finally {
    x.close();
  }
}

async function archiveIds(user, rooms) {
  const x = await raw(user);
  try {
    const out = {};
    for (const room of rooms) out[room] = (await x.archive(room)).map((m) => m.id);
    return out;
  } finally {
    x.close();
  }
}

// bob's client subscribes to `rooms` and catches up once (an empty archive gives each room
// a cursor at its very beginning, so a later resync fetches everything it missed).
async function subscribeAll({ jid, store, rooms, nick, pageSize }) {
  const c = sdk({ jid, store, pageSize });
  await c.connect();
  for (const room of rooms) await c.subscribe(room, { nick });
  await c.resync();
  await c.close();
  c.free();
  if (c.errors.length) throw new Error(`SDK errors while subscribing: ${c.errors.join('; ')}`);
}

// The resync benchmark: a client on a store whose rooms all missed their backlog; time from
// open() until every room has reported itself caught up (the resync that connect() starts,
// as an app sees it), then a check of what was stored.
async function timedResync({ jid, store, rooms, pageSize }) {
  const t0 = performance.now();
  const c = sdk({ jid, store, pageSize });
  let pages = 0;
  let tDone = 0;
  const caughtUp = new Set();
  c.on('sync', (p) => {
    if (!p.complete) {
      pages++;
      return;
    }
    caughtUp.add(p.room);
    if (!tDone && rooms.every((r) => caughtUp.has(r))) tDone = performance.now();
  });
  await c.open();
  await c.connect();
  const tOnline = performance.now();
  await until(() => tDone, 'every room caught up').catch((e) => {
    throw new Error(`${e.message}: ${caughtUp.size} of ${rooms.length} rooms, ${pages} pages, `
      + `errors: ${c.errors.join('; ') || 'none'}`);
  });
  await c.close();
  c.free();
  const dump = await dumpStore(store, rooms);
  const stored = Object.values(dump).reduce((n, r) => n + r.ids.length, 0);
  const gaps = Object.values(dump).reduce((n, r) => n + r.gaps, 0);
  return { ms: tDone - t0, onlineMs: tOnline - t0, pages, stored, gaps, errors: c.errors };
}

// The floor under the resync: the same archives read by a bare JavaScript client (login,
// then `inFlight` rooms at a time, pages of `pageSize`), storing nothing. With `parse:
// 'dom'` every stanza goes through the browser's DOMParser; with `'text'` frames are only
// matched by regular expressions: what the server and the socket alone cost, one WebSocket
// message per stanza (RFC 7395). The SDK's resync also receives the account's offline
// messages.
async function rawResync({ user, rooms, pageSize = 100, inFlight = 4, parse = 'dom' }) {
  const t0 = performance.now();
  const x = await raw(user);
  try {
    const read = parse === 'text' ? textArchiveReader(x) : (room) => x.archive(room, pageSize).then((a) => a.length);
    const queue = [...rooms];
    let n = 0;
    const worker = async () => {
      for (let room = queue.shift(); room; room = queue.shift()) {
        const got = await read(room, pageSize); // not `n += await …`: n would be read before
        n += got;
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    return { ms: performance.now() - t0, messages: n };
  } finally {
    x.close();
  }
}

// Reads a room's whole archive on `x`'s socket without parsing XML: results are counted by
// their queryid, the final IQ is found by its id and gives `complete` and `<last>`.
function textArchiveReader(x) {
  const finals = new Map();
  const counts = new Map();
  x.ws.onmessage = (e) => {
    const t = e.data;
    if (t.startsWith('<message')) {
      const q = /queryid=['"]([^'"]+)['"]/.exec(t);
      if (q) counts.set(q[1], (counts.get(q[1]) ?? 0) + 1);
      return;
    }
    const id = /^<iq\b[^>]*?\sid=['"]([^'"]+)['"]/.exec(t);
    if (id && finals.has(id[1])) {
      finals.get(id[1])(t);
      finals.delete(id[1]);
    }
  };
  let next = 0;
  return async (room, pageSize) => {
    let n = 0;
    let after = null;
    for (;;) {
      const qid = `tq${++next}`;
      const iqId = `tr${next}`;
      const fin = new Promise((resolve) => finals.set(iqId, resolve));
      const rsm = `<set xmlns="http://jabber.org/protocol/rsm"><max>${pageSize}</max>${after ? `<after>${after}</after>` : ''}</set>`;
      x.send(`<iq type="set" id="${iqId}" to="${room}" xmlns="jabber:client"><query xmlns="urn:xmpp:mam:2" queryid="${qid}">${rsm}</query></iq>`);
      const text = await fin;
      if (!/type=['"]result['"]/.test(text)) throw new Error(`MAM query failed: ${text.slice(0, 200)}`);
      const got = counts.get(qid) ?? 0;
      counts.delete(qid);
      n += got;
      const last = /<last>([^<]*)<\/last>/.exec(text);
      if (/complete=['"]true['"]/.test(text) || got === 0 || !last) return n;
      after = last[1];
    }
  };
}

// The event-throughput benchmark, SDK side, in two steps so that a profiler can wrap the
// second alone. prepareLive: with the client online and in sync, `n` messages are posted
// while its socket holds input, until all `n` wrapped MucSub events (as the server sent them)
// are held. releaseLive: the held frames are handed to the SDK at once, and the clock runs
// until it has stored every one (its `event` callback fires after the IndexedDB commit).
let live = null;

async function prepareLive({ jid, store, room, n, size, sender }) {
  window.WebSocket = HoldableSocket;
  let c;
  try {
    c = sdk({ jid, store });
    await c.connect();
    await c.subscribe(room, { nick: jid.split('@')[0] });
    await c.resync();
  } finally {
    window.WebSocket = RealWebSocket;
  }
  const socket = HoldableSocket.last;
  live = { c, socket, room, n, stored: 0, tLast: 0 };
  c.on('event', (e) => {
    if (e.room === room && e.kind === 'message') {
      live.stored++;
      live.tLast = performance.now();
    }
  });
  socket.holding = true;
  await postBacklog({ user: sender, rooms: [room], perRoom: n, size, tag: 'live' });
  await until(() => socket.held.filter((f) => f.includes(MESSAGES_NODE)).length >= n,
    `${n} held events`);
  return socket.held.length;
}

async function releaseLive() {
  const { c, socket, n } = live;
  const t0 = performance.now();
  const frames = socket.release();
  await until(() => live.stored >= n, `${n} stored events (have ${live.stored})`);
  const ms = live.tLast - t0;
  const stored = live.stored;
  live = null;
  await c.close();
  c.free();
  return { ms, n: stored, frames, errors: c.errors };
}

// The baseline: what an app without the SDK would write for the same events, one record
// per event with a history index and a dedup index (the SDK's schema v3 layout:
// `{k: [room, id], room, ts, seq, ord, ev, dk}`, `by_order` on `[room, ts, ord]`, `dedup`
// multiEntry on `dk`), `batch` records per transaction, into a fresh database. The events
// are the room's messages as the SDK stored them. `pattern`:
// - `put`: one `put` per event (the baseline proper);
// - `chunked`: each transaction's events as ONE record (events, `[room, ts, ord]`
//   positions and dedup keys as arrays, both indexed `multiEntry`), the layout the SDK
//   uses since schema v4, in plain JS.
async function rawPut({ store, room, batch, target, pattern = 'put' }) {
  const src = await openExisting(store);
  const events = (await storedEvents(src, room)).filter((e) => e.ev.stanza_id);
  src.close();
  const records = events.map((e) => ({
    k: [room, e.ev.stanza_id],
    room,
    ts: e.ts,
    seq: e.seq,
    ord: e.ord,
    ev: e.ev,
    dk: dedupKeys(e.ev).map((k) => `${room}\0${k}`),
  }));
  await deleteDb(target);
  const open = indexedDB.open(target, 1);
  open.onupgradeneeded = () => {
    const s = open.result.createObjectStore('messages', { keyPath: 'k' });
    if (pattern === 'chunked') {
      s.createIndex('by_order', 'pos', { multiEntry: true });
      s.createIndex('dedup', 'dk', { multiEntry: true });
    } else {
      s.createIndex('by_order', ['room', 'ts', 'ord']);
      s.createIndex('dedup', 'dk', { multiEntry: true });
    }
  };
  const db = await idbRequest(open);
  const bytes = records.reduce((n, r) => n + JSON.stringify(r).length, 0);
  const t0 = performance.now();
  for (let i = 0; i < records.length; i += batch) {
    const tx = db.transaction('messages', 'readwrite');
    const done = txDone(tx);
    const s = tx.objectStore('messages');
    const chunk = records.slice(i, i + batch);
    if (pattern === 'put') {
      for (const r of chunk) s.put(r);
    } else if (pattern === 'chunked') {
      s.put({
        k: chunk[0].k,
        room: chunk[0].room,
        pos: chunk.map((r) => [r.room, r.ts, r.ord]),
        dk: chunk.flatMap((r) => r.dk),
        evs: chunk.map((r) => ({ seq: r.seq, ord: r.ord, ev: r.ev })),
      });
    } else throw new Error(`unknown pattern ${pattern}`);
    await done;
  }
  const ms = performance.now() - t0;
  db.close();
  await deleteDb(target);
  return { ms, n: records.length, avgRecordBytes: records.length ? bytes / records.length : 0 };
}

// `RoomEvent::dedup_keys` (src/event.rs) on a stored event.
function dedupKeys(ev) {
  const nick = ev.nick ?? '';
  const keys = [];
  if (ev.stanza_id) keys.push(`sid:${ev.stanza_id}`);
  if (ev.origin_id) keys.push(`oid:${nick}\0${ev.origin_id}`);
  if (ev.message_id) keys.push(`mid:${nick}\0${ev.message_id}`);
  if (ev.item_id) keys.push(`item:${ev.item_id}`);
  return keys;
}

// One tab of an app (tests/e2e/tabs.test.mjs): a client on `store`, as every tab of the app
// makes it, with what its callbacks saw in `window.tab` (events, subscription changes, roles
// and connection states in order; `at` is the Date.now() of each role change; `syncPages`:
// resync pages stored).
function tab({ jid, store, pageSize }) {
  const c = sdk({ jid, store, pageSize });
  const t = { client: c, events: [], subscriptions: [], roles: [], states: [], errors: c.errors, syncPages: 0 };
  c.on('event', (e) => t.events.push(e));
  c.on('subscription', (s) => t.subscriptions.push(s));
  c.on('sync', (p) => {
    if (!p.complete) t.syncPages++;
  });
  c.on('role', (r) => t.roles.push({ role: r, at: Date.now() }));
  c.on('connection', (s) => t.states.push(s));
  window.tab = t;
}

// The wall clock in milliseconds, comparable between pages of one browser (sub-ms).
function clock() {
  return performance.timeOrigin + performance.now();
}

// Tabs benchmark (bench/browser/tabs.mjs): a tab's client that records, by clock(), when each
// message event fired (by stanza id) and when each room reported itself caught up. Like
// `tab` but timed; `connect` is left to the caller so that every tab starts together.
function timedTab({ jid, store, pageSize }) {
  const c = sdk({ jid, store, pageSize });
  const t = { client: c, at: {}, synced: {}, errors: c.errors };
  c.on('event', (e) => {
    if (e.kind === 'message' && e.stanzaId) t.at[e.stanzaId] = clock();
  });
  c.on('sync', (p) => {
    if (p.complete && !t.synced[p.room]) t.synced[p.room] = clock();
  });
  window.timed = t;
  return c.role ?? null;
}

// When the last of `rooms` was caught up in this tab (clock()), or null.
function syncedAt(rooms) {
  const t = window.timed;
  if (!rooms.every((r) => t.synced[r])) return null;
  return Math.max(...rooms.map((r) => t.synced[r]));
}

// The reload crash mode's hold on the page's WebSockets: frames reach the SDK until the
// `budget`-th MAM page end (`<fin/>`) has passed, and none once `close()` was called (at
// location.reload()). Both make how far a round gets independent of the engine:
// - the SDK asks for the next archive pages while a store batch commits and stores every
//   page that came meanwhile in the next batch, so without a budget the K-th stored page
//   can come with a hundred others where IndexedDB commits slowly (WebKit, Firefox);
// - a document that called location.reload() goes on running until the next one commits,
//   several times longer in Firefox and WebKit than in Chromium, and would go on fetching.
// So a round stores at most `budget` pages whatever the engine. Frames are held back, not
// queued: the document is about to go. Installed before the SDK opens its socket (the wasm
// glue calls `new WebSocket` on the global at connect time); a listener added in the
// constructor runs before `onmessage`. One stanza per frame (RFC 7395), and a body's `<`
// arrives escaped, so a frame holding `<fin` is a page end. While `unlimited()` holds, the
// budget does not apply (the tabs crash mode's last leader runs the resync to its end).
function frameGate(budget, unlimited = () => false) {
  let closed = false;
  let pages = 0;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        if (closed || (pages >= budget && !unlimited())) {
          e.stopImmediatePropagation();
          return;
        }
        if (typeof e.data === 'string' && /<(\w+:)?fin[\s/>]/.test(e.data)) pages++;
      });
    }
  };
  return { close: () => { closed = true; } };
}

// Reload crash test mode
// (`?auto=1&store=…&jid=…&pageSize=…&reloadAfter=K&jitter=J&budget=B`): the page starts the
// SDK at once and reloads itself after the K-th resync page was stored (J ms later, when
// J > 0, so the reload can also land inside the next page's transaction). The SDK receives
// at most B archive pages in a round (B >= K) and nothing from the reload on (frameGate):
// what the dying document still writes is what it had received by then, whatever the
// engine. A reloaded page finds `crash-reloaded` in sessionStorage and stays idle. Without
// `reloadAfter` it runs the resync to its end. State for the test: `window.crashState`.
async function autoStart(params) {
  const state = { phase: 'starting', pages: 0, storedAtStart: 0, error: null, summary: null };
  window.crashState = state;
  const store = params.get('store');
  const round = params.get('round');
  if (sessionStorage.getItem('crash-reloaded') === round) {
    state.storedAtStart = await countStored(store);
    if (state.storedAtStart <= 0) {
      state.debug = { dbs: await indexedDB.databases() };
      await new Promise((r) => setTimeout(r, 500));
      state.debug.again = await countStored(store);
    }
    state.phase = 'reloaded';
    return;
  }
  const reloadAfter = Number(params.get('reloadAfter') ?? 0);
  const jitter = Number(params.get('jitter') ?? 0);
  const gate = reloadAfter ? frameGate(Number(params.get('budget') ?? Infinity)) : null;
  const c = sdk({ jid: params.get('jid'), store, pageSize: Number(params.get('pageSize')) || undefined });
  const reload = () => {
    sessionStorage.setItem('crash-reloaded', round);
    state.phase = 'reloading';
    gate.close();
    location.reload();
  };
  c.on('sync', (p) => {
    if (p.complete) return;
    state.pages++;
    if (reloadAfter && state.pages === reloadAfter) {
      if (jitter > 0) setTimeout(reload, jitter);
      else reload();
    }
  });
  await c.open();
  state.storedAtStart = await countStored(store);
  state.phase = 'syncing';
  await c.connect();
  const summary = await c.resync();
  if (state.phase === 'syncing') {
    state.summary = summary;
    state.errors = c.errors;
    state.phase = 'complete';
  }
}

window.harness = {
  ready: init().then(() => true),
  sdk, dumpStore, countStored, deleteDb, postBacklog, archiveIds, subscribeAll,
  timedResync, rawResync, prepareLive, releaseLive, rawPut, raw, tab, timedTab, syncedAt, clock,
};

// Tabs crash mode (`?tabs=1&store=…&jid=…&pageSize=…&rounds=R&seed=S&budget=B`, the reload
// crash test with several tabs): the page starts a `tab` client at once and connects; while
// it leads, it reloads itself after its K-th resync page stored since it took the lead (K in
// 1..3 from the seed and the round), until the tabs of the origin reloaded R times in all
// (a counter in localStorage, which every tab sees). As in `auto` mode (frameGate), a
// document's SDK receives at most B archive pages while reloads remain, and nothing from its
// reload on, so a round stores about as much in every engine.
function tabsCrashMode(params) {
  const store = params.get('store');
  const rounds = Number(params.get('rounds'));
  const seed = Number(params.get('seed')) >>> 0;
  const key = `tabs-reloads-${store}`;
  const done = () => Number(localStorage.getItem(key) ?? 0);
  const gate = frameGate(Number(params.get('budget') ?? Infinity), () => done() >= rounds);
  tab({ jid: params.get('jid'), store, pageSize: Number(params.get('pageSize')) || undefined });
  const t = window.tab;
  let ledAt = null;
  t.client.on('role', (r) => {
    ledAt = r === 'leader' ? t.syncPages : null;
  });
  t.client.on('sync', (p) => {
    if (p.complete || ledAt === null || done() >= rounds) return;
    const round = done() + 1;
    const k = 1 + (Math.imul(seed ^ round, 0x9e3779b1) >>> 0) % 3;
    if (t.syncPages - ledAt >= k) {
      localStorage.setItem(key, String(round));
      ledAt = null;
      gate.close();
      location.reload();
    }
  });
  t.client.connect().catch((e) => t.errors.push(`connect: ${e.code}: ${e.message}`));
}

const params = new URLSearchParams(location.search);
if (params.get('tabs') === '1') {
  window.harness.ready.then(() => tabsCrashMode(params)).catch((e) => {
    window.tabsFailed = String(e?.stack ?? e);
  });
}
if (params.get('auto') === '1') {
  window.harness.ready.then(() => autoStart(params)).catch((e) => {
    // A document that called location.reload() loses its socket while it still runs
    // (for a while in Firefox and WebKit), so its pending resync() rejects: expected, and
    // not this round's outcome, which the reloaded document reports.
    if (window.crashState?.phase === 'reloading') return;
    window.crashState = { ...(window.crashState ?? {}), phase: 'failed', error: String(e?.stack ?? e) };
  });
}
