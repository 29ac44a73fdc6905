// Autoregressive generation with a KV cache on the GPU: one token per step, one submit per token.
// Each layer keeps the c_attn output (q | k | v) of every past position in a [maxT, 3C] cache;
// a new token runs the whole network on its single row and attends over the cache.

import type { Tensor } from '../gpu/tensor';
import { MQGError } from '../util/errors';
import { type GPT2, fcForward, headName } from './gpt2';
import { attentionScale } from './config';
import { Rng } from '../util/rng';
import { encoderForward } from '../kernels/encoder';
import { layernormForward } from '../kernels/layernorm';
import { gemm } from '../kernels/matmul';
import { baseGemm } from '../kernels/lora';
import { residualForward } from '../kernels/residual';
import { attentionDecode } from '../kernels/decode';

/** Options of `generate`. */
export interface GenerateOptions {
  /** How many tokens to produce at most (required). */
  maxNewTokens: number;
  /** 0 = greedy (argmax). Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 = off). */
  topP?: number;
  /** Sampling seed. Default 1. */
  seed?: number;
  /** Stop after emitting this token (e.g. end-of-text). */
  stopToken?: number;
  /** Called with each new token as it is produced. */
  onToken?: (id: number) => void;
  /** Checked between tokens: once aborted, generation stops and returns the tokens so far. */
  signal?: AbortSignal;
}

/** Row buffers for one decoding position, and the per-layer caches. Allocated once per model. */
class KVCache {
  readonly caches: Tensor[];
  readonly token: Tensor;
  readonly wpeRow: Tensor;
  readonly x: Tensor[];
  readonly ln: Tensor;
  readonly mean: Tensor;
  readonly rstd: Tensor;
  readonly qkv: Tensor;
  readonly atty: Tensor;
  readonly proj: Tensor;
  readonly fch: Tensor;
  readonly fchGelu: Tensor;
  readonly logits: Tensor;

  constructor(readonly model: GPT2) {
    const { nLayer: L, nEmbd: C, nPositions: maxT, paddedVocabSize: Vp, nInner: H } = model.config;
    const g = model.gpu;
    const st = model.dtype;
    this.caches = Array.from({ length: L }, (_, l) => g.tensor([maxT, 3 * C], st, `kv_cache.${l}`));
    this.token = g.tensor([1], 'i32', 'gen_token');
    this.wpeRow = g.tensor([1, C], st, 'gen_wpe_row');
    this.x = [0, 1, 2].map((i) => g.tensor([1, C], 'f32', `gen_x${i}`)); // the residual stream is f32, as in training
    this.ln = g.tensor([1, C], st, 'gen_ln');
    this.mean = g.tensor([1], 'f32', 'gen_mean');
    this.rstd = g.tensor([1], 'f32', 'gen_rstd');
    this.qkv = g.tensor([1, 3 * C], st, 'gen_qkv');
    this.atty = g.tensor([1, C], st, 'gen_atty');
    this.proj = g.tensor([1, C], 'f32', 'gen_proj');
    this.fch = g.tensor([1, H], st, 'gen_fch');
    this.fchGelu = g.tensor([1, H], st, 'gen_fch_gelu');
    this.logits = g.tensor([1, Vp], st, 'gen_logits');
  }

  /** Run the token at `pos` through the network, filling the caches; returns its next-token logits. */
  async step(tokenId: number, pos: number): Promise<Float32Array> {
    const m = this.model;
    const { nLayer: L, nEmbd: C, nHead: NH, paddedVocabSize: Vp, vocabSize: V, nInner: H, layerNormEpsilon: eps, activation } = m.config;
    const p = m.params;
    const g = m.gpu;
    g.upload(this.token, [tokenId]);
    const s = g.step('decode');
    s.copy(p.weight('wpe.weight').view([1, C], pos * C), this.wpeRow);
    let [x, r2, out] = this.x as [Tensor, Tensor, Tensor];
    encoderForward(s, x, this.token, p.weight('wte.weight'), this.wpeRow, 1, 1, C);
    for (let l = 0; l < L; l++) {
      const w = (n: string) => p.weight(`h.${l}.${n}`);
      const q = (n: string) => m.baseWeight(`h.${l}.${n}`); // a block matmul weight: a tensor, or quantized blocks
      layernormForward(s, this.ln, this.mean, this.rstd, x, w('ln_1.weight'), w('ln_1.bias'), 1, C, eps);
      baseGemm(s, this.qkv, this.ln, q('attn.c_attn.weight'), { M: 1, N: 3 * C, K: C, bias: w('attn.c_attn.bias') });
      s.copy(this.qkv, this.caches[l]!.view([1, 3 * C], pos * 3 * C));
      attentionDecode(s, this.atty, this.caches[l]!, pos, C, NH, attentionScale(m.config, l));
      baseGemm(s, this.proj, this.atty, q('attn.c_proj.weight'), { M: 1, N: C, K: C, bias: w('attn.c_proj.bias') });
      residualForward(s, r2, x, this.proj, C);
      layernormForward(s, this.ln, this.mean, this.rstd, r2, w('ln_2.weight'), w('ln_2.bias'), 1, C, eps);
      fcForward(s, this.fchGelu, this.fch, this.ln, q('mlp.c_fc.weight'), w('mlp.c_fc.bias'), 1, C, H, activation);
      baseGemm(s, this.proj, this.fchGelu, q('mlp.c_proj.weight'), { M: 1, N: C, K: H, bias: w('mlp.c_proj.bias') });
      residualForward(s, out, r2, this.proj, C);
      [x, out] = [out, x];
    }
    layernormForward(s, this.ln, this.mean, this.rstd, x, p.weight('ln_f.weight'), p.weight('ln_f.bias'), 1, C, eps);
    gemm(s, this.logits, this.ln, p.weight(headName(m.config)), { M: 1, N: Vp, K: C, transB: true });
    s.submit();
    const logits = (await g.download(this.logits)) as Float32Array;
    return logits.subarray(0, V);
  }

