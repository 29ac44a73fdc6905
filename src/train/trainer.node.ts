// The trainer behind `mqg train`: the shared loop (loop.ts) wrapped with files. Data, tokenizer and
// model are checked to belong together; checkpoints are directories written as one unit
// (rundir.node.ts) with the full optimiser state, so --resume continues bit for bit; a resumed run
// keeps its saved configuration (flags marked `resume: 'applies'` may change, any other differing
// flag is an error); samples and multiple-choice accuracy at the end when there is a tokenizer.

import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGPU, type GPUContext } from '../gpu/context';
import { DataError, MQGError, RunDirError, asDataError, TrainingError } from '../util/errors';
import { GPT2 } from '../model/gpt2';
import { presetConfig, type GPT2Config, type PresetName } from '../model/config';
import { parseSafetensors } from '../model/source/safetensors';
import { configToHFJson, configToMetadata } from '../model/source/config';
import { saveGPT2Weights, serializeSafetensors } from '../model/source/safetensors-write';
import { openCheckpoint, readCheckpoint } from '../model/checkpoint.node';
import { generate } from '../model/generate';
import { flagProblem, type FlagSpec } from '../cli/args';
import { UsageError } from '../util/errors';
import { DataLoader, type DataLoaderState } from './data/loader';
import { listShards, prepareData, readShard, readShardHeader } from './data/shards.node';
import { readMcqFile } from './data/mcq.node';
import { GPT2_TOKENIZER_HASH, loadTokenizerRecorded, recordTokenizer, tokenizerFromBytes, saveTokenizer, type LoadedTokenizer } from './tokenizer/load.node';
import { gpt2Tokenizer } from './tokenizer/gpt2';
import { trainBpe } from './tokenizer/train';
import { checkConsistency, type TokenizerRecord } from './consistency';
import { type ScheduleName } from './schedule';
import { evaluateMcq, formatMcqReport, type McqReport } from './mcq-eval';
import { lossCurveSvg, type CurvePoint } from './plot';
import { memoryRefusal } from '../model/memory';
import { memoryBudget, parseBytes } from './budget.node';
import { trainLoop, type StepReport } from './loop';
import { NonFiniteError } from '../util/errors';
import { abandonSave, checkWritableDir, listCheckpoints, removeStaleTemps, saveCheckpoint, saveInProgress, writeSynced, CHECKPOINTS } from './rundir.node';
import { ADAPTER_DIR, LORA_TRAIN_DEFAULTS, LORA_TRAIN_FLAGS, adapterFiles, loadWeightsFrom, loraSetup, writeAdapterFiles, type LoraTrainOptions } from './lora.node';

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

export interface TrainOptions extends LoraTrainOptions, OptimizerOptions {
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
  evalEvery: number;
  evalBatches: number;
  saveEvery: number;
  keepLast: number;
  maxSkippedSteps: number;
  out: string;
  seed: number;
  resume: boolean;
  overwrite: boolean;
  shuffle: boolean;
  logFormat: 'text' | 'jsonl';
  /** Multiple-choice set evaluated at the end ('' = none; default: the corpus's set). */
  mcq?: string;
  mcqLimit: number;
  samplePrompt: string;
  sampleTokens: number;
}

type Key = keyof TrainOptions;
/** A flag's spec, and what it does with --resume: 'applies' (may change) or 'fixed' (must match the run). */
export type TrainFlag = Omit<FlagSpec, 'type' | 'default'> & { type?: FlagSpec['type']; resume: 'applies' | 'fixed' };

