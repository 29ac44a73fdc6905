// Regenerates the performance tables from the newest bench/results/<date>.json (written by
// `npm run bench`): the whole table in docs/benchmarks.md between <!-- bench:start --> and
// <!-- bench:end -->, and the README's headline rows (the mqg-tiny training rows, our matmul and
// the native one) between <!-- headline:start --> and <!-- headline:end -->, so the front page
// never goes stale. Run by the bench itself; on its own: `npm run bench -- --readme-only`.
// Likewise the BioMedLM table (ours in f16, q8_0, q4_0 against PyTorch float32) from the newest
// bench/results/biomedlm-<date>.json (written by `npm run bench:biomedlm`, bench/biomedlm.mjs), in
// docs/benchmarks.md and the README between <!-- biomedlm:start --> and <!-- biomedlm:end -->; with no
// such file yet, those blocks are left as they are.
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { BenchResult, MatmulRow, TrainRow } from './train/types';

const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';

/** The newest result file in the current format (bench/results/YYYY-MM-DD.json). */
export function latestResult(dir = 'bench/results'): { file: string; result: BenchResult } | undefined {
  const files = readdirSync(dir).filter((f) => /^\d{4}-\d{2}-\d{2}\.json$/.test(f)).sort();
  const file = files.at(-1);
  return file ? { file: `${dir}/${file}`, result: JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as BenchResult } : undefined;
}

const f = (x: number, d = 0) => x.toFixed(d);

const TABLE_HEAD = ['| workload | system | precision | tokens/s or GFLOP/s | × jax-js wasm | × TF.js WebGPU |', '|---|---|---|---:|---:|---:|'];

/** One training row of the table, with its ratios to the peers (mqg-tiny rows only). */
function trainLine(r: BenchResult, t: TrainRow): string {
  const tiny = r.train.filter((x) => x.config.startsWith('mqg-tiny'));
  const jax = tiny.find((x) => x.system === 'jax-js wasm');
  const tfjs = tiny.find((x) => x.system === 'TensorFlow.js WebGPU');
  const vs = (p: TrainRow | undefined) => (p && t.config.startsWith('mqg-tiny') && p !== t ? `${f(t.tokensPerSecond / p.tokensPerSecond, 1)}×` : '');
  return `| ${t.config} training, B${t.B}×T${t.T} | ${t.system} | ${t.precision} | ${f(t.tokensPerSecond)} tokens/s | ${vs(jax)} | ${vs(tfjs)} |`;
}

/** One matmul row of the table, with its share of native and its ratios to the peers (f32 only). */
function matmulLine(r: BenchResult, m: MatmulRow): string {
  const native = r.matmul.find((x) => x.system.startsWith('native'));
  const jm = r.matmul.find((x) => x.system === 'jax-js wasm'), tm = r.matmul.find((x) => x.system === 'TensorFlow.js WebGPU');
  const vs = (p: MatmulRow | undefined) => (p && p !== m && m.precision === 'f32' ? `${f(m.gflops / p.gflops, 1)}×` : '');
  const ofNative = native && m !== native && m.precision === 'f32' ? ` (${f((100 * m.gflops) / native.gflops)}% of native)` : '';
  return `| matmul ${m.n}³ | ${m.system}${m.variant ? ` [${m.variant}]` : ''} | ${m.precision} | ${f(m.gflops, 1)} GFLOP/s${ofNative} | ${vs(jm)} | ${vs(tm)} |`;
}

/** The README's headline: the run's machine and date, the mqg-tiny training rows, our f32 matmul and native's. */
export function headlineMarkdown(r: BenchResult): string {
  const ours = r.matmul.find((m) => m.system === 'mqg-webgpu' && m.precision === 'f32');
  const native = r.matmul.find((m) => m.system.startsWith('native'));
  return [
    `From one \`npm run bench\` run on a ${r.cores}-core ${r.cpu} without a GPU (lavapipe, Mesa's software Vulkan`,
    `driver), ${r.date.slice(0, 10)}; [docs/benchmarks.md](docs/benchmarks.md) has the whole table, the goals, what`,
    "each change measured and where a training step's time goes:",
    '',
    ...TABLE_HEAD,
    ...r.train.filter((t) => t.config.startsWith('mqg-tiny')).map((t) => trainLine(r, t)),
    ...[ours, native].filter((m): m is MatmulRow => !!m).map((m) => matmulLine(r, m)),
  ].join('\n');
}

