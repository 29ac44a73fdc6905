/**
 * The model config, decided in one place. Browser-safe.
 *
 * A checkpoint can state its config in several places: `config.json` (in the model directory or
 * beside the file), a safetensors `__metadata__` (ours carries the whole config.json as `config`,
 * older ones only the five sizes as `n_layer` ... strings), an llm.c header (sizes only), or the
 * caller. Each source is turned into the fields it actually states; they must agree field by
 * field, and the union (HF defaults for the rest) is the config.
 *
 * config.json is read the way transformers' GPT2Config reads it: `n_positions` (falling back to
 * `n_ctx`), `n_inner` (null = 4 * n_embd), `layer_norm_epsilon`, `activation_function`,
 * `scale_attn_weights`, `scale_attn_by_inverse_layer_idx`, `tie_word_embeddings`,
 * `reorder_and_upcast_attn`, with GPT2Config's defaults where absent. Refused, naming the field:
 * `model_type` other than gpt2, `add_cross_attention: true`, an `architectures` entry other than
 * GPT2LMHeadModel / GPT2Model / GPT2DoubleHeadsModel (the GPT2For* ones carry head weights we would
 * drop; a double-heads checkpoint's multiple-choice head is read by finetune-mcq / eval-mcq and left
 * out of the LM, as transformers does), an activation we do not compute. The dropout fields
 * (`embd_pdrop`, `resid_pdrop`, `attn_pdrop`, `summary_first_dropout`; GPT2Config's 0.1 where absent)
 * are read apart (dropoutFromHFJson): they are no part of the architecture, only of how it trains.
 */

import { makeConfig, type GPT2Config } from '../config';
import { ACTIVATIONS, type Activation } from '../../util/activation';
import { CheckpointError } from '../../util/errors';
import type { DropoutRates } from '../dropout';

/** The dropout a config states (HF names: embd_pdrop, resid_pdrop, attn_pdrop, summary_first_dropout). */
export interface ConfigDropout extends DropoutRates {
  summary: number;
}

const DROPOUT_FIELDS: Record<keyof ConfigDropout, string> = { embd: 'embd_pdrop', resid: 'resid_pdrop', attn: 'attn_pdrop', summary: 'summary_first_dropout' };

/** The dropout of a config.json as transformers applies it in training: GPT2Config's 0.1 for each absent field. */
export function dropoutFromHFJson(json: HFGPT2ConfigJson, where = 'config.json'): ConfigDropout {
  const out = {} as ConfigDropout;
  for (const [k, field] of Object.entries(DROPOUT_FIELDS) as [keyof ConfigDropout, string][]) {
    const v = json[field] ?? 0.1;
    if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw new CheckpointError(`${where}: ${field} must be a number in [0, 1), got ${JSON.stringify(json[field])}`);
    out[k] = v;
  }
  return out;
}

/** The dropout a safetensors `__metadata__` config states (undefined: it carries no whole config.json). */
export function dropoutFromMetadata(metadata: Record<string, string>, fileName = '<safetensors buffer>'): ConfigDropout | undefined {
  if (metadata.config === undefined) return undefined;
  try {
    return dropoutFromHFJson(JSON.parse(metadata.config) as HFGPT2ConfigJson, `__metadata__ of '${fileName}' config`);
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    return undefined; // not JSON: configFromMetadata says so
  }
}

/** A config.json object (only the fields we read are typed). */
export interface HFGPT2ConfigJson {
  n_layer?: number;
  n_head?: number;
  n_embd?: number;
  n_positions?: number;
  n_ctx?: number;
  vocab_size?: number;
  [key: string]: unknown;
}

/** The fields one source states, and where it is (for messages). */
export interface ConfigSource {
  where: string;
  fields: Partial<GPT2Config>;
}

export const ALLOWED_ARCHITECTURES: readonly string[] = ['GPT2LMHeadModel', 'GPT2Model', 'GPT2DoubleHeadsModel'];

