// WGSL for qgemm (qmatmul.ts): a GEMM whose weight is GGML Q8_0 / Q4_0 blocks (util/ggml.ts),
// dequantized as it is loaded, f32 accumulation, matmul's epilogue (bias, activation forward or
// backward, low-rank term, accumulate: matmul-wgsl.ts's store4 / tileEpilogue).
//
//   forward (transW false): out[M,N] = a[M,K] · W[K,N]    reduction over K, 32 per weight block
//   transW:                 out[M,K] = a[M,N] · Wᵀ        reduction over N, output columns along K
// W column n (of N), block b (of nb = K/32): block index s = b·N + n (the blocks of one block row
// of W side by side, so lanes of adjacent columns read adjacent blocks; uploadQuantized reorders
// GGML's column-major blocks into it), its scale f16 in u32 pairs
// (scales[s >> 1], half s & 1: unpack2x16float, no shader-f16 needed); quants as u32 words, four
// to a texel of an rgba32uint texture (texel t at (t mod 2^qshift, t >> qshift): qtexel, qword):
//   q8_0: 8 per block from word 8s (texels 2s, 2s+1); word c holds q_{4c..4c+3} as int8 bytes
//   q4_0: 4 per block from word 4s (texel s); word c holds q_{4c..4c+3} in its low nibbles and
//         q_{16+4c..} in its high nibbles (GGML's byte j = q_j | q_{j+16} << 4)
// so a 4-value chunk (k = 4c..4c+3) of a column dequantizes to one vec4<f32> from one word.
//
// Kernel: each lane owns tm rows × tn output columns (register tile, no workgroup memory unless
// split > 1). Forward: per block and column 1 scale, then per word 1 u32 per column and 1 (q8_0)
// or 2 (q4_0) vec4 loads of a per row; each dequantized chunk is shared by the tm rows, partial
// sums run along k as vec4 and are added up once at the end. transW: a lane owns tn consecutive
// k (8, 16 or 32, inside one block) and walks n four at a time: a vec4 of a per row, then per n
// the column's scale and tn/4 words, each dequantized chunk FMA'd into tm vec4 accumulators.
// split > 1 (the GEMV shapes): the workgroup's `split` rows of lanes share the same outputs and
// take every split-th block (forward) or group of 4 n (transW); their tiles meet in workgroup
// memory and lane row 0 adds them in a fixed order (deterministic) and stores.
// On lavapipe each 32-bit component a lane loads from a storage buffer costs ~10 instructions (a
// per-lane loop with a bounds check per word); a texel fetch is one gather for all lanes, so the
// quants live in a texture, and are read as whole words (4 or 8 values each), never bytes.

import { ACT_WGSL, type EpilogueSpec, type FloatType, epilogueFn, loader, lowRankWgsl, readable, tileEpilogue, writable } from './matmul-wgsl';
import type { QuantType } from '../util/ggml';

/** A qgemm tiling: tm rows × tn output columns per lane, wx × wy lanes, split lanes per output (tm·tn·wx·wy·split lanes-worth). */
export interface QgemmVariant {
  /**
   * 'gemv' for M of one or a few rows (tm small, split-K in the workgroup), 'tile' for more rows,
   * 'sg' (forward only, subgroups of 8+ lanes) either, by tm: a's blocks shared through subgroup
   * broadcasts, the weight read as whole blocks.
   */
  kind: 'gemv' | 'tile' | 'sg';
  tm: number;
  /** Forward: columns per lane (multiple of 4). transW: consecutive k per lane (8, 16 or 32). */
  tn: number;
  wx: number;
  wy: number;
  /** Lanes (along the workgroup's y, after wy) that split the reduction of the same outputs: 1 = none. */
  split: number;
}

export interface QgemmSpec extends EpilogueSpec {
  variant: QgemmVariant;
  type: QuantType;
  transW: boolean;
  a: FloatType;
  /** a's rows as vec4 / vec2<u32> words (lda and offset multiples of 4). */
  vecA: boolean;
  /** sg: N even, so adjacent columns' scales pair up in one u32 (from an even column). */
  pairScales?: boolean;
  /** sg: rows of a one load fetches, 1 or 2 (subgroups of 16+ lanes; tm a multiple of it). */
  rowsPerLoad?: number;
  out: FloatType;
}

