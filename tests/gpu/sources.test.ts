// The kernel-source helper (src/gpu/sources.ts): each module's cache builds a source once per key
// and hands out the same object (the pipeline cache's fast path); the one test hook rewrites a
// kernel's WGSL by name as it is built, and setting or removing it rebuilds every cached source.
import { afterEach, describe, expect, it } from 'vitest';
import { kernelSourceCache, setKernelSourceHook } from '../../src/gpu/sources';

afterEach(() => setKernelSourceHook(null));

describe('kernel sources', () => {
  it('are built once per key and reused, per module', () => {
    const a = kernelSourceCache(), b = kernelSourceCache();
    let built = 0;
    const make = (name: string) => () => (built++, { name, code: `// ${name}` });
    const first = a('k', make('one'));
    expect(a('k', make('other'))).toBe(first);
    expect(built).toBe(1);
    expect(b('k', make('two')).name).toBe('two'); // another module's cache: its own keys
    expect(built).toBe(2);
  });

  it('the hook rewrites the WGSL of the kernels it names; setting and removing it rebuilds', () => {
    const cache = kernelSourceCache();
    const src = (name: string) => cache(name, () => ({ name, code: `fn main() { ${name}(); }` }));
    const plain = src('attention_forward_f32');
    src('layernorm_forward_f32');
    setKernelSourceHook((name, code) => (name.startsWith('attention') ? code.replace('_f32()', '_f32(2.0)') : code));
    const hooked = src('attention_forward_f32');
    expect(hooked).not.toBe(plain);
    expect(hooked).toEqual({ name: 'attention_forward_f32', code: 'fn main() { attention_forward_f32(2.0); }' });
    expect(src('layernorm_forward_f32').code).toBe('fn main() { layernorm_forward_f32(); }');
    expect(src('attention_forward_f32')).toBe(hooked); // built once while the hook stays
    setKernelSourceHook(null);
    expect(src('attention_forward_f32')).toEqual(plain);
  });
});