type Field = Exclude<keyof GPT2Config, 'paddedVocabSize'>;
const HF_FIELD: Record<Field, string> = {
  nLayer: 'n_layer',
  nHead: 'n_head',
  nEmbd: 'n_embd',
  nPositions: 'n_positions',
  vocabSize: 'vocab_size',
  nInner: 'n_inner',
  layerNormEpsilon: 'layer_norm_epsilon',
  activation: 'activation_function',
  scaleAttnWeights: 'scale_attn_weights',
  scaleAttnByInverseLayerIdx: 'scale_attn_by_inverse_layer_idx',
  tieWordEmbeddings: 'tie_word_embeddings',
  reorderAndUpcastAttn: 'reorder_and_upcast_attn',
};
const SIZE_FIELDS = ['nLayer', 'nHead', 'nEmbd', 'nPositions', 'vocabSize'] as const;
const BOOL_FIELDS = ['scaleAttnWeights', 'scaleAttnByInverseLayerIdx', 'tieWordEmbeddings', 'reorderAndUpcastAttn'] as const;

function positiveInt(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v > 0 ? v : undefined;
  if (typeof v === 'string' && /^\s*\d+\s*$/.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  }
  return undefined;
}

/** Every GPT2Config field from a config.json object; `where` names the file in errors. */
export function configFromHFJson(json: HFGPT2ConfigJson, where = 'config.json'): GPT2Config {
  return makeConfig(fieldsFromHFJson(json, where) as GPT2Config);
}

function fieldsFromHFJson(json: HFGPT2ConfigJson, where: string): Partial<GPT2Config> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new CheckpointError(`${where}: expected a JSON object`);
  const bad = (field: string, what: string): never => {
    throw new CheckpointError(`${where}: ${field} ${what}, got ${JSON.stringify(json[field])}`);
  };
  if (json.model_type !== undefined && json.model_type !== 'gpt2') bad('model_type', "must be 'gpt2' (this is a GPT-2 implementation)");
  if (json.add_cross_attention !== undefined && json.add_cross_attention !== false) bad('add_cross_attention', 'is not supported (no encoder-decoder cross-attention)');
  if (json.architectures !== undefined) {
    if (!Array.isArray(json.architectures)) bad('architectures', 'must be a list');
    for (const a of json.architectures as unknown[]) {
      if (!ALLOWED_ARCHITECTURES.includes(a as string)) {
        throw new CheckpointError(`${where}: architectures entry '${String(a)}' is not supported: only ${ALLOWED_ARCHITECTURES.join(', ')} (other heads need weights we do not have)`);
      }
    }
  }
  const size = (key: string, ...alts: string[]): number => {
    for (const k of [key, ...alts]) {
      if (json[k] === undefined) continue;
      return positiveInt(json[k]) ?? bad(k, 'must be a positive integer');
    }
    throw new CheckpointError(`${where}: missing ${[key, ...alts].join(' / ')}`);
  };
  const f: Partial<GPT2Config> = {
    nLayer: size('n_layer'),
    nHead: size('n_head'),
    nEmbd: size('n_embd'),
    nPositions: size('n_positions', 'n_ctx'),
    vocabSize: size('vocab_size'),
  };
  f.nInner = json.n_inner === undefined || json.n_inner === null ? 4 * f.nEmbd! : positiveInt(json.n_inner) ?? bad('n_inner', 'must be a positive integer or null');
  const eps = json.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0) || !Number.isFinite(eps)) bad('layer_norm_epsilon', 'must be a positive number');
  f.layerNormEpsilon = eps as number;
  const act = json.activation_function ?? 'gelu_new';
  if (!ACTIVATIONS.includes(act as Activation)) bad('activation_function', `is not one we compute (${ACTIVATIONS.join(', ')})`);
  f.activation = act as Activation;
  const defaults = { scaleAttnWeights: true, scaleAttnByInverseLayerIdx: false, tieWordEmbeddings: true, reorderAndUpcastAttn: false };
  for (const k of BOOL_FIELDS) {
    const v = json[HF_FIELD[k]] ?? defaults[k];
    if (typeof v !== 'boolean') bad(HF_FIELD[k], 'must be true or false');
    f[k] = v as boolean;
  }
  return f;
}

/**
 * A config.json transformers loads as it is (GPT2LMHeadModel), carrying every field we honour;
 * `dropout`: the rates a run trained with (0 where not given: transformers would otherwise apply
 * GPT2Config's 0.1).
 */
