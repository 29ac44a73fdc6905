// The trainer behind `mqg train`: data, model, AdamW with schedules, evaluation, atomic checkpoints
// with full optimiser state (so --resume continues bit for bit), samples and multiple-choice accuracy.

import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGPU, type GPUContext } from '../gpu/context';
import { MQGError } from '../gpu/errors';
import { GPT2 } from '../model/gpt2';
import { presetConfig } from '../model/config';
import { parseSafetensors, serializeSafetensors } from '../model/source/safetensors';
import { readCheckpoint, readCheckpointConfig, writeCheckpoint, writeFileAtomic } from '../model/checkpoint.node';
import { generate } from '../model/generate';
import { DataLoader, type DataLoaderState } from './data/loader';
import { listShards, prepareData, readShard } from './data/shards.node';
import { readMcqFile } from './data/mcq.node';
import { loadTokenizer, saveTokenizer } from './tokenizer/load.node';
import { trainBpe } from './tokenizer/train';
import type { Tokenizer } from './tokenizer/types';
import { learningRate, type ScheduleName } from './schedule';
import { evaluateMcq, formatMcqReport, type McqReport } from './mcq-eval';
import { lossCurveSvg, type CurvePoint } from './plot';

export interface TrainOptions {
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
  evalEvery: number;
  evalBatches: number;
  saveEvery: number;
  out: string;
  seed: number;
  resume: boolean;
  shuffle: boolean;
  logFormat: 'text' | 'jsonl';
  /** Multiple-choice set evaluated at the end ('' = none; default: the corpus's set). */
  mcq?: string;
  mcqLimit: number;
  samplePrompt: string;
  sampleTokens: number;
}

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
  evalEvery: 50,
  evalBatches: 8,
  saveEvery: 100,
  out: 'runs/mqg-tiny',
  seed: 1337,
  resume: false,
  shuffle: true,
  logFormat: 'text',
  mcqLimit: 0,
  samplePrompt: 'Question:',
  sampleTokens: 60,
};

export interface StepRecord {
  step: number;
  loss: number;
  lr: number;
  ms: number;
  tokens_per_s: number;
  val_loss?: number;
  val_ppl?: number;
  loss_scale?: number;
}

export interface TrainSummary {
  steps: number;
  history: StepRecord[];
  val: CurvePoint[];
  checkpoint: string;
  samples: string[];
  mcq?: McqReport;
  interrupted: boolean;
  tokensPerSecond: number;
}

export class TrainingError extends MQGError {}

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
  const stamp = `default-corpus/bpe-${vocabSize}`;
  if (!existsSync(meta) || JSON.parse(readFileSync(meta, 'utf8')).source !== stamp || !existsSync(tokenizerPath)) {
    log(`preparing the default corpus (${corpus}): training a ${vocabSize}-token BPE`);
    const texts = files.map((f) => readFileSync(f, 'utf8'));
    const tok = trainBpe(texts, vocabSize, { name: `bpe-${vocabSize}` });
    mkdirSync(dataDir, { recursive: true });
    saveTokenizer(tokenizerPath, tok);
    const r = prepareData({ textFiles: files, tokenizer: tok, outDir: dataDir, name: 'corpus', valFraction: 0.1, documents: 'paragraph' });
    const m = JSON.parse(readFileSync(r.metaPath, 'utf8'));
    writeFileSync(meta, JSON.stringify({ ...m, source: stamp }, null, 2));
    log(`  ${r.trainTokens} train tokens, ${r.valTokens} val tokens`);
  }
  return { dataDir, tokenizerPath, mcq: join(corpus, 'mcq.jsonl') };
}

const STATE_FILE = 'train_state.safetensors';
const MODEL_FILE = 'model.safetensors';

interface SavedState {
  version: 1;
  step: number;
  t: number;
  loader: DataLoaderState;
  options: TrainOptions;
  tokenizer: string;
  config: unknown;
}

