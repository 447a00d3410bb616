// The signed-in account, kept in localStorage so that a reopened tab (a phone that put the
// page to sleep, or a reload with no network) can show the stored rooms at once and reconnect
// by itself. This is a demo: the password (or the token) is kept in clear in the browser's
// storage; a real app would ask its backend for a fresh token at each connection instead.

const KEY = 'mucsub.session';

export function loadSession() {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw);
    if (typeof s.url === 'string' && typeof s.jid === 'string' &&
        (typeof s.password === 'string' || typeof s.token === 'string')) {
      return { store: 'mucsub-' + s.jid, ...s };
    }
  } catch {
    // A corrupt entry is treated as signed out.
  }
  return null;
}

export function saveSession(session) {
  localStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession() {
  localStorage.removeItem(KEY);
}

// XMPP over WebSocket lives on the same origin as the app, at /ws.
export function defaultWsUrl(loc = location) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/ws`;
}

// Last messages and subjects as the app saw them, for when the SDK does not report them
// (unread counts come from the SDK's read markers). The key keeps its old name so existing
// tabs keep their data.
const READ_KEY = 'mucsub.unread';

export function loadUnread(jid) {
  try {
    return JSON.parse(localStorage.getItem(`${READ_KEY}.${jid}`) ?? '{}') ?? {};
  } catch {
    return {};
  }
}

export function saveUnread(jid, map) {
  localStorage.setItem(`${READ_KEY}.${jid}`, JSON.stringify(map));
}
