// `finetuneMcq`, the library function behind `mqg finetune-mcq`: a multiple-choice / proposition head
// fine-tuned on MCQ files. Options → inputs (the model's config and tokenizer from the one open
// checkpoint, the questions as option rows) → the model and head (weights streamed from that open;
// weights.node.ts) → `trainLoop` on the run lifecycle `train` uses (run.node.ts: run directory,
// resume, overwrite, Ctrl-C, metrics.jsonl, loss.svg, checkpoints, best/). A checkpoint's
// model.safetensors holds the body under HF GPT-2 names plus multiple_choice_head.summary.weight
// [1, C] and .bias [1]; <out>/best/checkpoints/step-N/ holds the best validation accuracy's.
// On a quantized base (--lora --quantize q8_0|q4_0, QLoRA's recipe) a checkpoint holds no
// model.safetensors: adapter/ and mc_head.safetensors (the head, and the base: --init's model file
// and the quantization type); --resume, eval-mcq and serve quantize that base again as it streams in.

import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createGPU, type GPUContext } from '../gpu/context';
import { DataError, RunDirError, UsageError } from '../util/errors';
import { GPT2 } from '../model/gpt2';
import { presetConfig, type GPT2Config, type PresetName } from '../model/config';
import { configToHFJson } from '../model/source/config';
import { streamWeights } from '../model/source/load';
import { HEAD_KINDS, McHead, type HeadKind } from '../model/mc-head';
import { readMcqSource } from './data/mcq-source.node';
import { checkLocalSource, parseHubDatasetId } from './data/hub-dataset.node';
import { MCQ_FORMATS, mcqLeaks, type McqFormat, type McqRecord } from './data/mcq';
import { formatMetricGroups, metricGroups, type McqMetricGroups } from './data/mcq-metrics';
import { checkModelInputs, resolveModelPath } from './inputs.node';
import { loadTokenizerRecorded, type LoadedTokenizer } from './tokenizer/load.node';
import { checkConsistency } from './consistency';
import { adapterFiles, quantizedBaseLine, LORA_TRAIN_DEFAULTS, LORA_TRAIN_RULES, runLoraSetup, type LoraTrainOptions } from './lora.node';
import type { StepReport } from './loop';
import { checkOptions, definedOptions, resumedOptions, type OptionRules } from './options';
import { Run, type CheckpointFiles, type MetricRecord, type RunState } from './run.node';
import { withCheckpoint, modelFileBytes, readHead, headFileBytes, readQuantizedHeadFile, BASE_MODEL_KEY, BASE_QUANTIZATION_KEY, type TrainCheckpoint } from './weights.node';
import { RUN_FILES } from './rundir.node';
import type { QuantType } from '../model/quantized';
import { OPTIMIZER_RULES, PRESETS, RUN_RULES, TRAIN_DEFAULTS, type OptimizerOptions, type RunOptions } from './train-options.node';
import { decideDropout, describeRunDropout, DROPOUT_TRAIN_RULES, type DropoutTrainOptions, type RunDropout } from './dropout';
import type { ConfigDropout } from '../model/source/config';
import { headValLoss, McqBatcher, predictionKind, prepareItems, rowLength, scoreByHead, type BatcherState, type McqItem } from './finetune-mcq';

export { readMcqModel, type McqModelFile } from './weights.node';

/** With --lora / --init-adapter the body is frozen except the adapters; the head trains either way. */
export interface FinetuneMcqOptions extends LoraTrainOptions, DropoutTrainOptions, OptimizerOptions, RunOptions {
  init?: string;
  preset?: string;
  tokenizer?: string;
  data: string;
  valData?: string;
  /** The split of --data to read (the Hub's split naming: train, validation, test, ...). */
  split?: string;
  /** Map the columns of --data / --val-data to ours (question=,options=,answer=), or a format's name. */
  columns?: string;
  /** Without --val-data: hold out this fraction of --data (its last questions). */
  valSplit: number;
  format: McqFormat | 'auto';
  head: HeadKind;
  /** Questions per step. */
  batchSize: number;
  freezeBody: boolean;
}

