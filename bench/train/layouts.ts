// Tuned kernel layouts against the untuned defaults on mqg-tiny's shapes: attention's subgroup layout
// and the row kernels' (layernorm, cross-entropy), timed by GPU timestamps, interleaved.
import type { GPUContext, Precision, Step } from '../../src/gpu/index';
import {
  DEFAULT_LAYERNORM_LAYOUT, type LayernormLayout, createLayernormScratch, layernormBackward, layernormLayoutName, residualLayernormForward, setLayernormLayout,
} from '../../src/kernels/layernorm';
import { crossEntropyForwardBackward, defaultCrossEntropyWorkgroup, setCrossEntropyWorkgroup } from '../../src/kernels/classifier';
import { rowTuneRecords } from '../../src/kernels/tune/rows';
import { type AttentionVariant, attentionBackward, attentionForward, attentionVariant, attentionVariantName, setAttentionVariant } from '../../src/kernels/attention';
import { beforeAfterGpuMs } from './timing';
import type { BeforeAfter } from './types';

/**
 * Attention forward + backward of one mqg-tiny layer (B 8, T 128, C 128, 4 heads): the untuned
 * default layout (sg8x1) vs the tuned choice. Undefined when the tuned choice is the default or not a subgroup layout.
 */
export async function attentionLayouts(gpu: GPUContext): Promise<BeforeAfter | undefined> {
  const tuned = attentionVariant(gpu, 32);
  if (tuned.kind !== 'subgroup' || (tuned.wg === 8 && tuned.rows === 1)) return undefined;
  const B = 8, T = 128, C = 128, NH = 4, dt = gpu.precision;
  const qkv = gpu.tensor([B * T * 3 * C], dt, 'qkv', Float32Array.from({ length: B * T * 3 * C }, (_, i) => Math.sin(i) * 0.5));
  const dout = gpu.tensor([B * T * C], dt, 'dout', Float32Array.from({ length: B * T * C }, (_, i) => Math.cos(i)));
  const out = gpu.tensor([B * T * C], dt, 'out'), dqkv = gpu.tensor([B * T * 3 * C], dt, 'dqkv');
  const lse = gpu.tensor([B * NH * T], 'f32', 'lse'), delta = gpu.tensor([B * NH * T], 'f32', 'delta');
  const under = (v: AttentionVariant) => (s: Step) => {
    setAttentionVariant(gpu, v);
    attentionForward(s, out, lse, qkv, B, T, C, NH);
    attentionBackward(s, dqkv, delta, dout, out, lse, qkv, B, T, C, NH);
    setAttentionVariant(gpu, null);
  };
  const { before, after } = await beforeAfterGpuMs(gpu, under({ kind: 'subgroup', wg: 8, rows: 1 }), under(tuned));
  for (const t of [qkv, dout, out, dqkv, lse, delta]) t.buffer.destroy();
  return {
    change: `attention forward + backward of a mqg-tiny layer (B8 T128 C128 NH4, ${gpu.precision}): default layout sg8x1 → tuned ${attentionVariantName(tuned)}`,
    before, after, unit: 'ms GPU',
  };
}

/**
 * The row kernels of mqg-tiny's step (a residual add + layernorm forward and a layernorm backward on
 * BT×C, the cross-entropy forward + backward on BT×Vp) under the default layouts (8×8, wg64) and the
 * tuned ones (kernels/tune/rows.ts), interleaved. Undefined when nothing was tuned or the tuned layouts are the defaults.
 */
export async function rowLayouts(gpu: GPUContext, BT: number, C: number, Vp: number): Promise<BeforeAfter | undefined> {
  const rec = rowTuneRecords(gpu, { C, Vp });
  if (!rec) return undefined;
  const ln = rec.layernorm.variant, wg = rec.crossEntropy.variant;
  const defaults = { ln: DEFAULT_LAYERNORM_LAYOUT, wg: defaultCrossEntropyWorkgroup(Vp) };
  if (layernormLayoutName(ln) === layernormLayoutName(defaults.ln) && wg === defaults.wg) return undefined;
  const dt = gpu.precision;
  const t = (n: number, dtype: Precision, label: string) => gpu.tensor([n], dtype, label, Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37)));
  const res = t(BT * C, 'f32', 'res'), inp = t(BT * C, 'f32', 'inp'), add = t(BT * C, 'f32', 'add'), out = t(BT * C, dt, 'out');
  const mean = t(BT, 'f32', 'mean'), rstd = gpu.tensor([BT], 'f32', 'rstd', new Float32Array(BT).fill(1));
  const w = t(C, dt, 'w'), b = t(C, dt, 'b'), dout = t(BT * C, dt, 'dout'), dinp = t(BT * C, 'f32', 'dinp'), copy = t(BT * C, dt, 'copy');
  const dw = t(C, 'f32', 'dw'), db = t(C, 'f32', 'db'), scratch = createLayernormScratch(gpu, BT, C);
  const logits = t(BT * Vp, dt, 'logits'), losses = t(BT, 'f32', 'losses'), scale = gpu.tensor([1], 'f32', 'scale', [1]);
  const targets = gpu.tensor([BT], 'i32', 'targets', Int32Array.from({ length: BT }, (_, i) => (i * 7919) % Vp));
  const under = (l: LayernormLayout, n: number) => (s: Step) => {
    setLayernormLayout(gpu, l);
    setCrossEntropyWorkgroup(gpu, n);
    residualLayernormForward(s, res, out, mean, rstd, inp, add, w, b, BT, C);
    layernormBackward(s, dinp, dw, db, scratch, dout, res, w, mean, rstd, BT, C, copy);
    crossEntropyForwardBackward(s, losses, logits, targets, scale, BT, Vp, Vp, { dlossMean: 0 }); // dlogits 0: the same work every round
    setLayernormLayout(gpu, null);
    setCrossEntropyWorkgroup(gpu, null);
  };
  const { before, after } = await beforeAfterGpuMs(gpu, under(defaults.ln, defaults.wg), under(ln, wg));
  for (const x of [res, inp, add, out, mean, rstd, w, b, dout, dinp, copy, dw, db, scratch, logits, losses, scale, targets]) x.buffer.destroy();
  return {
    change: `row kernels of a mqg-tiny step (residual + layernorm forward and layernorm backward on ${BT}×${C}, cross-entropy on ${BT}×${Vp}, ${gpu.precision}): default layouts (layernorm 8x8, cross-entropy wg${defaults.wg}) → tuned (layernorm ${layernormLayoutName(ln)}, cross-entropy wg${wg})`,
    before, after, unit: 'ms GPU',
  };
}
