// Autoregressive generation with a KV cache on the GPU: the prompt in batches of rows, then one
// token per step, one submit per token (greedy: the pick made on the GPU, one id read back).
// Each layer keeps the c_attn output (q | k | v) of every past position in a [maxT, 3C] cache;
// a new token runs the whole network on its single row and attends over the cache.

import type { Tensor } from '../gpu/tensor';
import type { Step } from '../gpu/context';
import { MQGError } from '../util/errors';
import { type GPT2, fcForward, headName } from './gpt2';
import { attentionScale } from './config';
import { Rng } from '../util/rng';
import { encoderForward } from '../kernels/encoder';
import { layernormForward } from '../kernels/layernorm';
import { gemm } from '../kernels/matmul';
import { baseGemm } from '../kernels/lora';
import { residualForward } from '../kernels/residual';
import { argmaxForward, attentionDecode } from '../kernels/decode';

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

/** Activations for up to `rows` positions at once: [rows, C] and [rows, H] buffers. */
class RowBuffers {
  readonly tokens: Tensor;
  readonly wpe: Tensor;
  readonly x: Tensor[];
  readonly ln: Tensor;
  readonly mean: Tensor;
  readonly rstd: Tensor;
  readonly atty: Tensor;
  readonly proj: Tensor;
  readonly fch: Tensor;
  readonly fchGelu: Tensor;

  constructor(model: GPT2, readonly rows: number, tokens?: Tensor) {
    const { nEmbd: C, nInner: H } = model.config;
    const g = model.gpu;
    const st = model.dtype;
    const R = rows;
    this.tokens = tokens ?? g.tensor([R], 'i32', 'gen_tokens');
    this.wpe = g.tensor([R, C], st, 'gen_wpe_rows');
    this.x = [0, 1, 2].map((i) => g.tensor([R, C], 'f32', `gen_x${i}`)); // the residual stream is f32, as in training
    this.ln = g.tensor([R, C], st, 'gen_ln');
    this.mean = g.tensor([R], 'f32', 'gen_mean');
    this.rstd = g.tensor([R], 'f32', 'gen_rstd');
    this.atty = g.tensor([R, C], st, 'gen_atty');
    this.proj = g.tensor([R, C], 'f32', 'gen_proj');
    this.fch = g.tensor([R, H], st, 'gen_fch');
    this.fchGelu = g.tensor([R, H], st, 'gen_fch_gelu');
  }

  destroy(): void {
    for (const t of [...this.x, this.tokens, this.wpe, this.ln, this.mean, this.rstd, this.atty, this.proj, this.fch, this.fchGelu]) t.buffer.destroy();
  }
}

/** Prompt positions run through the network together (M of the prompt's GEMMs). */
const PREFILL_ROWS = 64;

/**
 * The per-layer caches and the buffers of one decoding position. Allocated once per model.
 * A prompt runs as one batch of up to PREFILL_ROWS rows (each weight read once per batch, not per
 * token); a decode step as one row. Greedy decoding picks the token on the GPU (argmaxForward)
 * straight into the next step's input, so a step reads back one id, not [V] logits, and the next
 * step is queued before that id arrives.
 */
class KVCache {
  readonly caches: Tensor[];
  readonly one: RowBuffers;
  private many: RowBuffers | undefined;
  readonly lnLast: Tensor;
  readonly logits: Tensor;

  constructor(readonly model: GPT2) {
    const { nLayer: L, nEmbd: C, nPositions: maxT, paddedVocabSize: Vp } = model.config;
    const g = model.gpu;
    this.caches = Array.from({ length: L }, (_, l) => g.tensor([maxT, 3 * C], model.dtype, `kv_cache.${l}`));
    this.one = new RowBuffers(model, 1);
    this.lnLast = g.tensor([1, C], model.dtype, 'gen_ln_last');
    this.logits = g.tensor([1, Vp], model.dtype, 'gen_logits');
  }

  /** The token id fed to the next one-row step (argmaxForward writes it in greedy decoding). */
  get token(): Tensor {
    return this.one.tokens;
  }

