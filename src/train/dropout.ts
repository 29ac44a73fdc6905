// The dropout a training command trains with, decided once (browser-safe): `--dropout P` sets every
// rate of the body (embd_pdrop, resid_pdrop, attn_pdrop) and the multiple-choice head's
// summary_first_dropout, `--dropout 0` turns them off; without it, a checkpoint whose config states
// dropout (a Hugging Face config.json, or the config in our safetensors metadata) trains with that,
// as transformers would (GPT2Config's 0.1 for absent fields), and presets and llm.c checkpoints,
// which state none, train without, as llm.c and nanoGPT pretrain. A resumed run keeps the rates it
// recorded. LoRA's own dropout is --lora-dropout (PEFT's lora_dropout). The rates are printed at
// start, recorded in the run's state and written into the config.json of every checkpoint.

import type { ConfigDropout } from '../model/source/config';
import type { OptionRules } from './options';

export interface DropoutTrainOptions {
  /** Every dropout rate of the body and the head (undefined: the checkpoint's config decides). */
  dropout?: number;
}

export const DROPOUT_TRAIN_RULES: OptionRules<DropoutTrainOptions> = {
  dropout: { type: 'number', min: 0, max: 1, maxExclusive: true, resume: 'fixed' },
};

/** The rates in effect and where they came from (for the line printed at start). */
export interface RunDropout {
  rates: ConfigDropout;
  from: string;
}

const NONE: ConfigDropout = { embd: 0, resid: 0, attn: 0, summary: 0 };

/** Decide the rates: a resumed run's record, else --dropout, else what the checkpoint states, else none. */
export function decideDropout(given: number | undefined, stated: ConfigDropout | undefined, saved?: ConfigDropout | null): RunDropout {
  if (saved !== undefined) return { rates: saved ?? NONE, from: 'the run being resumed' };
  if (given !== undefined) return { rates: { embd: given, resid: given, attn: given, summary: given }, from: '--dropout' };
  if (stated) return { rates: stated, from: "the checkpoint's config (--dropout 0 turns it off)" };
  return { rates: NONE, from: 'none stated by the model (--dropout P turns it on)' };
}

/** "dropout: embd 0.1, resid 0.1, attn 0.1, summary 0.1 (from …)"; `keys` limits which rates are shown, `lora` adds LoRA's. */
export function describeRunDropout(d: RunDropout, keys: readonly (keyof ConfigDropout)[], lora?: number): string {
  const parts = keys.map((k) => `${k} ${d.rates[k]}`);
  if (lora !== undefined) parts.push(`lora ${lora}`);
  const off = keys.every((k) => d.rates[k] === 0) && !lora;
  return `dropout: ${off ? 'off' : parts.join(', ')} (${d.from})`;
}
