/**
 * HF GPT-2 state dict <-> canonical parameters. Browser-safe: no Node built-ins.
 *
 * Accepted input keys: `transformer.<name>` (GPT2LMHeadModel) or `<name>` (GPT2Model).
 * Ignored: the non-parameter buffers `h.{i}.attn.bias` and `h.{i}.attn.masked_bias`.
 * `lm_head.weight`: GPT-2 ties it to `wte`. It is accepted only if it is element-wise equal
 * to `wte.weight` (a tied copy) and is then dropped; an untied lm_head is an error, since the
 * model has no separate output matrix.
 * Anything else that is not a canonical parameter is an error (naming the tensor).
 */

import {
  CheckpointError,
  configsEqual,
  makeConfig,
  numel,
  paramShapes,
  type GPT2Config,
} from './config';
import {
  encodeFloat32,
  serializeSafetensors,
  toFloat32,
  type ParsedSafetensors,
  type SafetensorsDType,
  type TensorToWrite,
} from './safetensors';

export { CheckpointError };

/** HF `config.json` fields we read (others are ignored). */
export interface HFGPT2ConfigJson {
  n_layer?: number;
  n_head?: number;
  n_embd?: number;
  n_positions?: number;
  n_ctx?: number;
  vocab_size?: number;
  [key: string]: unknown;
}

export interface LoadedWeights {
  config: GPT2Config;
  /** Canonical name -> values, HF layout, in `paramShapes` order. */
  params: Map<string, Float32Array>;
}

const META_KEYS = ['n_layer', 'n_head', 'n_embd', 'n_positions', 'vocab_size'] as const;
const HF_PREFIX = 'transformer.';
const IGNORED_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;

function parsePositiveInt(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v > 0 ? v : undefined;
  if (typeof v === 'string' && /^\s*\d+\s*$/.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  }
  return undefined;
}

/**
 * Config from safetensors `__metadata__` (string values n_layer, n_head, n_embd, n_positions,
 * vocab_size). Returns null if none of those keys is present; throws if only some are, or if
 * one is not a positive integer.
 */
export function configFromMetadata(metadata: Record<string, string>, fileName = '<safetensors buffer>'): GPT2Config | null {
  const present = META_KEYS.filter((k) => k in metadata);
  if (present.length === 0) return null;
  const missing = META_KEYS.filter((k) => !(k in metadata));
  if (missing.length > 0) {
    throw new CheckpointError(
      `__metadata__ of '${fileName}' has an incomplete model config: missing ${missing.join(', ')}`,
    );
  }
  const vals: Record<string, number> = {};
  for (const k of META_KEYS) {
    const n = parsePositiveInt(metadata[k]);
    if (n === undefined) {
      throw new CheckpointError(
        `__metadata__ of '${fileName}': ${k} must be a positive integer, got ${JSON.stringify(metadata[k])}`,
      );
    }
    vals[k] = n;
  }
  return makeConfig({
    nLayer: vals['n_layer']!,
    nHead: vals['n_head']!,
    nEmbd: vals['n_embd']!,
    nPositions: vals['n_positions']!,
    vocabSize: vals['vocab_size']!,
  });
}

/** Config from an HF GPT-2 `config.json` object (n_positions, falling back to n_ctx). */
export function configFromHFJson(json: HFGPT2ConfigJson, source = 'config.json'): GPT2Config {
  if (typeof json !== 'object' || json === null) {
    throw new CheckpointError(`${source}: expected a JSON object`);
  }
  const get = (key: string, ...alts: string[]): number => {
    for (const k of [key, ...alts]) {
      if (json[k] === undefined) continue;
      const n = parsePositiveInt(json[k]);
      if (n === undefined) {
        throw new CheckpointError(`${source}: ${k} must be a positive integer, got ${JSON.stringify(json[k])}`);
      }
      return n;
    }
    throw new CheckpointError(`${source}: missing ${[key, ...alts].join(' / ')}`);
  };
  return makeConfig({
    nLayer: get('n_layer'),
    nHead: get('n_head'),
    nEmbd: get('n_embd'),
    nPositions: get('n_positions', 'n_ctx'),
    vocabSize: get('vocab_size'),
  });
}

/** The config as safetensors metadata strings (plus format "pt"). */
export function configToMetadata(c: GPT2Config): Record<string, string> {
  return {
    n_layer: String(c.nLayer),
    n_head: String(c.nHead),
    n_embd: String(c.nEmbd),
    n_positions: String(c.nPositions),
    vocab_size: String(c.vocabSize),
    format: 'pt',
  };
}

/** Strip the optional `transformer.` prefix. */
export function canonicalName(hfName: string): string {
  return hfName.startsWith(HF_PREFIX) ? hfName.slice(HF_PREFIX.length) : hfName;
}

function isGPT2Config(c: GPT2Config | HFGPT2ConfigJson): c is GPT2Config {
  return typeof (c as GPT2Config).nLayer === 'number';
}

