// The URL loader (src/model/source/url.ts) against a loopback server: every read is one ranged
// GET, a server that ignores Range and a missing file are one-line errors naming the URL, and the
// hf-biomedlm-tiny directory (two shards and an index) opened by URL gives the same parameters and,
// quantized to q4_0 as it arrives, the same model as loading the directory from disk.
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, loadModelFromUrl, type UrlLoadProgress } from '../../src/index';
import { loadParams, openCheckpointFrom, openModelUrl, paramShapes, urlSource } from '../../src/model/index';
import { loadModel, readCheckpoint } from '../../src/node';
import { getGPU } from '../helpers/gpu';
import { startRangeServer, type RangeServer } from '../helpers/range-server';

const FIXTURES = path.resolve(__dirname, '../fixtures');
const MODEL = path.join(FIXTURES, 'hf-biomedlm-tiny/model');
const SHARDS = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
const PROBE = 64 << 10; // url.ts's first ranged GET
const GOLDEN_BIN = path.resolve(__dirname, '../../../shared/golden/hf-biomedlm-tiny/model-bin');
if (!existsSync(GOLDEN_BIN)) console.warn(`skipping the torch.save-by-URL case: ${GOLDEN_BIN} is absent`);

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

describe('urlSource and openModelUrl over a loopback server', () => {
  let server: RangeServer;
  let plain: RangeServer;
  beforeAll(async () => {
    server = await startRangeServer(FIXTURES);
    plain = await startRangeServer(FIXTURES, { ignoreRange: true });
  });
  afterAll(async () => {
    await server.close();
    await plain.close();
  });

  it('reads byte ranges: size from Content-Range, every GET ranged, bytes equal the file', async () => {
    const file = readFileSync(path.join(MODEL, SHARDS[0]!));
    const url = `${server.url}/hf-biomedlm-tiny/model/${SHARDS[0]}`;
    server.requests.length = 0;
    const src = await urlSource(url);
    expect(src.name).toBe(url);
    expect(src.size).toBe(file.length);
    for (const [offset, length] of [[0, 8], [100, 1000], [PROBE - 10, 20], [200_000, 4096], [file.length - 7, 7]] as const) {
      expect(Buffer.from(await src.read(offset, length)).equals(file.subarray(offset, offset + length)), `${offset}+${length}`).toBe(true);
    }
    await expect(src.read(file.length - 4, 8)).rejects.toThrow(`${url} is truncated`);
    // the probe, then one GET per read past it: the first two come from the probe's bytes, the third
    // takes its first 10 from them
    expect(server.requests.map((r) => [r.range, r.status])).toEqual([
      [`bytes=0-${PROBE - 1}`, 206], [`bytes=${PROBE}-${PROBE + 9}`, 206], ['bytes=200000-204095', 206], [`bytes=${file.length - 7}-${file.length - 1}`, 206],
    ]);
  });

  it('a server that ignores Range (200, whole body) is an error naming the URL', async () => {
    const url = `${plain.url}/hf-biomedlm-tiny/model/${SHARDS[0]}`;
    const err = await urlSource(url).catch((e) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err.message).toBe(`${url}: the server ignores Range requests (HTTP 200 with the whole file); the loader reads a checkpoint by byte ranges, so serve it from a server that answers Range with 206`);
  });

  it('a 404 is one line naming the URL and the status; a directory without weights names what it looked for', async () => {
    await expect(urlSource(`${server.url}/nope.safetensors`)).rejects.toThrow(new CheckpointError(`cannot fetch ${server.url}/nope.safetensors: HTTP 404 Not Found`));
    await expect(openModelUrl(`${server.url}/absent/`)).rejects.toThrow(new CheckpointError(`cannot fetch ${server.url}/absent/config.json: HTTP 404 Not Found`));
    // a directory whose config.json is there and whose weight files are not (a fetch that answers 404 for them)
    const err = await openModelUrl(`${server.url}/hf-biomedlm-tiny/model`, { fetch: (async (u: string, init?: RequestInit) => (String(u).endsWith('config.json') ? fetch(u, init) : new Response('no', { status: 404 }))) as typeof fetch }).catch((e) => e);
    expect(err.message).toBe(`${server.url}/hf-biomedlm-tiny/model/ has no weights: none of model.safetensors.index.json, model.safetensors, pytorch_model.bin.index.json, pytorch_model.bin`);
  });

  it('opens the sharded directory by URL: the same parameters as from disk, every weight GET ranged, each byte fetched once', async () => {
    server.requests.length = 0;
    const inputs = await openModelUrl(`${server.url}/hf-biomedlm-tiny/model`, { tokenizer: true });
    expect(inputs.tokenizerJson).toBeUndefined(); // this directory has none: its 404 is not an error
    expect(inputs.files.map((f) => f.name)).toEqual(SHARDS.map((s) => `${server.url}/hf-biomedlm-tiny/model/${s}`));
    expect(inputs.index?.name).toBe(`${server.url}/hf-biomedlm-tiny/model/model.safetensors.index.json`);
    const ck = await openCheckpointFrom(inputs);
    const params = await loadParams(ck);
    await ck.close();
    const disk = await readCheckpoint(MODEL);
    expect(ck.config).toEqual(disk.config);
    expect([...params.keys()]).toEqual([...disk.params.keys()]);
    for (const [k, v] of disk.params) expect(bits(params.get(k)!), k).toEqual(bits(v));
    const weightGets = server.requests.filter((r) => r.path.endsWith('.safetensors'));
    expect(weightGets.every((r) => r.range && r.status === 206)).toBe(true);
    for (const s of SHARDS) {
      const size = statSync(path.join(MODEL, s)).size;
      const fetched = weightGets.filter((r) => r.path.endsWith(s)).reduce((n, r) => n + r.bytes, 0);
      expect(fetched, s).toBe(size); // the header and every tensor, no byte twice
    }
  });

  it.skipIf(!existsSync(GOLDEN_BIN))('opens a sharded torch.save directory (pytorch_model.bin.index.json) by URL: the same parameters', async () => {
    const golden = await startRangeServer(path.dirname(path.dirname(GOLDEN_BIN)));
    try {
      const inputs = await openModelUrl(`${golden.url}/hf-biomedlm-tiny/model-bin/`);
      expect(inputs.index?.name).toBe(`${golden.url}/hf-biomedlm-tiny/model-bin/pytorch_model.bin.index.json`);
      const ck = await openCheckpointFrom(inputs);
      const params = await loadParams(ck);
      await ck.close();
      expect(ck.format).toBe('torch');
      const disk = await readCheckpoint(MODEL);
      for (const [k, v] of disk.params) expect(bits(params.get(k)!), k).toEqual(bits(v));
      expect(golden.requests.filter((r) => r.path.endsWith('.bin') && (!r.range || r.status !== 206))).toEqual([]);
    } finally {
      await golden.close();
    }
  });

  it('loadModelFromUrl quantizes to q4_0 as it streams: the same loss as loadModel from disk, progress reaches every tensor', async () => {
    const gpu = await getGPU('f32');
    const batch = JSON.parse(readFileSync(path.join(FIXTURES, 'hf-biomedlm-tiny/batch.json'), 'utf8')) as { B: number; T: number; inputs: number[][]; targets: number[][] };
    const { B, T } = batch;
    const inputs = batch.inputs.flat(), targets = batch.targets.flat();
    const seen: UrlLoadProgress[] = [];
    const fromUrl = await loadModelFromUrl(gpu, `${server.url}/hf-biomedlm-tiny/model/`, { training: false, quantize: 'q4_0', onProgress: (p) => seen.push(p) });
    const fromDisk = await loadModel(gpu, MODEL, { training: false, quantize: 'q4_0' });
    try {
      const a = await fromUrl.forward(inputs, targets, B, T);
      const b = await fromDisk.forward(inputs, targets, B, T);
      expect(a).toBe(b);
      expect(Math.abs(a - 6.2)).toBeLessThan(0.2); // ~ the golden q4_0 loss (6.24 with its adapter)
      const last = seen.at(-1)!;
      const total = SHARDS.reduce((n, s) => n + statSync(path.join(MODEL, s)).size, 0);
      expect(last.totalBytes).toBe(total);
      expect(last.tensors).toBe(last.totalTensors);
      expect(last.totalTensors).toBe(paramShapes(fromUrl.config).length);
      expect(last.bytes).toBe(total);
    } finally {
      fromUrl.destroy();
      fromDisk.destroy();
    }
  }, 120_000);
});
