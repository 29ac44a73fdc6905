// Small deterministic PRNG (mulberry32) shared by the data loader, weight init and sampling.
// Its whole state is one uint32, so it serialises into checkpoints as a plain number.

/** mulberry32: 32-bit state, period 2^32, passes gjrand/PractRand up to a few GB — plenty for shuffling and init. */
export class Rng {
  private s: number;

  constructor(seed = 1337) {
    this.s = seed >>> 0;
  }

  /** The full generator state; `new Rng().setState(r.getState())` continues r's stream exactly. */
  getState(): number {
    return this.s;
  }

  setState(state: number): this {
    if (!Number.isInteger(state) || state < 0 || state > 0xffffffff) {
      throw new Error(`Rng.setState: state must be a uint32, got ${state}`);
    }
    this.s = state >>> 0;
    return this;
  }

  /** Next uniform uint32. */
  nextU32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(this.s ^ (this.s >>> 15), this.s | 1);
    t = (t + Math.imul(t ^ (t >>> 7), t | 61)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform float in [0, 1) with 32 random bits. */
  random(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n), n <= 2^32. */
  int(n: number): number {
    if (!(n > 0) || n > 4294967296) throw new Error(`Rng.int: n must be in (0, 2^32], got ${n}`);
    return Math.floor(this.random() * n);
  }

  /** Standard normal via Box-Muller (one value per two uniforms; no cached spare, so the state stays one uint32). */
  normal(mean = 0, std = 1): number {
    const u1 = 1 - this.random(); // (0, 1]: log never sees 0
    const u2 = this.random();
    return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<A extends { length: number; [i: number]: any }>(a: A): A {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = a[i];
      a[i] = a[j];
      a[j] = tmp;
    }
    return a;
  }

  /** A permutation of 0..n-1. */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}

/** mulberry32 as a bare function, for call sites that only want a stream of floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.random();
}

/** Mix several integers into one uint32 seed (splitmix32-style finaliser), e.g. deriveSeed(seed, epoch, rank). */
export function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = (h ^ (p >>> 0)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h >>> 0;
}