export const FINETUNE_DEFAULTS: Omit<FinetuneMcqOptions, 'data'> = {
  valSplit: 0.2, format: 'auto', head: 'multiple-choice', steps: 200, batchSize: 8,
  lr: 1e-4, minLr: 1e-5, warmup: 10, schedule: 'cosine', weightDecay: 0.01,
  beta1: TRAIN_DEFAULTS.beta1, beta2: 0.999, eps: TRAIN_DEFAULTS.eps, gradClip: TRAIN_DEFAULTS.gradClip,
  precision: 'auto', lossScale: TRAIN_DEFAULTS.lossScale, evalEvery: 50, saveEvery: 0, keepLast: 1,
  maxSkippedSteps: TRAIN_DEFAULTS.maxSkippedSteps, out: 'runs/finetune-mcq', resume: false, overwrite: false,
  logFormat: 'text', freezeBody: false, seed: 1337, ...LORA_TRAIN_DEFAULTS,
};

const fixed = { resume: 'fixed' } as const;
/** Every `finetuneMcq` option's rule; the CLI's `mqg finetune-mcq` flags are these, in this order. */
export const FINETUNE_RULES: OptionRules<FinetuneMcqOptions> = {
  init: { type: 'string', ...fixed },
  preset: { type: 'string', choices: PRESETS, ...fixed },
  data: { type: 'string', ...fixed },
  valData: { type: 'string', ...fixed },
  split: { type: 'string', ...fixed },
  columns: { type: 'string', ...fixed },
  valSplit: { type: 'number', min: 0, max: 1, maxExclusive: true, ...fixed },
  format: { choices: ['auto', ...MCQ_FORMATS], ...fixed },
  head: { choices: HEAD_KINDS, ...fixed },
  batchSize: { type: 'int', min: 1, ...fixed },
  evalEvery: RUN_RULES.evalEvery,
  freezeBody: { type: 'boolean', ...fixed },
  out: RUN_RULES.out,
  ...OPTIMIZER_RULES,
  saveEvery: RUN_RULES.saveEvery,
  keepLast: RUN_RULES.keepLast,
  maxSkippedSteps: RUN_RULES.maxSkippedSteps,
  resume: RUN_RULES.resume,
  overwrite: RUN_RULES.overwrite,
  logFormat: RUN_RULES.logFormat,
  seed: RUN_RULES.seed,
  tokenizer: { type: 'string', ...fixed },
  ...DROPOUT_TRAIN_RULES,
  ...LORA_TRAIN_RULES,
};

interface FinetuneState extends RunState<FinetuneMcqOptions> {
  kind: 'finetune-mcq';
  version: 1;
  modelT: number;
  head: { t: number };
  batcher: BatcherState;
  best?: { step: number; accuracy: number };
  /** The dropout rates the run trains with (absent in runs from before dropout: none). */
  dropout?: ConfigDropout;
  /** On a quantized base (--quantize): its model file (absolute) and the type; the checkpoints hold no body. */
  base?: QuantizedBase;
}

