// A real third-party web client against our server: Converse.js 14 (npm `converse.js`,
// pinned in package.json) served as a site would embed it, driven and read through its own
// DOM only; and a bare XMPP-over-WebSocket client (bench/browser/page/rawxmpp.mjs) for the
// other side of a conversation — a MucSub subscriber that never joins — and for probes that
// must not come from Converse (disco#info).
//
// `startConverseServer` starts mucsub-server with a temporary static site: the harness page
// (tests/e2e/converse-site/index.html), Converse's dist/ as ./converse/, and raw.html with
// rawxmpp.mjs. `Converse.open` loads the page signed in as an account, every WebSocket frame
// recorded (`frameLog()`, saved to artifacts/ by `saveFrames`). Helpers read what a person
// sees: a room's state (entered, nickname prompt…), its messages (author, text, and edited,
// retracted, reactions for issue 22), the occupant list, the title, the details modal's
// feature list and the configuration form.
import { cp, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestServer } from './server.mjs';
import { watchPage } from './browser.mjs';
import { artifactsDir, e2eDir, repoRoot, wwwDist } from './paths.mjs';
import { WAIT } from './app.mjs';

export const CONVERSE_DIST = join(e2eDir, 'node_modules', 'converse.js', 'dist');
const SITE_SOURCE = join(e2eDir, 'converse-site');
const RAWXMPP = join(repoRoot, 'bench', 'browser', 'page', 'rawxmpp.mjs');

export const NODE_MESSAGES = 'urn:xmpp:mucsub:nodes:messages';

// The server with the Converse site as its static directory (the site lives in the server's
// temporary data dir, so `dispose()` removes both). Converse's 24 MB dist/ is linked, not copied.
// `app`: also the demo app (the SDK's side of a conversation) at ./app/, linked too.
export async function startConverseServer({ users, config = '', app = false } = {}) {
  if (!existsSync(join(CONVERSE_DIST, 'converse.min.js'))) {
    throw new Error(`no Converse.js in ${CONVERSE_DIST}: run 'cd tests/e2e && npm ci'`);
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'mucsub-converse-'));
  const site = join(dataDir, 'site');
  await mkdir(site);
  await cp(SITE_SOURCE, site, { recursive: true });
  await cp(RAWXMPP, join(site, 'rawxmpp.mjs'));
  await symlink(CONVERSE_DIST, join(site, 'converse'), 'dir');
  // Converse's OMEMO library fetches its wasm from the page's directory, not assets_path.
  await symlink(join(CONVERSE_DIST, 'curve25519_compiled.wasm'), join(site, 'curve25519_compiled.wasm'));
  if (app) await symlink(wwwDist, join(site, 'app'), 'dir');
  return TestServer.start({ users, config, staticDir: site, dataDir });
}

// One Converse page signed in as one account.
export class Converse {
  // `rooms`: bare room JIDs for `auto_join_rooms`, opened the way a bookmark or a site's
  // config opens them (Converse then picks the nick itself: reserved nick, else it asks).
  // `settings`: more Converse settings; none are needed for a stock user.
  static async open(context, server, { jid, password = 'pw', rooms = [], settings = {}, name = jid } = {}) {
    const page = await context.newPage();
    const converse = new Converse(page, name);
    // Nothing leaves loopback (Converse's sponsor logos come from conversejs.org).
    await page.route((url) => url.hostname !== '127.0.0.1', (route) => route.abort('blockedbyclient'));
    await page.addInitScript((s) => { window.converseTestSettings = s; }, {
      websocket_url: server.wsUrl,
      jid,
      password,
      auto_join_rooms: rooms,
      ...settings,
    });
    await converse.load(server.httpUrl);
    return converse;
  }

