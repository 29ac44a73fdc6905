// The first-use tuning message (autoTuneOnce, tune/auto.ts) says what is tuned and what each record
// is keyed by: matmul once per adapter and driver, the row kernels once per width, vocabulary and
// precision (issue 25: a new model shape re-tuned for seconds under a message that said tuning
// happens once per adapter).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CROSS_ENTROPY_TUNE_VERSION, crossEntropyChoice } from '../../../src/kernels/classifier';
import { DEFAULT_LAYERNORM_LAYOUT, LAYERNORM_TUNE_VERSION, layernormChoice } from '../../../src/kernels/layernorm';
import { matmulChoice, matmulVariant } from '../../../src/kernels/matmul';
import { setTuneStore } from '../../../src/kernels/tune/store';
import { autoTune, autoTuneOnce, tuningMessage } from '../../../src/kernels/tune/auto';
import { getGPU } from '../../helpers/gpu';
import { memoryTuneStore } from '../../helpers/tune';

const gpu = await getGPU('f32');
const savedEnv = process.env.MQG_AUTOTUNE;

afterEach(() => {
  setTuneStore(undefined);
  matmulChoice.forget();
  layernormChoice.forget();
  crossEntropyChoice.forget();
  if (savedEnv === undefined) delete process.env.MQG_AUTOTUNE;
  else process.env.MQG_AUTOTUNE = savedEnv;
  vi.restoreAllMocks();
});

describe('tuningMessage', () => {
  const shape = { hs: 16, C: 48, Vp: 136, precision: 'f32' };

  it("an adapter's first use: everything is tuned; each kernel's key is named", () => {
    const m = tuningMessage('lavapipe', { matmul: true, attention: true, rows: true }, shape);
    expect(m).toMatch(/^mqg: first use of lavapipe: tuning matmul, attention, the row kernels \(/);
    expect(m).toContain('matmul once per adapter and driver');
    expect(m).toContain('attention once per head size and precision');
    expect(m).toContain('the row kernels once per width, vocab and precision');
    expect(m).toContain('MQG_AUTOTUNE=0 skips it');
  });

  it('a new model shape on a tuned adapter: names the shape, not the adapter, as new', () => {
    const m = tuningMessage('lavapipe', { matmul: false, attention: false, rows: true }, shape);
    expect(m).toMatch(/^mqg: first use of this model shape on lavapipe \(width 48, vocab 136, f32\): tuning the row kernels \(/);
    expect(m).not.toMatch(/first use of lavapipe:/);
    const both = tuningMessage('lavapipe', { matmul: false, attention: true, rows: true }, shape);
    expect(both).toMatch(/\(head size 16, width 48, vocab 136, f32\): tuning attention, the row kernels/);
  });
});

describe('autoTuneOnce on a new model shape', () => {
  it('with matmul recorded, prints the new-shape message and tunes only the row kernels', async () => {
    const { saved } = memoryTuneStore();
    // an earlier model (width 16, vocab 64) tuned matmul and its row kernels on this adapter
    await autoTune(gpu, { nEmbd: 16, paddedVocabSize: 64 }, 2, 8, { candidates: [matmulVariant(gpu)], layernormCandidates: [DEFAULT_LAYERNORM_LAYOUT], crossEntropyCandidates: [64] });
    const before = new Set(saved.keys());
    expect(before.size).toBe(3);
    process.env.MQG_AUTOTUNE = '1'; // the hook is off under vitest unless asked
    const lines: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((l: unknown) => void lines.push(String(l)));
    await autoTuneOnce(gpu, { nEmbd: 24, paddedVocabSize: 72 }, 2, 8);
    expect(lines[0]).toMatch(/^mqg: first use of this model shape on .+ \(width 24, vocab 72, f32\): tuning the row kernels \(matmul once per adapter and driver;/);
    expect(lines.some((l) => /^mqg: matmul variant/.test(l))).toBe(false); // matmul's record holds
    expect(lines.at(-1)).toMatch(/^mqg: layernorm layout \S+ and cross-entropy wg\d+ chosen for width 24, vocab 72$/);
    const added = [...saved.keys()].filter((k) => !before.has(k));
    expect(added.map((k) => k.split(' | ')[0]).sort()).toEqual([`crossentropy v${CROSS_ENTROPY_TUNE_VERSION} Vp72 f32`, `layernorm v${LAYERNORM_TUNE_VERSION} C24 f32`].sort());
  });
});
