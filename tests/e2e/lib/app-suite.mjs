// The fixture of the app's end-to-end files: a mucsub-server (TestServer.start options) and
// the MUCSUB_BROWSER browser (or the one `launch` starts, e.g. launchChromium for the files
// that need Chromium's DevTools protocol), with `relay: true` a Relay in front of the server
// (the phone's network), started before the file's tests and stopped after them; `logs`
// collects watchPage() records, `step` adds the pages' and the server's last lines to a
// failure, and `open` gives a watched page of a new context at the app.
import { before, after } from 'node:test';
import { TestServer } from './server.mjs';
import { launchBrowser, annotate, watchPage } from './browser.mjs';
import { Relay } from './relay.mjs';

export function appSuite(serverOptions = {}, { launch = launchBrowser, relay = false } = {}) {
  const env = { server: null, browser: null, relay: null, logs: [] };
  before(async () => {
    env.server = await TestServer.start(serverOptions);
    env.browser = await launch();
    if (relay) env.relay = await Relay.start(env.server.httpPort);
  });
  after(async () => {
    await env.browser?.close();
    await env.relay?.close();
    await env.server?.dispose();
  });
  env.step = async (fn) => {
    try {
      await fn();
    } catch (err) {
      throw annotate(err, `\n--- pages ---\n${env.logs.flatMap((l) => l.log).slice(-80).join('\n')}` +
        `\n--- server ---\n${env.server?.output.slice(-4000)}`);
    }
  };
  // A page of a new context (`device`: PHONE, DESKTOP), its log kept as `name`, at `url`
  // (the server's app by default).
  env.open = async (name, device = {}, url = env.server.httpUrl) => {
    const page = await (await env.browser.newContext(device)).newPage();
    env.logs.push(watchPage(page, name));
    await page.goto(url);
    return page;
  };
  return env;
}
