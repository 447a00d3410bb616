// The browser benchmark (bench/browser/run.mjs) at tiny sizes, so it keeps working: every
// missed message is resynced into IndexedDB with no gap, every held live event is stored,
// the raw-put baseline writes the same records, and the package sizes are read. Speed is
// never asserted (two shared cores); the full run is bench/browser/run.sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { wwwDist } from './lib/paths.mjs';
import { engine } from './lib/browser.mjs';
import { runBench, SMOKE, table } from '../../bench/browser/run.mjs';

test(`the browser benchmark runs end to end at smoke size in ${engine}`, async () => {
  const lines = [];
  const res = await runBench({ engine, pkgDir: join(wwwDist, 'pkg'), ...SMOKE, log: (l) => lines.push(l) });
  // runBench throws on any missing message or event; these check the figures are real.
  assert.equal(res.resync.length, SMOKE.runs);
  // The DevTools row exists in Chromium only (the others are driven over WebDriver).
  assert.equal(res.resyncDevtools.length, engine === 'chromium' ? SMOKE.runs : 0);
  for (const r of [...res.resync, ...res.resyncDevtools]) {
    assert.equal(r.stored, SMOKE.rooms * SMOKE.messages);
    assert.equal(r.gaps, 0);
    assert.ok(r.pages >= SMOKE.rooms, `at least one archive page per room (${r.pages})`);
    assert.ok(r.ms > 0);
  }
  assert.equal(res.live.length, SMOKE.runs);
  for (const r of res.live) assert.ok(r.sdkPerSec > 0 && r.rawPerSec > 0 && r.avgRecordBytes > SMOKE.size);
  // Tabs: the same resync with 1 and 3 tabs stored everything (runBench checks the counts),
  // and every posted event reached the follower.
  assert.equal(res.tabs.resync1.length, SMOKE.runs);
  assert.equal(res.tabs.resync3.length, SMOKE.runs);
  assert.equal(res.tabs.latency.n, SMOKE.events);
  assert.ok(res.tabs.latency.p50 > 0 && res.tabs.latency.p99 >= res.tabs.latency.p50);
  assert.ok(res.sizes.total.gzip > 0 && res.sizes.total.gzip < res.sizes.total.raw);
  // Smoke sizes on a dev build: the figures only show the benchmark ran, not how fast it is.
  console.log(`${lines.join('\n')}\n${table(res, SMOKE)}`);
});
