// `mqg eval` on the hf-biomedlm-tiny directories and tokens.bin: the batching rule of expected.json
// (batch k = tokens[k*B*T : k*B*T + B*T + 1]), the jsonl object, and flag errors.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { evalMain } from '../../src/cli/eval';
import '../../src/gpu/node';

const GOLDEN = path.resolve(__dirname, '../../../shared/golden/hf-biomedlm-tiny');
const golden = existsSync(GOLDEN);
if (!golden) console.warn(`skipping mqg eval tests: ${GOLDEN} is absent`);

async function run(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((s: string) => void lines.push(s));
  try {
    await evalMain(args);
  } finally {
    spy.mockRestore();
  }
  return lines;
}
afterEach(() => vi.restoreAllMocks());

describe.skipIf(!golden)('mqg eval', () => {
  const expected = golden ? JSON.parse(readFileSync(path.join(GOLDEN, 'expected.json'), 'utf8')) : undefined;
  const base = ['--data', path.join(GOLDEN, 'tokens.bin'), '--batch-size', '4', '--seq-len', '32', '--precision', 'f32', '--log-format', 'jsonl'];

  it('prints one jsonl object; the torch and safetensors directories agree; batch 0 is the golden stream batch 0', async () => {
    const [a] = await run(['--checkpoint', path.join(GOLDEN, 'model'), ...base]);
    const [b] = await run(['--checkpoint', path.join(GOLDEN, 'model-bin'), ...base]);
    const ra = JSON.parse(a!), rb = JSON.parse(b!);
    expect(ra.tokens).toBe(10 * 4 * 32); // 1281 tokens: exactly the 10 batches of the golden stream
    expect(ra.ppl).toBeCloseTo(Math.exp(ra.loss), 10);
    expect(rb.loss).toBe(ra.loss);
    const [one] = await run(['--checkpoint', path.join(GOLDEN, 'model'), ...base, '--max-batches', '1']);
    const r1 = JSON.parse(one!);
    expect(r1.tokens).toBe(128);
    // Before its first update the golden run measures this batch's loss; the 1e-2 bound holds with or
    // without the model's per-layer attention scaling (the f32 figure is then within 1e-4).
    expect(Math.abs(r1.loss - expected.stream.losses[0])).toBeLessThan(1e-2);
  });

  it('names bad flags', async () => {
    await expect(run(['--data', 'x'])).rejects.toThrow(/mqg eval: --checkpoint is required/);
    await expect(run(['--checkpoint', path.join(GOLDEN, 'model'), ...base, '--log-format', 'xml'])).rejects.toThrow(/--log-format must be text or jsonl; got "xml"/);
    await expect(run(['--checkpoint', path.join(GOLDEN, 'model'), ...base, '--seq-len', '65'])).rejects.toThrow(/--seq-len 65 exceeds the model's context \(64\)/);
    await expect(run(['--checkpoint', path.join(GOLDEN, 'nope'), ...base])).rejects.toThrow(/checkpoint file not found: .*nope/);
  });
});
