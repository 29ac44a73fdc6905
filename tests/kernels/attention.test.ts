// Fused causal attention vs the float64 CPU reference (which materialises the T×T matrix),
// forward (out, lse) and backward (dqkv, delta), in both storage precisions. Every kernel variant
// (tiled, subgroup) is forced on this adapter and run at every preset's head size (8, 16, 32, 64,
// 128: mqg-tiny 32, mqg-small, gpt2 64, biomedlm 128, the hf tiny golden case 16), with attention
// scales other than 1/sqrt(hs) (scale_attn_by_inverse_layer_idx, scale_attn_weights false).
// Dropout on the probabilities (attn_pdrop) in every variant against the reference drawing the same
// Philox masks, forward and backward (the backward draws them again).
import { describe, expect, it } from 'vitest';
import {
  type AttentionVariant, attentionBackward, attentionForward, attentionSharedBytes, chooseAttentionTiles, setAttentionVariant,
} from '../../src/kernels/attention';
import { roundToF16 } from '../../src/util/f16';
import { PRECISIONS, compare, getGPU, randn } from '../helpers/gpu';
import { attentionBackwardRef, attentionForwardRef, attentionKeepRef, type AttentionDropRef } from '../reference/attention';
import { dropoutStreamKey } from '../../src/util/philox';

/** scale multiplies q·k; undefined: the default 1/sqrt(hs). */
interface Shape { B: number; T: number; C: number; NH: number; scale?: number }

const HAS_SUBGROUPS = (await getGPU('f32')).hasSubgroups;
if (!HAS_SUBGROUPS) console.warn('this adapter has no subgroups: the subgroup attention variant tests are skipped');

// Layer 2 of a model with scale_attn_by_inverse_layer_idx: 1/sqrt(hs)/3.
const inverseIdx = (hs: number) => 1 / Math.sqrt(hs) / 3;

const SHAPES: Shape[] = [
  { B: 2, T: 37, C: 48, NH: 3 }, // hs 16, T not a tile multiple
  { B: 2, T: 1, C: 48, NH: 3 }, // a single position: att is 1, out = v
  { B: 1, T: 19, C: 16, NH: 2, scale: inverseIdx(8) }, // hs 8
  { B: 1, T: 21, C: 16, NH: 2, scale: 1 }, // hs 8, scale_attn_weights false
  { B: 2, T: 45, C: 64, NH: 2 }, // hs 32
  { B: 1, T: 23, C: 64, NH: 2, scale: inverseIdx(32) }, // hs 32
  { B: 1, T: 70, C: 128, NH: 2, scale: inverseIdx(64) }, // hs 64
  { B: 2, T: 33, C: 32, NH: 2, scale: inverseIdx(16) }, // hs 16
  { B: 1, T: 70, C: 128, NH: 1, scale: inverseIdx(128) }, // hs 128
  { B: 2, T: 33, C: 256, NH: 2 }, // hs 128, two heads and batches
];

function inputs(s: Shape, seed: number, f16: boolean) {
  // Scale 1.5 gives peaked rows (scores up to ~hs/4/sqrt(hs)), so the running max matters.
  const qkv = randn(s.B * s.T * 3 * s.C, seed, 1.5);
  const dout = randn(s.B * s.T * s.C, seed + 1, 1);
  if (f16) { roundToF16(qkv); roundToF16(dout); }
  return { qkv, dout };
}

function rowsumRef(dout: ArrayLike<number>, out: ArrayLike<number>, { B, T, C, NH }: Shape): Float64Array {
  const hs = C / NH;
  const delta = new Float64Array(B * NH * T);
  for (let b = 0; b < B; b++) for (let h = 0; h < NH; h++) for (let t = 0; t < T; t++) {
    let s = 0;
    for (let i = 0; i < hs; i++) s += dout[(b * T + t) * C + h * hs + i]! * out[(b * T + t) * C + h * hs + i]!;
    delta[(b * NH + h) * T + t] = s;
  }
  return delta;
}

