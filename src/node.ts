// `mqg-webgpu/node`: the Node-only parts, file I/O. Checkpoint files (atomic writes, streamed
// reads), llm.c token shards, multiple-choice files, tokenizer files, the file-based trainer
// behind `mqg train`, and the on-disk matmul tuning cache. Importing it opens WebGPU through Dawn.
import './gpu/node';
export * from './kernels/matmul-tune.node';
export * from './model/checkpoint.node';
export { loadModel } from './model/load.node';
export { saveModel } from './model/io.node';
export * from './train/trainer.node';
export * from './train/data/shards.node';
export * from './train/data/mcq.node';
export * from './train/tokenizer/load.node';
