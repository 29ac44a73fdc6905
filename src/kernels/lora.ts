// LoRA on a GPT-2 Conv1D layer (weight W [C,OC], frozen), PEFT's convention with fan_in_fan_out:
//
//   y[BT,OC] = x[BT,C] · W + b + s · (x · Aᵀ) · Bᵀ,   A [r,C], B [OC,r], s = lora_alpha / r
//
// Forward, two launches: loraDown writes u = s · x · Aᵀ [BT,r] (f32, saved for backward), then the
// base GEMM adds u · Bᵀ in its epilogue (gemm's lowRank option, matmul-wgsl.ts), before bias and
// GELU: no extra pass over y.
// Backward (W and b get no gradient):
//   dv    = s · dy · B                 [BT,r]  loraDown
//   dx    = dy · Wᵀ + dv · A           [BT,C]  one GEMM, the dv · A term in its epilogue (overwritten)
//   dB   += dyᵀ · u                    [OC,r]  GEMM TN (accumulated)
//   dA   += dvᵀ · x                    [r,C]   GEMM TN (accumulated)
// loraDown sums each output over k in a fixed order (deterministic). A and B are f32 (the adapter's
// master weights); x, dy, y, dx are f16 or f32; u, dv and gradients f32.
// With dropout on the adapter input (PEFT's lora_dropout: y = x·W + b + s·(Z∘x/(1-p))·Aᵀ·Bᵀ), the
// caller passes the draw and a scratch xd [BT,C] for Z∘x/(1-p) (dropout.ts, drawn again in the
// backward rather than stored). Then u = s·xd·Aᵀ, dA += dvᵀ·xd, and the adapter's share of dx is
// masked: dx = dy·Wᵀ (GEMM), then dx += Z∘(dv·A)/(1-p) (loraDropoutGrad, one pass), then the
// activation's backward in place when the layer has one.
// The frozen base W is either a tensor [C,OC] (storage dtype) or a GGML Q8_0/Q4_0 weight
// (qmatmul.ts: blocks of 32 along C dequantized in the GEMM's operand load): baseGemm picks the
// kernel, so dx = dy · Wᵀ goes through the quantized base too (QLoRA).

import type { Step } from '../gpu/context';
import type { KernelSource } from '../gpu/kernel';
import { kernelSourceCache } from '../gpu/sources';
import { Tensor } from '../gpu/tensor';
import type { Activation } from '../util/activation';
import { gemm, type GemmOptions } from './matmul';
import { qgemm, type QuantizedWeight } from './qmatmul';
import { dropout, type DropoutDraw } from './dropout';
import { activationBackward } from './gelu';
import { PHILOX_WGSL } from './philox';
import { dropoutScale, dropoutThreshold } from '../util/philox';

/** As matmulForward / matmulBackward take it: the layer's activation epilogue (default gelu_new). */
export type ActEpilogue = { preact: Tensor; activation?: Activation };

/** A frozen base weight [K,N]: a tensor at the storage dtype, or GGML-quantized (qmatmul.ts). */
export type BaseWeight = Tensor | QuantizedWeight;

/**
 * gemm with the B operand a base weight: out[M,N] = a[M,K] · W (W [K,N]), or with transB
 * out[M,N] = a[M,K] · Wᵀ (W [N,K]), with gemm's epilogues. A quantized W goes to qgemm.
 */
export function baseGemm(step: Step, out: Tensor, a: Tensor, w: BaseWeight, o: GemmOptions): void {
  if (w instanceof Tensor) return gemm(step, out, a, w, o);
  const [K, N] = o.transB ? [o.N, o.K] : [o.K, o.N];
  if (o.transA || o.ldb !== undefined || K !== w.K || N !== w.N) {
    throw new RangeError(`baseGemm: a ${w.type} weight [${w.K},${w.N}] cannot serve M=${o.M}, N=${o.N}, K=${o.K}${o.transA ? ', transA' : ''}${o.transB ? ', transB' : ''}`);
  }
  qgemm(step, out, a, w, {
    M: o.M, transW: !!o.transB, accumulate: o.accumulate, bias: o.bias, activation: o.activation ?? (o.gelu ? 'gelu_new' : undefined),
    dactivation: o.dactivation, preact: o.preact, lowRank: o.lowRank, lda: o.lda, ldc: o.ldc,
  });
}

const WG = 64;
const sources = kernelSourceCache();

