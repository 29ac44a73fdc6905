// A checkpoint is opened once per load and per command: loadModel and streamWeightsFrom on a
// sharded Hugging Face model directory, and `mqg eval` and `mqg merge` on it, open each of its
// weight files exactly once. Opens are counted with a spy on checkpointFiles.open
// (src/model/source/file.node.ts), the one way the loader opens a checkpoint file.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { GPT2, loadModel, makeConfig } from '../../src/index';
import { saveModel } from '../../src/node';
import { streamWeightsFrom } from '../../src/model/io.node';
import { checkpointFiles } from '../../src/model/source/file.node';
import { writeAdapter } from '../../src/model/peft.node';
import type { LoraWeights } from '../../src/model/peft';
import { writeShard } from '../../src/train/data/shards.node';
import { evalMain } from '../../src/cli/eval';
import { mergeMain } from '../../src/cli/merge';
import { getGPU } from '../helpers/gpu';

const config = makeConfig({ nLayer: 2, nHead: 2, nEmbd: 32, nPositions: 16, vocabSize: 61 });
const tmp = mkdtempSync(path.join(tmpdir(), 'mqg-opens-'));
const modelDir = path.join(tmp, 'model');
let shards: string[] = [];
let saved: Float32Array;

/** The paths checkpointFiles.open was called with while `run` ran, sorted. */
async function opensDuring(run: () => Promise<unknown>): Promise<string[]> {
  const open = vi.spyOn(checkpointFiles, 'open');
  try {
    await run();
    return open.mock.calls.map(([p]) => p).sort();
  } finally {
    open.mockRestore();
  }
}

async function quietly<T>(run: () => Promise<T>): Promise<T> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    return await run();
  } finally {
    log.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('a checkpoint is opened once', () => {
  it('loadModel(gpu, dir) opens each shard of a model directory once', async () => {
    const gpu = await getGPU('f32');
    const model = new GPT2(gpu, config, { training: false });
    model.initRandom(7);
    await saveModel(model, modelDir, { maxShardSize: 40_000 });
    saved = await model.parameter('h.1.mlp.c_fc.weight');
    model.destroy();
    shards = readdirSync(modelDir).filter((f) => f.endsWith('.safetensors')).map((f) => path.join(modelDir, f)).sort();
    expect(shards.length).toBeGreaterThan(1);
    let loaded: GPT2 | undefined;
    expect(await opensDuring(async () => (loaded = await loadModel(gpu, modelDir, { training: false })))).toEqual(shards);
    expect(loaded!.config.nLayer).toBe(2);
    loaded!.destroy();
  });

  it('streamWeightsFrom(model, dir) fills an existing model, opening each shard once', async () => {
    const model = new GPT2(await getGPU('f32'), config, { training: false });
    expect(await opensDuring(() => streamWeightsFrom(model, modelDir))).toEqual(shards);
    expect(await model.parameter('h.1.mlp.c_fc.weight')).toEqual(saved);
    model.destroy();
  });

  it('mqg eval opens each shard once', async () => {
    const data = path.join(tmp, 'tokens.bin');
    writeShard(data, Array.from({ length: 64 }, (_, i) => (i * 7) % 61), 61);
    const args = ['--checkpoint', modelDir, '--data', data, '--batch-size', '1', '--seq-len', '8', '--max-batches', '1', '--precision', 'f32', '--log-format', 'jsonl'];
    expect(await opensDuring(() => quietly(() => evalMain(args)))).toEqual(shards);
  });

  it('mqg merge opens each shard of the base once', async () => {
    const adapter = path.join(tmp, 'adapter');
    const weights: LoraWeights = new Map([0, 1].map((l) => [`transformer.h.${l}.attn.c_attn`, { A: new Float32Array(2 * 32).fill(0.01), B: new Float32Array(96 * 2).fill(0.02) }]));
    await writeAdapter(adapter, { r: 2, loraAlpha: 4, targetModules: ['c_attn'], loraDropout: 0, baseModelNameOrPath: null, taskType: null }, weights);
    const out = path.join(tmp, 'merged');
    expect(await opensDuring(() => quietly(() => mergeMain(['--init', modelDir, '--adapter', adapter, '--out', out])))).toEqual(shards);
    expect(existsSync(path.join(out, 'model.safetensors'))).toBe(true);
  });
});
