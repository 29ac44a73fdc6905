// The package root in Node (the `node` export condition): the same surface as in browsers, with
// WebGPU through Dawn, and `loadModel` / `saveModel` / `loadTokenizer` that also take file paths.
import './gpu/node';
import './kernels/matmul-tune.node';
export * from './core';
export { loadModel } from './model/load.node';
export { saveModel } from './model/io.node';
export { loadTokenizer, saveTokenizer } from './train/tokenizer/load.node';
