// CPU reference for causal multi-head self-attention, float64, a direct port of llm.c's
// attention_forward / attention_backward (which materialise the T×T attention matrix).
//
// qkv  [B, T, 3C]  GPT-2's c_attn output, packed [q | k | v], head h in columns h*hs..(h+1)*hs of each block
// out  [B, T, C]   heads concatenated
// lse  [B, NH, T]  log-sum-exp of each row's scaled, causally masked scores (scores = scale · q·k, scale 1/sqrt(hs) by default)
// att  [B, NH, T, T] softmax probabilities (zero above the diagonal)
// drop: dropout on the probabilities as the kernels draw it (attention.ts): probability (t, t2) of
// head h in row b kept when word t2%4 of Philox4x32-10((t2/4, t, b*NH + h, 0), (key0, site)) is at
// or above the threshold, kept ones scaled by 1/(1-p); lse stays that of the undropped scores.

import { dropoutScale, dropoutThreshold, philox4x32 } from '../../src/util/philox';

export interface AttentionDropRef { p: number; key0: number; site: number }

/** The dropout weight of probability (b, h, t, t2): 0 or 1/(1-p); 1 without dropout. */
export function attentionKeepRef(drop: AttentionDropRef | undefined, NH: number, b: number, h: number, t: number, t2: number): number {
  if (!drop || drop.p === 0) return 1;
  const r = philox4x32([t2 >>> 2, t, b * NH + h, 0], [drop.key0, drop.site]);
  return r[t2 & 3]! >= dropoutThreshold(drop.p) ? dropoutScale(drop.p) : 0;
}

export interface AttentionForwardRef {
  out: Float64Array;
  lse: Float64Array;
  att: Float64Array;
}

export function attentionForwardRef(
  qkv: ArrayLike<number>, B: number, T: number, C: number, NH: number, scale = 1 / Math.sqrt(C / NH), drop?: AttentionDropRef,
): AttentionForwardRef {
  const hs = C / NH;
  const C3 = 3 * C;
  const out = new Float64Array(B * T * C);
  const lse = new Float64Array(B * NH * T);
  const att = new Float64Array(B * NH * T * T);
  const scores = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const q = b * T * C3 + t * C3 + h * hs;
        let max = -Infinity;
        for (let t2 = 0; t2 <= t; t2++) {
          const k = b * T * C3 + t2 * C3 + C + h * hs;
          let dot = 0;
          for (let i = 0; i < hs; i++) dot += qkv[q + i]! * qkv[k + i]!;
          scores[t2] = dot * scale;
          if (scores[t2]! > max) max = scores[t2]!;
        }
        let sum = 0;
        for (let t2 = 0; t2 <= t; t2++) sum += Math.exp(scores[t2]! - max);
        lse[(b * NH + h) * T + t] = max + Math.log(sum);
        const a = ((b * NH + h) * T + t) * T;
        for (let t2 = 0; t2 <= t; t2++) att[a + t2] = Math.exp(scores[t2]! - max) / sum;
        const o = b * T * C + t * C + h * hs;
        for (let t2 = 0; t2 <= t; t2++) {
          const v = b * T * C3 + t2 * C3 + 2 * C + h * hs;
          const z = attentionKeepRef(drop, NH, b, h, t, t2);
          for (let i = 0; i < hs; i++) out[o + i] += att[a + t2]! * z * qkv[v + i]!;
        }
      }
    }
  }
  return { out, lse, att };
}

/** dqkv [B, T, 3C] from dout [B, T, C]; the forward is recomputed from qkv. */
export function attentionBackwardRef(
  dout: ArrayLike<number>, qkv: ArrayLike<number>, B: number, T: number, C: number, NH: number, scale = 1 / Math.sqrt(C / NH), drop?: AttentionDropRef,
): Float64Array {
  const hs = C / NH;
  const C3 = 3 * C;
  const { att } = attentionForwardRef(qkv, B, T, C, NH, scale);
  const dqkv = new Float64Array(B * T * C3);
  const datt = new Float64Array(T);
  const dpreatt = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const a = ((b * NH + h) * T + t) * T;
        const o = b * T * C + t * C + h * hs;
        // out = (z ∘ att) · v
        for (let t2 = 0; t2 <= t; t2++) {
          const v = b * T * C3 + t2 * C3 + 2 * C + h * hs;
          const z = attentionKeepRef(drop, NH, b, h, t, t2);
          let d = 0;
          for (let i = 0; i < hs; i++) {
            d += qkv[v + i]! * dout[o + i]!;
            dqkv[v + i] += att[a + t2]! * z * dout[o + i]!;
          }
          datt[t2] = d * z;
        }
        // softmax backward: dpreatt = att * (datt - sum(att * datt))
        let dot = 0;
        for (let t2 = 0; t2 <= t; t2++) dot += att[a + t2]! * datt[t2]!;
        for (let t2 = 0; t2 <= t; t2++) dpreatt[t2] = att[a + t2]! * (datt[t2]! - dot);
        // preatt = q · k * scale
        const q = b * T * C3 + t * C3 + h * hs;
        for (let t2 = 0; t2 <= t; t2++) {
          const k = b * T * C3 + t2 * C3 + C + h * hs;
          for (let i = 0; i < hs; i++) {
            dqkv[q + i] += qkv[k + i]! * dpreatt[t2]! * scale;
            dqkv[k + i] += qkv[q + i]! * dpreatt[t2]! * scale;
          }
        }
      }
    }
  }
  return dqkv;
}
