// Which browser the tests drive: the one seam for it. MUCSUB_BROWSER=chromium (default):
// Debian's chromium through playwright-core (never `playwright install`: no downloads here);
// firefox: Debian's firefox-esr through geckodriver; webkit: WebKitGTK's MiniBrowser through
// WebKitWebDriver (both in webdriver.mjs, behind the same Browser/Context/Page calls).
// Tests that need Chromium's DevTools protocol (push delivery, CSI visibility) call
// launchChromium() instead; the README's browser table says which and why.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { artifactsDir, chromiumArgs, chromiumPath } from './paths.mjs';
import { WebDriverBrowser } from './webdriver.mjs';

export const ENGINES = ['chromium', 'firefox', 'webkit'];
export const engine = process.env.MUCSUB_BROWSER || 'chromium';
if (!ENGINES.includes(engine)) throw new Error(`MUCSUB_BROWSER=${engine}: one of ${ENGINES.join(', ')}`);

export async function launchBrowser() {
  return engine === 'chromium' ? launchChromium() : WebDriverBrowser.launch(engine);
}

export async function launchChromium() {
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
  const path = join(artifactsDir, engine === 'chromium' ? `${name}.png` : `${name}-${engine}.png`);
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