describe('attention CPU reference', () => {
  it('backward matches central finite differences (float64)', () => {
    const s = { B: 2, T: 5, C: 6, NH: 2 };
    const qkv = Float64Array.from(randn(s.B * s.T * 3 * s.C, 7, 1.5));
    const w = Float64Array.from(randn(s.B * s.T * s.C, 8, 1)); // loss = Σ out ∘ w, so dout = w
    const loss = (x: Float64Array) => attentionForwardRef(x, s.B, s.T, s.C, s.NH).out.reduce((acc, o, i) => acc + o * w[i]!, 0);
    const dqkv = attentionBackwardRef(w, qkv, s.B, s.T, s.C, s.NH);
    const numeric = new Float64Array(qkv.length);
    const eps = 1e-6;
    for (let i = 0; i < qkv.length; i++) {
      const x = qkv[i]!;
      qkv[i] = x + eps; const up = loss(qkv);
      qkv[i] = x - eps; const down = loss(qkv);
      qkv[i] = x;
      numeric[i] = (up - down) / (2 * eps);
    }
    expect(compare(dqkv, numeric, 1e-8, 1e-6)).toBe('');
    // The causal mask: position 0 attends only to itself (att = 1), so its softmax gradient and dq vanish.
    for (let b = 0; b < s.B; b++) for (let i = 0; i < s.C; i++) expect(Math.abs(dqkv[b * s.T * 3 * s.C + i]!)).toBeLessThan(1e-15);
  });

  it('lse is the log-sum-exp and out is att·v for T=1', () => {
    const qkv = randn(3 * 4, 3, 1);
    const { out, lse } = attentionForwardRef(qkv, 1, 1, 4, 2);
    // A single key: softmax is 1 and lse is that key's scaled score.
    const score = (h: number) => (qkv[2 * h]! * qkv[4 + 2 * h]! + qkv[2 * h + 1]! * qkv[4 + 2 * h + 1]!) / Math.SQRT2;
    expect(compare(lse, [score(0), score(1)], 1e-12, 0)).toBe('');
    expect(compare(out, qkv.subarray(8, 12), 1e-12, 0)).toBe('');
  });

  it('with dropout: backward matches central finite differences, and masks differ between heads and rows', () => {
    const s = { B: 2, T: 6, C: 6, NH: 2 };
    const drop = { p: 0.3, key0: dropoutStreamKey(1337, 4, 1), site: 4 + 16 };
    const qkv = Float64Array.from(randn(s.B * s.T * 3 * s.C, 17, 1.5));
    const w = Float64Array.from(randn(s.B * s.T * s.C, 18, 1));
    const loss = (x: Float64Array) => attentionForwardRef(x, s.B, s.T, s.C, s.NH, undefined, drop).out.reduce((acc, o, i) => acc + o * w[i]!, 0);
    const dqkv = attentionBackwardRef(w, qkv, s.B, s.T, s.C, s.NH, undefined, drop);
    const numeric = new Float64Array(qkv.length);
    for (let i = 0; i < qkv.length; i++) {
      const x = qkv[i]!;
      qkv[i] = x + 1e-6; const up = loss(qkv);
      qkv[i] = x - 1e-6; const down = loss(qkv);
      qkv[i] = x;
      numeric[i] = (up - down) / 2e-6;
    }
    expect(compare(dqkv, numeric, 1e-8, 1e-6)).toBe('');
    const mask = (b: number, h: number) => Array.from({ length: 64 * 64 }, (_, i) => attentionKeepRef(drop, 2, b, h, 64 + (i >> 6), i & 63));
    expect(mask(0, 0)).not.toEqual(mask(0, 1));
    expect(mask(0, 0)).not.toEqual(mask(1, 0));
    expect(mask(0, 0).filter((z) => z === 0).length).toBeGreaterThan(0);
  });
});

const TILED: AttentionVariant = { kind: 'tiled' };
const SUBGROUP: AttentionVariant = { kind: 'subgroup', wg: 8, rows: 1 };
const SUBGROUP_16: AttentionVariant = { kind: 'subgroup', wg: 16, rows: 1 };
const SUBGROUP_ROWS2: AttentionVariant = { kind: 'subgroup', wg: 8, rows: 2 };
// The tiled kernels are slow to run on a software adapter: the shorter shapes, every head size.
const TILED_SHAPES = SHAPES.filter((s) => s.T <= 37 || s.C / s.NH === 64);
// The subgroup kernels stop at hs=64 but for the forward at 128 (BioMedLM's heads; the backward of
// hs=128 then runs the tiled kernels: attentionKernel), compiled once here (~10 s per precision).
const SUBGROUP_SHAPES = SHAPES.filter((s) => s.C / s.NH <= 64 || (s.C === 256 && s.NH === 2));

