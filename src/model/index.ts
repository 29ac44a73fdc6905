// `mqg-webgpu/model`: GPT-2, its configs, generation, and the checkpoint formats (safetensors with
// Hugging Face names, llm.c .bin) on in-memory bytes. File I/O is in `mqg-webgpu/node`.
export * from './config';
export * from './safetensors';
export * from './hfnames';
export * from './llmc';
export * from './gpt2';
export * from './generate';
export * from './load';
export { ModelMemoryError, decaysByDefault } from './params';
export { memoryPlan, largestFittingBatch, formatMemoryTable, MEMORY_CATEGORIES } from './memory';
export type { MemoryPlan, MemoryPlanInput, MemoryCategory } from './memory';
export type { ParamStore, ParamSlot, Bank } from './params';

// The device, so this entry stands alone: `createGPU()` opens Dawn in Node, navigator.gpu in browsers.
export { createGPU, GPUContext } from '../gpu/context';
export type { CreateGPUOptions, Precision } from '../gpu/context';
