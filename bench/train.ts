// `npm run bench`: one run, on this machine, of
//  - mqg-webgpu: mqg-tiny (4L, 4H, 128, V 4096, B8×T128) training tokens/s in f16 and f32, and
//    matmul 1024³ GFLOP/s (f32, f16);
//  - TensorFlow.js on its WebGPU backend (same Dawn adapter): the same GPT-2 training step, matmul;
//  - jax-js on WebAssembly (the CPU peer, no WebGPU): the same training step, matmul;
//  - native sgemm on the same CPU: numpy + OpenBLAS, when python3-numpy is installed;
// with the ratios against the goals of issue 15, and the before/after of this round's changes
// measured in the same run (one compute pass per step vs one per dispatch: CPU to record a step;
// the fused activation-gradient epilogue vs a GEMM plus a separate GELU backward pass; the fused
// residual + layernorm pass vs the two passes; the tuned attention and row-kernel layouts vs the
// defaults; the tuner's objective; on lavapipe at 512-bit vectors, the training step and matmul at
// Mesa's default 256 bits, measured in a child process of the same run).
//
// Training steps of all four alternate (ours f16, ours f32, TF.js, jax-js, again ...) after
// warm-up steps, so load from other work on the machine hits each alike; figures are medians.
// Each synchronises once per step by reading the loss. Model FLOPs per token: 6·N + 12·L·C·T.
// Each experiment lives in bench/train/ and returns its part of the result; this file runs them in order.
// Results: bench/results/<date>.json (format: bench/train/types.ts), and the README's performance
// table regenerated from it (bench/readme.ts). Flags: --kernels (also the per-kernel suite),
// --gpt2-124m (adds that shape, ours only), --no-peers, --no-readme, --readme-only (only regenerate
// the table from the newest result); --width-probe is the child process of the vector-width probe.
import '../src/gpu/node';
import '../src/kernels/tune/store.node';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createGPU, type GPUContext } from '../src/gpu/index';
import { runKernelBench } from './kernels';
import { writeReadmeTable } from './readme';
import { cores, cpuModel } from './cpu.mjs';
import type { BenchResult, ResultPart } from './train/types';
import { openTiny } from './train/tiny';
import { openContenders, peerMatmuls, raceTrainingSteps } from './train/peers';
import { tuningObjectives } from './train/objective';
import { profiledSection } from './train/profiled';
import { nativeMatmul, ourMatmuls } from './train/matmul';
import { vectorWidth, widthProbe } from './train/width-probe';
import { gpt2Shape } from './train/gpt2-124m';
import { printSummary, ratiosAndGoals } from './train/summary';

const has = (flag: string) => process.argv.includes(flag);

/** An empty result stamped with the machine (the adapter comes when the GPU is open); prints the CPU line. */
function startResult(steps: number): BenchResult {
  const load = loadavg();
  const result: BenchResult = {
    date: new Date().toISOString(), cpu: cpuModel(), cores: cores(), adapter: '', load, steps,
    train: [], matmul: [], ratios: {}, goals: [], beforeAfter: [], notes: [],
  };
  console.log(`CPU: ${result.cpu} (${result.cores} cores), load average ${load.map((x) => x.toFixed(1)).join(' ')}`);
  return result;
}

/** The adapter with timestamps available but paused, one compute pass per step. */
async function openGPU(result: BenchResult): Promise<GPUContext> {
  const gpu = await createGPU({ precision: 'auto', profile: true });
  result.adapter = gpu.adapterName;
  console.log(`adapter: ${gpu.adapterName}`);
  if (gpu.profiler) gpu.profiler.paused = true;
  gpu.passPerDispatch = false;
  return gpu;
}

/** Appends an experiment's rows and notes to the result. */
function append(result: BenchResult, part: ResultPart | undefined): void {
  result.train.push(...(part?.train ?? []));
  result.matmul.push(...(part?.matmul ?? []));
  result.beforeAfter.push(...(part?.beforeAfter ?? []));
  result.notes.push(...(part?.notes ?? []));
}

/** The training steps of ours and the peers, then the experiments on our models while they exist. */
async function trainingExperiments(gpu: GPUContext, result: BenchResult, peers: boolean) {
  const tiny = await openTiny(gpu);
  const contenders = await openContenders(tiny, peers);
  append(result, { notes: contenders.notes, train: await raceTrainingSteps(tiny, contenders.runners, result.steps) });
  const ours = contenders.runners[0]!;
  const objective = await tuningObjectives(gpu, { C: tiny.shape.nEmbd, V: tiny.shape.vocabSize, BT: tiny.B * tiny.T }, ours.precision, ours.step);
  append(result, { beforeAfter: objective && [objective] });
  append(result, { beforeAfter: await profiledSection(gpu, tiny, result.train) });
  for (const { model } of tiny.ours) model.destroy();
  contenders.dispose();
  return { name: tiny.name, precisions: tiny.ours.map((o) => o.precision) };
}

async function main(): Promise<void> {
  if (has('--readme-only')) {
    console.log(writeReadmeTable());
    process.exit(0);
  }
  if (has('--width-probe')) return widthProbe();
  const result = startResult(Number(process.env.BENCH_STEPS ?? 5));
  const gpu = await openGPU(result);
  const { name, precisions } = await trainingExperiments(gpu, result, !has('--no-peers'));
  append(result, await ourMatmuls(gpu, precisions));
  append(result, vectorWidth(gpu.adapterName, result.train, result.matmul));
  if (!has('--no-peers')) append(result, await peerMatmuls());
  append(result, nativeMatmul());
  if (has('--gpt2-124m')) append(result, await gpt2Shape(gpu, precisions));
  gpu.destroy();
  if (has('--kernels')) result.kernels = await runKernelBench({ runs: 3, maxTime: 0.5 });
  Object.assign(result, ratiosAndGoals(result, name));
  printSummary(result);

  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/${result.date.slice(0, 10)}.json`;
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nwrote ${file}`);
  if (!has('--no-readme')) console.log(writeReadmeTable());
  process.exit(0);
}

await main();