  constructor(page, name) {
    this.page = page;
    this.name = name;
    this.frames = []; // [direction '>' sent | '<' received, ms since open, payload]
    this.t0 = Date.now();
    this.watch = watchPage(page, name);
    page.on('requestfailed', (r) => this.watch.log.push(`[${name} requestfailed] ${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => {
      if (r.status() >= 400) this.watch.log.push(`[${name} http ${r.status()}] ${r.url()}`);
    });
    page.on('websocket', (ws) => {
      this.frames.push(['=', Date.now() - this.t0, `websocket ${ws.url()}`]);
      ws.on('framesent', (f) => this.frames.push(['>', Date.now() - this.t0, String(f.payload)]));
      ws.on('framereceived', (f) => this.frames.push(['<', Date.now() - this.t0, String(f.payload)]));
      ws.on('close', () => this.frames.push(['=', Date.now() - this.t0, 'websocket closed']));
    });
  }

  // Loads (or reloads) the site and waits for Converse to be initialised and online.
  async load(url) {
    await this.page.goto(url);
    await this.page.waitForSelector('body[data-harness]', { state: 'attached', timeout: WAIT });
    const state = await this.page.getAttribute('body', 'data-harness');
    if (state !== 'initialised') throw new Error(`Converse did not start (${state})`);
    // The controlbox shows the signed-in user's own status once the session is up.
    await this.page.waitForSelector('converse-controlbox converse-user-profile, converse-controlbox .controlbox-section.profile', { timeout: WAIT });
  }

  room(jid) {
    return `converse-muc[jid="${jid}"]`;
  }

  // What the room's view shows: 'closed' (no view), 'connecting', 'nickname-required' (the
  // "Please choose your nickname" form), 'password-required', 'entered' (the message composer
  // is there), 'entered-muted' (entered but "You're not allowed to send messages"),
  // 'disconnected' (an error such as a refused join, with its text), 'destroyed'.
  async roomState(jid) {
    return this.page.evaluate((sel) => {
      const el = document.querySelector(sel);
      if (!el) return { state: 'closed' };
      const text = (q) => el.querySelector(q)?.textContent.replace(/\s+/g, ' ').trim();
      if (el.querySelector('converse-muc-nickname-form .muc-nickname-form')) {
        return { state: 'nickname-required', text: text('converse-muc-nickname-form') };
      }
      if (el.querySelector('converse-muc-password-form form')) return { state: 'password-required' };
      if (el.querySelector('converse-muc-destroyed')) return { state: 'destroyed', text: text('converse-muc-destroyed') };
      if (el.querySelector('converse-muc-disconnected')) {
        return { state: 'disconnected', text: text('converse-muc-disconnected') };
      }
      if (el.querySelector('converse-muc-bottom-panel converse-muc-message-form textarea')) return { state: 'entered' };
      if (el.querySelector('converse-muc-bottom-panel .muc-bottom-panel--muted')) {
        return { state: 'entered-muted', text: text('.muc-bottom-panel--muted') };
      }
      return { state: 'connecting' };
    }, this.room(jid));
  }

  // Waits until the room has settled in a state other than 'closed'/'connecting' and returns it.
  async settledRoomState(jid) {
    await this.page.waitForFunction((sel) => {
      const el = document.querySelector(sel);
      return !!el && !!el.querySelector([
        'converse-muc-nickname-form .muc-nickname-form', 'converse-muc-password-form form',
        'converse-muc-destroyed', 'converse-muc-disconnected',
        'converse-muc-bottom-panel converse-muc-message-form textarea',
        'converse-muc-bottom-panel .muc-bottom-panel--muted',
      ].join(','));
    }, this.room(jid), { timeout: WAIT });
    return this.roomState(jid);
  }

  // Types a nickname into Converse's nickname prompt, as a person asked for one does.
  async submitNickname(jid, nick) {
    const form = `${this.room(jid)} converse-muc-nickname-form .muc-nickname-form`;
    await this.page.fill(`${form} input[name=nick]`, nick);
    await this.page.click(`${form} input[type=submit]`);
  }

  // The room's messages in screen order: `nick` is the resource of the sender's occupant JID
  // as Converse has it (data-from), `author` the name shown (absent on follow-ups), `text`
  // the body as rendered.
  async messages(jid) {
    return this.page.$$eval(`${this.room(jid)} converse-muc-chat-content .chat-msg`, (els) => els.map((el) => {
      const from = el.getAttribute('data-from') ?? '';
      const slash = from.indexOf('/');
      return {
        from,
        nick: slash < 0 ? '' : from.slice(slash + 1),
        author: el.querySelector('.chat-msg__author')?.textContent.trim() ?? null,
        text: el.querySelector('.chat-msg__text')?.textContent.trim() ?? null,
        msgid: el.getAttribute('data-msgid'),
        time: el.getAttribute('data-isodate'),
        delayed: el.classList.contains('delayed'),
        me: !!el.querySelector('.chat-msg__content--me'),
        edited: !!el.querySelector('.chat-msg__edit-modal'),
        retracted: el.classList.contains('chat-msg--retracted'),
        retraction: el.querySelector('.retraction')?.textContent.replace(/\s+/g, ' ').trim() ?? null,
        reactions: [...el.querySelectorAll('.chat-msg__reaction')].map((r) => r.textContent.replace(/\s+/g, ' ').trim()),
      };
    }));
  }

  async waitForMessage(jid, text) {
    await this.page.waitForFunction(({ sel, want }) => [...document.querySelectorAll(`${sel} converse-muc-chat-content .chat-msg .chat-msg__text`)]
      .some((el) => el.textContent.trim() === want), { sel: this.room(jid), want: text }, { timeout: WAIT });
  }

  // Opens the actions menu of the newest message whose text is `text` and clicks the action
  // `cls` (Converse's button class: chat-msg__action-edit, -retract, -reaction…), hovering
  // it first as a person's pointer does (Converse shows the menu's toggle on hover).
  async messageAction(jid, text, cls) {
    const { page } = this;
    const msg = page.locator(`${this.room(jid)} converse-muc-chat-content .chat-msg`, {
      has: page.locator('.chat-msg__text', { hasText: text }),
    }).last();
    await msg.hover();
    await msg.locator('.chat-msg__actions .dropdown-toggle').click();
    await msg.locator(`.chat-msg__action.${cls}`).click();
    return msg;
  }

  // Corrects our message `text` to `now` (XEP-0308): Edit, the text in the composer, Enter.
  async correct(jid, text, now) {
    await this.messageAction(jid, text, 'chat-msg__action-edit');
    const box = `${this.room(jid)} converse-muc-message-form textarea.chat-textarea`;
    await this.page.waitForFunction(({ sel, want }) => document.querySelector(sel)?.value === want,
      { sel: box, want: text }, { timeout: WAIT });
    await this.page.fill(box, now);
    await this.page.press(box, 'Enter');
  }

  // Retracts our message `text` (XEP-0424), confirming Converse's question.
  async retract(jid, text) {
    await this.messageAction(jid, text, 'chat-msg__action-retract');
    await this.page.click('converse-confirm-modal form.confirm button[type=submit]', { timeout: WAIT });
  }

  // Reacts to the message `text` with `emoji` from Converse's reaction picker (XEP-0444).
  async react(jid, text, emoji) {
    const msg = await this.messageAction(jid, text, 'chat-msg__action-reaction');
    await msg.locator('.reaction-picker .reaction-item', { hasText: emoji }).first().click();
  }

  // The info lines Converse shows in the room ("alice has entered the groupchat", errors…).
  async infoLines(jid) {
    return this.page.$$eval(`${this.room(jid)} converse-muc-chat-content .chat-info`, (els) =>
      els.map((el) => el.textContent.replace(/\s+/g, ' ').trim()));
  }

  async post(jid, text) {
    const box = `${this.room(jid)} converse-muc-message-form textarea.chat-textarea`;
    await this.page.fill(box, text);
    await this.page.press(box, 'Enter');
  }

  // Waits for a nick in the room's occupant list (the sidebar).
  async waitForOccupant(jid, nick) {
    await this.page.waitForFunction(({ sel, want }) => [...document.querySelectorAll(`${sel} converse-muc-sidebar .occupant-nick`)]
      .some((el) => el.textContent.trim() === want), { sel: this.room(jid), want: nick }, { timeout: WAIT });
  }

  // Opens an entry of the room heading's menu ('details', 'configure', …: Converse's
  // `a_class` names: show-muc-details-modal, configure-chatroom-button).
  async headingAction(jid, aClass) {
    const heading = `${this.room(jid)} converse-muc-heading`;
    const item = `${heading} .${aClass}`;
    // The heading renders again whenever Converse learns something about the room or the
    // account (disco info, its OMEMO devices on PEP), which closes an open menu: open it
    // again rather than wait on a closed one.
    for (let attempt = 1; ; attempt++) {
      if (!(await this.page.isVisible(item))) await this.page.click(`${heading} .dropdown-toggle`);
      try {
        await this.page.click(item, { timeout: 5000 });
        return;
      } catch (e) {
        if (attempt >= 6) throw e;
      }
    }
  }

  // The "Features" list of the room's details modal, one line per feature, then closes it.
  async detailsFeatures(jid) {
    await this.headingAction(jid, 'show-muc-details-modal');
    const modal = 'converse-muc-details-modal';
    await this.page.waitForSelector(`${modal} .features-list`, { timeout: WAIT });
    const lines = await this.page.$$eval(`${modal} .features-list li`, (els) =>
      els.map((el) => el.textContent.replace(/\s+/g, ' ').trim()));
    await this.closeModal(modal);
    return lines;
  }

  async closeModal(modal) {
    await this.page.click(`${modal} .modal-header button[aria-label="Close"], ${modal} button.btn-close`);
    await this.page.waitForSelector(`${modal} .modal.show`, { state: 'detached', timeout: WAIT }).catch(() => {});
  }

  // Opens the room configuration form (Configure in the heading menu) and waits for the form
  // the server sends now: Converse first shows the form it fetched last time, if any, then the
  // new one.
  async openConfig(jid) {
    const from = this.frames.length;
    await this.headingAction(jid, 'configure-chatroom-button');
    await this.waitForFrame(from, (dir, text) => dir === '<' && text.startsWith('<iq')
      && text.includes('muc#owner') && text.includes('jabber:x:data'));
    const form = 'converse-muc-config-modal form.chatroom-form';
    await this.page.waitForSelector(`${form} input[type=submit]`, { timeout: WAIT });
    // One more frame for lit to render the form just received.
    await this.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
    return form;
  }

  // Waits for a WebSocket frame at index `from` or later that `match(dir, text)` accepts.
  async waitForFrame(from, match) {
    for (let waited = 0; waited < WAIT; waited += 50) {
      if (this.frames.slice(from).some(([dir, , text]) => match(dir, text))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${this.name}: no such frame within ${WAIT} ms`);
  }

  async configFields() {
    return this.page.$$eval('converse-muc-config-modal form.chatroom-form [name]', (els) =>
      els.map((el) => ({ name: el.getAttribute('name'), type: el.type, value: el.type === 'checkbox' ? el.checked : el.value })));
  }

  async setConfigField(name, value) {
    const field = `converse-muc-config-modal form.chatroom-form [name="${name}"]`;
    if (typeof value === 'boolean') await this.page.setChecked(field, value);
    else await this.page.fill(field, value);
  }

  // Submits the form and waits for Converse to close the modal (it does so on the result).
  async saveConfig() {
    await this.page.click('converse-muc-config-modal form.chatroom-form input[type=submit]');
    await this.page.waitForSelector('converse-muc-config-modal form.chatroom-form', { state: 'detached', timeout: WAIT });
  }

  // Waits for the room's name in its heading.
  async waitForTitle(jid, want) {
    await this.page.waitForFunction(({ sel, want }) => document.querySelector(`${sel} converse-muc-heading .chatbox-title__text`)
      ?.textContent.trim() === want, { sel: this.room(jid), want }, { timeout: WAIT });
  }

  frameLog() {
    return this.frames.map(([dir, t, text]) => `${String(t).padStart(7)} ${dir} ${text}`).join('\n');
  }

  // Frames matching a regular expression, for a failure message or a wire-level check.
  framesMatching(re, dir = null) {
    return this.frames.filter(([d, , text]) => (!dir || d === dir) && re.test(text)).map(([d, t, text]) => `${d} ${text}`);
  }

  // Each IQ Converse sent whose text matches `re`, with the server's answer (same id), as
  // two lines: what a failure message needs to show what was asked and what came back.
  iqExchanges(re) {
    const out = [];
    for (const [dir, , text] of this.frames) {
      if (dir !== '>' || !text.startsWith('<iq') || !re.test(text)) continue;
      const id = text.match(/\sid="([^"]+)"/)?.[1];
      const answer = this.frames.find(([d, , t]) => d === '<' && t.startsWith('<iq') && id
        && (t.includes(`id='${id}'`) || t.includes(`id="${id}"`)));
      out.push(`> ${text}`, `< ${answer ? answer[2] : '(no answer)'}`);
    }
    return out;
  }

