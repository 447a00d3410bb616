// The connection status banner: hidden while online and idle; says when the app is catching
// up, connecting, or offline and showing what the device has stored.
import { h, replaceChildren } from '../dom.js';

export function renderBanner(el, { signedIn, conn, syncing, lastError, onRetry }) {
  document.body.dataset.conn = conn;
  el.dataset.state = conn;
  el.className = '';
  if (!signedIn || (conn === 'online' && syncing === 0)) {
    el.hidden = true;
    return;
  }
  el.hidden = false;
  if (conn === 'online') {
    el.className = 'syncing';
    replaceChildren(el, `Catching up on ${syncing} room${syncing === 1 ? '' : 's'}…`);
  } else if (conn === 'connecting') {
    replaceChildren(el, 'Connecting…');
  } else if (conn === 'reconnecting') {
    replaceChildren(el, 'Connection lost — reconnecting. Showing saved messages.');
  } else {
    el.className = 'offline';
    replaceChildren(el,
      h('span', {}, lastError === 'network' || !lastError
        ? 'Offline — showing saved messages.'
        : `Offline (${lastError}) — showing saved messages.`),
      h('button', { type: 'button', id: 'retry', onclick: onRetry }, 'Retry'));
  }
}
