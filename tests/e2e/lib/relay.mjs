// A TCP relay between the browser and the server: what the mobile network is to a phone.
// Everything the page loads goes through it (the app and its WebSocket, same origin), so
// `cut()` kills the page's connection from the network's side — the browser sees its
// WebSocket die as when the server drops it — and `hold()` refuses new ones until
// `release()`, as a phone without signal. `delayMs` delays each direction (the benchmark's
// round trip, bench/browser/wake.mjs: 50 ms each way = 100 ms); change it only when no
// connection is live (after `cut()`), or a chunk could overtake an earlier one.
// `stallWebSocket()` kills the page's WebSocket silently, with the server's last frames still
// on their way, as a phone's network can in its sleep (see the method and `wakeStalled()`).
import { createServer, connect } from 'node:net';

export class Relay {
  static async start(targetPort, { delayMs = 0 } = {}) {
    const relay = new Relay(targetPort, delayMs);
    await new Promise((resolve, reject) => {
      relay.server.once('error', reject);
      relay.server.listen(0, '127.0.0.1', resolve);
    });
    return relay;
  }

  constructor(targetPort, delayMs) {
    this.targetPort = targetPort;
    this.delayMs = delayMs;
    this.held = false;
    this.live = new Set();
    this.server = createServer((client) => this.accept(client));
  }

  get port() { return this.server.address().port; }
  get httpUrl() { return `http://127.0.0.1:${this.port}/`; }
  get wsUrl() { return `ws://127.0.0.1:${this.port}/ws`; }

  accept(client) {
    if (this.held) {
      client.destroy();
      return;
    }
    const upstream = connect(this.targetPort, '127.0.0.1');
    // Each chunk goes out when it is due, not held back for an ACK (Nagle), as the
    // browser and the servers do with their own sockets.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const pair = [client, upstream];
    this.live.add(pair);
    const send = (to, chunk) => {
      // Equal delays fire in order, so the byte stream keeps its order.
      if (this.delayMs > 0) setTimeout(() => to.destroyed || to.write(chunk), this.delayMs);
      else if (!to.destroyed) to.write(chunk);
    };
    client.on('data', (chunk) => {
      // The WebSocket is the connection that starts with its upgrade request.
      pair.ws ??= /^GET \/ws[ ?]/.test(chunk.toString('latin1', 0, 16));
      const stall = pair.stall;
      if (!stall) return send(upstream, chunk);
      // Dead: the page's bytes go nowhere. Its first ones once the test said it wakes
      // bring it what the server had sent before.
      if (stall.waking && !stall.woke) {
        stall.woke = true;
        for (const kept of stall.kept.splice(0)) send(client, kept);
      }
    });
    upstream.on('data', (chunk) => {
      const stall = pair.stall;
      if (!stall) return send(client, chunk);
      if (!stall.woke) {
        stall.kept.push(chunk);
        stall.onKept?.();
      }
    });
    const end = () => {
      this.live.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  }

  // Kills every connection through the relay at once (no closing handshake of any kind).
  cut() {
    for (const [a, b] of this.live) {
      a.resetAndDestroy?.() ?? a.destroy();
      b.destroy();
    }
    this.live.clear();
  }

  // The page's WebSocket dies without a sign (no FIN, no RST: the network is gone), while
  // the server still has frames on their way to it: what the server sends from now on is
  // kept back, and what the page sends is lost. Resolves once a frame is kept back. Other
  // and later connections are not touched.
  stallWebSocket() {
    const pairs = [...this.live].filter((p) => p.ws);
    if (pairs.length !== 1) throw new Error(`${pairs.length} WebSockets through the relay, not one`);
    const stall = { kept: [], waking: false, woke: false };
    pairs[0].stall = stall;
    this.stalled = stall;
    return new Promise((resolve) => { stall.onKept = resolve; });
  }

  // The page is about to wake: what it writes next on the stalled WebSocket (its probe)
  // brings it the kept frames — sent before the death, arriving after its probe, as a
  // phone's buffered data does on waking — and nothing more, ever.
  wakeStalled() { this.stalled.waking = true; }

  // Whether the page wrote after wakeStalled() and was sent the kept frames.
  get stalledWoke() { return Boolean(this.stalled?.woke); }

  hold() { this.held = true; }
  release() { this.held = false; }

  async close() {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