export async function train(partial: Partial<TrainOptions>, log: (line: string) => void = console.log, gpuIn?: GPUContext): Promise<TrainSummary> {
  let o: TrainOptions = { ...TRAIN_DEFAULTS, ...partial };
  const outDir = resolve(o.out);
  const statePath = join(outDir, STATE_FILE);
  const modelPath = join(outDir, MODEL_FILE);
  let saved: SavedState | undefined;
  let savedTensors: Map<string, { shape: number[]; data: Uint8Array }> | undefined;
  if (o.resume) {
    if (!existsSync(statePath) || !existsSync(modelPath)) {
      throw new TrainingError(`--resume: no checkpoint in ${outDir} (expected ${MODEL_FILE} and ${STATE_FILE})`);
    }
    const parsed = parseSafetensors(new Uint8Array(readFileSync(statePath)), statePath);
    saved = JSON.parse(parsed.metadata.state!) as SavedState;
    savedTensors = parsed.tensors as unknown as Map<string, { shape: number[]; data: Uint8Array }>;
    // Model and data come from the checkpoint; the run length and logging may be changed.
    o = { ...saved.options, steps: partial.steps ?? saved.options.steps, logFormat: o.logFormat, resume: true, out: o.out };
  }
  validateOptions(o);
  const text = o.logFormat === 'text';
  const info = (s: string) => (text ? log(s) : undefined);

  // ---- data and tokenizer
  let trainShards: string[], valShards: string[], tokenizerRef: string, mcqPath = o.mcq;
  if (!o.data) {
    const d = prepareDefaultCorpus(outDir, o.vocabSize, info);
    ({ train: trainShards, val: valShards } = listShards(d.dataDir));
    tokenizerRef = o.tokenizer ?? d.tokenizerPath;
    mcqPath ??= d.mcq;
  } else {
    const shards = listShards(o.data);
    trainShards = shards.train;
    // --val-data names validation shards: a file, or a directory whose shards all count as validation.
    const given = o.valData ? listShards(o.valData) : undefined;
    valShards = given ? [...given.val, ...given.train] : shards.val;
    const beside = existsSync(join(o.data, 'tokenizer.json')) ? join(o.data, 'tokenizer.json') : undefined;
    tokenizerRef = o.tokenizer ?? beside ?? 'gpt2';
  }
  const tok = loadTokenizer(saved?.tokenizer ?? tokenizerRef);

  // ---- device and model
  const gpu = gpuIn ?? (await createGPU({ precision: o.precision }));
  let model: GPT2;
  if (o.init && !saved) {
    const ck = await readCheckpoint(o.init);
    if (ck.config.vocabSize < tok.vocabSize) {
      throw new TrainingError(`--init ${o.init}: the model's vocab (${ck.config.vocabSize}) is smaller than the tokenizer's (${tok.vocabSize})`);
    }
    model = new GPT2(gpu, ck.config);
    model.loadWeights(ck.params);
  } else {
    const config = saved ? await readCheckpointConfig(modelPath) : presetConfig(o.preset, tok.vocabSize);
    model = new GPT2(gpu, config);
    if (!saved) model.initRandom(o.seed);
  }
  const cfg = model.config;
  if (o.seqLen > cfg.nPositions) throw new TrainingError(`--seq-len ${o.seqLen} exceeds the model's context (${cfg.nPositions})`);
  const B = o.batchSize, T = o.seqLen;
  const loader = new DataLoader(trainShards.map((f) => readShard(f)), { B, T, shuffle: o.shuffle, seed: o.seed, vocabSize: cfg.vocabSize, names: trainShards });
  const valTokens = valShards.map((f) => readShard(f));
  const valLoader = valTokens.length && o.evalEvery > 0 ? new DataLoader(valTokens, { B, T, shuffle: false, vocabSize: cfg.vocabSize, names: valShards }) : undefined;
  model.allocate(B, T);
  if (model.dtype === 'f16' && !saved) model.setLossScale({ initScale: 2 ** 14, growthInterval: 500 });

  let startStep = 0;
  const history: StepRecord[] = [];
  const val: CurvePoint[] = [];
  const metricsPath = join(outDir, 'metrics.jsonl');
  mkdirSync(outDir, { recursive: true });
  if (saved) {
    const ck = await readCheckpoint(modelPath);
    if (ck.metadata.step !== String(saved.step)) {
      throw new TrainingError(`--resume: ${modelPath} is from step ${ck.metadata.step} but ${statePath} from step ${saved.step}; the checkpoint is inconsistent`);
    }
    model.loadWeights(ck.params);
    model.importOptimizerState(saved.t, savedTensors!, statePath);
    loader.restore(saved.loader);
    startStep = saved.step;
    if (existsSync(metricsPath)) {
      for (const line of readFileSync(metricsPath, 'utf8').split('\n')) {
        if (!line) continue;
        const r = JSON.parse(line) as StepRecord;
        if (r.step >= startStep) break;
        history.push(r);
        if (r.val_loss !== undefined) val.push({ step: r.step + 1, loss: r.val_loss });
      }
    }
    info(`resumed from ${outDir} at step ${startStep}`);
  }
  writeFileSync(metricsPath, history.map((r) => JSON.stringify(r) + '\n').join(''));

  const params = model.params.slots.reduce((n, s) => n + s.numel, 0);
  info(`model ${o.init ?? o.preset}: ${cfg.nLayer} layers, ${cfg.nHead} heads, width ${cfg.nEmbd}, vocab ${cfg.vocabSize} (${(params / 1e6).toFixed(2)}M parameters) | ${model.dtype} on ${gpu.adapterName}`);
  info(`data: ${trainShards.length} train shard(s), ${valShards.length} val shard(s) | tokenizer ${tok.name} | B=${B} T=${T} grad-accum ${o.gradAccum} | ${o.steps} steps`);

  const save = async (step: number) => {
    const opt = await model.exportOptimizerState();
    const state: SavedState = { version: 1, step, t: opt.t, loader: loader.state(), options: o, tokenizer: saved?.tokenizer ?? tokenizerRef, config: cfg };
    await writeFileAtomic(statePath, serializeSafetensors(opt.tensors, { state: JSON.stringify(state) }));
    await writeCheckpoint(modelPath, cfg, await model.weights(), { metadata: { step: String(step), tokenizer: state.tokenizer } });
    writeFileSync(join(outDir, 'loss.svg'), lossCurveSvg(history.map((r) => ({ step: r.step + 1, loss: r.loss })), val, `${o.preset} training loss`));
  };

  const evaluate = async (): Promise<number> => {
    const vl = new DataLoader(valTokens, { B, T, shuffle: false, vocabSize: cfg.vocabSize, names: valShards });
    let sum = 0;
    const n = Math.max(1, o.evalBatches);
    for (let i = 0; i < n; i++) {
      const b = vl.nextBatch();
      sum += await model.forward(b.inputs, b.targets, B, T);
    }
    return sum / n;
  };

  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    info('\ninterrupted: saving a checkpoint after this step (Ctrl-C again to abort)');
    process.once('SIGINT', () => process.exit(130));
  };
  process.once('SIGINT', onSigint);
  const t0 = Date.now();
  let tokensDone = 0;
  let lastSaved = startStep;
  let step = startStep;
  try {
    for (; step < o.steps && !interrupted; step++) {
      const lr = learningRate(step, o);
      const adamw = { lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay, gradClip: o.gradClip };
      const ts = performance.now();
      let loss = 0;
      for (let micro = 0; micro < o.gradAccum; micro++) {
        const b = loader.nextBatch();
        loss += await model.microStep(b.inputs, b.targets, B, T, { first: micro === 0, update: micro === o.gradAccum - 1 ? adamw : undefined, gradAccum: o.gradAccum });
      }
      loss /= o.gradAccum;
      const ms = performance.now() - ts;
      if (!Number.isFinite(loss)) {
        const keep = lastSaved > 0 || o.resume ? `the last good checkpoint (step ${lastSaved}) is in ${outDir}` : 'no checkpoint was written';
        throw new TrainingError(`loss is ${loss} at step ${step + 1}; stopping (${keep})`);
      }
      tokensDone += B * T * o.gradAccum;
      const rec: StepRecord = { step, loss, lr, ms: Math.round(ms * 100) / 100, tokens_per_s: Math.round((B * T * o.gradAccum * 1000) / ms) };
      const done = step + 1;
      if (valLoader && (done % o.evalEvery === 0 || done === o.steps)) {
        rec.val_loss = await evaluate();
        rec.val_ppl = Math.exp(rec.val_loss);
        val.push({ step: done, loss: rec.val_loss });
      }
      if (model.dtype === 'f16' && (done % 25 === 0 || done === o.steps)) rec.loss_scale = (await model.lossScaleState()).scale;
      history.push(rec);
      appendFileSync(metricsPath, JSON.stringify(rec) + '\n');
      if (text) {
        const elapsed = (Date.now() - t0) / 1000;
        const eta = ((o.steps - done) * elapsed) / Math.max(1, done - startStep);
        const valPart = rec.val_loss !== undefined ? ` | val ${rec.val_loss.toFixed(4)} (ppl ${rec.val_ppl!.toFixed(1)})` : '';
        log(`step ${String(done).padStart(String(o.steps).length)}/${o.steps} | loss ${loss.toFixed(4)} | lr ${lr.toExponential(2)} | ${rec.tokens_per_s} tok/s | ${ms.toFixed(0)} ms | ETA ${fmtTime(eta)}${valPart}`);
      } else log(JSON.stringify(rec));
      if (o.saveEvery > 0 && done % o.saveEvery === 0 && done < o.steps) {
        await save(done);
        lastSaved = done;
      }
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  await save(step);
  info(`saved ${modelPath} (step ${step})`);
  const tokensPerSecond = tokensDone / Math.max(1e-9, (Date.now() - t0) / 1000);

  const samples: string[] = [];
  let mcq: McqReport | undefined;
  if (!interrupted) {
    for (const seed of [1, 2]) {
      const prompt = [tok.eotToken, ...tok.encode(o.samplePrompt)];
      const ids = await generate(model, prompt, { maxNewTokens: o.sampleTokens, temperature: 0.8, topK: 40, seed, stopToken: tok.eotToken });
      samples.push(o.samplePrompt + tok.decode(ids.filter((t) => t !== tok.eotToken)));
    }
    info('samples:');
    for (const s of samples) info(`  > ${s.replace(/\n/g, '\n    ')}`);
    if (mcqPath) {
      let records = readMcqFile(mcqPath);
      if (o.mcqLimit > 0) records = records.slice(0, o.mcqLimit);
      mcq = await evaluateMcq(model, tok, records);
      info(formatMcqReport(mcq));
      if (!text) log(JSON.stringify({ mcq: { questions: mcq.questions, accuracy_sum: mcq.accuracySum, accuracy_mean: mcq.accuracyMean, exact_match: mcq.exactMatch } }));
    }
  }
  if (!gpuIn) gpu.destroy();
  return { steps: step, history, val, checkpoint: modelPath, samples, mcq, interrupted, tokensPerSecond };
}

function validateOptions(o: TrainOptions): void {
  const posInt = ['batchSize', 'seqLen', 'gradAccum', 'steps'] as const;
  for (const k of posInt) if (!Number.isInteger(o[k]) || o[k] < 1) throw new TrainingError(`--${flagName(k)} must be a positive integer, got ${o[k]}`);
  const nonNeg = ['warmup', 'evalEvery', 'saveEvery', 'weightDecay', 'gradClip', 'minLr'] as const;
  for (const k of nonNeg) if (!(o[k] >= 0)) throw new TrainingError(`--${flagName(k)} must be >= 0, got ${o[k]}`);
  if (!(o.lr > 0)) throw new TrainingError(`--lr must be > 0, got ${o.lr}`);
  if (!(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1)) throw new TrainingError('--beta1 and --beta2 must be in [0, 1)');
  if (!['cosine', 'linear', 'constant'].includes(o.schedule)) throw new TrainingError(`--schedule must be cosine, linear or constant, got "${o.schedule}"`);
  if (!['auto', 'f16', 'f32'].includes(o.precision)) throw new TrainingError(`--precision must be auto, f16 or f32, got "${o.precision}"`);
  if (!['text', 'jsonl'].includes(o.logFormat)) throw new TrainingError(`--log-format must be text or jsonl, got "${o.logFormat}"`);
  if (o.data && !existsSync(o.data)) throw new TrainingError(`--data: no such file or directory: ${o.data}`);
  if (o.init && !existsSync(o.init)) throw new TrainingError(`--init: no such checkpoint: ${o.init}`);
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
