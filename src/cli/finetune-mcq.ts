// `mqg finetune-mcq` (a multiple-choice / proposition head on a model, through the shared training
// loop) and `mqg eval-mcq` (scoring by the head when the checkpoint has one, else by log-likelihood).

import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type FlagSpec, parseFlags, usage } from './args';
import { UsageError } from '../util/errors';
import { createGPU } from '../gpu/context';
import { DataError } from '../util/errors';
import { GPT2 } from '../model/gpt2';
import { readAdapter } from '../model/lora.node';
import { TRAIN_FLAGS, trainFlagSpec, type TrainOptions } from '../train/trainer.node';
import { checkModelInputs, resolveModelPath } from '../train/inputs.node';
import { ADAPTER_DIR } from '../train/lora.node';
import { ADAPTER_CONFIG_FILE } from '../model/peft';
import { readMcqFile } from '../train/data/mcq.node';
import { MCQ_FORMATS } from '../train/data/mcq';
import { formatMetricGroups, metricGroups } from '../train/data/mcq-metrics';
import { evaluateMcq, formatMcqReport } from '../train/mcq-eval';
import { FINETUNE_DEFAULTS, finetuneMcq, readMcqModel, type FinetuneMcqOptions } from '../train/finetune-mcq.node';
import { HEAD_KINDS, McHead, type HeadKind } from '../model/mc-head';
import { predictionKind, prepareItems, scoreByHead } from '../train/finetune-mcq';

const help: FlagSpec = { type: 'boolean', help: 'show this help' };
const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const FORMATS = ['auto', ...MCQ_FORMATS];

/** The optimiser and run flags shared with `mqg train` (same help and ranges), with fine-tuning defaults. */
const SHARED: (keyof TrainOptions & keyof FinetuneMcqOptions)[] = [
  'steps', 'lr', 'minLr', 'warmup', 'schedule', 'weightDecay', 'beta1', 'beta2', 'eps', 'gradClip', 'precision', 'lossScale',
  'saveEvery', 'keepLast', 'maxSkippedSteps', 'resume', 'overwrite', 'logFormat', 'seed', 'tokenizer',
  'lora', 'loraAlpha', 'loraTargets', 'loraDropout', 'initAdapter', 'checkpointActivations',
];

function finetuneSpec(): Record<string, FlagSpec> {
  const spec: Record<string, FlagSpec> = {
    init: { type: 'string', help: 'the model to fine-tune: a run directory, checkpoint directory, safetensors / llm.c file or HF directory' },
    preset: { type: 'string', help: 'or a new model of this preset (needs --tokenizer)', choices: TRAIN_FLAGS.preset.choices },
    data: { type: 'string', help: `training questions (${MCQ_FORMATS.join(', ')})` },
    'val-data': { type: 'string', help: 'validation questions (default: the last --val-split of --data)' },
    'val-split': { type: 'number', default: FINETUNE_DEFAULTS.valSplit, min: 0, max: 1, maxExclusive: true, help: 'fraction of --data held out for validation without --val-data' },
    format: { type: 'string', default: 'auto', choices: FORMATS, help: 'question file format (auto: detected)' },
    head: { type: 'string', default: FINETUNE_DEFAULTS.head, choices: HEAD_KINDS, help: 'multiple-choice (softmax over options) | proposition (sigmoid per option)' },
    'batch-size': { type: 'int', default: FINETUNE_DEFAULTS.batchSize, min: 1, help: 'questions per step (all their options share one forward)' },
    'eval-every': { type: 'int', default: FINETUNE_DEFAULTS.evalEvery, min: 0, help: 'validation every N steps and at the end (0 = only at the end)' },
    'freeze-body': { type: 'boolean', default: false, help: 'train the head only' },
    out: { type: 'string', default: FINETUNE_DEFAULTS.out, help: 'run directory (checkpoints/, best/, metrics.jsonl, loss.svg, report.json)' },
  };
  for (const k of SHARED) {
    const s = trainFlagSpec(k);
    const d = (FINETUNE_DEFAULTS as Record<string, unknown>)[k];
    spec[kebab(k)] = { ...s, default: d as FlagSpec['default'] };
  }
  spec.tokenizer = { ...spec.tokenizer!, help: '"gpt2" or a tokenizer.json (default: the checkpoint\'s own; needed with --preset)' };
  spec.help = help;
  return spec;
}

export async function finetuneMcqMain(argv: string[]): Promise<void> {
  const spec = finetuneSpec();
  const { flags, positional, given } = parseFlags(argv, spec, 'finetune-mcq');
  if (flags.help) {
    return void console.log(usage('finetune-mcq', 'fine-tune a multiple-choice or proposition head (and the model) on MCQ files', spec,
      'Checkpoints: <out>/checkpoints/step-N/ as `mqg train` writes them, model.safetensors with multiple_choice_head.summary.{weight,bias};\n' +
      'the best validation accuracy in <out>/best/checkpoints/step-N/. --resume continues the newest checkpoint.\n' +
      'With --lora each checkpoint also holds adapter/ (a PEFT directory): mqg eval-mcq --checkpoint <ckpt> --adapter <ckpt>/adapter.'));
  }
  if (positional.length) throw new UsageError(`mqg finetune-mcq: unexpected argument "${positional[0]}" (flags start with --)`);
  const o: Partial<FinetuneMcqOptions> = {};
  for (const name of given) {
    if (name === 'help') continue;
    const key = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof FinetuneMcqOptions;
    (o as Record<string, unknown>)[key] = flags[name];
  }
  const r = await finetuneMcq(o);
  if (r.interrupted) {
    console.log(`stopped at step ${r.steps}; resume with: mqg finetune-mcq --resume --out ${o.out ?? FINETUNE_DEFAULTS.out} --data ${o.data}`);
    process.exitCode = 130;
  }
}

