// Builds dist/ (node scripts/build.mjs --no-types) when it is missing or older than any source it is
// built from, so the CLI tests never skip and never test stale code. Used by `npm test` and by
// tests/helpers/cli.ts (for a plain `npx vitest run`).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const SOURCES = ['src', 'bench', 'scripts/build.mjs', 'scripts/esbuild-options.mjs', 'package.json'];
const OUTPUT = 'dist/node/cli.js';

function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = 0;
  for (const e of readdirSync(path)) t = Math.max(t, newest(join(path, e)));
  return t;
}

/** Returns 'fresh' or 'built'; throws when the build fails. */
export function ensureDist(root = process.cwd()) {
  const out = join(root, OUTPUT);
  const built = existsSync(out) ? statSync(out).mtimeMs : 0;
  const src = Math.max(...SOURCES.map((s) => newest(join(root, s))));
  if (built && built >= src) return 'fresh';
  const r = spawnSync(process.execPath, ['scripts/build.mjs', '--no-types'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building dist/ for the CLI tests failed:\n${r.stdout}\n${r.stderr}`);
  return 'built';
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(`dist/: ${ensureDist()}`);
