// `npm run bench`: one run, on this machine, of
//  - mqg-webgpu: mqg-tiny (4L, 4H, 128, V 4096, B8×T128) training tokens/s in f16 and f32, and
//    matmul 1024³ GFLOP/s (f32, f16);
//  - TensorFlow.js on its WebGPU backend (same Dawn adapter): the same GPT-2 training step, matmul;
//  - jax-js on WebAssembly (the CPU peer, no WebGPU): the same training step, matmul;
//  - native sgemm on the same CPU: numpy + OpenBLAS, when python3-numpy is installed;
// with the ratios against the goals of issue 15, and the before/after of this round's changes
// measured in the same run (one compute pass per step vs one per dispatch: CPU to record a step;
// the fused activation-gradient epilogue vs a GEMM plus a separate GELU backward pass; the fused
// residual + layernorm pass vs the two passes; the tuned attention layout vs the default; on
// lavapipe at 512-bit vectors, the training step and matmul at Mesa's default 256 bits, measured
// in a child process of the same run).
//
// Training steps of all four alternate (ours f16, ours f32, TF.js, jax-js, again ...) after
// warm-up steps, so load from other work on the machine hits each alike; figures are medians.
// Each synchronises once per step by reading the loss. Model FLOPs per token: 6·N + 12·L·C·T.
// Results: bench/results/<date>.json, and the README's performance table regenerated from it
// (bench/readme.ts). Flags: --kernels (also the per-kernel suite), --gpt2-124m (adds that shape,
// ours only), --no-peers, --no-readme, --readme-only (only regenerate the table from the newest result).
import '../src/gpu/node';
import '../src/kernels/matmul-tune.node';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createGPU, type GPUContext, type Precision, type Step } from '../src/gpu/index';
import { gemm, matmulTuneRecord, matmulVariant, recordMatmulTune, setGemmSourceHook, setMatmulVariant, tuneMatmul } from '../src/kernels/matmul';
import type { Shape } from '../src/kernels/matmul-tune';
import { geluBackward } from '../src/kernels/gelu';
import {
  DEFAULT_LAYERNORM_LAYOUT, type LayernormLayout, createLayernormScratch, layernormBackward, layernormForward, layernormLayoutName, residualLayernormForward, setLayernormLayout,
} from '../src/kernels/layernorm';
import { crossEntropyForwardBackward, defaultCrossEntropyWorkgroup, setCrossEntropyWorkgroup } from '../src/kernels/classifier';
import { rowTuneRecords } from '../src/kernels/rows-tune';
import { residualForward } from '../src/kernels/residual';
import { type AttentionVariant, attentionBackward, attentionForward, attentionVariant, setAttentionVariant } from '../src/kernels/attention';
import { attentionVariantName } from '../src/kernels/attention-tune';
import { variantName } from '../src/kernels/matmul-wgsl';
import { GPT2 } from '../src/model/gpt2';
import { makeConfig } from '../src/model/config';
import { profileTrainStep, randomBatch, trainingFlopsPerToken } from '../src/train/profile';
import { initTfjsWebGPU, TfjsGPT2, tfjsMatmulBench, randomBatch as tfjsBatch } from './peers/tfjs';
import { JaxGPT2, initJaxWasm, jaxMatmulBench } from './peers/jaxjs';
import { nativeSgemm } from './native';
import { runKernelBench } from './kernels';
import { writeReadmeTable } from './readme';
import { cores, cpuModel } from './cpu.mjs';

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const has = (flag: string) => process.argv.includes(flag);

export interface TrainRow {
  config: string;
  system: string;
  precision: string;
  B: number;
  T: number;
  msPerStep: number;
  tokensPerSecond: number;
  gflops: number;
  topKernels?: string;
}

export interface BenchResult {
  date: string;
  cpu: string;
  cores: number;
  adapter: string;
  load: number[];
  steps: number;
  train: TrainRow[];
  matmul: { system: string; precision: string; n: number; gflops: number; variant?: string; note?: string }[];
  ratios: Record<string, number>;
  goals: { name: string; value: number; goal: number; met: boolean }[];
  beforeAfter: { change: string; before: number; after: number; unit: string }[];
  kernels?: unknown[];
  notes: string[];
}

