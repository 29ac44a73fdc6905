// LoRA kernels (src/kernels/lora.ts) against the float64 CPU reference, forward (plain and through
// the GELU epilogue) and backward, f32 and f16, on shapes that are not tile multiples; the CPU
// backward against central finite differences. With lora_dropout: the adapter reads the dropped
// input (the mask of kernels/dropout.ts), forward and backward, with and without an activation below.
import { describe, expect, it } from 'vitest';
import { loraBackward, loraForward } from '../../src/kernels/lora';
import { roundToF16 } from '../../src/util/f16';
import { PRECISIONS, compare, getGPU, randn } from '../helpers/gpu';
import { loraBackwardRef, loraForwardRef, type LoraRefShape } from '../reference/lora';
import { geluGradRef } from '../reference/gelu';
import { dropoutMask, dropoutScale, dropoutStreamKey } from '../../src/util/philox';

const S: LoraRefShape = { BT: 37, C: 22, OC: 45, r: 3, scale: 2.5 };

function data(s: LoraRefShape, f16: boolean) {
  const { BT, C, OC, r } = s;
  const t = {
    x: randn(BT * C, 1, 1), W: randn(C * OC, 2, 0.3), b: randn(OC, 3, 0.5),
    A: randn(r * C, 4, 0.4), B: randn(OC * r, 5, 0.4), dy: randn(BT * OC, 6, 1),
  };
  if (f16) for (const k of ['x', 'W', 'b', 'dy'] as const) roundToF16(t[k]);
  return t;
}

describe('lora CPU reference', () => {
  it('backward matches central finite differences', () => {
    const s: LoraRefShape = { BT: 3, C: 4, OC: 5, r: 2, scale: 1.5 };
    const d = data(s, false);
    const x = Float64Array.from(d.x), A = Float64Array.from(d.A), B = Float64Array.from(d.B);
    const loss = () => loraForwardRef(x, d.W, d.b, A, B, s).y.reduce((acc, y, i) => acc + y * d.dy[i]!, 0);
    const g = loraBackwardRef(d.dy, x, d.W, A, B, s);
    const h = 1e-6;
    for (const [v, grad] of [[x, g.dx], [A, g.dA], [B, g.dB]] as const) {
      const numeric = Array.from(v, (_, i) => {
        const keep = v[i]!;
        v[i] = keep + h; const up = loss();
        v[i] = keep - h; const down = loss();
        v[i] = keep;
        return (up - down) / (2 * h);
      });
      expect(compare(grad, numeric, 1e-8, 1e-6)).toBe('');
    }
  });
});

