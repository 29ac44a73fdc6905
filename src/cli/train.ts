// `mqg train`, `mqg sample`, `mqg tokenizer train`, `mqg data prepare`. The flags of `mqg train`
// are its table in flags.ts.

import { existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type FlagSpec, parseFlags, usage } from './args';
import { UsageError } from '../util/errors';
import { createGPU } from '../gpu/context';
import { generate } from '../model/generate';
import { TRAIN_DEFAULTS, train, type TrainOptions } from '../train/trainer.node';
import { TRAIN_FLAGS, QUANTIZE_FLAG, flagSpec, givenOptions, reportQuantization, resumeHelp } from './flags';
import type { QuantType } from '../model/quantized';
import { loadTokenizerRecorded, saveTokenizer } from '../train/tokenizer/load.node';
import { checkModelInputs, resolveModelPath } from '../train/inputs.node';
import { readTextFile } from '../train/data/shards.node';
import { trainBpe } from '../train/tokenizer/train';
import { prepareData } from '../train/data/shards.node';
import { readTextRows } from '../train/data/mcq-source.node';
import { parseHubDatasetId } from '../train/data/hub-dataset.node';
import { questionText } from '../train/questions/prompt';
import { loadModelWithAdapter } from '../model/lora.node';
import { checkOutput, prepareOutput } from '../util/outputs.node';
import { noteCheckpoint } from './checkpoint';
import { Progress } from '../train/progress';

const help: FlagSpec = { type: 'boolean', help: 'show this help' };

const TRAIN_FOOTER = [
  ...resumeHelp(TRAIN_FLAGS),
  '  (--data may point at the same shards moved elsewhere.)',
  'An existing run in --out is never replaced unasked: continue it with --resume or replace it with --overwrite.',
  'Checkpoints: <out>/checkpoints/step-NNNNNN/ (model.safetensors, config.json, tokenizer.json, train_state.safetensors),',
  'each written whole and switched in with one rename; Ctrl-C saves one and exits with code 130.',
].join('\n');

/** `mqg train`: flags → `train` (inputs, model and the loop on the run lifecycle live there) → the exit code. */
export async function trainMain(argv: string[]): Promise<void> {
  const spec = flagSpec(TRAIN_FLAGS);
  const { flags, positional, given } = parseFlags(argv, spec, 'train');
  if (flags.help) return void console.log(usage('train', 'train a GPT-2 / MQG model (defaults: mqg-tiny on the bundled corpus)', spec, TRAIN_FOOTER));
  if (positional.length) throw new UsageError(`mqg train: unexpected argument "${positional[0]}" (flags start with --)`);
  // Only flags given on the command line are passed: defaults fill the rest, or the saved run's on --resume.
  const o = givenOptions<TrainOptions>(TRAIN_FLAGS, flags, given);
  const r = await train(o);
  if (r.interrupted) {
    console.log(`stopped at step ${r.steps}; resume with: mqg train --resume --out ${o.out ?? TRAIN_DEFAULTS.out}`);
    process.exitCode = 130;
  }
}

const sampleSpec: Record<string, FlagSpec> = {
  checkpoint: { type: 'string', help: 'a run directory (its newest checkpoint), a checkpoint directory, or a safetensors / llm.c .bin file' },
  tokenizer: { type: 'string', help: 'tokenizer ("gpt2" or tokenizer.json; default: the checkpoint\'s own)' },
  prompt: { type: 'string', help: 'prompt text (default: empty; the end-of-text token starts the context)' },
  'prompt-ids': { type: 'string', help: 'the prompt as comma-separated token ids, used as given (for models without a tokenizer; not with --prompt)' },
  'max-tokens': { type: 'int', default: 100, min: 1, help: 'new tokens to generate' },
  temperature: { type: 'number', default: 0.8, min: 0, help: '0 = greedy' },
  'top-k': { type: 'int', default: 40, min: 0, help: 'keep the k most likely tokens (0 = off)' },
  'top-p': { type: 'number', default: 1, min: 0, minExclusive: true, max: 1, help: 'nucleus sampling threshold (1 = off)' },
  seed: { type: 'int', default: 1337, min: 0, help: 'sampling seed' },
  precision: { type: 'string', default: 'auto', choices: ['auto', 'f16', 'f32'], help: 'auto | f16 | f32' },
  adapter: { type: 'string', help: 'apply a PEFT LoRA adapter directory to the checkpoint' },
  quantize: QUANTIZE_FLAG,
  'log-format': { type: 'string', default: 'text', choices: ['text', 'jsonl'], help: 'text (streamed) | jsonl (one object at the end: text, ids, new_tokens, tokens_per_second, load_seconds)' },
  help,
};