/** Wall ms of one n³ gemm: `reps` in one submit, median of 3 after a warm-up. */
async function ourMatmul(gpu: GPUContext, n: number, dtype: Precision): Promise<number> {
  const a = gpu.tensor([n * n], dtype, 'bench.a'), b = gpu.tensor([n * n], dtype, 'bench.b'), out = gpu.tensor([n * n], dtype, 'bench.out');
  const run = async (reps: number) => {
    const t0 = performance.now();
    const s = gpu.step('bench matmul');
    for (let i = 0; i < reps; i++) gemm(s, out, a, b, { M: n, N: n, K: n });
    s.submit();
    await gpu.sync();
    return (performance.now() - t0) / reps;
  };
  await run(1);
  const times = [await run(3), await run(3), await run(3)];
  for (const t of [a, b, out]) t.buffer.destroy();
  return (2 * n ** 3) / (med(times) * 1e6);
}

type Recorder = (s: Step) => void;

/** Median GPU ms (timestamps) of each recording, the recordings interleaved round by round after a warm-up round. */
async function interleavedGpuMs(gpu: GPUContext, records: Recorder[], rounds: number): Promise<number[]> {
  const ms = records.map(() => [] as number[]);
  for (let r = 0; r <= rounds; r++) {
    for (const [i, record] of records.entries()) {
      const s = gpu.step('bench');
      record(s);
      s.submit();
      await gpu.sync();
      const k = await gpu.profiler!.collect();
      if (r > 0) ms[i]!.push(k.reduce((x, y) => x + y.ms, 0));
    }
  }
  return ms.map(med);
}

/** dpre = (dout · Wᵀ) ⊙ gelu'(pre) at mqg-tiny's MLP shape: gemm + geluBackward (before) vs the dactivation epilogue (after). */
async function fusedGeluBackward(gpu: GPUContext): Promise<{ before: number; after: number }> {
  const BT = 1024, C = 128, H = 512, dt = gpu.precision;
  const dout = gpu.tensor([BT * C], dt, 'dout'), w = gpu.tensor([H * C], dt, 'w'), pre = gpu.tensor([BT * H], dt, 'pre'), d = gpu.tensor([BT * H], dt, 'dpre');
  const [before, after] = await interleavedGpuMs(gpu, [
    (s) => {
      gemm(s, d, dout, w, { M: BT, N: H, K: C, transB: true });
      geluBackward(s, d, pre, d, BT * H);
    },
    (s) => gemm(s, d, dout, w, { M: BT, N: H, K: C, transB: true, dactivation: 'gelu_new', preact: pre }),
  ], 6);
  for (const t of [dout, w, pre, d]) t.buffer.destroy();
  return { before: before!, after: after! };
}

/** The residual add and ln_2 of one mqg-tiny block (B·T = 1024, C = 128): residual pass + layernorm (before) vs the fused pass (after). */
async function fusedResidualLayernorm(gpu: GPUContext): Promise<{ before: number; after: number }> {
  const BT = 1024, C = 128, dt = gpu.precision;
  const f32 = (label: string) => gpu.tensor([BT * C], 'f32', label);
  const res = f32('residual'), proj = f32('proj'), res2 = f32('residual2'), ln = gpu.tensor([BT * C], dt, 'ln2');
  const mean = gpu.tensor([BT], 'f32', 'mean'), rstd = gpu.tensor([BT], 'f32', 'rstd');
  const w = gpu.tensor([C], dt, 'w', new Float32Array(C).fill(1)), b = gpu.tensor([C], dt, 'b');
  const [before, after] = await interleavedGpuMs(gpu, [
    (s) => {
      residualForward(s, res2, res, proj, BT * C);
      layernormForward(s, ln, mean, rstd, res2, w, b, BT, C);
    },
    (s) => residualLayernormForward(s, res2, ln, mean, rstd, res, proj, w, b, BT, C),
  ], 6);
  for (const t of [res, proj, res2, ln, mean, rstd, w, b]) t.buffer.destroy();
  return { before: before!, after: after! };
}

/**
 * The matmul variant the tuner chose for this run (objective: every GEMM of the step weighted by its
 * calls) against the one the previous objective picks (six of the step's shapes, each counted once,
 * so the lm_head's products outweighed 16 weight-gradient GEMMs): tuned again here without saving,
 * then both timed on whole training steps, interleaved. The run's record is restored after.
 */
