// Where the end-to-end tests find what tests/suites/e2e.sh built.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const e2eDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = resolve(e2eDir, '..', '..');
export const artifactsDir = join(e2eDir, 'artifacts');
export const serverBin = process.env.MUCSUB_SERVER_BIN
  ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'debug', 'mucsub-server');
export const wwwDist = process.env.MUCSUB_WWW_DIST ?? join(repoRoot, 'www', 'dist');
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// The switches every launch of it gets (Playwright's in browser.mjs, the benchmark's pipe in
// bench/browser/cdp.mjs): no sandbox or GPU in CI containers, no background traffic.
export const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
