// The fixture of the app's end-to-end files: a mucsub-server (TestServer.start options) and
// the MUCSUB_BROWSER browser, started before the file's tests and stopped after them; `logs`
// collects watchPage() records, and `step` adds the pages' and the server's last lines to a
// failure.
import { before, after } from 'node:test';
import { TestServer } from './server.mjs';
import { launchBrowser, annotate } from './browser.mjs';

export function appSuite(serverOptions = {}) {
  const env = { server: null, browser: null, logs: [] };
  before(async () => {
    env.server = await TestServer.start(serverOptions);
    env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
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
  return env;
}
