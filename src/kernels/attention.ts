// Fused causal multi-head self-attention for GPT-2 (FlashAttention-2 style), forward and backward.
//
// Semantics are llm.c's / HF GPT-2's: for each batch b, head h and query position t,
//   s[t, t2] = scale · q_t · k_t2  for t2 <= t (causal),  att = softmax(s),  out_t = Σ att[t, t2] v_t2,
// heads concatenated back to C. scale is a uniform: 1/sqrt(hs) in stock GPT-2, times 1/(layer+1) with
// HF's scale_attn_by_inverse_layer_idx, 1 without scale_attn_weights (config.ts attentionScale).
// The T×T matrix is never stored: scores are recomputed tile by tile.
//
// Buffers (qkv, out, dout, dqkv share one storage dtype, f16 or f32; accumulation is always f32):
//   qkv   [B, T, 3C]   c_attn output packed [q | k | v]; head h uses columns h*hs..(h+1)*hs of each block
//   out   [B, T, C]    attention output
//   lse   [B, NH, T]   f32, log-sum-exp of each row's scaled scores: all the forward keeps for the backward
//   dout  [B, T, C]    gradient of the loss w.r.t. out
//   delta [B, NH, T]   f32 scratch, rowsum(dout ∘ out)
//   dqkv  [B, T, 3C]   gradient w.r.t. qkv, overwritten
//
// Passes:
//   forward   1 kernel: one workgroup per (query block, head, batch); an online softmax over keys,
//             keeping only the running max, sum and output of each row.
//   backward  2 kernels: (1) per query block: delta for its rows, then dQ, iterating over keys;
//             (2) per key block: dK and dV, iterating over queries (reading the delta of (1)).
//             Each output element has a single writer, so there are no atomics and the result is
//             deterministic; the price is recomputing S and dP in both kernels (backward ≈ 3.5× the
//             forward's FLOPs, not FlashAttention-2's 2.5×).
// Keys after a block's last query (queries before its first key) are skipped through the loop
// bounds; the diagonal is masked.
//
// Dropout on the attention probabilities (HF's attn_pdrop, training only), a compile-time variant
// (`drop`; the kernels without it are unchanged): out = (Z ∘ P / (1-p)) V with Z drawn from
// Philox4x32-10 (philox.ts) keyed by (key0, site) at counter (key/4, query, b*NH + h, 0), word key%4,
// so the backward draws the same Z instead of storing it. lse stays the log-sum-exp of the undropped
// scores. Backward: dV = (Z∘P/(1-p))ᵀ dout, dP = (dout Vᵀ) ∘ Z/(1-p), dS = P ∘ (dP - D), where
// D = rowsum(dout ∘ out) still equals rowsum(dP ∘ P).
//
// Two kernel families with the same passes and numerics:
//  - 'tiled': the classic GPU flash attention. BR query rows × BC keys per tile staged through
//    workgroup memory, TPR threads per row each owning hs/TPR output dims. Portable default.
//  - 'subgroup': no workgroup memory. Each lane owns `rows` whole rows (queries in the forward and
//    dQ, keys in dK/dV) with their vectors in registers; the 8 lanes of a subgroup load each streamed
//    row cooperatively (one vec4 each) and share it with subgroupBroadcast. Made for lavapipe, where
//    every load inside a loop runs a per-lane scalar loop, a broadcast is 2 instructions and barriers
//    are coroutine switches (the same cost model as matmul's 'bcast'); there it runs 15-35× faster
//    than the tiled kernels. Chosen on software adapters with subgroups of 8 or more lanes, for head
//    sizes 4, 8, ..., 28, 32, 64 and, forward only, 128 (vec4 rows, shared by up to 8 lanes); the
//    backward of heads above 64 would take lavapipe tens of seconds per pipeline to compile, and
//    gets the tiled kernels (the two families compute the same f32 math; lse carries over).
//    The layout (lanes per workgroup, rows per lane) is attentionChoice: forced, else tuned per
//    adapter and head size (tuneAttention, tune/attention.ts), else 8 lanes with one row each.
//
// Compile-time choices (interpolated into the WGSL): storage dtype, head size hs, tiling. B, T and
// NH are uniforms / grid dimensions, so one pipeline serves every shape with that hs.

import type { GPUContext, KernelSource, Step, Tensor } from '../gpu/index';
import type { DropoutDraw } from './dropout';
import { PHILOX_WGSL } from './philox';
import { dropoutScale, dropoutThreshold } from '../util/philox';
import { isSoftwareAdapter } from '../gpu/adapter';
import { kernelSourceCache } from '../gpu/sources';
import { TunedChoice } from './tune/choice';
import { type TuneRecord, tuneKey } from './tune/store';

type Storage = 'f16' | 'f32';

/** Tile shape of one kernel: BR query rows × BC key rows, TPR threads sharing each row. */
export interface AttentionTiles {
  br: number;
  bc: number;
  tpr: number;
}

export type AttentionPass = 'forward' | 'dq' | 'dkv';

/** Score masked out by causality; finite so exp2(m_old - m_new) never sees inf - inf. */
const MASKED = '-1e30';

/** Threads that share one row: each owns hs/TPR (ideally 8) of the head dimensions. */
function threadsPerRow(hs: number): number {
  let tpr = 16;
  while (tpr > 1 && (tpr * 8 > hs || hs % tpr !== 0)) tpr /= 2;
  return tpr;
}

function rowStride(hs: number, dtype: Storage): number {
  // Pad rows by one 32-bit word so threads reading the same column of different rows hit different banks.
  return hs + (dtype === 'f16' ? 2 : 1);
}

/** Bytes of workgroup memory a pass needs with these tiles. */
export function attentionSharedBytes(pass: AttentionPass, hs: number, dtype: Storage, t: AttentionTiles): number {
  const row = rowStride(hs, dtype) * (dtype === 'f16' ? 2 : 4);
  const tile = (n: number) => Math.ceil((n * row) / 4) * 4;
  switch (pass) {
    case 'forward': return tile(t.br) + 2 * tile(t.bc) + 2 * t.br * t.bc * 4;
    case 'dq': return 2 * tile(t.br) + 2 * tile(t.bc) + t.br * t.bc * 4 + t.br * t.tpr * 4;
    case 'dkv': return 2 * tile(t.bc) + 2 * tile(t.br) + 2 * t.br * t.bc * 4 + 2 * t.br * 4;
  }
}

