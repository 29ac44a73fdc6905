import { describe, expect, it } from 'vitest';
import { getGPU, randn, PRECISIONS } from '../helpers/gpu';
import { globalNormSquared, lossScaleInit, lossScaleUpdate, MAX_LOSS_SCALE, reduceScratchSize, REDUCE_CHUNK, sumReduce } from '../../src/kernels/reduce';
import type { GPUContext, Tensor } from '../../src/gpu/index';
import { roundToF16 } from '../../src/util/f16';

// The optimizer pieces run in f32 whatever the model precision.
async function run(gpu: GPUContext, kind: 'sum' | 'normsq', inp: Tensor, N: number, scale = 1): Promise<number> {
  const out = gpu.tensor([1], 'f32', 'out');
  const scratch = gpu.tensor([reduceScratchSize(N)], 'f32', 'scratch');
  const step = gpu.step(kind);
  if (kind === 'sum') sumReduce(step, out, inp, N, scratch, scale);
  else globalNormSquared(step, out, inp, N, scratch);
  step.submit();
  return (await gpu.download(out))[0]!;
}

function sums(x: ArrayLike<number>, N: number): { sum: number; sumAbs: number; sumSq: number } {
  let sum = 0, sumAbs = 0, sumSq = 0;
  for (let i = 0; i < N; i++) {
    const v = x[i]!;
    sum += v; sumAbs += Math.abs(v); sumSq += v * v;
  }
  return { sum, sumAbs, sumSq };
}

describe('sumReduce / globalNormSquared (f32)', () => {
  it.each([1, 255, 257, 1000, 300_001, 300_000])('N=%i matches float64 and is deterministic', async (N) => {
    const gpu = await getGPU('f32');
    const host = randn(N + 5, N, 3); // extra elements past N must be ignored
    const inp = gpu.tensor([N + 5], 'f32', 'inp', host);
    const ref = sums(host, N);
    const sum = await run(gpu, 'sum', inp, N);
    const normSq = await run(gpu, 'normsq', inp, N);
    // A signed sum cancels: its error is bounded relative to Σ|x|, not to the sum itself.
    expect(Math.abs(sum - ref.sum)).toBeLessThanOrEqual(1e-6 * ref.sumAbs);
    expect(Math.abs(normSq - ref.sumSq)).toBeLessThanOrEqual(1e-6 * ref.sumSq);
    // The same input gives the same bits.
    expect(await run(gpu, 'sum', inp, N)).toBe(sum);
    expect(await run(gpu, 'normsq', inp, N)).toBe(normSq);
    // The mean, through the scale argument.
    const mean = await run(gpu, 'sum', inp, N, 1 / N);
    expect(Math.abs(mean - ref.sum / N)).toBeLessThanOrEqual((1e-6 * ref.sumAbs) / N);
  });

  it('N=0 gives 0', async () => {
    const gpu = await getGPU('f32');
    const inp = gpu.tensor([4], 'f32', 'inp', [1, 2, 3, 4]);
    expect(await run(gpu, 'sum', inp, 0)).toBe(0);
    expect(await run(gpu, 'normsq', inp, 0)).toBe(0);
  });

  it.skipIf(!PRECISIONS.includes('f16')).each([4099, 4100])('sums f16 input in f32 (N=%i)', async (N) => {
    const gpu = await getGPU('f16');
    const host = roundToF16(randn(N, 3, 2));
    const inp = gpu.tensor([N], 'f16', 'inp16', host);
    const ref = sums(host, N);
    expect(Math.abs((await run(gpu, 'sum', inp, N)) - ref.sum)).toBeLessThanOrEqual(1e-6 * ref.sumAbs);
    expect(Math.abs((await run(gpu, 'normsq', inp, N)) - ref.sumSq)).toBeLessThanOrEqual(1e-6 * ref.sumSq);
  });

  it('more than one chunk (N > 2^24): partials of every chunk are summed', async () => {
    const gpu = await getGPU('f32');
    const N = REDUCE_CHUNK + 3001;
    const host = new Float32Array(N);
    // a cheap pattern with a known sum: 0.25 everywhere, 2 in the tail chunk
    host.fill(0.25);
    host.fill(2, REDUCE_CHUNK);
    const inp = gpu.tensor([N], 'f32', 'big', host);
    const refSum = 0.25 * REDUCE_CHUNK + 2 * 3001;
    const refSq = 0.0625 * REDUCE_CHUNK + 4 * 3001;
    expect(await run(gpu, 'sum', inp, N)).toBe(refSum); // exact: every partial is a small multiple of 2^-4
    expect(await run(gpu, 'normsq', inp, N)).toBe(refSq);
    inp.buffer.destroy();
  });

  it('inf and NaN propagate', async () => {
    const gpu = await getGPU('f32');
    const N = 5000;
    const host = randn(N, 9, 1);
    const check = async (edit: (a: Float32Array) => void) => {
      const a = Float32Array.from(host);
      edit(a);
      const t = gpu.tensor([N], 'f32', 'inp', a);
      return { sum: await run(gpu, 'sum', t, N), normSq: await run(gpu, 'normsq', t, N) };
    };
    let r = await check((a) => { a[4321] = Infinity; });
    expect(r.sum).toBe(Infinity);
    expect(r.normSq).toBe(Infinity);
    r = await check((a) => { a[17] = -Infinity; });
    expect(r.sum).toBe(-Infinity);
    expect(r.normSq).toBe(Infinity);
    r = await check((a) => { a[4999] = NaN; });
    expect(r.sum).toBeNaN();
    expect(r.normSq).toBeNaN();
    r = await check((a) => { a[0] = Infinity; a[4000] = -Infinity; });
    expect(r.sum).toBeNaN();
    r = await check((a) => { a[2500] = 1e20; }); // finite, but its square overflows f32
    expect(r.normSq).toBe(Infinity);
  });
});

describe('lossScaleUpdate (f32)', () => {
  it('halves on overflow and marks the step skipped; grows after growthInterval clean steps', async () => {
    const gpu = await getGPU('f32');
    const state = gpu.tensor([4], 'f32', 'lossScale', lossScaleInit(8, 3));
    const normSq = gpu.tensor([1], 'f32', 'normSq');
    const stepWith = async (value: number) => {
      gpu.upload(normSq, [value]);
      const step = gpu.step('ls');
      lossScaleUpdate(step, state, normSq);
      step.submit();
      return Array.from(await gpu.download(state));
    };
    expect(await stepWith(1.5)).toEqual([8, 1, 3, 0]);
    expect(await stepWith(1e30)).toEqual([8, 2, 3, 0]);
    expect(await stepWith(0)).toEqual([16, 0, 3, 0]); // 3rd clean step: grow
    expect(await stepWith(2)).toEqual([16, 1, 3, 0]);
    expect(await stepWith(Infinity)).toEqual([8, 0, 3, 1]); // overflow: halve, reset, skipped
    expect(await stepWith(NaN)).toEqual([4, 0, 3, 1]);
    expect(await stepWith(-Infinity)).toEqual([2, 0, 3, 1]);
    expect(await stepWith(1)).toEqual([2, 1, 3, 0]);
    expect(await stepWith(NaN)).toEqual([1, 0, 3, 1]);
    expect(await stepWith(NaN)).toEqual([1, 0, 3, 1]); // never below 1
    gpu.upload(state, [MAX_LOSS_SCALE, 0, 1, 0]);
    expect(await stepWith(1)).toEqual([MAX_LOSS_SCALE, 0, 1, 0]); // capped at 2^24
  });
});
