// `mqg finetune-mcq` and `mqg eval-mcq` end to end from the built dist/: a proposition head on the
// bundled set (jsonl validation lines with val_accuracy, val_emr, val_hamming; the best checkpoint
// beside the last), --resume continuing the run, eval-mcq scoring by the head and by log-likelihood,
// and a bad record named by file, line and field.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const built = existsSync('dist/node/cli.js');
if (!built) console.warn('skipping the finetune-mcq CLI tests: run `npm run build` first');
const mqg = (...args: string[]) => spawnSync('node', ['bin/mqg.js', ...args], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' } });
const jsonLines = (s: string) => s.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));

describe.skipIf(!built)('mqg finetune-mcq / eval-mcq', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqg-mcq-'));

  it('fine-tunes a proposition head, keeps the best checkpoint, resumes, and evaluates', () => {
    let r = mqg('tokenizer', 'train', '--text', 'data/corpus/questions.txt', '--vocab-size', '300', '--out', join(dir, 'tok.json'));
    expect(r.status, r.stderr).toBe(0);
    const run = join(dir, 'run');
    const common = ['--preset', 'mqg-tiny', '--tokenizer', join(dir, 'tok.json'), '--data', 'data/corpus/mcq.jsonl', '--val-split', '0.05',
      '--head', 'proposition', '--batch-size', '2', '--lr', '1e-3', '--eval-every', '1', '--out', run, '--log-format', 'jsonl', '--precision', 'f32'];
    r = mqg('finetune-mcq', ...common, '--steps', '2', '--save-every', '1', '--keep-last', '2');
    expect(r.status, r.stderr).toBe(0);
    let recs = jsonLines(r.stdout);
    expect(recs.map((x) => x.step)).toEqual([1, 2]);
    for (const x of recs) for (const k of ['loss', 'val_loss', 'val_accuracy', 'val_emr', 'val_hamming']) expect(Number.isFinite(x[k]), k).toBe(true);
    expect(existsSync(join(run, 'checkpoints', 'step-000002', 'model.safetensors'))).toBe(true);
    const best = JSON.parse(readFileSync(join(run, 'report.json'), 'utf8')).best;
    expect(existsSync(join(run, 'best', 'checkpoints', `step-${String(best.step).padStart(6, '0')}`, 'model.safetensors'))).toBe(true);
    // the checkpoint holds the head under its HF names
    const st = readFileSync(join(run, 'checkpoints', 'step-000002', 'model.safetensors'));
    const header = JSON.parse(st.subarray(8, 8 + Number(st.readBigUInt64LE(0))).toString('utf8'));
    expect(header['multiple_choice_head.summary.weight'].shape).toEqual([1, 128]);
    expect(header['multiple_choice_head.summary.bias'].shape).toEqual([1]);
    // the LM commands read the double-heads checkpoint (the head left out)
    r = mqg('sample', '--checkpoint', run, '--max-tokens', '3', '--prompt', 'Q');
    expect(r.status, r.stderr).toBe(0);
    // a flag that would change the run is refused on --resume; --steps continues it
    r = mqg('finetune-mcq', '--resume', '--out', run, '--data', 'data/corpus/mcq.jsonl', '--head', 'multiple-choice');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--head "multiple-choice" differs from the run's "proposition"/);
    r = mqg('finetune-mcq', '--resume', '--out', run, '--steps', '3', '--log-format', 'jsonl');
    expect(r.status, r.stderr).toBe(0);
    recs = jsonLines(r.stdout);
    expect(recs.map((x) => x.step)).toEqual([3]);
    // the resumed step is the step an uninterrupted run takes (same weights, moments, batch order)
    r = mqg('finetune-mcq', ...common.map((a) => (a === run ? join(dir, 'straight') : a)), '--steps', '3', '--eval-every', '3');
    expect(r.status, r.stderr).toBe(0);
    const straight = jsonLines(r.stdout);
    expect(straight[2].loss).toBe(recs[0].loss);
    expect(straight[2].val_accuracy).toBe(recs[0].val_accuracy);

    r = mqg('eval-mcq', '--checkpoint', run, '--data', 'data/corpus/mcq.jsonl', '--limit', '6', '--json');
    expect(r.status, r.stderr).toBe(0);
    const headReport = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
    expect(headReport.scorer).toBe('head');
    expect(headReport.head).toBe('proposition');
    expect(headReport.metrics.overall.questions).toBe(6);
    r = mqg('eval-mcq', '--checkpoint', run, '--data', 'data/corpus/mcq.jsonl', '--limit', '4', '--scorer', 'loglik', '--report', join(dir, 'll.json'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/unconditional-normalised/);
    const ll = JSON.parse(readFileSync(join(dir, 'll.json'), 'utf8'));
    expect(Object.keys(ll.metrics)).toEqual(['sum', 'mean', 'norm', 'uncond']);
    expect(ll.metrics.uncond.overall.chance.accuracy).toBeGreaterThan(0);

    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, readFileSync('data/corpus/mcq.jsonl', 'utf8').split('\n').slice(0, 2).join('\n') + '\n{"question":"q","options":{"A":"x","B":"y"},"answer_idx":"C"}\n');
    r = mqg('eval-mcq', '--checkpoint', run, '--data', bad, '--format', 'medqa');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bad\.jsonl:1: "options" must be an object/);
  }, 300_000);
});
