// `npm run bench:kernels`: every kernel at GPT-2-shaped sizes, in f32 and f16, timed with GPU
// timestamps (median over runs) and, through Benchmark.js, by wall clock per submit+sync.
// Prints GFLOP/s (matmul, attention) or GB/s (the rest) and the matmul ratio to TensorFlow.js's
// WebGPU backend measured in the same run on the same adapter. Results: bench/results/kernels-*.json.
import '../src/gpu/node';
import { mkdirSync, writeFileSync } from 'node:fs';
import Benchmark from 'benchmark';
import { createGPU, type GPUContext, type Precision } from '../src/gpu/index';
import type { BenchCase, BenchSuite } from './kernels/types';
import { suite as matmul } from './kernels/matmul';
import { suite as attention } from './kernels/attention';
import { suite as layernorm } from './kernels/layernorm';
import { suite as gelu } from './kernels/gelu';
import { suite as encoder } from './kernels/encoder';
import { suite as classifier } from './kernels/classifier';
import { suite as adamw } from './kernels/adamw';
import { suite as qmatmul } from './kernels/qmatmul';

const SUITES: Record<string, BenchSuite> = { matmul, qmatmul, attention, layernorm, gelu, encoder, classifier, adamw };

export interface KernelResult {
  suite: string;
  name: string;
  precision: Precision;
  gpuMs: number;
  wallMs: number;
  gflops?: number;
  gbps?: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
}

/** GPU time of one run: sum of its kernels' timestamp intervals, median over `runs`. */
async function gpuTime(gpu: GPUContext, c: BenchCase, runs: number): Promise<number> {
  const per: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = gpu.step(c.name);
    c.record(s);
    s.submit();
    await gpu.sync();
    per.push((await gpu.profiler!.collect()).reduce((a, k) => a + k.ms, 0));
  }
  return median(per);
}

function wallTime(gpu: GPUContext, c: BenchCase, maxTime: number): Promise<number> {
  return new Promise((done) => {
    const b = new Benchmark(c.name, {
      defer: true,
      minSamples: 3,
      maxTime,
      fn: (d: { resolve(): void }) => {
        const s = gpu.step(c.name);
        c.record(s);
        s.submit();
        gpu.sync().then(() => d.resolve());
      },
      onComplete: () => done(b.stats.mean * 1000),
    });
    b.run({ async: true });
  });
}

export async function runKernelBench(opts: { filter?: RegExp; runs?: number; maxTime?: number } = {}): Promise<KernelResult[]> {
  const results: KernelResult[] = [];
  for (const precision of ['f32', 'f16'] as Precision[]) {
    const gpu = await createGPU({ precision, profile: true });
    if (precision === 'f16' && !gpu.hasF16) continue;
    for (const [suiteName, suite] of Object.entries(SUITES)) {
      if (opts.filter && !opts.filter.test(suiteName)) continue;
      const cases = await suite(gpu);
      for (const c of cases) {
        const warm = gpu.step('warmup');
        c.record(warm);
        warm.submit();
        await gpu.sync();
        await gpu.profiler!.collect();
        const gpuMs = await gpuTime(gpu, c, opts.runs ?? 5);
        const wallMs = await wallTime(gpu, c, opts.maxTime ?? 1);
        const r: KernelResult = { suite: suiteName, name: c.name, precision, gpuMs, wallMs };
        if (c.flops) r.gflops = c.flops / (gpuMs * 1e6);
        if (c.bytes) r.gbps = c.bytes / (gpuMs * 1e6);
        results.push(r);
        const rate = [r.gflops !== undefined ? `${r.gflops.toFixed(2).padStart(8)} GFLOP/s` : '', r.gbps !== undefined ? `${r.gbps.toFixed(2).padStart(8)} GB/s   ` : ''].filter((x) => x).join(' ');
        console.log(`${c.name.padEnd(64)} ${rate}  gpu ${gpuMs.toFixed(3).padStart(9)} ms  wall ${wallMs.toFixed(3).padStart(9)} ms`);
      }
    }
    gpu.destroy();
  }
  return results;
}

async function tfjsMatmulPeer(n: number): Promise<number | undefined> {
  try {
    const peer = await import('./peers/tfjs');
    const tf = await peer.initTfjsWebGPU();
    const r = await peer.tfjsMatmulBench(tf, n);
    return typeof r === 'number' ? r : (r as { gflops: number }).gflops;
  } catch (e) {
    console.log(`TensorFlow.js WebGPU peer unavailable: ${(e as Error).message}`);
    return undefined;
  }
}

if (/kernels\.[jt]s$/.test(process.argv[1] ?? '')) {
  const filter = process.argv[2] ? new RegExp(process.argv[2]) : undefined;
  const gpu0 = await createGPU({ precision: 'f32' });
  const adapter = gpu0.adapterName;
  gpu0.destroy();
  console.log(`adapter: ${adapter}\n`);
  const results = await runKernelBench({ filter });
  const ours = results.find((r) => r.precision === 'f32' && /1024x1024x1024/.test(r.name));
  const tfjs = await tfjsMatmulPeer(1024);
  if (ours?.gflops && tfjs) {
    console.log(`\nmatmul 1024³ f32: mqg-webgpu ${ours.gflops.toFixed(2)} GFLOP/s, TensorFlow.js WebGPU ${tfjs.toFixed(2)} GFLOP/s: ratio ${(ours.gflops / tfjs).toFixed(1)}x`);
  }
  mkdirSync('bench/results', { recursive: true });
  const date = new Date().toISOString();
  writeFileSync(`bench/results/kernels-${date.slice(0, 10)}.json`, JSON.stringify({ date, adapter, tfjsMatmul1024: tfjs, results }, null, 2));
  process.exit(0);
}