const TILE_CANDIDATES: [number, number][] = [[32, 32], [32, 16], [16, 32], [16, 16], [16, 8], [8, 16], [8, 8], [8, 4], [4, 4]];

/** The largest tiles that fit the device's workgroup memory and invocation limits. */
export function chooseAttentionTiles(pass: AttentionPass, hs: number, dtype: Storage, limits: Record<string, number>): AttentionTiles {
  const sharedBudget = limits.maxComputeWorkgroupStorageSize ?? 16384;
  const maxThreads = Math.min(256, limits.maxComputeInvocationsPerWorkgroup ?? 256);
  // Fewer threads per row only when no tile fits otherwise (tpr must divide both tile sides).
  for (let tpr = threadsPerRow(hs); tpr >= 1; tpr /= 2) {
    for (const [br, bc] of TILE_CANDIDATES) {
      const t = { br, bc, tpr };
      const threads = (pass === 'dkv' ? bc : br) * tpr;
      if (br % tpr || bc % tpr || threads > maxThreads) continue;
      if (attentionSharedBytes(pass, hs, dtype, t) <= sharedBudget) return t;
    }
  }
  throw new RangeError(`attention ${pass}: head size ${hs} (${dtype}) does not fit ${sharedBudget} bytes of workgroup memory`);
}

// ---------------------------------------------------------------- tiled family (WGSL)

/**
 * The uniform struct (scale multiplies q·k: 1/sqrt(hs) in stock GPT-2) and, with dropout, the draw:
 * attn_keep(b, h, query, key) is 0 for a dropped probability, 1/(1-p) for a kept one.
 */
function paramsCode(drop: boolean): string {
  if (!drop) return 'struct Params { T: u32, NH: u32, scale: f32 }  // scale multiplies q·k (1/sqrt(hs) in stock GPT-2)';
  return `struct Params { T: u32, NH: u32, scale: f32, key0: u32, site: u32, threshold: u32, keepScale: f32 }
${PHILOX_WGSL}
fn attn_keep(b: u32, h: u32, tq: u32, tk: u32) -> f32 {
  let r = philox4x32_10(vec4u(tk >> 2u, tq, b * params.NH + h, 0u), vec2u(params.key0, params.site));
  return select(0.0, params.keepScale, r[tk & 3u] >= params.threshold);
}`;
}

/**
 * Subgroup forward and dQ, which stream keys j = 0, 1, ... per owned row: with dropout, draw the
 * four keys' words of a row once every four keys (one Philox call per 4 probabilities, not per 1).
 * `declare` before the key loop, `draw` at the top of its body, `weight(r)` the row's 0 or 1/(1-p).
 */
function streamedKeep(drop: boolean, v: SubgroupVariant): { declare: string; draw: string; weight: (r: number) => string } {
  if (!drop) return { declare: '', draw: '', weight: () => '' };
  return {
    declare: `${eachRow(v, (r) => `  var dr${r}: vec4u;`)}\n`,
    draw: `    if ((j & 3u) == 0u) {
${eachRow(v, (r) => `      dr${r} = philox4x32_10(vec4u(j >> 2u, t${r}, b * NH + h, 0u), vec2u(params.key0, params.site));`)}
    }\n`,
    weight: (r) => ` * select(0.0, params.keepScale, dr${r}[j & 3u] >= params.threshold)`,
  };
}

/** WGSL: \` * attn_keep(b, h, tq, tk)\` with dropout, nothing without. */
function keep(drop: boolean, tq: string, tk: string): string {
  return drop ? ` * attn_keep(b, h, ${tq}, ${tk})` : '';
}

function prelude(dtype: Storage, hs: number, t: AttentionTiles, threads: number, drop: boolean): string {
  return `${dtype === 'f16' ? 'enable f16;\n' : ''}
alias ST = ${dtype};
${paramsCode(drop)}
const HS = ${hs}u;
const BR = ${t.br}u;
const BC = ${t.bc}u;
const TPR = ${t.tpr}u;
const DPT = ${hs / t.tpr}u;    // head dims owned by each thread
const STRIDE = ${rowStride(hs, dtype)}u;
const WG = ${threads}u;
const MASKED: f32 = ${MASKED};
const LOG2E: f32 = ${Math.LOG2E};
const LN2: f32 = ${Math.LN2};
`;
}

/** Cooperative copy of `rows` rows of one head (hs columns at `col`) into a padded tile; rows past T read as 0. */
/** Opening lines of every tiled kernel: sizes from the uniforms, this workgroup's head and batch, and the head's first qkv column. */
const TILED_HEAD = `  let T = params.T;
  let SCALE = params.scale;
  let SCALE2 = params.scale * LOG2E;  // scores in log2 units, so softmax uses exp2
  let NH = params.NH;
  let C = NH * HS;
  let C3 = 3u * C;
  let h = wid.y;
  let b = wid.z;
  let base = b * T * C3 + h * HS;`;

function loadTile(tile: string, rows: string, src: string, firstRow: string, rowBase: string, pitch: string, col: string): string {
  return `for (var i = lid; i < ${rows} * HS; i += WG) {
      let rr = i / HS;
      let d = i % HS;
      let t = ${firstRow} + rr;
      var x = ST(0);
      if (t < T) { x = ${src}[${rowBase} + t * ${pitch} + ${col} + d]; }
      ${tile}[rr * STRIDE + d] = x;
    }`;
}

