// CPU reference of the whole GPT-2 model, forward and backward, in float64: llm.c's gpt2_forward /
// gpt2_backward composed from the per-kernel references, honouring every GPT2Config field that
// changes the computation (HF GPT2Model / GPT2LMHeadModel semantics):
//   layerNormEpsilon           every LayerNorm's eps
//   activation                 the MLP activation (gelu_new = gelu_pytorch_tanh, gelu (erf), relu, silu)
//   nInner                     the MLP width H
//   scaleAttnWeights / scaleAttnByInverseLayerIdx   layer l's attention scale (config.ts attentionScale)
//   tieWordEmbeddings          false: logits = lnf · lm_headᵀ, with lm_head's own gradient
//   reorderAndUpcastAttn       precision only in HF: no change here
// and, given `dropout`, HF's training-mode dropout with the masks the GPU draws (model/dropout.ts,
// kernels/dropout.ts): embd after the embedding, resid on each projection output, attn on the
// attention probabilities; the mask of site (kind, layer) is dropoutMask(n, p, key0, kind + 16*layer).
//
// params: canonical names (config.ts paramShapes), HF layout, vocabSize rows for wte / lm_head.
// inputs, targets [B, T]; target -1 is ignored. The loss is the mean over the counted targets, and
// the gradients are those of that mean.

import { type GPT2Config, attentionScale, paramShapes } from '../../src/model/config';
import { attentionBackwardRef, attentionForwardRef } from './attention';
import { crossEntropyRef } from './classifier';
import { encoderBackwardRef, encoderForwardRef } from './encoder';
import { activationGradRef, activationRef } from './gelu';
import { layernormBackwardRef, layernormForwardRef } from './layernorm';
import { matmulBackwardRef, matmulForwardRef } from './matmul';
import { DROPOUT_SITE, dropoutSite, type DropoutRates } from '../../src/model/dropout';
import { dropoutMask, dropoutScale } from '../../src/util/philox';

/** Dropout as one training step draws it: the rates and key word 0 (dropoutStreamKey(seed, step, micro)). */
export interface DropoutRef { rates: DropoutRates; key0: number }

/** x ∘ mask / (1-p) for site (kind, layer); x itself without dropout there. */
function dropRef(x: ArrayLike<number>, d: DropoutRef | undefined, p: number, kind: number, layer = 0): Float64Array {
  if (!d || p === 0) return Float64Array.from(x);
  const keep = dropoutMask(x.length, p, d.key0, dropoutSite(kind, layer));
  const s = dropoutScale(p);
  return Float64Array.from(x, (v, i) => (keep[i] ? v * s : 0));
}

export type Params = ReadonlyMap<string, ArrayLike<number>>;

export interface GPT2Ref {
  /** [B*T, V] */
  logits: Float64Array;
  /** [B*T], 0 where the target is -1 */
  losses: Float64Array;
  /** Mean over counted targets. */
  loss: number;
  /** Number of targets that are not -1. */
  count: number;
  /** d loss / d param, canonical names (only with backward). */
  grads: Map<string, Float64Array>;
}

function add(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

/** out[M,N] = a[M,K] · bᵀ with b [N,K]. */
function matmulTransB(a: ArrayLike<number>, b: ArrayLike<number>, M: number, N: number, K: number): Float64Array {
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[m * K + k]! * b[n * K + k]!;
      out[m * N + n] = s;
    }
  }
  return out;
}

/** Canonical random parameters for a config (HF-like scales, perturbed LayerNorms), float64. */
export function randomParams(config: GPT2Config, seed: number): Map<string, Float64Array> {
  let s = seed >>> 0 || 1;
  const rnd = () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return (s / 4294967296) * 2 - 1;
  };
  const out = new Map<string, Float64Array>();
  for (const p of paramShapes(config)) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const x = new Float64Array(n);
    const isLn = /ln_(1|2|f)\./.test(p.name);
    for (let i = 0; i < n; i++) {
      if (isLn) x[i] = p.name.endsWith('.weight') ? 1 + 0.2 * rnd() : 0.1 * rnd();
      else if (p.name.endsWith('.bias')) x[i] = 0.05 * rnd();
      else x[i] = (p.name.startsWith('wte') || p.name.startsWith('wpe') || p.name.startsWith('lm_head') ? 0.5 : 0.3) * rnd();
    }
    out.set(p.name, x);
  }
  return out;
}

