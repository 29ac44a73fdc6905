// BioMedLM-sized load + eval bench: writes a BioMedLM-shaped checkpoint (32 layers, 20 heads, width
// 2560, vocab 28896, context 1024, scale_attn_by_inverse_layer_idx) with random fp32 weights as a
// sharded safetensors model directory (~10.7 GB, in a temp directory outside the repo, deleted after
// unless --keep), then runs `mqg eval` on it in f16 and reports the load time, eval tokens/s and the
// eval process's peak resident memory (from /usr/bin/time -v). Goal: peak RSS <= 16 GB.
//
//   node scripts/build.mjs --no-types && node bench/biomedlm-eval.mjs [--dir D] [--keep] [--reuse]
//        [--max-shard-size 5e9] [--batch-size 1] [--seq-len 64] [--max-batches 2] [--precision f16]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cores, cpuModel } from './cpu.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist/node/cli.js');
if (!existsSync(cli)) throw new Error('build first: node scripts/build.mjs --no-types');
const { presetConfig, paramShapes } = await import(path.join(root, 'dist/lib/model/config.js'));
const { writeCheckpoint } = await import(path.join(root, 'dist/lib/model/checkpoint-write.node.js'));

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const flag = (name) => args.includes(`--${name}`);
const B = Number(opt('batch-size', 1)), T = Number(opt('seq-len', 64)), N = Number(opt('max-batches', 2));
const precision = opt('precision', 'f16');
const tempParent = opt('dir', undefined) ? undefined : mkdtempSync(path.join(tmpdir(), 'mqg-biomedlm-'));
const dir = opt('dir', undefined) ?? path.join(tempParent, 'model');
const data = `${dir}-tokens.bin`;
if (path.resolve(dir).startsWith(root + path.sep)) throw new Error(`--dir ${dir} is inside the repository; the checkpoint must never be committed`);

// --preset gpt2 gives a quick dry run of the same pipeline at 124M parameters.
const config = presetConfig(opt('preset', 'biomedlm'));
const gb = (n) => (n / 1e9).toFixed(2);

try {
  if (!(flag('reuse') && existsSync(path.join(dir, 'config.json')))) {
    // Random weights like GPT-2's initialisation (matmul weights and embeddings ~ U(+-0.035): std 0.02;
    // LayerNorm weight 1, biases 0), generated tensor by tensor while the writer streams them out.
    let s = 0x9e3779b9;
    const params = paramShapes(config).map(({ name, shape }) => ({
      name,
      shape,
      values: async () => {
        const n = shape.reduce((a, b) => a * b, 1);
        const a = new Float32Array(n);
        if (/ln_\d|ln_f/.test(name) && name.endsWith('.weight')) a.fill(1);
        else if (!name.endsWith('.bias')) for (let i = 0; i < n; i++) { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; a[i] = ((s >>> 0) / 2 ** 32 - 0.5) * 0.07; }
        return a;
      },
    }));
    const t0 = performance.now();
    await writeCheckpoint(dir, config, params, { maxShardSize: Number(opt('max-shard-size', 5e9)) });
    const bytes = readdirSync(dir).reduce((a, f) => a + statSync(path.join(dir, f)).size, 0);
    console.log(`wrote ${dir}: ${readdirSync(dir).join(', ')} (${gb(bytes)} GB) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  // A token shard with just enough tokens (llm.c format: 256 x int32 header, then uint16 tokens).
  const count = B * T * N + 1;
  const shard = new Uint8Array(1024 + count * 2);
  const h = new Int32Array(shard.buffer, 0, 256);
  h[0] = 20240520; h[1] = 1; h[2] = count;
  const toks = new Uint16Array(shard.buffer, 1024, count);
  for (let i = 0; i < count; i++) toks[i] = (i * 7919) % config.vocabSize;
  writeFileSync(data, shard);

  const evalArgs = [cli, 'eval', '--checkpoint', dir, '--data', data, '--batch-size', B, '--seq-len', T, '--max-batches', N, '--precision', precision, '--log-format', 'jsonl'].map(String);
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, ...evalArgs], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`mqg eval failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  const res = JSON.parse(r.stdout.trim().split('\n').pop());
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)/.exec(r.stderr)?.[1];
  const out = {
    model: `${opt('preset', 'biomedlm')}-shaped (${config.nLayer} x ${config.nEmbd}, vocab ${config.vocabSize}), random fp32 weights, sharded safetensors`,
    precision, B, T, batches: N,
    load_seconds: +res.load_seconds.toFixed(1),
    eval_tokens_per_second: +res.tokens_per_second.toFixed(2),
    loss: +res.loss.toFixed(4),
    peak_rss_gb: +(rssKb * 1024 / 1e9).toFixed(2),
    wall,
    goal_peak_rss_gb: 16,
  };
  console.log(JSON.stringify(out));
  console.log(`load ${out.load_seconds} s | eval ${out.eval_tokens_per_second} tokens/s | peak RSS ${out.peak_rss_gb} GB (goal <= 16) | loss ${out.loss}`);
  if (!args.includes('--preset')) {
    mkdirSync(path.join(root, 'bench/results'), { recursive: true });
    writeFileSync(path.join(root, 'bench/results/biomedlm-eval.json'), JSON.stringify({ ...out, date: new Date().toISOString(), cpu: cpuModel(), cores: cores() }, null, 2) + '\n');
  }
} finally {
  if (!flag('keep')) {
    rmSync(dir, { recursive: true, force: true });
    rmSync(data, { force: true });
    if (tempParent) rmSync(tempParent, { recursive: true, force: true });
  }
}
