// LoRA adapters in Hugging Face PEFT's file layout (browser-safe: bytes and JSON, no file system).
//
//   adapter_config.json        peft_type LORA, r, lora_alpha, target_modules, fan_in_fan_out,
//                              lora_dropout, bias, base_model_name_or_path (+ the fields PEFT writes)
//   adapter_model.safetensors  base_model.model.<module>.lora_A.weight [r, in]
//                              base_model.model.<module>.lora_B.weight [out, r]
//
// An adapted GPT-2 Conv1D (weight [in, out]) computes y = x·W + b + (x·Aᵀ·Bᵀ)·lora_alpha/r.
// Targets are matched as PEFT matches `target_modules` (peft.tuners.tuners_utils
// check_target_module_exists): a string is a regular expression that must match a whole module
// name; a list matches a module whose name equals an entry or ends with "." + an entry. Module names
// are HF's: transformer.h.<i>.attn.c_attn, ...attn.c_proj, ...mlp.c_fc, ...mlp.c_proj.
// Whatever we cannot honour (another bias mode, rsLoRA, DoRA, modules_to_save, per-module ranks,
// a target that is not one of those Conv1D layers) is an error naming the field.

import { type GPT2Config } from './config';
import { CheckpointError } from '../util/errors';
import { parseSafetensors, toFloat32, type ParsedSafetensors } from './source/safetensors';
import { serializeSafetensors } from './source/safetensors-write';

/** The adaptable layers of each GPT-2 block, as suffixes of HF module names. */
export const LORA_MODULE_KINDS = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;
export type LoraModuleKind = (typeof LORA_MODULE_KINDS)[number];

/** An adapter_config.json as we read and write it (PEFT's LoraConfig fields that we compute). */
export interface LoraConfig {
  /** Rank of the adapters (PEFT `r`). */
  r: number;
  /** PEFT `lora_alpha`: the low-rank product is scaled by loraAlpha / r. */
  loraAlpha: number;
  /** As PEFT's target_modules: a list of module-name suffixes, or one regular expression (full match). */
  targetModules: string[] | string;
  /** PEFT `lora_dropout`: dropout on the adapter input in training (gpt2.ts, kernels/lora.ts). */
  loraDropout: number;
  /** PEFT `base_model_name_or_path`: the base checkpoint the adapter was trained on, or null. */
  baseModelNameOrPath: string | null;
  /** PEFT's task_type, kept for the file (CAUSAL_LM unless read otherwise). */
  taskType: string | null;
}

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
const PREFIX = 'base_model.model.';

export function loraScale(c: LoraConfig): number {
  return c.loraAlpha / c.r;
}

/** One adapted layer: its HF module name, block index and kind, and the Conv1D's in/out sizes. */
/** One Conv1D module an adapter applies to. */
export interface LoraModule {
  /** HF module name, e.g. `transformer.h.0.attn.c_attn`. */
  module: string;
  /** Its block index (0-based). */
  layer: number;
  /** Which of GPT-2's four Conv1D layers it is. */
  kind: LoraModuleKind;
  /** Input width: the rows of its weight [in, out] (lora_A is [r, in]). */
  inFeatures: number;
  /** Output width: the columns of its weight (lora_B is [out, r]). */
  outFeatures: number;
}

/** Every module name of HF's GPT2LMHeadModel, with whether LoRA can adapt it here. */
function gpt2ModuleNames(config: GPT2Config): { name: string; kind?: LoraModuleKind; layer?: number }[] {
  const out: { name: string; kind?: LoraModuleKind; layer?: number }[] = [];
  for (const n of ['transformer', 'transformer.wte', 'transformer.wpe', 'transformer.drop', 'transformer.h']) out.push({ name: n });
  for (let l = 0; l < config.nLayer; l++) {
    const h = `transformer.h.${l}`;
    for (const n of [h, `${h}.ln_1`, `${h}.attn`, `${h}.attn.attn_dropout`, `${h}.attn.resid_dropout`, `${h}.ln_2`, `${h}.mlp`, `${h}.mlp.act`, `${h}.mlp.dropout`]) out.push({ name: n });
    for (const kind of LORA_MODULE_KINDS) out.push({ name: `${h}.${kind}`, kind, layer: l });
  }
  out.push({ name: 'transformer.ln_f' }, { name: 'lm_head' });
  return out;
}