export function qgemmVariantName(v: QgemmVariant): string {
  return `${v.kind}${v.tm}x${v.tn}_${v.wx}x${v.wy}${v.split > 1 ? `_s${v.split}` : ''}`;
}

export function qgemmSpecName(s: QgemmSpec): string {
  const act = s.act ? `_${s.act.backward ? 'd' : ''}${s.act.fn}${s.act.preact}` : '';
  const lowRank = s.lowRank ? `_lr${s.lowRank.u}${s.lowRank.e}` : '';
  return `qgemm_${s.type}_${s.transW ? 'T' : 'N'}_${qgemmVariantName(s.variant)}_${s.vecA ? 'v' : 's'}${s.vecOut ? 'v' : 's'}${s.pairScales ? 'p' : ''}${(s.rowsPerLoad ?? 1) > 1 ? `r${s.rowsPerLoad}` : ''}_${s.a}_${s.out}` +
    `${s.bias ? `_bias${s.bias}` : ''}${act}${lowRank}${s.accumulate ? '_acc' : ''}`;
}

/** Workgroups for an [M, cols] output (cols = N forward, K with transW). */
export function qgemmGrid(v: QgemmVariant, M: number, cols: number): [number, number] {
  return [Math.ceil(cols / (v.wx * v.tn)), Math.ceil(M / (v.wy * v.tm))];
}

// Params: the epilogue's fields (M, N = output columns, ldc, offC, offP, offBias) and the weight's.
const PARAMS = /* wgsl */ `struct Params {
  M: u32, N: u32, R: u32,
  lda: u32, ldc: u32, offA: u32, offC: u32, offBias: u32, offP: u32,
  nb: u32, offS: u32, qshift: u32,
}`;

function header(s: QgemmSpec): string {
  const anyF16 = [s.a, s.out, s.bias, s.act?.preact, s.lowRank?.u, s.lowRank?.e].includes('f16');
  const la = loader('a', 'loadA4', s.a, s.vecA);
  const sg = s.variant.kind === 'sg';
  return [
    anyF16 ? 'enable f16;' : '',
    sg ? 'enable subgroups;' : '',
    PARAMS,
    writable('out', 0, s.out, s.vecOut),
    `@group(0) @binding(1) var<storage, read> a: ${la.decl};`,
    `@group(0) @binding(2) var<storage, read> scales: array<u32>;`,
    s.bias ? `@group(0) @binding(3) var<storage, read> bias: array<${s.bias}>;` : '',
    s.act ? (s.act.backward ? readable('preact', 4, s.act.preact, s.vecOut) : writable('preact', 4, s.act.preact, s.vecOut)) : '',
    `@group(0) @binding(5) var<uniform> params: Params;`,
    `@group(0) @binding(9) var quants: texture_2d<u32>;`,
    QUANTS_WGSL,
    la.fn,
    loadOne(s.a, s.vecA),
    sg ? SCALE_WGSL : dequantWgsl(s.type),
    s.act ? ACT_WGSL[s.act.fn] : '',
    s.lowRank ? lowRankWgsl(s.lowRank.u, s.lowRank.e) : '',
    epilogueFn(s),
  ].filter((l) => l).join('\n');
}

/** loadA1(i): element i of a, whichever way a is declared (loader's array<vec4<f32>>, array<vec2<u32>> of halves, or scalars). */
function loadOne(type: FloatType, vec: boolean): string {
  const one = !vec ? 'f32(a[i])' : type === 'f32' ? 'a[i >> 2u][i & 3u]' : 'unpack2x16float(a[i >> 2u][(i >> 1u) & 1u])[i & 1u]';
  return `fn loadA1(i: u32) -> f32 { return ${one}; }`;
}

