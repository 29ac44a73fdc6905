// Kernel sources, built once per key, for every kernel module; and the one test hook that rewrites
// a kernel's WGSL as it is built.
//
// A kernel module generates its WGSL from compile-time choices (dtypes, widths, a tuned layout).
// Building the string once per choice, and handing out the same KernelSource object each time,
// lets the pipeline cache (context.ts) hit its WeakMap fast path instead of hashing the code.
// The hook exists for the tuners' tests: break one candidate's kernel on purpose and check the
// tuner rejects it (and for benchmarks that swap a load for a constant to measure its cost).

import type { KernelSource } from './kernel';

/** Rewrites the WGSL of a kernel (by its name) as it is built; returns the code to compile. */
export type KernelSourceHook = (name: string, code: string) => string;

/** The source of key, built by `make` on the first call and reused after. */
export type KernelSourceCache = (key: string, make: () => KernelSource) => KernelSource;

let hook: KernelSourceHook | null = null;
const caches: Map<string, KernelSource>[] = [];

/** A kernel module's cache of sources (one per module: the keys are the module's own). */
export function kernelSourceCache(): KernelSourceCache {
  const cache = new Map<string, KernelSource>();
  caches.push(cache);
  return (key, make) => {
    let src = cache.get(key);
    if (!src) {
      src = make();
      if (hook) src = { ...src, code: hook(src.name, src.code) };
      cache.set(key, src);
    }
    return src;
  };
}

/**
 * @internal Tests and benchmarks: rewrite every kernel's WGSL as it is built (null removes the
 * hook). Every cache is emptied, so sources built before are built again, with or without it.
 */
export function setKernelSourceHook(h: KernelSourceHook | null): void {
  hook = h;
  for (const c of caches) c.clear();
}
