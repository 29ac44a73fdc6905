// Errors raised by the GPU runtime. Each names what went wrong and, where known, the kernel.

/** Base class of every error the library raises on purpose: its message names the problem (file, tensor, field, flag). */
export class MQGError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** No adapter, or a device could not be created with what was asked. */
export class GPUInitError extends MQGError {}

/** The device was lost; every later call raises this instead of hanging. */
export class DeviceLostError extends MQGError {}

/** A WebGPU validation or out-of-memory error, with the label of the kernel that caused it. */
export class GPUValidationError extends MQGError {}

/** A kernel was dispatched with a missing, extra or wrongly typed binding or uniform. */
export class BindingError extends MQGError {}

export const SETUP_HINT =
  'Run `npm run setup`: on Debian/Ubuntu it installs a software Vulkan driver new enough for Dawn ' +
  '(Mesa 24+, mesa-vulkan-drivers from bookworm-backports on Debian 12); elsewhere install your GPU vendor\'s Vulkan/Metal/D3D12 driver.';

/** Bad input data: a token shard, a text file, a tokenizer.json, an MCQ file (names the file and what is wrong). */
export class DataError extends MQGError {}

/** A model, a tokenizer and token shards that do not belong together (vocab size or tokenizer hash). */
export class ConsistencyError extends DataError {}

/** A run directory that cannot be used as asked (exists, not writable, no checkpoint to resume). */
export class RunDirError extends MQGError {}

/** Runs `read` (a parser of user data) and turns its plain errors into DataErrors with the same message. */
export function asDataError<T>(read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof MQGError || !(e instanceof Error)) throw e;
    throw new DataError(e.message);
  }
}
