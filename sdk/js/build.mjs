// Builds dist/: openwac.js (one ESM bundle, minified) and the .d.ts
// declarations of every module. The output is committed, so the build must
// be reproducible: same sources and tools, same bytes.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [join(here, 'node_modules/typescript/bin/tsc'), '-p', join(here, 'tsconfig.json'), '--emitDeclarationOnly'], { stdio: 'inherit' });
await build({
  entryPoints: [join(here, 'src/index.ts')],
  outfile: join(dist, 'openwac.js'),
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