function forwardCode(dtype: Storage, hs: number, t: AttentionTiles, drop: boolean): string {
  return `${prelude(dtype, hs, t, t.br * t.tpr, drop)}
const KPT = ${t.bc / t.tpr}u;    // keys scored by each thread per tile

@group(0) @binding(0) var<storage, read_write> out: array<ST>;
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;
@group(0) @binding(2) var<storage, read> qkv: array<ST>;
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> qTile: array<ST, BR * STRIDE>;
var<workgroup> kTile: array<ST, BC * STRIDE>;
var<workgroup> vTile: array<ST, BC * STRIDE>;
var<workgroup> sTile: array<f32, BR * BC>;
var<workgroup> pTile: array<f32, BR * BC>;

// Workgroup (query block, head, batch); thread (row r, lane u) owns query t = q0 + r and dims u, u+TPR, ...
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
${TILED_HEAD}
  let q0 = wid.x * BR;
  let r = lid / TPR;
  let u = lid % TPR;
  let tq = q0 + r;

  ${loadTile('qTile', 'BR', 'qkv', 'q0', 'base', 'C3', '0u')}

  var m = MASKED;   // running max of the scaled scores (log2 units)
  var l = 0.0;      // running sum of exp2(s - m)
  var o: array<f32, DPT>;
  // Key tiles past the block's last query are fully masked: skip them.
  let numKeyTiles = (min(T, q0 + BR) + BC - 1u) / BC;
  for (var kt = 0u; kt < numKeyTiles; kt++) {
    let k0 = kt * BC;
    workgroupBarrier();
    ${loadTile('kTile', 'BC', 'qkv', 'k0', 'base', 'C3', 'C')}
    ${loadTile('vTile', 'BC', 'qkv', 'k0', 'base', 'C3', '2u * C')}
    workgroupBarrier();

    // Zeroed explicitly: lavapipe (via Dawn) does not re-initialise arrays declared inside a loop.
    var s: array<f32, KPT>;
    for (var j = 0u; j < KPT; j++) { s[j] = 0.0; }
    for (var d = 0u; d < HS; d++) {
      let qd = f32(qTile[r * STRIDE + d]);
      for (var j = 0u; j < KPT; j++) {
        s[j] += qd * f32(kTile[(u + j * TPR) * STRIDE + d]);
      }
    }
    for (var j = 0u; j < KPT; j++) {
      let c = u + j * TPR;
      s[j] = select(MASKED, s[j] * SCALE2, k0 + c <= tq);
      sTile[r * BC + c] = s[j];
    }
    workgroupBarrier();
    var mNew = m;
    for (var c = 0u; c < BC; c++) { mNew = max(mNew, sTile[r * BC + c]); }
    ${drop
    ? `// with dropout a dropped probability is stored negated: |p| sums into l, max(p, 0) into o
    for (var j = 0u; j < KPT; j++) {
      let p = exp2(s[j] - mNew);
      pTile[r * BC + u + j * TPR] = select(-p, p, attn_keep(b, h, tq, k0 + u + j * TPR) != 0.0);
    }`
    : 'for (var j = 0u; j < KPT; j++) { pTile[r * BC + u + j * TPR] = exp2(s[j] - mNew); }'}
    let alpha = exp2(m - mNew);
    m = mNew;
    l *= alpha;
    for (var k = 0u; k < DPT; k++) { o[k] *= alpha; }
    workgroupBarrier();
    for (var c = 0u; c < BC; c++) {
      ${drop
    ? `let pt = pTile[r * BC + c];
      l += abs(pt);
      let p = max(pt, 0.0) * params.keepScale;`
    : `let p = pTile[r * BC + c];
      l += p;`}
      for (var k = 0u; k < DPT; k++) { o[k] += p * f32(vTile[c * STRIDE + u + k * TPR]); }
    }
  }

  if (tq < T) {
    let ob = (b * T + tq) * C + h * HS;
    let inv = 1.0 / l;
    for (var k = 0u; k < DPT; k++) { out[ob + u + k * TPR] = ST(o[k] * inv); }
    if (u == 0u) { lse[(b * NH + h) * T + tq] = (m + log2(l)) * LN2; }
  }
}
`;
}

function dqCode(dtype: Storage, hs: number, t: AttentionTiles, drop: boolean): string {
  return `${prelude(dtype, hs, t, t.br * t.tpr, drop)}
const KPT = ${t.bc / t.tpr}u;

@group(0) @binding(0) var<storage, read_write> dqkv: array<ST>;
@group(0) @binding(1) var<storage, read_write> delta: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<ST>;
@group(0) @binding(3) var<storage, read> out: array<ST>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> qkv: array<ST>;
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> qTile: array<ST, BR * STRIDE>;
var<workgroup> doTile: array<ST, BR * STRIDE>;
var<workgroup> kTile: array<ST, BC * STRIDE>;
var<workgroup> vTile: array<ST, BC * STRIDE>;
var<workgroup> dsTile: array<f32, BR * BC>;
var<workgroup> partial: array<f32, WG>;

// Workgroup (query block, head, batch); thread (row r, lane u) owns query t = q0 + r and dims u, u+TPR, ...
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
${TILED_HEAD}
  let q0 = wid.x * BR;
  let r = lid / TPR;
  let u = lid % TPR;
  let tq = q0 + r;
  let outBase = b * T * C + h * HS;

  ${loadTile('qTile', 'BR', 'qkv', 'q0', 'base', 'C3', '0u')}
  ${loadTile('doTile', 'BR', 'dout', 'q0', 'outBase', 'C', '0u')}

  // delta = rowsum(dout ∘ out): partial sums over each thread's dims, then summed in a fixed order.
  var part = 0.0;
  if (tq < T) {
    for (var k = 0u; k < DPT; k++) {
      let i = outBase + tq * C + u + k * TPR;
      part += f32(dout[i]) * f32(out[i]);
    }
  }
  partial[lid] = part;
  workgroupBarrier();
  var D = 0.0;
  for (var v = 0u; v < TPR; v++) { D += partial[r * TPR + v]; }
  var lse2 = 0.0;
  if (tq < T) {
    lse2 = lse[(b * NH + h) * T + tq] * LOG2E;
    if (u == 0u) { delta[(b * NH + h) * T + tq] = D; }
  }

  var dq: array<f32, DPT>;
  let numKeyTiles = (min(T, q0 + BR) + BC - 1u) / BC;
  for (var kt = 0u; kt < numKeyTiles; kt++) {
    let k0 = kt * BC;
    workgroupBarrier();
    ${loadTile('kTile', 'BC', 'qkv', 'k0', 'base', 'C3', 'C')}
    ${loadTile('vTile', 'BC', 'qkv', 'k0', 'base', 'C3', '2u * C')}
    workgroupBarrier();

    var s: array<f32, KPT>;
    var dp: array<f32, KPT>;
    for (var j = 0u; j < KPT; j++) { s[j] = 0.0; dp[j] = 0.0; }
    for (var d = 0u; d < HS; d++) {
      let qd = f32(qTile[r * STRIDE + d]);
      let gd = f32(doTile[r * STRIDE + d]);
      for (var j = 0u; j < KPT; j++) {
        let c = (u + j * TPR) * STRIDE + d;
        s[j] += qd * f32(kTile[c]);
        dp[j] += gd * f32(vTile[c]);
      }
    }
    for (var j = 0u; j < KPT; j++) {
      let c = u + j * TPR;
      let p = select(0.0, exp2(s[j] * SCALE2 - lse2), k0 + c <= tq);
      dsTile[r * BC + c] = p * (dp[j]${keep(drop, 'tq', 'k0 + c')} - D);
    }
    workgroupBarrier();
    for (var c = 0u; c < BC; c++) {
      let ds = dsTile[r * BC + c];
      for (var k = 0u; k < DPT; k++) { dq[k] += ds * f32(kTile[c * STRIDE + u + k * TPR]); }
    }
  }

  if (tq < T) {
    let ob = base + tq * C3;
    for (var k = 0u; k < DPT; k++) { dqkv[ob + u + k * TPR] = ST(dq[k] * SCALE); }
  }
}
`;
}

