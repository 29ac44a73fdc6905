// The MLP activations of HF GPT-2 (config.json `activation_function`), elementwise, 1 pass each:
//   gelu_new = gelu_pytorch_tanh (llm.c's GELU, the default):
//            gelu(x)  = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x³)
//            gelu'(x) = 0.5 (1 + tanh(u)) + 0.5 x sech²(u) sqrt(2/pi) (1 + 3·0.044715 x²)
//   gelu   exact:  x Φ(x), Φ(x) = erfc(-x/√2) / 2;  d/dx = Φ(x) + x φ(x), φ(x) = exp(-x²/2) / √(2π)
//   relu   max(x, 0);  d/dx = 1 for x > 0, else 0 (torch's choice at 0)
//   silu   x σ(x);  d/dx = σ(x) (1 + x (1 - σ(x)))
//
// forward:  out [N] f16|f32 = act(inp),  inp [N] f16|f32
// backward: dinp [N] f16|f32 = act'(inp) * dout  (overwritten, not accumulated),
//           inp [N], dout [N]. dinp may be dout itself: then an in-place variant binds it once,
//           since WebGPU forbids binding one buffer twice when one binding is writable.
// The model runs its activation in the c_fc matmul's epilogue and the backward in c_proj's (matmul.ts);
// these standalone passes are for other callers (any elementwise activation of a tensor).
//
// Math in f32. tanh GELU is written without tanh: 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)). That stays
// accurate where 1 + tanh(u) would cancel (x < -3; with tanh, lavapipe's gelu' there was off by ~1e-6
// absolute), and it avoids the backends that build tanh from exp and return inf/inf = NaN for large
// |u|. u is clamped to ±40 so exp(-2u) stays finite; beyond that gelu is x or 0 to f32 precision and
// the sech² term of the gradient is dropped (x² may overflow there). The exact GELU's erfc is
// Numerical Recipes' erfcc (a Chebyshev fit, relative error < 1.2e-7 for every argument), so Φ stays
// accurate in the far negative tail where 1 + erf would cancel. Inputs above 2^24 elements are split
// into several dispatches.

import type { Step } from '../gpu/context';
import type { KernelSource } from '../gpu/kernel';
import { kernelSourceCache } from '../gpu/sources';
import type { Tensor } from '../gpu/tensor';
import type { Activation } from '../util/activation';
import { type Float, elementType, elementwiseLayout, elementwiseMain, f32Of, forEachChunk } from './residual';

function floatType(t: Tensor, kernel: string, what: string): Float {
  if (t.dtype !== 'f16' && t.dtype !== 'f32') throw new TypeError(`${kernel}: ${what} must be f16 or f32, got ${t}`);
  return t.dtype;
}

const TANH_GELU = /* wgsl */ `
const GELU_SCALE = 0.7978845608028654; // sqrt(2/pi)
const GELU_CUBE = 0.044715;
const ARG_CLAMP = 40.0; // exp(2 * 40) = 5.5e34 stays finite in f32

// u, clamped: past ±40 gelu is x or 0 to f32 precision anyway.
fn geluArg(x: f32) -> f32 {
  return clamp(GELU_SCALE * (x + GELU_CUBE * x * x * x), -ARG_CLAMP, ARG_CLAMP);
}

// 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)): no cancellation where tanh(u) is near -1.
fn act(x: f32) -> f32 {
  return x / (1.0 + exp(-2.0 * geluArg(x)));
}

// With s = 0.5 (1 + tanh(u)): sech²(u) = 4 s (1 - s), and 1 - s = exp(-2u) s.
fn actGrad(x: f32) -> f32 {
  let u = geluArg(x);
  let e = exp(-2.0 * u);
  let s = 1.0 / (1.0 + e);
  if (abs(u) == ARG_CLAMP) { return s; } // the sech² term is below 1e-33 here, and x² may be inf
  return s + 2.0 * x * s * (e * s) * GELU_SCALE * (1.0 + 3.0 * GELU_CUBE * x * x);
}
`;

