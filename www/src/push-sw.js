// Push notifications in the service worker (loaded by sw.js with importScripts).
//
// The server's built-in Web Push app server sends one encrypted JSON payload per room event
// (the browser decrypts it before the `push` event):
//   {"v":1, "kind":"message"|"subject"|"chat", "room":"room@conference.example",
//    "sender":"nick", "body":"…" (only when the account allowed bodies), "count":3, "id":"…"}
// We show one notification per room (tag = room, so a newer one replaces the older) naming
// the room and the sender; clicking it opens that room (`#/room/<jid>`, the app's route).

const mucsubPush = (() => {
  const roomName = (room) => String(room ?? '').split('@')[0] || 'MucSub';

  function roomUrl(room) {
    const base = self.registration?.scope ?? self.location.href;
    return room ? new URL(`./#/room/${encodeURIComponent(room)}`, base).href : new URL('./', base).href;
  }

  // Browsers insist that every push shows a notification, so anything unreadable still
  // becomes a generic one rather than an error.
  function parse(data) {
    if (!data) return {};
    try {
      const p = data.json();
      return p && typeof p === 'object' ? p : {};
    } catch {
      return {};
    }
  }

  function notificationFor(p) {
    const room = typeof p.room === 'string' ? p.room : null;
    const name = roomName(room);
    const sender = typeof p.sender === 'string' && p.sender ? p.sender : null;
    const count = Number.isInteger(p.count) && p.count > 1 ? p.count : 1;
    let title;
    let body;
    if (p.kind === 'subject') {
      title = `${name}: new subject`;
      body = typeof p.body === 'string' ? p.body : sender ? `Changed by ${sender}` : '';
    } else if (room) {
      title = sender ? `${sender} in ${name}` : name;
      body = typeof p.body === 'string' ? p.body
        : count > 1 ? `${count} new messages` : 'New message';
    } else {
      title = sender ?? 'MucSub';
      body = typeof p.body === 'string' ? p.body : 'New message';
    }
    return {
      title,
      options: {
        body,
        tag: room ? `room:${room}` : 'mucsub',
        renotify: true,
        icon: new URL('icon.svg', roomUrl(null)).href,
        data: { room, sender, id: p.id ?? null, url: roomUrl(room) },
      },
    };
  }

  async function show(data) {
    const { title, options } = notificationFor(parse(data));
    await self.registration.showNotification(title, options);
  }

  // Opens the room: an open window of the app goes to the room's route and gets focus
  // (and a message, for apps that route without the hash); otherwise a new window opens.
  async function open(notification) {
    const data = notification?.data ?? {};
    const url = data.url ?? roomUrl(data.room);
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const scope = roomUrl(null);
    const win = windows.find((c) => c.url.startsWith(scope)) ?? windows[0];
    if (!win) return self.clients.openWindow(url);
    win.postMessage({ type: 'mucsub:open-room', room: data.room ?? null, url });
    let target = win;
    if (win.url !== url && 'navigate' in win) {
      target = (await win.navigate(url).catch(() => null)) ?? win;
    }
    // Focus needs the user's click; without it (tests, some browsers) it fails quietly.
    await target.focus?.().catch(() => {});
    return target;
  }

  self.addEventListener('push', (event) => {
    event.waitUntil(show(event.data));
  });

  self.addEventListener('notificationclick', (event) => {
    event.notification.close();
    event.waitUntil(open(event.notification));
  });

  return { notificationFor, roomUrl, show, open };
})();

self.mucsubPush = mucsubPush;