function downSource(x: 'f16' | 'f32', e: 'f16' | 'f32'): KernelSource {
  const name = `lora_down_${x}_${e}`;
  return sources(name, () => {
    const code = /* wgsl */ `${x === 'f16' || e === 'f16' ? 'enable f16;' : ''}
struct Params { M: u32, K: u32, r: u32, ek: u32, ej: u32, scale: f32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<${x}>;
@group(0) @binding(2) var<storage, read> e: array<${e}>;
@group(0) @binding(3) var<uniform> params: Params;

// out[m, j] = scale · Σ_k x[m*K + k] · e[k*ek + j*ej]; one thread per output, k in order.
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = (wid.y * 65535u + wid.x) * ${WG}u + lid.x;
  if (i >= params.M * params.r) { return; }
  let m = i / params.r;
  let j = i % params.r;
  let row = m * params.K;
  var acc = 0.0;
  for (var k = 0u; k < params.K; k++) {
    acc = fma(f32(x[row + k]), f32(e[k * params.ek + j * params.ej]), acc);
  }
  out[i] = params.scale * acc;
}
`;
    return { name, code };
  });
}

function f(t: Tensor, what: string): 'f16' | 'f32' {
  if (t.dtype !== 'f16' && t.dtype !== 'f32') throw new TypeError(`lora: ${what} must be f16 or f32, got ${t}`);
  return t.dtype;
}

/** out[M,r] = scale · x[M,K] · E, with E element (k, j) at e[k*ek + j*ej]. out f32. */
export function loraDown(step: Step, out: Tensor, x: Tensor, e: Tensor, M: number, K: number, r: number, scale: number, ek: number, ej: number): void {
  if (out.dtype !== 'f32') throw new TypeError(`loraDown: out must be f32, got ${out}`);
  if (out.numel < M * r || x.numel < M * K || e.numel < (K - 1) * ek + (r - 1) * ej + 1) {
    throw new RangeError(`loraDown: ${out}, ${x}, ${e} are too small for M=${M}, K=${K}, r=${r}`);
  }
  const groups = Math.ceil((M * r) / WG);
  const grid: [number, number] = [Math.min(groups, 65535), Math.ceil(groups / 65535)];
  step.dispatch(downSource(f(x, 'x'), f(e, 'e')), { out, x, e, params: { M, K, r, ek, ej, scale } }, grid, { flops: 2 * M * K * r });
}

function dropoutGradSource(d: 'f16' | 'f32'): KernelSource {
  const name = `lora_dropout_grad_${d}`;
  return sources(name, () => ({
    name,
    code: /* wgsl */ `${d === 'f16' ? 'enable f16;' : ''}
struct Params { M: u32, C: u32, r: u32, key0: u32, site: u32, threshold: u32, keepScale: f32 }
@group(0) @binding(0) var<storage, read_write> dinp: array<${d}>;
@group(0) @binding(1) var<storage, read> dv: array<f32>;
@group(0) @binding(2) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${PHILOX_WGSL}
// dinp[m, n] += z · Σ_j dv[m, j] · A[j, n], z = 0 or 1/(1-p) as dropout.ts draws element m*C + n.
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = (wid.y * 65535u + wid.x) * ${WG}u + lid.x;
  if (i >= params.M * params.C) { return; }
  let m = i / params.C;
  let n = i % params.C;
  var acc = 0.0;
  for (var j = 0u; j < params.r; j++) { acc = fma(dv[m * params.r + j], A[j * params.C + n], acc); }
  let draw = philox4x32_10(vec4u(i >> 2u, 0u, 0u, 0u), vec2u(params.key0, params.site));
  let z = select(0.0, params.keepScale, draw[i & 3u] >= params.threshold);
  dinp[i] = ${d}(f32(dinp[i]) + z * acc);
}
`,
  }));
}

