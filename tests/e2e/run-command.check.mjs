// Not in the default suite (tests/suites/e2e.sh runs *.test.mjs): it runs scripts/run.sh,
// which builds release artifacts. Run it with: node --test tests/e2e/run-command.check.mjs
// (MUCSUB_RUN_SCRIPT=path runs another script the same way, to check this check).
// The README's run command (scripts/run.sh) builds everything, starts the server and prints a
// URL; that page loads in headless Chromium and the printed demo credentials sign in.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './lib/server.mjs';
import { repoRoot } from './lib/paths.mjs';
import { launchBrowser, PHONE, watchPage, screenshot } from './lib/browser.mjs';
import { signIn, waitReady } from './lib/app.mjs';

// run.sh builds the release SDK and server first: minutes on a cold machine.
const BUILD_TIMEOUT = 40 * 60_000;

let child;
let dataDir;
let output = '';

after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    // run.sh ends by exec'ing the server; its process group also holds any build still running.
    process.kill(-child.pid, 'SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function waitFor(pattern, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`run.sh printed no ${pattern} in time`)), timeoutMs);
    const check = () => {
      const m = output.match(pattern);
      if (m) done(null, m);
    };
    const onExit = (code) => done(new Error(`run.sh exited (${code}) before printing ${pattern}`));
    function done(err, m) {
      clearTimeout(timer);
      child.stdout.off('data', check);
      child.stderr.off('data', check);
      child.off('exit', onExit);
      if (err) {
        err.message += `\n--- run.sh output ---\n${output.slice(-6000)}`;
        reject(err);
      } else {
        resolve(m);
      }
    }
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.on('exit', onExit);
    check();
  });
}

test('scripts/run.sh serves the app at the URL it prints, with working demo accounts', { timeout: BUILD_TIMEOUT + 120_000 }, async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mucsub-run-'));
  const http = `127.0.0.1:${await freePort()}`;
  const c2s = `127.0.0.1:${await freePort()}`;
  child = spawn('bash', [process.env.MUCSUB_RUN_SCRIPT ?? 'scripts/run.sh'], {
    cwd: repoRoot,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MUCSUB_HTTP: http, MUCSUB_C2S: c2s, MUCSUB_DATA: dataDir },
  });
  const keep = (chunk) => { output += chunk; };
  child.stdout.setEncoding('utf8').on('data', keep);
  child.stderr.setEncoding('utf8').on('data', keep);

  const [url] = await waitFor(new RegExp(`https?://${http.replace(/\./g, '\\.')}/?\\S*`), BUILD_TIMEOUT);
  const creds = output.match(/alice\s*\/\s*(\S+)/);
  assert.ok(creds, `run.sh prints the demo credentials:\n${output.slice(-3000)}`);

  const browser = await launchBrowser();
  try {
    const page = await (await browser.newContext(PHONE)).newPage();
    const watch = watchPage(page, 'run');
    // The URL is printed as the server binds; give it a moment to answer without asserting speed.
    let res;
    for (let i = 0; i < 100 && !res?.ok(); i++) {
      res = await page.goto(url).catch(() => null);
      if (!res?.ok()) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(res?.ok(), `${url} answers`);
    await waitReady(page);
    await signIn(page, { jid: 'alice@localhost', password: creds[1].replace(/[;,.]$/, '') });
    await screenshot(page, 'run-command-rooms');
    assert.deepEqual(watch.errors, [], watch.log.join('\n'));
  } finally {
    await browser.close();
  }
});
