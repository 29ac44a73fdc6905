// Fused softmax cross-entropy (forward + backward in place) at mqg-tiny and GPT-2 124M shapes.
// Ideal traffic: read the logits once, write dlogits once, plus targets and losses.
// The kernel reads each row twice (online max+sum, then the write pass); the second read can hit
// cache (a GPT-2 row is 100-200 KB), so it is not counted.
import type { BenchCase, BenchSuite } from './types';
import { crossEntropyForwardBackward } from '../../src/kernels/classifier';

/** Logits-like values in [-scale, scale): a cheap LCG, good enough to exercise exp. */
function pseudoRandom(n: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296 * 2 - 1) * scale;
  }
  return out;
}

export const suite: BenchSuite = (gpu) => {
  const dtype = gpu.precision;
  const bytesPer = dtype === 'f16' ? 2 : 4;
  const shapes = [
    { label: 'mqg-tiny', BT: 1024, V: 4096, Vp: 4096 },
    { label: 'gpt2-124M', BT: 256, V: 50257, Vp: 50304 },
  ];
  const cases: BenchCase[] = [];
  for (const { label, BT, V, Vp } of shapes) {
    const logits = gpu.tensor([BT, Vp], dtype, `${label}.logits`, pseudoRandom(BT * Vp, 4));
    const losses = gpu.tensor([BT], 'f32', `${label}.losses`);
    const targets = gpu.tensor([BT], 'i32', `${label}.targets`, Array.from({ length: BT }, (_, i) => (i * 7919) % V));
    const lossScale = gpu.tensor([1], 'f32', `${label}.lossScale`, [1]);
    // Running it again treats the previous dlogits as logits: still finite, same work.
    cases.push({
      name: `crossentropy fwd+bwd ${dtype} ${label} BT=${BT} V=${V} Vp=${Vp}`,
      bytes: 2 * BT * Vp * bytesPer + BT * 8,
      record: (step) => crossEntropyForwardBackward(step, losses, logits, targets, lossScale, BT, V, Vp),
    });
    cases.push({
      name: `crossentropy fwd only ${dtype} ${label} BT=${BT} V=${V} Vp=${Vp}`,
      bytes: BT * Vp * bytesPer + BT * 8,
      record: (step) => crossEntropyForwardBackward(step, losses, logits, targets, lossScale, BT, V, Vp, { backward: false }),
    });
  }
  return cases;
};
