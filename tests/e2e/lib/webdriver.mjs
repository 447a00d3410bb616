// Firefox ESR (geckodriver) and WebKitGTK (WebKitWebDriver + MiniBrowser) through WebDriver
// classic, with the selenium-webdriver client, behind the part of Playwright's Browser /
// BrowserContext / Page API the engine-neutral tests use (browser.mjs picks this or
// Playwright's Chromium). Why classic WebDriver: it is the one protocol all three engines'
// drivers speak here (WebKitWebDriver 2.50 refuses `webSocketUrl`, i.e. BiDi), and Playwright
// can only drive its own patched Firefox and WebKit builds, which cannot be downloaded here.
//
// A context is one driver process with one session (geckodriver and WebKitWebDriver serve one
// session each), so two contexts share no cookies or storage, like Playwright's. A page is a
// window of that session; the commands of a session run one at a time, each after switching
// to its page's window. Element actions are WebDriver's own (real clicks and key input);
// reads and waits are scripts, polled like Playwright's auto-waiting.
//
// What WebDriver classic cannot give: a page's console and uncaught errors as events, so each
// script this adapter runs also installs (once per document) a recorder of console lines,
// `error` and `unhandledrejection`, and brings back what it recorded; what a document logs
// after the last command before it unloads is not seen. Device emulation is the window size
// only (no touch, no device pixel ratio).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { WebDriver, Capabilities, By, Key } from 'selenium-webdriver';
import { Executor, HttpClient } from 'selenium-webdriver/http/index.js';
import { freePort } from './server.mjs';
import { repoRoot } from './paths.mjs';

const GECKODRIVER = process.env.GECKODRIVER ?? 'geckodriver';
const WEBKITDRIVER = process.env.WEBKITWEBDRIVER ?? 'WebKitWebDriver';
// Debian's MiniBrowser; WebKitWebDriver starts it with --automation.
const MINIBROWSER = process.env.MINIBROWSER_PATH ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
const POLL_MS = 50;
const DEFAULT_WAIT = 30_000;
const SCRIPT_TIMEOUT = 10 * 60_000;

// The session's capabilities per engine. Firefox: headless, with the options the wasm tests'
// runner uses (webdriver.json: Debian's binary, no update or telemetry traffic; geckodriver
// adds its recommended automation prefs). WebKitGTK: MiniBrowser, with the Storage API
// (`navigator.storage`, off by default in WebKitGTK, on in Safari) so the SDK's persist()
// request runs as it does on an iPhone.
function capabilities(engine) {
  if (engine === 'firefox') {
    const fromJson = JSON.parse(readFileSync(join(repoRoot, 'webdriver.json'), 'utf8'))['moz:firefoxOptions'] ?? {};
    return new Capabilities({
      browserName: 'firefox',
      'moz:firefoxOptions': { ...fromJson, binary: process.env.FIREFOX_PATH ?? fromJson.binary, args: ['-headless'] },
    });
  }
  if (engine === 'webkit') {
    return new Capabilities({
      'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation', '--features=+StorageAPI'] },
    });
  }
  throw new Error(`no WebDriver engine '${engine}' (firefox or webkit)`);
}

// Driver processes (and Xvfb servers) still running: stopped when Node exits, even after a
// crash that skipped the tests' `after` hooks.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGTERM');
});

// A driver binary on a free loopback port, until stop(). WebKit's MiniBrowser needs an X
// display: without DISPLAY (the suite scripts, the benchmark) each browser launch starts
// its own Xvfb.
class DriverProcess {
  static async start(engine, display) {
    const port = await freePort();
    const [bin, args] = engine === 'firefox'
      ? [GECKODRIVER, ['--port', String(port), '--host', '127.0.0.1']]
      : [WEBKITDRIVER, [`--port=${port}`]];
    const env = { ...process.env, ...(display ? { DISPLAY: display } : {}) };
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    running.add(child);
    child.on('exit', () => running.delete(child));
    const proc = new DriverProcess(child, `http://127.0.0.1:${port}`);
    const failed = new Promise((_, reject) => {
      child.on('error', (e) => reject(new Error(`${bin}: ${e.message} (scripts/bootstrap.sh installs it)`)));
      child.on('exit', (code) => reject(new Error(`${bin} exited (${code}):\n${proc.output}`)));
    });
    failed.catch(() => {});
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const ready = await fetch(`${proc.url}/status`).then((r) => r.ok, () => false);
      if (ready) return proc;
      await Promise.race([failed, new Promise((r) => setTimeout(r, 50))]);
    }
    proc.stop();
    throw new Error(`${bin} did not answer on ${proc.url}:\n${proc.output}`);
  }

  constructor(child, url) {
    this.child = child;
    this.url = url;
    this.output = '';
    const keep = (chunk) => {
      this.output = (this.output + chunk).slice(-20_000);
    };
    child.stdout.setEncoding('utf8').on('data', keep);
    child.stderr.setEncoding('utf8').on('data', keep);
  }

  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

