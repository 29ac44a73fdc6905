// The package root in Node (the `node` export condition): the same surface as in browsers, with
// WebGPU through Dawn and a `loadModel` that also takes file paths. Writing files (saveModel,
// tokenizer files, the file-based trainer) is in `mqg-webgpu/node`.
import './gpu/node';
import './kernels/tune/store.node';
export * from './core';
export { loadModel } from './model/io.node';
