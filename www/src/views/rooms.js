// The room list: subscribed rooms with unread counts and the last message, plus the forms to
// subscribe to a room and to create one.
import { h, replaceChildren } from '../dom.js';
import { roomName, shortTime, nickHue } from '../format.js';
import { notificationsForm } from './notifications.js';

// An inline bell (no icon font or emoji needed: not every system has one).
function bellButton(onclick) {
  const btn = h('button', { class: 'icon-btn', id: 'show-notifications', type: 'button',
    title: 'Notifications', 'aria-label': 'Notifications', onclick });
  btn.innerHTML = '<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" fill="none" '
    + 'stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">'
    + '<path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9"/><path d="M13.7 21a2 2 0 0 1-3.4 0"/></svg>';
  return btn;
}

export class RoomsView {
  constructor(pane, app) {
    this.app = app;
    this.list = h('ul', { id: 'room-list', 'aria-label': 'Subscribed rooms' });
    this.sheet = h('div', { class: 'sheet', hidden: true });
    this.account = h('div', { class: 'sub', id: 'account' }, app.jid);
    replaceChildren(pane,
      h('header', { class: 'bar' },
        h('span', { class: 'dot', title: 'connection' }),
        h('div', { class: 'titles' }, h('h1', {}, 'Rooms'), this.account),
        h('button', { class: 'icon-btn text-btn', id: 'show-subscribe', type: 'button',
          title: 'Subscribe to a room', onclick: () => this.showForm('subscribe') }, 'Join'),
        h('button', { class: 'icon-btn text-btn', id: 'show-create', type: 'button',
          title: 'Create a room', onclick: () => this.showForm('create') }, 'New'),
        bellButton(() => this.showNotifications()),
        h('button', { class: 'icon-btn text-btn', id: 'sign-out', type: 'button', title: 'Sign out',
          onclick: () => app.signOut() }, 'Sign out')),
      this.sheet,
      this.list);
  }

  showForm(kind) {
    const create = kind === 'create';
    const error = h('p', { class: 'error', role: 'alert' });
    const submit = h('button', { class: 'primary', type: 'submit' }, create ? 'Create' : 'Subscribe');
    const defaultNick = this.app.jid.split('@')[0];
    const form = h('form', { class: 'form', id: create ? 'create-form' : 'subscribe-form' },
      h('h3', {}, create ? 'Create a room' : 'Subscribe to a room'),
      h('label', {}, create ? 'Room name' : 'Room address',
        h('input', { name: 'room', required: true, autocapitalize: 'none', spellcheck: 'false',
          placeholder: create ? 'team' : `lobby@${this.app.mucDomain}` })),
      h('label', {}, 'Your nickname in the room',
        h('input', { name: 'nick', required: true, value: defaultNick, autocapitalize: 'none' })),
      error,
      h('div', { class: 'row' },
        h('button', { class: 'secondary', type: 'button', onclick: () => this.hideForm() }, 'Cancel'),
        submit));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const data = new FormData(form);
      let room = String(data.get('room')).trim().toLowerCase();
      const nick = String(data.get('nick')).trim();
      if (!room.includes('@')) room = `${room}@${this.app.mucDomain}`;
      if (!/^[^@/\s]+@[^@/\s]+$/.test(room)) {
        error.textContent = 'A room address looks like name@' + this.app.mucDomain;
        return;
      }
      submit.disabled = true;
      error.textContent = '';
      try {
        // Subscribing to a room that does not exist creates it, with us as owner (docs/protocol.md S5).
        await this.app.subscribe(room, nick);
        this.hideForm();
        this.app.openRoom(room);
      } catch (err) {
        error.textContent = err?.message ?? String(err);
        submit.disabled = false;
      }
    });
    replaceChildren(this.sheet, form);
    this.sheet.hidden = false;
    form.elements.room.focus();
  }

  showNotifications() {
    replaceChildren(this.sheet, notificationsForm(this.app, { onClose: () => this.hideForm() }));
    this.sheet.hidden = false;
  }

  hideForm() {
    this.sheet.hidden = true;
    this.sheet.replaceChildren();
  }

  update(rooms, activeRoom) {
    if (rooms.length === 0) {
      replaceChildren(this.list, h('li', { class: 'empty' },
        'No rooms yet. Tap Join to subscribe to a room, or New to create one.'));
      return;
    }
    const sorted = [...rooms].sort((a, b) => (b.last?.timestamp ?? 0) - (a.last?.timestamp ?? 0)
      || a.room.localeCompare(b.room));
    replaceChildren(this.list, sorted.map((r) => this.item(r, r.room === activeRoom)));
  }

  item(r, active) {
    const name = roomName(r.room);
    const last = r.last
      ? (r.last.kind === 'subject' ? `Subject: ${r.last.subject ?? ''}` : `${r.last.nick ?? ''}: ${r.last.body ?? ''}`)
      : 'No messages yet';
    return h('li', {
      class: 'room-item' + (active ? ' active' : ''),
      dataset: { room: r.room, unread: String(r.unread ?? 0) },
      tabindex: 0,
      role: 'button',
      onclick: () => this.app.openRoom(r.room),
      onkeydown: (e) => { if (e.key === 'Enter') this.app.openRoom(r.room); },
    },
    h('div', { class: 'avatar', style: `background: hsl(${nickHue(name)} 55% 45%)` }, name.slice(0, 2)),
    h('div', { class: 'main' },
      h('div', { class: 'top' },
        h('span', { class: 'name' }, name),
        h('span', { class: 'time' }, r.last ? shortTime(r.last.timestamp) : '')),
      h('div', { class: 'bottom' },
        h('span', { class: 'last' }, last),
        r.unread > 0 ? h('span', { class: 'badge', 'aria-label': `${r.unread} unread` }, String(r.unread)) : null)));
  }
}
