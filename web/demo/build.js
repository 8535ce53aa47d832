// Bundles the demo for the browser into dist/: `roomcast --static web/demo/dist` serves it.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';

const here = new URL('.', import.meta.url).pathname;
rmSync(`${here}dist`, { recursive: true, force: true });
mkdirSync(`${here}dist`);
await build({
  entryPoints: [`${here}src/main.js`],
  outfile: `${here}dist/main.js`,
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  target: 'es2020',
  logLevel: 'warning',
});
for (const f of ['index.html', 'style.css']) copyFileSync(`${here}${f}`, `${here}dist/${f}`);
console.log('web/demo/dist built');
