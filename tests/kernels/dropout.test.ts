// Philox4x32-10 (CPU against Random123's published known-answer vectors, GPU against CPU word for
// word) and the dropout kernel against a float64 CPU reference drawing the same masks: in place and
// out of place, vec4 and scalar lengths, split dispatches, both storage precisions; the kept
// fraction within 4 standard deviations of 1-p; masks that differ between sites and streams.
import { afterEach, describe, expect, it } from 'vitest';
import { dropout } from '../../src/kernels/dropout';
import { philoxFill } from '../../src/kernels/philox';
import { elementwiseOptions } from '../../src/kernels/residual';
import { roundToF16 } from '../../src/util/f16';
import { dropoutMask, dropoutScale, dropoutStreamKey, philox4x32 } from '../../src/util/philox';
import { PRECISIONS, compare, getGPU, randn } from '../helpers/gpu';

// Random123 kat_vectors, philox4x32 10: counter (4 words), key (2 words), expected (4 words).
const KAT: [number[], number[], number[]][] = [
  [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
  [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
  [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
];

describe('philox4x32-10', () => {
  it('CPU: the published known-answer vectors', () => {
    for (const [ctr, key, want] of KAT) expect([...philox4x32(ctr, key)]).toEqual(want);
  });

  it('GPU equals CPU word for word (known answers and 1000 counters)', async () => {
    const gpu = await getGPU('f32');
    for (const [ctr, key, want] of KAT) {
      // counter word 0 is the thread's index: g = ctr[0] needs n = ctr[0] + 1, so shift the case onto g = 0
      if (ctr[0] !== 0) continue;
      const out = gpu.tensor([4], 'u32', 'philox');
      const step = gpu.step('philox');
      philoxFill(step, out, 1, key as [number, number], ctr.slice(1) as [number, number, number]);
      step.submit();
      expect([...(await gpu.download(out))]).toEqual(want);
    }
    const n = 1000, key: [number, number] = [0xdeadbeef, 12345], c: [number, number, number] = [7, 0xffffffff, 3];
    const out = gpu.tensor([4 * n], 'u32', 'philox');
    const step = gpu.step('philox');
    philoxFill(step, out, n, key, c);
    step.submit();
    const got = await gpu.download(out);
    const ref = new Uint32Array(4 * n);
    for (let g = 0; g < n; g++) ref.set(philox4x32([g, ...c], key), 4 * g);
    expect(Array.from(got).findIndex((x, i) => x !== ref[i])).toBe(-1);
  });
});

describe.each(PRECISIONS)('dropout %s', (precision) => {
  const f16 = precision === 'f16';
  const tol = f16 ? { atol: 1e-3, rtol: 1e-3 } : { atol: 0, rtol: 1e-7 };
  afterEach(() => { elementwiseOptions.chunk = 1 << 24; });

  async function check(N: number, p: number, inPlace: boolean, seed: number, outType = precision) {
    const gpu = await getGPU(precision);
    const x = randn(N, seed, 3);
    if (f16) roundToF16(x);
    const draw = { p, key0: dropoutStreamKey(1337, seed, 2), site: 5 + seed };
    const inp = gpu.tensor([N], precision, 'inp', x);
    const out = inPlace ? inp : gpu.tensor([N], outType, 'out');
    const step = gpu.step('dropout');
    dropout(step, out, inp, N, draw);
    step.submit();
    const keep = dropoutMask(N, p, draw.key0, draw.site);
    const scale = dropoutScale(p);
    const ref = Float64Array.from(x, (v, i) => keep[i] ? v * scale : 0);
    expect(compare(await gpu.download(out), ref, tol.atol, tol.rtol)).toBe('');
  }

  it('N=37*48 (vec4), out of place and in place', async () => {
    await check(37 * 48, 0.1, false, 1);
    await check(37 * 48, 0.3, true, 2);
  });
  it('N=37*48+5 (scalar), out of place and in place', async () => {
    await check(37 * 48 + 5, 0.1, false, 3);
    await check(37 * 48 + 5, 0.5, true, 4);
  });
  it('f16 gradient into an f32 buffer and p = 0 (a copy)', async () => {
    await check(1000, 0.2, false, 5, 'f32');
    await check(1001, 0, false, 6);
  });
  it('split into dispatches of 1024 elements: the counter continues, N=3000 (vec4) and 2501 (scalar)', async () => {
    elementwiseOptions.chunk = 1024;
    await check(3000, 0.1, false, 7);
    await check(2501, 0.1, true, 8);
  });
});

describe('dropout masks', () => {
  it('keep a fraction within 4 standard deviations of 1-p, the mean preserved', async () => {
    const gpu = await getGPU('f32');
    const N = 1 << 18;
    for (const p of [0.1, 0.5]) {
      const ones = gpu.tensor([N], 'f32', 'ones', new Float32Array(N).fill(1));
      const step = gpu.step('dropout');
      dropout(step, ones, ones, N, { p, key0: dropoutStreamKey(1, 2, 3), site: 4 });
      step.submit();
      const y = Array.from(await gpu.download(ones));
      const kept = y.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0);
      const sd = Math.sqrt(N * p * (1 - p));
      expect(Math.abs(kept - N * (1 - p))).toBeLessThan(4 * sd);
      const mean = y.reduce((a, v) => a + v, 0) / N;
      expect(Math.abs(mean - 1)).toBeLessThan(4 * sd / N / (1 - p));
    }
  });

  it('differ between sites, steps and micro-batches', () => {
    const n = 4096, p = 0.5;
    const masks = [
      dropoutMask(n, p, dropoutStreamKey(1337, 0, 0), 1),
      dropoutMask(n, p, dropoutStreamKey(1337, 0, 0), 2), // another site (layer)
      dropoutMask(n, p, dropoutStreamKey(1337, 1, 0), 1), // another step
      dropoutMask(n, p, dropoutStreamKey(1337, 0, 1), 1), // another micro-batch
      dropoutMask(n, p, dropoutStreamKey(1338, 0, 0), 1), // another seed
    ];
    for (let a = 0; a < masks.length; a++) {
      for (let b = a + 1; b < masks.length; b++) {
        const same = masks[a]!.reduce((s, v, i) => s + (v === masks[b]![i] ? 1 : 0), 0);
        expect(Math.abs(same - n / 2)).toBeLessThan(4 * Math.sqrt(n / 4)); // independent: agree on half
      }
    }
    expect(dropoutMask(n, p, dropoutStreamKey(1337, 0, 0), 1)).toEqual(masks[0]); // and a function of those alone
  });
});
