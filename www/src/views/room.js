// One room: history (scrolling back reads the store, then the archive for gaps — both inside
// the SDK's history()), live events, messages changed later (the SDK's `update`: edited,
// deleted, reacted to), the composer (also replying and editing), the subject and the
// subscriber list.
import { h, replaceChildren } from '../dom.js';
import { roomName, eventKey, errorText } from '../format.js';
import { renderMessage, quote } from './message.js';
import { Ties, ascending } from './ties.js';

const PAGE = 50;
// How close to the top (px) scrolling has to come before the next older page is asked for.
const LOAD_MARGIN = 120;

export class RoomView {
  constructor(pane, app, room) {
    this.app = app;
    this.room = room;
    this.keys = new Set();
    this.pending = new Map(); // message id -> element, for our own messages not yet echoed
    this.echoed = new Set(); // ids of our messages echoed before send() told us their id
    this.oldestBefore = undefined; // archive id to page back from
    this.complete = false;
    this.loading = false;
    this.ready = false;
    this.buffered = []; // events that arrived while the first page was loading
    this.subject = app.subjectOf(room) ?? '';
    this.myOcc = undefined; // our occupant-id here, from our own messages: which reactions are ours
    this.moderator = false; // may remove others' messages (found by listing the subscribers)
    this.mode = null; // { kind: 'reply' | 'edit', ev } while the composer replies or edits

    this.subjectEl = h('div', { class: 'sub clickable', id: 'room-subject', title: 'Change the subject',
      onclick: () => this.toggleSubjectForm() });
    this.panel = h('div', { class: 'panel', hidden: true });
    this.older = h('li', { class: 'older', id: 'older' }, 'Loading…');
    this.list = h('ol', { id: 'messages', 'aria-label': 'Messages', 'aria-live': 'polite',
      dataset: { room } }, this.older);
    // Events of one millisecond are put in the room's order from the SDK (views/ties.js).
    this.ties = new Ties(this.list, (opts) => this.app.client.history(this.room, opts));
    this.stuck = true; // following the newest message
    this.list.addEventListener('scroll', () => {
      this.stuck = this.atBottom();
      if (this.list.scrollTop < LOAD_MARGIN) this.loadOlder();
    }, { passive: true });
    // Panels opening, the on-screen keyboard or a growing composer shrink the list: someone
    // reading the newest message keeps seeing it.
    new ResizeObserver(() => { if (this.stuck) this.scrollToBottom(); }).observe(this.list);
    this.input = h('textarea', { name: 'body', rows: 1, placeholder: 'Message', 'aria-label': 'Message',
      enterkeyhint: 'send', id: 'composer-input' });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.form.requestSubmit();
      }
    });
    this.input.addEventListener('input', () => this.autosize());
    this.modeEl = h('div', { class: 'compose-mode', id: 'compose-mode', hidden: true });
    this.form = h('form', { class: 'composer', id: 'composer' }, this.input,
      h('button', { class: 'primary', type: 'submit', id: 'send' }, 'Send'));
    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.send(); });

    replaceChildren(pane,
      h('div', { class: 'room-view', dataset: { room } },
        h('header', { class: 'bar' },
          h('button', { class: 'icon-btn back', type: 'button', 'aria-label': 'Back to rooms',
            id: 'back', onclick: () => app.showRooms() }, '←'),
          h('span', { class: 'dot', title: 'connection' }),
          h('div', { class: 'titles' }, h('h2', { id: 'room-title' }, roomName(room)), this.subjectEl),
          h('button', { class: 'icon-btn text-btn', type: 'button', id: 'show-subscribers',
            title: 'Subscribers', onclick: () => this.toggleSubscribers() }, 'People')),
        this.panel,
        this.list,
        this.modeEl,
        this.form));
    this.renderSubject();
  }

  async load() {
    this.findRole();
    this.loading = true;
    try {
      const page = await this.app.client.history(this.room, { limit: PAGE });
      this.applyOlder(page);
    } catch (err) {
      this.older.textContent = `Could not read the history: ${errorText(err)}`;
    }
    this.loading = false;
    this.ready = true;
    for (const [ev, updated] of this.buffered.splice(0)) {
      if (updated) this.onUpdate(ev);
      else this.onEvent(ev);
    }
    this.scrollToBottom();
    this.fillViewport();
  }

  // Keeps asking for older pages while the list does not fill the screen, so that scrolling
  // back is possible at all.
  async fillViewport() {
    for (let i = 0; i < 5 && !this.complete && this.list.scrollHeight <= this.list.clientHeight; i++) {
      if (!(await this.loadOlder())) break;
    }
  }

  async loadOlder() {
    if (this.loading || this.complete || !this.ready) return false;
    this.loading = true;
    this.older.textContent = 'Loading older messages…';
    try {
      const page = await this.app.client.history(this.room, { before: this.oldestBefore, limit: PAGE });
      return this.applyOlder(page) > 0;
    } catch (err) {
      this.older.textContent = `Older messages unavailable: ${errorText(err)}`;
      return false;
    } finally {
      this.loading = false;
    }
  }

  // Prepends a page of older events, keeping what is on screen in place; returns how many
  // events were new.
  applyOlder(page) {
    const events = ascending(page?.events ?? []);
    const fresh = events.filter((ev) => !this.keys.has(eventKey(ev)));
    const oldest = events.find((ev) => ev.stanzaId);
    const previous = this.oldestBefore;
    if (oldest) this.oldestBefore = oldest.stanzaId;
    // No page further back, or no progress (which would make scrolling loop forever).
    this.complete = Boolean(page?.complete) || !oldest || oldest.stanzaId === previous;
    const fromBottom = this.list.scrollHeight - this.list.scrollTop;
    let added = 0;
    for (const ev of fresh) this.learn(ev);
    for (const ev of fresh) {
      const node = this.render(ev);
      if (!node) continue;
      this.keys.add(eventKey(ev));
      this.place(node, ev.timestamp);
      this.noteSubject(ev);
      added++;
    }
    this.older.textContent = this.complete ? 'This is the beginning of the room.' : 'Scroll up for older messages';
    this.list.scrollTop = this.list.scrollHeight - fromBottom;
    return added;
  }

  onEvent(ev) {
    if (!this.ready) {
      this.buffered.push([ev, false]);
      return;
    }
    this.learn(ev);
    const key = eventKey(ev);
    if (this.keys.has(key)) return;
    const node = this.render(ev);
    if (!node) return;
    this.keys.add(key);
    if (!this.oldestBefore && ev.stanzaId) {
      // The first page was empty (a new subscription whose resync had not stored anything
      // yet): older history may exist before this event, in the archive.
      this.oldestBefore = ev.stanzaId;
      this.complete = false;
      this.older.textContent = 'Scroll up for older messages';
      queueMicrotask(() => this.fillViewport());
    }
    this.noteSubject(ev);
    const mine = this.app.isMine(this.room, ev);
    const stick = this.atBottom() || mine;
    if (mine && ev.id) {
      const pending = this.pending.get(ev.id);
      if (pending) {
        this.pending.delete(ev.id);
        pending.remove();
      } else {
        // The echo can beat send()'s promise; send() then drops its placeholder.
        this.echoed.add(ev.id);
      }
    }
    const fromBottom = this.list.scrollHeight - this.list.scrollTop;
    if (this.place(node, ev.timestamp)) {
      if (stick) this.scrollToBottom();
    } else {
      // An older event (the SDK also reports what history() fetched from the archive):
      // keep what is on screen where it is.
      this.list.scrollTop = this.list.scrollHeight - fromBottom;
    }
  }

  // Inserts by time (a tie with a shown event is put in the room's order later, ties.js):
  // after every shown event that is not newer, before what is still being sent. Returns
  // whether the node went to the end of the confirmed events.
  place(node, timestamp) {
    node.dataset.ts = String(timestamp);
    const firstPending = this.list.querySelector(':scope > li[data-pending]');
    let prev = firstPending ? firstPending.previousElementSibling : this.list.lastElementChild;
    const last = prev;
    while (prev && prev !== this.older && Number(prev.dataset.ts) > timestamp) prev = prev.previousElementSibling;
    (prev ?? this.older).after(node);
    this.ties.placed(node);
    return prev === last;
  }

  // The header shows the newest subject seen, whichever way it arrived.
  noteSubject(ev) {
    if (ev.kind !== 'subject' || ev.timestamp < (this.subjectTs ?? -Infinity)) return;
    this.subjectTs = ev.timestamp;
    this.setSubject(ev.subject ?? '');
  }

  // The SDK folded a change into a stored message: show it as it now is, where it is, and
  // the quotes of it.
  onUpdate(m) {
    if (!this.ready) {
      this.buffered.push([m, true]);
      return;
    }
    const old = this.nodeOf(m);
    if (!old) return; // not on screen: history() returns it as it now is
    const node = this.render(m);
    node.dataset.ts = old.dataset.ts;
    old.replaceWith(node);
    if (m.stanzaId) {
      for (const q of this.list.querySelectorAll(`blockquote[data-reply-to="${CSS.escape(m.stanzaId)}"]`)) {
        q.replaceWith(quote(m.stanzaId, this.ctx(m)));
      }
    }
    if (this.mode && this.nodeOf(this.mode.ev) === node && (m.retracted || m.moderated)) this.setMode(null);
  }

  nodeOf(m) {
    const sel = m.stanzaId ? `li.msg[data-stanza-id="${CSS.escape(m.stanzaId)}"]`
      : m.id ? `li.msg[data-id="${CSS.escape(m.id)}"]:not([data-pending])` : null;
    return sel ? this.list.querySelector(sel) : null;
  }

  // Our occupant-id, from any message or change of ours.
  learn(ev) {
    if (ev.occupantId && this.app.isMine(this.room, ev)) this.myOcc = ev.occupantId;
  }

  // Moderators see the subscribers' addresses in a room that hides them from others (the
  // default); a room showing them to everyone shows "Remove" to everyone, and the server
  // refuses it to non-moderators.
  async findRole() {
    try {
      const list = await this.app.client.subscribers(this.room);
      this.moderator = list.some((s) => s.jid);
    } catch {
      this.moderator = false;
    }
  }

  ctx(ev) {
    return {
      mine: this.app.isMine(this.room, ev),
      myOcc: this.myOcc,
      quoteOf: (sid) => {
        const li = this.list.querySelector(`li.msg[data-stanza-id="${CSS.escape(sid)}"]`);
        if (!li || li.dataset.deleted) return li ? { nick: li.dataset.nick, body: 'deleted message' } : null;
        return { nick: li.dataset.nick, body: li.querySelector('.body')?.textContent ?? '' };
      },
      actions: (m) => {
        const mine = this.app.isMine(this.room, m);
        return ['reply', ...(mine ? ['edit', 'delete'] : []), ...(!mine && this.moderator ? ['remove'] : [])];
      },
      act: (action, m, arg) => this.act(action, m, arg),
    };
  }

  async act(action, m, arg) {
    const client = this.app.client;
    const id = m.stanzaId ?? m.id;
    try {
      if (action === 'toggle') {
        const ours = new Set(Object.entries(m.reactions ?? {})
          .filter(([, who]) => this.myOcc && who.includes(this.myOcc)).map(([emoji]) => emoji));
        if (ours.has(arg)) ours.delete(arg);
        else ours.add(arg);
        await client.react(this.room, id, [...ours]);
      } else if (action === 'reply' || action === 'edit') {
        this.setMode({ kind: action, ev: m });
      } else if (action === 'delete') {
        await client.retract(this.room, id);
      } else if (action === 'remove') {
        await client.moderate(this.room, m.stanzaId);
      }
    } catch (err) {
      this.app.toast(errorText(err));
    }
  }

  // The composer replies to or edits `mode.ev` (null: a plain message).
  setMode(mode) {
    const was = this.mode;
    this.mode = mode;
    if (!mode) {
      this.modeEl.hidden = true;
      this.modeEl.replaceChildren();
      if (was?.kind === 'edit') this.input.value = '';
      this.autosize();
      return;
    }
    const what = mode.kind === 'edit' ? 'Editing your message' : `Replying to ${mode.ev.nick ?? ''}`;
    replaceChildren(this.modeEl,
      h('div', { class: 'what' }, h('strong', {}, what), h('span', {}, mode.ev.body ?? '')),
      h('button', { class: 'icon-btn', type: 'button', id: 'compose-cancel', 'aria-label': 'Cancel',
        onclick: () => this.setMode(null) }, '×'));
    this.modeEl.dataset.kind = mode.kind;
    this.modeEl.hidden = false;
    if (mode.kind === 'edit') this.input.value = mode.ev.body ?? '';
    this.autosize();
    this.input.focus();
  }

  render(ev) {
    const data = { key: eventKey(ev), source: ev.source ?? '', kind: ev.kind };
    if (ev.stanzaId) data.stanzaId = ev.stanzaId;
    if (ev.id) data.id = ev.id;
    if (ev.kind === 'subject') {
      return h('li', { class: 'notice', dataset: data },
        ev.subject ? `${ev.nick ?? 'Someone'} set the subject: ${ev.subject}` : `${ev.nick ?? 'Someone'} cleared the subject`);
    }
    if (ev.kind !== 'message' || ev.body === undefined || ev.body === null) return null;
    return renderMessage(ev, this.ctx(ev));
  }

  async send() {
    const body = this.input.value.trim();
    if (!body) return;
    const mode = this.mode;
    this.input.value = '';
    this.setMode(null);
    if (mode?.kind === 'edit') {
      // The room's echo of the correction comes back as an `update` of the message.
      if (body === mode.ev.body) return;
      try {
        await this.app.client.edit(this.room, mode.ev.id ?? mode.ev.stanzaId, body);
      } catch (err) {
        this.app.toast(`Not edited: ${errorText(err)}`);
      }
      return;
    }
    const replyTo = mode?.kind === 'reply' ? (mode.ev.stanzaId ?? mode.ev.id) : undefined;
    const node = h('li', { class: 'msg mine pending', dataset: { kind: 'message', pending: '1' } },
      h('div', { class: 'meta' }, 'sending…'),
      replyTo ? quote(replyTo, this.ctx(mode.ev)) : null,
      h('div', { class: 'bubble body' }, body));
    this.list.append(node);
    this.scrollToBottom();
    try {
      const { id } = await this.app.client.send(this.room, body, replyTo ? { replyTo } : undefined);
      // The room echoes our message as an event; until then it shows as pending.
      if (id && this.echoed.delete(id)) {
        node.remove();
      } else if (id && node.isConnected) {
        node.dataset.id = id;
        this.pending.set(id, node);
      }
    } catch (err) {
      node.classList.replace('pending', 'failed');
      node.querySelector('.meta').textContent = `not sent: ${errorText(err)}`;
      if (!this.input.value) this.input.value = body;
    }
  }

  setSubject(subject) {
    this.subject = subject;
    this.app.rememberSubject(this.room, subject);
    this.renderSubject();
  }

  renderSubject() {
    this.subjectEl.textContent = this.subject || 'No subject — tap to set one';
  }

  toggleSubjectForm() {
    if (!this.panel.hidden && this.panel.dataset.kind === 'subject') return this.closePanel();
    const error = h('p', { class: 'error', role: 'alert' });
    const input = h('input', { name: 'subject', value: this.subject, 'aria-label': 'Subject' });
    const form = h('form', { class: 'form', id: 'subject-form' },
      h('label', {}, 'Room subject', input), error,
      h('div', { class: 'row' },
        h('button', { class: 'secondary', type: 'button', onclick: () => this.closePanel() }, 'Cancel'),
        h('button', { class: 'primary', type: 'submit' }, 'Set subject')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await this.app.client.setSubject(this.room, input.value.trim());
        this.closePanel();
      } catch (err) {
        error.textContent = errorText(err);
      }
    });
    this.openPanel('subject', form);
    input.focus();
  }

  async toggleSubscribers() {
    if (!this.panel.hidden && this.panel.dataset.kind === 'subscribers') return this.closePanel();
    const body = h('ul', { id: 'subscribers' }, h('li', {}, 'Loading…'));
    this.openPanel('subscribers', h('div', {},
      h('div', { class: 'panel-head' }, h('h3', {}, 'Subscribers'),
        h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Close', onclick: () => this.closePanel() }, '×')),
      body));
    try {
      const list = await this.app.client.subscribers(this.room);
      replaceChildren(body, list.length === 0 ? h('li', {}, 'Nobody is subscribed.') : list.map((s) =>
        h('li', { dataset: { nick: s.nick } },
          h('span', {}, h('strong', {}, s.nick), s.jid ? ` ${s.jid}` : ''),
          h('span', { class: 'nodes' }, (s.nodes ?? []).join(', ')))));
    } catch (err) {
      const text = err?.code === 'forbidden'
        ? 'Only the room’s moderators can see its subscribers.'
        : `Could not list the subscribers: ${errorText(err)}`;
      replaceChildren(body, h('li', {}, text));
    }
  }

  openPanel(kind, content) {
    this.panel.dataset.kind = kind;
    replaceChildren(this.panel, content);
    this.panel.hidden = false;
  }

  closePanel() {
    this.panel.hidden = true;
    this.panel.replaceChildren();
  }

  autosize() {
    this.input.style.height = 'auto';
    this.input.style.height = Math.min(this.input.scrollHeight + 2, 120) + 'px';
  }

  atBottom() {
    return this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 48;
  }

  scrollToBottom() {
    this.list.scrollTop = this.list.scrollHeight;
  }
}
