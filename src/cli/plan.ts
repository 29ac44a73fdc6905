// `mqg plan`: GPU memory by category for inference and training, against the memory budget.
import { parseFlags, usage, type FlagSpec } from './args';
import { UsageError } from '../util/errors';
import { presetConfig, PRESET_NAMES, type PresetName } from '../model/config';
import { readCheckpointConfig } from '../model/checkpoint.node';
import { fmtBytes, formatMemoryTable, memoryPlan, memoryRefusal, DEFAULT_MAX_BINDING } from '../model/memory';
import { memoryBudget } from '../train/budget.node';
import { resolveModelPath } from '../train/inputs.node';
import { LORA_TRAIN_DEFAULTS, loraSetup } from '../train/lora.node';
import { QUANTIZE_FLAG } from './flags';
import type { QuantType } from '../model/quantized';

const spec: Record<string, FlagSpec> = {
  init: { type: 'string', help: 'a checkpoint (file, checkpoint or run directory, HF directory): its config' },
  preset: { type: 'string', choices: PRESET_NAMES, help: 'a model preset (instead of --init)' },
  'vocab-size': { type: 'int', min: 1, help: 'vocab for an mqg-* preset (default 2048)' },
  'batch-size': { type: 'int', default: 8, min: 1, help: 'B' },
  'seq-len': { type: 'int', min: 1, help: 'T (default: the model\'s context)' },
  precision: { type: 'string', default: 'f16', choices: ['f16', 'f32'], help: 'storage precision' },
  'max-memory': { type: 'string', help: 'the budget (8G, 512M; default: the adapter\'s, or this machine\'s for a software adapter)' },
  lora: { type: 'int', default: 0, min: 0, help: 'plan LoRA training of this rank (frozen base; 0 = full training)' },
  'lora-targets': { type: 'string', default: LORA_TRAIN_DEFAULTS.loraTargets, help: 'LoRA target modules (as mqg train)' },
  'checkpoint-activations': { type: 'boolean', default: false, help: 'plan with activation checkpointing' },
  quantize: { ...QUANTIZE_FLAG, help: 'q8_0 | q4_0: plan the blocks\' matmul weights GGML-quantized (inference, and LoRA training with --lora; full training keeps full precision)' },
  help: { type: 'boolean', help: 'show this help' },
};

export async function planMain(argv: string[]): Promise<void> {
  const { flags } = parseFlags(argv, spec, 'plan');
  if (flags.help) return void console.log(usage('plan', 'GPU memory by category (weights, master weights, gradients, AdamW moments, activations, KV cache) for inference and training', spec));
  if (!!flags.init === !!flags.preset) throw new UsageError('mqg plan: give exactly one of --init C and --preset P');
  const config = flags.init ? await readCheckpointConfig(resolveModelPath(flags.init as string)) : presetConfig(flags.preset as PresetName, flags['vocab-size'] as number | undefined ?? (String(flags.preset).startsWith('mqg') ? 2048 : undefined));
  const B = flags['batch-size'] as number;
  const T = (flags['seq-len'] as number | undefined) ?? config.nPositions;
  if (T > config.nPositions) throw new UsageError(`mqg plan: --seq-len ${T} exceeds the model's context (${config.nPositions})`);
  const precision = flags.precision as 'f16' | 'f32';
  let budget = flags['max-memory'] ? memoryBudget({ adapterName: '' }, flags['max-memory'] as string) : undefined;
  let maxBindingBytes = DEFAULT_MAX_BINDING;
  if (!budget) {
    await import('../gpu/node');
    const { createGPU } = await import('../gpu/context');
    const gpu = await createGPU({ precision: 'f32' });
    budget = memoryBudget(gpu);
    maxBindingBytes = gpu.limits.maxStorageBufferBindingSize ?? maxBindingBytes;
    gpu.destroy();
  }
  const lora = await loraSetup({ ...LORA_TRAIN_DEFAULTS, lora: flags.lora as number, loraTargets: flags['lora-targets'] as string, checkpointActivations: !!flags['checkpoint-activations'] }, config, undefined);
  // a quantized base is frozen: full training (no --lora) plans full-precision weights
  const quantize = flags.quantize as QuantType | undefined;
  const i = { config, B, T, precision, maxBindingBytes, ...lora.options, quantize: lora.options.lora ? quantize : undefined };
  const inference = memoryPlan({ ...i, training: false, quantize });
  const training = memoryPlan({ ...i, training: true });
  const how = `${lora.options.lora ? ` | LoRA r=${lora.options.lora.r} on ${flags['lora-targets']}` : ''}${lora.options.checkpointActivations ? ' | activation checkpointing' : ''}${quantize ? ` | base ${quantize}${lora.options.lora ? '' : ' (inference column; full training stays full precision)'}` : ''}`;
  console.log(`model: ${config.nLayer} layers, ${config.nHead} heads, width ${config.nEmbd}, context ${config.nPositions}, vocab ${config.vocabSize} | B=${B} T=${T} ${precision}${how}`);
  console.log(formatMemoryTable(inference, training));
  if (!budget) return void console.log('budget: unknown (the adapter reports no memory heaps); give --max-memory to check a configuration');
  console.log(`budget: ${fmtBytes(budget.bytes)} (${budget.source})`);
  const why = memoryRefusal(i, budget.bytes, budget.source);
  console.log(why ? `training does not fit: ${why}` : 'training fits');
}