/** --prompt-ids "1,2,3" as token ids, each an integer in [0, vocabSize). */
export function parsePromptIds(text: string, vocabSize: number): number[] {
  const parts = text.split(',').map((p) => p.trim());
  const ids = parts.map((p, i) => {
    if (!/^\d+$/.test(p)) throw new UsageError(`mqg sample: --prompt-ids: item ${i + 1} ("${p}") is not a token id (comma-separated non-negative integers)`);
    const id = Number(p);
    if (id >= vocabSize) throw new UsageError(`mqg sample: --prompt-ids: token id ${id} (item ${i + 1}) is outside the model's vocabulary [0, ${vocabSize})`);
    return id;
  });
  return ids;
}

export async function sampleMain(argv: string[]): Promise<void> {
  const { flags } = parseFlags(argv, sampleSpec, 'sample');
  if (flags.help) return void console.log(usage('sample', 'generate text from a checkpoint', sampleSpec));
  if (!flags.checkpoint) throw new UsageError('mqg sample: --checkpoint is required');
  const idsFlag = flags['prompt-ids'] as string | undefined;
  if (idsFlag !== undefined && flags.prompt !== undefined) throw new UsageError('mqg sample: give --prompt or --prompt-ids, not both');
  const jsonl = flags['log-format'] === 'jsonl';
  noteCheckpoint(flags.checkpoint as string);
  const gpu = await createGPU({ precision: flags.precision as 'auto' });
  const t0 = performance.now();
  const { model, metadata } = await loadModelWithAdapter(gpu, resolveModelPath(flags.checkpoint as string), flags.adapter as string | undefined, { training: false, quantize: flags.quantize as QuantType | undefined });
  const loadSeconds = (performance.now() - t0) / 1000;
  reportQuantization('sample', model);
  const { vocabSize: V, nPositions } = model.config;
  const tok = checkModelInputs({ checkpoint: flags.checkpoint as string, vocabSize: V, tokenizer: flags.tokenizer as string | undefined, needTokenizer: idsFlag === undefined, command: 'sample', metadata }).tokenizer?.tokenizer;
  const promptText = (flags.prompt as string | undefined) ?? '';
  // token ids are used as given; a text prompt starts after the end-of-text token
  const prompt = idsFlag !== undefined ? parsePromptIds(idsFlag, V) : [tok!.eotToken, ...tok!.encode(promptText)];
  const promptFlag = idsFlag !== undefined ? `--prompt-ids is ${prompt.length} tokens` : `--prompt is ${prompt.length - 1} tokens`;
  const room = nPositions - prompt.length;
  if (room < 1) throw new UsageError(`mqg sample: ${promptFlag}; the model's context is ${nPositions}${idsFlag === undefined ? ' (with the end-of-text token before it)' : ''}`);
  if ((flags['max-tokens'] as number) > room) console.error(`mqg sample: --max-tokens ${flags['max-tokens']}: the model's context (${nPositions}) leaves room for ${room} after the prompt; generating at most ${room}`);
  if (!jsonl) process.stdout.write(idsFlag !== undefined && tok ? printable(tok.decode(prompt)) : promptText);
  let text = '';
  const ids: number[] = [];
  const t1 = performance.now();
  const generated = await generate(model, prompt, {
    maxNewTokens: flags['max-tokens'] as number,
    temperature: flags.temperature as number,
    topK: flags['top-k'] as number,
    topP: flags['top-p'] as number,
    seed: flags.seed as number,
    stopToken: tok?.eotToken,
    onToken: (id) => {
      if (id === tok?.eotToken) return;
      ids.push(id);
      if (jsonl || !tok) return;
      const full = tok.decode(ids);
      if (!full.endsWith('\uFFFD')) {
        process.stdout.write(printable(full.slice(text.length)));
        text = full;
      }
    },
  });
  const seconds = (performance.now() - t1) / 1000;
  if (jsonl) {
    // tokens_per_second: new tokens over the whole generate call (the prompt's pass included)
    const out = { text: tok ? tok.decode(ids) : '', ids, new_tokens: generated.length, tokens_per_second: generated.length / seconds, load_seconds: loadSeconds };
    console.log(JSON.stringify(out));
  } else if (tok) {
    // bytes that never completed a character are left out
    process.stdout.write(printable(tok.decode(ids).slice(text.length)) + '\n');
  } else {
    process.stdout.write(ids.join(',') + '\n');
  }
  gpu.destroy();
}

/** Generated text for a terminal: control characters (a NUL byte token) as \xNN escapes, and
 *  no U+FFFD for byte tokens that are no UTF-8 on their own (a model's stray bytes are left out). */
export function printable(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
    .replace(/\uFFFD/g, '');
}

const tokSpec: Record<string, FlagSpec> = {
  text: { type: 'string', help: 'comma-separated text files to train on' },
  'vocab-size': { type: 'int', default: 8192, min: 257, max: 65535, help: 'vocab size (256 bytes + merges + <|endoftext|>)' },
  out: { type: 'string', default: 'tokenizer.json', help: 'where to write the tokenizer.json' },
  overwrite: { type: 'boolean', help: 'replace an existing --out' },
  help,
};

