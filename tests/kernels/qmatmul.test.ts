// qgemm (src/kernels/qmatmul.ts) against a float64 CPU reference computed from the dequantized
// weight (util/ggml.ts dequantizeMatrix): forward (bias, gelu with preact, the low-rank term,
// accumulate) and transW (dx: plain, dactivation, low-rank, accumulate), q8_0 and q4_0, a / out
// in f32 and f16, M = 1, 3, 17, 69, K and N off tile multiples, every variant family forced
// (gemv, gemv with split-K, tile), and on a device without shader-f16 or subgroups (the
// SwiftShader-like f32-only path).
import { afterAll, describe, expect, it } from 'vitest';
import { createGPU, type GPUContext } from '../../src/index';
import { type QgemmOptions, type QgemmVariant, type QuantizedWeight, defaultQgemmVariant, destroyQuantizedWeight, downloadQuants, qgemm, qgemmVariant, qgemmVariantName, quantTextureSize, quantizedWeightBytes, setQgemmVariant, uploadQuantized } from '../../src/kernels/qmatmul';
import { quantizedWeightBufferBytes } from '../../src/model/quantized';
import { setTuneStore } from '../../src/kernels/tune/store';
import { tuneQgemm } from '../../src/kernels/tune/qmatmul';
import { memoryTuneStore } from '../helpers/tune';
import { type QuantType, dequantizeMatrix, quantizeMatrix, quantizedBytes } from '../../src/util/ggml';
import { roundToF16 } from '../../src/util/f16';
import { compare, getGPU, randn } from '../helpers/gpu';
import { activationGradRef, activationRef } from '../reference/gelu';

type F = 'f16' | 'f32';

setTuneStore(undefined); // the defaults and forced variants only, independent of ~/.cache

interface Case {
  M: number;
  K: number;
  N: number;
  type: QuantType;
  transW?: boolean;
  accumulate?: boolean;
  bias?: boolean;
  gelu?: boolean;
  dgelu?: boolean;
  lowRank?: boolean;
  /** extra elements per row of a and out (leading dimensions past the packed ones: scalar loads) */
  pad?: number;
  a: F;
  out: F;
}

function values(n: number, seed: number, type: F, scale = 1): Float32Array {
  const x = randn(n, seed, scale);
  return type === 'f16' ? roundToF16(x) : x;
}

/** out (+)= a · deq(W) (or · deq(W)ᵀ) + u·eᵀ (+ bias), then act or ⊙ act'(preact), in float64. */
function reference(c: Case, out0: Float32Array, a: Float32Array, w: Float32Array, lda: number, ldc: number, extra: {
  bias?: Float32Array; pre?: Float32Array; u?: Float32Array; e?: Float32Array; r: number;
}): { out: Float64Array; preact: Float64Array } {
  const R = c.transW ? c.N : c.K, cols = c.transW ? c.K : c.N;
  const out = Float64Array.from(out0), preact = new Float64Array(out.length);
  for (let m = 0; m < c.M; m++) {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let k = 0; k < R; k++) s += a[m * lda + k]! * (c.transW ? w[j * c.N + k]! : w[k * c.N + j]!);
      if (extra.u) for (let t = 0; t < extra.r; t++) s += extra.u[m * extra.r + t]! * extra.e![j * extra.r + t]!;
      const i = m * ldc + j;
      if (c.accumulate) s += out[i]!;
      if (extra.bias) s += extra.bias[j]!;
      if (c.gelu) {
        preact[i] = s;
        s = activationRef('gelu_new', s);
      }
      if (c.dgelu) s *= activationGradRef('gelu_new', extra.pre![i]!);
      out[i] = s;
    }
  }
  return { out, preact };
}

const weights = new WeakMap<GPUContext, Map<string, { w: QuantizedWeight; deq: Float32Array }>>();
function weight(gpu: GPUContext, K: number, N: number, type: QuantType): { w: QuantizedWeight; deq: Float32Array } {
  const key = `${K}x${N}:${type}`;
  if (!weights.has(gpu)) weights.set(gpu, new Map());
  let got = weights.get(gpu)!.get(key);
  if (!got) {
    const q = quantizeMatrix(randn(K * N, K * 7 + N, 0.5), K, N, type);
    got = { w: uploadQuantized(gpu, q, `w${K}x${N}`), deq: dequantizeMatrix(q) };
    weights.get(gpu)!.set(key, got);
  }
  return got;
}