/** qtexel(t): texel t of the quants' texture (4 words), at (t mod 2^qshift, t >> qshift); qword(i): word i of the blocks' words. */
const QUANTS_WGSL = `fn qtexel(t: u32) -> vec4<u32> { return textureLoad(quants, vec2<u32>(t & ((1u << params.qshift) - 1u), t >> params.qshift), 0); }
fn qword(i: u32) -> u32 { return qtexel(i >> 2u)[i & 3u]; }`;

/** scale(s): block s's f32(f16(d)), from the scales' u32 pairs (every variant). */
const SCALE_WGSL = `fn scale(s: u32) -> f32 { return unpack2x16float(scales[params.offS + (s >> 1u)])[s & 1u]; }`;

/**
 * scale(s): block s's f32(f16(d)). chunk(word, hi): 4 integers of a chunk from its u32 word as
 * vec4<f32> (q8_0: the int8 bytes; q4_0: the low or high nibbles less 8), so value = chunk · d.
 */
function dequantWgsl(type: QuantType): string {
  if (type === 'q8_0') {
    return `${SCALE_WGSL}
fn chunk(w: u32) -> vec4<f32> { return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u)); }`;
  }
  return `${SCALE_WGSL}
fn chunk(w: u32, sh: u32) -> vec4<f32> { return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>((w >> sh) & 0x0f0f0f0fu) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u)) - vec4<f32>(8.0); }`;
}

/** Words per block: q8_0 8 (4 int8 each), q4_0 4 (8 nibbles each). */
const WORDS: Record<QuantType, number> = { q8_0: 8, q4_0: 4 };

// The k loops below keep few load sites in their bodies (an inner loop over a block's words, not
// unrolled): on lavapipe each load site is a per-lane loop with bounds checks, and LLVM's compile
// time grows fast with their number (a fully unrolled 4×4 block took over a minute to compile).

function forwardBody(s: QgemmSpec): string[] {
  const { tm: TM, tn: TN, split: S } = s.variant;
  const W = WORDS[s.type];
  const L: string[] = [];
  for (let i = 0; i < TM; i++) L.push(`  let rowA${i} = params.offA + min(m0 + ${i}u, params.M - 1u) * params.lda;`);
  for (let j = 0; j < TN; j++) L.push(`  let col${j} = min(c0 + ${j}u, params.N - 1u);`);
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN; j++) L.push(`  var p${i}_${j} = vec4<f32>();`);
  L.push(`  for (var b = ${S > 1 ? 'lsplit' : '0u'}; b < params.nb; b += ${S}u) {`);
  for (let j = 0; j < TN; j++) L.push(`    let blk${j} = b * params.N + col${j};`);
  for (let j = 0; j < TN; j++) L.push(`    let d${j} = scale(blk${j});`);
  L.push(`    for (var c = 0u; c < ${W}u; c++) {`);
  L.push(`      let k = b * 32u + 4u * c;`);
  for (let j = 0; j < TN; j++) L.push(`      let q${j} = qword(blk${j} * ${W}u + c);`);
  // q8_0: word c is chunk c; q4_0: word c is chunks c (low nibbles) and c + 4 (high nibbles, k + 16)
  const halves = s.type === 'q8_0' ? [['chunk(q$)', '0u']] : [['chunk(q$, 0u)', '0u'], ['chunk(q$, 4u)', '16u']];
  for (const [expr, dk] of halves) {
    L.push(`      {`);
    for (let j = 0; j < TN; j++) L.push(`        let w${j} = ${expr!.replace('$', String(j))} * d${j};`);
    for (let i = 0; i < TM; i++) {
      L.push(`        { let av = loadA4(rowA${i} + k + ${dk});`);
      for (let j = 0; j < TN; j++) L.push(`          p${i}_${j} = fma(av, w${j}, p${i}_${j});`);
      L.push(`        }`);
    }
    L.push(`      }`);
  }
  L.push(`    }`);
  L.push(`  }`);
  // vec4 partials along k -> acc{i}_{j4}: vec4 over 4 adjacent columns (tileEpilogue's layout)
  for (let i = 0; i < TM; i++) {
    for (let j4 = 0; j4 < TN / 4; j4++) {
      const cols = [0, 1, 2, 3].map((c) => `dot(p${i}_${4 * j4 + c}, vec4<f32>(1.0))`);
      L.push(`  var acc${i}_${j4} = vec4<f32>(${cols.join(', ')});`);
    }
  }
  return L;
}

