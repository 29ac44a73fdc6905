import { afterEach, describe, expect, it } from 'vitest';
import { compare, getGPU, PRECISIONS, randn } from '../helpers/gpu';
import { CROSS_ENTROPY_WORKGROUPS, classifierOptions, crossEntropyForwardBackward, crossEntropyWorkgroup, setCrossEntropyWorkgroup } from '../../src/kernels/classifier';
import { roundToF16 } from '../../src/util/f16';
import { crossEntropyObjective, crossEntropyRef } from '../reference/classifier';

/** Targets in [0, V) with every `ignoreEvery`-th row set to ignoreIndex. */
function makeTargets(BT: number, V: number, seed: number, ignoreIndex: number, ignoreEvery: number): Int32Array {
  const r = randn(BT, seed, 1);
  const t = new Int32Array(BT);
  for (let i = 0; i < BT; i++) t[i] = i % ignoreEvery === ignoreEvery - 1 ? ignoreIndex : Math.min(V - 1, Math.floor(((r[i]! + 1) / 2) * V));
  return t;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

describe('crossEntropy CPU reference', () => {
  it('dlogits match central finite differences of the objective (float64)', () => {
    const BT = 4, V = 7, Vp = 9, dlossMean = 1 / 3, lossScale = 4;
    const logits = Float64Array.from(randn(BT * Vp, 11, 3));
    const targets = [2, -1, 6, 0];
    const { dlogits } = crossEntropyRef(logits, targets, BT, V, Vp, dlossMean, lossScale);
    const h = 1e-5;
    const fd = new Float64Array(BT * Vp);
    for (let k = 0; k < BT * Vp; k++) {
      const plus = Float64Array.from(logits); plus[k] += h;
      const minus = Float64Array.from(logits); minus[k] -= h;
      // padding columns are outside the softmax: their finite difference is exactly 0
      fd[k] = (crossEntropyObjective(plus, targets, BT, V, Vp, dlossMean, lossScale) -
        crossEntropyObjective(minus, targets, BT, V, Vp, dlossMean, lossScale)) / (2 * h);
    }
    expect(compare(dlogits, fd, 1e-8, 1e-6)).toBe('');
    expect(maxAbs(dlogits)).toBeGreaterThan(0.1);
  });
});

describe.each(PRECISIONS)('crossEntropyForwardBackward (%s)', (precision) => {
  const f16 = precision === 'f16';
  // f32: 1e-5 relative (WGSL exp is allowed a few ulp). f16: the dlogits are stored in f16 (1e-2
  // relative, with an absolute floor at the f16 subnormal spacing); the losses are f32 computed
  // from the same f16 inputs as the reference, so they stay tight.
  const dTol = f16 ? { atol: 6e-8, rtol: 1e-2 } : { atol: 0, rtol: 1e-5 };

  const cases = [
    { BT: 37, V: 65, Vp: 128, ignoreIndex: -1, lossScale: 4, scale: 3 },
    { BT: 9, V: 1000, Vp: 1024, ignoreIndex: -100, lossScale: 1024, scale: 4 },
    { BT: 3, V: 50257, Vp: 50304, ignoreIndex: -1, lossScale: 1, scale: 2 },
    { BT: 5, V: 1, Vp: 3, ignoreIndex: -1, lossScale: 2, scale: 1 },
    { BT: 21, V: 65, Vp: 67, ignoreIndex: 3, lossScale: 8, scale: 3 }, // Vp % 4 != 0: the scalar variant
  ];

  async function runCase({ BT, V, Vp, ignoreIndex, lossScale, scale }: typeof cases[number]) {
    const gpu = await getGPU(precision);
    let logitsHost = randn(BT * Vp, 1000 + V, scale);
    // one row shifted far up: the max subtraction must keep exp in range
    if (BT > 2) for (let j = 0; j < Vp; j++) logitsHost[Vp + j] = logitsHost[Vp + j]! + (f16 ? 2000 : 1e4);
    if (f16) logitsHost = roundToF16(logitsHost);
    const targets = makeTargets(BT, V, 7 + V, ignoreIndex, 4);
    const active = targets.filter((t) => t !== ignoreIndex).length;
    const dlossMean = 1 / active;

    const logits = gpu.tensor([BT, Vp], precision, 'logits', logitsHost);
    const losses = gpu.tensor([BT], 'f32', 'losses');
    const targetsT = gpu.tensor([BT], 'i32', 'targets', targets);
    const scaleT = gpu.tensor([1], 'f32', 'lossScale', [lossScale]);
    const step = gpu.step('ce');
    crossEntropyForwardBackward(step, losses, logits, targetsT, scaleT, BT, V, Vp, { ignoreIndex, dlossMean });
    step.submit();

    const ref = crossEntropyRef(logitsHost, targets, BT, V, Vp, dlossMean, lossScale, ignoreIndex);
    const gotLosses = await gpu.download(losses);
    const gotD = await gpu.download(logits);
    expect(compare(gotLosses, ref.losses, 1e-6, 1e-5)).toBe('');
    const dscale = dlossMean * lossScale;
    expect(compare(gotD, ref.dlogits, dTol.atol, dTol.rtol)).toBe('');
    for (let i = 0; i < BT; i++) {
      if (targets[i] === ignoreIndex) {
        expect(gotLosses[i]).toBe(0);
        for (let j = 0; j < Vp; j++) expect(gotD[i * Vp + j]).toBe(0);
      } else {
        for (let j = V; j < Vp; j++) expect(gotD[i * Vp + j]).toBe(0);
        // each active row of dlogits sums to 0 (softmax sums to 1)
        let s = 0;
        for (let j = 0; j < V; j++) s += gotD[i * Vp + j]!;
        expect(Math.abs(s)).toBeLessThan((f16 ? 2e-3 : 1e-5) * dscale);
      }
    }
    // V = 1: the only class has probability 1, so loss and dlogits are exactly 0
    if (V > 1) expect(maxAbs(ref.losses)).toBeGreaterThan(0.1);
    else expect(maxAbs(gotLosses) + maxAbs(gotD)).toBe(0);
  }

  it.each(cases)('BT=$BT V=$V Vp=$Vp ignoreIndex=$ignoreIndex lossScale=$lossScale', runCase);

  // every size the tuner may pick (tune/rows.ts), forced: vec4 and scalar rows, short and long
  it.each(CROSS_ENTROPY_WORKGROUPS)('%i threads per row (forced)', async (wg) => {
    const gpu = await getGPU(precision);
    setCrossEntropyWorkgroup(gpu, wg);
    try {
      expect(crossEntropyWorkgroup(gpu, 65, 128)).toBe(wg);
      for (const c of [cases[0]!, cases[1]!, cases[4]!]) await runCase(c);
    } finally {
      setCrossEntropyWorkgroup(gpu, null);
    }
    expect(crossEntropyWorkgroup(gpu, 65, 128)).toBe(64);
    expect(() => setCrossEntropyWorkgroup(gpu, 48)).toThrow(/workgroup size 48 is not one of 32, 64, 128, 256/);
  });

  it('backward: false writes the losses and leaves the logits untouched', async () => {
    const gpu = await getGPU(precision);
    const BT = 6, V = 65, Vp = 72;
    let logitsHost = randn(BT * Vp, 5, 2);
    if (f16) logitsHost = roundToF16(logitsHost);
    const targets = makeTargets(BT, V, 9, -1, 3);
    const logits = gpu.tensor([BT, Vp], precision, 'logits', logitsHost);
    const losses = gpu.tensor([BT], 'f32', 'losses');
    const step = gpu.step('ce-fwd');
    crossEntropyForwardBackward(step, losses, logits, gpu.tensor([BT], 'i32', 't', targets), gpu.tensor([1], 'f32', 's', [8]), BT, V, Vp, { backward: false });
    step.submit();
    const ref = crossEntropyRef(logitsHost, targets, BT, V, Vp, 1 / BT, 8);
    expect(compare(await gpu.download(losses), ref.losses, 1e-6, 1e-5)).toBe('');
    expect(compare(await gpu.download(logits), logitsHost, 0, 0)).toBe('');
  });

  it('a target outside [0, V) gives a NaN loss and NaN dlogits; other rows are unaffected', async () => {
    const gpu = await getGPU(precision);
    const BT = 3, V = 65, Vp = 68;
    let logitsHost = randn(BT * Vp, 6, 2);
    if (f16) logitsHost = roundToF16(logitsHost);
    const targets = new Int32Array([3, 65, -7]);
    const logits = gpu.tensor([BT, Vp], precision, 'logits', logitsHost);
    const losses = gpu.tensor([BT], 'f32', 'losses');
    const step = gpu.step('ce-bad');
    crossEntropyForwardBackward(step, losses, logits, gpu.tensor([BT], 'i32', 't', targets), gpu.tensor([1], 'f32', 's', [1]), BT, V, Vp, { dlossMean: 1 });
    step.submit();
    const got = await gpu.download(losses);
    const d = await gpu.download(logits);
    const ref = crossEntropyRef(logitsHost, targets, 1, V, Vp, 1, 1);
    expect(Math.abs(got[0]! - ref.losses[0]!)).toBeLessThan(1e-5 * ref.losses[0]!);
    expect(Number.isNaN(got[1])).toBe(true);
    expect(Number.isNaN(got[2])).toBe(true);
    for (let j = 0; j < V; j++) expect(Number.isNaN(d[Vp + j])).toBe(true);
    for (let j = 0; j < V; j++) expect(Number.isNaN(d[2 * Vp + j])).toBe(true);
  });
});

describe('crossEntropyForwardBackward, logits larger than one binding (f32)', () => {
  it('splits the rows over several dispatches', async () => {
    const gpu = await getGPU('f32');
    const V = 50257, Vp = 50304;
    const maxBinding = gpu.limits.maxStorageBufferBindingSize!;
    const BT = Math.floor(maxBinding / (Vp * 4)) + 33; // just over one binding
    // zero logits (a fresh buffer is zeroed): softmax is uniform, loss = ln V, dlogits = 1/V - onehot
    const logits = gpu.tensor([BT, Vp], 'f32', 'bigLogits');
    const losses = gpu.tensor([BT], 'f32', 'losses');
    const targets = Int32Array.from({ length: BT }, (_, i) => (i * 7919) % V);
    const step = gpu.step('ce-big');
    crossEntropyForwardBackward(step, losses, logits, gpu.tensor([BT], 'i32', 't', targets), gpu.tensor([1], 'f32', 's', [2]), BT, V, Vp, { dlossMean: 0.5 });
    step.submit();
    const got = await gpu.download(losses);
    const lnV = Math.log(V);
    expect(compare(got, new Float64Array(BT).fill(lnV), 0, 1e-5)).toBe('');
    for (const row of [0, BT - 1]) { // one row from each dispatch; reading back only those is faster
      const bytes = await gpu.readBytes(logits.buffer, row * Vp * 4, Vp * 4);
      const ref = new Float64Array(Vp);
      for (let j = 0; j < V; j++) ref[j] = 1 / V - (j === targets[row] ? 1 : 0);
      expect(compare(new Float32Array(bytes.buffer, bytes.byteOffset, Vp), ref, 0, 1e-5)).toBe('');
    }
    logits.buffer.destroy();
  });
});

describe.each(PRECISIONS)('crossEntropyForwardBackward, rows split over several dispatches (%s)', (precision) => {
  afterEach(() => { classifierOptions.maxRowsPerDispatch = Infinity; });

  it('every row keeps its own logits, target and loss (rows differ, so a wrong row mapping fails)', async () => {
    const gpu = await getGPU(precision);
    classifierOptions.maxRowsPerDispatch = 64; // f32 rows of 128 columns: 64 rows keep 256-byte alignment
    const BT = 200, V = 101, Vp = 128;
    const logits = randn(BT * Vp, 77, 4);
    // A per-row offset on the target column makes every row's loss distinct.
    const targets = Int32Array.from({ length: BT }, (_, i) => (i * 37 + 5) % V);
    for (let i = 0; i < BT; i++) logits[i * Vp + targets[i]!] += (i % 13) * 0.5;
    targets[70] = -1;
    if (precision === 'f16') roundToF16(logits);
    const ref = crossEntropyRef(logits, targets, BT, V, Vp, 1 / (BT - 1), 2);
    const logitsT = gpu.tensor([BT, Vp], precision, 'logits', logits);
    const lossesT = gpu.tensor([BT], 'f32', 'losses');
    const step = gpu.step('ce-split');
    crossEntropyForwardBackward(step, lossesT, logitsT, gpu.tensor([BT], 'i32', 't', targets), gpu.tensor([1], 'f32', 's', [2]), BT, V, Vp, { dlossMean: 1 / (BT - 1) });
    step.submit();
    expect(compare(await gpu.download(lossesT), ref.losses, 1e-5, 1e-5)).toBe('');
    const [atol, rtol] = precision === 'f16' ? [1e-4, 1e-2] : [1e-7, 1e-5];
    expect(compare(await gpu.download(logitsT), ref.dlogits, atol, rtol)).toBe('');
  });
});
