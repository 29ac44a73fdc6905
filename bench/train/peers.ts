// Our training step against the peers' on the same mqg-tiny config: TensorFlow.js on its WebGPU
// backend (the same Dawn adapter) and jax-js on WebAssembly (the CPU peer), and their matmul 1024³.
// The steps alternate (ours f16, ours f32, TF.js, jax-js, again ...) after warm-up steps, so load
// from other work on the machine hits each alike; each synchronises once per step by reading the loss.
import { randomBatch } from '../../src/train/profile';
import { initTfjsWebGPU, TfjsGPT2, tfjsMatmulBench, randomBatch as tfjsBatch } from '../peers/tfjs';
import { JaxGPT2, initJaxWasm, jaxMatmulBench } from '../peers/jaxjs';
import { med, numParams, trainRow } from './timing';
import { type Tiny, tinyStep } from './tiny';
import type { MatmulRow, ResultPart, TrainRow } from './types';

export interface Runner {
  system: string;
  precision: string;
  params: number;
  step: (i: number) => Promise<unknown>;
  /** Wall ms of each timed step. */
  ms: number[];
}

export interface Contenders {
  /** Ours in each precision first, then the peers that could start. */
  runners: Runner[];
  /** Why a peer is missing. */
  notes: string[];
  /** Frees the peers' models (ours belong to the Tiny). */
  dispose(): void;
}

/** Our models' runners, and with `peers` the TF.js and jax-js models on the same shape. */
export async function openContenders(tiny: Tiny, peers: boolean): Promise<Contenders> {
  const { shape, B, T } = tiny;
  const notes: string[] = [];
  const runners: Runner[] = tiny.ours.map(({ precision, model }) => ({ system: 'mqg-webgpu', precision, params: numParams(model), ms: [], step: tinyStep(tiny, model) }));
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
  return { runners, notes, dispose: () => { tfjsModel?.dispose(); jaxModel?.dispose(); } };
}

/** Two warm-up steps each (our first tunes matmul on this adapter unless a tune record exists), then `steps` rounds, printed as they go; one training row per runner. */
export async function raceTrainingSteps(tiny: Tiny, runners: Runner[], steps: number): Promise<TrainRow[]> {
  for (const r of runners) for (let i = 0; i < 2; i++) await r.step(i);
  for (let i = 0; i < steps; i++) {
    for (const r of runners) {
      const t0 = performance.now();
      await r.step(10 + i);
      r.ms.push(performance.now() - t0);
    }
    console.log(`round ${i + 1}/${steps}: ${runners.map((r) => `${r.system} ${r.precision} ${r.ms.at(-1)!.toFixed(0)} ms`).join(', ')}`);
  }
  return runners.map((r) => trainRow(tiny.config, tiny.name, r.system, r.precision, tiny.B, tiny.T, r.params, med(r.ms)));
}

/** The peers' matmul 1024³ f32 (TF.js on the same adapter, jax-js on WebAssembly), or why not. */
export async function peerMatmuls(): Promise<ResultPart> {
  const matmul: MatmulRow[] = [], notes: string[] = [];
  try {
    const r = await tfjsMatmulBench(await initTfjsWebGPU(), 1024);
    matmul.push({ system: 'TensorFlow.js WebGPU', precision: 'f32', n: 1024, gflops: r.gflops });
  } catch (e) {
    notes.push(`TensorFlow.js matmul: ${(e as Error).message}`);
  }
  try {
    matmul.push({ system: 'jax-js wasm', precision: 'f32', n: 1024, gflops: await jaxMatmulBench(1024) });
  } catch (e) {
    notes.push(`jax-js matmul: ${(e as Error).message}`);
  }
  return { matmul, notes };
}
