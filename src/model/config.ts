/**
 * GPT-2 model configuration, presets and the canonical parameter list.
 *
 * Browser-safe: no Node built-ins.
 *
 * Canonical parameter names are the HF GPT-2 state-dict names WITHOUT the `transformer.`
 * prefix (`wte.weight`, `h.0.attn.c_attn.weight`, ...), in HF layout: Conv1D weights are
 * [in, out] and are applied as `y = x @ W + b`.
 *
 * Vocab padding choice: checkpoints (and the canonical params) store `wte` with exactly
 * `vocabSize` rows, as HF does. `paddedVocabSize` (vocab rounded up to a multiple of 64) is
 * only a compute-layout hint: the model pads `wte` with zero rows internally and must strip
 * them again when saving. `paramCount` therefore counts `vocabSize` rows.
 */

import { ACTIVATIONS, type Activation } from '../util/activation';
import { CheckpointError } from '../util/errors';
export { ACTIVATIONS, type Activation };

/** A GPT-2 architecture: sizes and the config.json options that change the computation. Build one with `makeConfig` or `presetConfig`. */
export interface GPT2Config {
  /** Transformer blocks (HF `n_layer`). */
  nLayer: number;
  /** Attention heads per block (HF `n_head`); must divide nEmbd. */
  nHead: number;
  /** Model width C (HF `n_embd`). */
  nEmbd: number;
  /** Maximum context length (rows of `wpe`). */
  nPositions: number;
  /** Token ids 0 .. vocabSize-1 (HF `vocab_size`). */
  vocabSize: number;
  /** vocabSize rounded up to a multiple of 64 (see `paddedVocab`). Not stored in files. */
  paddedVocabSize: number;
  /** MLP hidden width (HF `n_inner`; null there means 4 * nEmbd). */
  nInner: number;
  /** LayerNorm epsilon (HF `layer_norm_epsilon`, default 1e-5). */
  layerNormEpsilon: number;
  /** MLP activation (HF `activation_function`, default gelu_new: the tanh form). */
  activation: Activation;
  /** Divide attention scores by sqrt(head_dim) (HF `scale_attn_weights`, default true). */
  scaleAttnWeights: boolean;
  /** Also divide layer i's (0-based) attention scores by i + 1 (HF `scale_attn_by_inverse_layer_idx`; BioMedLM sets it). */
  scaleAttnByInverseLayerIdx: boolean;
  /** lm_head shares wte (HF `tie_word_embeddings`, default true); false adds a trained `lm_head.weight` [vocab, C]. */
  tieWordEmbeddings: boolean;
  /** HF `reorder_and_upcast_attn`: only changes precision in HF (we accumulate attention in f32 anyway); kept so a save carries it back. */
  reorderAndUpcastAttn: boolean;
}

/** Config semantics that are not sizes, with the values HF GPT2Config defaults to. */
export const CONFIG_DEFAULTS = {
  layerNormEpsilon: 1e-5,
  activation: 'gelu_new' as Activation,
  scaleAttnWeights: true,
  scaleAttnByInverseLayerIdx: false,
  tieWordEmbeddings: true,
  reorderAndUpcastAttn: false,
} as const;

/**
 * The factor that multiplies layer `layer`'s (0-based) attention scores q·k, as HF GPT2Attention
 * computes it: 1/sqrt(head_dim) if scaleAttnWeights, times 1/(layer+1) if scaleAttnByInverseLayerIdx.
 */
export function attentionScale(c: GPT2Config, layer: number): number {
  let s = c.scaleAttnWeights ? 1 / Math.sqrt(c.nEmbd / c.nHead) : 1;
  if (c.scaleAttnByInverseLayerIdx) s /= layer + 1;
  return s;
}

export interface ParamShape {
  /** Canonical name: HF name without the `transformer.` prefix. */
  name: string;
  /** HF layout ([in, out] for the four Conv1D matmul weights). */
  shape: number[];
}

export const VOCAB_PAD_MULTIPLE = 64;

/** Round a vocab size up to a multiple of 64 (50257 -> 50304, 28896 -> 28928). */
export function paddedVocab(v: number): number {
  return Math.ceil(v / VOCAB_PAD_MULTIPLE) * VOCAB_PAD_MULTIPLE;
}

