// The run's ratios against the goals of issue 15, and the summary printed at the end of the run.
import type { BenchResult, Goal } from './types';

/** Ours against the peers and the native reference on mqg-tiny (`name`) and matmul 1024³ f32; the goals where issue 15 sets one. */
export function ratiosAndGoals(r: Pick<BenchResult, 'train' | 'matmul'>, name: string): { ratios: Record<string, number>; goals: Goal[] } {
  const ratios: Record<string, number> = {}, goals: Goal[] = [];
  const tps = (system: string, precision?: string) => r.train.find((t) => t.config === name && t.system === system && (!precision || t.precision === precision))?.tokensPerSecond;
  const mm = (system: string) => r.matmul.find((m) => m.system.startsWith(system) && m.precision === 'f32')?.gflops;
  const best = Math.max(...r.train.filter((t) => t.config === name && t.system === 'mqg-webgpu').map((t) => t.tokensPerSecond));
  const add = (key: string, a: number | undefined, b: number | undefined, goal?: number) => {
    if (a === undefined || b === undefined) return;
    ratios[key] = a / b;
    if (goal !== undefined) goals.push({ name: key, value: a / b, goal, met: a / b >= goal });
  };
  add('training: mqg-webgpu (best precision) / jax-js wasm', best, tps('jax-js wasm'), 3);
  add('training: mqg-webgpu (best precision) / TensorFlow.js WebGPU', best, tps('TensorFlow.js WebGPU'), 10);
  add('training f32: mqg-webgpu / TensorFlow.js WebGPU', tps('mqg-webgpu', 'f32'), tps('TensorFlow.js WebGPU'));
  add('training f32: mqg-webgpu / jax-js wasm', tps('mqg-webgpu', 'f32'), tps('jax-js wasm'));
  add('matmul 1024³ f32: mqg-webgpu / native sgemm', mm('mqg-webgpu'), mm('native'), 0.2);
  add('matmul 1024³ f32: mqg-webgpu / TensorFlow.js WebGPU', mm('mqg-webgpu'), mm('TensorFlow.js'));
  add('matmul 1024³ f32: mqg-webgpu / jax-js wasm', mm('mqg-webgpu'), mm('jax-js'));
  add('matmul 1024³ f32: jax-js wasm / native sgemm', mm('jax-js'), mm('native'));
  return { ratios, goals };
}

export function printSummary(result: BenchResult): void {
  console.log('\ntraining, tokens/s (median):');
  for (const r of result.train) console.log(`  ${r.config} ${r.system} ${r.precision}: ${r.tokensPerSecond.toFixed(0)} tokens/s (${r.msPerStep.toFixed(0)} ms/step, ${r.gflops.toFixed(2)} GFLOP/s)${r.topKernels ? `\n    top kernels: ${r.topKernels}` : ''}`);
  console.log('matmul 1024³:');
  for (const r of result.matmul) console.log(`  ${r.system} ${r.precision}: ${r.gflops.toFixed(2)} GFLOP/s${r.variant ? ` [${r.variant}]` : ''}${r.note ? ` (${r.note})` : ''}`);
  console.log('ratios:');
  for (const [k, v] of Object.entries(result.ratios)) {
    const g = result.goals.find((x) => x.name === k);
    console.log(`  ${k}: ${v.toFixed(2)}${g ? ` (goal ≥ ${g.goal}: ${g.met ? 'met' : 'not met'})` : ''}`);
  }
  console.log('before → after in this run:');
  for (const c of result.beforeAfter) console.log(`  ${c.change}: ${c.before.toFixed(2)} → ${c.after.toFixed(2)} ${c.unit}`);
  for (const n of result.notes) console.log(`note: ${n}`);
}
