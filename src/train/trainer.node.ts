// `train`, the library function behind `mqg train`: options → inputs (shards, tokenizer, the model's
// config; train-inputs.node.ts) → the model (weights streamed from the one open checkpoint;
// weights.node.ts) → `trainLoop` on the run lifecycle (run.node.ts: run directory, resume,
// overwrite, Ctrl-C, metrics.jsonl, loss.svg, checkpoints). A checkpoint holds the full optimiser
// state, so --resume continues bit for bit; a resumed run keeps its saved configuration (options
// whose rule says `resume: 'applies'` may change, any other differing one is an error). Samples and
// multiple-choice accuracy at the end when there is a tokenizer.

import { join, resolve } from 'node:path';
import { createGPU, type GPUContext } from '../gpu/context';
import { asDataError, DataError, RunDirError, TrainingError, UsageError } from '../util/errors';
import { GPT2 } from '../model/gpt2';
import type { GPT2Config } from '../model/config';
import { configToHFJson } from '../model/source/config';
import { streamWeights } from '../model/source/load';
import { memoryRefusal } from '../model/memory';
import { generate } from '../model/generate';
import { DataLoader, type DataLoaderState } from './data/loader';
import { readShard } from './data/shards.node';
import { readMcqFile } from './data/mcq.node';
import { loadTokenizerRecorded, type LoadedTokenizer } from './tokenizer/load.node';
import type { TokenizerRecord } from './consistency';
import { evaluateMcq, formatMcqReport, type McqReport } from './mcq-eval';
import type { CurvePoint } from './plot';
import { memoryBudget } from './budget.node';
import type { StepReport } from './loop';
import { definedOptions, resumedOptions } from './options';
import { Run, shown, type CheckpointFiles, type RunState } from './run.node';
import { RUN_FILES } from './rundir.node';
import { adapterFiles, quantizedBaseLine, runLoraSetup } from './lora.node';
import { withCheckpoint, modelFileBytes, type TrainCheckpoint } from './weights.node';
import { decideDropout, describeRunDropout, type RunDropout } from './dropout';
import type { ConfigDropout } from '../model/source/config';
import { shardRecord, trainData, trainModelConfig, type TrainData } from './train-inputs.node';
import { TRAIN_DEFAULTS, TRAIN_RULES, validateTrainOptions, type TrainOptions } from './train-options.node';

export { TRAIN_DEFAULTS, TRAIN_RULES, type OptimizerOptions, type TrainOptions } from './train-options.node';
export { packageRoot } from './train-inputs.node';
export { RUN_FILES } from './rundir.node';

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

/** What a checkpoint's train_state records (JSON in its safetensors metadata). No absolute paths. */
interface TrainState extends RunState<TrainOptions> {
  version: 2;
  t: number;
  loader: DataLoaderState;
  /** The tokenizer (a copy is in the checkpoint as tokenizer.json unless it is the built-in gpt2). */
  tokenizer?: TokenizerRecord;
  /** Train shards: base names and token counts (a --data given on resume must match). */
  shards: { name: string; tokens: number }[];
  /** The dropout rates the run trains with (absent in runs from before dropout: none). */
  dropout?: ConfigDropout;
}

/** Options that name files: stored as `$RUN/...` inside the run directory. */
const PATHS = ['data', 'valData', 'init'] as const;

