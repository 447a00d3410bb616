// A loopback RFC 8030 push service standing in for a browser vendor's (the one boundary these
// tests cannot reach; Chromium's own pushManager needs the vendor's service). Subscriptions are
// made here with a real P-256 key pair and auth secret, as a browser makes them; each push is
// checked like a push service would (RFC 8292 VAPID: ES256 JWT signature with `k`, `aud` = this
// origin, `exp` within 24 h, a `sub` contact) and decrypted like the browser would (RFC 8291
// `aes128gcm`), with node's crypto only.
import { createServer } from 'node:http';
import { createECDH, createPublicKey, hkdfSync, createDecipheriv, verify, createHash, randomBytes } from 'node:crypto';

export const b64url = (buf) => Buffer.from(buf).toString('base64url');
const unb64url = (s) => Buffer.from(s, 'base64url');

// The XEP-0357 node the SDK derives from a subscription's endpoint.
export const nodeFor = (endpoint) => b64url(createHash('sha256').update(endpoint).digest());

// RFC 8292 §2: the JWT in `Authorization: vapid t=…, k=…`, verified with `k`.
export function verifyVapid(header, expectedAud, nowSecs = Math.floor(Date.now() / 1000)) {
  const m = /^vapid (.+)$/.exec(header ?? '');
  if (!m) throw new Error(`Authorization is not vapid: ${header}`);
  const params = Object.fromEntries(m[1].split(',').map((p) => p.trim().split(/=(.*)/s).slice(0, 2)));
  if (!params.t || !params.k) throw new Error('vapid t= or k= missing');
  const raw = unb64url(params.k);
  if (raw.length !== 65 || raw[0] !== 4) throw new Error('k is not an uncompressed P-256 point');
  const key = createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64url(raw.subarray(1, 33)), y: b64url(raw.subarray(33)) },
    format: 'jwk',
  });
  const [h, c, s] = params.t.split('.');
  if (!s) throw new Error('the token is not a compact JWS');
  const head = JSON.parse(unb64url(h).toString());
  if (head.alg !== 'ES256') throw new Error(`alg is ${head.alg}, not ES256`);
  const ok = verify('sha256', Buffer.from(`${h}.${c}`), { key, dsaEncoding: 'ieee-p1363' }, unb64url(s));
  if (!ok) throw new Error('the JWT signature does not verify with k');
  const claims = JSON.parse(unb64url(c).toString());
  if (claims.aud !== expectedAud) throw new Error(`aud ${claims.aud} is not ${expectedAud}`);
  if (!(claims.exp > nowSecs && claims.exp <= nowSecs + 24 * 3600 + 60)) throw new Error(`exp ${claims.exp} out of range`);
  if (!/^(mailto:|https:)/.test(claims.sub ?? '')) throw new Error(`sub ${claims.sub} is not a contact URI`);
  return { key: params.k, claims };
}

// RFC 8291 / RFC 8188: one aes128gcm record, decrypted with the subscription's private key.
export function decrypt(body, ecdh, auth) {
  const salt = body.subarray(0, 16);
  const idlen = body[20];
  const asPublic = body.subarray(21, 21 + idlen);
  const ciphertext = body.subarray(21 + idlen);
  const uaPublic = ecdh.getPublicKey();
  const shared = ecdh.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]);
  const ikm = Buffer.from(hkdfSync('sha256', shared, auth, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  let end = padded.length;
  while (end > 0 && padded[end - 1] === 0) end--;
  if (padded[end - 1] !== 2) throw new Error('no last-record padding delimiter');
  return padded.subarray(0, end - 1).toString('utf8');
}

export class PushService {
  static async start() {
    const svc = new PushService();
    await new Promise((r) => svc.http.listen(0, '127.0.0.1', r));
    svc.origin = `http://127.0.0.1:${svc.http.address().port}`;
    return svc;
  }

  constructor() {
    this.subs = new Map();
    this.received = [];
    this.waiters = [];
    this.expectedKey = null;
    this.http = createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const id = decodeURIComponent(new URL(req.url, this.origin).pathname.replace(/^\/wpush\//, ''));
        let entry;
        try {
          entry = { ok: true, ...this.check(id, req.headers, Buffer.concat(chunks)) };
        } catch (err) {
          entry = { ok: false, error: String(err?.message ?? err), subscription: id };
        }
        this.received.push(entry);
        for (const w of this.waiters.splice(0)) w();
        res.writeHead(entry.ok ? 201 : 400).end();
      });
    });
  }

  // A browser subscription on this service: what `PushSubscription.toJSON()` would give.
  subscribe(id) {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = randomBytes(16);
    const endpoint = `${this.origin}/wpush/${encodeURIComponent(id)}`;
    this.subs.set(id, { ecdh, auth });
    return { endpoint, expirationTime: null, keys: { p256dh: b64url(ecdh.getPublicKey()), auth: b64url(auth) } };
  }

  check(id, headers, body) {
    const sub = this.subs.get(id);
    if (!sub) throw new Error(`unknown subscription ${id}`);
    const { key, claims } = verifyVapid(headers.authorization, this.origin);
    if (this.expectedKey && key !== this.expectedKey) throw new Error(`VAPID key ${key} is not the server's`);
    if (headers['content-encoding'] !== 'aes128gcm') throw new Error('Content-Encoding is not aes128gcm');
    if (!/^\d+$/.test(headers.ttl ?? '')) throw new Error('TTL missing (RFC 8030 §5.2)');
    const plaintext = decrypt(body, sub.ecdh, sub.auth);
    return { subscription: id, plaintext, json: JSON.parse(plaintext), claims, topic: headers.topic };
  }

  // The `n`th push (0-based) once it arrived; a failed verification throws.
  async nth(n, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length <= n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`push #${n + 1} never arrived (got ${JSON.stringify(this.received)})`);
      await new Promise((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
    const got = this.received[n];
    if (!got.ok) throw new Error(`push #${n + 1} failed verification: ${got.error}`);
    return got;
  }

  close() {
    return new Promise((r) => this.http.close(r));
  }
}