  // Writes the whole frame log to artifacts/converse-<label>.frames.log; returns its path.
  async saveFrames(label = this.name) {
    mkdirSync(artifactsDir, { recursive: true });
    const path = join(artifactsDir, `converse-${label.replace(/[^\w.-]+/g, '_')}.frames.log`);
    await writeFile(path, `${this.frameLog()}\n`);
    return path;
  }
}

// A bare XMPP client in a page of the same site (raw.html): logs in with PLAIN, sends
// available presence, and keeps every stanza it receives.
export class RawClient {
  static async open(context, server, { user, password = 'pw', resource = 'raw', name = `${user}/${resource}` } = {}) {
    const page = await context.newPage();
    const client = new RawClient(page, name);
    await page.goto(`${server.httpUrl}raw.html`);
    await page.waitForSelector('body[data-ready]', { state: 'attached', timeout: WAIT });
    client.jid = await page.evaluate(async ({ url, user, password, resource }) => {
      window.inbox = [];
      window.raw = new window.RawXmpp(url);
      window.raw.listeners.push((el) => window.inbox.push(new XMLSerializer().serializeToString(el)));
      const jid = await window.raw.login(user, password, resource);
      window.raw.send('<presence xmlns="jabber:client"/>');
      return jid;
    }, { url: server.wsUrl, user, password, resource });
    return client;
  }

