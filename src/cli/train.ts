// `mqg train`, `mqg sample`, `mqg eval-mcq`, `mqg tokenizer train`, `mqg data prepare`.
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';

import { type FlagSpec, parseFlags, usage, UsageError } from './args';
import { createGPU } from '../gpu/context';
import { generate } from '../model/generate';
import { TRAIN_DEFAULTS, flagName, train, type TrainOptions } from '../train/trainer.node';
import { loadTokenizer, saveTokenizer } from '../train/tokenizer/load.node';
import { trainBpe } from '../train/tokenizer/train';
import { prepareData } from '../train/data/shards.node';
import { readMcqFile } from '../train/data/mcq.node';
import { evaluateMcq, formatMcqReport } from '../train/mcq-eval';
import { loadModelWithAdapter } from '../model/lora.node';

const help: FlagSpec = { type: 'boolean', help: 'show this help' };

const TRAIN_HELP: Partial<Record<keyof TrainOptions, string>> = {
  preset: 'model preset: mqg-tiny, mqg-small, gpt2, gpt2-medium, biomedlm',
  init: 'initialise from a checkpoint (safetensors with HF GPT-2 names, or llm.c .bin)',
  data: 'a token shard file, or a directory of *train*/*val* shards (default: the bundled corpus)',
  valData: 'validation shards (file or directory)',
  tokenizer: '"gpt2" or a tokenizer.json (default: the one beside --data, else gpt2)',
  vocabSize: 'vocab of the BPE trained on the bundled corpus',
  batchSize: 'sequences per micro-batch (B)',
  seqLen: 'tokens per sequence (T)',
  gradAccum: 'micro-batches per optimiser step',
  steps: 'optimiser steps',
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
  evalEvery: 'validation loss every N steps (0 = off)',
  evalBatches: 'batches per validation',
  saveEvery: 'checkpoint every N steps (0 = only at the end)',
  out: 'output directory (checkpoints, metrics.jsonl, loss.svg)',
  seed: 'random seed (init and shuffling)',
  resume: 'continue the run in --out from its last checkpoint',
  shuffle: 'shuffle batches (--no-shuffle for llm.c order)',
  logFormat: 'text | jsonl',
  mcq: 'multiple-choice JSONL evaluated at the end (default: the corpus set)',
  mcqLimit: 'evaluate only the first N questions (0 = all)',
  samplePrompt: 'prompt of the samples printed at the end',
  sampleTokens: 'tokens per sample',
};

function trainSpec(): Record<string, FlagSpec> {
  const spec: Record<string, FlagSpec> = {};
  for (const [k, h] of Object.entries(TRAIN_HELP)) {
    const d = (TRAIN_DEFAULTS as unknown as Record<string, unknown>)[k];
    const type = typeof d === 'boolean' ? 'boolean' : typeof d === 'number' ? (Number.isInteger(d) && !['lr', 'minLr', 'weightDecay', 'beta1', 'beta2', 'eps', 'gradClip'].includes(k) ? 'int' : 'number') : 'string';
    spec[flagName(k)] = { type, default: d as string | number | boolean | undefined, help: h! };
  }
  spec.help = help;
  return spec;
}

export async function trainMain(argv: string[]): Promise<void> {
  const spec = trainSpec();
  const { flags, positional } = parseFlags(argv, spec, 'train');
  if (flags.help) return void console.log(usage('train', 'train a GPT-2 / MQG model (defaults: mqg-tiny on the bundled corpus)', spec));
  if (positional.length) throw new UsageError(`mqg train: unexpected argument "${positional[0]}" (flags start with --)`);
  const o: Partial<TrainOptions> = {};
  for (const k of Object.keys(TRAIN_HELP)) {
    const v = flags[flagName(k)];
    if (v !== undefined) (o as Record<string, unknown>)[k] = v;
  }
  // Only flags given on the command line override a resumed run's saved options.
  if (flags.resume) for (const k of Object.keys(o)) if (!argv.some((a) => a.startsWith(`--${flagName(k)}`)) && k !== 'resume' && k !== 'out') delete (o as Record<string, unknown>)[k];
  const r = await train(o);
  if (r.interrupted) console.log(`stopped at step ${r.steps}; resume with: mqg train --resume --out ${o.out ?? TRAIN_DEFAULTS.out}`);
}