// An Xvfb on a display it picks itself (-displayfd), for a WebKit run without DISPLAY.
async function startXvfb() {
  const child = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.on('exit', () => running.delete(child));
  const display = await new Promise((resolve, reject) => {
    let text = '';
    child.on('error', (e) => reject(new Error(`Xvfb: ${e.message} (apt-get install xvfb)`)));
    child.on('exit', (code) => reject(new Error(`Xvfb exited (${code})`)));
    child.stdio[3].setEncoding('utf8').on('data', (d) => {
      text += d;
      if (text.includes('\n')) resolve(`:${text.trim()}`);
    });
  });
  return { display, stop: () => child.kill('SIGTERM') };
}

// The recorder each script installs in a new document, and what it brings back.
const RECORDER = `
  if (!window.__e2eRec) {
    const rec = window.__e2eRec = { lines: [] };
    const push = (type, text) => rec.lines.push({ type, text: String(text) });
    for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
      const orig = console[level].bind(console);
      console[level] = (...args) => { push('console.' + level, args.map(String).join(' ')); orig(...args); };
    }
    const text = (err, fallback) => (err instanceof Error ? err.message + '\\n' + err.stack : String(err ?? fallback));
    window.addEventListener('error', (e) => push('pageerror', text(e.error, e.message)));
    window.addEventListener('unhandledrejection', (e) => push('pageerror', text(e.reason)));
  }
  const __drain = () => window.__e2eRec.lines.splice(0);
`;

// `fn` (a function or its source) is called in the page with `arg`; its result, awaited,
// comes back with the recorder's lines. Errors thrown in the page come back as text.
const CALL = `${RECORDER}
  const [src, arg, done] = arguments;
  Promise.resolve()
    .then(() => (0, eval)('(' + src + ')')(arg))
    .then((value) => done({ value: value === undefined ? null : value, lines: __drain() }),
      (e) => done({ error: String(e && e.stack ? e.message + '\\n' + e.stack : e), lines: __drain() }));
`;

export class WebDriverBrowser {
  static async launch(engine) {
    const xvfb = engine === 'webkit' && !process.env.DISPLAY ? await startXvfb() : null;
    return new WebDriverBrowser(engine, xvfb);
  }

  constructor(engine, xvfb) {
    this.engine = engine;
    this.xvfb = xvfb;
    this.contexts = new Set();
  }

  async newContext(device = {}) {
    const proc = await DriverProcess.start(this.engine, this.xvfb?.display);
    let driver;
    try {
      driver = await WebDriver.createSession(new Executor(new HttpClient(proc.url)), capabilities(this.engine));
      await driver.manage().setTimeouts({ script: SCRIPT_TIMEOUT, pageLoad: 120_000, implicit: 0 });
      if (device.viewport) await driver.manage().window().setRect(device.viewport);
    } catch (e) {
      await proc.stop();
      throw new Error(`${this.engine}: no WebDriver session: ${e.message}\n${proc.output}`);
    }
    const ctx = new WebDriverContext(this, proc, driver);
    this.contexts.add(ctx);
    return ctx;
  }

  async close() {
    for (const ctx of [...this.contexts]) await ctx.close();
    this.xvfb?.stop();
  }
}

class WebDriverContext {
  constructor(browser, proc, driver) {
    this.browser = browser;
    this.proc = proc;
    this.driver = driver;
    this.queue = Promise.resolve();
    this.current = null; // the window commands go to
    this.spare = null; // the session's window no page holds (a session keeps one open)
    this.pages = new Set();
    this.closed = false;
  }

