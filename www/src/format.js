// Display helpers shared by the views.

export function roomName(jid) {
  const at = jid.indexOf('@');
  return at > 0 ? jid.slice(0, at) : jid;
}

export function domainOf(jid) {
  const at = jid.indexOf('@');
  const rest = at >= 0 ? jid.slice(at + 1) : jid;
  const slash = rest.indexOf('/');
  return slash >= 0 ? rest.slice(0, slash) : rest;
}

// "10:42" today, "Mon 10:42" this week, "12 Mar" before that.
export function shortTime(ms, now = Date.now()) {
  if (!Number.isFinite(ms)) return '';
  const d = new Date(ms);
  const ageDays = (now - ms) / 86_400_000;
  const sameDay = new Date(now).toDateString() === d.toDateString();
  if (sameDay) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (ageDays < 6) {
    return d.toLocaleDateString([], { weekday: 'short' }) + ' ' +
      d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }
  return d.toLocaleDateString([], { day: 'numeric', month: 'short' });
}

export function dayLabel(ms) {
  return new Date(ms).toLocaleDateString([], { weekday: 'long', day: 'numeric', month: 'long' });
}

// A stable identity for an event, matching the SDK's own deduplication: the room's archive
// id first, then the sender's message id.
export function eventKey(ev) {
  if (ev.stanzaId) return 'sid:' + ev.stanzaId;
  if (ev.id) return 'id:' + (ev.nick ?? '') + ':' + ev.id;
  return 'ts:' + ev.timestamp + ':' + (ev.nick ?? '') + ':' + (ev.body ?? ev.subject ?? '');
}

export function errorText(err) {
  if (!err) return 'Unknown error';
  const code = err.code ? ` (${err.code})` : '';
  return (err.message || String(err)) + code;
}

// Initials-based avatar colour, stable per nick.
export function nickHue(nick = '') {
  let h = 0;
  for (const ch of nick) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}