describe('attention variant choice', () => {
  it('covers every preset head size with both variants (subgroup up to 128)', () => {
    const hs = (xs: Shape[]) => [...new Set(xs.map((s) => s.C / s.NH))].sort((a, b) => a - b);
    expect(hs(TILED_SHAPES)).toEqual([8, 16, 32, 64, 128]);
    expect(hs(SUBGROUP_SHAPES)).toEqual([8, 16, 32, 64, 128]);
    for (const xs of [TILED_SHAPES, SUBGROUP_SHAPES]) expect(xs.some((s) => s.scale !== undefined)).toBe(true);
  });
});

describe('attention tiles', () => {
  it('fit the workgroup memory for every pass, head size and dtype', () => {
    for (const budget of [16384, 32768]) {
      for (const pass of ['forward', 'dq', 'dkv'] as const) {
        for (const hs of [8, 16, 32, 64, 128]) {
          for (const dtype of ['f16', 'f32'] as const) {
            const t = chooseAttentionTiles(pass, hs, dtype, { maxComputeWorkgroupStorageSize: budget, maxComputeInvocationsPerWorkgroup: 256 });
            expect(attentionSharedBytes(pass, hs, dtype, t)).toBeLessThanOrEqual(budget);
            expect(hs % t.tpr + t.br % t.tpr + t.bc % t.tpr).toBe(0);
          }
        }
      }
    }
  });
});