export async function train(partial: Partial<TrainOptions>, log: (line: string) => void = console.log, gpuIn?: GPUContext): Promise<TrainSummary> {
  const given = definedOptions(partial);
  let o: TrainOptions = { ...TRAIN_DEFAULTS, ...given };
  validateTrainOptions(o);
  const run = Run.open<TrainState, StepRecord>('train', 2, o);
  const saved = run.resumed?.state;
  if (saved) o = resumedTrainOptions(run, saved.options, given);
  const info = run.logTo(log, o.logFormat);
  const data = trainData(o, run.outDir, !!saved, info);

  // the weights: a resumed run's checkpoint (a LoRA run's base is --init's again), or --init
  const loraBase = !!saved && !!(o.lora || o.initAdapter);
  const weightsFrom = saved && !loraBase ? join(run.resumed!.dir, RUN_FILES.MODEL_FILE) : o.init;
  const { gpu, model, config, tk, tokSource, loader, drop } = await withCheckpoint(weightsFrom, saved?.config, async (ck) => {
    const m = trainModelConfig(o, data, ck, saved && { dir: run.resumed!.dir, ...saved });
    const loader = new DataLoader(data.trainShards.map((f) => readShard(f)), { B: o.batchSize, T: o.seqLen, shuffle: o.shuffle, seed: o.seed, vocabSize: m.config.vocabSize, names: data.trainShards });
    return { ...m, loader, ...(await trainModel(o, m.config, ck, run, loader, gpuIn)) };
  });
  const valTokens = data.valShards.map((f) => readShard(f));
  if (o.evalEvery > 0 && !valTokens.length) info('no validation shards: skipping the validation loss (give --val-data, or *val* shards beside the train ones)');
  const params = model.params.slots.reduce((n, s) => n + s.numel, 0);
  info(`model ${o.init ?? o.preset}: ${config.nLayer} layers, ${config.nHead} heads, width ${config.nEmbd}, vocab ${config.vocabSize} (${(params / 1e6).toFixed(2)}M parameters) | ${model.dtype} on ${gpu.adapterName}`);
  info(describeRunDropout(drop, ['embd', 'resid', 'attn'], model.lora?.config.loraDropout));
  if (model.quantizedBase) info(quantizedBaseLine(model));
  info(`data: ${data.trainShards.length} train shard(s), ${data.valShards.length} val shard(s) | tokenizer ${tk ? tk.record.name ?? tokSource : 'none'} | B=${o.batchSize} T=${o.seqLen} grad-accum ${o.gradAccum} | ${o.steps} steps`);

  const record: TrainState = {
    kind: 'train', version: 2, step: 0, t: 0, loader: loader.state(), config, tokenizer: tk?.record, shards: shardRecord(data), dropout: drop.rates,
    // stored without absolute paths: the default corpus is found again from the run directory
    options: run.storedPaths({ ...o, out: '.', resume: false, overwrite: false, tokenizer: undefined }, PATHS),
  };
  const summary = await run.train({
    model, batches: loader, gradAccum: o.gradAccum, steps: o.steps, maxSkippedSteps: o.maxSkippedSteps,
    schedule: o, adamw: { beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay, gradClip: o.gradClip },
    evaluate: valTokens.length ? { every: o.evalEvery, run: () => validationLoss(model, valTokens, data.valShards, o) } : undefined,
    onStep: (r) => logStep(run, model, r, o.steps),
  }, { every: o.saveEvery, keepLast: o.keepLast, files: (step) => checkpointFiles(model, config, tk, { ...record, step, loader: loader.state() }) }, `${o.preset} training loss`);
  info(`saved ${shown(run.lastCheckpoint)} (step ${summary.stepsDone})`);
  const end = summary.interrupted ? { samples: [] } : await endOfRun(model, tk, o, data.mcqPath, info, log);
  if (!gpuIn) gpu.destroy();
  return {
    steps: summary.stepsDone, history: run.metrics, val: run.valCurve(), checkpoint: run.lastCheckpoint, ...end,
    interrupted: summary.interrupted, tokensPerSecond: summary.tokensPerSecond, skippedSteps: summary.skippedSteps,
  };
}

/** The options of a resumed run (see resumedOptions); --tokenizer and --init cannot change a run (the same
 *  ones, as on the run's own command line, are fine), --data may move. */
