// `mqg-webgpu/model`: GPT-2, its configs, generation, and the loader pipeline's browser-safe steps
// (safetensors, PyTorch, llm.c .bin on bytes or Blobs; Hugging Face names). File I/O is in `mqg-webgpu/node`.
export * from './config';
// The loader pipeline's browser-safe steps (source/*.ts; the Node steps are in node.ts).
export * from './source/bytes';
export * from './source/dtype';
export * from './source/safetensors';
export * from './source/safetensors-write';
export * from './source/torch';
export { CheckpointError, LLMC_MAGIC, LLMC_VERSION_FP32, LLMC_VERSION_BF16, LLMC_HEADER_BYTES, transpose, openLlmc } from './source/llmc';
export * from './source/llmc-write';
export * from './source/tensor-file';
export * from './source/tensors';
export * from './source/config';
export * from './source/names';
export * from './source/open';
export * from './source/load';
export * from './source/url';
export * from './gpt2';
export * from './generate';
export { DROPOUT_SITE, dropoutSite, type DropoutOptions, type DropoutRates } from './dropout';
export * from './load';
export { decaysByDefault } from './params';
export { ModelMemoryError } from '../util/errors';
export { memoryPlan, largestFittingBatch, formatMemoryTable, MEMORY_CATEGORIES } from './memory';
export type { MemoryPlan, MemoryPlanInput, MemoryCategory } from './memory';
export type { ParamStore, ParamSlot, Bank } from './params';

// LoRA: PEFT adapter files (browser-safe), adapters on the GPU (ModelOptions.lora), their memory.
export * from './peft';
export { LoraAdapters, loraConfigFromOptions, type LoraOptions } from './lora';
export { loraMemory, type LoraMemory } from './lora-memory';

// The device, so this entry stands alone: `createGPU()` opens Dawn in Node, navigator.gpu in browsers.
export { createGPU, GPUContext } from '../gpu/context';
export type { CreateGPUOptions, Precision } from '../gpu/context';

// Quantized frozen bases (ModelOptions.quantize): GGML Q8_0 / Q4_0 block weights and their memory.
export { QUANT_TYPES, QuantizedBase, quantizedLayout, quantizedBaseBytes, skippedQuantizationNote, type QuantType, type QuantizableWeight } from './quantized';