async function runCase(gpu: GPUContext, c: Case, seed: number): Promise<string> {
  const { M } = c;
  const R = c.transW ? c.N : c.K, cols = c.transW ? c.K : c.N;
  const lda = R + (c.pad ?? 0), ldc = cols + (c.pad ?? 0);
  const { w, deq } = weight(gpu, c.K, c.N, c.type);
  const a = values(M * lda, seed, c.a);
  const out0 = values(M * ldc, seed + 1, c.out);
  const r = 3;
  const bias = c.bias ? values(cols, seed + 2, c.out) : undefined;
  const pre = c.dgelu ? values(M * ldc, seed + 3, c.out, 3) : undefined;
  const u = c.lowRank ? values(M * r, seed + 4, c.out) : undefined;
  const e = c.lowRank ? values(cols * r, seed + 5, c.out) : undefined;
  const ta = gpu.tensor([a.length], c.a, 'a', a);
  const tout = gpu.tensor([out0.length], c.out, 'out', out0);
  const tpre = c.gelu ? gpu.tensor([out0.length], c.out, 'preact') : pre ? gpu.tensor([pre.length], c.out, 'preact', pre) : undefined;
  const opts: QgemmOptions = {
    M, transW: c.transW, accumulate: c.accumulate, lda, ldc,
    bias: bias ? gpu.tensor([cols], c.out, 'bias', bias) : null,
    activation: c.gelu ? 'gelu_new' : undefined,
    dactivation: c.dgelu ? 'gelu_new' : undefined,
    preact: tpre,
    lowRank: u ? { u: gpu.tensor([u.length], c.out, 'u', u), e: gpu.tensor([e!.length], c.out, 'e', e!), r, sn: r, sj: 1 } : null,
  };
  const step = gpu.step('qgemm test');
  qgemm(step, tout, ta, w, opts);
  step.submit();
  const ref = reference(c, out0, a, deq, lda, ldc, { bias, pre, u, e, r });
  // f32 out: accumulation-order error of R O(1) products; f16 out: the output's rounding
  const [atol, rtol] = c.out === 'f16' ? [1e-2, 1e-2] : [1e-5 * Math.sqrt(R + 1) * 4, 1e-5];
  const bad: string[] = [];
  const got = await gpu.download(tout);
  const skipPad = (arr: ArrayLike<number>) => Array.from({ length: M * cols }, (_, i) => arr[Math.floor(i / cols) * ldc + (i % cols)]!);
  const msg = compare(skipPad(got), skipPad(ref.out), atol, rtol);
  if (msg) bad.push(`out: ${msg}`);
  if (c.gelu) {
    const p = compare(skipPad(await gpu.download(tpre!)), skipPad(ref.preact), atol, rtol);
    if (p) bad.push(`preact: ${p}`);
  }
  // padding columns of out are untouched
  for (let m = 0; m < M && c.pad; m++) if (got[m * ldc + cols] !== out0[m * ldc + cols]) bad.push(`row ${m}: the padding was written`);
  const name = `${c.type} ${c.transW ? 'transW' : 'forward'} M=${M} K=${c.K} N=${c.N} a=${c.a} out=${c.out}${c.bias ? ' bias' : ''}${c.gelu ? ' gelu' : ''}${c.dgelu ? ' dgelu' : ''}${c.lowRank ? ' lowRank' : ''}${c.accumulate ? ' acc' : ''}${c.pad ? ' pad' : ''}`;
  return bad.length ? `${name}: ${bad.join('; ')}` : '';
}

const MS = [1, 3, 17, 69];
const SHAPES: [number, number][] = [[96, 40], [160, 72], [64, 101]]; // N = 101: odd (the sg kernel's unpaired scales)

/**
 * The cases of one direction for one variant and dtype pair, two pipelines (each costs seconds of
 * compile on lavapipe): every epilogue at once (forward: bias, low-rank, gelu with preact; transW:
 * low-rank, dgelu) on each M and shape, and accumulate into a padded out with scalar loads.
 */
function cases(type: QuantType, transW: boolean, a: F, out: F): Case[] {
  const at = (i: number) => ({ M: MS[i % MS.length]!, K: SHAPES[i % SHAPES.length]![0], N: SHAPES[i % SHAPES.length]![1], type, transW, a, out });
  const all = transW ? { lowRank: true, dgelu: true } : { bias: true, lowRank: true, gelu: true };
  return [...MS.map((_, i) => ({ ...at(i), ...all })), { ...at(2), accumulate: true, pad: 3 }, { ...at(3), accumulate: true, pad: 3 }];
}

const gpu = await getGPU('f32');
const DTYPES: [F, F][] = gpu.hasF16 ? [['f32', 'f32'], ['f16', 'f16'], ['f16', 'f32']] : [['f32', 'f32']];
if (!gpu.hasF16) console.warn('qgemm: this adapter has no shader-f16: the f16 cases are skipped');

