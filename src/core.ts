// The package root's surface, the same in Node and in browsers: the device, the model, loading
// and saving in memory, generation, scoring, training on in-memory data, tokenizers, and the
// errors they throw. Kernels are in `mqg-webgpu/kernels`, model internals and checkpoint formats
// in `mqg-webgpu/model`, training pieces in `mqg-webgpu/train`, file I/O in `mqg-webgpu/node`.

import type { Gpt2Tokenizer } from './train/tokenizer/gpt2';

// The device
export { createGPU, GPUContext, REQUIRED_LIMITS } from './gpu/context';
export { DisposedError } from './util/errors';
export type { CreateGPUOptions, Precision, AdapterSummary } from './gpu/context';
export { MQGError, GPUInitError, DeviceLostError, GPUValidationError, BindingError } from './util/errors';
export { doctorReport } from './gpu/doctor';

// The model
export { GPT2 } from './model/gpt2';
export type { ModelOptions, AdamWOptions, LossScaleOptions } from './model/gpt2';
export type { DropoutOptions, DropoutRates } from './model/dropout';
export { presetConfig, makeConfig, PRESET_NAMES } from './model/config';
export { CheckpointError } from './util/errors';
export type { GPT2Config, GPT2ConfigInit, PresetName } from './model/config';
export type { Activation } from './util/activation';
export { ModelMemoryError } from './util/errors';

// LoRA: adapters in PEFT's layout (ModelOptions.lora trains them on a frozen base)
export { parseAdapterConfig, serializeAdapterConfig, parseAdapterWeights, serializeAdapterWeights, mergeAdapter, loraModules } from './model/peft';
export type { LoraConfig, LoraWeights, LoraModule } from './model/peft';
export type { LoraOptions } from './model/lora';
export type { QuantType } from './model/quantized';

// Loading and saving in memory (the root's `loadModel` is per platform: see index.ts / browser.ts)
export { modelToSafetensors } from './model/load';
export type { ModelSource, LoadModelOptions, SerializeModelOptions } from './model/load';
// A Hugging Face model directory on the web, read by byte ranges (fetch; the browser and Node 20);
// its pieces (openModelUrl, urlSource) are in mqg-webgpu/model with the loader pipeline's
export { loadModelFromUrl } from './model/source/url';
export type { LoadModelUrlOptions, UrlLoadProgress } from './model/source/url';

// Generation and scoring
export { generate } from './model/generate';
export type { GenerateOptions } from './model/generate';
export { scoreQuestion, evaluateMcq } from './train/mcq-eval';
export type { McqScore, McqReport } from './train/mcq-eval';
export { parseMcqJsonl } from './train/data/mcq';
export type { McqRecord } from './train/data/mcq';

// Training on in-memory data: the one loop every trainer uses (mqg train, fine-tuning, LoRA)
export { trainLoop as train } from './train/loop';
export { NonFiniteError } from './util/errors';
export type { TrainLoopOptions, TrainLoopSummary, StepReport, StepStats, MicroStep, MicroStepOptions } from './train/loop';
export { DataLoader } from './train/data/loader';
export type { DataLoaderOptions, Batch } from './train/data/loader';
export { learningRate } from './train/schedule';
export type { ScheduleOptions, ScheduleName } from './train/schedule';

// Tokenizers
export { gpt2Tokenizer, BpeTokenizer, hfTokenizerFromJSON, trainBpe } from './train/tokenizer/index';
export type { Tokenizer, EncodeOptions, TrainBpeOptions, HfLoadOptions, Gpt2Tokenizer } from './train/tokenizer/index';

/**
 * GPT-2's tokenizer (r50k_base), loaded on first use: its BPE ranks (about 0.5 MB of JavaScript)
 * are fetched only when this is called, as a separate chunk in a bundled app. The same shared
 * instance as `gpt2Tokenizer()`, which loads them with the importing module instead.
 */
export async function loadGpt2Tokenizer(): Promise<Gpt2Tokenizer> {
  return (await import('./train/tokenizer/gpt2')).gpt2Tokenizer();
}
