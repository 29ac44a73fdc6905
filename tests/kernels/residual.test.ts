// Residual add vs float64 CPU sums, both storage precisions: vec4 and scalar lengths, and an input
// split into several dispatches.
import { afterEach, describe, expect, it } from 'vitest';
import { elementwiseOptions, residualForward } from '../../src/kernels/residual';
import { roundToF16 } from '../../src/util/f16';
import { PRECISIONS, compare, getGPU, randn } from '../helpers/gpu';

describe.each(PRECISIONS)('residual %s', (precision) => {
  const f16 = precision === 'f16';
  // f32: one rounding of the sum; f16: the sum is rounded to 11 bits once.
  const tol = f16 ? { atol: 1e-3, rtol: 1e-3 } : { atol: 0, rtol: 1e-7 };

  afterEach(() => { elementwiseOptions.chunk = 1 << 24; });

  async function check(N: number, seed: number) {
    const gpu = await getGPU(precision);
    const a = randn(N, seed, 3), b = randn(N, seed + 1, 3);
    if (f16) { roundToF16(a); roundToF16(b); }
    const out = gpu.tensor([N], precision, 'out');
    const step = gpu.step('residual');
    residualForward(step, out, gpu.tensor([N], precision, 'a', a), gpu.tensor([N], precision, 'b', b), N);
    step.submit();
    const ref = Float64Array.from(a, (x, i) => x + b[i]!);
    expect(compare(await gpu.download(out), ref, tol.atol, tol.rtol)).toBe('');
  }

  it('N=37*48 (vec4)', () => check(37 * 48, 1));
  it('N=37*48+5 (scalar)', () => check(37 * 48 + 5, 3));
  it('split into dispatches of 1024 elements, N=3000 (vec4 chunks) and 2501 (scalar tail)', async () => {
    elementwiseOptions.chunk = 1024;
    await check(3000, 5);
    await check(2501, 7);
  });
});
