// Loading reuses its buffers (source/bytes.ts pooledBytes: the file reads; GPUContext's chunked f16
// upload; QuantizedBase's block scratch) and must give the model exactly what it gave without
// reuse: a model whose wte (4608 x 256, 1.18M values) and mlp weights (1 MiB each) are large enough
// to take the pooled and chunked paths, loaded at f16 and at q8_0 / q4_0, every tensor compared
// bit for bit with the checkpoint's values (f16-rounded) or with quantizeMatrix of them uploaded.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GPT2, makeConfig } from '../../src/index';
import { loadModel, readCheckpoint, saveModel } from '../../src/node';
import { drainBytePool, pooledBytes, recycleBytes } from '../../src/model/source/bytes';
import { destroyQuantizedWeight, downloadQuants, uploadQuantized } from '../../src/kernels/qmatmul';
import { quantizeMatrix, type QuantType } from '../../src/util/ggml';
import { roundToF16 } from '../../src/util/f16';
import { getGPU } from '../helpers/gpu';

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const config = makeConfig({ nLayer: 2, nHead: 4, nEmbd: 256, nPositions: 32, vocabSize: 4608 });

let saved: Promise<string> | undefined;
/** The checkpoint directory, written once for the tests here. */
const savedModel = () => (saved ??= writeModel());

async function writeModel(): Promise<string> {
  const gpu = await getGPU('f32');
  const model = new GPT2(gpu, config);
  model.initRandom(5);
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'mqg-load-reuse-')), 'model');
  await saveModel(model, dir, { maxShardSize: 3_000_000 }); // several shards, reads across files
  model.params.destroy();
  return dir;
}

describe('loading with reused buffers', () => {
  it('pooledBytes hands an idle buffer back out; foreign buffers and small reads stay out of the pool', () => {
    drainBytePool();
    const a = pooledBytes(3 << 20);
    recycleBytes(a.buffer);
    recycleBytes(new ArrayBuffer(8 << 20)); // not from the pool: ignored
    const b = pooledBytes(2 << 20);
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteLength).toBe(2 << 20);
    expect(pooledBytes(2 << 20).buffer).not.toBe(a.buffer); // a is out again
    expect(pooledBytes(100).byteLength).toBe(100);
    drainBytePool();
  });

  it('an f16 model gets every stored value rounded to f16', async () => {
    const dir = await savedModel();
    const ref = await readCheckpoint(dir);
    const gpu = await getGPU('f16');
    const model = await loadModel(gpu, dir, { training: false });
    for (const [name, v] of ref.params) expect(bits(await model.parameter(name)), name).toEqual(bits(roundToF16(Float32Array.from(v))));
    model.params.destroy();
  });

  it.each(['q8_0', 'q4_0'] as QuantType[])('a %s base gets the blocks quantizeMatrix makes of the stored weights', async (type) => {
    const dir = await savedModel();
    const ref = await readCheckpoint(dir);
    const gpu = await getGPU('f32');
    const model = await loadModel(gpu, dir, { training: false, quantize: type });
    const q = model.quantizedBase!;
    expect(q.names.length).toBe(8);
    for (const name of q.names) {
      const got = q.weight(name);
      const want = uploadQuantized(gpu, quantizeMatrix(ref.params.get(name)!, got.K, got.N, type), 'want');
      expect(Array.from(await downloadQuants(gpu, got)), `${name} quants`).toEqual(Array.from(await downloadQuants(gpu, want)));
      expect(Array.from(await gpu.download(got.scales)), `${name} scales`).toEqual(Array.from(await gpu.download(want.scales)));
      destroyQuantizedWeight(want);
    }
    for (const [name, v] of ref.params) if (!q.has(name)) expect(bits(await model.parameter(name)), name).toEqual(bits(v));
    q.destroy();
    model.params.destroy();
  });
});
