// A stock web client against the server: Converse.js 14 in headless Chromium over WebSocket,
// checking the MucSub text's "Compliance with existing MUC clients" (issue 23) from what
// Converse shows — its DOM, never our code. The other side of each conversation is bob, a
// MucSub subscriber that never joins, played by a bare XMPP client (lib/converse.mjs).
//
// Run by tests/suites/e2e.sh with the other ./*.test.mjs; alone, with the suite's environment:
//   cargo build -p mucsub-server && (cd tests/e2e && npm ci)
//   cd tests/e2e && MUCSUB_SERVER_BIN=../../target/debug/mucsub-server node --test converse.test.mjs
// Every Converse page's WebSocket frames are written to artifacts/converse-*.frames.log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { launchBrowser, DESKTOP, annotate, screenshot } from './lib/browser.mjs';
import { startConverseServer, Converse, RawClient, NODE_MESSAGES } from './lib/converse.mjs';

const tag = randomBytes(4).toString('hex');
// Made by bob's subscribe (S5): a room people follow without joining.
const FOLLOWED = `followed-${tag}@conference.localhost`;
// Made by dave opening it in Converse: a room created by a join.
const CREATED = `created-${tag}@conference.localhost`;
// Not the account's localpart, so that Converse can only have it from the server.
const ALICE_NICK = 'Alice (MucSub)';
const LIVE = 'bob here, posting without joining';
const REPLY = 'carol answers from Converse';
const AWAY = ['posted while carol was away, 1', 'posted while carol was away, 2'];
const BOTH = "bob again, for both of alice's devices";

let server;
let browser;
let bob;
const pages = []; // every Converse page, for failure messages and the frame logs

before(async () => {
  server = await startConverseServer({ users: ['alice', 'bob', 'carol', 'dave'].map((u) => [u, 'pw']) });
  browser = await launchBrowser();
  bob = await RawClient.open(await browser.newContext(DESKTOP), server, { user: 'bob' });
  await bob.subscribe(FOLLOWED, 'bob', ['messages']);
});

after(async () => {
  for (const c of pages) await c.saveFrames().catch(() => {});
  await browser?.close();
  await server?.dispose();
});

async function openConverse(user, rooms) {
  const c = await Converse.open(await browser.newContext(DESKTOP), server, { jid: `${user}@localhost`, rooms, name: user });
  pages.push(c);
  return c;
}

// A failure carries the pages' console, the last frames of the page in question and the
// server's output; `wire` adds the exchanges that show why (e.g. the disco#info for a nick).
async function step(fn, { page = () => null, wire = () => [] } = {}) {
  try {
    await fn();
  } catch (err) {
    const c = page();
    const pageLog = pages.flatMap((p) => p.watch.log).slice(-40).join('\n');
    let text = `\n--- wire ---\n${wire().join('\n')}`;
    if (c) {
      await screenshot(c.page, `converse-${c.name}-failure`).catch(() => {});
      text += `\n--- ${c.name}'s last frames ---\n${c.frameLog().split('\n').slice(-25).join('\n')}`;
    }
    throw annotate(err, `${text}\n--- pages ---\n${pageLog}\n--- server ---\n${server?.output.slice(-3000)}`);
  }
}

// Uncaught exceptions in a Converse page since `since` (an index into its error list).
function assertNoPageErrors(c, since = 0) {
  assert.deepEqual(c.watch.errors.slice(since).map((e) => String(e.message ?? e)), [],
    `uncaught exceptions in ${c.name}'s Converse`);
}

let alice;
let alicePhone; // alice's other device: a MucSub client that never joins
let carol;
let dave;

