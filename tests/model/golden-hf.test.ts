// The whole model through the public API against the Hugging Face reference case with BioMedLM's
// config fields (tests/fixtures/hf-biomedlm-tiny, copied from ../shared/golden/hf-biomedlm-tiny;
// scale_attn_by_inverse_layer_idx on, vocab 500): loss, logits and every gradient at the initial
// weights, then the 10 AdamW losses of its token stream through trainStep, and the weights after
// them. Tolerances are its README's.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GPT2, type GPT2ConfigInit, loadModel, makeConfig } from '../../src/index';
import { canonicalName, configsEqual, parseSafetensors, toFloat32 } from '../../src/model/index';
import { decodeShard } from '../../src/train/index';
import { PRECISIONS, getGPU } from '../helpers/gpu';

const CANDIDATES = [join(__dirname, '../fixtures/hf-biomedlm-tiny'), resolve(__dirname, '../../../shared/golden/hf-biomedlm-tiny')];
const dir = CANDIDATES.find((d) => existsSync(join(d, 'expected.json')));
if (!dir) console.warn(`hf-biomedlm-tiny golden data not found (looked in ${CANDIDATES.join(', ')}): its tests are skipped`);

const read = (file: string) => readFileSync(join(dir!, file));

function tensors(file: string): Map<string, Float32Array> {
  const parsed = parseSafetensors(new Uint8Array(read(file)), file);
  const out = new Map<string, Float32Array>();
  for (const [name, t] of parsed.tensors) out.set(name, toFloat32(t));
  return out;
}

/** The config.json fields that change the computation, as makeConfig takes them. */
function configFromJson(j: Record<string, unknown>): GPT2ConfigInit {
  return {
    nLayer: j.n_layer as number, nHead: j.n_head as number, nEmbd: j.n_embd as number,
    nPositions: (j.n_positions ?? j.n_ctx) as number, vocabSize: j.vocab_size as number,
    nInner: (j.n_inner as number | null) ?? undefined,
    layerNormEpsilon: j.layer_norm_epsilon as number | undefined,
    activation: j.activation_function as GPT2ConfigInit['activation'],
    scaleAttnWeights: j.scale_attn_weights as boolean | undefined,
    scaleAttnByInverseLayerIdx: j.scale_attn_by_inverse_layer_idx as boolean | undefined,
    tieWordEmbeddings: j.tie_word_embeddings as boolean | undefined,
    reorderAndUpcastAttn: j.reorder_and_upcast_attn as boolean | undefined,
  };
}

/** Canonical weights from the sharded safetensors checkpoint, through its index's weight_map. */
function shardedWeights(): Map<string, Float32Array> {
  const index = JSON.parse(read('model/model.safetensors.index.json').toString('utf8')) as { weight_map: Record<string, string> };
  const out = new Map<string, Float32Array>();
  for (const shard of new Set(Object.values(index.weight_map))) {
    for (const [name, t] of tensors(`model/${shard}`)) out.set(canonicalName(name), t);
  }
  expect(out.size).toBe(Object.keys(index.weight_map).length);
  return out;
}

/** |a - b| / max|b| over a tensor. */
function relMaxDiff(a: ArrayLike<number>, b: ArrayLike<number>, skip?: (i: number) => boolean): number {
  let maxAbs = 0, maxDiff = 0;
  for (let i = 0; i < b.length; i++) {
    if (skip?.(i)) continue;
    maxAbs = Math.max(maxAbs, Math.abs(b[i]!));
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
  }
  return maxDiff / maxAbs;
}

const TOL = {
  f32: { loss: 1e-4, logits: 1e-4, grad: 1e-3, losses: 1e-4 },
  f16: { loss: 1e-2, logits: 5e-2, grad: 5e-2, losses: 1e-2 },
} as const;

