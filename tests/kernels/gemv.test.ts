// Skinny GEMM (gemv.ts, dispatched by gemm for M <= the variant's maxM) vs the float64 CPU
// reference, f32 and f16: M = 1, 3, 17, 69 (forced past the default maxM), N and K that are no
// multiples of the wide word or the workgroup, both layouts (NN: weight [K,N]; NT: the tied lm_head,
// logits = x · wteᵀ with wte [Vp, C]), wide and scalar loads (aligned / odd leading dimensions and
// offsets), bias, the gelu_new epilogue and accumulate, and forced variants.
import { afterAll, describe, expect, it } from 'vitest';
import type { GPUContext, Tensor } from '../../src/gpu/index';
import { DEFAULT_GEMV_SOFTWARE, type GemvVariant, gemm, gemvVariant, setGemvVariant } from '../../src/kernels/matmul';
import { setTuneStore } from '../../src/kernels/tune/store';
import { roundToF16 } from '../../src/util/f16';
import { PRECISIONS, compare, getGPU, randn } from '../helpers/gpu';
import { gemmRef } from '../reference/matmul';

type F = 'f16' | 'f32';
setTuneStore(undefined);

const round = (x: Float32Array, t: F) => (t === 'f16' ? roundToF16(x) : x);

/** A tensor holding `values` after `offset` padding elements (a view that starts off alignment). */
function put(gpu: GPUContext, values: Float32Array, t: F, offset: number, label: string): Tensor {
  const whole = gpu.tensor([offset + values.length], t, label);
  const full = new Float32Array(offset + values.length);
  full.set(values, offset);
  gpu.upload(whole, full);
  return whole.view([values.length], offset);
}

interface Case {
  M: number;
  N: number;
  K: number;
  transB: boolean;
  /** leading dimension of b beyond its minimum, and an element offset of b */
  ldbPad?: number;
  offB?: number;
  bias?: boolean;
  gelu?: boolean;
  accumulate?: boolean;
}

// Every case on the default software variant; another shape of lanes on a few (each distinct
// kernel costs lavapipe's compiler seconds).
const DEFAULT: GemvVariant = { ...DEFAULT_GEMV_SOFTWARE, maxM: 128 };
const OTHER: GemvVariant = { wg: 32, mr: 3, v: 2, maxM: 128 };

const CASES: Case[] = [
  // NN, wide b (N a multiple of 8, not of the 512 columns a workgroup covers), K tail
  { M: 1, N: 200, K: 77, transB: false, bias: true },
  { M: 3, N: 1032, K: 64, transB: false, gelu: true, bias: true },
  { M: 17, N: 136, K: 45, transB: false, accumulate: true },
  { M: 69, N: 72, K: 33, transB: false, bias: true },
  // NN, scalar b: odd N (ldb = N), odd offset
  { M: 1, N: 203, K: 50, transB: false, bias: true, offB: 3 },
  { M: 5, N: 37, K: 19, transB: false, gelu: true },
  // NT (lm_head): wide rows (K a multiple of 8), N not a multiple of anything
  { M: 1, N: 501, K: 64, transB: true },
  { M: 3, N: 77, K: 136, transB: true, accumulate: true },
  { M: 17, N: 130, K: 72, transB: true, ldbPad: 8 },
  { M: 69, N: 33, K: 40, transB: true },
  // NT, scalar rows: K odd / offset odd
  { M: 1, N: 129, K: 75, transB: true, offB: 1 },
  { M: 4, N: 50, K: 21, transB: true, ldbPad: 3 },
];

describe.each(PRECISIONS)('gemv (%s)', (precision) => {
  let gpu: GPUContext;
  afterAll(() => gpu && setGemvVariant(gpu, null));

  it('is gemm\'s choice for M = 1 by default, and off with maxM 0', async () => {
    gpu = await getGPU(precision);
    expect(gemvVariant(gpu).maxM).toBeGreaterThanOrEqual(1);
    setGemvVariant(gpu, { wg: 64, mr: 1, v: 1, maxM: 0 });
    expect(gemvVariant(gpu).maxM).toBe(0);
    setGemvVariant(gpu, null);
    expect(() => setGemvVariant(gpu, { wg: 12, mr: 1, v: 1, maxM: 1 })).toThrow(/gemv variant .* is not valid/);
  });

  const runs = [...CASES.map((c) => [DEFAULT, c] as const), ...[2, 3, 9, 11].map((i) => [OTHER, CASES[i]!] as const)];
  it.each(runs.map(([v, c]) => [JSON.stringify(v), JSON.stringify(c), v, c] as const))('variant %s, %s', async (_vn, _cn, variant, c) => {
    gpu = await getGPU(precision);
    const t = precision as F;
    setGemvVariant(gpu, variant);
    const { M, N, K, transB } = c;
    const ldb = (transB ? K : N) + (c.ldbPad ?? 0);
    const bRows = transB ? N : K;
    const a = round(randn(M * K, 11 + M, 1), t);
    const b = round(randn(bRows * ldb, 23 + N, 0.5), t);
    const bias = c.bias ? round(randn(N, 5, 0.5), t) : null;
    const out0 = round(randn(M * N, 7, 1), t);
    const ta = put(gpu, a, t, 0, 'a');
    const tb = put(gpu, b, t, c.offB ?? 0, 'b');
    const tbias = bias ? put(gpu, bias, t, 0, 'bias') : null;
    const tout = put(gpu, out0, t, 0, 'out');
    const tpre = c.gelu ? gpu.tensor([M * N], t, 'preact') : undefined;
    const s = gpu.step('gemv');
    gemm(s, tout, ta, tb, { M, N, K, transB, ldb, bias: tbias, accumulate: c.accumulate, activation: c.gelu ? 'gelu_new' : undefined, preact: tpre });
    s.submit();
    const got = (await gpu.download(tout)) as Float32Array;
    const ref = gemmRef(out0, a, b, { M, N, K, transB, ldb, bias, accumulate: c.accumulate, gelu: c.gelu });
    const [atol, rtol] = t === 'f16' ? [2e-2, 1e-2] : [1e-5, 1e-5];
    expect(compare(got, ref.out, atol, rtol)).toBe('');
    if (tpre) expect(compare((await gpu.download(tpre)) as Float32Array, ref.preact, atol, rtol)).toBe('');
    for (const x of [ta, tb, tout, tbias, tpre]) x?.buffer.destroy();
  });
});

it.skipIf(!PRECISIONS.includes('f16'))('gemv: f32 activations against f16 weights at M = 1 (mixed dtypes)', async () => {
  const gpu = await getGPU('f32');
  setGemvVariant(gpu, null);
  const M = 1, N = 264, K = 99;
  const a = randn(M * K, 3, 1);
  const b = roundToF16(randn(K * N, 4, 0.5));
  const ta = put(gpu, a, 'f32', 0, 'a'), tb = put(gpu, b, 'f16', 0, 'b'), tout = gpu.tensor([M * N], 'f32', 'out');
  const s = gpu.step('gemv-mixed');
  gemm(s, tout, ta, tb, { M, N, K });
  s.submit();
  const got = (await gpu.download(tout)) as Float32Array;
  expect(compare(got, gemmRef(new Float32Array(M * N), a, b, { M, N, K }).out, 1e-5, 1e-5)).toBe('');
});