  constructor(page, name) {
    this.page = page;
    this.name = name;
    this.watch = watchPage(page, name);
  }

  // MucSub subscribe (`nodes`: short names such as 'messages'); resolves with the answer's XML.
  async subscribe(room, nick, nodes = ['messages']) {
    return this.page.evaluate(async ({ room, nick, nodes }) => new XMLSerializer()
      .serializeToString(await window.raw.subscribe(room, nick, nodes)), { room, nick, nodes });
  }

  async post(room, body) {
    await this.page.evaluate(({ room, body }) => window.raw.post(room, [body]), { room, body });
  }

  // The room's disco#info as { identities: [{category, type, name}], features: [var],
  // fields: {var: value} } (fields of the muc#roominfo form).
  async discoInfo(room, node = null) {
    return this.page.evaluate(async ({ room, node }) => {
      const esc = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
      const el = await window.raw.iq(`<iq type="get" id="%ID%" to="${esc(room)}" xmlns="jabber:client">`
        + `<query xmlns="http://jabber.org/protocol/disco#info"${node ? ` node="${esc(node)}"` : ''}/></iq>`);
      const q = el.getElementsByTagNameNS('http://jabber.org/protocol/disco#info', 'query')[0];
      return {
        node: q?.getAttribute('node') ?? null,
        identities: [...(q?.getElementsByTagNameNS('http://jabber.org/protocol/disco#info', 'identity') ?? [])]
          .map((i) => ({ category: i.getAttribute('category'), type: i.getAttribute('type'), name: i.getAttribute('name') })),
        features: [...(q?.getElementsByTagNameNS('http://jabber.org/protocol/disco#info', 'feature') ?? [])]
          .map((f) => f.getAttribute('var')),
        fields: Object.fromEntries([...(q?.getElementsByTagNameNS('jabber:x:data', 'field') ?? [])]
          .map((f) => [f.getAttribute('var'), f.getElementsByTagNameNS('jabber:x:data', 'value')[0]?.textContent ?? ''])),
      };
    }, { room, node });
  }

