// A frozen base with GGML-quantized block weights (ModelOptions.quantize): the four matmul weights
// of each block (attn.c_attn [C,3C], attn.c_proj [C,C], mlp.c_fc [C,H], mlp.c_proj [H,C]) live as
// Q8_0 or Q4_0 blocks (util/ggml.ts: 32 consecutive inputs per block, an f16 scale each) instead
// of in the ParamStore banks; everything else (embeddings, lm_head, layer norms, biases) stays at
// the compute precision in the banks. A weight whose input dimension is not a multiple of 32 stays
// in the banks unquantized (`skipped`). Each weight is quantized as it arrives (set), on the CPU,
// and only its packed blocks reach the GPU: no f32 or f16 copy of the model is ever held.
// Quantized weights have no gradient: a quantized model evaluates, samples, or trains LoRA adapters.

import type { GPUContext } from '../gpu/context';
import { MQGError } from '../util/errors';
import { QK, quantizeRows, type QuantizedMatrix, type QuantType as GgmlQuantType } from '../util/ggml';
import { destroyQuantizedWeight, quantTextureSize, quantizedWeightBytes, uploadQuantized, type QuantizedWeight } from '../kernels/qmatmul';
import { paramShapes, type GPT2Config } from './config';
import { LORA_MODULE_KINDS } from './peft';

/** A GGML quantization of a frozen base's block weights: `q8_0` (8.5 bits a weight) or `q4_0` (4.5 bits). */
export type QuantType = GgmlQuantType;
export const QUANT_TYPES: readonly QuantType[] = ['q8_0', 'q4_0'];

/** A quantizable weight: canonical name and its Conv1D shape [K (inputs), N (outputs)]. */
export interface QuantizableWeight {
  name: string;
  K: number;
  N: number;
}

/** The block matmul weights of `config` split into those quantized and those that stay unquantized (K % 32). */
export function quantizedLayout(config: GPT2Config): { quantized: QuantizableWeight[]; skipped: QuantizableWeight[] } {
  const kinds = new Set(LORA_MODULE_KINDS.map((k) => `${k}.weight`));
  const quantized: QuantizableWeight[] = [];
  const skipped: QuantizableWeight[] = [];
  for (const p of paramShapes(config)) {
    const m = /^h\.\d+\.(.+)$/.exec(p.name);
    if (!m || !kinds.has(m[1]!)) continue;
    const w = { name: p.name, K: p.shape[0]!, N: p.shape[1]! };
    (w.K % QK === 0 ? quantized : skipped).push(w);
  }
  return { quantized, skipped };
}

/** One line naming the weights left unquantized (input dimension not a multiple of 32); undefined if none. */
export function skippedQuantizationNote(config: GPT2Config, type: QuantType): string | undefined {
  const { skipped } = quantizedLayout(config);
  if (!skipped.length) return undefined;
  const dims = [...new Set(skipped.map((w) => w.K))].join(', ');
  return `quantize ${type}: ${skipped.length} weight(s) stay unquantized (input dimension ${dims} is not a multiple of ${QK}): ${skipped.map((w) => w.name).join(', ')}`;
}

/** Validate a quantize option (library or CLI value). */
export function checkQuantType(type: unknown, where = 'quantize'): QuantType {
  if (!QUANT_TYPES.includes(type as QuantType)) throw new MQGError(`${where}: "${String(type)}" is not a quantization type (${QUANT_TYPES.join(', ')})`);
  return type as QuantType;
}

const buf = (bytes: number) => Math.ceil(Math.max(bytes, 16) / 16) * 16;

/**
 * GPU bytes of one quantized weight as uploadQuantized allocates it: the f16 scales [N*K/32] packed
 * two per u32 (a buffer rounded as GPUContext.createBuffer rounds it), and the packed quants
 * (Q8_0: one byte per value, Q4_0: half a byte) in an rgba32uint texture of whole rows
 * (quantTextureSize).
 */