function dkvCode(dtype: Storage, hs: number, t: AttentionTiles, drop: boolean): string {
  return `${prelude(dtype, hs, t, t.bc * t.tpr, drop)}
const RPT = ${t.br / t.tpr}u;    // query rows scored by each thread per tile

@group(0) @binding(0) var<storage, read_write> dqkv: array<ST>;
@group(0) @binding(1) var<storage, read> dout: array<ST>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> delta: array<f32>;
@group(0) @binding(4) var<storage, read> qkv: array<ST>;
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> kTile: array<ST, BC * STRIDE>;
var<workgroup> vTile: array<ST, BC * STRIDE>;
var<workgroup> qTile: array<ST, BR * STRIDE>;
var<workgroup> doTile: array<ST, BR * STRIDE>;
var<workgroup> pTile: array<f32, BR * BC>;
var<workgroup> dsTile: array<f32, BR * BC>;
var<workgroup> lseTile: array<f32, BR>;
var<workgroup> deltaTile: array<f32, BR>;

// Workgroup (key block, head, batch); thread (key c, lane u) owns key t = k0 + c and dims u, u+TPR, ...
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
${TILED_HEAD}
  let k0 = wid.x * BC;
  let c = lid / TPR;
  let u = lid % TPR;
  let tk = k0 + c;
  let outBase = b * T * C + h * HS;
  let rowBase = (b * NH + h) * T;

  ${loadTile('kTile', 'BC', 'qkv', 'k0', 'base', 'C3', 'C')}
  ${loadTile('vTile', 'BC', 'qkv', 'k0', 'base', 'C3', '2u * C')}

  var dk: array<f32, DPT>;
  var dv: array<f32, DPT>;
  // Query tiles that end before the block's first key are fully masked: start past them.
  let numQueryTiles = (T + BR - 1u) / BR;
  for (var qt = k0 / BR; qt < numQueryTiles; qt++) {
    let q0 = qt * BR;
    workgroupBarrier();
    ${loadTile('qTile', 'BR', 'qkv', 'q0', 'base', 'C3', '0u')}
    ${loadTile('doTile', 'BR', 'dout', 'q0', 'outBase', 'C', '0u')}
    for (var i = lid; i < BR; i += WG) {
      let t = q0 + i;
      var ls = 0.0;
      var dl = 0.0;
      if (t < T) { ls = lse[rowBase + t] * LOG2E; dl = delta[rowBase + t]; }
      lseTile[i] = ls;
      deltaTile[i] = dl;
    }
    workgroupBarrier();

    var s: array<f32, RPT>;
    var dp: array<f32, RPT>;
    for (var i = 0u; i < RPT; i++) { s[i] = 0.0; dp[i] = 0.0; }
    for (var d = 0u; d < HS; d++) {
      let kd = f32(kTile[c * STRIDE + d]);
      let vd = f32(vTile[c * STRIDE + d]);
      for (var i = 0u; i < RPT; i++) {
        let rr = (u + i * TPR) * STRIDE + d;
        s[i] += f32(qTile[rr]) * kd;
        dp[i] += f32(doTile[rr]) * vd;
      }
    }
    for (var i = 0u; i < RPT; i++) {
      let rr = u + i * TPR;
      let tq = q0 + rr;
      let p = select(0.0, exp2(s[i] * SCALE2 - lseTile[rr]), tq >= tk && tq < T);
      ${drop
    ? `let z = attn_keep(b, h, tq, tk);
      pTile[rr * BC + c] = p * z;
      dsTile[rr * BC + c] = p * (dp[i] * z - deltaTile[rr]);`
    : `pTile[rr * BC + c] = p;
      dsTile[rr * BC + c] = p * (dp[i] - deltaTile[rr]);`}
    }
    workgroupBarrier();
    for (var rr = 0u; rr < BR; rr++) {
      let p = pTile[rr * BC + c];
      let ds = dsTile[rr * BC + c];
      for (var k = 0u; k < DPT; k++) {
        let i = rr * STRIDE + u + k * TPR;
        dv[k] += p * f32(doTile[i]);
        dk[k] += ds * f32(qTile[i]);
      }
    }
  }

  if (tk < T) {
    let ob = base + tk * C3;
    for (var k = 0u; k < DPT; k++) {
      dqkv[ob + C + u + k * TPR] = ST(dk[k] * SCALE);
      dqkv[ob + 2u * C + u + k * TPR] = ST(dv[k]);
    }
  }
}
`;
}

// ---------------------------------------------------------------- subgroup family (WGSL)

/**
 * Vec4s per head row, and how many lanes share one cooperative row load; undefined where the
 * subgroup kernels do not apply to this pass. The forward serves heads up to 128 (BioMedLM's; its
 * pipeline takes lavapipe's LLVM ~10 s to compile once, and runs 6× faster than the tiled one at
 * T=128); the backward passes stop at 64: their per-lane state at 128 takes tens of seconds per
 * pipeline (the three hs=128 ones: ~25 s of CPU, vs ~7 s at 64), so larger heads' backward uses the
 * tiled kernels.
 */