/** The variant families with the dtype pairs each runs: the adapter's defaults for gemv and tile, gemv with split-K (the GPU default's shape), and an odd tiling (tm 3, transW tn 32). */
function variants(g: GPUContext, transW: boolean): [QgemmVariant, [F, F][]][] {
  const all = DTYPES, f32: [F, F][] = [['f32', 'f32']];
  // the tile default in f32 and f16 (its 16 × 8 forward tile costs lavapipe's compiler the most); the mixed f16 -> f32 pair on the gemv default
  const same = DTYPES.filter(([x, y]) => x === y);
  return [
    [defaultQgemmVariant(g, { kind: 'gemv', transW }), all],
    [defaultQgemmVariant(g, { kind: 'tile', transW }), same],
    [{ kind: 'gemv', tm: 2, tn: 8, wx: 8, wy: 1, split: 4 }, f32],
    [{ kind: 'tile', tm: 3, tn: transW ? 32 : 8, wx: 4, wy: 2, split: 1 }, f32],
    // the subgroup variant (forward only) in an odd tiling: 3 rows, 8 columns, two rows of lanes
    ...(!transW && g.hasSubgroups ? [[{ kind: 'sg', tm: 3, tn: 8, wx: 16, wy: 2, split: 1 }, f32] as [QgemmVariant, [F, F][]]] : []),
  ];
}

describe('qgemm: the variant by M', () => {
  it('the gemv class up to 4 rows, tile above, in both directions; forward on lavapipe by subgroups', () => {
    for (const transW of [false, true]) {
      expect(qgemmVariant(gpu, 1, transW)).toEqual(defaultQgemmVariant(gpu, { kind: 'gemv', transW }));
      expect(qgemmVariant(gpu, 4, transW)).toEqual(defaultQgemmVariant(gpu, { kind: 'gemv', transW }));
      expect(qgemmVariant(gpu, 5, transW)).toEqual(defaultQgemmVariant(gpu, { kind: 'tile', transW }));
    }
    expect(qgemmVariant(gpu, 1, true).kind).toBe('gemv');
    expect(qgemmVariant(gpu, 5, true).kind).toBe('tile');
    // lavapipe has subgroups of 8 or 16 lanes: the forward defaults share a's blocks through them
    expect([qgemmVariant(gpu, 1, false), qgemmVariant(gpu, 5, false)].map((v) => `${v.kind}${v.tm}`)).toEqual(gpu.hasSubgroups ? ['sg1', 'sg16'] : ['gemv1', 'tile4']);
  });

  it('uploads GGML block bytes (scales two per u32, quants a texel per q4_0 block, two per q8_0 block) in textures of whole rows', () => {
    const q = quantizeMatrix(randn(96 * 40, 3), 96, 40, 'q4_0');
    const w = uploadQuantized(gpu, q, 'w');
    // 120 blocks: 60 u32 of scales, 120 texels in a 128-texel row (2 bytes of scale and 16 of quants a block, and the row's padding)
    expect(quantizedBytes(96, 40, 'q4_0')).toBe(120 * 18);
    expect(quantizedWeightBytes(w)).toBe(60 * 4 + 128 * 16);
    expect(quantizedWeightBytes(w)).toBe(quantizedWeightBufferBytes(96, 40, 'q4_0'));
    expect(w.scales.numel).toBe(60);
    expect(quantTextureSize('q8_0', 96, 40)).toEqual({ width: 256, height: 1, texels: 240 });
    // BioMedLM's c_fc: 819200 blocks, rows of 8192 texels
    expect(quantTextureSize('q4_0', 2560, 10240)).toEqual({ width: 8192, height: 100, texels: 819200 });
    expect(quantTextureSize('q8_0', 2560, 10240)).toEqual({ width: 8192, height: 200, texels: 1638400 });
    expect(quantizedWeightBufferBytes(2560, 10240, 'q4_0')).toBe(quantizedBytes(2560, 10240, 'q4_0'));
    destroyQuantizedWeight(w);
  });

  it.each(['q8_0', 'q4_0'] as QuantType[])('%s: uploads the blocks in block-row order, in chunks of texture rows as in one piece', async (type) => {
    // 8 block rows of N = 1101 (odd): 8808 blocks, two (q4_0) or three (q8_0) texture rows of 8192 texels, the last one part padding
    const K = 256, N = 1101, nb = K / 32, W = type === 'q8_0' ? 8 : 4;
    const q = quantizeMatrix(randn(K * N, 5), K, N, type);
    const scales = new Uint16Array(2 * Math.ceil((N * nb) / 2)), quants = new Uint32Array(N * nb * W);
    for (let n = 0; n < N; n++) {
      for (let b = 0; b < nb; b++) {
        scales[b * N + n] = q.scales[n * nb + b]!;
        for (let w = 0; w < W; w++) quants[(b * N + n) * W + w] = q.quants[(n * nb + b) * W + w]!;
      }
    }
    const texels = quants.length / 4;
    for (const chunkWords of [1, 8192 * 4 * 2, 1 << 20]) {
      const w = uploadQuantized(gpu, q, `w${chunkWords}`, chunkWords);
      expect(w.quants.height).toBe(Math.ceil(texels / 8192));
      const got = await downloadQuants(gpu, w);
      expect(got.length).toBe(quants.length);
      let bad = 0;
      for (let i = 0; i < quants.length; i++) if (got[i] !== quants[i]) bad++;
      expect(bad).toBe(0);
      expect(Array.from(await gpu.download(w.scales))).toEqual(Array.from(new Uint32Array(scales.buffer)));
      destroyQuantizedWeight(w);
    }
  });
});