export function quantizedWeightBufferBytes(K: number, N: number, type: QuantType): number {
  const scales = 4 * Math.ceil((N * K) / QK / 2);
  const { width, height } = quantTextureSize(type, K, N);
  return buf(scales) + width * height * 16;
}

/** GPU bytes of a model's quantized block weights (memoryPlan). */
export function quantizedBaseBytes(config: GPT2Config, type: QuantType): number {
  return quantizedLayout(config).quantized.reduce((n, w) => n + quantizedWeightBufferBytes(w.K, w.N, type), 0);
}

/** The quantized block weights of one model on the GPU, filled by set() as the weights stream in. */
export class QuantizedBase {
  private readonly shapes = new Map<string, QuantizableWeight>();
  private readonly weights = new Map<string, QuantizedWeight>();
  private scratch: { scales: Uint16Array; quants: Uint32Array } | undefined;
  /** The block weights left in the ParamStore (input dimension not a multiple of 32). */
  readonly skipped: string[];

  constructor(readonly gpu: GPUContext, config: GPT2Config, readonly type: QuantType) {
    const { quantized, skipped } = quantizedLayout(config);
    for (const w of quantized) this.shapes.set(w.name, w);
    this.skipped = skipped.map((w) => w.name);
  }

  /** Whether `name` (canonical) is stored quantized. */
  has(name: string): boolean {
    return this.shapes.has(name);
  }

  get names(): string[] {
    return [...this.shapes.keys()];
  }

  /** Quantize f32 values [K,N] (HF Conv1D layout) and upload the blocks, replacing any earlier ones. */
  set(name: string, data: Float32Array): void {
    const s = this.shapes.get(name)!;
    if (data.length !== s.K * s.N) throw new MQGError(`parameter "${name}": ${data.length} values for ${s.K * s.N} elements`);
    const q = this.scratchFor(s);
    quantizeRows(q, data, 0, s.K);
    const old = this.weights.get(name);
    this.weights.set(name, uploadQuantized(this.gpu, q, `${name}.${this.type}`));
    if (old) destroyQuantizedWeight(old);
    if (this.weights.size === this.shapes.size) this.scratch = undefined; // every weight is in: the load is over
  }

  /**
   * The blocks of one weight, in buffers reused from weight to weight (sized for the largest, a
   * [C, 4C] mlp weight): a fresh array per weight costs a page fault per 4 KiB on first touch,
   * which loading a large model spent seconds on. quantizeRows writes every byte, and
   * uploadQuantized copies them before set() returns, so the next weight may overwrite them.
   */
  private scratchFor(s: QuantizableWeight): QuantizedMatrix {
    const blocks = (s.K * s.N) / QK;
    const wordsPerBlock = this.type === 'q8_0' ? 8 : 4; // 32 or 16 bytes of quants
    if (!this.scratch || this.scratch.scales.length < blocks) {
      let most = 0;
      for (const w of this.shapes.values()) most = Math.max(most, (w.K * w.N) / QK);
      this.scratch = { scales: new Uint16Array(most), quants: new Uint32Array(most * wordsPerBlock) };
    }
    return { type: this.type, K: s.K, N: s.N, scales: this.scratch.scales.subarray(0, blocks), quants: this.scratch.quants.subarray(0, blocks * wordsPerBlock) };
  }

  weight(name: string): QuantizedWeight {
    const w = this.weights.get(name);
    if (!w) throw new MQGError(`parameter "${name}" (${this.type}) has no weights yet: load the model's weights first`);
    return w;
  }

  /** GPU bytes of the weights uploaded so far, as allocated (quantizedWeightBytes). */
  get bytes(): number {
    let n = 0;
    for (const w of this.weights.values()) n += quantizedWeightBytes(w);
    return n;
  }

  destroy(): void {
    for (const w of this.weights.values()) destroyQuantizedWeight(w);
    this.weights.clear();
  }
}