function fmtShape(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

/**
 * Map a parsed HF GPT-2 safetensors file to canonical parameters.
 *
 * The config comes from `config` (a GPT2Config or an HF config.json object) or from
 * `__metadata__`; if both are present they must agree.
 */
export function loadGPT2Weights(
  parsed: ParsedSafetensors,
  config?: GPT2Config | HFGPT2ConfigJson,
): LoadedWeights {
  const file = parsed.fileName;
  const metaCfg = configFromMetadata(parsed.metadata, file);
  let argCfg: GPT2Config | null = null;
  if (config !== undefined) {
    argCfg = isGPT2Config(config) ? makeConfig(config) : configFromHFJson(config);
  }
  if (argCfg && metaCfg && !configsEqual(argCfg, metaCfg)) {
    throw new CheckpointError(
      `model config given for '${file}' (${JSON.stringify(configToMetadata(argCfg))}) disagrees with its __metadata__ (${JSON.stringify(configToMetadata(metaCfg))})`,
    );
  }
  const cfg = argCfg ?? metaCfg;
  if (!cfg) {
    throw new CheckpointError(
      `no model config for '${file}': its __metadata__ lacks ${META_KEYS.join(', ')} and no config.json was given`,
    );
  }

  // canonical name -> original key
  const byCanon = new Map<string, string>();
  let lmHeadKey: string | undefined;
  for (const key of parsed.tensors.keys()) {
    const canon = canonicalName(key);
    if (IGNORED_BUFFER.test(canon)) continue;
    if (key === 'lm_head.weight') {
      lmHeadKey = key;
      continue;
    }
    const prev = byCanon.get(canon);
    if (prev !== undefined) {
      throw new CheckpointError(`'${file}' contains both '${prev}' and '${key}' (the same parameter)`);
    }
    byCanon.set(canon, key);
  }

  const params = new Map<string, Float32Array>();
  for (const { name, shape } of paramShapes(cfg)) {
    const key = byCanon.get(name);
    if (key === undefined) {
      throw new CheckpointError(
        `'${file}' is missing tensor '${HF_PREFIX}${name}' (expected shape ${fmtShape(shape)})`,
      );
    }
    const t = parsed.tensors.get(key)!;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new CheckpointError(
        `tensor '${key}' in '${file}' has shape ${fmtShape(t.shape)}, expected ${fmtShape(shape)}`,
      );
    }
    params.set(name, toFloat32(t));
    byCanon.delete(name);
  }
  if (byCanon.size > 0) {
    const extra = [...byCanon.values()];
    throw new CheckpointError(
      `'${file}' has unknown tensor${extra.length > 1 ? 's' : ''} ${extra.map((k) => `'${k}'`).join(', ')} ` +
        `(not a GPT-2 parameter for n_layer=${cfg.nLayer})`,
    );
  }
  if (lmHeadKey !== undefined) {
    const t = parsed.tensors.get(lmHeadKey)!;
    const wte = params.get('wte.weight')!;
    const lm = t.shape.length === 2 && t.shape[0] === cfg.vocabSize && t.shape[1] === cfg.nEmbd ? toFloat32(t) : null;
    if (!lm || lm.some((v, i) => v !== wte[i] && !(Number.isNaN(v) && Number.isNaN(wte[i]!)))) {
      throw new CheckpointError(
        `'${file}' has an untied 'lm_head.weight' (shape ${fmtShape(t.shape)}) that differs from wte; only tied GPT-2 output embeddings are supported`,
      );
    }
  }
  return { config: cfg, params };
}

/**
 * Check `params` against `config` and return each tensor's f32 values in canonical order.
 * `wte.weight` may have `vocabSize` or `paddedVocabSize` rows; padding rows are dropped.
 */
export function canonicalParamList(
  config: GPT2Config,
  params: ReadonlyMap<string, Float32Array>,
): { name: string; shape: number[]; data: Float32Array }[] {
  const shapes = paramShapes(config);
  const out: { name: string; shape: number[]; data: Float32Array }[] = [];
  for (const { name, shape } of shapes) {
    let data = params.get(name);
    if (!data) throw new CheckpointError(`missing parameter '${name}' (expected shape ${fmtShape(shape)})`);
    const n = numel(shape);
    if (name === 'wte.weight' && data.length === config.paddedVocabSize * config.nEmbd) data = data.subarray(0, n);
    if (data.length !== n) {
      throw new CheckpointError(
        `parameter '${name}' has ${data.length} elements, expected ${n} (shape ${fmtShape(shape)})`,
      );
    }
    out.push({ name, shape, data });
  }
  if (params.size > shapes.length) {
    const known = new Set(shapes.map((s) => s.name));
    const extra = [...params.keys()].filter((k) => !known.has(k));
    throw new CheckpointError(`unknown parameter${extra.length > 1 ? 's' : ''} ${extra.map((k) => `'${k}'`).join(', ')}`);
  }
  return out;
}

/**
 * Serialize canonical params as an HF GPT-2 safetensors file: `transformer.`-prefixed names,
 * HF layout, config in `__metadata__` (strings, plus format "pt"), followed by
 * `extraMetadata` (which cannot override the config keys or format). For F16, a finite value
 * outside the f16 range is an error (it would become Infinity).
 */
export function saveGPT2Weights(
  config: GPT2Config,
  params: ReadonlyMap<string, Float32Array>,
  dtype: SafetensorsDType = 'F32',
  extraMetadata: Record<string, string> = {},
): Uint8Array {
  const list = canonicalParamList(config, params);
  const tensors: TensorToWrite[] = list.map(({ name, shape, data }) => {
    if (dtype === 'F16') checkF16Range(name, data);
    return { name: HF_PREFIX + name, dtype, shape, data: encodeFloat32(data, dtype) };
  });
  const metadata = configToMetadata(config);
  for (const [k, v] of Object.entries(extraMetadata)) if (!(k in metadata)) metadata[k] = v;
  return serializeSafetensors(tensors, metadata);
}

function checkF16Range(name: string, data: Float32Array): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    // |v| >= 65520 rounds (ties-to-even) past 65504 to Infinity.
    if (Number.isFinite(v) && Math.abs(v) >= 65520) {
      throw new CheckpointError(
        `parameter '${name}' element ${i} = ${v} is outside the F16 range (max 65504); save as F32 or BF16`,
      );
    }
  }
}
