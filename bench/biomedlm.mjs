// The BioMedLM bench (issue 23): mqg-webgpu against the user's alternative, PyTorch float32 on the
// same CPU, on a BioMedLM-shaped checkpoint (32 layers, 20 heads, width 2560, vocab 28896, context
// 1024, scale_attn_by_inverse_layer_idx) of random fp32 weights as sharded safetensors (~10.4 GB, in
// a temp directory outside the repo; deleted afterwards unless --keep). In one run, one process after
// the other, each under /usr/bin/time -v (peak RSS):
//   for each weight type: unquantized at --precision (default f16), q8_0, q4_0 (`--quantize`):
//     first an untimed mqg sample of 2 tokens, so the shader cache holds this type's kernels as on
//     any run after a machine's first (on lavapipe a new quantized kernel compiles in 3-15 s once);
//     mqg eval at B1×T128 (2 batches) and B1×T32 (4 batches): load time, tokens/s, loss, peak RSS;
//     mqg sample --prompt-ids (the shard's first 16 tokens) --max-tokens 16 --temperature 0: greedy
//       decode tokens/s;
//     for q4_0, one LoRA run (r 8 on c_attn,c_fc, B1×T128, 2 steps): step time, peak RSS;
//   then bench/peers/torch_gpt2.py (HF GPT-2 in PyTorch float32, KV cache, as many threads as cores)
//   on the same shards and tokens: load, the same evals, the same greedy decode, peak RSS.
// A flag this build's mqg does not have (e.g. --quantize before it exists) makes its row "not
// available" with the reason; a run that fails otherwise is recorded as failed, and the bench goes on.
// Writes bench/results/biomedlm-<date>.json (the CPU, threads, versions, every figure, the ratios
// ours / PyTorch, the issue's goals) and regenerates the tables of docs/benchmarks.md and the README
// from it (bench/readme.ts). A smaller model (--layers, --preset) writes biomedlm-dev-<date>.json
// instead, which no table reads.
//
//   node scripts/build.mjs --no-types && node bench/biomedlm.mjs [--dir D] [--keep] [--reuse]
//        [--only f16,q8_0,q4_0] [--skip-torch] [--skip-lora] [--layers N] [--preset P] [--vocab V]
//        [--precision f16|f32] [--threads N] [--python P] [--mqg CLI] [--max-shard-size 5e9] [--write-only]
//        [--timeout-min 45 (per process)] [--no-readme]
// (`npm run bench:biomedlm -- ARGS` builds first.) --write-only writes the checkpoint and stops
// (bench/lora-biomedlm.mjs uses it); --reuse uses a --dir that already holds the same model, and
// leaves it there.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cores, cpuModel } from './cpu.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(path.join(root, 'dist/node/cli.js'))) throw new Error('build first: node scripts/build.mjs --no-types');
const { presetConfig, paramShapes } = await import(path.join(root, 'dist/lib/model/config.js'));
const { writeCheckpoint } = await import(path.join(root, 'dist/lib/model/checkpoint-write.node.js'));
const { encodeShard } = await import(path.join(root, 'dist/lib/train/data/shards.js'));

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const flag = (name) => args.includes(`--${name}`);
// --mqg times another build's CLI (its dist/node/cli.js) on the same checkpoint
const cli = path.resolve(opt('mqg', path.join(root, 'dist/node/cli.js')));
if (!existsSync(cli)) throw new Error(`--mqg ${cli}: no such file`);

const precision = opt('precision', 'f16');
if (!['f16', 'f32'].includes(precision)) throw new Error(`--precision ${precision}: f16 or f32 expected`);
// the weight types: unquantized (stored at the compute precision), then GGML's
const TYPES = [precision, 'q8_0', 'q4_0'];
const EVALS = [{ B: 1, T: 128, batches: 2 }, { B: 1, T: 32, batches: 4 }];
const PROMPT = 16, NEW = 16;
const LORA = { r: 8, alpha: 16, targets: 'c_attn,c_fc', T: 128, steps: 2 };
const GiB = 2 ** 30;