const sampleSpec: Record<string, FlagSpec> = {
  checkpoint: { type: 'string', help: 'model checkpoint (safetensors or llm.c .bin)' },
  tokenizer: { type: 'string', help: 'tokenizer ("gpt2" or tokenizer.json; default: recorded in the checkpoint)' },
  prompt: { type: 'string', default: '', help: 'prompt text' },
  'max-tokens': { type: 'int', default: 100, help: 'new tokens to generate' },
  temperature: { type: 'number', default: 0.8, help: '0 = greedy' },
  'top-k': { type: 'int', default: 40, help: 'keep the k most likely tokens (0 = off)' },
  'top-p': { type: 'number', default: 1, help: 'nucleus sampling threshold (1 = off)' },
  seed: { type: 'int', default: 1337, help: 'sampling seed' },
  precision: { type: 'string', default: 'auto', help: 'auto | f16 | f32' },
  adapter: { type: 'string', help: 'apply a PEFT LoRA adapter directory to the checkpoint' },
  help,
};

async function tokenizerFor(checkpoint: string, given: string | undefined) {
  if (given) return loadTokenizer(given);
  const meta = JSON.parse(new TextDecoder().decode(readHeader(checkpoint)))?.__metadata__ ?? {};
  if (meta.tokenizer) return loadTokenizer(meta.tokenizer);
  return loadTokenizer('gpt2');
}

/** The JSON header of a safetensors file (read alone: checkpoints can be many GiB). */
function readHeader(path: string): Uint8Array {
  const empty = new TextEncoder().encode('{}');
  let fd: number;
  try { fd = openSync(path, 'r'); } catch { return empty; }
  try {
    const size = fstatSync(fd).size;
    const len = Buffer.alloc(8);
    if (size < 8 || readSync(fd, len, 0, 8, 0) !== 8) return empty;
    const n = Number(len.readBigUInt64LE(0));
    if (n > size - 8 || n > 1 << 28) return empty;
    const header = Buffer.alloc(n);
    readSync(fd, header, 0, n, 8);
    return header;
  } finally {
    closeSync(fd);
  }
}

export async function sampleMain(argv: string[]): Promise<void> {
  const { flags } = parseFlags(argv, sampleSpec, 'sample');
  if (flags.help) return void console.log(usage('sample', 'generate text from a checkpoint', sampleSpec));
  if (!flags.checkpoint) throw new UsageError('mqg sample: --checkpoint is required');
  const gpu = await createGPU({ precision: flags.precision as 'auto' });
  const { model } = await loadModelWithAdapter(gpu, flags.checkpoint as string, flags.adapter as string | undefined, { training: false });
  const tok = await tokenizerFor(flags.checkpoint as string, flags.tokenizer as string | undefined);
  const prompt = [tok.eotToken, ...tok.encode(flags.prompt as string)];
  process.stdout.write(flags.prompt as string);
  let text = '';
  const ids: number[] = [];
  await generate(model, prompt, {
    maxNewTokens: flags['max-tokens'] as number,
    temperature: flags.temperature as number,
    topK: flags['top-k'] as number,
    topP: flags['top-p'] as number,
    seed: flags.seed as number,
    stopToken: tok.eotToken,
    onToken: (id) => {
      if (id === tok.eotToken) return;
      ids.push(id);
      const full = tok.decode(ids);
      if (!full.endsWith('\uFFFD')) {
        process.stdout.write(full.slice(text.length));
        text = full;
      }
    },
  });
  process.stdout.write('\n');
  gpu.destroy();
}

const evalSpec: Record<string, FlagSpec> = {
  checkpoint: { type: 'string', help: 'model checkpoint' },
  data: { type: 'string', help: 'multiple-choice JSONL (id, question, options, answer, source, chapter)' },
  tokenizer: { type: 'string', help: 'tokenizer (default: recorded in the checkpoint)' },
  limit: { type: 'int', default: 0, help: 'first N questions only (0 = all)' },
  precision: { type: 'string', default: 'auto', help: 'auto | f16 | f32' },
  json: { type: 'boolean', default: false, help: 'print the report as JSON' },
  adapter: { type: 'string', help: 'apply a PEFT LoRA adapter directory to the checkpoint' },
  help,
};

