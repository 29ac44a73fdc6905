// The kernel runtime: dispatch round trips in both precisions, binding validation, errors that
// name their kernel, uniform packing, caching and the profiler.
import { describe, expect, it } from 'vitest';
import { BindingError, GPUInitError, createGPU } from '../../src/index';
import { PRECISIONS, getGPU } from '../helpers/gpu';
import { lavapipeVectorWidth } from '../../src/gpu/lavapipe';

const axpy = (t: 'f16' | 'f32') => ({
  name: `axpy_${t}`,
  code: `${t === 'f16' ? 'enable f16;' : ''}
struct Params { n: u32, alpha: f32, offset: i32 }
@group(0) @binding(0) var<storage, read_write> y: array<${t}>;
@group(0) @binding(1) var<storage, read> x: array<${t}>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < params.n) { y[gid.x] = ${t}(params.alpha * f32(x[gid.x]) + f32(params.offset)) + y[gid.x]; }
}`,
});

describe.each(PRECISIONS)('dispatch round trip (%s)', (t) => {
  it('computes y = alpha*x + offset + y on 1000 elements', async () => {
    const gpu = await getGPU(t);
    const n = 1000;
    const x = Array.from({ length: n }, (_, i) => (i % 17) - 8);
    const y0 = Array.from({ length: n }, (_, i) => (i % 5) * 0.5);
    const xt = gpu.tensor([n], t, 'x', x);
    const yt = gpu.tensor([n], t, 'y', y0);
    const src = axpy(t);
    const step = gpu.step('axpy');
    step.dispatch(src, { y: yt, x: xt, params: { n, alpha: 0.25, offset: -3 } }, Math.ceil(n / 64));
    step.dispatch(src, { y: yt, x: xt, params: { n, alpha: 0.25, offset: -3 } }, Math.ceil(n / 64));
    step.submit();
    const got = await gpu.download(yt);
    expect(got).toHaveLength(n);
    for (let i = 0; i < n; i++) expect(got[i]).toBe(2 * (0.25 * x[i]! - 3) + y0[i]!); // exact in both precisions
    expect(gpu.kernel(src)).toBe(gpu.kernel({ ...src })); // the pipeline cache is keyed by source
  });
});

describe('binding validation', () => {
  it('names the kernel and the binding for missing, extra and wrongly typed bindings', async () => {
    const gpu = await getGPU('f32');
    const x = gpu.tensor([4], 'f32', 'x', [1, 2, 3, 4]);
    const y = gpu.tensor([4], 'f32', 'y');
    const xi = gpu.tensor([4], 'i32', 'xi');
    const src = axpy('f32');
    const params = { n: 4, alpha: 1, offset: 0 };
    const step = gpu.step();
    expect(() => step.dispatch(src, { y, params } as any, 1)).toThrow(/kernel "axpy_f32": missing binding "x"/);
    expect(() => step.dispatch(src, { y, x, params, z: x }, 1)).toThrow(/kernel "axpy_f32": unexpected binding "z"/);
    expect(() => step.dispatch(src, { y, x: xi, params }, 1)).toThrow(/binding "x" holds f32 but was given Tensor\(xi: i32\[4\]\)/);
    expect(() => step.dispatch(src, { y, x: params, params } as any, 1)).toThrow(/binding "x" is a read-only-storage buffer; got a plain object/);
    expect(() => step.dispatch(src, { y, x, params: x }, 1)).toThrow(/binding "params" is a uniform struct/);
    expect(() => step.dispatch(src, { y, x, params: { n: 4, alpha: 1 } }, 1)).toThrow(/uniform "params" is missing field "offset"/);
    expect(() => step.dispatch(src, { y, x, params: { ...params, beta: 2 } }, 1)).toThrow(/uniform "params" has no field "beta"/);
    expect(() => step.dispatch(src, { y, x, params: { ...params, n: -1 } }, 1)).toThrow(/field "n" is u32 but got -1/);
    expect(() => step.dispatch(src, { y, x, params }, 70000)).toThrow(/kernel "axpy_f32": dispatch grid \[70000, 1, 1\]/);
    expect(() => step.dispatch(src, { y, x, params }, 1)).not.toThrow();
    step.submit();
    expect(Array.from(await gpu.download(y))).toEqual([1, 2, 3, 4]);
    const e = (() => { try { step.dispatch(src, { y }, 1); } catch (err) { return err; } })();
    expect(e).toBeInstanceOf(Error);
  });

  it('rejects a binding over the device per-binding limit before WebGPU does', async () => {
    const gpu = await getGPU('f32');
    const limit = gpu.limits.maxStorageBufferBindingSize!;
    const fake = { buffer: { mapAsync() {}, size: limit + 64, usage: GPUBufferUsage.STORAGE, label: 'huge' } as unknown as GPUBuffer, size: limit + 16 };
    expect(() => gpu.step().dispatch(axpy('f32'), { y: fake, x: fake, params: { n: 1, alpha: 1, offset: 0 } }, 1)).toThrow(
      new RegExp(`binding "y" is ${limit + 16} bytes, over the device's ${limit}-byte limit`),
    );
  });

  it('a WebGPU validation error names the kernel that caused it', async () => {
    const gpu = await getGPU('f32');
    const a = gpu.tensor([4], 'f32', 'aliased');
    const src = {
      name: 'aliasing_kernel',
      code: `@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;
@compute @workgroup_size(1) fn main() { p[0] = q[1]; }`,
    };
    // Binding one buffer to two writable bindings is only caught by WebGPU itself.
    const attempt = async () => {
      gpu.run(src, { p: a, q: a }, 1);
      await gpu.sync();
    };
    await expect(attempt()).rejects.toThrow(/aliasing_kernel/);
    // The context is usable again afterwards.
    await expect(gpu.sync()).resolves.toBeUndefined();
  });
});

