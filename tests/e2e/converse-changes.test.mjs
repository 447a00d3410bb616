// Issue 22 between a stock client and the SDK: Converse.js 14 (in Chromium, joined) and the
// demo app (the SDK, a MucSub subscriber that never joins) in one room. Converse shows the
// SDK user's correction (XEP-0308), reaction (XEP-0444) and retraction (XEP-0424: the SDK
// names its own message by its origin-id, which Converse 14 matches) on the messages they
// name, read from Converse's DOM; the SDK folds Converse's correction, reaction and
// retraction into its store, read with `history()` in the app's page, and the app shows
// them, also Converse's reaction to a message Converse had corrected (Converse names it by
// the correction's stanza-id). Chromium only (Converse is driven through Playwright's
// locators): tests/suites/e2e.sh lists it so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { launchBrowser, DESKTOP, annotate, screenshot, watchPage } from './lib/browser.mjs';
import { startConverseServer, Converse } from './lib/converse.mjs';
import { WAIT, signIn, subscribe, post } from './lib/app.mjs';

const ROOM = `interop-${randomBytes(4).toString('hex')}@conference.localhost`;
const SDK_FIRST = 'from the SDK';
const SDK_FIXED = 'from the SDK, corrected';
const SDK_SECOND = 'the SDK again';
const SDK_THIRD = 'one more from the SDK';
const CONV_FIRST = 'from Converse';
const CONV_FIXED = 'from Converse, corrected';

let server;
let browser;
let alice; // the demo app on the SDK
let carol; // Converse
const logs = [];

async function step(fn) {
  try {
    await fn();
  } catch (err) {
    if (carol) await screenshot(carol.page, 'converse-changes-failure').catch(() => {});
    const frames = carol ? `\n--- carol's last frames ---\n${carol.frameLog().split('\n').slice(-30).join('\n')}` : '';
    throw annotate(err, `${frames}\n--- pages ---\n${[...logs, ...(carol ? [carol.watch] : [])]
      .flatMap((l) => l.log).slice(-50).join('\n')}\n--- server ---\n${server?.output.slice(-3000)}`);
  }
}

before(async () => {
  server = await startConverseServer({ users: [['alice', 'pw'], ['carol', 'pw']], app: true });
  browser = await launchBrowser();
});

after(async () => {
  await carol?.saveFrames('converse-changes').catch(() => {});
  await browser?.close();
  await server?.dispose();
});