  // Runs `fn(driver)` alone on this session, with `handle`'s window current.
  run(handle, fn) {
    const next = this.queue.then(async () => {
      if (this.closed) throw new Error('the browser context is closed');
      if (handle && this.current !== handle) {
        await this.driver.switchTo().window(handle);
        this.current = handle;
      }
      return fn(this.driver);
    });
    this.queue = next.catch(() => {});
    return next;
  }

  async newPage() {
    const handle = await this.run(null, async (d) => {
      if (this.pages.size === 0 && !this.spare) {
        this.spare = await d.getWindowHandle();
      }
      let h;
      if (this.spare) {
        h = this.spare;
        this.spare = null;
        await d.switchTo().window(h);
      } else {
        await d.switchTo().newWindow('window');
        h = await d.getWindowHandle();
      }
      this.current = h;
      return h;
    });
    const page = new WebDriverPage(this, handle);
    this.pages.add(page);
    return page;
  }

  async close() {
    if (this.closed) return;
    try {
      await this.run(null, (d) => d.quit());
    } catch {
      // The browser may already be gone; the driver process is stopped below.
    }
    this.closed = true;
    this.browser.contexts.delete(this);
    await this.proc.stop();
  }
}

// A visible element: laid out, not `visibility: hidden`, not inside `hidden`.
const VISIBLE = `(el) => !!el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden'`;

class WebDriverPage {
  constructor(context, handle) {
    this.context = context;
    this.handle = handle;
    this.listeners = { console: [], pageerror: [] };
    this.isClosed = false;
  }

  on(event, cb) {
    if (!this.listeners[event]) throw new Error(`page.on('${event}') is not available over WebDriver`);
    this.listeners[event].push(cb);
    return this;
  }

  emit(lines) {
    for (const { type, text } of lines ?? []) {
      if (type === 'pageerror') {
        const err = new Error(text.split('\n')[0]);
        err.stack = text;
        for (const cb of this.listeners.pageerror) cb(err);
      } else {
        const msg = { type: () => type.slice('console.'.length), text: () => text };
        for (const cb of this.listeners.console) cb(msg);
      }
    }
  }

  cmd(fn) {
    if (this.isClosed) return Promise.reject(new Error('the page is closed'));
    return this.context.run(this.handle, fn);
  }

  // --- navigation ---
  async goto(url) {
    await this.cmd((d) => d.get(url));
    return null; // WebDriver does not report the response; tests check status over HTTP
  }

  // The page reloads itself (location.reload(), as a person's reload does): geckodriver's
  // Refresh command bypasses the service worker, which the offline reload relies on. Done
  // when a new document has loaded (the old one carried a mark).
  async reload({ timeout = DEFAULT_WAIT } = {}) {
    await this.evaluate(() => {
      window.__e2eOld = true;
      setTimeout(() => location.reload(), 0);
    });
    await this.waitForFunction(() => !window.__e2eOld && document.readyState === 'complete', null, { timeout });
  }

  // Closes the window, as a person closes a tab: the document is destroyed, not kept in the
  // back/forward cache as it would be by navigating away. A session ends with its last
  // window, so a blank one is opened first when this is the last (and kept as the spare).
  async close() {
    if (this.isClosed) return;
    await this.cmd(async (d) => {
      const handles = await d.getAllWindowHandles();
      if (handles.length === 1) {
        await d.switchTo().newWindow('window');
        this.context.spare = await d.getWindowHandle();
        await d.switchTo().window(this.handle);
      }
      await d.close();
      this.context.current = null;
    });
    this.isClosed = true;
    this.context.pages.delete(this);
  }

  // --- scripts ---
  // Playwright's page.evaluate: `fn` runs in the page with `arg` (JSON), its result awaited.
  async evaluate(fn, arg) {
    // A function, or (inside this file) a function's source text.
    const src = typeof fn === 'function' ? fn.toString() : fn;
    const res = await this.cmd((d) => d.executeAsyncScript(CALL, src, arg === undefined ? null : arg));
    this.emit(res?.lines);
    if (res?.error !== undefined) throw new Error(`in the page: ${res.error}`);
    return res?.value;
  }

