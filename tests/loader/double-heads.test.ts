// A GPT2DoubleHeadsModel checkpoint (what `mqg finetune-mcq` writes: config.json architectures
// GPT2DoubleHeadsModel, multiple_choice_head.summary.{weight,bias} beside the body): the LM loader
// reads the body and leaves the head out; readMcqModel gives the head too; other unknown tensors
// stay errors naming the tensor.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeConfig, paramShapes, numel } from '../../src/model/config';
import { configToHFJson } from '../../src/model/source/config';
import { parseSafetensors } from '../../src/model/source/safetensors';
import { saveGPT2Weights, serializeSafetensors, type TensorToWrite } from '../../src/model/source/safetensors-write';
import { loadModelAndSource, readCheckpoint } from '../../src/node';
import { readMcqModel } from '../../src/train/finetune-mcq.node';
import { getGPU, randn } from '../helpers/gpu';

const config = makeConfig({ nLayer: 1, nHead: 2, nEmbd: 16, nPositions: 8, vocabSize: 40 });

function writeDoubleHeads(extra: TensorToWrite[] = []): { dir: string; params: Map<string, Float32Array>; head: Float32Array[] } {
  const params = new Map(paramShapes(config).map(({ name, shape }, i) => [name, randn(numel(shape), 1 + i)]));
  const body = parseSafetensors(saveGPT2Weights(config, params));
  const head = [randn(16, 99), new Float32Array([0.25])];
  const tensors: TensorToWrite[] = [...body.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: t.data }));
  tensors.push({ name: 'multiple_choice_head.summary.weight', dtype: 'F32', shape: [1, 16], data: head[0]! });
  tensors.push({ name: 'multiple_choice_head.summary.bias', dtype: 'F32', shape: [1], data: head[1]! });
  const dir = mkdtempSync(path.join(tmpdir(), 'mqg-double-heads-'));
  writeFileSync(path.join(dir, 'model.safetensors'), serializeSafetensors([...tensors, ...extra], body.metadata));
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...configToHFJson(config), architectures: ['GPT2DoubleHeadsModel'], num_labels: 1 }));
  return { dir, params, head };
}

describe('GPT2DoubleHeadsModel checkpoints', () => {
  it('the LM loader reads the body and leaves the multiple-choice head out', async () => {
    const { dir, params } = writeDoubleHeads();
    const ck = await readCheckpoint(dir);
    expect([...ck.params.keys()]).toEqual([...params.keys()]);
    for (const [k, v] of params) expect(ck.params.get(k), k).toEqual(v);
    const gpu = await getGPU('f32');
    const { model } = await loadModelAndSource(gpu, dir, { precision: 'f32', training: false });
    expect((await model.weights()).get('h.0.mlp.c_fc.weight')).toEqual(params.get('h.0.mlp.c_fc.weight'));
    model.destroy();
  });

  it('readMcqModel gives the body and the head', async () => {
    const { dir, params, head } = writeDoubleHeads();
    const m = await readMcqModel(dir);
    expect(m.params.get('wte.weight')).toEqual(params.get('wte.weight'));
    expect(m.head!.weight).toEqual(head[0]);
    expect(m.head!.bias).toEqual(head[1]);
  });

  it('other unknown tensors stay errors naming the tensor', async () => {
    const { dir } = writeDoubleHeads([{ name: 'multiple_choice_head.other', dtype: 'F32', shape: [1], data: new Float32Array(1) }]);
    await expect(readCheckpoint(dir)).rejects.toThrow(/unknown tensor 'multiple_choice_head\.other'/);
  });
});
