// A GPT-2 whose block matmul weights are GGML-quantized (ModelOptions.quantize), through the public
// API: the golden cases (tests/fixtures/hf-biomedlm-tiny-q8_0: eval loss, loss and logits of the
// fixed batch; hf-biomedlm-tiny-q4_0-lora: the same with a PEFT adapter, the adapter's gradients,
// 10 AdamW steps and the adapter after them), within their README's tolerances; against the
// unquantized model holding the dequantized weights (forward, LoRA gradients, greedy decoding); a
// weight whose input dimension is not a multiple of 32 left unquantized; and the memory plan
// against the buffers the model allocates.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GPT2, generate, loadModel, makeConfig, type GPT2Config } from '../../src/index';
import { memoryPlan, parseSafetensors, toFloat32 } from '../../src/model/index';
import { readAdapter } from '../../src/model/peft.node';
import { loraModules, type LoraConfig, type LoraWeights } from '../../src/model/peft';
import { quantizedBaseBytes, quantizedLayout, skippedQuantizationNote } from '../../src/model/quantized';
import { dequantizeMatrix, quantizeMatrix, type QuantType } from '../../src/util/ggml';
import { decodeShard } from '../../src/train/index';
import { PRECISIONS, compare, getGPU, randn } from '../helpers/gpu';

const FIXTURES = join(__dirname, '../fixtures');
const BASE = join(FIXTURES, 'hf-biomedlm-tiny'); // model/, batch.json, tokens.bin (identical in the quantized cases)
const Q8 = join(FIXTURES, 'hf-biomedlm-tiny-q8_0');
const Q4 = join(FIXTURES, 'hf-biomedlm-tiny-q4_0-lora');

/** The README's tolerances: losses 2e-5 (f32) / 1e-2 (f16); gradients and after10 1e-4 of each tensor's max-abs (f32). */
/** The quantized GEMM's pipelines compile on first use: minutes on a loaded software adapter. */
const SLOW = 600_000;
const TOL = { f32: { loss: 2e-5, logits: 1e-4, grad: 1e-4 }, f16: { loss: 1e-2, logits: 5e-2, grad: 5e-2 } } as const;

const json = (dir: string, f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8'));
function tensors(dir: string, file: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [k, t] of parseSafetensors(new Uint8Array(readFileSync(join(dir, file))), file).tensors) out.set(k, toFloat32(t));
  return out;
}
function batch(): { B: number; T: number; inputs: number[]; targets: number[] } {
  const b = json(BASE, 'batch.json');
  return { B: b.B, T: b.T, inputs: (b.inputs as number[][]).flat(), targets: (b.targets as number[][]).flat() };
}
const tokens = () => decodeShard(new Uint8Array(readFileSync(join(BASE, 'tokens.bin'))), 'tokens.bin');
/** tokens[k*B*T : k*B*T + B*T + 1] as (inputs, targets). */
function chunk(k: number, B: number, T: number): [number[], number[]] {
  const c = Array.from(tokens().subarray(k * B * T, k * B * T + B * T + 1));
  return [c.slice(0, B * T), c.slice(1)];
}
function relMaxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

const HAVE = existsSync(join(Q8, 'expected.json')) && existsSync(join(Q4, 'expected.json'));
if (!HAVE) console.warn(`skipping the quantized golden cases: ${Q8} or ${Q4} is absent`);

