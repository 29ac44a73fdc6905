// Regenerates the performance tables from the newest bench/results/<date>.json (written by
// `npm run bench`): the whole table in docs/benchmarks.md between <!-- bench:start --> and
// <!-- bench:end -->, and the README's headline rows (the mqg-tiny training rows, our matmul and
// the native one) between <!-- headline:start --> and <!-- headline:end -->, so the front page
// never goes stale. Run by the bench itself; on its own: `npm run bench -- --readme-only`.
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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

/** Rewrite docs/benchmarks.md's table and the README's headline; returns a one-line summary. */
export function writeReadmeTable(page = 'docs/benchmarks.md', readme = 'README.md'): string {
  const latest = latestResult();
  if (!latest) return 'no bench/results/<date>.json yet: run npm run bench';
  const problem = replaceBetween(page, START, END, resultMarkdown(latest.result, latest.file)) ??
    replaceBetween(readme, '<!-- headline:start -->', '<!-- headline:end -->', headlineMarkdown(latest.result));
  return problem ?? `${page} and ${readme}'s headline: performance tables from ${latest.file}`;
}
