// Philox4x32-10 in WGSL: the counter-based generator of src/util/philox.ts (the CPU twin, checked
// against Random123's known-answer vectors), as a snippet kernels paste in, and a kernel that fills
// a buffer with its outputs so tests can compare GPU and CPU word for word.
//   out [4n] u32: out[4g..4g+3] = philox4x32_10(vec4u(g, c1, c2, c3), vec2u(k0, k1)), g < n
// WGSL has no 64-bit integers: the high word of each 32x32 product is formed from 16-bit halves.

import type { Step } from '../gpu/context';
import type { KernelSource } from '../gpu/kernel';
import { kernelSourceCache } from '../gpu/sources';
import type { Tensor } from '../gpu/tensor';
import { PHILOX_M0, PHILOX_M1, PHILOX_W0, PHILOX_W1 } from '../util/philox';

const hex = (x: number) => `0x${x.toString(16)}u`;

/** WGSL functions `philox_mulhilo(a, b) -> vec2u(hi, lo)` and `philox4x32_10(ctr: vec4u, key: vec2u) -> vec4u`. */
export const PHILOX_WGSL = /* wgsl */ `
fn philox_mulhilo(a: u32, b: u32) -> vec2u {
  let al = a & 0xffffu; let ah = a >> 16u;
  let bl = b & 0xffffu; let bh = b >> 16u;
  let lh = al * bh; let hl = ah * bl;
  let cross = ((al * bl) >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return vec2u(ah * bh + (lh >> 16u) + (hl >> 16u) + (cross >> 16u), a * b);
}

fn philox4x32_10(ctr: vec4u, key: vec2u) -> vec4u {
  var c = ctr;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) { k += vec2u(${hex(PHILOX_W0)}, ${hex(PHILOX_W1)}); }
    let p0 = philox_mulhilo(${hex(PHILOX_M0)}, c.x);
    let p1 = philox_mulhilo(${hex(PHILOX_M1)}, c.z);
    c = vec4u(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
  }
  return c;
}
`;

const kernels = kernelSourceCache();

function philoxFillKernel(): KernelSource {
  return kernels('fill', () => ({
    name: 'philox_fill',
    code: /* wgsl */ `
struct Dims { n: u32, k0: u32, k1: u32, c1: u32, c2: u32, c3: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<vec4u>;
@group(0) @binding(1) var<uniform> dims: Dims;
${PHILOX_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let g = id.x;
  if (g >= dims.n) { return; }
  out[g] = philox4x32_10(vec4u(g, dims.c1, dims.c2, dims.c3), vec2u(dims.k0, dims.k1));
}
`,
  }));
}

/** out[4g..4g+3] = Philox4x32-10 of counter (g, c1, c2, c3) under key (k0, k1), for g < n (n < 65535*64). */
export function philoxFill(
  step: Step,
  out: Tensor, // [4n] u32
  n: number, key: [number, number], counter: [number, number, number] = [0, 0, 0],
): void {
  if (out.dtype !== 'u32' || out.numel !== 4 * n) throw new RangeError(`philoxFill: out ${out} should be [${4 * n}] u32`);
  step.dispatch(philoxFillKernel(), { out, dims: { n, k0: key[0], k1: key[1], c1: counter[0], c2: counter[1], c3: counter[2] } }, [Math.ceil(n / 64), 1]);
}
