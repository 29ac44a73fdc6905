// `mqg finetune-mcq` behind the CLI: a multiple-choice / proposition head fine-tuned on MCQ files
// through the shared training loop (loop.ts), with run directories and checkpoints as `mqg train`
// writes them (rundir.node.ts): <out>/checkpoints/step-N/{model.safetensors, config.json,
// tokenizer.json, train_state.safetensors}, the best validation checkpoint in
// <out>/best/checkpoints/step-N/, metrics.jsonl and loss.svg. model.safetensors holds the body under
// HF GPT-2 names plus multiple_choice_head.summary.weight [1, C] and .bias [1].

import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createGPU, type GPUContext } from '../gpu/context';
import { DataError, MQGError, RunDirError } from '../util/errors';
import { GPT2 } from '../model/gpt2';
import { presetConfig, type GPT2Config, type PresetName } from '../model/config';
import { parseSafetensors, toFloat32 } from '../model/source/safetensors';
import { saveGPT2Weights, serializeSafetensors, type TensorToWrite } from '../model/source/safetensors-write';
import { configToHFJson, configToMetadata } from '../model/source/config';
import { readCheckpoint } from '../model/checkpoint.node';
import { UsageError } from '../util/errors';
import { readMcqFile } from './data/mcq.node';
import type { McqFormat, McqRecord } from './data/mcq';
import { formatMetricGroups, metricGroups, type McqMetricGroups } from './data/mcq-metrics';
import { Rng } from '../util/rng';
import { checkModelInputs, resolveModelPath } from './inputs.node';
import { loadTokenizerRecorded, type LoadedTokenizer } from './tokenizer/load.node';
import { checkConsistency } from './consistency';
import { RUN_FILES, TRAIN_DEFAULTS } from './trainer.node';
import { TrainingError } from '../util/errors';
import { ADAPTER_DIR, LORA_TRAIN_DEFAULTS, adapterFiles, loraSetup, writeAdapterFiles, type LoraTrainOptions } from './lora.node';
import { lossCurveSvg, type CurvePoint } from './plot';
import { trainLoop, type StepReport } from './loop';
import { NonFiniteError } from '../util/errors';
import { checkWritableDir, listCheckpoints, removeStaleTemps, saveCheckpoint, writeSynced, CHECKPOINTS } from './rundir.node';
import type { OptimizerOptions } from './trainer.node';
import { HEAD_BIAS, HEAD_WEIGHT, McHead, type HeadBatch, type HeadKind } from '../model/mc-head';
import { itemsBatch, predictionKind, prepareItems, rowLength, scoreByHead, type McqItem } from './finetune-mcq';

/** With --lora / --init-adapter the body is frozen except the adapters; the head trains either way. */
export interface FinetuneMcqOptions extends LoraTrainOptions, OptimizerOptions {
  init?: string;
  preset?: string;
  tokenizer?: string;
  data: string;
  valData?: string;
  /** Without --val-data: hold out this fraction of --data (its last questions). */
  valSplit: number;
  format: McqFormat | 'auto';
  head: HeadKind;
  /** Questions per step. */
  batchSize: number;
  evalEvery: number;
  saveEvery: number;
  keepLast: number;
  maxSkippedSteps: number;
  out: string;
  resume: boolean;
  overwrite: boolean;
  logFormat: 'text' | 'jsonl';
  freezeBody: boolean;
  seed: number;
}

export const FINETUNE_DEFAULTS: Omit<FinetuneMcqOptions, 'data'> = {
  valSplit: 0.2, format: 'auto', head: 'multiple-choice', steps: 200, batchSize: 8,
  lr: 1e-4, minLr: 1e-5, warmup: 10, schedule: 'cosine', weightDecay: 0.01,
  beta1: TRAIN_DEFAULTS.beta1, beta2: 0.999, eps: TRAIN_DEFAULTS.eps, gradClip: TRAIN_DEFAULTS.gradClip,
  precision: 'auto', lossScale: TRAIN_DEFAULTS.lossScale, evalEvery: 50, saveEvery: 0, keepLast: 1,
  maxSkippedSteps: TRAIN_DEFAULTS.maxSkippedSteps, out: 'runs/finetune-mcq', resume: false, overwrite: false,
  logFormat: 'text', freezeBody: false, seed: 1337, ...LORA_TRAIN_DEFAULTS,
};