  destroy(): void {
    for (const t of [...this.caches, ...this.x, this.token, this.wpeRow, this.ln, this.mean, this.rstd, this.qkv, this.atty, this.proj, this.fch, this.fchGelu, this.logits]) {
      t.buffer.destroy();
    }
  }
}

const cacheOf = new WeakMap<GPT2, KVCache>();

/** Continue `prompt` by up to maxNewTokens tokens; returns only the new tokens. */
export async function generate(model: GPT2, prompt: readonly number[], opts: GenerateOptions): Promise<number[]> {
  const { vocabSize: V, nPositions } = model.config;
  if (prompt.length === 0) throw new MQGError('generate: the prompt is empty (start it with the end-of-text token to generate from nothing)');
  for (let i = 0; i < prompt.length; i++) {
    const t = prompt[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= V) throw new MQGError(`generate: prompt token id ${t} at position ${i} is outside the vocabulary [0, ${V})`);
  }
  const total = Math.min(nPositions, prompt.length + opts.maxNewTokens);
  if (prompt.length >= nPositions) throw new MQGError(`generate: the prompt has ${prompt.length} tokens; the model's context is ${nPositions}`);
  let cache = cacheOf.get(model);
  if (!cache) cacheOf.set(model, (cache = new KVCache(model)));
  const rng = new Rng(opts.seed ?? 1337);
  const out: number[] = [];
  let logits: Float32Array = new Float32Array(0);
  for (let pos = 0; pos < prompt.length; pos++) {
    if (opts.signal?.aborted) return out;
    logits = await cache.step(prompt[pos]!, pos);
  }
  for (let pos = prompt.length; pos < total && out.length < opts.maxNewTokens; pos++) {
    const next = sampleToken(logits, opts, rng);
    out.push(next);
    opts.onToken?.(next);
    if (next === opts.stopToken || pos + 1 >= total || opts.signal?.aborted) break;
    logits = await cache.step(next, pos);
  }
  return out;
}

/** Pick a token from logits: greedy at temperature 0, else softmax(logits/temperature) with top-k / top-p. */
export function sampleToken(logits: Float32Array, opts: Pick<GenerateOptions, 'temperature' | 'topK' | 'topP'>, rng: Rng): number {
  const temperature = opts.temperature ?? 1;
  if (!(temperature >= 0)) throw new MQGError(`temperature must be >= 0, got ${temperature}`);
  const topK = opts.topK ?? 0;
  const topP = opts.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new MQGError(`top-p must be in (0, 1], got ${topP}`);
  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  let idx = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]!);
  if (topK > 0) idx = idx.slice(0, topK);
  const max = logits[idx[0]!]!;
  let probs = idx.map((i) => Math.exp((logits[i]! - max) / temperature));
  let sum = probs.reduce((a, b) => a + b, 0);
  if (topP < 1) {
    let acc = 0, keep = 0;
    while (keep < probs.length && acc < topP * sum) acc += probs[keep++]!;
    idx = idx.slice(0, keep);
    probs = probs.slice(0, keep);
    sum = acc;
  }
  let r = rng.random() * sum;
  for (let i = 0; i < idx.length; i++) {
    r -= probs[i]!;
    if (r <= 0) return idx[i]!;
  }
  return idx[idx.length - 1]!;
}

/** Release a model's generation cache. */
export function releaseGenerationCache(model: GPT2): void {
  cacheOf.get(model)?.destroy();
  cacheOf.delete(model);
}
