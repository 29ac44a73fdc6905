// Where a training step's GPU time goes: every kernel's time from timestamp queries, grouped by
// kernel, with GFLOP/s (matmul, attention: as their launchers declare FLOPs) or GB/s (bytes bound).

import type { GPUContext } from '../gpu/context';
import { GPT2 } from '../model/gpt2';
import type { GPT2Config } from '../model/config';
import { Rng } from '../util/rng';

export interface ProfileRow {
  name: string;
  calls: number;
  ms: number;
  share: number;
  gflops?: number;
  gbps?: number;
}

export interface StepProfile {
  rows: ProfileRow[];
  /** Sum of kernel times in one step. */
  gpuMs: number;
  /** CPU time to upload the batch, record and submit one step. */
  encodeMs: number;
  /** Wall time of one step including the loss readback. */
  wallMs: number;
  tokensPerSecond: number;
  /** Model FLOPs per token: 6·N + 12·L·C·T (forward + backward; N = parameters, lm_head tied). */
  flopsPerToken: number;
  achievedGflops: number;
}

export function trainingFlopsPerToken(c: GPT2Config, T: number, params: number): number {
  return 6 * params + 12 * c.nLayer * c.nEmbd * T;
}

/** Random tokens in [0, V). */
export function randomBatch(V: number, n: number, seed: number): { inputs: Int32Array; targets: Int32Array } {
  const rng = new Rng(seed);
  const inputs = Int32Array.from({ length: n }, () => rng.int(V));
  const targets = Int32Array.from({ length: n }, () => rng.int(V));
  return { inputs, targets };
}

/** Profile training steps of `model` (the context must have been created with profile: true). */
export async function profileTrainStep(gpu: GPUContext, model: GPT2, B: number, T: number, opts: { warmup?: number; steps?: number } = {}): Promise<StepProfile> {
  if (!gpu.profiler) throw new Error('profileTrainStep: create the GPU context with { profile: true } (needs timestamp-query)');
  const V = model.config.vocabSize;
  const adam = { lr: 1e-4, weightDecay: 0.1, gradClip: 1 };
  await model.prepare(B, T); // the kernels this adapter would train with (tuned at first use)
  for (let i = 0; i < (opts.warmup ?? 2); i++) {
    const b = randomBatch(V, B * T, i);
    await model.trainStep(b.inputs, b.targets, B, T, adam);
  }
  await gpu.profiler.collect();
  const steps = opts.steps ?? 3;
  const walls: number[] = [], encodes: number[] = [];
  const byName = new Map<string, { calls: number; ms: number; flops: number; bytes: number }>();
  let gpuMs = 0;
  for (let i = 0; i < steps; i++) {
    const b = randomBatch(V, B * T, 100 + i);
    const t0 = performance.now();
    await model.trainStep(b.inputs, b.targets, B, T, adam);
    walls.push(performance.now() - t0);
    encodes.push(model.lastEncodeMs);
    for (const k of await gpu.profiler.collect()) {
      const e = byName.get(k.name) ?? { calls: 0, ms: 0, flops: 0, bytes: 0 };
      e.calls++;
      e.ms += k.ms;
      e.flops += k.flops ?? 0;
      e.bytes += k.bytes ?? 0;
      byName.set(k.name, e);
      gpuMs += k.ms;
    }
  }
  const rows: ProfileRow[] = [...byName].map(([name, e]) => ({
    name,
    calls: e.calls / steps,
    ms: e.ms / steps,
    share: e.ms / gpuMs,
    gflops: e.flops ? e.flops / (e.ms * 1e6) : undefined,
    gbps: !e.flops && e.bytes ? e.bytes / (e.ms * 1e6) : undefined,
  }));
  rows.sort((a, b) => b.ms - a.ms);
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const wallMs = med(walls);
  const params = model.params.slots.reduce((n, s) => n + s.numel, 0);
  const flopsPerToken = trainingFlopsPerToken(model.config, T, params);
  const tokensPerSecond = (B * T * 1000) / wallMs;
  return { rows, gpuMs: gpuMs / steps, encodeMs: med(encodes), wallMs, tokensPerSecond, flopsPerToken, achievedGflops: (flopsPerToken * tokensPerSecond) / 1e9 };
}

export function formatProfile(p: StepProfile, title: string): string {
  const lines = [
    title,
    `step: ${p.wallMs.toFixed(1)} ms wall, ${p.gpuMs.toFixed(1)} ms GPU (sum of kernels), ${p.encodeMs.toFixed(2)} ms CPU to encode and submit`,
    `throughput: ${p.tokensPerSecond.toFixed(0)} tokens/s, ${p.achievedGflops.toFixed(2)} GFLOP/s (model FLOPs: 6N + 12·L·C·T = ${(p.flopsPerToken / 1e6).toFixed(1)} MFLOP per token)`,
    '',
    `${'kernel'.padEnd(44)} ${'calls'.padStart(6)} ${'ms'.padStart(9)} ${'share'.padStart(7)}  rate`,
  ];
  for (const r of p.rows) {
    const rate = r.gflops !== undefined ? `${r.gflops.toFixed(2)} GFLOP/s` : r.gbps !== undefined ? `${r.gbps.toFixed(2)} GB/s` : '';
    lines.push(`${r.name.padEnd(44)} ${String(r.calls).padStart(6)} ${r.ms.toFixed(3).padStart(9)} ${(100 * r.share).toFixed(1).padStart(6)}%  ${rate}`);
  }
  return lines.join('\n');
}