/** Options that --resume may change; every other one must match the run. */
const RESUME_APPLIES = new Set<keyof FinetuneMcqOptions>(['steps', 'evalEvery', 'saveEvery', 'keepLast', 'maxSkippedSteps', 'out', 'resume', 'logFormat']);

const STATE_VERSION = 1;
interface SavedState {
  version: number;
  kind: 'finetune-mcq';
  step: number;
  modelT: number;
  head: { t: number };
  batcher: BatcherState;
  best?: { step: number; accuracy: number };
  options: FinetuneMcqOptions;
  config: GPT2Config;
}

// ------------------------------------------------------------------ checkpoints with a head

export interface McqModelFile {
  config: GPT2Config;
  params: Map<string, Float32Array>;
  head?: { weight: Float32Array; bias: Float32Array };
  metadata: Record<string, string>;
}

/**
 * Any checkpoint the loader reads (a run or checkpoint directory, a file, an HF directory, hf:id).
 * The loader reads the body (it leaves multiple_choice_head.* out, as of a GPT2DoubleHeadsModel);
 * a safetensors file with those tensors (ours, or GPT2DoubleHeadsModel's) gives the head too.
 */
export async function readMcqModel(path: string, config?: GPT2Config): Promise<McqModelFile> {
  const file = resolveModelPath(path);
  const ck = await readCheckpoint(file, config ? { config } : {});
  const out: McqModelFile = { config: ck.config, params: ck.params, metadata: ck.metadata ?? {} };
  if (!/\.safetensors$/i.test(file) || !statSync(file).isFile()) return out;
  const parsed = parseSafetensors(new Uint8Array(readFileSync(file)), file);
  const w = parsed.tensors.get(HEAD_WEIGHT), b = parsed.tensors.get(HEAD_BIAS);
  if (!w && !b) return out;
  if (!w || !b) throw new MQGError(`${file}: has "${w ? HEAD_WEIGHT : HEAD_BIAS}" without "${w ? HEAD_BIAS : HEAD_WEIGHT}"`);
  return { ...out, head: { weight: toFloat32(w, HEAD_WEIGHT), bias: toFloat32(b, HEAD_BIAS) } };
}

/** model.safetensors bytes: the body under HF GPT-2 names, then the head's two tensors. */
async function modelBytes(model: GPT2, head: McHead, meta: Record<string, string>): Promise<Uint8Array> {
  const body = parseSafetensors(saveGPT2Weights(model.config, await model.weights(), 'F32', meta));
  const tensors: TensorToWrite[] = [...body.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: t.data }));
  for (const t of await head.tensors()) tensors.push({ name: t.name, dtype: 'F32', shape: t.shape, data: t.data });
  return serializeSafetensors(tensors, body.metadata);
}

// ------------------------------------------------------------------ batches

interface BatcherState { epoch: number; pos: number }

/** Questions in a shuffled order per epoch (a permutation seeded by (seed, epoch)), batchSize per step. */
class McqBatcher {
  private order: number[] = [];
  state: BatcherState = { epoch: 0, pos: 0 };
  constructor(private readonly items: McqItem[], private readonly batchSize: number, private readonly T: number, private readonly pad: number, private readonly seed: number) {
    this.shuffle();
  }
  private shuffle(): void {
    const rng = new Rng((this.seed ^ Math.imul(this.state.epoch + 1, 0x9e3779b1)) >>> 0);
    this.order = this.items.map((_, i) => i);
    for (let i = this.order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [this.order[i], this.order[j]] = [this.order[j]!, this.order[i]!];
    }
  }
  restore(s: BatcherState): void {
    this.state = { ...s };
    this.shuffle();
  }
  nextBatch(): HeadBatch {
    const chosen: McqItem[] = [];
    while (chosen.length < Math.min(this.batchSize, this.items.length)) {
      if (this.state.pos >= this.order.length) {
        this.state = { epoch: this.state.epoch + 1, pos: 0 };
        this.shuffle();
      }
      chosen.push(this.items[this.order[this.state.pos++]!]!);
    }
    return itemsBatch(chosen, this.T, this.pad);
  }
}