  /**
   * Record positions pos..pos+n-1 (their ids already in rows.tokens) through the network, filling
   * the caches, and the next-token logits of the last into this.logits.
   */
  record(s: Step, rows: RowBuffers, pos: number, n: number): void {
    const m = this.model;
    const { nLayer: L, nEmbd: C, nHead: NH, paddedVocabSize: Vp, nInner: H, layerNormEpsilon: eps, activation } = m.config;
    const p = m.params;
    const r = (t: Tensor, width: number) => (rows.rows === n ? t : t.view([n, width], 0));
    const tokens = rows.rows === n ? rows.tokens : rows.tokens.view([n], 0);
    const wpe = r(rows.wpe, C), ln = r(rows.ln, C), atty = r(rows.atty, C), proj = r(rows.proj, C), fch = r(rows.fch, H), fchGelu = r(rows.fchGelu, H);
    const mean = rows.rows === n ? rows.mean : rows.mean.view([n], 0), rstd = rows.rows === n ? rows.rstd : rows.rstd.view([n], 0);
    let [x, r2, out] = rows.x.map((t) => r(t, C)) as [Tensor, Tensor, Tensor];
    s.copy(p.weight('wpe.weight').view([n, C], pos * C), wpe);
    encoderForward(s, x, tokens, p.weight('wte.weight'), wpe, 1, n, C);
    for (let l = 0; l < L; l++) {
      const w = (name: string) => p.weight(`h.${l}.${name}`);
      const q = (name: string) => m.baseWeight(`h.${l}.${name}`); // a block matmul weight: a tensor, or quantized blocks
      const cache = this.caches[l]!;
      layernormForward(s, ln, mean, rstd, x, w('ln_1.weight'), w('ln_1.bias'), n, C, eps);
      // q | k | v of the n positions straight into their cache rows
      baseGemm(s, cache.view([n, 3 * C], pos * 3 * C), ln, q('attn.c_attn.weight'), { M: n, N: 3 * C, K: C, bias: w('attn.c_attn.bias') });
      for (let t = 0; t < n; t++) attentionDecode(s, atty, cache, pos + t, C, NH, attentionScale(m.config, l), t * C);
      baseGemm(s, proj, atty, q('attn.c_proj.weight'), { M: n, N: C, K: C, bias: w('attn.c_proj.bias') });
      residualForward(s, r2, x, proj, n * C);
      layernormForward(s, ln, mean, rstd, r2, w('ln_2.weight'), w('ln_2.bias'), n, C, eps);
      fcForward(s, fchGelu, fch, ln, q('mlp.c_fc.weight'), w('mlp.c_fc.bias'), n, C, H, activation);
      baseGemm(s, proj, fchGelu, q('mlp.c_proj.weight'), { M: n, N: C, K: H, bias: w('mlp.c_proj.bias') });
      residualForward(s, out, r2, proj, n * C);
      [x, out] = [out, x];
    }
    let last = x;
    if (n > 1) {
      // the last row alone (a copy: a binding cannot start at any row)
      last = this.one.x[0]!;
      s.copy(x.view([1, C], (n - 1) * C), last);
    }
    layernormForward(s, this.lnLast, this.one.mean, this.one.rstd, last, p.weight('ln_f.weight'), p.weight('ln_f.bias'), 1, C, eps);
    gemm(s, this.logits, this.lnLast, p.weight(headName(m.config)), { M: 1, N: Vp, K: C, transB: true });
  }

  /** Record the prompt (positions 0..) in batches; the logits of its last token end in this.logits. Returns the open step. */
  recordPrompt(prompt: readonly number[]): Step {
    const g = this.model.gpu;
    const R = Math.min(PREFILL_ROWS, this.model.config.nPositions);
    if (prompt.length > 1 && !this.many) this.many = new RowBuffers(this.model, R);
    let s = g.step('prefill');
    for (let p0 = 0; p0 < prompt.length; p0 += R) {
      const n = Math.min(R, prompt.length - p0);
      const rows = n === 1 ? this.one : this.many!;
      if (p0 > 0) {
        s.submit(); // the next batch's ids overwrite the tokens buffer: upload after this one ran
        s = g.step('prefill');
      }
      g.upload(n === rows.rows ? rows.tokens : rows.tokens.view([n], 0), prompt.slice(p0, p0 + n));
      this.record(s, rows, p0, n);
    }
    return s;
  }

  /** Run one token at `pos`; returns its next-token logits [V]. */
  async step(tokenId: number, pos: number): Promise<Float32Array> {
    this.model.gpu.upload(this.one.tokens, [tokenId]);
    const s = this.model.gpu.step('decode');
    this.record(s, this.one, pos, 1);
    s.submit();
    return this.readLogits();
  }

  async readLogits(): Promise<Float32Array> {
    const logits = (await this.model.gpu.download(this.logits)) as Float32Array;
    return logits.subarray(0, this.model.config.vocabSize);
  }

  destroy(): void {
    for (const t of [...this.caches, this.lnLast, this.logits]) t.buffer.destroy();
    this.one.destroy();
    this.many?.destroy();
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
  if (opts.signal?.aborted || opts.maxNewTokens < 1) return [];
  if ((opts.temperature ?? 1) === 0) return generateGreedy(cache, prompt, total, opts);
  const rng = new Rng(opts.seed ?? 1337);
  const out: number[] = [];
  cache.recordPrompt(prompt).submit();
  let logits = await cache.readLogits();
  for (let pos = prompt.length; pos < total && out.length < opts.maxNewTokens; pos++) {
    if (opts.signal?.aborted) break;
    const next = sampleToken(logits, opts, rng);
    out.push(next);
    opts.onToken?.(next);
    if (next === opts.stopToken || pos + 1 >= total || opts.signal?.aborted) break;
    logits = await cache.step(next, pos);
  }
  return out;
}

/**
 * Greedy decoding with the argmax on the GPU: each step writes its pick into the next step's token
 * buffer, and step i+1 is queued before id i is read back (a step past a stop token is wasted, its
 * cache row harmless). One id crosses per token.
 */
async function generateGreedy(cache: KVCache, prompt: readonly number[], total: number, opts: GenerateOptions): Promise<number[]> {
  const g = cache.model.gpu;
  const V = cache.model.config.vocabSize;
  const readId = () => g.readBytes(cache.token.buffer, cache.token.offset, 4);
  const s0 = cache.recordPrompt(prompt);
  argmaxForward(s0, cache.token, cache.logits, V);
  s0.submit();
  let pending = readId();
  const out: number[] = [];
  for (let pos = prompt.length; pos < total && out.length < opts.maxNewTokens; pos++) {
    // queue the step of the token being read (position pos) unless it is the last one wanted
    const more = pos + 1 < total && out.length + 1 < opts.maxNewTokens;
    let next: Promise<Uint8Array> | undefined;
    if (more) {
      const s = g.step('decode');
      cache.record(s, cache.one, pos, 1);
      argmaxForward(s, cache.token, cache.logits, V);
      s.submit();
      next = readId();
    }
    const id = new Int32Array((await pending).buffer.slice(0))[0]!;
    out.push(id);
    opts.onToken?.(id);
    if (id === opts.stopToken || !next || opts.signal?.aborted) {
      if (next) await next; // let the queued step finish before the caller reuses the cache
      break;
    }
    pending = next;
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