describe.skipIf(!dir).each(PRECISIONS)('HF GPT-2 with BioMedLM config fields vs golden data (%s)', (precision) => {
  const tol = TOL[precision];
  let expected: { config: Record<string, unknown>; loss0: number; B: number; T: number; stream: { losses: number[] } };
  let config: ReturnType<typeof makeConfig>;
  let weights: Map<string, Float32Array>;

  beforeAll(() => {
    expected = JSON.parse(read('expected.json').toString('utf8'));
    config = makeConfig(configFromJson(JSON.parse(read('model/config.json').toString('utf8'))));
    weights = shardedWeights();
  });

  it('reads the config fields that matter', () => {
    expect(config.scaleAttnByInverseLayerIdx).toBe(true);
    expect(config.nInner).toBe(4 * config.nEmbd);
    expect(config.tieWordEmbeddings).toBe(true);
    expect(config.vocabSize % 64).not.toBe(0);
  });

  it('loadModel(gpu, dir) reads the same config and weights as this test does', async () => {
    const gpu = await getGPU(precision);
    const model = await loadModel(gpu, join(dir!, 'model'), { precision });
    try {
      expect(configsEqual(model.config, config)).toBe(true);
      for (const [name, w] of weights) expect(Buffer.from((await model.parameter(name)).buffer).equals(Buffer.from(w.buffer)), name).toBe(true); // f32 master weights at both precisions
    } finally {
      model.destroy();
    }
  });

  it('loss, logits and every gradient at the initial weights', async () => {
    const gpu = await getGPU(precision);
    const batch = JSON.parse(read('batch.json').toString('utf8'));
    const { B, T } = batch;
    const model = new GPT2(gpu, config, { precision });
    try {
      model.loadWeights(weights);
      const loss = await model.forward(batch.inputs.flat(), batch.targets.flat(), B, T);
      expect(Math.abs(loss - expected.loss0)).toBeLessThanOrEqual(tol.loss);
      const logits = await model.logits();
      const ref = tensors('logits0.safetensors').get('logits')!;
      expect(logits.length).toBe(ref.length);
      let max = 0;
      for (let i = 0; i < ref.length; i++) max = Math.max(max, Math.abs(logits[i]! - ref[i]!));
      expect(max).toBeLessThanOrEqual(tol.logits);
      model.zeroGrad();
      model.backward();
      const grads = tensors('grads.safetensors');
      expect(grads.size).toBe(model.params.slots.length);
      const bad: string[] = [];
      for (const [hfName, g] of grads) {
        const e = relMaxDiff(await model.gradient(hfName), g);
        if (!(e <= tol.grad)) bad.push(`${canonicalName(hfName)}: ${e.toExponential(2)}`);
      }
      expect(bad).toEqual([]);
    } finally {
      model.destroy();
    }
  });

  it('the 10 AdamW losses of the token stream through trainStep, and the weights after them', async () => {
    const gpu = await getGPU(precision);
    const { B, T } = expected;
    const tokens = decodeShard(new Uint8Array(read('tokens.bin')), 'tokens.bin');
    const model = new GPT2(gpu, config, { precision });
    try {
      model.loadWeights(weights);
      if (precision === 'f16') model.setLossScale({ initScale: 1024, growthInterval: 1000 });
      const losses: number[] = [];
      for (let k = 0; k < 10; k++) {
        const rows = tokens.subarray(k * B * T, k * B * T + B * T + 1);
        const loss = await model.trainStep(rows.subarray(0, B * T), rows.subarray(1), B, T, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, gradClip: 0 });
        losses.push(loss);
      }
      const diffs = losses.map((l, i) => Math.abs(l - expected.stream.losses[i]!));
      expect(Math.max(...diffs), `losses ${losses.join(', ')}`).toBeLessThanOrEqual(tol.losses);
      if (precision === 'f32') {
        // c_attn.bias's key slice [C, 2C) has a zero gradient in exact arithmetic (softmax is
        // shift-invariant), so AdamW moves it by ±lr on rounding noise: it is left out.
        const C = config.nEmbd;
        const bad: string[] = [];
        for (const [hfName, ref] of tensors('after10.safetensors')) {
          const name = canonicalName(hfName);
          const skip = name.endsWith('attn.c_attn.bias') ? (i: number) => i >= C && i < 2 * C : undefined;
          const e = relMaxDiff(await model.parameter(name), ref, skip);
          if (!(e <= 1e-3)) bad.push(`${name}: ${e.toExponential(2)}`);
        }
        expect(bad).toEqual([]);
      }
    } finally {
      model.destroy();
    }
  });
});
