// LoRA and activation checkpointing for the Node trainer (mqg train, mqg finetune-mcq): the flags,
// the model options they give, and the adapter files a checkpoint carries (<checkpoint>/adapter/,
// a PEFT directory).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../util/errors';
import type { GPT2Config } from '../model/config';
import type { GPT2 } from '../model/gpt2';
import {
  ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, serializeAdapterConfig, serializeAdapterWeights, type LoraConfig, type LoraWeights,
} from '../model/peft';
import { readAdapter } from '../model/peft.node';
import { fmtBytes, memoryPlan, registerMemoryAlternative } from '../model/memory';
import { openCheckpoint } from '../model/checkpoint.node';
import { streamWeights } from '../model/source/load';

export interface LoraTrainOptions {
  /** LoRA rank; 0 trains the whole model. */
  lora: number;
  loraAlpha: number;
  /** Comma-separated target_modules (suffixes of module names), or `re:<regex>` for PEFT's string form. */
  loraTargets: string;
  loraDropout: number;
  /** Continue from a PEFT adapter directory (its r, alpha, targets; implies LoRA). */
  initAdapter?: string;
  checkpointActivations: boolean;
}

export const LORA_TRAIN_DEFAULTS: LoraTrainOptions = { lora: 0, loraAlpha: 16, loraTargets: 'c_attn', loraDropout: 0, checkpointActivations: false };

/** As the trainer's TRAIN_FLAGS entries (help, range, --resume behaviour). */
export const LORA_TRAIN_FLAGS = {
  lora: { type: 'int', help: 'train LoRA adapters of this rank on a frozen base (0 = full training)', min: 0, resume: 'fixed' },
  loraAlpha: { type: 'number', help: 'LoRA alpha (the update is scaled by alpha / r)', min: 0, minExclusive: true, resume: 'fixed' },
  loraTargets: { type: 'string', help: 'LoRA target modules, comma-separated (c_attn, attn.c_proj, c_fc, mlp.c_proj, c_proj), or re:REGEX', resume: 'fixed' },
  loraDropout: { type: 'number', help: 'LoRA dropout (only 0 is implemented)', min: 0, max: 1, maxExclusive: true, resume: 'fixed' },
  initAdapter: { type: 'string', help: 'continue training a PEFT LoRA adapter directory (implies LoRA with its r, alpha and targets)', resume: 'fixed' },
  checkpointActivations: { type: 'boolean', help: 'keep only each block\'s input and recompute the block in backward (less memory, ~1/3 more compute)', resume: 'fixed' },
} as const;

/** The ModelOptions (and MemoryPlanInput) fields these flags set. */
export interface LoraModelOptions { lora?: LoraConfig; checkpointActivations?: boolean }

/** The model options of these flags, and the adapter weights to start from (--init-adapter). `command` prefixes the errors. */
export async function loraSetup(o: LoraTrainOptions, config: GPT2Config, baseName: string | undefined, command = 'mqg train'): Promise<{ options: LoraModelOptions; weights?: LoraWeights }> {
  const options: LoraModelOptions = { checkpointActivations: o.checkpointActivations };
  if (o.loraDropout > 0) throw new UsageError(`${command}: --lora-dropout ${o.loraDropout}: dropout on the adapter input is not implemented; use 0`);
  if (o.initAdapter) {
    const { lora, weights } = await readAdapter(o.initAdapter, config);
    if (o.lora && o.lora !== lora.r) throw new UsageError(`${command}: --lora ${o.lora} differs from the r ${lora.r} of --init-adapter ${o.initAdapter}; drop --lora`);
    if (lora.loraDropout > 0) throw new UsageError(`${command}: --init-adapter ${o.initAdapter} has lora_dropout ${lora.loraDropout}; dropout is not implemented (set it to 0 in adapter_config.json)`);
    options.lora = lora;
    return { options, weights };
  }
  if (o.lora > 0) {
    const t = o.loraTargets.trim();
    const targets = t.startsWith('re:') ? t.slice(3) : t.split(',').map((s) => s.trim()).filter(Boolean);
    const lora: LoraConfig = { r: o.lora, loraAlpha: o.loraAlpha, targetModules: targets, loraDropout: 0, baseModelNameOrPath: baseName ?? null, taskType: 'CAUSAL_LM' };
    options.lora = lora;
  }
  return { options };
}

/** The adapter's PEFT files (name -> bytes), read from the GPU before a checkpoint is written. */
export async function adapterFiles(model: GPT2): Promise<Map<string, Uint8Array | string> | undefined> {
  if (!model.lora) return undefined;
  const c = model.lora.config;
  return new Map<string, Uint8Array | string>([
    [ADAPTER_WEIGHTS_FILE, serializeAdapterWeights(await model.lora.weights(), c)],
    [ADAPTER_CONFIG_FILE, serializeAdapterConfig(c)],
  ]);
}

export const ADAPTER_DIR = 'adapter';

/** Stream a checkpoint's weights into the model, one tensor at a time (a large base is never held whole). */
export async function loadWeightsFrom(model: GPT2, source: string): Promise<void> {
  const ck = await openCheckpoint(source, { config: model.config });
  try {
    await streamWeights(model, ck);
  } finally {
    await ck.close();
  }
}

/** Write them into <dir>/adapter with the checkpoint's own (synced) writer. */
export function writeAdapterFiles(dir: string, files: Map<string, Uint8Array | string> | undefined, write: (path: string, data: Uint8Array | string) => void = writeFileSync): void {
  if (!files) return;
  mkdirSync(join(dir, ADAPTER_DIR), { recursive: true });
  for (const [name, data] of files) write(join(dir, ADAPTER_DIR, name), data);
}

// When full training does not fit: say whether LoRA (rank 8 on c_attn, c_fc), with or without
// activation checkpointing, would.
registerMemoryAlternative((i, budget) => {
  if (i.lora || i.training === false) return undefined;
  const lora: LoraConfig = { r: 8, loraAlpha: 16, targetModules: ['c_attn', 'c_fc'], loraDropout: 0, baseModelNameOrPath: null, taskType: 'CAUSAL_LM' };
  for (const checkpointActivations of [false, true]) {
    const need = memoryPlan({ ...i, lora, checkpointActivations, training: true }).total;
    if (need <= budget) return `LoRA fits: --lora 8 --lora-targets c_attn,c_fc${checkpointActivations ? ' --checkpoint-activations' : ''} needs ${fmtBytes(need)}`;
  }
  return undefined;
});