const pos = { min: 1 } as const;
/** Every `mqg train` flag: help, range, and its --resume behaviour. The CLI and validateOptions use it. */
export const TRAIN_FLAGS: Record<Key, TrainFlag> = {
  preset: { help: 'model preset: mqg-tiny, mqg-small, gpt2, gpt2-medium, biomedlm', choices: ['mqg-tiny', 'mqg-small', 'gpt2', 'gpt2-medium', 'biomedlm'], resume: 'fixed' },
  init: { type: 'string', help: 'initialise from a checkpoint (safetensors with HF GPT-2 names, or llm.c .bin)', resume: 'fixed' },
  data: { type: 'string', help: 'a token shard file, or a directory of *train*/*val* shards (default: the bundled corpus)', resume: 'fixed' },
  valData: { type: 'string', help: 'validation shards (file or directory; needs --data)', resume: 'fixed' },
  tokenizer: { type: 'string', help: '"gpt2" or a tokenizer.json (default: the one beside --data or the checkpoint; none needed for token shards)', resume: 'fixed' },
  vocabSize: { type: 'int', help: 'vocab of the BPE trained on the bundled corpus', min: 257, max: 65535, resume: 'fixed' },
  batchSize: { type: 'int', help: 'sequences per micro-batch (B)', ...pos, resume: 'fixed' },
  seqLen: { type: 'int', help: 'tokens per sequence (T)', ...pos, resume: 'fixed' },
  gradAccum: { type: 'int', help: 'micro-batches per optimiser step', ...pos, resume: 'fixed' },
  steps: { type: 'int', help: 'optimiser steps (the schedule\'s length)', ...pos, resume: 'applies' },
  lr: { type: 'number', help: 'peak learning rate', min: 0, minExclusive: true, resume: 'fixed' },
  minLr: { type: 'number', help: 'final learning rate', min: 0, resume: 'fixed' },
  warmup: { type: 'int', help: 'linear warmup steps', min: 0, resume: 'fixed' },
  schedule: { help: 'cosine | linear | constant', choices: ['cosine', 'linear', 'constant'], resume: 'fixed' },
  weightDecay: { type: 'number', help: 'AdamW decoupled weight decay (matmul weights and embeddings)', min: 0, resume: 'fixed' },
  beta1: { type: 'number', help: 'AdamW beta1', min: 0, max: 1, maxExclusive: true, resume: 'fixed' },
  beta2: { type: 'number', help: 'AdamW beta2', min: 0, max: 1, maxExclusive: true, resume: 'fixed' },
  eps: { type: 'number', help: 'AdamW epsilon', min: 0, minExclusive: true, resume: 'fixed' },
  gradClip: { type: 'number', help: 'clip the global gradient norm (0 = off)', min: 0, resume: 'fixed' },
  precision: { help: 'auto | f16 | f32', choices: ['auto', 'f16', 'f32'], resume: 'fixed' },
  lossScale: { type: 'number', help: 'f16: initial dynamic loss scale', min: 1, max: 2 ** 24, resume: 'fixed' },
  maxMemory: { type: 'string', help: 'refuse to train past this much GPU memory (8G, 512M; default: the adapter\'s, or this machine\'s for a software adapter)', resume: 'applies' },
  evalEvery: { type: 'int', help: 'validation loss every N steps (0 = off)', min: 0, resume: 'applies' },
  evalBatches: { type: 'int', help: 'batches per validation', ...pos, resume: 'applies' },
  saveEvery: { type: 'int', help: 'checkpoint every N steps (0 = only at the end)', min: 0, resume: 'applies' },
  keepLast: { type: 'int', help: 'checkpoints kept in <out>/checkpoints (during a run also the newest one whose next step was finite)', ...pos, resume: 'applies' },
  maxSkippedSteps: { type: 'int', help: 'f16: stop after more than N consecutive skipped (overflowed) steps', min: 0, resume: 'applies' },
  out: { type: 'string', help: 'run directory (checkpoints/, metrics.jsonl, loss.svg)', resume: 'applies' },
  seed: { type: 'int', help: 'random seed (init and shuffling)', min: 0, max: 2 ** 32 - 1, resume: 'fixed' },
  resume: { type: 'boolean', help: 'continue the run in --out from its newest checkpoint', resume: 'applies' },
  overwrite: { type: 'boolean', help: 'replace an existing run in --out', resume: 'fixed' },
  shuffle: { type: 'boolean', help: 'shuffle batches (--no-shuffle for llm.c order)', resume: 'fixed' },
  logFormat: { help: 'text | jsonl', choices: ['text', 'jsonl'], resume: 'applies' },
  mcq: { type: 'string', help: 'multiple-choice JSONL evaluated at the end ("" = none; default: the corpus set)', resume: 'applies' },
  mcqLimit: { type: 'int', help: 'evaluate only the first N questions (0 = all)', min: 0, resume: 'applies' },
  samplePrompt: { type: 'string', help: 'prompt of the samples printed at the end', resume: 'applies' },
  sampleTokens: { type: 'int', help: 'tokens per sample (0 = no samples)', min: 0, resume: 'applies' },
  ...LORA_TRAIN_FLAGS,
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

/** The spec type of a train flag (from its default where not given). */
export function trainFlagSpec(k: Key): FlagSpec {
  const f = TRAIN_FLAGS[k];
  const d = TRAIN_DEFAULTS[k];
  const type = f.type ?? (typeof d === 'boolean' ? 'boolean' : typeof d === 'number' ? 'number' : 'string');
  return { ...f, type, default: d as FlagSpec['default'] };
}

export interface StepRecord {
  step: number;
  loss: number;
  lr: number;
  ms: number;
  tokens_per_s: number;
  grad_norm?: number;
  skipped?: boolean;
  val_loss?: number;
  val_ppl?: number;
  loss_scale?: number;
}

export interface TrainSummary {
  steps: number;
  history: StepRecord[];
  val: CurvePoint[];
  /** The checkpoint directory written last. */
  checkpoint: string;
  samples: string[];
  mcq?: McqReport;
  interrupted: boolean;
  tokensPerSecond: number;
  skippedSteps: number;
}

/** The package root (where data/corpus lives), from src/ or dist/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'data', 'corpus'))) return dir;
    dir = dirname(dir);
  }
  throw new MQGError('cannot find the mqg-webgpu package root (with data/corpus)');
}

/** Tokenize the default corpus with a BPE trained on it (cached under <out>/data). */
function prepareDefaultCorpus(outDir: string, vocabSize: number, log: (s: string) => void): { dataDir: string; tokenizerPath: string; mcq: string } {
  const corpus = join(packageRoot(), 'data', 'corpus');
  const files = ['topics.txt', 'questions.txt'].map((f) => join(corpus, f));
  const dataDir = join(outDir, 'data');
  const tokenizerPath = join(dataDir, 'tokenizer.json');
  const meta = join(dataDir, 'meta.json');
  const stamp = `default-corpus/bpe-${vocabSize}/v2`;
  let current = false;
  try {
    current = JSON.parse(readFileSync(meta, 'utf8')).source === stamp && existsSync(tokenizerPath);
  } catch {
    current = false;
  }
  if (!current) {
    log(`preparing the default corpus (${corpus}): training a ${vocabSize}-token BPE`);
    const texts = files.map((f) => readFileSync(f, 'utf8'));
    const tok = trainBpe(texts, vocabSize, { name: `bpe-${vocabSize}` });
    mkdirSync(dataDir, { recursive: true });
    saveTokenizer(tokenizerPath, tok);
    const rec = recordTokenizer(tok);
    const r = prepareData({ textFiles: files, tokenizer: tok, outDir: dataDir, name: 'corpus', valFraction: 0.1, documents: 'paragraph', tokenizerRecord: rec.record });
    const m = JSON.parse(readFileSync(r.metaPath, 'utf8'));
    writeFileSync(meta, JSON.stringify({ ...m, source: stamp }, null, 2));
    log(`  ${r.trainTokens} train tokens, ${r.valTokens} val tokens`);
  }
  return { dataDir, tokenizerPath, mcq: join(corpus, 'mcq.jsonl') };
}

const STATE_FILE = 'train_state.safetensors';
const MODEL_FILE = 'model.safetensors';
const TOKENIZER_FILE = 'tokenizer.json';

/** What a checkpoint's train_state records (JSON in its safetensors metadata). No absolute paths. */
interface SavedState {
  version: 2;
  step: number;
  t: number;
  loader: DataLoaderState;
  options: TrainOptions;
  /** The tokenizer (a copy is in the checkpoint as tokenizer.json unless it is the built-in gpt2). */
  tokenizer?: TokenizerRecord;
  /** Train shards: base names and token counts (a --data given on resume must match). */
  shards: { name: string; tokens: number }[];
  config: GPT2Config;
}

/** The tokenizer a checkpoint records in its metadata (tokenizer_sha256, tokenizer_vocab_size). */
export function recordedTokenizer(metadata: Record<string, string> | undefined): TokenizerRecord | undefined {
  const hash = metadata?.tokenizer_sha256;
  if (!hash) return undefined;
  return { hash, vocabSize: Number(metadata!.tokenizer_vocab_size), name: metadata!.tokenizer_name };
}

/** The tokenizer stored with a checkpoint directory: its tokenizer.json copy (hash-checked) or the
 *  built-in GPT-2 one; undefined when the checkpoint records none. */
export function checkpointTokenizer(dir: string, record: TokenizerRecord | undefined): LoadedTokenizer | undefined {
  if (!record) return undefined;
  if (record.hash === GPT2_TOKENIZER_HASH) return { tokenizer: gpt2Tokenizer(), record };
  const file = join(dir, TOKENIZER_FILE);
  if (!existsSync(file)) throw new DataError(`${dir}: the checkpoint records a tokenizer (sha256 ${record.hash.slice(0, 12)}) but has no ${TOKENIZER_FILE}`);
  return tokenizerFromBytes(new Uint8Array(readFileSync(file)), file, record);
}

/** Reads metrics.jsonl up to `before` (exclusive). A torn last line (a kill while appending) is
 *  dropped; a bad line elsewhere is an error naming the file and line. */
function readMetrics(path: string, before: number): StepRecord[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: StepRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line) continue;
    let r: StepRecord;
    try {
      r = JSON.parse(line) as StepRecord;
    } catch {
      if (i === lines.length - 1) break; // torn last line: no newline after it
      throw new DataError(`${path}: line ${i + 1} is not valid JSON (${line.slice(0, 40)}${line.length > 40 ? '...' : ''})`);
    }
    if (typeof r.step !== 'number') throw new DataError(`${path}: line ${i + 1} has no "step"`);
    if (r.step >= before) break;
    out.push(r);
  }
  return out;
}

