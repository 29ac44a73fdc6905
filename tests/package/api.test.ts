// The public API's contracts that the package promises beyond the kernels: adopting a user's
// GPUDevice (and refusing one that lacks what the kernels need), use-after-destroy errors and
// Symbol.dispose on GPUContext and GPT2, loading a model in one call from bytes, an ArrayBuffer, a
// Blob/File, a Response or a URL (the browser path), and a setup hint that fits a checkout.
import { describe, expect, it } from 'vitest';
import {
  CheckpointError, DisposedError, GPT2, GPUInitError, createGPU, gpt2Tokenizer, loadGpt2Tokenizer, loadModel, makeConfig, modelToSafetensors, presetConfig, REQUIRED_LIMITS,
} from '../../src/index';
import { loadModelFrom } from '../../src/model/index';
import { getGPU } from '../helpers/gpu';
import { precisionWorks } from '../../src/gpu/doctor';

const tiny = () => makeConfig({ nLayer: 1, nHead: 2, nEmbd: 32, nPositions: 16, vocabSize: 61 });
const B = 2, T = 8;
const inputs = Array.from({ length: B * T }, (_, i) => (i * 7) % 61);
const targets = Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % 61);

async function dawnDevice(features: GPUFeatureName[] = []): Promise<{ adapter: GPUAdapter; device: GPUDevice }> {
  const gpu = (await getGPU('f32')).gpu!;
  const adapter = (await gpu.requestAdapter())!;
  const requiredLimits = { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize };
  return { adapter, device: await adapter.requestDevice({ requiredFeatures: features, requiredLimits }) };
}

describe('createGPU({ device })', () => {
  it('adopts a device: a model runs on it, and destroy() leaves the device to its owner', async () => {
    const { adapter, device } = await dawnDevice();
    const gpu = await createGPU({ device, adapter });
    expect(gpu.device).toBe(device);
    expect(gpu.precision).toBe('f32'); // created without shader-f16, so 'auto' is f32
    expect(await precisionWorks(gpu, 'f32')).toBe(true); // a kernel runs on it (one small pipeline: compiling all of GPT-2's takes a minute here)
    const model = new GPT2(gpu, tiny());
    model.initRandom(3);
    expect((await model.parameter('wte.weight')).length).toBe(61 * 32);
    model.destroy();
    gpu.destroy();
    const b = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE }); // still usable
    device.pushErrorScope('validation');
    b.destroy();
    expect(await device.popErrorScope()).toBeNull();
    device.destroy();
  });

  it('adopts a device without its adapter, and uses shader-f16 where the device has it', async () => {
    const { device } = await dawnDevice(['shader-f16']);
    const gpu = await createGPU({ device });
    expect(gpu.precision).toBe('f16');
    expect(gpu.hasF16).toBe(true);
    gpu.destroy();
    device.destroy();
  });

  it('refuses a device below the required limits, or without shader-f16 for precision f16, naming what is missing', async () => {
    const { device } = await dawnDevice();
    const small = { features: device.features, limits: { ...REQUIRED_LIMITS, maxStorageBuffersPerShaderStage: 4 } } as unknown as GPUDevice;
    await expect(createGPU({ device: small })).rejects.toThrow(/maxStorageBuffersPerShaderStage = 4; mqg-webgpu needs at least 8/);
    await expect(createGPU({ device, precision: 'f16' })).rejects.toThrow(GPUInitError);
    await expect(createGPU({ device, precision: 'f16' })).rejects.toThrow(/without the shader-f16 feature/);
    device.destroy();
  });

  it('says how to get an adapter in a repository checkout: npm run setup', async () => {
    await expect(createGPU({ gpu: { requestAdapter: async () => null } as unknown as GPU })).rejects.toThrow(/No WebGPU adapter found\. Run `npm run setup`/);
  });
});