  // MucSub events received so far (messages from a room to our bare JID holding a
  // pubsub#event), parsed: { room, outerId, node, itemId, from, type, body, stanzaId, stanzaIdBy }.
  async events() {
    return this.page.evaluate(() => {
      const PUBSUB_EVENT = 'http://jabber.org/protocol/pubsub#event';
      const out = [];
      for (const xml of window.inbox) {
        const el = new DOMParser().parseFromString(xml, 'text/xml').documentElement;
        if (el.localName !== 'message') continue;
        const event = [...el.children].find((c) => c.localName === 'event' && c.namespaceURI === PUBSUB_EVENT);
        if (!event) continue;
        const items = event.getElementsByTagNameNS(PUBSUB_EVENT, 'items')[0];
        const item = items?.getElementsByTagNameNS(PUBSUB_EVENT, 'item')[0];
        const inner = item && [...item.children][0];
        const sid = inner?.getElementsByTagNameNS('urn:xmpp:sid:0', 'stanza-id')[0];
        out.push({
          room: el.getAttribute('from'),
          outerType: el.getAttribute('type'),
          outerId: el.getAttribute('id'),
          node: items?.getAttribute('node') ?? null,
          itemId: item?.getAttribute('id') ?? null,
          from: inner?.getAttribute('from') ?? null,
          type: inner?.getAttribute('type') ?? null,
          body: inner?.getElementsByTagName('body')[0]?.textContent ?? null,
          stanzaId: sid?.getAttribute('id') ?? null,
          stanzaIdBy: sid?.getAttribute('by') ?? null,
        });
      }
      return out;
    });
  }

  async waitForEvent(body) {
    for (let waited = 0; waited < WAIT; waited += 100) {
      const found = (await this.events()).find((e) => e.body === body);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.name} got no MucSub event with body ${JSON.stringify(body)}; inbox:\n`
      + (await this.page.evaluate(() => window.inbox.slice(-20).join('\n'))));
  }

  async close() {
    await this.page.evaluate(() => window.raw.close()).catch(() => {});
    await this.page.close();
  }
}
