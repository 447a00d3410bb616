// Service worker: keeps the app shell (HTML, JS, CSS, the wasm module) so that the app opens
// with no network and shows the messages stored in IndexedDB. Network first, so a running
// server always serves the current build; the cache is only the fallback.
// build.mjs stamps the build id here, so each build installs afresh and re-caches the shell.
const CACHE = 'mucsub-app-dev';

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    await precache();
    await self.skipWaiting();
  })());
});

// Caches the shell file by file (addAll gives up on all of them for one failed fetch: seen
// in WebKitGTK, which then left the app with no offline start), each failure tried again
// once; what still fails is said in the console and cached when the page next fetches it.
async function precache() {
  let files;
  try {
    const res = await fetch('precache.json', { cache: 'no-store' });
    ({ files } = await res.json());
  } catch {
    return; // No manifest (a development copy): pages are cached as they are fetched instead.
  }
  const cache = await caches.open(CACHE);
  let left = ['./', ...files];
  for (let attempt = 0; attempt < 2 && left.length; attempt++) {
    const results = await Promise.allSettled(left.map((f) => cache.add(f)));
    left = left.filter((_, i) => results[i].status === 'rejected');
  }
  if (left.length) console.warn('offline copy of the app incomplete, missing:', left);
}

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin || url.pathname.endsWith('/ws')) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const res = await fetch(req);
      if (res.ok) await cache.put(req, res.clone());
      return res;
    } catch (err) {
      const hit = await cache.match(req, { ignoreSearch: true })
        ?? (req.mode === 'navigate' ? await cache.match('./') : undefined);
      if (hit) return hit;
      throw err;
    }
  })());
});

// Push notifications: shows them and opens the room on click.
importScripts('push-sw.js'); // push hook
