// The demo app: wires the mucsub SDK (pkg/, built by wasm-pack) to three views — sign in,
// room list, room. Stored rooms and messages are shown from IndexedDB before the connection
// is up; the SDK resyncs on every (re)connect and the views just render its events.
import init, { MucSubClient } from './pkg/mucsub.js';
import { renderSignIn } from './views/signin.js';
import { RoomsView } from './views/rooms.js';
import { RoomView } from './views/room.js';
import { renderBanner } from './views/banner.js';
import { h } from './dom.js';
import { domainOf, errorText } from './format.js';
import { loadSession, saveSession, clearSession, defaultWsUrl, loadUnread, saveUnread } from './session.js';
import { loadPushPrefs, enableNotifications, disableNotifications, resumeNotifications } from './push.js';

const $ = (id) => document.getElementById(id);

class App {
  constructor() {
    this.client = null;
    this.session = null;
    this.conn = 'disconnected';
    this.syncing = new Set();
    this.subs = new Map(); // room -> Subscription
    this.meta = {}; // room -> { last, subject }, persisted per account (unread: the SDK's)
    this.roomsView = null;
    this.roomView = null;
    this.lastError = '';
    this.retryDelay = 1000;
    this.retryTimer = null;
    // Push registration steps run one at a time, so a switch-off never races a renewal.
    this.pushQueue = Promise.resolve();
  }

  get jid() { return this.session?.jid ?? ''; }
  get mucDomain() { return `conference.${domainOf(this.jid)}`; }