interface QuantizedBase { source: string; quantize: QuantType }

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
  checkOptions('finetune-mcq', FINETUNE_RULES, FINETUNE_DEFAULTS, o);
  if (!o.data && !o.resume) throw new UsageError('mqg finetune-mcq: --data is required (a multiple-choice file)');
  if (o.init && o.preset) throw new UsageError('mqg finetune-mcq: --init and --preset exclude each other');
  if (!o.init && !o.preset && !o.resume) throw new UsageError('mqg finetune-mcq: give --init CHECKPOINT (fine-tune a model) or --preset P (a new model)');
  if (o.preset && !o.tokenizer && !o.resume) throw new UsageError('mqg finetune-mcq: a new --preset model needs --tokenizer (gpt2 or a tokenizer.json)');
  if (o.resume && o.overwrite) throw new UsageError('mqg finetune-mcq: --overwrite and --resume exclude each other');
  // a Hub dataset (hf://datasets/...) is found or fetched when read; a directory is read by --split
  for (const [flag, f] of [['--data', o.data], ['--val-data', o.valData]] as const) {
    if (f && !parseHubDatasetId(f)) checkLocalSource(f, flag);
  }
  if (o.init && !existsSync(o.init)) throw new DataError(`--init: no such checkpoint: ${o.init}`);
  if (o.initAdapter && !existsSync(o.initAdapter)) throw new DataError(`--init-adapter: no such adapter directory: ${o.initAdapter}`);
  // a quantized base is frozen, and found again from --init (resume, eval-mcq, serve): a new --preset model has no source to quantize again
  if (o.quantize && !o.resume && !o.init) throw new UsageError(`mqg finetune-mcq: --quantize ${o.quantize} needs --init CHECKPOINT (the base is quantized from it, and again on --resume, eval-mcq and serve)`);
  if (o.quantize && !o.resume && !o.lora && !o.initAdapter) throw new UsageError(`mqg finetune-mcq: --quantize ${o.quantize} needs --lora R (or --init-adapter): a quantized base is frozen, only LoRA adapters train on it`);
  if (o.freezeBody && (o.lora || o.initAdapter)) throw new UsageError('mqg finetune-mcq: --freeze-body and --lora / --init-adapter exclude each other (LoRA already freezes the body but its adapters)');
}

type McqRun = Run<FinetuneState, MetricRecord & Record<string, unknown>>;
interface McqData { train: McqRecord[]; valRecs: McqRecord[]; trainItems: McqItem[]; valItems: McqItem[]; T: number; rowsPerStep: number }

