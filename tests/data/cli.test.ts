// hf://datasets through the CLI (the built dist/): `mqg data prepare --data` and `mqg eval-mcq --data`
// against a stand-in Hub on loopback, the same numbers as from local files holding the same
// questions, and errors as one line naming the dataset, or the file, row and column.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getGPU } from '../helpers/gpu';
import { tinyCheckpoints } from '../serve/fixture';
import { readMcqSource } from '../../src/train/data/mcq-source.node';
import { questionText } from '../../src/train/questions/prompt';
import { standInHub } from './stand-in-hub';

const built = existsSync('dist/node/cli.js');
if (!built) console.warn('skipping the hf://datasets CLI tests: run `npm run build` first');

/** The CLI as a child process; asynchronous, so that the stand-in Hub in this process can answer it. */
function mqg(env: Record<string, string>, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('node', ['bin/mqg.js', ...args], { env: { ...process.env, XDG_RUNTIME_DIR: '/tmp', HF_HUB_OFFLINE: '', ...env } });
    let stdout = '', stderr = '';
    p.stdout.on('data', (c) => (stdout += c));
    p.stderr.on('data', (c) => (stderr += c));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe.skipIf(!built)('hf://datasets through the CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqg-hubcli-'));
  const cache = join(dir, 'cache');
  let hub: Awaited<ReturnType<typeof standInHub>>;
  let env: Record<string, string>;
  beforeAll(async () => {
    hub = await standInHub();
    env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache };
  });
  afterAll(() => new Promise((r) => hub.server.close(r)));

  it('data prepare --data: each question of a split one document, the same tokens as the same text given as files', async () => {
    const out = join(dir, 'shards');
    const r = await mqg(env, 'data', 'prepare', '--data', 'hf://datasets/org/med', '--split', 'train', '--out', out, '--val-fraction', '0');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^3 documents -> \d+ train tokens/m);
    expect(JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')).documents).toBe(3);
    // the same questions as text files, one per question
    const recs = (await readMcqSource('hf://datasets/org/med', { split: 'train', cacheDir: cache })).records;
    const files = recs.map((q, i) => {
      const f = join(dir, `q${i}.txt`);
      writeFileSync(f, questionText(q));
      return f;
    });
    const out2 = join(dir, 'shards-text');
    const t = await mqg({}, 'data', 'prepare', '--text', files.join(','), '--out', out2, '--val-fraction', '0');
    expect(t.status, t.stderr).toBe(0);
    const shard = (d: string) => readFileSync(join(d, readdirSync(d).find((f) => f.includes('_train_'))!));
    expect(shard(out).subarray(1024).equals(shard(out2).subarray(1024))).toBe(true);
    // a text column: each row's text one document
    const c = await mqg(env, 'data', 'prepare', '--data', 'hf://datasets/org/med', '--split', 'train', '--columns', 'text=question', '--out', join(dir, 'col'));
    expect(c.status, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/^3 documents -> /m);
    // a bad column: one line naming the file, row and column
    const bad = await mqg(env, 'data', 'prepare', '--data', 'hf://datasets/org/med', '--split', 'train', '--columns', 'text=body', '--out', join(dir, 'bad'));
    expect(bad.status).not.toBe(0);
    expect(bad.stderr.trim()).toMatch(/^error: .*datasets--org--med\/snapshots\/[0-9a-f]{40}\/data\/train-00000-of-00001\.parquet: row 1, column "body": no such column \(the row has "question", "choices", "answer"\)$/);
  }, 120_000);

  it('finetune-mcq --data hf://... --split train, --val-data a split by its path in the repository', async () => {
    const ck = await tinyCheckpoints(await getGPU('f32'));
    const run = join(dir, 'ft');
    const r = await mqg(env, 'finetune-mcq', '--init', ck.plain, '--data', 'hf://datasets/org/med', '--split', 'train',
      '--val-data', 'hf://datasets/org/med/data/test-00000-of-00001.parquet', '--steps', '1', '--batch-size', '2', '--out', run, '--log-format', 'jsonl', '--precision', 'f32');
    expect(r.status, r.stderr).toBe(0);
    // validation on the test split's 2 four-option questions (MedMCQA's export): chance 1/4, accuracy in halves
    const step = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('{"step":1'))!);
    expect(step.val_chance).toBe(0.25);
    expect([0, 0.5, 1]).toContain(step.val_accuracy);
    expect(existsSync(join(run, 'checkpoints', 'step-000001', 'model.safetensors'))).toBe(true);
    // a different split on --resume is refused (the run's data is fixed)
    const again = await mqg(env, 'finetune-mcq', '--resume', '--out', run, '--data', 'hf://datasets/org/med', '--split', 'validation', '--steps', '2');
    expect(again.status).not.toBe(0);
    expect(again.stderr).toMatch(/--split "validation" differs from the run's "train"/);
  }, 180_000);

  it('eval-mcq --data hf://...: the report of the same questions read from a local file', async () => {
    const ck = await tinyCheckpoints(await getGPU('f32'));
    const hubRun = await mqg(env, 'eval-mcq', '--checkpoint', ck.plain, '--data', 'hf://datasets/org/med', '--split', 'test', '--json', '--precision', 'f32');
    expect(hubRun.status, hubRun.stderr).toBe(0);
    const local = join(dir, 'test.jsonl');
    const recs = (await readMcqSource('hf://datasets/org/med', { split: 'test', cacheDir: cache })).records;
    writeFileSync(local, recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const localRun = await mqg({}, 'eval-mcq', '--checkpoint', ck.plain, '--data', local, '--json', '--precision', 'f32');
    expect(localRun.status, localRun.stderr).toBe(0);
    const report = (s: string) => ({ ...JSON.parse(s.slice(s.indexOf('{'))), seconds: 0 });
    const a = report(hubRun.stdout), b = report(localRun.stdout);
    expect(a.questions).toBe(2);
    expect(a).toEqual(b);
    // with the Hub down, from the cache; several splits and no --split: one line naming them (the cached ones)
    const down = { HF_ENDPOINT: 'http://127.0.0.1:9', HF_HUB_CACHE: cache };
    const again = await mqg(down, 'eval-mcq', '--checkpoint', ck.plain, '--data', 'hf://datasets/org/med', '--split', 'test', '--json', '--precision', 'f32');
    expect(again.status, again.stderr).toBe(0);
    expect(report(again.stdout)).toEqual(a);
    const noSplit = await mqg(down, 'eval-mcq', '--checkpoint', ck.plain, '--data', 'hf://datasets/org/med');
    expect(noSplit.status).not.toBe(0);
    expect(noSplit.stderr.trim()).toBe('error: hf://datasets/org/med@main holds the splits train, test: choose one with --split');
  }, 180_000);
});