function resumedTrainOptions(run: Run<TrainState, StepRecord>, saved: TrainOptions, given: Partial<TrainOptions>): TrainOptions {
  const located = run.locatedPaths(saved, PATHS);
  const same = {
    init: (v: string) => located.init !== undefined && resolve(v) === resolve(located.init),
    tokenizer: (v: string) => run.resumed!.state.tokenizer?.hash === loadTokenizerRecorded(v).record.hash,
  };
  for (const k of ['tokenizer', 'init'] as const) {
    if (given[k] === undefined || same[k](given[k]!)) continue;
    throw new UsageError(`mqg train --resume: --${k} cannot change a run: it continues from its checkpoint${k === 'tokenizer' ? ', with the tokenizer copied into it' : ''}. Drop --${k} (or give the run's own), or start a new run`);
  }
  given = { ...given, init: undefined, tokenizer: undefined };
  // --data and --val-data are checked against the recorded shards
  const o = resumedOptions('train', TRAIN_RULES, { ...TRAIN_DEFAULTS, ...located }, given, run.out, ['data', 'valData']);
  validateTrainOptions({ ...o, init: undefined, preset: TRAIN_DEFAULTS.preset });
  return o;
}

/** The model on the GPU: refused before anything is allocated when it cannot fit; weights streamed from `ck` (or random); a resumed run's optimiser state and data position. */
async function trainModel(o: TrainOptions, config: GPT2Config, ck: TrainCheckpoint | undefined, run: Run<TrainState, StepRecord>, loader: DataLoader, gpuIn?: GPUContext): Promise<{ gpu: GPUContext; model: GPT2; drop: RunDropout }> {
  const saved = run.resumed;
  const gpu = gpuIn ?? (await createGPU({ precision: o.precision }));
  // LoRA (--lora / --init-adapter): a frozen base with trainable adapters; a resumed run's adapter is its checkpoint's.
  const lora = await runLoraSetup(o, config, o.init, saved?.dir);
  const budget = memoryBudget(gpu, o.maxMemory);
  const precision = o.precision === 'auto' ? gpu.precision : o.precision;
  const refusal = budget && memoryRefusal({ config, B: o.batchSize, T: o.seqLen, precision, training: true, maxBindingBytes: gpu.limits.maxStorageBufferBindingSize, ...lora.options }, budget.bytes, budget.source);
  if (refusal) {
    if (!gpuIn) gpu.destroy();
    throw new TrainingError(`mqg train: ${refusal}`);
  }
  const drop = decideDropout(o.dropout, ck?.dropout, saved ? saved.state.dropout ?? null : undefined);
  const model = new GPT2(gpu, config, { precision, ...lora.options, dropout: { ...drop.rates, seed: o.seed } });
  await model.prepare(o.batchSize, o.seqLen); // allocates; first use of this adapter: tunes the kernels
  if (saved && !model.lora && ck!.metadata.step !== String(saved.state.step)) {
    throw new RunDirError(`--resume: ${saved.dir} holds a model of step ${ck!.metadata.step} and a train state of step ${saved.state.step}`);
  }
  if (ck) await streamWeights(model, ck);
  else model.initRandom(o.seed); // a LoRA checkpoint holds the adapter, not the frozen base: that comes from --init again
  if (saved) {
    model.importOptimizerState(saved.state.t, saved.tensors, saved.statePath);
    loader.restore(saved.state.loader);
  }
  if (lora.weights) model.lora!.load(lora.weights);
  else model.lora?.initRandom(o.seed); // new adapters: A random (--seed), B zero
  if (model.dtype === 'f16' && !saved) model.setLossScale({ initScale: o.lossScale, growthInterval: 500 });
  return { gpu, model, drop };
}

/** One checkpoint's files: the weights (LoRA: only the adapter, the base is --init's), the optimiser state and the run's record. */
async function checkpointFiles(model: GPT2, config: GPT2Config, tk: LoadedTokenizer | undefined, state: TrainState): Promise<CheckpointFiles> {
  const opt = await model.exportOptimizerState();
  const meta: Record<string, string> = { step: String(state.step) };
  if (tk) Object.assign(meta, { tokenizer_sha256: tk.record.hash, tokenizer_vocab_size: String(tk.record.vocabSize), tokenizer_name: tk.record.name ?? '' });
  return {
    model: model.lora ? undefined : modelFileBytes(config, await model.weights(), meta, [], model.dropout),
    configJson: configToHFJson(config, undefined, model.dropout), tokenizerJson: tk?.json, adapter: await adapterFiles(model),
    state: { tensors: opt.tensors, record: { ...state, t: opt.t }, config },
  };
}

