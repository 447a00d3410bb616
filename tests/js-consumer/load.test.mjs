// The built package as an ES module in Node: it loads, initialises its wasm, and the
// constructor validates options with coded Errors. (The browser APIs it needs to connect,
// IndexedDB and WebSocket, are covered by the headless Chromium tests.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const pkg = new URL("../../target/js-consumer/pkg/", import.meta.url);
const { default: init, MucSubClient } = await import(new URL("mucsub.js", pkg));
await init({ module_or_path: await readFile(fileURLToPath(new URL("mucsub_bg.wasm", pkg))) });

test("package.json names the ESM entry and the types", async () => {
  const meta = JSON.parse(await readFile(fileURLToPath(new URL("package.json", pkg)), "utf8"));
  assert.equal(meta.name, "mucsub");
  assert.match(meta.version, /^\d+\.\d+\.\d+/);
  assert.equal(meta.type, "module");
  assert.equal(meta.main, "mucsub.js");
  assert.equal(meta.types, "mucsub.d.ts");
});

test("bad options throw an Error with a stable code", () => {
  for (const [opts, code] of [
    [{}, "bad-request"],
    [{ url: "http://x", jid: "a@b", password: "p", store: "s" }, "bad-request"],
    [{ url: "ws://127.0.0.1:1/ws", jid: "not a jid@@", password: "p", store: "s" }, "jid-malformed"],
    [{ url: "ws://127.0.0.1:1/ws", jid: "a@b", password: "p" }, "bad-request"],
    // At most one of password and credentials, and credentials a function.
    [{ url: "ws://127.0.0.1:1/ws", jid: "a@b", store: "s", password: "p", credentials: () => ({ token: "t" }) }, "bad-request"],
    [{ url: "ws://127.0.0.1:1/ws", jid: "a@b", store: "s", credentials: "a token" }, "bad-request"],
  ]) {
    assert.throws(() => new MucSubClient(opts), (e) => e instanceof Error && e.code === code);
  }
});

test("a typed JID goes through NFKC: what becomes a forbidden character is refused, the rest accepted", () => {
  const opts = (jid) => ({ url: "ws://127.0.0.1:1/ws", jid, password: "p", store: "s" });
  // A no-break space becomes a space, a fullwidth @ an @ inside the local part.
  for (const jid of ["bob\u00a0smith@localhost", "bob\uff20evil@localhost", "b\u00e9b@local\uff0fhost"]) {
    assert.throws(() => new MucSubClient(opts(jid)), (e) => e.code === "jid-malformed", jid);
  }
  for (const jid of ["\uff22\uff2f\uff22@localhost", "CAFE\u0301@localhost"]) new MucSubClient(opts(jid)).free();
});

test("neither a password nor a callback is accepted: the device's saved token signs in", () => {
  const c = new MucSubClient({ url: "ws://127.0.0.1:1/ws", jid: "bob@localhost", store: "s" });
  assert.equal(typeof c.signOut, "function");
  c.free();
});

test("a credentials callback is accepted in place of a password", () => {
  const c = new MucSubClient({ url: "ws://127.0.0.1:1/ws", jid: "bob@localhost", store: "s", credentials: async () => ({ token: "t" }) });
  c.free();
});

test("a valid client accepts the documented callbacks and refuses others", () => {
  const c = new MucSubClient({ url: "ws://127.0.0.1:1/ws", jid: "bob@localhost", password: "pw", store: "s" });
  for (const name of ["event", "connection", "sync", "error", "role"]) c.on(name, () => {});
  assert.throws(() => c.on("nope", () => {}), (e) => e.code === "bad-request");
  c.free();
});