export function resultMarkdown(r: BenchResult, file: string): string {
  const lines = [
    `Measured ${r.date.slice(0, 10)} on **${r.cpu}** (${r.cores} cores; load average at the start ${r.load.map((x) => x.toFixed(1)).join(' ')}), ` +
      `adapter ${r.adapter}; one \`npm run bench\` run, training steps of all systems alternating, median of ${r.steps} steps after warm-up (\`${file}\`). ` +
      `Absolute figures move with the machine's load; the ratios, measured in the same run, are the comparable part.`,
    '',
    ...TABLE_HEAD,
    ...r.train.map((t) => trainLine(r, t)),
    ...r.matmul.map((m) => matmulLine(r, m)),
    '',
    'Goals (issue 15), from this run:',
    '',
    ...r.goals.map((g) => `- ${g.name}: ${g.value.toFixed(2)} (goal ≥ ${g.goal}): ${g.met ? 'met' : '**not met**'}`),
  ];
  if (r.beforeAfter.length) {
    lines.push('', 'Changes measured before → after in the same run:', '');
    for (const c of r.beforeAfter) lines.push(`- ${c.change}: ${c.before.toFixed(2)} → ${c.after.toFixed(2)} ${c.unit}`);
  }
  const top = r.train.filter((t) => t.topKernels);
  if (top.length) {
    lines.push('', 'Where our step goes (share of GPU time):', '');
    for (const t of top) lines.push(`- ${t.precision}: ${t.topKernels}`);
  }
  for (const n of r.notes) lines.push('', `Note: ${n}`);
  return lines.join('\n');
}

/** Replace what lies between two markers of a file, atomically; returns a problem, or undefined. */
function replaceBetween(path: string, start: string, end: string, body: string): string | undefined {
  const text = readFileSync(path, 'utf8');
  const a = text.indexOf(start), b = text.indexOf(end);
  if (a < 0 || b < a) return `${path} has no ${start} … ${end} section; table not written`;
  writeFileSync(`${path}.tmp`, `${text.slice(0, a + start.length)}\n${body}\n${text.slice(b)}`);
  renameSync(`${path}.tmp`, path);
  return undefined;
}

/** Rewrite docs/benchmarks.md's tables and the README's headlines; returns a summary line per table. */
export function writeReadmeTable(page = 'docs/benchmarks.md', readme = 'README.md'): string {
  return [writeTrainTables(page, readme), writeBiomedlmTables(page, readme)].join('\n');
}

function writeTrainTables(page: string, readme: string): string {
  const latest = latestResult();
  if (!latest) return 'no bench/results/<date>.json yet: run npm run bench';
  const problem = replaceBetween(page, START, END, resultMarkdown(latest.result, latest.file)) ??
    replaceBetween(readme, '<!-- headline:start -->', '<!-- headline:end -->', headlineMarkdown(latest.result));
  return problem ?? `${page} and ${readme}'s headline: performance tables from ${latest.file}`;
}

// ---- BioMedLM against PyTorch (issue 23)

/** One mqg run of bench/biomedlm.mjs: an eval shape, the greedy decode or the LoRA steps of one weight type. */
export interface BiomedlmRun {
  type: string;
  what: 'eval' | 'decode' | 'lora';
  status: 'ok' | 'unavailable' | 'failed';
  reason?: string;
  B?: number;
  T?: number;
  batches?: number;
  load_seconds?: number;
  tokens_per_second?: number;
  peak_rss_bytes: number;
  new_tokens?: number;
  step_ms?: number[];
  r?: number;
  targets?: string;
}

