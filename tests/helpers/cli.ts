// Running the built `mqg` in tests: dist/ is (re)built first when missing or stale, so CLI tests
// neither skip nor test old code.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
// @ts-expect-error: a plain .mjs script without types
import { ensureDist } from '../../scripts/ensure-dist.mjs';

let ensured = false;
export function buildCli(): void {
  if (!ensured) (ensureDist as () => string)();
  ensured = true;
}

export const cliEnv = (extra: Record<string, string> = {}) => ({ ...process.env, XDG_RUNTIME_DIR: '/tmp', MQG_DEBUG: '', ...extra });

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `mqg ...args` to completion. */
export function mqg(...args: string[]): CliResult {
  buildCli();
  const r = spawnSync('node', ['bin/mqg.js', ...args], { encoding: 'utf8', env: cliEnv() });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l) => !l.startsWith('Warning: maxDynamic')).join('\n') };
}

/** Starts `mqg ...args`; `waitFor(re)` resolves when stdout+stderr match; `exit` resolves with the code or signal. */
export function mqgChild(args: string[], env: Record<string, string> = {}) {
  buildCli();
  const child: ChildProcess = spawn('node', ['bin/mqg.js', ...args], { env: cliEnv(env) });
  let out = '';
  const waiters: { re: RegExp; done: () => void }[] = [];
  const feed = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) (w.re.test(out) ? w.done : () => waiters.push(w))();
  };
  child.stdout!.on('data', feed);
  child.stderr!.on('data', feed);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.on('exit', (code, signal) => done({ code, signal })));
  return {
    child,
    output: () => out,
    exit,
    waitFor: (re: RegExp) => new Promise<void>((done, fail) => {
      if (re.test(out)) return done();
      waiters.push({ re, done });
      void exit.then(() => setTimeout(() => (re.test(out) ? done() : fail(new Error(`mqg exited before printing ${re}:\n${out}`))), 50));
    }),
  };
}
