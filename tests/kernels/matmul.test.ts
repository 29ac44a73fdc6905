// GEMM (gemm, matmulForward/Backward, biasBackward) vs the float64 CPU reference, both precisions:
// bias, the activation epilogues forward and backward (gelu_new, exact gelu, relu, silu), the
// three layouts with accumulate, odd shapes, leading dimensions and offsets (sub-blocks of wider
// matrices), mixed dtypes, every kernel variant (forced; skipped visibly where the adapter cannot
// run one), and the split of operands larger than one binding (the tuner: tune/matmul.test.ts).
// The CPU backward is checked by finite differences.
import { afterAll, describe, expect, it } from 'vitest';
import type { GPUContext, Tensor } from '../../src/gpu/index';
import {
  DEFAULT_BCAST,
  DEFAULT_BCAST16,
  DEFAULT_TILED,
  type MatmulVariant,
  biasBackward,
  checkVariant,
  gemm,
  matmulBackward,
  matmulForward,
  matmulVariant,
  setMatmulVariant,
} from '../../src/kernels/matmul';
import { setTuneStore } from '../../src/kernels/tune/store';
import { variantName } from '../../src/kernels/matmul-wgsl';
import type { Activation } from '../../src/util/activation';
import { roundToF16 } from '../../src/util/f16';
import { PRECISIONS, compare, getGPU, randn } from '../helpers/gpu';
import { biasBackwardRef, gemmRef, matmulBackwardRef, matmulForwardRef } from '../reference/matmul';

type F = 'f16' | 'f32';

// ---- activations in float64: HF ACT2FN's functions and their derivatives

/** erf in float64: its Maclaurin series below 4 (|error| < 1e-11), the asymptotic erfc series above (relative error < 3e-5 of erfc < 2e-8). */
function erf(x: number): number {
  const z = Math.abs(x);
  let r: number;
  if (z < 4) {
    let term = z, sum = z;
    for (let n = 1; n < 80; n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    const z2 = 2 * z * z;
    r = 1 - (Math.exp(-z * z) / (z * Math.sqrt(Math.PI))) * (1 - 1 / z2 + 3 / (z2 * z2) - 15 / (z2 * z2 * z2) + 105 / (z2 * z2 * z2 * z2));
  }
  return Math.sign(x) * r;
}

const GELU_C = Math.sqrt(2 / Math.PI);
const ACT: Record<Activation, { f: (x: number) => number; df: (x: number) => number }> = {
  gelu_new: {
    f: (x) => 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x ** 3))),
    df: (x) => {
      const t = Math.tanh(GELU_C * (x + 0.044715 * x ** 3));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * x * x);
    },
  },
  gelu_pytorch_tanh: { f: (x) => ACT.gelu_new.f(x), df: (x) => ACT.gelu_new.df(x) },
  gelu: {
    f: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
    df: (x) => 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI),
  },
  relu: { f: (x) => Math.max(x, 0), df: (x) => (x > 0 ? 1 : 0) },
  silu: {
    f: (x) => x / (1 + Math.exp(-x)),
    df: (x) => {
      const s = 1 / (1 + Math.exp(-x));
      return s * (1 + x * (1 - s));
    },
  },
};
const ACTIVATIONS = Object.keys(ACT) as Activation[];

// Importing the Node store registers ~/.cache/mqg-webgpu; keep this suite independent of it.
setTuneStore(undefined);

