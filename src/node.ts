// `mqg-webgpu/node`: the Node-only parts, file I/O. Checkpoint files (atomic writes, streamed
// reads), models from and to files, llm.c token shards, multiple-choice files, tokenizer files,
// and `trainRun`, the file-based training run behind `mqg train` (run directories, checkpoints,
// resume). Importing it opens WebGPU through Dawn.
import './gpu/node';
import './kernels/matmul-tune.node';
export { readCheckpoint, writeCheckpoint, writeFileAtomic, STREAM_ABOVE } from './model/checkpoint.node';
export type { ReadCheckpointOptions, WriteCheckpointOptions } from './model/checkpoint.node';
export { loadModel } from './model/load.node';
export { saveModel } from './model/io.node';
export { train as trainRun, TRAIN_DEFAULTS, TrainingError } from './train/trainer.node';
export type { TrainOptions, TrainSummary, StepRecord } from './train/trainer.node';
export { readShard, writeShard, listShards, prepareData } from './train/data/shards.node';
export type { ShardList, PrepareDataOptions, PrepareDataResult } from './train/data/shards.node';
export type { TokenizerRecord } from './train/consistency';
export { readMcqFile } from './train/data/mcq.node';
export { loadTokenizer, saveTokenizer } from './train/tokenizer/load.node';