  async boot() {
    registerServiceWorker();
    await init();
    window.addEventListener('hashchange', () => this.route());
    // A notification clicked while the app is open: push-sw.js asks it to show the room.
    navigator.serviceWorker?.addEventListener('message', (e) => {
      if (e.data?.type === 'mucsub:open-room' && e.data.room) this.openRoom(e.data.room);
    });
    window.addEventListener('online', () => this.retrySoon(0));
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') {
        this.retrySoon(0);
        if (this.roomView) this.markRead(this.roomView.room);
      }
    });
    const session = loadSession();
    if (session) {
      await this.start(session, { interactive: false });
    } else {
      this.showSignIn();
    }
    document.body.classList.remove('view-loading');
    document.body.dataset.ready = '1';
  }

  showSignIn(error) {
    this.setView('signin');
    const last = loadSession();
    renderSignIn($('signin-pane'), {
      defaults: { url: last?.url ?? defaultWsUrl(), jid: last?.jid, method: last?.token !== undefined ? 'token' : 'password' },
      error,
      onSubmit: (creds) => this.signIn(creds),
    });
  }

  async signIn({ url, jid, password, token }) {
    const session = token !== undefined
      ? { url, jid, token, store: `mucsub-${jid}` }
      : { url, jid, password, store: `mucsub-${jid}` };
    await this.start(session, { interactive: true });
  }

  // Creates the client, shows what the store holds, then connects. When signing in, a failed
  // connection is reported on the form; when resuming, the app stays usable offline.
  async start(session, { interactive }) {
    // A token goes through the `credentials` callback, which the SDK asks before every
    // (re)connection: a real app would fetch a fresh token from its backend there.
    // A password is only there on the sign-in form's submit; later runs sign in with the
    // device's FAST token, which the SDK keeps.
    const secret = session.token !== undefined
      ? { credentials: async () => ({ token: session.token }) }
      : session.password ? { password: session.password } : {};
    const client = new MucSubClient({ url: session.url, jid: session.jid, ...secret, store: session.store });
    this.client = client;
    this.session = session;
    this.meta = loadUnread(session.jid);
    client.on('event', (ev) => this.onEvent(ev));
    client.on('update', (m) => this.onUpdate(m));
    client.on('connection', (state) => this.onConnection(state));
    client.on('sync', (p) => this.onSync(p));
    client.on('error', (err) => this.toast(errorText(err)));
    await client.open();
    this.pushStep(() => resumeNotifications(client, session.jid)).catch((err) => console.warn('push:', err));
    if (interactive) {
      try {
        this.setConn('connecting');
        await client.connect();
      } catch (err) {
        this.client = null;
        this.session = null;
        await client.close().catch(() => {});
        throw new Error(err?.code !== 'auth-failed' ? `Could not connect: ${errorText(err)}`
          : session.token !== undefined ? 'The token was refused (expired, or not for this address).'
            : 'Wrong address or password.');
      }
      saveSession(session);
      // Signed in: the token the server issued from now on, the password nowhere.
      delete session.password;
      this.setConn('online');
      await this.refreshSubscriptions();
      this.mountRooms();
      this.route();
    } else {
      await this.refreshSubscriptions();
      this.mountRooms();
      this.route();
      this.connect();
    }
  }

  async connect() {
    const client = this.client;
    if (!client || this.conn === 'online' || this.conn === 'connecting' || this.conn === 'reconnecting') return;
    clearTimeout(this.retryTimer);
    this.setConn('connecting');
    try {
      await client.connect();
      if (client !== this.client) return;
      this.retryDelay = 1000;
      this.lastError = '';
      this.setConn('online');
      await this.refreshSubscriptions();
    } catch (err) {
      if (client !== this.client) return;
      if (err?.code === 'auth-failed') {
        const error = this.session?.token !== undefined ? 'Your token was not accepted any more. Sign in again.'
          : 'This device was signed out (its sign-in expired or was revoked). Sign in again.';
        await this.signOut({ keepAccount: true, error });
        return;
      }
      this.lastError = err?.code ?? 'network';
      this.setConn('disconnected');
      this.retrySoon(this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, 30_000);
    }
  }

  retrySoon(delay) {
    if (!this.client) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  async signOut({ keepAccount = false, error } = {}) {
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    this.roomView = null;
    this.roomsView = null;
    this.subs.clear();
    $('room-pane').replaceChildren(h('div', { class: 'empty-room' }, 'Pick a room on the left, or subscribe to one.'));
    // A signed-out browser must not keep getting the account's notifications.
    if (client && !keepAccount && loadPushPrefs(this.jid).enabled) {
      const jid = this.jid;
      await this.pushStep(() => disableNotifications(client, jid)).catch((err) => console.warn('push:', err));
    }
    // Signing out revokes this device's token on the server; a refused token is gone already.
    if (client) await (keepAccount ? client.close() : client.signOut()).catch(() => {});
    if (!keepAccount) clearSession();
    else if (this.session) {
      saveSession(this.session.token !== undefined ? { ...this.session, token: '' } : this.session);
    }
    this.session = null;
    this.setConn('disconnected');
    location.hash = '';
    this.showSignIn(error);
  }

  async refreshSubscriptions() {
    if (!this.client) return;
    try {
      const list = await this.client.subscriptions();
      this.subs = new Map(list.map((s) => [s.room, s]));
    } catch (err) {
      this.toast(`Could not list the rooms: ${errorText(err)}`);
    }
    this.renderRooms();
  }

  async subscribe(room, nick) {
    const sub = await this.client.subscribe(room, { nick });
    this.subs.set(sub.room ?? room, { unread: 0, ...sub, room: sub.room ?? room });
    this.renderRooms();
    return sub;
  }

  mountRooms() {
    this.roomsView = new RoomsView($('rooms-pane'), this);
    $('rooms-pane').hidden = false;
    $('room-pane').hidden = false;
    this.renderRooms();
  }

  // Unread counts are the SDK's (`markRead` stores the read marker with the messages; the
  // `unread` of `subscriptions()` counts others' messages after it), kept current between
  // two lists by counting the events that arrive. The last message is the newer of the
  // SDK's and the app's own.
  rooms() {
    return [...this.subs.values()].map((s) => {
      const m = this.meta[s.room] ?? {};
      const last = (s.last && (!m.last || s.last.timestamp >= m.last.timestamp)) ? s.last : m.last;
      return { ...s, unread: s.unread ?? 0, last };
    });
  }

  renderRooms() {
    this.roomsView?.update(this.rooms(), this.roomView?.room);
  }

  route() {
    if (!this.client) return;
    const m = location.hash.match(/^#\/room\/(.+)$/);
    const room = m ? decodeURIComponent(m[1]) : null;
    if (room) {
      if (this.roomView?.room !== room) {
        this.roomView = new RoomView($('room-pane'), this, room);
        this.roomView.load();
      }
      this.markRead(room);
      this.setView('room');
    } else {
      this.setView('rooms');
    }
    this.renderRooms();
  }

  openRoom(room) { location.hash = `#/room/${encodeURIComponent(room)}`; }
  showRooms() { location.hash = '#/'; }

  setView(name) {
    document.body.classList.remove('view-loading', 'view-signin', 'view-rooms', 'view-room');
    document.body.classList.add(`view-${name}`);
    this.view = name;
    $('signin-pane').hidden = name !== 'signin';
    this.renderBanner();
  }

  isMine(room, ev) {
    const sub = this.subs.get(room);
    return Boolean(sub && ev.nick && ev.nick === sub.nick);
  }

  viewing(room) {
    return this.roomView?.room === room && document.body.classList.contains('view-room')
      && document.visibilityState === 'visible';
  }

  onEvent(ev) {
    if (ev.kind === 'message' || ev.kind === 'subject') {
      const m = (this.meta[ev.room] ??= {});
      if (!m.last || ev.timestamp >= m.last.timestamp) {
        m.last = { kind: ev.kind, nick: ev.nick, body: ev.body, subject: ev.subject, timestamp: ev.timestamp,
          stanzaId: ev.stanzaId, id: ev.id };
      }
      if (ev.kind === 'subject') m.subject = ev.subject ?? '';
      this.saveMeta();
    }
    // A message that arrives deleted (its retraction came first) is not unread (nor for the SDK).
    if (ev.kind === 'message' && !this.isMine(ev.room, ev) && !ev.retracted && !ev.moderated) {
      // The event is stored by now (the SDK reports it after the commit): reading it moves
      // the marker past it, otherwise the SDK counts it until the next list.
      if (this.viewing(ev.room)) this.markRead(ev.room);
      else {
        const s = this.subs.get(ev.room);
        if (s) s.unread = (s.unread ?? 0) + 1;
      }
    }
    if (this.roomView?.room === ev.room) this.roomView.onEvent(ev);
    this.renderRooms();
  }

  // A stored message was edited, deleted or reacted to: the room shows it as it now is; the
  // room list's last message too when it is that one.
  onUpdate(m) {
    const last = this.meta[m.room]?.last;
    // By id (the archive's copy may have moved its time); an entry saved before ids were: by time.
    const same = last && last.nick === m.nick && (last.stanzaId || last.id
      ? (last.stanzaId && last.stanzaId === m.stanzaId) || (last.id && last.id === m.id)
      : last.timestamp === m.timestamp);
    if (same) {
      last.body = m.retracted || m.moderated ? 'deleted message' : m.body;
      this.saveMeta();
    }
    const s = this.subs.get(m.room);
    if (s?.last && (s.last.stanzaId ?? s.last.id) === (m.stanzaId ?? m.id)) s.last = m;
    if (this.roomView?.room === m.room) this.roomView.onUpdate(m);
    this.renderRooms();
  }

  onConnection(state) {
    this.setConn(state);
    if (state === 'online') this.refreshSubscriptions();
  }

  onSync(p) {
    // The SDK also reports the archive pages that history() fetches for scrolling back as
    // sync progress, with no completion after them: that is not catching up.
    // The same for the room view putting a tie in order (views/ties.js), should it ever reach
    // the archive.
    const view = this.roomView?.room === p.room ? this.roomView : null;
    if (!p.complete && view && (view.loading || view.ties.running)) return;
    if (p.complete) this.syncing.delete(p.room);
    else this.syncing.add(p.room);
    this.renderBanner();
    // Caught up: the SDK's unread counts are exact now (events counted while a list was
    // being read may have gone to the list it replaced).
    if (p.complete && this.syncing.size === 0) this.refreshSubscriptions();
  }

  markRead(room) {
    const s = this.subs.get(room);
    if (s) s.unread = 0;
    // Nothing stored yet for the room (a fresh subscription) is `item-not-found`: no marker.
    this.client?.markRead(room).catch(() => {});
  }

  pushPrefs() { return loadPushPrefs(this.jid); }

  // Notifications on or off for this browser (views/notifications.js).
  setNotifications(on, includeBody) {
    const client = this.client;
    const jid = this.jid;
    if (!client) return Promise.reject(new Error('Sign in first.'));
    return this.pushStep(() => (on
      ? enableNotifications(client, jid, { includeBody })
      : disableNotifications(client, jid)));
  }

  // Runs `fn` after the push steps already queued.
  pushStep(fn) {
    const run = this.pushQueue.then(fn);
    this.pushQueue = run.catch(() => {});
    return run;
  }

  subjectOf(room) { return this.meta[room]?.subject; }

  rememberSubject(room, subject) {
    (this.meta[room] ??= {}).subject = subject;
    this.saveMeta();
  }

  saveMeta() {
    if (this.session) saveUnread(this.session.jid, this.meta);
  }

  setConn(state) {
    this.conn = state;
    if (state !== 'online') this.syncing.clear();
    this.renderBanner();
  }

  renderBanner() {
    renderBanner($('banner'), {
      signedIn: Boolean(this.client) && this.view !== 'signin',
      conn: this.conn,
      syncing: this.syncing.size,
      lastError: this.lastError,
      onRetry: () => this.retrySoon(0),
    });
  }

  toast(text) {
    const el = h('div', { class: 'toast', role: 'alert' }, text);
    $('toasts').append(el);
    setTimeout(() => el.remove(), 5000);
  }
}

function registerServiceWorker() {
  if ('serviceWorker' in navigator && isSecureContext) {
    navigator.serviceWorker.register('sw.js').catch((err) => console.warn('service worker:', err));
  }
}

const app = new App();
// Exposed for debugging in the console and for the end-to-end tests' diagnostics.
window.mucsubApp = app;
app.boot().catch((err) => {
  document.body.classList.remove('view-loading');
  document.body.dataset.ready = 'error';
  $('boot').classList.add('failed');
  $('boot').textContent = `The app failed to start: ${errorText(err)}`;
  console.error(err);
});
