// tuneMatmul (tune/matmul.ts) and autoTune (tune/auto.ts): candidates verified against a CPU
// product and timed, wrong candidates rejected, the choice recorded per adapter under the store's
// key (adapter, driver, library version), the file store, the model's weighted GEMM shapes, and
// recorded choices reused without timing.
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type MatmulVariant, matmulVariant } from '../../../src/kernels/matmul';
import { variantName } from '../../../src/kernels/matmul-wgsl';
import { DEFAULT_LAYERNORM_LAYOUT } from '../../../src/kernels/layernorm';
import { LIBRARY_VERSION, setTuneStore, tuneKey } from '../../../src/kernels/tune/store';
import { fileTuneStore } from '../../../src/kernels/tune/store.node';
import { modelTuneShapes, tuneMatmul } from '../../../src/kernels/tune/matmul';
import { autoTune, autoTuneOnce } from '../../../src/kernels/tune/auto';
import { setKernelSourceHook } from '../../../src/gpu/sources';
import { getGPU } from '../../helpers/gpu';
import { memoryTuneStore } from '../../helpers/tune';

// Importing the Node store registers ~/.cache/mqg-webgpu; keep this suite independent of it.
setTuneStore(undefined);

describe('tuneMatmul / autoTune', () => {
  afterAll(() => {
    setKernelSourceHook(null);
    setTuneStore(undefined);
  });

  it('verifies and times candidates, records the choice per adapter; the file store round-trips', async () => {
    const gpu = await getGPU('f32');
    const { saved } = memoryTuneStore();
    try {
      // one candidate on one small shape: compiling candidates is what costs time on lavapipe
      const candidates = [matmulVariant(gpu)];
      const rec = await tuneMatmul(gpu, { candidates, force: true, shapes: [[64, 64, 64, false, false]] });
      expect(rec.variant).toEqual(candidates[0]);
      expect(Object.keys(rec.timings!).length).toBe(1);
      expect(Object.values(rec.timings!).every((ms) => ms > 0)).toBe(true);
      expect(saved.get(tuneKey(gpu))).toEqual(rec);
      expect(matmulVariant(gpu)).toEqual(rec.variant);
      expect(await tuneMatmul(gpu)).toBe(rec); // recorded: no second timing
      const file = join(tmpdir(), `mqg-matmul-tune-${process.pid}.json`);
      const store = fileTuneStore(file);
      expect(store.load('nothing yet')).toBeUndefined();
      store.save(tuneKey(gpu), rec);
      expect(fileTuneStore(file).load(tuneKey(gpu))).toEqual(rec);
      rmSync(file, { force: true });
    } finally {
      setTuneStore(undefined);
    }
  });

  it('a candidate that computes wrong results is rejected, never chosen', async () => {
    const gpu = await getGPU('f32');
    memoryTuneStore();
    const good = matmulVariant(gpu);
    const bad: MatmulVariant = good.kind === 'tiled' ? { ...good, tm: 8 } : { ...good, tm: 16 };
    const badName = variantName(bad);
    // break the bad variant only: its first accumulator is doubled, which a right kernel never does
    setKernelSourceHook((name, code) => (name.includes(`_${badName}_`) ? code.replace('acc0_0 = fma(', 'acc0_0 = 2.0 * fma(') : code));
    try {
      const shapes: [number, number, number, boolean, boolean][] = [[64, 64, 64, false, false]];
      const rec = await tuneMatmul(gpu, { candidates: [bad, good], force: true, persist: false, shapes });
      expect(variantName(rec.variant)).toBe(variantName(good));
      expect(rec.rejected?.[badName]).toMatch(/^wrong result: /);
      expect(Object.keys(rec.timings!)).toEqual([variantName(good)]);
      await expect(tuneMatmul(gpu, { candidates: [bad], force: true, persist: false, shapes })).rejects.toThrow(/no candidate variant ran correctly.*wrong result/);
    } finally {
      setKernelSourceHook(null);
      setTuneStore(undefined);
    }
  });

  it('the cache key names the adapter, its driver (version) and the library version', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '../../../package.json'), 'utf8')) as { version: string };
    expect(LIBRARY_VERSION).toBe(pkg.version);
    const info = { vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)' };
    const key = tuneKey({ adapterInfo: info, hasSubgroups: true });
    expect(key).toContain('mesa / software / llvmpipe');
    expect(key).toContain('Mesa 25.0.7 (LLVM 15.0.6)');
    expect(key).toContain(`mqg-webgpu ${LIBRARY_VERSION}`);
    // another driver version, another library version, no subgroups: each its own record
    const other = [
      tuneKey({ adapterInfo: { ...info, description: 'llvmpipe: Mesa 25.2.0 (LLVM 19.1.7)' }, hasSubgroups: true }),
      tuneKey({ adapterInfo: info, hasSubgroups: true }, '0.2.0'),
      tuneKey({ adapterInfo: info, hasSubgroups: false }),
    ];
    expect(new Set([key, ...other]).size).toBe(4);
  });

  it('tunes on the model\'s shapes; a recorded choice is reused without timing again', async () => {
    const gpu = await getGPU('f32');
    const { saved, saves } = memoryTuneStore();
    try {
      const config = { nEmbd: 16, nInner: 40, paddedVocabSize: 64, nLayer: 3 };
      const shapes = modelTuneShapes(config, 2, 8);
      // [M, N, K, transA, transB, calls per step]: every GEMM of the step, the blocks' once per layer
      expect(shapes).toHaveLength(15);
      expect(shapes).toContainEqual([16, 16 * 3, 16, false, false, 3]); // c_attn forward: BT=16 rows
      expect(shapes).toContainEqual([16, 16, 48, false, true, 3]); // c_attn dinp
      expect(shapes).toContainEqual([16, 40, 16, true, false, 3]); // c_fc dweight, K = BT
      expect(shapes).toContainEqual([40, 16, 16, true, false, 3]); // mlp.c_proj dweight
      expect(shapes).toContainEqual([16, 64, 16, false, true, 1]); // lm_head logits
      expect(shapes).toContainEqual([16, 16, 64, false, false, 1]); // lm_head dx
      expect(shapes).toContainEqual([64, 16, 16, true, false, 1]); // dwte
      expect(shapes.reduce((n, s) => n + s[5]!, 0)).toBe(4 * 3 * 3 + 3); // 39 GEMMs per step
      // equal shapes are one entry with their calls added: here c_fc's forward is c_attn's (nInner = 3·nEmbd)
      expect(modelTuneShapes({ ...config, nInner: 48 }, 2, 8)).toContainEqual([16, 48, 16, false, false, 6]);
      const lines: string[] = [];
      const first = await autoTune(gpu, config, 2, 8, { candidates: [matmulVariant(gpu)], layernormCandidates: [DEFAULT_LAYERNORM_LAYOUT], crossEntropyCandidates: [64], onProgress: (l) => lines.push(l) });
      expect(first.cached).toBe(false);
      expect(first.key).toBe(tuneKey(gpu));
      expect(first.matmul.shapes).toEqual(shapes);
      expect(saved.get(first.key)).toEqual(first.matmul);
      expect(lines.some((l) => /candidate 1\/1/.test(l))).toBe(true);
      // a fresh process: the record comes from the store, nothing is timed or saved
      setTuneStore({ load: (k) => saved.get(k), save: () => void saved.set('unexpected save', first.matmul) });
      const again: string[] = [];
      const second = await autoTune(gpu, config, 2, 8, { onProgress: (l) => again.push(l) });
      expect(second.cached).toBe(true);
      expect(second.matmul).toEqual(first.matmul);
      expect(again).toEqual([]);
      await autoTuneOnce(gpu, config, 2, 8); // the model's hook: a record exists, so nothing happens
      expect(saved.has('unexpected save')).toBe(false);
      expect(saves()).toBe(3); // matmul's record, and the row kernels' two (tune/rows.test.ts)
    } finally {
      setTuneStore(undefined);
    }
  });

  it('model tuning shapes are capped in size, their weight scaled by the flops cut', () => {
    const shapes = modelTuneShapes({ nEmbd: 768, paddedVocabSize: 50304, nLayer: 12 }, 4, 1024);
    expect(shapes.every(([M, N, K]) => 2 * M * N * K <= 2 ** 31)).toBe(true);
    expect(shapes.some(([, N, K, , tb]) => tb && K === 768 && N >= 64)).toBe(true);
    // the weighted flops are the step's: 12 blocks of (3 + 1 + 4 + 4)·C² MACs per token, forward and two
    // backward GEMMs each, and the lm_head's three (B·T·C·V each)
    const BT = 4096, C = 768, V = 50304;
    const flops = shapes.reduce((f, [M, N, K, , , w]) => f + 2 * M * N * K * w!, 0);
    expect(flops / (2 * 3 * BT * (12 * 12 * C * C + C * V))).toBeCloseTo(1, 10);
  });

  it('the tuning total weighs each shape by its calls per step', async () => {
    const gpu = await getGPU('f32');
    memoryTuneStore();
    try {
      const candidates = [matmulVariant(gpu)];
      const once = await tuneMatmul(gpu, { candidates, force: true, persist: false, shapes: [[64, 64, 64, false, false]] });
      const many = await tuneMatmul(gpu, { candidates, force: true, persist: false, shapes: [[64, 64, 64, false, false, 1000]] });
      const name = Object.keys(once.timings!)[0]!;
      // the same product timed twice: 1000× the weight is ~1000× the total (timing noise is far below 10×)
      expect(many.timings![name]! / once.timings![name]!).toBeGreaterThan(100);
      expect(many.shapes).toEqual([[64, 64, 64, false, false, 1000]]);
      // a weight the total cannot honour is an error naming the shape, before anything is timed
      for (const w of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
        await expect(tuneMatmul(gpu, { candidates, force: true, persist: false, shapes: [[64, 64, 64, false, false, w]] }))
          .rejects.toThrow(`tuneMatmul: shape [64,64,64,false,false,${JSON.stringify(w)}] has weight ${w}`);
      }
    } finally {
      setTuneStore(undefined);
    }
  });
});
