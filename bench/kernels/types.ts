// The contract between a kernel's benchmark module and the runner (bench/kernels.ts).
import type { GPUContext, Step } from '../../src/gpu/index';

export interface BenchCase {
  /** e.g. "matmul f32 1024x1024x1024" */
  name: string;
  /** Floating-point operations per run (for GFLOP/s), or */
  flops?: number;
  /** bytes moved per run (for GB/s): what a perfect kernel must read and write. */
  bytes?: number;
  /** Record one run of the kernel into the step (buffers already allocated by the suite). */
  record(step: Step): void;
}

/** A benchmark module exports `suite`: it allocates its buffers once and returns its cases. */
export type BenchSuite = (gpu: GPUContext) => BenchCase[] | Promise<BenchCase[]>;
