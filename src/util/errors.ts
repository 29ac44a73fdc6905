// Every error class the library raises on purpose, in one module at the bottom of the layers so that
// any room can throw them. Each message names the problem (file, row, field, flag, tensor, kernel);
// the CLI (cli/report.ts) turns them into one line and an exit code (2 for UsageError, 1 otherwise).

/** Base class of every error the library raises on purpose: its message names the problem (file, tensor, field, flag). */
export class MQGError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

// ---- the GPU runtime

/** No adapter, or a device could not be created with what was asked. */
export class GPUInitError extends MQGError {}

/** The device was lost; every later call raises this instead of hanging. */
export class DeviceLostError extends MQGError {}

/** A WebGPU validation or out-of-memory error, with the label of the kernel that caused it. */
export class GPUValidationError extends MQGError {}

/** A kernel was dispatched with a missing, extra or wrongly typed binding or uniform. */
export class BindingError extends MQGError {}

/** An object (GPUContext, model) was used after `destroy()`. */
export class DisposedError extends MQGError {}

export const SETUP_HINT =
  'Run `npm run setup`: on Debian/Ubuntu it installs a software Vulkan driver new enough for Dawn ' +
  '(Mesa 24+, mesa-vulkan-drivers from bookworm-backports on Debian 12); elsewhere install your GPU vendor\'s Vulkan/Metal/D3D12 driver.';

// ---- models and checkpoints

/** Any unreadable, inconsistent or unwritable checkpoint or model config. */
export class CheckpointError extends MQGError {}

/** A model would need more GPU memory than allowed (ModelOptions.maxMemoryBytes) or than a binding can hold; the message gives the numbers. */
export class ModelMemoryError extends MQGError {}

// ---- data

/** Bad input data: a token shard, a text file, a tokenizer.json, an MCQ file (names the file and what is wrong). */
export class DataError extends MQGError {}

/** A model, a tokenizer and token shards that do not belong together (vocab size or tokenizer hash). */
export class ConsistencyError extends DataError {}

/** A multiple-choice record that does not fit its format (names the file, line and field). */
export class McqFormatError extends MQGError {}

/** Runs `read` (a parser of user data) and turns its plain errors into DataErrors with the same message. */
export function asDataError<T>(read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof MQGError || !(e instanceof Error)) throw e;
    throw new DataError(e.message);
  }
}

// ---- question generation

/** A question generator's endpoint refused a request, or failed after its retries (the message never holds the API key). */
export class EndpointError extends MQGError {
  /** True when the server refused the request (a 4xx other than 429): retrying or asking again would fail alike. */
  constructor(message: string, readonly refused = false) {
    super(message);
  }
}

// ---- training runs

/** Options that cannot be honoured together, or out of their range (names the option): exit code 2 in the CLI. */
export class UsageError extends MQGError {}

/** A run directory that cannot be used as asked (exists, not writable, no checkpoint to resume). */
export class RunDirError extends MQGError {}

/** An output a command cannot write as asked: under /proc, not writable, the wrong kind, existing
 *  without --overwrite, or the same as an input (names the flag and the path; util/outputs.node.ts). */
export class OutputError extends MQGError {}

/** A training run that cannot go on (it would not fit the memory budget, or a step diverged). */
export class TrainingError extends MQGError {}

/** A non-finite loss or gradient ended the run. */
export class NonFiniteError extends MQGError {
  constructor(message: string, readonly step: number, readonly lastGoodCheckpoint: number | undefined) {
    super(message);
  }
}

// ---- serving

/**
 * A request `mqg serve` answers with an error instead of a result: its HTTP status (400 for a bad
 * request, 401, 404, 405, 413, 503 when the queue is full), the OpenAI error `type` and the request
 * field at fault (`param`, null when none).
 */
export class RequestError extends MQGError {
  constructor(message: string, readonly param: string | null = null, readonly status = 400, readonly type = 'invalid_request_error') {
    super(message);
  }
}

/** A request whose client went away (or a server that is closing) before it was served. */
export class CancelledError extends MQGError {}