  // Polls `fn(arg)` until it returns something truthy (also across navigations: a document
  // that is unloading answers with an error, which is retried).
  async waitForFunction(fn, arg, { timeout = DEFAULT_WAIT } = {}) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
      try {
        const v = await this.evaluate(fn, arg);
        if (v) return v;
        last = null;
      } catch (e) {
        if (this.isClosed || this.context.closed) throw e;
        last = e;
      }
      if (Date.now() > deadline) {
        throw new Error(`waitForFunction timed out after ${timeout} ms: ${fn}${last ? `\n(last error: ${last.message})` : ''}`);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  // state: 'visible' (default), 'attached', 'hidden' (absent or not visible), 'detached'.
  async waitForSelector(selector, { state = 'visible', timeout = DEFAULT_WAIT } = {}) {
    try {
      await this.waitForFunction(`({ selector, state }) => {
        const el = document.querySelector(selector);
        if (state === 'attached') return !!el;
        if (state === 'detached') return !el;
        const visible = (${VISIBLE})(el);
        return state === 'hidden' ? !visible : visible;
      }`, { selector, state }, { timeout });
    } catch (e) {
      e.message = `waiting for ${selector} to be ${state}: ${e.message.split('\n')[0]}`;
      throw e;
    }
  }

  // Runs `fn(el, arg)` on the first match of `selector`, waiting for it to exist.
  async onElement(selector, fn, arg) {
    await this.waitForSelector(selector, { state: 'attached' });
    return this.$eval(selector, fn, arg);
  }

  async $eval(selector, fn, arg) {
    return this.evaluate(`async ({ selector, src, arg }) => {
      const el = document.querySelector(selector);
      if (!el) throw new Error('no element matches ' + selector);
      return (0, eval)('(' + src + ')')(el, arg);
    }`, { selector, src: fn.toString(), arg: arg ?? null });
  }

  async $$eval(selector, fn, arg) {
    return this.evaluate(`async ({ selector, src, arg }) =>
      (0, eval)('(' + src + ')')([...document.querySelectorAll(selector)], arg)`,
    { selector, src: fn.toString(), arg: arg ?? null });
  }

  getAttribute(selector, name) {
    return this.onElement(selector, (el, n) => el.getAttribute(n), name);
  }

  textContent(selector) {
    return this.onElement(selector, (el) => el.textContent);
  }

  inputValue(selector) {
    return this.onElement(selector, (el) => el.value);
  }

  isVisible(selector) {
    return this.evaluate(`(selector) => (${VISIBLE})(document.querySelector(selector))`, selector);
  }

  // --- input, as WebDriver's own element actions ---
  // `action(el)` on the visible element `selector`. The app re-renders lists while the SDK
  // resyncs, so the element found can be replaced before the action reaches it (a stale
  // element): it is then looked up again, as Playwright's locators do.
  async withElement(selector, action, { timeout = DEFAULT_WAIT } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
      await this.waitForSelector(selector, { timeout: Math.max(1, deadline - Date.now()) });
      try {
        return await this.cmd(async (d) => action(await d.findElement(By.css(selector))));
      } catch (e) {
        const stale = e?.name === 'StaleElementReferenceError' || e?.name === 'NoSuchElementError'
          || /not found|stale/i.test(e?.message ?? '');
        if (!stale || Date.now() > deadline) throw e;
      }
    }
  }

  click(selector) {
    return this.withElement(selector, (el) => el.click());
  }

  fill(selector, value) {
    return this.withElement(selector, async (el) => {
      await el.clear();
      if (value !== '') await el.sendKeys(value);
    });
  }

  // As Playwright's selectOption does: select the option with that value, then fire
  // `input` and `change` (WebDriver classic has no select command; clicking an <option>
  // differs between drivers).
  async selectOption(selector, value) {
    await this.waitForSelector(selector);
    return this.$eval(selector, (el, v) => {
      if (![...el.options].some((o) => o.value === v)) throw new Error(`no option ${v}`);
      el.value = v;
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
      return [el.value];
    }, value);
  }

  press(selector, key) {
    const keys = { Enter: Key.ENTER, Escape: Key.ESCAPE, Tab: Key.TAB };
    if (!keys[key]) throw new Error(`press('${key}') is not mapped`);
    return this.withElement(selector, (el) => el.sendKeys(keys[key]));
  }

  async screenshot({ path }) {
    const png = await this.cmd((d) => d.takeScreenshot());
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, Buffer.from(png, 'base64'));
  }
}
