// Every WGSL kernel's launcher. Each records into a Step and never reads back.
export * from './matmul';
export * from './qmatmul';
export * from './attention';
export * from './decode';
export * from './layernorm';
export * from './gelu';
export * from './residual';
export * from './dropout';
export * from './philox';
export * from './encoder';
export * from './classifier';
export * from './reduce';
export * from './adamw';
export * from './mchead';
// Per-adapter tuning of the kernels with choices (matmul, attention, layernorm, cross-entropy).
export * from './tune/index';

// The runtime types the launchers take: a Step records dispatches into one command encoder
// (`gpu.step(label)`), tensors are `gpu.tensor(shape, dtype, label)`.
export { Tensor } from '../gpu/tensor';
export type { DType } from '../gpu/tensor';
export type { Step, Grid, Bindings, BindingValue, DispatchCost } from '../gpu/context';
export type { KernelSource } from '../gpu/kernel';
export { setKernelSourceHook, type KernelSourceHook } from '../gpu/sources';

// The device, so this entry stands alone: `createGPU()` opens Dawn in Node, navigator.gpu in browsers.
export { createGPU, GPUContext } from '../gpu/context';
export type { CreateGPUOptions, Precision } from '../gpu/context';
