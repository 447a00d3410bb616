// Debian's chromium driven by playwright-core (never `playwright install`: no downloads here).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { artifactsDir, chromiumArgs, chromiumPath } from './paths.mjs';

export async function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath,
    args: chromiumArgs,
  });
}

export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
export const DESKTOP = { viewport: { width: 1280, height: 800 } };

// Collects what a page logs and throws, for failure messages; `errors` holds uncaught
// exceptions, which fail the tests.
export function watchPage(page, name) {
  const log = [];
  const errors = [];
  page.on('console', (m) => log.push(`[${name} console.${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => { errors.push(e); log.push(`[${name} pageerror] ${e.stack ?? e}`); });
  return { log, errors };
}

export async function screenshot(page, name) {
  mkdirSync(artifactsDir, { recursive: true });
  const path = join(artifactsDir, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

// Adds what the pages and the server said to a failure; the test reporter prints the stack,
// which was fixed when the error was made, so both are extended.
export function annotate(err, text) {
  if (err && typeof err === 'object') {
    try {
      err.message += text;
      if (typeof err.stack === 'string') err.stack += text;
    } catch {
      // A frozen error keeps its own text.
    }
  }
  return err;
}
