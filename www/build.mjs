#!/usr/bin/env node
// Assembles www/dist: the app's sources (plain ES modules, no bundler) plus a copy of the
// npm package built by wasm-pack (pkg/, or --pkg DIR / $MUCSUB_PKG) under dist/pkg/, and
// precache.json, the list of files the service worker keeps for offline starts.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const src = join(here, 'src');
const out = resolve(flag('--out') ?? join(here, 'dist'));
const pkg = resolve(flag('--pkg') ?? process.env.MUCSUB_PKG ?? join(here, '..', 'pkg'));

// Only what the browser loads: the ES module glue, the wasm binary and the package metadata.
const PKG_FILES = /\.(js|wasm|d\.ts)$|^package\.json$/;

function fail(message) {
  console.error(`[www/build] ${message}`);
  process.exit(1);
}

if (!existsSync(join(pkg, 'mucsub.js')) || !existsSync(join(pkg, 'mucsub_bg.wasm'))) {
  fail(`no SDK package in ${pkg} (mucsub.js + mucsub_bg.wasm); build it first from the repository root:\n` +
    '    wasm-pack build --target web --out-dir pkg .');
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
cpSync(src, out, { recursive: true });
mkdirSync(join(out, 'pkg'));
for (const name of readdirSync(pkg)) {
  if (PKG_FILES.test(name) && statSync(join(pkg, name)).isFile()) cpSync(join(pkg, name), join(out, 'pkg', name));
}

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}
const files = walk(out)
  .map((p) => relative(out, p).split('\\').join('/'))
  .filter((p) => p !== 'sw.js' && !p.endsWith('.d.ts') && p !== 'pkg/package.json')
  .sort();
const hash = createHash('sha256');
for (const f of files) hash.update(f).update(readFileSync(join(out, f)));
const version = hash.digest('hex').slice(0, 16);
const sw = join(out, 'sw.js');
writeFileSync(sw, readFileSync(sw, 'utf8').replace("'mucsub-app-dev'", `'mucsub-app-${version}'`));
writeFileSync(join(out, 'precache.json'), JSON.stringify({ version, files }, null, 2) + '\n');
console.log(`[www/build] ${out}: ${files.length} files, build ${version}`);
