// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011; the
// Random123 library): a counter-based generator. Four 32-bit words of counter and two of key give
// four 32-bit outputs, with no state: the n-th number of a stream is a function of (key, n) alone.
// Dropout keys it by the run seed, the step and the micro-batch, and counts by the element's
// coordinates, so a mask depends only on those (the GPU recomputes it in a backward or a
// checkpointed forward, and nothing is stored or read back). The same generator in WGSL is
// src/kernels/philox.ts; both are checked against Random123's published known-answer vectors.

import { deriveSeed } from './rng';

export const PHILOX_M0 = 0xd2511f53;
export const PHILOX_M1 = 0xcd9e8d57;
export const PHILOX_W0 = 0x9e3779b9;
export const PHILOX_W1 = 0xbb67ae85;

/** [hi, lo] of the 64-bit product a*b of two uint32s, exactly (16-bit halves keep every product below 2^53). */
function mulhilo(a: number, b: number): [number, number] {
  const ah = a >>> 16, al = a & 0xffff;
  const t = al * b; // < 2^48
  const u = ah * b; // < 2^48
  const mid = (u % 65536) * 65536 + t; // < 2^49
  const hi = Math.floor(u / 65536) + Math.floor(mid / 4294967296);
  return [hi >>> 0, Math.imul(a, b) >>> 0];
}

/** Philox4x32 with `rounds` rounds (10 is Philox4x32-10): four uint32 outputs of counter `ctr` [4] under key `key` [2]. */
export function philox4x32(ctr: ArrayLike<number>, key: ArrayLike<number>, rounds = 10): Uint32Array {
  let c0 = ctr[0]! >>> 0, c1 = ctr[1]! >>> 0, c2 = ctr[2]! >>> 0, c3 = ctr[3]! >>> 0;
  let k0 = key[0]! >>> 0, k1 = key[1]! >>> 0;
  for (let r = 0; r < rounds; r++) {
    if (r > 0) {
      k0 = (k0 + PHILOX_W0) >>> 0;
      k1 = (k1 + PHILOX_W1) >>> 0;
    }
    const [hi0, lo0] = mulhilo(PHILOX_M0, c0);
    const [hi1, lo1] = mulhilo(PHILOX_M1, c2);
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  return Uint32Array.of(c0, c1, c2, c3);
}

/**
 * The dropout stream of one training forward: key word 0 for (run seed, step, micro-batch). Key word
 * 1 is the dropout site (which layer and which dropout), the counter the element's coordinates.
 */
export function dropoutStreamKey(seed: number, step: number, micro: number): number {
  return deriveSeed(seed, step, micro);
}

/** A drop probability p as the uint32 threshold the kernels compare against (drop where the draw < threshold). */
export function dropoutThreshold(p: number): number {
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropout probability must be in [0, 1), got ${p}`);
  return Math.min(Math.round(p * 4294967296), 4294967295);
}

/** The factor kept values are multiplied by, 1/(1-p), as the f32 the kernels use. */
export function dropoutScale(p: number): number {
  return Math.fround(1 / (1 - p));
}

/**
 * The elementwise dropout mask on the CPU (the reference the GPU kernels match): element e of a site
 * is kept when word e%4 of philox4x32([e/4, 0, 0, 0], [key0, site]) is at or above the threshold.
 */
export function dropoutMask(n: number, p: number, key0: number, site: number): Uint8Array {
  const thr = dropoutThreshold(p);
  const keep = new Uint8Array(n);
  for (let g = 0; g * 4 < n; g++) {
    const r = philox4x32([g, 0, 0, 0], [key0, site]);
    for (let j = 0; j < 4 && g * 4 + j < n; j++) keep[g * 4 + j] = r[j]! >= thr ? 1 : 0;
  }
  return keep;
}