describe.each(PRECISIONS)('attention on the GPU (%s)', (precision) => {
  const f16 = precision === 'f16';
  // f32: relative 1e-5 plus an absolute 5e-6 for outputs that are sums of cancelling terms (dqkv
  // elements near zero); measured worst case ~1e-6. The GPU sums in a different order and uses exp2.
  // f16: outputs are rounded to f16 storage (2^-11 relative); measured worst case ~9e-4.
  const [atol, rtol] = f16 ? [1e-2, 1e-2] : [5e-6, 1e-5];
  // lse and delta are f32 in both precisions (computed from the same rounded inputs as the reference).
  const [statAtol, statRtol] = [5e-6, 1e-5];

  /** Run forward and backward under `variant` and check out, lse, delta and dqkv against the reference. */
  async function check(variant: AttentionVariant, s: Shape, drop?: AttentionDropRef): Promise<void> {
    const gpu = await getGPU(precision);
    setAttentionVariant(gpu, variant);
    try {
      const { B, T, C, NH } = s;
      const scale = s.scale ?? 1 / Math.sqrt(C / NH);
      const { qkv, dout } = inputs(s, 11 + T, f16);
      const ref = attentionForwardRef(qkv, B, T, C, NH, scale, drop);
      const refOut = Float32Array.from(ref.out);
      if (f16) roundToF16(refOut); // what the backward gets to read back in f16 storage

      const qkvT = gpu.tensor([B, T, 3 * C], precision, 'qkv', qkv);
      const outT = gpu.tensor([B, T, C], precision, 'out');
      const lseT = gpu.tensor([B, NH, T], 'f32', 'lse');
      const doutT = gpu.tensor([B, T, C], precision, 'dout', dout);
      const outInT = gpu.tensor([B, T, C], precision, 'out_ref', refOut);
      const lseInT = gpu.tensor([B, NH, T], 'f32', 'lse_ref', ref.lse);
      const dqkvT = gpu.tensor([B, T, 3 * C], precision, 'dqkv', randn(B * T * 3 * C, 5, 9)); // garbage: must be overwritten
      const dqkv2T = gpu.tensor([B, T, 3 * C], precision, 'dqkv2');
      const deltaT = gpu.tensor([B, NH, T], 'f32', 'delta');

      const step = gpu.step('attention');
      attentionForward(step, outT, lseT, qkvT, B, T, C, NH, s.scale, drop);
      attentionBackward(step, dqkvT, deltaT, doutT, outInT, lseInT, qkvT, B, T, C, NH, s.scale, drop);
      attentionBackward(step, dqkv2T, deltaT, doutT, outInT, lseInT, qkvT, B, T, C, NH, s.scale, drop);
      step.submit();

      expect(compare(await gpu.download(outT), ref.out, atol, rtol)).toBe('');
      expect(compare(await gpu.download(lseT), ref.lse, statAtol, statRtol)).toBe('');
      expect(compare(await gpu.download(deltaT), rowsumRef(dout, refOut, s), statAtol, statRtol)).toBe('');
      const dqkv = await gpu.download(dqkvT);
      expect(compare(dqkv, attentionBackwardRef(dout, qkv, B, T, C, NH, scale, drop), atol, rtol)).toBe('');
      // No atomics: a second run gives the same bits.
      expect(compare(await gpu.download(dqkv2T), dqkv, 0, 0)).toBe('');
    } finally {
      setAttentionVariant(gpu, null);
    }
  }

  it.skipIf(!HAS_SUBGROUPS).each(SUBGROUP_SHAPES)('subgroup variant, forward and backward B=$B T=$T C=$C NH=$NH scale=$scale', (s) => check(SUBGROUP, s), 400_000);
  // The other layouts tuneAttention may choose (tune/attention.ts): 16 lanes per workgroup at every
  // head size, two rows per lane up to hs=32 (its only candidates).
  it.skipIf(!HAS_SUBGROUPS).each(SUBGROUP_SHAPES.filter((s) => s.C / s.NH <= 64))('subgroup variant 16 lanes, forward and backward B=$B T=$T C=$C NH=$NH scale=$scale', (s) => check(SUBGROUP_16, s));
  it.skipIf(!HAS_SUBGROUPS).each(SUBGROUP_SHAPES.filter((s) => s.C / s.NH <= 32))('subgroup variant 2 rows per lane, forward and backward B=$B T=$T C=$C NH=$NH scale=$scale', (s) => check(SUBGROUP_ROWS2, s), 120_000);
  // Head sizes 8 and 32 take lavapipe's LLVM 1-3 minutes per precision to compile the tiled
  // kernels the first time (Mesa's shader cache keeps them for later runs): hence the long timeout.
  it.each(TILED_SHAPES)('tiled variant, forward and backward B=$B T=$T C=$C NH=$NH scale=$scale', (s) => check(TILED, s), 400_000);

  // attn_pdrop: each variant on hs 16 (T not a tile multiple) and one more head size; p 0.1 and 0.5
  const drop = (p: number, layer: number) => ({ p, key0: dropoutStreamKey(1337, 3, 1), site: 4 + 16 * layer });
  const DROP_SHAPES = [SHAPES[0]!, SHAPES[6]!]; // hs 16 and hs 64 (the tiled kernels of 64 are already compiled above)
  // (the other layouts only at hs 16: each hs-64 dropout pipeline takes lavapipe tens of seconds to compile)
  it.skipIf(!HAS_SUBGROUPS).each(DROP_SHAPES)('dropout: subgroup variants, forward and backward B=$B T=$T C=$C NH=$NH', async (s) => {
    await check(SUBGROUP, s, drop(0.1, 0));
    if (s.C / s.NH > 32) return;
    await check(SUBGROUP_16, s, drop(0.5, 1));
    await check(SUBGROUP_ROWS2, s, drop(0.1, 2));
  }, 400_000);
  it.each(DROP_SHAPES)('dropout: tiled variant, forward and backward B=$B T=$T C=$C NH=$NH', async (s) => {
    await check(TILED, s, drop(0.1, 0));
    await check(TILED, s, drop(0.5, 1));
  }, 400_000);

  it('forward at T=1024 (B=1, NH=1, hs=64), default variant', async () => {
    const gpu = await getGPU(precision);
    const s = { B: 1, T: 1024, C: 64, NH: 1 };
    const { qkv } = inputs(s, 99, f16);
    const ref = attentionForwardRef(qkv, s.B, s.T, s.C, s.NH);
    const qkvT = gpu.tensor([1, s.T, 3 * s.C], precision, 'qkv', qkv);
    const outT = gpu.tensor([1, s.T, s.C], precision, 'out');
    const lseT = gpu.tensor([1, 1, s.T], 'f32', 'lse');
    const step = gpu.step('attention-1024');
    attentionForward(step, outT, lseT, qkvT, s.B, s.T, s.C, s.NH);
    step.submit();
    expect(compare(await gpu.download(outT), ref.out, atol, rtol)).toBe('');
    expect(compare(await gpu.download(lseT), ref.lse, statAtol, statRtol)).toBe('');
  });
});