export function configToHFJson(c: GPT2Config, torchDtype = 'float32', dropout: Partial<DropoutRates> = {}): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    n_layer: c.nLayer,
    n_head: c.nHead,
    n_embd: c.nEmbd,
    n_positions: c.nPositions,
    n_ctx: c.nPositions,
    vocab_size: c.vocabSize,
    n_inner: c.nInner === 4 * c.nEmbd ? null : c.nInner,
    layer_norm_epsilon: c.layerNormEpsilon,
    activation_function: c.activation,
    scale_attn_weights: c.scaleAttnWeights,
    scale_attn_by_inverse_layer_idx: c.scaleAttnByInverseLayerIdx,
    reorder_and_upcast_attn: c.reorderAndUpcastAttn,
    tie_word_embeddings: c.tieWordEmbeddings,
    add_cross_attention: false,
    // stated, never left to GPT2Config's 0.1
    attn_pdrop: dropout.attn ?? 0,
    embd_pdrop: dropout.embd ?? 0,
    resid_pdrop: dropout.resid ?? 0,
    initializer_range: 0.02,
    use_cache: true,
    torch_dtype: torchDtype,
  };
}

/** The safetensors `__metadata__` we write: the five sizes (read by older versions) and the whole config.json. */
export function configToMetadata(c: GPT2Config, dropout: Partial<DropoutRates> = {}): Record<string, string> {
  return {
    n_layer: String(c.nLayer),
    n_head: String(c.nHead),
    n_embd: String(c.nEmbd),
    n_positions: String(c.nPositions),
    vocab_size: String(c.vocabSize),
    config: JSON.stringify(configToHFJson(c, undefined, dropout)),
    format: 'pt',
  };
}

/** What a safetensors `__metadata__` states about the config (null: nothing). */
export function configFromMetadata(metadata: Record<string, string>, fileName = '<safetensors buffer>'): Partial<GPT2Config> | null {
  const where = `__metadata__ of '${fileName}'`;
  if (metadata.config !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(metadata.config);
    } catch (e) {
      throw new CheckpointError(`${where}: 'config' is not valid JSON: ${(e as Error).message}`);
    }
    return fieldsFromHFJson(json as HFGPT2ConfigJson, `${where} config`);
  }
  const keys = SIZE_FIELDS.map((k) => HF_FIELD[k]);
  const present = keys.filter((k) => k in metadata);
  if (present.length === 0) return null;
  const missing = keys.filter((k) => !(k in metadata));
  if (missing.length > 0) throw new CheckpointError(`${where} has an incomplete model config: missing ${missing.join(', ')}`);
  const f: Partial<GPT2Config> = {};
  for (const k of SIZE_FIELDS) {
    const n = positiveInt(metadata[HF_FIELD[k]]);
    if (n === undefined) throw new CheckpointError(`${where}: ${HF_FIELD[k]} must be a positive integer, got ${JSON.stringify(metadata[HF_FIELD[k]])}`);
    f[k] = n;
  }
  return f;
}

/** The fields of a full GPT2Config (e.g. one given by the caller), as a source. */
export function fullConfigSource(c: GPT2Config, where: string): ConfigSource {
  const m = makeConfig(c);
  const fields: Partial<GPT2Config> = {};
  for (const k of Object.keys(HF_FIELD) as Field[]) (fields as Record<string, unknown>)[k] = m[k];
  return { where, fields };
}

export function jsonConfigSource(json: HFGPT2ConfigJson, where: string): ConfigSource {
  return { where, fields: fieldsFromHFJson(json, where) };
}

/** Merge the sources: each field stated twice must agree; HF defaults fill the rest. */
export function decideConfig(sources: readonly ConfigSource[], what: string): GPT2Config {
  const merged: Partial<Record<Field, unknown>> = {};
  const from: Partial<Record<Field, string>> = {};
  for (const s of sources) {
    for (const [k, v] of Object.entries(s.fields) as [Field, unknown][]) {
      if (v === undefined) continue;
      if (from[k] === undefined) {
        merged[k] = v;
        from[k] = s.where;
      } else if (merged[k] !== v) {
        throw new CheckpointError(`${what}: ${from[k]} says ${HF_FIELD[k]} = ${JSON.stringify(merged[k])} but ${s.where} says ${JSON.stringify(v)}`);
      }
    }
  }
  const missing = SIZE_FIELDS.filter((k) => merged[k] === undefined);
  if (missing.length > 0) {
    throw new CheckpointError(
      `no model config for ${what}: ${sources.length ? sources.map((s) => s.where).join(', ') : 'nothing'} gives no ${missing.map((k) => HF_FIELD[k]).join(', ')} ` +
        `(looked for config.json in its directory, a config in the safetensors __metadata__, an llm.c header)`,
    );
  }
  return makeConfig(merged as GPT2Config);
}