function matchesTarget(targets: string[] | string, name: string): boolean {
  if (typeof targets === 'string') return new RegExp(`^(?:${targets})$`).test(name);
  return targets.some((t) => name === t || name.endsWith(`.${t}`));
}

/** The adapted layers in block order, or an error naming target_modules if it selects nothing or something we cannot adapt. */
export function loraModules(config: GPT2Config, lora: LoraConfig, source = 'LoRA config'): LoraModule[] {
  const { nEmbd: C, nInner } = config;
  const inner = nInner ?? 4 * C;
  const sizes: Record<LoraModuleKind, [number, number]> = {
    'attn.c_attn': [C, 3 * C],
    'attn.c_proj': [C, C],
    'mlp.c_fc': [C, inner],
    'mlp.c_proj': [inner, C],
  };
  if (typeof lora.targetModules === 'string') {
    try {
      new RegExp(lora.targetModules);
    } catch (e) {
      throw new CheckpointError(`${source}: target_modules "${lora.targetModules}" is not a valid regular expression (${(e as Error).message})`);
    }
  }
  const out: LoraModule[] = [];
  for (const m of gpt2ModuleNames(config)) {
    if (!matchesTarget(lora.targetModules, m.name)) continue;
    if (!m.kind) {
      throw new CheckpointError(
        `${source}: target_modules ${JSON.stringify(lora.targetModules)} selects "${m.name}", which is not a Conv1D layer LoRA can adapt here (only ${LORA_MODULE_KINDS.join(', ')})`,
      );
    }
    const [inFeatures, outFeatures] = sizes[m.kind];
    out.push({ module: m.name, layer: m.layer!, kind: m.kind, inFeatures, outFeatures });
  }
  if (Array.isArray(lora.targetModules)) {
    for (const t of lora.targetModules) {
      if (!out.some((m) => m.module === t || m.module.endsWith(`.${t}`))) {
        throw new CheckpointError(`${source}: target_modules entry "${t}" matches no module of this GPT-2 (use ${LORA_MODULE_KINDS.join(', ')} or c_attn, c_proj, c_fc)`);
      }
    }
  }
  if (out.length === 0) throw new CheckpointError(`${source}: target_modules ${JSON.stringify(lora.targetModules)} matches no module of this GPT-2`);
  return out;
}

/** Check r, alpha and dropout; the defaults PEFT uses are not assumed here. */
export function validateLoraConfig(c: LoraConfig, source = 'LoRA config'): void {
  if (!Number.isInteger(c.r) || c.r < 1) throw new CheckpointError(`${source}: r must be a positive integer, got ${c.r}`);
  if (!Number.isFinite(c.loraAlpha) || c.loraAlpha <= 0) throw new CheckpointError(`${source}: lora_alpha must be a positive number, got ${c.loraAlpha}`);
  if (!Number.isFinite(c.loraDropout) || c.loraDropout < 0 || c.loraDropout >= 1) throw new CheckpointError(`${source}: lora_dropout must be in [0, 1), got ${c.loraDropout}`);
  const t = c.targetModules;
  if (!(typeof t === 'string' && t.length > 0) && !(Array.isArray(t) && t.length > 0 && t.every((x) => typeof x === 'string' && x.length > 0))) {
    throw new CheckpointError(`${source}: target_modules must be a non-empty list of module names or a regular expression, got ${JSON.stringify(t)}`);
  }
}

