// What `train` reads before it builds a model: the token shards (--data, or the bundled corpus
// tokenized with a BPE trained on it), the tokenizer (--tokenizer, beside the shards, the
// checkpoint's own, or the resumed run's copy), and the model's config (the resumed run's, the
// --init checkpoint's, or a preset's), all checked to belong together (consistency.ts).

import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MQGError, UsageError } from '../util/errors';
import { presetConfig, type GPT2Config, type PresetName } from '../model/config';
import type { OpenedCheckpoint } from '../model/source/open';
import { listShards, prepareData, readShardHeader } from './data/shards.node';
import { loadTokenizerRecorded, recordTokenizer, saveTokenizer, type LoadedTokenizer } from './tokenizer/load.node';
import { trainBpe } from './tokenizer/train';
import { checkConsistency, type TokenizerRecord } from './consistency';
import { checkpointTokenizer, recordedTokenizer, resolveModelPath } from './inputs.node';
import { RUN_FILES } from './rundir.node';
import type { TrainOptions } from './train-options.node';

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

export interface TrainData {
  trainShards: string[];
  valShards: string[];
  shardHeaders: ({ source: string } & ReturnType<typeof readShardHeader>)[];
  mcqPath?: string;
  /** The tokenizer of the shards (a resumed run's comes with its model, see trainModelConfig). */
  tk?: LoadedTokenizer;
  tokSource: string;
}

/** The shards and their tokenizer. `resumed`: the tokenizer is the run's, not looked up here. */
export function trainData(o: TrainOptions, outDir: string, resumed: boolean, info: (s: string) => void): TrainData {
  let trainShards: string[], valShards: string[], mcqPath = o.mcq;
  let tk: LoadedTokenizer | undefined;
  let tokSource = '';
  if (!o.data) {
    const d = prepareDefaultCorpus(outDir, o.vocabSize, info);
    ({ train: trainShards, val: valShards } = listShards(d.dataDir));
    if (!resumed) {
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
    const beside = !resumed && statSync(o.data).isDirectory() && existsSync(join(o.data, RUN_FILES.TOKENIZER_FILE)) ? join(o.data, RUN_FILES.TOKENIZER_FILE) : undefined;
    const ref = resumed ? undefined : o.tokenizer ?? beside;
    if (ref) {
      tk = loadTokenizerRecorded(ref);
      tokSource = ref;
    }
  }
  const same = valShards.filter((v) => trainShards.some((t) => resolve(t) === resolve(v)));
  if (same.length) info(`warning: ${same.join(', ')} ${same.length > 1 ? 'are' : 'is'} both a train and a validation shard (--data and --val-data): the validation loss is not held out`);
  const shardHeaders = [...trainShards, ...valShards].map((f) => ({ source: f, ...readShardHeader(f) }));
  return { trainShards, valShards, shardHeaders, mcqPath, tk, tokSource };
}

/** The train shards a run records (a --data given on resume must match). */
export function shardRecord(d: TrainData): { name: string; tokens: number }[] {
  return d.trainShards.map((f, i) => ({ name: basename(f), tokens: d.shardHeaders[i]!.tokens }));
}

/**
 * The model's config and the tokenizer, checked against the shards: a resumed run's (`resumed`:
 * its checkpoint directory, config, tokenizer and shards), the --init checkpoint's (`ck`, open), or
 * a new preset model's.
 */
export function trainModelConfig(
  o: TrainOptions, d: TrainData, ck: OpenedCheckpoint | undefined,
  resumed?: { dir: string; config: GPT2Config; tokenizer?: TokenizerRecord; shards: { name: string; tokens: number }[] },
): { config: GPT2Config; tk?: LoadedTokenizer; tokSource: string } {
  let { tk, tokSource } = d;
  let config: GPT2Config, modelSource: string, modelTokenizer: TokenizerRecord | undefined;
  if (resumed) {
    ({ config, tokenizer: modelTokenizer } = resumed);
    modelSource = resumed.dir;
    tk = checkpointTokenizer(resumed.dir, modelTokenizer);
    tokSource = tk ? join(resumed.dir, RUN_FILES.TOKENIZER_FILE) : '';
    const now = shardRecord(d);
    if (now.length !== resumed.shards.length || !resumed.shards.every((s, i) => s.tokens === now[i]!.tokens)) {
      throw new UsageError(
        `mqg train --resume: the train shards (${now.map((s) => s.name).join(', ')}) are not the run's (${resumed.shards.map((s) => `${s.name}: ${s.tokens} tokens`).join(', ')}); --data may only point at the same shards moved elsewhere`,
      );
    }
  } else if (ck) {
    config = ck.config;
    modelSource = o.init!;
    modelTokenizer = recordedTokenizer(ck.metadata);
    if (!tk) {
      // the checkpoint's own tokenizer: ours records one, an HF directory has tokenizer.json
      // (a run directory: its newest checkpoint's, as the weights come from there)
      const weights = resolveModelPath(o.init!);
      const dir = statSync(weights).isDirectory() ? weights : dirname(weights);
      if (modelTokenizer) tk = checkpointTokenizer(dir, modelTokenizer);
      else if (existsSync(join(dir, RUN_FILES.TOKENIZER_FILE))) tk = loadTokenizerRecorded(join(dir, RUN_FILES.TOKENIZER_FILE));
      if (tk) tokSource = join(dir, RUN_FILES.TOKENIZER_FILE);
    }
  } else {
    const vocab = tk?.record.vocabSize ?? d.shardHeaders.find((h) => h.tokenizer)?.tokenizer?.vocabSize;
    if (vocab === undefined) {
      throw new UsageError(`mqg train: the shards in ${o.data} record no tokenizer, so the vocab of a new ${o.preset} model is unknown: give --tokenizer (gpt2 or a tokenizer.json) or --init`);
    }
    config = presetConfig(o.preset as PresetName, vocab);
    modelSource = `the new ${o.preset} model`;
  }
  checkConsistency({
    model: { source: modelSource, vocabSize: config.vocabSize, tokenizer: modelTokenizer },
    tokenizer: tk ? { source: tokSource, record: tk.record } : undefined,
    shards: d.shardHeaders,
  });
  if (o.seqLen > config.nPositions) throw new UsageError(`mqg train: --seq-len ${o.seqLen} exceeds the model's context (${config.nPositions})`);
  return { config, tk, tokSource };
}
