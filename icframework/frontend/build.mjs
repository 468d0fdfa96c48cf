// Builds the browser bundle: `node icframework/frontend/build.mjs [OUTFILE]`.
//
// One ES module, minified, for current browsers; the output depends only on the pinned
// package versions in package-lock.json and these options, so rebuilding reproduces
// the committed icframework/static/icframework/ic.js byte for byte (a test checks it).
// Licence comments of the bundled packages are kept at the end of the file.

import { build } from 'esbuild';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const outfile = process.argv[2] || join(root, 'icframework', 'static', 'icframework', 'ic.js');

await build({
  absWorkingDir: root,
  entryPoints: [relative(root, join(here, 'index.js'))],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  legalComments: 'eof',
  charset: 'utf8',
  logLevel: 'warning',
});
