// The last step of loading, browser-safe, and the only way a checkpoint's weights reach a model:
// an opened checkpoint (source/open.ts; checkpoint.node.ts opens files) streamed into a new model
// (buildModel) or an existing one (streamWeights), one tensor at a time (read, converted to the
// model's precision, uploaded), never all weights at once. The uploads are flushed through
// gpu.flushUploads(), so nothing here touches the device. Each tensor's read buffer goes back to
// the pool (bytes.ts recycleBytes) once uploaded, so the next reads land in memory already paged in.
import type { GPUContext } from '../../gpu/context';
import { GPT2, type ModelOptions } from '../gpt2';
import { drainBytePool, recycleBytes } from './bytes';
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
  try {
    await readParams(ck, async (name, values) => {
      model.setParameter(name, values); // a quantized block weight is quantized here, one tensor at a time
      // setParameter copied (uploaded) the values: their read buffer serves a later tensor's read
      recycleBytes(values.buffer);
      queued += values.byteLength;
      if (queued >= FLUSH_BYTES) {
        await gpu.flushUploads();
        queued = 0;
      }
    });
  } finally {
    drainBytePool();
  }
  await gpu.sync();
}
