/**
 * HF GPT-2 tensor names <-> our canonical parameters, both ways: a checkpoint's stored tensors
 * mapped to the parameters of a config (the readers' last step, open.ts), and the names and checks
 * the writers use (hfName, canonicalParamList: safetensors-write.ts, llmc-write.ts). Mapping only;
 * nothing here reads or writes a file. Browser-safe.
 *
 * Accepted names: `transformer.<name>` (GPT2LMHeadModel) or `<name>` (GPT2Model), where
 * `<name>` is a canonical name of `paramShapes(config)`. Skipped: the non-parameter buffers
 * `h.{i}.attn.bias` and `h.{i}.attn.masked_bias`, and GPT2DoubleHeadsModel's
 * `multiple_choice_head.summary.{weight,bias}` (not part of the LM; finetune-mcq reads them apart,
 * as transformers leaves them out when it loads GPT2LMHeadModel). `lm_head.weight`:
 * - tied config (tie_word_embeddings, the default): save_pretrained stores it as a copy of wte
 *   (a shared storage in torch files); it is dropped once it is known equal to wte (same storage,
 *   or the same values: the loader compares them as it streams); a different one is an error;
 * - untied config: it is the parameter `lm_head.weight` and must be present.
 * Anything else is an error naming the tensor.
 */

import { numel, paramShapes, type GPT2Config } from '../config';
import { CheckpointError } from '../../util/errors';
import type { TensorEntry } from './tensor-file';

export { CheckpointError };

const HF_PREFIX = 'transformer.';
const LM_HEAD = 'lm_head.weight';
const IGNORED_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;
/** GPT2DoubleHeadsModel's multiple-choice head (finetune-mcq's checkpoints carry it too). */
export const MC_HEAD_TENSOR = /^multiple_choice_head\.summary\.(weight|bias)$/;

/** Strip the optional `transformer.` prefix. */
export function canonicalName(hfName: string): string {
  return hfName.startsWith(HF_PREFIX) ? hfName.slice(HF_PREFIX.length) : hfName;
}

/** The name GPT2LMHeadModel's state dict uses for a canonical parameter. */
export function hfName(canonical: string): string {
  return canonical === LM_HEAD ? LM_HEAD : HF_PREFIX + canonical;
}

function fmtShape(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

export interface MappedParams {
  /** Canonical name -> its tensor, in `paramShapes` order. */
  params: Map<string, TensorEntry>;
  /** A stored lm_head of a tied model whose values must still be compared with wte. */
  tiedCopy?: TensorEntry;
  /** The multiple-choice head's tensors (HF names), when the checkpoint has them: not GPT-2 parameters. */
  heads: Map<string, TensorEntry>;
}

/** Map a checkpoint's tensors (by stored name) to the parameters of `config`. `what` names the checkpoint. */
export function mapParams(tensors: ReadonlyMap<string, TensorEntry>, config: GPT2Config, what: string): MappedParams {
  const byCanon = new Map<string, TensorEntry>();
  let lmHead: TensorEntry | undefined;
  const heads = new Map<string, TensorEntry>();
  for (const [key, t] of tensors) {
    const canon = canonicalName(key);
    if (MC_HEAD_TENSOR.test(key)) heads.set(key, t);
    if (IGNORED_BUFFER.test(canon) || MC_HEAD_TENSOR.test(key)) continue;
    if (key === LM_HEAD && config.tieWordEmbeddings) {
      lmHead = t;
      continue;
    }
    const prev = byCanon.get(canon);
    if (prev !== undefined) throw new CheckpointError(`'${what}' contains both '${prev.name}' and '${key}' (the same parameter)`);
    byCanon.set(canon, t);
  }
  const params = new Map<string, TensorEntry>();
  for (const { name, shape } of paramShapes(config)) {
    const t = byCanon.get(name);
    if (t === undefined) {
      const hint = name === LM_HEAD ? ' (config.json sets tie_word_embeddings: false, so the output matrix is its own parameter)' : '';
      throw new CheckpointError(`'${what}' is missing tensor '${hfName(name)}' (expected shape ${fmtShape(shape)})${hint}`);
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new CheckpointError(`tensor '${t.name}' in '${t.file}' has shape ${fmtShape(t.shape)}, expected ${fmtShape(shape)}`);
    }
    params.set(name, t);
    byCanon.delete(name);
  }
  if (byCanon.size > 0) {
    const extra = [...byCanon.values()].map((t) => `'${t.name}'`);
    throw new CheckpointError(
      `'${what}' has unknown tensor${extra.length > 1 ? 's' : ''} ${extra.join(', ')} (not a GPT-2 parameter for n_layer=${config.nLayer})`,
    );
  }
  if (lmHead === undefined) return { params, heads };
  const wte = params.get('wte.weight')!;
  if (lmHead.shape.length !== 2 || lmHead.shape[0] !== config.vocabSize || lmHead.shape[1] !== config.nEmbd) {
    throw new CheckpointError(`'${what}': 'lm_head.weight' has shape ${fmtShape(lmHead.shape)}, expected ${fmtShape(wte.shape)} (tied to wte)`);
  }
  return lmHead.storageKey === wte.storageKey ? { params, heads } : { params, heads, tiedCopy: lmHead };
}

/** The error for a tied model whose stored lm_head differs from wte. */
export function untiedCopyError(what: string, index: number): CheckpointError {
  return new CheckpointError(
    `'${what}': the config ties lm_head to wte (tie_word_embeddings absent or true) but the stored 'lm_head.weight' differs from wte ` +
      `(first at element ${index}); set "tie_word_embeddings": false in config.json to use it as a separate output matrix`,
  );
}

/** First index where two value arrays differ (NaN equal to NaN), or -1. */
export function firstDifference(a: Float32Array, b: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return i;
  return a.length === b.length ? -1 : a.length;
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
      throw new CheckpointError(`parameter '${name}' has ${data.length} elements, expected ${n} (shape ${fmtShape(shape)})`);
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