/** Run artefacts --overwrite removes (the default corpus cache in data/ is kept). */
const RUN_ARTEFACTS = [CHECKPOINTS, 'metrics.jsonl', 'loss.svg', MODEL_FILE, STATE_FILE];

function isRunDir(out: string): boolean {
  return RUN_ARTEFACTS.some((f) => existsSync(join(out, f)));
}

/** The options of a resumed run: the saved ones, with the flags given now applied where they may
 *  change and an error for any other that differs. */
function resumedOptions(saved: TrainOptions, given: Partial<TrainOptions>, out: string): TrainOptions {
  const o: TrainOptions = { ...TRAIN_DEFAULTS, ...saved, resume: true, overwrite: false, out };
  for (const [k, v] of Object.entries(given) as [Key, unknown][]) {
    if (v === undefined || k === 'out' || k === 'resume') continue;
    if (k === 'overwrite' && v) throw new UsageError('mqg train: --overwrite and --resume exclude each other (--resume continues the run, --overwrite replaces it)');
    if (k === 'tokenizer' || k === 'init') {
      throw new UsageError(`mqg train --resume: --${k} cannot change a run: it continues from its checkpoint${k === 'tokenizer' ? ', with the tokenizer copied into it' : ''}. Drop --${k}, or start a new run`);
    }
    if (TRAIN_FLAGS[k].resume === 'applies') (o as unknown as Record<string, unknown>)[k] = v;
    else if (k === 'data' || k === 'valData') (o as unknown as Record<string, unknown>)[k] = v; // checked against the recorded shards
    else if (JSON.stringify(v) !== JSON.stringify(saved[k])) {
      throw new UsageError(
        `mqg train --resume: --${flagName(k)} ${JSON.stringify(v)} differs from the run's ${JSON.stringify(saved[k])}; it would change the model, the data order or the batch shape. ` +
          `Drop it to continue the run, or start a new run (--out elsewhere, or --overwrite)`,
      );
    }
  }
  return o;
}