const ERF_GELU = /* wgsl */ `
// erfc(z) for z >= 0 (Numerical Recipes' erfcc, relative error < 1.2e-7); 0 once exp underflows.
fn erfcPos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
          t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(p - z * z);
}

// Φ(x) = erfc(-x/√2) / 2, from the tail that does not cancel.
fn normalCdf(x: f32) -> f32 {
  let z = abs(x) * 0.7071067811865476;
  let tail = 0.5 * erfcPos(z);
  return select(1.0 - tail, tail, x < 0.0);
}

fn act(x: f32) -> f32 {
  return x * normalCdf(x);
}

fn actGrad(x: f32) -> f32 {
  let pdf = 0.3989422804014327 * exp(-0.5 * min(x * x, 1e4)); // exp(-5000) is 0 either way; x² may be inf
  return normalCdf(x) + x * pdf;
}
`;

const ACTIVATION_MATH: Record<Activation, string> = {
  gelu_new: TANH_GELU,
  gelu_pytorch_tanh: TANH_GELU,
  gelu: ERF_GELU,
  relu: /* wgsl */ `
fn act(x: f32) -> f32 { return max(x, 0.0); }
fn actGrad(x: f32) -> f32 { return select(0.0, 1.0, x > 0.0); }
`,
  silu: /* wgsl */ `
// σ(x) = 1 / (1 + exp(-x)): exp overflows to inf for x < -88 and σ is then 0, as it should be.
fn sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn act(x: f32) -> f32 { return x * sigmoid(x); }
fn actGrad(x: f32) -> f32 {
  let s = sigmoid(x);
  return s * (1.0 + x * (1.0 - s));
}
`,
};

/** The activations whose forward the matmul's GELU epilogue computes (the tanh form). */
export function isTanhGelu(act: Activation): boolean {
  return act === 'gelu_new' || act === 'gelu_pytorch_tanh';
}

function mathOf(act: Activation): string {
  const m = ACTIVATION_MATH[act];
  if (!m) throw new TypeError(`activation '${String(act)}' is not one of ${Object.keys(ACTIVATION_MATH).join(', ')}`);
  return m;
}

/** Kernel-name stem: the two tanh spellings share one pipeline. */
function stem(act: Activation): string {
  return isTanhGelu(act) ? 'gelu' : act === 'gelu' ? 'gelu_erf' : act;
}

const memo = kernelSourceCache();

function enables(...types: Float[]): string {
  return types.includes('f16') ? 'enable f16;\n' : '';
}

// act / actGrad applied to each component of a loaded element.
function apply(fn: string, width: 1 | 4, expr: string): string {
  return width === 4 ? `vec4f(${fn}(${expr}.x), ${fn}(${expr}.y), ${fn}(${expr}.z), ${fn}(${expr}.w))` : `${fn}(${expr})`;
}

function forwardKernel(act: Activation, out: Float, inp: Float, width: 1 | 4): KernelSource {
  return memo(`fwd:${stem(act)}:${out}:${inp}:${width}`, () => ({
    name: `${stem(act)}_forward_${out}_${inp}${width === 4 ? '_vec4' : ''}`,
    code: /* wgsl */ `${enables(out, inp)}
struct Dims { n: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<${elementType(out, width)}>;
@group(0) @binding(1) var<storage, read> inp: array<${elementType(inp, width)}>;
@group(0) @binding(2) var<uniform> dims: Dims;
${mathOf(act)}
${elementwiseMain(`let x = ${f32Of(width, 'inp[i]')};
    out[i] = ${elementType(out, width)}(${apply('act', width, 'x')});`)}
`,
  }));
}

function backwardKernel(act: Activation, dinp: Float, inp: Float, dout: Float, width: 1 | 4): KernelSource {
  return memo(`bwd:${stem(act)}:${dinp}:${inp}:${dout}:${width}`, () => ({
    name: `${stem(act)}_backward_${dinp}_${inp}_${dout}${width === 4 ? '_vec4' : ''}`,
    code: /* wgsl */ `${enables(dinp, inp, dout)}
struct Dims { n: u32 }
@group(0) @binding(0) var<storage, read_write> dinp: array<${elementType(dinp, width)}>;
@group(0) @binding(1) var<storage, read> inp: array<${elementType(inp, width)}>;
@group(0) @binding(2) var<storage, read> dout: array<${elementType(dout, width)}>;
@group(0) @binding(3) var<uniform> dims: Dims;
${mathOf(act)}
${elementwiseMain(`let x = ${f32Of(width, 'inp[i]')};
    dinp[i] = ${elementType(dinp, width)}(${apply('actGrad', width, 'x')} * ${f32Of(width, 'dout[i]')});`)}
`,
  }));
}

