// Multiple-choice heads on the final hidden state (after ln_f), as Hugging Face's
// GPT2DoubleHeadsModel's SequenceSummary with summary_type "cls_index": one linear map C -> 1 of
// the hidden state at one chosen position (the last token) of each "question + option" row.
//
//   hidden     [BT, C] f16|f32   ln_f output of the body
//   pos        [R] i32           flat position (b*T + last token) of row r's summary token
//   weight     [C] f32           multiple_choice_head.summary.weight ([1, C] in HF)
//   bias       [1] f32           multiple_choice_head.summary.bias
//   scores     [R] f32           score r = hidden[pos r] · weight + bias
//   labels     [R] f32           1 for a correct option, 0 otherwise
//   groups     [Q+1] u32         question q owns rows groups[q] .. groups[q+1]-1
//
// Losses, per question q (rows r of q, y = labels):
//   softmax (multiple-choice head):  loss_q = logsumexp_r(s_r) - Σ_r y_r s_r / Σ_r y_r
//       (the cross-entropy against the correct option; several correct options share the target)
//       dscore_r = (softmax_r - y_r / Σ y) * dlossMean * lossScale
//   sigmoid (proposition head):      loss_q = Σ_r [softplus(s_r) - y_r s_r]   (binary cross-entropy)
//       dscore_r = (sigmoid(s_r) - y_r) * dlossMean * lossScale
//   lossSum[0] = Σ_q loss_q (unscaled). dlossMean is 1/Q (softmax) or 1/R (sigmoid) for the mean.
//
// Backward: dweight += Σ_r dscore_r hidden[pos r]; dbias += Σ_r dscore_r (parameter gradients
// accumulate); dhidden = 0 everywhere except dhidden[pos r] = dscore_r * weight (overwritten).
// Passes: forward 1 (a workgroup per row), loss 1 (one workgroup, fixed-order tree), backward 2
// (scatter dhidden; dweight/dbias one thread per column, rows summed in order: deterministic).

import type { Step } from '../gpu/context';
import type { KernelSource } from '../gpu/kernel';
import { kernelSourceCache } from '../gpu/sources';
import type { Tensor } from '../gpu/tensor';

const WG = 64;
export type McHeadLoss = 'softmax' | 'sigmoid';

const kernel = kernelSourceCache();

const enableF16 = (dtype: string) => (dtype === 'f16' ? 'enable f16;\n' : '');

function forwardKernel(dtype: 'f16' | 'f32'): KernelSource {
  return kernel(`fwd:${dtype}`, () => ({
    name: `mchead_forward_${dtype}`,
    code: /* wgsl */ `${enableF16(dtype)}
struct Dims { R: u32, C: u32 }
@group(0) @binding(0) var<storage, read_write> scores: array<f32>;
@group(0) @binding(1) var<storage, read> hidden: array<${dtype}>;
@group(0) @binding(2) var<storage, read> pos: array<i32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<uniform> dims: Dims;
var<workgroup> tree: array<f32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid3: vec3u) {
  let r = wid.x;
  let lid = lid3.x;
  let base = u32(pos[min(r, dims.R - 1u)]) * dims.C;
  var acc = 0.0;
  for (var c = lid; c < dims.C; c = c + ${WG}u) { acc = acc + f32(hidden[base + c]) * weight[c]; }
  tree[lid] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { tree[lid] = tree[lid] + tree[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u && r < dims.R) { scores[r] = tree[0] + bias[0]; }
}`,
  }));
}