/** Parse adapter_config.json text; refuses every setting whose computation we do not implement. */
export function parseAdapterConfig(text: string, source = ADAPTER_CONFIG_FILE): LoraConfig {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new CheckpointError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new CheckpointError(`${source}: expected a JSON object`);
  const bad = (field: string, why: string): never => {
    throw new CheckpointError(`${source}: ${field} ${JSON.stringify(j[field])} ${why}`);
  };
  if (j.peft_type !== 'LORA') bad('peft_type', 'is not supported (only LORA)');
  if ((j.bias ?? 'none') !== 'none') bad('bias', 'is not supported: only bias "none" (the base biases stay frozen)');
  if (j.fan_in_fan_out !== true) bad('fan_in_fan_out', 'must be true for GPT-2, whose Conv1D weights are stored [in, out]');
  for (const f of ['use_rslora', 'use_dora', 'lora_bias']) if (j[f] !== undefined && j[f] !== null && j[f] !== false) bad(f, 'is not supported');
  const empty = (v: unknown) => v === undefined || v === null || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && Object.keys(v as object).length === 0);
  for (const f of ['modules_to_save', 'rank_pattern', 'alpha_pattern', 'layers_to_transform', 'layers_pattern', 'layer_replication', 'exclude_modules', 'trainable_token_indices']) {
    if (!empty(j[f])) bad(f, 'is not supported (it must be empty or null)');
  }
  if (typeof j.r !== 'number') bad('r', 'must be a number');
  if (typeof j.lora_alpha !== 'number') bad('lora_alpha', 'must be a number');
  if (j.lora_dropout !== undefined && typeof j.lora_dropout !== 'number') bad('lora_dropout', 'must be a number');
  const t = j.target_modules;
  if (typeof t !== 'string' && !Array.isArray(t)) bad('target_modules', 'must be a list of module names or a regular expression');
  if (t === 'all-linear') bad('target_modules', 'is not supported here: list the modules (c_attn, attn.c_proj, c_fc, mlp.c_proj)');
  const c: LoraConfig = {
    r: j.r as number,
    loraAlpha: j.lora_alpha as number,
    targetModules: Array.isArray(t) ? [...(t as string[])] : (t as string),
    loraDropout: (j.lora_dropout as number | undefined) ?? 0,
    baseModelNameOrPath: typeof j.base_model_name_or_path === 'string' ? j.base_model_name_or_path : null,
    taskType: typeof j.task_type === 'string' ? j.task_type : null,
  };
  validateLoraConfig(c, source);
  return c;
}

/** adapter_config.json as PEFT writes it for a GPT-2 LoRA adapter. */
export function serializeAdapterConfig(c: LoraConfig): string {
  const json = {
    peft_type: 'LORA',
    task_type: c.taskType ?? 'CAUSAL_LM',
    base_model_name_or_path: c.baseModelNameOrPath,
    revision: null,
    inference_mode: true,
    r: c.r,
    lora_alpha: c.loraAlpha,
    lora_dropout: c.loraDropout,
    target_modules: c.targetModules,
    fan_in_fan_out: true,
    bias: 'none',
    init_lora_weights: true,
    use_rslora: false,
    use_dora: false,
    modules_to_save: null,
    rank_pattern: {},
    alpha_pattern: {},
    layers_to_transform: null,
    layers_pattern: null,
  };
  return `${JSON.stringify(json, null, 2)}\n`;
}

/** Adapter weights by module name: A [r, in], B [out, r], f32. */
export type LoraWeights = Map<string, {
  /** lora_A [r, in], row-major. */
  A: Float32Array;
  /** lora_B [out, r], row-major. */
  B: Float32Array;
}>;

export const loraTensorName = (module: string, which: 'A' | 'B') => `${PREFIX}${module}.lora_${which}.weight`;