/** bench/results/biomedlm-<date>.json, the fields the tables read. */
export interface BiomedlmResult {
  kind: string;
  date: string;
  cpu: string;
  cores: number;
  threads: number;
  load: number[];
  versions: { mqg: string; commit: string; node: string; adapter: string };
  model: { description: string; bytes: number };
  precision: string;
  evals: { B: number; T: number; batches: number }[];
  decode: { prompt_tokens: number; new_tokens: number };
  lora: { r: number; targets: string; T: number; steps: number };
  runs: BiomedlmRun[];
  torch: {
    status: string;
    reason?: string;
    torch?: string;
    threads?: number;
    blas?: string;
    load_seconds?: number;
    eval?: { B: number; T: number; tokens_per_second: number }[];
    decode?: { tokens_per_second: number } | null;
    peak_rss_bytes?: number;
  };
  ratios: { measure: string; best_type: string; ratio: number }[];
  goals: { name: string; value: number; goal: string; met: boolean }[];
}

const BIOMEDLM_START = '<!-- biomedlm:start -->';
const BIOMEDLM_END = '<!-- biomedlm:end -->';
const GiB = 2 ** 30;

/** The newest full-size BioMedLM result (bench/results/biomedlm-YYYY-MM-DD.json; -dev files are development runs). */
export function latestBiomedlm(dir = 'bench/results'): { file: string; result: BiomedlmResult } | undefined {
  if (!existsSync(dir)) return undefined;
  const file = readdirSync(dir).filter((f) => /^biomedlm-\d{4}-\d{2}-\d{2}\.json$/.test(f)).sort().at(-1);
  return file ? { file: `${dir}/${file}`, result: JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as BiomedlmResult } : undefined;
}

/** The BioMedLM table: a row per measure, a column per weight type, PyTorch's and the best ratio. */
export function biomedlmTable(r: BiomedlmResult): string[] {
  const TYPES = [r.precision, 'q8_0', 'q4_0']; // unquantized at the compute precision, then GGML's
  const runs = (what: string, type: string, T?: number) => r.runs.filter((x) => x.what === what && x.type === type && (T === undefined || x.T === T));
  // a cell: the figure of an ok run, else why there is none
  const cell = (rows: BiomedlmRun[], figure: (ok: BiomedlmRun[]) => string) => {
    const ok = rows.filter((x) => x.status === 'ok');
    if (ok.length && ok.length === rows.length) return figure(ok);
    return rows.length ? (rows.some((x) => x.status === 'failed') ? 'failed' : 'not available') : '–';
  };
  const ratio = (measure: string) => {
    const q = r.ratios.find((x) => x.measure === measure);
    return q ? `${f(100 * q.ratio)}% (${q.best_type})` : '–';
  };
  const t = r.torch.status === 'ok' ? r.torch : undefined;
  const gib = (bytes: number) => `${f(bytes / GiB, 2)} GiB`;
  const line = (label: string, cells: string[], theirs: string, measure?: string) => `| ${label} | ${cells.join(' | ')} | ${theirs} | ${measure ? ratio(measure) : '–'} |`;
  const lines = [
    `| | ${TYPES.map((x) => `mqg-webgpu ${x}`).join(' | ')} | PyTorch float32, ${t?.threads ?? r.threads} threads | best ours / PyTorch (tokens/s: higher is better; s, GiB: lower) |`,
    `|---|${TYPES.map(() => '---:|').join('')}---:|---:|`,
    line(`load the ${f(r.model.bytes / 1e9, 2)} GB checkpoint (best of the runs)`, TYPES.map((x) => {
      // every eval and decode process loads the same weights: the best of them
      const loads = r.runs.filter((o) => o.type === x && o.status === 'ok' && o.load_seconds != null).map((o) => o.load_seconds!);
      return loads.length ? `${f(Math.min(...loads), 1)} s` : cell(runs('eval', x), () => '');
    }), t ? `${f(t.load_seconds!, 1)} s` : '–', 'load'),
    ...r.evals.map((e) => {
      const theirs = t?.eval?.find((x) => x.B === e.B && x.T === e.T);
      return line(`eval B${e.B}×T${e.T} (${e.batches} batches)`, TYPES.map((x) => cell(runs('eval', x, e.T), (ok) => `${f(ok[0]!.tokens_per_second!, 2)} tokens/s`)), theirs ? `${f(theirs.tokens_per_second, 2)} tokens/s` : '–', `eval B${e.B}×T${e.T}`);
    }),
    line(`greedy decode with KV cache, ${r.decode.new_tokens} tokens after ${r.decode.prompt_tokens}`, TYPES.map((x) => cell(runs('decode', x), (ok) => `${f(ok[0]!.tokens_per_second!, 2)} tokens/s`)), t?.decode ? `${f(t.decode.tokens_per_second, 2)} tokens/s` : '–', 'greedy decode'),
    line('peak RSS of eval', TYPES.map((x) => cell(runs('eval', x), (ok) => gib(Math.max(...ok.map((o) => o.peak_rss_bytes))))), t ? gib(t.peak_rss_bytes!) : '–', 'peak RSS of eval'),
    line(`peak RSS of a LoRA step (r ${r.lora.r} on ${r.lora.targets}, B1×T${r.lora.T})`, TYPES.map((x) => cell(runs('lora', x), (ok) => gib(ok[0]!.peak_rss_bytes))), '–'),
  ];
  return lines;
}

