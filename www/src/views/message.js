// One message of the room view: the bubble with its reply quote, the edited and deleted
// markers and the reactions, and the actions a tap on "⋯" offers (react, reply, edit and
// delete one's own, remove as a moderator). The SDK folds corrections, retractions and
// reactions into the message and reports it again on `update`; the room view then renders
// the message anew with this, so nothing here keeps state.
import { h } from '../dom.js';
import { shortTime, eventKey, nickHue } from '../format.js';

// The few reactions offered: enough for a demo, one row on a phone.
export const EMOJIS = ['👍', '❤️', '😂', '🎉', '😮'];

// ctx: { mine, myOcc, quoteOf(stanzaId) -> { nick, body } | null, act(action, ev, arg),
//        actions(ev) -> the action names offered now }
export function renderMessage(ev, ctx) {
  const deleted = Boolean(ev.retracted || ev.moderated);
  const data = { key: eventKey(ev), source: ev.source ?? '', kind: ev.kind };
  if (ev.stanzaId) data.stanzaId = ev.stanzaId;
  if (ev.id) data.id = ev.id;
  if (ev.nick) data.nick = ev.nick;
  if (ev.edited?.length) data.edited = String(ev.edited.length);
  if (ev.retracted) data.deleted = 'retracted';
  if (ev.moderated) data.deleted = 'moderated';
  const time = h('time', { datetime: new Date(ev.timestamp).toISOString() }, shortTime(ev.timestamp));
  const li = h('li', { class: 'msg' + (ctx.mine ? ' mine' : '') + (deleted ? ' deleted' : ''), dataset: data },
    h('div', { class: 'meta' },
      ctx.mine ? null : h('span', { class: 'nick', style: `color: hsl(${nickHue(ev.nick)} 60% 40%)` }, ev.nick ?? ''),
      time,
      ev.edited?.length && !deleted ? h('span', { class: 'edited-mark', title: `Was: ${ev.edited.at(-1)}` }, 'edited') : null),
    ev.replyTo && !deleted ? quote(ev.replyTo.id, ctx) : null,
    h('div', { class: 'bubble body' + (deleted ? ' gone' : '') }, deleted ? deletedText(ev) : ev.body),
    deleted ? null : reactions(ev, ctx));
  if (!deleted && ev.stanzaId) {
    const menu = h('div', { class: 'actions', hidden: true, role: 'toolbar', 'aria-label': 'Message actions' });
    const more = h('button', { class: 'more', type: 'button', 'aria-label': 'Message actions', 'aria-expanded': 'false',
      onclick: () => toggleMenu(menu, more, ev, ctx) }, '⋯');
    li.append(more, menu);
  }
  return li;
}

function deletedText(ev) {
  if (ev.moderated) return 'Removed by a moderator' + (ev.moderated.reason ? `: ${ev.moderated.reason}` : '');
  return 'This message was deleted';
}

// The answered message, as shown now (the room view refreshes quotes on its `update`).
export function quote(stanzaId, ctx) {
  const q = ctx.quoteOf(stanzaId);
  return h('blockquote', { class: 'quote', dataset: { replyTo: stanzaId } },
    q ? [h('strong', {}, q.nick ?? ''), ' ', q.body] : 'an earlier message');
}

function reactions(ev, ctx) {
  const entries = Object.entries(ev.reactions ?? {}).filter(([, who]) => who.length > 0);
  if (entries.length === 0) return null;
  return h('div', { class: 'reactions' }, entries.map(([emoji, who]) => {
    const mine = Boolean(ctx.myOcc && who.includes(ctx.myOcc));
    return h('button', { class: 'reaction' + (mine ? ' mine' : ''), type: 'button', 'aria-pressed': String(mine),
      dataset: { emoji, count: String(who.length) }, title: mine ? 'Take back your reaction' : 'React too',
      onclick: () => ctx.act('toggle', ev, emoji) }, `${emoji} ${who.length}`);
  }));
}

const LABELS = { reply: 'Reply', edit: 'Edit', delete: 'Delete', remove: 'Remove' };

// Built when opened, so it offers what holds now (a moderator's role found after render).
function toggleMenu(menu, more, ev, ctx) {
  const close = () => {
    menu.hidden = true;
    more.setAttribute('aria-expanded', 'false');
  };
  if (!menu.hidden) return close();
  menu.replaceChildren(
    ...EMOJIS.map((emoji) => h('button', { class: 'react-pick', type: 'button', dataset: { emoji },
      'aria-label': `React ${emoji}`, onclick: () => { close(); ctx.act('toggle', ev, emoji); } }, emoji)),
    ...ctx.actions(ev).map((action) => h('button', { class: `action ${action}`, type: 'button', dataset: { action },
      onclick: () => { close(); ctx.act(action, ev); } }, LABELS[action])));
  menu.hidden = false;
  more.setAttribute('aria-expanded', 'true');
}