function lossKernel(): KernelSource {
  return kernel('loss', () => ({
    name: 'mchead_loss',
    code: /* wgsl */ `
struct Dims { Q: u32, sigmoid: u32, dlossMean: f32 }
@group(0) @binding(0) var<storage, read_write> losses: array<f32>;
@group(0) @binding(1) var<storage, read_write> dscores: array<f32>;
@group(0) @binding(2) var<storage, read_write> lossSum: array<f32>;
@group(0) @binding(3) var<storage, read> scores: array<f32>;
@group(0) @binding(4) var<storage, read> labels: array<f32>;
@group(0) @binding(5) var<storage, read> groups: array<u32>;
@group(0) @binding(6) var<storage, read> lossScale: array<f32>;
@group(0) @binding(7) var<uniform> dims: Dims;
var<workgroup> tree: array<f32, ${WG}>;

fn softplus(x: f32) -> f32 { return max(x, 0.0) + log(1.0 + exp(-abs(x))); }

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid3: vec3u) {
  let lid = lid3.x;
  let d = dims.dlossMean * lossScale[0];
  var part = 0.0;
  for (var q = lid; q < dims.Q; q = q + ${WG}u) {
    let r0 = groups[q];
    let r1 = groups[q + 1u];
    var loss = 0.0;
    if (dims.sigmoid != 0u) {
      for (var r = r0; r < r1; r = r + 1u) {
        let s = scores[r];
        let y = labels[r];
        loss = loss + softplus(s) - y * s;
        dscores[r] = (1.0 / (1.0 + exp(-s)) - y) * d;
      }
    } else {
      var m = -3.0e38;
      var ysum = 0.0;
      var ys = 0.0;
      for (var r = r0; r < r1; r = r + 1u) { m = max(m, scores[r]); ysum = ysum + labels[r]; ys = ys + labels[r] * scores[r]; }
      var z = 0.0;
      for (var r = r0; r < r1; r = r + 1u) { z = z + exp(scores[r] - m); }
      loss = m + log(z) - ys / ysum;
      for (var r = r0; r < r1; r = r + 1u) { dscores[r] = (exp(scores[r] - m) / z - labels[r] / ysum) * d; }
    }
    losses[q] = loss;
    part = part + loss;
  }
  tree[lid] = part;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { tree[lid] = tree[lid] + tree[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { lossSum[0] = tree[0]; }
}`,
  }));
}

function scatterKernel(dtype: 'f16' | 'f32'): KernelSource {
  return kernel(`scatter:${dtype}`, () => ({
    name: `mchead_backward_dhidden_${dtype}`,
    code: /* wgsl */ `${enableF16(dtype)}
struct Dims { R: u32, C: u32 }
@group(0) @binding(0) var<storage, read_write> dhidden: array<${dtype}>;
@group(0) @binding(1) var<storage, read> dscores: array<f32>;
@group(0) @binding(2) var<storage, read> pos: array<i32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<uniform> dims: Dims;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  let r = gid.y;
  if (c >= dims.C || r >= dims.R) { return; }
  dhidden[u32(pos[r]) * dims.C + c] = ${dtype}(dscores[r] * weight[c]);
}`,
  }));
}

function paramGradKernel(dtype: 'f16' | 'f32'): KernelSource {
  return kernel(`dparam:${dtype}`, () => ({
    name: `mchead_backward_dweight_${dtype}`,
    code: /* wgsl */ `${enableF16(dtype)}
struct Dims { R: u32, C: u32 }
@group(0) @binding(0) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(1) var<storage, read_write> dbias: array<f32>;
@group(0) @binding(2) var<storage, read> dscores: array<f32>;
@group(0) @binding(3) var<storage, read> hidden: array<${dtype}>;
@group(0) @binding(4) var<storage, read> pos: array<i32>;
@group(0) @binding(5) var<uniform> dims: Dims;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c > dims.C) { return; }
  var acc = 0.0;
  if (c == dims.C) {
    for (var r = 0u; r < dims.R; r = r + 1u) { acc = acc + dscores[r]; }
    dbias[0] = dbias[0] + acc;
    return;
  }
  for (var r = 0u; r < dims.R; r = r + 1u) { acc = acc + dscores[r] * f32(hidden[u32(pos[r]) * dims.C + c]); }
  dweight[c] = dweight[c] + acc;
}`,
  }));
}