function subgroupGeometry(hs: number, pass: AttentionPass = 'forward'): { n: number; lanes: number } | undefined {
  if (hs % 4 || hs > (pass === 'forward' ? 128 : 64)) return undefined;
  const n = hs / 4;
  const lanes = Math.min(8, n);
  return n % lanes ? undefined : { n, lanes };
}

function subgroupPrelude(dtype: Storage, hs: number, v: SubgroupVariant, drop: boolean): string {
  const { n, lanes } = subgroupGeometry(hs)!;
  return `${dtype === 'f16' ? 'enable f16;\n' : ''}enable subgroups;
alias ST = ${dtype};
${paramsCode(drop)}
const N = ${n}u;        // vec4s per head row
const L = ${lanes}u;        // lanes that load one streamed row together, one vec4 each
const NC = ${n / lanes}u;       // vec4 loads per lane per streamed row
const WG = ${v.wg}u;
const R = ${v.rows}u;        // rows owned by each lane
const MASKED: f32 = ${MASKED};
const LOG2E: f32 = ${Math.LOG2E};
const LN2: f32 = ${Math.LN2};
`;
}

/** Opening lines of every subgroup kernel: sizes in vec4s (C4 is the row pitch of out, C34 of qkv), head, batch, lane and the head's first qkv column. */
const SUBGROUP_HEAD = `  let T = params.T;
  let SCALE = params.scale;
  let SCALE2 = params.scale * LOG2E;  // scores in log2 units, so softmax uses exp2
  let NH = params.NH;
  let C4 = NH * N;
  let C34 = 3u * C4;
  let h = wid.y;
  let b = wid.z;
  let lane = sid % L;
  let base = b * T * C34 + h * N;`;

const BUILTINS = '@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sid: u32';

/** Code repeated for each owned row r (unrolled, so per-row state stays in registers). */
function eachRow(v: SubgroupVariant, f: (r: number) => string): string {
  return Array.from({ length: v.rows }, (_, r) => f(r)).join('\n');
}

/** Code repeated for each lane i of a cooperative load: subgroupBroadcast needs a constant lane. */
function eachLane(hs: number, f: (i: number) => string): string {
  return Array.from({ length: subgroupGeometry(hs)!.lanes }, (_, i) => f(i)).join('\n');
}

function forwardSubgroupCode(dtype: Storage, hs: number, v: SubgroupVariant, drop: boolean): string {
  const z = streamedKeep(drop, v);
  return `${subgroupPrelude(dtype, hs, v, drop)}
@group(0) @binding(0) var<storage, read_write> out: array<vec4<ST>>;
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;
@group(0) @binding(2) var<storage, read> qkv: array<vec4<ST>>;
@group(0) @binding(3) var<uniform> params: Params;

// Workgroup (query block, head, batch); lane owns queries qBlock + r*WG + lid, streams every visible key.
@compute @workgroup_size(WG)
fn main(${BUILTINS}) {
${SUBGROUP_HEAD}
  let qBlock = wid.x * WG * R;
${eachRow(v, (r) => `  let t${r} = qBlock + ${r}u * WG + lid;
  let qRow${r} = base + min(t${r}, T - 1u) * C34;
  var q${r}: array<vec4<f32>, N>;
  var o${r}: array<vec4<f32>, N>;
  var m${r} = MASKED;   // running max of the scaled scores (log2 units)
  var l${r} = 0.0;      // running sum of exp2(s - m)
  for (var c = 0u; c < N; c++) { q${r}[c] = vec4<f32>(qkv[qRow${r} + c]) * SCALE2; }`)}

  // Keys after the block's last query are masked for every row: stop there.
  let numKeys = min(T, qBlock + WG * R);
${z.declare}  for (var j = 0u; j < numKeys; j++) {
${z.draw}    let kRow = base + j * C34 + C4;
${eachRow(v, (r) => `    var s${r} = 0.0;`)}
    for (var c = 0u; c < NC; c++) {
      let kc = vec4<f32>(qkv[kRow + c * L + lane]);
${eachLane(hs, (i) => `      let k${i} = subgroupBroadcast(kc, ${i}u);
${eachRow(v, (r) => `      s${r} += dot(q${r}[c * L + ${i}u], k${i});`)}`)}
    }
${eachRow(v, (r) => `    // Key 0 comes first and every row sees it, so m is finite from then on and masked keys get p = 0.
    let sm${r} = select(MASKED, s${r}, j <= t${r});
    if (sm${r} > m${r}) {   // rescale only when the running max grows (rare after the first keys)
      let alpha = exp2(m${r} - sm${r});
      m${r} = sm${r};
      l${r} *= alpha;
      for (var c = 0u; c < N; c++) { o${r}[c] *= alpha; }
    }
    let p${r} = exp2(sm${r} - m${r});
    l${r} += p${r};${drop ? `
    let pd${r} = p${r}${z.weight(r)};` : ''}`)}
    for (var c = 0u; c < NC; c++) {
      let vc = vec4<f32>(qkv[kRow + C4 + c * L + lane]);
${eachLane(hs, (i) => `      let v${i} = subgroupBroadcast(vc, ${i}u);
${eachRow(v, (r) => `      o${r}[c * L + ${i}u] += ${drop ? 'pd' : 'p'}${r} * v${i};`)}`)}
    }
  }

${eachRow(v, (r) => `  if (t${r} < T) {
    let oRow = (b * T + t${r}) * C4 + h * N;
    let inv = 1.0 / l${r};
    for (var c = 0u; c < N; c++) { out[oRow + c] = vec4<ST>(o${r}[c] * inv); }
    lse[(b * NH + h) * T + t${r}] = (m${r} + log2(l${r})) * LN2;
  }`)}
}
`;
}

