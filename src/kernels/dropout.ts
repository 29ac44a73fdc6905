// Dropout, elementwise (1 pass), forward and backward alike:
//   out [N] f16|f32 = inp * keep / (1 - p)       (out may be inp itself: in place)
//   inp [N] f16|f32
// keep is drawn, not stored: element e of a dropout site is kept when word e%4 of
// Philox4x32-10(counter (e/4, 0, 0, 0), key (key0, site)) is at or above round(p * 2^32). key0 is
// the stream of one training forward (run seed, step, micro-batch: util/philox.ts
// dropoutStreamKey), `site` which dropout it is (the model numbers them). The backward is the same
// kernel on the gradient with the same draw: the mask is recomputed, never saved.
// The scaling happens in f32 and is rounded once to out's type. Elements are laid out as in the
// other elementwise kernels (residual.ts): vec4 where N % 4 == 0 (one Philox call per vec4), split
// into dispatches of at most elementwiseOptions.chunk elements, the counter continuing across them.

import type { Step } from '../gpu/context';
import type { KernelSource } from '../gpu/kernel';
import { kernelSourceCache } from '../gpu/sources';
import type { Tensor } from '../gpu/tensor';
import { dropoutScale, dropoutThreshold } from '../util/philox';
import { PHILOX_WGSL } from './philox';
import { elementType, elementwiseLayout, elementwiseMain, f32Of, forEachChunk, type Float } from './residual';

/** One dropout draw: the drop probability, the forward's stream key and the site's number. */
export interface DropoutDraw {
  /** Drop probability in [0, 1); 0 draws nothing (the launcher records no dispatch). */
  p: number;
  /** Key word 0: the stream of this training forward (dropoutStreamKey(seed, step, micro)). */
  key0: number;
  /** Key word 1: the dropout site (layer and kind), so sites draw independent masks. */
  site: number;
}

const kernels = kernelSourceCache();

function dropoutKernel(out: Float, inp: Float | null, width: 1 | 4): KernelSource {
  return kernels(`${out}:${inp}:${width}`, () => {
    const src = inp === null ? 'out' : 'inp';
    const vec = elementType(out, width);
    const keep = width === 4
      ? `let keep = select(vec4f(0.0), vec4f(dims.scale), draw >= vec4u(dims.threshold));`
      : `let keep = select(0.0, dims.scale, draw[i % 4u] >= dims.threshold);`;
    return {
      name: `dropout_${out}${inp === null ? '_inplace' : `_${inp}`}${width === 4 ? '_vec4' : ''}`,
      code: /* wgsl */ `${[out, inp].includes('f16') ? 'enable f16;\n' : ''}
struct Dims { n: u32, base: u32, key0: u32, site: u32, threshold: u32, scale: f32 }
@group(0) @binding(0) var<storage, read_write> out: array<${vec}>;
${inp === null ? '' : `@group(0) @binding(1) var<storage, read> inp: array<${elementType(inp, width)}>;`}
@group(0) @binding(2) var<uniform> dims: Dims;
${PHILOX_WGSL}
${elementwiseMain(`
    let draw = philox4x32_10(vec4u(dims.base + ${width === 4 ? 'i' : 'i / 4u'}, 0u, 0u, 0u), vec2u(dims.key0, dims.site));
    ${keep}
    out[i] = ${vec}(${f32Of(width, `${src}[i]`)} * keep);`)}
`,
    };
  });
}

function floatOf(t: Tensor, what: string): Float {
  if (t.dtype !== 'f16' && t.dtype !== 'f32') throw new TypeError(`dropout: ${what} must be f16 or f32, got ${t}`);
  return t.dtype;
}

/**
 * out = dropout(inp) over N elements with `draw`'s mask, scaled by 1/(1-p); in place when out is
 * inp. The backward is the same call on the gradient. p = 0 records nothing unless out and inp
 * differ (then a plain copy is still needed, and recorded as a scale-1 pass).
 */
export function dropout(
  step: Step,
  out: Tensor, // [N] f16|f32
  inp: Tensor, // [N] f16|f32
  N: number, draw: DropoutDraw,
): void {
  for (const [t, what] of [[out, 'out'], [inp, 'inp']] as const) {
    if (t.numel !== N) throw new RangeError(`dropout: ${what} ${t} should have N = ${N} elements`);
  }
  if (N >= 2 ** 34) throw new RangeError(`dropout: N = ${N} is over the 2^34 elements one site may count`);
  const inPlace = out.buffer === inp.buffer && out.offset === inp.offset;
  if (!inPlace && out.buffer === inp.buffer && out.offset < inp.offset + inp.byteLength && inp.offset < out.offset + out.byteLength) {
    throw new RangeError('dropout: out overlaps inp without being it');
  }
  if (draw.p === 0 && inPlace) return;
  const types = [floatOf(out, 'out'), inPlace ? null : floatOf(inp, 'inp')] as const;
  const threshold = dropoutThreshold(draw.p), scale = dropoutScale(draw.p);
  const tensors = inPlace ? [out] : [out, inp];
  forEachChunk(N, tensors, (n, [o, i], start) => {
    const { width, grid } = elementwiseLayout(n);
    const dims = { n: n / width, base: start / 4, key0: draw.key0 >>> 0, site: draw.site >>> 0, threshold, scale };
    step.dispatch(dropoutKernel(...types, width), inPlace ? { out: o!, dims } : { out: o!, inp: i!, dims }, grid);
  });
}
