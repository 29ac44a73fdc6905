// LoRA on a BioMedLM-sized model: the BioMedLM-shaped random fp32 checkpoint of bench/biomedlm.mjs
// (32 layers, width 2560, vocab 28896, ~10.4 GB sharded safetensors; written by that script, reused
// with --dir D --reuse), then
//   1. full fine-tuning of it (f16, B 1 x T 128) through `mqg train`: refused up front with the figures;
//   2. LoRA rank 8 on c_attn,c_fc (f16, B 1 x T 128) through `mqg train`: a few steps, with the step
//      time and the process's peak resident memory (/usr/bin/time -v). Goal: peak RSS <= 20 GB;
//   3. the memory plan (memory.ts) for 8, 16 and 24 GB GPUs at T 512 and 1024: full, LoRA, LoRA with
//      activation checkpointing.
//
//   node scripts/build.mjs --no-types && node bench/lora-biomedlm.mjs [--dir D] [--reuse] [--keep] [--steps 2]
//        [--plan-only] [--preset gpt2 (a quick dry run at 124M)]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cores, cpuModel } from './cpu.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist/node/cli.js');
if (!existsSync(cli)) throw new Error('build first: node scripts/build.mjs --no-types');
const { presetConfig, memoryPlan } = await import(path.join(root, 'dist/lib/model/index.js'));
const { encodeShard } = await import(path.join(root, 'dist/lib/train/index.js'));

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const flag = (name) => args.includes(`--${name}`);
const preset = opt('preset', 'biomedlm');
const config = presetConfig(preset);
const steps = Number(opt('steps', 2));
const T = 128;
const GB = 1e9, GiB = 2 ** 30;
const lora = { r: 8, loraAlpha: 16, targetModules: ['c_attn', 'c_fc'], loraDropout: 0, baseModelNameOrPath: null, taskType: 'CAUSAL_LM' };

// ---- 3. the plan (no model needed)
const rows = [];
for (const gpuGB of [8, 16, 24]) {
  for (const seq of [512, 1024]) {
    const i = { config, B: 1, T: seq, precision: 'f16', training: true, generation: false };
    const full = memoryPlan(i).total, withLora = memoryPlan({ ...i, lora }).total, ckpt = memoryPlan({ ...i, lora, checkpointActivations: true }).total;
    const fits = (n) => (n <= gpuGB * GiB ? 'fits' : 'no');
    rows.push({ gpu_gb: gpuGB, T: seq, full_gib: +(full / GiB).toFixed(2), full: fits(full), lora_gib: +(withLora / GiB).toFixed(2), lora: fits(withLora), lora_ckpt_gib: +(ckpt / GiB).toFixed(2), lora_ckpt: fits(ckpt) });
  }
}
console.log(`memory plan, ${preset} (${config.nLayer} x ${config.nEmbd}), f16, B 1, LoRA r 8 on c_attn,c_fc:`);
console.log('  GPU    T     full (GiB)       LoRA (GiB)       LoRA + checkpointing (GiB)');
for (const r of rows) console.log(`  ${String(r.gpu_gb).padStart(2)} GB ${String(r.T).padStart(5)}  ${String(r.full_gib).padStart(7)} ${r.full.padEnd(6)}  ${String(r.lora_gib).padStart(7)} ${r.lora.padEnd(6)}  ${String(r.lora_ckpt_gib).padStart(7)} ${r.lora_ckpt}`);
if (flag('plan-only')) process.exit(0);

const tempParent = opt('dir', undefined) ? undefined : mkdtempSync(path.join(tmpdir(), 'mqg-lora-biomedlm-'));
const dir = opt('dir', undefined) ?? path.join(tempParent, 'model');
if (path.resolve(dir).startsWith(root + path.sep)) throw new Error(`--dir ${dir} is inside the repository; the checkpoint must never be committed`);
const data = `${dir}-lora-tokens.bin`;
const out = `${dir}-lora-run`;
try {
  if (!(flag('reuse') && existsSync(path.join(dir, 'config.json')))) {
    // the checkpoint as the BioMedLM bench writes it
    const g = spawnSync(process.execPath, [path.join(root, 'bench/biomedlm.mjs'), '--dir', dir, '--write-only', '--preset', preset], { stdio: 'inherit' });
    if (g.status !== 0) throw new Error('bench/biomedlm.mjs --write-only failed');
  }
  writeFileSync(data, encodeShard(Array.from({ length: T * (steps + 1) + 1 }, (_, i) => (i * 7919) % config.vocabSize), config.vocabSize));
  const common = ['--init', dir, '--data', data, '--batch-size', '1', '--seq-len', String(T), '--steps', String(steps), '--precision', 'f16', '--schedule', 'constant',
    '--warmup', '0', '--lr', '1e-3', '--min-lr', '1e-4', '--eval-every', '0', '--save-every', '0', '--sample-tokens', '0', '--mcq', '', '--log-format', 'jsonl', '--overwrite', '--out', out];
  const env = { ...process.env, MQG_AUTOTUNE: '0', XDG_RUNTIME_DIR: '/tmp' };

  // ---- 1. full fine-tuning: refused before anything is allocated
  const full = spawnSync(process.execPath, [cli, 'train', ...common, '--max-memory', '20G'], { encoding: 'utf8', env });
  const refusal = full.stderr.trim().split('\n').filter((l) => !l.startsWith('Warning')).pop() ?? '';
  console.log(`full fine-tuning (exit ${full.status}): ${refusal}`);

  // ---- 2. LoRA
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, cli, 'train', ...common, '--lora', '8', '--lora-alpha', '16', '--lora-targets', 'c_attn,c_fc', '--max-memory', '20G'], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`mqg train --lora failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  const recs = r.stdout.split('\n').filter((l) => l.startsWith('{"step"')).map((l) => JSON.parse(l));
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)/.exec(r.stderr)?.[1];
  const result = {
    model: `${preset}-shaped (${config.nLayer} x ${config.nEmbd}, vocab ${config.vocabSize}), random fp32 weights, sharded safetensors`,
    lora: 'r 8, alpha 16, c_attn,c_fc', precision: 'f16', B: 1, T, steps,
    losses: recs.map((x) => +x.loss.toFixed(4)),
    step_ms: recs.map((x) => Math.round(x.ms)),
    peak_rss_gb: +((rssKb * 1024) / GB).toFixed(2),
    goal_peak_rss_gb: 20,
    wall,
    full_finetune_refused: full.status !== 0,
    full_finetune_message: refusal,
    plan: rows,
  };
  console.log(JSON.stringify(result));
  console.log(`LoRA: steps ${result.step_ms.join(', ')} ms | losses ${result.losses.join(', ')} | peak RSS ${result.peak_rss_gb} GB (goal <= 20) | wall ${wall}`);
  if (preset === 'biomedlm') {
    mkdirSync(path.join(root, 'bench/results'), { recursive: true });
    writeFileSync(path.join(root, 'bench/results/lora-biomedlm.json'), JSON.stringify({ ...result, date: new Date().toISOString(), cpu: cpuModel(), cores: cores() }, null, 2) + '\n');
  }
} finally {
  rmSync(data, { force: true });
  rmSync(out, { recursive: true, force: true });
  if (!flag('keep')) {
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}-tokens.bin`, { force: true });
    if (tempParent) rmSync(tempParent, { recursive: true, force: true });
  }
}