/** docs/benchmarks.md's BioMedLM block: how it was measured, the table, what was not measured, the goals. */
export function biomedlmMarkdown(r: BiomedlmResult, file: string): string {
  const v = r.versions;
  const blas = r.torch.blas?.split(', ').at(-1)?.split('/').at(-1);
  const torch = r.torch.status === 'ok' ? `PyTorch ${r.torch.torch} float32 with ${r.torch.threads} threads${blas ? ` (${blas})` : ''}` : `PyTorch not run (${r.torch.reason})`;
  const lines = [
    `Measured ${r.date.slice(0, 10)} on **${r.cpu}** (${r.cores} cores; load average at the start ${r.load.map((x) => x.toFixed(1)).join(' ')}), ` +
      `adapter ${v.adapter}; one \`npm run bench:biomedlm\` run (\`${file}\`), every figure from its own process, one after the other: ` +
      `mqg-webgpu ${v.mqg} (${v.commit}, Node ${v.node}, activations in ${r.precision}) and ${torch}. The model: ${r.model.description}.`,
    '',
    ...biomedlmTable(r),
  ];
  const missing = r.runs.filter((x) => x.status !== 'ok');
  if (missing.length) {
    lines.push('', 'Not measured:', '');
    for (const x of missing) lines.push(`- ${x.type} ${x.what}${x.T ? ` B${x.B}×T${x.T}` : ''}: ${x.reason}`);
  }
  if (r.goals.length) {
    lines.push('', 'Goals (issue 23), from this run:', '');
    for (const g of r.goals) lines.push(`- ${g.name}: ${g.value.toFixed(2)} (goal ${g.goal}): ${g.met ? 'met' : '**not met**'}`);
  }
  return lines.join('\n');
}

/** The README's BioMedLM headline: the run's machine and date, and the table. */
export function biomedlmHeadline(r: BiomedlmResult): string {
  return [
    'On the BioMedLM-shaped 2.7B checkpoint (random fp32 weights), against PyTorch float32 on the same CPU,',
    `from one \`npm run bench:biomedlm\` run on a ${r.cores}-core ${r.cpu}, ${r.date.slice(0, 10)}`,
    '([docs/benchmarks.md](docs/benchmarks.md#biomedlm-against-pytorch) says how each figure is measured):',
    '',
    ...biomedlmTable(r),
  ].join('\n');
}

function writeBiomedlmTables(page: string, readme: string): string {
  const latest = latestBiomedlm();
  if (!latest) return 'no bench/results/biomedlm-<date>.json yet (npm run bench:biomedlm): the BioMedLM tables are left as they are';
  const problem = replaceBetween(page, BIOMEDLM_START, BIOMEDLM_END, biomedlmMarkdown(latest.result, latest.file)) ??
    replaceBetween(readme, BIOMEDLM_START, BIOMEDLM_END, biomedlmHeadline(latest.result));
  return problem ?? `${page} and ${readme}: the BioMedLM table from ${latest.file}`;
}
