// CPU reference for AdamW (src/kernels/adamw.ts), in float64: llm.c's gpt2_update plus
// loss-scale unscaling, global-norm clipping and the skip on a non-finite norm.

export interface AdamwRefInput {
  params: ArrayLike<number>;
  grads: ArrayLike<number>; // scaled by lossScale
  m: ArrayLike<number>;
  v: ArrayLike<number>;
  /** true where the element gets weight decay */
  decay: (i: number) => boolean;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1 - beta1^t and 1 - beta2^t, as the kernel receives them */
  biasCorrection1: number;
  biasCorrection2: number;
  gradClip: number;
  lossScale: number;
}

export interface AdamwRefOutput {
  params: Float64Array;
  m: Float64Array;
  v: Float64Array;
  skipped: boolean;
  gradNorm: number;
}

export function adamwRef(x: AdamwRefInput): AdamwRefOutput {
  const N = x.params.length;
  let normSq = 0;
  for (let i = 0; i < N; i++) normSq += x.grads[i]! * x.grads[i]!;
  const params = Float64Array.from(x.params);
  const m = Float64Array.from(x.m);
  const v = Float64Array.from(x.v);
  const gradNorm = Math.sqrt(normSq) / x.lossScale;
  if (!Number.isFinite(normSq)) return { params, m, v, skipped: true, gradNorm };
  const clip = x.gradClip > 0 && gradNorm > x.gradClip ? x.gradClip / gradNorm : 1;
  for (let i = 0; i < N; i++) {
    const g = (x.grads[i]! / x.lossScale) * clip;
    m[i] = x.beta1 * m[i]! + (1 - x.beta1) * g;
    v[i] = x.beta2 * v[i]! + (1 - x.beta2) * g * g;
    const mHat = m[i]! / x.biasCorrection1;
    const vHat = v[i]! / x.biasCorrection2;
    const wd = x.decay(i) ? x.weightDecay : 0;
    params[i] = params[i]! - x.lr * (mHat / (Math.sqrt(vHat) + x.eps) + wd * params[i]!);
  }
  return { params, m, v, skipped: false, gradNorm };
}
