// The served app loads in the browser (MUCSUB_BROWSER): the page, its modules and the wasm SDK start,
// the sign-in form defaults to the WebSocket endpoint on the same origin, and the demo
// credentials sign in — on a phone-sized and on a desktop-sized screen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appSuite } from './lib/app-suite.mjs';
import { PHONE, DESKTOP, watchPage, screenshot, annotate } from './lib/browser.mjs';
import { signIn, waitReady } from './lib/app.mjs';

const env = appSuite();

for (const [name, device] of [['phone', PHONE], ['desktop', DESKTOP]]) {
  test(`the app loads and signs in on a ${name} screen`, async () => {
    const context = await env.browser.newContext(device);
    const page = await context.newPage();
    const watch = watchPage(page, name);
    try {
      // The status from the server itself: WebDriver does not report a navigation's response.
      assert.equal((await fetch(env.server.httpUrl)).status, 200);
      await page.goto(env.server.httpUrl);
      await waitReady(page);
      assert.equal(await page.inputValue('#signin-form input[name=url]'), env.server.wsUrl);
      await screenshot(page, `${name}-signin`);
      await signIn(page, { jid: 'alice@localhost', password: 'pw' });
      assert.equal(await page.textContent('#account'), 'alice@localhost');
      await screenshot(page, `${name}-rooms`);
      assert.deepEqual(watch.errors, [], watch.log.join('\n'));
    } catch (err) {
      throw annotate(err, `\n--- page log ---\n${watch.log.join('\n')}\n--- server ---\n${env.server.output.slice(-4000)}`);
    } finally {
      await context.close();
    }
  });
}

test('a wrong password is refused on the sign-in form', async () => {
  const context = await env.browser.newContext(PHONE);
  const page = await context.newPage();
  try {
    await page.goto(env.server.httpUrl);
    await waitReady(page);
    await page.fill('#signin-form input[name=jid]', 'bob@localhost');
    await page.fill('#signin-form input[name=password]', 'not-the-password');
    await page.click('#signin-submit');
    await page.waitForFunction(() => document.getElementById('signin-error').textContent !== '', null, { timeout: 60_000 });
    assert.match(await page.textContent('#signin-error'), /password/i);
    assert.equal(await page.isVisible('#room-list'), false);
  } finally {
    await context.close();
  }
});