async function tuningObjectives(gpu: GPUContext, m: { C: number; V: number; BT: number }, trainStep: (i: number) => Promise<unknown>) {
  const current = matmulTuneRecord(gpu);
  if (!current) return undefined; // a forced variant or no tuning: nothing to compare
  const { C, V, BT } = m, H = 4 * C;
  const earlier: Shape[] = [[BT, 3 * C, C, false, false], [BT, H, C, false, false], [BT, C, H, false, false], [BT, H, C, false, true], [C, H, BT, true, false], [BT, V, C, false, true]];
  let old;
  try {
    old = await tuneMatmul(gpu, { force: true, persist: false, shapes: earlier });
  } finally {
    recordMatmulTune(gpu, current, false);
  }
  const ms: [number[], number[]] = [[], []];
  for (let i = 0; i < 7; i++) {
    for (const [j, v] of [old.variant, current.variant].entries()) {
      setMatmulVariant(gpu, v);
      const t0 = performance.now();
      await trainStep(100 + i);
      if (i > 0) ms[j]!.push(performance.now() - t0);
    }
  }
  setMatmulVariant(gpu, null);
  return { before: variantName(old.variant), after: variantName(current.variant), beforeMs: med(ms[0]), afterMs: med(ms[1]) };
}

/** Attention forward + backward of one mqg-tiny layer (B 8, T 128, C 128, 4 heads) under two layouts: the untuned default vs the tuned choice. */
async function attentionLayouts(gpu: GPUContext, tuned: AttentionVariant): Promise<{ before: number; after: number }> {
  const B = 8, T = 128, C = 128, NH = 4, dt = gpu.precision;
  const qkv = gpu.tensor([B * T * 3 * C], dt, 'qkv', Float32Array.from({ length: B * T * 3 * C }, (_, i) => Math.sin(i) * 0.5));
  const dout = gpu.tensor([B * T * C], dt, 'dout', Float32Array.from({ length: B * T * C }, (_, i) => Math.cos(i)));
  const out = gpu.tensor([B * T * C], dt, 'out'), dqkv = gpu.tensor([B * T * 3 * C], dt, 'dqkv');
  const lse = gpu.tensor([B * NH * T], 'f32', 'lse'), delta = gpu.tensor([B * NH * T], 'f32', 'delta');
  const under = (v: AttentionVariant) => (s: Step) => {
    setAttentionVariant(gpu, v);
    attentionForward(s, out, lse, qkv, B, T, C, NH);
    attentionBackward(s, dqkv, delta, dout, out, lse, qkv, B, T, C, NH);
    setAttentionVariant(gpu, null);
  };
  const [before, after] = await interleavedGpuMs(gpu, [under({ kind: 'subgroup', wg: 8, rows: 1 }), under(tuned)], 6);
  for (const t of [qkv, dout, out, dqkv, lse, delta]) t.buffer.destroy();
  return { before: before!, after: after! };
}

/**
 * The row kernels of mqg-tiny's step (a residual add + layernorm forward and a layernorm backward on
 * 1024×128, the cross-entropy forward + backward on 1024×4096) under the default layouts (8×8,
 * wg64) and the tuned ones (rows-tune.ts), interleaved. Undefined when nothing was tuned or the
 * tuned layouts are the defaults.
 */
