// `mqg merge --init C --adapter A --out D`: fold a PEFT LoRA adapter into its base model and write
// a Hugging Face checkpoint (D/model.safetensors + D/config.json, or one .safetensors file).
import { readFileSync } from 'node:fs';
import nodePath from 'node:path';
import { type FlagSpec, parseFlags, usage } from './args';
import { UsageError } from '../util/errors';
import { openCheckpoint } from '../model/checkpoint.node';
import { openedParams, outputKind, writeCheckpoint } from '../model/checkpoint-write.node';
import { checkOutput, writeFileAtomicSync } from '../util/outputs.node';
import { noteCheckpoint } from './checkpoint';
import { Progress } from '../train/progress';
import { adapterMerges } from '../model/peft';
import { readAdapter } from '../model/peft.node';

const spec: Record<string, FlagSpec> = {
  init: { type: 'string', help: 'base checkpoint (a run directory, a file or a Hugging Face model directory)' },
  adapter: { type: 'string', help: 'PEFT LoRA adapter directory (adapter_config.json, adapter_model.safetensors)' },
  out: { type: 'string', help: 'output: a directory (model.safetensors + config.json) or a .safetensors file' },
  overwrite: { type: 'boolean', help: 'replace an existing --out' },
  help: { type: 'boolean', help: 'show this help' },
};

export async function mergeMain(argv: string[]): Promise<void> {
  const { flags, positional } = parseFlags(argv, spec, 'merge');
  if (flags.help) return void console.log(usage('merge', 'fold a LoRA adapter into its base model (a merged Hugging Face checkpoint)', spec));
  if (positional.length) throw new UsageError(`mqg merge: unexpected argument "${positional[0]}" (flags start with --)`);
  for (const f of ['init', 'adapter', 'out']) if (!flags[f]) throw new UsageError(`mqg merge: --${f} is required`);
  const out = flags.out as string;
  if (outputKind(out) === 'llmc') throw new UsageError(`mqg merge: --out ${out}: a merged checkpoint is written as safetensors (a directory or a .safetensors file), not llm.c .bin`);
  checkOutput({
    command: 'mqg merge', flag: '--out', path: out, kind: outputKind(out) === 'directory' ? 'dir' : 'file', overwrite: !!flags.overwrite,
    inputs: [{ flag: '--init', path: flags.init as string }, { flag: '--adapter', path: flags.adapter as string }],
  });
  noteCheckpoint(flags.init as string, '--init');
  // The base opened once and streamed: one base tensor in memory at a time, merged on its way out.
  const base = await openCheckpoint(flags.init as string);
  let lora, weights;
  try {
    ({ lora, weights } = await readAdapter(flags.adapter as string, base.config));
    const merges = adapterMerges(base.config, lora, weights);
    const params = openedParams(base, (name, v) => merges.get(name)?.(v) ?? v);
    const progress = new Progress('weights', 0, process.stderr, process.env, 'params');
    await writeCheckpoint(out, base.config, params, { metadata: { merged_adapter: nodePath.resolve(flags.adapter as string) }, onWriteProgress: (done, total) => progress.tick(done, total) })
      .finally(() => progress.done());
  } finally {
    await base.close();
  }
  // A model directory keeps its tokenizer beside the weights.
  const tok = base.resolved.tokenizerPath;
  if (tok && outputKind(out) === 'directory') writeFileAtomicSync(nodePath.join(out, 'tokenizer.json'), readFileSync(tok));
  console.log(`merged ${flags.adapter} (r=${lora.r}, alpha=${lora.loraAlpha}, ${weights.size} modules) into ${flags.init} -> ${out}`);
}
