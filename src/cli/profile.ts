// `mqg profile`: each kernel's GPU time in one training step, sorted, with GFLOP/s or GB/s.
import { parseFlags, usage, type FlagSpec } from './args';
import { createGPU } from '../gpu/context';
import { GPT2 } from '../model/gpt2';
import { presetConfig, PRESET_NAMES, type PresetName } from '../model/config';
import { formatProfile, profileTrainStep } from '../train/profile';

const spec: Record<string, FlagSpec> = {
  preset: { type: 'string', default: 'mqg-tiny', choices: PRESET_NAMES, help: 'model preset' },
  'vocab-size': { type: 'int', default: 4096, min: 1, max: 65535, help: 'vocab for mqg-* presets (others keep theirs unless given)' },
  'batch-size': { type: 'int', default: 8, min: 1, help: 'B' },
  'seq-len': { type: 'int', default: 128, min: 1, help: 'T' },
  precision: { type: 'string', default: 'auto', choices: ['auto', 'f16', 'f32'], help: 'auto | f16 | f32' },
  steps: { type: 'int', default: 3, min: 1, help: 'profiled steps (after 2 warm-up steps)' },
  help: { type: 'boolean', help: 'show this help' },
};

export async function profileMain(argv: string[]): Promise<void> {
  const { flags, given } = parseFlags(argv, spec, 'profile');
  if (flags.help) return void console.log(usage('profile', 'GPU time of every kernel in a training step', spec));
  const preset = flags.preset as string;
  const gpu = await createGPU({ precision: flags.precision as 'auto', profile: true });
  const config = presetConfig(preset as PresetName, preset.startsWith('mqg') || given.has('vocab-size') ? (flags['vocab-size'] as number) : undefined);
  const model = new GPT2(gpu, config);
  model.initRandom(1);
  const B = flags['batch-size'] as number, T = flags['seq-len'] as number;
  const p = await profileTrainStep(gpu, model, B, T, { steps: flags.steps as number });
  console.log(formatProfile(p, `${preset} B=${B} T=${T} ${model.dtype} on ${gpu.adapterName}`));
  gpu.destroy();
}