function checkRows(what: string, R: number, C: number, hidden: Tensor, pos: Tensor, weight: Tensor): void {
  if (!(R >= 1 && C >= 1)) throw new RangeError(`${what}: need R >= 1 and C >= 1, got R=${R} C=${C}`);
  if (hidden.dtype !== 'f16' && hidden.dtype !== 'f32') throw new TypeError(`${what}: hidden ${hidden} must be f16 or f32`);
  if (hidden.numel % C) throw new RangeError(`${what}: hidden ${hidden} is not [BT, ${C}]`);
  if (pos.dtype !== 'i32' || pos.numel < R) throw new TypeError(`${what}: pos ${pos} must be i32 with at least ${R} elements`);
  if (weight.dtype !== 'f32' || weight.numel < C) throw new TypeError(`${what}: weight ${weight} must be f32 [${C}]`);
}

/** scores [R] f32 = hidden[pos[r]] · weight + bias. Positions must lie in [0, BT). */
export function mcheadForward(step: Step, scores: Tensor, hidden: Tensor, pos: Tensor, weight: Tensor, bias: Tensor, R: number, C: number): void {
  checkRows('mcheadForward', R, C, hidden, pos, weight);
  if (scores.numel < R) throw new RangeError(`mcheadForward: scores ${scores} holds fewer than ${R} rows`);
  step.dispatch(forwardKernel(hidden.dtype as 'f16' | 'f32'), { scores, hidden, pos, weight, bias, dims: { R, C } }, R);
}

/**
 * Per-question loss, dscores (scaled by dlossMean * lossScale[0]) and the unscaled loss sum.
 *   losses [Q] f32, dscores [R] f32, lossSum [1] f32; scores, labels [R] f32; groups [Q+1] u32.
 */
export function mcheadLoss(
  step: Step, losses: Tensor, dscores: Tensor, lossSum: Tensor, scores: Tensor, labels: Tensor, groups: Tensor, lossScale: Tensor,
  Q: number, kind: McHeadLoss, dlossMean: number,
): void {
  if (!(Q >= 1) || groups.numel < Q + 1 || losses.numel < Q) throw new RangeError(`mcheadLoss: groups ${groups} / losses ${losses} too small for Q=${Q}`);
  if (groups.dtype !== 'u32') throw new TypeError(`mcheadLoss: groups ${groups} must be u32`);
  step.dispatch(lossKernel(), { losses, dscores, lossSum, scores, labels, groups, lossScale, dims: { Q, sigmoid: kind === 'sigmoid' ? 1 : 0, dlossMean } }, 1);
}

/**
 * dweight [C] += Σ dscore_r hidden[pos r]; dbias [1] += Σ dscore_r; dhidden [BT, C] = 0 except
 * dhidden[pos r] = dscore_r * weight (pass dhidden = null to skip it, e.g. with the body frozen).
 */
export function mcheadBackward(
  step: Step, dhidden: Tensor | null, dweight: Tensor, dbias: Tensor, dscores: Tensor, hidden: Tensor, pos: Tensor, weight: Tensor, R: number, C: number,
): void {
  checkRows('mcheadBackward', R, C, hidden, pos, weight);
  const dtype = hidden.dtype as 'f16' | 'f32';
  if (dhidden) {
    if (dhidden.dtype !== dtype || dhidden.numel !== hidden.numel) throw new TypeError(`mcheadBackward: dhidden ${dhidden} must match hidden ${hidden}`);
    step.clear(dhidden);
    step.dispatch(scatterKernel(dtype), { dhidden, dscores, pos, weight, dims: { R, C } }, [Math.ceil(C / WG), R]);
  }
  step.dispatch(paramGradKernel(dtype), { dweight, dbias, dscores, hidden, pos, dims: { R, C } }, Math.ceil((C + 1) / WG));
}