const evalSpec: Record<string, FlagSpec> = {
  checkpoint: { type: 'string', help: 'a run directory, a checkpoint directory or a model file' },
  data: { type: 'string', help: `questions (${MCQ_FORMATS.join(', ')})` },
  format: { type: 'string', default: 'auto', choices: FORMATS, help: 'question file format (auto: detected)' },
  tokenizer: { type: 'string', help: 'tokenizer (default: the checkpoint\'s own)' },
  scorer: { type: 'string', default: 'auto', choices: ['auto', 'head', 'loglik'], help: 'auto: the head when the checkpoint has one, else log-likelihood' },
  head: { type: 'string', choices: HEAD_KINDS, help: 'how to read the head\'s scores (default: as recorded in the checkpoint)' },
  limit: { type: 'int', default: 0, min: 0, help: 'first N questions only (0 = all)' },
  'max-tokens': { type: 'int', default: 8192, min: 1, help: 'tokens per forward (many questions share one)' },
  precision: { type: 'string', default: 'auto', choices: ['auto', 'f16', 'f32'], help: 'auto | f16 | f32' },
  json: { type: 'boolean', default: false, help: 'print the report as JSON' },
  report: { type: 'string', help: 'also write the JSON report to this file' },
  adapter: { type: 'string', help: 'apply a PEFT LoRA adapter directory to the checkpoint (default: the checkpoint\'s adapter/, as finetune-mcq --lora writes it)' },
  help,
};

export async function evalMcqMain(argv: string[]): Promise<void> {
  const { flags } = parseFlags(argv, evalSpec, 'eval-mcq');
  if (flags.help) {
    return void console.log(usage('eval-mcq', 'multiple-choice accuracy, EMR and Hamming score of a checkpoint', evalSpec,
      'Log-likelihood scorers: sum (lm-eval acc), per-token mean, per character (lm-eval acc_norm), and\n' +
      'log P(option | question) - log P(option | "Answer:") (unconditional-normalised, like lm-eval acc_mutual_info).'));
  }
  if (!flags.checkpoint) throw new UsageError('mqg eval-mcq: --checkpoint is required');
  if (!flags.data) throw new UsageError('mqg eval-mcq: --data is required');
  let records = readMcqFile(flags.data as string, flags.format as 'auto');
  if (!records.length) throw new DataError(`${flags.data}: no multiple-choice questions in the file`);
  if ((flags.limit as number) > 0) records = records.slice(0, flags.limit as number);
  const file = await readMcqModel(flags.checkpoint as string);
  const useHead = flags.scorer === 'head' || (flags.scorer === 'auto' && !!file.head);
  if (useHead && !file.head) throw new UsageError(`mqg eval-mcq: --scorer head, but ${flags.checkpoint} has no multiple_choice_head tensors`);
  const gpu = await createGPU({ precision: flags.precision as 'auto' });
  // a finetune-mcq --lora checkpoint carries its adapter: evaluate what was trained, not the bare base
  const modelFile = resolveModelPath(flags.checkpoint as string);
  const own = join(dirname(modelFile), ADAPTER_DIR);
  const adapterDir = (flags.adapter as string | undefined) ?? (existsSync(modelFile) && existsSync(join(own, ADAPTER_CONFIG_FILE)) ? own : undefined);
  const adapter = adapterDir ? await readAdapter(adapterDir, file.config) : undefined;
  const model = new GPT2(gpu, file.config, { training: false, lora: adapter?.lora });
  model.loadWeights(file.params);
  if (adapter) model.lora!.load(adapter.weights);
  const tok = checkModelInputs({ checkpoint: flags.checkpoint as string, vocabSize: model.config.vocabSize, tokenizer: flags.tokenizer as string | undefined, needTokenizer: true, command: 'eval-mcq' }).tokenizer!.tokenizer;
  const t0 = performance.now();
  let report: object;
  let textOut: string;
  if (useHead) {
    const kind = ((flags.head as string | undefined) ?? file.metadata.mcq_head ?? 'multiple-choice') as HeadKind;
    const head = new McHead(gpu, file.config.nEmbd, kind);
    head.load(file.head!.weight, file.head!.bias, flags.checkpoint as string);
    const items = prepareItems(tok, records, file.config.nPositions);
    const maxT = Math.max(...items.flatMap((i) => i.rows.rows.map((r) => r.length)));
    const preds = await scoreByHead(model, head, items, tok.eotToken, Math.max(1, Math.floor((flags['max-tokens'] as number) / maxT)));
    const metrics = metricGroups(preds, predictionKind(head));
    report = { scorer: 'head', head: kind, adapter: adapterDir, questions: records.length, metrics, seconds: (performance.now() - t0) / 1000 };
    textOut = formatMetricGroups(`${records.length} questions, scored by the ${kind} head:`, metrics).join('\n');
    head.destroy();
  } else {
    const r = await evaluateMcq(model, tok, records, (n) => {
      if (process.stderr.isTTY) process.stderr.write(`\r${n}/${records.length}`);
    }, { maxTokens: flags['max-tokens'] as number });
    if (process.stderr.isTTY) process.stderr.write('\n');
    report = { scorer: 'loglik', adapter: adapterDir, ...r, scores: undefined, seconds: (performance.now() - t0) / 1000 };
    textOut = formatMcqReport(r, true);
  }
  if (flags.report) writeFileSync(flags.report as string, JSON.stringify(report, null, 2) + '\n');
  console.log(flags.json ? JSON.stringify(report, null, 2) : textOut);
  gpu.destroy();
}