const preset = opt('preset', 'biomedlm');
const base = presetConfig(preset, opt('vocab') ? Number(opt('vocab')) : undefined);
const layers = opt('layers') ? Number(opt('layers')) : base.nLayer;
const config = { ...base, nLayer: layers };
const full = preset === 'biomedlm' && layers === base.nLayer;
const only = (opt('only', TYPES.join(',')) ?? '').split(',').filter(Boolean);
for (const t of only) if (!TYPES.includes(t)) throw new Error(`--only ${t}: one of ${TYPES.join(', ')} expected`);
const threads = Number(opt('threads', cores()));
const timeoutMin = Number(opt('timeout-min', 45)); // per process
const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };

const tempParent = opt('dir') ? undefined : mkdtempSync(path.join(tmpdir(), 'mqg-biomedlm-'));
const dir = opt('dir') ?? path.join(tempParent, 'model');
if (path.resolve(dir).startsWith(root + path.sep)) throw new Error(`--dir ${dir} is inside the repository; the checkpoint must never be committed`);
const data = `${dir}-bench-tokens.bin`;
const loraOut = `${dir}-bench-lora-run`;
const describe = `${preset}-shaped (${config.nLayer} layers × ${config.nEmbd}, ${config.nHead} heads, vocab ${config.vocabSize}), random fp32 weights, sharded safetensors`;

let reused = false; // a checkpoint this run did not write is never deleted

