// Shorten the names of the functions the wasm module imports from its JS glue.
// wasm-bindgen names each `__wbg_<name>_<16 hex digits>`: 183 names, 6 KB in the wasm's
// import section and again as the keys of the glue's import object, the hashes being what
// gzip cannot squeeze (about 5 KB of the gzipped package). Each becomes `$<n>` in both
// files. Only names that occur exactly once in the glue are renamed (a property key of its
// import object), so nothing else in the JS can refer to them; anything unexpected leaves
// both files as they were.
// Usage: node short-imports.mjs PKG_DIR (mucsub_bg.wasm and mucsub.js, rewritten in place).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2];
const wasmPath = join(dir, "mucsub_bg.wasm");
const jsPath = join(dir, "mucsub.js");
const wasm = readFileSync(wasmPath);
let js = readFileSync(jsPath, "utf8");

function leb(buf, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = buf[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return [value, at];
  }
}

function encodeLeb(value) {
  const out = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return Buffer.from(out);
}

const name = (s) => Buffer.concat([encodeLeb(Buffer.byteLength(s)), Buffer.from(s)]);

// Import descriptions after the two names: function, table, memory, global, tag.
function skipDesc(buf, at) {
  const kind = buf[at++];
  if (kind === 0 || kind === 4) {
    if (kind === 4) at++; // tag attribute
    return leb(buf, at)[1];
  }
  if (kind === 1) at++; // table: element type, then limits
  if (kind === 1 || kind === 2) {
    const flags = buf[at++];
    at = leb(buf, at)[1];
    if (flags & 1) at = leb(buf, at)[1];
    return at;
  }
  if (kind === 3) return at + 2; // global: value type, mutability
  throw new Error(`unknown import kind ${kind}`);
}

function rewrite() {
  if (wasm.readUInt32LE(0) !== 0x6d736100) throw new Error("not a wasm module");
  const parts = [wasm.subarray(0, 8)];
  let at = 8;
  let renamed = 0;
  while (at < wasm.length) {
    const id = wasm[at];
    const [size, body] = leb(wasm, at + 1);
    const end = body + size;
    if (id !== 2) {
      parts.push(wasm.subarray(at, end));
      at = end;
      continue;
    }
    let [count, p] = leb(wasm, body);
    const entries = [encodeLeb(count)];
    for (let i = 0; i < count; i++) {
      const [modLen, m] = leb(wasm, p);
      const mod = wasm.subarray(m, m + modLen).toString();
      const [fieldLen, f] = leb(wasm, m + modLen);
      const field = wasm.subarray(f, f + fieldLen).toString();
      const descEnd = skipDesc(wasm, f + fieldLen);
      let newField = field;
      if (/^__wbg_\w+$/.test(field)) {
        const key = new RegExp(`(?<![\\w$])${field}(?![\\w$])`, "g");
        const hits = js.match(key) ?? [];
        if (hits.length !== 1) throw new Error(`${field} occurs ${hits.length} times in the glue`);
        newField = `$${renamed++}`;
        if (js.includes(newField)) throw new Error(`${newField} already in the glue`);
        js = js.replace(key, () => newField);
      }
      entries.push(name(mod), name(newField), wasm.subarray(f + fieldLen, descEnd));
      p = descEnd;
    }
    if (p !== end) throw new Error("import section not read to its end");
    const section = Buffer.concat(entries);
    parts.push(Buffer.from([2]), encodeLeb(section.length), section);
    at = end;
  }
  return [Buffer.concat(parts), renamed];
}

try {
  const [out, renamed] = rewrite();
  writeFileSync(wasmPath, out);
  writeFileSync(jsPath, js);
  console.log(`[short-imports] ${renamed} imports renamed`);
} catch (e) {
  console.log(`[short-imports] left as is: ${e.message}`);
}
