// Builds the settings panel from ui/ into dist/index.html, the one
// document the app's window loads: the stylesheet and the ES modules
// (bundled into one script) inlined, so WebKit has no file to fetch and
// no module graph to load before the panel asks for its status.
//
//   node scripts/build-panel.mjs           # writes dist/index.html
//   node scripts/build-panel.mjs --check   # fails if it differs from ui/
//
// dist/index.html is committed, so `cargo build` needs no Node; `make
// test` checks it is what ui/ builds. Tauri adds the inline script's hash
// and a nonce for the inline style to the page's CSP when it embeds it.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = (name) => join(root, 'ui', name);
const output = join(root, 'dist', 'index.html');

const common = { bundle: true, minify: true, write: false, legalComments: 'none', logLevel: 'warning' };
const script = await build({ ...common, entryPoints: [source('app.js')], format: 'iife', target: 'es2020' });
const style = await build({ ...common, entryPoints: [source('styles.css')] });
const text = (result) => result.outputFiles[0].text.trim();

let html = readFileSync(source('index.html'), 'utf8');

/** Replaces the one line of the template that matches `pattern`; a
 * template edited out of shape fails the build instead of shipping a page
 * that loads nothing. */
function replaceLine(pattern, replacement) {
  const lines = html.split('\n');
  const found = lines.filter((line) => pattern.test(line));
  if (found.length !== 1) {
    throw new Error(`ui/index.html: expected one line matching ${pattern}, found ${found.length}`);
  }
  html = lines.map((line) => (pattern.test(line) ? replacement : line)).filter((line) => line !== null).join('\n');
}

// `</` can't end the inline elements early: esbuild writes it escaped in
// strings, and the stylesheet has none.
for (const [name, body] of [['script', text(script)], ['style', text(style)]]) {
  if (body.toLowerCase().includes(`</${name}`)) throw new Error(`the bundled ${name} contains </${name}`);
}

replaceLine(/<link rel="stylesheet" href="styles\.css">/, `  <style>${text(style)}</style>`);
// The script runs where it stands, once the body above it is parsed.
replaceLine(/<script type="module" src="app\.js"><\/script>/, null);
html = html.replace(/^ *<!-- Fetched with app\.js.*-->\n/m, '').replace(/^ *<link rel="modulepreload"[^\n]*\n/gm, '');
replaceLine(/^<\/body>$/, `<script>${text(script)}</script>\n</body>`);
// After the doctype: anything before it would put the page in quirks mode.
replaceLine(/^<!doctype html>$/, '<!doctype html>\n<!-- Built from ui/ by scripts/build-panel.mjs: edit ui/, then run `make panel`. -->');

if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(output, 'utf8');
  } catch {}
  if (committed !== html) {
    console.error('dist/index.html is not what ui/ builds: run `make panel` and commit it.');
    process.exit(1);
  }
  console.log('dist/index.html matches ui/');
} else {
  mkdirSync(dirname(output), { recursive: true });
  writeFileSync(output, html);
  console.log(`dist/index.html: ${Buffer.byteLength(html)} bytes`);
}