describe.each(PRECISIONS)('lora kernels %s', (precision) => {
  const f16 = precision === 'f16';
  const tol = f16 ? { atol: 2e-2, rtol: 1e-2 } : { atol: 1e-5, rtol: 1e-5 };

  for (const gelu of [false, true]) {
    it(`forward${gelu ? ' through the GELU epilogue' : ''}, BT=${S.BT} C=${S.C} OC=${S.OC} r=${S.r}`, async () => {
      const gpu = await getGPU(precision);
      const { BT, C, OC, r } = S;
      const d = data(S, f16);
      const out = gpu.tensor([BT, OC], precision, 'y');
      const preact = gpu.tensor([BT, OC], precision, 'preact');
      const u = gpu.tensor([BT, r], 'f32', 'u');
      const step = gpu.step('lora forward');
      loraForward(step, out, u, gpu.tensor([BT, C], precision, 'x', d.x), gpu.tensor([C, OC], precision, 'W', d.W), gpu.tensor([OC], precision, 'b', d.b),
        { A: gpu.tensor([r, C], 'f32', 'A', d.A), B: gpu.tensor([OC, r], 'f32', 'B', d.B), r, scale: S.scale }, BT, C, OC, gelu ? { preact } : undefined);
      step.submit();
      const ref = loraForwardRef(d.x, d.W, d.b, d.A, d.B, S, gelu);
      expect(compare(await gpu.download(out), ref.y, tol.atol, tol.rtol)).toBe('');
      expect(compare(await gpu.download(u), ref.u, 1e-5, 1e-5)).toBe('');
      if (gelu) expect(compare(await gpu.download(preact), ref.preact, tol.atol, tol.rtol)).toBe('');
    });
  }

  it(`backward: dx overwritten, dA and dB accumulated, BT=${S.BT} C=${S.C} OC=${S.OC} r=${S.r}`, async () => {
    const gpu = await getGPU(precision);
    const { BT, C, OC, r } = S;
    const d = data(S, f16);
    const x = gpu.tensor([BT, C], precision, 'x', d.x);
    const W = gpu.tensor([C, OC], precision, 'W', d.W);
    const lora = { A: gpu.tensor([r, C], 'f32', 'A', d.A), B: gpu.tensor([OC, r], 'f32', 'B', d.B), r, scale: S.scale };
    const u = gpu.tensor([BT, r], 'f32', 'u');
    const dx = gpu.tensor([BT, C], precision, 'dx', randn(BT * C, 7, 9)); // overwritten
    const dA0 = randn(r * C, 8, 1), dB0 = randn(OC * r, 9, 1);
    const dA = gpu.tensor([r, C], 'f32', 'dA', dA0);
    const dB = gpu.tensor([OC, r], 'f32', 'dB', dB0);
    const step = gpu.step('lora backward');
    loraForward(step, gpu.tensor([BT, OC], precision, 'y'), u, x, W, null, lora, BT, C, OC);
    loraBackward(step, dx, dA, dB, gpu.tensor([BT, r], 'f32', 'dv'), gpu.tensor([BT, OC], precision, 'dy', d.dy), x, u, W, lora, BT, C, OC);
    step.submit();
    const ref = loraBackwardRef(d.dy, d.x, d.W, d.A, d.B, S);
    expect(compare(await gpu.download(dx), ref.dx, tol.atol, tol.rtol)).toBe('');
    // gradients are f32 from f32 accumulation: tight even at f16 storage (the inputs were rounded)
    expect(compare(await gpu.download(dA), ref.dA.map((v, i) => v + dA0[i]!), 1e-4, 1e-5)).toBe('');
    expect(compare(await gpu.download(dB), ref.dB.map((v, i) => v + dB0[i]!), 1e-4, 1e-5)).toBe('');
  });

  for (const below of [false, true]) {
    it(`lora_dropout 0.3: forward and backward${below ? ' through the activation below' : ''}, BT=${S.BT} C=${S.C} OC=${S.OC} r=${S.r}`, async () => {
      const gpu = await getGPU(precision);
      const { BT, C, OC, r } = S;
      const d = data(S, f16);
      const draw = { p: 0.3, key0: dropoutStreamKey(7, 2, 0), site: 6 + 16 };
      const mask = dropoutMask(BT * C, draw.p, draw.key0, draw.site);
      const keep = Float64Array.from(mask, (k) => (k ? dropoutScale(draw.p) : 0));
      const pre = randn(BT * C, 10, 2); // the layer below's pre-activation (x = gelu(pre) in the model; any x here)
      if (f16) roundToF16(pre);
      const x = gpu.tensor([BT, C], precision, 'x', d.x);
      const W = gpu.tensor([C, OC], precision, 'W', d.W);
      const lora = { A: gpu.tensor([r, C], 'f32', 'A', d.A), B: gpu.tensor([OC, r], 'f32', 'B', d.B), r, scale: S.scale };
      const u = gpu.tensor([BT, r], 'f32', 'u');
      const y = gpu.tensor([BT, OC], precision, 'y');
      const dx = gpu.tensor([BT, C], precision, 'dx', randn(BT * C, 7, 9));
      const dA = gpu.tensor([r, C], 'f32', 'dA', new Float32Array(r * C));
      const dB = gpu.tensor([OC, r], 'f32', 'dB', new Float32Array(OC * r));
      const drop = { draw, xd: gpu.tensor([BT + 3, C + 5], precision, 'xd') }; // a scratch larger than needed
      const act = below ? { preact: gpu.tensor([BT, C], precision, 'pre', pre) } : undefined;
      const step = gpu.step('lora dropout');
      loraForward(step, y, u, x, W, gpu.tensor([OC], precision, 'b', d.b), lora, BT, C, OC, undefined, drop);
      loraBackward(step, dx, dA, dB, gpu.tensor([BT, r], 'f32', 'dv'), gpu.tensor([BT, OC], precision, 'dy', d.dy), x, u, W, lora, BT, C, OC, act, drop);
      step.submit();
      const fwd = loraForwardRef(d.x, d.W, d.b, d.A, d.B, S, false, keep);
      expect(compare(await gpu.download(y), fwd.y, tol.atol, tol.rtol)).toBe('');
      // in f16 the dropped input is stored rounded (x/(1-p) takes a rounding the reference does not)
      const [atol32, rtol32] = f16 ? [5e-3, 5e-3] : [1e-4, 1e-5];
      expect(compare(await gpu.download(u), fwd.u, atol32, rtol32)).toBe('');
      const ref = loraBackwardRef(d.dy, d.x, d.W, d.A, d.B, S, keep);
      const refDx = below ? ref.dx.map((g, i) => g * geluGradRef(pre[i]!)) : ref.dx;
      expect(compare(await gpu.download(dx), refDx, tol.atol, tol.rtol)).toBe('');
      expect(compare(await gpu.download(dA), ref.dA, atol32, rtol32)).toBe('');
      expect(compare(await gpu.download(dB), ref.dB, atol32, rtol32)).toBe('');
    });
  }
});