async function rowLayouts(gpu: GPUContext, BT: number, C: number, Vp: number): Promise<{ tuned: string; before: number; after: number } | undefined> {
  const rec = rowTuneRecords(gpu, { C, Vp });
  if (!rec) return undefined;
  const ln = rec.layernorm.variant, wg = rec.crossEntropy.variant;
  const defaults = { ln: DEFAULT_LAYERNORM_LAYOUT, wg: defaultCrossEntropyWorkgroup(Vp) };
  if (layernormLayoutName(ln) === layernormLayoutName(defaults.ln) && wg === defaults.wg) return undefined;
  const dt = gpu.precision;
  const t = (n: number, dtype: Precision, label: string) => gpu.tensor([n], dtype, label, Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37)));
  const res = t(BT * C, 'f32', 'res'), inp = t(BT * C, 'f32', 'inp'), add = t(BT * C, 'f32', 'add'), out = t(BT * C, dt, 'out');
  const mean = t(BT, 'f32', 'mean'), rstd = gpu.tensor([BT], 'f32', 'rstd', new Float32Array(BT).fill(1));
  const w = t(C, dt, 'w'), b = t(C, dt, 'b'), dout = t(BT * C, dt, 'dout'), dinp = t(BT * C, 'f32', 'dinp'), copy = t(BT * C, dt, 'copy');
  const dw = t(C, 'f32', 'dw'), db = t(C, 'f32', 'db'), scratch = createLayernormScratch(gpu, BT, C);
  const logits = t(BT * Vp, dt, 'logits'), losses = t(BT, 'f32', 'losses'), scale = gpu.tensor([1], 'f32', 'scale', [1]);
  const targets = gpu.tensor([BT], 'i32', 'targets', Int32Array.from({ length: BT }, (_, i) => (i * 7919) % Vp));
  const under = (l: LayernormLayout, n: number) => (s: Step) => {
    setLayernormLayout(gpu, l);
    setCrossEntropyWorkgroup(gpu, n);
    residualLayernormForward(s, res, out, mean, rstd, inp, add, w, b, BT, C);
    layernormBackward(s, dinp, dw, db, scratch, dout, res, w, mean, rstd, BT, C, copy);
    crossEntropyForwardBackward(s, losses, logits, targets, scale, BT, Vp, Vp, { dlossMean: 0 }); // dlogits 0: the same work every round
    setLayernormLayout(gpu, null);
    setCrossEntropyWorkgroup(gpu, null);
  };
  const [before, after] = await interleavedGpuMs(gpu, [under(defaults.ln, defaults.wg), under(ln, wg)], 6);
  for (const x of [res, inp, add, out, mean, rstd, w, b, dout, dinp, copy, dw, db, scratch, logits, losses, scale, targets]) x.buffer.destroy();
  return { tuned: `layernorm ${layernormLayoutName(ln)}, cross-entropy wg${wg}`, before: before!, after: after! };
}

/**
 * CPU microseconds (process CPU time, which load on the machine inflates less than wall time) to
 * record one dispatch, over steps of `n` small GEMMs: one compute pass per dispatch vs one per step.
 * Measured up to the submit, while the GPU is idle (the previous step was waited for), so the time is
 * ours and Dawn's recording, not lavapipe's execution.
 */
async function recordingCost(gpu: GPUContext, n: number, rounds: number): Promise<{ perDispatch: number; shared: number }> {
  const a = gpu.tensor([64 * 64], gpu.precision, 'rec.a'), out = gpu.tensor([64 * 64], gpu.precision, 'rec.out');
  const us = { true: [] as number[], false: [] as number[] };
  const paused = gpu.profiler?.paused;
  if (gpu.profiler) gpu.profiler.paused = true; // "before" is a pass per dispatch without timestamps, as before this change
  for (let r = 0; r <= rounds; r++) {
    for (const per of [true, false]) {
      gpu.passPerDispatch = per;
      const s = gpu.step('record');
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) gemm(s, out, a, a, { M: 64, N: 64, K: 64, transB: i % 2 === 1 });
      const c = process.cpuUsage(c0); // before submit: from there on lavapipe's threads run the work in this process
      s.submit();
      await gpu.sync();
      if (r > 0) us[`${per}`].push((c.user + c.system) / n);
    }
  }
  gpu.passPerDispatch = false;
  if (gpu.profiler) gpu.profiler.paused = !!paused;
  a.buffer.destroy();
  out.buffer.destroy();
  return { perDispatch: med(us.true), shared: med(us.false) };
}

/**
 * `--width-probe`: run in a child process at another lavapipe vector width (LP_NATIVE_VECTOR_WIDTH
 * set by the parent): matmul 1024³ f32 and the median of 5 f16 (else f32) mqg-tiny training steps,
 * as one JSON line. The model tunes on first use at that width like any run.
 */