export async function tokenizerTrainMain(argv: string[]): Promise<void> {
  const { flags, positional } = parseFlags(argv, tokSpec, 'tokenizer train');
  if (flags.help) return void console.log(usage('tokenizer train', 'train a byte-level BPE tokenizer', tokSpec));
  const files = [...((flags.text as string | undefined)?.split(',') ?? []), ...positional].filter(Boolean);
  if (!files.length) throw new UsageError('mqg tokenizer train: --text FILES is required');
  checkOutput({ command: 'mqg tokenizer train', flag: '--out', path: flags.out as string, kind: 'file', overwrite: !!flags.overwrite, inputs: files.map((path) => ({ flag: '--text', path })) });
  const texts = files.map((f) => readTextFile(f));
  const t0 = performance.now();
  const progress = new Progress('merges', 0);
  const tok = trainBpe(texts, flags['vocab-size'] as number, { onProgress: (done, total) => progress.tick(done, total) });
  progress.done();
  prepareOutput(flags.out as string, 'file');
  saveTokenizer(flags.out as string, tok);
  console.log(`trained a ${tok.vocabSize}-token BPE on ${files.length} file(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s -> ${flags.out}`);
}

const dataSpec: Record<string, FlagSpec> = {
  text: { type: 'string', help: 'comma-separated text files' },
  data: { type: 'string', help: 'a table of documents or questions (jsonl, json, csv, parquet): a file, a directory or hf://datasets/ORG/NAME[@REV][/PATH]; each row one document' },
  split: { type: 'string', help: 'the split of --data, by the Hub\'s file naming (train, validation, test, ...)' },
  columns: { type: 'string', help: '--data\'s text column (text=COL), else its questions (question=,options=,answer= or a format name), each written as text' },
  tokenizer: { type: 'string', default: 'gpt2', help: '"gpt2" or a tokenizer.json' },
  out: { type: 'string', help: 'output directory for the shards' },
  'val-fraction': { type: 'number', default: 0.05, min: 0, max: 1, maxExclusive: true, help: 'fraction of tokens held out (the last ones)' },
  documents: { type: 'string', default: 'file', choices: ['file', 'paragraph'], help: 'what an end-of-text token separates' },
  overwrite: { type: 'boolean', help: 'replace the shards, meta.json and tokenizer.json of an existing --out' },
  help,
};

export async function dataPrepareMain(argv: string[]): Promise<void> {
  const { flags, positional } = parseFlags(argv, dataSpec, 'data prepare');
  if (flags.help) return void console.log(usage('data prepare', 'tokenize text into llm.c token shards', dataSpec));
  const files = [...((flags.text as string | undefined)?.split(',') ?? []), ...positional].filter(Boolean);
  const data = flags.data as string | undefined;
  if (!files.length && !data) throw new UsageError('mqg data prepare: --text FILES or --data TABLE is required');
  if (!data && (flags.split || flags.columns)) throw new UsageError(`mqg data prepare: --${flags.split ? 'split' : 'columns'} applies to --data`);
  if (!flags.out) throw new UsageError('mqg data prepare: --out DIR is required');
  const tokFile = flags.tokenizer === 'gpt2' ? [] : [{ flag: '--tokenizer', path: flags.tokenizer as string }];
  const dataFile = data && !parseHubDatasetId(data) ? [{ flag: '--data', path: data }] : [];
  checkOutput({ command: 'mqg data prepare', flag: '--out', path: flags.out as string, kind: 'dir', overwrite: !!flags.overwrite, inputs: [...files.map((path) => ({ flag: '--text', path })), ...dataFile, ...tokFile] });
  const rows = data ? await readTextRows(data, { split: flags.split as string | undefined, columns: flags.columns as string | undefined }, questionText) : undefined;
  const tk = loadTokenizerRecorded(flags.tokenizer as string);
  // --overwrite replaces the directory's data whole: no shard, meta.json or tokenizer.json of an earlier tokenizer stays beside the new ones
  if (flags.overwrite && existsSync(flags.out as string)) {
    for (const f of readdirSync(flags.out as string)) if (/\.bin$|^meta\.json$|^tokenizer\.json$/.test(f)) rmSync(join(flags.out as string, f), { force: true });
  }
  const name = files.length ? undefined : (parseHubDatasetId(data!)?.repo.split('/')[1] ?? basename(data!).replace(/\.[^.]*$/, '')).replace(/[^\w.-]+/g, '_');
  const progress = new Progress('text', 0, process.stderr, process.env, 'bytes');
  const r = prepareData({
    textFiles: files, documentTexts: rows?.documents, name, tokenizer: tk.tokenizer, tokenizerRecord: tk.record, outDir: flags.out as string,
    valFraction: flags['val-fraction'] as number, documents: flags.documents as 'file', onProgress: (done, total) => progress.tick(done, total),
  });
  progress.done();
  console.log(`${r.documents} documents -> ${r.trainTokens} train tokens (${r.trainPath}), ${r.valTokens} val tokens (${r.valPath})`);
}

