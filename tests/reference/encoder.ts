// CPU reference for GPT-2's embedding (llm.c encoder_forward / encoder_backward), float64.
//
// tokens [B, T] int   wte [Vp, C]   wpe [maxT, C]
// out    [B, T, C] = wte[tokens[b, t]] + wpe[t]
// backward: dwte[tokens[b, t]] += dout[b, t];  dwpe[t] += dout[b, t]  (accumulated into the arrays passed in)

export function encoderForwardRef(tokens: ArrayLike<number>, wte: ArrayLike<number>, wpe: ArrayLike<number>, B: number, T: number, C: number): Float64Array {
  const out = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const o = (b * T + t) * C;
      const tok = tokens[b * T + t]!;
      for (let c = 0; c < C; c++) out[o + c] = wte[tok * C + c]! + wpe[t * C + c]!;
    }
  }
  return out;
}

export function encoderBackwardRef(dwte: Float64Array, dwpe: Float64Array, dout: ArrayLike<number>, tokens: ArrayLike<number>, B: number, T: number, C: number): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const o = (b * T + t) * C;
      const tok = tokens[b * T + t]!;
      for (let c = 0; c < C; c++) {
        dwte[tok * C + c] += dout[o + c]!;
        dwpe[t * C + c] += dout[o + c]!;
      }
    }
  }
}