describe('matmul CPU reference', () => {
  it('backward matches central finite differences (float64)', () => {
    const BT = 3, C = 4, OC = 5;
    const inp = Array.from(randn(BT * C, 1, 1)), weight = Array.from(randn(C * OC, 2, 1)), bias = Array.from(randn(OC, 3, 1));
    const w = Array.from(randn(BT * OC, 4, 1)); // loss = Σ w ⊙ out, so dout = w
    const loss = (i: number[], W: number[], b: number[]) => matmulForwardRef(i, W, b, BT, C, OC).reduce((s, v, j) => s + v * w[j]!, 0);
    const { dinp, dweight, dbias } = matmulBackwardRef(w, inp, weight, BT, C, OC);
    const h = 1e-6;
    const fd = (x: number[], f: (y: number[]) => number) =>
      x.map((_, j) => {
        const p = x.slice(), m = x.slice();
        p[j]! += h;
        m[j]! -= h;
        return (f(p) - f(m)) / (2 * h);
      });
    expect(compare(dinp, fd(inp, (y) => loss(y, weight, bias)), 1e-8, 1e-7)).toBe('');
    expect(compare(dweight, fd(weight, (y) => loss(inp, y, bias)), 1e-8, 1e-7)).toBe('');
    expect(compare(dbias, fd(bias, (y) => loss(inp, weight, y)), 1e-8, 1e-7)).toBe('');
  });

  it('activation derivatives match central finite differences; erf matches known values', () => {
    expect(erf(0.5)).toBeCloseTo(0.5204998778130465, 12);
    expect(erf(-2)).toBeCloseTo(-0.9953222650189527, 12);
    expect(erf(3.5)).toBeCloseTo(0.9999992569016276, 10);
    // h = 1e-4: truncation error ~h² f''' < 1e-8; the erf series' rounding (~1e-11 near 3.5) over 2h stays below 1e-6
    const h = 1e-4;
    for (const act of ACTIVATIONS) {
      const xs = [-6, -3.5, -1.3, -0.2, 0.3, 0.9, 2.7, 5];
      const fd = xs.map((x) => (ACT[act].f(x + h) - ACT[act].f(x - h)) / (2 * h));
      expect(compare(xs.map(ACT[act].df), fd, 1e-6, 1e-6), act).toBe('');
    }
  });

  it('transposed layouts agree with explicit transposes', () => {
    const M = 3, N = 4, K = 5;
    const a = randn(M * K, 5, 1), b = randn(K * N, 6, 1);
    const aT = new Float32Array(K * M), bT = new Float32Array(N * K);
    for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) aT[k * M + m] = a[m * K + k]!;
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) bT[n * K + k] = b[k * N + n]!;
    const nn = gemmRef(new Float64Array(M * N), a, b, { M, N, K }).out;
    expect(compare(gemmRef(new Float64Array(M * N), aT, b, { M, N, K, transA: true }).out, nn, 1e-12, 1e-12)).toBe('');
    expect(compare(gemmRef(new Float64Array(M * N), a, bT, { M, N, K, transB: true }).out, nn, 1e-12, 1e-12)).toBe('');
  });
});

interface Case {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  accumulate?: boolean;
  bias?: boolean;
  gelu?: boolean;
  /** Forward epilogue: preact written, out = act(preact). */
  activation?: Activation;
  /** Backward epilogue: out = product ⊙ act'(preact), preact given (values in ±3). */
  dactivation?: Activation;
  /** Extra columns beyond the packed leading dimension. */
  padA?: number;
  padB?: number;
  padC?: number;
  /** Elements before each operand's first element in its buffer (views at an offset). */
  offset?: number;
  types: { a: F; b: F; out: F; bias?: F };
}

function data(n: number, seed: number, type: F): Float32Array {
  const x = randn(n, seed, 1);
  return type === 'f16' ? roundToF16(x) : x;
}

/** A tensor of `n` elements placed `offset` elements into a larger buffer, holding `values`. */
function place(gpu: GPUContext, values: Float32Array, type: F, offset: number, label: string): Tensor {
  const whole = gpu.tensor([offset + values.length], type, label);
  const full = new Float32Array(offset + values.length);
  full.fill(1e4, 0, offset); // would show up in any result that read before the view
  full.set(values, offset);
  gpu.upload(whole, full);
  return whole.view([values.length], offset, label);
}

/** Tolerance of an f32 result: 1e-5 relative, plus an absolute term for cancellation in K-term sums of O(1) products. */
function tolerance(c: Case): [number, number] {
  if (c.types.out === 'f16' || c.types.a === 'f16' || c.types.b === 'f16') {
    // f16 storage: the output is rounded to 11 bits; f16 inputs are exact (the reference uses the rounded values).
    return c.types.out === 'f16' ? [1e-2, 1e-2] : [1e-5 * Math.sqrt(c.K + 1) * 4, 1e-5];
  }
  return [1e-5 * Math.sqrt(c.K + 1) * 4, 1e-5];
}

