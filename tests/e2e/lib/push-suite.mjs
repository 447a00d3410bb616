// The fixture the push tests share: a mucsub-server whose [push] table lets it deliver to the
// loopback push service (plain HTTP, short retries), that push service and a browser (the
// MUCSUB_BROWSER engine unless the file is Chromium-only), all
// started before the file's tests and stopped after them; and `step`, which annotates a
// failure with the pages' log (`pageLog()`, the test's own choice of lines), the pushes
// received and the server's output.
import { before, after } from 'node:test';
import { TestServer } from './server.mjs';
import { launchBrowser, launchChromium, annotate } from './browser.mjs';
import { PushService } from './push-service.mjs';

// The loopback push service speaks plain HTTP; the server refuses http:// endpoints unless told.
export const PUSH_CONFIG = '[push]\nallow_http_endpoints = true\nretry_base_ms = 10\nretry_max_ms = 100';

// `chromiumOnly`: the file needs Playwright's own calls (permissions, init scripts), so it
// runs in Chromium whatever MUCSUB_BROWSER says.
export function pushSuite(pageLog, { chromiumOnly = false } = {}) {
  const env = { server: null, svc: null, browser: null };
  before(async () => {
    env.server = await TestServer.start({ users: [['alice', 'pw'], ['bob', 'pw']], config: PUSH_CONFIG });
    env.svc = await PushService.start();
    env.browser = chromiumOnly ? await launchChromium() : await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
    await env.svc?.close();
    await env.server?.dispose();
  });
  env.step = async (fn) => {
    try {
      await fn();
    } catch (err) {
      throw annotate(err, `\n${pageLog()}` +
        `\n--- pushes ---\n${JSON.stringify(env.svc?.received)}\n--- server ---\n${env.server?.output.slice(-4000)}`);
    }
  };
  return env;
}
