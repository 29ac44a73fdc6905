// GELU (tanh approximation) forward and backward vs the float64 CPU reference, both storage
// precisions; the in-place backward (dinp = dout); large |x| where tanh saturates; vec4 and scalar
// kernels; inputs split into several dispatches.
import { afterEach, describe, expect, it } from 'vitest';
import { activationBackward, activationForward, geluBackward, geluForward } from '../../src/kernels/gelu';
import { elementwiseOptions } from '../../src/kernels/residual';
import { roundToF16 } from '../../src/util/f16';
import { PRECISIONS, compare, getGPU, randn } from '../helpers/gpu';
import { type ActivationName, activationGradRef, activationRef, erfRef, geluBackwardRef, geluForwardRef, geluGradRef, geluRef } from '../reference/gelu';

describe('gelu CPU reference', () => {
  it('gradient matches central finite differences (float64)', () => {
    const xs = [...randn(64, 3, 4), 0, 1e-3, -7, 7, 20, -20];
    const h = 1e-6;
    const numeric = xs.map((x) => (geluRef(x + h) - geluRef(x - h)) / (2 * h));
    expect(compare(xs.map(geluGradRef), numeric, 1e-8, 1e-7)).toBe('');
  });
});

describe.each(PRECISIONS)('gelu %s', (precision) => {
  const f16 = precision === 'f16';
  // f32: 1e-5 relative, plus a 1e-6 atol for values near 0 (gelu'(x) crosses 0 near x = -0.75 and
  // is ~1e-6 around x = -5, where only absolute error is meaningful). f16: the stored result is
  // rounded to 11 bits.
  const tol = f16 ? { atol: 1e-3, rtol: 1e-2 } : { atol: 1e-6, rtol: 1e-5 };
  // Spread ±6, extremes first; 1000 is not a multiple of a workgroup's 1024-element tile.
  const extremes = [20, -20, 1e4, -1e4, 0, 9.5, -9.5, 4, -4];

  function inputs(n: number, seed: number) {
    const inp = randn(n, seed, 6);
    inp.set(extremes, 0);
    const dout = randn(n, seed + 1, 1);
    if (f16) { roundToF16(inp); roundToF16(dout); }
    return { inp, dout };
  }

  it('forward, N=1000, extremes finite and correct', async () => {
    const gpu = await getGPU(precision);
    const N = 1000;
    const { inp } = inputs(N, 1);
    const x = gpu.tensor([N], precision, 'inp', inp);
    const out = gpu.tensor([N], precision, 'out');
    const step = gpu.step('gelu forward');
    geluForward(step, out, x, N);
    step.submit();
    const got = await gpu.download(out);
    expect(compare(got, geluForwardRef(inp), tol.atol, tol.rtol)).toBe('');
    // Saturated: x for large positive x, (almost) 0 for large negative x.
    expect([got[0], got[2]]).toEqual([20, 1e4]);
    expect(Math.abs(got[1]!) + Math.abs(got[3]!)).toBeLessThan(1e-30);
    expect(got.every(Number.isFinite)).toBe(true);
  });

  it('backward, N=1000, out of place', async () => {
    const gpu = await getGPU(precision);
    const N = 1000;
    const { inp, dout } = inputs(N, 2);
    const dinp = gpu.tensor([N], precision, 'dinp', randn(N, 9, 1)); // overwritten, not accumulated
    const step = gpu.step('gelu backward');
    geluBackward(step, dinp, gpu.tensor([N], precision, 'inp', inp), gpu.tensor([N], precision, 'dout', dout), N);
    step.submit();
    const got = await gpu.download(dinp);
    expect(compare(got, geluBackwardRef(inp, dout), tol.atol, tol.rtol)).toBe('');
    // gelu' is exactly 1 for large positive x and 0 for large negative x.
    expect([got[0], got[2]]).toEqual([dout[0], dout[2]]);
    expect(Math.abs(got[1]!) + Math.abs(got[3]!)).toBeLessThan(1e-30);
    expect(got.every(Number.isFinite)).toBe(true);
  });

  afterEach(() => { elementwiseOptions.chunk = 1 << 24; });

  // 1000 = 250 vec4; 777 takes the scalar kernels; a chunk of 256 splits 1000 into 4 dispatches.
  for (const [N, chunk] of [[1000, 1 << 24], [777, 1 << 24], [1000, 256]] as const) {
    it(`backward in place (dinp is dout), N=${N}${chunk < N ? `, dispatches of ${chunk}` : ''}`, async () => {
      elementwiseOptions.chunk = chunk;
      const gpu = await getGPU(precision);
      const { inp, dout } = inputs(N, 3);
      const d = gpu.tensor([N], precision, 'dfch', dout);
      const step = gpu.step('gelu backward in place');
      geluBackward(step, d, gpu.tensor([N], precision, 'inp', inp), d, N);
      step.submit();
      expect(compare(await gpu.download(d), geluBackwardRef(inp, dout), tol.atol, tol.rtol)).toBe('');
    });
  }

  it('forward and backward (out of place), scalar kernels, N=777', async () => {
    const gpu = await getGPU(precision);
    const N = 777;
    const { inp, dout } = inputs(N, 4);
    const x = gpu.tensor([N], precision, 'inp', inp);
    const out = gpu.tensor([N], precision, 'out');
    const dinp = gpu.tensor([N], precision, 'dinp');
    const step = gpu.step('gelu scalar');
    geluForward(step, out, x, N);
    geluBackward(step, dinp, x, gpu.tensor([N], precision, 'dout', dout), N);
    step.submit();
    expect(compare(await gpu.download(out), geluForwardRef(inp), tol.atol, tol.rtol)).toBe('');
    expect(compare(await gpu.download(dinp), geluBackwardRef(inp, dout), tol.atol, tol.rtol)).toBe('');
  });

  it('backward rejects a dinp that partly overlaps dout', async () => {
    const gpu = await getGPU(precision);
    const buf = gpu.tensor([1024], precision, 'buf');
    const step = gpu.step('bad');
    expect(() => geluBackward(step, buf.view([512], 0), gpu.tensor([512], precision, 'inp'), buf.view([512], 256), 512)).toThrow(/overlap/);
  });
});

