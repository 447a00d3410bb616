// Node side of the SDK harness page (bench/browser/page/): a mucsub-server on loopback whose
// static directory holds the harness and a copy of an SDK package, and the page opened on
// it. Shared by the browser benchmark (run.mjs, trace.mjs: a browser driven over a pipe,
// cdp.mjs) and tests/e2e/reload-crash.test.mjs (Playwright); the server process comes from
// the e2e helpers (tests/e2e/lib/).
import { cp, mkdir, mkdtemp } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestServer } from '../../tests/e2e/lib/server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const pageDir = join(here, 'page');

// tmpfs when there is one: a backlog of thousands of messages is set-up, not what is
// measured, and the server fsyncs every message (docs/protocol.md S16).
function scratchRoot() {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

// Starts the server with the harness as its static site. `limits` and `muc` become the
// config's [limits] and [muc] tables (numbers only).
export async function startHarnessServer({ pkgDir, users = ['alice', 'bob'], limits = {}, muc = {} }) {
  if (!existsSync(join(pkgDir, 'mucsub.js')) || !existsSync(join(pkgDir, 'mucsub_bg.wasm'))) {
    throw new Error(`no SDK package in ${pkgDir} (mucsub.js + mucsub_bg.wasm)`);
  }
  const dataDir = await mkdtemp(join(scratchRoot(), 'mucsub-harness-'));
  const site = join(dataDir, 'site');
  await mkdir(site);
  await cp(pageDir, site, { recursive: true });
  await mkdir(join(site, 'pkg'));
  for (const f of ['mucsub.js', 'mucsub_bg.wasm']) await cp(join(pkgDir, f), join(site, 'pkg', f));
  const table = (name, values) => {
    const lines = Object.entries(values).map(([k, v]) => `${k} = ${Number(v)}`);
    return lines.length ? [`[${name}]`, ...lines] : [];
  };
  return TestServer.start({
    users: users.map((name) => [name, 'pw']),
    config: [...table('limits', limits), ...table('muc', muc)].join('\n'),
    staticDir: site,
    dataDir,
  });
}

// Opens the harness page in a Playwright `context` and waits for the wasm module.
export async function openHarness(context, server, query = '') {
  const page = await context.newPage();
  await page.goto(`${server.httpUrl}index.html${query}`);
  await page.waitForFunction(() => window.harness, null, { timeout: 60_000 });
  await page.evaluate(() => window.harness.ready);
  return page;
}

// The same in a browser from cdp.mjs (`name` labels the page's console output).
export async function openPipeHarness(browser, server, name) {
  const page = await browser.newPage(`${server.httpUrl}index.html`, name);
  await page.waitFor(() => !!window.harness);
  await page.evaluate(() => window.harness.ready);
  return page;
}

export async function disposeServer(server) {
  await server?.dispose();
}

export function repoPath(...parts) {
  return resolve(here, '..', '..', ...parts);
}