describe('destroy', () => {
  it('a GPUContext and a model used after destroy() throw DisposedError; Symbol.dispose destroys', async () => {
    const gpu = await createGPU({ precision: 'f32' });
    const model = new GPT2(gpu, tiny());
    model.initRandom(1);
    model[Symbol.dispose]();
    await expect(model.forward(inputs, targets, B, T)).rejects.toThrow(DisposedError);
    expect(() => model.initRandom(2)).toThrow(/this GPT2 model was destroyed/);
    model.destroy(); // idempotent
    const other = new GPT2(gpu, tiny());
    gpu[Symbol.dispose]();
    expect(gpu.isDestroyed).toBe(true);
    expect(() => gpu.tensor([4], 'f32', 'x')).toThrow(/this GPUContext was destroyed/);
    await expect(other.parameter('wte.weight')).rejects.toThrow(/the GPUContext of this GPT2 model was destroyed/);
    gpu.destroy(); // idempotent
  });
});

describe('loadModel from memory and the web', () => {
  it('loads the same weights from bytes, an ArrayBuffer, a Blob, a File, a Response and a URL', async () => {
    const gpu = await getGPU('f32');
    const model = new GPT2(gpu, tiny());
    model.initRandom(5);
    const want = await model.forward(inputs, targets, B, T);
    const bytes = (await modelToSafetensors(model)) as Uint8Array<ArrayBuffer>;
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const url = 'https://models.example/tiny.safetensors';
    const fetchImpl = (async (u: string) => (u === url ? new Response(bytes) : new Response('missing', { status: 404 }))) as unknown as typeof fetch;
    const sources = [() => bytes, () => ab, () => new Blob([bytes]), () => new File([bytes], 'tiny.safetensors'), () => new Response(bytes), () => new URL(url), () => url];
    for (const source of sources) {
      for (const load of [loadModel, loadModelFrom]) {
        const m = await load(gpu, source(), { fetch: fetchImpl });
        expect(await m.forward(inputs, targets, B, T)).toBe(want);
        m.destroy();
      }
    }
    model.destroy();
  });

  it('names the source when it cannot load: HTTP status, bad bytes, an unsupported value', async () => {
    const gpu = await getGPU('f32');
    const fetch404 = (async () => new Response('no', { status: 404, statusText: 'Not Found' })) as unknown as typeof fetch;
    await expect(loadModelFrom(gpu, 'https://models.example/gone.safetensors', { fetch: fetch404 })).rejects.toThrow(
      /cannot fetch checkpoint https:\/\/models\.example\/gone\.safetensors: HTTP 404 Not Found/,
    );
    await expect(loadModelFrom(gpu, new File([new Uint8Array(12)], 'junk.safetensors'))).rejects.toThrow(CheckpointError);
    await expect(loadModelFrom(gpu, new File([new Uint8Array(12)], 'junk.safetensors'))).rejects.toThrow(/junk\.safetensors/);
    await expect(loadModelFrom(gpu, 42 as never)).rejects.toThrow(/unsupported model source/);
  });

  it('takes a config for safetensors without one in the metadata', async () => {
    const gpu = await getGPU('f32');
    const config = presetConfig('mqg-tiny', 64);
    expect(config.nLayer).toBe(4);
    // @ts-expect-error not a preset name
    expect(() => presetConfig('gpt-5')).toThrow(/unknown model preset 'gpt-5'/);
    const model = new GPT2(gpu, tiny());
    model.initRandom(2);
    const bytes = await modelToSafetensors(model);
    const again = await loadModelFrom(gpu, bytes, { config: tiny() });
    expect(again.config.nEmbd).toBe(32);
    model.destroy();
    again.destroy();
  });
});

describe('loadGpt2Tokenizer', () => {
  it('resolves to the shared GPT-2 tokenizer', async () => {
    const tok = await loadGpt2Tokenizer();
    expect(tok).toBe(gpt2Tokenizer());
    expect(tok.encode('The heart')).toEqual([464, 2612]);
  });
});
