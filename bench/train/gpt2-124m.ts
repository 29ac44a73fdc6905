// `--gpt2-124m`: our training step at GPT-2 124M's shape (B1×T256), in each precision; ours only.
import type { GPUContext, Precision } from '../../src/gpu/index';
import { GPT2 } from '../../src/model/gpt2';
import { makeConfig } from '../../src/model/config';
import { medianStepMs, numParams, trainRow } from './timing';
import type { ResultPart, TrainRow } from './types';

/** Median of 2 steps after one warm-up step (the first tunes on first use), per precision. */
export async function gpt2Shape(gpu: GPUContext, precisions: Precision[]): Promise<ResultPart> {
  const config = makeConfig({ nLayer: 12, nHead: 12, nEmbd: 768, nPositions: 1024, vocabSize: 50257 });
  const train: TrainRow[] = [];
  for (const precision of precisions) {
    const model = new GPT2(gpu, config, { precision });
    model.initRandom(1);
    await model.prepare(1, 256);
    const ms = await medianStepMs(model, 1, 256, { steps: 3, skip: 1, seed0: 0 });
    train.push(trainRow(config, 'GPT-2 124M shape', 'mqg-webgpu', precision, 1, 256, numParams(model), ms));
    model.destroy();
  }
  return { train };
}
