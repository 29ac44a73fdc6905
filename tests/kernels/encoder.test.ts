// Token + position embedding forward and its deterministic backward vs the float64 CPU reference,
// both storage precisions; repeated tokens; tables bound in pieces; bit-identical reruns; token id
// validation.
import { afterEach, describe, expect, it } from 'vitest';
import { createEncoderBackwardPlan, encoderBackward, encoderForward, encoderOptions } from '../../src/kernels/encoder';
import { roundToF16 } from '../../src/util/f16';
import { PRECISIONS, compare, getGPU, randn } from '../helpers/gpu';
import { encoderBackwardRef, encoderForwardRef } from '../reference/encoder';

interface Shape { B: number; T: number; C: number; Vp: number; maxT: number }

const SHAPES: (Shape & { maxBindingBytes?: number })[] = [
  { B: 3, T: 13, C: 48, Vp: 29, maxT: 16 }, // 39 positions over 29 ids: many repeats
  { B: 2, T: 7, C: 100, Vp: 64, maxT: 7 }, // C over the 64-thread workgroup, not a multiple
  { B: 2, T: 5, C: 37, Vp: 13, maxT: 8 }, // C % 4 != 0: scalar kernels
  // wte / dwte bound in pieces of 8 (f32) or 16 (f16) rows, as GPT-2's f32 dwte must be
  { B: 3, T: 13, C: 48, Vp: 29, maxT: 16, maxBindingBytes: 1536 },
];

/** Token ids with heavy repetition: a few ids repeat many times (like spaces and "the"). */
function tokens(n: number, Vp: number, seed: number): Int32Array {
  const r = randn(n, seed, 1);
  return Int32Array.from(r, (x, i) => (i % 3 === 0 ? 5 % Vp : Math.floor(((x + 1) / 2) * Vp) % Vp));
}

describe('encoder CPU reference', () => {
  it('backward matches central finite differences (float64)', () => {
    const B = 2, T = 3, C = 4, Vp = 5;
    const ids = [1, 3, 1, 1, 0, 4];
    const wte = Float64Array.from(randn(Vp * C, 1, 1)), wpe = Float64Array.from(randn(T * C, 2, 1));
    const g = Float64Array.from(randn(B * T * C, 3, 1));
    const loss = () => encoderForwardRef(ids, wte, wpe, B, T, C).reduce((a, o, i) => a + o * g[i]!, 0);
    const dwte = new Float64Array(Vp * C), dwpe = new Float64Array(T * C);
    encoderBackwardRef(dwte, dwpe, g, ids, B, T, C);
    const numeric = (x: Float64Array) => Float64Array.from(x, (v, i) => {
      const h = 1e-6;
      x[i] = v + h; const up = loss();
      x[i] = v - h; const down = loss();
      x[i] = v;
      return (up - down) / (2 * h);
    });
    expect(compare(dwte, numeric(wte), 1e-8, 1e-7)).toBe('');
    expect(compare(dwpe, numeric(wpe), 1e-8, 1e-7)).toBe('');
  });
});

