// A bare XMPP-over-WebSocket (RFC 7395) client that runs in the page without the SDK: the
// benchmark and the reload test use it to post backlogs and to read a room's archive, so
// what they compare the SDK's store with does not come from the SDK itself.
// SASL PLAIN: the bundled server allows it on loopback only, which is where these run.

const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
const CLIENT = 'jabber:client';
const MAM = 'urn:xmpp:mam:2';
const RSM = 'http://jabber.org/protocol/rsm';
const MUCSUB = 'urn:xmpp:mucsub:0';

export function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function child(el, name, ns) {
  for (const c of el.children) if (c.localName === name && (!ns || c.namespaceURI === ns)) return c;
  return null;
}

export class RawXmpp {
  constructor(url, domain = 'localhost') {
    this.url = url;
    this.domain = domain;
    this.waiters = []; // { match(el) -> bool, resolve, reject }
    this.listeners = []; // (el) => void, every stanza
    this.nextId = 0;
    this.closed = null;
  }

  // Opens, authenticates with PLAIN and binds; resolves with the full JID.
  async login(user, password, resource = 'raw') {
    this.ws = new WebSocket(this.url, 'xmpp');
    this.ws.onmessage = (e) => this.frame(e.data);
    this.ws.onclose = (e) => {
      this.closed = `closed (${e.code})`;
      for (const w of this.waiters.splice(0)) w.reject(new Error(`socket ${this.closed}`));
    };
    await new Promise((resolve, reject) => {
      this.ws.onopen = resolve;
      this.ws.onerror = () => reject(new Error(`cannot open ${this.url}`));
    });
    let features = this.expect((el) => el.localName === 'features');
    this.open();
    await features;
    const success = this.expect((el) => el.localName === 'success' || el.localName === 'failure');
    this.ws.send(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${btoa(`\0${user}\0${password}`)}</auth>`);
    const outcome = await success;
    if (outcome.localName !== 'success') throw new Error(`SASL PLAIN failed for ${user}`);
    features = this.expect((el) => el.localName === 'features');
    this.open();
    await features;
    const bound = await this.iq(`<iq type="set" id="%ID%" xmlns="${CLIENT}"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>${esc(resource)}</resource></bind></iq>`);
    this.jid = bound.getElementsByTagName('jid')[0]?.textContent;
    return this.jid;
  }

  open() {
    this.ws.send(`<open xmlns="${FRAMING}" to="${esc(this.domain)}" version="1.0"/>`);
  }

  frame(text) {
    const doc = new DOMParser().parseFromString(text, 'text/xml');
    const el = doc.documentElement;
    if (!el || el.localName === 'parsererror') return;
    for (const l of this.listeners) l(el);
    const i = this.waiters.findIndex((w) => w.match(el));
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(el);
  }

  expect(match) {
    if (this.closed) return Promise.reject(new Error(`socket ${this.closed}`));
    return new Promise((resolve, reject) => this.waiters.push({ match, resolve, reject }));
  }

  send(xml) {
    this.ws.send(xml);
  }

  // Sends an IQ (its `%ID%` replaced by a fresh id); resolves with the result, rejects with
  // the error condition.
  async iq(xml) {
    const id = `r${++this.nextId}`;
    const answer = this.expect((el) => el.localName === 'iq' && el.getAttribute('id') === id);
    this.ws.send(xml.replace('%ID%', id));
    const el = await answer;
    if (el.getAttribute('type') !== 'result') {
      const err = el.getElementsByTagName('error')[0];
      const cond = err ? [...err.children].map((c) => c.localName).join(',') : 'no error element';
      throw new Error(`IQ ${id} failed: ${cond} — ${new XMLSerializer().serializeToString(el).slice(0, 300)}`);
    }
    return el;
  }

  // MucSub subscription; `nodes` are short names (`messages`, …); an empty list is valid and
  // keeps the account from receiving its own posts back.
  subscribe(room, nick, nodes = []) {
    const events = nodes.map((n) => `<event node="urn:xmpp:mucsub:nodes:${n}"/>`).join('');
    return this.iq(`<iq type="set" id="%ID%" to="${esc(room)}" xmlns="${CLIENT}"><subscribe xmlns="${MUCSUB}" nick="${esc(nick)}">${events}</subscribe></iq>`);
  }

  // Queues `bodies` as groupchat messages to `room` without waiting for anything.
  post(room, bodies) {
    for (const body of bodies) {
      this.ws.send(`<message type="groupchat" to="${esc(room)}" id="p${++this.nextId}" xmlns="${CLIENT}"><body>${esc(body)}</body></message>`);
    }
  }

  // The number of archived messages of `room` (RSM count of an empty page).
  async archiveCount(room) {
    const fin = await this.iq(`<iq type="set" id="%ID%" to="${esc(room)}" xmlns="${CLIENT}"><query xmlns="${MAM}"><set xmlns="${RSM}"><max>0</max></set></query></iq>`);
    const count = fin.getElementsByTagName('count')[0]?.textContent;
    if (count === undefined) throw new Error(`no RSM count from ${room}`);
    return Number(count);
  }

  // The whole archive of `room`, oldest first: [{ id, body }], paging forward with `after`.
  async archive(room, page = 250) {
    const out = [];
    let after = null;
    for (;;) {
      const qid = `q${++this.nextId}`;
      const items = [];
      const collect = (el) => {
        if (el.localName !== 'message') return;
        const result = child(el, 'result', MAM);
        if (!result || result.getAttribute('queryid') !== qid) return;
        const body = result.getElementsByTagName('body')[0]?.textContent ?? null;
        items.push({ id: result.getAttribute('id'), body });
      };
      this.listeners.push(collect);
      let fin;
      try {
        const rsm = `<set xmlns="${RSM}"><max>${page}</max>${after ? `<after>${esc(after)}</after>` : ''}</set>`;
        fin = await this.iq(`<iq type="set" id="%ID%" to="${esc(room)}" xmlns="${CLIENT}"><query xmlns="${MAM}" queryid="${qid}">${rsm}</query></iq>`);
      } finally {
        this.listeners.splice(this.listeners.indexOf(collect), 1);
      }
      out.push(...items);
      const finEl = fin.getElementsByTagName('fin')[0];
      if (!finEl) throw new Error(`MAM answer without <fin/> from ${room}`);
      if (finEl.getAttribute('complete') === 'true' || items.length === 0) return out;
      after = items[items.length - 1].id;
    }
  }

  close() {
    try {
      this.ws.send(`<close xmlns="${FRAMING}"/>`);
      this.ws.close();
    } catch {
      // already gone
    }
  }
}
