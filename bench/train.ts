// `npm run bench`: end-to-end training throughput of mqg-webgpu against TensorFlow.js's WebGPU
// backend on the same adapter, in the same run, plus each kernel's share of our step.
//
// For each config: our steps and the peer's steps alternate (ours, theirs, ours, ...) after
// warm-up steps that are excluded; the figure is the median step time. Both synchronise once per
// step by reading the loss. Model FLOPs per token: 6·N + 12·L·C·T (N = parameters, lm_head tied).
// Results: bench/results/train-<date>.json and bench/results/train.md (shown in the README).
import '../src/gpu/node';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createGPU, type Precision } from '../src/gpu/index';
import { GPT2 } from '../src/model/gpt2';
import { makeConfig } from '../src/model/config';
import { profileTrainStep, randomBatch, trainingFlopsPerToken } from '../src/train/profile';
import { initTfjsWebGPU, TfjsGPT2, randomBatch as tfjsBatch } from './peers/tfjs';
import { runKernelBench } from './kernels';

interface Config { name: string; nLayer: number; nHead: number; nEmbd: number; vocabSize: number; maxT: number; B: number; T: number; peer: boolean }

const CONFIGS: Config[] = [
  { name: 'mqg-tiny (4L, 4H, 128, V 4096)', nLayer: 4, nHead: 4, nEmbd: 128, vocabSize: 4096, maxT: 256, B: 8, T: 128, peer: true },
  // TensorFlow.js needs about 5 minutes per step at this size here: measured only with --peer-124m.
  { name: 'GPT-2 124M shape', nLayer: 12, nHead: 12, nEmbd: 768, vocabSize: 50257, maxT: 1024, B: 1, T: 256, peer: process.argv.includes('--peer-124m') },
];

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Row {
  config: string; precision: Precision | 'f32 (tfjs)'; B: number; T: number;
  msPerStep: number; tokensPerSecond: number; gflops: number; encodeMs?: number; gpuMs?: number; topKernels?: string;
  ratio?: number;
}

async function main(): Promise<void> {
  const steps = Number(process.env.BENCH_STEPS ?? 5);
  const rows: Row[] = [];
  let adapter = '';
  const skipKernels = process.argv.includes('--no-kernels');
  const kernels = skipKernels ? [] : await runKernelBench({ runs: 3, maxTime: 0.5 });
  for (const c of CONFIGS) {
    const config = makeConfig({ nLayer: c.nLayer, nHead: c.nHead, nEmbd: c.nEmbd, nPositions: c.maxT, vocabSize: c.vocabSize });
    const peer = c.peer ? new TfjsGPT2(await initTfjsWebGPU(), { nLayer: c.nLayer, nHead: c.nHead, nEmbd: c.nEmbd, vocabSize: c.vocabSize, maxT: c.maxT }) : undefined;
    let peerMs: number[] = [];
    for (const precision of ['f16', 'f32'] as Precision[]) {
      const gpu = await createGPU({ precision, profile: true });
      if (precision === 'f16' && !gpu.hasF16) continue;
      adapter = gpu.adapterName;
      const model = new GPT2(gpu, config);
      model.initRandom(1);
      const prof = await profileTrainStep(gpu, model, c.B, c.T, { warmup: 2, steps: 2 });
      // Alternate our steps with the peer's (f32 pass only: the peer has no f16).
      const ours: number[] = [];
      const adam = { lr: 1e-4 };
      const doPeer = peer && precision === 'f32';
      if (doPeer) for (let i = 0; i < 2; i++) { const b = tfjsBatch(c.vocabSize, c.B, c.T, i); await peer!.trainStep(b.inputs, b.targets, c.B, c.T); }
      for (let i = 0; i < steps; i++) {
        const b = randomBatch(c.vocabSize, c.B * c.T, 1000 + i);
        const t0 = performance.now();
        await model.trainStep(b.inputs, b.targets, c.B, c.T, adam);
        ours.push(performance.now() - t0);
        if (doPeer) {
          const pb = tfjsBatch(c.vocabSize, c.B, c.T, 2000 + i);
          const t1 = performance.now();
          await peer!.trainStep(pb.inputs, pb.targets, c.B, c.T);
          peerMs.push(performance.now() - t1);
        }
      }
      const ms = med(ours);
      const params = model.params.slots.reduce((n, s) => n + s.numel, 0);
      const fpt = trainingFlopsPerToken(config, c.T, params);
      const tps = (c.B * c.T * 1000) / ms;
      rows.push({
        config: c.name, precision, B: c.B, T: c.T, msPerStep: ms, tokensPerSecond: tps, gflops: (fpt * tps) / 1e9,
        encodeMs: prof.encodeMs, gpuMs: prof.gpuMs,
        topKernels: prof.rows.slice(0, 3).map((r) => `${r.name} ${(100 * r.share).toFixed(0)}%`).join(', '),
      });
      console.log(`${c.name} ${precision}: ${tps.toFixed(0)} tokens/s (${ms.toFixed(0)} ms/step, encode ${prof.encodeMs.toFixed(1)} ms CPU, GPU ${prof.gpuMs.toFixed(0)} ms)`);
      console.log(`  top kernels: ${rows.at(-1)!.topKernels}`);
      model.destroy();
      gpu.destroy();
    }
    if (peer && peerMs.length) {
      const ms = med(peerMs);
      const tps = (c.B * c.T * 1000) / ms;
      const fpt = trainingFlopsPerToken(config, c.T, peer.numParams);
      rows.push({ config: c.name, precision: 'f32 (tfjs)', B: c.B, T: c.T, msPerStep: ms, tokensPerSecond: tps, gflops: (fpt * tps) / 1e9 });
      for (const r of rows) if (r.config === c.name && r.precision !== 'f32 (tfjs)') r.ratio = r.tokensPerSecond / tps;
      console.log(`${c.name} TensorFlow.js WebGPU: ${tps.toFixed(1)} tokens/s (${ms.toFixed(0)} ms/step)`);
      peer.dispose();
    }
  }
  const date = new Date().toISOString();
  const md = [
    `Measured ${date.slice(0, 10)} on ${adapter}; median of ${steps} steps after 2 warm-up steps, ours and TensorFlow.js alternating.`,
    '',
    '| model | precision | B×T | ms/step | tokens/s | GFLOP/s | × TF.js WebGPU | top kernels (share of GPU time) |',
    '|---|---|---|---:|---:|---:|---:|---|',
    ...rows.map((r) => `| ${r.config} | ${r.precision === 'f32 (tfjs)' ? 'f32, TensorFlow.js WebGPU' : `${r.precision}, mqg-webgpu`} | ${r.B}×${r.T} | ${r.msPerStep.toFixed(0)} | ${r.tokensPerSecond.toFixed(0)} | ${r.gflops.toFixed(2)} | ${r.ratio ? r.ratio.toFixed(1) + '×' : ''} | ${r.topKernels ?? ''} |`),
  ].join('\n');
  console.log(`\n${md}`);
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(`bench/results/train-${date.slice(0, 10)}.json`, JSON.stringify({ date, adapter, steps, rows, kernels }, null, 2));
  writeFileSync('bench/results/train.md', md + '\n');
  process.exit(0);
}

await main();
