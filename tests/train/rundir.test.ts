// A run directory as a unit, from the outside (the built `mqg`, as a user runs it): kill -9 inside
// the save window, a second Ctrl-C, exit codes, --out that cannot hold a run.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliEnv, mqg, mqgChild } from '../helpers/cli';

const tiny = ['--vocab-size', '300', '--batch-size', '2', '--seq-len', '16', '--eval-every', '0', '--mcq', '', '--sample-tokens', '0', '--precision', 'f32', '--warmup', '2'];
const dir = mkdtempSync(join(tmpdir(), 'mqg-rundir-'));
const ckpts = (run: string) => (existsSync(join(run, 'checkpoints')) ? readdirSync(join(run, 'checkpoints')).sort() : []);
const losses = (run: string) => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);
const weights = (run: string, step: string) => readFileSync(join(run, 'checkpoints', step, 'model.safetensors'));

describe('run directory (mqg CLI)', () => {
  const reference = join(dir, 'reference');
  it('an uninterrupted 6-step run keeps the newest two checkpoints', () => {
    const r = mqg('train', ...tiny, '--steps', '6', '--save-every', '2', '--out', reference);
    expect(r.status, r.stderr).toBe(0);
    expect(ckpts(reference)).toEqual(['step-000004', 'step-000006']);
    expect(losses(reference)).toHaveLength(6);
  });

  it('kill -9 inside the save window: the previous checkpoint is whole, the temp is removed, the resume matches bit for bit', async () => {
    const run = join(dir, 'killed');
    const p = mqgChild(['train', ...tiny, '--steps', '6', '--save-every', '2', '--out', run], { MQG_DEBUG_PAUSE_IN_SAVE: '4' });
    await p.waitFor(/paused inside the save of step 4/);
    p.child.kill('SIGKILL');
    expect((await p.exit).signal).toBe('SIGKILL');
    const left = ckpts(run);
    expect(left.filter((n) => n.startsWith('step-'))).toEqual(['step-000002']);
    expect(left.filter((n) => n.startsWith('.tmp-step-000004'))).toHaveLength(1); // the save that never switched
    expect(left).not.toContain('step-000004');
    const r = mqg('train', '--resume', '--out', run);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/removed 1 unfinished checkpoint\(s\) of a killed save/);
    expect(r.stdout).toMatch(/resumed from .*step-000002, the newest complete checkpoint \(step 2\)/);
    expect(ckpts(run)).toEqual(['step-000004', 'step-000006']);
    expect(losses(run)).toEqual(losses(reference));
    expect(weights(run, 'step-000006').equals(weights(reference, 'step-000006'))).toBe(true);
  });

  it('a second Ctrl-C inside the save abandons the new checkpoint, never half of it, and exits 130', async () => {
    const run = join(dir, 'double-ctrl-c');
    const p = mqgChild(['train', ...tiny, '--steps', '6', '--save-every', '2', '--out', run], { MQG_DEBUG_PAUSE_IN_SAVE: '4' });
    await p.waitFor(/paused inside the save of step 4/);
    p.child.kill('SIGINT');
    await p.waitFor(/interrupted: saving a checkpoint now/);
    p.child.kill('SIGINT');
    expect((await p.exit).code).toBe(130);
    expect(p.output()).toMatch(/abandoned the checkpoint being written; the previous one stays/);
    expect(ckpts(run)).toEqual(['step-000002']);
    const r = mqg('train', '--resume', '--out', run, '--log-format', 'jsonl');
    expect(r.status, r.stderr).toBe(0);
    expect(losses(run)).toEqual(losses(reference));
  });

  it('one Ctrl-C saves a checkpoint and exits 130', async () => {
    const run = join(dir, 'ctrl-c');
    const p = mqgChild(['train', ...tiny, '--steps', '500', '--out', run]);
    await p.waitFor(/step +3\/500/);
    p.child.kill('SIGINT');
    expect((await p.exit).code).toBe(130);
    const m = p.output().match(/stopped at step (\d+); resume with: mqg train --resume --out/);
    expect(Number(m![1])).toBeGreaterThanOrEqual(3);
    expect(ckpts(run)).toEqual([`step-${m![1]!.padStart(6, '0')}`]);
  });

  it('an existing run is never replaced unasked; --overwrite replaces it', () => {
    let r = mqg('train', ...tiny, '--steps', '2', '--out', reference);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`error: --out ${reference} already holds a run; continue it with --resume, or replace it with --overwrite`);
    expect(losses(reference)).toHaveLength(6);
    const copy = join(dir, 'overwritten');
    cpSync(reference, copy, { recursive: true });
    r = mqg('train', ...tiny, '--steps', '2', '--out', copy, '--overwrite');
    expect(r.status, r.stderr).toBe(0);
    expect(losses(copy)).toHaveLength(2);
    expect(ckpts(copy)).toEqual(['step-000002']);
  });

  it('a run directory moved or copied resumes from its own files', () => {
    const src = join(dir, 'to-move');
    expect(mqg('train', ...tiny, '--steps', '4', '--save-every', '2', '--out', src).status).toBe(0);
    const direct = join(dir, 'not-moved');
    cpSync(src, direct, { recursive: true });
    expect(mqg('train', '--resume', '--out', direct, '--steps', '6').status).toBe(0);
    const moved = join(dir, 'moved');
    renameSync(src, moved);
    let r = mqg('train', '--resume', '--out', moved, '--steps', '6');
    expect(r.status, r.stderr).toBe(0);
    expect(losses(moved)).toEqual(losses(direct));
    expect(weights(moved, 'step-000006').equals(weights(direct, 'step-000006'))).toBe(true);
    const copied = join(dir, 'copied');
    cpSync(moved, copied, { recursive: true });
    rmSync(moved, { recursive: true });
    // the copy's tokenizer is its own: changing nothing outside it
    r = mqg('train', '--resume', '--out', copied, '--steps', '7', '--log-format', 'jsonl');
    expect(r.status, r.stderr).toBe(0);
    expect(losses(copied)).toHaveLength(7);
    expect(losses(copied).slice(0, 6)).toEqual(losses(direct));
    expect(readFileSync(join(copied, 'checkpoints', 'step-000007', 'train_state.safetensors'), 'latin1')).not.toContain(dir);
  });

  it('a torn last line of metrics.jsonl is dropped on resume; a bad line elsewhere names the file and line', () => {
    const run = join(dir, 'torn');
    cpSync(reference, run, { recursive: true });
    rmSync(join(run, 'checkpoints', 'step-000006'), { recursive: true });
    writeFileSync(join(run, 'metrics.jsonl'), readFileSync(join(run, 'metrics.jsonl'), 'utf8') + '{"step":6,"loss":5.1');
    let r = mqg('train', '--resume', '--out', run, '--log-format', 'jsonl');
    expect(r.status, r.stderr).toBe(0);
    expect(losses(run)).toEqual(losses(reference));
    rmSync(join(run, 'checkpoints', 'step-000006'), { recursive: true });
    const lines = readFileSync(join(run, 'metrics.jsonl'), 'utf8').split('\n');
    lines[1] = '{"step":1,"lo';
    writeFileSync(join(run, 'metrics.jsonl'), lines.join('\n'));
    r = mqg('train', '--resume', '--out', run);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`error: ${join(run, 'metrics.jsonl')}: line 2 is not valid JSON ({"step":1,"lo)`);
  });

  it('--out on a file, under /proc, or unwritable is an error before any work', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    let r = mqg('train', '--out', file);
    expect([r.status, r.stderr.trim()]).toEqual([1, `error: --out ${file} is a file, not a directory`]);
    r = mqg('train', '--out', join(file, 'below'));
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`error: --out ${join(file, 'below')}: cannot create the directory (a path component is a file)`);
    r = mqg('train', '--out', '/proc/mqg-run');
    expect([r.status, r.stderr.trim()]).toEqual([1, 'error: --out /proc/mqg-run: /proc is a kernel file system, not a place for a run directory']);
  });

  // chmod 555 does not stop root: as root, the check runs as "nobody" (runuser), else it is skipped visibly
  const root = process.getuid?.() === 0;
  const runuser = root ? spawnSync('runuser', ['-u', 'nobody', '--', 'true']).status === 0 : false;
  if (root && !runuser) console.warn('skipping the read-only --out test: running as root without runuser, and chmod 555 does not stop root');
  it.skipIf(root && !runuser)('--out in a read-only directory is an error naming it', () => {
    const ro = join(dir, 'read-only');
    mkdirSync(ro);
    chmodSync(dir, 0o755);
    chmodSync(ro, 0o555);
    const as = (...args: string[]) => {
      const cmd = root ? ['runuser', '-u', 'nobody', '--', 'node', 'bin/mqg.js', ...args] : ['node', 'bin/mqg.js', ...args];
      const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', env: cliEnv({ HOME: tmpdir() }) });
      return [r.status, r.stderr.split('\n').filter((l) => l && !l.startsWith('Warning: maxDynamic')).join('\n')];
    };
    expect(as('train', '--out', ro)).toEqual([1, `error: --out ${ro} is not writable (permission denied)`]);
    expect(as('train', '--out', join(ro, 'run'))).toEqual([1, `error: --out ${join(ro, 'run')}: cannot create the directory (permission denied)`]);
    chmodSync(ro, 0o755);
  });
});
