// CPU reference for the multiple-choice heads (src/kernels/mchead.ts), in float64.
//   hidden [BT, C], pos [R], weight [C], bias; labels [R] (0/1), groups [Q+1] row offsets.
//   scores_r = hidden[pos r] · weight + bias
//   softmax: loss_q = logsumexp(s) - Σ y s / Σ y        dscore_r = (softmax_r - y_r/Σy) * k
//   sigmoid: loss_q = Σ softplus(s) - y s                dscore_r = (sigmoid(s_r) - y_r) * k
//   k = dlossMean * lossScale; objective = k * Σ_q loss_q
//   dweight = Σ dscore_r hidden[pos r]; dbias = Σ dscore_r; dhidden[pos r] = dscore_r * weight, 0 elsewhere

export type Kind = 'softmax' | 'sigmoid';

export interface McHeadRef {
  scores: Float64Array;
  losses: Float64Array;
  dscores: Float64Array;
  dweight: Float64Array;
  dbias: number;
  dhidden: Float64Array;
}

export function mcheadRef(
  hidden: ArrayLike<number>, pos: ArrayLike<number>, weight: ArrayLike<number>, bias: number,
  labels: ArrayLike<number>, groups: ArrayLike<number>, C: number, kind: Kind, dlossMean: number, lossScale: number,
): McHeadRef {
  const R = pos.length, Q = groups.length - 1;
  const scores = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let s = bias;
    for (let c = 0; c < C; c++) s += hidden[pos[r]! * C + c]! * weight[c]!;
    scores[r] = s;
  }
  const losses = new Float64Array(Q), dscores = new Float64Array(R);
  const k = dlossMean * lossScale;
  for (let q = 0; q < Q; q++) {
    const r0 = groups[q]!, r1 = groups[q + 1]!;
    if (kind === 'sigmoid') {
      for (let r = r0; r < r1; r++) {
        const s = scores[r]!, y = labels[r]!;
        losses[q] += Math.max(s, 0) + Math.log1p(Math.exp(-Math.abs(s))) - y * s;
        dscores[r] = (1 / (1 + Math.exp(-s)) - y) * k;
      }
    } else {
      let m = -Infinity, ysum = 0, ys = 0, z = 0;
      for (let r = r0; r < r1; r++) { m = Math.max(m, scores[r]!); ysum += labels[r]!; ys += labels[r]! * scores[r]!; }
      for (let r = r0; r < r1; r++) z += Math.exp(scores[r]! - m);
      losses[q] = m + Math.log(z) - ys / ysum;
      for (let r = r0; r < r1; r++) dscores[r] = (Math.exp(scores[r]! - m) / z - labels[r]! / ysum) * k;
    }
  }
  const dweight = new Float64Array(C), dhidden = new Float64Array(hidden.length);
  let dbias = 0;
  for (let r = 0; r < R; r++) {
    dbias += dscores[r]!;
    for (let c = 0; c < C; c++) {
      dweight[c] += dscores[r]! * hidden[pos[r]! * C + c]!;
      dhidden[pos[r]! * C + c] = dscores[r]! * weight[c]!;
    }
  }
  return { scores, losses, dscores, dweight, dbias, dhidden };
}

/** The scalar the gradients differentiate: dlossMean * lossScale * Σ_q loss_q. */
export function mcheadObjective(...args: Parameters<typeof mcheadRef>): number {
  const { losses } = mcheadRef(...args);
  return losses.reduce((a, b) => a + b, 0) * args[8] * args[9];
}