// 'sg' (forward): lanes of a subgroup share tm rows and own tn adjacent columns each. Per block b
// of 32 inputs, lane s = sid % 8 loads a's 4 values k = 32b + 4s of a row (one load), and every
// lane takes the 8 chunks from lanes s..s+7 of that row by subgroupBroadcast: a's rows are loaded
// once per subgroup instead of once per lane. With subgroups of 16+ lanes and tm even
// (rowsPerLoad 2), lanes 8..15 load the next row at the same time; else they repeat lanes 0..7.
// Each column's block is one (q4_0) or two (q8_0) texel fetches. Dequantizing without shifts: a
// word masked per value keeps the integer in place, u·2^(8i) (q4_0: low nibble) or u·2^(8i+4)
// (high nibble), u = q + 8 (q4_0) or q + 128 (q8_0, after flipping each byte's sign bit); one fma
// per value, u·2^e·d - o·2^e·d with o·2^e·d formed once per block, gives (q·d)·2^e exactly in f32
// (u·2^e·d and the result have at most 4 or 8 bits times d's 11, so fused or not nothing rounds:
// the weight GGML dequantizes to, times a power of two). a's chunk is scaled by the inverse powers
// of two (exact) before it is broadcast, so each product is a·(q·d) as a dequantize-then-multiply
// GEMM forms it, accumulated in f32 per row and column. The dequantizing is shared by the tm rows.
// Needs subgroups of 8+ lanes; a subgroup within one row of lanes (wx a multiple of the subgroup
// size, or wy = 1).
const LO_MASK = 'vec4<u32>(0xfu, 0xf00u, 0xf0000u, 0xf000000u)';
const HI_MASK = 'vec4<u32>(0xf0u, 0xf000u, 0xf00000u, 0xf0000000u)';
const BYTE_MASK = 'vec4<u32>(0xffu, 0xff00u, 0xff0000u, 0xff000000u)';
const vec4f = (xs: number[]) => `vec4<f32>(${xs.map((x) => x.toExponential()).join(', ')})`;
/** 2^-e for each e (a's scaling), and o·2^e (the offsets the masked integers carry). */
const POW2 = (e: number[]) => vec4f(e.map((x) => 2 ** -x));
const OFFSET = (o: number, e: number[]) => vec4f(e.map((x) => o * 2 ** x));

