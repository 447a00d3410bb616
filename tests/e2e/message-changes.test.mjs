// Issue 22 in the demo app: alice (the room's owner) edits, reacts, replies and deletes
// through the message actions; bob's app (a phone) shows each change on the message itself,
// once — no second bubble, the edited and deleted markers, the reactions, the quote — live
// and again after a reload (from IndexedDB). Only the moderator is offered "Remove", and
// the changes never count as unread.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TestServer } from './lib/server.mjs';
import { launchBrowser, DESKTOP, PHONE, watchPage, screenshot, annotate } from './lib/browser.mjs';
import { WAIT, signIn, subscribe, post, waitForBodyCount, waitReady, waitOnline, unreadOf } from './lib/app.mjs';

const NAME = `changes-${randomBytes(4).toString('hex')}`;
const ROOM = `${NAME}@conference.localhost`;

let server;
let browser;
let alice;
let bob;
const logs = [];

async function step(fn) {
  try {
    await fn();
  } catch (err) {
    throw annotate(err, `\n--- pages ---\n${logs.flatMap((l) => l.log).slice(-60).join('\n')}` +
      `\n--- server ---\n${server?.output.slice(-4000)}`);
  }
}

// What a page shows of the room's messages, in screen order.
async function shown(page) {
  return page.$$eval('#messages li.msg:not([data-pending])', (els) => els.map((el) => ({
    nick: el.dataset.nick,
    body: el.querySelector('.body').textContent,
    edited: el.querySelector('.edited-mark') !== null,
    deleted: el.dataset.deleted ?? null,
    quote: el.querySelector('.quote')?.textContent ?? null,
    reactions: [...el.querySelectorAll('.reaction')].map((r) => r.textContent),
  })));
}

// Waits until `page` shows the messages `want` (compared whole, so a duplicate fails).
async function waitShown(page, want) {
  try {
    await page.waitForFunction((w) => {
      const got = [...document.querySelectorAll('#messages li.msg:not([data-pending])')].map((el) => ({
        nick: el.dataset.nick,
        body: el.querySelector('.body').textContent,
        edited: el.querySelector('.edited-mark') !== null,
        deleted: el.dataset.deleted ?? null,
        quote: el.querySelector('.quote')?.textContent ?? null,
        reactions: [...el.querySelectorAll('.reaction')].map((r) => r.textContent),
      }));
      return JSON.stringify(got) === JSON.stringify(w);
    }, want, { timeout: WAIT });
  } catch (err) {
    assert.deepEqual(await shown(page), want, String(err));
  }
}

const msg = (nick, body, extra = {}) => ({
  nick, body, edited: false, deleted: null, quote: null, reactions: [], ...extra,
});

// Opens the actions of the message saying `body` ("⋯", as a person taps it) and clicks
// `selector` in them.
async function act(page, body, selector) {
  const found = await page.$$eval('#messages li.msg', (els, b) => {
    for (const el of els) delete el.dataset.target;
    const el = els.find((e) => !e.dataset.pending && e.querySelector('.body').textContent === b);
    if (el) el.dataset.target = '1';
    return el?.outerHTML ?? null;
  }, body);
  assert.ok(found?.includes('class="more"'), `no message "${body}" with actions: ${found}`);
  await page.click('#messages li[data-target] .more');
  await page.waitForSelector('#messages li[data-target] .actions', { timeout: WAIT });
  await page.click(`#messages li[data-target] .actions ${selector}`);
}

async function actionsOn(page, body) {
  return page.$$eval('#messages li.msg', (els, b) => {
    const el = els.find((e) => e.querySelector('.body').textContent === b);
    el.querySelector('.more').click();
    const names = [...el.querySelectorAll('.actions [data-action]')].map((a) => a.dataset.action);
    el.querySelector('.more').click();
    return names;
  }, body);
}

