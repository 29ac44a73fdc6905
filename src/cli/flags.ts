// The flag tables of the commands that train: one per command, each the library's option rules
// (src/train/options.ts: type, range, choices, --resume behaviour) rendered as flags with their
// help and defaults. The CLI owns the flag names and the help; the library owns the rules and
// checks them for every caller with the same validator (optionProblem) that parseFlags uses.

import { type FlagSpec, type FlagValues } from './args';
import { optionFlag, valueRule, type OptionRule, type OptionRules } from '../train/options';
import { TRAIN_DEFAULTS, TRAIN_RULES, type TrainOptions } from '../train/train-options.node';
import { FINETUNE_DEFAULTS, FINETUNE_RULES, type FinetuneMcqOptions } from '../train/finetune-mcq.node';
import { MCQ_FORMATS } from '../train/data/mcq';
import { QUANT_TYPES, skippedQuantizationNote } from '../model/quantized';
import type { GPT2 } from '../model/gpt2';

export { optionFlag as flagName };

const QUANTIZE_HELP = 'q8_0 | q4_0: store the blocks\' matmul weights GGML-quantized as they load';

/** --quantize of the commands that load a model for inference (eval, eval-mcq, sample, serve). */
export const QUANTIZE_FLAG: FlagSpec = { type: 'string', choices: QUANT_TYPES, help: `${QUANTIZE_HELP} (embeddings, lm_head, norms and biases stay at --precision)` };

/** The one line a quantized model's loading reports: the block weights left unquantized (input dimension not a multiple of 32), if any. */
export function reportQuantization(command: string, model: GPT2): void {
  const note = model.quantizedBase && skippedQuantizationNote(model.config, model.quantizedBase.type);
  if (note) console.error(`mqg ${command}: ${note}`);
}

/** A flag: its spec (type, range, help, default) and what it does with --resume. */
export type TrainFlag = FlagSpec & { resume: OptionRule['resume'] };

/** One command's flag table: the rules, in their order, with the help and the defaults. */
function flagTable<O extends object>(rules: OptionRules<O>, defaults: Partial<O>, help: Record<keyof O & string, string>): Record<keyof O & string, TrainFlag> {
  const table = {} as Record<keyof O & string, TrainFlag>;
  for (const k of Object.keys(rules) as (keyof O & string)[]) {
    table[k] = { ...valueRule(rules[k], defaults[k]), resume: rules[k].resume, help: help[k], default: defaults[k] as FlagSpec['default'] };
  }
  return table;
}

const LORA_HELP = {
  lora: 'train LoRA adapters of this rank on a frozen base (0 = full training)',
  loraAlpha: 'LoRA alpha (the update is scaled by alpha / r)',
  loraTargets: 'LoRA target modules, comma-separated (c_attn, attn.c_proj, c_fc, mlp.c_proj, c_proj), or re:REGEX',
  loraDropout: 'dropout on each LoRA adapter\'s input in training (PEFT lora_dropout)',
  initAdapter: 'continue training a PEFT LoRA adapter directory (implies LoRA with its r, alpha and targets)',
  checkpointActivations: 'keep only each block\'s input and recompute the block in backward (less memory, ~1/3 more compute)',
  quantize: QUANTIZE_HELP + ' (the frozen base; needs --lora; the adapters stay f32: QLoRA)',
};

const DROPOUT_HELP = {
  dropout: 'dropout rate in training for every site (embd, resid, attn, and the head\'s summary); 0 = off (default: the checkpoint config\'s values, none for presets and llm.c files)',
};

const OPTIMIZER_HELP = {
  steps: 'optimiser steps (the schedule\'s length)',
  lr: 'peak learning rate',
  minLr: 'final learning rate',
  warmup: 'linear warmup steps',
  schedule: 'cosine | linear | constant',
  weightDecay: 'AdamW decoupled weight decay (matmul weights and embeddings)',
  beta1: 'AdamW beta1',
  beta2: 'AdamW beta2',
  eps: 'AdamW epsilon',
  gradClip: 'clip the global gradient norm (0 = off)',
  precision: 'auto | f16 | f32',
  lossScale: 'f16: initial dynamic loss scale',
};

const RUN_HELP = {
  saveEvery: 'checkpoint every N steps (0 = only at the end)',
  keepLast: 'checkpoints kept in <out>/checkpoints (during a run also the newest one whose next step was finite)',
  maxSkippedSteps: 'f16: stop after more than N consecutive skipped (overflowed) steps',
  seed: 'random seed (init and shuffling)',
  resume: 'continue the run in --out from its newest checkpoint',
  overwrite: 'replace an existing run in --out',
  logFormat: 'text | jsonl',
};

