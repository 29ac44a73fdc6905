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

/**
 * Error for any unreadable, inconsistent or unwritable checkpoint or model config.
 * (Defined here because config.ts is the dependency-free base of the model I/O modules;
 * re-exported by safetensors.ts, hfnames.ts, llmc.ts and checkpoint.node.ts.)
 */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export interface GPT2Config {
  nLayer: number;
  nHead: number;
  nEmbd: number;
  /** Maximum context length (rows of `wpe`). */
  nPositions: number;
  vocabSize: number;
  /** vocabSize rounded up to a multiple of 64 (see `paddedVocab`). Not stored in files. */
  paddedVocabSize: number;
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

export type GPT2ConfigInit = Omit<GPT2Config, 'paddedVocabSize'> & { paddedVocabSize?: number };

/** Build and validate a config; `paddedVocabSize` defaults to `paddedVocab(vocabSize)`. */
export function makeConfig(init: GPT2ConfigInit): GPT2Config {
  const config: GPT2Config = {
    nLayer: init.nLayer,
    nHead: init.nHead,
    nEmbd: init.nEmbd,
    nPositions: init.nPositions,
    vocabSize: init.vocabSize,
    paddedVocabSize: init.paddedVocabSize ?? paddedVocab(init.vocabSize),
  };
  validateConfig(config);
  return config;
}

/** Throws a CheckpointError describing the first problem found. */
export function validateConfig(c: GPT2Config): void {
  for (const key of ['nLayer', 'nHead', 'nEmbd', 'nPositions', 'vocabSize', 'paddedVocabSize'] as const) {
    const v = c[key];
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new CheckpointError(`invalid model config: ${key} must be a positive integer, got ${String(v)}`);
    }
  }
  if (c.nEmbd % c.nHead !== 0) {
    throw new CheckpointError(`invalid model config: nEmbd (${c.nEmbd}) must be divisible by nHead (${c.nHead})`);
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
}

const PRESETS: Record<string, PresetDef> = {
  'mqg-tiny': { nLayer: 4, nHead: 4, nEmbd: 128, nPositions: 256 },
  'mqg-small': { nLayer: 6, nHead: 6, nEmbd: 384, nPositions: 512 },
  gpt2: { nLayer: 12, nHead: 12, nEmbd: 768, nPositions: 1024, vocabSize: 50257 },
  'gpt2-medium': { nLayer: 24, nHead: 16, nEmbd: 1024, nPositions: 1024, vocabSize: 50257 },
  biomedlm: { nLayer: 32, nHead: 20, nEmbd: 2560, nPositions: 1024, vocabSize: 28896 },
};

export const PRESET_NAMES: readonly string[] = Object.keys(PRESETS);

/**
 * Config for a named preset. `mqg-*` presets need `vocabSize` (from the tokenizer). The
 * `gpt2*` / `biomedlm` presets have a default vocab; a given `vocabSize` overrides it
 * (same architecture, different tokenizer).
 */
export function presetConfig(name: string, vocabSize?: number): GPT2Config {
  const p = Object.prototype.hasOwnProperty.call(PRESETS, name) ? PRESETS[name] : undefined;
  if (!p) {
    throw new CheckpointError(`unknown model preset '${name}' (valid presets: ${PRESET_NAMES.join(', ')})`);
  }
  const v = vocabSize ?? p.vocabSize;
  if (v === undefined) {
    throw new CheckpointError(`model preset '${name}' takes its vocab size from the tokenizer: pass vocabSize`);
  }
  return makeConfig({ nLayer: p.nLayer, nHead: p.nHead, nEmbd: p.nEmbd, nPositions: p.nPositions, vocabSize: v });
}

/** Ordered canonical parameter list (HF state-dict order), HF layout, `vocabSize` wte rows. */
export function paramShapes(c: GPT2Config): ParamShape[] {
  const C = c.nEmbd;
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
      { name: `${p}mlp.c_fc.weight`, shape: [C, 4 * C] },
      { name: `${p}mlp.c_fc.bias`, shape: [4 * C] },
      { name: `${p}mlp.c_proj.weight`, shape: [4 * C, C] },
      { name: `${p}mlp.c_proj.bias`, shape: [C] },
    );
  }
  out.push({ name: 'ln_f.weight', shape: [C] }, { name: 'ln_f.bias', shape: [C] });
  return out;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Number of stored parameters (wte counted with `vocabSize` rows; lm_head is tied). */
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
    a.vocabSize === b.vocabSize
  );
}