function dqSubgroupCode(dtype: Storage, hs: number, v: SubgroupVariant, drop: boolean): string {
  const z = streamedKeep(drop, v);
  return `${subgroupPrelude(dtype, hs, v, drop)}
@group(0) @binding(0) var<storage, read_write> dqkv: array<vec4<ST>>;
@group(0) @binding(1) var<storage, read_write> delta: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<vec4<ST>>;
@group(0) @binding(3) var<storage, read> out: array<vec4<ST>>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> qkv: array<vec4<ST>>;
@group(0) @binding(6) var<uniform> params: Params;

// Workgroup (query block, head, batch); lane owns queries qBlock + r*WG + lid: delta, then dQ over keys.
@compute @workgroup_size(WG)
fn main(${BUILTINS}) {
${SUBGROUP_HEAD}
  let qBlock = wid.x * WG * R;
  let rowBase = (b * NH + h) * T;
${eachRow(v, (r) => `  let t${r} = qBlock + ${r}u * WG + lid;
  let tc${r} = min(t${r}, T - 1u);
  let qRow${r} = base + tc${r} * C34;
  let oRow${r} = (b * T + tc${r}) * C4 + h * N;
  var q${r}: array<vec4<f32>, N>;
  var g${r}: array<vec4<f32>, N>;    // dout row
  var dq${r}: array<vec4<f32>, N>;
  var D${r} = 0.0;                    // delta = rowsum(dout ∘ out)
  for (var c = 0u; c < N; c++) {
    q${r}[c] = vec4<f32>(qkv[qRow${r} + c]);
    g${r}[c] = vec4<f32>(dout[oRow${r} + c]);
    D${r} += dot(g${r}[c], vec4<f32>(out[oRow${r} + c]));
  }
  let lse2${r} = lse[rowBase + tc${r}] * LOG2E;
  if (t${r} < T) { delta[rowBase + t${r}] = D${r}; }`)}

  let numKeys = min(T, qBlock + WG * R);
${z.declare}  for (var j = 0u; j < numKeys; j++) {
${z.draw}    let kRow = base + j * C34 + C4;
${eachRow(v, (r) => `    var s${r} = 0.0;
    var dp${r} = 0.0;`)}
    var kcs: array<vec4<f32>, NC>;
    for (var c = 0u; c < NC; c++) {
      let kc = vec4<f32>(qkv[kRow + c * L + lane]);
      let vc = vec4<f32>(qkv[kRow + C4 + c * L + lane]);
      kcs[c] = kc;
${eachLane(hs, (i) => `      let k${i} = subgroupBroadcast(kc, ${i}u);
      let v${i} = subgroupBroadcast(vc, ${i}u);
${eachRow(v, (r) => `      s${r} += dot(q${r}[c * L + ${i}u], k${i});
      dp${r} += dot(g${r}[c * L + ${i}u], v${i});`)}`)}
    }
${eachRow(v, (r) => `    let p${r} = select(0.0, exp2(s${r} * SCALE2 - lse2${r}), j <= t${r});
    let ds${r} = p${r} * (dp${r}${z.weight(r)} - D${r});`)}
    for (var c = 0u; c < NC; c++) {
${eachLane(hs, (i) => `      let k${i} = subgroupBroadcast(kcs[c], ${i}u);
${eachRow(v, (r) => `      dq${r}[c * L + ${i}u] += ds${r} * k${i};`)}`)}
    }
  }

${eachRow(v, (r) => `  if (t${r} < T) {
    let dRow = base + t${r} * C34;
    for (var c = 0u; c < N; c++) { dqkv[dRow + c] = vec4<ST>(dq${r}[c] * SCALE); }
  }`)}
}
`;
}

function dkvSubgroupCode(dtype: Storage, hs: number, v: SubgroupVariant, drop: boolean): string {
  return `${subgroupPrelude(dtype, hs, v, drop)}
@group(0) @binding(0) var<storage, read_write> dqkv: array<vec4<ST>>;
@group(0) @binding(1) var<storage, read> dout: array<vec4<ST>>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> delta: array<f32>;
@group(0) @binding(4) var<storage, read> qkv: array<vec4<ST>>;
@group(0) @binding(5) var<uniform> params: Params;

// Workgroup (key block, head, batch); lane owns keys kBlock + r*WG + lid, streams every query that sees them.
@compute @workgroup_size(WG)
fn main(${BUILTINS}) {
${SUBGROUP_HEAD}
  let kBlock = wid.x * WG * R;
  let rowBase = (b * NH + h) * T;
${eachRow(v, (r) => `  let j${r} = kBlock + ${r}u * WG + lid;
  let kRow${r} = base + min(j${r}, T - 1u) * C34 + C4;
  var k${r}: array<vec4<f32>, N>;
  var v${r}: array<vec4<f32>, N>;
  var dk${r}: array<vec4<f32>, N>;
  var dv${r}: array<vec4<f32>, N>;
  for (var c = 0u; c < N; c++) {
    k${r}[c] = vec4<f32>(qkv[kRow${r} + c]);
    v${r}[c] = vec4<f32>(qkv[kRow${r} + C4 + c]);
  }`)}

  // Queries before the block's first key see none of its keys: start there.
  for (var t = kBlock; t < T; t++) {
    let qRow = base + t * C34;
    let oRow = (b * T + t) * C4 + h * N;
    let lse2 = lse[rowBase + t] * LOG2E;
    let dl = delta[rowBase + t];
${eachRow(v, (r) => `    var s${r} = 0.0;
    var dp${r} = 0.0;`)}
    var qcs: array<vec4<f32>, NC>;
    var gcs: array<vec4<f32>, NC>;
    for (var c = 0u; c < NC; c++) {
      let qc = vec4<f32>(qkv[qRow + c * L + lane]);
      let gc = vec4<f32>(dout[oRow + c * L + lane]);
      qcs[c] = qc;
      gcs[c] = gc;
${eachLane(hs, (i) => `      let q${i} = subgroupBroadcast(qc, ${i}u);
      let g${i} = subgroupBroadcast(gc, ${i}u);
${eachRow(v, (r) => `      s${r} += dot(k${r}[c * L + ${i}u], q${i});
      dp${r} += dot(v${r}[c * L + ${i}u], g${i});`)}`)}
    }
${eachRow(v, (r) => `    let p${r} = select(0.0, exp2(s${r} * SCALE2 - lse2), t >= j${r});
${drop ? `    let z${r} = attn_keep(b, h, t, j${r});
` : ''}    let ds${r} = p${r} * (dp${r}${drop ? ` * z${r}` : ''} - dl);`)}
    for (var c = 0u; c < NC; c++) {
${eachLane(hs, (i) => `      let q${i} = subgroupBroadcast(qcs[c], ${i}u);
      let g${i} = subgroupBroadcast(gcs[c], ${i}u);
${eachRow(v, (r) => `      dv${r}[c * L + ${i}u] += p${r}${drop ? ` * z${r}` : ''} * g${i};
      dk${r}[c * L + ${i}u] += ds${r} * q${i};`)}`)}
    }
  }

${eachRow(v, (r) => `  if (j${r} < T) {
    let dRow = base + j${r} * C34 + C4;
    for (var c = 0u; c < N; c++) {
      dqkv[dRow + c] = vec4<ST>(dk${r}[c] * SCALE);
      dqkv[dRow + C4 + c] = vec4<ST>(dv${r}[c]);
    }
  }`)}
}
`;
}

