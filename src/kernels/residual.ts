// Residual addition, elementwise (1 pass):
//   out  [N] f16|f32  = inp1 + inp2
//   inp1 [N] f16|f32
//   inp2 [N] f16|f32
// The sum is formed in f32 and rounded once to out's type.
//
// Shared by the elementwise kernels (this one and gelu): vec4 access where N % 4 == 0, each
// invocation handling PER_THREAD vectors (or scalars) spaced a workgroup apart, so that on lavapipe
// the per-invocation and per-workgroup overheads are spread over 16 elements while neighbouring
// invocations still touch neighbouring memory. Inputs above 2^24 elements are split into several
// dispatches on 256-byte-aligned views, so no binding passes the default 128 MiB limit.
//
// The backward of a residual add is the identity on both branches. No kernel does it: the model
// keeps one `dresidual` buffer that the layernorm backward accumulates into (+=) and that the
// projection matmuls read as their dout, as llm.c's CUDA trainer does.

import type { Step } from '../gpu/context';
import type { KernelSource } from '../gpu/kernel';
import { kernelSourceCache } from '../gpu/sources';
import type { Tensor } from '../gpu/tensor';

const WG = 64;
/** Vectors (or scalars) per invocation. */
const PER_THREAD = 4;
/**
 * For tests: `vec4: false` forces the scalar kernels; `chunk` is the most elements per dispatch
 * (2^24 f32 = 64 MiB per binding; a multiple of 128 keeps every f16 view 256-byte aligned and vec4
 * aligned).
 */
export const elementwiseOptions = { vec4: true, chunk: 1 << 24 };

export type Float = 'f16' | 'f32';

function floatType(t: Tensor, kernel: string, what: string): Float {
  if (t.dtype !== 'f16' && t.dtype !== 'f32') throw new TypeError(`${kernel}: ${what} must be f16 or f32, got ${t}`);
  return t.dtype;
}

/** How an elementwise kernel covers n elements: vector width, and the workgroup grid (2D past 65535). */
export function elementwiseLayout(n: number): { width: 1 | 4; grid: [number, number] } {
  const width = n % 4 === 0 && elementwiseOptions.vec4 ? 4 : 1;
  const groups = Math.ceil(n / (width * WG * PER_THREAD));
  const x = Math.min(groups, 65535);
  return { width, grid: [x, Math.ceil(groups / x)] };
}

/** WGSL: the value of a loaded element in f32 arithmetic. */
export function f32Of(width: 1 | 4, expr: string): string {
  return width === 4 ? `vec4f(${expr})` : `f32(${expr})`;
}

/** WGSL storage type of one element of an elementwise kernel. */
export function elementType(t: Float, width: 1 | 4): string {
  return width === 4 ? `vec4<${t}>` : t;
}

/**
 * The entry point of an elementwise kernel: `body` runs for each index i (in units of the vector
 * width) below dims.n, with f32 arithmetic on whatever it loads.
 */
export function elementwiseMain(body: string): string {
  return /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) lid: u32) {
  let first = (wg.x + wg.y * groups.x) * ${WG * PER_THREAD}u + lid;
  for (var k = 0u; k < ${PER_THREAD}u; k++) {
    let i = first + k * ${WG}u;
    if (i >= dims.n) { return; }
    ${body}
  }
}`;
}

/**
 * Calls `dispatch(n, views, start)` once per chunk of at most elementwiseOptions.chunk elements, with
 * each tensor viewed at the chunk's start (element `start` of the whole).
 */
export function forEachChunk(N: number, tensors: Tensor[], dispatch: (n: number, views: Tensor[], start: number) => void): void {
  const chunk = elementwiseOptions.chunk;
  if (N <= chunk) {
    dispatch(N, tensors, 0);
    return;
  }
  for (let start = 0; start < N; start += chunk) {
    const n = Math.min(chunk, N - start);
    dispatch(n, tensors.map((t) => t.view([n], start)), start);
  }
}

const kernels = kernelSourceCache();

function residualKernel(out: Float, inp1: Float, inp2: Float, width: 1 | 4): KernelSource {
  return kernels(`${out}:${inp1}:${inp2}:${width}`, () => {
    const f16 = [out, inp1, inp2].includes('f16');
    return {
      name: `residual_forward_${out}_${inp1}_${inp2}${width === 4 ? '_vec4' : ''}`,
      code: /* wgsl */ `${f16 ? 'enable f16;\n' : ''}
struct Dims { n: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<${elementType(out, width)}>;
@group(0) @binding(1) var<storage, read> inp1: array<${elementType(inp1, width)}>;
@group(0) @binding(2) var<storage, read> inp2: array<${elementType(inp2, width)}>;
@group(0) @binding(3) var<uniform> dims: Dims;
${elementwiseMain(`out[i] = ${elementType(out, width)}(${f32Of(width, 'inp1[i]')} + ${f32Of(width, 'inp2[i]')});`)}
`,
    };
  });
}

/** out = inp1 + inp2, elementwise over N elements. out must not alias an input. */
export function residualForward(
  step: Step,
  out: Tensor, // [N] f16|f32
  inp1: Tensor, // [N] f16|f32
  inp2: Tensor, // [N] f16|f32
  N: number,
): void {
  for (const [t, what] of [[out, 'out'], [inp1, 'inp1'], [inp2, 'inp2']] as const) {
    if (t.numel !== N) throw new RangeError(`residualForward: ${what} ${t} should have N = ${N} elements`);
  }
  const types = [floatType(out, 'residualForward', 'out'), floatType(inp1, 'residualForward', 'inp1'), floatType(inp2, 'residualForward', 'inp2')] as const;
  forEachChunk(N, [out, inp1, inp2], (n, [o, a, b]) => {
    const { width, grid } = elementwiseLayout(n);
    step.dispatch(residualKernel(...types, width), { out: o!, inp1: a!, inp2: b!, dims: { n: n / width } }, grid);
  });
}
