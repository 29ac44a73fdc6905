// PEFT adapter files: config validation, target matching as PEFT does it, safetensors layout, round trip.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/model/config';
import { parseSafetensors } from '../../src/model/source/safetensors';
import {
  loraModules, parseAdapterConfig, parseAdapterWeights, serializeAdapterConfig, type LoraConfig, type LoraWeights,
} from '../../src/model/peft';
import { readAdapter, writeAdapter } from '../../src/model/peft.node';

const golden = path.resolve(__dirname, '../../../shared/golden/hf-biomedlm-tiny-lora');
const haveGolden = existsSync(golden);
if (!haveGolden) console.warn(`skipping the golden PEFT adapter cases: ${golden} is absent`);

const config = makeConfig({ nLayer: 3, nHead: 4, nEmbd: 64, nPositions: 64, vocabSize: 500 });
const base = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['c_attn'], fan_in_fan_out: true, bias: 'none', lora_dropout: 0, ...over });
const lora = (t: string[] | string): LoraConfig => ({ r: 2, loraAlpha: 4, targetModules: t, loraDropout: 0, baseModelNameOrPath: null, taskType: null });
const tmp = mkdtempSync(path.join(tmpdir(), 'mqg-peft-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('adapter_config.json', () => {
  it('reads the fields and refuses what we cannot honour, naming the field', () => {
    const c = parseAdapterConfig(base());
    expect(c).toMatchObject({ r: 4, loraAlpha: 8, targetModules: ['c_attn'], loraDropout: 0 });
    const refusals: [Record<string, unknown>, string][] = [
      [{ peft_type: 'IA3' }, 'peft_type'],
      [{ bias: 'all' }, 'bias'],
      [{ bias: 'lora_only' }, 'bias'],
      [{ use_rslora: true }, 'use_rslora'],
      [{ use_dora: true }, 'use_dora'],
      [{ modules_to_save: ['lm_head'] }, 'modules_to_save'],
      [{ rank_pattern: { c_fc: 8 } }, 'rank_pattern'],
      [{ alpha_pattern: { c_fc: 8 } }, 'alpha_pattern'],
      [{ fan_in_fan_out: false }, 'fan_in_fan_out'],
      [{ r: 0 }, 'r must be'],
      [{ lora_alpha: 'x' }, 'lora_alpha'],
      [{ target_modules: [] }, 'target_modules'],
    ];
    for (const [over, field] of refusals) expect(() => parseAdapterConfig(base(over)), JSON.stringify(over)).toThrow(field);
    // fields PEFT writes with neutral values are accepted
    expect(() => parseAdapterConfig(base({ use_rslora: false, modules_to_save: null, rank_pattern: {}, layers_to_transform: null }))).not.toThrow();
    expect(() => parseAdapterConfig('{')).toThrow('not valid JSON');
  });

  it('writes what it reads', () => {
    const c = parseAdapterConfig(base({ base_model_name_or_path: 'stanford-crfm/BioMedLM', task_type: 'CAUSAL_LM' }));
    const j = JSON.parse(serializeAdapterConfig(c));
    expect(j).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['c_attn'], fan_in_fan_out: true, bias: 'none', lora_dropout: 0, base_model_name_or_path: 'stanford-crfm/BioMedLM' });
    expect(parseAdapterConfig(serializeAdapterConfig(c))).toEqual(c);
  });
});

describe('target_modules matching (as PEFT)', () => {
  const names = (t: string[] | string) => loraModules(config, lora(t)).map((m) => m.module);
  it('a list matches by name suffix', () => {
    expect(names(['c_attn', 'c_fc'])).toEqual([0, 1, 2].flatMap((l) => [`transformer.h.${l}.attn.c_attn`, `transformer.h.${l}.mlp.c_fc`]));
    expect(names(['c_proj'])).toEqual([0, 1, 2].flatMap((l) => [`transformer.h.${l}.attn.c_proj`, `transformer.h.${l}.mlp.c_proj`]));
    expect(names(['mlp.c_proj'])).toEqual([0, 1, 2].map((l) => `transformer.h.${l}.mlp.c_proj`));
    expect(names(['transformer.h.1.attn.c_attn'])).toEqual(['transformer.h.1.attn.c_attn']);
  });
  it('a string is a regular expression matching the whole name', () => {
    expect(names('.*\\.1\\.attn\\.c_attn')).toEqual(['transformer.h.1.attn.c_attn']);
    expect(names('.*attn.c_(attn|proj)')).toHaveLength(6);
    expect(() => names('c_attn')).toThrow('matches no module'); // full match, not search
  });
  it('sizes follow the config', () => {
    const [fc] = loraModules(config, lora(['c_fc']));
    expect(fc).toMatchObject({ inFeatures: 64, outFeatures: 256, layer: 0, kind: 'mlp.c_fc' });
  });
  it('refuses targets that match nothing or a layer LoRA cannot adapt here', () => {
    expect(() => names(['q_proj'])).toThrow('target_modules entry "q_proj" matches no module');
    expect(() => names(['lm_head'])).toThrow('lm_head');
    expect(() => names(['ln_1'])).toThrow('not a Conv1D layer');
    expect(() => names('(')).toThrow('not a valid regular expression');
  });
});

