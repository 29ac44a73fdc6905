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
struct Params { pos: u32, C: u32, hs: u32, scale: f32 }
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
    out[h * hs + i] = ${st}(acc / sum);
  }
}`,
  }));
}

/** out[C] = causal attention of the query at `pos` over cache rows 0..pos, scores scale · q·k (default 1/sqrt(hs)). pos < 4096. */
export function attentionDecode(step: Step, out: Tensor, cache: Tensor, pos: number, C: number, NH: number, scale = 1 / Math.sqrt(C / NH)): void {
  if (pos >= MAX_T) throw new RangeError(`attentionDecode: position ${pos} is beyond the ${MAX_T}-position limit`);
  const hs = C / NH;
  step.dispatch(decodeSource(out.dtype as 'f16' | 'f32'), { out, cache, params: { pos, C, hs, scale } }, NH);
}
