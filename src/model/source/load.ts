// The last step of loading, browser-safe: an opened checkpoint streamed into a new model, one
// tensor at a time (read, converted to the model's precision, uploaded), never all weights at once.
import type { GPUContext } from '../../gpu/context';
import { GPT2, type ModelOptions } from '../gpt2';
import { readParams, type OpenedCheckpoint } from './open';

/** Uploads queued between flushes, so the driver's staging copies never pile up for a large model. */
const FLUSH_BYTES = 256 << 20;

export async function buildModel(gpu: GPUContext, ck: OpenedCheckpoint, options: ModelOptions = {}): Promise<GPT2> {
  const model = new GPT2(gpu, ck.config, options);
  await streamWeights(model, ck);
  return model;
}

/** Stream an opened checkpoint's parameters into an existing model (same config), one tensor at a time. */
export async function streamWeights(model: GPT2, ck: OpenedCheckpoint): Promise<void> {
  const gpu = model.gpu;
  let queued = 0;
  await readParams(ck, async (name, values) => {
    model.params.set(name, values);
    queued += values.byteLength;
    if (queued >= FLUSH_BYTES) {
      gpu.device.queue.submit([]);
      await gpu.sync();
      queued = 0;
    }
  });
  await gpu.sync();
}
