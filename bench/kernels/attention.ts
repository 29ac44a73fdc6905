// Fused causal attention forward and backward at mqg-tiny (B=8, T=128, C=128, NH=4) and GPT-2 124M
// (B=1, T=1024, C=768, NH=12) shapes, in the variant the adapter gets by default, plus the tiled
// variant at mqg-tiny where the default is another (at 124M it takes seconds per run on lavapipe).
// FLOPs count only the causal half of the two T×T×hs matmuls (forward 2·2·B·NH·T²/2·hs) and the
// backward as 2.5× the forward, FlashAttention's convention; our deterministic backward actually
// recomputes S and dP in both of its passes (≈3.5× the forward).
import type { BenchCase, BenchSuite } from './types';
import { type AttentionVariant, attentionBackward, attentionForward, attentionVariant, setAttentionVariant } from '../../src/kernels/attention';
import { randn } from '../../tests/helpers/gpu';

export const suite: BenchSuite = (gpu) => {
  const dtype = gpu.precision;
  const cases: BenchCase[] = [];
  for (const { label, B, T, C, NH } of [
    { label: 'mqg-tiny', B: 8, T: 128, C: 128, NH: 4 },
    { label: 'gpt2-124M', B: 1, T: 1024, C: 768, NH: 12 },
  ]) {
    const hs = C / NH;
    const qkv = gpu.tensor([B, T, 3 * C], dtype, `${label}.qkv`, randn(B * T * 3 * C, 1, 1));
    const out = gpu.tensor([B, T, C], dtype, `${label}.out`);
    const lse = gpu.tensor([B, NH, T], 'f32', `${label}.lse`);
    const dout = gpu.tensor([B, T, C], dtype, `${label}.dout`, randn(B * T * C, 2, 1e-2));
    const dqkv = gpu.tensor([B, T, 3 * C], dtype, `${label}.dqkv`);
    const delta = gpu.tensor([B, NH, T], 'f32', `${label}.delta`);
    // The backward needs a real out and lse: compute them once.
    const init = gpu.step('attention bench init');
    attentionForward(init, out, lse, qkv, B, T, C, NH);
    init.submit();
    const forwardFlops = 2 * 2 * B * NH * (T * T / 2) * hs;
    const shape = `B=${B} T=${T} C=${C} NH=${NH}`;
    const variants: (AttentionVariant | null)[] = [null];
    if (label === 'mqg-tiny' && attentionVariant(gpu, hs).kind !== 'tiled') variants.push({ kind: 'tiled' });
    for (const variant of variants) {
      const name = variant ? ` (${variant.kind})` : '';
      // A forced variant is set only while recording, so the other cases keep the default.
      const under = (f: () => void) => () => {
        setAttentionVariant(gpu, variant);
        try { f(); } finally { setAttentionVariant(gpu, null); }
      };
      cases.push({
        name: `attention forward ${dtype} ${label} ${shape}${name}`,
        flops: forwardFlops,
        record: (step) => under(() => attentionForward(step, out, lse, qkv, B, T, C, NH))(),
      });
      cases.push({
        name: `attention backward ${dtype} ${label} ${shape}${name}`,
        flops: 2.5 * forwardFlops,
        record: (step) => under(() => attentionBackward(step, dqkv, delta, dout, out, lse, qkv, B, T, C, NH))(),
      });
    }
  }
  return cases;
};
