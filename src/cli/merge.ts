// `mqg merge --init C --adapter A --out D`: fold a PEFT LoRA adapter into its base model and write
// a Hugging Face checkpoint (D/model.safetensors + D/config.json, or one .safetensors file).
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import nodePath from 'node:path';
import { type FlagSpec, parseFlags, usage, UsageError } from './args';
import type { GPT2Config } from '../model/config';
import { writeCheckpoint, writeFileAtomic } from '../model/checkpoint.node';
import { readBaseCheckpoint } from '../model/lora.node';
import { mergeAdapter } from '../model/peft';
import { readAdapter } from '../model/peft.node';

const spec: Record<string, FlagSpec> = {
  init: { type: 'string', help: 'base checkpoint (file or Hugging Face model directory)' },
  adapter: { type: 'string', help: 'PEFT LoRA adapter directory (adapter_config.json, adapter_model.safetensors)' },
  out: { type: 'string', help: 'output: a directory (model.safetensors + config.json) or a .safetensors file' },
  help: { type: 'boolean', help: 'show this help' },
};

/** HF config.json for a GPT2LMHeadModel of this config. */
export function hfConfigJson(c: GPT2Config): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'], model_type: 'gpt2',
    n_layer: c.nLayer, n_head: c.nHead, n_embd: c.nEmbd, n_positions: c.nPositions, n_ctx: c.nPositions, vocab_size: c.vocabSize,
    n_inner: c.nInner === 4 * c.nEmbd ? null : c.nInner, layer_norm_epsilon: c.layerNormEpsilon, activation_function: c.activation,
    scale_attn_weights: c.scaleAttnWeights, scale_attn_by_inverse_layer_idx: c.scaleAttnByInverseLayerIdx,
    reorder_and_upcast_attn: c.reorderAndUpcastAttn, tie_word_embeddings: c.tieWordEmbeddings,
  };
}

export async function main(argv: string[]): Promise<void> {
  const { flags, positional } = parseFlags(argv, spec, 'merge');
  if (flags.help) return void console.log(usage('merge', 'fold a LoRA adapter into its base model (a merged Hugging Face checkpoint)', spec));
  if (positional.length) throw new UsageError(`mqg merge: unexpected argument "${positional[0]}" (flags start with --)`);
  for (const f of ['init', 'adapter', 'out']) if (!flags[f]) throw new UsageError(`mqg merge: --${f} is required`);
  const base = await readBaseCheckpoint(flags.init as string);
  const { lora, weights } = await readAdapter(flags.adapter as string, base.config);
  const merged = mergeAdapter(base.params, base.config, lora, weights);
  const out = flags.out as string;
  const file = /\.safetensors$/i.test(out) ? out : nodePath.join(out, 'model.safetensors');
  await writeCheckpoint(file, base.config, merged, { metadata: { merged_adapter: nodePath.resolve(flags.adapter as string) } });
  if (file !== out) {
    await writeFileAtomic(nodePath.join(out, 'config.json'), new TextEncoder().encode(`${JSON.stringify(hfConfigJson(base.config), null, 2)}\n`));
    const tok = nodePath.join(base.dir, 'tokenizer.json');
    if (existsSync(tok)) {
      mkdirSync(out, { recursive: true });
      copyFileSync(tok, nodePath.join(out, 'tokenizer.json'));
    }
  }
  console.log(`merged ${flags.adapter} (r=${lora.r}, alpha=${lora.loraAlpha}, ${weights.size} modules) into ${flags.init} -> ${out}`);
}
