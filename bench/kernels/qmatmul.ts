// Quantized GEMM (qgemm, GGML Q8_0 / Q4_0 weights) at the skinny shapes of inference on the
// 2.7B BioMedLM-shaped model (C = 2560): M = 1 (a decode step), 32 and 128 rows against
// c_attn (K=2560, N=7680), c_fc (2560 -> 10240) and mlp.c_proj (10240 -> 2560), forward, f16
// activations; the f16 gemm (matmul.ts) at the same shapes as the peer, in the same run. Reports
// GFLOP/s (2·M·K·N) and the weight's GB/s (the bytes of its storage read once per run: what bounds
// a decode step). Runs in the f16 context only (f16 activations); zero weights cost the same as data.
import type { Tensor } from '../../src/gpu/index';
import { gemm, matmulVariant } from '../../src/kernels/matmul';
import { variantName } from '../../src/kernels/matmul-wgsl';
import { type QgemmVariant, createQuantizedWeight, qgemm, qgemmVariant, qgemmVariantName, qgemmWeightBytes, setQgemmVariant } from '../../src/kernels/qmatmul';
import type { QuantType } from '../../src/util/ggml';
import type { BenchCase, BenchSuite } from './types';

export const QMATMUL_SHAPES: { label: string; K: number; N: number }[] = [
  { label: 'c_attn', K: 2560, N: 7680 },
  { label: 'c_fc', K: 2560, N: 10240 },
  { label: 'mlp.c_proj', K: 10240, N: 2560 },
];
export const QMATMUL_ROWS = [1, 32, 128];

export const suite: BenchSuite = (gpu) => {
  if (gpu.precision !== 'f16') return []; // f16 activations (the f32 context would repeat the cases in f32)
  const maxM = Math.max(...QMATMUL_ROWS);
  const maxKN = Math.max(...QMATMUL_SHAPES.map((s) => s.K * s.N));
  const maxOut = Math.max(...QMATMUL_SHAPES.map((s) => Math.max(s.K, s.N))) * maxM;
  const a = gpu.tensor([maxOut], 'f16', 'qmatmul.a');
  const out = gpu.tensor([maxOut], 'f16', 'qmatmul.out');
  const dense = gpu.tensor([maxKN], 'f16', 'qmatmul.w16');
  const cases: BenchCase[] = [];
  for (const { label, K, N } of QMATMUL_SHAPES) {
    const weights = { q8_0: createQuantizedWeight(gpu, 'q8_0', K, N, 'qmatmul.q8_0'), q4_0: createQuantizedWeight(gpu, 'q4_0', K, N, 'qmatmul.q4_0') };
    for (const M of QMATMUL_ROWS) {
      const av = a.view([M * K], 0), ov = out.view([M * N], 0);
      for (const type of ['q8_0', 'q4_0'] as QuantType[]) {
        const w = weights[type];
        cases.push({
          name: `qgemm ${type} ${label} M=${M} K=${K} N=${N} [${qgemmVariantName(qgemmVariant(gpu, M, false))}]`,
          flops: 2 * M * K * N,
          bytes: qgemmWeightBytes(type, K, N),
          record: (step) => qgemm(step, ov, av, w, { M }),
        });
      }
      if (M === 1) {
        // the GEMV with 8 columns per lane (half the loads of a per weight): what tuneQgemm can pick
        const v: QgemmVariant = { kind: 'gemv', tm: 1, tn: 8, wx: 8, wy: 1, split: 1 };
        for (const type of ['q8_0', 'q4_0'] as QuantType[]) {
          cases.push({
            name: `qgemm ${type} ${label} M=${M} K=${K} N=${N} [${qgemmVariantName(v)}, forced]`,
            flops: 2 * M * K * N,
            bytes: qgemmWeightBytes(type, K, N),
            record: (step) => {
              setQgemmVariant(gpu, v, false);
              qgemm(step, ov, av, weights[type], { M });
              setQgemmVariant(gpu, null);
            },
          });
        }
      }
      const wv: Tensor = dense.view([K * N], 0);
      cases.push({
        name: `gemm f16 ${label} M=${M} K=${K} N=${N} [${variantName(matmulVariant(gpu))}]`,
        flops: 2 * M * K * N,
        bytes: K * N * 2,
        record: (step) => gemm(step, ov, av, wv, { M, N, K }),
      });
    }
  }
  return cases;
};
