// Lavapipe's vector width: this run (512 bits where gpu/node.ts chose it on AVX-512) against Mesa's
// default 256, measured in a child process of the same run (`--width-probe`, LP_NATIVE_VECTOR_WIDTH set).
import { execFileSync } from 'node:child_process';
import { createGPU, type Precision } from '../../src/gpu/index';
import { GPT2 } from '../../src/model/gpt2';
import { medianStepMs, ourMatmul } from './timing';
import { TINY_B, TINY_T, tinyConfig } from './tiny';
import type { MatmulRow, ResultPart, TrainRow } from './types';

interface ProbeResult {
  adapter: string;
  precision: string;
  stepMs: number;
  matmulF32: number;
}

/**
 * `--width-probe`, the child: matmul 1024³ f32 and the median of 5 f16 (else f32) mqg-tiny training
 * steps, as one JSON line. The model tunes on first use at that width like any run.
 */
export async function widthProbe(): Promise<void> {
  const gpu = await createGPU({ precision: 'auto' });
  const precision: Precision = gpu.hasF16 ? 'f16' : 'f32';
  const model = new GPT2(gpu, tinyConfig(), { precision });
  model.initRandom(1);
  await model.prepare(TINY_B, TINY_T); // this process's adapter (another vector width): tunes once
  const stepMs = await medianStepMs(model, TINY_B, TINY_T, { steps: 7, skip: 2, seed0: 1000 });
  model.destroy();
  const matmulF32 = await ourMatmul(gpu, 1024, 'f32');
  console.log(JSON.stringify({ adapter: gpu.adapterName, precision, stepMs, matmulF32 } satisfies ProbeResult));
  process.exit(0);
}

/** The same figures at Mesa's default 256-bit vectors, from a child process of this script (see gpu/node.ts). */
function probeAt256(): ProbeResult | undefined {
  try {
    const out = execFileSync(process.execPath, [process.argv[1]!, '--width-probe'], {
      encoding: 'utf8', env: { ...process.env, LP_NATIVE_VECTOR_WIDTH: '256' }, stdio: ['ignore', 'pipe', 'ignore'], timeout: 600_000,
    });
    return JSON.parse(out.trim().split('\n').pop()!);
  } catch {
    return undefined;
  }
}

/** When this run is lavapipe at 512 bits: our training step and matmul f32 at 256 bits (before) vs this run's (after). */
export function vectorWidth(adapter: string, train: TrainRow[], matmul: MatmulRow[]): ResultPart {
  if (!/llvmpipe.*512-bits/.test(adapter)) return {};
  console.log('lavapipe at 256-bit vectors (child process): matmul and training step ...');
  const at256 = probeAt256();
  const ourStep = train.find((r) => r.system === 'mqg-webgpu' && r.precision === (at256?.precision ?? ''));
  if (!at256 || !ourStep) return { notes: ['256-bit probe failed: no before/after for the vector width'] };
  const ourF32 = matmul.find((r) => r.system === 'mqg-webgpu' && r.precision === 'f32')!.gflops;
  return {
    beforeAfter: [
      { change: `mqg-tiny training step (${at256.precision}): lavapipe at 256-bit vectors (Mesa's default; a child process) → 512-bit (gpu/node.ts on AVX-512)`, before: at256.stepMs, after: ourStep.msPerStep, unit: 'ms' },
      { change: 'matmul 1024³ f32: lavapipe at 256-bit vectors → 512-bit', before: at256.matmulF32, after: ourF32, unit: 'GFLOP/s' },
    ],
  };
}