async function validationLoss(model: GPT2, valTokens: ReturnType<typeof readShard>[], names: string[], o: TrainOptions): Promise<number> {
  const B = o.batchSize, T = o.seqLen;
  const vl = new DataLoader(valTokens, { B, T, shuffle: false, vocabSize: model.config.vocabSize, names });
  let sum = 0;
  for (let i = 0; i < o.evalBatches; i++) {
    const b = vl.nextBatch();
    sum += await model.forward(b.inputs, b.targets, B, T);
  }
  return sum / o.evalBatches;
}

function logStep(run: Run<TrainState, StepRecord>, model: GPT2, r: StepReport, steps: number): void {
  const rec: StepRecord = { step: r.step + 1, loss: r.loss, lr: r.lr, ms: Math.round(r.ms * 100) / 100, tokens_per_s: Math.round(r.tokensPerSecond), grad_norm: r.gradNorm };
  if (r.skipped) rec.skipped = true;
  if (model.dtype === 'f16') rec.loss_scale = r.lossScale;
  if (r.valLoss !== undefined) {
    rec.val_loss = r.valLoss;
    rec.val_ppl = Math.exp(r.valLoss);
  }
  const valPart = rec.val_loss !== undefined ? ` | val ${rec.val_loss.toFixed(4)} (ppl ${rec.val_ppl!.toFixed(1)})` : '';
  const skip = r.skipped ? ` | update SKIPPED (gradient norm ${r.gradNorm}${model.dtype === 'f16' ? `, loss scale now ${r.lossScale}` : ''}; ${r.skippedRun} in a row)` : '';
  run.record(rec, r, steps, `${rec.tokens_per_s} tok/s`, valPart + skip);
}

/** Samples and the multiple-choice evaluation of a finished run (they need a tokenizer). */
async function endOfRun(model: GPT2, tk: LoadedTokenizer | undefined, o: TrainOptions, mcqPath: string | undefined, info: (s: string) => void, log: (s: string) => void): Promise<{ samples: string[]; mcq?: McqReport }> {
  if (!tk) {
    info('no tokenizer: skipping the samples and the multiple-choice evaluation (give --tokenizer to have them)');
    return { samples: [] };
  }
  const tok = tk.tokenizer;
  const samples: string[] = [];
  for (const seed of o.sampleTokens > 0 ? [1, 2] : []) {
    const prompt = [tok.eotToken, ...tok.encode(o.samplePrompt)];
    const ids = await generate(model, prompt, { maxNewTokens: o.sampleTokens, temperature: 0.8, topK: 40, seed, stopToken: tok.eotToken });
    samples.push(o.samplePrompt + tok.decode(ids.filter((t) => t !== tok.eotToken)));
  }
  if (samples.length) info('samples:');
  for (const s of samples) info(`  > ${s.replace(/\n/g, '\n    ')}`);
  if (!mcqPath) return { samples };
  let records = asDataError(() => readMcqFile(mcqPath));
  if (!records.length) throw new DataError(`${mcqPath}: no multiple-choice questions in the file`);
  if (o.mcqLimit > 0) records = records.slice(0, o.mcqLimit);
  const mcq = await evaluateMcq(model, tok, records);
  info(formatMcqReport(mcq));
  if (o.logFormat !== 'text') log(JSON.stringify({ mcq: { questions: mcq.questions, accuracy_sum: mcq.accuracySum, accuracy_mean: mcq.accuracyMean, exact_match: mcq.exactMatch } }));
  return { samples, mcq };
}