// Polls `read` until it returns `want` (compared whole), then asserts on the last reading.
async function until(read, want) {
  let got;
  for (let waited = 0; waited <= WAIT; waited += 250) {
    got = await read();
    if (JSON.stringify(got) === JSON.stringify(want)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.deepEqual(got, want);
}

// The room's messages as the SDK stored them (its IndexedDB, through `history()`).
function stored() {
  return alice.evaluate(async (room) => {
    const { events } = await window.mucsubApp.client.history(room, { limit: 50 });
    return events.filter((e) => e.kind === 'message').map((e) => ({
      nick: e.nick,
      body: e.body,
      edited: e.edited ?? [],
      retracted: Boolean(e.retracted),
      reactions: Object.fromEntries(Object.entries(e.reactions ?? {}).map(([k, v]) => [k, v.length])),
    }));
  }, ROOM);
}

// What Converse shows of the room's messages (a retracted one: only that it is).
async function converseShows() {
  return (await carol.messages(ROOM)).map((m) => (m.retracted ? { nick: m.nick, retracted: true }
    : { nick: m.nick, text: m.text, edited: m.edited, reactions: m.reactions }));
}

// Acts on the app's message saying `body` through its "⋯" menu.
async function appAct(body, selector) {
  await alice.$$eval('#messages li.msg', (els, b) => {
    for (const el of els) delete el.dataset.target;
    const el = els.find((e) => !e.dataset.pending && e.querySelector('.body').textContent === b);
    if (el) el.dataset.target = '1';
  }, body);
  await alice.click('#messages li[data-target] .more');
  await alice.click(`#messages li[data-target] .actions ${selector}`);
}

test('Converse.js 14 and the SDK see each other\'s corrections, reactions and retractions', async (t) => {
  await t.test('the SDK user makes the room and posts; carol joins it in Converse and posts', () => step(async () => {
    alice = await (await browser.newContext(DESKTOP)).newPage();
    logs.push(watchPage(alice, 'alice'));
    await alice.goto(`${server.httpUrl}app/`);
    await signIn(alice, { jid: 'alice@localhost', password: 'pw' });
    await subscribe(alice, ROOM, 'alice', { create: true });
    await post(alice, SDK_FIRST);
    await post(alice, SDK_SECOND);
    await post(alice, SDK_THIRD);
    carol = await Converse.open(await browser.newContext(DESKTOP), server, { jid: 'carol@localhost', rooms: [ROOM], name: 'carol' });
    assert.equal((await carol.settledRoomState(ROOM)).state, 'nickname-required');
    await carol.submitNickname(ROOM, 'carol');
    assert.deepEqual(await carol.settledRoomState(ROOM), { state: 'entered' });
    await carol.waitForMessage(ROOM, SDK_THIRD);
    await carol.post(ROOM, CONV_FIRST);
    await until(stored, [
      { nick: 'alice', body: SDK_FIRST, edited: [], retracted: false, reactions: {} },
      { nick: 'alice', body: SDK_SECOND, edited: [], retracted: false, reactions: {} },
      { nick: 'alice', body: SDK_THIRD, edited: [], retracted: false, reactions: {} },
      { nick: 'carol', body: CONV_FIRST, edited: [], retracted: false, reactions: {} },
    ]);
  }));

  await t.test('Converse shows the SDK user\'s correction and reaction', () => step(async () => {
    await appAct(SDK_FIRST, '[data-action=edit]');
    await alice.fill('#composer-input', SDK_FIXED);
    await alice.press('#composer-input', 'Enter');
    await appAct(CONV_FIRST, '.react-pick[data-emoji="👍"]');
    await appAct(SDK_SECOND, '[data-action=delete]');
    const shown = await converseShows();
    await until(async () => [(await converseShows())[0], (await converseShows())[3]], [
      { nick: 'alice', text: SDK_FIXED, edited: true, reactions: [] },
      { nick: 'carol', text: CONV_FIRST, edited: false, reactions: ['👍 1'] },
    ]);
    assert.equal(shown.length, 4, JSON.stringify(shown));
  }));

  // Converse 14 applies a groupchat retraction whose id is the origin-id of a message from
  // the same occupant (its handleRetraction): the SDK names its own message so.
  await t.test('Converse shows the SDK user\'s retraction', () => step(async () => {
    await until(async () => (await converseShows())[1], { nick: 'alice', retracted: true });
  }));

  await t.test('the SDK folds Converse\'s correction, reaction and retraction; the app shows them', () => step(async () => {
    await carol.correct(ROOM, CONV_FIRST, CONV_FIXED);
    await carol.react(ROOM, SDK_THIRD, '👍');
    await until(stored, [
      { nick: 'alice', body: SDK_FIXED, edited: [SDK_FIRST], retracted: false, reactions: {} },
      { nick: 'alice', body: '', edited: [], retracted: true, reactions: {} },
      { nick: 'alice', body: SDK_THIRD, edited: [], retracted: false, reactions: { '👍': 1 } },
      { nick: 'carol', body: CONV_FIXED, edited: [CONV_FIRST], retracted: false, reactions: { '👍': 1 } },
    ]);
    await carol.retract(ROOM, CONV_FIXED);
    await until(stored, [
      { nick: 'alice', body: SDK_FIXED, edited: [SDK_FIRST], retracted: false, reactions: {} },
      { nick: 'alice', body: '', edited: [], retracted: true, reactions: {} },
      { nick: 'alice', body: SDK_THIRD, edited: [], retracted: false, reactions: { '👍': 1 } },
      { nick: 'carol', body: '', edited: [], retracted: true, reactions: {} },
    ]);
    const app = await alice.$$eval('#messages li.msg', (els) => els.map((el) => ({
      body: el.querySelector('.body').textContent,
      deleted: el.dataset.deleted ?? null,
      edited: el.querySelector('.edited-mark') !== null,
      reactions: [...el.querySelectorAll('.reaction')].map((r) => r.textContent),
    })));
    assert.deepEqual(app, [
      { body: SDK_FIXED, deleted: null, edited: true, reactions: [] },
      { body: 'This message was deleted', deleted: 'retracted', edited: false, reactions: [] },
      { body: SDK_THIRD, deleted: null, edited: false, reactions: ['👍 1'] },
      { body: 'This message was deleted', deleted: 'retracted', edited: false, reactions: [] },
    ]);
    await screenshot(carol.page, 'converse-changes');
  }));

  // Converse reacts to a corrected message by the correction's stanza-id (it keeps the
  // newest one on the message): the SDK folds it into the message the correction corrects.
  await t.test('the SDK folds Converse\'s reaction to a corrected message', () => step(async () => {
    await carol.react(ROOM, SDK_FIXED, '🎉');
    await until(async () => (await stored())[0].reactions, { '🎉': 1 });
    assert.deepEqual(logs.flatMap((l) => l.errors), []);
  }));
});