function backwardInPlaceKernel(act: Activation, dinp: Float, inp: Float, width: 1 | 4): KernelSource {
  return memo(`bwd-inplace:${stem(act)}:${dinp}:${inp}:${width}`, () => ({
    name: `${stem(act)}_backward_inplace_${dinp}_${inp}${width === 4 ? '_vec4' : ''}`,
    code: /* wgsl */ `${enables(dinp, inp)}
struct Dims { n: u32 }
@group(0) @binding(0) var<storage, read_write> dinp: array<${elementType(dinp, width)}>; // holds dout on entry
@group(0) @binding(1) var<storage, read> inp: array<${elementType(inp, width)}>;
@group(0) @binding(2) var<uniform> dims: Dims;
${mathOf(act)}
${elementwiseMain(`let x = ${f32Of(width, 'inp[i]')};
    dinp[i] = ${elementType(dinp, width)}(${apply('actGrad', width, 'x')} * ${f32Of(width, 'dinp[i]')});`)}
`,
  }));
}

function expectN(kernel: string, N: number, ...tensors: [Tensor, string][]): void {
  for (const [t, what] of tensors) {
    if (t.numel !== N) throw new RangeError(`${kernel}: ${what} ${t} should have N = ${N} elements`);
  }
}

/** out = act(inp), elementwise over N elements (default: GPT-2's tanh GELU). */
export function activationForward(
  step: Step,
  out: Tensor, // [N] f16|f32
  inp: Tensor, // [N] f16|f32
  N: number,
  act: Activation = 'gelu_new',
): void {
  expectN('activationForward', N, [out, 'out'], [inp, 'inp']);
  const types = [floatType(out, 'activationForward', 'out'), floatType(inp, 'activationForward', 'inp')] as const;
  forEachChunk(N, [out, inp], (n, [o, x]) => {
    const { width, grid } = elementwiseLayout(n);
    step.dispatch(forwardKernel(act, ...types, width), { out: o!, inp: x!, dims: { n: n / width } }, grid);
  });
}

/** dinp = act'(inp) * dout over N elements; dinp may be the same tensor as dout (in place). */
export function activationBackward(
  step: Step,
  dinp: Tensor, // [N] f16|f32, overwritten
  inp: Tensor, // [N] f16|f32 (the forward's input)
  dout: Tensor, // [N] f16|f32, may be dinp
  N: number,
  act: Activation = 'gelu_new',
): void {
  expectN('activationBackward', N, [dinp, 'dinp'], [inp, 'inp'], [dout, 'dout']);
  const dinpType = floatType(dinp, 'activationBackward', 'dinp');
  const inpType = floatType(inp, 'activationBackward', 'inp');
  const overlaps = (a: Tensor, b: Tensor) => a.buffer === b.buffer && a.offset < b.offset + b.byteLength && b.offset < a.offset + a.byteLength;
  if (overlaps(dinp, inp)) throw new RangeError(`activationBackward: dinp ${dinp} overlaps inp ${inp}`);
  if (overlaps(dinp, dout)) {
    if (dinp.offset !== dout.offset || dinp.dtype !== dout.dtype) {
      throw new RangeError(`activationBackward: dinp ${dinp} and dout ${dout} overlap without being the same tensor`);
    }
    forEachChunk(N, [dinp, inp], (n, [d, x]) => {
      const { width, grid } = elementwiseLayout(n);
      step.dispatch(backwardInPlaceKernel(act, dinpType, inpType, width), { dinp: d!, inp: x!, dims: { n: n / width } }, grid);
    });
    return;
  }
  const doutType = floatType(dout, 'activationBackward', 'dout');
  forEachChunk(N, [dinp, inp, dout], (n, [d, x, g]) => {
    const { width, grid } = elementwiseLayout(n);
    step.dispatch(backwardKernel(act, dinpType, inpType, doutType, width), { dinp: d!, inp: x!, dout: g!, dims: { n: n / width } }, grid);
  });
}

/** out = gelu(inp), GPT-2's tanh form. */
export function geluForward(step: Step, out: Tensor, inp: Tensor, N: number): void {
  activationForward(step, out, inp, N, 'gelu_new');
}

/** dinp = gelu'(inp) * dout, GPT-2's tanh form; dinp may be dout. */
export function geluBackward(step: Step, dinp: Tensor, inp: Tensor, dout: Tensor, N: number): void {
  activationBackward(step, dinp, inp, dout, N, 'gelu_new');
}
