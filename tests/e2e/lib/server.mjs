// Starts the real mucsub-server binary with a temporary data dir and a config file that
// binds both listeners to port 0 on loopback; the ports come from the lines the server prints
// ("http listening on http://ADDR/"). Accounts are made with `user add` like an operator would.
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { serverBin, wwwDist } from './paths.mjs';

const run = promisify(execFile);

export async function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

function tomlString(s) {
  return JSON.stringify(s); // a JSON string is a valid TOML basic string
}

export async function addUser(configPath, name, password) {
  await run(serverBin, ['user', '--config', configPath, 'add', name, '--password', password], { timeout: 60_000 });
}

export class TestServer {
  // `config`: more TOML appended to the generated file (tables such as `[push]`).
  // `staticDir`: the site the server serves (the demo app by default). `dataDir`: a directory
  // to use instead of a new one under the system's temp dir. `traceStanzas`: the server logs
  // every stanza a client sends (its c2s trace level) and `stanzasIn` keeps them, as
  // `{ jid, xml }`, out of `output`: what a page sent, seen by the server in any browser.
  static async start({
    users = [['alice', 'pw'], ['bob', 'pw']], config = '', staticDir = wwwDist, dataDir = null, traceStanzas = false,
  } = {}) {
    dataDir ??= await mkdtemp(join(tmpdir(), 'mucsub-e2e-'));
    const configPath = join(dataDir, 'config.toml');
    await writeFile(configPath, [
      `data_dir = ${tomlString(join(dataDir, 'data'))}`,
      '[listeners]',
      'c2s = "127.0.0.1:0"',
      'http = "127.0.0.1:0"',
      '[http]',
      `static_dir = ${tomlString(staticDir)}`,
      config,
      '',
    ].join('\n'));
    for (const [name, pw] of users) await addUser(configPath, name, pw);
    const server = new TestServer(dataDir, configPath, traceStanzas);
    await server.launch();
    return server;
  }

  constructor(dataDir, configPath, traceStanzas = false) {
    this.dataDir = dataDir;
    this.configPath = configPath;
    this.traceStanzas = traceStanzas;
    this.child = null;
    this.output = '';
    this.stanzasIn = [];
  }

  get httpUrl() { return `http://127.0.0.1:${this.httpPort}/`; }
  get wsUrl() { return `ws://127.0.0.1:${this.httpPort}/ws`; }

  async launch() {
    const level = process.env.RUST_LOG ?? 'info';
    const child = spawn(serverBin, ['run', '--config', this.configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: this.traceStanzas ? `${level},mucsub_server::c2s::session=trace` : level },
    });
    this.child = child;
    this.exited = new Promise((resolveExit) => child.on('exit', (code, signal) => resolveExit({ code, signal })));
    const append = (text) => {
      this.output += text;
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    };
    const keep = this.traceStanzas ? this.lineSplitter(append) : append;
    child.stdout.setEncoding('utf8').on('data', keep);
    child.stderr.setEncoding('utf8').on('data', keep);
    await this.waitHealthy();
  }

  // Whole lines to `append`, except the c2s "in" traces, which go to `stanzasIn`.
  lineSplitter(append) {
    let partial = '';
    return (chunk) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop();
      for (const line of lines) {
        const plain = line.replace(/\x1b\[[0-9;]*m/g, '');
        const m = plain.match(/TRACE .*c2s::session: in jid="?([^"\s]+)"? xml="(.*)"$/);
        if (m) this.stanzasIn.push({ jid: m[1], xml: m[2].replace(/\\"/g, '"') });
        else if (!/TRACE .*c2s::session: out /.test(plain)) append(`${line}\n`);
      }
    };
  }

  // Polls the HTTP listener until it answers; the server prints its URL once it is bound, but
  // asking it is what proves it serves.
  async waitHealthy(timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    let lastError;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) {
        throw new Error(`mucsub-server exited with ${this.child.exitCode}:\n${this.output}`);
      }
      const bound = this.output.match(/http listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (bound) this.httpPort = Number(bound[1]);
      try {
        if (!bound) throw new Error('the server has not printed its HTTP address yet');
        const res = await fetch(`http://127.0.0.1:${this.httpPort}/health`);
        if (res.ok) return;
        lastError = new Error(`/health answered ${res.status}`);
      } catch (err) {
        lastError = err;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`mucsub-server did not become healthy: ${lastError}\n${this.output}`);
  }

  // Starts the server again on the same data dir and the same ports, so that pages opened
  // on its origin (and their IndexedDB) find it again.
  async restart() {
    await this.stop();
    const c2s = this.output.match(/c2s listening on (127\.0\.0\.1:\d+)/)?.[1];
    if (!c2s || !this.httpPort) throw new Error(`no bound addresses in the server output:\n${this.output}`);
    const text = await readFile(this.configPath, 'utf8');
    await writeFile(this.configPath, text
      .replace(/^c2s = .*$/m, `c2s = "${c2s}"`)
      .replace(/^http = .*$/m, `http = "127.0.0.1:${this.httpPort}"`));
    this.output = '';
    await this.launch();
  }

  // SIGSTOP / SIGCONT: the server stops answering but its connections stay open, as a
  // connection a phone lost in its sleep looks from the phone (no FIN ever arrives).
  //
  // Resolves once every thread of the server is stopped. kill() only queues the signal: a
  // multi-threaded process stops when one of its threads takes the signal and stops the
  // others, and on a busy machine that thread may wait for a CPU while a runtime worker
  // already running goes on serving. A story run under load saw the server answer the
  // wake-up ping 2 ms after kill() had returned, so the page rightly stayed online.
  async pause() {
    this.child.kill('SIGSTOP');
    const tasks = `/proc/${this.child.pid}/task`;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const states = await Promise.all((await readdir(tasks)).map(async (tid) => {
        // "pid (comm) S ...": the state follows the last ')' (comm may hold spaces).
        const stat = await readFile(`${tasks}/${tid}/stat`, 'utf8').catch(() => ') X');
        return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      }));
      // T: stopped by a signal (X: a thread that exited meanwhile).
      if (states.every((s) => s === 'T' || s === 'X')) return;
      if (Date.now() > deadline) {
        throw new Error(`mucsub-server not stopped 10 s after SIGSTOP (thread states ${states.join('')})`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  resume() {
    this.child.kill('SIGCONT');
  }

  // SIGTERM (graceful shutdown closes the streams), SIGKILL if it hangs.
  async stop() {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }

  async dispose() {
    await this.stop();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