describe.skipIf(!HAVE).each(PRECISIONS)('golden quantized bases, %s', (precision) => {
  const tol = TOL[precision];

  it('hf-biomedlm-tiny-q8_0: eval loss, loss0 and logits0 with Q8_0 block weights (loadModel quantize)', async () => {
    const gpu = await getGPU(precision);
    const expected = json(Q8, 'expected.json');
    const model = await loadModel(gpu, join(BASE, 'model'), { quantize: 'q8_0', training: false, precision });
    expect(model.quantizedBase?.names.length).toBe(12);
    const { B, T, inputs, targets } = batch();
    const eval0 = await model.forward(...chunk(0, B, T), B, T);
    console.log(`q8_0 ${precision}: eval0 ${eval0} vs ${expected.eval0.loss} (|d| ${Math.abs(eval0 - expected.eval0.loss).toExponential(2)})`);
    expect(Math.abs(eval0 - expected.eval0.loss)).toBeLessThan(tol.loss);
    const loss0 = await model.forward(inputs, targets, B, T);
    expect(Math.abs(loss0 - expected.loss0)).toBeLessThan(tol.loss);
    expect(compare(await model.logits(), tensors(Q8, 'logits0.safetensors').get('logits')!, tol.logits, 0)).toBe('');
    model.destroy();
  }, SLOW);

  it('hf-biomedlm-tiny-q4_0-lora: loss, logits, adapter gradients, 10 AdamW steps and after10 on a Q4_0 base', async () => {
    const gpu = await getGPU(precision);
    const expected = json(Q4, 'expected.json');
    const { lora, weights } = await readAdapter(join(Q4, 'adapter'), (await loadModel(gpu, join(BASE, 'model'), { training: false, precision: 'f32' })).config);
    const model = await loadModel(gpu, join(BASE, 'model'), { quantize: 'q4_0', lora, precision });
    model.lora!.load(weights);
    const { B, T, inputs, targets } = batch();
    const eval0 = await model.forward(...chunk(0, B, T), B, T);
    console.log(`q4_0+LoRA ${precision}: eval0 ${eval0} vs ${expected.eval0.loss} (|d| ${Math.abs(eval0 - expected.eval0.loss).toExponential(2)})`);
    expect(Math.abs(eval0 - expected.eval0.loss)).toBeLessThan(tol.loss);
    model.zeroGrad();
    const loss0 = await model.forward(inputs, targets, B, T);
    expect(Math.abs(loss0 - expected.loss0)).toBeLessThan(tol.loss);
    expect(compare(await model.logits(), tensors(Q4, 'logits0.safetensors').get('logits')!, tol.logits, 0)).toBe('');
    model.backward();
    for (const [name, ref] of tensors(Q4, 'grads.safetensors')) expect(relMaxAbs(await model.gradient(name), ref), name).toBeLessThan(tol.grad);
    model.lora!.load(weights);
    const o = expected.stream.optimizer;
    const losses: number[] = [];
    for (let k = 0; k < expected.stream.steps; k++) {
      losses.push(await model.trainStep(...chunk(k, B, T), B, T, { lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weight_decay, gradClip: 0 }));
    }
    expect(compare(losses, expected.stream.losses, tol.loss, 0)).toBe('');
    if (precision === 'f32') {
      for (const [name, ref] of tensors(Q4, 'after10.safetensors')) expect(relMaxAbs(await model.parameter(name), ref), name).toBeLessThan(tol.grad);
    }
    model.destroy();
  }, SLOW);
});

// Width 40 (not a multiple of 32): c_attn, c_proj and c_fc stay unquantized; mlp.c_proj (input 160) is quantized.
const odd: GPT2Config = makeConfig({ nLayer: 2, nHead: 2, nEmbd: 40, nPositions: 16, vocabSize: 70, scaleAttnByInverseLayerIdx: true });
// Width 64: every block weight quantized.
const even: GPT2Config = makeConfig({ nLayer: 2, nHead: 2, nEmbd: 64, nPositions: 16, vocabSize: 70 });
const B = 2, T = 13;
const ids = (seed: number) => Array.from(randn(B * T, seed, 1), (v) => Math.abs(Math.floor(v * 1000)) % 70);
const loraCfg: LoraConfig = { r: 3, loraAlpha: 6, targetModules: ['c_attn', 'mlp.c_proj'], loraDropout: 0, baseModelNameOrPath: null, taskType: 'CAUSAL_LM' };

/** Random base weights, and the same with each quantized weight replaced by its dequantized values. */
async function weightsAndDequantized(config: GPT2Config, type: QuantType): Promise<[Map<string, Float32Array>, Map<string, Float32Array>]> {
  const m = new GPT2(await getGPU('f32'), config, { precision: 'f32', training: false });
  m.initRandom(11);
  const w = await m.weights();
  m.destroy();
  const deq = new Map(w);
  for (const q of quantizedLayout(config).quantized) deq.set(q.name, dequantizeMatrix(quantizeMatrix(w.get(q.name)!, q.K, q.N, type)));
  return [w, deq];
}

function randomAdapter(config: GPT2Config): LoraWeights {
  const out: LoraWeights = new Map();
  let seed = 300;
  for (const m of loraModules(config, loraCfg)) out.set(m.module, { A: randn(3 * m.inFeatures, seed++, 0.2), B: randn(m.outFeatures * 3, seed++, 0.2) });
  return out;
}

