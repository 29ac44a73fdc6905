// GEMM throughput (2·M·N·K flops per run) at 1024³ in f32 and f16 and at the shapes GPT-2 trains
// with: forward (NN), backward dinp (NT) and dweight (TN, accumulated) for each linear layer of
// GPT-2 124M (C=768, BT=1024) and mqg-tiny (C=128, BT=8·128=1024), and the lm_head (NT) at V=50304
// (f16 only: the f32 wte is larger than one 128 MiB binding, which gemm would split) and V=4096.
// Uses whichever variant gemm picks on this adapter (tuned, else the default); buffers are zero,
// which costs the same as data here.
import type { GPUContext, Tensor } from '../../src/gpu/index';
import { biasBackward, gemm, matmulVariant } from '../../src/kernels/matmul';
import { variantName } from '../../src/kernels/matmul-wgsl';
import type { BenchCase, BenchSuite } from './types';

type F = 'f16' | 'f32';

interface Shape {
  label: string;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  accumulate?: boolean;
  bias?: boolean;
  dtype: F;
  /** dtype of out (parameter gradients are f32 in f16 training) */
  out?: F;
}

function linearShapes(model: string, BT: number, C: number, dtype: F): Shape[] {
  const layers: [string, number, number][] = [
    ['qkv', C, 3 * C],
    ['attn.proj', C, C],
    ['fc', C, 4 * C],
    ['mlp.proj', 4 * C, C],
  ];
  const out: Shape[] = [];
  for (const [name, IC, OC] of layers) {
    out.push({ label: `${model} ${name} fwd ${IC}->${OC}`, M: BT, N: OC, K: IC, bias: true, dtype });
    out.push({ label: `${model} ${name} dinp`, M: BT, N: IC, K: OC, transB: true, dtype });
    out.push({ label: `${model} ${name} dweight`, M: IC, N: OC, K: BT, transA: true, accumulate: true, dtype, out: 'f32' });
  }
  return out;
}

export function matmulShapes(gpu: GPUContext): Shape[] {
  const shapes: Shape[] = [
    { label: '1024^3', M: 1024, N: 1024, K: 1024, dtype: 'f32' },
    { label: '512^3', M: 512, N: 512, K: 512, dtype: 'f32' },
  ];
  if (gpu.hasF16) shapes.push({ label: '1024^3', M: 1024, N: 1024, K: 1024, dtype: 'f16' });
  const p = gpu.precision;
  shapes.push(...linearShapes('gpt2-124M', 1024, 768, p));
  if (gpu.hasF16) shapes.push({ label: 'gpt2-124M lm_head 768->50304', M: 1024, N: 50304, K: 768, transB: true, dtype: 'f16' });
  shapes.push(...linearShapes('mqg-tiny', 1024, 128, p));
  shapes.push({ label: 'mqg-tiny lm_head 128->4096', M: 1024, N: 4096, K: 128, transB: true, dtype: p });
  return shapes;
}

export const suite: BenchSuite = (gpu) => {
  // One buffer per role and dtype, sized for the largest case, so the suite allocates once.
  const shapes = matmulShapes(gpu);
  const variant = variantName(matmulVariant(gpu));
  const p = gpu.precision;
  const BT = 1024, OC = 4 * 768; // biasBackward case below
  const need = new Map<string, number>();
  const want = (role: string, dtype: F, n: number) => need.set(`${role}:${dtype}`, Math.max(n, need.get(`${role}:${dtype}`) ?? 0));
  for (const s of shapes) {
    want('a', s.dtype, s.M * s.K);
    want('b', s.dtype, s.K * s.N);
    want('out', s.out ?? s.dtype, s.M * s.N);
    if (s.bias) want('bias', s.dtype, s.N);
  }
  want('a', p, BT * OC);
  const pools = new Map([...need].map(([key, n]) => [key, gpu.tensor([n], key.split(':')[1] as F, `matmul.${key}`)]));
  const buffer = (role: string, dtype: F, n: number): Tensor => pools.get(`${role}:${dtype}`)!.view([n], 0);
  const cases: BenchCase[] = shapes.map((s) => {
    const a = buffer('a', s.dtype, s.M * s.K);
    const b = buffer('b', s.dtype, s.K * s.N);
    const out = buffer('out', s.out ?? s.dtype, s.M * s.N);
    const bias = s.bias ? buffer('bias', s.dtype, s.N) : null;
    const layout = `${s.transA ? 'T' : 'N'}${s.transB ? 'T' : 'N'}`;
    return {
      name: `matmul ${s.dtype}${s.out && s.out !== s.dtype ? `->${s.out}` : ''} ${s.label} ${layout} ${s.M}x${s.N}x${s.K} [${variant}]`,
      flops: 2 * s.M * s.N * s.K,
      record: (step) =>
        gemm(step, out, a, b, { M: s.M, N: s.N, K: s.K, transA: s.transA, transB: s.transB, accumulate: s.accumulate, bias }),
    };
  });
  // the bias gradient of the widest GPT-2 layer: reads BT·4C elements
  const dout = buffer('a', p, BT * OC);
  const dbias = gpu.tensor([OC], 'f32', 'matmul.dbias');
  cases.push({
    name: `biasBackward ${p} gpt2-124M fc ${BT}x${OC}`,
    bytes: BT * OC * (p === 'f16' ? 2 : 4),
    record: (step) => biasBackward(step, dbias, dout, BT, OC),
  });
  return cases;
};
