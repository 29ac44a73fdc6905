// `mqg tune`: tune the kernels with per-adapter choices (matmul, attention, the row kernels) on a
// model's shapes with autoTune (kernels/tune), record the choices for this adapter, driver and
// library version (~/.cache/mqg-webgpu/matmul-tune.json), and print each candidate's time. A model
// tunes by itself where it is prepared (GPT2.prepare) on first use; this redoes it on demand.
import { parseFlags, usage, type FlagSpec } from './args';
import { createGPU } from '../gpu/context';
import { autoTune } from '../kernels/tune/auto';
import { attentionVariantName } from '../kernels/attention';
import { layernormLayoutName } from '../kernels/layernorm';
import { variantName } from '../kernels/matmul-wgsl';
import { presetConfig, type PresetName } from '../model/config';

const spec: Record<string, FlagSpec> = {
  preset: { type: 'string', default: 'mqg-tiny', help: 'model preset whose shapes are timed' },
  'vocab-size': { type: 'int', default: 4096, help: 'vocab for mqg-* presets (others keep theirs unless given)' },
  'batch-size': { type: 'int', default: 8, help: 'B' },
  'seq-len': { type: 'int', default: 128, help: 'T' },
  precision: { type: 'string', default: 'auto', help: 'auto | f16 | f32' },
  cached: { type: 'boolean', help: 'print the recorded choice without timing (tune only if there is none)' },
  help: { type: 'boolean', help: 'show this help' },
};

export async function tuneMain(argv: string[]): Promise<void> {
  const { flags } = parseFlags(argv, spec, 'tune');
  if (flags.help) return void console.log(usage('tune', 'time the kernel variants on this adapter and record the fastest correct one', spec));
  const preset = flags.preset as string;
  const config = presetConfig(preset as PresetName, preset.startsWith('mqg') || argv.some((a) => a.startsWith('--vocab-size')) ? (flags['vocab-size'] as number) : undefined);
  const gpu = await createGPU({ precision: flags.precision as 'auto' });
  const B = flags['batch-size'] as number, T = flags['seq-len'] as number;
  console.log(`tuning on ${gpu.adapterName}, ${preset} B=${B} T=${T} ${gpu.precision}`);
  const r = await autoTune(gpu, config, B, T, { force: !flags.cached, onProgress: (line) => console.log(`  ${line}`) });
  console.log(table(`matmul, ${r.cached ? 'recorded' : 'measured'} ${r.matmul.date ?? ''} (ms of GEMMs per training step: each of its shapes timed, times its calls per step)`, 'variant', r.matmul, 2));
  console.log(`\nchosen: ${variantName(r.matmul.variant)}\nrecord key: ${r.key}`);
  if (r.attention) {
    const a = r.attention;
    const sh = a.shape ? ` on B=${a.shape.B} T=${a.shape.T} C=${a.shape.C} NH=${a.shape.NH}` : '';
    console.log(table(`attention (hs=${config.nEmbd / config.nHead}), ${r.cached ? 'recorded' : 'measured'} ${a.date ?? ''} (ms per forward + backward${sh})`, 'layout', a, 2));
    console.log(`\nchosen: ${attentionVariantName(a.variant)}`);
  } else {
    console.log(`\nattention (hs=${config.nEmbd / config.nHead}): no layout choice on this adapter (${gpu.hasSubgroups ? 'the tiled kernels' : 'no subgroups: the tiled kernels'})`);
  }
  const ln = r.rows.layernorm, ce = r.rows.crossEntropy;
  console.log(table(`layernorm (C=${config.nEmbd}), ${r.cached ? 'recorded' : 'measured'} ${ln.date ?? ''} (ms per residual + layernorm forward and backward on ${ln.shape?.BT ?? '?'} rows; lanes × rows per workgroup)`, 'layout', ln, 3));
  console.log(`\nchosen: ${layernormLayoutName(ln.variant)}`);
  console.log(table(`cross-entropy (Vp=${config.paddedVocabSize}), ${r.cached ? 'recorded' : 'measured'} ${ce.date ?? ''} (ms per forward + backward on ${ce.shape?.BT ?? '?'} rows; threads per row)`, 'workgroup', ce, 3));
  console.log(`\nchosen: wg${ce.variant}`);
  gpu.destroy();
}

/** A tuner's timings as a markdown table, fastest first, rejected candidates last. */
function table(title: string, what: string, rec: { timings?: Record<string, number>; rejected?: Record<string, string> }, digits: number): string {
  const t = rec.timings ?? {};
  const best = Math.min(...Object.values(t));
  const rows = Object.entries(t).sort((x, y) => x[1] - y[1]).map(([name, ms]) => `| ${name} | ${ms.toFixed(digits)} | ${(ms / best).toFixed(2)}× |`);
  const rejected = Object.entries(rec.rejected ?? {}).map(([name, why]) => `| ${name} | rejected: ${why} | |`);
  return ['', `${title}:`, '', `| ${what} | ms | vs best |`, '|---|---:|---:|', ...rows, ...rejected].join('\n');
}
