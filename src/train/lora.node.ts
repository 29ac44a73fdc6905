// LoRA and activation checkpointing for the Node trainer (mqg train, mqg finetune-mcq): the options
// and their rules (the CLI's flags and help are in src/cli/flags.ts), the model options they give, and the adapter files a checkpoint carries (<checkpoint>/adapter/,
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
import type { OptionRules } from './options';
import { RUN_FILES } from './rundir.node';
import { QUANT_TYPES, skippedQuantizationNote, type QuantType } from '../model/quantized';

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
  /** Quantize the frozen base's block weights (GGML q8_0 / q4_0, QLoRA's recipe); needs LoRA. */
  quantize?: QuantType;
}

export const LORA_TRAIN_DEFAULTS: LoraTrainOptions = { lora: 0, loraAlpha: 16, loraTargets: 'c_attn', loraDropout: 0, checkpointActivations: false };

/** Their rules (range, --resume behaviour; see options.ts). */
export const LORA_TRAIN_RULES: OptionRules<LoraTrainOptions> = {
  lora: { type: 'int', min: 0, resume: 'fixed' },
  loraAlpha: { type: 'number', min: 0, minExclusive: true, resume: 'fixed' },
  loraTargets: { type: 'string', resume: 'fixed' },
  loraDropout: { type: 'number', min: 0, max: 1, maxExclusive: true, resume: 'fixed' },
  initAdapter: { type: 'string', resume: 'fixed' },
  checkpointActivations: { type: 'boolean', resume: 'fixed' },
  quantize: { type: 'string', choices: QUANT_TYPES, resume: 'fixed' },
};

/** The ModelOptions (and MemoryPlanInput) fields these flags set. */
export interface LoraModelOptions { lora?: LoraConfig; checkpointActivations?: boolean; quantize?: QuantType }

/** The model options of these flags, and the adapter weights to start from (--init-adapter). `command` prefixes the errors. */
export async function loraSetup(o: LoraTrainOptions, config: GPT2Config, baseName: string | undefined, command = 'mqg train'): Promise<{ options: LoraModelOptions; weights?: LoraWeights }> {
  const options: LoraModelOptions = { checkpointActivations: o.checkpointActivations };
  if (o.quantize) {
    // a quantized base is frozen: only adapters train on it
    if (!o.initAdapter && !(o.lora > 0)) throw new UsageError(`${command}: --quantize ${o.quantize} needs --lora R (or --init-adapter): a quantized base is frozen, only LoRA adapters train on it`);
    options.quantize = o.quantize;
  }
  if (o.initAdapter) {
    const { lora, weights } = await readAdapter(o.initAdapter, config);
    if (o.lora && o.lora !== lora.r) throw new UsageError(`${command}: --lora ${o.lora} differs from the r ${lora.r} of --init-adapter ${o.initAdapter}; drop --lora`);
    // --lora-dropout, when given, replaces the adapter's lora_dropout (the flag's default keeps it)
    options.lora = o.loraDropout !== LORA_TRAIN_DEFAULTS.loraDropout ? { ...lora, loraDropout: o.loraDropout } : lora;
    return { options, weights };
  }
  if (o.lora > 0) {
    const t = o.loraTargets.trim();
    const targets = t.startsWith('re:') ? t.slice(3) : t.split(',').map((s) => s.trim()).filter(Boolean);
    const lora: LoraConfig = { r: o.lora, loraAlpha: o.loraAlpha, targetModules: targets, loraDropout: o.loraDropout, baseModelNameOrPath: baseName ?? null, taskType: 'CAUSAL_LM' };
    options.lora = lora;
  }
  return { options };
}

/** loraSetup for a run: a resumed LoRA run (`resumedDir`) continues its checkpoint's adapter. */
export function runLoraSetup(o: LoraTrainOptions, config: GPT2Config, baseName: string | undefined, resumedDir: string | undefined, command?: string): ReturnType<typeof loraSetup> {
  const resumedLora = resumedDir !== undefined && (o.lora > 0 || !!o.initAdapter);
  return loraSetup(resumedLora ? { ...o, initAdapter: join(resumedDir, ADAPTER_DIR) } : o, config, baseName, command);
}

/** What a run on a quantized base reports: the type, the weights quantized, and those left unquantized (one line). */
export function quantizedBaseLine(model: GPT2): string {
  const q = model.quantizedBase!;
  const skipped = skippedQuantizationNote(model.config, q.type);
  return `base quantized ${q.type}: ${q.names.length} block matmul weights (${fmtBytes(q.bytes)})${skipped ? `; ${skipped}` : ''}`;
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

export const ADAPTER_DIR = RUN_FILES.ADAPTER_DIR;

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