/** The checkpoint, unless --reuse finds the same model in --dir; returns its size in bytes. */
async function ensureCheckpoint() {
  const cfgFile = path.join(dir, 'config.json');
  if (flag('reuse') && existsSync(cfgFile)) {
    const c = JSON.parse(readFileSync(cfgFile, 'utf8'));
    const want = { n_layer: config.nLayer, n_embd: config.nEmbd, n_head: config.nHead, vocab_size: config.vocabSize };
    const differs = Object.entries(want).filter(([k, v]) => c[k] !== v).map(([k, v]) => `${k} ${c[k]} (want ${v})`);
    if (differs.length) throw new Error(`--reuse: ${cfgFile} is another model: ${differs.join(', ')}`);
    console.log(`reusing ${dir} (kept afterwards)`);
    reused = true;
  } else {
    // Random weights like GPT-2's initialisation (matmul weights and embeddings ~ U(±0.035): std 0.02;
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
    console.log(`wrote ${dir} (${readdirSync(dir).join(', ')}) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  return readdirSync(dir).reduce((a, f) => a + statSync(path.join(dir, f)).size, 0);
}

/** A finished child under /usr/bin/time -v: its status, output, peak RSS and wall time. coreutils'
 *  timeout stops the whole process group (time and its child) after --timeout-min minutes. */
function timed(argv, extraEnv = {}) {
  const t0 = performance.now();
  const r = spawnSync('timeout', [`${timeoutMin * 60}`, '/usr/bin/time', '-v', ...argv], { encoding: 'utf8', env: { ...env, ...extraEnv }, maxBuffer: 1 << 26 });
  if (r.status === 124) r.stderr = `${r.stderr ?? ''}\ntimed out after ${timeoutMin} min (--timeout-min)`;
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr ?? '')?.[1]);
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', peak_rss_bytes: rssKb * 1024, wall_seconds: (performance.now() - t0) / 1000 };
}

/** The one-line reason of a failed child: "unavailable" for a flag this build lacks, else its last error line. */
function failure(what, r) {
  const unknown = /unknown (?:flag|option) (--[\w-]+)/.exec(r.stderr);
  if (unknown) return { status: 'unavailable', reason: `this build's ${what} has no ${unknown[1]}` };
  const lines = r.stderr.split('\n').filter((l) => l.trim() && !/^\s|^Command (being timed|exited)|^Warning:/.test(l));
  return { status: 'failed', reason: `${what} exited with ${r.status}: ${lines.at(-1) ?? 'no message'}` };
}

/** The last JSON object a child printed on stdout. */
function lastJson(stdout) {
  const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  return line ? JSON.parse(line) : undefined;
}

const mqg = (...a) => [process.execPath, cli, ...a.map(String)];
const quantize = (type) => (type === precision ? [] : ['--quantize', type]);

/** mqg eval at one shape. */
function ourEval(type, { B, T, batches }) {
  const r = timed(mqg('eval', '--checkpoint', dir, '--data', data, '--batch-size', B, '--seq-len', T, '--max-batches', batches, '--precision', precision, '--log-format', 'jsonl', ...quantize(type)));
  const row = { type, what: 'eval', B, T, batches, peak_rss_bytes: r.peak_rss_bytes, wall_seconds: r.wall_seconds };
  const j = r.status === 0 ? lastJson(r.stdout) : undefined;
  if (!j) return { ...row, ...failure('mqg eval', r) };
  return { ...row, status: 'ok', load_seconds: j.load_seconds, tokens_per_second: j.tokens_per_second, loss: j.loss };
}

/** mqg sample: greedy decoding of NEW tokens after the shard's first PROMPT tokens. */
function ourDecode(type, prompt) {
  const r = timed(mqg('sample', '--checkpoint', dir, '--prompt-ids', prompt.join(','), '--max-tokens', NEW, '--temperature', 0, '--precision', precision, '--log-format', 'jsonl', ...quantize(type)));
  const row = { type, what: 'decode', prompt_tokens: prompt.length, peak_rss_bytes: r.peak_rss_bytes, wall_seconds: r.wall_seconds };
  const j = r.status === 0 ? lastJson(r.stdout) : undefined;
  if (!j) return { ...row, ...failure('mqg sample', r) };
  return { ...row, status: 'ok', load_seconds: j.load_seconds, tokens_per_second: j.tokens_per_second, new_tokens: j.new_tokens, ids: j.ids };
}

/** Untimed: compile this type's kernels into the shader cache (mqg sample, 2 new tokens). */
function warmUp(type, prompt) {
  const r = timed(mqg('sample', '--checkpoint', dir, '--prompt-ids', prompt.join(','), '--max-tokens', 2, '--temperature', 0, '--precision', precision, ...quantize(type)));
  console.log(`${type}: kernels warmed up (${r.wall_seconds.toFixed(0)} s${r.status === 0 ? '' : `, exit ${r.status}`})`);
}

/** mqg train --lora on the (quantized) frozen base: LORA.steps steps, each timed. */
function ourLora(type) {
  const r = timed(mqg('train', '--init', dir, '--data', data, '--batch-size', 1, '--seq-len', LORA.T, '--steps', LORA.steps, '--precision', precision,
    '--lora', LORA.r, '--lora-alpha', LORA.alpha, '--lora-targets', LORA.targets, ...quantize(type), '--schedule', 'constant', '--warmup', 0, '--lr', '1e-3', '--min-lr', '1e-4',
    '--eval-every', 0, '--save-every', 0, '--sample-tokens', 0, '--mcq', '', '--log-format', 'jsonl', '--overwrite', '--out', loraOut));
  rmSync(loraOut, { recursive: true, force: true });
  const row = { type, what: 'lora', r: LORA.r, targets: LORA.targets, B: 1, T: LORA.T, steps: LORA.steps, peak_rss_bytes: r.peak_rss_bytes, wall_seconds: r.wall_seconds };
  const recs = r.stdout.split('\n').filter((l) => l.startsWith('{"step"')).map((l) => JSON.parse(l));
  if (r.status !== 0 || !recs.length) return { ...row, ...failure('mqg train --lora', r) };
  return { ...row, status: 'ok', step_ms: recs.map((x) => Math.round(x.ms)), losses: recs.map((x) => x.loss) };
}

/** The PyTorch peer, or why it cannot run. */
function torchPeer() {
  // the first Python that has torch: --python, else python3 on the PATH, else Debian's (python3-torch)
  const candidates = [opt('python'), 'python3', '/usr/bin/python3'].filter(Boolean);
  const python = candidates.find((p) => spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0);
  if (!python) return { status: 'unavailable', reason: `no Python with torch (tried ${candidates.join(', ')}; apt-get install python3-torch)` };
  const evalArg = EVALS.map((e) => `${e.B}x${e.T}x${e.batches}`).join(',');
  // OpenMP (torch's own kernels) and OpenBLAS (its GEMMs) at the same thread count
  const r = timed([python, path.join(root, 'bench/peers/torch_gpt2.py'), '--checkpoint', dir, '--data', data, '--eval', evalArg, '--prompt-tokens', String(PROMPT), '--new-tokens', String(NEW), '--threads', String(threads)],
    { OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) });
  const j = r.status === 0 ? lastJson(r.stdout) : undefined;
  if (!j) return { ...failure('bench/peers/torch_gpt2.py', r), peak_rss_bytes: r.peak_rss_bytes };
  return { status: 'ok', ...j, peak_rss_bytes: r.peak_rss_bytes, wall_seconds: r.wall_seconds };
}

/** Best of ours against PyTorch per measure (higher tokens/s, lower seconds and bytes are better). */
function ratios(runs, torch) {
  if (torch.status !== 'ok') return [];
  const ok = runs.filter((r) => r.status === 'ok');
  const best = (rows, key, higher) => rows.filter((r) => r[key] != null).sort((a, b) => (higher ? b[key] - a[key] : a[key] - b[key]))[0];
  const out = [];
  const add = (measure, row, key, theirs, higher) => row && theirs && out.push({ measure, best_type: row.type, ours: row[key], torch: theirs, ratio: row[key] / theirs, higher_is_better: higher });
  for (const e of EVALS) {
    const t = torch.eval.find((x) => x.B === e.B && x.T === e.T);
    add(`eval B${e.B}×T${e.T}`, best(ok.filter((r) => r.what === 'eval' && r.T === e.T), 'tokens_per_second', true), 'tokens_per_second', t?.tokens_per_second, true);
  }
  add('greedy decode', best(ok.filter((r) => r.what === 'decode'), 'tokens_per_second', true), 'tokens_per_second', torch.decode?.tokens_per_second, true);
  add('load', best(ok, 'load_seconds', false), 'load_seconds', torch.load_seconds, false);
  add('peak RSS of eval', best(ok.filter((r) => r.what === 'eval'), 'peak_rss_bytes', false), 'peak_rss_bytes', torch.peak_rss_bytes, false);
  return out;
}

/** The issue's goals, from this run (only those it measured). */
function goals(runs, torch) {
  const ok = runs.filter((r) => r.status === 'ok');
  const g = [];
  const evalRss = (type) => Math.max(...ok.filter((r) => r.type === type && r.what === 'eval').map((r) => r.peak_rss_bytes));
  for (const [type, limit] of [['q4_0', 2.5], ['q8_0', 3.5]]) {
    const v = evalRss(type) / GiB;
    if (Number.isFinite(v)) g.push({ name: `${type} eval peak RSS (GiB)`, value: v, goal: `≤ ${limit}`, met: v <= limit });
  }
  const lora = ok.find((r) => r.what === 'lora' && r.type === 'q4_0');
  if (lora) g.push({ name: 'q4_0 LoRA step peak RSS (GiB)', value: lora.peak_rss_bytes / GiB, goal: '≤ 4', met: lora.peak_rss_bytes / GiB <= 4 });
  const loads = ok.filter((r) => r.load_seconds != null).map((r) => r.load_seconds);
  if (loads.length) g.push({ name: 'load, best (s)', value: Math.min(...loads), goal: '≤ 60', met: Math.min(...loads) <= 60 });
  if (torch.status === 'ok') {
    const q4 = ok.find((r) => r.what === 'decode' && r.type === 'q4_0');
    if (q4 && torch.decode) g.push({ name: 'q4_0 greedy decode / PyTorch', value: q4.tokens_per_second / torch.decode.tokens_per_second, goal: '≥ 1', met: q4.tokens_per_second >= torch.decode.tokens_per_second });
    for (const e of EVALS) {
      const t = torch.eval.find((x) => x.T === e.T)?.tokens_per_second;
      const ours = Math.max(...ok.filter((r) => r.what === 'eval' && r.T === e.T).map((r) => r.tokens_per_second));
      if (t && Number.isFinite(ours)) g.push({ name: `eval B${e.B}×T${e.T}, best of ours / PyTorch`, value: ours / t, goal: '≥ 0.5', met: ours / t >= 0.5 });
    }
  }
  return g;
}

/** What the results file says about the software that produced them. */
function versions() {
  const git = spawnSync('git', ['-C', root, 'describe', '--always', '--dirty'], { encoding: 'utf8' });
  const doctor = spawnSync(process.execPath, [cli, 'doctor'], { encoding: 'utf8', env });
  const own = cli === path.join(root, 'dist/node/cli.js');
  return {
    mqg: JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version,
    commit: own ? (git.status === 0 ? git.stdout.trim() : 'unknown') : `the build at ${cli}`,
    node: process.version,
    adapter: /^adapter: (.+)$/m.exec(doctor.stdout ?? '')?.[1] ?? 'unknown',
  };
}

/** The numbers of one run as a line for the terminal. */
function summary(r) {
  const what = r.what === 'eval' ? `eval B${r.B}×T${r.T}` : r.what === 'decode' ? 'greedy decode' : `LoRA r ${r.r}`;
  if (r.status !== 'ok') return `${r.type} ${what}: ${r.status}: ${r.reason}`;
  const rss = `peak RSS ${(r.peak_rss_bytes / GiB).toFixed(2)} GiB`;
  if (r.what === 'eval') return `${r.type} eval B${r.B}×T${r.T}: load ${r.load_seconds.toFixed(1)} s | ${r.tokens_per_second.toFixed(2)} tokens/s | loss ${r.loss.toFixed(4)} | ${rss}`;
  if (r.what === 'decode') return `${r.type} greedy decode: ${r.tokens_per_second.toFixed(2)} tokens/s (${r.new_tokens} new) | load ${r.load_seconds?.toFixed(1)} s | ${rss}`;
  return `${r.type} LoRA r ${r.r}: steps ${r.step_ms.join(', ')} ms | ${rss}`;
}

async function main() {
  const t0 = performance.now();
  const loadAverage = loadavg(); // other jobs on the machine move every figure
  const bytes = await ensureCheckpoint();
  if (flag('write-only')) return;
  // One token shard for every run: (i · 7919) mod V, enough for the evals and the LoRA steps.
  const count = Math.max(...EVALS.map((e) => e.B * e.T * e.batches), LORA.T * (LORA.steps + 1)) + 1;
  const tokens = Array.from({ length: count }, (_, i) => (i * 7919) % config.vocabSize);
  writeFileSync(data, encodeShard(tokens, config.vocabSize));
  const prompt = tokens.slice(0, PROMPT);

  const runs = [];
  const started = () => `[${((performance.now() - t0) / 60000).toFixed(1)} min]`;
  const record = (row) => (runs.push(row), console.log(`${started()} ${summary(row)}`));
  for (const type of only) {
    warmUp(type, prompt);
    for (const e of EVALS) record(ourEval(type, e));
    record(ourDecode(type, prompt));
    if (type === 'q4_0' && !flag('skip-lora')) record(ourLora(type));
  }
  console.log(`${started()} PyTorch next`);
  const torch = flag('skip-torch') ? { status: 'skipped', reason: '--skip-torch' } : torchPeer();
  if (torch.status === 'ok') {
    for (const e of torch.eval) console.log(`PyTorch float32 eval B${e.B}×T${e.T}: ${e.tokens_per_second.toFixed(2)} tokens/s | loss ${e.loss.toFixed(4)}`);
    console.log(`PyTorch float32: load ${torch.load_seconds.toFixed(1)} s | greedy decode ${torch.decode.tokens_per_second.toFixed(2)} tokens/s | peak RSS ${(torch.peak_rss_bytes / GiB).toFixed(2)} GiB | ${torch.threads} threads, torch ${torch.torch}`);
  } else console.log(`PyTorch: ${torch.status}: ${torch.reason}`);

  // The peer's correctness, every run: its loss on the same tokens against ours, and its greedy ids
  // against ours unquantized (equal at --precision f32; f16 rounding may change a near tie).
  const checks = [];
  for (const e of torch.status === 'ok' ? torch.eval : []) {
    for (const r of runs.filter((x) => x.what === 'eval' && x.T === e.T && x.status === 'ok')) checks.push({ type: r.type, T: e.T, ours: r.loss, torch: e.loss, difference: r.loss - e.loss });
  }
  const plainDecode = runs.find((r) => r.what === 'decode' && r.type === precision && r.status === 'ok');
  if (plainDecode && torch.decode) {
    let same = 0;
    while (same < Math.min(plainDecode.ids.length, torch.decode.ids.length) && plainDecode.ids[same] === torch.decode.ids[same]) same++;
    checks.push({ type: precision, decode_leading_ids_equal: same, of: torch.decode.ids.length });
  }
  for (const c of checks) console.log(`check ${JSON.stringify(c)}`);

  const date = new Date().toISOString();
  const result = {
    kind: full ? 'biomedlm' : 'biomedlm-dev',
    date, cpu: cpuModel(), cores: cores(), threads, load: loadAverage,
    versions: versions(),
    model: { description: describe, preset, n_layer: config.nLayer, n_head: config.nHead, n_embd: config.nEmbd, vocab_size: config.vocabSize, bytes },
    precision, evals: EVALS, decode: { prompt_tokens: PROMPT, new_tokens: NEW }, lora: LORA,
    runs, torch, checks,
    ratios: ratios(runs, torch),
    goals: goals(runs, torch),
    wall_seconds: (performance.now() - t0) / 1000,
  };
  for (const r of result.ratios) console.log(`ours (${r.best_type}) / PyTorch, ${r.measure}: ${(100 * r.ratio).toFixed(0)}%`);
  for (const g of result.goals) console.log(`goal ${g.name}: ${g.value.toFixed(2)} (${g.goal}): ${g.met ? 'met' : 'NOT met'}`);
  mkdirSync(path.join(root, 'bench/results'), { recursive: true });
  const file = path.join(root, `bench/results/${full ? 'biomedlm' : 'biomedlm-dev'}-${date.slice(0, 10)}.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify(result, null, 2) + '\n');
  renameSync(`${file}.tmp`, file); // a reader never sees half a file
  console.log(`wrote ${path.relative(root, file)} (${(result.wall_seconds / 60).toFixed(1)} min)`);
  if (full && !flag('no-readme')) spawnSync(process.execPath, [path.join(root, 'dist/bench/train.js'), '--readme-only'], { cwd: root, stdio: 'inherit' });
}

try {
  await main();
} finally {
  rmSync(data, { force: true });
  if (!flag('keep') && !flag('write-only') && !reused) {
    rmSync(dir, { recursive: true, force: true });
    if (tempParent) rmSync(tempParent, { recursive: true, force: true });
  }
}
