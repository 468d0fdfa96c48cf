// Compile a Motoko program to an IC canister module with the `motoko` npm package (moc in JS).
//
// stdin:  {"files": {"/main.mo": "...", "/lib.mo": "..."}, "main": "/main.mo"}
// stdout: {"wasm_hex": "...", "candid": "...", "stable": "...", "moc_version": "...",
//          "motoko_npm_version": "...", "packages": {"core": "v2.5.0"}, "script_version": N}
// errors: {"error": "...", "diagnostics": [...]} on stdout, a summary on stderr, exit code 1.
//
// Offline by design: the only libraries are the ones bundled inside the npm package
// (node_modules/motoko/packages/latest/*.json, currently `core`), loaded with
// `mo.loadPackage`, so `import X "mo:core/X"` works without network access. The primitive
// module `import Prim "mo:⛔"` is always available.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

export const SCRIPT_VERSION = 1;

const require = createRequire(import.meta.url);

// moc may print warnings through console.*; keep stdout reserved for the JSON answer.
const writeStdout = process.stdout.write.bind(process.stdout);
for (const name of ['log', 'info', 'warn', 'debug']) {
  console[name] = (...args) => process.stderr.write(args.map(String).join(' ') + '\n');
}

function fail(error, diagnostics = []) {
  writeStdout(JSON.stringify({ error, diagnostics }) + '\n');
  process.stderr.write(`motoko_build: ${error}\n`);
  for (const d of diagnostics) {
    process.stderr.write(`  ${formatDiagnostic(d)}\n`);
  }
  process.exitCode = 1;
}

function formatDiagnostic(d) {
  if (typeof d !== 'object' || d === null) return String(d);
  const where = d.source
    ? `${d.source}:${(d.range?.start?.line ?? -1) + 1}:${(d.range?.start?.character ?? -1) + 1}`
    : '';
  const severity = d.severity === 1 ? 'error' : d.severity === 2 ? 'warning' : `severity ${d.severity}`;
  return `${where} ${severity} [${d.code ?? ''}] ${d.message}`;
}

function readStdin() {
  return fs.readFileSync(0, 'utf8');
}

function loadBundledPackages(mo) {
  const dir = path.join(path.dirname(require.resolve('motoko/package.json')), 'packages', 'latest');
  const loaded = {};
  if (!fs.existsSync(dir)) return loaded;
  for (const file of fs.readdirSync(dir).sort()) {
    if (!file.endsWith('.json')) continue;
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    mo.loadPackage(pkg);
    loaded[pkg.name] = pkg.version;
  }
  return loaded;
}

function main() {
  let request;
  try {
    request = JSON.parse(readStdin());
  } catch (err) {
    return fail(`invalid JSON on stdin: ${err.message}`);
  }
  const files = request.files;
  const entry = request.main;
  if (typeof files !== 'object' || files === null || typeof entry !== 'string' || !(entry in files)) {
    return fail('expected {"files": {path: source, ...}, "main": path} with main among files');
  }

  const mo = require('motoko');
  const npmVersion = require('motoko/package.json').version;
  const packages = loadBundledPackages(mo);
  for (const [file, source] of Object.entries(files)) {
    mo.write(file, source);
  }

  // `check` yields structured diagnostics (errors and warnings) without compiling.
  let diagnostics = [];
  try {
    diagnostics = mo.check(entry) || [];
  } catch (err) {
    return fail(`moc check failed: ${err.message}`);
  }
  const errors = diagnostics.filter((d) => d.severity === 1);
  if (errors.length > 0) {
    return fail(`moc reported ${errors.length} error(s)`, diagnostics);
  }

  let result;
  try {
    result = mo.wasm(entry, 'ic');
  } catch (err) {
    return fail(`moc compile failed: ${err.message}`, diagnostics);
  }
  writeStdout(
    JSON.stringify({
      wasm_hex: Buffer.from(result.wasm).toString('hex'),
      candid: result.candid,
      stable: result.stable ?? null,
      moc_version: mo.version,
      motoko_npm_version: npmVersion,
      packages,
      script_version: SCRIPT_VERSION,
      warnings: diagnostics.filter((d) => d.severity !== 1).map(formatDiagnostic),
    }) + '\n',
  );
}

main();
