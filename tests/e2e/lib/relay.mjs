// A TCP relay between the browser and the server: what the mobile network is to a phone.
// Everything the page loads goes through it (the app and its WebSocket, same origin), so
// `cut()` kills the page's connection from the network's side — the browser sees its
// WebSocket die as when the server drops it — and `hold()` refuses new ones until
// `release()`, as a phone without signal. `delayMs` delays each direction (the benchmark's
// round trip, bench/browser/wake.mjs: 50 ms each way = 100 ms); change it only when no
// connection is live (after `cut()`), or a chunk could overtake an earlier one.
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
    const forward = (from, to) => from.on('data', (chunk) => {
      // Equal delays fire in order, so the byte stream keeps its order.
      if (this.delayMs > 0) setTimeout(() => to.destroyed || to.write(chunk), this.delayMs);
      else if (!to.destroyed) to.write(chunk);
    });
    forward(client, upstream);
    forward(upstream, client);
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

  hold() { this.held = true; }
  release() { this.held = false; }

  async close() {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