// ------------------------------------------------------------------ the run

export interface FinetuneMcqSummary {
  steps: number;
  history: StepReport[];
  /** Validation metrics at the end (undefined without validation questions). */
  val?: McqMetricGroups;
  best?: { step: number; accuracy: number; dir: string };
  checkpoint: string;
  interrupted: boolean;
}

function validateOptions(o: FinetuneMcqOptions): void {
  if (!o.data && !o.resume) throw new UsageError('mqg finetune-mcq: --data is required (a multiple-choice file)');
  if (o.init && o.preset) throw new UsageError('mqg finetune-mcq: --init and --preset exclude each other');
  if (!o.init && !o.preset && !o.resume) throw new UsageError('mqg finetune-mcq: give --init CHECKPOINT (fine-tune a model) or --preset P (a new model)');
  if (o.preset && !o.tokenizer && !o.resume) throw new UsageError('mqg finetune-mcq: a new --preset model needs --tokenizer (gpt2 or a tokenizer.json)');
  if (o.resume && o.overwrite) throw new UsageError('mqg finetune-mcq: --overwrite and --resume exclude each other');
  if (!(o.valSplit >= 0 && o.valSplit < 1)) throw new UsageError(`mqg finetune-mcq: --val-split must be in [0, 1); got ${o.valSplit}`);
  if (o.data && !existsSync(o.data)) throw new DataError(`--data: no such file: ${o.data}`);
  if (o.valData && !existsSync(o.valData)) throw new DataError(`--val-data: no such file: ${o.valData}`);
  if (o.init && !existsSync(o.init)) throw new DataError(`--init: no such checkpoint: ${o.init}`);
  if (o.initAdapter && !existsSync(o.initAdapter)) throw new DataError(`--init-adapter: no such adapter directory: ${o.initAdapter}`);
  if (o.freezeBody && (o.lora || o.initAdapter)) throw new UsageError('mqg finetune-mcq: --freeze-body and --lora / --init-adapter exclude each other (LoRA already freezes the body but its adapters)');
}

