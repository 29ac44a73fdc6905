// One GPU context per test file and precision, opened through the library's Node entry.
import { createGPU, type GPUContext, type Precision } from '../../src/index';

const contexts = new Map<string, Promise<GPUContext>>();

export function getGPU(precision: Precision = 'f32', profile = false): Promise<GPUContext> {
  const key = `${precision}:${profile}`;
  let c = contexts.get(key);
  if (!c) contexts.set(key, (c = createGPU({ precision, profile })));
  return c;
}

/** Precisions to run a suite under: f16 only where the adapter offers shader-f16. */
export const PRECISIONS: Precision[] = (await getGPU('f32')).hasF16 ? ['f32', 'f16'] : ['f32'];
if (PRECISIONS.length === 1) console.warn('this adapter has no shader-f16: the f16 cases are skipped');

/** `|gpu - ref| <= atol + rtol*|ref|` elementwise; returns a report of the first mismatches (empty when all pass). */
export function compare(gpu: ArrayLike<number>, ref: ArrayLike<number>, atol: number, rtol: number, max = 8): string {
  if (gpu.length !== ref.length) return `length ${gpu.length} != ${ref.length}`;
  const bad: string[] = [];
  let count = 0;
  for (let i = 0; i < ref.length; i++) {
    const g = gpu[i]!, r = ref[i]!;
    if (!(Math.abs(g - r) <= atol + rtol * Math.abs(r))) {
      count++;
      if (bad.length < max) bad.push(`[${i}] gpu=${g} ref=${r} diff=${Math.abs(g - r)}`);
    }
  }
  return count ? `${count}/${ref.length} mismatches: ${bad.join('; ')}` : '';
}

/** Deterministic pseudo-random floats in [-scale, scale). */
export function randn(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}
