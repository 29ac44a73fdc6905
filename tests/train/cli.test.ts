// The `mqg` command end to end (from the built dist/, as a user runs it): tokenizer, data,
// train, sample, eval-mcq, and the API example of the README.
// dist/ is built first when missing or stale (tests/helpers/cli.ts), so this suite never skips.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCli, mqg } from '../helpers/cli';

describe('mqg CLI', () => {
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
    expect(recs.filter((x) => 'step' in x).map((x) => x.step)).toEqual([1, 2, 3, 4]);
    const mc = recs.find((x) => x.mcq)!.mcq;
    expect(mc.questions).toBe(5);
    // an accuracy over 5 questions is a multiple of 1/5 in [0, 1]
    expect(Number.isInteger(Math.round(mc.accuracy_sum * 5 * 1e6) / 1e6)).toBe(true);
    expect(mc.accuracy_sum).toBeLessThanOrEqual(1);
    expect(existsSync(join(dir, 'run', 'checkpoints', 'step-000004', 'model.safetensors'))).toBe(true);
    r = mqg('sample', '--checkpoint', join(dir, 'run'), '--prompt', 'The heart', '--max-tokens', '8', '--seed', '3');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.startsWith('The heart')).toBe(true);
    expect(r.stdout.length).toBeGreaterThan('The heart'.length + 1);
    r = mqg('eval-mcq', '--checkpoint', join(dir, 'run'), '--data', 'data/corpus/mcq.jsonl', '--limit', '6', '--json');
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
    expect(r.stderr.trim()).toMatch(/^error: .*missing\.jsonl/);
    expect(r.stderr).not.toMatch(/\n\s+at |internal error/);
    // --help says what --resume does with each flag
    r = mqg('train', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/These flags apply to the resumed run: .*--steps.*--eval-every.*--save-every.*--keep-last/);
    expect(r.stdout).toMatch(/These must match the run \(a different value is an error\): .*--batch-size.*--lr.*--precision/);
  });

  it('rebuilds a stale dist/ before running the CLI (npm test and these tests never use old code)', async () => {
    // @ts-expect-error: a plain .mjs script without types
    const { ensureDist } = await import('../../scripts/ensure-dist.mjs');
    const { utimesSync } = await import('node:fs');
    const past = new Date(Date.now() - 3600_000 * 24 * 365);
    utimesSync('dist/node/cli.js', past, past);
    expect(ensureDist()).toBe('built');
    expect(ensureDist()).toBe('fresh');
    const r = mqg('profile', '--preset', 'gpt5');
    expect([r.status, r.stderr.trim()]).toEqual([2, `error: mqg profile: --preset must be one of mqg-tiny, mqg-small, gpt2, gpt2-medium, biomedlm; got "gpt5"`]);
  });

  it('runs the README API example', () => {
    buildCli();
    const out = execFileSync('node', ['examples/api.mjs'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const [, before, after] = out.match(/loss (\d+\.\d+),[\s\S]*after one AdamW step: (\d+\.\d+)/)!;
    expect(Number(before)).toBeGreaterThan(10); // ~ln(50257) at initialisation
    expect(Number(after)).toBeLessThan(Number(before));
    expect(out).toMatch(/greedy: The heart/);
  });
});
