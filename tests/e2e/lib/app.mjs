// The demo app as a person uses it, through its visible controls.

// Generous upper bounds so a stuck step fails instead of hanging; never speed assertions.
export const WAIT = 60_000;

export async function waitReady(page) {
  await page.waitForSelector('body[data-ready]', { timeout: WAIT });
  const ready = await page.getAttribute('body', 'data-ready');
  if (ready !== '1') throw new Error(`the app failed to start: ${await page.textContent('#boot')}`);
}

export async function signIn(page, { jid, password, url }) {
  await waitReady(page);
  await page.waitForSelector('#signin-form', { timeout: WAIT });
  if (url) await page.fill('#signin-form input[name=url]', url);
  await page.fill('#signin-form input[name=jid]', jid);
  await page.fill('#signin-form input[name=password]', password);
  await page.click('#signin-submit');
  await page.waitForSelector('#room-list', { timeout: WAIT });
  await waitOnline(page);
}

export async function waitOnline(page) {
  await page.waitForSelector('body[data-conn=online]', { timeout: WAIT });
}

// Subscribes to `room` (a bare JID) through the "Join" form, or "New", which makes the
// room with us as its owner.
export async function subscribe(page, room, nick, { create = false } = {}) {
  await page.click(create ? '#show-create' : '#show-subscribe');
  const form = create ? '#create-form' : '#subscribe-form';
  // "New" takes a bare name and puts the room on the account's MUC service.
  await page.fill(`${form} input[name=room]`, create ? room.split('@')[0] : room);
  await page.fill(`${form} input[name=nick]`, nick);
  await page.click(`${form} button[type=submit]`);
  await page.waitForSelector(`.room-view[data-room="${room}"]`, { timeout: WAIT });
}

export async function post(page, body) {
  await page.fill('#composer-input', body);
  await page.press('#composer-input', 'Enter');
}

// Message bodies in the open room, in screen order, pending sends excluded.
export async function bodies(page) {
  return page.$$eval('#messages li.msg:not([data-pending])', (els) =>
    els.map((el) => el.querySelector('.body').textContent));
}

export async function messages(page) {
  return page.$$eval('#messages li.msg:not([data-pending])', (els) => els.map((el) => ({
    body: el.querySelector('.body').textContent,
    source: el.dataset.source,
    stanzaId: el.dataset.stanzaId,
  })));
}

export async function waitForBodyCount(page, n) {
  await page.waitForFunction((count) =>
    document.querySelectorAll('#messages li.msg:not([data-pending])').length >= count, n, { timeout: WAIT });
}

// Scrolls the room to its very beginning, page by page, as a person flicking up would.
export async function scrollToBeginning(page) {
  for (let i = 0; i < 50; i++) {
    const done = await page.$eval('#older', (el) => el.textContent.includes('beginning'));
    if (done) {
      // Events of one millisecond are put in the room's order just after (views/ties.js).
      await page.waitForFunction(() => !document.getElementById('messages').dataset.settling, null, { timeout: WAIT });
      return;
    }
    await page.$eval('#messages', (el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); });
    await page.waitForFunction(() => !document.getElementById('older').textContent.includes('Loading'),
      null, { timeout: WAIT });
  }
  throw new Error('the room never reached its beginning');
}

// The unread badge of a room in the room list (0 when no badge).
export async function unreadOf(page, room) {
  return Number(await page.getAttribute(`.room-item[data-room="${room}"]`, 'data-unread'));
}