before(async () => {
  server = await TestServer.start({ users: [['alice', 'pw'], ['bob', 'pw']] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

test('edits, reactions, replies and deletions show once on the other device, also after a reload', async (t) => {
  await t.test('alice makes the room, bob joins from his phone, both post', () => step(async () => {
    alice = await (await browser.newContext(DESKTOP)).newPage();
    logs.push(watchPage(alice, 'alice'));
    await alice.goto(server.httpUrl);
    await signIn(alice, { jid: 'alice@localhost', password: 'pw' });
    await subscribe(alice, ROOM, 'alice', { create: true });
    bob = await (await browser.newContext(PHONE)).newPage();
    logs.push(watchPage(bob, 'bob'));
    await bob.goto(server.httpUrl);
    await signIn(bob, { jid: 'bob@localhost', password: 'pw' });
    await subscribe(bob, ROOM, 'bob');
    await post(alice, 'lunch at noon?');
    await post(alice, 'typo here');
    await waitForBodyCount(bob, 2);
    await post(bob, 'sure');
    await waitShown(alice, [msg('alice', 'lunch at noon?'), msg('alice', 'typo here'), msg('bob', 'sure')]);
  }));

  await t.test('alice edits, reacts, replies and deletes; bob sees each on its message', () => step(async () => {
    await act(alice, 'lunch at noon?', '[data-action=edit]');
    await alice.waitForSelector('#compose-mode[data-kind=edit]', { timeout: WAIT });
    await alice.fill('#composer-input', 'lunch at 12:30?');
    await alice.press('#composer-input', 'Enter');
    await act(alice, 'sure', '.react-pick[data-emoji="👍"]');
    // The message is drawn anew with the reaction (the SDK's `update`): act on that one.
    await alice.waitForSelector('#messages li.msg[data-nick=bob] .reaction.mine', { timeout: WAIT });
    await act(alice, 'sure', '[data-action=reply]');
    await alice.waitForSelector('#compose-mode[data-kind=reply]', { timeout: WAIT });
    await post(alice, 'great, see you');
    await act(alice, 'typo here', '[data-action=delete]');
    const want = [
      msg('alice', 'lunch at 12:30?', { edited: true }),
      msg('alice', 'This message was deleted', { deleted: 'retracted' }),
      msg('bob', 'sure', { reactions: ['👍 1'] }),
      msg('alice', 'great, see you', { quote: 'bob sure' }),
    ];
    await waitShown(bob, want);
    await waitShown(alice, want);
    await screenshot(bob, 'message-changes-phone');
  }));

  await t.test('only the moderator is offered Remove; a reaction toggles off', () => step(async () => {
    assert.deepEqual(await actionsOn(bob, 'lunch at 12:30?'), ['reply']);
    assert.deepEqual(await actionsOn(bob, 'sure'), ['reply', 'edit', 'delete']);
    assert.deepEqual(await actionsOn(alice, 'sure'), ['reply', 'remove']);
    await act(bob, 'sure', '.react-pick[data-emoji="👍"]');
    await waitShown(alice, [
      msg('alice', 'lunch at 12:30?', { edited: true }),
      msg('alice', 'This message was deleted', { deleted: 'retracted' }),
      msg('bob', 'sure', { reactions: ['👍 2'] }),
      msg('alice', 'great, see you', { quote: 'bob sure' }),
    ]);
    await bob.click('#messages li.msg .reaction.mine');
    await waitShown(alice, [
      msg('alice', 'lunch at 12:30?', { edited: true }),
      msg('alice', 'This message was deleted', { deleted: 'retracted' }),
      msg('bob', 'sure', { reactions: ['👍 1'] }),
      msg('alice', 'great, see you', { quote: 'bob sure' }),
    ]);
  }));

  await t.test('the moderator removes bob\'s message', () => step(async () => {
    await act(alice, 'sure', '[data-action=remove]');
    const want = [
      msg('alice', 'lunch at 12:30?', { edited: true }),
      msg('alice', 'This message was deleted', { deleted: 'retracted' }),
      msg('bob', 'Removed by a moderator', { deleted: 'moderated' }),
      msg('alice', 'great, see you', { quote: 'bob deleted message' }),
    ];
    await waitShown(bob, want);
    await waitShown(alice, want);
  }));

  await t.test('after a reload bob sees the same, and only the new messages were unread', () => step(async () => {
    await bob.reload();
    await waitReady(bob);
    await waitOnline(bob);
    await waitShown(bob, [
      msg('alice', 'lunch at 12:30?', { edited: true }),
      msg('alice', 'This message was deleted', { deleted: 'retracted' }),
      msg('bob', 'Removed by a moderator', { deleted: 'moderated' }),
      msg('alice', 'great, see you', { quote: 'bob deleted message' }),
    ]);
    // Away from the room, alice edits her reply: an edit is not a new unread message.
    await bob.click('#back');
    const lastIs = (text) => bob.waitForFunction(([room, t]) =>
      document.querySelector(`.room-item[data-room="${room}"] .last`)?.textContent === t,
    [ROOM, text], { timeout: WAIT }).catch(async (err) => {
      assert.equal(await bob.textContent(`.room-item[data-room="${ROOM}"] .last`), text, String(err));
    });
    await act(alice, 'great, see you', '[data-action=edit]');
    await alice.fill('#composer-input', 'great, see you there');
    await alice.press('#composer-input', 'Enter');
    await lastIs('alice: great, see you there');
    assert.equal(await unreadOf(bob, ROOM), 0);
    await post(alice, 'bring cash');
    await lastIs('alice: bring cash');
    assert.equal(await unreadOf(bob, ROOM), 1);
    assert.deepEqual(logs.flatMap((l) => l.errors), []);
  }));
});
