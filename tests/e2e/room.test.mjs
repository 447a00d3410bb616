// The room view on a desktop screen: a late subscriber scrolls back through history the
// device never stored (the SDK pages the room's archive), the subject, and the subscriber list
// as the room's owner sees it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appSuite } from './lib/app-suite.mjs';
import { DESKTOP, PHONE, screenshot } from './lib/browser.mjs';
import { WAIT, signIn, subscribe, post, bodies, waitForBodyCount, scrollToBeginning } from './lib/app.mjs';

const ROOM = `history-${randomBytes(4).toString('hex')}@conference.localhost`;
// More than two of the app's 50-event pages, so scrolling back needs several archive queries.
const LINES = Array.from({ length: 120 }, (_, i) => `line ${String(i + 1).padStart(3, '0')}`);

const env = appSuite({ users: [['alice', 'pw'], ['carol', 'pw']] });
const { logs, step } = env;
let alice;
let carol;

test('a late subscriber scrolls back through the archive; subject and subscribers', async (t) => {
  await t.test('alice creates a room and fills it', () => step(async () => {
    alice = await env.open('alice', DESKTOP);
    await signIn(alice, { jid: 'alice@localhost', password: 'pw' });
    await subscribe(alice, ROOM, 'alice', { create: true });
    for (const line of LINES) await post(alice, line);
    await alice.waitForFunction((n) => [...document.querySelectorAll('#messages li.msg:not([data-pending])')]
      .filter((el) => el.dataset.stanzaId).length >= n, LINES.length, { timeout: WAIT });
  }));

  await t.test('carol subscribes later and scrolls back to the first line', () => step(async () => {
    carol = await env.open('carol', PHONE);
    await signIn(carol, { jid: 'carol@localhost', password: 'pw' });
    await subscribe(carol, ROOM, 'carol');
    await waitForBodyCount(carol, 1);
    await scrollToBeginning(carol);
    assert.deepEqual(await bodies(carol), LINES);
    const sources = await carol.$$eval('#messages li.msg', (els) => els.map((el) => el.dataset.source));
    assert.ok(sources.every((s) => s === 'archive'), `every line came from the archive: ${[...new Set(sources)]}`);
    // Scrolling back is not catching up: the banner goes away once the resync is done.
    await carol.waitForSelector('#banner', { state: 'hidden', timeout: WAIT });
    await carol.$eval('#messages', (el) => { el.scrollTop = 0; });
    await screenshot(carol, 'room-scrolled-back');
  }));

  await t.test('the subject set by alice reaches carol live', () => step(async () => {
    await alice.click('#room-subject');
    await alice.fill('#subject-form input[name=subject]', 'Release planning');
    await alice.click('#subject-form button[type=submit]');
    await carol.waitForFunction(() => document.getElementById('room-subject').textContent === 'Release planning',
      null, { timeout: WAIT });
    assert.match(await carol.textContent('#messages li.notice:last-of-type'), /alice set the subject: Release planning/);
  }));

  await t.test('the owner lists the subscribers with their addresses', () => step(async () => {
    await alice.click('#show-subscribers');
    await alice.waitForSelector('#subscribers li[data-nick="carol"]', { timeout: WAIT });
    const nicks = await alice.$$eval('#subscribers li[data-nick]', (els) => els.map((el) => el.dataset.nick).sort());
    assert.deepEqual(nicks, ['alice', 'carol']);
    assert.match(await alice.textContent('#subscribers li[data-nick="carol"]'), /carol@localhost/);
    await screenshot(alice, 'room-desktop-subscribers');
    assert.deepEqual(logs.flatMap((l) => l.errors), []);
  }));
});
