// The signed-in account, kept in localStorage so that a reopened tab (a phone that put the
// page to sleep, or a reload with no network) can show the stored rooms at once and reconnect
// by itself. Never the password: after the first sign-in the SDK reconnects with the FAST
// token the server issued (kept in its IndexedDB database). An app token (the "Token" sign-in,
// standing for what an app's backend would mint) is kept, as a backend session would be.

const KEY = 'mucsub.session';

export function loadSession() {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw);
    if (typeof s.url === 'string' && typeof s.jid === 'string') {
      // An entry from an older demo may still hold a password: it is dropped here.
      const { password: _dropped, ...kept } = s;
      return { store: 'mucsub-' + s.jid, ...kept };
    }
  } catch {
    // A corrupt entry is treated as signed out.
  }
  return null;
}

export function saveSession(session) {
  const { password: _never, ...kept } = session;
  localStorage.setItem(KEY, JSON.stringify(kept));
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