describe.each(PRECISIONS)('encoder %s', (precision) => {
  const f16 = precision === 'f16';
  // forward: one f32 add, rounded once to the storage type. backward: f32 sums of up to ~B*T/3
  // terms (the repeated id), so 1e-5 relative plus a small atol for sums that cancel to near 0.
  const fwdTol = f16 ? { atol: 1e-3, rtol: 1e-3 } : { atol: 0, rtol: 1e-7 };
  const bwdTol = f16 ? { atol: 1e-3, rtol: 1e-3 } : { atol: 1e-6, rtol: 1e-5 };

  afterEach(() => { encoderOptions.maxBindingBytes = Infinity; });

  for (const s of SHAPES) {
    it(`forward and backward B=${s.B} T=${s.T} C=${s.C}${s.maxBindingBytes ? `, tables bound in pieces of ${s.maxBindingBytes} bytes` : ''}`, async () => {
      encoderOptions.maxBindingBytes = s.maxBindingBytes ?? Infinity;
      const gpu = await getGPU(precision);
      const { B, T, C, Vp, maxT } = s;
      const ids = tokens(B * T, Vp, B * 100 + C);
      const wte = randn(Vp * C, 1, 1), wpe = randn(maxT * C, 2, 1), dout = randn(B * T * C, 3, 1);
      if (f16) { roundToF16(wte); roundToF16(wpe); roundToF16(dout); }
      const dwte0 = randn(Vp * C, 4, 1), dwpe0 = randn(maxT * C, 5, 1); // += into non-zero gradients

      const inp = gpu.tensor([B, T], 'i32', 'inp', ids);
      const out = gpu.tensor([B, T, C], precision, 'out');
      const dwte = gpu.tensor([Vp, C], 'f32', 'dwte', dwte0);
      const dwpe = gpu.tensor([maxT, C], 'f32', 'dwpe', dwpe0);
      const plan = createEncoderBackwardPlan(gpu, B * T + 5, Vp);
      plan.update(ids);
      const step = gpu.step('encoder');
      encoderForward(step, out, inp, gpu.tensor([Vp, C], precision, 'wte', wte), gpu.tensor([maxT, C], precision, 'wpe', wpe), B, T, C);
      encoderBackward(step, dwte, dwpe, gpu.tensor([B, T, C], precision, 'dout', dout), plan, B, T, C);
      step.submit();

      expect(compare(await gpu.download(out), encoderForwardRef(ids, wte, wpe, B, T, C), fwdTol.atol, fwdTol.rtol)).toBe('');
      const rdwte = Float64Array.from(dwte0), rdwpe = Float64Array.from(dwpe0);
      encoderBackwardRef(rdwte, rdwpe, dout, ids, B, T, C);
      expect(compare(await gpu.download(dwte), rdwte, bwdTol.atol, bwdTol.rtol)).toBe('');
      expect(compare(await gpu.download(dwpe), rdwpe, bwdTol.atol, bwdTol.rtol)).toBe('');
      plan.destroy();
    });
  }

  it('backward is bit-identical from run to run, with repeated tokens', async () => {
    const gpu = await getGPU(precision);
    const B = 4, T = 33, C = 40, Vp = 11;
    const ids = tokens(B * T, Vp, 7); // 132 positions over 11 ids
    const dout = gpu.tensor([B, T, C], precision, 'dout', randn(B * T * C, 8, 1));
    const plan = createEncoderBackwardPlan(gpu, B * T, Vp);
    const dwte = gpu.tensor([Vp, C], 'f32', 'dwte');
    const dwpe = gpu.tensor([T, C], 'f32', 'dwpe');
    const run = async () => {
      plan.update(ids);
      const step = gpu.step('encoder backward');
      step.clear(dwte);
      step.clear(dwpe);
      encoderBackward(step, dwte, dwpe, dout, plan, B, T, C);
      step.submit();
      return [new Uint32Array((await gpu.download(dwte)).buffer), new Uint32Array((await gpu.download(dwpe)).buffer)];
    };
    const [a, b] = [await run(), await run()];
    expect(Array.from(b[0]!)).toEqual(Array.from(a[0]!));
    expect(Array.from(b[1]!)).toEqual(Array.from(a[1]!));
    expect(plan.buckets).toBe(new Set(ids).size);
    plan.destroy();
  });

  it('plan.update rejects bad token ids, naming the id and its position', async () => {
    const gpu = await getGPU(precision);
    const plan = createEncoderBackwardPlan(gpu, 8, 10);
    expect(() => plan.update(Int32Array.from([1, 2, 10, 3]))).toThrow(/token id 10 at position 2/);
    expect(() => plan.update(Int32Array.from([1, -1]))).toThrow(/token id -1 at position 1/);
    expect(() => plan.update(new Int32Array(9))).toThrow(/at most 8/);
    const step = gpu.step('mismatch');
    plan.update(Int32Array.from([1, 2, 3, 4]));
    expect(() => encoderBackward(step, gpu.tensor([10, 4], 'f32', 'dwte'), gpu.tensor([4, 4], 'f32', 'dwpe'), gpu.tensor([2, 3, 4], precision, 'dout'), plan, 2, 3, 4))
      .toThrow(/B\*T = 6/);
    plan.destroy();
  });
});
