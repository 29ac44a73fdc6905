// `npm test`: typecheck, build dist/ when stale (the CLI tests run the built `mqg`), then the vitest
// suite, then one closing line `N passed, N failed` (from vitest's JSON report). Exits non-zero on a
// type error, a failed build or any failed test.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { ensureDist } from './ensure-dist.mjs';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const extra = process.argv.slice(2);

const tsc = spawnSync('npx', ['tsc', '--noEmit', '-p', 'tsconfig.test.json'], { stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error('typecheck failed');
}

let buildFailed = false;
try {
  console.log(`dist/ for the CLI tests: ${ensureDist()}`);
} catch (e) {
  console.error(e.message);
  buildFailed = true;
}

mkdirSync('.tmp', { recursive: true });
const report = '.tmp/vitest-report.json';
rmSync(report, { force: true });
const vitest = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...extra], {
  stdio: 'inherit',
});

let passed = 0, failed = 0, skipped = 0;
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed = r.numPassedTests ?? 0;
  failed = (r.numFailedTests ?? 0) + (r.testResults ?? []).filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).length).length;
  skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
} else failed = 1;
if (tsc.status !== 0) failed += 1;
if (buildFailed) failed += 1;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed || vitest.status ? 1 : 0);