test('Converse.js 14 as a stock MUC client of MucSub rooms', async (t) => {
  await t.test('a MucSub subscriber opens the room in Converse: no nickname prompt, it joins with its subscription nick (S21)', () => step(async () => {
    alicePhone = await RawClient.open(await browser.newContext(DESKTOP), server, { user: 'alice', resource: 'phone' });
    await alicePhone.subscribe(FOLLOWED, ALICE_NICK, ['messages']);
    alice = await openConverse('alice', [FOLLOWED]);
    const state = await alice.settledRoomState(FOLLOWED);
    assert.notEqual(state.state, 'nickname-required', 'Converse asks alice for a nickname although her subscription has one');
    assert.equal(state.state, 'entered', `alice is in the room: ${JSON.stringify(state)}`);
    await alice.waitForOccupant(FOLLOWED, ALICE_NICK);
    assertNoPageErrors(alice);
  }, { page: () => alice, wire: () => alice?.iqExchanges(/x-roomuser-item/) ?? [] }));

  await t.test('someone without a subscription is asked for a nickname, and joins with the one typed', () => step(async () => {
    carol = await openConverse('carol', [FOLLOWED]);
    assert.equal((await carol.settledRoomState(FOLLOWED)).state, 'nickname-required');
    await carol.submitNickname(FOLLOWED, 'carol');
    assert.deepEqual(await carol.settledRoomState(FOLLOWED), { state: 'entered' });
  }, { page: () => carol, wire: () => carol?.iqExchanges(/x-roomuser-item/) ?? [] }));

  await t.test("joining a room another account made by subscribing is not announced as a new room (S22)", () => step(async () => {
    // Converse says so on status 201, which is for the room's creator only (XEP-0045 §10.1).
    const info = await carol.infoLines(FOLLOWED);
    assert.ok(!info.includes('A new groupchat has been created'), `carol is told she created bob's room: ${JSON.stringify(info)}`);
    // Told so, Converse also submits the instant-room form, is refused (not the owner) and
    // throws the refusal uncaught.
    assertNoPageErrors(carol);
  }, { page: () => carol, wire: () => carol?.framesMatching(/status code='201'/) ?? [] }));

  await t.test("a subscriber's post, made without joining, shows in Converse live (S14)", () => step(async () => {
    const errors = carol.watch.errors.length;
    await bob.post(FOLLOWED, LIVE);
    await carol.waitForMessage(FOLLOWED, LIVE);
    const shown = (await carol.messages(FOLLOWED)).filter((m) => m.text === LIVE);
    assert.equal(shown.length, 1, `shown once: ${JSON.stringify(shown)}`);
    assert.equal(shown[0].nick, 'bob', 'from bob\'s subscription nick');
    assert.equal(shown[0].author, 'bob');
    assert.equal(shown[0].delayed, false, 'live, not history');
    assertNoPageErrors(carol, errors);
  }, { page: () => carol }));

  await t.test('what Converse posts reaches the subscriber as a MucSub event with the stanza-id (S10, S18)', () => step(async () => {
    const errors = carol.watch.errors.length;
    await carol.post(FOLLOWED, REPLY);
    const ev = await bob.waitForEvent(REPLY);
    assert.equal(ev.room, FOLLOWED);
    assert.equal(ev.outerType, null, 'the wrapper message has no type');
    assert.equal(ev.node, NODE_MESSAGES);
    assert.equal(ev.from, `${FOLLOWED}/carol`);
    assert.equal(ev.type, 'groupchat');
    assert.ok(ev.stanzaId, 'the inner message carries the room\'s stanza-id');
    assert.equal(ev.stanzaIdBy, FOLLOWED);
    assert.equal(ev.itemId, ev.stanzaId, 'item id = stanza-id');
    assert.equal(ev.outerId, ev.stanzaId, 'wrapper id = stanza-id');
    await carol.waitForMessage(FOLLOWED, REPLY);
    const own = (await carol.messages(FOLLOWED)).filter((m) => m.text === REPLY);
    assert.equal(own.length, 1, `Converse shows its own message once (the room's echo matched it): ${JSON.stringify(own)}`);
    assert.ok(own[0].me);
    assertNoPageErrors(carol, errors);
  }, { page: () => carol }));

  await t.test("beside Converse sitting in the room, the account's phone keeps the MucSub feed; subscription notices leave Converse alone (S11, S20)", () => step(async () => {
    const errors = alice.watch.errors.length;
    const body = BOTH;
    await bob.post(FOLLOWED, body);
    // Converse, joined, shows it once, from the room; the phone, not joined, gets it wrapped.
    await alice.waitForMessage(FOLLOWED, body);
    assert.equal((await alice.messages(FOLLOWED)).filter((m) => m.text === body).length, 1);
    const ev = await alicePhone.waitForEvent(body);
    assert.equal(ev.node, NODE_MESSAGES);
    assert.equal((await alicePhone.events()).filter((e) => e.body === body).length, 1, 'the phone gets it once');
    // A MucSub wrapper is an event on one of the room's nodes; the account's own PEP
    // notifications (Converse publishes its OMEMO devices, X14) are pubsub events too.
    assert.ok(!alice.framesMatching(/<items node=["']urn:xmpp:mucsub:nodes:/, '<').length,
      'no MucSub wrapper reaches the joined Converse');
    // The phone changes alice's subscription: every resource of hers hears of it, Converse
    // included, which has nothing to show for it (a headline without a body).
    const from = alice.frames.length;
    await alicePhone.subscribe(FOLLOWED, ALICE_NICK, ['messages', 'subject']);
    await alice.waitForFrame(from, (dir, text) => dir === '<' && /type=["']headline["']/.test(text) && text.includes('urn:xmpp:mucsub:0'));
    assert.equal(await alice.page.locator('converse-headlines').count(), 0, 'no headlines feed opened');
    assert.equal((await alice.settledRoomState(FOLLOWED)).state, 'entered');
    assertNoPageErrors(alice, errors);
  }, { page: () => alice }));

  await t.test('after a reload Converse shows what was posted meanwhile, from the room archive (MAM)', () => step(async () => {
    // carol leaves the page (Converse's code and socket gone, its browser storage kept) and
    // comes back: a reload with a gap in which bob posts.
    const errors = carol.watch.errors.length;
    const url = carol.page.url();
    await carol.page.goto('about:blank');
    for (const body of AWAY) await bob.post(FOLLOWED, body);
    // bob's own subscription brings his posts back once they are archived.
    for (const body of AWAY) await bob.waitForEvent(body);
    const sentBefore = carol.frames.length;
    await carol.load(url);
    assert.deepEqual(await carol.settledRoomState(FOLLOWED), { state: 'entered' }, 'Converse rejoins with the nick it kept');
    await carol.waitForMessage(FOLLOWED, AWAY[1]);
    const texts = (await carol.messages(FOLLOWED)).map((m) => m.text);
    assert.deepEqual(texts, [LIVE, REPLY, BOTH, ...AWAY], 'every message once, in order');
    const mamQueries = carol.frames.slice(sentBefore)
      .filter(([dir, , text]) => dir === '>' && text.includes('urn:xmpp:mam:2') && text.includes(`to="${FOLLOWED}"`));
    assert.ok(mamQueries.length > 0, 'Converse asked the room\'s archive');
    assertNoPageErrors(carol, errors);
  }, { page: () => carol }));

  await t.test('a room created in Converse is not moderated: nobody is told to request permission to write', () => step(async () => {
    dave = await openConverse('dave', [CREATED]);
    assert.equal((await dave.settledRoomState(CREATED)).state, 'nickname-required');
    await dave.submitNickname(CREATED, 'dave');
    assert.deepEqual(await dave.settledRoomState(CREATED), { state: 'entered' });
    const features = await dave.detailsFeatures(CREATED);
    assert.ok(!features.some((f) => /request permission to write/.test(f)),
      `Converse's room details: ${JSON.stringify(features)}`);
    assert.ok(features.some((f) => /^Not moderated/.test(f)), `listed as not moderated: ${JSON.stringify(features)}`);
    assertNoPageErrors(dave);
  }, { page: () => dave, wire: () => dave?.iqExchanges(new RegExp(`to="${CREATED}".*disco#info`)) ?? [] }));

  await t.test('the owner opens the room configuration in Converse, changes it and saves', () => step(async () => {
    const name = `Planning ${tag}`;
    const description = 'configured in Converse';
    await dave.openConfig(CREATED);
    const fields = Object.fromEntries((await dave.configFields()).map((f) => [f.name, f.value]));
    assert.equal(fields.FORM_TYPE, 'http://jabber.org/protocol/muc#roomconfig');
    assert.ok('muc#roomconfig_roomname' in fields && 'muc#roomconfig_roomdesc' in fields, JSON.stringify(fields));
    await dave.setConfigField('muc#roomconfig_roomname', name);
    await dave.setConfigField('muc#roomconfig_roomdesc', description);
    await dave.saveConfig();
    // Converse reads the room's disco#info again after saving and shows the new name.
    await dave.waitForTitle(CREATED, name);
    const info = await bob.discoInfo(CREATED);
    assert.equal(info.identities[0]?.name, name, 'the room\'s disco#info has the new name');
    assert.equal(info.fields['muc#roominfo_description'], description);
    // Opening the form again shows what the server now holds.
    await dave.openConfig(CREATED);
    const again = Object.fromEntries((await dave.configFields()).map((f) => [f.name, f.value]));
    assert.equal(again['muc#roomconfig_roomname'], name);
    assert.equal(again['muc#roomconfig_roomdesc'], description);
    await dave.closeModal('converse-muc-config-modal');
    assertNoPageErrors(dave);
  }, { page: () => dave }));
});
