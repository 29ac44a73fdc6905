// Layernorm forward and backward vs the float64 CPU reference, both storage precisions, shapes that
// are not multiples of the workgroup size; the backward's += semantics and determinism; the
// scalar (non-vec4) kernels.
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_LAYERNORM_LAYOUT, LAYERNORM_LAYOUTS, layernormBackward, layernormBackwardScratchSize, layernormForward, layernormLayout, layernormLayoutName, layernormOptions,
  residualLayernormForward, setLayernormLayout,
} from '../../src/kernels/layernorm';
import { roundToF16 } from '../../src/util/f16';
import { PRECISIONS, compare, getGPU, randn } from '../helpers/gpu';
import { layernormBackwardRef, layernormForwardRef } from '../reference/layernorm';

interface Shape { BT: number; C: number }

const SHAPES: Shape[] = [
  { BT: 37, C: 48 }, // C under the workgroup size (64)
  { BT: 5, C: 100 }, // C over it, not a multiple
  { BT: 259, C: 36 }, // backward: 3 rows per block, the last block holds one row
  { BT: 3, C: 768 }, // GPT-2 width
  { BT: 4133, C: 12 }, // backward: rows per slot at its cap (32), more than 128 partial sums
];

/** Inputs with a non-zero mean per row, so centring matters; f16 inputs are pre-rounded. */
function inputs({ BT, C }: Shape, seed: number, f16: boolean) {
  const inp = randn(BT * C, seed, 2);
  for (let r = 0; r < BT; r++) for (let c = 0; c < C; c++) inp[r * C + c]! += (r % 5) - 2;
  const weight = randn(C, seed + 1, 1);
  const bias = randn(C, seed + 2, 0.5);
  const dout = randn(BT * C, seed + 3, 1);
  const dinp0 = randn(BT * C, seed + 4, 0.5);
  const dweight0 = randn(C, seed + 5, 0.5);
  const dbias0 = randn(C, seed + 6, 0.5);
  if (f16) for (const a of [inp, weight, bias, dout, dinp0]) roundToF16(a);
  return { inp, weight, bias, dout, dinp0, dweight0, dbias0 };
}

describe('layernorm CPU reference', () => {
  it('backward matches central finite differences (float64)', () => {
    const BT = 3, C = 7;
    const inp = Float64Array.from(randn(BT * C, 11, 2));
    const weight = Float64Array.from(randn(C, 12, 1));
    const bias = Float64Array.from(randn(C, 13, 1));
    const g = Float64Array.from(randn(BT * C, 14, 1)); // loss = Σ out ∘ g, so dout = g
    const loss = () => layernormForwardRef(inp, weight, bias, BT, C).out.reduce((acc, o, i) => acc + o * g[i]!, 0);
    const fwd = layernormForwardRef(inp, weight, bias, BT, C);
    const dinp = new Float64Array(BT * C), dweight = new Float64Array(C), dbias = new Float64Array(C);
    layernormBackwardRef(dinp, dweight, dbias, g, inp, weight, fwd.mean, fwd.rstd, BT, C);
    const numeric = (x: Float64Array) => {
      const d = new Float64Array(x.length);
      const h = 1e-6;
      for (let i = 0; i < x.length; i++) {
        const v = x[i]!;
        x[i] = v + h; const up = loss();
        x[i] = v - h; const down = loss();
        x[i] = v;
        d[i] = (up - down) / (2 * h);
      }
      return d;
    };
    expect(compare(dinp, numeric(inp), 1e-8, 1e-6)).toBe('');
    expect(compare(dweight, numeric(weight), 1e-8, 1e-6)).toBe('');
    expect(compare(dbias, numeric(bias), 1e-8, 1e-6)).toBe('');
  });
});