export async function finetuneMcq(partial: Partial<FinetuneMcqOptions>, log: (line: string) => void = console.log, gpuIn?: GPUContext): Promise<FinetuneMcqSummary> {
  const given = definedOptions(partial);
  let o = { ...FINETUNE_DEFAULTS, ...given } as FinetuneMcqOptions;
  validateOptions(o);
  const run: McqRun = Run.open('finetune-mcq', 1, o);
  const saved = run.resumed?.state;
  if (saved) {
    o = resumedOptions('finetune-mcq', FINETUNE_RULES, saved.options, given, run.out);
    validateOptions({ ...o, init: undefined });
  }
  const info = run.logTo(log, o.logFormat);
  const source = saved ? run.resumed!.dir : o.init;
  // on a quantized base the checkpoints hold the adapter and the head (mc_head.safetensors): the base is --init's, quantized again
  const base: QuantizedBase | undefined = saved ? saved.base : o.quantize ? { source: resolve(resolveModelPath(o.init!)), quantize: o.quantize } : undefined;
  const headFile = saved && base ? join(run.resumed!.dir, RUN_FILES.HEAD_FILE) : undefined;
  if (headFile && !existsSync(base!.source)) throw new DataError(`--resume: the run's base ${base!.source} (its --init, quantized ${base!.quantize}) is not there; its checkpoints hold only the adapter and the head`);
  const gpu = gpuIn ?? (await createGPU({ precision: o.precision }));
  const { model, head, tk, data, drop } = await withCheckpoint(base ? resolveModelPath(base.source) : source && resolveModelPath(source), saved?.config, async (ck) => {
    const { config, tk } = mcqModelInputs(o, ck, headFile ?? source, headFile ? undefined : ck?.metadata);
    const data = await mcqData(o, tk, config);
    return { tk, data, ...(await mcqModel(o, gpu, config, ck, headFile ?? source, run, data, headFile)) };
  });
  const sameFile = !!o.valData && resolve(o.valData) === resolve(o.data);
  if (sameFile) info(`warning: --val-data ${o.valData} is the same file as --data: the validation score is not held out`);
  for (const w of mcqLeaks(o.data, data.train, sameFile ? [] : data.valRecs, o.valData ?? o.data)) info(w);
  const tok = tk.tokenizer;
  const batcher = new McqBatcher(data.trainItems, o.batchSize, data.T, tok.eotToken, o.seed);
  if (saved) batcher.restore(saved.batcher);
  const params = model.params.slots.reduce((n, s) => n + s.numel, 0);
  info(`model ${source ?? o.preset}: ${model.config.nLayer} layers, width ${model.config.nEmbd} (${(params / 1e6).toFixed(2)}M parameters) + ${o.head} head | ${model.dtype} on ${gpu.adapterName}${o.freezeBody ? ' | body frozen' : ''}${model.lora ? ` | LoRA r ${model.lora.config.r} on ${model.lora.config.targetModules}` : ''}`);
  info(describeRunDropout(drop, ['embd', 'resid', 'attn', 'summary'], model.lora?.config.loraDropout));
  if (model.quantizedBase) info(quantizedBaseLine(model));
  info(`data: ${data.train.length} train, ${data.valRecs.length} validation questions | ${o.batchSize} questions (${data.rowsPerStep} rows x ${data.T} tokens) per step | ${o.steps} steps`);

  let best = saved?.best, bestDir = best ? run.bestDir() : '';
  let lastVal: McqMetricGroups | undefined;
  const validate = async (): Promise<number> => {
    const preds = await scoreByHead(model, head, data.valItems, tok.eotToken, data.rowsPerStep, data.T);
    lastVal = metricGroups(preds, predictionKind(head));
    return headValLoss(preds, o.head);
  };
  const files = (step: number) => mcqCheckpointFiles(model, head, tk, o, { kind: 'finetune-mcq', version: 1, step, modelT: 0, head: { t: 0 }, batcher: batcher.state, best, options: { ...o, resume: false, overwrite: false }, config: model.config, dropout: drop.rates, base });
  const summary = await run.train({
    model, batches: batcher, steps: o.steps, maxSkippedSteps: o.maxSkippedSteps,
    microStep: (batch, s) => head.step(model, batch, { update: s.update!, body: !o.freezeBody }),
    tokensPerMicroBatch: data.rowsPerStep * data.T,
    schedule: o, adamw: { beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay, gradClip: o.gradClip },
    evaluate: data.valItems.length ? { every: o.evalEvery > 0 ? o.evalEvery : o.steps, run: validate } : undefined,
    onStep: async (r) => {
      const m = r.valLoss !== undefined ? lastVal?.overall : undefined;
      if (m && (!best || m.accuracy > best.accuracy)) {
        best = { step: r.step + 1, accuracy: m.accuracy };
        bestDir = await run.saveBest(r.step + 1, await files(r.step + 1));
      }
      logMcqStep(run, r, o, m, best?.step === r.step + 1 && !!m);
    },
  }, { every: o.saveEvery, keepLast: o.keepLast, files }, `finetune-mcq (${o.head}) loss`);
  if (lastVal) for (const line of formatMetricGroups(`validation (${data.valRecs.length} questions, the ${o.head} head):`, lastVal)) info(line);
  if (lastVal) writeFileSync(join(run.outDir, 'report.json'), JSON.stringify({ head: o.head, step: summary.stepsDone, validation: lastVal, best }, null, 2) + '\n');
  info(`saved ${run.lastCheckpoint}${best ? ` | best: step ${best.step}, val accuracy ${pct(best.accuracy)} in ${bestDir}` : ''}`);
  model.destroy();
  head.destroy();
  if (!gpuIn) gpu.destroy();
  return { steps: summary.stepsDone, history: summary.history, val: lastVal, best: best ? { ...best, dir: bestDir } : undefined, checkpoint: run.lastCheckpoint, interrupted: summary.interrupted };
}

