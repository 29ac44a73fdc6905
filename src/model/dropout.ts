// Dropout as Hugging Face's GPT-2 applies it in training (model.train()), never in evaluation,
// scoring, generation or serving:
//   embd_pdrop             after the token + position embedding (GPT2Model.drop)
//   resid_pdrop            on each attention and MLP projection output, before the residual add
//                          (GPT2Attention.resid_dropout, GPT2MLP.dropout)
//   attn_pdrop             on the attention probabilities (GPT2Attention.attn_dropout), inside
//                          the fused attention (its mask drawn again in the backward)
//   summary_first_dropout  on the hidden state the multiple-choice head reads (SequenceSummary)
//   lora_dropout           on the input of each LoRA adapter (PEFT), in LoraConfig
// Kept values are scaled by 1/(1-p). Masks come from Philox4x32-10 (util/philox.ts) keyed by the
// run seed, the optimiser step and the micro-batch (the stream) and by the site below (which layer
// and which dropout); the counter is the element's index. A mask is a function of those alone: a
// backward or a checkpointed block's recomputed forward draws it again, a resumed run draws the
// same, and nothing is stored or read back.

import { MQGError } from '../util/errors';

/** Dropout probabilities of the GPT-2 body (HF config names: embd_pdrop, resid_pdrop, attn_pdrop). */
export interface DropoutRates {
  /** embd_pdrop: after the token + position embedding. */
  embd: number;
  /** resid_pdrop: on each attention and MLP projection output, before the residual add. */
  resid: number;
  /** attn_pdrop: on the attention probabilities. */
  attn: number;
}

/** ModelOptions.dropout: the body's rates (each default 0) and the run seed the masks are keyed by. */
export interface DropoutOptions extends Partial<DropoutRates> {
  /** The run seed (default 1337). */
  seed?: number;
}

/** What each site is; the site number is kind + 16 * layer. */
export const DROPOUT_SITE = {
  embd: 1,
  attnProj: 2,
  mlpProj: 3,
  attnProbs: 4,
  summary: 5,
  /** LoRA input: lora + the module's index in LORA_MODULE_KINDS (peft.ts). */
  lora: 6,
} as const;

/** The number of dropout site `kind` (a DROPOUT_SITE value) in block `layer`: key word 1 of its masks. */
export function dropoutSite(kind: number, layer = 0): number {
  return kind + 16 * layer;
}

/** Check one probability: [0, 1). */
export function checkDropoutRate(p: number, what: string): number {
  if (typeof p !== 'number' || !(p >= 0 && p < 1)) throw new MQGError(`${what} must be in [0, 1), got ${p}`);
  return p;
}

/** The rates of ModelOptions.dropout, checked. */
export function modelDropout(o: DropoutOptions | undefined): { rates: DropoutRates; seed: number } {
  const rates = {
    embd: checkDropoutRate(o?.embd ?? 0, 'dropout embd_pdrop'),
    resid: checkDropoutRate(o?.resid ?? 0, 'dropout resid_pdrop'),
    attn: checkDropoutRate(o?.attn ?? 0, 'dropout attn_pdrop'),
  };
  const seed = o?.seed ?? 1337;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new MQGError(`dropout seed must be a uint32, got ${seed}`);
  return { rates, seed };
}
