// Builds the page's bindings from guest-js/index.ts: ESM and CommonJS for
// bundlers (importing @tauri-apps/api, the app's own copy), and the IIFE
// the plugin adds to every page of an app with `app.withGlobalTauri`,
// which carries the few functions of @tauri-apps/api it uses. `tsc` adds
// the declarations after it (`npm run build`).
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// Nothing of an earlier build goes into the package.
rmSync('dist-js', { recursive: true, force: true });

const common = {
  entryPoints: ['guest-js/index.ts'],
  bundle: true,
  target: 'es2020',
  legalComments: 'none',
  logLevel: 'warning',
};

await build({ ...common, format: 'esm', packages: 'external', outfile: 'dist-js/index.js' });
await build({ ...common, format: 'cjs', packages: 'external', outfile: 'dist-js/index.cjs' });
await build({
  ...common,
  format: 'iife',
  globalName: '__TAURI_PLUGIN_OPENROUTER__',
  minify: true,
  outfile: 'api-iife.js',
});