export async function train(partial: Partial<TrainOptions>, log: (line: string) => void = console.log, gpuIn?: GPUContext): Promise<TrainSummary> {
  const given = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<TrainOptions>;
  let o: TrainOptions = { ...TRAIN_DEFAULTS, ...given };
  validateOptions(o);
  const outDir = resolve(o.out);
  checkWritableDir(o.out);

  // ---- the run directory: resume, overwrite, or new
  let saved: SavedState | undefined;
  let savedTensors: Map<string, { shape: number[]; data: Uint8Array }> | undefined;
  let ckptDir: string | undefined;
  const stale = removeStaleTemps(outDir);
  if (o.resume) {
    const all = listCheckpoints(outDir);
    if (!all.length) throw new RunDirError(`--resume: no checkpoint in ${join(o.out, CHECKPOINTS)} (nothing to resume; drop --resume to start a run)`);
    ckptDir = all[all.length - 1]!.dir;
    const statePath = join(ckptDir, STATE_FILE);
    if (!existsSync(statePath) || (!existsSync(join(ckptDir, MODEL_FILE)) && !existsSync(join(ckptDir, ADAPTER_DIR)))) throw new RunDirError(`--resume: ${ckptDir} lacks ${MODEL_FILE} or ${STATE_FILE}`);
    const parsed = parseSafetensors(new Uint8Array(readFileSync(statePath)), statePath);
    try {
      saved = JSON.parse(parsed.metadata.state!) as SavedState;
    } catch {
      throw new RunDirError(`--resume: ${statePath} has no readable "state" metadata`);
    }
    if (saved.version !== 2) throw new RunDirError(`--resume: ${statePath} is a version ${saved.version} state; this mqg reads version 2`);
    savedTensors = parsed.tensors as unknown as Map<string, { shape: number[]; data: Uint8Array }>;
    const savedOptions = { ...saved.options, data: located(saved.options.data, outDir), valData: located(saved.options.valData, outDir), init: located(saved.options.init, outDir) };
    o = resumedOptions(savedOptions, given, o.out);
    validateOptions({ ...o, init: undefined, preset: TRAIN_DEFAULTS.preset });
  } else if (isRunDir(outDir)) {
    if (!o.overwrite) {
      throw new RunDirError(`--out ${o.out} already holds a run; continue it with --resume, or replace it with --overwrite`);
    }
    for (const f of RUN_ARTEFACTS) rmSync(join(outDir, f), { recursive: true, force: true });
  }
  const text = o.logFormat === 'text';
  const info = (s: string) => (text ? log(s) : undefined);
  if (stale.length) info(`removed ${stale.length} unfinished checkpoint(s) of a killed save: ${stale.join(', ')}`);

  // ---- data and tokenizer
  let trainShards: string[], valShards: string[], mcqPath = o.mcq;
  let tk: LoadedTokenizer | undefined;
  let tokSource = '';
  if (!o.data) {
    const d = prepareDefaultCorpus(outDir, o.vocabSize, info);
    ({ train: trainShards, val: valShards } = listShards(d.dataDir));
    if (!saved) {
      tokSource = o.tokenizer ?? d.tokenizerPath;
      tk = loadTokenizerRecorded(tokSource, o.tokenizer ? undefined : `bpe-${o.vocabSize} (bundled corpus)`);
    }
    mcqPath ??= d.mcq;
  } else {
    const shards = listShards(o.data);
    trainShards = shards.train;
    // --val-data names validation shards: a file, or a directory whose shards all count as validation.
    const gv = o.valData ? listShards(o.valData) : undefined;
    valShards = gv ? [...gv.val, ...gv.train] : shards.val;
    if (!saved) {
      const beside = statSync(o.data).isDirectory() && existsSync(join(o.data, TOKENIZER_FILE)) ? join(o.data, TOKENIZER_FILE) : undefined;
      const ref = o.tokenizer ?? beside;
      if (ref) {
        tk = loadTokenizerRecorded(ref);
        tokSource = ref;
      }
    }
  }
  const shardHeaders = [...trainShards, ...valShards].map((f) => ({ source: f, ...readShardHeader(f) }));

  // ---- the model's config, its weights' source, and the tokenizer of a checkpoint
  let initCk: { config: GPT2Config; metadata: Record<string, string> } | undefined; // headers only: the weights stream in later
  let config: GPT2Config;
  let modelSource: string;
  let modelTokenizer: TokenizerRecord | undefined;
  if (saved) {
    config = saved.config;
    modelSource = ckptDir!;
    tk = checkpointTokenizer(ckptDir!, saved.tokenizer);
    tokSource = tk ? join(ckptDir!, TOKENIZER_FILE) : '';
    modelTokenizer = saved.tokenizer;
    const names = trainShards.map((f) => basename(f));
    const counts = shardHeaders.slice(0, trainShards.length).map((h) => h.tokens);
    const same = names.length === saved.shards.length && saved.shards.every((s, i) => s.tokens === counts[i]);
    if (!same) {
      throw new UsageError(
        `mqg train --resume: the train shards (${names.join(', ')}) are not the run's (${saved.shards.map((s) => `${s.name}: ${s.tokens} tokens`).join(', ')}); --data may only point at the same shards moved elsewhere`,
      );
    }
  } else if (o.init) {
    const opened = await openCheckpoint(o.init);
    await opened.close();
    initCk = opened;
    config = initCk.config;
    modelSource = o.init;
    modelTokenizer = recordedTokenizer(initCk.metadata);
    if (!tk) {
      // the checkpoint's own tokenizer: ours records one, an HF directory has tokenizer.json
      const dir = statSync(o.init).isDirectory() ? o.init : dirname(o.init);
      if (modelTokenizer) tk = checkpointTokenizer(dir, modelTokenizer);
      else if (existsSync(join(dir, TOKENIZER_FILE))) tk = loadTokenizerRecorded(join(dir, TOKENIZER_FILE));
      if (tk) tokSource = join(dir, TOKENIZER_FILE);
    }
  } else {
    const vocab = tk?.record.vocabSize ?? shardHeaders.find((h) => h.tokenizer)?.tokenizer?.vocabSize;
    if (vocab === undefined) {
      throw new UsageError(`mqg train: the shards in ${o.data} record no tokenizer, so the vocab of a new ${o.preset} model is unknown: give --tokenizer (gpt2 or a tokenizer.json) or --init`);
    }
    config = presetConfig(o.preset as PresetName, vocab);
    modelSource = `the new ${o.preset} model`;
  }
  checkConsistency({
    model: { source: modelSource, vocabSize: config.vocabSize, tokenizer: modelTokenizer },
    tokenizer: tk ? { source: tokSource, record: tk.record } : undefined,
    shards: shardHeaders,
  });
  if (o.seqLen > config.nPositions) throw new UsageError(`mqg train: --seq-len ${o.seqLen} exceeds the model's context (${config.nPositions})`);

  // ---- device and model
  const gpu = gpuIn ?? (await createGPU({ precision: o.precision }));
  // LoRA (--lora / --init-adapter): a frozen base with trainable adapters; a resumed run's adapter is its checkpoint's.
  const lora = await loraSetup(saved && (o.lora || o.initAdapter) ? { ...o, initAdapter: join(ckptDir!, ADAPTER_DIR) } : o, config, o.init);
  const B = o.batchSize, T = o.seqLen;
  // refuse what cannot fit before anything is allocated
  const budget = memoryBudget(gpu, o.maxMemory);
  const precision = o.precision === 'auto' ? gpu.precision : o.precision;
  const refusal = budget && memoryRefusal({ config, B, T, precision, training: true, maxBindingBytes: gpu.limits.maxStorageBufferBindingSize, ...lora.options }, budget.bytes, budget.source);
  if (refusal) {
    if (!gpuIn) gpu.destroy();
    throw new TrainingError(`mqg train: ${refusal}`);
  }
  const model = new GPT2(gpu, config, { precision, ...lora.options });
  const loader = new DataLoader(trainShards.map((f) => readShard(f)), { B, T, shuffle: o.shuffle, seed: o.seed, vocabSize: config.vocabSize, names: trainShards });
  const valTokens = valShards.map((f) => readShard(f));
  if (o.evalEvery > 0 && !valTokens.length) info('no validation shards: skipping the validation loss (give --val-data, or *val* shards beside the train ones)');
  model.allocate(B, T);
  if (saved && model.lora) {
    // a LoRA checkpoint holds the adapter (loaded below), not the frozen base: that comes from --init again
    if (o.init) await loadWeightsFrom(model, o.init);
    else model.initRandom(o.seed);
    model.importOptimizerState(saved.t, savedTensors!, join(ckptDir!, STATE_FILE));
    loader.restore(saved.loader);
  } else if (saved) {
    const ck = await readCheckpoint(join(ckptDir!, MODEL_FILE), { config: saved.config });
    if (ck.metadata.step !== String(saved.step)) throw new RunDirError(`--resume: ${ckptDir} holds a model of step ${ck.metadata.step} and a train state of step ${saved.step}`);
    model.loadWeights(ck.params);
    model.importOptimizerState(saved.t, savedTensors!, join(ckptDir!, STATE_FILE));
    loader.restore(saved.loader);
  } else if (initCk) await loadWeightsFrom(model, o.init!);
  else model.initRandom(o.seed);
  if (lora.weights) model.lora!.load(lora.weights);
  else model.lora?.initRandom(o.seed); // new adapters: A random (--seed), B zero
  if (model.dtype === 'f16' && !saved) model.setLossScale({ initScale: o.lossScale, growthInterval: 500 });
  const startStep = saved?.step ?? 0;

  const metricsPath = join(outDir, 'metrics.jsonl');
  const history: StepRecord[] = readMetrics(metricsPath, startStep);
  const val: CurvePoint[] = history.filter((r) => r.val_loss !== undefined).map((r) => ({ step: r.step + 1, loss: r.val_loss! }));
  writeFileSync(metricsPath, history.map((r) => JSON.stringify(r) + '\n').join(''));
  if (saved) info(`resumed from ${shown(ckptDir!)}, the newest complete checkpoint (step ${startStep})`);

  const params = model.params.slots.reduce((n, s) => n + s.numel, 0);
  info(`model ${o.init ?? o.preset}: ${config.nLayer} layers, ${config.nHead} heads, width ${config.nEmbd}, vocab ${config.vocabSize} (${(params / 1e6).toFixed(2)}M parameters) | ${model.dtype} on ${gpu.adapterName}`);
  info(`data: ${trainShards.length} train shard(s), ${valShards.length} val shard(s) | tokenizer ${tk ? tk.record.name ?? tokSource : 'none'} | B=${B} T=${T} grad-accum ${o.gradAccum} | ${o.steps} steps`);

  const record: SavedState = {
    version: 2, step: 0, t: 0, loader: loader.state(), config, tokenizer: tk?.record,
    shards: trainShards.map((f, i) => ({ name: basename(f), tokens: shardHeaders[i]!.tokens })),
    // stored without absolute paths: the default corpus is found again from the run directory
    options: { ...o, out: '.', resume: false, overwrite: false, data: o.data && relocatable(o.data, outDir), valData: o.valData && relocatable(o.valData, outDir), tokenizer: undefined, init: o.init && relocatable(o.init, outDir) },
  };
  let lastCheckpoint = ckptDir ?? '';
  const save = async (step: number, lastGood: number | undefined) => {
    const opt = await model.exportOptimizerState();
    const state: SavedState = { ...record, step, t: opt.t, loader: loader.state() };
    const meta: Record<string, string> = { step: String(step) };
    if (tk) Object.assign(meta, { tokenizer_sha256: tk.record.hash, tokenizer_vocab_size: String(tk.record.vocabSize), tokenizer_name: tk.record.name ?? '' });
    const weights = model.lora ? undefined : saveGPT2Weights(config, await model.weights(), 'F32', meta); // LoRA: the base is --init's
    const adapter = await adapterFiles(model);
    const stateBytes = serializeSafetensors(opt.tensors, { ...configToMetadata(config), state: JSON.stringify(state) });
    lastCheckpoint = await saveCheckpoint(outDir, step, async (tmp) => {
      if (weights) writeSynced(join(tmp, MODEL_FILE), weights);
      writeSynced(join(tmp, 'config.json'), JSON.stringify(configToHFJson(config), null, 2) + '\n');
      if (tk?.json) writeSynced(join(tmp, TOKENIZER_FILE), tk.json);
      writeSynced(join(tmp, STATE_FILE), stateBytes);
      writeAdapterFiles(tmp, adapter, writeSynced);
    }, o.keepLast, lastGood);
    writeFileSync(join(outDir, 'loss.svg'), lossCurveSvg(history.map((r) => ({ step: r.step + 1, loss: r.loss })), val, `${o.preset} training loss`));
  };

  const evaluate = async (): Promise<number> => {
    const vl = new DataLoader(valTokens, { B, T, shuffle: false, vocabSize: config.vocabSize, names: valShards });
    let sum = 0;
    for (let i = 0; i < o.evalBatches; i++) {
      const b = vl.nextBatch();
      sum += await model.forward(b.inputs, b.targets, B, T);
    }
    return sum / o.evalBatches;
  };

  let interrupted = false;
  const onSigint = () => {
    if (interrupted) {
      const abandoned = abandonSave();
      log(abandoned ? 'interrupted again: abandoned the checkpoint being written; the previous one stays' : 'interrupted again: exiting');
      process.exit(130);
    }
    interrupted = true;
    log(`\ninterrupted: saving a checkpoint ${saveInProgress() ? 'now' : 'after this step'} (Ctrl-C again to abandon it)`);
  };
  process.on('SIGINT', onSigint);
  const t0 = Date.now();
  let summary;
  try {
    summary = await trainLoop({
      model, batches: loader, gradAccum: o.gradAccum, startStep, steps: o.steps, maxSkippedSteps: o.maxSkippedSteps,
      schedule: o, adamw: { beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay, gradClip: o.gradClip },
      evaluate: valTokens.length ? { every: o.evalEvery, run: evaluate } : undefined,
      // while the run goes on, pruning keeps the last good checkpoint too; the final save keeps the newest N only
      save: { every: o.saveEvery, run: (done, final, lastGood) => save(done, final ? undefined : lastGood) },
      shouldStop: () => interrupted,
      onStep: (r: StepReport) => {
        const rec: StepRecord = { step: r.step, loss: r.loss, lr: r.lr, ms: Math.round(r.ms * 100) / 100, tokens_per_s: Math.round(r.tokensPerSecond), grad_norm: r.gradNorm };
        if (r.skipped) rec.skipped = true;
        if (model.dtype === 'f16') rec.loss_scale = r.lossScale;
        if (r.valLoss !== undefined) {
          rec.val_loss = r.valLoss;
          rec.val_ppl = Math.exp(r.valLoss);
          val.push({ step: r.step + 1, loss: r.valLoss });
        }
        history.push(rec);
        writeFileSync(metricsPath, JSON.stringify(rec) + '\n', { flag: 'a' });
        const done = r.step + 1;
        if (text) {
          const elapsed = (Date.now() - t0) / 1000;
          const eta = ((o.steps - done) * elapsed) / Math.max(1, done - startStep);
          const valPart = rec.val_loss !== undefined ? ` | val ${rec.val_loss.toFixed(4)} (ppl ${rec.val_ppl!.toFixed(1)})` : '';
          const skip = r.skipped ? ` | update SKIPPED (gradient norm ${r.gradNorm}${model.dtype === 'f16' ? `, loss scale now ${r.lossScale}` : ''}; ${r.skippedRun} in a row)` : '';
          log(`step ${String(done).padStart(String(o.steps).length)}/${o.steps} | loss ${r.loss.toFixed(4)} | lr ${r.lr.toExponential(2)} | ${rec.tokens_per_s} tok/s | ${r.ms.toFixed(0)} ms | ETA ${fmtTime(eta)}${valPart}${skip}`);
        } else log(JSON.stringify(rec));
      },
    });
  } catch (e) {
    if (e instanceof NonFiniteError) {
      const good = e.lastGoodCheckpoint;
      const keep = good !== undefined ? `the last good checkpoint (step ${good}, whose next step was finite) is in ${join(o.out, CHECKPOINTS)}` : 'no good checkpoint was written';
      throw new TrainingError(`${e.message}; stopping (${keep})`);
    }
    throw e;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  const step = summary.stepsDone;
  info(`saved ${shown(lastCheckpoint)} (step ${step})`);

  const samples: string[] = [];
  let mcq: McqReport | undefined;
  if (!summary.interrupted) {
    if (!tk) info('no tokenizer: skipping the samples and the multiple-choice evaluation (give --tokenizer to have them)');
    else {
      const tok = tk.tokenizer;
      for (const seed of o.sampleTokens > 0 ? [1, 2] : []) {
        const prompt = [tok.eotToken, ...tok.encode(o.samplePrompt)];
        const ids = await generate(model, prompt, { maxNewTokens: o.sampleTokens, temperature: 0.8, topK: 40, seed, stopToken: tok.eotToken });
        samples.push(o.samplePrompt + tok.decode(ids.filter((t) => t !== tok.eotToken)));
      }
      if (samples.length) info('samples:');
      for (const s of samples) info(`  > ${s.replace(/\n/g, '\n    ')}`);
      if (mcqPath) {
        let records = asDataError(() => readMcqFile(mcqPath));
        if (!records.length) throw new DataError(`${mcqPath}: no multiple-choice questions in the file`);
        if (o.mcqLimit > 0) records = records.slice(0, o.mcqLimit);
        mcq = await evaluateMcq(model, tok, records);
        info(formatMcqReport(mcq));
        if (!text) log(JSON.stringify({ mcq: { questions: mcq.questions, accuracy_sum: mcq.accuracySum, accuracy_mean: mcq.accuracyMean, exact_match: mcq.exactMatch } }));
      }
    }
  }
  if (!gpuIn) gpu.destroy();
  return { steps: step, history, val, checkpoint: lastCheckpoint, samples, mcq, interrupted: summary.interrupted, tokensPerSecond: summary.tokensPerSecond, skippedSteps: summary.skippedSteps };
}

const IN_RUN = '$RUN/';
/** A path as stored in a run: `$RUN/...` when inside the run directory, else as the user gave it. */
function relocatable(p: string, runDir: string): string {
  const rel = relative(runDir, resolve(p));
  return !rel.startsWith('..') && !isAbsolute(rel) ? IN_RUN + rel : p;
}

/** A stored path back: `$RUN/...` resolved in the (possibly moved) run directory. */
function located(p: string | undefined, runDir: string): string | undefined {
  return p?.startsWith(IN_RUN) ? join(runDir, p.slice(IN_RUN.length)) : p;
}

/** Range and choice checks of every option (the same table the CLI parses with), plus the
 *  combinations that cannot be honoured. Throws UsageError naming the flag. */
export function validateOptions(o: TrainOptions): void {
  for (const k of Object.keys(TRAIN_FLAGS) as Key[]) {
    const v = o[k];
    if (v === undefined) continue;
    const problem = flagProblem(trainFlagSpec(k), v);
    if (problem) throw new UsageError(`mqg train: --${flagName(k)} ${problem}`);
  }
  if (o.valData && !o.data) throw new UsageError('mqg train: --val-data needs --data (the bundled corpus has its own validation split)');
  if (o.init && o.preset !== TRAIN_DEFAULTS.preset) throw new UsageError(`mqg train: --preset ${o.preset} and --init exclude each other (the checkpoint decides the model's shape)`);
  if (o.resume && o.overwrite) throw new UsageError('mqg train: --overwrite and --resume exclude each other (--resume continues the run, --overwrite replaces it)');
  if (o.minLr > o.lr) throw new UsageError(`mqg train: --min-lr ${o.minLr} is above --lr ${o.lr}`);
  if (o.data && !existsSync(o.data)) throw new DataError(`--data: no such file or directory: ${o.data}`);
  if (o.valData && !existsSync(o.valData)) throw new DataError(`--val-data: no such file or directory: ${o.valData}`);
  if (o.init && !existsSync(o.init)) throw new DataError(`--init: no such checkpoint: ${o.init}`);
  if (o.initAdapter && !existsSync(o.initAdapter)) throw new DataError(`--init-adapter: no such adapter directory: ${o.initAdapter}`);
  if (o.mcq && !existsSync(o.mcq)) throw new DataError(`--mcq: no such file: ${o.mcq}`);
  if (o.maxMemory !== undefined) parseBytes(o.maxMemory, 'mqg train: --max-memory');
}

export function flagName(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const total = Math.round(s);
  const m = Math.floor(total / 60);
  return m ? `${m}m${String(total % 60).padStart(2, '0')}s` : `${total}s`;
}

/** The files of a checkpoint directory. */
export const RUN_FILES = { STATE_FILE, MODEL_FILE, TOKENIZER_FILE, CHECKPOINTS } as const;

/** A path for messages: relative to the working directory when below it. */
function shown(p: string): string {
  const rel = relative(process.cwd(), p);
  return rel && !rel.startsWith('..') ? rel : p;
}
