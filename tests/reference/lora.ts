// CPU reference for src/kernels/lora.ts, float64 loops, a direct port of the math:
//   y = x·W + b + s·(x·Aᵀ)·Bᵀ (optionally through GELU), A [r,C], B [OC,r], W [C,OC]
//   backward: dx = dy·Wᵀ + s·(dy·B)·A, dA = s·(dy·B)ᵀ·x, dB = s·dyᵀ·(x·Aᵀ); nothing for W, b
// keep (lora_dropout): per element of x, 0 or 1/(1-p); the adapter path reads x ∘ keep (PEFT), so
//   u = s·(x∘keep)·Aᵀ, dA = s·(dy·B)ᵀ·(x∘keep), and the adapter's share of dx is multiplied by keep.
import { geluRef } from './matmul';

export interface LoraRefShape { BT: number; C: number; OC: number; r: number; scale: number }

/** Returns y and, with gelu, the pre-activation (y = gelu(preact)). */
export function loraForwardRef(
  x: ArrayLike<number>, W: ArrayLike<number>, b: ArrayLike<number> | null, A: ArrayLike<number>, B: ArrayLike<number>,
  s: LoraRefShape, gelu = false, keep?: ArrayLike<number>,
): { y: Float64Array; preact: Float64Array; u: Float64Array } {
  const { BT, C, OC, r, scale } = s;
  const u = new Float64Array(BT * r);
  for (let m = 0; m < BT; m++) {
    for (let j = 0; j < r; j++) {
      let acc = 0;
      for (let k = 0; k < C; k++) acc += x[m * C + k]! * (keep ? keep[m * C + k]! : 1) * A[j * C + k]!;
      u[m * r + j] = scale * acc;
    }
  }
  const y = new Float64Array(BT * OC);
  const preact = new Float64Array(BT * OC);
  for (let m = 0; m < BT; m++) {
    for (let n = 0; n < OC; n++) {
      let acc = b ? b[n]! : 0;
      for (let k = 0; k < C; k++) acc += x[m * C + k]! * W[k * OC + n]!;
      for (let j = 0; j < r; j++) acc += u[m * r + j]! * B[n * r + j]!;
      preact[m * OC + n] = acc;
      y[m * OC + n] = gelu ? geluRef(acc) : acc;
    }
  }
  return { y, preact, u };
}

/** Gradients for dy = d(loss)/dy (after any GELU: pass dpreact). */
export function loraBackwardRef(
  dy: ArrayLike<number>, x0: ArrayLike<number>, W: ArrayLike<number>, A: ArrayLike<number>, B: ArrayLike<number>, s: LoraRefShape, keep?: ArrayLike<number>,
): { dx: Float64Array; dA: Float64Array; dB: Float64Array } {
  const { BT, C, OC, r, scale } = s;
  const z = (i: number) => (keep ? keep[i]! : 1);
  const x = Float64Array.from(x0, (v, i) => v * z(i)); // what the adapter reads
  const dv = new Float64Array(BT * r); // s · dy · B
  const u = new Float64Array(BT * r); // s · x · Aᵀ
  for (let m = 0; m < BT; m++) {
    for (let j = 0; j < r; j++) {
      let a = 0, c = 0;
      for (let n = 0; n < OC; n++) a += dy[m * OC + n]! * B[n * r + j]!;
      for (let k = 0; k < C; k++) c += x[m * C + k]! * A[j * C + k]!;
      dv[m * r + j] = scale * a;
      u[m * r + j] = scale * c;
    }
  }
  const dx = new Float64Array(BT * C);
  for (let m = 0; m < BT; m++) {
    for (let k = 0; k < C; k++) {
      let acc = 0;
      for (let n = 0; n < OC; n++) acc += dy[m * OC + n]! * W[k * OC + n]!;
      let lora = 0;
      for (let j = 0; j < r; j++) lora += dv[m * r + j]! * A[j * C + k]!;
      dx[m * C + k] = acc + z(m * C + k) * lora;
    }
  }
  const dA = new Float64Array(r * C);
  const dB = new Float64Array(OC * r);
  for (let m = 0; m < BT; m++) {
    for (let j = 0; j < r; j++) {
      for (let k = 0; k < C; k++) dA[j * C + k] += dv[m * r + j]! * x[m * C + k]!;
      for (let n = 0; n < OC; n++) dB[n * r + j] += dy[m * OC + n]! * u[m * r + j]!;
    }
  }
  return { dx, dA, dB };
}