// ---------------------------------------------------------------- variants, kernels and launchers

export interface SubgroupVariant {
  kind: 'subgroup';
  /** Lanes per workgroup (a multiple of 8). */
  wg: number;
  /** Rows owned by each lane. */
  rows: number;
}

/** 'tiled' takes the largest tiles that fit the device; 'subgroup' needs subgroups of at least 8 lanes. */
export type AttentionVariant = { kind: 'tiled'; tiles?: Partial<Record<AttentionPass, AttentionTiles>> } | SubgroupVariant;

/**
 * One row per lane. On lavapipe 2 rows run ~30% faster but take ~7× longer to compile (LLVM time
 * grows with the per-lane state: 46 s instead of 7 s for the three hs=64 pipelines).
 */
const DEFAULT_SUBGROUP: SubgroupVariant = { kind: 'subgroup', wg: 8, rows: 1 };

/** What tuneAttention stores per adapter and head size (tune/attention.ts). */
export interface AttentionTuneRecord extends TuneRecord<SubgroupVariant> {
  /** The shape timed. */
  shape?: { B: number; T: number; C: number; NH: number };
}

/** Bumped whenever the attention kernels or their candidates change, so older records are ignored. */
export const ATTENTION_TUNE_VERSION = 1;

/** A variant's name in tuning tables and records: 'tiled', or 'sg' lanes 'x' rows. */
export function attentionVariantName(v: AttentionVariant): string {
  return v.kind === 'tiled' ? 'tiled' : `sg${v.wg}x${v.rows}`;
}

/** Why `v` cannot run for head size hs on this context, or '' when it can. */
export function attentionVariantProblem(gpu: GPUContext, hs: number, v: AttentionVariant): string {
  return v.kind === 'tiled' ? '' : subgroupShapeProblem(v) || subgroupGeometryProblem(gpu, hs);
}

/** Why a subgroup variant's layout is malformed, or ''. */
function subgroupShapeProblem(v: SubgroupVariant): string {
  return v.wg > 0 && v.wg % 8 === 0 && Number.isInteger(v.rows) && v.rows > 0 ? '' : `needs wg a multiple of 8 and rows >= 1, got ${JSON.stringify(v)}`;
}

/** Why the subgroup kernels cannot serve head size hs on this context, or ''. */
function subgroupGeometryProblem(gpu: GPUContext, hs: number): string {
  return gpu.hasSubgroups && subgroupGeometry(hs) ? '' : `needs subgroups and hs a multiple of 4 up to 28, or 32, 64 or 128; got hs=${hs}`;
}

/** Whether the subgroup kernels serve head size hs here by default: software adapters with subgroups of 8+ lanes, hs they cover. */
export function subgroupAttentionAvailable(gpu: GPUContext, hs: number): boolean {
  return isSoftwareAdapter(gpu) && subgroupsOfEight(gpu) && !!subgroupGeometry(hs);
}

/**
 * The attention layout per adapter and head size: forced (setAttentionVariant, any variant), else
 * the subgroup layout recorded by tuneAttention under `attention v1 hs<hs> <precision> | tuneKey`.
 */
export const attentionChoice = new TunedChoice<AttentionVariant, number, AttentionTuneRecord>({
  what: 'attention',
  key: (gpu, hs) => `attention v${ATTENTION_TUNE_VERSION} hs${hs} ${gpu.precision} | ${tuneKey(gpu)}`,
  problem: (_, v) => (v.kind === 'subgroup' && subgroupShapeProblem(v) ? `subgroup variant ${subgroupShapeProblem(v)}` : ''),
  recordProblem: (gpu, v, hs) => (v.kind === 'subgroup' ? subgroupGeometryProblem(gpu, hs) : 'a record holds a subgroup layout'),
});

/** Use this variant on this context regardless of the adapter (tests, benchmarks); null restores the default. */
export function setAttentionVariant(gpu: GPUContext, variant: AttentionVariant | null): void {
  attentionChoice.force(gpu, variant);
}

function subgroupsOfEight(gpu: GPUContext): boolean {
  const min = (gpu.adapter.info as { subgroupMinSize?: number } | undefined)?.subgroupMinSize;
  return gpu.hasSubgroups && (min === undefined || min >= 8);
}

/**
 * The variant the launchers use for head size hs on this context: a forced one (setAttentionVariant),
 * else on software adapters with subgroups the tuned choice (tuneAttention) or one row per lane,
 * else the tiled kernels.
 */
export function attentionVariant(gpu: GPUContext, hs: number): AttentionVariant {
  const v = attentionChoice.forced(gpu);
  if (v) {
    const problem = v.kind === 'subgroup' ? subgroupGeometryProblem(gpu, hs) : '';
    if (problem) throw new RangeError(`attention: the subgroup variant ${problem}`);
    return v;
  }
  if (!subgroupAttentionAvailable(gpu, hs)) return { kind: 'tiled' };
  return attentionChoice.variant(gpu, hs, () => DEFAULT_SUBGROUP);
}

interface AttentionKernel {
  src: KernelSource;
  /** Query (forward, dq) or key (dkv) rows per workgroup: the grid's x counts blocks of these. */
  rowsPerWorkgroup: number;
}

const sources = kernelSourceCache();