/** Every `mqg train` flag: help, range, and its --resume behaviour. */
export const TRAIN_FLAGS: Record<keyof TrainOptions, TrainFlag> = flagTable(TRAIN_RULES, TRAIN_DEFAULTS, {
  preset: 'model preset: mqg-tiny, mqg-small, gpt2, gpt2-medium, biomedlm',
  init: 'initialise from a checkpoint: a run directory (its newest checkpoint), a checkpoint directory, a Hugging Face model directory, hf:org/name, or a file (safetensors, pytorch_model.bin, llm.c .bin)',
  data: 'a token shard file, or a directory of *train*/*val* shards (default: the bundled corpus)',
  valData: 'validation shards (file or directory; needs --data)',
  tokenizer: '"gpt2" or a tokenizer.json (default: the one beside --data or the checkpoint; none needed for token shards)',
  vocabSize: 'vocab of the BPE trained on the bundled corpus',
  batchSize: 'sequences per micro-batch (B)',
  seqLen: 'tokens per sequence (T)',
  gradAccum: 'micro-batches per optimiser step',
  ...OPTIMIZER_HELP,
  maxMemory: 'refuse to train past this much GPU memory (8G, 512M; default: the adapter\'s, or this machine\'s for a software adapter)',
  evalEvery: 'validation loss every N steps (0 = off)',
  evalBatches: 'batches per validation',
  ...RUN_HELP,
  out: 'run directory (checkpoints/, metrics.jsonl, loss.svg)',
  shuffle: 'shuffle batches (--no-shuffle for llm.c order)',
  mcq: 'multiple-choice JSONL evaluated at the end ("" = none; default: the corpus set)',
  mcqLimit: 'evaluate only the first N questions (0 = all)',
  samplePrompt: 'prompt of the samples printed at the end',
  sampleTokens: 'tokens per sample (0 = no samples)',
  ...DROPOUT_HELP,
  ...LORA_HELP,
});

/** The spec of a train flag. */
export function trainFlagSpec(k: keyof TrainOptions): FlagSpec {
  return TRAIN_FLAGS[k];
}

/** Every `mqg finetune-mcq` flag (the optimiser and run flags as `mqg train`'s, with fine-tuning defaults). */
export const FINETUNE_FLAGS: Record<keyof FinetuneMcqOptions, TrainFlag> = flagTable(FINETUNE_RULES, FINETUNE_DEFAULTS as Partial<FinetuneMcqOptions>, {
  init: 'the model to fine-tune: a run directory, checkpoint directory, safetensors / llm.c file or HF directory',
  preset: 'or a new model of this preset (needs --tokenizer)',
  data: `training questions (${MCQ_FORMATS.join(', ')}; jsonl, json, csv or parquet): a file, a directory or hf://datasets/ORG/NAME[@REV][/PATH]`,
  valData: 'validation questions (default: the last --val-split of --data); a Hub dataset\'s split by its path, e.g. hf://datasets/ORG/NAME/data/validation-*.parquet',
  split: 'the split of --data to read, by the Hub\'s file naming (train, validation, test, ...)',
  columns: 'map a table\'s columns: question=COL,options=COL (a list) or options=A,B,C,D,E,answer=COL[:letter|index|index1|text], or a format name',
  valSplit: 'fraction of --data held out for validation without --val-data',
  format: 'question file format (auto: detected)',
  head: 'multiple-choice (softmax over options) | proposition (sigmoid per option)',
  batchSize: 'questions per step (all their options share one forward)',
  evalEvery: 'validation every N steps and at the end (0 = only at the end)',
  freezeBody: 'train the head only',
  out: 'run directory (checkpoints/, best/, metrics.jsonl, loss.svg, report.json)',
  ...OPTIMIZER_HELP,
  ...RUN_HELP,
  tokenizer: '"gpt2" or a tokenizer.json (default: the checkpoint\'s own; needed with --preset)',
  ...DROPOUT_HELP,
  ...LORA_HELP,
});

const help: FlagSpec = { type: 'boolean', help: 'show this help' };

/** A flag table as parseFlags takes it (kebab-case names, and --help). */
export function flagSpec(table: Record<string, TrainFlag>): Record<string, FlagSpec> {
  const spec: Record<string, FlagSpec> = {};
  for (const [k, f] of Object.entries(table)) spec[optionFlag(k)] = f;
  spec.help = help;
  return spec;
}

/** The options given on the command line (defaults are left to the library, or to the saved run on --resume). */
export function givenOptions<O>(table: Record<string, TrainFlag>, flags: FlagValues, given: Set<string>): Partial<O> {
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(table)) if (given.has(optionFlag(k))) o[k] = flags[optionFlag(k)];
  return o as Partial<O>;
}

/** The --resume paragraph of a command's help: which flags apply to a resumed run, which must match. */
export function resumeHelp(table: Record<string, TrainFlag>): string[] {
  const names = (kind: 'applies' | 'fixed') => Object.entries(table).filter(([, f]) => f.resume === kind).map(([k]) => `--${optionFlag(k)}`).join(' ');
  return [
    'With --resume the run keeps its saved configuration.',
    `  These flags apply to the resumed run: ${names('applies')}`,
    `  These must match the run (a different value is an error): ${names('fixed')}`,
  ];
}