/** What `makeConfig` takes: the five sizes, and any other GPT2Config field (HF defaults otherwise; paddedVocabSize and nInner are derived). */
export type GPT2ConfigInit = Pick<GPT2Config, 'nLayer' | 'nHead' | 'nEmbd' | 'nPositions' | 'vocabSize'> &
  Partial<Omit<GPT2Config, 'nLayer' | 'nHead' | 'nEmbd' | 'nPositions' | 'vocabSize'>>;

/**
 * Build and validate a config; `paddedVocabSize` defaults to `paddedVocab(vocabSize)`, `nInner` to
 * 4 * nEmbd, the rest to CONFIG_DEFAULTS (HF GPT2Config's defaults).
 */
export function makeConfig(init: GPT2ConfigInit): GPT2Config {
  const config: GPT2Config = {
    nLayer: init.nLayer,
    nHead: init.nHead,
    nEmbd: init.nEmbd,
    nPositions: init.nPositions,
    vocabSize: init.vocabSize,
    paddedVocabSize: init.paddedVocabSize ?? paddedVocab(init.vocabSize),
    nInner: init.nInner ?? 4 * init.nEmbd,
    layerNormEpsilon: init.layerNormEpsilon ?? CONFIG_DEFAULTS.layerNormEpsilon,
    activation: init.activation ?? CONFIG_DEFAULTS.activation,
    scaleAttnWeights: init.scaleAttnWeights ?? CONFIG_DEFAULTS.scaleAttnWeights,
    scaleAttnByInverseLayerIdx: init.scaleAttnByInverseLayerIdx ?? CONFIG_DEFAULTS.scaleAttnByInverseLayerIdx,
    tieWordEmbeddings: init.tieWordEmbeddings ?? CONFIG_DEFAULTS.tieWordEmbeddings,
    reorderAndUpcastAttn: init.reorderAndUpcastAttn ?? CONFIG_DEFAULTS.reorderAndUpcastAttn,
  };
  validateConfig(config);
  return config;
}

/** Throws a CheckpointError describing the first problem found. */
export function validateConfig(c: GPT2Config): void {
  for (const key of ['nLayer', 'nHead', 'nEmbd', 'nPositions', 'vocabSize', 'paddedVocabSize', 'nInner'] as const) {
    const v = c[key];
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new CheckpointError(`invalid model config: ${key} must be a positive integer, got ${String(v)}`);
    }
  }
  if (c.nEmbd % c.nHead !== 0) {
    throw new CheckpointError(`invalid model config: nEmbd (${c.nEmbd}) must be divisible by nHead (${c.nHead})`);
  }
  if (!(c.layerNormEpsilon > 0) || !Number.isFinite(c.layerNormEpsilon)) {
    throw new CheckpointError(`invalid model config: layerNormEpsilon must be a positive number, got ${String(c.layerNormEpsilon)}`);
  }
  if (!ACTIVATIONS.includes(c.activation)) {
    throw new CheckpointError(`invalid model config: activation '${String(c.activation)}' is not one of ${ACTIVATIONS.join(', ')}`);
  }
  for (const key of ['scaleAttnWeights', 'scaleAttnByInverseLayerIdx', 'tieWordEmbeddings', 'reorderAndUpcastAttn'] as const) {
    if (typeof c[key] !== 'boolean') throw new CheckpointError(`invalid model config: ${key} must be true or false, got ${String(c[key])}`);
  }
  if (c.paddedVocabSize < c.vocabSize) {
    throw new CheckpointError(
      `invalid model config: paddedVocabSize (${c.paddedVocabSize}) is smaller than vocabSize (${c.vocabSize})`,
    );
  }
}

interface PresetDef {
  nLayer: number;
  nHead: number;
  nEmbd: number;
  nPositions: number;
  /** Fixed vocab; undefined = taken from the tokenizer (must be passed to presetConfig). */
  vocabSize?: number;
  /** BioMedLM's config.json sets scale_attn_by_inverse_layer_idx. */
  scaleAttnByInverseLayerIdx?: boolean;
}

/** The names `presetConfig` accepts. */
export type PresetName = 'mqg-tiny' | 'mqg-small' | 'gpt2' | 'gpt2-medium' | 'biomedlm';

