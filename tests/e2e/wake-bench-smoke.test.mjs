// The browser wake benchmark (bench/browser/wake.mjs, issue 26) at smoke size against our
// server, so it keeps working: through the latency relay, each wake takes the path its
// cell is labelled with (a PLAIN login, bind and resync; or SASL2 + FAST + inline
// resumption — wake.mjs checks the frame log and throws otherwise) and stores every
// message missed while asleep once. Speed is never asserted (two shared cores); the full
// run, which adds the reference ejabberd, is bench/browser/wake.sh. Chromium only: the
// benchmark drives it over the DevTools pipe (bench/browser/cdp.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { wwwDist } from './lib/paths.mjs';
import { runWake, SMOKE, PATHS, table } from '../../bench/browser/wake.mjs';

test('the browser wake benchmark runs end to end at smoke size', async () => {
  const lines = [];
  const cells = await runWake({ pkgDir: join(wwwDist, 'pkg'), ...SMOKE, log: (l) => lines.push(l) });
  assert.equal(cells.length, SMOKE.servers.length * SMOKE.rtts.length * SMOKE.missed.length * PATHS.length);
  for (const c of cells) {
    const what = `${c.path} rtt ${c.rttMs} missed ${c.missed}`;
    assert.equal(c.samples.length, SMOKE.runs, what);
    for (const s of c.samples) {
      assert.ok(s.onlineMs > 0 && s.caughtUpMs >= s.onlineMs, what);
      // A round trip through the relay shows in the frame log.
      assert.equal(s.waitsOnline === null, c.rttMs === 0, what);
      // A new session resyncs every room; a resumed one needs no archive query.
      if (c.path === 'full') assert.ok(s.mamQueries >= SMOKE.rooms, `${what}: ${s.mamQueries} MAM queries`);
      else assert.equal(s.mamQueries, 0, what);
    }
  }
  // Fewer round trips to online by resuming than by logging in anew, in every cell; the
  // resumption costs one once the socket is open (the sign-in goes with the stream header).
  for (const c of cells.filter((x) => x.path === 'resume')) {
    const full = cells.find((x) => x.path === 'full' && x.rttMs === c.rttMs && x.missed === c.missed);
    assert.ok(c.exchangesOnline < full.exchangesOnline, `resume ${c.exchangesOnline} vs full ${full.exchangesOnline} exchanges`);
    for (const s of c.samples) assert.equal(s.exchangesOnline, 1, `resume rtt ${c.rttMs} missed ${c.missed}: round trips to online`);
  }
  // Smoke sizes on a dev build: the figures only show the benchmark ran.
  console.log(`${lines.join('\n')}\n${table(cells)}`);
});
