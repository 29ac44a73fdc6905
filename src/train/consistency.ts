// Model, tokenizer and token shards must belong together, at every command (train, sample, eval,
// eval-mcq). Browser-safe: callers pass what each side records; this module only compares.
//
// A tokenizer is identified by the SHA-256 of its tokenizer.json bytes (`hash`, hex) and its vocab
// size. A checkpoint records the tokenizer it was trained with (safetensors metadata `tokenizer_sha256`
// and `tokenizer_vocab_size`, plus a copy of the file in the checkpoint directory); a shard written by
// `mqg data prepare` records it in its header (shards.ts). What is not recorded is not checked.

import { ConsistencyError } from '../util/errors';

export interface TokenizerRecord {
  /** SHA-256 of the tokenizer.json bytes, 64 hex digits (built-in GPT-2: of the string "builtin:gpt2"). */
  hash: string;
  /** 1 + the largest id the tokenizer emits. */
  vocabSize: number;
  /** How it was named (a path as given, "gpt2", "bpe-2048"); informative only. */
  name?: string;
}

export interface ConsistencyParts {
  /** The model: its vocab size and the tokenizer its checkpoint records (if any). */
  model?: { source: string; vocabSize: number; tokenizer?: TokenizerRecord };
  /** The tokenizer in use. */
  tokenizer?: { source: string; record: TokenizerRecord };
  /** Token shards and what their headers record. */
  shards?: { source: string; tokenizer?: TokenizerRecord }[];
}

const short = (h: string) => h.slice(0, 12);

/** Throws a ConsistencyError naming both sides of the first disagreement found. */
export function checkConsistency(p: ConsistencyParts): void {
  const { model, tokenizer } = p;
  const shards = p.shards ?? [];
  if (model && tokenizer) {
    if (tokenizer.record.vocabSize > model.vocabSize) {
      throw new ConsistencyError(`the tokenizer ${tokenizer.source} has ${tokenizer.record.vocabSize} tokens, more than the vocab of the model ${model.source} (${model.vocabSize})`);
    }
    if (model.tokenizer && model.tokenizer.hash !== tokenizer.record.hash) {
      throw new ConsistencyError(
        `the tokenizer ${tokenizer.source} (sha256 ${short(tokenizer.record.hash)}, ${tokenizer.record.vocabSize} tokens) is not the one the model ${model.source} was trained with (sha256 ${short(model.tokenizer.hash)}, ${model.tokenizer.vocabSize} tokens)`,
      );
    }
  }
  for (const s of shards) {
    if (!s.tokenizer) continue;
    if (tokenizer && s.tokenizer.hash !== tokenizer.record.hash) {
      throw new ConsistencyError(
        `the shard ${s.source} was made with another tokenizer (sha256 ${short(s.tokenizer.hash)}, ${s.tokenizer.vocabSize} tokens) than ${tokenizer.source} (sha256 ${short(tokenizer.record.hash)}, ${tokenizer.record.vocabSize} tokens)`,
      );
    }
    if (model?.tokenizer && s.tokenizer.hash !== model.tokenizer.hash) {
      throw new ConsistencyError(`the shard ${s.source} was made with another tokenizer (sha256 ${short(s.tokenizer.hash)}) than the model ${model.source} was trained with (sha256 ${short(model.tokenizer.hash)})`);
    }
    if (model && s.tokenizer.vocabSize > model.vocabSize) {
      throw new ConsistencyError(`the shard ${s.source} holds ids of a ${s.tokenizer.vocabSize}-token vocabulary, more than the vocab of the model ${model.source} (${model.vocabSize})`);
    }
  }
}