async function runCase(gpu: GPUContext, c: Case, seed: number): Promise<string> {
  const { M, N, K } = c;
  const lda = (c.transA ? M : K) + (c.padA ?? 0);
  const ldb = (c.transB ? K : N) + (c.padB ?? 0);
  const ldc = N + (c.padC ?? 0);
  const aRows = c.transA ? K : M, bRows = c.transB ? N : K;
  const off = c.offset ?? 0;
  const a = data(aRows * lda, seed, c.types.a);
  const b = data(bRows * ldb, seed + 1, c.types.b);
  const out0 = data(M * ldc, seed + 2, c.types.out);
  const bias = c.bias ? data(N, seed + 3, c.types.bias ?? c.types.out) : null;
  const ta = place(gpu, a, c.types.a, off, 'a');
  const tb = place(gpu, b, c.types.b, off, 'b');
  const tout = place(gpu, out0, c.types.out, off, 'out');
  const tbias = bias ? place(gpu, bias, c.types.bias ?? c.types.out, off, 'bias') : null;
  const fwdAct = c.activation ?? (c.gelu ? 'gelu_new' : undefined);
  const pre0 = c.dactivation ? randn(M * ldc, seed + 4, 3) : undefined;
  const preValues = pre0 && c.types.out === 'f16' ? roundToF16(pre0) : pre0;
  const tpre = fwdAct ? gpu.tensor([M * ldc], c.types.out, 'preact') : preValues ? gpu.tensor([M * ldc], c.types.out, 'preact', preValues) : undefined;
  const step = gpu.step('gemm test');
  gemm(step, tout, ta, tb, {
    M, N, K, transA: c.transA, transB: c.transB, accumulate: c.accumulate, bias: tbias, activation: fwdAct, dactivation: c.dactivation, preact: tpre,
    lda, ldb, ldc,
  });
  step.submit();
  const ref = gemmRef(out0, a, b, { M, N, K, transA: c.transA, transB: c.transB, accumulate: c.accumulate, bias, lda, ldb, ldc });
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      const i = m * ldc + n;
      if (fwdAct) {
        ref.preact[i] = ref.out[i]!;
        ref.out[i] = ACT[fwdAct].f(ref.out[i]!);
      } else if (c.dactivation) ref.out[i]! *= ACT[c.dactivation].df(preValues![i]!);
    }
  }
  const [atol, rtol] = tolerance(c);
  // compare the whole out buffer: the padding columns must be untouched
  let report = compare(await gpu.download(tout), ref.out, atol, rtol);
  if (fwdAct && tpre && !report) {
    const got = await gpu.download(tpre);
    const keep = (x: ArrayLike<number>) => Array.from(x).filter((_, i) => i % ldc < N);
    report = compare(keep(got), keep(ref.preact), atol, rtol);
  }
  return report;
}

const ODD = { M: 37, N: 53, K: 29 };