/** The model's config (the open checkpoint's, or a preset's) and the tokenizer that belongs to it. */
function mcqModelInputs(o: FinetuneMcqOptions, ck: TrainCheckpoint | undefined, source: string | undefined, metadata: Record<string, string> | undefined): { config: GPT2Config; tk: LoadedTokenizer } {
  if (ck) {
    const tk = checkModelInputs({ checkpoint: source!, vocabSize: ck.config.vocabSize, tokenizer: o.resume ? undefined : o.tokenizer, needTokenizer: true, command: 'finetune-mcq', metadata }).tokenizer!;
    return { config: ck.config, tk };
  }
  const tk = loadTokenizerRecorded(o.tokenizer!);
  const config = presetConfig(o.preset as PresetName, tk.record.vocabSize);
  checkConsistency({ model: { source: `the new ${o.preset} model`, vocabSize: config.vocabSize }, tokenizer: { source: o.tokenizer!, record: tk.record }, shards: [] });
  return { config, tk };
}

/** The questions (--val-data, or the last --val-split of --data held out) as option rows, and the batch shape. */
async function mcqData(o: FinetuneMcqOptions, tk: LoadedTokenizer, config: GPT2Config): Promise<McqData> {
  let train = (await readMcqSource(o.data, { format: o.format, columns: o.columns, split: o.split })).records;
  let valRecs: McqRecord[] = [];
  if (o.valData) valRecs = (await readMcqSource(o.valData, { format: o.format, columns: o.columns })).records;
  else if (o.valSplit > 0) {
    const n = Math.floor(train.length * o.valSplit);
    valRecs = train.slice(train.length - n);
    train = train.slice(0, train.length - n);
  }
  if (!train.length) throw new DataError(`${o.data}: no training questions`);
  const trainItems = prepareItems(tk.tokenizer, train, config.nPositions);
  const valItems = prepareItems(tk.tokenizer, valRecs, config.nPositions);
  const T = Math.max(rowLength(trainItems), valItems.length ? rowLength(valItems) : 1);
  const rowsPerStep = Math.min(train.length, o.batchSize) * Math.max(...train.map((r) => r.options.length));
  return { train, valRecs, trainItems, valItems, T, rowsPerStep };
}

/** The model (weights streamed from `ck`, or random) and the head (the checkpoint's, a quantized-base run's `headFile`, or new); a resumed run's optimiser states. */
async function mcqModel(o: FinetuneMcqOptions, gpu: GPUContext, config: GPT2Config, ck: TrainCheckpoint | undefined, source: string | undefined, run: McqRun, data: McqData, headFile?: string): Promise<{ model: GPT2; head: McHead; drop: RunDropout }> {
  const saved = run.resumed;
  // LoRA (--lora / --init-adapter): the body frozen but its adapters; a resumed run's adapter is its checkpoint's.
  const lora = await runLoraSetup(o, config, o.init, saved?.dir, 'mqg finetune-mcq');
  const drop = decideDropout(o.dropout, ck?.dropout, saved ? saved.state.dropout ?? null : undefined);
  const dropout = { ...drop.rates, seed: o.seed };
  const model = new GPT2(gpu, config, { precision: o.precision === 'auto' ? undefined : o.precision, training: !o.freezeBody, ...lora.options, dropout });
  if (ck) await streamWeights(model, ck);
  else model.initRandom(o.seed);
  if (lora.weights) model.lora!.load(lora.weights);
  else model.lora?.initRandom(o.seed); // new adapters: A random (--seed), B zero
  await model.prepare(data.rowsPerStep, data.T); // allocates; first use of this adapter: tunes the kernels
  const head = new McHead(gpu, config.nEmbd, o.head, drop.rates.summary);
  const weights = headFile ? readQuantizedHeadFile(headFile).head : ck && (await readHead(ck));
  if (weights) head.load(weights.weight, weights.bias, source!);
  else head.initRandom(o.seed + 1);
  if (model.dtype === 'f16' && !o.freezeBody && !saved) model.setLossScale({ initScale: o.lossScale, growthInterval: 500 });
  if (saved) {
    if (!o.freezeBody) model.importOptimizerState(saved.state.modelT, saved.tensors, saved.statePath);
    const get = (n: string) => {
      const t = saved.tensors.get(n);
      if (!t) throw new RunDirError(`--resume: ${saved.dir} has no "${n}" in its train state`);
      return new Float32Array(t.data.slice().buffer);
    };
    head.loadOptimizerState({ t: saved.state.head.t, m: get('head.adam_m'), v: get('head.adam_v') });
  }
  return { model, head, drop };
}

