// Matmul 1024³: ours in each precision (and, in a note, what bounds the f32 kernel), and the native
// reference on the same CPU (numpy + OpenBLAS sgemm, bench/native.ts) when python3-numpy is installed.
import type { GPUContext, Precision } from '../../src/gpu/index';
import { matmulVariant } from '../../src/kernels/matmul';
import { setKernelSourceHook } from '../../src/gpu/sources';
import { variantName } from '../../src/kernels/matmul-wgsl';
import { nativeSgemm } from '../native';
import { ourMatmul } from './timing';
import type { MatmulRow, ResultPart } from './types';

/** Ours at 1024³ in each of `precisions`, with the tuned variant's name; then f32 with the operand loads replaced by constants (wrong results, only timed), as a note. */
export async function ourMatmuls(gpu: GPUContext, precisions: Precision[]): Promise<ResultPart> {
  const variant = variantName(matmulVariant(gpu));
  const matmul: MatmulRow[] = [];
  for (const p of precisions) matmul.push({ system: 'mqg-webgpu', precision: p, n: 1024, gflops: await ourMatmul(gpu, 1024, p), variant });
  const ourF32 = matmul.find((r) => r.precision === 'f32')!.gflops;
  setKernelSourceHook((_, code) => code.replace(/fn (loadA4|loadB4)\(i: u32\) -> vec4<f32> \{[^\n]*\}/g, (_m, fn: string) => `fn ${fn}(i: u32) -> vec4<f32> { return vec4<f32>(f32((i + arrayLength(&${fn === 'loadA4' ? 'a' : 'b'})) & 7u)); }`));
  const noLoads = await ourMatmul(gpu, 1024, 'f32');
  setKernelSourceHook(null);
  return {
    matmul,
    notes: [`what bounds matmul 1024³ f32 here: ${ourF32.toFixed(1)} GFLOP/s as it is, ${noLoads.toFixed(1)} GFLOP/s with every operand load replaced by a constant (the arithmetic alone)`],
  };
}

/** numpy + OpenBLAS sgemm 1024³ on all cores, or why it could not run. */
export function nativeMatmul(): ResultPart {
  const native = nativeSgemm(1024);
  if (!('gflops' in native)) return { notes: [native.error] };
  return { matmul: [{ system: 'native sgemm (numpy + OpenBLAS)', precision: 'f32', n: 1024, gflops: native.gflops, note: `numpy ${native.numpy}, ${native.blas}` }] };
}