describe.each(PRECISIONS)('quantized base against the dequantized weights, %s', (precision) => {
  const tol = precision === 'f32' ? 2e-5 : 1e-2;
  for (const [name, config] of [['width 40 (partly quantized)', odd], ['width 64', even]] as const) {
    for (const type of ['q8_0', 'q4_0'] as const) {
      it(`${name}, ${type}: loss, logits and greedy decoding`, async () => {
        const gpu = await getGPU(precision);
        const [w, deq] = await weightsAndDequantized(config, type);
        const q = new GPT2(gpu, config, { precision, training: false, quantize: type });
        q.loadWeights(w);
        const ref = new GPT2(gpu, config, { precision, training: false });
        ref.loadWeights(deq);
        const [x, y] = [ids(1), ids(2)];
        expect(Math.abs((await q.forward(x, y, B, T)) - (await ref.forward(x, y, B, T)))).toBeLessThan(tol);
        expect(compare(await q.logits(), await ref.logits(), precision === 'f32' ? 1e-4 : 5e-2, 0)).toBe('');
        const prompt = ids(3).slice(0, 4);
        expect(await generate(q, prompt, { maxNewTokens: 6, temperature: 0 })).toEqual(await generate(ref, prompt, { maxNewTokens: 6, temperature: 0 }));
        q.destroy();
        ref.destroy();
      }, SLOW);
    }
  }

  it('LoRA on a q4_0 base (width 40: adapted quantized and unquantized layers): loss and adapter gradients as on the dequantized base', async () => {
    const gpu = await getGPU(precision);
    const [w, deq] = await weightsAndDequantized(odd, 'q4_0');
    const adapter = randomAdapter(odd);
    const grads = async (weights: Map<string, Float32Array>, quantize?: QuantType) => {
      const m = new GPT2(gpu, odd, { precision, lora: loraCfg, quantize });
      m.loadWeights(weights);
      m.lora!.load(adapter);
      m.zeroGrad();
      const loss = await m.forward(ids(4), ids(5), B, T);
      m.backward();
      const g = new Map<string, Float32Array>();
      for (const s of m.lora!.params.slots) g.set(s.name, await m.gradient(s.name));
      m.destroy();
      return { loss, g };
    };
    const a = await grads(w, 'q4_0');
    const b = await grads(deq);
    expect(Math.abs(a.loss - b.loss)).toBeLessThan(tol);
    for (const [name, ref] of b.g) expect(relMaxAbs(a.g.get(name)!, ref), name).toBeLessThan(precision === 'f32' ? 1e-4 : 5e-2);
  }, SLOW);
});

describe('quantize option rules and memory', () => {
  it('reports the weights left unquantized in one line; refuses full training and full-precision reads', async () => {
    const gpu = await getGPU('f32');
    expect(quantizedLayout(odd).skipped.map((s) => s.name)).toEqual(['h.0.attn.c_attn.weight', 'h.0.attn.c_proj.weight', 'h.0.mlp.c_fc.weight', 'h.1.attn.c_attn.weight', 'h.1.attn.c_proj.weight', 'h.1.mlp.c_fc.weight']);
    expect(skippedQuantizationNote(odd, 'q8_0')).toMatch(/^quantize q8_0: 6 weight\(s\) stay unquantized \(input dimension 40 is not a multiple of 32\): h\.0\.attn\.c_attn\.weight, /);
    expect(skippedQuantizationNote(even, 'q8_0')).toBeUndefined();
    expect(() => new GPT2(gpu, even, { precision: 'f32', quantize: 'q4_0' })).toThrow(/quantize q4_0: a quantized base is frozen/);
    const m = new GPT2(gpu, even, { precision: 'f32', training: false, quantize: 'q8_0' });
    m.initRandom(1);
    await expect(m.parameter('h.0.mlp.c_fc.weight')).rejects.toThrow(/stored q8_0-quantized/);
    await expect(m.weights()).rejects.toThrow(/q8_0-quantized/);
    expect((await m.parameter('h.0.mlp.c_fc.bias')).length).toBe(4 * 64);
    m.destroy();
    expect(() => memoryPlan({ config: even, B: 1, T: 8, precision: 'f32', training: true, quantize: 'q4_0' })).toThrow(/frozen/);
  });

  for (const precision of PRECISIONS) {
    for (const type of ['q8_0', 'q4_0'] as const) {
      it(`memoryPlan counts the quantized weights byte for byte (${type}, ${precision}, inference and LoRA)`, async () => {
        const gpu = await getGPU(precision);
        for (const [config, lora] of [[even, undefined], [odd, undefined], [odd, loraCfg]] as const) {
          const m = new GPT2(gpu, config, { precision, training: !!lora, lora, quantize: type });
          m.initRandom(2);
          expect(m.quantizedBase!.bytes).toBe(quantizedBaseBytes(config, type));
          const plan = memoryPlan({ config, B, T, precision, training: !!lora, generation: false, lora, quantize: type, maxBindingBytes: gpu.limits.maxStorageBufferBindingSize });
          m.allocate(B, T);
          const report = m.memoryReport();
          expect(report.parameters).toBe(plan.weights + plan.masterWeights);
          m.destroy();
        }
      });
    }
  }
});
