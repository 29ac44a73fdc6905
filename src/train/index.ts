// `mqg-webgpu/train`: tokenizers, in-memory data and token shards, learning-rate schedules,
// multiple-choice scoring, loss curves and the per-kernel step profiler. Browser-safe; the
// file-based trainer and shard files are in `mqg-webgpu/node`.
export * from './tokenizer/index';
export * from './data/index';
export * from './schedule';
export * from './mcq-eval';
export * from './plot';
export * from './profile';
export * from './finetune-mcq';
export * from '../model/mc-head';
export * from './loop';

// The device, so this entry stands alone: `createGPU()` opens Dawn in Node, navigator.gpu in browsers.
export { createGPU, GPUContext } from '../gpu/context';
export type { CreateGPUOptions, Precision } from '../gpu/context';