export async function finetuneMcq(given: Partial<FinetuneMcqOptions>, log: (line: string) => void = console.log, gpuIn?: GPUContext): Promise<FinetuneMcqSummary> {
  let o = { ...FINETUNE_DEFAULTS, ...given } as FinetuneMcqOptions;
  validateOptions(o);
  const outDir = resolve(o.out);
  checkWritableDir(o.out);
  removeStaleTemps(outDir);
  removeStaleTemps(join(outDir, 'best'));
  let saved: SavedState | undefined;
  let savedTensors: Map<string, { shape: number[]; data: Uint8Array }> | undefined;
  let ckptDir: string | undefined;
  if (o.resume) {
    const all = listCheckpoints(outDir);
    if (!all.length) throw new RunDirError(`--resume: no checkpoint in ${join(o.out, CHECKPOINTS)}`);
    ckptDir = all[all.length - 1]!.dir;
    const statePath = join(ckptDir, RUN_FILES.STATE_FILE);
    const parsed = parseSafetensors(new Uint8Array(readFileSync(statePath)), statePath);
    saved = JSON.parse(parsed.metadata.state ?? '{}') as SavedState;
    if (saved.kind !== 'finetune-mcq' || saved.version !== STATE_VERSION) throw new RunDirError(`--resume: ${statePath} is not a finetune-mcq state of version ${STATE_VERSION}`);
    savedTensors = parsed.tensors as unknown as Map<string, { shape: number[]; data: Uint8Array }>;
    for (const [k, v] of Object.entries(given) as [keyof FinetuneMcqOptions, unknown][]) {
      if (v === undefined || RESUME_APPLIES.has(k)) continue;
      if (JSON.stringify(v) !== JSON.stringify(saved.options[k])) {
        throw new UsageError(`mqg finetune-mcq --resume: --${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${JSON.stringify(v)} differs from the run's ${JSON.stringify(saved.options[k])}`);
      }
    }
    o = { ...saved.options, ...Object.fromEntries(Object.entries(given).filter(([k, v]) => v !== undefined && RESUME_APPLIES.has(k as keyof FinetuneMcqOptions))), resume: true, out: o.out };
    validateOptions({ ...o, init: undefined });
  } else if (existsSync(join(outDir, CHECKPOINTS)) || existsSync(join(outDir, 'metrics.jsonl'))) {
    if (!o.overwrite) throw new RunDirError(`--out ${o.out} already holds a run; continue it with --resume, or replace it with --overwrite`);
    for (const f of [CHECKPOINTS, 'best', 'metrics.jsonl', 'loss.svg', 'report.json']) rmSync(join(outDir, f), { recursive: true, force: true });
  }
  const text = o.logFormat === 'text';
  const info = (s: string) => (text ? log(s) : undefined);

  // ---- model, head and tokenizer
  const source = saved ? ckptDir! : o.init;
  const file = source ? await readMcqModel(source, saved?.config) : undefined;
  const config = file?.config ?? presetConfig(o.preset as PresetName, loadTokenizerRecorded(o.tokenizer!).record.vocabSize);
  let tk: LoadedTokenizer;
  if (source) {
    tk = checkModelInputs({ checkpoint: source, vocabSize: config.vocabSize, tokenizer: saved ? undefined : o.tokenizer, needTokenizer: true, command: 'finetune-mcq' }).tokenizer!;
  } else {
    tk = loadTokenizerRecorded(o.tokenizer!);
    checkConsistency({ model: { source: `the new ${o.preset} model`, vocabSize: config.vocabSize }, tokenizer: { source: o.tokenizer!, record: tk.record }, shards: [] });
  }
  const tok = tk.tokenizer;

  // ---- data
  let train = readMcqFile(o.data, o.format);
  let valRecs: McqRecord[] = [];
  if (o.valData) valRecs = readMcqFile(o.valData, o.format);
  else if (o.valSplit > 0) {
    const n = Math.floor(train.length * o.valSplit);
    valRecs = train.slice(train.length - n);
    train = train.slice(0, train.length - n);
  }
  if (!train.length) throw new DataError(`${o.data}: no training questions`);
  const trainItems = prepareItems(tok, train, config.nPositions);
  const valItems = prepareItems(tok, valRecs, config.nPositions);
  const T = Math.max(rowLength(trainItems), valItems.length ? rowLength(valItems) : 1);
  const maxOptions = Math.max(...train.map((r) => r.options.length));
  const rowsPerStep = Math.min(train.length, o.batchSize) * maxOptions;

  // ---- device
  const gpu = gpuIn ?? (await createGPU({ precision: o.precision }));
  // LoRA (--lora / --init-adapter): the body frozen but its adapters; a resumed run's adapter is its checkpoint's.
  const lora = await loraSetup(saved && (o.lora || o.initAdapter) ? { ...o, initAdapter: join(ckptDir!, ADAPTER_DIR) } : o, config, o.init, 'mqg finetune-mcq');
  const model = new GPT2(gpu, config, { precision: o.precision === 'auto' ? undefined : o.precision, training: !o.freezeBody, ...lora.options });
  if (file) model.loadWeights(file.params);
  else model.initRandom(o.seed);
  if (lora.weights) model.lora!.load(lora.weights);
  else model.lora?.initRandom(o.seed); // new adapters: A random (--seed), B zero
  model.allocate(rowsPerStep, T);
  const head = new McHead(gpu, config.nEmbd, o.head);
  if (file?.head) head.load(file.head.weight, file.head.bias, source);
  else head.initRandom(o.seed + 1);
  const batcher = new McqBatcher(trainItems, o.batchSize, T, tok.eotToken, o.seed);
  if (model.dtype === 'f16' && !o.freezeBody && !saved) model.setLossScale({ initScale: o.lossScale, growthInterval: 500 });
  let best = saved?.best;
  if (saved) {
    if (!o.freezeBody) model.importOptimizerState(saved.modelT, savedTensors!, join(ckptDir!, RUN_FILES.STATE_FILE));
    const get = (n: string) => {
      const t = savedTensors!.get(n);
      if (!t) throw new RunDirError(`--resume: ${ckptDir} has no "${n}" in its train state`);
      return new Float32Array(t.data.slice().buffer);
    };
    head.loadOptimizerState({ t: saved.head.t, m: get('head.adam_m'), v: get('head.adam_v') });
    batcher.restore(saved.batcher);
  }
  const startStep = saved?.step ?? 0;
  const params = model.params.slots.reduce((n, s) => n + s.numel, 0);
  info(`model ${source ?? o.preset}: ${config.nLayer} layers, width ${config.nEmbd} (${(params / 1e6).toFixed(2)}M parameters) + ${o.head} head | ${model.dtype} on ${gpu.adapterName}${o.freezeBody ? ' | body frozen' : ''}${model.lora ? ` | LoRA r ${model.lora.config.r} on ${model.lora.config.targetModules}` : ''}`);
  info(`data: ${train.length} train, ${valRecs.length} validation questions | ${o.batchSize} questions (${rowsPerStep} rows x ${T} tokens) per step | ${o.steps} steps`);

  // ---- hooks: validation (and the best checkpoint), saving, logging
  const metricsPath = join(outDir, 'metrics.jsonl');
  const history: StepReport[] = [];
  const lossCurve: CurvePoint[] = [];
  const valCurve: CurvePoint[] = [];
  if (!saved) writeFileSync(metricsPath, '');
  let lastVal: McqMetricGroups | undefined;
  let lastValLoss = NaN;
  const validate = async (): Promise<number> => {
    const preds = await scoreByHead(model, head, valItems, tok.eotToken, rowsPerStep, T);
    lastVal = metricGroups(preds, predictionKind(head));
    lastValLoss = valLoss(preds, o.head);
    return lastValLoss;
  };
  const meta = (step: number): Record<string, string> => ({
    step: String(step), tokenizer_sha256: tk.record.hash, tokenizer_vocab_size: String(tk.record.vocabSize), tokenizer_name: tk.record.name ?? '', mcq_head: o.head,
  });
  const writeCheckpoint = async (runDir: string, step: number, keep: number) => {
    const weights = await modelBytes(model, head, meta(step));
    const adapter = await adapterFiles(model);
    const opt = o.freezeBody ? { t: 0, tensors: [] } : await model.exportOptimizerState();
    const hs = await head.optimizerState();
    const state: SavedState = { version: STATE_VERSION, kind: 'finetune-mcq', step, modelT: opt.t, head: { t: hs.t }, batcher: batcher.state, best, options: { ...o, resume: false, overwrite: false }, config };
    const tensors: TensorToWrite[] = [...opt.tensors, { name: 'head.adam_m', dtype: 'F32', shape: [hs.m.length], data: hs.m }, { name: 'head.adam_v', dtype: 'F32', shape: [hs.v.length], data: hs.v }];
    const stateBytes = serializeSafetensors(tensors, { ...configToMetadata(config), state: JSON.stringify(state) });
    return saveCheckpoint(runDir, step, async (tmp) => {
      writeSynced(join(tmp, RUN_FILES.MODEL_FILE), weights);
      writeSynced(join(tmp, 'config.json'), JSON.stringify({ ...configToHFJson(config), architectures: ['GPT2DoubleHeadsModel'], num_labels: 1, summary_type: 'cls_index', summary_use_proj: true, summary_proj_to_labels: true, summary_activation: null, summary_first_dropout: 0 }, null, 2) + '\n');
      if (tk.json) writeSynced(join(tmp, RUN_FILES.TOKENIZER_FILE), tk.json);
      writeSynced(join(tmp, RUN_FILES.STATE_FILE), stateBytes);
      writeAdapterFiles(tmp, adapter, writeSynced);
    }, keep);
  };
  let lastCheckpoint = ckptDir ?? '';
  let bestDir = best ? listCheckpoints(join(outDir, 'best')).at(-1)?.dir ?? '' : '';
  const t0 = Date.now();
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log('\ninterrupted: saving a checkpoint after this step (Ctrl-C again to exit)');
  };
  process.on('SIGINT', onSigint);
  let summary;
  try {
    summary = await trainLoop({
      model, batches: batcher, startStep, steps: o.steps, maxSkippedSteps: o.maxSkippedSteps,
      microStep: (batch, s) => head.step(model, batch, { update: s.update!, body: !o.freezeBody }),
      tokensPerMicroBatch: rowsPerStep * T,
      schedule: o, adamw: { beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay, gradClip: o.gradClip },
      evaluate: valItems.length ? { every: o.evalEvery > 0 ? o.evalEvery : o.steps, run: validate } : undefined,
      save: { every: o.saveEvery, run: async (done) => { lastCheckpoint = await writeCheckpoint(outDir, done, o.keepLast); } },
      shouldStop: () => interrupted,
      onStep: async (r) => {
        history.push(r);
        const done = r.step + 1;
        const rec: Record<string, number | boolean> = { step: r.step, loss: r.loss, lr: r.lr, ms: Math.round(r.ms * 100) / 100, questions_per_s: Math.round((o.batchSize * 1000 * 10) / Math.max(1e-9, r.ms)) / 10 };
        rec.grad_norm = r.gradNorm; // the body's update, or the head's with the body frozen
        lossCurve.push({ step: done, loss: r.loss });
        let valPart = '';
        if (r.valLoss !== undefined && lastVal) {
          const m = lastVal.overall;
          Object.assign(rec, { val_loss: r.valLoss, val_accuracy: m.accuracy, val_chance: m.chance.accuracy });
          if (o.head === 'proposition') Object.assign(rec, { val_emr: m.emr, val_hamming: m.hamming });
          valCurve.push({ step: done, loss: r.valLoss });
          valPart = ` | val loss ${r.valLoss.toFixed(4)} accuracy ${pct(m.accuracy)} (chance ${pct(m.chance.accuracy)})` + (o.head === 'proposition' ? ` EMR ${pct(m.emr)} Hamming ${pct(m.hamming)}` : '');
          if (!best || m.accuracy > best.accuracy) {
            best = { step: done, accuracy: m.accuracy };
            bestDir = await writeCheckpoint(join(outDir, 'best'), done, 1);
            valPart += ' | best';
          }
        }
        writeFileSync(metricsPath, JSON.stringify(rec) + '\n', { flag: 'a' });
        if (text) {
          const eta = ((o.steps - done) * (Date.now() - t0)) / 1000 / Math.max(1, done - startStep);
          log(`step ${String(done).padStart(String(o.steps).length)}/${o.steps} | loss ${r.loss.toFixed(4)} | lr ${r.lr.toExponential(2)} | ${rec.questions_per_s} q/s | ${r.ms.toFixed(0)} ms | ETA ${Math.round(eta)}s${valPart}`);
        } else log(JSON.stringify(rec));
      },
    });
  } catch (e) {
    if (e instanceof NonFiniteError) throw new TrainingError(`${e.message}; stopping (the last good checkpoint is step ${e.lastGoodCheckpoint ?? 'none'})`);
    throw e;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  writeFileSync(join(outDir, 'loss.svg'), lossCurveSvg(lossCurve, valCurve, `finetune-mcq (${o.head}) loss`));
  if (lastVal) for (const line of formatMetricGroups(`validation (${valRecs.length} questions, the ${o.head} head):`, lastVal)) info(line);
  if (lastVal) writeFileSync(join(outDir, 'report.json'), JSON.stringify({ head: o.head, step: summary.stepsDone, validation: lastVal, best }, null, 2) + '\n');
  info(`saved ${lastCheckpoint}${best ? ` | best: step ${best.step}, val accuracy ${pct(best.accuracy)} in ${bestDir}` : ''}`);
  model.destroy();
  head.destroy();
  if (!gpuIn) gpu.destroy();
  return { steps: summary.stepsDone, history, val: lastVal, best: best ? { ...best, dir: bestDir } : undefined, checkpoint: lastCheckpoint, interrupted: summary.interrupted };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The head's mean validation loss from its scores (the training loss, without a readback per chunk). */
function valLoss(preds: { scores: number[]; answer: number[] }[], kind: HeadKind): number {
  let sum = 0, n = 0;
  for (const p of preds) {
    if (kind === 'proposition') {
      p.scores.forEach((s, i) => { sum += Math.max(s, 0) + Math.log1p(Math.exp(-Math.abs(s))) - (p.answer.includes(i) ? s : 0); n++; });
    } else {
      const m = Math.max(...p.scores);
      const lse = m + Math.log(p.scores.reduce((a, s) => a + Math.exp(s - m), 0));
      sum += lse - p.answer.reduce((a, i) => a + p.scores[i]!, 0) / p.answer.length;
      n++;
    }
  }
  return sum / Math.max(1, n);
}