function sgForwardBody(s: QgemmSpec): string[] {
  const { tm: TM, tn: TN } = s.variant;
  const R = s.rowsPerLoad ?? 1;
  if (TM % R !== 0) throw new Error(`qgemm: sg with ${R} rows per load needs tm a multiple of ${R}, got ${TM}`);
  const q4 = s.type === 'q4_0';
  const L: string[] = [];
  L.push(`  let s = sid & 7u;`);
  // lanes 8r..8r+7 load row r of each group of R rows (R = 1: lanes 8+ repeat lanes 0..7)
  L.push(R > 1 ? `  let r = (sid >> 3u) & ${R - 1}u;` : `  let r = 0u;`);
  // the factor a's chunk is scaled by: lanes 0-3 hold k < 16 (low nibbles), 4-7 k >= 16 (high)
  L.push(q4 ? `  let fac = select(${POW2([0, 8, 16, 24])}, ${POW2([4, 12, 20, 28])}, s >= 4u);` : `  let fac = ${POW2([0, 8, 16, 24])};`);
  for (let g = 0; g < TM / R; g++) L.push(`  let rowA${g} = params.offA + min(m0 + ${R * g}u + r, params.M - 1u) * params.lda + 4u * s;`);
  for (let j = 0; j < TN; j++) L.push(`  let col${j} = min(c0 + ${j}u, params.N - 1u);`);
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN; j++) L.push(`  var p${i}_${j} = 0.0;`);
  L.push(`  for (var b = 0u; b < params.nb; b++) {`);
  for (let g = 0; g < TM / R; g++) L.push(`    let ar${g} = loadA4(rowA${g} + 32u * b) * fac;`);
  for (let j = 0; j < TN; j++) {
    L.push(`    let blk${j} = b * params.N + col${j};`);
    // pairScales: blk of an even j is even, so columns j and j + 1 share one u32 of scales (one load for two)
    if (!s.pairScales) L.push(`    let d${j} = scale(blk${j});`);
    else if (j % 2 === 0) L.push(`    let dd${j} = unpack2x16float(scales[params.offS + (blk${j} >> 1u)]); let d${j} = dd${j}.x; let d${j + 1} = dd${j}.y;`);
    // the offsets times the scale, once per block: each value dequantizes in one fma (exact, see above)
    if (q4) L.push(`    let q${j} = qtexel(blk${j}); let ol${j} = ${OFFSET(-8, [0, 8, 16, 24])} * d${j}; let oh${j} = ${OFFSET(-8, [4, 12, 20, 28])} * d${j};`);
    else L.push(`    let q${j}a = qtexel(2u * blk${j}) ^ vec4<u32>(0x80808080u); let q${j}b = qtexel(2u * blk${j} + 1u) ^ vec4<u32>(0x80808080u); let ol${j} = ${OFFSET(-128, [0, 8, 16, 24])} * d${j};`);
  }
  // q4_0: word c holds chunks c (low nibbles, lane c) and c + 4 (high nibbles, lane c + 4); q8_0: word c is chunk c
  const words = q4 ? 4 : 8;
  for (let c = 0; c < words; c++) {
    L.push(`    {`);
    for (let j = 0; j < TN; j++) {
      const w = q4 ? `q${j}[${c}]` : `q${j}${c < 4 ? 'a' : 'b'}[${c % 4}]`;
      L.push(`      let lo${j} = fma(vec4<f32>(vec4<u32>(${w}) & ${q4 ? LO_MASK : BYTE_MASK}), vec4<f32>(d${j}), ol${j});`);
      if (q4) L.push(`      let hi${j} = fma(vec4<f32>(vec4<u32>(${w}) & ${HI_MASK}), vec4<f32>(d${j}), oh${j});`);
    }
    for (let i = 0; i < TM; i++) {
      const g = Math.floor(i / R), lane = 8 * (i % R);
      L.push(`      { let al = subgroupBroadcast(ar${g}, ${c + lane}u);${q4 ? ` let ah = subgroupBroadcast(ar${g}, ${c + 4 + lane}u);` : ''}`);
      for (let j = 0; j < TN; j++) L.push(q4 ? `        p${i}_${j} += dot(al, lo${j}) + dot(ah, hi${j});` : `        p${i}_${j} += dot(al, lo${j});`);
      L.push(`      }`);
    }
    L.push(`    }`);
  }
  L.push(`  }`);
  for (let i = 0; i < TM; i++) {
    for (let j4 = 0; j4 < TN / 4; j4++) L.push(`  var acc${i}_${j4} = vec4<f32>(${[0, 1, 2, 3].map((c) => `p${i}_${4 * j4 + c}`).join(', ')});`);
  }
  return L;
}