/** The kernel of one pass for a storage dtype, head size and variant (its source built once). */
export function attentionKernel(pass: AttentionPass, dtype: Storage, hs: number, gpu: GPUContext, drop = false): AttentionKernel {
  const v = attentionVariant(gpu, hs);
  const suffix = drop ? '_dropout' : '';
  // a subgroup layout serves the passes whose geometry covers hs (the backward stops at 64); the tiled kernels the rest
  if (v.kind === 'subgroup' && subgroupGeometry(hs, pass)) {
    const name = `attention_${pass}_${dtype}_hs${hs}_sg${v.wg}x${v.rows}${suffix}`;
    const gen = pass === 'forward' ? forwardSubgroupCode : pass === 'dq' ? dqSubgroupCode : dkvSubgroupCode;
    return { src: sources(name, () => ({ name, code: gen(dtype, hs, v, drop) })), rowsPerWorkgroup: v.wg * v.rows };
  }
  const t = (v.kind === 'tiled' ? v.tiles?.[pass] : undefined) ?? chooseAttentionTiles(pass, hs, dtype, gpu.limits);
  const name = `attention_${pass}_${dtype}_hs${hs}_${t.br}x${t.bc}x${t.tpr}${suffix}`;
  const gen = pass === 'forward' ? forwardCode : pass === 'dq' ? dqCode : dkvCode;
  return { src: sources(name, () => ({ name, code: gen(dtype, hs, t, drop) })), rowsPerWorkgroup: pass === 'dkv' ? t.bc : t.br };
}

/** The uniforms of one attention dispatch: the sizes and scale, and with a dropout draw its key, site, threshold and 1/(1-p). */
function attentionParams(T: number, NH: number, scale: number, drop: DropoutDraw | undefined): Record<string, number> {
  if (!drop) return { T, NH, scale };
  return { T, NH, scale, key0: drop.key0 >>> 0, site: drop.site >>> 0, threshold: dropoutThreshold(drop.p), keepScale: dropoutScale(drop.p) };
}

function storageOf(name: string, ...tensors: Tensor[]): Storage {
  const dtype = tensors[0]!.dtype;
  for (const t of tensors) {
    if (t.dtype !== dtype) throw new TypeError(`${name}: ${t} must have the same dtype as ${tensors[0]}`);
  }
  if (dtype !== 'f16' && dtype !== 'f32') throw new TypeError(`${name}: storage must be f16 or f32, got ${dtype}`);
  return dtype;
}

function checkShapes(name: string, B: number, T: number, C: number, NH: number, sized: [Tensor, number][]): number {
  if (NH <= 0 || C % NH !== 0) throw new RangeError(`${name}: C=${C} is not a multiple of NH=${NH}`);
  for (const [t, n] of sized) {
    if (t.numel < n) throw new RangeError(`${name}: ${t} holds ${t.numel} elements, needs ${n} for B=${B} T=${T} C=${C} NH=${NH}`);
  }
  return C / NH;
}

/**
 * out = causal softmax(scale · q kᵀ) v per head, and lse per row (scale defaults to 1/sqrt(hs)).
 *   out  [B, T, C]     (storage dtype)
 *   lse  [B, NH, T]    f32
 *   qkv  [B, T, 3C]    (storage dtype)
 */
export function attentionForward(
  step: Step, out: Tensor, lse: Tensor, qkv: Tensor, B: number, T: number, C: number, NH: number, scale = 1 / Math.sqrt(C / NH),
  /** Dropout on the probabilities (training); undefined or p = 0: none. */
  drop?: DropoutDraw,
): void {
  const dtype = storageOf('attentionForward', out, qkv);
  if (lse.dtype !== 'f32') throw new TypeError(`attentionForward: lse must be f32, got ${lse}`);
  const hs = checkShapes('attentionForward', B, T, C, NH, [[out, B * T * C], [lse, B * NH * T], [qkv, B * T * 3 * C]]);
  const d = drop && drop.p > 0 ? drop : undefined;
  const k = attentionKernel('forward', dtype, hs, step.ctx, !!d);
  step.dispatch(k.src, { out, lse, qkv, params: attentionParams(T, NH, scale, d) }, [Math.ceil(T / k.rowsPerWorkgroup), NH, B]);
}

/**
 * dqkv = ∂loss/∂qkv given dout = ∂loss/∂out, recomputing the attention from qkv and lse.
 *   dqkv   [B, T, 3C]   (storage dtype), overwritten
 *   delta  [B, NH, T]   f32 scratch: rowsum(dout ∘ out)
 *   dout   [B, T, C]    (storage dtype)
 *   out    [B, T, C]    (storage dtype), the forward's output
 *   lse    [B, NH, T]   f32, the forward's log-sum-exp
 *   qkv    [B, T, 3C]   (storage dtype)
 * scale and drop: the forward's (the same draw gives the same mask).
 */
export function attentionBackward(
  step: Step, dqkv: Tensor, delta: Tensor, dout: Tensor, out: Tensor, lse: Tensor, qkv: Tensor,
  B: number, T: number, C: number, NH: number, scale = 1 / Math.sqrt(C / NH), drop?: DropoutDraw,
): void {
  const dtype = storageOf('attentionBackward', dqkv, dout, out, qkv);
  if (lse.dtype !== 'f32' || delta.dtype !== 'f32') throw new TypeError(`attentionBackward: lse and delta must be f32, got ${lse}, ${delta}`);
  const hs = checkShapes('attentionBackward', B, T, C, NH, [
    [dqkv, B * T * 3 * C], [delta, B * NH * T], [dout, B * T * C], [out, B * T * C], [lse, B * NH * T], [qkv, B * T * 3 * C],
  ]);
  const d = drop && drop.p > 0 ? drop : undefined;
  const params = attentionParams(T, NH, scale, d);
  const dq = attentionKernel('dq', dtype, hs, step.ctx, !!d);
  step.dispatch(dq.src, { dqkv, delta, dout, out, lse, qkv, params }, [Math.ceil(T / dq.rowsPerWorkgroup), NH, B]);
  // The dK/dV pass reads the delta the dQ pass wrote: separate passes order them.
  const dkv = attentionKernel('dkv', dtype, hs, step.ctx, !!d);
  step.dispatch(dkv.src, { dqkv, dout, lse, delta, qkv, params }, [Math.ceil(T / dkv.rowsPerWorkgroup), NH, B]);
}