describe.each(PRECISIONS)('layernorm %s', (precision) => {
  const f16 = precision === 'f16';
  // f32: 1e-5 relative. f16: outputs are stored as f16 (rel. rounding 2^-11), plus f32 accumulation.
  const tol = f16 ? { atol: 1e-2, rtol: 1e-2 } : { atol: 1e-5, rtol: 1e-5 };

  afterEach(() => { layernormOptions.vec4 = true; });

  async function forward(s: Shape, seed: number) {
    const gpu = await getGPU(precision);
    const { BT, C } = s;
    const x = inputs(s, seed, f16);
    const inp = gpu.tensor([BT, C], precision, 'inp', x.inp);
    const weight = gpu.tensor([C], precision, 'weight', x.weight);
    const bias = gpu.tensor([C], precision, 'bias', x.bias);
    const out = gpu.tensor([BT, C], precision, 'out');
    const mean = gpu.tensor([BT], 'f32', 'mean');
    const rstd = gpu.tensor([BT], 'f32', 'rstd');
    const step = gpu.step('layernorm forward');
    layernormForward(step, out, mean, rstd, inp, weight, bias, BT, C);
    step.submit();
    const ref = layernormForwardRef(x.inp, x.weight, x.bias, BT, C);
    expect(compare(await gpu.download(out), ref.out, tol.atol, tol.rtol)).toBe('');
    // mean and rstd are f32 in both precisions: only the accumulation error remains.
    expect(compare(await gpu.download(mean), ref.mean, 1e-5, 1e-5)).toBe('');
    expect(compare(await gpu.download(rstd), ref.rstd, 1e-5, 1e-5)).toBe('');
  }

  async function backward(s: Shape, seed: number) {
    const gpu = await getGPU(precision);
    const { BT, C } = s;
    const x = inputs(s, seed, f16);
    // mean/rstd as the forward would leave them (f32), used by both sides.
    const stats = layernormForwardRef(x.inp, x.weight, x.bias, BT, C);
    const meanF32 = Float32Array.from(stats.mean), rstdF32 = Float32Array.from(stats.rstd);
    const dinp = gpu.tensor([BT, C], precision, 'dinp', x.dinp0);
    const dweight = gpu.tensor([C], 'f32', 'dweight', x.dweight0);
    const dbias = gpu.tensor([C], 'f32', 'dbias', x.dbias0);
    const scratch = gpu.tensor([layernormBackwardScratchSize(BT, C)], 'f32', 'scratch');
    const args = [
      gpu.tensor([BT, C], precision, 'dout', x.dout),
      gpu.tensor([BT, C], precision, 'inp', x.inp),
      gpu.tensor([C], precision, 'weight', x.weight),
      gpu.tensor([BT], 'f32', 'mean', meanF32),
      gpu.tensor([BT], 'f32', 'rstd', rstdF32),
    ] as const;
    const step = gpu.step('layernorm backward');
    layernormBackward(step, dinp, dweight, dbias, scratch, ...args, BT, C);
    step.submit();
    const rdinp = Float64Array.from(x.dinp0), rdweight = Float64Array.from(x.dweight0), rdbias = Float64Array.from(x.dbias0);
    layernormBackwardRef(rdinp, rdweight, rdbias, x.dout, x.inp, x.weight, meanF32, rstdF32, BT, C);
    const [gdinp, gdweight, gdbias] = [await gpu.download(dinp), await gpu.download(dweight), await gpu.download(dbias)];
    expect(compare(gdinp, rdinp, tol.atol, tol.rtol)).toBe('');
    // dweight and dbias are sums over BT rows of terms ~1: f32 rounding grows with the number of
    // terms, so the absolute tolerance scales with BT (259 rows: ~2e-5 worst case).
    const atolParams = f16 ? 1e-2 : 1e-7 * BT;
    expect(compare(gdweight, rdweight, atolParams, tol.rtol)).toBe('');
    expect(compare(gdbias, rdbias, atolParams, tol.rtol)).toBe('');
    return { gpu, dinp, dweight, dbias, scratch, args, x };
  }

  /**
   * residualLayernormForward: res = inp + addend (the model's f32 residual stream plus an f32
   * projection; an f16 addend), then the layernorm of res.
   */
  async function residualForwardCase(s: Shape, seed: number, streamType: 'f16' | 'f32', addendType: 'f16' | 'f32' = streamType) {
    const gpu = await getGPU(precision);
    const { BT, C } = s;
    const x = inputs(s, seed, f16);
    const addend = randn(BT * C, seed + 9, 1);
    if (addendType === 'f16') roundToF16(addend);
    const inp = gpu.tensor([BT, C], streamType, 'inp', x.inp);
    const add = gpu.tensor([BT, C], addendType, 'addend', addend);
    const res = gpu.tensor([BT, C], streamType, 'res');
    const weight = gpu.tensor([C], precision, 'weight', x.weight);
    const bias = gpu.tensor([C], precision, 'bias', x.bias);
    const out = gpu.tensor([BT, C], precision, 'out');
    const mean = gpu.tensor([BT], 'f32', 'mean');
    const rstd = gpu.tensor([BT], 'f32', 'rstd');
    const step = gpu.step('residual layernorm forward');
    residualLayernormForward(step, res, out, mean, rstd, inp, add, weight, bias, BT, C);
    step.submit();
    const sum = Float32Array.from(x.inp, (v, i) => Math.fround(Math.fround(v) + addend[i]!)); // formed in f32
    expect(compare(await gpu.download(res), sum, 0, 0)).toBe('');
    const ref = layernormForwardRef(sum, x.weight, x.bias, BT, C);
    expect(compare(await gpu.download(out), ref.out, tol.atol, tol.rtol)).toBe('');
    expect(compare(await gpu.download(mean), ref.mean, 1e-5, 1e-5)).toBe('');
    expect(compare(await gpu.download(rstd), ref.rstd, 1e-5, 1e-5)).toBe('');
  }

  for (const s of SHAPES) {
    it(`forward BT=${s.BT} C=${s.C}`, () => forward(s, s.BT * 31 + s.C));
    it(`residual + forward in one pass, f32 stream, BT=${s.BT} C=${s.C}`, () => residualForwardCase(s, s.BT * 13 + s.C, 'f32'));
    it(`backward accumulates (+=) BT=${s.BT} C=${s.C}`, () => backward(s, s.BT * 17 + s.C));
  }

  // every layout the tuner may pick (tune/rows.ts), forced: rows not a multiple of the workgroup's,
  // C under and over its lanes, and (BT 4133) the backward's rows per slot at the layout's cap
  const others = LAYERNORM_LAYOUTS.filter((l) => l !== DEFAULT_LAYERNORM_LAYOUT);
  it.each(others.map((l) => [layernormLayoutName(l), l] as const))('layout %s (forced): forward, residual + forward, backward', async (_, layout) => {
    const gpu = await getGPU(precision);
    setLayernormLayout(gpu, layout);
    try {
      expect(layernormLayout(gpu, 48)).toEqual(layout);
      for (const s of [SHAPES[0]!, SHAPES[2]!, ...(layout.rows >= 16 ? [SHAPES[4]!] : [])]) {
        await forward(s, s.BT * 31 + s.C);
        await residualForwardCase(s, s.BT * 13 + s.C, 'f32');
        await backward(s, s.BT * 17 + s.C);
      }
    } finally {
      setLayernormLayout(gpu, null);
    }
    expect(layernormLayout(gpu, 48)).toEqual(DEFAULT_LAYERNORM_LAYOUT);
  });

  it('a layout outside the supported ones is refused', async () => {
    const gpu = await getGPU(precision);
    expect(() => setLayernormLayout(gpu, { lanes: 3, rows: 8 })).toThrow(/lanes and rows powers of two/);
    expect(() => setLayernormLayout(gpu, { lanes: 64, rows: 2 })).toThrow(/not one the scratch size allows for/);
  });

  // Rows of variance ~3e-7, far below eps: the result depends on eps (rstd ~10 at eps 1e-2, ~310 at
  // 1e-5), by far more than the tolerance, so a kernel that ignored its eps argument fails.
  it.each([1e-2, 1e-5])('forward honours eps=%f on rows of tiny variance', async (eps) => {
    const gpu = await getGPU(precision);
    const BT = 13, C = 40;
    const inp = randn(BT * C, 91, 1e-3);
    const weight = randn(C, 92, 1), bias = randn(C, 93, 0.1);
    if (f16) { roundToF16(inp); roundToF16(weight); roundToF16(bias); }
    const out = gpu.tensor([BT, C], precision, 'out');
    const mean = gpu.tensor([BT], 'f32', 'mean');
    const rstd = gpu.tensor([BT], 'f32', 'rstd');
    const step = gpu.step('layernorm eps');
    layernormForward(step, out, mean, rstd, gpu.tensor([BT, C], precision, 'inp', inp), gpu.tensor([C], precision, 'w', weight), gpu.tensor([C], precision, 'b', bias), BT, C, eps);
    step.submit();
    const ref = layernormForwardRef(inp, weight, bias, BT, C, eps);
    const other = layernormForwardRef(inp, weight, bias, BT, C, eps === 1e-2 ? 1e-5 : 1e-2);
    const got = await gpu.download(out);
    expect(compare(got, ref.out, tol.atol, tol.rtol)).toBe('');
    expect(compare(await gpu.download(rstd), ref.rstd, 0, 1e-4)).toBe('');
    expect(compare(got, other.out, tol.atol, tol.rtol)).not.toBe(''); // the other eps is distinguishable
  });

  it('backward also writes the updated dinp, rounded to f16, to dinpCopy (f32 dinp: the model\'s residual stream)', async () => {
    const gpu = await getGPU(precision);
    const s = { BT: 37, C: 48 }, { BT, C } = s;
    const x = inputs(s, 77, f16);
    const stats = layernormForwardRef(x.inp, x.weight, x.bias, BT, C);
    const dinp = gpu.tensor([BT, C], 'f32', 'dinp', x.dinp0);
    const copy = gpu.tensor([BT, C], 'f16', 'dinp_f16', randn(BT * C, 3, 9)); // garbage: overwritten
    const step = gpu.step('layernorm backward copy');
    layernormBackward(step, dinp, gpu.tensor([C], 'f32', 'dw'), gpu.tensor([C], 'f32', 'db'), gpu.tensor([layernormBackwardScratchSize(BT, C)], 'f32', 'scratch'),
      gpu.tensor([BT, C], precision, 'dout', x.dout), gpu.tensor([BT, C], precision, 'inp', x.inp), gpu.tensor([C], precision, 'weight', x.weight),
      gpu.tensor([BT], 'f32', 'mean', Float32Array.from(stats.mean)), gpu.tensor([BT], 'f32', 'rstd', Float32Array.from(stats.rstd)), BT, C, copy);
    step.submit();
    const want = Float32Array.from(await gpu.download(dinp));
    roundToF16(want);
    expect(compare(await gpu.download(copy), want, 0, 0)).toBe('');
  });

  it('backward is bit-identical from run to run', async () => {
    const s = { BT: 259, C: 36 };
    const { gpu, dinp, dweight, dbias, scratch, args, x } = await backward(s, 5);
    const runOnce = async () => {
      gpu.upload(dinp, x.dinp0);
      gpu.upload(dweight, x.dweight0);
      gpu.upload(dbias, x.dbias0);
      const step = gpu.step('layernorm backward again');
      layernormBackward(step, dinp, dweight, dbias, scratch, ...args, s.BT, s.C);
      step.submit();
      return [await gpu.download(dinp), await gpu.download(dweight), await gpu.download(dbias)];
    };
    const a = await runOnce();
    const b = await runOnce();
    for (let i = 0; i < 3; i++) expect(Array.from(b[i]!)).toEqual(Array.from(a[i]!));
  });

  it('residual + forward in one pass: the scalar kernel; f16 addends; an f16 stream is refused', async () => {
    layernormOptions.vec4 = false;
    await residualForwardCase({ BT: 9, C: 20 }, 6, 'f32');
    layernormOptions.vec4 = true;
    await residualForwardCase({ BT: 37, C: 48 }, 5, 'f32', 'f16');
    await expect(residualForwardCase({ BT: 4, C: 8 }, 7, 'f16')).rejects.toThrow(/res \(the residual stream\) must be f32/);
  });

  it('residual + forward refuses a res that overlaps its inputs', async () => {
    const gpu = await getGPU(precision);
    const t = (label: string) => gpu.tensor([4, 8], 'f32', label);
    const inp = t('inp'), w = gpu.tensor([8], precision, 'w'), b = gpu.tensor([8], precision, 'b');
    const step = gpu.step('overlap');
    expect(() => residualLayernormForward(step, inp, t('out'), gpu.tensor([4], 'f32', 'm'), gpu.tensor([4], 'f32', 'r'), inp, t('addend'), w, b, 4, 8))
      .toThrow(/res .* must not overlap inp or addend/);
    step.submit();
  });

  it('scalar kernels (C % 4 != 0, and forced)', async () => {
    await forward({ BT: 19, C: 37 }, 3);
    await backward({ BT: 19, C: 37 }, 4);
    layernormOptions.vec4 = false;
    await forward({ BT: 37, C: 100 }, 3);
    await backward({ BT: 259, C: 36 }, 4);
  });

  it('rejects a scratch that is too small', async () => {
    const gpu = await getGPU(precision);
    const t = (n: number, dtype: 'f32' | typeof precision = precision) => gpu.tensor([n], dtype, 't');
    const step = gpu.step('bad');
    expect(() => layernormBackward(step, t(8 * 4), t(4, 'f32'), t(4, 'f32'), t(1, 'f32'), t(8 * 4), t(8 * 4), t(4), t(8, 'f32'), t(8, 'f32'), 8, 4))
      .toThrow(/scratch/);
  });
});