describe('device', () => {
  it('reports f16 requested where shader-f16 is missing', async () => {
    const gpu = await getGPU('f32');
    const noF16 = { requestAdapter: async () => new Proxy((await gpu.gpu!.requestAdapter())!, {
      get(target, prop) {
        if (prop === 'features') return new Set([...target.features].filter((f) => f !== 'shader-f16'));
        const v = (target as any)[prop];
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) } as unknown as GPU;
    await expect(createGPU({ precision: 'f16', gpu: noF16 })).rejects.toThrow(/precision "f16" was requested but the adapter .* does not offer shader-f16/);
    const auto = await createGPU({ precision: 'auto', gpu: noF16 });
    expect(auto.precision).toBe('f32');
    auto.destroy();
  });

  it('says how to install a driver when there is no adapter', async () => {
    const none = { requestAdapter: async () => null } as unknown as GPU;
    const err = await createGPU({ gpu: none }).catch((e) => e);
    expect(err).toBeInstanceOf(GPUInitError);
    expect(err.message).toMatch(/No WebGPU adapter found.*npm run setup/);
  });

  it('raises on every call after the device is lost, never hangs', async () => {
    const gpu = await createGPU({ precision: 'f32' });
    const t = gpu.tensor([4], 'f32', 't', [1, 2, 3, 4]);
    gpu.device.destroy();
    await new Promise((r) => setTimeout(r, 50));
    await expect(gpu.download(t)).rejects.toThrow(/device (lost|was destroyed)/i);
    expect(() => gpu.step()).toThrow(/device/i);
  });

  it('dumps generated WGSL through the dump hook', async () => {
    const dumped: string[] = [];
    const gpu = await createGPU({ precision: 'f32', dumpWgsl: (name, code) => dumped.push(`${name}:${code.length}`) });
    const src = axpy('f32');
    gpu.kernel(src);
    gpu.kernel(src);
    expect(dumped).toEqual([`axpy_f32:${src.code.length}`]);
    gpu.destroy();
  });

  it('profiles each kernel with GPU timestamps', async () => {
    const gpu = await getGPU('f32', true);
    if (!gpu.hasTimestamps) return expect(gpu.profiler).toBeUndefined();
    const x = gpu.tensor([256], 'f32', 'x');
    const y = gpu.tensor([256], 'f32', 'y');
    const step = gpu.step();
    step.dispatch(axpy('f32'), { y, x, params: { n: 256, alpha: 1, offset: 1 } }, 4);
    step.dispatch(axpy('f32'), { y, x, params: { n: 256, alpha: 2, offset: 1 } }, 4);
    step.submit();
    await gpu.sync();
    const times = await gpu.profiler!.collect();
    expect(times.map((t) => t.name)).toEqual(['axpy_f32', 'axpy_f32']);
    for (const t of times) expect(t.ms).toBeGreaterThanOrEqual(0);
    expect(Array.from(await gpu.download(y)).slice(0, 2)).toEqual([2, 2]);
  });
});

describe('lavapipe vector width (gpu/lavapipe.ts)', () => {
  const cpu = (flags: string) => `processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: ${flags}\n`;
  it('512-bit vectors where the CPU has AVX-512 and LP_NATIVE_VECTOR_WIDTH is unset; never over the user\'s choice', () => {
    expect(lavapipeVectorWidth({}, () => cpu('fpu sse2 avx2 fma avx512f avx512dq avx512vl'))).toBe('512');
    expect(lavapipeVectorWidth({}, () => cpu('fpu sse2 avx2 fma'))).toBeUndefined();
    expect(lavapipeVectorWidth({}, () => cpu('fpu avx512_bf16 avx2'))).toBeUndefined(); // avx512f itself is required
    expect(lavapipeVectorWidth({ LP_NATIVE_VECTOR_WIDTH: '256' }, () => cpu('avx512f'))).toBeUndefined();
    expect(lavapipeVectorWidth({}, () => { throw new Error('ENOENT /proc/cpuinfo'); })).toBeUndefined();
  });
});