const PRESETS: Record<PresetName, PresetDef> = {
  'mqg-tiny': { nLayer: 4, nHead: 4, nEmbd: 128, nPositions: 256 },
  'mqg-small': { nLayer: 6, nHead: 6, nEmbd: 384, nPositions: 512 },
  gpt2: { nLayer: 12, nHead: 12, nEmbd: 768, nPositions: 1024, vocabSize: 50257 },
  'gpt2-medium': { nLayer: 24, nHead: 16, nEmbd: 1024, nPositions: 1024, vocabSize: 50257 },
  biomedlm: { nLayer: 32, nHead: 20, nEmbd: 2560, nPositions: 1024, vocabSize: 28896, scaleAttnByInverseLayerIdx: true },
};

/** Every preset name, in a fixed order: mqg-tiny, mqg-small, gpt2, gpt2-medium, biomedlm. */
export const PRESET_NAMES: readonly PresetName[] = Object.keys(PRESETS) as PresetName[];

/**
 * Config for a named preset. `mqg-*` presets need `vocabSize` (from the tokenizer). The
 * `gpt2*` / `biomedlm` presets have a default vocab; a given `vocabSize` overrides it
 * (same architecture, different tokenizer).
 */
export function presetConfig(name: PresetName, vocabSize?: number): GPT2Config {
  const p: PresetDef | undefined = Object.prototype.hasOwnProperty.call(PRESETS, name) ? PRESETS[name] : undefined;
  if (!p) {
    throw new CheckpointError(`unknown model preset '${name}' (valid presets: ${PRESET_NAMES.join(', ')})`);
  }
  const v = vocabSize ?? p.vocabSize;
  if (v === undefined) {
    throw new CheckpointError(`model preset '${name}' takes its vocab size from the tokenizer: pass vocabSize`);
  }
  return makeConfig({ nLayer: p.nLayer, nHead: p.nHead, nEmbd: p.nEmbd, nPositions: p.nPositions, vocabSize: v, scaleAttnByInverseLayerIdx: p.scaleAttnByInverseLayerIdx });
}

/**
 * Ordered canonical parameter list (HF state-dict order), HF layout, `vocabSize` wte rows; an
 * untied model ends with `lm_head.weight` [vocabSize, C] (its HF name has no `transformer.`).
 */
export function paramShapes(c: GPT2Config): ParamShape[] {
  const C = c.nEmbd;
  const H = c.nInner;
  const out: ParamShape[] = [
    { name: 'wte.weight', shape: [c.vocabSize, C] },
    { name: 'wpe.weight', shape: [c.nPositions, C] },
  ];
  for (let i = 0; i < c.nLayer; i++) {
    const p = `h.${i}.`;
    out.push(
      { name: `${p}ln_1.weight`, shape: [C] },
      { name: `${p}ln_1.bias`, shape: [C] },
      { name: `${p}attn.c_attn.weight`, shape: [C, 3 * C] },
      { name: `${p}attn.c_attn.bias`, shape: [3 * C] },
      { name: `${p}attn.c_proj.weight`, shape: [C, C] },
      { name: `${p}attn.c_proj.bias`, shape: [C] },
      { name: `${p}ln_2.weight`, shape: [C] },
      { name: `${p}ln_2.bias`, shape: [C] },
      { name: `${p}mlp.c_fc.weight`, shape: [C, H] },
      { name: `${p}mlp.c_fc.bias`, shape: [H] },
      { name: `${p}mlp.c_proj.weight`, shape: [H, C] },
      { name: `${p}mlp.c_proj.bias`, shape: [C] },
    );
  }
  out.push({ name: 'ln_f.weight', shape: [C] }, { name: 'ln_f.bias', shape: [C] });
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, C] });
  return out;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Number of stored parameters (wte counted with `vocabSize` rows; lm_head only when untied). */
export function paramCount(c: GPT2Config): number {
  let n = 0;
  for (const p of paramShapes(c)) n += numel(p.shape);
  return n;
}

export function configsEqual(a: GPT2Config, b: GPT2Config): boolean {
  return (
    a.nLayer === b.nLayer &&
    a.nHead === b.nHead &&
    a.nEmbd === b.nEmbd &&
    a.nPositions === b.nPositions &&
    a.vocabSize === b.vocabSize &&
    a.nInner === b.nInner &&
    a.layerNormEpsilon === b.layerNormEpsilon &&
    a.activation === b.activation &&
    a.scaleAttnWeights === b.scaleAttnWeights &&
    a.scaleAttnByInverseLayerIdx === b.scaleAttnByInverseLayerIdx &&
    a.tieWordEmbeddings === b.tieWordEmbeddings &&
    a.reorderAndUpcastAttn === b.reorderAndUpcastAttn
  );
}
