// GPT-2's GELU, tanh approximation (llm.c gelu_forward / gelu_backward), elementwise, 1 pass each:
//   gelu(x)  = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x³)
//   gelu'(x) = 0.5 (1 + tanh(u)) + 0.5 x sech²(u) sqrt(2/pi) (1 + 3·0.044715 x²)
//
// forward:  out [N] f16|f32 = gelu(inp),  inp [N] f16|f32
// backward: dinp [N] f16|f32 = gelu'(inp) * dout  (overwritten, not accumulated),
//           inp [N], dout [N]. dinp may be dout itself: then an in-place variant binds it once,
//           since WebGPU forbids binding one buffer twice when one binding is writable.
//
// Math in f32, written without tanh: 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)). That stays accurate where
// 1 + tanh(u) would cancel (x < -3; with tanh, lavapipe's gelu' there was off by ~1e-6 absolute), and it avoids the
// backends that build tanh from exp and return inf/inf = NaN for large |u|. u is clamped to ±40 so
// exp(-2u) stays finite; beyond that gelu is x or 0 to f32 precision and the sech² term of the
// gradient is dropped (x² may overflow there). Inputs above 2^24 elements are split into several
// dispatches.

import type { Step } from '../gpu/context';
import type { KernelSource } from '../gpu/kernel';
import type { Tensor } from '../gpu/tensor';
import { type Float, elementType, elementwiseLayout, elementwiseMain, f32Of, forEachChunk } from './residual';

function floatType(t: Tensor, kernel: string, what: string): Float {
  if (t.dtype !== 'f16' && t.dtype !== 'f32') throw new TypeError(`${kernel}: ${what} must be f16 or f32, got ${t}`);
  return t.dtype;
}

const GELU_MATH = /* wgsl */ `
const GELU_SCALE = 0.7978845608028654; // sqrt(2/pi)
const GELU_CUBE = 0.044715;
const ARG_CLAMP = 40.0; // exp(2 * 40) = 5.5e34 stays finite in f32

// u, clamped: past ±40 gelu is x or 0 to f32 precision anyway.
fn geluArg(x: f32) -> f32 {
  return clamp(GELU_SCALE * (x + GELU_CUBE * x * x * x), -ARG_CLAMP, ARG_CLAMP);
}

// 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)): no cancellation where tanh(u) is near -1.
fn gelu(x: f32) -> f32 {
  return x / (1.0 + exp(-2.0 * geluArg(x)));
}

// With s = 0.5 (1 + tanh(u)): sech²(u) = 4 s (1 - s), and 1 - s = exp(-2u) s.
fn geluGrad(x: f32) -> f32 {
  let u = geluArg(x);
  let e = exp(-2.0 * u);
  let s = 1.0 / (1.0 + e);
  if (abs(u) == ARG_CLAMP) { return s; } // the sech² term is below 1e-33 here, and x² may be inf
  return s + 2.0 * x * s * (e * s) * GELU_SCALE * (1.0 + 3.0 * GELU_CUBE * x * x);
}
`;

const kernels = new Map<string, KernelSource>();

function memo(key: string, make: () => KernelSource): KernelSource {
  let k = kernels.get(key);
  if (!k) kernels.set(key, (k = make()));
  return k;
}

function enables(...types: Float[]): string {
  return types.includes('f16') ? 'enable f16;\n' : '';
}

// gelu / geluGrad applied to each component of a loaded element.
function apply(fn: string, width: 1 | 4, expr: string): string {
  return width === 4 ? `vec4f(${fn}(${expr}.x), ${fn}(${expr}.y), ${fn}(${expr}.z), ${fn}(${expr}.w))` : `${fn}(${expr})`;
}

function forwardKernel(out: Float, inp: Float, width: 1 | 4): KernelSource {
  return memo(`fwd:${out}:${inp}:${width}`, () => ({
    name: `gelu_forward_${out}_${inp}${width === 4 ? '_vec4' : ''}`,
    code: /* wgsl */ `${enables(out, inp)}
struct Dims { n: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<${elementType(out, width)}>;
@group(0) @binding(1) var<storage, read> inp: array<${elementType(inp, width)}>;
@group(0) @binding(2) var<uniform> dims: Dims;
${GELU_MATH}
${elementwiseMain(`let x = ${f32Of(width, 'inp[i]')};
    out[i] = ${elementType(out, width)}(${apply('gelu', width, 'x')});`)}
`,
  }));
}

