// Fused passes against the passes they replace, on mqg-tiny's shapes, timed by GPU timestamps with
// the two recordings interleaved round by round.
import type { GPUContext } from '../../src/gpu/index';
import { gemm } from '../../src/kernels/matmul';
import { geluBackward } from '../../src/kernels/gelu';
import { layernormForward, residualLayernormForward } from '../../src/kernels/layernorm';
import { residualForward } from '../../src/kernels/residual';
import { beforeAfterGpuMs } from './timing';
import type { BeforeAfter } from './types';

/** dpre = (dout · Wᵀ) ⊙ gelu'(pre) at mqg-tiny's MLP shape: gemm + geluBackward (before) vs the dactivation epilogue (after). */
export async function fusedGeluBackward(gpu: GPUContext): Promise<BeforeAfter> {
  const BT = 1024, C = 128, H = 512, dt = gpu.precision;
  const dout = gpu.tensor([BT * C], dt, 'dout'), w = gpu.tensor([H * C], dt, 'w'), pre = gpu.tensor([BT * H], dt, 'pre'), d = gpu.tensor([BT * H], dt, 'dpre');
  const { before, after } = await beforeAfterGpuMs(
    gpu,
    (s) => {
      gemm(s, d, dout, w, { M: BT, N: H, K: C, transB: true });
      geluBackward(s, d, pre, d, BT * H);
    },
    (s) => gemm(s, d, dout, w, { M: BT, N: H, K: C, transB: true, dactivation: 'gelu_new', preact: pre }),
  );
  for (const t of [dout, w, pre, d]) t.buffer.destroy();
  return { change: `dpre of mqg-tiny's MLP (1024×512×128, ${gpu.precision}): GEMM + GELU backward pass → GEMM with the dactivation epilogue`, before, after, unit: 'ms GPU' };
}

/** The residual add and ln_2 of one mqg-tiny block (B·T = 1024, C = 128): residual pass + layernorm (before) vs the fused pass (after). */
export async function fusedResidualLayernorm(gpu: GPUContext): Promise<BeforeAfter> {
  const BT = 1024, C = 128, dt = gpu.precision;
  const f32 = (label: string) => gpu.tensor([BT * C], 'f32', label);
  const res = f32('residual'), proj = f32('proj'), res2 = f32('residual2'), ln = gpu.tensor([BT * C], dt, 'ln2');
  const mean = gpu.tensor([BT], 'f32', 'mean'), rstd = gpu.tensor([BT], 'f32', 'rstd');
  const w = gpu.tensor([C], dt, 'w', new Float32Array(C).fill(1)), b = gpu.tensor([C], dt, 'b');
  const { before, after } = await beforeAfterGpuMs(
    gpu,
    (s) => {
      residualForward(s, res2, res, proj, BT * C);
      layernormForward(s, ln, mean, rstd, res2, w, b, BT, C);
    },
    (s) => residualLayernormForward(s, res2, ln, mean, rstd, res, proj, w, b, BT, C),
  );
  for (const t of [res, proj, res2, ln, mean, rstd, w, b]) t.buffer.destroy();
  return { change: `residual add + ln_2 of a mqg-tiny block (1024×128, f32 stream): residual pass + layernorm → one fused pass`, before, after, unit: 'ms GPU' };
}
