// The room view keeps a room's order when several events share a millisecond (views/ties.js).
// The view places events by time, and events of one millisecond in the order they reach it;
// an older page reaching it after newer events (a new subscription's first resync page around
// the view's first history page, then scrolling back) put the older half of a tie after the
// newer half. That made room.test.mjs fail now and then (two of alice's 120 quick messages in
// one millisecond at a page boundary); here every page boundary falls inside a tie, so it is
// certain. The view is the app's own module in a real page; its `app` is a stand-in whose
// client serves a made-up archive the way the SDK's history() and `event` do (the real SDK
// against the real server is room.test.mjs: the server cannot be made to stamp ties).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appSuite } from './lib/app-suite.mjs';
import { DESKTOP, watchPage } from './lib/browser.mjs';

const env = appSuite();

test('events of one millisecond stay in the archive\'s order across pages and scrolling back', () => env.step(async () => {
  const context = await env.browser.newContext(DESKTOP);
  const page = await context.newPage();
  env.logs.push(watchPage(page, 'view'));
  await page.goto(env.server.httpUrl);
  const shown = await page.evaluate(async ({ n, perMs, resyncPage }) => {
    const { RoomView } = await import('/views/room.js');
    const room = 'ties@conference.localhost';
    const base = Date.UTC(2026, 0, 1);
    const all = Array.from({ length: n }, (_, i) => ({
      kind: 'message', room, stanzaId: String(100000 + i), id: `m${i}`, nick: 'bob', source: 'archive',
      body: `line ${String(i + 1).padStart(3, '0')}`, timestamp: base + Math.floor(i / perMs),
    }));
    const stored = new Set();
    let view;
    const report = (events) => {
      for (const ev of events) {
        if (stored.has(ev.stanzaId)) continue;
        stored.add(ev.stanzaId);
        view.onEvent(ev);
      }
    };
    const client = {
      async subscribers() { return []; },
      // As the SDK's: pages back from `before`, oldest first; what it had to fetch from the
      // archive is stored and reported on `event` before the page resolves.
      async history(_room, { before, limit = 50 } = {}) {
        const end = before === undefined ? all.length : all.findIndex((ev) => ev.stanzaId === before);
        const start = Math.max(0, end - limit);
        const events = all.slice(start, end);
        await new Promise((resolve) => setTimeout(resolve, 5));
        report(events);
        return { events, complete: start === 0 };
      },
    };
    const errors = [];
    const app = { client, subjectOf: () => undefined, isMine: () => false, rememberSubject() {},
      toast: (text) => errors.push(text) };
    const pane = document.createElement('div');
    pane.style.height = '600px';
    document.body.append(pane);
    view = new RoomView(pane, app, room);
    // A new subscription: its resync's first page (the newest `resyncPage`) is stored and
    // reported while the view reads its first page.
    const loading = view.load();
    report(all.slice(n - resyncPage));
    await loading;
    for (let i = 0; i < 100 && !view.complete; i++) {
      await view.loadOlder();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (let i = 0; i < 500 && view.list.dataset.settling; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return {
      bodies: [...view.list.querySelectorAll('li.msg')].map((li) => li.querySelector('.body').textContent),
      complete: view.complete,
      settling: Boolean(view.list.dataset.settling),
      errors,
      expected: all.map((ev) => ev.body),
    };
  }, { n: 120, perMs: 6, resyncPage: 100 });
  assert.equal(shown.complete, true, 'scrolled back to the beginning');
  assert.equal(shown.settling, false, 'every tie settled');
  assert.deepEqual(shown.errors, []);
  assert.deepEqual(shown.bodies, shown.expected);
  await context.close();
}));
