// The workload the bench compares on: mqg-tiny (4 layers, 4 heads, 128 wide, vocabulary 4096) trained
// on B8×T128 random batches, ours in each precision the adapter has.
import type { GPUContext, Precision } from '../../src/gpu/index';
import { GPT2 } from '../../src/model/gpt2';
import { type GPT2Config, makeConfig } from '../../src/model/config';
import { randomBatch } from '../../src/train/profile';
import { BENCH_ADAM } from './timing';

/** The sizes, in the form the peers' models take. */
export const TINY_SHAPE = { nLayer: 4, nHead: 4, nEmbd: 128, vocabSize: 4096, maxT: 256 };
export const TINY_NAME = 'mqg-tiny (4L, 4H, 128, V 4096)';
/** Batch size and sequence length of every mqg-tiny step. */
export const TINY_B = 8, TINY_T = 128;

export const tinyConfig = (): GPT2Config =>
  makeConfig({ nLayer: TINY_SHAPE.nLayer, nHead: TINY_SHAPE.nHead, nEmbd: TINY_SHAPE.nEmbd, nPositions: TINY_SHAPE.maxT, vocabSize: TINY_SHAPE.vocabSize });

export interface Tiny {
  shape: typeof TINY_SHAPE;
  B: number;
  T: number;
  name: string;
  config: GPT2Config;
  /** Ours, f16 first where the adapter has it, then f32; randomly initialised (seed 1). */
  ours: { precision: Precision; model: GPT2 }[];
}

/** Our mqg-tiny models, one per precision, prepared for B×T (the first prepares the kernels: tunes once per adapter). */
export async function openTiny(gpu: GPUContext): Promise<Tiny> {
  const config = tinyConfig();
  const precisions: Precision[] = gpu.hasF16 ? ['f16', 'f32'] : ['f32'];
  const ours: Tiny['ours'] = [];
  for (const precision of precisions) {
    const model = new GPT2(gpu, config, { precision });
    model.initRandom(1);
    await model.prepare(TINY_B, TINY_T);
    ours.push({ precision, model });
  }
  return { shape: TINY_SHAPE, B: TINY_B, T: TINY_T, name: TINY_NAME, config, ours };
}

/** Our training step `i` on its own random batch (seed 1000 + i). */
export function tinyStep(tiny: Tiny, model: GPT2): (i: number) => Promise<unknown> {
  return (i) => {
    const b = randomBatch(tiny.shape.vocabSize, tiny.B * tiny.T, 1000 + i);
    return model.trainStep(b.inputs, b.targets, tiny.B, tiny.T, BENCH_ADAM);
  };
}
