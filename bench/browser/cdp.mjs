// Headless Chromium driven over `--remote-debugging-pipe` by the few DevTools commands the
// browser benchmark needs, and no more. Why not Playwright, which the tests use: Playwright
// enables DevTools' Network domain on every page, and with it the renderer turns every
// WebSocket frame into a DevTools event that the browser forwards to Node. That doubled the
// resync it measured (2.9–3.3 s against 1.4–1.6 s with the debugger attached but the domain
// off; BENCHMARKS.md, "Fifth pass"). A phone has no debugger attached, so the benchmark
// measures without one; `enableNetwork()` puts the cost back for the comparison row.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromiumArgs, chromiumPath } from '../../tests/e2e/lib/paths.mjs';

// The switches Playwright gets (tests/e2e/lib/browser.mjs), plus headless and the pipe.
const ARGS = ['--headless', ...chromiumArgs, '--no-default-browser-check', '--remote-debugging-pipe'];

export async function launchPipeBrowser({ log = () => {} } = {}) {
  // An on-disk profile, as a user's browser has (Playwright's contexts keep IndexedDB in
  // memory).
  const profile = await mkdtemp(join(tmpdir(), 'mucsub-bench-profile-'));
  const chrome = spawn(chromiumPath, [...ARGS, `--user-data-dir=${profile}`, 'about:blank'],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  // 'error' instead of 'exit' when the binary cannot be started at all.
  const exited = new Promise((r) => {
    chrome.once('exit', r);
    chrome.once('error', (e) => {
      log(`[bench] cannot start ${chromiumPath}: ${e.message}`);
      r();
    });
  });
  chrome.stderr.on('data', () => {}); // Chromium's own chatter; a full pipe would stall it.
  const toChrome = chrome.stdio[3];
  const fromChrome = chrome.stdio[4];
  // A dead browser shows as `exited` below, which fails every pending call.
  toChrome.on('error', () => {});
  fromChrome.on('error', () => {});
  let nextId = 1;
  const calls = new Map();
  const listeners = new Map(); // sessionId -> (method, params) => void
  let buf = '';
  fromChrome.setEncoding('utf8');
  fromChrome.on('data', (chunk) => {
    buf += chunk;
    for (let end = buf.indexOf('\0'); end >= 0; end = buf.indexOf('\0')) {
      const msg = JSON.parse(buf.slice(0, end));
      buf = buf.slice(end + 1);
      if (msg.id !== undefined) {
        const c = calls.get(msg.id);
        calls.delete(msg.id);
        if (msg.error) c?.reject(new Error(`${c.method}: ${msg.error.message}`));
        else c?.resolve(msg.result);
      } else {
        listeners.get(msg.sessionId)?.(msg.method, msg.params);
      }
    }
  });
  let dead = false;
  exited.then(() => {
    dead = true;
    for (const c of calls.values()) c.reject(new Error(`Chromium exited during ${c.method}`));
    calls.clear();
  });
  const send = (method, params = {}, sessionId = undefined) => new Promise((resolve, reject) => {
    if (dead) {
      reject(new Error(`Chromium has exited (${method})`));
      return;
    }
    const id = nextId++;
    calls.set(id, { resolve, reject, method });
    toChrome.write(`${JSON.stringify({ id, method, params, sessionId })}\0`);
  });
  try {
    await send('Browser.getVersion');
  } catch (e) {
    chrome.kill('SIGKILL');
    await rm(profile, { recursive: true, force: true });
    throw e;
  }

  async function newPage(url, name = 'page') {
    const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
    const cmd = (method, params) => send(method, params, sessionId);
    const handlers = new Map(); // DevTools event name -> callbacks (page.on)
    // Runtime only, for the page's console and uncaught errors: it costs nothing per frame.
    listeners.set(sessionId, (method, params) => {
      for (const h of handlers.get(method) ?? []) h(params);
      if (method === 'Runtime.consoleAPICalled' && params.type !== 'log') {
        const text = params.args.map((a) => a.value ?? a.description ?? '').join(' ');
        log(`[${name} console.${params.type}] ${text}`);
      } else if (method === 'Runtime.exceptionThrown') {
        log(`[${name} error] ${params.exceptionDetails.exception?.description ?? params.exceptionDetails.text}`);
      }
    });
    await cmd('Runtime.enable');
    await cmd('Page.navigate', { url });
    const page = {
      cmd,
      on(method, h) {
        handlers.set(method, [...(handlers.get(method) ?? []), h]);
      },
      // Playwright's page.evaluate(fn, arg): `fn` runs in the page, its promise awaited,
      // its result returned as JSON.
      async evaluate(fn, arg) {
        const { result, exceptionDetails } = await cmd('Runtime.evaluate', {
          expression: `(${fn.toString()})(${arg === undefined ? '' : JSON.stringify(arg)})`,
          awaitPromise: true,
          returnByValue: true,
        });
        if (exceptionDetails) {
          throw new Error(exceptionDetails.exception?.description ?? exceptionDetails.text);
        }
        return result.value;
      },
      async waitFor(fn, timeoutMs = 60_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          try {
            if (await page.evaluate(fn)) return;
          } catch {
            // The document is still being replaced.
          }
          if (Date.now() > deadline) throw new Error(`${name}: timed out waiting for ${fn}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      enableNetwork: () => cmd('Network.enable'),
      async close() {
        listeners.delete(sessionId);
        await send('Target.closeTarget', { targetId });
      },
    };
    return page;
  }

  return {
    newPage,
    async close() {
      try {
        await send('Browser.close');
      } catch {
        // Already gone.
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      chrome.kill('SIGKILL');
      await rm(profile, { recursive: true, force: true });
    },
  };
}
