// The options of `train` (the library function behind `mqg train`): their types, defaults and rules
// (range, --resume behaviour; see options.ts), and the combinations that cannot be honoured. The CLI
// renders the same rules as flags, with help, in src/cli/flags.ts.

import { existsSync } from 'node:fs';
import { DataError, UsageError } from '../util/errors';
import { type ScheduleName } from './schedule';
import { parseBytes } from './budget.node';
import { checkOptions, type OptionRules } from './options';
import { LORA_TRAIN_DEFAULTS, LORA_TRAIN_RULES, type LoraTrainOptions } from './lora.node';
import { DROPOUT_TRAIN_RULES, type DropoutTrainOptions } from './dropout';

/** The optimiser and schedule options every training command shares (`mqg train`, `mqg finetune-mcq`). */
export interface OptimizerOptions {
  /** The schedule's length in optimiser steps. */
  steps: number;
  lr: number;
  minLr: number;
  warmup: number;
  schedule: ScheduleName;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  gradClip: number;
  precision: 'auto' | 'f16' | 'f32';
  /** f16: initial dynamic loss scale. */
  lossScale: number;
}

/** The run options every training command shares. */
export interface RunOptions {
  evalEvery: number;
  saveEvery: number;
  keepLast: number;
  maxSkippedSteps: number;
  out: string;
  seed: number;
  resume: boolean;
  overwrite: boolean;
  logFormat: 'text' | 'jsonl';
}

export interface TrainOptions extends LoraTrainOptions, DropoutTrainOptions, OptimizerOptions, RunOptions {
  preset: string;
  init?: string;
  data?: string;
  valData?: string;
  tokenizer?: string;
  /** Vocab of the BPE trained on the default corpus. */
  vocabSize: number;
  batchSize: number;
  seqLen: number;
  gradAccum: number;
  /** Memory budget ("8G"; default: the adapter's, or the machine's for a software adapter). */
  maxMemory?: string;
  evalBatches: number;
  shuffle: boolean;
  /** Multiple-choice set evaluated at the end ('' = none; default: the corpus's set). */
  mcq?: string;
  mcqLimit: number;
  samplePrompt: string;
  sampleTokens: number;
}

export const PRESETS = ['mqg-tiny', 'mqg-small', 'gpt2', 'gpt2-medium', 'biomedlm'] as const;
const pos = { min: 1 } as const;
const fixed = { resume: 'fixed' } as const;
const applies = { resume: 'applies' } as const;

/** The optimiser options' rules (shared with finetune-mcq). */
export const OPTIMIZER_RULES: OptionRules<OptimizerOptions> = {
  steps: { type: 'int', ...pos, ...applies },
  lr: { type: 'number', min: 0, minExclusive: true, ...fixed },
  minLr: { type: 'number', min: 0, ...fixed },
  warmup: { type: 'int', min: 0, ...fixed },
  schedule: { choices: ['cosine', 'linear', 'constant'], ...fixed },
  weightDecay: { type: 'number', min: 0, ...fixed },
  beta1: { type: 'number', min: 0, max: 1, maxExclusive: true, ...fixed },
  beta2: { type: 'number', min: 0, max: 1, maxExclusive: true, ...fixed },
  eps: { type: 'number', min: 0, minExclusive: true, ...fixed },
  gradClip: { type: 'number', min: 0, ...fixed },
  precision: { choices: ['auto', 'f16', 'f32'], ...fixed },
  lossScale: { type: 'number', min: 1, max: 2 ** 24, ...fixed },
};

/** The run options' rules (shared with finetune-mcq). */
export const RUN_RULES: OptionRules<RunOptions> = {
  evalEvery: { type: 'int', min: 0, ...applies },
  saveEvery: { type: 'int', min: 0, ...applies },
  keepLast: { type: 'int', ...pos, ...applies },
  maxSkippedSteps: { type: 'int', min: 0, ...applies },
  out: { type: 'string', ...applies },
  seed: { type: 'int', min: 0, max: 2 ** 32 - 1, ...fixed },
  resume: { type: 'boolean', ...applies },
  overwrite: { type: 'boolean', ...fixed },
  logFormat: { choices: ['text', 'jsonl'], ...applies },
};

