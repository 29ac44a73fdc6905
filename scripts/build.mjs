// Build dist/: Node ESM entry points (dependencies left external), a self-contained browser
// bundle (checked to contain no Node built-ins), the CLI, the benchmarks, and type declarations.
import { build } from 'esbuild';
import { browserBuild, nodeBuild } from './esbuild-options.mjs';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

const entries = {
  index: 'src/index.ts',
  'kernels/index': 'src/kernels/node.ts',
  'model/index': 'src/model/node.ts',
  'train/index': 'src/train/node.ts',
  cli: 'src/cli/main.ts',
};
const present = Object.fromEntries(Object.entries(entries).filter(([, f]) => existsSync(f)));


rmSync('dist', { recursive: true, force: true });
await build({ ...nodeBuild, entryPoints: present, outdir: 'dist/node', splitting: true });

const benches = ['bench/kernels.ts', 'bench/train.ts', 'bench/mcq.ts'].filter((f) => existsSync(f));
if (benches.length) await build({ ...nodeBuild, entryPoints: benches, outdir: 'dist/bench' });

await build({ ...browserBuild, entryPoints: { index: 'src/browser.ts' }, outdir: 'dist/browser' });
const browser = readFileSync('dist/browser/index.js', 'utf8');
const nodeImport = browser.match(/\bfrom\s*["'](node:[\w/]+|fs|path|os|child_process|url)["']|\brequire\(["']node:/);
if (nodeImport) {
  console.error(`browser bundle imports a Node built-in: ${nodeImport[0]}`);
  process.exit(1);
}

if (!process.argv.includes('--no-types')) {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
}
console.log(`built dist/ (${Object.keys(present).join(', ')}, browser bundle ${(browser.length / 1024).toFixed(0)} KiB)`);