describe.each(PRECISIONS)('matmul %s', (precision) => {
  const p = precision as F;
  const T = { a: p, b: p, out: p };
  const gpuP = getGPU(precision);

  it(`uses ${'the adapter default'} variant`, async () => {
    const gpu = await gpuP;
    expect(['tiled', 'bcast']).toContain(matmulVariant(gpu).kind);
  });

  it('forward with bias, without bias, and with the gelu epilogue (odd shape)', async () => {
    const gpu = await gpuP;
    expect(await runCase(gpu, { ...ODD, bias: true, types: T }, 10)).toBe('');
    expect(await runCase(gpu, { ...ODD, types: T }, 11)).toBe('');
    expect(await runCase(gpu, { ...ODD, bias: true, gelu: true, types: T }, 12)).toBe('');
  });

  it.each(ACTIVATIONS)('activation epilogue %s: forward (odd shape, bias) and backward dpre (NT, aligned and odd)', async (act) => {
    const gpu = await gpuP;
    expect(await runCase(gpu, { ...ODD, bias: true, activation: act, types: T }, 13)).toBe('');
    // dinp ⊙ act'(preact), as matmulBackward computes the dpre of the layer below: vec4 and scalar epilogues
    expect(await runCase(gpu, { M: 24, N: 32, K: 20, transB: true, dactivation: act, types: T }, 14)).toBe('');
    expect(await runCase(gpu, { ...ODD, transB: true, dactivation: act, types: T }, 15)).toBe('');
  });

  it('matmulBackward with act: dinp is dpre = dout · weightᵀ ⊙ act\'(preact)', async () => {
    const gpu = await gpuP;
    const BT = 19, C = 24, OC = 36;
    const dout = data(BT * OC, 16, p), weight = data(C * OC, 17, p), pre = data(BT * C, 18, p);
    const t = (x: Float32Array, l: string) => gpu.tensor([x.length], p, l, x);
    const tdinp = gpu.tensor([BT * C], p, 'dinp');
    const step = gpu.step('matmulBackward act');
    matmulBackward(step, tdinp, null, null, t(dout, 'dout'), t(pre, 'inp'), t(weight, 'weight'), BT, C, OC, { preact: t(pre, 'preact'), activation: 'silu' });
    step.submit();
    const ref = matmulBackwardRef(dout, pre, weight, BT, C, OC).dinp.map((v, i) => v * ACT.silu.df(pre[i]!));
    const [fa, fr] = p === 'f16' ? [1e-2, 1e-2] : [1e-4, 1e-5];
    expect(compare(await gpu.download(tdinp), ref, fa, fr)).toBe('');
  });

  it('NN, NT, TN with accumulate (odd shape)', async () => {
    const gpu = await gpuP;
    const G = { a: p, b: p, out: 'f32' as F }; // parameter gradients are f32
    for (const [transA, transB] of [[false, false], [false, true], [true, false]] as const) {
      expect(await runCase(gpu, { ...ODD, transA, transB, accumulate: true, types: G }, 20)).toBe('');
    }
  });

  it('aligned shapes take the vec4 path, including a K tail and bias', async () => {
    const gpu = await gpuP;
    for (const [transA, transB] of [[false, false], [false, true], [true, false]] as const) {
      expect(await runCase(gpu, { M: 40, N: 72, K: 36, transA, transB, bias: true, types: T }, 30)).toBe('');
      // K = N = 30 with leading dimensions padded to multiples of 4: loads and stores stay
      // vectorised, the last k-block is partial and so is each row's last group of 4 columns
      // (an f16 out writes half a word there; the padding next to it must survive)
      expect(await runCase(gpu, { M: 24, N: 30, K: 30, transA, transB, padA: transA ? 0 : 2, padB: 2, padC: 2, types: T }, 31)).toBe('');
    }
  });

  // The flags below match the tests above so the pipelines are shared: on lavapipe each new one
  // costs seconds of LLVM compile on a cold shader cache.
  it('degenerate shapes: K=1, M=1, N=1', async () => {
    const gpu = await gpuP;
    const G = { a: p, b: p, out: 'f32' as F };
    for (const [transA, transB] of [[false, false], [false, true], [true, false]] as const) {
      expect(await runCase(gpu, { M: 9, N: 7, K: 1, transA, transB, accumulate: true, types: G }, 40)).toBe('');
      expect(await runCase(gpu, { M: 1, N: 21, K: 13, transA, transB, accumulate: true, types: G }, 41)).toBe('');
      expect(await runCase(gpu, { M: 11, N: 1, K: 6, transA, transB, accumulate: true, types: G }, 42)).toBe('');
    }
  });

  it('leading dimensions and offsets: a sub-block of a wider matrix', async () => {
    const gpu = await gpuP;
    const G = { a: p, b: p, out: 'f32' as F };
    for (const [transA, transB] of [[false, false], [false, true], [true, false]] as const) {
      // unaligned offsets and pads: scalar loads and stores
      expect(await runCase(gpu, { ...ODD, transA, transB, padA: 3, padB: 5, padC: 7, offset: 13, accumulate: true, types: G }, 50)).toBe('');
      // aligned offsets and pads: vec4 loads and stores; the padding columns of out stay untouched
      expect(await runCase(gpu, { M: 20, N: 28, K: 16, transA, transB, padA: 8, padB: 4, padC: 4, offset: 8, bias: true, types: T }, 51)).toBe('');
    }
  });

  it('mixed dtypes: inputs in one type, out and bias in the other', async () => {
    const gpu = await gpuP;
    const q: F = p === 'f16' ? 'f32' : 'f16';
    expect(await runCase(gpu, { ...ODD, bias: true, types: { a: p, b: p, out: q, bias: q } }, 60)).toBe('');
    expect(await runCase(gpu, { M: 24, N: 40, K: 20, transA: true, accumulate: true, types: { a: p, b: q, out: 'f32' } }, 61)).toBe('');
    expect(await runCase(gpu, { M: 24, N: 40, K: 20, transB: true, types: { a: q, b: p, out: p } }, 62)).toBe('');
  });

  it('matmulForward / matmulBackward against the reference (llm.c layouts)', async () => {
    const gpu = await gpuP;
    const BT = 35, C = 24, OC = 44;
    const inp = data(BT * C, 70, p), weight = data(C * OC, 71, p), bias = data(OC, 72, p), dout = data(BT * OC, 73, p);
    const dweight0 = randn(C * OC, 74, 1), dbias0 = randn(OC, 75, 1);
    const t = (x: Float32Array, dt: F, l: string) => gpu.tensor([x.length], dt, l, x);
    const tin = t(inp, p, 'inp'), tw = t(weight, p, 'weight'), tb = t(bias, p, 'bias'), tdout = t(dout, p, 'dout');
    const tout = gpu.tensor([BT * OC], p, 'out');
    const tdinp = t(randn(BT * C, 76, 1), p, 'dinp'); // overwritten
    const tdw = t(dweight0, 'f32', 'dweight'), tdb = t(dbias0, 'f32', 'dbias');
    const step = gpu.step('matmul fwd/bwd');
    matmulForward(step, tout, tin, tw, tb, BT, C, OC);
    matmulBackward(step, tdinp, tdw, tdb, tdout, tin, tw, BT, C, OC);
    step.submit();
    const ref = matmulBackwardRef(dout, inp, weight, BT, C, OC);
    const [fa, fr] = p === 'f16' ? [1e-2, 1e-2] : [1e-4, 1e-5];
    expect(compare(await gpu.download(tout), matmulForwardRef(inp, weight, bias, BT, C, OC), fa, fr)).toBe('');
    expect(compare(await gpu.download(tdinp), ref.dinp, fa, fr)).toBe('');
    // f32 gradients accumulate f32 sums of (possibly f16) inputs: 1e-5 relative plus cancellation
    expect(compare(await gpu.download(tdw), ref.dweight.map((v, i) => v + dweight0[i]!), 1e-4, 1e-5)).toBe('');
    expect(compare(await gpu.download(tdb), ref.dbias.map((v, i) => v + dbias0[i]!), 1e-4, 1e-5)).toBe('');
  });

  it('biasBackward: fixed-order column sums, += into dbias (odd and vec4 widths)', async () => {
    const gpu = await gpuP;
    for (const [M, N] of [[37, 53], [70, 64], [1, 3]] as const) {
      const dout = data(M * N, 80 + N, p);
      const dbias0 = randn(N, 81, 1);
      const tdb = gpu.tensor([N], 'f32', 'dbias', dbias0);
      const step = gpu.step('bias backward');
      biasBackward(step, tdb, gpu.tensor([M * N], p, 'dout', dout), M, N);
      biasBackward(step, tdb, gpu.tensor([M * N], p, 'dout', dout), M, N); // += twice
      step.submit();
      const once = biasBackwardRef(dbias0, dout, M, N);
      const twice = biasBackwardRef(once, dout, M, N);
      expect(compare(await gpu.download(tdb), twice, 1e-5 * Math.sqrt(M), 1e-5)).toBe('');
    }
  });
});