describe.skipIf(!haveGolden)('the golden adapter (hf-biomedlm-tiny-lora)', () => {
  it('loads in PEFT layout: names, shapes, config', async () => {
    const { lora: c, weights } = await readAdapter(path.join(golden, 'adapter'), config);
    expect(c).toMatchObject({ r: 4, loraAlpha: 8, targetModules: ['c_attn', 'c_fc'] });
    expect([...weights.keys()]).toEqual([0, 1, 2].flatMap((l) => [`transformer.h.${l}.attn.c_attn`, `transformer.h.${l}.mlp.c_fc`]));
    expect(weights.get('transformer.h.0.attn.c_attn')!.A.length).toBe(4 * 64);
    expect(weights.get('transformer.h.0.mlp.c_fc')!.B.length).toBe(256 * 4);
  });

  it('round-trips bit-exactly through writeAdapter', async () => {
    const src = await readAdapter(path.join(golden, 'adapter'), config);
    const out = path.join(tmp, 'rt');
    await writeAdapter(out, src.lora, src.weights);
    const back = await readAdapter(out, config);
    expect(back.lora).toEqual(src.lora);
    for (const [m, { A, B }] of src.weights) {
      expect(Buffer.from(back.weights.get(m)!.A.buffer).equals(Buffer.from(A.buffer)), m).toBe(true);
      expect(Buffer.from(back.weights.get(m)!.B.buffer).equals(Buffer.from(B.buffer)), m).toBe(true);
    }
    // PEFT's layout on disk: the same names and shapes as the file PEFT wrote
    const theirs = parseSafetensors(new Uint8Array(readFileSync(path.join(golden, 'adapter/adapter_model.safetensors'))));
    const ours = parseSafetensors(new Uint8Array(readFileSync(path.join(out, 'adapter_model.safetensors'))));
    expect([...ours.tensors.keys()].sort()).toEqual([...theirs.tensors.keys()].sort());
    for (const [k, t] of theirs.tensors) expect(ours.tensors.get(k)!.shape).toEqual(t.shape);
    // writing again gives identical bytes
    const again = path.join(tmp, 'rt2');
    await writeAdapter(again, back.lora, back.weights);
    expect(readFileSync(path.join(again, 'adapter_model.safetensors')).equals(readFileSync(path.join(out, 'adapter_model.safetensors')))).toBe(true);
  });
});

describe('adapter weights', () => {
  it('refuse missing, misshapen and unexpected tensors', async () => {
    const c = lora(['c_attn']);
    const weights: LoraWeights = new Map([0, 1, 2].map((l) => [`transformer.h.${l}.attn.c_attn`, { A: new Float32Array(2 * 64), B: new Float32Array(192 * 2) }]));
    const dir = path.join(tmp, 'bad');
    await writeAdapter(dir, c, weights);
    const bytes = new Uint8Array(readFileSync(path.join(dir, 'adapter_model.safetensors')));
    expect(parseAdapterWeights(bytes, config, c).size).toBe(3);
    expect(() => parseAdapterWeights(bytes, config, lora(['c_attn', 'c_fc']))).toThrow("missing tensor 'base_model.model.transformer.h.0.mlp.c_fc.lora_A.weight'");
    expect(() => parseAdapterWeights(bytes, config, { ...c, r: 4 })).toThrow('has shape [2, 64], expected [4, 64]');
    expect(() => parseAdapterWeights(bytes, config, { ...c, targetModules: ['transformer.h.0.attn.c_attn'] })).toThrow('transformer.h.1.attn.c_attn.lora_A.weight');
    await expect(readAdapter(path.join(tmp, 'nowhere'), config)).rejects.toThrow('does not exist');
  });
});