function transposedBody(s: QgemmSpec): string[] {
  const { tm: TM, tn: TN, split: S } = s.variant;
  const C = TN / 4; // chunks per lane
  const W = WORDS[s.type];
  const L: string[] = [];
  for (let i = 0; i < TM; i++) L.push(`  let rowA${i} = params.offA + min(m0 + ${i}u, params.M - 1u) * params.lda;`);
  // this lane's k range [kc, kc + TN) lies in block kb, from chunk ch0 (clamped for lanes past the end)
  L.push(`  let kc = min(c0, params.N - ${TN}u);`);
  L.push(`  let kb = kc / 32u;`);
  L.push(`  let ch0 = (kc % 32u) / 4u;`);
  for (let i = 0; i < TM; i++) for (let c = 0; c < C; c++) L.push(`  var acc${i}_${c} = vec4<f32>();`);
  L.push(`  let R = params.R;`);
  L.push(`  for (var n = ${S > 1 ? '4u * lsplit' : '0u'}; n < R; n += ${4 * S}u) {`);
  L.push(`    for (var t = 0u; t < 4u; t++) {`);
  L.push(`      let nt = min(n + t, R - 1u);`);
  for (let i = 0; i < TM; i++) L.push(`      let av${i} = select(0.0, loadA1(rowA${i} + nt), n + t < R);`);
  L.push(`      let s = (kb * R + nt) * ${W}u;`);
  L.push(`      let d = scale(s / ${W}u);`);
  for (let c = 0; c < C; c++) {
    // chunk ch = ch0 + c: q8_0 word ch; q4_0 word ch % 4, high nibbles for ch >= 4
    const ch = `ch0 + ${c}u`;
    const expr = s.type === 'q8_0' ? `chunk(qword(s + ${ch}))` : `chunk(qword(s + ((${ch}) & 3u)), ((${ch}) >> 2u) * 4u)`;
    L.push(`      { let w = ${expr} * d;`);
    for (let i = 0; i < TM; i++) L.push(`        acc${i}_${c} = fma(vec4<f32>(av${i}), w, acc${i}_${c});`);
    L.push(`      }`);
  }
  L.push(`    }`);
  L.push(`  }`);
  return L;
}

/** split > 1: every lane row leaves its tile in workgroup memory; lane row 0 adds them in order. */
function splitReduce(v: QgemmVariant, tiles: number): string[] {
  const { wx: WX, wy: WY, split: S } = v;
  const lanes = WX * WY;
  const L: string[] = [`  let lane = lid.y * ${WX}u + lid.x;`];
  for (let t = 0; t < tiles; t++) L.push(`  part[(lsplit * ${lanes}u + lane) * ${tiles}u + ${t}u] = ACC${t};`);
  L.push(`  workgroupBarrier();`);
  L.push(`  if (lsplit != 0u) { return; }`);
  L.push(`  for (var q = 1u; q < ${S}u; q++) {`);
  for (let t = 0; t < tiles; t++) L.push(`    ACC${t} += part[(q * ${lanes}u + lane) * ${tiles}u + ${t}u];`);
  L.push(`  }`);
  return L;
}

export function qgemmWgsl(s: QgemmSpec): string {
  const v = s.variant;
  const { tm: TM, tn: TN, wx: WX, wy: WY, split: S } = v;
  const J4 = TN / 4;
  const L: string[] = [header(s)];
  if (S > 1) L.push(`var<workgroup> part: array<vec4<f32>, ${S * WX * WY * TM * J4}>;`);
  L.push(`
@compute @workgroup_size(${WX}, ${WY * S})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid3: vec3u${v.kind === 'sg' ? ', @builtin(subgroup_invocation_id) sid: u32' : ''}) {
  let lid = vec2<u32>(lid3.x, lid3.y % ${WY}u);
  let lsplit = lid3.y / ${WY}u;
  let m0 = (wid.y * ${WY}u + lid.y) * ${TM}u; // this lane's first row
  let c0 = (wid.x * ${WX}u + lid.x) * ${TN}u; // this lane's first output column`);
  if (v.kind === 'sg' && s.transW) throw new Error('qgemm: the sg variant is forward only');
  L.push(...(s.transW ? transposedBody(s) : v.kind === 'sg' ? sgForwardBody(s) : forwardBody(s)));
  if (S > 1) {
    const names: string[] = [];
    for (let i = 0; i < TM; i++) for (let j = 0; j < J4; j++) names.push(`acc${i}_${j}`);
    L.push(...splitReduce(v, names.length).map((l) => l.replace(/ACC(\d+)/g, (_m, t: string) => names[Number(t)]!)));
  }
  L.push(tileEpilogue(TM, TN, 'm0', 'c0', !!s.bias));
  L.push('}');
  return L.join('\n');
}
