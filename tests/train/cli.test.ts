// The `mqg` command end to end (from the built dist/, as a user runs it): tokenizer, data,
// train, sample, eval-mcq, and the API example of the README.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const built = existsSync('dist/node/cli.js');
if (!built) console.warn('skipping CLI tests: run `npm run build` (or `npm run setup`) first');
const mqg = (...args: string[]) => spawnSync('node', ['bin/mqg.js', ...args], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' } });

describe.skipIf(!built)('mqg CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqg-cli-'));

  it('trains a tokenizer, prepares shards, trains, samples and evaluates', () => {
    const text = join(dir, 'corpus.txt');
    const corpus = readFileSync('data/corpus/topics.txt', 'utf8');
    writeFileSync(text, corpus);
    let r = mqg('tokenizer', 'train', '--text', text, '--vocab-size', '400', '--out', join(dir, 'tok.json'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/trained a 400-token BPE/);
    r = mqg('data', 'prepare', '--text', text, '--tokenizer', join(dir, 'tok.json'), '--out', join(dir, 'data'), '--documents', 'paragraph');
    expect(r.status, r.stderr).toBe(0);
    const m = r.stdout.match(/(\d+) documents -> (\d+) train tokens/);
    expect(Number(m![1])).toBe(corpus.trim().split('\n\n').length);
    r = mqg('train', '--data', join(dir, 'data'), '--tokenizer', join(dir, 'tok.json'), '--steps', '4', '--batch-size', '2', '--seq-len', '32',
      '--eval-every', '2', '--eval-batches', '1', '--out', join(dir, 'run'), '--mcq', 'data/corpus/mcq.jsonl', '--mcq-limit', '5', '--log-format', 'jsonl', '--precision', 'f32');
    expect(r.status, r.stderr).toBe(0);
    const recs = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(recs.filter((x) => 'step' in x).map((x) => x.step)).toEqual([0, 1, 2, 3]);
    expect(recs.find((x) => x.mcq)!.mcq.accuracy_sum).toBeGreaterThanOrEqual(0);
    expect(existsSync(join(dir, 'run', 'model.safetensors'))).toBe(true);
    r = mqg('sample', '--checkpoint', join(dir, 'run', 'model.safetensors'), '--prompt', 'The heart', '--max-tokens', '8', '--seed', '3');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.startsWith('The heart')).toBe(true);
    expect(r.stdout.length).toBeGreaterThan('The heart'.length + 1);
    r = mqg('eval-mcq', '--checkpoint', join(dir, 'run', 'model.safetensors'), '--data', 'data/corpus/mcq.jsonl', '--limit', '6', '--json');
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.questions).toBe(6);
    expect(rep.bySource['mqg-demo'].questions).toBe(6);
  });

  it('exits 2 with a clear message for an unknown flag or command, 1 for a missing file', () => {
    let r = mqg('train', '--bogus');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/mqg train: unknown flag --bogus/);
    r = mqg('frobnicate');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
    r = mqg('sample', '--checkpoint', join(dir, 'nope.safetensors'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/nope\.safetensors/);
    r = mqg('eval-mcq', '--checkpoint', 'x', '--data', join(dir, 'missing.jsonl'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/missing\.jsonl/);
  });

  it('Ctrl-C saves a checkpoint and exits cleanly; --resume continues from it', async () => {
    const { spawn } = await import('node:child_process');
    const out = join(dir, 'sigint');
    const child = spawn('node', ['bin/mqg.js', 'train', '--steps', '500', '--batch-size', '2', '--seq-len', '32', '--eval-every', '0',
      '--vocab-size', '300', '--out', out, '--mcq', '', '--precision', 'f32'], { env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' } });
    let stdout = '';
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    await new Promise<void>((ready) => child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (/step +3\/500/.test(stdout)) ready();
    }));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/interrupted: saving a checkpoint after this step/);
    const m = stdout.match(/stopped at step (\d+); resume with: mqg train --resume/);
    expect(Number(m![1])).toBeGreaterThanOrEqual(3);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
    const r = mqg('train', '--resume', '--out', out, '--steps', String(Number(m![1]) + 1), '--log-format', 'jsonl');
    expect(r.status, r.stderr).toBe(0);
    const steps = r.stdout.split('\n').filter((l) => l.startsWith('{"step"')).map((l) => JSON.parse(l).step);
    expect(steps).toEqual([Number(m![1])]);
  });

  it('runs the README API example', () => {
    const out = execFileSync('node', ['examples/api.mjs'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const [, before, after] = out.match(/loss (\d+\.\d+),[\s\S]*after one AdamW step: (\d+\.\d+)/)!;
    expect(Number(before)).toBeGreaterThan(10); // ~ln(50257) at initialisation
    expect(Number(after)).toBeLessThan(Number(before));
    expect(out).toMatch(/greedy: The heart/);
  });
});
