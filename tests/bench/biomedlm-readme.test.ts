// bench/readme.ts's BioMedLM table (issue 23): a row per measure, a column per weight type, PyTorch's
// figure and the best of ours over it; runs that a build could not do read "not available" (and are
// listed under the table), and only full-size result files are read (biomedlm-dev-* are not).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { biomedlmMarkdown, biomedlmTable, latestBiomedlm, type BiomedlmResult, type BiomedlmRun } from '../../bench/readme';

const GiB = 2 ** 30;
const evalRun = (type: string, T: number, tps: number, rss: number, load: number): BiomedlmRun => ({ type, what: 'eval', status: 'ok', B: 1, T, batches: T === 128 ? 2 : 4, load_seconds: load, tokens_per_second: tps, peak_rss_bytes: rss * GiB });
const unavailable = (type: string, what: 'eval' | 'decode' | 'lora', T?: number): BiomedlmRun => ({ type, what, status: 'unavailable', reason: `this build's mqg ${what === 'decode' ? 'sample' : 'eval'} has no --quantize`, B: T && 1, T, peak_rss_bytes: 0 });

const result: BiomedlmResult = {
  kind: 'biomedlm',
  date: '2026-12-06T10:00:00.000Z',
  cpu: 'AMD EPYC',
  cores: 2,
  threads: 2,
  load: [0.5, 0.4, 0.3],
  versions: { mqg: '0.1.0', commit: 'abc1234', node: 'v20.20.2', adapter: 'llvmpipe' },
  model: { description: 'biomedlm-shaped', bytes: 10.38e9 },
  precision: 'f16',
  evals: [{ B: 1, T: 128, batches: 2 }, { B: 1, T: 32, batches: 4 }],
  decode: { prompt_tokens: 16, new_tokens: 16 },
  lora: { r: 8, targets: 'c_attn,c_fc', T: 128, steps: 2 },
  runs: [
    evalRun('f16', 128, 5.19, 5.5, 142), evalRun('f16', 32, 2.95, 5.25, 140),
    { type: 'f16', what: 'decode', status: 'ok', tokens_per_second: 0.5, new_tokens: 16, load_seconds: 141, peak_rss_bytes: 5.6 * GiB },
    unavailable('q8_0', 'eval', 128), unavailable('q8_0', 'eval', 32), unavailable('q8_0', 'decode'),
    evalRun('q4_0', 128, 12, 2, 50), evalRun('q4_0', 32, 5, 1.75, 52),
    { type: 'q4_0', what: 'decode', status: 'failed', reason: 'mqg sample exited with 1: out of memory', peak_rss_bytes: 0 },
    { type: 'q4_0', what: 'lora', status: 'ok', r: 8, targets: 'c_attn,c_fc', step_ms: [60000, 55000], peak_rss_bytes: 3.5 * GiB },
  ],
  torch: { status: 'ok', torch: '1.13.0', threads: 2, load_seconds: 20, eval: [{ B: 1, T: 128, tokens_per_second: 21.8 }, { B: 1, T: 32, tokens_per_second: 8 }], decode: { tokens_per_second: 0.7 }, peak_rss_bytes: 10 * GiB },
  ratios: [
    { measure: 'eval B1×T128', best_type: 'q4_0', ratio: 12 / 21.8 },
    { measure: 'eval B1×T32', best_type: 'q4_0', ratio: 5 / 8 },
    { measure: 'greedy decode', best_type: 'f16', ratio: 0.5 / 0.7 },
    { measure: 'load', best_type: 'q4_0', ratio: 50 / 20 },
    { measure: 'peak RSS of eval', best_type: 'q4_0', ratio: 0.2 },
  ],
  goals: [{ name: 'q4_0 eval peak RSS (GiB)', value: 2, goal: '≤ 2.5', met: true }],
};

describe('the BioMedLM table', () => {
  it('has a row per measure and a column per weight type, PyTorch and the best ratio', () => {
    expect(biomedlmTable(result)).toEqual([
      '| | mqg-webgpu f16 | mqg-webgpu q8_0 | mqg-webgpu q4_0 | PyTorch float32, 2 threads | best ours / PyTorch (tokens/s: higher is better; s, GiB: lower) |',
      '|---|---:|---:|---:|---:|---:|',
      '| load the 10.38 GB checkpoint (best of the runs) | 140.0 s | not available | 50.0 s | 20.0 s | 250% (q4_0) |',
      '| eval B1×T128 (2 batches) | 5.19 tokens/s | not available | 12.00 tokens/s | 21.80 tokens/s | 55% (q4_0) |',
      '| eval B1×T32 (4 batches) | 2.95 tokens/s | not available | 5.00 tokens/s | 8.00 tokens/s | 63% (q4_0) |',
      '| greedy decode with KV cache, 16 tokens after 16 | 0.50 tokens/s | not available | failed | 0.70 tokens/s | 71% (f16) |',
      '| peak RSS of eval | 5.50 GiB | not available | 2.00 GiB | 10.00 GiB | 20% (q4_0) |',
      '| peak RSS of a LoRA step (r 8 on c_attn,c_fc, B1×T128) | – | – | 3.50 GiB | – | – |',
    ]);
  });

  it('lists what was not measured and the goals under the table, and names the CPU', () => {
    const md = biomedlmMarkdown(result, 'bench/results/biomedlm-2026-12-06.json');
    expect(md).toContain('Measured 2026-12-06 on **AMD EPYC** (2 cores');
    expect(md).toContain("- q8_0 eval B1×T128: this build's mqg eval has no --quantize");
    expect(md).toContain('- q4_0 decode: mqg sample exited with 1: out of memory');
    expect(md).toContain('- q4_0 eval peak RSS (GiB): 2.00 (goal ≤ 2.5): met');
  });

  it('reads the newest full-size result, never a -dev one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mqg-biomedlm-readme-'));
    try {
      writeFileSync(join(dir, 'biomedlm-dev-2026-12-07.json'), JSON.stringify({ ...result, kind: 'biomedlm-dev' }));
      expect(latestBiomedlm(dir)).toBeUndefined();
      writeFileSync(join(dir, 'biomedlm-2026-12-04.json'), JSON.stringify({ ...result, date: '2026-12-04T00:00:00.000Z' }));
      writeFileSync(join(dir, 'biomedlm-2026-12-06.json'), JSON.stringify(result));
      writeFileSync(join(dir, 'biomedlm-eval.json'), '{}');
      expect(latestBiomedlm(dir)?.file).toBe(`${dir}/biomedlm-2026-12-06.json`);
      expect(latestBiomedlm(join(dir, 'absent'))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