export async function evalMcqMain(argv: string[]): Promise<void> {
  const { flags } = parseFlags(argv, evalSpec, 'eval-mcq');
  if (flags.help) return void console.log(usage('eval-mcq', 'multiple-choice accuracy by option log-likelihood', evalSpec));
  if (!flags.checkpoint) throw new UsageError('mqg eval-mcq: --checkpoint is required');
  if (!flags.data) throw new UsageError('mqg eval-mcq: --data is required');
  let records = readMcqFile(flags.data as string);
  if ((flags.limit as number) > 0) records = records.slice(0, flags.limit as number);
  const gpu = await createGPU({ precision: flags.precision as 'auto' });
  const { model } = await loadModelWithAdapter(gpu, flags.checkpoint as string, flags.adapter as string | undefined, { training: false });
  const tok = await tokenizerFor(flags.checkpoint as string, flags.tokenizer as string | undefined);
  const report = await evaluateMcq(model, tok, records, (n) => {
    if (process.stderr.isTTY) process.stderr.write(`\r${n}/${records.length}`);
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  if (flags.json) console.log(JSON.stringify({ ...report, scores: undefined }, null, 2));
  else console.log(formatMcqReport(report));
  gpu.destroy();
}

const tokSpec: Record<string, FlagSpec> = {
  text: { type: 'string', help: 'comma-separated text files to train on' },
  'vocab-size': { type: 'int', default: 8192, help: 'vocab size (256 bytes + merges + <|endoftext|>)' },
  out: { type: 'string', default: 'tokenizer.json', help: 'where to write the tokenizer.json' },
  help,
};

export async function tokenizerTrainMain(argv: string[]): Promise<void> {
  const { flags, positional } = parseFlags(argv, tokSpec, 'tokenizer train');
  if (flags.help) return void console.log(usage('tokenizer train', 'train a byte-level BPE tokenizer', tokSpec));
  const files = [...((flags.text as string | undefined)?.split(',') ?? []), ...positional].filter(Boolean);
  if (!files.length) throw new UsageError('mqg tokenizer train: --text FILES is required');
  const texts = files.map((f) => {
    try { return readFileSync(f, 'utf8'); } catch { throw new UsageError(`mqg tokenizer train: cannot read text file ${f}`); }
  });
  const t0 = performance.now();
  const tok = trainBpe(texts, flags['vocab-size'] as number);
  saveTokenizer(flags.out as string, tok);
  console.log(`trained a ${tok.vocabSize}-token BPE on ${files.length} file(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s -> ${flags.out}`);
}

const dataSpec: Record<string, FlagSpec> = {
  text: { type: 'string', help: 'comma-separated text files' },
  tokenizer: { type: 'string', default: 'gpt2', help: '"gpt2" or a tokenizer.json' },
  out: { type: 'string', help: 'output directory for the shards' },
  'val-fraction': { type: 'number', default: 0.05, help: 'fraction of tokens held out (the last ones)' },
  documents: { type: 'string', default: 'file', help: 'file | paragraph: what an end-of-text token separates' },
  help,
};

export async function dataPrepareMain(argv: string[]): Promise<void> {
  const { flags, positional } = parseFlags(argv, dataSpec, 'data prepare');
  if (flags.help) return void console.log(usage('data prepare', 'tokenize text into llm.c token shards', dataSpec));
  const files = [...((flags.text as string | undefined)?.split(',') ?? []), ...positional].filter(Boolean);
  if (!files.length) throw new UsageError('mqg data prepare: --text FILES is required');
  if (!flags.out) throw new UsageError('mqg data prepare: --out DIR is required');
  const tok = loadTokenizer(flags.tokenizer as string);
  const r = prepareData({ textFiles: files, tokenizer: tok, outDir: flags.out as string, valFraction: flags['val-fraction'] as number, documents: flags.documents as 'file' });
  console.log(`${r.documents} documents -> ${r.trainTokens} train tokens (${r.trainPath}), ${r.valTokens} val tokens (${r.valPath})`);
}