/** Map adapter_model.safetensors to the modules the config selects; every tensor must be expected and present. */
export function parseAdapterWeights(bytes: Uint8Array | ParsedSafetensors, config: GPT2Config, lora: LoraConfig, fileName = ADAPTER_WEIGHTS_FILE): LoraWeights {
  const parsed = bytes instanceof Uint8Array ? parseSafetensors(bytes, fileName) : bytes;
  const file = parsed.fileName;
  const seen = new Set<string>();
  const out: LoraWeights = new Map();
  for (const m of loraModules(config, lora)) {
    const get = (which: 'A' | 'B', shape: [number, number]) => {
      const name = loraTensorName(m.module, which);
      const t = parsed.tensors.get(name);
      if (!t) throw new CheckpointError(`'${file}' is missing tensor '${name}' (shape [${shape.join(', ')}])`);
      if (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1]) {
        throw new CheckpointError(`tensor '${name}' in '${file}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}] (r=${lora.r})`);
      }
      seen.add(name);
      return toFloat32(t);
    };
    out.set(m.module, { A: get('A', [lora.r, m.inFeatures]), B: get('B', [m.outFeatures, lora.r]) });
  }
  const extra = [...parsed.tensors.keys()].filter((k) => !seen.has(k));
  if (extra.length) {
    throw new CheckpointError(`'${file}' has tensor${extra.length > 1 ? 's' : ''} ${extra.slice(0, 4).map((k) => `'${k}'`).join(', ')} that adapter_config.json's target_modules do not select (or that are not LoRA A/B weights)`);
  }
  return out;
}

/** adapter_model.safetensors bytes: F32, A then B for each module in the given order. */
export function serializeAdapterWeights(weights: LoraWeights, lora: LoraConfig): Uint8Array {
  const tensors = [];
  for (const [module, { A, B }] of weights) {
    tensors.push({ name: loraTensorName(module, 'A'), dtype: 'F32' as const, shape: [lora.r, A.length / lora.r], data: A });
    tensors.push({ name: loraTensorName(module, 'B'), dtype: 'F32' as const, shape: [B.length / lora.r, lora.r], data: B });
  }
  return serializeSafetensors(tensors, { format: 'pt' });
}

/**
 * The merged Conv1D weight W' = W + s·Aᵀ·Bᵀ ([in, out], row-major), as PEFT's merge_and_unload
 * computes it with fan_in_fan_out (delta = transpose(B·A)·s), accumulated in float64.
 */
export function mergeLoraWeight(W: Float32Array, A: Float32Array, B: Float32Array, r: number, inF: number, outF: number, scale: number): Float32Array {
  const out = new Float32Array(W.length);
  for (let i = 0; i < inF; i++) {
    for (let o = 0; o < outF; o++) {
      let d = 0;
      for (let j = 0; j < r; j++) d += A[j * inF + i]! * B[o * r + j]!;
      out[i * outF + o] = W[i * outF + o]! + d * scale;
    }
  }
  return out;
}

/**
 * For each adapted Conv1D weight (canonical name, e.g. `h.0.attn.c_attn.weight`), the function that
 * folds the adapter into it: the merged model computes what the adapted one does, with no adapter.
 */
export function adapterMerges(config: GPT2Config, lora: LoraConfig, weights: LoraWeights): Map<string, (W: Float32Array) => Float32Array> {
  const s = loraScale(lora);
  const out = new Map<string, (W: Float32Array) => Float32Array>();
  for (const m of loraModules(config, lora)) {
    const w = weights.get(m.module);
    if (!w) throw new CheckpointError(`merge: the adapter has no weights for "${m.module}"`);
    out.set(`${m.module.slice('transformer.'.length)}.weight`, (W) => mergeLoraWeight(W, w.A, w.B, lora.r, m.inFeatures, m.outFeatures, s));
  }
  return out;
}

/** A copy of the base weights (canonical names) with the adapter folded in. */
export function mergeAdapter(params: ReadonlyMap<string, Float32Array>, config: GPT2Config, lora: LoraConfig, weights: LoraWeights): Map<string, Float32Array> {
  const out = new Map(params);
  for (const [name, merge] of adapterMerges(config, lora, weights)) {
    const W = params.get(name);
    if (!W) throw new CheckpointError(`merge: the base model has no parameter "${name}"`);
    out.set(name, merge(W));
  }
  return out;
}
