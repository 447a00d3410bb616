// Notifications: this browser's Web Push subscription, registered with the account through the
// SDK (`enablePush`), so that a phone with the page asleep or closed still learns about new
// messages. The service worker (sw.js + push-sw.js) shows them and opens the room on click.
// The choice is remembered per account; the subscription itself lives in the browser.

const KEY = 'mucsub.push';

export function pushSupported() {
  return isSecureContext && 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

export function loadPushPrefs(jid) {
  try {
    const p = JSON.parse(localStorage.getItem(`${KEY}.${jid}`) ?? '{}') ?? {};
    return { enabled: p.enabled === true, includeBody: p.includeBody === true };
  } catch {
    return { enabled: false, includeBody: false };
  }
}

function savePushPrefs(jid, prefs) {
  localStorage.setItem(`${KEY}.${jid}`, JSON.stringify(prefs));
}

function keyBytes(b64url) {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(b64url.length / 4) * 4, '=');
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function sameKey(buffer, b64url) {
  if (!buffer) return false;
  const a = new Uint8Array(buffer);
  const b = keyBytes(b64url);
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

async function registration() {
  await navigator.serviceWorker.register('sw.js');
  return navigator.serviceWorker.ready;
}

// Asks for permission, subscribes with the server's VAPID key and registers the subscription.
// A subscription made for another server's key is replaced.
export async function enableNotifications(client, jid, { includeBody }) {
  if (!pushSupported()) throw new Error('This browser cannot receive push notifications here.');
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error('Notifications are blocked for this site.');
  const reg = await registration();
  const { publicKey } = await client.pushInfo();
  let sub = await reg.pushManager.getSubscription();
  if (sub && !sameKey(sub.options?.applicationServerKey, publicKey)) {
    await sub.unsubscribe().catch(() => {});
    sub = null;
  }
  sub ??= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) });
  await client.enablePush(sub, { includeBody });
  savePushPrefs(jid, { enabled: true, includeBody });
  return sub;
}

// On each start with notifications on: registers the browser's current subscription again, so
// the account follows a subscription the browser renewed (or a server that lost it). Never
// prompts: without a granted permission there is nothing to renew.
export async function resumeNotifications(client, jid) {
  const prefs = loadPushPrefs(jid);
  if (!prefs.enabled || !pushSupported() || Notification.permission !== 'granted') return;
  await enableNotifications(client, jid, prefs);
}

// Removes the registration from the account, then the browser's subscription. The server
// would drop a dead subscription by itself at the next push (404/410), so a failed disable
// on the server does not keep the browser subscribed.
export async function disableNotifications(client, jid) {
  savePushPrefs(jid, { ...loadPushPrefs(jid), enabled: false });
  if (!pushSupported()) return;
  const reg = await navigator.serviceWorker.getRegistration();
  const sub = await reg?.pushManager.getSubscription();
  if (!sub) return;
  try {
    await client.disablePush(sub);
  } finally {
    await sub.unsubscribe().catch(() => {});
  }
}
