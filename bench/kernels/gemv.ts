// Skinny GEMMs at BioMedLM width (K = 2560): the gemv kernel (gemv.ts) beside the tiled gemm it
// replaces for small M, in the same run on the same adapter, f16 and f32, M = 1 (a decode step)
// and M = 32 (a short prompt), N = 7680 (c_attn), 10240 (c_fc), 28896 (the lm_head, NT: x · wteᵀ).
// Prints GPU time (timestamps, median of runs), GB/s of weight streaming (K·N elements read once:
// what a perfect kernel must read) and GFLOP/s. Buffers are zero, which costs the same as data.
//
//   node scripts/build.mjs --no-types && node dist/bench/kernels/gemv.js [--runs 5] [--m 1,32]
import '../../src/gpu/node';
import { createGPU, type GPUContext } from '../../src/gpu/index';
import { type GemvVariant, gemm, gemvVariant, setGemvVariant } from '../../src/kernels/matmul';

type F = 'f16' | 'f32';
const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1]! : dflt);
const RUNS = Number(opt('runs', '5'));
const MS = opt('m', '1,32').split(',').map(Number);
const K = 2560;
const SHAPES: { label: string; N: number; transB: boolean }[] = [
  { label: 'c_attn', N: 7680, transB: false },
  { label: 'c_fc', N: 10240, transB: false },
  { label: 'lm_head', N: 28896, transB: true },
];

async function time(gpu: GPUContext, record: (s: ReturnType<GPUContext['step']>) => void): Promise<number> {
  const per: number[] = [];
  for (let i = 0; i < RUNS + 1; i++) {
    const s = gpu.step('gemv-bench');
    record(s);
    s.submit();
    await gpu.sync();
    const ms = (await gpu.profiler!.collect()).reduce((a, k) => a + k.ms, 0);
    if (i > 0) per.push(ms); // the first run compiles
  }
  return per.sort((a, b) => a - b)[Math.floor(per.length / 2)]!;
}

async function main(): Promise<void> {
  const gpu = await createGPU({ precision: 'f32', profile: true });
  const types: F[] = gpu.hasF16 ? ['f16', 'f32'] : ['f32'];
  const chosen = gemvVariant(gpu);
  console.log(`${gpu.adapterName}; gemv ${JSON.stringify(chosen)}; K=${K}; ${RUNS} runs (median)`);
  const rows: Record<string, unknown>[] = [];
  for (const t of types) {
    const bytes = t === 'f16' ? 2 : 4;
    const maxN = Math.max(...SHAPES.map((s) => s.N));
    const a = gpu.tensor([Math.max(...MS) * K], t, 'a');
    const b = gpu.tensor([maxN * K], t, 'b');
    const out = gpu.tensor([Math.max(...MS) * maxN], t, 'out');
    for (const { label, N, transB } of SHAPES) {
      for (const M of MS) {
        const run = (v: GemvVariant | null) => {
          setGemvVariant(gpu, v);
          return time(gpu, (s) => gemm(s, out, a, b, { M, N, K, transB }));
        };
        const gemvMs = await run({ ...chosen, maxM: Math.max(M, 1) });
        const gemmMs = await run({ ...chosen, maxM: 0 });
        setGemvVariant(gpu, null);
        const flops = 2 * M * N * K, weight = N * K * bytes;
        const r = { dtype: t, label, M, N, K, layout: transB ? 'NT' : 'NN', gemvMs, gemmMs, gemvGBs: weight / gemvMs / 1e6, gemmGBs: weight / gemmMs / 1e6, gemvGflops: flops / gemvMs / 1e6, gemmGflops: flops / gemmMs / 1e6 };
        rows.push(r);
        console.log(
          `${t} ${label.padEnd(8)} ${r.layout} M=${String(M).padStart(3)} N=${N}: gemv ${gemvMs.toFixed(2).padStart(8)} ms ${r.gemvGBs.toFixed(2).padStart(6)} GB/s ${r.gemvGflops.toFixed(1).padStart(6)} GFLOP/s | gemm ${gemmMs.toFixed(2).padStart(8)} ms ${r.gemmGBs.toFixed(2).padStart(6)} GB/s ${r.gemmGflops.toFixed(1).padStart(6)} GFLOP/s | ${(gemmMs / gemvMs).toFixed(2)}x`,
        );
      }
    }
    for (const x of [a, b, out]) x.buffer.destroy();
  }
  gpu.destroy();
}

await main();
