// Builds dist/, which wac embeds and serves: index.html, icon.svg and
// assets/ with the app's JavaScript (the SDK bundled in) and CSS, named by
// content hash so browsers may cache them for good. The output is committed:
// the same sources and tools must give the same bytes.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const dist = join(here, 'dist');

execFileSync(process.execPath, [join(here, 'node_modules/typescript/bin/tsc'), '-p', join(here, 'tsconfig.json')], { stdio: 'inherit' });
rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'assets'), { recursive: true });
const result = await build({
  entryPoints: [join(src, 'main.ts'), join(src, 'styles.css')],
  outdir: join(dist, 'assets'),
  entryNames: '[name]-[hash]',
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox115', 'safari16'],
  minify: true,
  legalComments: 'none',
  metafile: true,
  tsconfig: join(here, 'tsconfig.json'),
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = outputs.find((f) => f.endsWith('.js'));
const css = outputs.find((f) => f.endsWith('.css'));
writeFileSync(join(dist, 'index.html'),
  readFileSync(join(src, 'index.html'), 'utf8').replace('__JS__', js).replace('__CSS__', css));
copyFileSync(join(src, 'icon.svg'), join(dist, 'icon.svg'));
