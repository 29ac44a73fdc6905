// The inputs the tuners check their candidates on (matmul-tune.ts, attention-tune.ts).

/** Deterministic values in [-scale, scale), multiples of scale/512: exact in f16 for scale 1 or 1.5. */
export function tuneValues(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (((s >>> 22) - 512) / 512) * scale;
  }
  return out;
}