// The other kernel families, forced per context (the adapter default covers everything above).
// Few cases each: on lavapipe every pipeline costs seconds of LLVM compile on a cold shader cache.
const VARIANTS: [MatmulVariant, F[]][] = [
  [DEFAULT_TILED, ['f32', 'f16']],
  [{ kind: 'tiled', tm: 8, tn: 4, wx: 8, wy: 8, bk: 8 }, ['f32']],
  [DEFAULT_BCAST, ['f32']], // 8-lane subgroups (lavapipe at 256 bits)
  [DEFAULT_BCAST16, ['f32', 'f16']], // 16-lane subgroups (lavapipe at 512 bits)
  [{ kind: 'bcast', tm: 8, tn: 8, wx: 16, wy: 1, subgroups: true }, ['f32']],
  [{ kind: 'bcast', tm: 4, tn: 4, wx: 8, wy: 4, subgroups: false }, ['f32']],
];

/** Why this adapter cannot run the variant ('' when it can). */
const gpu32 = await getGPU('f32');
function cannotRun(v: MatmulVariant): string {
  try {
    checkVariant(gpu32, v);
    return '';
  } catch (e) {
    return (e as Error).message;
  }
}

describe.each(PRECISIONS)('matmul variants %s', (precision) => {
  const p = precision as F;
  afterAll(async () => setMatmulVariant(await getGPU(precision), null));
  for (const [v] of VARIANTS.filter(([, ps]) => ps.includes(p))) {
    const why = cannotRun(v);
    if (why) console.warn(`matmul variant ${variantName(v)} skipped: ${why}`);
    it.skipIf(!!why)(`${variantName(v)}${why ? ` (skipped: ${why})` : ''}`, async () => {
      const gpu = await getGPU(precision);
      setMatmulVariant(gpu, v); // throws, failing the test, if the adapter cannot run it after all
      await variantCases(gpu, p);
    });
  }
});

