// CPU reference for the fused softmax cross-entropy (src/kernels/classifier.ts), in float64.
//   logits [BT, Vp], targets [BT]; columns V..Vp-1 are padding.
//   losses[i] = -ln softmax(logits[i, :V])[targets[i]]
//   dlogits[i, j] = (softmax_j - [j == target]) * dlossMean * lossScale  (j < V), 0 for padding
// Ignored rows: loss 0, dlogits 0. Targets outside [0, V): NaN loss and NaN dlogits.

export interface CrossEntropyRef {
  losses: Float64Array;
  dlogits: Float64Array;
}

export function crossEntropyRef(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  BT: number,
  V: number,
  Vp: number,
  dlossMean: number,
  lossScale: number,
  ignoreIndex = -1,
): CrossEntropyRef {
  const losses = new Float64Array(BT);
  const dlogits = new Float64Array(BT * Vp);
  for (let i = 0; i < BT; i++) {
    const row = i * Vp;
    const target = targets[i]!;
    if (target === ignoreIndex) continue;
    if (target < 0 || target >= V) {
      losses[i] = NaN;
      for (let j = 0; j < V; j++) dlogits[row + j] = NaN;
      continue;
    }
    let max = -Infinity;
    for (let j = 0; j < V; j++) max = Math.max(max, logits[row + j]!);
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(logits[row + j]! - max);
    losses[i] = Math.log(sum) + max - logits[row + target]!;
    const dscale = dlossMean * lossScale;
    for (let j = 0; j < V; j++) {
      const p = Math.exp(logits[row + j]! - max) / sum;
      dlogits[row + j] = (p - (j === target ? 1 : 0)) * dscale;
    }
  }
  return { losses, dlogits };
}

/** The scalar the dlogits differentiate: lossScale * dlossMean * Σ losses (ignored rows add 0). */
export function crossEntropyObjective(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  BT: number,
  V: number,
  Vp: number,
  dlossMean: number,
  lossScale: number,
  ignoreIndex = -1,
): number {
  const { losses } = crossEntropyRef(logits, targets, BT, V, Vp, dlossMean, lossScale, ignoreIndex);
  let total = 0;
  for (let i = 0; i < BT; i++) total += losses[i]!;
  return total * dlossMean * lossScale;
}
