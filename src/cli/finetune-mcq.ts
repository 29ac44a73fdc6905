// `mqg finetune-mcq` (a multiple-choice / proposition head on a model, through the shared training
// loop and run lifecycle; its flags are its table in flags.ts) and `mqg eval-mcq` (scoring by the
// head when the checkpoint has one, else by log-likelihood; the checkpoint opened once).

import { type FlagSpec, parseFlags, usage } from './args';
import { UsageError } from '../util/errors';
import { checkOutput, prepareOutput, writeFileAtomicSync } from '../util/outputs.node';
import { noteCheckpoint } from './checkpoint';
import { createGPU } from '../gpu/context';
import { DataError } from '../util/errors';
import { FINETUNE_FLAGS, QUANTIZE_FLAG, flagSpec, givenOptions, reportQuantization, resumeHelp } from './flags';
import type { QuantType } from '../model/quantized';
import { openScoringModel } from '../train/weights.node';
import { checkModelInputs } from '../train/inputs.node';
import { readMcqSource } from '../train/data/mcq-source.node';
import { MCQ_FORMATS, mcqLeaks } from '../train/data/mcq';
import { formatMetricGroups, metricGroups } from '../train/data/mcq-metrics';
import { evaluateMcq, formatMcqReport } from '../train/mcq-eval';
import { Progress } from '../train/progress';
import { FINETUNE_DEFAULTS, finetuneMcq, type FinetuneMcqOptions } from '../train/finetune-mcq.node';
import { HEAD_KINDS, McHead, type HeadKind } from '../model/mc-head';
import { predictionKind, prepareItems, scoreByHead } from '../train/finetune-mcq';

const help: FlagSpec = { type: 'boolean', help: 'show this help' };
const FORMATS = ['auto', ...MCQ_FORMATS];

const FINETUNE_FOOTER = [
  'Checkpoints: <out>/checkpoints/step-N/ as `mqg train` writes them, model.safetensors with multiple_choice_head.summary.{weight,bias};',
  'the best validation accuracy in <out>/best/checkpoints/step-N/. --resume continues the newest checkpoint.',
  ...resumeHelp(FINETUNE_FLAGS),
  'An existing run in --out is never replaced unasked: continue it with --resume or replace it with --overwrite; Ctrl-C saves a checkpoint and exits with code 130.',
  'With --lora each checkpoint also holds adapter/ (a PEFT directory): mqg eval-mcq --checkpoint <ckpt> --adapter <ckpt>/adapter.',
  'With --lora --quantize (q8_0|q4_0, QLoRA) a checkpoint holds adapter/ and mc_head.safetensors (the head, the --init base and the quantization) but no',
  'model.safetensors: --resume, eval-mcq and serve load the base from --init again and quantize it the same way.',
].join('\n');

/** `mqg finetune-mcq`: flags → `finetuneMcq` (inputs, model and head, the loop on the run lifecycle) → the exit code. */
export async function finetuneMcqMain(argv: string[]): Promise<void> {
  const spec = flagSpec(FINETUNE_FLAGS);
  const { flags, positional, given } = parseFlags(argv, spec, 'finetune-mcq');
  if (flags.help) return void console.log(usage('finetune-mcq', 'fine-tune a multiple-choice or proposition head (and the model) on MCQ files', spec, FINETUNE_FOOTER));
  if (positional.length) throw new UsageError(`mqg finetune-mcq: unexpected argument "${positional[0]}" (flags start with --)`);
  const o = givenOptions<FinetuneMcqOptions>(FINETUNE_FLAGS, flags, given);
  const r = await finetuneMcq(o);
  if (r.interrupted) {
    console.log(`stopped at step ${r.steps}; resume with: mqg finetune-mcq --resume --out ${o.out ?? FINETUNE_DEFAULTS.out} --data ${o.data}`);
    process.exitCode = 130;
  }
}