/** One checkpoint's files: the body and the head in model.safetensors (on a quantized base: the head and the base's record in mc_head.safetensors), config.json as GPT2DoubleHeadsModel, both optimiser states. */
async function mcqCheckpointFiles(model: GPT2, head: McHead, tk: LoadedTokenizer, o: FinetuneMcqOptions, state: FinetuneState): Promise<CheckpointFiles> {
  const meta = { step: String(state.step), tokenizer_sha256: tk.record.hash, tokenizer_vocab_size: String(tk.record.vocabSize), tokenizer_name: tk.record.name ?? '', mcq_head: o.head };
  const headTensors = (await head.tensors()).map((t) => ({ name: t.name, dtype: 'F32', shape: t.shape, data: t.data }));
  const opt = o.freezeBody ? { t: 0, tensors: [] } : await model.exportOptimizerState();
  const hs = await head.optimizerState();
  // on a quantized base: no body; the head and the record of the base in mc_head.safetensors
  const base = state.base && { [BASE_MODEL_KEY]: state.base.source, [BASE_QUANTIZATION_KEY]: state.base.quantize };
  return {
    model: base ? undefined : modelFileBytes(model.config, await model.weights(), meta, headTensors, model.dropout),
    extra: base && new Map([[RUN_FILES.HEAD_FILE, headFileBytes(model.config, headTensors, { ...meta, ...base }, model.dropout)]]),
    configJson: { ...configToHFJson(model.config, undefined, model.dropout), architectures: ['GPT2DoubleHeadsModel'], num_labels: 1, summary_type: 'cls_index', summary_use_proj: true, summary_proj_to_labels: true, summary_activation: null, summary_first_dropout: head.summaryDropout },
    tokenizerJson: tk.json, adapter: await adapterFiles(model),
    state: {
      tensors: [...opt.tensors, { name: 'head.adam_m', dtype: 'F32', shape: [hs.m.length], data: hs.m }, { name: 'head.adam_v', dtype: 'F32', shape: [hs.v.length], data: hs.v }],
      record: { ...state, modelT: opt.t, head: { t: hs.t } }, config: model.config,
    },
  };
}

function logMcqStep(run: McqRun, r: StepReport, o: FinetuneMcqOptions, m: McqMetricGroups['overall'] | undefined, isBest: boolean): void {
  const rec: MetricRecord & Record<string, unknown> = { step: r.step + 1, loss: r.loss, lr: r.lr, ms: Math.round(r.ms * 100) / 100, questions_per_s: Math.round((o.batchSize * 1000 * 10) / Math.max(1e-9, r.ms)) / 10 };
  rec.grad_norm = r.gradNorm; // the body's update, or the head's with the body frozen
  let valPart = '';
  if (m) {
    Object.assign(rec, { val_loss: r.valLoss, val_accuracy: m.accuracy, val_chance: m.chance.accuracy });
    if (o.head === 'proposition') Object.assign(rec, { val_emr: m.emr, val_hamming: m.hamming });
    valPart = ` | val loss ${r.valLoss!.toFixed(4)} accuracy ${pct(m.accuracy)} (chance ${pct(m.chance.accuracy)})` + (o.head === 'proposition' ? ` EMR ${pct(m.emr)} Hamming ${pct(m.hamming)}` : '') + (isBest ? ' | best' : '');
  }
  run.record(rec, r, o.steps, `${rec.questions_per_s} q/s`, valPart);
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
