// config.json <-> GPT2Config: every field read, written back, and every field we cannot honour refused by name.
import { describe, expect, it } from 'vitest';
import { configFromHFJson, configFromMetadata, configToHFJson, configToMetadata, decideConfig, makeConfig } from '../../src/model/index';

const BASE = { n_layer: 3, n_head: 4, n_embd: 64, n_positions: 32, vocab_size: 500 };

describe('config.json', () => {
  it('reads every GPT2Config field, with GPT2Config defaults where absent', () => {
    expect(configFromHFJson(BASE)).toEqual(makeConfig({ nLayer: 3, nHead: 4, nEmbd: 64, nPositions: 32, vocabSize: 500 }));
    const c = configFromHFJson({
      ...BASE,
      n_inner: 100,
      layer_norm_epsilon: 1e-6,
      activation_function: 'gelu',
      scale_attn_weights: false,
      scale_attn_by_inverse_layer_idx: true,
      tie_word_embeddings: false,
      reorder_and_upcast_attn: true,
      attn_pdrop: 0.1,
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
    });
    expect(c).toMatchObject({ nInner: 100, layerNormEpsilon: 1e-6, activation: 'gelu', scaleAttnWeights: false, scaleAttnByInverseLayerIdx: true, tieWordEmbeddings: false, reorderAndUpcastAttn: true });
    expect(configFromHFJson({ ...BASE, n_inner: null }).nInner).toBe(256);
    expect(configFromHFJson({ ...BASE, n_positions: undefined, n_ctx: 16 }).nPositions).toBe(16);
    for (const act of ['gelu_new', 'gelu', 'gelu_pytorch_tanh', 'relu', 'silu']) expect(configFromHFJson({ ...BASE, activation_function: act }).activation).toBe(act);
  });

  it('round-trips every field through the config.json we write and through safetensors metadata', () => {
    const variants = [
      makeConfig({ nLayer: 2, nHead: 2, nEmbd: 8, nPositions: 16, vocabSize: 70 }),
      makeConfig({
        nLayer: 2, nHead: 2, nEmbd: 8, nPositions: 16, vocabSize: 70, nInner: 12, layerNormEpsilon: 3e-6, activation: 'silu',
        scaleAttnWeights: false, scaleAttnByInverseLayerIdx: true, tieWordEmbeddings: false, reorderAndUpcastAttn: true,
      }),
    ];
    for (const c of variants) {
      const json = JSON.parse(JSON.stringify(configToHFJson(c)));
      expect(json).toMatchObject({ model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], n_layer: 2, n_embd: 8, vocab_size: 70, add_cross_attention: false });
      expect(configFromHFJson(json, 'out/config.json')).toEqual(c);
      expect(decideConfig([{ where: 'meta', fields: configFromMetadata(configToMetadata(c))! }], 'x')).toEqual(c);
    }
    expect(configToHFJson(variants[0]!).n_inner).toBeNull();
  });

  it('refuses what we cannot honour, naming the field', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ model_type: 'llama' }, /c\.json: model_type must be 'gpt2'.*got "llama"/],
      [{ add_cross_attention: true }, /add_cross_attention is not supported/],
      [{ architectures: ['GPT2ForSequenceClassification'] }, /architectures entry 'GPT2ForSequenceClassification' is not supported: only GPT2LMHeadModel, GPT2Model, GPT2DoubleHeadsModel/],
      [{ activation_function: 'gelu_fast' }, /activation_function is not one we compute \(gelu_new, gelu, gelu_pytorch_tanh, relu, silu\), got "gelu_fast"/],
      [{ n_inner: -3 }, /n_inner must be a positive integer or null, got -3/],
      [{ layer_norm_epsilon: 'tiny' }, /layer_norm_epsilon must be a positive number/],
      [{ scale_attn_by_inverse_layer_idx: 'yes' }, /scale_attn_by_inverse_layer_idx must be true or false/],
      [{ tie_word_embeddings: 1 }, /tie_word_embeddings must be true or false/],
      [{ n_head: 0 }, /n_head must be a positive integer, got 0/],
    ];
    for (const [extra, re] of bad) expect(() => configFromHFJson({ ...BASE, ...extra }, 'c.json'), JSON.stringify(extra)).toThrow(re);
  });

  it('sources must agree field by field', () => {
    const c = makeConfig({ nLayer: 3, nHead: 4, nEmbd: 64, nPositions: 32, vocabSize: 500 });
    expect(() =>
      decideConfig([{ where: 'dir/config.json', fields: configFromHFJson({ ...BASE, scale_attn_by_inverse_layer_idx: true }) }, { where: 'the __metadata__ of m.safetensors', fields: configFromMetadata(configToMetadata(c))! }], 'dir'),
    ).toThrow(/dir: dir\/config\.json says scale_attn_by_inverse_layer_idx = true but the __metadata__ of m\.safetensors says false/);
    // Sizes-only sources (old metadata, llm.c headers) agree with any semantics.
    expect(decideConfig([{ where: 'a', fields: configFromHFJson({ ...BASE, activation_function: 'relu' }) }, { where: 'b', fields: { nLayer: 3, nHead: 4 } }], 'x').activation).toBe('relu');
  });
});