describe('activation CPU references', () => {
  it('erf matches known values to 1e-14', () => {
    const known: [number, number][] = [[0, 0], [0.5, 0.5204998778130465], [1, 0.8427007929497149], [2, 0.9953222650189527], [3.5, 0.9999992569016276], [-1.5, -0.9661051464753108]];
    for (const [x, e] of known) expect(Math.abs(erfRef(x) - e), `erf(${x})`).toBeLessThan(1e-14);
  });

  it.each(['gelu', 'relu', 'silu'] as ActivationName[])('%s gradient matches central finite differences (float64)', (act) => {
    const xs = [...randn(64, 5, 6), 1e-3, -7, 7, 12, -12].filter((x) => act !== 'relu' || Math.abs(x) > 1e-5);
    const h = 1e-6;
    const numeric = xs.map((x) => (activationRef(act, x + h) - activationRef(act, x - h)) / (2 * h));
    expect(compare(xs.map((x) => activationGradRef(act, x)), numeric, 1e-8, 1e-6)).toBe('');
  });
});

// The exact (erf) GELU must be told apart from the tanh form: they differ by up to ~5e-4 near |x| = 2,
// 500x the f32 tolerance here.
describe.each(PRECISIONS)('activations %s', (precision) => {
  const f16 = precision === 'f16';
  const tol = f16 ? { atol: 1e-3, rtol: 1e-2 } : { atol: 1e-6, rtol: 1e-5 };
  it.each(['gelu', 'relu', 'silu', 'gelu_pytorch_tanh'] as ActivationName[])('%s forward and backward (vec4 and scalar)', async (act) => {
    const gpu = await getGPU(precision);
    for (const N of [1000, 777]) {
      const inp = randn(N, 31, 6);
      inp.set([20, -20, 1e4, -1e4, 0, 9.5, -9.5, 2, -2, 1e-3, -1e-3, 100, -100], 0);
      const dout = randn(N, 32, 1);
      if (f16) { roundToF16(inp); roundToF16(dout); }
      const x = gpu.tensor([N], precision, 'inp', inp);
      const out = gpu.tensor([N], precision, 'out');
      const dinp = gpu.tensor([N], precision, 'dinp', randn(N, 33, 1));
      const step = gpu.step(`${act} test`);
      activationForward(step, out, x, N, act);
      activationBackward(step, dinp, x, gpu.tensor([N], precision, 'dout', dout), N, act);
      step.submit();
      const got = await gpu.download(out);
      expect(compare(got, Array.from(inp, (v) => activationRef(act, v)), tol.atol, tol.rtol), `forward N=${N}`).toBe('');
      const dgot = await gpu.download(dinp);
      expect(compare(dgot, Array.from(inp, (v, i) => activationGradRef(act, v) * dout[i]!), tol.atol, tol.rtol), `backward N=${N}`).toBe('');
      expect(got.every(Number.isFinite) && dgot.every(Number.isFinite)).toBe(true);
    }
  });
});