async function widthProbe(): Promise<void> {
  const gpu = await createGPU({ precision: 'auto' });
  const config = makeConfig({ nLayer: 4, nHead: 4, nEmbd: 128, nPositions: 256, vocabSize: 4096 });
  const precision: Precision = gpu.hasF16 ? 'f16' : 'f32';
  const model = new GPT2(gpu, config, { precision });
  model.initRandom(1);
  const ms: number[] = [];
  for (let i = 0; i < 7; i++) {
    const b = randomBatch(4096, 8 * 128, 1000 + i);
    const t0 = performance.now();
    await model.trainStep(b.inputs, b.targets, 8, 128, { lr: 1e-4 });
    if (i >= 2) ms.push(performance.now() - t0);
  }
  model.destroy();
  const matmulF32 = await ourMatmul(gpu, 1024, 'f32');
  console.log(JSON.stringify({ adapter: gpu.adapterName, precision, stepMs: med(ms), matmulF32 }));
  process.exit(0);
}

/** The same figures at Mesa's default 256-bit vectors, from a child process (see gpu/node.ts), when this run is lavapipe at 512 bits. */
function probeAt256(): { adapter: string; precision: string; stepMs: number; matmulF32: number } | undefined {
  try {
    const out = execFileSync(process.execPath, [process.argv[1]!, '--width-probe'], {
      encoding: 'utf8', env: { ...process.env, LP_NATIVE_VECTOR_WIDTH: '256' }, stdio: ['ignore', 'pipe', 'ignore'], timeout: 600_000,
    });
    return JSON.parse(out.trim().split('\n').pop()!);
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  if (has('--readme-only')) {
    console.log(writeReadmeTable());
    process.exit(0);
  }
  if (has('--width-probe')) return widthProbe();
  const steps = Number(process.env.BENCH_STEPS ?? 5);
  const peers = !has('--no-peers');
  const notes: string[] = [];
  const load = (await import('node:os')).loadavg();
  const result: BenchResult = {
    date: new Date().toISOString(), cpu: cpuModel(), cores: cores(), adapter: '', load, steps,
    train: [], matmul: [], ratios: {}, goals: [], beforeAfter: [], notes,
  };
  console.log(`CPU: ${result.cpu} (${result.cores} cores), load average ${load.map((x) => x.toFixed(1)).join(' ')}`);

  const gpu = await createGPU({ precision: 'auto', profile: true });
  result.adapter = gpu.adapterName;
  console.log(`adapter: ${gpu.adapterName}`);
  if (gpu.profiler) gpu.profiler.paused = true;
  gpu.passPerDispatch = false;

  // ---- models: ours in each precision the adapter has, the peers on the same config
  const shape = { nLayer: 4, nHead: 4, nEmbd: 128, vocabSize: 4096, maxT: 256 };
  const B = 8, T = 128, name = 'mqg-tiny (4L, 4H, 128, V 4096)';
  const config = makeConfig({ nLayer: shape.nLayer, nHead: shape.nHead, nEmbd: shape.nEmbd, nPositions: shape.maxT, vocabSize: shape.vocabSize });
  const precisions: Precision[] = gpu.hasF16 ? ['f16', 'f32'] : ['f32'];
  const ours = precisions.map((precision) => {
    const model = new GPT2(gpu, config, { precision });
    model.initRandom(1);
    return { precision, model };
  });
  const adam = { lr: 1e-4 };
  type Runner = { system: string; precision: string; params: number; step: (i: number) => Promise<unknown>; ms: number[] };
  const runners: Runner[] = ours.map(({ precision, model }) => ({
    system: 'mqg-webgpu', precision, params: model.params.slots.reduce((n, s) => n + s.numel, 0), ms: [],
    step: (i) => {
      const b = randomBatch(shape.vocabSize, B * T, 1000 + i);
      return model.trainStep(b.inputs, b.targets, B, T, adam);
    },
  }));
  let tfjsModel: TfjsGPT2 | undefined, jaxModel: JaxGPT2 | undefined;
  if (peers) {
    try {
      tfjsModel = new TfjsGPT2(await initTfjsWebGPU(), shape);
      const m = tfjsModel;
      runners.push({ system: 'TensorFlow.js WebGPU', precision: 'f32', params: m.numParams, ms: [], step: (i) => {
        const b = tfjsBatch(shape.vocabSize, B, T, 2000 + i);
        return m.trainStep(b.inputs, b.targets, B, T);
      } });
    } catch (e) {
      notes.push(`TensorFlow.js WebGPU peer unavailable: ${(e as Error).message}`);
    }
    try {
      await initJaxWasm();
      jaxModel = new JaxGPT2(shape, B, T);
      const m = jaxModel;
      runners.push({ system: 'jax-js wasm', precision: 'f32', params: m.numParams, ms: [], step: (i) => {
        const b = randomBatch(shape.vocabSize, B * T, 3000 + i);
        return m.trainStep(b.inputs, b.targets);
      } });
    } catch (e) {
      notes.push(`jax-js wasm peer unavailable: ${(e as Error).message}`);
    }
  }
  // warm-up (our first step tunes matmul on this adapter unless a tune record exists)
  for (const r of runners) for (let i = 0; i < 2; i++) await r.step(i);
  for (let i = 0; i < steps; i++) {
    for (const r of runners) {
      const t0 = performance.now();
      await r.step(10 + i);
      r.ms.push(performance.now() - t0);
    }
    console.log(`round ${i + 1}/${steps}: ${runners.map((r) => `${r.system} ${r.precision} ${r.ms.at(-1)!.toFixed(0)} ms`).join(', ')}`);
  }
  for (const r of runners) {
    const ms = med(r.ms);
    const tps = (B * T * 1000) / ms;
    result.train.push({ config: name, system: r.system, precision: r.precision, B, T, msPerStep: ms, tokensPerSecond: tps, gflops: (trainingFlopsPerToken(config, T, r.params) * tps) / 1e9 });
  }

  // ---- the tuner's objective: the step's GEMMs weighted by calls vs the earlier six shapes unweighted
  const objective = await tuningObjectives(gpu, { C: shape.nEmbd, V: shape.vocabSize, BT: B * T }, runners[0]!.step);
  if (objective) {
    result.beforeAfter.push({
      change: `mqg-tiny training step (${runners[0]!.precision}): matmul variant the earlier tuning objective chose (six shapes, unweighted: ${objective.before}) → the step-weighted one's (every GEMM × its calls: ${objective.after})`,
      before: objective.beforeMs, after: objective.afterMs, unit: 'ms',
    });
  }

  // ---- top kernels (profiled steps: one pass per dispatch, timestamps on)
  gpu.passPerDispatch = true;
  gpu.profiler!.paused = false;
  let dispatches = 0;
  for (const { precision, model } of ours) {
    const prof = await profileTrainStep(gpu, model, B, T, { warmup: 1, steps: 1 });
    const row = result.train.find((r) => r.system === 'mqg-webgpu' && r.precision === precision)!;
    row.topKernels = prof.rows.slice(0, 3).map((r) => `${r.name} ${(100 * r.share).toFixed(0)}%`).join(', ');
    dispatches = prof.rows.reduce((n, r) => n + r.calls, 0);
  }
  const fused = await fusedGeluBackward(gpu);
  const rln = await fusedResidualLayernorm(gpu);
  const tunedAttention = attentionVariant(gpu, 32);
  const att = tunedAttention.kind === 'subgroup' && (tunedAttention.wg !== 8 || tunedAttention.rows !== 1) ? await attentionLayouts(gpu, tunedAttention) : undefined;
  const rows = await rowLayouts(gpu, B * T, shape.nEmbd, config.paddedVocabSize);
  const rec = await recordingCost(gpu, dispatches, 12); // last: it leaves one pass per step and the profiler paused
  result.beforeAfter.push({
    change: `CPU to record one dispatch (a step of ${dispatches} small GEMMs, as many dispatches as a ${name} training step): one compute pass per dispatch → one per step`,
    before: rec.perDispatch, after: rec.shared, unit: 'µs CPU',
  });
  result.beforeAfter.push({ change: `dpre of mqg-tiny's MLP (1024×512×128, ${gpu.precision}): GEMM + GELU backward pass → GEMM with the dactivation epilogue`, before: fused.before, after: fused.after, unit: 'ms GPU' });
  result.beforeAfter.push({ change: `residual add + ln_2 of a mqg-tiny block (1024×128, f32 stream): residual pass + layernorm → one fused pass`, before: rln.before, after: rln.after, unit: 'ms GPU' });
  if (att && tunedAttention.kind === 'subgroup') {
    result.beforeAfter.push({
      change: `attention forward + backward of a mqg-tiny layer (B8 T128 C128 NH4, ${gpu.precision}): default layout sg8x1 → tuned ${attentionVariantName(tunedAttention)}`,
      before: att.before, after: att.after, unit: 'ms GPU',
    });
  }
  if (rows) {
    result.beforeAfter.push({
      change: `row kernels of a mqg-tiny step (residual + layernorm forward and layernorm backward on ${B * T}×${shape.nEmbd}, cross-entropy on ${B * T}×${config.paddedVocabSize}, ${gpu.precision}): default layouts (layernorm 8x8, cross-entropy wg${defaultCrossEntropyWorkgroup(config.paddedVocabSize)}) → tuned (${rows.tuned})`,
      before: rows.before, after: rows.after, unit: 'ms GPU',
    });
  }
  gpu.profiler!.paused = true;
  gpu.passPerDispatch = false;
  for (const { model } of ours) model.destroy();
  tfjsModel?.dispose();
  jaxModel?.dispose();

  // ---- matmul 1024³
  const variant = variantName(matmulVariant(gpu));
  for (const p of precisions) result.matmul.push({ system: 'mqg-webgpu', precision: p, n: 1024, gflops: await ourMatmul(gpu, 1024, p), variant });
  const ourF32 = result.matmul.find((r) => r.system === 'mqg-webgpu' && r.precision === 'f32')!.gflops;
  // What bounds it: the same kernel with every operand load replaced by a constant (wrong results, only timed).
  setGemmSourceHook((_, code) => code.replace(/fn (loadA4|loadB4)\(i: u32\) -> vec4<f32> \{[^\n]*\}/g, (_m, fn: string) => `fn ${fn}(i: u32) -> vec4<f32> { return vec4<f32>(f32((i + arrayLength(&${fn === 'loadA4' ? 'a' : 'b'})) & 7u)); }`));
  const noLoads = await ourMatmul(gpu, 1024, 'f32');
  setGemmSourceHook(null);
  notes.push(`what bounds matmul 1024³ f32 here: ${ourF32.toFixed(1)} GFLOP/s as it is, ${noLoads.toFixed(1)} GFLOP/s with every operand load replaced by a constant (the arithmetic alone)`);

  // ---- lavapipe's vector width: this run (512 bits where gpu/node.ts chose it) vs Mesa's default 256, in a child process
  if (/llvmpipe.*512-bits/.test(gpu.adapterName)) {
    console.log('lavapipe at 256-bit vectors (child process): matmul and training step ...');
    const at256 = probeAt256();
    const ourStep = result.train.find((r) => r.system === 'mqg-webgpu' && r.precision === (at256?.precision ?? ''));
    if (at256 && ourStep) {
      result.beforeAfter.push({ change: `mqg-tiny training step (${at256.precision}): lavapipe at 256-bit vectors (Mesa's default; a child process) → 512-bit (gpu/node.ts on AVX-512)`, before: at256.stepMs, after: ourStep.msPerStep, unit: 'ms' });
      result.beforeAfter.push({ change: 'matmul 1024³ f32: lavapipe at 256-bit vectors → 512-bit', before: at256.matmulF32, after: ourF32, unit: 'GFLOP/s' });
    } else {
      notes.push('256-bit probe failed: no before/after for the vector width');
    }
  }

  if (peers) {
    try {
      const r = await tfjsMatmulBench(await initTfjsWebGPU(), 1024);
      result.matmul.push({ system: 'TensorFlow.js WebGPU', precision: 'f32', n: 1024, gflops: r.gflops });
    } catch (e) {
      notes.push(`TensorFlow.js matmul: ${(e as Error).message}`);
    }
    try {
      result.matmul.push({ system: 'jax-js wasm', precision: 'f32', n: 1024, gflops: await jaxMatmulBench(1024) });
    } catch (e) {
      notes.push(`jax-js matmul: ${(e as Error).message}`);
    }
  }
  const native = nativeSgemm(1024);
  if ('gflops' in native) result.matmul.push({ system: 'native sgemm (numpy + OpenBLAS)', precision: 'f32', n: 1024, gflops: native.gflops, note: `numpy ${native.numpy}, ${native.blas}` });
  else notes.push(native.error);

  if (has('--gpt2-124m')) {
    const c124 = makeConfig({ nLayer: 12, nHead: 12, nEmbd: 768, nPositions: 1024, vocabSize: 50257 });
    for (const precision of precisions) {
      const model = new GPT2(gpu, c124, { precision });
      model.initRandom(1);
      const ms: number[] = [];
      for (let i = 0; i < 3; i++) {
        const b = randomBatch(50257, 256, i);
        const t0 = performance.now();
        await model.trainStep(b.inputs, b.targets, 1, 256, adam);
        if (i > 0) ms.push(performance.now() - t0);
      }
      const tps = (256 * 1000) / med(ms);
      const params = model.params.slots.reduce((n, s) => n + s.numel, 0);
      result.train.push({ config: 'GPT-2 124M shape', system: 'mqg-webgpu', precision, B: 1, T: 256, msPerStep: med(ms), tokensPerSecond: tps, gflops: (trainingFlopsPerToken(c124, 256, params) * tps) / 1e9 });
      model.destroy();
    }
  }
  gpu.destroy();
  if (has('--kernels')) result.kernels = await runKernelBench({ runs: 3, maxTime: 0.5 });

  // ---- ratios and goals (issue 15)
  const tps = (system: string, precision?: string) => result.train.find((r) => r.config === name && r.system === system && (!precision || r.precision === precision))?.tokensPerSecond;
  const mm = (system: string) => result.matmul.find((r) => r.system.startsWith(system) && r.precision === 'f32')?.gflops;
  const best = Math.max(...result.train.filter((r) => r.config === name && r.system === 'mqg-webgpu').map((r) => r.tokensPerSecond));
  const add = (key: string, a: number | undefined, b: number | undefined, goal?: number) => {
    if (a === undefined || b === undefined) return;
    result.ratios[key] = a / b;
    if (goal !== undefined) result.goals.push({ name: key, value: a / b, goal, met: a / b >= goal });
  };
  add('training: mqg-webgpu (best precision) / jax-js wasm', best, tps('jax-js wasm'), 3);
  add('training: mqg-webgpu (best precision) / TensorFlow.js WebGPU', best, tps('TensorFlow.js WebGPU'), 10);
  add('training f32: mqg-webgpu / TensorFlow.js WebGPU', tps('mqg-webgpu', 'f32'), tps('TensorFlow.js WebGPU'));
  add('training f32: mqg-webgpu / jax-js wasm', tps('mqg-webgpu', 'f32'), tps('jax-js wasm'));
  add('matmul 1024³ f32: mqg-webgpu / native sgemm', mm('mqg-webgpu'), mm('native'), 0.2);
  add('matmul 1024³ f32: mqg-webgpu / TensorFlow.js WebGPU', mm('mqg-webgpu'), mm('TensorFlow.js'));
  add('matmul 1024³ f32: mqg-webgpu / jax-js wasm', mm('mqg-webgpu'), mm('jax-js'));
  add('matmul 1024³ f32: jax-js wasm / native sgemm', mm('jax-js'), mm('native'));

  console.log('\ntraining, tokens/s (median):');
  for (const r of result.train) console.log(`  ${r.config} ${r.system} ${r.precision}: ${r.tokensPerSecond.toFixed(0)} tokens/s (${r.msPerStep.toFixed(0)} ms/step, ${r.gflops.toFixed(2)} GFLOP/s)${r.topKernels ? `\n    top kernels: ${r.topKernels}` : ''}`);
  console.log('matmul 1024³:');
  for (const r of result.matmul) console.log(`  ${r.system} ${r.precision}: ${r.gflops.toFixed(2)} GFLOP/s${r.variant ? ` [${r.variant}]` : ''}${r.note ? ` (${r.note})` : ''}`);
  console.log('ratios:');
  for (const [k, v] of Object.entries(result.ratios)) {
    const g = result.goals.find((x) => x.name === k);
    console.log(`  ${k}: ${v.toFixed(2)}${g ? ` (goal ≥ ${g.goal}: ${g.met ? 'met' : 'not met'})` : ''}`);
  }
  console.log('before → after in this run:');
  for (const c of result.beforeAfter) console.log(`  ${c.change}: ${c.before.toFixed(2)} → ${c.after.toFixed(2)} ${c.unit}`);
  for (const n of notes) console.log(`note: ${n}`);

  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/${result.date.slice(0, 10)}.json`;
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nwrote ${file}`);
  if (!has('--no-readme')) console.log(writeReadmeTable());
  process.exit(0);
}

await main();