/** NN with bias and gelu, scalar loads; TN accumulate into a packed f32 out at an offset; NT with vec4 loads and a padded b. */
async function variantCases(gpu: GPUContext, p: F): Promise<void> {
  const T = { a: p, b: p, out: p };
  expect(await runCase(gpu, { ...ODD, bias: true, gelu: true, types: T }, 90)).toBe('');
  expect(await runCase(gpu, { ...ODD, transA: true, accumulate: true, offset: 3, types: { ...T, out: 'f32' } }, 91)).toBe('');
  expect(await runCase(gpu, { M: 36, N: 40, K: 22, transB: true, padB: 2, types: T }, 92)).toBe('');
}

describe('dispatches sharing one compute pass', () => {
  it('a chain of GEMMs, each reading the previous one\'s output, is the same with one pass per step or per dispatch', async () => {
    const gpu = await getGPU('f32');
    const n = 24, M = 16;
    const x0 = data(M * n, 120, 'f32'), w = data(n * n, 121, 'f32').map((v) => v / 4);
    let ref: ArrayLike<number> = Float64Array.from(x0);
    for (let i = 0; i < 6; i++) ref = gemmRef(new Float64Array(M * n), ref, w, { M, N: n, K: n }).out;
    const saved = gpu.passPerDispatch;
    try {
      for (const per of [false, true]) {
        gpu.passPerDispatch = per;
        const bufs = [gpu.tensor([M * n], 'f32', 'x0', x0), gpu.tensor([M * n], 'f32', 'x1')];
        const tw = gpu.tensor([n * n], 'f32', 'w', w);
        const step = gpu.step('chain');
        // x1 = x0·w, x0 = x1·w, ...: each dispatch reads what the one before wrote (x0 is rewritten in the step)
        for (let i = 0; i < 6; i++) gemm(step, bufs[(i + 1) % 2]!, bufs[i % 2]!, tw, { M, N: n, K: n });
        step.submit();
        expect(compare(await gpu.download(bufs[0]!), ref, 1e-5, 1e-5), `passPerDispatch ${per}`).toBe('');
      }
    } finally {
      gpu.passPerDispatch = saved;
    }
  });
});

describe('matmul split over bindings', () => {
  it('operands larger than the binding limit are split along M, N and K', async () => {
    const gpu = await getGPU('f32');
    const limits = gpu.limits as Record<string, number>;
    const saved = limits.maxStorageBufferBindingSize!;
    limits.maxStorageBufferBindingSize = 4096; // 1024 f32: forces splits in every dimension below
    try {
      const T = { a: 'f32' as F, b: 'f32' as F, out: 'f32' as F };
      expect(await runCase(gpu, { M: 70, N: 45, K: 33, bias: true, types: T }, 100)).toBe(''); // out > limit: M split
      expect(await runCase(gpu, { M: 5, N: 130, K: 40, transB: true, types: T }, 101)).toBe(''); // b [N,K]: N split
      expect(await runCase(gpu, { M: 6, N: 5, K: 700, transA: true, accumulate: true, types: T }, 102)).toBe(''); // a [K,M]: K split
      expect(await runCase(gpu, { M: 3, N: 9, K: 600, bias: true, types: T }, 103)).toBe(''); // b [K,N]: K split keeps bias once
    } finally {
      limits.maxStorageBufferBindingSize = saved;
    }
  });
});