/** Every `train` option's rule; the CLI's `mqg train` flags are these, in this order. */
export const TRAIN_RULES: OptionRules<TrainOptions> = {
  preset: { choices: PRESETS, ...fixed },
  init: { type: 'string', ...fixed },
  data: { type: 'string', ...fixed },
  valData: { type: 'string', ...fixed },
  tokenizer: { type: 'string', ...fixed },
  vocabSize: { type: 'int', min: 257, max: 65535, ...fixed },
  batchSize: { type: 'int', ...pos, ...fixed },
  seqLen: { type: 'int', ...pos, ...fixed },
  gradAccum: { type: 'int', ...pos, ...fixed },
  ...OPTIMIZER_RULES,
  maxMemory: { type: 'string', ...applies },
  evalEvery: RUN_RULES.evalEvery,
  evalBatches: { type: 'int', ...pos, ...applies },
  saveEvery: RUN_RULES.saveEvery,
  keepLast: RUN_RULES.keepLast,
  maxSkippedSteps: RUN_RULES.maxSkippedSteps,
  out: RUN_RULES.out,
  seed: RUN_RULES.seed,
  resume: RUN_RULES.resume,
  overwrite: RUN_RULES.overwrite,
  shuffle: { type: 'boolean', ...fixed },
  logFormat: RUN_RULES.logFormat,
  mcq: { type: 'string', emptyMeans: 'none', ...applies },
  mcqLimit: { type: 'int', min: 0, ...applies },
  samplePrompt: { type: 'string', ...applies },
  sampleTokens: { type: 'int', min: 0, ...applies },
  ...DROPOUT_TRAIN_RULES,
  ...LORA_TRAIN_RULES,
};

export const TRAIN_DEFAULTS: TrainOptions = {
  preset: 'mqg-tiny',
  vocabSize: 2048,
  batchSize: 8,
  seqLen: 128,
  gradAccum: 1,
  steps: 200,
  lr: 2e-3,
  minLr: 2e-4,
  warmup: 20,
  schedule: 'cosine',
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  gradClip: 1,
  precision: 'auto',
  lossScale: 2 ** 14,
  evalEvery: 50,
  evalBatches: 8,
  saveEvery: 100,
  keepLast: 2,
  maxSkippedSteps: 10,
  out: 'runs/mqg-tiny',
  seed: 1337,
  resume: false,
  overwrite: false,
  shuffle: true,
  logFormat: 'text',
  mcqLimit: 0,
  samplePrompt: 'Question:',
  sampleTokens: 60,
  ...LORA_TRAIN_DEFAULTS,
};

/** Range and choice checks of every option (the rules the CLI parses with), plus the combinations
 *  that cannot be honoured. Throws UsageError naming the flag, DataError for a missing file. */
export function validateTrainOptions(o: TrainOptions): void {
  checkOptions('train', TRAIN_RULES, TRAIN_DEFAULTS, o);
  if (o.valData && !o.data) throw new UsageError('mqg train: --val-data needs --data (the bundled corpus has its own validation split)');
  if (o.init && o.preset !== TRAIN_DEFAULTS.preset) throw new UsageError(`mqg train: --preset ${o.preset} and --init exclude each other (the checkpoint decides the model's shape)`);
  if (o.resume && o.overwrite) throw new UsageError('mqg train: --overwrite and --resume exclude each other (--resume continues the run, --overwrite replaces it)');
  if (o.minLr > o.lr) throw new UsageError(`mqg train: --min-lr ${o.minLr} is above --lr ${o.lr}`);
  if (o.quantize && !o.lora && !o.initAdapter && !o.resume) throw new UsageError(`mqg train: --quantize ${o.quantize} needs --lora R (or --init-adapter): a quantized base is frozen, only LoRA adapters train on it`);
  if (o.data && !existsSync(o.data)) throw new DataError(`--data: no such file or directory: ${o.data}`);
  if (o.valData && !existsSync(o.valData)) throw new DataError(`--val-data: no such file or directory: ${o.valData}`);
  if (o.init && !existsSync(o.init)) throw new DataError(`--init: no such checkpoint: ${o.init}`);
  if (o.initAdapter && !existsSync(o.initAdapter)) throw new DataError(`--init-adapter: no such adapter directory: ${o.initAdapter}`);
  if (o.mcq && !existsSync(o.mcq)) throw new DataError(`--mcq: no such file: ${o.mcq}`);
  if (o.maxMemory !== undefined) parseBytes(o.maxMemory, 'mqg train: --max-memory');
}