const evalSpec: Record<string, FlagSpec> = {
  checkpoint: { type: 'string', help: 'a run directory, a checkpoint directory or a model file' },
  data: { type: 'string', help: `questions (${MCQ_FORMATS.join(', ')}; jsonl, json, csv or parquet): a file, a directory or hf://datasets/ORG/NAME[@REV][/PATH]` },
  format: { type: 'string', default: 'auto', choices: FORMATS, help: 'question file format (auto: detected)' },
  split: { type: 'string', help: FINETUNE_FLAGS.split.help },
  columns: { type: 'string', help: FINETUNE_FLAGS.columns.help },
  tokenizer: { type: 'string', help: 'tokenizer (default: the checkpoint\'s own)' },
  scorer: { type: 'string', default: 'auto', choices: ['auto', 'head', 'loglik'], help: 'auto: the head when the checkpoint has one, else log-likelihood' },
  head: { type: 'string', choices: HEAD_KINDS, help: 'how to read the head\'s scores (default: as recorded in the checkpoint)' },
  limit: { type: 'int', default: 0, min: 0, help: 'first N questions only (0 = all)' },
  'max-tokens': { type: 'int', default: 8192, min: 1, help: 'tokens per forward (many questions share one)' },
  precision: { type: 'string', default: 'auto', choices: ['auto', 'f16', 'f32'], help: 'auto | f16 | f32' },
  json: { type: 'boolean', default: false, help: 'print the report as JSON' },
  report: { type: 'string', help: 'also write the JSON report to this file (checked before the evaluation)' },
  overwrite: { type: 'boolean', help: 'replace an existing --report' },
  adapter: { type: 'string', help: 'apply a PEFT LoRA adapter directory to the checkpoint (default: the checkpoint\'s adapter/, as finetune-mcq --lora writes it)' },
  quantize: QUANTIZE_FLAG,
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
  const reportPath = flags.report as string | undefined;
  if (reportPath !== undefined) {
    checkOutput({
      command: 'mqg eval-mcq', flag: '--report', path: reportPath, kind: 'file', overwrite: !!flags.overwrite,
      inputs: [{ flag: '--data', path: flags.data as string }, { flag: '--checkpoint', path: flags.checkpoint as string }],
    });
  }
  let records = (await readMcqSource(flags.data as string, { format: flags.format as 'auto', split: flags.split as string | undefined, columns: flags.columns as string | undefined })).records;
  if (!records.length) throw new DataError(`${flags.data}: no multiple-choice questions in the file`);
  if ((flags.limit as number) > 0) records = records.slice(0, flags.limit as number);
  for (const w of mcqLeaks(flags.data as string, records)) console.error(w);
  noteCheckpoint(flags.checkpoint as string);
  // the checkpoint opened once (config, head, metadata), its adapter applied: openScoringModel
  const gpu = await createGPU({ precision: flags.precision as 'auto' });
  const { model, adapterDir, ...file } = await openScoringModel(gpu, flags.checkpoint as string, flags.adapter as string | undefined, (f) => {
    if (flags.scorer === 'head' && !f.head) throw new UsageError(`mqg eval-mcq: --scorer head, but ${flags.checkpoint} has no multiple_choice_head tensors`);
  }, flags.quantize as QuantType | undefined);
  reportQuantization('eval-mcq', model);
  for (const n of file.notes) console.error(`mqg eval-mcq: ${n}`);
  const useHead = flags.scorer === 'head' || (flags.scorer === 'auto' && !!file.head);
  const tok = checkModelInputs({ checkpoint: file.inputsPath, vocabSize: model.config.vocabSize, tokenizer: flags.tokenizer as string | undefined, needTokenizer: true, command: 'eval-mcq', metadata: file.metadata }).tokenizer!.tokenizer;
  const t0 = performance.now();
  let report: object;
  let textOut: string;
  if (useHead) {
    const kind = ((flags.head as string | undefined) ?? file.metadata.mcq_head ?? 'multiple-choice') as HeadKind;
    const head = new McHead(gpu, file.config.nEmbd, kind);
    head.load(file.head!.weight, file.head!.bias, flags.checkpoint as string);
    const items = prepareItems(tok, records, file.config.nPositions);
    const maxT = Math.max(...items.flatMap((i) => i.rows.rows.map((r) => r.length)));
    const progress = new Progress('questions', items.length);
    const preds = await scoreByHead(model, head, items, tok.eotToken, Math.max(1, Math.floor((flags['max-tokens'] as number) / maxT)), undefined, (n) => progress.tick(n));
    progress.done();
    const metrics = metricGroups(preds, predictionKind(head));
    report = { scorer: 'head', head: kind, adapter: adapterDir, questions: records.length, metrics, seconds: (performance.now() - t0) / 1000 };
    textOut = formatMetricGroups(`${records.length} questions, scored by the ${kind} head:`, metrics).join('\n');
    head.destroy();
  } else {
    const progress = new Progress('questions', records.length);
    const r = await evaluateMcq(model, tok, records, (n) => progress.tick(n), { maxTokens: flags['max-tokens'] as number });
    progress.done();
    report = { scorer: 'loglik', adapter: adapterDir, ...r, scores: undefined, seconds: (performance.now() - t0) / 1000 };
    textOut = formatMcqReport(r, true);
  }
  if (reportPath !== undefined) {
    prepareOutput(reportPath, 'file', '--report');
    writeFileAtomicSync(reportPath, JSON.stringify(report, null, 2) + '\n');
  }
  console.log(flags.json ? JSON.stringify(report, null, 2) : textOut);
  gpu.destroy();
}