for (const transW of [false, true]) {
  describe.each(DTYPES)(`qgemm ${transW ? 'transW (dx)' : 'forward'}: a %s, out %s`, (a, out) => {
    afterAll(() => setQgemmVariant(gpu, null));
    for (const [v, dtypes] of variants(gpu, transW)) {
      if (!dtypes.some(([x, y]) => x === a && y === out)) continue;
      it.each(['q8_0', 'q4_0'] as QuantType[])(`${qgemmVariantName(v)} %s`, async (type) => {
        setQgemmVariant(gpu, v, transW);
        const bad: string[] = [];
        for (const [i, c] of cases(type, transW, a, out).entries()) {
          const msg = await runCase(gpu, c, 100 + i);
          if (msg) bad.push(msg);
        }
        expect(bad.join('\n')).toBe('');
      });
    }
  });
}

// A device without shader-f16 and subgroups (SwiftShader in browsers): the f32 kernels must compile without them.
const bare = await (async () => {
  const adapter = (await gpu.gpu!.requestAdapter())!;
  const requiredLimits = { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize };
  const device = await adapter.requestDevice({ requiredFeatures: [], requiredLimits });
  return createGPU({ device, adapter });
})();

describe('qgemm on a device without shader-f16 or subgroups', () => {
  afterAll(() => setQgemmVariant(bare, null));
  it('has neither feature', () => {
    expect(bare.hasF16).toBe(false);
    expect(bare.hasSubgroups).toBe(false);
  });
  for (const transW of [false, true]) {
    for (const [v] of variants(bare, transW).slice(0, 3)) {
      it.each(['q8_0', 'q4_0'] as QuantType[])(`${transW ? 'transW' : 'forward'} ${qgemmVariantName(v)} %s`, async (type) => {
        setQgemmVariant(bare, v, transW);
        const bad: string[] = [];
        for (const [i, c] of cases(type, transW, 'f32', 'f32').entries()) {
          const msg = await runCase(bare, c, 200 + i);
          if (msg) bad.push(msg);
        }
        expect(bad.join('\n')).toBe('');
      });
    }
  }
});


describe('tuneQgemm', () => {
  it('records one correct tiling per class (gemv / tile, forward / transW) and qgemm then uses it', async () => {
    const store = memoryTuneStore();
    try {
      const lines: string[] = [];
      // per class: the default and one other tiling (every pipeline costs seconds of compile here)
      const other = (c: { kind: 'gemv' | 'tile'; transW: boolean }): QgemmVariant =>
        c.kind === 'gemv' ? { kind: 'gemv', tm: 1, tn: 8, wx: 8, wy: 1, split: 2 } : { kind: 'tile', tm: 2, tn: 8, wx: 8, wy: 2, split: 1 };
      const got = await tuneQgemm(gpu, { K: 64, N: 96, tileRows: 9, candidates: (c) => [defaultQgemmVariant(gpu, c), other(c)], persist: true, log: (l) => lines.push(l) });
      expect(Object.keys(got).sort()).toEqual(['gemv.N', 'gemv.T', 'tile.N', 'tile.T']);
      expect(store.saves()).toBe(4);
      for (const [name, rec] of Object.entries(got)) {
        expect(rec.rejected, name).toEqual({});
        expect(Object.keys(rec.timings ?? {}).length, name).toBe(2);
      }
      expect(qgemmVariant(gpu, 1, false)).toEqual(got['gemv.N']!.variant);
      expect(qgemmVariant(gpu, 30, true)).toEqual(got['tile.T']!.variant);
    } finally {
      setTuneStore(undefined);
    }
  });
});
