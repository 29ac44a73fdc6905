// Single-query causal attention for generation with a KV cache.
//
//   out   [C]          attention output of the newest position (heads concatenated)
//   cache [maxT, 3C]   c_attn outputs of positions 0..pos, packed [q | k | v] (GPT-2's layout);
//                      row `pos` holds the newest token's q, k and v
//
// One workgroup per head, one pass: each thread scores a strided subset of the keys, the workgroup
// reduces max and sum, then accumulates Σ p_t·v_t for its share of the head's channels.
// Accumulation in f32; storage f16 or f32.

import type { Step } from '../gpu/context';
import type { KernelSource } from '../gpu/kernel';
import { kernelSourceCache } from '../gpu/sources';
import type { Tensor } from '../gpu/tensor';

const WG = 64;
const MAX_T = 4096;
const sources = kernelSourceCache();

function decodeSource(st: 'f16' | 'f32'): KernelSource {
  return sources(st, () => ({
    name: `attention_decode_${st}`,
    code: `${st === 'f16' ? 'enable f16;' : ''}
struct Params { pos: u32, C: u32, hs: u32, scale: f32, outOff: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<${st}>;
@group(0) @binding(1) var<storage, read> cache: array<${st}>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> scores: array<f32, ${MAX_T}>;
var<workgroup> red: array<f32, ${WG}>;

fn reduce(lid: u32, isMax: bool) -> f32 {
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = select(red[lid] + red[lid + s], max(red[lid], red[lid + s]), isMax); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid3: vec3u) {
  let h = wid.x;
  let lid = lid3.x;
  let C = params.C;
  let hs = params.hs;
  let C3 = 3u * C;
  let q = params.pos * C3 + h * hs;
  var m = -3.0e38;
  for (var t = lid; t <= params.pos; t += ${WG}u) {
    let k = t * C3 + C + h * hs;
    var dot = 0.0;
    for (var i = 0u; i < hs; i++) { dot += f32(cache[q + i]) * f32(cache[k + i]); }
    let s = dot * params.scale;
    scores[t] = s;
    m = max(m, s);
  }
  red[lid] = m;
  m = reduce(lid, true);
  var sum = 0.0;
  for (var t = lid; t <= params.pos; t += ${WG}u) {
    let e = exp(scores[t] - m);
    scores[t] = e;
    sum += e;
  }
  red[lid] = sum;
  sum = reduce(lid, false);
  for (var i = lid; i < hs; i += ${WG}u) {
    var acc = 0.0;
    for (var t = 0u; t <= params.pos; t++) { acc += scores[t] * f32(cache[t * C3 + 2u * C + h * hs + i]); }
    out[params.outOff + h * hs + i] = ${st}(acc / sum);
  }
}`,
  }));
}

/**
 * out[outOff .. outOff+C) = causal attention of the query at `pos` over cache rows 0..pos, scores
 * scale · q·k (default 1/sqrt(hs)). pos < 4096. outOff (elements) lets a prompt's rows share one
 * out [T, C] without views at offsets that bindings cannot start on.
 */
export function attentionDecode(step: Step, out: Tensor, cache: Tensor, pos: number, C: number, NH: number, scale = 1 / Math.sqrt(C / NH), outOff = 0): void {
  if (pos >= MAX_T) throw new RangeError(`attentionDecode: position ${pos} is beyond the ${MAX_T}-position limit`);
  const hs = C / NH;
  if (outOff + C > out.numel) throw new RangeError(`attentionDecode: out ${out} has no room for C = ${C} values at ${outOff}`);
  step.dispatch(decodeSource(out.dtype as 'f16' | 'f32'), { out, cache, params: { pos, C, hs, scale, outOff } }, NH);
}

// ------------------------------------------------------------------------------------------------
// Greedy decoding on the GPU: out[0] = argmax_v logits[v] over v < V (the first of equal maxima,
// as a CPU scan with `>`; NaN never wins). One workgroup of 256 lanes: each scans a strided share,
// then a tree keeps (value, index). Lets a decode step read back one id instead of [V] logits and
// feed the next step's token without a round trip.

const ARGMAX_WG = 256;

function argmaxSource(st: 'f16' | 'f32'): KernelSource {
  return sources(`argmax_${st}`, () => ({
    name: `argmax_${st}`,
    code: `${st === 'f16' ? 'enable f16;' : ''}
struct Params { V: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<i32>;
@group(0) @binding(1) var<storage, read> logits: array<${st}>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> bestV: array<f32, ${ARGMAX_WG}>;
var<workgroup> bestI: array<u32, ${ARGMAX_WG}>;

@compute @workgroup_size(${ARGMAX_WG})
fn main(@builtin(local_invocation_id) lid3: vec3u) {
  let lid = lid3.x;
  var bv = -3.4e38;
  var bi = 0xffffffffu;
  for (var v = lid; v < params.V; v += ${ARGMAX_WG}u) {
    let x = f32(logits[v]);
    if (x > bv || (bi == 0xffffffffu && x == bv)) { bv = x; bi = v; }
  }
  bestV[lid] = bv;
  bestI[lid] = bi;
  workgroupBarrier();
  for (var s = ${ARGMAX_WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let ov = bestV[lid + s];
      let oi = bestI[lid + s];
      if (oi != 0xffffffffu && (bestI[lid] == 0xffffffffu || ov > bestV[lid] || (ov == bestV[lid] && oi < bestI[lid]))) {
        bestV[lid] = ov;
        bestI[lid] = oi;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { out[0] = i32(select(bestI[0], 0u, bestI[0] == 0xffffffffu)); }
}`,
  }));
}

/** out[0] (i32) = the index of the largest of logits[0..V) (the first on ties). */
export function argmaxForward(step: Step, out: Tensor /* [1] i32 */, logits: Tensor /* [>= V] */, V: number): void {
  if (out.dtype !== 'i32') throw new TypeError(`argmaxForward: out ${out} must be i32`);
  if (logits.numel < V || V < 1) throw new RangeError(`argmaxForward: logits ${logits} hold fewer than V = ${V} values`);
  step.dispatch(argmaxSource(logits.dtype as 'f16' | 'f32'), { out, logits, params: { V } }, 1);
}