/** dinp[M,C] += Z ∘ (dv[M,r] · A[r,C]) / (1-p), Z the mask `draw` gives element m*C + n (as dropout() draws it). */
export function loraDropoutGrad(step: Step, dinp: Tensor, dv: Tensor, A: Tensor, M: number, C: number, r: number, draw: DropoutDraw): void {
  if (dinp.numel < M * C || dv.numel < M * r || A.numel < r * C) throw new RangeError(`loraDropoutGrad: ${dinp}, ${dv}, ${A} are too small for M=${M}, C=${C}, r=${r}`);
  if (M * C >= 2 ** 32) throw new RangeError(`loraDropoutGrad: M*C = ${M * C} is over 2^32 elements`);
  const groups = Math.ceil((M * C) / WG);
  const grid: [number, number] = [Math.min(groups, 65535), Math.ceil(groups / 65535)];
  const params = { M, C, r, key0: draw.key0 >>> 0, site: draw.site >>> 0, threshold: dropoutThreshold(draw.p), keepScale: dropoutScale(draw.p) };
  step.dispatch(dropoutGradSource(f(dinp, 'dinp')), { dinp, dv, A, params }, grid, { flops: 2 * M * C * r });
}

/** Dropout on an adapter's input: the draw, and a scratch [BT, C] (x's dtype) for the dropped input. */
export interface LoraInputDropout {
  draw: DropoutDraw;
  xd: Tensor;
}

export interface LoraWeightsGPU {
  A: Tensor; // [r, C] f32
  B: Tensor; // [OC, r] f32
  r: number;
  scale: number;
}

/**
 * out[BT,OC] = inp · weight + bias + u · Bᵀ with u = s · inp · Aᵀ written to `u` [BT,r] f32.
 * With `act`, preact gets that sum and out = act(preact).
 */
export function loraForward(
  step: Step, out: Tensor, u: Tensor, inp: Tensor, weight: BaseWeight, bias: Tensor | null, lora: LoraWeightsGPU,
  BT: number, C: number, OC: number, act?: ActEpilogue, drop?: LoraInputDropout,
): void {
  const { A, B, r, scale } = lora;
  let x = inp;
  if (drop) {
    x = drop.xd.view([BT, C], 0);
    dropout(step, drop.xd.view([BT * C], 0), inp.view([BT * C], 0), BT * C, drop.draw);
  }
  loraDown(step, u, x, A, BT, C, r, scale, 1, C);
  const activation = act ? act.activation ?? 'gelu_new' : undefined;
  baseGemm(step, out, inp, weight, { M: BT, N: OC, K: C, bias, activation, preact: act?.preact, lowRank: { u, e: B, r, sn: r, sj: 1 } });
}

/**
 * dinp = dout · weightᵀ + dv · A (overwritten; skipped when null), dA += dvᵀ · inp, dB += doutᵀ · u,
 * with dv = s · dout · B written to the scratch `dv` [BT,r] f32. Nothing for weight or bias.
 * With `act` (inp = act(preact) of the layer below), dinp is that layer's dpre: (…) ⊙ act'(preact).
 */
export function loraBackward(
  step: Step, dinp: Tensor | null, dA: Tensor, dB: Tensor, dv: Tensor,
  dout: Tensor, inp: Tensor, u: Tensor, weight: BaseWeight, lora: LoraWeightsGPU,
  BT: number, C: number, OC: number, act?: ActEpilogue, drop?: LoraInputDropout,
): void {
  const { A, B, r, scale } = lora;
  loraDown(step, dv, dout, B, BT, OC, r, scale, r, 1);
  if (drop) {
    if (dinp) {
      baseGemm(step, dinp, dout, weight, { M: BT, N: C, K: OC, transB: true });
      loraDropoutGrad(step, dinp, dv, A, BT, C, r, drop.draw);
      if (act) activationBackward(step, dinp.view([BT * C], 0), act.preact.view([BT * C], 0), dinp.view([BT * C], 0), BT * C, act.activation ?? 'gelu_new');
    }
    gemm(step, dB, dout, u, { M: OC, N: r, K: BT, transA: true, accumulate: true });
    const xd = drop.xd.view([BT, C], 0);
    dropout(step, drop.xd.view([BT * C], 0), inp.view([BT * C], 0), BT * C, drop.draw);
    gemm(step, dA, dv, xd, { M: r, N: C, K: BT, transA: true, accumulate: true });
    return;
  }
  const dactivation = act ? act.activation ?? 'gelu_new' : undefined;
  if (dinp) baseGemm(step, dinp, dout, weight, { M: BT, N: C, K: OC, transB: true, dactivation, preact: act?.preact, lowRank: { u: dv, e: A, r, sn: 1, sj: C } });
  gemm(step, dB, dout, u, { M: OC, N: r, K: BT, transA: true, accumulate: true });
  gemm(step, dA, dv, inp, { M: r, N: C, K: BT, transA: true, accumulate: true });
}
