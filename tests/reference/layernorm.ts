// CPU reference for layer normalisation, float64, a direct port of llm.c's layernorm_forward /
// layernorm_backward (biased variance, eps inside the sqrt; GPT-2's 1e-5 by default).
//
// inp    [BT, C]   weight, bias [C]
// out    [BT, C]   (inp - mean) * rstd * weight + bias
// mean   [BT]      rstd [BT] = 1 / sqrt(var + eps)
// backward: dinp [BT, C], dweight [C], dbias [C], all accumulated (+=) into the arrays passed in.

export interface LayernormForwardRef {
  out: Float64Array;
  mean: Float64Array;
  rstd: Float64Array;
}

export function layernormForwardRef(
  inp: ArrayLike<number>, weight: ArrayLike<number>, bias: ArrayLike<number>, BT: number, C: number, eps = 1e-5,
): LayernormForwardRef {
  const out = new Float64Array(BT * C);
  const mean = new Float64Array(BT);
  const rstd = new Float64Array(BT);
  for (let r = 0; r < BT; r++) {
    const x = r * C;
    let m = 0;
    for (let c = 0; c < C; c++) m += inp[x + c]!;
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (inp[x + c]! - m) ** 2;
    v /= C;
    const s = 1 / Math.sqrt(v + eps);
    for (let c = 0; c < C; c++) out[x + c] = (inp[x + c]! - m) * s * weight[c]! + bias[c]!;
    mean[r] = m;
    rstd[r] = s;
  }
  return { out, mean, rstd };
}

/** Accumulates into dinp, dweight, dbias (llm.c semantics: the caller zeroes them where needed). */
export function layernormBackwardRef(
  dinp: Float64Array, dweight: Float64Array, dbias: Float64Array,
  dout: ArrayLike<number>, inp: ArrayLike<number>, weight: ArrayLike<number>, mean: ArrayLike<number>, rstd: ArrayLike<number>,
  BT: number, C: number,
): void {
  for (let r = 0; r < BT; r++) {
    const x = r * C;
    const m = mean[r]!, s = rstd[r]!;
    let dnormMean = 0, dnormNormMean = 0;
    for (let c = 0; c < C; c++) {
      const n = (inp[x + c]! - m) * s;
      const dnorm = weight[c]! * dout[x + c]!;
      dnormMean += dnorm;
      dnormNormMean += dnorm * n;
    }
    dnormMean /= C;
    dnormNormMean /= C;
    for (let c = 0; c < C; c++) {
      const n = (inp[x + c]! - m) * s;
      const dnorm = weight[c]! * dout[x + c]!;
      dbias[c] += dout[x + c]!;
      dweight[c] += n * dout[x + c]!;
      dinp[x + c] += (dnorm - dnormMean - n * dnormNormMean) * s;
    }
  }
}