export function gpt2Ref(
  config: GPT2Config, params: Params, inputs: ArrayLike<number>, targets: ArrayLike<number>, B: number, T: number, backward = true, dropout?: DropoutRef,
): GPT2Ref {
  const rates = dropout?.rates ?? { embd: 0, resid: 0, attn: 0 };
  const attnDrop = (l: number) => (dropout && rates.attn > 0 ? { p: rates.attn, key0: dropout.key0, site: dropoutSite(DROPOUT_SITE.attnProbs, l) } : undefined);
  const { nLayer: L, nHead: NH, nEmbd: C, vocabSize: V, nInner: H, layerNormEpsilon: eps, activation: act } = config;
  const BT = B * T;
  const P = (n: string) => {
    const x = params.get(n);
    if (!x) throw new Error(`gpt2Ref: missing parameter ${n}`);
    return x;
  };
  const headW = P(config.tieWordEmbeddings ? 'wte.weight' : 'lm_head.weight');

  // ---- forward
  const encoded = dropRef(encoderForwardRef(inputs, P('wte.weight'), P('wpe.weight'), B, T, C), dropout, rates.embd, DROPOUT_SITE.embd);
  const layers: {
    residual: Float64Array; ln1: ReturnType<typeof layernormForwardRef>; qkv: Float64Array; atty: Float64Array;
    residual2: Float64Array; ln2: ReturnType<typeof layernormForwardRef>; fch: Float64Array; fchAct: Float64Array; residual3: Float64Array;
  }[] = [];
  let residual = encoded;
  for (let l = 0; l < L; l++) {
    const w = (n: string) => P(`h.${l}.${n}`);
    const ln1 = layernormForwardRef(residual, w('ln_1.weight'), w('ln_1.bias'), BT, C, eps);
    const qkv = matmulForwardRef(ln1.out, w('attn.c_attn.weight'), w('attn.c_attn.bias'), BT, C, 3 * C);
    const atty = attentionForwardRef(qkv, B, T, C, NH, attentionScale(config, l), attnDrop(l)).out;
    const attproj = dropRef(matmulForwardRef(atty, w('attn.c_proj.weight'), w('attn.c_proj.bias'), BT, C, C), dropout, rates.resid, DROPOUT_SITE.attnProj, l);
    const residual2 = add(residual, attproj);
    const ln2 = layernormForwardRef(residual2, w('ln_2.weight'), w('ln_2.bias'), BT, C, eps);
    const fch = matmulForwardRef(ln2.out, w('mlp.c_fc.weight'), w('mlp.c_fc.bias'), BT, C, H);
    const fchAct = fch.map((x) => activationRef(act, x));
    const fcproj = dropRef(matmulForwardRef(fchAct, w('mlp.c_proj.weight'), w('mlp.c_proj.bias'), BT, H, C), dropout, rates.resid, DROPOUT_SITE.mlpProj, l);
    const residual3 = add(residual2, fcproj);
    layers.push({ residual, ln1, qkv, atty, residual2, ln2, fch, fchAct, residual3 });
    residual = residual3;
  }
  const lnf = layernormForwardRef(residual, P('ln_f.weight'), P('ln_f.bias'), BT, C, eps);
  const logits = matmulTransB(lnf.out, headW, BT, V, C);
  let count = 0;
  for (let i = 0; i < BT; i++) if (targets[i] !== -1) count++;
  const dlossMean = 1 / Math.max(count, 1);
  const ce = crossEntropyRef(logits, targets, BT, V, V, dlossMean, 1);
  let lossSum = 0;
  for (let i = 0; i < BT; i++) lossSum += ce.losses[i]!;
  const result: GPT2Ref = { logits, losses: ce.losses, loss: lossSum * dlossMean, count, grads: new Map() };
  if (!backward) return result;

  // ---- backward (parameter gradients accumulate, as on the GPU)
  const grads = result.grads;
  for (const p of paramShapes(config)) grads.set(p.name, new Float64Array(p.shape.reduce((a, b) => a * b, 1)));
  const G = (n: string) => grads.get(n)!;
  const dlogits = ce.dlogits; // [BT, V]
  const dHead = G(config.tieWordEmbeddings ? 'wte.weight' : 'lm_head.weight');
  const dlnf = new Float64Array(BT * C);
  for (let r = 0; r < BT; r++) {
    for (let v = 0; v < V; v++) {
      const d = dlogits[r * V + v]!;
      if (d === 0) continue;
      for (let c = 0; c < C; c++) {
        dlnf[r * C + c] += d * headW[v * C + c]!;
        dHead[v * C + c] += d * lnf.out[r * C + c]!;
      }
    }
  }
  const dresidual = new Float64Array(BT * C);
  layernormBackwardRef(dresidual, G('ln_f.weight'), G('ln_f.bias'), dlnf, residual, P('ln_f.weight'), lnf.mean, lnf.rstd, BT, C);
  const accumulate = (dst: Float64Array, src: ArrayLike<number>) => { for (let i = 0; i < src.length; i++) dst[i] += src[i]!; };
  for (let l = L - 1; l >= 0; l--) {
    const x = layers[l]!;
    const w = (n: string) => P(`h.${l}.${n}`);
    const d = (n: string) => G(`h.${l}.${n}`);
    // residual3 = residual2 + fcproj
    const fcp = matmulBackwardRef(dropRef(dresidual, dropout, rates.resid, DROPOUT_SITE.mlpProj, l), x.fchAct, w('mlp.c_proj.weight'), BT, H, C);
    accumulate(d('mlp.c_proj.weight'), fcp.dweight);
    accumulate(d('mlp.c_proj.bias'), fcp.dbias);
    const dfch = fcp.dinp.map((g, i) => g * activationGradRef(act, x.fch[i]!));
    const fc = matmulBackwardRef(dfch, x.ln2.out, w('mlp.c_fc.weight'), BT, C, H);
    accumulate(d('mlp.c_fc.weight'), fc.dweight);
    accumulate(d('mlp.c_fc.bias'), fc.dbias);
    layernormBackwardRef(dresidual, d('ln_2.weight'), d('ln_2.bias'), fc.dinp, x.residual2, w('ln_2.weight'), x.ln2.mean, x.ln2.rstd, BT, C);
    // residual2 = residual + attproj
    const ap = matmulBackwardRef(dropRef(dresidual, dropout, rates.resid, DROPOUT_SITE.attnProj, l), x.atty, w('attn.c_proj.weight'), BT, C, C);
    accumulate(d('attn.c_proj.weight'), ap.dweight);
    accumulate(d('attn.c_proj.bias'), ap.dbias);
    const dqkv = attentionBackwardRef(ap.dinp, x.qkv, B, T, C, NH, attentionScale(config, l), attnDrop(l));
    const ca = matmulBackwardRef(dqkv, x.ln1.out, w('attn.c_attn.weight'), BT, C, 3 * C);
    accumulate(d('attn.c_attn.weight'), ca.dweight);
    accumulate(d('attn.c_attn.bias'), ca.dbias);
    layernormBackwardRef(dresidual, d('ln_1.weight'), d('ln_1.bias'), ca.dinp, x.residual, w('ln_1.weight'), x.ln1.mean, x.ln1.rstd, BT, C);
  }
  encoderBackwardRef(G('wte.weight'), G('wpe.weight'), dropRef(dresidual, dropout, rates.embd, DROPOUT_SITE.embd), inputs, B, T, C);
  return result;
}