function backwardKernel(dinp: Float, inp: Float, dout: Float, width: 1 | 4): KernelSource {
  return memo(`bwd:${dinp}:${inp}:${dout}:${width}`, () => ({
    name: `gelu_backward_${dinp}_${inp}_${dout}${width === 4 ? '_vec4' : ''}`,
    code: /* wgsl */ `${enables(dinp, inp, dout)}
struct Dims { n: u32 }
@group(0) @binding(0) var<storage, read_write> dinp: array<${elementType(dinp, width)}>;
@group(0) @binding(1) var<storage, read> inp: array<${elementType(inp, width)}>;
@group(0) @binding(2) var<storage, read> dout: array<${elementType(dout, width)}>;
@group(0) @binding(3) var<uniform> dims: Dims;
${GELU_MATH}
${elementwiseMain(`let x = ${f32Of(width, 'inp[i]')};
    dinp[i] = ${elementType(dinp, width)}(${apply('geluGrad', width, 'x')} * ${f32Of(width, 'dout[i]')});`)}
`,
  }));
}

function backwardInPlaceKernel(dinp: Float, inp: Float, width: 1 | 4): KernelSource {
  return memo(`bwd-inplace:${dinp}:${inp}:${width}`, () => ({
    name: `gelu_backward_inplace_${dinp}_${inp}${width === 4 ? '_vec4' : ''}`,
    code: /* wgsl */ `${enables(dinp, inp)}
struct Dims { n: u32 }
@group(0) @binding(0) var<storage, read_write> dinp: array<${elementType(dinp, width)}>; // holds dout on entry
@group(0) @binding(1) var<storage, read> inp: array<${elementType(inp, width)}>;
@group(0) @binding(2) var<uniform> dims: Dims;
${GELU_MATH}
${elementwiseMain(`let x = ${f32Of(width, 'inp[i]')};
    dinp[i] = ${elementType(dinp, width)}(${apply('geluGrad', width, 'x')} * ${f32Of(width, 'dinp[i]')});`)}
`,
  }));
}

function expectN(kernel: string, N: number, ...tensors: [Tensor, string][]): void {
  for (const [t, what] of tensors) {
    if (t.numel !== N) throw new RangeError(`${kernel}: ${what} ${t} should have N = ${N} elements`);
  }
}

/** out = gelu(inp), elementwise over N elements. */
export function geluForward(
  step: Step,
  out: Tensor, // [N] f16|f32
  inp: Tensor, // [N] f16|f32
  N: number,
): void {
  expectN('geluForward', N, [out, 'out'], [inp, 'inp']);
  const types = [floatType(out, 'geluForward', 'out'), floatType(inp, 'geluForward', 'inp')] as const;
  forEachChunk(N, [out, inp], (n, [o, x]) => {
    const { width, grid } = elementwiseLayout(n);
    step.dispatch(forwardKernel(...types, width), { out: o!, inp: x!, dims: { n: n / width } }, grid);
  });
}

/** dinp = gelu'(inp) * dout over N elements; dinp may be the same tensor as dout (in place). */
export function geluBackward(
  step: Step,
  dinp: Tensor, // [N] f16|f32, overwritten
  inp: Tensor, // [N] f16|f32 (the forward's input)
  dout: Tensor, // [N] f16|f32, may be dinp
  N: number,
): void {
  expectN('geluBackward', N, [dinp, 'dinp'], [inp, 'inp'], [dout, 'dout']);
  const dinpType = floatType(dinp, 'geluBackward', 'dinp');
  const inpType = floatType(inp, 'geluBackward', 'inp');
  const overlaps = (a: Tensor, b: Tensor) => a.buffer === b.buffer && a.offset < b.offset + b.byteLength && b.offset < a.offset + a.byteLength;
  if (overlaps(dinp, inp)) throw new RangeError(`geluBackward: dinp ${dinp} overlaps inp ${inp}`);
  if (overlaps(dinp, dout)) {
    if (dinp.offset !== dout.offset || dinp.dtype !== dout.dtype) {
      throw new RangeError(`geluBackward: dinp ${dinp} and dout ${dout} overlap without being the same tensor`);
    }
    forEachChunk(N, [dinp, inp], (n, [d, x]) => {
      const { width, grid } = elementwiseLayout(n);
      step.dispatch(backwardInPlaceKernel(dinpType, inpType, width), { dinp: d!, inp: x!, dims: { n: n / width } }, grid);
    });
    return;
  }
  const doutType = floatType(dout, 'geluBackward', 'dout');
  forEachChunk(N, [dinp, inp, dout], (n, [d, x, g]) => {
    const { width, grid } = elementwiseLayout(n);
    step.dispatch(backwardKernel(dinpType, inpType, doutType, width), { dinp: d!, inp: x!, dout: g!, dims: { n: n / width } }, grid);
  });
}
