// `mqg-webgpu/node`: the Node-only parts, file I/O. Checkpoints from files, model directories and
// the Hugging Face Hub (streamed reads, atomic writes), models from and to files, llm.c token shards, multiple-choice files, tokenizer files,
// and `trainRun`, the file-based training run behind `mqg train` (run directories, checkpoints,
// resume). Importing it opens WebGPU through Dawn.
import './gpu/node';
import './kernels/tune/store.node';
// Every entry that touches the GPU opens it the same way.
export { createGPU, GPUContext } from './gpu/context';
export type { CreateGPUOptions } from './gpu/context';
// The rules every command's outputs go through (checked before any work, written atomically).
export { checkOutput, prepareOutput, writeFileAtomicSync } from './util/outputs.node';
export type { OutputCheck } from './util/outputs.node';
export { OutputError } from './util/errors';
// Checkpoints from any source: a file, a Hugging Face model directory (sharded, with config.json),
// an hf:org/name[@rev] id (the local Hub cache, else downloaded); convert and write them atomically.
export * from './model/checkpoint.node';
export { writeFileAtomic, writeCheckpoint, convertCheckpoint } from './model/checkpoint-write.node';
export type { CheckpointFormat, ParamSource, WriteCheckpointOptions } from './model/checkpoint-write.node';
export { loadModel, saveModel, loadModelAndSource } from './model/io.node';
// LoRA adapters as PEFT directories; base + adapter loading; the adapter of a LoRA model to disk.
export { readAdapter, readAdapterConfig, writeAdapter } from './model/peft.node';
export { loadAdaptedModel, loadAdaptedModelAndSource, loadModelWithAdapter, saveAdapter } from './model/lora.node';
export { train as trainRun, TRAIN_DEFAULTS } from './train/trainer.node';
export { TrainingError } from './util/errors';
export type { TrainOptions, TrainSummary, StepRecord } from './train/trainer.node';
export { readShard, writeShard, listShards, prepareData } from './train/data/shards.node';
export type { ShardList, PrepareDataOptions, PrepareDataResult } from './train/data/shards.node';
export type { TokenizerRecord } from './train/consistency';
export { readMcqFile } from './train/data/mcq.node';
export { readMcqSource, readTextRows } from './train/data/mcq-source.node';
export type { McqSourceOptions } from './train/data/mcq-source.node';
export { parseHubDatasetId, dataSourceFiles } from './train/data/hub-dataset.node';
// `mqg questions`: textbooks -> multiple-choice questions, from an OpenAI-compatible endpoint or the offline cloze generator.
export { generateQuestions, QUESTIONS_DEFAULTS } from './train/questions/run.node';
export type { QuestionsOptions, QuestionsSummary, QuestionsProgress, QuestionsHooks } from './train/questions/run.node';
export { EndpointError } from './util/errors';
export { loadTokenizer, saveTokenizer } from './train/tokenizer/load.node';
