// Build dist/:
//   dist/lib/   the library as published: one ES module per source file (so a bundler can
//               tree-shake it and keeps npm dependencies external), with its .d.ts beside it.
//               Relative imports in both carry explicit .js extensions, as Node ESM and
//               `moduleResolution: nodenext` require. No source maps are shipped.
//   dist/node/cli.js  the `mqg` command (a shim into dist/lib/cli/main.js).
//   dist/bench/ the benchmarks, bundled (not part of the package).
// Flags: --no-types skips the declarations (tsc is the slow part).
import { build } from 'esbuild';
import { nodeBuild } from './esbuild-options.mjs';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const LIB = 'dist/lib';
/** The entry points whose import graphs must stay free of Node built-ins (browser conditions). */
const BROWSER_ENTRIES = ['browser', 'kernels/index', 'model/index', 'train/index'];

function walk(dir, keep) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p, keep) : keep(p) ? [p] : [];
  });
}

/**
 * The .js specifier for a relative import `spec` written in `fromDir`, resolved the way the sources
 * resolve it (`./x` -> `./x.js` or `./x/index.js`), checked against the files that exist with `exts`.
 */
export function jsSpecifier(fromDir, spec, exts = ['.ts']) {
  const base = resolve(fromDir, spec.replace(/\.js$/, ''));
  for (const ext of exts) {
    if (existsSync(base + ext)) return spec.replace(/\.js$/, '') + '.js';
    if (existsSync(join(base, 'index' + ext))) return spec.replace(/\/$/, '') + '/index.js';
  }
  throw new Error(`${fromDir}: cannot resolve the relative import "${spec}"`);
}

/** esbuild plugin: every import stays an import (one output file per source), relative ones with .js. */
const perFile = {
  name: 'per-file',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      if (args.path.startsWith('.')) return { path: jsSpecifier(args.resolveDir, args.path), external: true };
      return { external: true };
    });
  },
};

/**
 * Rewrite the relative specifiers of every emitted .d.ts to .js (tsc keeps them extensionless),
 * and give each declaration that names WebGPU types a reference to @webgpu/types (a dependency),
 * so consumers need no `types` setting of their own.
 */
function fixDeclarations(dir) {
  const re = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.\.?\/[^'"]*|\.\.?)\2/g;
  for (const file of walk(dir, (p) => p.endsWith('.d.ts'))) {
    const text = readFileSync(file, 'utf8');
    let fixed = text.replace(re, (_, lead, q, spec) => `${lead}${q}${jsSpecifier(dirname(file), spec, ['.d.ts'])}${q}`);
    if (/\bGPU[A-Z]?\w*\b/.test(fixed.replace(/\bGPU[A-Z]\w*Error\b|\bGPUContext\b|\bGPT2\b/g, ''))) fixed = `/// <reference types="@webgpu/types" />\n${fixed}`;
    if (fixed !== text) writeFileSync(file, fixed);
  }
}

/** Every module reachable from `entry` in dist/lib, with the bare (non-relative) specifiers it imports. */
export function importGraph(entry) {
  const seen = new Map();
  const visit = (file) => {
    if (seen.has(file)) return;
    const bare = [];
    seen.set(file, bare);
    const code = readFileSync(file, 'utf8');
    for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s*)["']([^"']+)["']/g)) {
      if (m[1].startsWith('.')) visit(resolve(dirname(file), m[1]));
      else bare.push(m[1]);
    }
  };
  visit(resolve(entry));
  return seen;
}

export async function buildLibrary({ types = true } = {}) {
  rmSync('dist', { recursive: true, force: true });
  const sources = walk('src', (p) => p.endsWith('.ts') && !p.endsWith('.d.ts'));
  await build({
    entryPoints: sources, outdir: LIB, outbase: 'src', bundle: true, format: 'esm', platform: 'neutral',
    target: 'es2022', plugins: [perFile], logLevel: 'warning',
  });
  mkdirSync('dist/node', { recursive: true });
  writeFileSync('dist/node/cli.js', "// The `mqg` command; the code is in ../lib/cli.\nimport '../lib/cli/main.js';\n");

  for (const entry of BROWSER_ENTRIES) {
    for (const [file, bare] of importGraph(`${LIB}/${entry}.js`)) {
      const builtin = bare.find((s) => s.startsWith('node:') || ['fs', 'path', 'os', 'url', 'child_process', 'webgpu'].includes(s));
      if (builtin) throw new Error(`browser entry ${entry} reaches ${relative('.', file)}, which imports "${builtin}"`);
    }
  }

  const benches = ['bench/kernels.ts', 'bench/kernels/gemv.ts', 'bench/train.ts', 'bench/mcq.ts', 'bench/dropout.ts'].filter((f) => existsSync(f));
  if (benches.length) await build({ ...nodeBuild, entryPoints: benches, outdir: 'dist/bench' });

  if (types) {
    execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
    fixDeclarations(LIB);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = Date.now();
  await buildLibrary({ types: !process.argv.includes('--no-types') });
  const files = walk(LIB, (p) => p.endsWith('.js')).length;
  console.log(`built dist/ (${files} modules in dist/lib${process.argv.includes('--no-types') ? '' : ' with declarations'}, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}
