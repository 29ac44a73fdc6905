// Regenerates the README's performance table from the newest bench/results/<date>.json (written by
// `npm run bench`), between the markers <!-- bench:start --> and <!-- bench:end -->. Run by the
// bench itself; on its own: `npm run bench -- --readme-only`.
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { BenchResult } from './train/types';

const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';

/** The newest result file in the current format (bench/results/YYYY-MM-DD.json). */
export function latestResult(dir = 'bench/results'): { file: string; result: BenchResult } | undefined {
  const files = readdirSync(dir).filter((f) => /^\d{4}-\d{2}-\d{2}\.json$/.test(f)).sort();
  const file = files.at(-1);
  return file ? { file: `${dir}/${file}`, result: JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as BenchResult } : undefined;
}

const f = (x: number, d = 0) => x.toFixed(d);

export function resultMarkdown(r: BenchResult, file: string): string {
  const tiny = r.train.filter((t) => t.config.startsWith('mqg-tiny'));
  const jax = tiny.find((t) => t.system === 'jax-js wasm');
  const tfjs = tiny.find((t) => t.system === 'TensorFlow.js WebGPU');
  const native = r.matmul.find((m) => m.system.startsWith('native'));
  const lines = [
    `Measured ${r.date.slice(0, 10)} on **${r.cpu}** (${r.cores} cores; load average at the start ${r.load.map((x) => x.toFixed(1)).join(' ')}), ` +
      `adapter ${r.adapter}; one \`npm run bench\` run, training steps of all systems alternating, median of ${r.steps} steps after warm-up (\`${file}\`). ` +
      `Absolute figures move with the machine's load; the ratios, measured in the same run, are the comparable part.`,
    '',
    '| workload | system | precision | tokens/s or GFLOP/s | × jax-js wasm | × TF.js WebGPU |',
    '|---|---|---|---:|---:|---:|',
    ...r.train.map((t) => {
      const vs = (p: typeof jax) => (p && t.config.startsWith('mqg-tiny') && p !== t ? `${f(t.tokensPerSecond / p.tokensPerSecond, 1)}×` : '');
      return `| ${t.config} training, B${t.B}×T${t.T} | ${t.system} | ${t.precision} | ${f(t.tokensPerSecond)} tokens/s | ${vs(jax)} | ${vs(tfjs)} |`;
    }),
    ...r.matmul.map((m) => {
      const jm = r.matmul.find((x) => x.system === 'jax-js wasm'), tm = r.matmul.find((x) => x.system === 'TensorFlow.js WebGPU');
      const vs = (p: typeof jm) => (p && p !== m && m.precision === 'f32' ? `${f(m.gflops / p.gflops, 1)}×` : '');
      const ofNative = native && m !== native && m.precision === 'f32' ? ` (${f((100 * m.gflops) / native.gflops)}% of native)` : '';
      return `| matmul ${m.n}³ | ${m.system}${m.variant ? ` [${m.variant}]` : ''} | ${m.precision} | ${f(m.gflops, 1)} GFLOP/s${ofNative} | ${vs(jm)} | ${vs(tm)} |`;
    }),
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

/** Rewrite the README section; returns a one-line summary. Written atomically. */
export function writeReadmeTable(readme = 'docs/benchmarks.md'): string {
  const latest = latestResult();
  if (!latest) return 'no bench/results/<date>.json yet: run npm run bench';
  const text = readFileSync(readme, 'utf8');
  const a = text.indexOf(START), b = text.indexOf(END);
  if (a < 0 || b < a) return `${readme} has no ${START} … ${END} section; table not written`;
  const out = `${text.slice(0, a + START.length)}\n${resultMarkdown(latest.result, latest.file)}\n${text.slice(b)}`;
  writeFileSync(`${readme}.tmp`, out);
  renameSync(`${readme}.tmp`, readme);
  return `${readme}: performance table from ${latest.file}`;
}
